//! Enrol one photo per person, then name the faces in another photo.
//!
//! `cargo run -p facecore --example identify -- tests/fixtures/two_people.jpg obama=tests/fixtures/obama.jpg biden=tests/fixtures/biden.jpg`
#![allow(clippy::print_stdout)]

use facecore::{FacePipeline, Gallery, Identity, Image, OperatingPoint, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let probe = args.next().ok_or("usage: identify PROBE NAME=IMAGE...")?;
    let pipeline = FacePipeline::from_preset(Preset::default())?;
    let mut gallery = Gallery::new();
    for spec in args {
        let (name, path) = spec.split_once('=').ok_or("people are given as NAME=IMAGE")?;
        match pipeline.embed_best(&Image::open(path)?)? {
            Some(face) => println!("enrolled {name} as person {}", gallery.enroll(name, &face.embedding)?),
            None => eprintln!("no face in {path}"),
        }
    }
    let threshold = OperatingPoint::Fmr1e3.threshold(pipeline.recognizer().space())?;
    for face in pipeline.analyze(&Image::open(&probe)?)? {
        let b = face.face.bbox;
        match gallery.identify(&face.embedding, threshold)? {
            Identity::Known(m) => println!("{:.0},{:.0} {:.0}x{:.0}: {} ({:.3})", b.x, b.y, b.width, b.height, m.name, m.score),
            Identity::Unknown(_) => println!("{:.0},{:.0} {:.0}x{:.0}: unknown", b.x, b.y, b.width, b.height),
        }
    }
    Ok(())
}
