//! Cascade recognition in the evaluations: per-image first-pass and full embeddings (cached
//! on disk), `facecore calibrate --cascade` (the bands of facecore/src/cascade.tsv) and the
//! cascade figures of `facecore eval lfw`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use facecore::cascade::{CascadeBands, CascadeMode};
use facecore::{EmbedModel, Embedding, OperatingPoint, Recognizer};

use crate::AnyResult;

/// One image's face as the evaluations see it.
#[derive(Clone)]
pub struct FaceData {
    /// Yaw from the landmarks, degrees.
    pub yaw: f32,
    /// The full embedding (bit for bit `Recognizer::embed`).
    pub full: Embedding,
    /// The cascade's first pass (the dlib ResNet, unmirrored), for fused recognizers.
    pub first: Option<Embedding>,
    /// Time of the first pass, ms (0 without a cascade).
    pub ms_first: f32,
    /// Time of the rest of the full embedding (everything for a recognizer without a cascade), ms.
    pub ms_rest: f32,
}

/// The branch a fused recognizer's cascade runs first: the dlib ResNet (one small network).
pub fn first_branch(rec: &Recognizer) -> Option<usize> {
    (rec.branches() > 1).then(|| rec.branch_of_space(EmbedModel::DlibResnet.id())).flatten()
}

/// Embeds one detected face: first pass then the rest, timed, or the plain embedding.
pub fn embed_face(rec: &Recognizer, img: &facecore::Image, face: &facecore::Face) -> facecore::Result<FaceData> {
    let yaw = facecore::Quality::pose(&face.landmarks).0;
    let t0 = std::time::Instant::now();
    match first_branch(rec) {
        Some(b) => {
            let first = rec.embed_first(img, face, b)?;
            let ms_first = t0.elapsed().as_secs_f32() * 1e3;
            let t1 = std::time::Instant::now();
            let full = rec.embed_rest(img, face, &first)?;
            let ms_rest = t1.elapsed().as_secs_f32() * 1e3;
            Ok(FaceData { yaw, full, first: Some(first.embedding().clone()), ms_first, ms_rest })
        }
        None => {
            let full = rec.embed(img, face)?;
            Ok(FaceData { yaw, full, first: None, ms_first: 0.0, ms_rest: t0.elapsed().as_secs_f32() * 1e3 })
        }
    }
}

/// The cache file of one recognizer over one dataset root, in `dir`.
pub fn cache_path(dir: &Path, root: &Path, rec: &Recognizer, detect_input: u32) -> PathBuf {
    // FNV-1a over what the entries depend on.
    let key = format!("{}\n{}\n{detect_input}", std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()).display(), rec.space());
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!("{name}-{h:016x}.tsv"))
}

const CACHE_HEADER: &str = "# facecore eval cache v1: file, yaw, ms_first, ms_rest, first (comma separated or -), full; or file, -";

fn floats(v: &[f32]) -> String {
    v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",")
}

fn parse_floats(s: &str) -> Option<Vec<f32>> {
    s.split(',').map(|x| x.parse().ok()).collect()
}

/// Reads a cache: relative file -> face (None: no face found).
pub fn read_cache(path: &Path, rec: &Recognizer) -> HashMap<PathBuf, Option<FaceData>> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    let first_space = first_branch(rec).map(|_| EmbedModel::DlibResnet.id());
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        let entry = match f.as_slice() {
            [file, "-"] => Some((file, None)),
            [file, yaw, ms_first, ms_rest, first, full] => (|| {
                let first = match (*first, first_space) {
                    ("-", None) => None,
                    (v, Some(space)) => Some(Embedding::new(space, parse_floats(v)?).ok()?),
                    _ => return None,
                };
                let full = Embedding::new(rec.space(), parse_floats(full)?).ok()?;
                let d = FaceData { yaw: yaw.parse().ok()?, full, first, ms_first: ms_first.parse().ok()?, ms_rest: ms_rest.parse().ok()? };
                Some((file, Some(d)))
            })(),
            _ => None,
        };
        if let Some((file, d)) = entry {
            out.insert(PathBuf::from(file), d);
        }
    }
    out
}

/// Writes a cache (the values are the unit embeddings, printed so that they read back
/// exactly).
pub fn write_cache(path: &Path, entries: &BTreeMap<PathBuf, Option<FaceData>>) -> AnyResult {
    let mut text = String::from(CACHE_HEADER);
    text.push('\n');
    for (file, d) in entries {
        match d {
            None => text.push_str(&format!("{}\t-\n", file.display())),
            Some(d) => text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                file.display(),
                d.yaw,
                d.ms_first,
                d.ms_rest,
                d.first.as_ref().map_or("-".to_string(), |e| floats(e.as_slice())),
                floats(d.full.as_slice())
            )),
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The first-pass score of a probe against a full template: what `Gallery` computes for the
/// cascade (the cosine with the template's part of the first branch).
fn part_score(rec: &Recognizer, branch: usize, probe: &Embedding, template: &Embedding) -> f32 {
    let (offset, dim, w) = rec.branch_layout(branch).unwrap_or((0, 0, 1.0));
    dot(&template.as_slice()[offset..offset + dim], probe.as_slice()) / w.sqrt()
}

// ---------------------------------------------------------------------------------------
// Calibration

/// One scored pair: first-pass score, fused score, genuine, whether both faces are within
/// the pose bound.
#[derive(Clone, Copy)]
struct Scored {
    s1: f32,
    sf: f32,
    genuine: bool,
    frontal: bool,
}

/// The chosen bands and their figures on the calibration pairs.
struct Choice {
    lo: f32,
    hi: f32,
    flips: usize,
    budget: usize,
    /// Balanced (genuine and impostor weighted equally) fraction of pairs in the band or
    /// over the pose bound.
    second: f64,
}

/// The widest-saving band with at most `budget` pairs decided differently from the fusion
/// at threshold `t`: `lo` admits `k` fusion-accepted pairs below it, `hi` admits
/// `budget - k` fusion-rejected pairs at or above it, for the best `k`.
fn choose_band(pairs: &[Scored], t: f32, budget: usize) -> Choice {
    let frontal: Vec<&Scored> = pairs.iter().filter(|p| p.frontal).collect();
    let mut acc: Vec<f32> = frontal.iter().filter(|p| p.sf >= t).map(|p| p.s1).collect();
    let mut rej: Vec<f32> = frontal.iter().filter(|p| p.sf < t).map(|p| p.s1).collect();
    acc.sort_by(f32::total_cmp);
    rej.sort_by(|a, b| b.total_cmp(a));
    let (ng, ni) = (pairs.iter().filter(|p| p.genuine).count().max(1) as f64, pairs.iter().filter(|p| !p.genuine).count().max(1) as f64);
    let mut best: Option<Choice> = None;
    for k in 0..=budget {
        // lo: exactly k accepted pairs strictly below (ties move lo down).
        let lo = acc.get(k).copied().unwrap_or(f32::INFINITY);
        let hi = rej.get(budget - k).map_or(f32::NEG_INFINITY, |&s| next_up(s));
        let hi = hi.max(lo);
        let flips = frontal.iter().filter(|p| (p.s1 < lo && p.sf >= t) || (p.s1 >= hi && p.sf < t)).count();
        let (mut g, mut i) = (0usize, 0usize);
        for p in pairs {
            if !p.frontal || (p.s1 >= lo && p.s1 < hi) {
                if p.genuine { g += 1 } else { i += 1 }
            }
        }
        let second = (g as f64 / ng + i as f64 / ni) / 2.0;
        if flips <= budget && best.as_ref().is_none_or(|b| second < b.second) {
            best = Some(Choice { lo, hi, flips, budget, second });
        }
    }
    best.unwrap_or(Choice { lo: f32::NEG_INFINITY, hi: f32::INFINITY, flips: 0, budget, second: 1.0 })
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

/// Flips allowed: 0.1% of the pairs the fusion accepts (so the accepted sets agree to 99.9%,
/// far stricter than 99.9% of all pairs, which are nearly all easy impostors).
fn budget(pairs: &[Scored], t: f32) -> usize {
    pairs.iter().filter(|p| p.sf >= t).count() / 1000
}

/// `facecore calibrate --cascade`: bands for verify and identify at every operating point.
pub fn calibrate(
    rec: &Recognizer,
    files: &[PathBuf],
    people: &[String],
    faces: &[Option<FaceData>],
    max_yaw_quantile: f64,
    out: Option<&Path>,
    command: &str,
) -> AnyResult {
    let branch = first_branch(rec).ok_or("the cascade needs a fused preset (accurate)")?;
    let space = rec.space().to_string();
    let idx: Vec<usize> = (0..files.len()).filter(|&i| faces[i].as_ref().is_some_and(|f| f.first.is_some())).collect();
    let get = |i: usize| faces[i].as_ref().unwrap_or_else(|| unreachable!());
    // The pose bound: the `max_yaw_quantile` quantile of |yaw| over the calibration faces.
    // The bands are calibrated on faces up to it; more turned faces always take the full path.
    let mut yaws: Vec<f32> = idx.iter().map(|&i| get(i).yaw.abs()).collect();
    yaws.sort_by(f32::total_cmp);
    let q = |p: f64| yaws[((p * (yaws.len() - 1) as f64).round() as usize).min(yaws.len() - 1)];
    let max_yaw = (q(max_yaw_quantile) * 10.0).ceil() / 10.0;
    println!(
        "calibrate --cascade: {} faces; |yaw| median {:.1}, 95% {:.1}, 99% {:.1}, max {:.1} degrees; pose bound {max_yaw:.1} (quantile {max_yaw_quantile})",
        idx.len(),
        q(0.5),
        q(0.95),
        q(0.99),
        q(1.0)
    );
    let frontal = |i: usize| get(i).yaw.abs() <= max_yaw;
    let first = |i: usize| get(i).first.as_ref().unwrap_or_else(|| unreachable!());
    // Verify: unordered pairs, both first passes. Identify: ordered pairs, probe first pass
    // against the template's part.
    let mut verify = Vec::with_capacity(idx.len() * idx.len() / 2);
    let mut ident = Vec::with_capacity(idx.len() * idx.len());
    // Per probe and person: best first-pass and best fused score (for the margin).
    for (a, &i) in idx.iter().enumerate() {
        for &j in &idx[a + 1..] {
            let genuine = people[i] == people[j];
            let fr = frontal(i) && frontal(j);
            let sf = get(i).full.similarity(&get(j).full)?;
            verify.push(Scored { s1: first(i).similarity(first(j))?, sf, genuine, frontal: fr });
            ident.push(Scored { s1: part_score(rec, branch, first(i), &get(j).full), sf, genuine, frontal: frontal(i) });
            ident.push(Scored { s1: part_score(rec, branch, first(j), &get(i).full), sf, genuine, frontal: frontal(j) });
        }
    }
    let ng = verify.iter().filter(|p| p.genuine).count();
    println!("  {} genuine, {} impostor pairs", ng, verify.len() - ng);
    let mut rows = Vec::new();
    for op in OperatingPoint::ALL {
        let t = op.threshold(&space)?;
        for (mode, pairs) in [(CascadeMode::Verify, &verify), (CascadeMode::Identify, &ident)] {
            let c = choose_band(pairs, t, budget(pairs, t));
            let n = pairs.len() as f64;
            let (gen_agree, imp_fa_full, imp_fa_casc) = agreement(pairs, c.lo, c.hi, t);
            let mut margin = 0.0f32;
            let mut ident_note = String::new();
            if mode == CascadeMode::Identify {
                let (m, note) = calibrate_margin(rec, branch, &idx, people, faces, &c, t, max_yaw)?;
                margin = m;
                ident_note = note;
            }
            println!(
                "  {:<8} {:<13} t={t:.4}: lo={:.4} hi={:.4}{} | flips {} (budget {}) = {:.5}% of all pairs; genuine agree {:.3}%; impostors accepted {} (fusion {}); second network on {:.2}% of a balanced set{ident_note}",
                mode.name(),
                op.name(),
                c.lo,
                c.hi,
                if mode == CascadeMode::Identify { format!(" margin={margin:.3}") } else { String::new() },
                c.flips,
                c.budget,
                c.flips as f64 / n * 100.0,
                gen_agree * 100.0,
                imp_fa_casc,
                imp_fa_full,
                c.second * 100.0,
            );
            rows.push(format!(
                "{space}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{margin:.3}\t{max_yaw:.1}\t{}\t{}\t{:.6}\t{:.4}",
                mode.name(),
                op.name(),
                EmbedModel::DlibResnet.id(),
                floor4(c.lo),
                ceil4(c.hi),
                c.flips,
                pairs.len(),
                1.0 - c.flips as f64 / n,
                c.second
            ));
        }
    }
    if let Some(out) = out {
        let mut text =
            String::from("# space\tmode\top\tfirst\tlo\thi\tmargin\tmax_yaw\tflips\tpairs\tagreement\tsecond_network_balanced\n");
        text.push_str(&format!("# written by: {command}\n"));
        text.push_str("# lo/hi: reject below lo, accept at or above hi (first-network cosine); flips: calibration pairs the cascade decides unlike the fusion (budget 0.1% of the pairs the fusion accepts); second_network_balanced: share of pairs in the band or over max_yaw, genuine and impostor weighted equally\n");
        for r in rows {
            text.push_str(&r);
            text.push('\n');
        }
        std::fs::write(out, text)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// Bands are written rounded outwards (4 decimals), so the table is never looser than the
/// calibration.
fn floor4(x: f32) -> f32 {
    (f64::from(x) * 1e4).floor() as f32 / 1e4
}

fn ceil4(x: f32) -> f32 {
    (f64::from(x) * 1e4).ceil() as f32 / 1e4
}

/// Genuine agreement, impostors accepted by the fusion and by the cascade.
fn agreement(pairs: &[Scored], lo: f32, hi: f32, t: f32) -> (f64, usize, usize) {
    let decide = |p: &Scored| if !p.frontal || (p.s1 >= lo && p.s1 < hi) { p.sf >= t } else { p.s1 >= hi };
    let g: Vec<&Scored> = pairs.iter().filter(|p| p.genuine).collect();
    let agree = g.iter().filter(|p| decide(p) == (p.sf >= t)).count() as f64 / g.len().max(1) as f64;
    let fa_full = pairs.iter().filter(|p| !p.genuine && p.sf >= t).count();
    let fa_casc = pairs.iter().filter(|p| !p.genuine && decide(p)).count();
    (agree, fa_full, fa_casc)
}

/// The identify margin: each calibration face as a probe against a gallery of every other
/// face (best template per person). The smallest margin (in steps of 0.005) that adds no
/// disagreement with the fusion over the rule "second best below lo".
#[allow(clippy::too_many_arguments)]
fn calibrate_margin(
    rec: &Recognizer,
    branch: usize,
    idx: &[usize],
    people: &[String],
    faces: &[Option<FaceData>],
    c: &Choice,
    t: f32,
    max_yaw: f32,
) -> AnyResult<(f32, String)> {
    let get = |i: usize| faces[i].as_ref().unwrap_or_else(|| unreachable!());
    let names: Vec<&String> = {
        let mut v: Vec<&String> = idx.iter().map(|&i| &people[i]).collect();
        v.sort();
        v.dedup();
        v
    };
    let pid: HashMap<&String, usize> = names.iter().enumerate().map(|(k, n)| (*n, k)).collect();
    // Per probe: (first-pass best, second, best person), (fused best person, score), frontal.
    struct Probe {
        b1: f32,
        s2: Option<f32>,
        p1: usize,
        pf: usize,
        bf: f32,
        frontal: bool,
    }
    let mut probes = Vec::with_capacity(idx.len());
    for &i in idx {
        let mut s1 = vec![f32::NEG_INFINITY; names.len()];
        let mut sf = vec![f32::NEG_INFINITY; names.len()];
        let first = get(i).first.as_ref().unwrap_or_else(|| unreachable!());
        for &j in idx.iter().filter(|&&j| j != i) {
            let p = pid[&people[j]];
            s1[p] = s1[p].max(part_score(rec, branch, first, &get(j).full));
            sf[p] = sf[p].max(get(i).full.similarity(&get(j).full)?);
        }
        let top = |v: &[f32]| -> (usize, f32) {
            v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (k, &s)| if s > b.1 { (k, s) } else { b })
        };
        let (p1, b1) = top(&s1);
        let s2 = s1
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != p1)
            .map(|(_, &s)| s)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
        let (pf, bf) = top(&sf);
        probes.push(Probe { b1, s2, p1, pf, bf, frontal: get(i).yaw.abs() <= max_yaw });
    }
    let full_decision = |p: &Probe| (p.bf >= t).then_some(p.pf);
    let run = |margin: f32| -> (usize, usize) {
        let bands = CascadeBands { first: String::new(), lo: c.lo, hi: c.hi, margin, max_yaw };
        let (mut flips, mut second) = (0, 0);
        for p in &probes {
            let d = if p.frontal { bands.decide_search(Some(p.b1), p.s2) } else { None };
            let cascade = match d {
                Some(true) => Some(p.p1),
                Some(false) => None,
                None => {
                    second += 1;
                    full_decision(p)
                }
            };
            if cascade != full_decision(p) {
                flips += 1;
            }
        }
        (flips, second)
    };
    let (base_flips, _) = run(f32::INFINITY);
    let mut margin = 0.0f32;
    while margin < 1.0 && run(margin).0 > base_flips {
        margin += 0.005;
    }
    let (flips, second) = run(margin);
    let known = probes.iter().filter(|p| full_decision(p).is_some()).count();
    Ok((
        margin,
        format!(
            "\n           gallery of every other face ({} probes, {} named by the fusion): {flips} decided differently, second network for {:.2}% of probes",
            probes.len(),
            known,
            second as f64 / probes.len().max(1) as f64 * 100.0
        ),
    ))
}

// ---------------------------------------------------------------------------------------
// eval lfw

/// One evaluation pair: indices of the two images, genuine, fold.
pub struct EvalPair {
    pub a: usize,
    pub b: usize,
    pub same: bool,
}

/// Prints the cascade's figures on the pairs (verify mode, at every operating point) against
/// the full fusion's, and returns whether the cascade is no worse than the fusion at every
/// operating point.
pub fn report_lfw(rec: &Recognizer, faces: &[Option<FaceData>], pairs: &[EvalPair]) -> AnyResult<bool> {
    let space = rec.space();
    let mut no_worse = true;
    let complete = |i: usize| faces[i].as_ref().filter(|f| f.first.is_some());
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
    let firsts: Vec<f32> = faces.iter().flatten().map(|f| f.ms_first).collect();
    let rests: Vec<f32> = faces.iter().flatten().map(|f| f.ms_rest).collect();
    let (m1, mr) = (mean(&firsts), mean(&rests));
    println!(
        "cascade: per face, first pass (dlib ResNet, unmirrored) {m1:.1} ms, rest of the fusion (dlib mirror, SFace and its mirror) {mr:.1} ms, full fusion {:.1} ms (means over {} faces)",
        m1 + mr,
        firsts.len()
    );
    for op in OperatingPoint::ALL {
        let t = op.threshold(space)?;
        let Some(bands) = CascadeBands::lookup(space, CascadeMode::Verify, op) else {
            println!("cascade {}: no bands for {space}", op.name());
            continue;
        };
        let (mut ok_full, mut ok_casc, mut agree, mut second, mut n) = (0usize, 0usize, 0usize, 0usize, 0usize);
        let (mut ta_full, mut ta_casc, mut fa_full, mut fa_casc, mut ng, mut ni) = (0, 0, 0, 0, 0, 0);
        let mut touched = vec![false; faces.len()];
        for p in pairs {
            n += 1;
            let (full, casc) = match (complete(p.a), complete(p.b)) {
                (Some(fa), Some(fb)) => {
                    let sf = fa.full.similarity(&fb.full)?;
                    let full = sf >= t;
                    let frontal = bands.pose_ok(fa.yaw) && bands.pose_ok(fb.yaw);
                    let d = if frontal {
                        bands.decide_pair(fa.first.as_ref().map_or(Ok(0.0), |x| fb.first.as_ref().map_or(Ok(0.0), |y| x.similarity(y)))?)
                    } else {
                        None
                    };
                    let casc = d.unwrap_or_else(|| {
                        second += 1;
                        touched[p.a] = true;
                        touched[p.b] = true;
                        full
                    });
                    (full, casc)
                }
                // A pair with an undetected face is "different" for both.
                _ => (false, false),
            };
            ok_full += usize::from(full == p.same);
            ok_casc += usize::from(casc == p.same);
            agree += usize::from(full == casc);
            if p.same {
                ng += 1;
                ta_full += usize::from(full);
                ta_casc += usize::from(casc);
            } else {
                ni += 1;
                fa_full += usize::from(full);
                fa_casc += usize::from(casc);
            }
        }
        let pct = |a: usize, b: usize| a as f64 / b.max(1) as f64 * 100.0;
        let frac = second as f64 / n.max(1) as f64;
        let images = touched.iter().filter(|&&x| x).count();
        let with_face = faces.iter().filter(|f| f.is_some()).count();
        println!(
            "cascade {:<13} (lo {:.4}, hi {:.4}, fused t {t:.4}): accuracy {:.2}% (fusion {:.2}%), TAR {:.2}% (fusion {:.2}%), FMR {:.2}% (fusion {:.2}%), same decision on {:.2}% of pairs",
            op.name(),
            bands.lo,
            bands.hi,
            pct(ok_casc, n),
            pct(ok_full, n),
            pct(ta_casc, ng),
            pct(ta_full, ng),
            pct(fa_casc, ni),
            pct(fa_full, ni),
            pct(agree, n)
        );
        println!(
            "cascade {:<13} second network for {:.2}% of faces (pairs), {} of {} images; mean embedding cost per face {:.1} ms against {:.1} ms for the full fusion",
            op.name(),
            frac * 100.0,
            images,
            with_face,
            m1 + frac * mr,
            m1 + mr
        );
        if ok_casc < ok_full {
            no_worse = false;
        }
    }
    Ok(no_worse)
}
