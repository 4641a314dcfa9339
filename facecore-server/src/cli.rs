//! `facecore serve`: arguments and the process around a [`Server`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use facecore::store::{FileStore, GalleryStore};
use facecore::{FacePipeline, GalleryKey, OperatingPoint, Preset};

use crate::{ApiKeys, Options, Server};

type AnyResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Arguments of `facecore serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The gallery: a file (created if missing), or postgres://USER@HOST/DB (feature `postgres`).
    #[arg(long)]
    pub gallery: String,
    /// Key file of an encrypted gallery file (64 hex digits or 32 bytes, `facecore keygen`).
    #[arg(long)]
    pub gallery_key: Option<PathBuf>,
    /// API keys, one per line: `ID SECRET` or `SECRET`. Without it, only loopback addresses
    /// are served (see --insecure-no-auth).
    #[arg(long)]
    pub api_keys: Option<PathBuf>,
    /// accurate (default), fast, dlib, sface.
    #[arg(long, default_value = "accurate")]
    pub preset: Preset,
    /// Operating point of identify and verify: fmr1e-3 (default), fmr1e-4, best-accuracy.
    #[arg(long, default_value = "fmr1e-3")]
    pub op: OperatingPoint,
    /// Inference threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Requests that may wait for an inference thread before 429 (default: 4 per thread).
    #[arg(long)]
    pub queue: Option<usize>,
    /// Largest request body, MiB.
    #[arg(long, default_value_t = 16)]
    pub max_body_mib: usize,
    /// Largest decoded image, in pixels.
    #[arg(long, default_value_t = 40_000_000)]
    pub max_pixels: u64,
    /// Longest a request may take (queue and inference), seconds; 503 after.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Serve a non-loopback address without API keys (anyone who reaches it can enrol,
    /// remove and identify people).
    #[arg(long)]
    pub insecure_no_auth: bool,
}

/// Reads a gallery key file ([`GalleryKey::from_key_file`]).
fn read_key(path: &Path) -> AnyResult<GalleryKey> {
    Ok(GalleryKey::from_key_file(path)?)
}

/// Opens the gallery a `--gallery` value names: `postgres://` / `postgresql://` URLs go to
/// facecore's PostgreSQL store (built with the `postgres` feature), anything else is a file.
///
/// # Errors
/// The store's errors; a PostgreSQL URL in a build without PostgreSQL support.
pub fn open_store(spec: &str, key: Option<GalleryKey>) -> AnyResult<Arc<dyn GalleryStore>> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        if key.is_some() {
            return Err("--gallery-key applies to gallery files only".into());
        }
        #[cfg(feature = "postgres")]
        {
            return Ok(Arc::new(facecore::store::postgres::PgStore::connect(spec)?));
        }
        #[cfg(not(feature = "postgres"))]
        {
            return Err("this facecore was built without PostgreSQL support: rebuild with `--features postgres` (cargo install facecore-cli --features postgres)".into());
        }
    }
    Ok(Arc::new(FileStore::open(spec, key)?))
}

/// Waits for ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("facecore serve: shutting down, finishing the requests in flight");
}

/// Runs `facecore serve` until ctrl-c or SIGTERM.
///
/// # Errors
/// Bad arguments, an unreadable keys file, a store or model that cannot be opened, an
/// address that cannot be bound.
pub fn run(args: &ServeArgs) -> AnyResult {
    let keys = args.api_keys.as_deref().map(ApiKeys::from_file).transpose()?;
    if keys.is_none() {
        if !args.listen.ip().is_loopback() && !args.insecure_no_auth {
            return Err(format!(
                "refusing to serve {} without API keys: give --api-keys FILE, listen on 127.0.0.1, or pass --insecure-no-auth",
                args.listen
            )
            .into());
        }
        eprintln!("facecore serve: WARNING: no API keys: every client that reaches {} can enrol, remove and identify people", args.listen);
    }
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err("--timeout must be positive".into());
    }
    let body_limit = args.max_body_mib.checked_mul(1 << 20).filter(|b| *b > 0).ok_or("--max-body-mib must be at least 1")?;
    let mut limits = facecore::limits::get();
    limits.image_pixels = args.max_pixels;
    limits.image_file_bytes = body_limit as u64;
    facecore::limits::set(limits)?;

    let key = args.gallery_key.as_deref().map(read_key).transpose()?;
    let store = open_store(&args.gallery, key)?;
    let defaults = Options::default();
    let workers = args.threads.unwrap_or(defaults.workers);
    if workers == 0 || workers > facecore::MAX_THREADS {
        return Err(format!("--threads must be in 1..={}", facecore::MAX_THREADS).into());
    }
    let options = Options {
        workers,
        queue: args.queue.unwrap_or(4 * workers),
        body_limit,
        timeout: Duration::from_secs_f64(args.timeout),
        op: args.op,
        ..defaults
    };
    let pipeline = FacePipeline::from_preset(args.preset)?;
    let server = Server::new(pipeline, Arc::clone(&store), keys.clone(), options.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("facecore-http").build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("facecore serve: listening on http://{addr}");
        let _ = std::io::stdout().flush();
        eprintln!(
            "facecore serve: preset {}, gallery {}, {} inference threads, queue {}, {}",
            args.preset.name(),
            store.describe(),
            options.workers,
            options.queue,
            keys.as_ref().map_or_else(|| "no API keys".to_string(), |k| format!("{} API keys", k.len()))
        );
        server.serve(listener, shutdown_signal()).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    eprintln!("facecore serve: stopped");
    Ok(())
}
