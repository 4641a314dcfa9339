//! `facecore bench IMAGE`: per-stage single-thread latency, medians of repeated runs.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use facecore::{DetectorConfig, FacePipeline, Image, Preset};

use crate::AnyResult;

#[derive(Args)]
pub struct BenchArgs {
    image: PathBuf,
    /// Preset(s), comma separated.
    #[arg(long, default_value = "accurate,fast", value_delimiter = ',')]
    preset: Vec<Preset>,
    /// Timed repetitions per stage (after one warm-up).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Resize the image so its longest side is this many pixels first (e.g. 640).
    #[arg(long)]
    resize: Option<u32>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn time<T>(runs: usize, mut f: impl FnMut() -> facecore::Result<T>) -> AnyResult<f64> {
    f()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

pub fn run(a: &BenchArgs) -> AnyResult {
    let bytes = std::fs::read(&a.image).map_err(|e| format!("{}: {e}", a.image.display()))?;
    let mut img = Image::decode(&bytes)?;
    if let Some(n) = a.resize {
        let s = n as f32 / img.width().max(img.height()) as f32;
        let (w, h) = ((img.width() as f32 * s).round() as u32, (img.height() as f32 * s).round() as u32);
        img = Image::from_rgb(facecore::image_crate::imageops::resize(
            img.as_rgb(),
            w,
            h,
            facecore::image_crate::imageops::FilterType::Triangle,
        ))?;
    }
    let decode = time(a.runs, || Image::decode(&bytes))?;
    println!("bench {} ({}x{} after resize), single thread, median of {} runs", a.image.display(), img.width(), img.height(), a.runs);
    println!("decode (original file)   {decode:8.2} ms");
    for preset in &a.preset {
        let p = FacePipeline::from_preset(*preset)?;
        let det = p.detector().with_config(DetectorConfig::default())?;
        let faces = det.detect(&img)?;
        let detect = time(a.runs, || det.detect(&img))?;
        let Some(face) = faces.first().copied() else {
            println!("[{}] detect {detect:.2} ms, no face found", preset.name());
            continue;
        };
        let align = time(a.runs, || p.recognizer().chip(&img, &face, 0))?;
        let embed = time(a.runs, || p.recognizer().embed(&img, &face))?;
        let whole = time(a.runs.clamp(1, 5), || p.analyze(&img))?;
        println!(
            "[{:<8}] faces={} detect={detect:.2} ms align={align:.2} ms align+embed/face={embed:.2} ms whole job={whole:.2} ms",
            preset.name(),
            faces.len()
        );
    }
    Ok(())
}
