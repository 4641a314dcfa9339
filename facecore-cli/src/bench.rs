//! `facecore bench IMAGE`: per-stage latency, whole job, threads and pipelined throughput, and
//! with `--scaling` the cost growth with image size, faces per image and gallery size.
//! Medians of repeated runs; single thread unless a line says otherwise.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use clap::Args;
use facecore::image_crate::imageops::{self, FilterType};
use facecore::image_crate::{Rgb, RgbImage};
use facecore::{DetectorConfig, Embedding, FacePipeline, Gallery, Image, InputSize, Preset};

use crate::AnyResult;

/// What `main` did to the allocator, printed in the header.
pub static MALLOC: OnceLock<&'static str> = OnceLock::new();

#[derive(Args)]
pub struct BenchArgs {
    image: PathBuf,
    /// Preset(s), comma separated.
    #[arg(long, default_value = "accurate,fast", value_delimiter = ',')]
    preset: Vec<Preset>,
    /// Timed repetitions per measurement (after one warm-up).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Resize the image so its longest side is this many pixels first (e.g. 640).
    #[arg(long)]
    resize: Option<u32>,
    /// Detector minimum face size in pixels (0 = every face; larger also means a smaller
    /// network input, see `DetectorConfig::min_face_size`).
    #[arg(long, default_value_t = 0.0)]
    min_face: f32,
    /// Threads for the multi-thread and pipelined lines.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also measure cost growth: image size, faces per image, gallery size (1k to 1M people).
    #[arg(long)]
    scaling: bool,
    /// Largest gallery for `--scaling`.
    #[arg(long, default_value_t = 1_000_000)]
    max_gallery: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn time<T>(runs: usize, mut f: impl FnMut() -> facecore::Result<T>) -> AnyResult<f64> {
    f()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

/// Peak resident set size of this process so far, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print_rss(when: &str) {
    match peak_rss_mib() {
        Some(m) => println!("peak RSS {when}: {m:.0} MiB"),
        None => println!("peak RSS {when}: not available on this platform"),
    }
}

fn resized(img: &Image, longest: u32) -> AnyResult<Image> {
    let s = longest as f32 / img.width().max(img.height()) as f32;
    let (w, h) = (((img.width() as f32 * s).round() as u32).max(1), ((img.height() as f32 * s).round() as u32).max(1));
    Ok(Image::from_rgb(imageops::resize(img.as_rgb(), w, h, FilterType::Triangle))?)
}

pub fn run(a: &BenchArgs) -> AnyResult {
    let bytes = std::fs::read(&a.image).map_err(|e| format!("{}: {e}", a.image.display()))?;
    let mut img = Image::decode(&bytes)?;
    if let Some(n) = a.resize {
        img = resized(&img, n)?;
    }
    let decode = time(a.runs, || Image::decode(&bytes))?;
    println!(
        "bench {} ({}x{} after resize), median of {} runs, min_face={}; {}",
        a.image.display(),
        img.width(),
        img.height(),
        a.runs,
        a.min_face,
        MALLOC.get().copied().unwrap_or("allocator not tuned")
    );
    println!("decode (original file)   {decode:8.2} ms");
    let config = DetectorConfig { min_face_size: a.min_face, ..DetectorConfig::default() };
    for preset in &a.preset {
        let p = FacePipeline::from_preset(*preset)?.with_detector_config(config)?;
        let det = p.detector();
        // The first frame of a size builds (and caches) the optimised plan for it.
        let start = Instant::now();
        let faces = det.detect(&img)?;
        let first = start.elapsed().as_secs_f64() * 1e3;
        let detect = time(a.runs, || det.detect(&img))?;
        let Some(face) = faces.first().copied() else {
            println!("[{}] detect {detect:.2} ms, no face found", preset.name());
            continue;
        };
        let align = time(a.runs, || p.recognizer().chip(&img, &face, 0))?;
        let embed = time(a.runs, || p.recognizer().embed(&img, &face))?;
        let whole = time(a.runs, || p.analyze(&img))?;
        println!(
            "[{:<8}] faces={} detect={detect:.2} ms (first frame, building the plan: {first:.1} ms) align={align:.2} ms align+embed/face={embed:.2} ms whole job={whole:.2} ms (1 thread)",
            preset.name(),
            faces.len()
        );
        if a.threads > 1 {
            let pt = p.clone().with_threads(a.threads)?;
            let whole_t = time(a.runs, || pt.analyze(&img))?;
            // Pipelined frames: the same image as a stream of frames, frames per second.
            let frames = a.runs.max(4) * 2;
            let mut rates = Vec::new();
            for _ in 0..3 {
                let start = Instant::now();
                pt.analyze_frames(std::iter::repeat_n(img.clone(), frames), |_, _, _| Ok(()))?;
                rates.push(frames as f64 / start.elapsed().as_secs_f64());
            }
            println!(
                "[{:<8}] whole job={whole_t:.2} ms ({} threads); pipelined frames: {:.1} frames/s ({} threads) vs {:.1} frames/s analyze() in a loop on 1 thread",
                preset.name(),
                a.threads,
                median(rates),
                a.threads,
                1e3 / whole
            );
        }
    }
    // Liveness: both networks on the first face (opt-in on pipelines; its own cost).
    let faces = facecore::Detector::bundled(config)?.detect(&img)?;
    if let Some(face) = faces.first() {
        let live = facecore::Liveness::bundled()?;
        let per_face = time(a.runs, || live.score(&img, face))?;
        println!("liveness (MiniFASNetV2 + V1SE, crops, both networks)/face={per_face:.2} ms (1 thread)");
    }
    print_rss("after the runs above");
    if a.scaling {
        let preset = a.preset.first().copied().unwrap_or(Preset::Fast);
        let p = FacePipeline::from_preset(preset)?;
        scaling_image_size(&p, &img, a.runs)?;
        scaling_faces(&p, &img, a.runs)?;
        scaling_gallery(&p, &img, a.max_gallery)?;
        print_rss("after scaling (includes the largest gallery)");
    }
    Ok(())
}

/// Detection cost against frame size: the default input policy (at most 640 px) and the frame's
/// native size; and the whole job.
fn scaling_image_size(p: &FacePipeline, img: &Image, runs: usize) -> AnyResult {
    println!("\nscaling: image size [{}] (1 thread, ms)", p.recognizer().space());
    println!("{:>10} {:>6} {:>16} {:>16} {:>14}", "longest", "faces", "detect default", "detect native", "whole job");
    let native = p.detector().with_config(DetectorConfig { input_size: InputSize::Native, ..DetectorConfig::default() })?;
    for longest in [320u32, 480, 640, 960, 1280, 1920] {
        let im = resized(img, longest)?;
        let faces = p.detector().detect(&im)?.len();
        let d = time(runs, || p.detector().detect(&im))?;
        let dn = time(runs.min(5), || native.detect(&im))?;
        let w = time(runs.min(5), || p.analyze(&im))?;
        println!("{longest:>10} {faces:>6} {d:>16.2} {dn:>16.2} {w:>14.2}");
    }
    Ok(())
}

/// Whole-job cost against the number of faces: face crops of the image tiled on a fixed
/// 896x672 canvas (8 x 6 cells of 112 px), so the detector input stays the same.
fn scaling_faces(p: &FacePipeline, img: &Image, runs: usize) -> AnyResult {
    let faces = p.detector().detect(img)?;
    if faces.is_empty() {
        println!("scaling: faces per image skipped (no face in the image)");
        return Ok(());
    }
    let cell = 112u32;
    let crops: Vec<RgbImage> = faces
        .iter()
        .map(|f| {
            let side = (f.bbox.width.max(f.bbox.height) * 1.6).max(8.0);
            let (cx, cy) = (f.bbox.x + f.bbox.width / 2.0, f.bbox.y + f.bbox.height / 2.0);
            let x = (cx - side / 2.0).clamp(0.0, (img.width() - 1) as f32) as u32;
            let y = (cy - side / 2.0).clamp(0.0, (img.height() - 1) as f32) as u32;
            let w = (side as u32).min(img.width() - x).max(1);
            let h = (side as u32).min(img.height() - y).max(1);
            let crop = imageops::crop_imm(img.as_rgb(), x, y, w, h).to_image();
            imageops::resize(&crop, cell, cell, FilterType::Triangle)
        })
        .collect();
    println!("\nscaling: faces per image [{}] (896x672 canvas, 1 thread, ms)", p.recognizer().space());
    println!("{:>10} {:>10} {:>12} {:>14} {:>14}", "tiled", "detected", "detect", "whole job", "per face");
    for k in [1usize, 2, 4, 8, 16, 32, 48] {
        let mut canvas = RgbImage::from_pixel(cell * 8, cell * 6, Rgb([128, 128, 128]));
        for i in 0..k {
            let (cx, cy) = ((i % 8) as i64 * i64::from(cell), (i / 8) as i64 * i64::from(cell));
            imageops::replace(&mut canvas, &crops[i % crops.len()], cx, cy);
        }
        let im = Image::from_rgb(canvas)?;
        let n = p.detector().detect(&im)?.len();
        let d = time(runs.min(5), || p.detector().detect(&im))?;
        let w = time(runs.min(5), || p.analyze(&im))?;
        println!("{k:>10} {n:>10} {d:>12.2} {w:>14.2} {:>14.2}", (w - d) / n.max(1) as f64);
    }
    Ok(())
}

/// Identify latency against gallery size: the image's best face as the probe, the rest
/// deterministic pseudo-random unit vectors in the same space (one embedding per person).
fn scaling_gallery(p: &FacePipeline, img: &Image, max: usize) -> AnyResult {
    let Some(probe) = p.embed_best(img)?.map(|f| f.embedding) else {
        println!("scaling: gallery skipped (no face in the image)");
        return Ok(());
    };
    println!("\nscaling: gallery size [{}, {} floats per person] (1 thread)", probe.model(), probe.dim());
    println!("{:>10} {:>14} {:>16} {:>12}", "people", "enrol (s)", "identify (ms)", "top-5 (ms)");
    let mut g = Gallery::new();
    g.enroll("probe-owner", &probe)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift64*, mapped to -1..1: deterministic, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let mut size = 1usize;
    let mut target = 1_000usize;
    while target <= max {
        let start = Instant::now();
        while size < target {
            let v: Vec<f32> = (0..probe.dim()).map(|_| next()).collect();
            g.enroll(&format!("person-{size}"), &Embedding::new(probe.model(), v)?)?;
            size += 1;
        }
        let enrol = start.elapsed().as_secs_f64();
        let runs = if target >= 100_000 { 5 } else { 15 };
        let id = time(runs, || g.identify(&probe, 0.5))?;
        let top5 = time(runs, || g.search(&probe, 5))?;
        println!("{target:>10} {enrol:>14.2} {id:>16.3} {top5:>12.3}");
        target *= 10;
    }
    Ok(())
}
