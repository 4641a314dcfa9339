//! `facecore bench-serve`: identify requests per second and latency percentiles of real
//! `facecore serve` processes, driven over HTTP/1.1 keep-alive connections.
//!
//! Each configuration starts its server processes (this executable, `serve`), enrols two
//! people, warms up, then runs `--concurrency` clients for `--seconds`, each posting the probe
//! image to `/v1/identify` in a loop (spread round-robin over the processes). Several
//! processes share one gallery only through PostgreSQL (`--pg-url` or `FACECORE_PG_URL`);
//! without it, the 2-process row is skipped with the reason and one process is measured with
//! each `--threads` value.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

type AnyResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Arguments of `facecore bench-serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Directory with obama.jpg and biden.jpg (enrolled) and the probe image.
    #[arg(long, default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
    /// The image posted to /v1/identify (a file in --fixtures, or a path).
    #[arg(long, default_value = "two_people.jpg")]
    pub probe: PathBuf,
    /// Preset of the servers.
    #[arg(long, default_value = "fast")]
    pub preset: String,
    /// Inference threads per process to measure, comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Measured seconds per configuration (after 2 s of warm-up).
    #[arg(long, default_value_t = 15.0)]
    pub seconds: f64,
    /// PostgreSQL gallery shared by 2 processes (default: $FACECORE_PG_URL).
    #[arg(long)]
    pub pg_url: Option<String>,
    /// The server executable (default: this one), run as `EXE serve ...`.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &Path, gallery: &str, preset: &str, threads: usize) -> AnyResult<Proc> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--gallery", gallery, "--preset", preset])
        .args(["--threads", &threads.to_string(), "--queue", "256"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    let addr = line.trim().rsplit("http://").next().unwrap_or("").parse().map_err(|_| format!("server did not start: {line:?}"))?;
    Ok(Proc { child, addr })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> AnyResult<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn post(sender: &mut Sender, addr: SocketAddr, path: &str, body: Bytes) -> AnyResult<u16> {
    sender.ready().await?;
    let req = Request::post(format!("http://{addr}{path}"))
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "image/jpeg")
        .body(Full::new(body))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct Row {
    /// Server processes.
    pub processes: usize,
    /// Inference threads per process.
    pub threads: usize,
    /// Requests answered 200 in the measured window.
    pub ok: usize,
    /// Other answers and failures.
    pub errors: usize,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile latency, ms.
    pub p99: f64,
}

async fn load(
    addrs: &[SocketAddr],
    probe: Bytes,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> AnyResult<(Vec<f64>, usize, f64)> {
    let t0 = Instant::now();
    let start = t0 + warmup;
    let end = start + measure;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let addr = addrs[c % addrs.len()];
        let probe = probe.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut sender = match connect(addr).await {
                Ok(s) => s,
                Err(_) => return (lat, 1),
            };
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let r = post(&mut sender, addr, "/v1/identify", probe.clone()).await.ok();
                let done = Instant::now();
                if t >= start && done <= end {
                    match r {
                        Some(200) => lat.push(done.duration_since(t).as_secs_f64() * 1e3),
                        _ => errors += 1,
                    }
                }
                if r.is_none() {
                    match connect(addr).await {
                        Ok(s) => sender = s,
                        Err(_) => return (lat, errors + 1),
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.extend(lat);
        errors += e;
    }
    Ok((all, errors, measure.as_secs_f64()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn measure(
    rt: &tokio::runtime::Runtime,
    procs: &[Proc],
    fixtures: &Path,
    probe: &Bytes,
    args: &BenchArgs,
    threads: usize,
) -> AnyResult<Row> {
    let addrs: Vec<SocketAddr> = procs.iter().map(|p| p.addr).collect();
    rt.block_on(async {
        let mut s = connect(addrs[0]).await?;
        for name in ["obama", "biden"] {
            let bytes = Bytes::from(std::fs::read(fixtures.join(format!("{name}.jpg")))?);
            let status = post(&mut s, addrs[0], &format!("/v1/people/{name}"), bytes).await?;
            if status != 201 {
                return Err(format!("enrolling {name} answered {status}").into());
            }
        }
        let (mut lat, errors, secs) =
            load(&addrs, probe.clone(), args.concurrency, Duration::from_secs(2), Duration::from_secs_f64(args.seconds)).await?;
        lat.sort_by(f64::total_cmp);
        Ok(Row {
            processes: procs.len(),
            threads,
            ok: lat.len(),
            errors,
            rps: lat.len() as f64 / secs,
            p50: percentile(&lat, 50.0),
            p99: percentile(&lat, 99.0),
        })
    })
}

/// The CPU model and its AVX2 / AVX-512F flags, from /proc/cpuinfo.
pub fn cpu_description() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| info.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string());
    let model = field("model name").unwrap_or_else(|| "unknown CPU".into());
    let flags = field("flags").unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    format!(
        "{model}, {cpus} CPUs, avx2: {}, avx512f: {}",
        if has("avx2") { "yes" } else { "no" },
        if has("avx512f") { "yes" } else { "no" }
    )
}

/// Runs the benchmark and prints a markdown table.
///
/// # Errors
/// Servers that do not start, fixtures that cannot be read, failed enrolments.
pub fn run(args: &BenchArgs) -> AnyResult {
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?,
    };
    let probe_path = if args.probe.is_absolute() || args.probe.exists() { args.probe.clone() } else { args.fixtures.join(&args.probe) };
    let probe = Bytes::from(std::fs::read(&probe_path).map_err(|e| format!("{}: {e}", probe_path.display()))?);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let pg = args.pg_url.clone().or_else(|| std::env::var("FACECORE_PG_URL").ok()).filter(|u| !u.is_empty());
    println!(
        "`facecore bench-serve`: preset {}, probe {} ({} bytes), {} client connections, {} s per row",
        args.preset,
        probe_path.display(),
        probe.len(),
        args.concurrency,
        args.seconds
    );
    println!("CPU: {}", cpu_description());
    println!();
    println!("| server processes | inference threads each | gallery | requests | identify req/s | p50 ms | p99 ms | errors |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    let tmp = std::env::temp_dir().join(format!("facecore-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    // (processes, inference threads each, on PostgreSQL)
    let mut configs: Vec<(usize, usize, bool)> = args.threads.iter().map(|t| (1, *t, false)).collect();
    if pg.is_some() {
        let most = args.threads.iter().copied().max().unwrap_or(1);
        configs.push((1, most, true));
        configs.push((2, (most / 2).max(1), true));
    }
    for (i, (processes, threads, on_pg)) in configs.into_iter().enumerate() {
        let (gallery, kind) = match &pg {
            Some(url) if on_pg => (url.clone(), "postgres"),
            _ => (tmp.join(format!("g{i}.fcg")).display().to_string(), "file"),
        };
        let procs = (0..processes).map(|_| start(&bin, &gallery, &args.preset, threads)).collect::<AnyResult<Vec<_>>>()?;
        let r = measure(&rt, &procs, &args.fixtures, &probe, args, threads)?;
        drop(procs);
        println!("| {} | {} | {kind} | {} | {:.1} | {:.1} | {:.1} | {} |", r.processes, r.threads, r.ok, r.rps, r.p50, r.p99, r.errors);
    }
    if pg.is_none() {
        println!();
        println!(
            "2 processes: skipped. A gallery file belongs to one process; processes share a gallery through PostgreSQL (set FACECORE_PG_URL)."
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
