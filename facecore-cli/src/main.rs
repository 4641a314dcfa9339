//! `facecore`: detect, enrol, identify and verify faces; evaluate and benchmark.
#![allow(clippy::print_stdout)]

mod annotate;
mod bench;
mod bench_store;
mod cascade;
mod eval;
mod liveness;
mod process;
mod profile;
mod progress;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use facecore::{DetectorConfig, FacePipeline, Gallery, GalleryKey, Identity, Image, OperatingPoint, Preset};
use serde_json::json;

#[derive(Parser)]
#[command(name = "facecore", version, about = "Face detection and recognition on licence-clean models")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// accurate (default: SFace + dlib ResNet, flipped, fused), fast, dlib (face_recognition compatible), sface
    #[arg(long, default_value = "accurate")]
    preset: Preset,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Detect faces: one line per face (image, box x y w h, score, landmarks).
    Detect {
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Write an annotated copy of each image into this directory.
        #[arg(long)]
        annotate: Option<PathBuf>,
        /// Minimum detector score.
        #[arg(long, default_value_t = DetectorConfig::default().score_threshold)]
        score: f32,
    },
    /// Enrol NAME from the most confident face of each IMAGE (creates the gallery if needed).
    Enroll {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        gallery: PathBuf,
        /// Key file of an encrypted gallery (from `facecore keygen`); without it the gallery
        /// is a plain file.
        #[arg(long)]
        key_file: Option<PathBuf>,
        name: String,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Identify every face: one line per face (image, box, name or unknown, score).
    Identify {
        #[command(flatten)]
        common: Common,
        /// The gallery file (or --known).
        #[arg(long, required_unless_present = "known", conflicts_with = "known")]
        gallery: Option<PathBuf>,
        /// Key file of an encrypted gallery (from `facecore keygen`).
        #[arg(long, requires = "gallery")]
        key_file: Option<PathBuf>,
        /// A folder of known people, one photo each named NAME.jpg, enrolled in memory (the
        /// face_recognition CLI's `known_people_folder`): no gallery file needed.
        #[arg(long)]
        known: Option<PathBuf>,
        /// Print face_recognition's CLI output, `PATH,NAME` per face (`unknown_person`, and
        /// `PATH,no_persons_found` for an image without a face), so its scripts keep working.
        #[arg(long, conflicts_with = "json")]
        face_recognition_format: bool,
        /// fmr1e-3 (default), fmr1e-4, best-accuracy
        #[arg(long, default_value = "fmr1e-3")]
        op: OperatingPoint,
        /// Write annotated images into this directory.
        #[arg(long)]
        annotate: Option<PathBuf>,
        /// Images or directories of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Are the most confident faces of two images the same person?
    Verify {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "fmr1e-3")]
        op: OperatingPoint,
        image1: PathBuf,
        image2: PathBuf,
    },
    /// Enrol the two people of the committed portraits, find them in a third photo.
    Demo {
        #[arg(long, default_value = "accurate")]
        preset: Preset,
        /// Folder with obama.jpg, biden.jpg and two_people.jpg (default: the copies built into
        /// this binary, US government portraits distributed with face_recognition).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Where to write the annotated image.
        #[arg(long, default_value = "demo.png")]
        out: PathBuf,
    },
    /// Liveness of every face: live, spoof (a photo or screen) or unknown (too small, cut by
    /// the frame edge), one line per face.
    Liveness(liveness::LivenessArgs),
    /// Write a new random key for encrypted galleries into FILE (64 hex digits, mode 0600; an
    /// existing file is never overwritten: losing a key loses its galleries).
    Keygen { file: PathBuf },
    /// The model files: list (source, licence, SHA-256), verify, export to a directory.
    Models {
        #[command(subcommand)]
        what: ModelsCmd,
    },
    /// Per-stage single-thread latency (medians) on one image.
    Bench(bench::BenchArgs),
    /// Per-operator and per-node time of any ONNX model in tract (for performance work).
    Profile(profile::ProfileArgs),
    /// Accuracy on LFW or detection ground truth.
    Eval {
        #[command(subcommand)]
        what: eval::EvalCmd,
    },
    /// Calibrate verification thresholds on LFW (all pairs formable in the split).
    Calibrate(eval::CalibrateArgs),
    /// Track and identify faces in a video, an image sequence or raw frames on stdin: one line
    /// per event (started, identified, changed, unknown, ended), then the stream's counters.
    Watch(watch::WatchArgs),
    /// Frames per second and per-frame latency of a face stream on a video (one thread), next
    /// to analyze() on every frame.
    BenchStream(watch::BenchStreamArgs),
    /// Identify latency and hit@1/recall@5 of the gallery stores at 10k to 1M people: the file
    /// gallery's flat scan, PostgreSQL's exact scan and HNSW index (--pg, feature `postgres`).
    BenchStore(bench_store::BenchStoreArgs),
    /// HTTP/JSON service: detect, identify, verify, people, metrics (docs/service.md).
    Serve(facecore_server::ServeArgs),
    /// Identify requests/s and p50/p99 latency of `facecore serve` processes under load.
    BenchServe(facecore_server::bench::BenchArgs),
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Every model file: name, size, SHA-256, licence and source.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Load every model file from the bundled models (or --dir) and check it against the manifest.
    Verify {
        /// A directory of model files (as written by `facecore models export`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write every model file into DIR, checked against the manifest, for builds without
    /// bundled models (FACECORE_MODELS_DIR=DIR) or firmware that keeps models on flash.
    Export { dir: PathBuf },
}

fn main() -> ExitCode {
    process::default_sigpipe();
    let malloc = process::tune();
    bench::MALLOC.get_or_init(|| malloc);
    let cli = Cli::parse();
    let result = run(cli.cmd);
    if std::env::var_os("FACECORE_STATS").is_some_and(|v| v == "1") {
        let p = facecore::plan_stats();
        eprintln!("facecore: {} optimised plans built in {} ms", p.built, p.build_ms);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facecore: {e}");
            let mut src = std::error::Error::source(&*e);
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Image files under the inputs (directories are listed, sorted; non-images skipped).
pub(crate) fn expand_inputs(inputs: &[PathBuf]) -> AnyResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_image(f))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Inputs that could not be processed. Each is reported as it happens, on stderr and, for
/// JSON output, as a line `{"image": PATH, "error": MESSAGE}` on stdout; the command goes on
/// with the other inputs and fails at the end ([`Failures::finish`]).
#[derive(Default)]
pub(crate) struct Failures {
    failed: usize,
    total: usize,
}

impl Failures {
    /// Counts one processed input.
    pub(crate) fn ok(&mut self) {
        self.total += 1;
    }

    /// Reports one input that failed.
    pub(crate) fn report(&mut self, path: &Path, e: &dyn std::error::Error, json: bool) {
        self.total += 1;
        self.failed += 1;
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        eprintln!("facecore: {}: {msg}", path.display());
        if json {
            println!("{}", json!({"image": path, "error": msg}));
        }
    }

    /// An error naming how many inputs failed, if any did; `note` says what that means.
    pub(crate) fn finish(&self, note: &str) -> AnyResult {
        if self.failed == 0 {
            return Ok(());
        }
        let sep = if note.is_empty() { "" } else { "; " };
        Err(format!("{} of {} images could not be processed{sep}{note}", self.failed, self.total).into())
    }
}

fn is_image(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("jpg" | "jpeg" | "png"))
}

fn fmt_box(b: &facecore::Rect) -> String {
    format!("{:.0} {:.0} {:.0} {:.0}", b.x, b.y, b.width, b.height)
}

fn run(cmd: Cmd) -> AnyResult {
    match cmd {
        Cmd::Detect { images, json, annotate, score } => {
            let det = facecore::Detector::bundled(DetectorConfig { score_threshold: score, ..Default::default() })?;
            let mut failures = Failures::default();
            for path in expand_inputs(&images)? {
                let (img, faces) = match Image::open(&path).and_then(|img| det.detect(&img).map(|f| (img, f))) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.report(&path, &e, json);
                        continue;
                    }
                };
                failures.ok();
                for f in &faces {
                    let lm: Vec<[f32; 2]> = f.landmarks.iter().map(|p| [p.x, p.y]).collect();
                    if json {
                        println!(
                            "{}",
                            json!({"image": path, "box": [f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height], "score": f.score, "landmarks": lm})
                        );
                    } else {
                        println!("{}\t{}\t{:.3}", path.display(), fmt_box(&f.bbox), f.score);
                    }
                }
                if let Some(dir) = &annotate {
                    let labels: Vec<(facecore::Face, String)> = faces.iter().map(|f| (*f, format!("{:.2}", f.score))).collect();
                    annotate::write(&img, &labels, &dir.join(annotated_name(&path)))?;
                }
            }
            failures.finish("")
        }
        Cmd::Enroll { common, gallery, key_file, name, images } => {
            let pipeline = FacePipeline::from_preset(common.preset)?;
            let key = key_file.as_deref().map(read_key).transpose()?;
            let mut g = match &key {
                Some(k) => Gallery::load_or_new_encrypted(&gallery, k)?,
                None => Gallery::load_or_new(&gallery)?,
            };
            let mut added = 0;
            let mut failures = Failures::default();
            for path in expand_inputs(&images)? {
                let best = match Image::open(&path).and_then(|img| pipeline.embed_best(&img)) {
                    Ok(best) => best,
                    Err(e) => {
                        failures.report(&path, &e, common.json);
                        continue;
                    }
                };
                failures.ok();
                match best {
                    Some(f) => {
                        g.enroll(&name, &f.embedding)?;
                        added += 1;
                    }
                    None => eprintln!("facecore: no face found in {}", path.display()),
                }
            }
            // All or nothing: a batch with unreadable images enrols none of it, so that running
            // it again once they are fixed does not enrol the others twice.
            failures.finish(&format!("nothing enrolled, {} is unchanged", gallery.display()))?;
            if added == 0 {
                return Err(format!("no face enrolled for {name}").into());
            }
            match &key {
                Some(k) => g.save_encrypted(&gallery, k)?,
                None => g.save(&gallery)?,
            }
            if common.json {
                println!("{}", json!({"name": name, "enrolled": added, "people": g.len(), "gallery": gallery}));
            } else {
                println!("enrolled {added} face(s) of {name}; {} people in {}", g.len(), gallery.display());
            }
            Ok(())
        }
        Cmd::Identify { common, gallery, key_file, known, face_recognition_format, op, annotate, inputs } => {
            let pipeline = FacePipeline::from_preset(common.preset)?;
            let g = match (&known, gallery, key_file) {
                (Some(dir), _, _) => known_people(&pipeline, dir)?,
                (None, Some(gallery), Some(f)) => Gallery::load_encrypted(&gallery, &read_key(&f)?)?,
                (None, Some(gallery), None) => Gallery::load(&gallery)?,
                (None, None, _) => return Err("give --gallery FILE or --known DIR".into()),
            };
            let mut failures = Failures::default();
            for path in expand_inputs(&inputs)? {
                // The cascade for `accurate` (facecore::cascade): the full fusion only where the dlib ResNet is unsure.
                let (img, faces) = match Image::open(&path).and_then(|img| pipeline.identify(&img, &g, op).map(|f| (img, f))) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.report(&path, &e, common.json);
                        continue;
                    }
                };
                failures.ok();
                if face_recognition_format && faces.is_empty() {
                    println!("{},no_persons_found", path.display());
                }
                let mut labels = Vec::new();
                for f in faces {
                    let (threshold, stage) = (f.threshold, f.stage.name());
                    let (name, score) = match f.identity {
                        Identity::Known(m) => (m.name, m.score),
                        Identity::Unknown(best) => ("unknown".to_string(), best.map_or(0.0, |m| m.score)),
                    };
                    if face_recognition_format {
                        println!("{},{}", path.display(), if name == "unknown" { "unknown_person" } else { &name });
                    } else if common.json {
                        let b = f.face.bbox;
                        println!(
                            "{}",
                            json!({"image": path, "box": [b.x, b.y, b.width, b.height], "name": name, "score": score, "threshold": threshold, "stage": stage})
                        );
                    } else {
                        println!("{}\t{}\t{}\t{:.3}", path.display(), fmt_box(&f.face.bbox), name, score);
                    }
                    labels.push((f.face, name));
                }
                if let Some(dir) = &annotate {
                    annotate::write(&img, &labels, &dir.join(annotated_name(&path)))?;
                }
            }
            failures.finish("")
        }
        Cmd::Verify { common, op, image1, image2 } => {
            let pipeline = FacePipeline::from_preset(common.preset)?;
            let best = |p: &Path| -> AnyResult<(Image, facecore::Face)> {
                let img = Image::open(p)?;
                let face =
                    pipeline.detector().detect(&img)?.into_iter().next().ok_or_else(|| format!("no face found in {}", p.display()))?;
                Ok((img, face))
            };
            let ((a, fa), (b, fb)) = (best(&image1)?, best(&image2)?);
            // The cascade for `accurate`: similarity and threshold are the deciding stage's.
            let r = pipeline.verify_faces([&a, &b], [fa, fb], op)?;
            let v = r.verification;
            if common.json {
                let stage = r.stage.name();
                println!(
                    "{}",
                    json!({"same_person": v.same_person, "similarity": v.similarity, "threshold": v.threshold, "operating_point": op.name(), "stage": stage})
                );
            } else {
                println!(
                    "{}\tsimilarity={:.4}\tthreshold={:.4} ({})",
                    if v.same_person { "same" } else { "different" },
                    v.similarity,
                    v.threshold,
                    op.name()
                );
            }
            Ok(())
        }
        Cmd::Demo { preset, fixtures, out } => demo(preset, fixtures.as_deref(), &out),
        Cmd::Models { what } => models(what),
        Cmd::Keygen { file } => keygen(&file),
        Cmd::Liveness(a) => liveness::run(&a),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Profile(args) => profile::run(&args),
        Cmd::Eval { what } => eval::run(what),
        Cmd::Calibrate(args) => eval::calibrate(&args),
        Cmd::Watch(args) => watch::run(&args),
        Cmd::BenchStream(args) => watch::bench(&args),
        Cmd::BenchStore(args) => bench_store::run(&args),
        Cmd::Serve(args) => facecore_server::run(&args),
        Cmd::BenchServe(args) => facecore_server::bench::run(&args),
    }
}

/// Enrols every photo of `dir` in memory under its file stem (`known/obama.jpg` is "obama"),
/// from its most confident face; a photo without a face is skipped with face_recognition's
/// warning.
fn known_people(pipeline: &FacePipeline, dir: &Path) -> AnyResult<Gallery> {
    let mut g = Gallery::new();
    for path in expand_inputs(&[dir.to_path_buf()])? {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match pipeline.embed_best(&Image::open(&path)?)? {
            Some(f) => {
                g.enroll(&name, &f.embedding)?;
            }
            None => eprintln!("WARNING: No faces found in {}. Ignoring file.", path.display()),
        }
    }
    if g.is_empty() {
        return Err(format!("no known face in {}", dir.display()).into());
    }
    Ok(g)
}

/// Reads a gallery key file ([`GalleryKey::from_key_file`]).
fn read_key(path: &Path) -> AnyResult<GalleryKey> {
    Ok(GalleryKey::from_key_file(path)?)
}

fn keygen(path: &Path) -> AnyResult {
    use std::io::Write;
    let key = GalleryKey::generate()?;
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| format!("{}: {e} (an existing key file is never overwritten)", path.display()))?;
    f.write_all(format!("{hex}\n").as_bytes())?;
    f.sync_all()?;
    eprintln!("facecore: wrote a new gallery key to {} (keep a copy: without it its galleries cannot be opened)", path.display());
    Ok(())
}

fn annotated_name(p: &Path) -> PathBuf {
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    PathBuf::from(format!("{stem}.annotated.png"))
}

/// The demo photos, built in so that `facecore demo` runs anywhere (`cargo install`).
const DEMO_PHOTOS: [(&str, &[u8]); 3] = [
    ("obama.jpg", include_bytes!("../demo/obama.jpg")),
    ("biden.jpg", include_bytes!("../demo/biden.jpg")),
    ("two_people.jpg", include_bytes!("../demo/two_people.jpg")),
];

fn demo_image(fixtures: Option<&Path>, file: &str) -> AnyResult<Image> {
    match fixtures {
        Some(dir) => Ok(Image::open(dir.join(file))?),
        None => {
            let bytes = DEMO_PHOTOS.iter().find(|(n, _)| *n == file).map(|(_, b)| *b).ok_or("no such demo photo")?;
            Ok(Image::decode(bytes)?)
        }
    }
}

fn models(what: ModelsCmd) -> AnyResult {
    use facecore::models::{self, ModelFile, ModelSource};
    match what {
        ModelsCmd::List { json } => {
            for f in ModelFile::ALL {
                let m = f.manifest()?;
                if json {
                    println!("{}", json!({"file": m.file, "bytes": m.bytes, "sha256": m.sha256, "licence": m.licence, "source": m.source}));
                } else {
                    println!("{}\t{} bytes\tsha256 {}\t{}\n    source: {}", m.file, m.bytes, m.sha256, m.licence, m.source);
                }
            }
            if !json {
                println!("bundled in this build: {}", if ModelSource::has_bundled() { "yes" } else { "no" });
            }
            Ok(())
        }
        ModelsCmd::Verify { dir } => {
            let source = dir.map_or_else(ModelSource::default, ModelSource::dir);
            println!("source: {}", source.describe());
            for f in ModelFile::ALL {
                let t = std::time::Instant::now();
                let b = source.load(f)?;
                println!(
                    "{}\tok\t{} bytes\tsha256 {}\t{:.0} ms",
                    f.file_name(),
                    b.len(),
                    models::sha256_hex(&b),
                    t.elapsed().as_secs_f64() * 1e3
                );
            }
            Ok(())
        }
        ModelsCmd::Export { dir } => {
            for p in models::export(&ModelSource::default(), &dir)? {
                println!("wrote {}", p.display());
            }
            println!("use them with FACECORE_MODELS_DIR={} (or ModelSource::dir)", dir.display());
            Ok(())
        }
    }
}

fn demo(preset: Preset, fixtures: Option<&Path>, out: &Path) -> AnyResult {
    let t0 = std::time::Instant::now();
    let pipeline = FacePipeline::from_preset(preset)?;
    println!("preset {} ({}), models loaded in {:.2} s", preset.name(), pipeline.recognizer().space(), t0.elapsed().as_secs_f32());
    let mut gallery = Gallery::new();
    for (name, file) in [("obama", "obama.jpg"), ("biden", "biden.jpg")] {
        let img = demo_image(fixtures, file)?;
        let f = pipeline.embed_best(&img)?.ok_or_else(|| format!("no face in {file}"))?;
        gallery.enroll(name, &f.embedding)?;
        println!("enrolled {name} from {file} (face at {}, score {:.3})", fmt_box(&f.face.bbox), f.face.score);
    }
    let threshold = OperatingPoint::default().threshold(pipeline.recognizer().space())?;
    let img = demo_image(fixtures, "two_people.jpg")?;
    let t1 = std::time::Instant::now();
    let faces = pipeline.analyze(&img)?;
    let dt = t1.elapsed();
    let mut labels = Vec::new();
    for f in faces {
        let (name, score) = match gallery.identify(&f.embedding, threshold)? {
            Identity::Known(m) => (m.name, m.score),
            Identity::Unknown(best) => ("unknown".into(), best.map_or(0.0, |m| m.score)),
        };
        println!("two_people.jpg\t{}\t{name}\t{score:.3}", fmt_box(&f.face.bbox));
        labels.push((f.face, name));
    }
    annotate::write(&img, &labels, out)?;
    println!(
        "found {} faces in {:.0} ms (threshold {threshold:.3} at {}); annotated image: {}",
        labels.len(),
        dt.as_secs_f64() * 1e3,
        OperatingPoint::default().name(),
        out.display()
    );
    Ok(())
}
