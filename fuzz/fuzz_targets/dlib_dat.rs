//! The dlib `.dat` shape-predictor reader (`facecore/src/dlib/serialize.rs` and
//! `shape_predictor.rs`) on arbitrary bytes, through its public entry points:
//! `DlibShapePredictor::from_bytes` (any number of landmarks, with the size and bzip2
//! checks) and `dlib::shape_predictor::ShapePredictor::from_bytes` (5 landmarks). What parses
//! is then run: landmarks on a small image for a normal, a one-pixel and a huge face box, the
//! 5-point reader must agree with the general one, and the face chip is cut from the
//! landmarks (chips are 150 x 150 whatever the landmarks).
#![no_main]

use facecore::dlib::shape_predictor::{Rect, ShapePredictor};
use facecore::image_crate::RgbImage;
use facecore::{DlibRect, DlibShapePredictor};
use libfuzzer_sys::fuzz_target;

fn image() -> &'static RgbImage {
    static IMG: std::sync::OnceLock<RgbImage> = std::sync::OnceLock::new();
    IMG.get_or_init(|| RgbImage::from_fn(48, 40, |x, y| facecore::image_crate::Rgb([(x * 5) as u8, (y * 6) as u8, ((x ^ y) * 3) as u8])))
}

const RECTS: [DlibRect; 3] = [
    DlibRect { left: 6, top: 4, right: 41, bottom: 36 },
    DlibRect { left: 10, top: 10, right: 10, bottom: 10 },
    DlibRect { left: -(1 << 40), top: -(1 << 40), right: 1 << 41, bottom: 1 << 41 },
];

fuzz_target!(|data: &[u8]| {
    let any = DlibShapePredictor::from_bytes(data);
    let five = ShapePredictor::from_bytes(data);
    match (&any, &five) {
        (Ok(a), Ok(_)) => assert_eq!(a.num_parts(), 5),
        (Err(_), Ok(_)) => panic!("the 5-point reader accepted what the general reader refused"),
        _ => {}
    }
    let Ok(sp) = any else { return };
    assert!(sp.num_parts() >= 1 && sp.num_parts() <= facecore::dlib::shape_predictor::MAX_PARTS);
    let img = image();
    for r in &RECTS {
        let lm = sp.landmarks(img, r).expect("non-empty box");
        assert_eq!(lm.len(), sp.num_parts());
        if let Ok(five) = &five {
            let p = five.predict(img, Rect { left: r.left, top: r.top, right: r.right, bottom: r.bottom });
            assert_eq!(p.as_slice(), lm.as_slice(), "5-point and general readers disagree");
        }
        if let Ok(chip) = sp.chip(img, &lm) {
            assert_eq!((chip.width(), chip.height()), (150, 150));
        }
    }
});
