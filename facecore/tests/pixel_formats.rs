//! Camera pixel formats (NV12, NV21, I420, YUYV; limited and full range): frames built from the
//! RGB fixtures with a reference BT.601 RGB -> YUV conversion convert back within a documented
//! bound, give the same faces as the RGB image, and bad geometry is an error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod common;

use facecore::{ColorRange, Detector, DetectorConfig, Error, Image, ImageView, PixelFormat, Plane};

const FORMATS: [PixelFormat; 4] = [PixelFormat::Nv12, PixelFormat::Nv21, PixelFormat::I420, PixelFormat::Yuyv];
const RANGES: [ColorRange; 2] = [ColorRange::Limited, ColorRange::Full];

/// Reference RGB -> Y, Cb, Cr of BT.601 (Kr = 0.299, Kb = 0.114), unrounded, in the range's
/// code values (limited: Y 16..235, chroma 16..240 around 128; full: 0..255 around 128).
fn rgb_to_yuv(p: &[u8], range: ColorRange) -> [f64; 3] {
    let [r, g, b] = [p[0], p[1], p[2]].map(f64::from);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let (cb, cr) = ((b - y) / 1.772, (r - y) / 1.402);
    match range {
        ColorRange::Limited => [16.0 + y * 219.0 / 255.0, 128.0 + cb * 224.0 / 255.0, 128.0 + cr * 224.0 / 255.0],
        _ => [y, 128.0 + cb, 128.0 + cr],
    }
}

fn code(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// A YUV frame at full resolution for Y and subsampled chroma (`cw` x `ch`), each chroma
/// sample the mean of the pixels of its block (2x2 for 4:2:0, 2x1 for 4:2:2).
struct Yuv {
    w: usize,
    h: usize,
    cw: usize,
    ch: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

fn to_yuv(img: &Image, range: ColorRange, vertical_subsampling: bool) -> Yuv {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgb = img.as_rgb().as_raw();
    let (cw, ch) = (w.div_ceil(2), if vertical_subsampling { h.div_ceil(2) } else { h });
    let yuv: Vec<[f64; 3]> = rgb.chunks_exact(3).map(|p| rgb_to_yuv(p, range)).collect();
    let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    let rows_per_block = if vertical_subsampling { 2 } else { 1 };
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut su, mut sv, mut n) = (0.0, 0.0, 0.0);
            for y in cy * rows_per_block..((cy + 1) * rows_per_block).min(h) {
                for x in cx * 2..(cx * 2 + 2).min(w) {
                    su += yuv[y * w + x][1];
                    sv += yuv[y * w + x][2];
                    n += 1.0;
                }
            }
            u[cy * cw + cx] = code(su / n);
            v[cy * cw + cx] = code(sv / n);
        }
    }
    Yuv { w, h, cw, ch, y: yuv.iter().map(|p| code(p[0])).collect(), u, v }
}

/// Copies `rows` rows of `row` bytes from `src` (packed) into a buffer `stride` bytes apart.
fn padded(src: &[u8], row: usize, rows: usize, stride: usize) -> Vec<u8> {
    let mut out = vec![0xA5u8; stride * rows];
    for r in 0..rows {
        out[r * stride..r * stride + row].copy_from_slice(&src[r * row..(r + 1) * row]);
    }
    out
}

fn interleave(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).flat_map(|(&a, &b)| [a, b]).collect()
}

/// The frame in `format`: one contiguous buffer (with `stride`) and separate planes (each
/// with its own padding), both converted to RGB; the two must agree.
fn convert(img: &Image, format: PixelFormat, range: ColorRange) -> Image {
    let yuv = to_yuv(img, range, format != PixelFormat::Yuyv);
    let (w, h, cw, ch) = (yuv.w as u32, yuv.h as u32, yuv.cw, yuv.ch);
    let (contiguous, separate) = match format {
        PixelFormat::Nv12 | PixelFormat::Nv21 => {
            let chroma = if format == PixelFormat::Nv12 { interleave(&yuv.u, &yuv.v) } else { interleave(&yuv.v, &yuv.u) };
            // Contiguous: a 64-byte aligned stride, as V4L2 drivers use.
            let stride = yuv.w.next_multiple_of(64);
            let mut buf = padded(&yuv.y, yuv.w, yuv.h, stride);
            buf.extend(padded(&chroma, 2 * cw, ch, stride));
            let view = ImageView::new(&buf, w, h, stride, format).unwrap().with_color_range(range);
            let a = Image::from_view(view);
            let (ys, cs) = (yuv.w + 3, 2 * cw + 10);
            let (y, c) = (padded(&yuv.y, yuv.w, yuv.h, ys), padded(&chroma, 2 * cw, ch, cs));
            let planes = [Plane::new(&y, ys), Plane::new(&c[..cs * (ch - 1) + 2 * cw], cs)];
            (a, Image::from_view(ImageView::from_planes(&planes, w, h, format).unwrap().with_color_range(range)))
        }
        PixelFormat::I420 => {
            let stride = yuv.w + 7;
            let cstride = stride.div_ceil(2);
            let mut buf = padded(&yuv.y, yuv.w, yuv.h, stride);
            buf.extend(padded(&yuv.u, cw, ch, cstride));
            buf.extend(padded(&yuv.v, cw, ch, cstride));
            let a = Image::from_view(ImageView::new(&buf, w, h, stride, format).unwrap().with_color_range(range));
            let (y, u, v) = (padded(&yuv.y, yuv.w, yuv.h, yuv.w), padded(&yuv.u, cw, ch, cw + 1), padded(&yuv.v, cw, ch, cw + 5));
            let planes = [Plane::new(&y, yuv.w), Plane::new(&u, cw + 1), Plane::new(&v, cw + 5)];
            (a, Image::from_view(ImageView::from_planes(&planes, w, h, format).unwrap().with_color_range(range)))
        }
        _ => {
            let mut packed = Vec::with_capacity(4 * cw * yuv.h);
            for r in 0..yuv.h {
                for c in 0..cw {
                    let y1 = yuv.y[r * yuv.w + (2 * c + 1).min(yuv.w - 1)];
                    packed.extend([yuv.y[r * yuv.w + 2 * c], yuv.u[r * cw + c], y1, yuv.v[r * cw + c]]);
                }
            }
            let stride = 4 * cw + 16;
            let buf = padded(&packed, 4 * cw, yuv.h, stride);
            let a = Image::from_view(ImageView::new(&buf, w, h, stride, format).unwrap().with_color_range(range));
            let b = Image::from_view(ImageView::from_planes(&[Plane::new(&packed, 4 * cw)], w, h, format).unwrap().with_color_range(range));
            (a, b)
        }
    };
    assert_eq!(contiguous, separate, "{format:?} {range:?}: contiguous and separate planes differ");
    contiguous
}

/// Largest and mean absolute difference per channel value.
fn diff(a: &Image, b: &Image) -> (u8, f64) {
    let (a, b) = (a.as_rgb().as_raw(), b.as_rgb().as_raw());
    assert_eq!(a.len(), b.len());
    let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
    let sum: u64 = a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    (max, sum as f64 / a.len() as f64)
}

/// Each pixel of a half-size copy repeated over a 2x2 block: chroma subsampling loses
/// nothing, so the round trip measures the conversion and the 8-bit quantisation alone.
fn blocky(img: &Image) -> Image {
    let (w, h) = (img.width() / 2 * 2, img.height() / 2 * 2);
    let src = img.as_rgb();
    let out = image::RgbImage::from_fn(w, h, |x, y| *src.get_pixel(x / 2 * 2, y / 2 * 2));
    Image::from_rgb(out).unwrap()
}

/// Round trip RGB -> YUV (reference) -> RGB (facecore) on a frame whose chroma is constant
/// over each 2x2 block: every channel value within 1 of the original in full range and 2 in
/// limited range (whose Y has 219 levels for 256 and chroma 225). Measured: exactly these.
#[test]
fn round_trip_error_is_bounded_when_chroma_is_flat() {
    let img = blocky(&common::image("obama.jpg"));
    for format in FORMATS {
        for range in RANGES {
            let (max, mean) = diff(&convert(&img, format, range), &img);
            println!("{format:?} {range:?}: round trip on 2x2-flat chroma: max {max}, mean {mean:.3}");
            let bound = if range == ColorRange::Full { 1 } else { 2 };
            assert!(max <= bound, "{format:?} {range:?}: off by {max} (bound {bound})");
        }
    }
}

/// On the photos themselves (odd heights: 910x1137 and 1126x661) chroma subsampling blurs
/// colour edges, so only the mean error is bounded.
#[test]
fn round_trip_on_photos_with_odd_sizes() {
    for name in ["obama.jpg", "two_people.jpg"] {
        let img = common::image(name);
        for format in FORMATS {
            for range in RANGES {
                let (max, mean) = diff(&convert(&img, format, range), &img);
                println!("{name} {format:?} {range:?}: max {max}, mean {mean:.3}");
                assert!(mean < 1.5, "{name} {format:?} {range:?}: mean error {mean}");
            }
        }
    }
}

/// Frames of every odd and even size from 1x1 to 5x4, filled with arbitrary Y, U, V values
/// (outside the legal range too): every pixel equals the BT.601 reference applied to the Y
/// and chroma sample that cover it, within 1.
#[test]
fn small_and_odd_frames_follow_the_reference() {
    let mut seed = 0x1234_5678u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 24) as u8
    };
    for (w, h) in (1..=5usize).flat_map(|w| (1..=4usize).map(move |h| (w, h))) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        for range in RANGES {
            let y: Vec<u8> = (0..w * h).map(|_| next()).collect();
            let u: Vec<u8> = (0..cw * h).map(|_| next()).collect();
            let v: Vec<u8> = (0..cw * h).map(|_| next()).collect();
            let expect = |chroma_row: &dyn Fn(usize) -> usize| -> Vec<u8> {
                (0..w * h)
                    .flat_map(|i| {
                        let c = chroma_row(i / w) * cw + (i % w) / 2;
                        reference(y[i], u[c], v[c], range)
                    })
                    .collect()
            };
            let ok = |img: Image, want: &[u8], what: &str| {
                let got = img.as_rgb().as_raw();
                for (i, (g, e)) in got.iter().zip(want).enumerate() {
                    assert!(g.abs_diff(*e) <= 1, "{what} {w}x{h} {range:?}: value {i}: {g} vs {e}");
                }
            };
            let with = |v: ImageView<'_>| Image::from_view(v.with_color_range(range));
            // 4:2:0: chroma rows 0..ch of u and v.
            let want = expect(&|r| r / 2);
            let (u0, v0) = (&u[..cw * ch], &v[..cw * ch]);
            let nv12 = [y.clone(), interleave(u0, v0)].concat();
            ok(
                with(ImageView::new(&nv12, w as u32, h as u32, w, PixelFormat::Nv12).unwrap_or_else(|e| panic!("{w}x{h}: {e}"))),
                &want,
                "nv12",
            );
            let nv21 = [y.clone(), interleave(v0, u0)].concat();
            ok(with(ImageView::new(&nv21, w as u32, h as u32, w, PixelFormat::Nv21).unwrap()), &want, "nv21");
            let i420 = [&y[..], u0, v0].concat();
            ok(with(ImageView::new(&i420, w as u32, h as u32, w, PixelFormat::I420).unwrap()), &want, "i420");
            // 4:2:2: one chroma row per row.
            let mut yuyv = Vec::new();
            for r in 0..h {
                for c in 0..cw {
                    let y1 = if 2 * c + 1 < w { y[r * w + 2 * c + 1] } else { 0xEE };
                    yuyv.extend([y[r * w + 2 * c], u[r * cw + c], y1, v[r * cw + c]]);
                }
            }
            ok(with(ImageView::new(&yuyv, w as u32, h as u32, 4 * cw, PixelFormat::Yuyv).unwrap()), &expect(&|r| r), "yuyv");
        }
    }
}

fn reference(y: u8, u: u8, v: u8, range: ColorRange) -> [u8; 3] {
    let (y, u, v) = (f64::from(y), f64::from(u) - 128.0, f64::from(v) - 128.0);
    let (y, u, v) = match range {
        ColorRange::Limited => ((y - 16.0) * 255.0 / 219.0, u * 255.0 / 224.0, v * 255.0 / 224.0),
        _ => (y, u, v),
    };
    [code(y + 1.402 * v), code(y - 0.344_136 * u - 0.714_136 * v), code(y + 1.772 * u)]
}

/// The bundled detector finds the same faces in every converted frame as in the RGB photo:
/// same count, boxes and landmarks within 2 px.
#[test]
fn converted_frames_give_the_same_faces() {
    let det = Detector::bundled(DetectorConfig::default()).unwrap();
    for (name, count) in [("obama.jpg", 1), ("two_people.jpg", 2)] {
        let img = common::image(name);
        let want = det.detect(&img).unwrap();
        assert_eq!(want.len(), count, "{name}");
        for format in FORMATS {
            for range in RANGES {
                let got = det.detect(&convert(&img, format, range)).unwrap();
                assert_eq!(got.len(), want.len(), "{name} {format:?} {range:?}");
                let mut worst = 0f32;
                for (g, e) in got.iter().zip(&want) {
                    let (gb, eb) = (g.bbox, e.bbox);
                    for d in [gb.x - eb.x, gb.y - eb.y, gb.width - eb.width, gb.height - eb.height] {
                        worst = worst.max(d.abs());
                    }
                    for (gp, ep) in g.landmarks.iter().zip(&e.landmarks) {
                        worst = worst.max((gp.x - ep.x).abs()).max((gp.y - ep.y).abs());
                    }
                    assert!((g.score - e.score).abs() < 0.05, "{name} {format:?} {range:?}: score {} vs {}", g.score, e.score);
                }
                println!("{name} {format:?} {range:?}: boxes and landmarks within {worst:.2} px");
                assert!(worst <= 2.0, "{name} {format:?} {range:?}: moved by {worst} px");
            }
        }
    }
}

fn invalid(r: facecore::Result<ImageView<'_>>, needle: &str) {
    match r {
        Err(Error::InvalidInput { detail, .. }) => assert!(detail.contains(needle), "{detail:?} lacks {needle:?}"),
        Err(e) => panic!("expected InvalidInput ({needle}), got {e}"),
        Ok(_) => panic!("expected InvalidInput ({needle}), got a view"),
    }
}

#[test]
fn bad_frames_are_errors() {
    let (w, h) = (64u32, 48u32);
    let (ws, hs) = (w as usize, h as usize);
    let y = vec![16u8; ws * hs];
    let uv = vec![128u8; ws * hs / 2];
    let frame = [y.clone(), uv.clone()].concat();
    assert!(ImageView::new(&frame, w, h, ws, PixelFormat::Nv12).is_ok());
    // Truncated frames and planes, by one byte and by half.
    invalid(ImageView::new(&frame[..frame.len() - 1], w, h, ws, PixelFormat::Nv12), "too small");
    invalid(ImageView::new(&frame[..ws * hs], w, h, ws, PixelFormat::Nv21), "too small");
    invalid(ImageView::new(&frame[..ws * hs / 2], w, h, ws, PixelFormat::I420), "too small");
    invalid(ImageView::from_planes(&[Plane::new(&y, ws), Plane::new(&uv[..uv.len() - 1], ws)], w, h, PixelFormat::Nv12), "NV12 UV plane");
    invalid(ImageView::from_planes(&[Plane::new(&y[..100], ws), Plane::new(&uv, ws)], w, h, PixelFormat::Nv21), "NV21 Y plane");
    let (u, v) = (&uv[..ws * hs / 4], &uv[ws * hs / 4..]);
    invalid(
        ImageView::from_planes(&[Plane::new(&y, ws), Plane::new(u, ws / 2), Plane::new(&v[1..], ws / 2)], w, h, PixelFormat::I420),
        "I420 V plane",
    );
    invalid(ImageView::new(&y[..ws * hs - 1], w / 2, h, ws, PixelFormat::Yuyv), "too small");
    // Strides shorter than a row, for each plane; strides that overflow.
    invalid(ImageView::new(&frame, w, h, ws - 1, PixelFormat::Nv12), "stride");
    invalid(ImageView::from_planes(&[Plane::new(&y, ws), Plane::new(&uv, ws - 2)], w, h, PixelFormat::Nv12), "NV12 UV plane: stride");
    invalid(
        ImageView::from_planes(&[Plane::new(&y, ws), Plane::new(u, ws / 2 - 1), Plane::new(v, ws / 2)], w, h, PixelFormat::I420),
        "I420 U plane: stride",
    );
    invalid(ImageView::new(&frame, w, h, usize::MAX, PixelFormat::Nv12), "overflow");
    invalid(ImageView::new(&frame, w, h, usize::MAX / 2, PixelFormat::I420), "overflow");
    invalid(ImageView::from_planes(&[Plane::new(&y, ws), Plane::new(&uv, usize::MAX)], w, h, PixelFormat::Nv12), "overflow");
    invalid(ImageView::new(&frame, 5, 1, 9, PixelFormat::Yuyv), "stride 9 is shorter than a row of 12 bytes");
    // Zero sizes, wrong plane counts.
    invalid(ImageView::new(&frame, 0, h, ws, PixelFormat::Nv12), "empty");
    invalid(ImageView::new(&frame, w, 0, ws, PixelFormat::I420), "empty");
    invalid(ImageView::new(&[], 1, 1, 1, PixelFormat::Nv12), "too small");
    invalid(ImageView::from_planes(&[Plane::new(&frame, ws)], w, h, PixelFormat::Nv12), "takes 2 plane(s), 1 given");
    invalid(ImageView::from_planes(&[Plane::new(&y, ws), Plane::new(u, ws), Plane::new(v, ws)], w, h, PixelFormat::Nv12), "takes 2");
    invalid(ImageView::from_planes(&[], w, h, PixelFormat::Rgb8), "takes 1");
    // Sizes over the limits are refused before any allocation.
    let e = ImageView::new(&frame, 20_000, 2, 20_000, PixelFormat::Nv12).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
    // A too-small RGB output buffer.
    let view = ImageView::new(&frame, w, h, ws, PixelFormat::Nv12).unwrap();
    let mut out = vec![0u8; ws * hs * 3 - 1];
    assert!(matches!(view.write_rgb(&mut out), Err(Error::InvalidInput { .. })));
    out.push(0);
    view.write_rgb(&mut out).unwrap();
    assert!(out.iter().all(|&c| c == 0), "Y 16 with neutral chroma is black in limited range");
}

/// Conversion time of a 640x360 frame in each format (printed with `--nocapture`; not
/// asserted: the machine is shared).
#[test]
fn conversion_time_of_a_640x360_frame() {
    let img = common::image("two_people.jpg");
    let small = image::imageops::resize(img.as_rgb(), 640, 360, image::imageops::FilterType::Triangle);
    let img = Image::from_rgb(small).unwrap();
    let yuv = to_yuv(&img, ColorRange::Limited, true);
    let nv12 = [yuv.y.clone(), interleave(&yuv.u, &yuv.v)].concat();
    let i420 = [yuv.y.clone(), yuv.u.clone(), yuv.v.clone()].concat();
    let yuyv = vec![128u8; 640 * 360 * 2];
    let rgb = img.as_rgb().as_raw().clone();
    for (name, data, stride, format) in [
        ("NV12", &nv12, 640, PixelFormat::Nv12),
        ("I420", &i420, 640, PixelFormat::I420),
        ("YUYV", &yuyv, 1280, PixelFormat::Yuyv),
        ("RGB (copy)", &rgb, 1920, PixelFormat::Rgb8),
    ] {
        let mut times: Vec<f64> = (0..200)
            .map(|_| {
                let t = std::time::Instant::now();
                let out = Image::from_view(ImageView::new(data, 640, 360, stride, format).unwrap());
                let dt = t.elapsed().as_secs_f64() * 1e3;
                std::hint::black_box(out);
                dt
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{name} 640x360 -> RGB Image: median {:.3} ms, min {:.3} ms (200 runs)", times[100], times[0]);
    }
}
