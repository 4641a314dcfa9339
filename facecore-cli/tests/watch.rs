//! `facecore watch`: the acceptance test on the Hamilton clip of the shared data (both
//! people identified under their names, no identity change, few embeddings), raw frames on
//! stdin and image sequences built from a fixture, and the error without ffmpeg.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use facecore::image_crate::{Rgb, RgbImage, imageops};
use serde_json::Value;

fn facecore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_facecore"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

fn temp(tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("watch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn check(out: &Output) -> (String, String) {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "facecore failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn enroll(gallery: &Path, preset: &str, name: &str, photo: &Path) {
    check(&facecore().args(["enroll", "--preset", preset, "--gallery"]).arg(gallery).arg(name).arg(photo).output().unwrap());
}

fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

/// The counters line on stderr: (faces detected, embeddings computed).
fn counters(stderr: &str) -> (u64, u64) {
    let line = stderr.lines().find(|l| l.contains("embeddings computed")).unwrap_or_else(|| panic!("no counters: {stderr}"));
    let before = |key: &str| -> u64 {
        let head = &line[..line.find(key).unwrap()];
        head.split_whitespace().last().unwrap().parse().unwrap()
    };
    (before("faces detected"), before("embeddings computed"))
}

/// Whether a prerequisite that is missing must fail the test (CI) rather than skip it.
fn shared_required() -> bool {
    std::env::var("FACECORE_REQUIRE_SHARED").is_ok_and(|v| v == "1")
}

/// A skip notice the test harness does not capture.
fn loud_skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "\n*** SKIP {test}: {why} ***\n");
}

#[test]
fn hamilton_clip_both_people_identified_no_change() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if !data.is_dir() {
        let why = format!("{} not found (CI provides ../shared/data)", data.display());
        assert!(!shared_required(), "{why}, and FACECORE_REQUIRE_SHARED=1 requires it");
        return loud_skip("hamilton_clip", &why);
    }
    if let Err(e) = Command::new("ffmpeg").arg("-version").stdout(Stdio::null()).status() {
        assert!(!shared_required(), "ffmpeg is needed (Debian package ffmpeg): {e}");
        return loud_skip("hamilton_clip", &format!("ffmpeg not found ({e}); apt-get install ffmpeg"));
    }
    let file = |rel: &str| {
        let p = data.join(rel);
        assert!(p.exists(), "{} is missing: ../shared/data is incomplete", p.display());
        p
    };
    let video = file("video/short_hamilton_clip.mp4");
    let dir = temp("hamilton");
    let gallery = dir.join("people.fcg");
    for name in ["alex-lacamoire", "lin-manuel-miranda"] {
        enroll(&gallery, "accurate", name, &file(&format!("faces/face_recognition/examples/{name}.png")));
    }
    let annotated = dir.join("annotated.mp4");
    let out =
        facecore().args(["watch", "--json", "--gallery"]).arg(&gallery).arg("--annotate").arg(&annotated).arg(&video).output().unwrap();
    let (stdout, stderr) = check(&out);
    print!("{stdout}");
    eprint!("{stderr}");
    let events = events(&stdout);
    for e in &events {
        for key in ["event", "track", "t", "name", "score", "box"] {
            assert!(e.get(key).is_some(), "no {key} in {e}");
        }
        assert_eq!(e["box"].as_array().map(Vec::len), Some(4), "{e}");
    }
    assert!(!events.iter().any(|e| e["event"] == "changed"), "an identity changed:\n{stdout}");
    for name in ["alex-lacamoire", "lin-manuel-miranda"] {
        let first = events
            .iter()
            .find(|e| e["event"] == "identified" && e["name"] == name)
            .unwrap_or_else(|| panic!("{name} never identified:\n{stdout}"));
        assert!(first["t"].as_f64().unwrap() < 1.6, "{first}");
        assert!(first["score"].as_f64().unwrap() > 0.7, "{first}");
    }
    // Every track that started also ended (finish), and unknown tracks carry a null name.
    let started = events.iter().filter(|e| e["event"] == "started").count();
    assert_eq!(started, events.iter().filter(|e| e["event"] == "ended").count());
    assert!(events.iter().filter(|e| e["event"] == "unknown").all(|e| e["name"].is_null()));
    let (faces, embeddings) = counters(&stderr);
    assert!(faces > 500 && embeddings > 0 && embeddings * 10 < faces, "{faces} faces, {embeddings} embeddings");
    // The annotated video has every frame.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0"])
        .arg(&annotated)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "640,360,275");
    let _ = std::fs::remove_dir_all(&dir);
}

/// 16 frames: obama_small.jpg (320x240) moving right by 10 px a frame on a grey 640x360
/// canvas.
fn moving_frames() -> Vec<RgbImage> {
    let sprite = facecore::Image::open(fixture("obama_small.jpg")).unwrap();
    (0..16)
        .map(|i| {
            let mut canvas = RgbImage::from_pixel(640, 360, Rgb([90, 90, 90]));
            imageops::overlay(&mut canvas, sprite.as_rgb(), 10 * i, 60);
            canvas
        })
        .collect()
}

/// Raw BGR and NV12 frames on stdin and the same frames as a directory of PNGs: one track,
/// identified as obama, ended at the end.
#[test]
fn raw_frames_on_stdin_and_image_sequences() {
    let dir = temp("raw");
    let gallery = dir.join("people.fcg");
    enroll(&gallery, "fast", "obama", &fixture("obama.jpg"));
    enroll(&gallery, "fast", "biden", &fixture("biden.jpg"));
    let frames = moving_frames();
    let seq = dir.join("seq");
    std::fs::create_dir_all(&seq).unwrap();
    let mut bgr = Vec::new();
    let mut nv12 = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        f.save(seq.join(format!("frame{i:03}.png"))).unwrap();
        bgr.extend(f.pixels().flat_map(|p| [p[2], p[1], p[0]]));
        // BT.601 limited range, chroma from each 2x2 block's top-left pixel.
        let yuv = |p: &Rgb<u8>| {
            let [r, g, b] = p.0.map(f64::from);
            let c = |v: f64| v.round().clamp(0.0, 255.0) as u8;
            (
                c(16.0 + 0.256788 * r + 0.504129 * g + 0.097906 * b),
                c(128.0 - 0.148223 * r - 0.290993 * g + 0.439216 * b),
                c(128.0 + 0.439216 * r - 0.367788 * g - 0.071427 * b),
            )
        };
        nv12.extend(f.pixels().map(|p| yuv(p).0));
        for y in (0..360).step_by(2) {
            for x in (0..640).step_by(2) {
                let (_, u, v) = yuv(f.get_pixel(x, y));
                nv12.extend([u, v]);
            }
        }
    }
    let expect_obama = |stdout: &str, what: &str| {
        let events = events(stdout);
        let kinds: Vec<(&str, u64)> = events.iter().map(|e| (e["event"].as_str().unwrap(), e["track"].as_u64().unwrap())).collect();
        assert_eq!(kinds, [("started", 1), ("identified", 1), ("ended", 1)], "{what}:\n{stdout}");
        assert_eq!(events[1]["name"], "obama", "{what}");
        assert!(events[0]["name"].is_null(), "{what}");
    };
    for (format, bytes) in [("bgr", &bgr), ("nv12", &nv12)] {
        let mut child = facecore()
            .args(["watch", "--preset", "fast", "--json", "--size", "640x360", "--pixel-format", format, "--gallery"])
            .arg(&gallery)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = bytes.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        let (stdout, stderr) = check(&out);
        expect_obama(&stdout, format);
        assert!(stderr.contains("16 frames"), "{stderr}");
    }
    let (stdout, _) =
        check(&facecore().args(["watch", "--preset", "fast", "--json", "--gallery"]).arg(&gallery).arg(&seq).output().unwrap());
    expect_obama(&stdout, "directory");
    // A frame cut short at the end of stdin is an error, after the whole frames' events.
    let mut child = facecore()
        .args(["watch", "--preset", "fast", "--size", "640x360", "--pixel-format", "bgr", "--gallery"])
        .arg(&gallery)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = bgr[..640 * 360 * 3 * 2 + 100].to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ended inside a frame"), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_video_without_ffmpeg_names_the_package() {
    let dir = temp("noffmpeg");
    let gallery = dir.join("people.fcg");
    enroll(&gallery, "fast", "obama", &fixture("obama.jpg"));
    let video = dir.join("clip.mp4");
    std::fs::write(&video, b"not really a video").unwrap();
    // An empty PATH: no ffmpeg, no ffprobe.
    let out = facecore().args(["watch", "--preset", "fast", "--gallery"]).arg(&gallery).arg(&video).env("PATH", &dir).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("package `ffmpeg`") && stderr.contains("apt-get install ffmpeg"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
