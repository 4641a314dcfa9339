//! `facecore watch`: face tracking and recognition on a video, an image sequence or raw camera
//! frames from stdin (`facecore::FaceStream`), one line per event; and `facecore
//! bench-stream`: the stream's frame rate and latency against `analyze()` on every frame.
//!
//! Videos are decoded by the `ffmpeg` program (a subprocess writing raw RGB frames to a pipe),
//! with each frame's presentation time from `ffprobe` (a second subprocess, read in step).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use clap::Args;
use facecore::image_crate::RgbImage;
use facecore::{
    FacePipeline, FaceStream, Gallery, Image, ImageView, OperatingPoint, PixelFormat, Preset, StreamEvent, StreamEventKind, StreamOptions,
    TrackIdentity,
};
use serde_json::json;

use crate::AnyResult;

#[derive(Args)]
pub struct WatchArgs {
    /// A video file (decoded by ffmpeg), a directory of images (in name order) or `-` (raw
    /// frames on stdin: give --size and --pixel-format).
    input: PathBuf,
    /// The gallery of known people (`facecore enroll`).
    #[arg(long)]
    gallery: PathBuf,
    /// Key file of an encrypted gallery (from `facecore keygen`).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// accurate (default), fast, dlib, sface; the gallery must come from the same preset.
    #[arg(long, default_value = "accurate")]
    preset: Preset,
    /// Print one JSON object per event: event, track, t, name, score, box.
    #[arg(long)]
    json: bool,
    /// Run the detector on every K-th frame, the tracker bridging the others.
    #[arg(long, default_value_t = 1)]
    every: u32,
    /// Operating point of the match threshold: fmr1e-3 (default), fmr1e-4, best-accuracy.
    #[arg(long, default_value = "fmr1e-3")]
    op: OperatingPoint,
    /// Write the frames with each track's box and name to this video (encoded by ffmpeg).
    #[arg(long)]
    annotate: Option<PathBuf>,
    /// Frame rate of a directory or of raw frames (timestamps are index / fps).
    #[arg(long, default_value_t = 25.0)]
    fps: f64,
    /// Size of raw frames on stdin, WxH.
    #[arg(long)]
    size: Option<String>,
    /// Layout of raw frames on stdin: rgb, bgr, rgba, bgra, gray, nv12, nv21, i420, yuyv
    /// (ffmpeg's rgb24, bgr24, yuv420p, yuyv422 also accepted).
    #[arg(long)]
    pixel_format: Option<String>,
}

#[derive(Args)]
pub struct BenchStreamArgs {
    /// A video file (decoded by ffmpeg, scaled to --size when it has another size).
    video: PathBuf,
    /// Preset(s), comma separated.
    #[arg(long, default_value = "fast,accurate", value_delimiter = ',')]
    preset: Vec<Preset>,
    /// Run the detector on every K-th frame.
    #[arg(long, default_value_t = 1)]
    every: u32,
    /// Photos of known people (one face each, named after the file), enrolled for each preset.
    #[arg(long)]
    known: Vec<PathBuf>,
    /// Frame size, WxH.
    #[arg(long, default_value = "640x360")]
    size: String,
}

/// Lower-case raw pixel format names, with their ffmpeg equivalents.
fn pixel_format(name: &str) -> AnyResult<PixelFormat> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "rgb" | "rgb24" => PixelFormat::Rgb8,
        "bgr" | "bgr24" => PixelFormat::Bgr8,
        "rgba" => PixelFormat::Rgba8,
        "bgra" => PixelFormat::Bgra8,
        "gray" | "grey" | "gray8" => PixelFormat::Gray8,
        "nv12" => PixelFormat::Nv12,
        "nv21" => PixelFormat::Nv21,
        "i420" | "yuv420p" => PixelFormat::I420,
        "yuyv" | "yuyv422" | "yuy2" => PixelFormat::Yuyv,
        other => return Err(format!("unknown pixel format {other:?} (rgb, bgr, rgba, bgra, gray, nv12, nv21, i420, yuyv)").into()),
    })
}

/// Bytes of one packed frame (planes back to back, no row padding) and its first plane's stride.
fn frame_layout(format: PixelFormat, w: usize, h: usize) -> (usize, usize) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 => (w * h + 2 * cw * ch, w),
        PixelFormat::Yuyv => (4 * cw * h, 4 * cw),
        f => (f.bytes_per_pixel() * w * h, f.bytes_per_pixel() * w),
    }
}

fn parse_size(s: &str) -> AnyResult<(u32, u32)> {
    let parsed = s.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(format!("bad size {s:?}: give WxH, e.g. 640x360").into()),
    }
}

/// Starts an ffmpeg-family program, naming the Debian package when it is missing.
fn spawn(cmd: &mut Command, program: &str) -> AnyResult<Child> {
    cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "`{program}` not found: video files are decoded (and --annotate videos encoded) by the ffmpeg programs; install the \
                 Debian/Ubuntu package `ffmpeg` (apt-get install ffmpeg), or give a directory of images or raw frames on stdin (-)"
            )
            .into()
        } else {
            Box::<dyn std::error::Error>::from(format!("{program}: {e}"))
        }
    })
}

/// Width, height and frame rate (as ffmpeg writes it, e.g. "30000/1001") of a video's first
/// video stream.
fn probe(path: &Path) -> AnyResult<(u32, u32, String)> {
    let out = spawn(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate"])
            .args(["-of", "default=noprint_wrappers=1"])
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "ffprobe",
    )?
    .wait_with_output()?;
    if !out.status.success() {
        return Err(format!("ffprobe cannot read {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('='))).map(str::trim);
    let (w, h) = match (field("width").and_then(|v| v.parse().ok()), field("height").and_then(|v| v.parse().ok())) {
        (Some(w), Some(h)) => (w, h),
        _ => return Err(format!("{}: no video stream", path.display()).into()),
    };
    let usable = |r: &&str| rate_value(r).is_some_and(|v| v > 0.0);
    let rate = field("avg_frame_rate").filter(usable).or_else(|| field("r_frame_rate").filter(usable)).unwrap_or("25");
    Ok((w, h, rate.to_string()))
}

/// "30000/1001" or "25" as a number.
fn rate_value(r: &str) -> Option<f64> {
    match r.split_once('/') {
        Some((n, d)) => Some(n.parse::<f64>().ok()? / d.parse::<f64>().ok()?).filter(|v| v.is_finite()),
        None => r.parse().ok(),
    }
}

/// Frames of a video, decoded by ffmpeg, with presentation times from ffprobe.
struct VideoFrames {
    ffmpeg: Child,
    frames: ChildStdout,
    ffprobe: Child,
    times: BufReader<ChildStdout>,
    width: u32,
    height: u32,
    fps: f64,
    first: Option<f64>,
    last: f64,
    index: u64,
    path: PathBuf,
}

impl VideoFrames {
    /// Starts decoding `path`, scaled to `size` when given and different.
    fn open(path: &Path, size: Option<(u32, u32)>) -> AnyResult<(VideoFrames, String)> {
        let (w0, h0, rate) = probe(path)?;
        let (width, height) = size.unwrap_or((w0, h0));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-v", "error", "-nostdin", "-i"]).arg(path).args(["-map", "0:v:0", "-fps_mode", "passthrough"]);
        if (width, height) != (w0, h0) {
            cmd.args(["-vf", &format!("scale={width}:{height}")]);
        }
        cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).stdout(Stdio::piped());
        let mut ffmpeg = spawn(&mut cmd, "ffmpeg")?;
        let mut ffprobe = spawn(
            Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time,best_effort_timestamp_time"])
                .args(["-of", "csv=p=0"])
                .arg(path)
                .stdout(Stdio::piped()),
            "ffprobe",
        )?;
        let frames = ffmpeg.stdout.take().ok_or("ffmpeg: no output pipe")?;
        let times = BufReader::new(ffprobe.stdout.take().ok_or("ffprobe: no output pipe")?);
        let fps = rate_value(&rate).unwrap_or(25.0);
        let v = VideoFrames { ffmpeg, frames, ffprobe, times, width, height, fps, first: None, last: 0.0, index: 0, path: path.into() };
        Ok((v, rate))
    }

    /// The next frame and its time in seconds from the first frame; `None` at the end.
    fn next(&mut self) -> AnyResult<Option<(Image, f64)>> {
        let mut buf = vec![0u8; self.width as usize * self.height as usize * 3];
        if !read_frame(&mut self.frames, &mut buf)? {
            let status = self.ffmpeg.wait()?;
            if !status.success() {
                return Err(format!("ffmpeg failed on {} ({status})", self.path.display()).into());
            }
            return Ok(None);
        }
        // One line per frame: pts_time and best_effort_timestamp_time (either may be N/A).
        let mut line = String::new();
        let t = match self.times.read_line(&mut line) {
            Ok(n) if n > 0 => line.trim().split(',').find_map(|v| v.trim().parse::<f64>().ok()),
            _ => None,
        };
        let t = t.unwrap_or(self.first.unwrap_or(0.0) + self.index as f64 / self.fps);
        let first = *self.first.get_or_insert(t);
        // Presentation order never goes back; a damaged timestamp is clamped.
        let t = (t - first).max(self.last);
        self.last = t;
        self.index += 1;
        let img = Image::from_rgb(RgbImage::from_raw(self.width, self.height, buf).ok_or("frame buffer size")?)?;
        Ok(Some((img, t)))
    }
}

impl Drop for VideoFrames {
    fn drop(&mut self) {
        let _ = self.ffmpeg.kill();
        let _ = self.ffmpeg.wait();
        let _ = self.ffprobe.kill();
        let _ = self.ffprobe.wait();
    }
}

/// Fills `buf` from `r`; false at a clean end of input, an error for a partial frame.
fn read_frame(r: &mut impl Read, buf: &mut [u8]) -> AnyResult<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if got == 0 {
        return Ok(false);
    }
    if got < buf.len() {
        return Err(format!("the input ended inside a frame ({got} of {} bytes)", buf.len()).into());
    }
    Ok(true)
}

/// Where frames come from.
enum Source {
    Video(Box<VideoFrames>),
    Images { files: Vec<PathBuf>, next: usize, fps: f64 },
    Raw { input: std::io::Stdin, width: u32, height: u32, format: PixelFormat, next: u64, fps: f64 },
}

impl Source {
    fn open(a: &WatchArgs) -> AnyResult<(Source, f64)> {
        if a.input.as_os_str() == "-" {
            let (width, height) = parse_size(a.size.as_deref().ok_or("raw frames on stdin (-) need --size WxH")?)?;
            let format = pixel_format(a.pixel_format.as_deref().ok_or("raw frames on stdin (-) need --pixel-format")?)?;
            return Ok((Source::Raw { input: std::io::stdin(), width, height, format, next: 0, fps: a.fps }, a.fps));
        }
        if !(a.fps.is_finite() && a.fps > 0.0) {
            return Err(format!("--fps {} is not a positive frame rate", a.fps).into());
        }
        if a.input.is_dir() || crate::is_image(&a.input) {
            let files = crate::expand_inputs(std::slice::from_ref(&a.input))?;
            if files.is_empty() {
                return Err(format!("no images (jpg, png) in {}", a.input.display()).into());
            }
            return Ok((Source::Images { files, next: 0, fps: a.fps }, a.fps));
        }
        if !a.input.exists() {
            return Err(format!("{}: no such file or directory", a.input.display()).into());
        }
        let (v, _) = VideoFrames::open(&a.input, None)?;
        let fps = v.fps;
        Ok((Source::Video(Box::new(v)), fps))
    }

    /// The next frame, its time (s) and a name for messages.
    fn next(&mut self) -> AnyResult<Option<(AnyResult<Image>, f64, String)>> {
        match self {
            Source::Video(v) => {
                let i = v.index;
                Ok(v.next()?.map(|(img, t)| (Ok(img), t, format!("frame {i}"))))
            }
            Source::Images { files, next, fps } => {
                let Some(path) = files.get(*next) else { return Ok(None) };
                let t = *next as f64 / *fps;
                *next += 1;
                Ok(Some((Image::open(path).map_err(Into::into), t, path.display().to_string())))
            }
            Source::Raw { input, width, height, format, next, fps } => {
                let (len, stride) = frame_layout(*format, *width as usize, *height as usize);
                let mut buf = vec![0u8; len];
                if !read_frame(&mut input.lock(), &mut buf)? {
                    return Ok(None);
                }
                let t = *next as f64 / *fps;
                let name = format!("frame {next}");
                *next += 1;
                let img = ImageView::new(&buf, *width, *height, stride, *format).map(Image::from_view).map_err(Into::into);
                Ok(Some((img, t, name)))
            }
        }
    }
}

/// An ffmpeg subprocess encoding RGB frames into a video.
struct Encoder {
    child: Child,
    stdin: Option<ChildStdin>,
    out: PathBuf,
}

impl Encoder {
    fn start(out: &Path, w: u32, h: u32, rate: &str) -> AnyResult<Encoder> {
        let mut child = spawn(
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{w}x{h}"), "-r", rate, "-i", "-"])
                // yuv420p plays everywhere; it needs even sides.
                .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p"])
                .arg(out)
                .stdin(Stdio::piped()),
            "ffmpeg",
        )?;
        let stdin = child.stdin.take();
        Ok(Encoder { child, stdin, out: out.into() })
    }

    fn write(&mut self, rgb: &RgbImage) -> AnyResult {
        let s = self.stdin.as_mut().ok_or("ffmpeg encoder closed")?;
        s.write_all(rgb.as_raw()).map_err(|e| format!("ffmpeg encoder ({}): {e}", self.out.display()))?;
        Ok(())
    }

    fn finish(mut self) -> AnyResult {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("ffmpeg could not write {} ({status})", self.out.display()).into());
        }
        Ok(())
    }
}

fn load_gallery(a: &WatchArgs) -> AnyResult<Gallery> {
    Ok(match &a.key_file {
        Some(k) => Gallery::load_encrypted(&a.gallery, &crate::read_key(k)?)?,
        None => Gallery::load(&a.gallery)?,
    })
}

fn print_event(e: &StreamEvent, json: bool) {
    let b = e.bbox;
    if json {
        let mut v = json!({
            "event": e.kind.name(),
            "track": e.track,
            "t": e.timestamp,
            "frame": e.frame,
            "name": e.name,
            "score": e.score,
            "box": [b.x, b.y, b.width, b.height],
            "quality": e.quality,
        });
        if e.kind == StreamEventKind::Changed {
            v["previous"] = json!(e.previous_name);
        }
        if e.kind == StreamEventKind::Ended {
            v["duration"] = json!(e.duration);
        }
        if let Some(l) = e.liveness {
            v["liveness"] = json!(l.name());
            v["live"] = json!(e.live);
        }
        println!("{v}");
        return;
    }
    let score = e.score.map_or_else(|| "-".to_string(), |s| format!("{s:.3}"));
    let mut line = format!(
        "{:8.3} s  {:<10} track {:<3} {:<20} score {:>5}  box {:.0} {:.0} {:.0} {:.0}",
        e.timestamp,
        e.kind.name(),
        e.track,
        e.name.as_deref().unwrap_or("-"),
        score,
        b.x,
        b.y,
        b.width,
        b.height
    );
    match e.kind {
        StreamEventKind::Changed => line.push_str(&format!("  (was {})", e.previous_name.as_deref().unwrap_or("-"))),
        StreamEventKind::Ended => line.push_str(&format!("  after {:.2} s", e.duration)),
        _ => {}
    }
    println!("{line}");
}

/// Draws every live track of the stream on a copy of the frame.
fn annotated(frame: &Image, stream: &FaceStream) -> RgbImage {
    let mut rgb = frame.as_rgb().clone();
    for t in stream.tracks() {
        let label = match t.identity {
            TrackIdentity::Known => t.name.clone().unwrap_or_default(),
            TrackIdentity::Unknown => "unknown".to_string(),
            TrackIdentity::Pending => format!("{}", t.id),
        };
        let color = if t.identity == TrackIdentity::Unknown { [128, 128, 128] } else { crate::annotate::color(t.id as usize) };
        crate::annotate::draw_box(&mut rgb, &t.bbox, &label, color);
    }
    rgb
}

/// `facecore watch`.
pub fn run(a: &WatchArgs) -> AnyResult {
    if a.every == 0 {
        return Err("--every must be at least 1".into());
    }
    let pipeline = FacePipeline::from_preset(a.preset)?;
    let gallery = load_gallery(a)?;
    let options = StreamOptions { detect_every: a.every, operating_point: a.op, ..Default::default() };
    let mut stream = FaceStream::new(pipeline, Some(gallery), options)?;
    let (mut source, fps) = Source::open(a)?;
    let rate = match &source {
        Source::Video(_) => probe(&a.input)?.2,
        _ => format!("{fps}"),
    };
    let mut encoder: Option<Encoder> = None;
    let (mut failed, mut busy) = (0usize, std::time::Duration::ZERO);
    while let Some((img, t, name)) = source.next()? {
        let img = match img {
            Ok(i) => i,
            Err(e) => {
                eprintln!("facecore: {name}: {e}");
                failed += 1;
                continue;
            }
        };
        let start = Instant::now();
        let events = stream.push(&img, t);
        busy += start.elapsed();
        match events {
            Ok(events) => events.iter().for_each(|e| print_event(e, a.json)),
            Err(e) => {
                eprintln!("facecore: {name}: {e} (frame skipped)");
                failed += 1;
                continue;
            }
        }
        if let Some(out) = &a.annotate {
            if encoder.is_none() {
                encoder = Some(Encoder::start(out, img.width(), img.height(), &rate)?);
            }
            if let Some(enc) = encoder.as_mut() {
                enc.write(&annotated(&img, &stream))?;
            }
        }
    }
    stream.finish().iter().for_each(|e| print_event(e, a.json));
    if let Some(enc) = encoder {
        enc.finish()?;
        eprintln!("facecore: annotated video: {}", a.annotate.as_deref().unwrap_or(Path::new("")).display());
    }
    let s = stream.stats();
    let share = if s.detections > 0 { 100.0 * s.embeddings as f64 / s.detections as f64 } else { 0.0 };
    let ms = if s.frames > 0 { busy.as_secs_f64() * 1e3 / s.frames as f64 } else { 0.0 };
    eprintln!(
        "facecore: {} frames ({} with detection), {} faces detected, {} embeddings computed ({share:.1}% of the faces), {} tracks; \
         {ms:.1} ms per frame ({} preset, one thread)",
        s.frames,
        s.detection_frames,
        s.detections,
        s.embeddings,
        s.tracks_started,
        a.preset.name()
    );
    if failed > 0 {
        return Err(format!("{failed} frame(s) could not be processed").into());
    }
    Ok(())
}

/// CPU time of the calling thread in ms (Linux: /proc/thread-self/schedstat), for timings
/// that other processes on a shared machine do not inflate.
fn thread_cpu_ms() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<f64>().ok()? / 1e6)
}

/// Runs `f` on every frame: (wall ms per frame, CPU ms per frame when known, wall seconds).
fn timed<T>(
    frames: &[(Image, f64)],
    mut f: impl FnMut(&Image, f64) -> facecore::Result<T>,
) -> AnyResult<(Vec<f64>, Option<Vec<f64>>, f64)> {
    let (mut wall, mut cpu) = (Vec::with_capacity(frames.len()), Some(Vec::with_capacity(frames.len())));
    let start = Instant::now();
    for (img, t) in frames {
        let (s, c) = (Instant::now(), thread_cpu_ms());
        f(img, *t)?;
        wall.push(s.elapsed().as_secs_f64() * 1e3);
        cpu = match (cpu, c, thread_cpu_ms()) {
            (Some(mut v), Some(a), Some(b)) => {
                v.push(b - a);
                Some(v)
            }
            _ => None,
        };
    }
    let total = start.elapsed().as_secs_f64();
    wall.sort_by(f64::total_cmp);
    if let Some(v) = cpu.as_mut() {
        v.sort_by(f64::total_cmp);
    }
    Ok((wall, cpu, total))
}

/// Frames/s (wall), frames/s of CPU time, p50/p99 wall and CPU ms: the first columns of a row.
fn speed_cells(wall: &[f64], cpu: Option<&Vec<f64>>, total: f64) -> String {
    let n = wall.len() as f64;
    let (cps, c50, c99) = match cpu {
        Some(c) => {
            (format!("{:.1}", n * 1e3 / c.iter().sum::<f64>()), format!("{:.1}", percentile(c, 0.5)), format!("{:.1}", percentile(c, 0.99)))
        }
        None => ("-".into(), "-".into(), "-".into()),
    };
    format!("{:.1} | {cps} | {:.1} / {:.1} | {c50} / {c99}", n / total, percentile(wall, 0.5), percentile(wall, 0.99))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `facecore bench-stream`.
pub fn bench(a: &BenchStreamArgs) -> AnyResult {
    if a.every == 0 {
        return Err("--every must be at least 1".into());
    }
    let size = parse_size(&a.size)?;
    let (mut video, _) = VideoFrames::open(&a.video, Some(size))?;
    let fps = video.fps;
    let mut frames = Vec::new();
    while let Some(f) = video.next()? {
        frames.push(f);
    }
    drop(video);
    if frames.is_empty() {
        return Err(format!("{}: no frames", a.video.display()).into());
    }
    let seconds = frames.last().map_or(0.0, |f| f.1) + 1.0 / fps;
    println!(
        "{}: {} frames at {}x{}, {:.2} s; detection every {} frame(s); one thread; {} known people",
        a.video.display(),
        frames.len(),
        size.0,
        size.1,
        frames.last().map_or(0.0, |f| f.1),
        a.every,
        a.known.len()
    );
    println!(
        "| preset | mode | frames/s | frames/s of CPU time | p50 / p99 ms | CPU p50 / p99 ms | faces detected | embeddings | \
         embeddings per s of video | tracks | embeddings per track |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &preset in &a.preset {
        let pipeline = FacePipeline::from_preset(preset)?;
        let mut gallery = Gallery::new();
        for p in &a.known {
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let f = pipeline.embed_best(&Image::open(p)?)?.ok_or_else(|| format!("no face in {}", p.display()))?;
            gallery.enroll(&name, &f.embedding)?;
        }
        // Warm-up: the first inference of each network allocates its buffers.
        pipeline.analyze(&frames[0].0)?;
        let options = StreamOptions { detect_every: a.every, ..Default::default() };
        let mut stream = FaceStream::new(pipeline.clone(), Some(gallery), options)?;
        let (wall, cpu, total) = timed(&frames, |img, t| stream.push(img, t))?;
        stream.finish();
        let st = stream.stats();
        println!(
            "| {} | stream | {} | {} | {} ({:.1}%) | {:.2} | {} | {:.2} |",
            preset.name(),
            speed_cells(&wall, cpu.as_ref(), total),
            st.detections,
            st.embeddings,
            100.0 * st.embeddings as f64 / st.detections.max(1) as f64,
            st.embeddings as f64 / seconds,
            st.tracks_started,
            st.embeddings as f64 / st.tracks_started.max(1) as f64
        );
        let mut faces = 0;
        let (wall, cpu, total) = timed(&frames, |img, _| pipeline.analyze(img).map(|f| faces += f.len()))?;
        println!(
            "| {} | analyze() every frame | {} | {faces} | {faces} (100%) | {:.2} | - | - |",
            preset.name(),
            speed_cells(&wall, cpu.as_ref(), total),
            faces as f64 / seconds
        );
    }
    Ok(())
}
