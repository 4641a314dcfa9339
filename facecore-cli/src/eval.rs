//! `facecore eval lfw|detect` and `facecore calibrate`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::{Args, Subcommand};
use facecore::eval::{kfold_accuracy, parse_lfw_pairs, parse_wider_gt, read_text, score_detections, tar_at_fmr};
use facecore::{Detector, DetectorConfig, Image, Preset, Recognizer};

use crate::AnyResult;
use crate::cascade::FaceData;
use crate::progress::Progress;

#[derive(Subcommand)]
pub enum EvalCmd {
    /// 10-fold style verification accuracy on LFW pairs (last line starts with `lfw accuracy=`).
    Lfw(LfwArgs),
    /// Precision, recall and average precision against WIDER-format ground truth.
    Detect {
        /// Folder with the images named in the ground truth.
        #[arg(long)]
        images: PathBuf,
        /// WIDER-format ground truth (gt_bbx.txt).
        #[arg(long)]
        gt: PathBuf,
        /// IoU for a match.
        #[arg(long, default_value_t = 0.5)]
        iou: f32,
        /// Detector score threshold (low, so the precision/recall curve is complete).
        #[arg(long, default_value_t = 0.3)]
        score: f32,
        /// Longest side of the network input.
        #[arg(long, default_value_t = 640)]
        input: u32,
        /// Only faces at least this many pixels wide and high count (ground truth and
        /// detections). Scores the detector's input-size policy, which runs the network on a
        /// smaller input for a larger minimum face, against the full-size input filtered the same way.
        #[arg(long)]
        min_face: Option<f32>,
    },
    /// Presentation-attack detection: APCER and BPCER at each operating point, BPCER at APCER
    /// 1% and 5%, AUC, per attack type (last line starts with `liveness default`).
    Liveness(crate::liveness::EvalLivenessArgs),
}

#[derive(Args)]
pub struct LfwArgs {
    /// Folder holding lfw-deepfunneled/.
    #[arg(long)]
    root: PathBuf,
    /// pairs.txt
    #[arg(long)]
    pairs: PathBuf,
    /// Preset(s) to evaluate, comma separated (accurate, fast, dlib, sface).
    #[arg(long, default_value = "accurate", value_delimiter = ',')]
    preset: Vec<Preset>,
    /// Use only the first N pairs of each fold half (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Worker threads (each runs single-threaded inference).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Detector input: longest side in pixels, or 0 for the image's own size.
    #[arg(long, default_value_t = 640)]
    detect_input: u32,
    /// Fail (exit 1) when a preset's accuracy is below its floor, in percent: one value for
    /// all presets, or one per preset in the order of --preset.
    #[arg(long, value_delimiter = ',')]
    min_accuracy: Vec<f64>,
    /// Keep every image's embeddings in a file under this folder and reuse them on the next
    /// run with the same root, preset and detector input (e.g. target/eval-cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Fail (exit 1) when the cascade's accuracy at an operating point is below the full
    /// fusion's (presets with a cascade: accurate).
    #[arg(long)]
    cascade_no_worse: bool,
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// Folder holding lfw-deepfunneled/.
    #[arg(long)]
    root: PathBuf,
    /// Preset(s) to calibrate, comma separated.
    #[arg(long, default_value = "accurate,fast,dlib,sface", value_delimiter = ',')]
    preset: Vec<Preset>,
    /// Threshold table to update (rows of other spaces are kept).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Detector input: longest side in pixels, or 0 for the image's own size.
    #[arg(long, default_value_t = 640)]
    detect_input: u32,
    /// Calibrate the cascade's bands (facecore/src/cascade.tsv) instead of the thresholds:
    /// accurate preset only; --out is the band table.
    #[arg(long)]
    cascade: bool,
    /// With --cascade: the pose bound is this quantile of |yaw| over the calibration faces.
    #[arg(long, default_value_t = 0.99)]
    max_yaw_quantile: f64,
    /// Keep every image's embeddings in a file under this folder and reuse them (see eval lfw).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub fn run(cmd: EvalCmd) -> AnyResult {
    match cmd {
        EvalCmd::Lfw(a) => lfw(&a),
        EvalCmd::Detect { images, gt, iou, score, input, min_face } => detect(&images, &gt, iou, score, input, min_face),
        EvalCmd::Liveness(a) => crate::liveness::eval(&a),
    }
}

/// The face to use in an LFW image: the detection closest to the centre (LFW crops are
/// centred on their subject), from a permissive detector.
fn lfw_detector(input: u32) -> AnyResult<Detector> {
    let input_size = if input == 0 { facecore::InputSize::Native } else { facecore::InputSize::MaxLongest(input) };
    Ok(Detector::bundled(DetectorConfig { score_threshold: 0.3, input_size, ..Default::default() })?)
}

/// Embeds every image (paths relative to `root`) with every recognizer (decoding and
/// detecting once) on `threads` workers; `out[r][i]` is `None` where no face was found. With
/// `cache`, each recognizer's embeddings are read from and written to a file in that folder,
/// and only the images it lacks are embedded.
#[allow(clippy::too_many_arguments)]
fn embed_all(
    root: &Path,
    files: &[PathBuf],
    det: &Detector,
    recs: &[Recognizer],
    threads: usize,
    label: &'static str,
    cache: Option<&Path>,
    detect_input: u32,
) -> AnyResult<Vec<Vec<Option<FaceData>>>> {
    let cached: Vec<HashMap<PathBuf, Option<FaceData>>> = recs
        .iter()
        .map(|rec| {
            cache.map(|dir| crate::cascade::read_cache(&crate::cascade::cache_path(dir, root, rec, detect_input), rec)).unwrap_or_default()
        })
        .collect();
    let mut out: Vec<Vec<Option<FaceData>>> = vec![vec![None; files.len()]; recs.len()];
    let mut todo = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if cached.iter().all(|c| c.contains_key(f)) {
            for (r, c) in cached.iter().enumerate() {
                out[r][i] = c[f].clone();
            }
        } else {
            todo.push(i);
        }
    }
    if cache.is_some() {
        println!("{} of {} images from the cache", files.len() - todo.len(), files.len());
    }
    let out = Mutex::new(out);
    let next = Mutex::new(0usize);
    let progress = Mutex::new(Progress::new(label, todo.len()));
    // Every unreadable image is reported as it happens; the others are still embedded, and
    // the evaluation fails at the end (its figures would be wrong without them).
    let failures = Mutex::new(crate::Failures::default());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let k = {
                        let Ok(mut n) = next.lock() else { return };
                        let k = *n;
                        *n += 1;
                        k
                    };
                    let Some(&i) = todo.get(k) else { return };
                    let path = root.join(&files[i]);
                    let r = (|| -> facecore::Result<Vec<Option<FaceData>>> {
                        let img = Image::open(&path)?;
                        let faces = det.detect(&img)?;
                        let (cx, cy) = (img.width() as f32 / 2.0, img.height() as f32 / 2.0);
                        let best = faces.into_iter().min_by(|a, b| {
                            let d = |f: &facecore::Face| {
                                (f.bbox.x + f.bbox.width / 2.0 - cx).powi(2) + (f.bbox.y + f.bbox.height / 2.0 - cy).powi(2)
                            };
                            d(a).total_cmp(&d(b))
                        });
                        recs.iter().map(|rec| best.map(|f| crate::cascade::embed_face(rec, &img, &f)).transpose()).collect()
                    })();
                    match r {
                        Ok(e) => {
                            if let Ok(mut o) = out.lock() {
                                for (r, e) in e.into_iter().enumerate() {
                                    o[r][i] = e;
                                }
                            }
                            if let Ok(mut f) = failures.lock() {
                                f.ok();
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failures.lock() {
                                f.report(&path, &e, false);
                            }
                        }
                    }
                    if let Ok(mut p) = progress.lock() {
                        p.tick();
                    }
                }
            });
        }
    });
    failures.into_inner().map_err(|_| "worker panicked")?.finish("no figures computed")?;
    let out = out.into_inner().map_err(|_| "worker panicked")?;
    if let Some(dir) = cache.filter(|_| !todo.is_empty()) {
        for ((rec, mut entries), embs) in recs.iter().zip(cached).zip(&out) {
            for (f, e) in files.iter().zip(embs) {
                entries.insert(f.clone(), e.clone());
            }
            let path = crate::cascade::cache_path(dir, root, rec, detect_input);
            crate::cascade::write_cache(&path, &entries.into_iter().collect())?;
            println!("wrote {}", path.display());
        }
    }
    Ok(out)
}

fn lfw(a: &LfwArgs) -> AnyResult {
    let mut pairs = parse_lfw_pairs(&read_text(&a.pairs)?)?;
    if let Some(n) = a.limit {
        let mut seen: HashMap<(usize, bool), usize> = HashMap::new();
        pairs.retain(|p| {
            let c = seen.entry((p.fold, p.same)).or_default();
            *c += 1;
            *c <= n
        });
    }
    let mut files: Vec<PathBuf> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    files.sort();
    files.dedup();
    let index: HashMap<&PathBuf, usize> = files.iter().enumerate().map(|(i, f)| (f, i)).collect();
    let folds = pairs.iter().map(|p| p.fold).max().map_or(0, |m| m + 1);
    println!("lfw: {} pairs in {folds} folds, {} images", pairs.len(), files.len());
    let det = lfw_detector(a.detect_input)?;
    let mut failed_floor = false;
    let mut last = String::new();
    let recs = a.preset.iter().map(|p| Recognizer::from_preset(*p)).collect::<facecore::Result<Vec<_>>>()?;
    let t0 = std::time::Instant::now();
    let all = embed_all(&a.root, &files, &det, &recs, a.threads, "embedding", a.cache.as_deref(), a.detect_input)?;
    let secs = t0.elapsed().as_secs_f64();
    println!("embedded {} images with {} preset(s) in {secs:.1} s ({} threads)", files.len(), recs.len(), a.threads);
    let mut cascade_worse = false;
    for (k, ((preset, rec), embs)) in a.preset.iter().zip(&recs).zip(&all).enumerate() {
        let missing = embs.iter().filter(|e| e.is_none()).count();
        let mut scores = Vec::with_capacity(pairs.len());
        let (mut genuine, mut imp) = (Vec::new(), Vec::new());
        for p in &pairs {
            let (ea, eb) = (&embs[index[&p.a]], &embs[index[&p.b]]);
            // A pair with an undetected face scores -1: counted, never silently dropped.
            let s = match (ea, eb) {
                (Some(x), Some(y)) => x.full.similarity(&y.full)?,
                _ => -1.0,
            };
            scores.push((s, p.same, p.fold));
            if p.same { genuine.push(s) } else { imp.push(s) }
        }
        let (mean, std, per) = kfold_accuracy(&scores);
        let tar = tar_at_fmr(&genuine, &imp, 1e-3).map_or(0.0, |t| t.1);
        println!(
            "preset {:<9} space {}: folds [{}], {} images without a face",
            preset.name(),
            rec.space(),
            per.iter().map(|x| format!("{:.2}", x * 100.0)).collect::<Vec<_>>().join(" "),
            missing,
        );
        last = format!(
            "lfw accuracy={:.2}% std={:.2} tar@fmr1e-3={:.2}% preset={} pairs={} folds={folds}",
            mean * 100.0,
            std * 100.0,
            tar * 100.0,
            preset.name(),
            pairs.len()
        );
        if a.preset.len() > 1 {
            println!("{last}");
        }
        if crate::cascade::first_branch(rec).is_some() {
            let eval_pairs: Vec<crate::cascade::EvalPair> =
                pairs.iter().map(|p| crate::cascade::EvalPair { a: index[&p.a], b: index[&p.b], same: p.same }).collect();
            if !crate::cascade::report_lfw(rec, embs, &eval_pairs)? {
                cascade_worse = true;
                if a.cascade_no_worse {
                    eprintln!("facecore: preset {}: the cascade is less accurate than the full fusion", preset.name());
                }
            }
        }
        let floor = if a.min_accuracy.len() == 1 { a.min_accuracy.first() } else { a.min_accuracy.get(k) };
        if let Some(f) = floor.filter(|&&f| mean * 100.0 < f) {
            eprintln!("facecore: preset {} is below its floor: {:.2}% < {f:.2}%", preset.name(), mean * 100.0);
            failed_floor = true;
        }
    }
    if a.preset.len() == 1 {
        println!("{last}");
    }
    if failed_floor {
        return Err("accuracy below the floor".into());
    }
    if cascade_worse && a.cascade_no_worse {
        return Err("the cascade is less accurate than the full fusion".into());
    }
    Ok(())
}

fn detect(images: &Path, gt: &Path, iou: f32, score: f32, input: u32, min_face: Option<f32>) -> AnyResult {
    let gt = parse_wider_gt(&read_text(gt)?)?;
    let config = |min_face_size| DetectorConfig {
        score_threshold: score,
        input_size: facecore::InputSize::FitLongest(input),
        min_face_size,
        ..Default::default()
    };
    let full = Detector::bundled(config(0.0))?;
    let policy = match min_face {
        Some(m) => Some(full.with_config(config(m))?),
        None => None,
    };
    let big = |r: &facecore::Rect| min_face.is_none_or(|m| r.width >= m && r.height >= m);
    let boxes: Vec<Vec<_>> = gt.iter().map(|g| g.boxes.iter().copied().filter(big).collect()).collect();
    let mut dets = Vec::new();
    let mut dets_policy = Vec::new();
    let mut p = Progress::new("detect", gt.len());
    // An unreadable image is reported and left out of the scores (its ground truth too);
    // the command fails at the end.
    let mut failures = crate::Failures::default();
    let mut read = vec![true; gt.len()];
    for (k, g) in gt.iter().enumerate() {
        let path = images.join(&g.file);
        let r = Image::open(&path).and_then(|img| {
            let d = full.detect(&img)?.into_iter().filter(|f| big(&f.bbox)).map(|f| (f.bbox, f.score)).collect::<Vec<_>>();
            let dp = match &policy {
                Some(pd) => Some(pd.detect(&img)?.into_iter().map(|f| (f.bbox, f.score)).collect::<Vec<_>>()),
                None => None,
            };
            Ok((d, dp))
        });
        match r {
            Ok((d, dp)) => {
                failures.ok();
                dets.push(d);
                dets_policy.extend(dp);
            }
            Err(e) => {
                failures.report(&path, &e, false);
                read[k] = false;
            }
        }
        p.tick();
    }
    let boxes: Vec<Vec<_>> = boxes.into_iter().zip(&read).filter(|(_, r)| **r).map(|(b, _)| b).collect();
    let images_scored = boxes.len();
    let d = DetectorConfig::default().score_threshold;
    let report = |label: &str, dets: &[Vec<(facecore::Rect, f32)>]| {
        let s = score_detections(&boxes, dets, iou);
        // Also at the default operating threshold.
        let dets_default: Vec<Vec<_>> = dets.iter().map(|v| v.iter().copied().filter(|x| x.1 >= d).collect()).collect();
        let sd = score_detections(&boxes, &dets_default, iou);
        println!(
            "detect [{label}]: {} images, {} faces; at score>={score}: {} detections, AP={:.3}; at the default score>={d}: precision={:.3} recall={:.3}",
            images_scored, s.gt, s.detections, s.average_precision, sd.precision, sd.recall
        );
        (sd, s)
    };
    let mf = min_face.map_or(String::new(), |m| format!(" min_face={m}"));
    let (sd, s) = report(&format!("input {input}{mf}"), &dets);
    println!("detection precision={:.3} recall={:.3} ap={:.3} iou={iou} input={input}{mf}", sd.precision, sd.recall, s.average_precision);
    if policy.is_some() {
        let (sd, s) = report(&format!("input {input} scaled down for min_face{mf}"), &dets_policy);
        println!(
            "detection precision={:.3} recall={:.3} ap={:.3} iou={iou} input={input}{mf} policy=scaled-for-min-face",
            sd.precision, sd.recall, s.average_precision
        );
    }
    failures.finish("the figures above leave them out")
}

/// Person name of an LFW file `lfw-deepfunneled/<name>/<name>_0001.jpg`.
fn person_of(p: &Path) -> String {
    p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn calibrate(a: &CalibrateArgs) -> AnyResult {
    let base = a.root.join("lfw-deepfunneled");
    let mut files = Vec::new();
    for d in std::fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))? {
        let d = d?.path();
        if d.is_dir() {
            for f in std::fs::read_dir(&d)? {
                let f = f?.path();
                if f.extension().is_some_and(|e| e == "jpg") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    let people: Vec<String> = files.iter().map(|f| person_of(f)).collect();
    println!("calibrate: {} images of {} people", files.len(), people.iter().collect::<std::collections::BTreeSet<_>>().len());
    let det = lfw_detector(a.detect_input)?;
    let mut rows: BTreeMap<(String, String), String> = BTreeMap::new();
    if let Some(t) = a.out.as_ref().and_then(|out| std::fs::read_to_string(out).ok()) {
        for l in t.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() > 2 {
                rows.insert((f[0].to_string(), f[1].to_string()), l.to_string());
            }
        }
    }
    let presets: Vec<Preset> = if a.cascade { vec![Preset::Accurate] } else { a.preset.clone() };
    let recs = presets.iter().map(|p| Recognizer::from_preset(*p)).collect::<facecore::Result<Vec<_>>>()?;
    let rel: Vec<PathBuf> = files.iter().map(|f| f.strip_prefix(&a.root).map(Path::to_path_buf).unwrap_or_else(|_| f.clone())).collect();
    let all = embed_all(&a.root, &rel, &det, &recs, a.threads, "embedding", a.cache.as_deref(), a.detect_input)?;
    if a.cascade {
        let command = format!(
            "facecore calibrate --cascade --root {} --max-yaw-quantile {}{}",
            a.root.display(),
            a.max_yaw_quantile,
            a.out.as_ref().map_or(String::new(), |o| format!(" --out {}", o.display()))
        );
        return crate::cascade::calibrate(&recs[0], &files, &people, &all[0], a.max_yaw_quantile, a.out.as_deref(), &command);
    }
    for ((preset, rec), embs) in presets.iter().zip(&recs).zip(&all) {
        let (mut genuine, mut imp) = (Vec::new(), Vec::new());
        for i in 0..files.len() {
            let Some(ei) = &embs[i] else { continue };
            for j in i + 1..files.len() {
                let Some(ej) = &embs[j] else { continue };
                let s = ei.full.similarity(&ej.full)?;
                if people[i] == people[j] { genuine.push(s) } else { imp.push(s) }
            }
        }
        let space = rec.space().to_string();
        println!("preset {} space {space}: {} genuine, {} impostor pairs", preset.name(), genuine.len(), imp.len());
        for (op, fmr) in [("fmr1e-3", 1e-3), ("fmr1e-4", 1e-4)] {
            let (t, tar, fa) = tar_at_fmr(&genuine, &imp, fmr).ok_or("no impostor pairs")?;
            println!("  {op}: threshold={t:.4} tar={:.2}% measured fmr={fa:.2e}", tar * 100.0);
            rows.insert((space.clone(), op.into()), format!("{space}\t{op}\t{t:.4}\t{fa:.2e}\t{tar:.4}\t{}\t{}", imp.len(), genuine.len()));
        }
        let mut balanced: Vec<(f32, bool)> = genuine.iter().map(|&s| (s, true)).collect();
        // Balance the classes by sampling impostors evenly.
        let step = (imp.len() / genuine.len().max(1)).max(1);
        balanced.extend(imp.iter().step_by(step).map(|&s| (s, false)));
        let t = facecore::eval::best_threshold(&balanced);
        let acc = facecore::eval::accuracy_at(&balanced, t);
        let fa = imp.iter().filter(|&&s| s >= t).count() as f64 / imp.len().max(1) as f64;
        let tar = genuine.iter().filter(|&&s| s >= t).count() as f64 / genuine.len().max(1) as f64;
        println!("  best-accuracy: threshold={t:.4} accuracy={:.2}% fmr={fa:.2e} tar={:.2}%", acc * 100.0, tar * 100.0);
        rows.insert(
            (space.clone(), "best-accuracy".into()),
            format!("{space}\tbest-accuracy\t{t:.4}\t{fa:.2e}\t{tar:.4}\t{}\t{}", imp.len(), genuine.len()),
        );
    }
    if let Some(out) = &a.out {
        let mut text = String::from("# space\top\tthreshold\tfmr\ttar\timpostor_pairs\tgenuine_pairs\n");
        text.push_str("# written by: facecore calibrate --root ../shared/data/lfw-dev --out facecore/src/thresholds.tsv\n");
        for r in rows.values() {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(out, text)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
