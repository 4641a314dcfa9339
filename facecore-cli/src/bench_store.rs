//! `facecore bench-store`: identify latency and accuracy of the gallery stores at 10k to 1M
//! people: the file gallery's flat scan, PostgreSQL's exact scan and its HNSW index.
//!
//! Probes are real: the `fast` preset's dlib ResNet embeddings of lfw-dev, the first photo of
//! every person enrolled, the second photo of each person who has one used as a probe.
//! Distractors are synthetic, drawn to match the real embeddings' statistics: a Gaussian with
//! the enrolled real embeddings' mean and full covariance (x = mean + L z, L the Cholesky
//! factor, z standard normal), renormalised to unit length. The real embeddings are cached
//! in `--cache` (computing them runs the networks on every lfw-dev photo).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use facecore::{Detector, DetectorConfig, Embedding, Gallery, Image, Match, Preset, Recognizer};

use crate::AnyResult;

#[derive(Args)]
pub struct BenchStoreArgs {
    /// lfw-dev: a directory of per-person folders of photos (lfw-deepfunneled inside it is used
    /// when present).
    #[arg(long)]
    root: PathBuf,
    /// Gallery sizes (people), comma separated.
    #[arg(long, default_value = "10000,100000,1000000", value_delimiter = ',')]
    sizes: Vec<usize>,
    /// A PostgreSQL server with pgvector (`scripts/pg-test-server.sh start`); the database
    /// `facecore_bench` is created on it anew (dropped first). Without it only the file
    /// gallery is measured.
    #[arg(long)]
    pg: Option<String>,
    /// hnsw.ef_search values measured at each size.
    #[arg(long, default_value = "40,100,200", value_delimiter = ',')]
    ef_search: Vec<u32>,
    /// Probes timed on PostgreSQL's exact scan (slow at 1M; accuracy uses the file gallery's
    /// exact answers for every probe).
    #[arg(long, default_value_t = 50)]
    exact_probes: usize,
    /// Build and measure the HNSW index only at sizes up to this many people (the build
    /// takes minutes per 100k people on 2 cores).
    #[arg(long, default_value_t = usize::MAX)]
    hnsw_up_to: usize,
    /// Where the real embeddings are cached.
    #[arg(long, default_value = "target/bench-store")]
    cache: PathBuf,
    /// Threads for computing the embeddings.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// One real photo's embedding: the person and whether it is their enrolled photo.
struct Real {
    person: String,
    enrolled: bool,
    embedding: Embedding,
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|l| l.strip_prefix("model name")).map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let flags: Vec<&str> = info.lines().find_map(|l| l.strip_prefix("flags")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    let has = |f: &str| if flags.contains(&f) { format!("{f}: yes") } else { format!("{f}: no") };
    format!(
        "{}, {} logical CPUs, {}, {}",
        model.unwrap_or_else(|| "unknown CPU".into()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        has("avx2"),
        has("avx512f")
    )
}

/// The real embeddings, from the cache or computed (and cached).
fn real_embeddings(a: &BenchStoreArgs) -> AnyResult<Vec<Real>> {
    let root = if a.root.join("lfw-deepfunneled").is_dir() { a.root.join("lfw-deepfunneled") } else { a.root.clone() };
    let cache = a.cache.join("lfw-dev-fast.tsv");
    if let Ok(text) = std::fs::read_to_string(&cache) {
        let mut out = Vec::new();
        let mut lines = text.lines();
        let space = lines.next().and_then(|l| l.strip_prefix("space\t")).ok_or_else(|| format!("{}: no space line", cache.display()))?;
        for line in lines {
            let mut f = line.split('\t');
            let (Some(person), Some(kind), Some(values)) = (f.next(), f.next(), f.next()) else {
                return Err(format!("{}: bad line", cache.display()).into());
            };
            let v = values.split(',').map(|x| u32::from_str_radix(x, 16).map(f32::from_bits)).collect::<Result<Vec<_>, _>>()?;
            out.push(Real { person: person.into(), enrolled: kind == "enrolled", embedding: Embedding::new(space, v)? });
        }
        println!("real embeddings: {} from {}", out.len(), cache.display());
        return Ok(out);
    }
    // The first two photos (sorted) of every person: the first enrolled, the second a probe.
    let mut jobs: Vec<(String, bool, PathBuf)> = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        let person = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let photos = crate::expand_inputs(std::slice::from_ref(&d))?;
        for (i, p) in photos.into_iter().take(2).enumerate() {
            jobs.push((person.clone(), i == 0, p));
        }
    }
    let det = Detector::bundled(DetectorConfig { score_threshold: 0.3, ..Default::default() })?;
    let rec = Recognizer::from_preset(Preset::Fast)?;
    let t = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..a.threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((person, enrolled, path)) = jobs.get(i) else { return };
                    let r = (|| -> facecore::Result<Option<Embedding>> {
                        let img = Image::open(path)?;
                        let (cx, cy) = (img.width() as f32 / 2.0, img.height() as f32 / 2.0);
                        let d = |f: &facecore::Face| {
                            (f.bbox.x + f.bbox.width / 2.0 - cx).powi(2) + (f.bbox.y + f.bbox.height / 2.0 - cy).powi(2)
                        };
                        let best = det.detect(&img)?.into_iter().min_by(|a, b| d(a).total_cmp(&d(b)));
                        best.map(|f| rec.embed(&img, &f)).transpose()
                    })();
                    match r {
                        Ok(Some(e)) => {
                            if let Ok(mut v) = done.lock() {
                                v.push((i, Real { person: person.clone(), enrolled: *enrolled, embedding: e }));
                            }
                        }
                        Ok(None) => eprintln!("bench-store: no face in {}", path.display()),
                        Err(e) => eprintln!("bench-store: {}: {e}", path.display()),
                    }
                }
            });
        }
    });
    let mut done = done.into_inner().map_err(|_| "worker panicked")?;
    done.sort_by_key(|(i, _)| *i);
    let out: Vec<Real> = done.into_iter().map(|(_, r)| r).collect();
    println!("real embeddings: {} photos of lfw-dev embedded with the fast preset in {:.1} s", out.len(), t.elapsed().as_secs_f64());
    std::fs::create_dir_all(&a.cache)?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&cache)?);
    writeln!(f, "space\t{}", rec.space())?;
    for r in &out {
        let v: Vec<String> = r.embedding.as_slice().iter().map(|x| format!("{:08x}", x.to_bits())).collect();
        writeln!(f, "{}\t{}\t{}", r.person, if r.enrolled { "enrolled" } else { "probe" }, v.join(","))?;
    }
    f.flush()?;
    Ok(out)
}

/// SplitMix64 and Box-Muller: standard normal numbers, reproducible.
struct Normal(u64, Option<f64>);

impl Normal {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn sample(&mut self) -> f64 {
        if let Some(v) = self.1.take() {
            return v;
        }
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        self.1 = Some(r * t.sin());
        r * t.cos()
    }
}

/// Mean and lower Cholesky factor of the covariance of `rows`.
fn gaussian_fit(rows: &[&[f32]]) -> AnyResult<(Vec<f64>, Vec<f64>)> {
    let d = rows.first().map_or(0, |r| r.len());
    let n = rows.len() as f64;
    let mut mean = vec![0.0; d];
    for r in rows {
        for (m, &x) in mean.iter_mut().zip(*r) {
            *m += f64::from(x) / n;
        }
    }
    let mut cov = vec![0.0; d * d];
    for r in rows {
        for i in 0..d {
            let xi = f64::from(r[i]) - mean[i];
            for j in 0..=i {
                cov[i * d + j] += xi * (f64::from(r[j]) - mean[j]) / (n - 1.0);
            }
        }
    }
    // Cholesky, with a small ridge for rank deficiency.
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = cov[i * d + j] + if i == j { 1e-9 } else { 0.0 };
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 {
                    return Err("covariance is not positive definite".into());
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Ok((mean, l))
}

fn draw(rng: &mut Normal, mean: &[f64], l: &[f64], space: &str) -> facecore::Result<Embedding> {
    let d = mean.len();
    let z: Vec<f64> = (0..d).map(|_| rng.sample()).collect();
    let v = (0..d).map(|i| (mean[i] + (0..=i).map(|k| l[i * d + k] * z[k]).sum::<f64>()) as f32).collect();
    Embedding::new(space, v)
}

/// Latency percentiles in ms.
fn pct(mut t: Vec<Duration>) -> (f64, f64) {
    t.sort();
    let at = |q: f64| t.get(((t.len() as f64 - 1.0) * q).round() as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    (at(0.5), at(0.99))
}

/// Accuracy of answers: the true person at rank 1 and in the top 5, and agreement with the
/// exact answers (top-1 the same; recall@5: the share of the exact top 5 found).
#[derive(Default)]
struct Score {
    hit1: usize,
    hit5: usize,
    same1: usize,
    recall5: usize,
    n: usize,
}

impl Score {
    fn add(&mut self, truth: &str, got: &[Match], exact: &[Match]) {
        self.n += 1;
        self.hit1 += usize::from(got.first().is_some_and(|m| m.name == truth));
        self.hit5 += usize::from(got.iter().take(5).any(|m| m.name == truth));
        self.same1 += usize::from(got.first().map(|m| m.id) == exact.first().map(|m| m.id));
        self.recall5 += exact.iter().take(5).filter(|e| got.iter().take(5).any(|m| m.id == e.id)).count();
    }
    fn line(&self) -> String {
        let p = |x: usize, of: usize| 100.0 * x as f64 / of.max(1) as f64;
        format!(
            "hit@1 {:.2}%  hit@5 {:.2}%  top-1 = exact {:.2}%  recall@5 vs exact {:.2}%",
            p(self.hit1, self.n),
            p(self.hit5, self.n),
            p(self.same1, self.n),
            p(self.recall5, self.n * 5)
        )
    }
}

pub fn run(a: &BenchStoreArgs) -> AnyResult {
    println!("CPU: {}", cpu());
    let real = real_embeddings(a)?;
    let enrolled: Vec<&Real> = real.iter().filter(|r| r.enrolled).collect();
    let enrolled_names: std::collections::HashSet<&str> = enrolled.iter().map(|r| r.person.as_str()).collect();
    let probes: Vec<&Real> = real.iter().filter(|r| !r.enrolled && enrolled_names.contains(r.person.as_str())).collect();
    let space = real.first().map(|r| r.embedding.model().to_string()).ok_or("no real embeddings")?;
    let space = space.as_str();
    let dim = enrolled.first().map_or(0, |r| r.embedding.dim());
    println!("{} real people enrolled (first photo), {} probes (their second photo), {dim}-d, space {space}", enrolled.len(), probes.len());
    let (mean, l) = gaussian_fit(&enrolled.iter().map(|r| r.embedding.as_slice()).collect::<Vec<_>>())?;
    // How alike the distractors are to the real faces: impostor cosines, real against real
    // and synthetic against real.
    let mut rng = Normal(42, None);
    let synth: Vec<Embedding> = (0..2000).map(|_| draw(&mut rng, &mean, &l, space)).collect::<facecore::Result<_>>()?;
    let stats = |xs: Vec<f32>| {
        let n = xs.len() as f64;
        let m = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let sd = (xs.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n).sqrt();
        (m, sd)
    };
    let rr = stats(
        (0..enrolled.len())
            .flat_map(|i| (i + 1..enrolled.len()).step_by(7).map(move |j| (i, j)))
            .filter_map(|(i, j)| enrolled[i].embedding.similarity(&enrolled[j].embedding).ok())
            .collect(),
    );
    let sr = stats(
        synth
            .iter()
            .enumerate()
            .flat_map(|(i, s)| enrolled.iter().skip(i % 7).step_by(7).filter_map(move |r| s.similarity(&r.embedding).ok()))
            .collect(),
    );
    println!(
        "distractors: N(mean, covariance of the {} enrolled real embeddings), renormalised; impostor cosine real-real {:.3} ± {:.3}, synthetic-real {:.3} ± {:.3}",
        enrolled.len(),
        rr.0,
        rr.1,
        sr.0,
        sr.1
    );
    let mut sizes = a.sizes.clone();
    sizes.sort_unstable();
    let mut rng = Normal(7, None);
    let mut gallery = Gallery::new();
    for r in &enrolled {
        gallery.enroll(&r.person, &r.embedding)?;
    }
    #[cfg(feature = "postgres")]
    let pg = match &a.pg {
        Some(url) => Some(pg::Bench::new(url, &enrolled)?),
        None => None,
    };
    #[cfg(not(feature = "postgres"))]
    if a.pg.is_some() {
        return Err("--pg needs facecore-cli built with --features postgres".into());
    }
    let mut added = 0usize;
    for &n in &sizes {
        let want = n.saturating_sub(enrolled.len());
        let t = Instant::now();
        let mut batch: Vec<(String, Embedding)> = Vec::new();
        while added < want {
            let e = draw(&mut rng, &mean, &l, space)?;
            let name = format!("synthetic-{added:07}");
            gallery.enroll(&name, &e)?;
            batch.push((name, e));
            added += 1;
            if batch.len() == 100_000 || added == want {
                #[cfg(feature = "postgres")]
                if let Some(pg) = &pg {
                    pg.load(&batch)?;
                }
                batch.clear();
            }
        }
        println!(
            "\n== {} people ({} real + {} synthetic); distractors drawn and loaded in {:.1} s",
            gallery.len(),
            enrolled.len(),
            added,
            t.elapsed().as_secs_f64()
        );
        // The file gallery: exact flat scan, the ground truth.
        let mut times = Vec::new();
        let mut exact: Vec<Vec<Match>> = Vec::new();
        let mut score = Score::default();
        for p in &probes {
            let t = Instant::now();
            let top = gallery.search(&p.embedding, 5)?;
            times.push(t.elapsed());
            score.add(&p.person, &top, &top);
            exact.push(top);
        }
        let (p50, p99) = pct(times);
        println!("file gallery, flat scan      p50 {p50:8.3} ms  p99 {p99:8.3} ms  {}", score.line());
        #[cfg(feature = "postgres")]
        if let Some(pg) = &pg {
            pg.measure(&probes.iter().map(|p| (p.person.as_str(), &p.embedding)).collect::<Vec<_>>(), &exact, a)?;
        }
    }
    Ok(())
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use facecore::store::postgres::{PgOptions, PgStore, SearchMode};

    pub struct Bench {
        url: String,
        store: PgStore,
    }

    impl Bench {
        pub fn new(url: &str, enrolled: &[&Real]) -> AnyResult<Self> {
            let mut admin = postgres::Client::connect(url, postgres::NoTls)?;
            admin.batch_execute("DROP DATABASE IF EXISTS facecore_bench WITH (FORCE)")?;
            admin.batch_execute("CREATE DATABASE facecore_bench")?;
            let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
            let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
            let db = format!("{root}/facecore_bench{}", query.map(|q| format!("?{q}")).unwrap_or_default());
            let store = PgStore::connect(&db)?;
            let rows: Vec<(&str, &Embedding)> = enrolled.iter().map(|r| (r.person.as_str(), &r.embedding)).collect();
            store.bulk_enroll(&rows)?;
            Ok(Bench { url: db, store })
        }

        pub fn load(&self, batch: &[(String, Embedding)]) -> AnyResult {
            self.store.drop_index()?;
            let rows: Vec<(&str, &Embedding)> = batch.iter().map(|(n, e)| (n.as_str(), e)).collect();
            self.store.bulk_enroll(&rows)?;
            Ok(())
        }

        pub fn measure(&self, probes: &[(&str, &Embedding)], exact: &[Vec<Match>], a: &BenchStoreArgs) -> AnyResult {
            let mut c = postgres::Client::connect(&self.url, postgres::NoTls)?;
            c.batch_execute("VACUUM ANALYZE facecore_templates")?;
            c.batch_execute("VACUUM ANALYZE facecore_people")?;
            let size: i64 =
                c.query_one("SELECT pg_total_relation_size('facecore_templates') + pg_total_relation_size('facecore_people')", &[])?.get(0);
            println!("postgres: tables and indexes {:.0} MB", size as f64 / 1e6);
            // Exact scan, on the first probes.
            let mut times = Vec::new();
            let mut score = Score::default();
            for (i, (truth, p)) in probes.iter().take(a.exact_probes.max(1)).enumerate() {
                let t = Instant::now();
                let top = self.store.search_with(p, 5, SearchMode::Exact)?;
                times.push(t.elapsed());
                score.add(truth, &top, &exact[i]);
            }
            let (p50, p99) = pct(times);
            println!("postgres exact scan          p50 {p50:8.3} ms  p99 {p99:8.3} ms  {} ({} probes)", score.line(), score.n);
            let people: i64 = c.query_one("SELECT count(*) FROM facecore_people", &[])?.get(0);
            if people as usize > a.hnsw_up_to {
                println!("postgres HNSW: not built at this size (--hnsw-up-to {})", a.hnsw_up_to);
                return Ok(());
            }
            let t = Instant::now();
            let built = self.store.create_index()?;
            let size: i64 = c.query_one("SELECT pg_relation_size('facecore_templates_hnsw')", &[])?.get(0);
            println!(
                "postgres HNSW build (m {}, ef_construction {}): {:.1} s, index {:.0} MB",
                self.store.options().m,
                self.store.options().ef_construction,
                built.as_secs_f64().max(t.elapsed().as_secs_f64()),
                size as f64 / 1e6
            );
            for &ef in &a.ef_search {
                let store = PgStore::connect_with(&self.url, PgOptions { ef_search: ef, ..PgOptions::default() })?;
                // Warm the connection and the index pages once.
                for (_, p) in probes.iter().take(20) {
                    store.search_with(p, 5, SearchMode::Index)?;
                }
                let mut times = Vec::new();
                let mut score = Score::default();
                for (i, (truth, p)) in probes.iter().enumerate() {
                    let t = Instant::now();
                    let top = store.search_with(p, 5, SearchMode::Index)?;
                    times.push(t.elapsed());
                    score.add(truth, &top, &exact[i]);
                }
                let (p50, p99) = pct(times);
                println!("postgres HNSW ef_search {ef:<4} p50 {p50:8.3} ms  p99 {p99:8.3} ms  {}", score.line());
            }
            Ok(())
        }
    }
}
