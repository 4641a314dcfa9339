//! `facecore liveness` (one line per face) and `facecore eval liveness` (APCER, BPCER, AUC on
//! a labelled set, with floors for CI and the calibration of the operating points).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use facecore::liveness::{DEFAULT_THRESHOLD, STRICT_THRESHOLD};
use facecore::{Detector, DetectorConfig, Face, Image, Liveness, LivenessDecision, LivenessOp};
use serde_json::json;

use crate::progress::Progress;
use crate::{AnyResult, Failures, expand_inputs, fmt_box};

#[derive(Args)]
pub struct LivenessArgs {
    /// default (at most 1% of print attacks accepted on pad-dev), strict (for screen replays),
    /// or a threshold in 0..1.
    #[arg(long, default_value = "default")]
    op: LivenessOp,
    /// One JSON object per line: image, box ([x, y, w, h] or null), live (score or null),
    /// decision (live, spoof, unknown, no_face).
    #[arg(long)]
    json: bool,
    /// Images or directories of images.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

/// Every face of every image, judged.
pub fn run(a: &LivenessArgs) -> AnyResult {
    let detector = Detector::bundled(DetectorConfig::default())?;
    let liveness = Liveness::bundled()?;
    let mut failures = Failures::default();
    for path in expand_inputs(&a.inputs)? {
        let result = Image::open(&path).and_then(|img| {
            let faces = detector.detect(&img)?;
            faces.iter().map(|f| Ok((*f, liveness.check(&img, f, a.op)?))).collect::<facecore::Result<Vec<_>>>()
        });
        let judged = match result {
            Ok(j) => j,
            Err(e) => {
                failures.report(&path, &e, a.json);
                continue;
            }
        };
        failures.ok();
        if judged.is_empty() {
            if a.json {
                println!("{}", json!({"image": path, "box": null, "live": null, "decision": "no_face"}));
            } else {
                println!("{}\tno face", path.display());
            }
        }
        for (face, r) in judged {
            let b = face.bbox;
            let reason = match r.decision {
                LivenessDecision::Unknown(why) => Some(why.name()),
                _ => None,
            };
            if a.json {
                println!(
                    "{}",
                    json!({"image": path, "box": [b.x, b.y, b.width, b.height], "live": r.score, "decision": r.decision.name(),
                           "reason": reason, "threshold": a.op.threshold()})
                );
            } else {
                let score = r.score.map_or_else(|| "-".to_string(), |s| format!("{s:.4}"));
                println!(
                    "{}\t{}\t{}\t{score}{}",
                    path.display(),
                    fmt_box(&b),
                    r.decision.name(),
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                );
            }
        }
    }
    failures.finish("")
}

#[derive(Args)]
pub struct EvalLivenessArgs {
    /// Folder the label file's paths are relative to.
    #[arg(long)]
    root: PathBuf,
    /// Tab-separated labels with a header: path, label (live|spoof), and optionally subject and
    /// attack columns (pad-dev's labels.tsv).
    #[arg(long)]
    labels: PathBuf,
    /// Fail (exit 1) when the default operating point accepts more than this % of spoofs.
    #[arg(long)]
    max_apcer: Option<f64>,
    /// Fail (exit 1) when the default operating point rejects more than this % of lives.
    #[arg(long)]
    max_bpcer: Option<f64>,
    /// Also print the thresholds that reach APCER 1% and 0.1% on this set (how the operating
    /// points were calibrated).
    #[arg(long)]
    calibrate: bool,
    /// Use only the first N rows (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Write every image's score (path, label, attack, score) to this TSV file.
    #[arg(long)]
    scores: Option<PathBuf>,
}

struct Row {
    path: PathBuf,
    live: bool,
    attack: String,
}

fn read_labels(path: &Path, limit: Option<usize>) -> AnyResult<Vec<Row>> {
    let text = facecore::eval::read_text(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty label file")?.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (p, l) = (col("path").ok_or("label file: no `path` column")?, col("label").ok_or("label file: no `label` column")?);
    let attack = col("attack");
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().ok_or_else(|| format!("{}:{}: missing column {i}", path.display(), n + 2));
        let live = match get(l)? {
            "live" => true,
            "spoof" => false,
            other => return Err(format!("{}:{}: label {other:?} is not live or spoof", path.display(), n + 2).into()),
        };
        let attack = match attack {
            Some(a) => get(a)?.to_string(),
            None => if live { "none" } else { "spoof" }.to_string(),
        };
        rows.push(Row { path: PathBuf::from(get(p)?), live, attack });
    }
    if let Some(n) = limit {
        rows.truncate(n);
    }
    Ok(rows)
}

/// The largest face: the subject of a webcam frame.
fn largest(faces: &[Face]) -> Option<Face> {
    faces.iter().copied().max_by(|a, b| (a.bbox.width * a.bbox.height).total_cmp(&(b.bbox.width * b.bbox.height)))
}

/// Percentage of `scores` at or above `t` (accepted as live).
fn accepted(scores: &[f32], t: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    100.0 * scores.iter().filter(|&&s| s >= t).count() as f64 / scores.len() as f64
}

/// The lowest threshold at which at most `apcer` % of `spoofs` are accepted.
fn threshold_for_apcer(spoofs: &[f32], apcer: f64) -> f32 {
    let mut s = spoofs.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let allowed = ((apcer / 100.0) * s.len() as f64).floor() as usize;
    // Accept at most `allowed` spoofs: the threshold sits just above the next one.
    s.get(allowed).map_or(0.0, |&v| f32::from_bits(v.to_bits() + 1).min(1.0))
}

/// Area under the ROC curve (probability that a live scores above a spoof, ties half).
fn auc(lives: &[f32], spoofs: &[f32]) -> f64 {
    let mut all: Vec<(f32, bool)> = lives.iter().map(|&s| (s, true)).chain(spoofs.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney U with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += avg * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (nl, ns) = (lives.len() as f64, spoofs.len() as f64);
    (rank_sum - nl * (nl + 1.0) / 2.0) / (nl * ns)
}

pub fn eval(a: &EvalLivenessArgs) -> AnyResult {
    let rows = read_labels(&a.labels, a.limit)?;
    let detector = Detector::bundled(DetectorConfig::default())?;
    let liveness = Liveness::bundled()?;
    let (mut lives, mut spoofs) = (Vec::new(), Vec::new());
    let mut by_attack: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut dump = String::from("path\tlabel\tattack\tscore\n");
    let (mut no_face, mut unknown, mut failed) = (0usize, BTreeMap::<&str, usize>::new(), 0usize);
    let mut progress = Progress::new("liveness", rows.len());
    for row in &rows {
        let path = a.root.join(&row.path);
        let scored = Image::open(&path).and_then(|img| {
            let face = largest(&detector.detect(&img)?);
            face.map(|f| liveness.score(&img, &f)).transpose()
        });
        progress.tick();
        match scored {
            Err(e) => {
                eprintln!("facecore: {}: {e}", path.display());
                failed += 1;
            }
            Ok(None) => no_face += 1,
            Ok(Some(Err(why))) => *unknown.entry(why.name()).or_default() += 1,
            Ok(Some(Ok(s))) => {
                dump.push_str(&format!("{}\t{}\t{}\t{s}\n", row.path.display(), if row.live { "live" } else { "spoof" }, row.attack));
                if row.live {
                    lives.push(s);
                } else {
                    spoofs.push(s);
                    by_attack.entry(row.attack.clone()).or_default().push(s);
                }
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} images could not be read: no figures", rows.len()).into());
    }
    if let Some(p) = &a.scores {
        std::fs::write(p, &dump).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if lives.is_empty() || spoofs.is_empty() {
        return Err("the set needs judged lives and spoofs".into());
    }
    println!(
        "liveness set: {} images, {} lives and {} spoofs judged; not judged: {no_face} without a face, {unknown:?}",
        rows.len(),
        lives.len(),
        spoofs.len()
    );
    let mut default_fig = (0.0, 0.0);
    for (name, op) in [("default", LivenessOp::Default), ("strict", LivenessOp::Strict)] {
        let t = op.threshold();
        let (apcer, bpcer) = (accepted(&spoofs, t), 100.0 - accepted(&lives, t));
        if name == "default" {
            default_fig = (apcer, bpcer);
        }
        println!("op {name:8} threshold {t:.6}: APCER {apcer:.2}% (spoofs accepted), BPCER {bpcer:.2}% (lives rejected)");
        for (attack, s) in &by_attack {
            println!("    attack {attack}: APCER {:.2}% of {}", accepted(s, t), s.len());
        }
    }
    for target in [1.0, 5.0] {
        let t = threshold_for_apcer(&spoofs, target);
        println!("BPCER at APCER {target}%: {:.2}% (threshold {t:.6})", 100.0 - accepted(&lives, t));
    }
    println!("AUC {:.5}", auc(&lives, &spoofs));
    if a.calibrate {
        for target in [1.0, 0.1] {
            let t = threshold_for_apcer(&spoofs, target);
            println!("calibration: threshold for APCER <= {target}% on this set: {t:.6} (BPCER {:.2}%)", 100.0 - accepted(&lives, t));
        }
        let mut sorted = lives.clone();
        sorted.sort_by(f32::total_cmp);
        let q = |p: f64| sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)];
        let mut sp = spoofs.clone();
        sp.sort_by(f32::total_cmp);
        println!(
            "calibration: live scores p1 {:.4} p3 {:.4} p5 {:.4} p50 {:.4}; spoof scores p50 {:.6} p99 {:.4} max {:.4}",
            q(0.01),
            q(0.03),
            q(0.05),
            q(0.5),
            sp[sp.len() / 2],
            sp[((sp.len() - 1) as f64 * 0.99) as usize],
            sp[sp.len() - 1]
        );
        println!("calibration: compiled in: default {DEFAULT_THRESHOLD}, strict {STRICT_THRESHOLD}");
    }
    let (apcer, bpcer) = default_fig;
    println!("liveness default APCER={apcer:.2}% BPCER={bpcer:.2}%");
    let mut bad = Vec::new();
    if let Some(max) = a.max_apcer.filter(|&m| apcer > m) {
        bad.push(format!("APCER {apcer:.2}% > {max}%"));
    }
    if let Some(max) = a.max_bpcer.filter(|&m| bpcer > m) {
        bad.push(format!("BPCER {bpcer:.2}% > {max}%"));
    }
    if bad.is_empty() { Ok(()) } else { Err(format!("below the floor: {}", bad.join(", ")).into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics() {
        let spoofs: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let t = threshold_for_apcer(&spoofs, 1.0);
        assert!(accepted(&spoofs, t) <= 1.0 && accepted(&spoofs, t - 0.011) > 1.0, "{t}");
        assert!((auc(&[0.9, 0.8], &[0.1, 0.2]) - 1.0).abs() < 1e-9);
        assert!((auc(&[0.5], &[0.5]) - 0.5).abs() < 1e-9);
        assert!((auc(&[0.1], &[0.9]) - 0.0).abs() < 1e-9);
    }
}
