//! Cascade recognition in the evaluations: per-image partial and full embeddings (cached
//! on disk), `facecore calibrate --cascade` (the bands of facecore/src/cascade.tsv) and the
//! cascade figures of `facecore eval lfw`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use facecore::cascade::{Band, CascadeBands, CascadeMode};
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
    /// The cascade's second pass (every branch unmirrored, in the fused space).
    pub second: Option<Embedding>,
    /// Time of the first pass, ms (0 without a cascade).
    pub ms_first: f32,
    /// Time of the second pass on top of the first (SFace unmirrored), ms.
    pub ms_second: f32,
    /// Time of the rest of the full embedding (everything for a recognizer without a cascade), ms.
    pub ms_rest: f32,
}

/// The branch a fused recognizer's cascade runs first: the dlib ResNet (one small network).
pub fn first_branch(rec: &Recognizer) -> Option<usize> {
    (rec.branches() > 1).then(|| rec.branch_of_space(EmbedModel::DlibResnet.id())).flatten()
}

/// Embeds one detected face: the three cascade stages, each timed, or the plain embedding.
pub fn embed_face(rec: &Recognizer, img: &facecore::Image, face: &facecore::Face) -> facecore::Result<FaceData> {
    let yaw = facecore::Quality::pose(&face.landmarks).0;
    let t0 = std::time::Instant::now();
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f32() * 1e3;
    match first_branch(rec) {
        Some(b) => {
            let first = rec.embed_first(img, face, b)?;
            let ms_first = ms(t0);
            let t1 = std::time::Instant::now();
            let second = rec.embed_second(img, face, &first)?;
            let ms_second = ms(t1);
            let t2 = std::time::Instant::now();
            let full = rec.embed_rest(img, face, &second)?;
            let ms_rest = ms(t2);
            Ok(FaceData {
                yaw,
                full,
                first: Some(first.embedding().clone()),
                second: Some(second.embedding().clone()),
                ms_first,
                ms_second,
                ms_rest,
            })
        }
        None => {
            let full = rec.embed(img, face)?;
            Ok(FaceData { yaw, full, first: None, second: None, ms_first: 0.0, ms_second: 0.0, ms_rest: ms(t0) })
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

const CACHE_HEADER: &str =
    "# facecore eval cache v2: file, yaw, ms_first, ms_second, ms_rest, first, second (comma separated or -), full; or file, -";

fn floats(v: &[f32]) -> String {
    v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",")
}

fn parse_floats(s: &str) -> Option<Vec<f32>> {
    s.split(',').map(|x| x.parse().ok()).collect()
}

/// Reads a cache: relative file -> face (None: no face found). A cache of another version
/// reads as empty (everything is embedded again).
pub fn read_cache(path: &Path, rec: &Recognizer) -> HashMap<PathBuf, Option<FaceData>> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    if text.lines().next() != Some(CACHE_HEADER) {
        return out;
    }
    let cascade = first_branch(rec).is_some();
    let part = |v: &str, space: &str| -> Option<Option<Embedding>> {
        match (v, cascade) {
            ("-", false) => Some(None),
            (v, true) => Some(Some(Embedding::new(space, parse_floats(v)?).ok()?)),
            _ => None,
        }
    };
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        let entry = match f.as_slice() {
            [file, "-"] => Some((file, None)),
            [file, yaw, ms_first, ms_second, ms_rest, first, second, full] => (|| {
                let d = FaceData {
                    yaw: yaw.parse().ok()?,
                    full: Embedding::new(rec.space(), parse_floats(full)?).ok()?,
                    first: part(first, EmbedModel::DlibResnet.id())?,
                    second: part(second, rec.space())?,
                    ms_first: ms_first.parse().ok()?,
                    ms_second: ms_second.parse().ok()?,
                    ms_rest: ms_rest.parse().ok()?,
                };
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
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                file.display(),
                d.yaw,
                d.ms_first,
                d.ms_second,
                d.ms_rest,
                d.first.as_ref().map_or("-".to_string(), |e| floats(e.as_slice())),
                d.second.as_ref().map_or("-".to_string(), |e| floats(e.as_slice())),
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

/// One scored pair: the first and second stages' scores, the fused score, genuine, whether
/// both faces are within the pose bound.
#[derive(Clone, Copy)]
struct Scored {
    s: [f32; 2],
    sf: f32,
    genuine: bool,
    frontal: bool,
}

/// One stage's chosen band and its figures on the calibration pairs.
#[derive(Clone, Copy)]
struct Choice {
    lo: f32,
    hi: f32,
    flips: usize,
    /// Balanced (genuine and impostor weighted equally) fraction of all pairs that go past
    /// this stage (in its band, undecided before it, or over the pose bound).
    past: f64,
}

/// The band of stage `k` over the pairs still undecided (`open`), sending the fewest pairs
/// on, with at most `budget` of them decided differently from the fusion at threshold `t`:
/// `lo` admits `j` fusion-accepted pairs below it, `hi` admits `budget - j` fusion-rejected
/// pairs at or above it, for the best `j`.
fn choose_band(pairs: &[Scored], open: &[bool], k: usize, t: f32, budget: usize) -> Choice {
    let cand = || pairs.iter().zip(open).filter(|(p, o)| **o && p.frontal).map(|(p, _)| p);
    let mut acc: Vec<f32> = cand().filter(|p| p.sf >= t).map(|p| p.s[k]).collect();
    let mut rej: Vec<f32> = cand().filter(|p| p.sf < t).map(|p| p.s[k]).collect();
    acc.sort_by(f32::total_cmp);
    rej.sort_by(|a, b| b.total_cmp(a));
    let (ng, ni) = (pairs.iter().filter(|p| p.genuine).count().max(1) as f64, pairs.iter().filter(|p| !p.genuine).count().max(1) as f64);
    let mut best: Option<Choice> = None;
    for j in 0..=budget {
        // lo: exactly j accepted pairs strictly below (ties move lo down).
        let lo = acc.get(j).copied().unwrap_or(f32::INFINITY);
        let hi = rej.get(budget - j).map_or(f32::NEG_INFINITY, |&s| next_up(s));
        let hi = hi.max(lo);
        let flips = cand().filter(|p| (p.s[k] < lo && p.sf >= t) || (p.s[k] >= hi && p.sf < t)).count();
        let (mut g, mut i) = (0usize, 0usize);
        for (p, o) in pairs.iter().zip(open) {
            if *o && (!p.frontal || (p.s[k] >= lo && p.s[k] < hi)) {
                if p.genuine { g += 1 } else { i += 1 }
            }
        }
        let past = (g as f64 / ng + i as f64 / ni) / 2.0;
        if flips <= budget && best.as_ref().is_none_or(|b| past < b.past) {
            best = Some(Choice { lo, hi, flips, past });
        }
    }
    best.unwrap_or(Choice { lo: f32::NEG_INFINITY, hi: f32::INFINITY, flips: 0, past: 1.0 })
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

/// Flips allowed over both stages: 0.1% of the pairs the fusion accepts (so the accepted sets
/// agree to 99.9%, far stricter than 99.9% of all pairs, which are nearly all easy impostors).
/// The first stage gets half, the second what the first left.
fn budget(pairs: &[Scored], t: f32) -> usize {
    pairs.iter().filter(|p| p.sf >= t).count() / 1000
}

/// Both stages' bands: the first on every pair, the second on the pairs the first left open.
fn choose_bands(pairs: &[Scored], t: f32) -> [Choice; 2] {
    let total = budget(pairs, t);
    let all = vec![true; pairs.len()];
    let first = choose_band(pairs, &all, 0, t, total / 2);
    let open: Vec<bool> = pairs.iter().map(|p| !p.frontal || (p.s[0] >= first.lo && p.s[0] < first.hi)).collect();
    let second = choose_band(pairs, &open, 1, t, total - first.flips);
    [first, second]
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
    let idx: Vec<usize> =
        (0..files.len()).filter(|&i| faces[i].as_ref().is_some_and(|f| f.first.is_some() && f.second.is_some())).collect();
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
    let second = |i: usize| get(i).second.as_ref().unwrap_or_else(|| unreachable!());
    // Verify: unordered pairs, both partial. Identify: ordered pairs, the probe's partial
    // embedding against the template (its first branch's part at the first stage).
    let mut verify = Vec::with_capacity(idx.len() * idx.len() / 2);
    let mut ident = Vec::with_capacity(idx.len() * idx.len());
    for (a, &i) in idx.iter().enumerate() {
        for &j in &idx[a + 1..] {
            let genuine = people[i] == people[j];
            let sf = get(i).full.similarity(&get(j).full)?;
            let s = [first(i).similarity(first(j))?, second(i).similarity(second(j))?];
            verify.push(Scored { s, sf, genuine, frontal: frontal(i) && frontal(j) });
            for (p, g) in [(i, j), (j, i)] {
                let s = [part_score(rec, branch, first(p), &get(g).full), dot(second(p).as_slice(), get(g).full.as_slice())];
                ident.push(Scored { s, sf, genuine, frontal: frontal(p) });
            }
        }
    }
    let ng = verify.iter().filter(|p| p.genuine).count();
    println!("  {} genuine, {} impostor pairs", ng, verify.len() - ng);
    let mut rows = Vec::new();
    for op in OperatingPoint::ALL {
        let t = op.threshold(&space)?;
        for (mode, pairs) in [(CascadeMode::Verify, &verify), (CascadeMode::Identify, &ident)] {
            let c = choose_bands(pairs, t);
            let n = pairs.len() as f64;
            let mut bands = [Band { lo: c[0].lo, hi: c[0].hi, margin: 0.0 }, Band { lo: c[1].lo, hi: c[1].hi, margin: 0.0 }];
            let (gen_agree, imp_fa_full, imp_fa_casc) = agreement(pairs, &bands, t);
            let mut ident_note = String::new();
            if mode == CascadeMode::Identify {
                let (m, note) = calibrate_margin(rec, branch, &idx, people, faces, &bands, t, max_yaw)?;
                bands = m;
                ident_note = note;
            }
            let flips = c[0].flips + c[1].flips;
            println!(
                "  {:<8} {:<13} t={t:.4}: first lo={:.4} hi={:.4}{}, second lo={:.4} hi={:.4}{} | flips {flips} (budget {}) = {:.5}% of all pairs; genuine agree {:.3}%; impostors accepted {} (fusion {}); past the first stage {:.2}%, past the second {:.2}% of a balanced set{ident_note}",
                mode.name(),
                op.name(),
                c[0].lo,
                c[0].hi,
                if mode == CascadeMode::Identify { format!(" margin={:.3}", bands[0].margin) } else { String::new() },
                c[1].lo,
                c[1].hi,
                if mode == CascadeMode::Identify { format!(" margin={:.3}", bands[1].margin) } else { String::new() },
                budget(pairs, t),
                flips as f64 / n * 100.0,
                gen_agree * 100.0,
                imp_fa_casc,
                imp_fa_full,
                c[0].past * 100.0,
                c[1].past * 100.0,
            );
            rows.push(format!(
                "{space}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{:.3}\t{:.4}\t{:.4}\t{:.3}\t{max_yaw:.1}\t{flips}\t{}\t{:.6}\t{:.4}\t{:.4}",
                mode.name(),
                op.name(),
                EmbedModel::DlibResnet.id(),
                floor4(c[0].lo),
                ceil4(c[0].hi),
                bands[0].margin,
                floor4(c[1].lo),
                ceil4(c[1].hi),
                bands[1].margin,
                pairs.len(),
                1.0 - flips as f64 / n,
                c[0].past,
                c[1].past
            ));
        }
    }
    if let Some(out) = out {
        let mut text = String::from(
            "# space\tmode\top\tfirst\tlo\thi\tmargin\tlo2\thi2\tmargin2\tmax_yaw\tflips\tpairs\tagreement\tpast_first_balanced\tpast_second_balanced\n",
        );
        text.push_str(&format!("# written by: {command}\n"));
        text.push_str("# lo/hi: reject below lo, accept at or above hi (first stage: the first network's cosine; lo2/hi2: the second stage's unmirrored fused score); flips: calibration pairs the cascade decides unlike the fusion (budget 0.1% of the pairs the fusion accepts); past_*_balanced: share of pairs sent on by that stage (in its band, or over max_yaw), genuine and impostor weighted equally\n");
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

/// A pair's decision through the stages (the fusion's past them, or for a turned face), and
/// the stage that decided (0, 1; 2 for the fusion).
fn decide_pair(bands: &[Band; 2], frontal: bool, s: [f32; 2], full: bool) -> (bool, usize) {
    if frontal {
        for (k, b) in bands.iter().enumerate() {
            if let Some(d) = b.decide_pair(s[k]) {
                return (d, k);
            }
        }
    }
    (full, 2)
}

/// Genuine agreement, impostors accepted by the fusion and by the cascade.
fn agreement(pairs: &[Scored], bands: &[Band; 2], t: f32) -> (f64, usize, usize) {
    let decide = |p: &Scored| decide_pair(bands, p.frontal, p.s, p.sf >= t).0;
    let g: Vec<&Scored> = pairs.iter().filter(|p| p.genuine).collect();
    let agree = g.iter().filter(|p| decide(p) == (p.sf >= t)).count() as f64 / g.len().max(1) as f64;
    let fa_full = pairs.iter().filter(|p| !p.genuine && p.sf >= t).count();
    let fa_casc = pairs.iter().filter(|p| !p.genuine && decide(p)).count();
    (agree, fa_full, fa_casc)
}

/// The identify margins: each calibration face as a probe against a gallery of every other
/// face (best template per person). For each stage in turn, the smallest margin (in steps of
/// 0.005) that adds no disagreement with the fusion over the rule "second best below lo".
#[allow(clippy::too_many_arguments)]
fn calibrate_margin(
    rec: &Recognizer,
    branch: usize,
    idx: &[usize],
    people: &[String],
    faces: &[Option<FaceData>],
    bands: &[Band; 2],
    t: f32,
    max_yaw: f32,
) -> AnyResult<([Band; 2], String)> {
    let get = |i: usize| faces[i].as_ref().unwrap_or_else(|| unreachable!());
    let names: Vec<&String> = {
        let mut v: Vec<&String> = idx.iter().map(|&i| &people[i]).collect();
        v.sort();
        v.dedup();
        v
    };
    let pid: HashMap<&String, usize> = names.iter().enumerate().map(|(k, n)| (*n, k)).collect();
    // Per probe and stage: best score, second-best person's, best person; the fusion's best
    // person and score; frontal.
    struct Probe {
        best: [(f32, Option<f32>, usize); 2],
        pf: usize,
        bf: f32,
        frontal: bool,
    }
    let top2 = |v: &[f32]| -> (f32, Option<f32>, usize) {
        let (p, b) = v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (k, &s)| if s > b.1 { (k, s) } else { b });
        let s2 =
            v.iter().enumerate().filter(|(k, _)| *k != p).map(|(_, &s)| s).fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
        (b, s2, p)
    };
    let mut probes = Vec::with_capacity(idx.len());
    for &i in idx {
        let mut s = [vec![f32::NEG_INFINITY; names.len()], vec![f32::NEG_INFINITY; names.len()]];
        let mut sf = vec![f32::NEG_INFINITY; names.len()];
        let (first, second) =
            (get(i).first.as_ref().unwrap_or_else(|| unreachable!()), get(i).second.as_ref().unwrap_or_else(|| unreachable!()));
        for &j in idx.iter().filter(|&&j| j != i) {
            let p = pid[&people[j]];
            s[0][p] = s[0][p].max(part_score(rec, branch, first, &get(j).full));
            s[1][p] = s[1][p].max(dot(second.as_slice(), get(j).full.as_slice()));
            sf[p] = sf[p].max(get(i).full.similarity(&get(j).full)?);
        }
        let (bf, _, pf) = top2(&sf);
        probes.push(Probe { best: [top2(&s[0]), top2(&s[1])], pf, bf, frontal: get(i).yaw.abs() <= max_yaw });
    }
    let full_decision = |p: &Probe| (p.bf >= t).then_some(p.pf);
    // Flips against the fusion, probes past the first stage, past the second.
    let run = |bands: &[Band; 2]| -> (usize, usize, usize) {
        let (mut flips, mut past) = (0, [0, 0]);
        for p in &probes {
            let mut cascade = None;
            if p.frontal {
                for (k, b) in bands.iter().enumerate() {
                    let (best, second, person) = p.best[k];
                    if let Some(d) = b.decide_search(Some(best), second) {
                        cascade = Some(d.then_some(person));
                        break;
                    }
                    past[k] += 1;
                }
            } else {
                past = [past[0] + 1, past[1] + 1];
            }
            if cascade.unwrap_or_else(|| full_decision(p)) != full_decision(p) {
                flips += 1;
            }
        }
        (flips, past[0], past[1])
    };
    let mut b = *bands;
    for k in 0..2 {
        b[k].margin = f32::INFINITY;
        let (base_flips, _, _) = run(&b);
        b[k].margin = 0.0;
        while b[k].margin < 1.0 && run(&b).0 > base_flips {
            b[k].margin += 0.005;
        }
    }
    let (flips, past1, past2) = run(&b);
    let known = probes.iter().filter(|p| full_decision(p).is_some()).count();
    let pct = |x: usize| x as f64 / probes.len().max(1) as f64 * 100.0;
    Ok((
        b,
        format!(
            "\n           gallery of every other face ({} probes, {} named by the fusion): {flips} decided differently, past the first stage {:.2}%, past the second {:.2}% of probes",
            probes.len(),
            known,
            pct(past1),
            pct(past2)
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
    let complete = |i: usize| faces[i].as_ref().filter(|f| f.first.is_some() && f.second.is_some());
    let mean = |f: &dyn Fn(&FaceData) -> f32| {
        let v: Vec<f64> = faces.iter().flatten().map(|d| f64::from(f(d))).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (m1, m2, m3) = (mean(&|d| d.ms_first), mean(&|d| d.ms_second), mean(&|d| d.ms_rest));
    println!(
        "cascade: per face, first stage (dlib ResNet, unmirrored) {m1:.1} ms, second (SFace, unmirrored) {m2:.1} ms, the rest of the fusion (both mirrored chips) {m3:.1} ms, full fusion {:.1} ms (means over {} faces)",
        m1 + m2 + m3,
        faces.iter().flatten().count()
    );
    for op in OperatingPoint::ALL {
        let t = op.threshold(space)?;
        let Some(bands) = CascadeBands::lookup(space, CascadeMode::Verify, op) else {
            println!("cascade {}: no bands for {space}", op.name());
            continue;
        };
        // Without a second band every pair the first stage leaves open gets the fusion.
        let stages = [bands.first_band, bands.second_band.unwrap_or(Band { lo: f32::NEG_INFINITY, hi: f32::INFINITY, margin: 0.0 })];
        let (mut ok_full, mut ok_casc, mut agree, mut n) = (0usize, 0usize, 0usize, 0usize);
        let (mut ta_full, mut ta_casc, mut fa_full, mut fa_casc, mut ng, mut ni) = (0, 0, 0, 0, 0, 0);
        // Per image: the furthest stage any of its pairs needed (0: first only).
        let mut reached = vec![0usize; faces.len()];
        let mut pairs_past = [0usize; 2];
        for p in pairs {
            n += 1;
            let (full, casc) = match (complete(p.a), complete(p.b)) {
                (Some(fa), Some(fb)) => {
                    let sim = |x: &Option<Embedding>, y: &Option<Embedding>| match (x, y) {
                        (Some(x), Some(y)) => x.similarity(y),
                        _ => Ok(0.0),
                    };
                    let full = fa.full.similarity(&fb.full)? >= t;
                    let frontal = bands.pose_ok(fa.yaw) && bands.pose_ok(fb.yaw);
                    let s = [sim(&fa.first, &fb.first)?, sim(&fa.second, &fb.second)?];
                    let (casc, stage) = decide_pair(&stages, frontal, s, full);
                    for (k, past) in pairs_past.iter_mut().enumerate() {
                        *past += usize::from(stage > k);
                    }
                    reached[p.a] = reached[p.a].max(stage);
                    reached[p.b] = reached[p.b].max(stage);
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
        let (f2, f3) = (pairs_past[0] as f64 / n.max(1) as f64, pairs_past[1] as f64 / n.max(1) as f64);
        let with_face = faces.iter().filter(|f| f.is_some()).count();
        let images = |k: usize| reached.iter().zip(faces).filter(|(r, f)| f.is_some() && **r >= k).count();
        println!(
            "cascade {:<13} (first [{:.4}, {:.4}), second [{:.4}, {:.4}), fused t {t:.4}): accuracy {:.2}% (fusion {:.2}%), TAR {:.2}% (fusion {:.2}%), FMR {:.2}% (fusion {:.2}%), same decision on {:.2}% of pairs",
            op.name(),
            stages[0].lo,
            stages[0].hi,
            stages[1].lo,
            stages[1].hi,
            pct(ok_casc, n),
            pct(ok_full, n),
            pct(ta_casc, ng),
            pct(ta_full, ng),
            pct(fa_casc, ni),
            pct(fa_full, ni),
            pct(agree, n)
        );
        println!(
            "cascade {:<13} faces needing the second network (SFace): {:.2}% (pairs; {} of {} images), the mirrored chips: {:.2}% ({} images); mean embedding cost per face {:.1} ms against {:.1} ms for the full fusion",
            op.name(),
            f2 * 100.0,
            images(1),
            with_face,
            f3 * 100.0,
            images(2),
            m1 + f2 * m2 + f3 * m3,
            m1 + m2 + m3
        );
        if ok_casc < ok_full {
            no_worse = false;
        }
    }
    Ok(no_worse)
}
