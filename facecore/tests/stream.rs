//! The frame-stream layer (`FaceStream`): tracking, embedding budget, identities and events on
//! synthetic motion built from the fixtures (a face crop moved across a canvas), bad input,
//! and the real video clip of the shared data (decoded by `ffmpeg`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{image, pipeline};
use facecore::{
    EnrollOptions, Error, FaceStream, Gallery, Image, Preset, Rect, StreamEvent, StreamEventKind, StreamOptions, TrackIdentity,
    image_crate::{Rgb, RgbImage, imageops},
};

const W: u32 = 640;
const H: u32 = 360;
/// Frames are 25 per second.
const FPS: f64 = 25.0;

/// A crop of a fixture around its (first) face, scaled so the face box is about `face_px` wide.
fn sprite(name: &str, face_px: f32) -> RgbImage {
    let img = image(name);
    let face = pipeline(Preset::Fast).detector().detect(&img).unwrap()[0];
    let b = face.bbox;
    let (cx, cy) = (b.x + b.width / 2.0, b.y + b.height / 2.0);
    let side = b.width.max(b.height) * 1.6;
    let x0 = (cx - side / 2.0).max(0.0) as u32;
    let y0 = (cy - side / 2.0).max(0.0) as u32;
    let side_px = (side as u32).min(img.width() - x0).min(img.height() - y0);
    let crop = imageops::crop_imm(img.as_rgb(), x0, y0, side_px, side_px).to_image();
    let out = (side_px as f32 * face_px / b.width) as u32;
    imageops::resize(&crop, out, out, imageops::FilterType::Triangle)
}

fn obama() -> &'static RgbImage {
    static S: OnceLock<RgbImage> = OnceLock::new();
    S.get_or_init(|| sprite("obama.jpg", 90.0))
}

fn biden() -> &'static RgbImage {
    static S: OnceLock<RgbImage> = OnceLock::new();
    S.get_or_init(|| sprite("biden.jpg", 90.0))
}

/// A grey frame with sprites at their top-left corners.
fn frame(sprites: &[(&RgbImage, i64, i64)]) -> Image {
    let mut canvas = RgbImage::from_pixel(W, H, Rgb([90, 90, 90]));
    for (s, x, y) in sprites {
        imageops::overlay(&mut canvas, *s, *x, *y);
    }
    Image::from_rgb(canvas).unwrap()
}

/// Obama and Biden enrolled from photos other than (or larger than) the moving crops.
fn gallery() -> Gallery {
    let p = pipeline(Preset::Fast);
    let mut g = Gallery::new();
    p.enroll(&mut g, "obama", &image("obama2.jpg"), &EnrollOptions::default()).unwrap();
    p.enroll(&mut g, "biden", &image("biden.jpg"), &EnrollOptions::default()).unwrap();
    g
}

fn stream(options: StreamOptions) -> FaceStream {
    FaceStream::new(pipeline(Preset::Fast).clone(), Some(gallery()), options).unwrap()
}

fn kinds(events: &[StreamEvent]) -> Vec<(StreamEventKind, u64)> {
    events.iter().map(|e| (e.kind, e.track)).collect()
}

fn centre(r: &Rect) -> (f32, f32) {
    (r.x + r.width / 2.0, r.y + r.height / 2.0)
}

/// Pushes frames, returning all events (with `finish()`'s at the end) and the embeddings
/// computed in each frame.
fn run(stream: &mut FaceStream, frames: impl IntoIterator<Item = Image>) -> (Vec<StreamEvent>, Vec<u64>) {
    let (mut events, mut per_frame) = (Vec::new(), Vec::new());
    for (i, f) in frames.into_iter().enumerate() {
        let before = stream.stats().embeddings;
        events.extend(stream.push(&f, i as f64 / FPS).unwrap());
        per_frame.push(stream.stats().embeddings - before);
    }
    events.extend(stream.finish());
    (events, per_frame)
}

/// Obama's crop moving right by `step` px a frame, from x = 20.
fn moving(n: usize, step: i64) -> impl Iterator<Item = Image> {
    (0..n).map(move |i| frame(&[(obama(), 20 + step * i as i64, 80)]))
}

#[test]
fn a_moving_face_is_one_track_identified_once() {
    let mut s = stream(StreamOptions::default());
    let mut ids = Vec::new();
    let mut events = Vec::new();
    for (i, f) in moving(30, 12).enumerate() {
        events.extend(s.push(&f, i as f64 / FPS).unwrap());
        ids.extend(s.tracks().iter().map(|t| t.id));
    }
    events.extend(s.finish());
    assert_eq!(
        kinds(&events),
        [(StreamEventKind::Started, 1), (StreamEventKind::Identified, 1), (StreamEventKind::Ended, 1)],
        "{events:#?}"
    );
    assert!(ids.iter().all(|&id| id == 1), "{ids:?}");
    let identified = &events[1];
    assert_eq!(identified.name.as_deref(), Some("obama"));
    assert!(identified.score.unwrap() >= s.threshold());
    assert!(identified.quality > 0.5, "{identified:?}");
    let ended = &events[2];
    assert_eq!(ended.name.as_deref(), Some("obama"));
    assert!((ended.duration - 29.0 / FPS).abs() < 1e-9, "{ended:?}");
    let st = s.stats();
    assert_eq!((st.frames, st.detection_frames, st.detections), (30, 30, 30), "{st:?}");
    // Embedded at once, again for evidence, then confident: a handful of embeddings, not 30.
    assert!((2..=4).contains(&st.embeddings), "{st:?}");
    assert_eq!((st.tracks_started, st.tracks_ended), (1, 1));
}

#[test]
fn same_frames_same_events() {
    let frames: Vec<Image> = moving(12, 15).collect();
    let a = run(&mut stream(StreamOptions::default()), frames.clone());
    let b = run(&mut stream(StreamOptions::default()), frames);
    assert_eq!(a, b);
}

#[test]
fn a_face_that_disappears_briefly_keeps_its_track() {
    // Gone (blank frames) for frames 10..14 while moving on; back where it would be.
    let frames = (0..24).map(|i| if (10..14).contains(&i) { frame(&[]) } else { frame(&[(obama(), 20 + 14 * i, 80)]) });
    let mut s = stream(StreamOptions::default());
    let mut during_gap = Vec::new();
    let mut events = Vec::new();
    for (i, f) in frames.enumerate() {
        events.extend(s.push(&f, i as f64 / FPS).unwrap());
        if (10..14).contains(&i) {
            let t = s.tracks();
            assert_eq!(t.len(), 1, "frame {i}");
            assert!(!t[0].detected);
            during_gap.push(centre(&t[0].bbox).0);
        }
    }
    events.extend(s.finish());
    let k = kinds(&events);
    assert_eq!(k.iter().filter(|e| e.0 == StreamEventKind::Started).count(), 1, "{events:#?}");
    assert_eq!(k.last(), Some(&(StreamEventKind::Ended, 1)));
    assert!(k.iter().all(|e| e.1 == 1));
    // The prediction kept moving at 14 px a frame.
    assert!(during_gap.windows(2).all(|w| (w[1] - w[0] - 14.0).abs() < 3.0), "{during_gap:?}");
}

#[test]
fn a_face_gone_too_long_ends_and_comes_back_as_a_new_track() {
    let o = StreamOptions { max_missed: 3, ..Default::default() };
    let frames = (0..20).map(|i| if (6..12).contains(&i) { frame(&[]) } else { frame(&[(obama(), 200, 80)]) });
    let (events, _) = run(&mut stream(o), frames);
    let k = kinds(&events);
    use StreamEventKind::*;
    assert_eq!(k, [(Started, 1), (Identified, 1), (Ended, 1), (Started, 2), (Identified, 2), (Ended, 2)], "{events:#?}");
    // Ended after the 4th missed detection (frame 9), its last detection at frame 5.
    assert_eq!(events[2].frame, 9);
    assert!((events[2].duration - 5.0 / FPS).abs() < 1e-9);
}

#[test]
fn two_faces_that_cross_keep_their_tracks_and_names() {
    // Obama left to right, Biden right to left and lower by a quarter of a crop: Biden's crop,
    // drawn over Obama's, hides Obama's face for a few frames at the crossing.
    let (o, b) = (obama(), biden());
    let dy = (o.height() as f64 * 0.25) as i64;
    let n = 32i64;
    let ox = |i: i64| 10 + i * 16;
    let bx = |i: i64| W as i64 - b.width() as i64 - 10 - i * 16;
    let mut s = stream(StreamOptions::default());
    let mut events = Vec::new();
    let mut checked = 0;
    for i in 0..n {
        events.extend(s.push(&frame(&[(o, ox(i), 40), (b, bx(i), 40 + dy)]), i as f64 / FPS).unwrap());
        for t in s.tracks().iter().filter(|t| t.identity == TrackIdentity::Known && t.detected) {
            let (expected, w) = match t.name.as_deref() {
                Some("obama") => (ox(i) as f32, o.width() as f32),
                Some("biden") => (bx(i) as f32, b.width() as f32),
                other => panic!("{other:?}"),
            };
            let cx = centre(&t.bbox).0;
            assert!((cx - (expected + w / 2.0)).abs() < w / 3.0, "frame {i}: track {} ({:?}) at {cx}", t.id, t.name);
            checked += 1;
        }
    }
    let st = s.stats();
    assert!(st.detections < 2 * n as u64, "no face was hidden: {st:?}");
    events.extend(s.finish());
    let k = kinds(&events);
    use StreamEventKind::*;
    assert!(!k.iter().any(|e| e.0 == Changed), "{events:#?}");
    assert_eq!(k.iter().filter(|e| e.0 == Started).count(), 2, "{events:#?}");
    let names: Vec<_> = events.iter().filter(|e| e.kind == Identified).map(|e| (e.track, e.name.clone().unwrap())).collect();
    assert_eq!(names.len(), 2, "{events:#?}");
    assert_ne!(names[0].1, names[1].1);
    assert!(checked > 40, "{checked}");
}

#[test]
fn detection_every_third_frame_bridged_by_the_tracker() {
    let o = StreamOptions { detect_every: 3, ..Default::default() };
    let mut s = stream(o);
    let mut events = Vec::new();
    for (i, f) in moving(30, 9).enumerate() {
        events.extend(s.push(&f, i as f64 / FPS).unwrap());
        let t = s.tracks();
        if i >= 3 {
            assert_eq!(t.len(), 1, "frame {i}");
            assert_eq!(t[0].detected, i % 3 == 0);
            // Predicted between detections: within a few px of the truth.
            let truth = 20.0 + 9.0 * i as f32 + obama().width() as f32 / 2.0;
            assert!((centre(&t[0].bbox).0 - truth).abs() < 8.0, "frame {i}: {:?} vs {truth}", t[0].bbox);
        }
    }
    events.extend(s.finish());
    let st = s.stats();
    assert_eq!((st.frames, st.detection_frames), (30, 10));
    let k = kinds(&events);
    assert_eq!(k.iter().filter(|e| e.0 == StreamEventKind::Started).count(), 1, "{events:#?}");
    assert!(k.contains(&(StreamEventKind::Identified, 1)), "{events:#?}");
}

#[test]
fn the_embedding_budget_is_respected() {
    // Two new faces at once with room for one embedding a frame: one waits.
    let o = StreamOptions { max_embeddings_per_frame: 1, ..Default::default() };
    let two = image("two_people.jpg");
    let mut s = FaceStream::new(pipeline(Preset::Fast).clone(), Some(gallery()), o).unwrap();
    let mut per_frame = Vec::new();
    let mut events = Vec::new();
    for i in 0..20 {
        let before = s.stats().embeddings;
        events.extend(s.push(&two, i as f64 / FPS).unwrap());
        per_frame.push(s.stats().embeddings - before);
    }
    assert!(per_frame.iter().all(|&n| n <= 1), "{per_frame:?}");
    assert_eq!(&per_frame[..2], [1, 1], "both new tracks embedded, one per frame");
    assert!(s.stats().embeddings_deferred >= 1);
    let names: Vec<_> = events.iter().filter(|e| e.kind == StreamEventKind::Identified).filter_map(|e| e.name.clone()).collect();
    assert_eq!(names.len(), 2, "{events:#?}");
    // Confident tracks are never embedded again: embeddings stop.
    let tracks = s.tracks();
    assert!(tracks.iter().all(|t| t.confident), "{tracks:#?}");
    assert!(per_frame[10..].iter().all(|&n| n == 0), "{per_frame:?}");
    // Zero budget: tracking only, nobody embedded, nobody named.
    let o = StreamOptions { max_embeddings_per_frame: 0, ..Default::default() };
    let (events, per_frame) = run(&mut stream(o), moving(10, 10));
    assert!(per_frame.iter().all(|&n| n == 0));
    assert!(events.iter().all(|e| e.kind == StreamEventKind::Started || e.kind == StreamEventKind::Ended), "{events:#?}");
}

#[test]
fn people_not_in_the_gallery_are_unknown_after_enough_evidence() {
    let p = pipeline(Preset::Fast);
    let mut g = Gallery::new();
    p.enroll(&mut g, "biden", &image("biden.jpg"), &EnrollOptions::default()).unwrap();
    let o = StreamOptions::default();
    let mut s = FaceStream::new(p.clone(), Some(g), o).unwrap();
    let (events, _) = run(&mut s, moving(30, 8));
    let k = kinds(&events);
    use StreamEventKind::*;
    assert_eq!(k, [(Started, 1), (Unknown, 1), (Ended, 1)], "{events:#?}");
    assert!(events[1].score.unwrap() < s.threshold());
    // Unknown after `unknown_evidence` embeddings, `reembed_every` frames apart.
    assert_eq!(events[1].frame, u64::from(2 * o.reembed_every));
    // Without a gallery: the same, with no score.
    let (events, _) = run(&mut FaceStream::new(p.clone(), None, o).unwrap(), moving(30, 8));
    assert_eq!(kinds(&events), [(Started, 1), (Unknown, 1), (Ended, 1)]);
    assert_eq!(events[1].score, None);
}

#[test]
fn bad_input_is_an_error_and_the_stream_goes_on() {
    let mut s = stream(StreamOptions::default());
    let frames: Vec<Image> = moving(6, 10).collect();
    assert_eq!(s.push(&frames[0], 1.0).unwrap().len(), 0);
    // Another size.
    let small = Image::from_rgb(RgbImage::new(320, 180)).unwrap();
    let e = s.push(&small, 1.1).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { what: "frame", .. }), "{e}");
    assert!(e.to_string().contains("320x180") && e.to_string().contains("640x360"), "{e}");
    // Time going backwards, or not a number.
    assert!(matches!(s.push(&frames[1], 0.5), Err(Error::InvalidInput { what: "timestamp", .. })));
    assert!(matches!(s.push(&frames[1], f64::NAN), Err(Error::InvalidInput { what: "timestamp", .. })));
    assert_eq!(s.stats().frames, 1);
    // Still usable: the track goes on.
    let ev = s.push(&frames[1], 1.04).unwrap();
    assert_eq!(kinds(&ev), [(StreamEventKind::Started, 1)]);
    // Equal timestamps are allowed.
    s.push(&frames[2], 1.04).unwrap();
    // finish() forgets the size: a new resolution may follow.
    assert_eq!(kinds(&s.finish()), [(StreamEventKind::Ended, 1)]);
    s.push(&small, 2.0).unwrap();
    // A gallery of another embedding space: refused at construction and on replacement.
    let mut other = Gallery::new();
    pipeline(Preset::Sface).enroll(&mut other, "obama", &image("obama.jpg"), &EnrollOptions::default()).unwrap();
    let e = FaceStream::new(pipeline(Preset::Fast).clone(), Some(other.clone()), StreamOptions::default()).unwrap_err();
    assert!(matches!(e, Error::ModelMismatch { .. }), "{e}");
    assert!(matches!(s.set_gallery(Some(other)), Err(Error::ModelMismatch { .. })));
    assert_eq!(s.gallery().map(Gallery::len), Some(2));
    // Bad options.
    let e = FaceStream::new(pipeline(Preset::Fast).clone(), None, StreamOptions { detect_every: 0, ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
}

/// The frames of a video as raw rgb24 from an `ffmpeg` subprocess (every coded frame, no
/// rate conversion), with their presentation times from `ffprobe`. `None` (a loud skip) when
/// ffmpeg is missing, a failure when the shared data is required.
fn decode_video(path: &std::path::Path, w: u32, h: u32) -> Option<Vec<(Image, f64)>> {
    let missing = |e: std::io::Error| -> Option<Vec<(Image, f64)>> {
        assert!(!common::shared_required(), "ffmpeg is needed (Debian package ffmpeg): {e}");
        common::loud_skip("real_video", &format!("ffmpeg not found ({e}); apt-get install ffmpeg"));
        None
    };
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output();
    let times: Vec<f64> = match probe {
        Ok(o) => {
            assert!(o.status.success(), "ffprobe failed on {}", path.display());
            String::from_utf8(o.stdout).unwrap().lines().map(|l| l.trim().trim_end_matches(',').parse().unwrap()).collect()
        }
        Err(e) => return missing(e),
    };
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return missing(e),
    };
    let mut raw = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut raw).unwrap();
    assert!(child.wait().unwrap().success(), "ffmpeg failed on {}", path.display());
    let n = (w * h * 3) as usize;
    assert_eq!(raw.len() % n, 0, "not whole {w}x{h} rgb24 frames");
    assert_eq!(raw.len() / n, times.len(), "ffmpeg frames vs ffprobe timestamps");
    Some(raw.chunks_exact(n).map(|c| Image::from_rgb(RgbImage::from_raw(w, h, c.to_vec()).unwrap()).unwrap()).zip(times).collect())
}

/// The acceptance test: on the Hamilton clip (640x360, 275 frames), with a gallery of
/// the two reference photos, both people are identified under their names, no track changes
/// identity, and only a small fraction of the detected faces are embedded.
#[test]
fn real_video() {
    let Some(data) = common::shared_data("real_video") else { return };
    let video = common::shared_file(&data, "video/short_hamilton_clip.mp4");
    let refs = [
        ("alex-lacamoire", common::shared_file(&data, "faces/face_recognition/examples/alex-lacamoire.png")),
        ("lin-manuel-miranda", common::shared_file(&data, "faces/face_recognition/examples/lin-manuel-miranda.png")),
    ];
    let Some(frames) = decode_video(&video, 640, 360) else { return };
    assert_eq!(frames.len(), 275);
    for (preset, detect_every) in [(Preset::Accurate, 1), (Preset::Fast, 1), (Preset::Accurate, 3)] {
        let p = pipeline(preset);
        let mut gallery = Gallery::new();
        for (name, path) in &refs {
            p.enroll(&mut gallery, name, &Image::open(path).unwrap(), &EnrollOptions::default()).unwrap();
        }
        let options = StreamOptions { detect_every, ..Default::default() };
        let mut stream = FaceStream::new(p.clone(), Some(gallery), options).unwrap();
        let mut events = Vec::new();
        let start = std::time::Instant::now();
        for (f, t) in &frames {
            events.extend(stream.push(f, *t).unwrap());
        }
        let elapsed = start.elapsed();
        events.extend(stream.finish());
        let s = stream.stats();
        println!("--- {preset:?}, detect_every {detect_every}");
        for e in events.iter().filter(|e| e.kind != StreamEventKind::Started) {
            let b = e.bbox;
            println!(
                "{:>10} {:6.3} s track {:2} {:20} score {:5.3} best shot {:.2} box {:.0},{:.0} {:.0}x{:.0}",
                e.kind.name(),
                e.timestamp,
                e.track,
                e.name.as_deref().unwrap_or("-"),
                e.score.unwrap_or(f32::NAN),
                e.quality,
                b.x,
                b.y,
                b.width,
                b.height
            );
        }
        println!(
            "{} frames ({} detected), {} faces detected, {} embeddings computed ({:.1}% of the faces), {} tracks; {:.1} ms per frame (single thread)",
            s.frames,
            s.detection_frames,
            s.detections,
            s.embeddings,
            100.0 * s.embeddings as f64 / s.detections as f64,
            s.tracks_started,
            elapsed.as_secs_f64() * 1000.0 / frames.len() as f64
        );
        assert!(!events.iter().any(|e| e.kind == StreamEventKind::Changed), "{preset:?}: {events:#?}");
        // In the opening wide shot Alex is at the piano on the left, Lin-Manuel on the right.
        for (name, left) in [("alex-lacamoire", true), ("lin-manuel-miranda", false)] {
            let first = events
                .iter()
                .find(|e| e.kind == StreamEventKind::Identified && e.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{preset:?}: {name} never identified: {events:#?}"));
            assert!(first.timestamp < 1.6, "{preset:?}: {first:?}");
            assert_eq!(first.bbox.x < 200.0, left, "{preset:?}: {first:?}");
        }
        assert!(s.embeddings * 10 < s.detections, "{preset:?}: {s:?}");
    }
}

/// With a liveness-checking pipeline, a track's liveness is decided once, from the median of
/// `liveness_frames` judged frames, announced by one `Liveness` event and carried by every
/// later event of the track; without it, no liveness anywhere.
#[test]
fn liveness_is_decided_once_per_track_from_several_frames() {
    let live = facecore::Liveness::bundled().unwrap();
    let op = facecore::LivenessOp::Default;
    let p = pipeline(Preset::Fast).clone().with_liveness(live.clone(), op);
    let mut s = FaceStream::new(p, Some(gallery()), StreamOptions::default()).unwrap();
    let frames: Vec<Image> = moving(20, 12).collect();
    let (events, _) = run(&mut s, frames.clone());
    let decided: Vec<&StreamEvent> = events.iter().filter(|e| e.kind == StreamEventKind::Liveness).collect();
    assert_eq!(decided.len(), 1, "{events:#?}");
    let d = decided[0];
    // The median of the first five judged frames, recomputed here from the same frames.
    let mut scores = Vec::new();
    for f in &frames {
        let face = pipeline(Preset::Fast).detector().detect(f).unwrap()[0];
        if let Ok(sc) = live.score(f, &face).unwrap() {
            scores.push(sc);
        }
        if scores.len() == 5 {
            break;
        }
    }
    scores.sort_by(f32::total_cmp);
    assert_eq!(d.live, Some(scores[2]), "{d:?}");
    let want = if scores[2] >= op.threshold() { facecore::LivenessDecision::Live } else { facecore::LivenessDecision::Spoof };
    assert_eq!(d.liveness, Some(want));
    let ended = events.iter().find(|e| e.kind == StreamEventKind::Ended).unwrap();
    assert_eq!((ended.live, ended.liveness), (d.live, d.liveness));
    // Without liveness checks: no liveness event, no score.
    let (plain, _) = run(&mut stream(StreamOptions::default()), frames);
    assert!(plain.iter().all(|e| e.kind != StreamEventKind::Liveness && e.live.is_none()));
}
