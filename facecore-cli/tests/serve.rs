//! `facecore serve` as a process: SIGKILL in the middle of a burst of enrolments loses no
//! enrolment that was answered 201 (the file gallery is saved atomically before the answer).
//! The HTTP API itself is tested in facecore-server/tests/http.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn start(gallery: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_facecore"))
        .args(["serve", "--listen", "127.0.0.1:0", "--preset", "fast", "--threads", "2", "--queue", "64", "--gallery"])
        .arg(gallery)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|_| panic!("no address in {line:?}"));
    (child, addr)
}

/// One HTTP/1.1 request on its own connection: (status, body).
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status =
        text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other(format!("no status in {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    Ok((status, body))
}

#[test]
fn sigkill_mid_burst_loses_no_committed_enrolment() {
    let dir = std::env::temp_dir().join(format!("facecore-serve-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let gallery = dir.join("gallery.fcg");
    let image = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/obama.jpg")).unwrap();

    let (mut server, addr) = start(&gallery);
    let committed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (committed, stop, image) = (Arc::clone(&committed), Arc::clone(&stop), image.clone());
            std::thread::spawn(move || {
                let mut failures = 0;
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("p{t}-{i}");
                    match request(addr, "POST", &format!("/v1/people/{name}"), &image) {
                        Ok((201, _)) => committed.lock().unwrap().push(name),
                        Ok((status, body)) => panic!("enrolling {name}: {status} {body}"),
                        // The server was killed.
                        Err(_) => {
                            failures += 1;
                            if failures > 3 {
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    // Kill once a good number of enrolments have committed, in the middle of the burst.
    let t0 = Instant::now();
    while committed.lock().unwrap().len() < 12 {
        assert!(t0.elapsed() < Duration::from_secs(60), "the burst did not get going");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let committed = committed.lock().unwrap().clone();

    let (mut server, addr) = start(&gallery);
    let (status, body) = request(addr, "GET", "/v1/people?limit=1000", b"").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stored: Vec<&str> = v["people"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let lost: Vec<&String> = committed.iter().filter(|n| !stored.contains(&n.as_str())).collect();
    assert!(lost.is_empty(), "enrolments answered 201 but lost: {lost:?}");
    // At most the requests in flight at the kill landed without their answer.
    assert!(
        stored.len() >= committed.len() && stored.len() <= committed.len() + 4,
        "{} stored, {} committed",
        stored.len(),
        committed.len()
    );
    eprintln!("{} enrolments answered 201 before SIGKILL, {} in the gallery after restart", committed.len(), stored.len());
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `facecore serve` processes on one PostgreSQL gallery behave as one service: an
/// enrolment through one is identified through the other at once, a removal too, and
/// concurrent enrolments through both lose nothing. Needs the `postgres` feature and
/// `FACECORE_PG_URL` (`scripts/pg-test-server.sh start`); skipped with a message otherwise,
/// failed instead with `FACECORE_REQUIRE_PG=1`.
#[cfg(feature = "postgres")]
#[test]
fn two_processes_share_one_postgres_gallery() {
    let Some(url) = std::env::var("FACECORE_PG_URL").ok().filter(|u| !u.is_empty()) else {
        assert!(std::env::var("FACECORE_REQUIRE_PG").as_deref() != Ok("1"), "FACECORE_REQUIRE_PG=1 but FACECORE_PG_URL is not set");
        eprintln!("SKIPPED two_processes_share_one_postgres_gallery: FACECORE_PG_URL is not set (scripts/pg-test-server.sh start)");
        return;
    };
    // A database of its own, so that the gallery starts empty.
    let db = format!("facecore_serve_test_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    let (base, query) = url.split_once('?').map_or((url.as_str(), ""), |(b, q)| (b, q));
    let gallery = format!("{}/{db}{}{query}", base.rsplit_once('/').unwrap().0, if query.is_empty() { "" } else { "?" });

    let fixture = |f: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(f)).unwrap();
    let names = |body: &str| -> Vec<Option<String>> {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["faces"].as_array().unwrap().iter().map(|f| f["name"].as_str().map(str::to_string)).collect()
    };
    let (mut a, addr_a) = start(Path::new(&gallery));
    let (mut b, addr_b) = start(Path::new(&gallery));
    let (st, body) = request(addr_a, "POST", "/v1/people/obama", &fixture("obama.jpg")).unwrap();
    assert_eq!(st, 201, "{body}");
    let (st, body) = request(addr_b, "POST", "/v1/identify", &fixture("obama2.jpg")).unwrap();
    assert_eq!((st, names(&body)), (200, vec![Some("obama".to_string())]), "{body}");
    assert_eq!(request(addr_b, "DELETE", "/v1/people/obama", b"").unwrap().0, 204);
    let (_, body) = request(addr_a, "POST", "/v1/identify", &fixture("obama2.jpg")).unwrap();
    assert_eq!(names(&body), [None], "{body}");

    // Concurrent enrolments through both processes: 2 threads each, own names and one shared.
    let image = fixture("obama.jpg");
    let threads: Vec<_> = [addr_a, addr_a, addr_b, addr_b]
        .into_iter()
        .enumerate()
        .map(|(t, addr)| {
            let image = image.clone();
            std::thread::spawn(move || {
                for i in 0..3 {
                    for name in [format!("p{t}-{i}"), "shared".to_string()] {
                        let (st, body) = request(addr, "POST", &format!("/v1/people/{name}"), &image).unwrap();
                        assert_eq!(st, 201, "{name}: {body}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (_, body) = request(addr_b, "GET", "/v1/people?limit=1000", b"").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let people = v["people"].as_array().unwrap();
    assert_eq!(people.len(), 13, "{body}");
    let shared: Vec<_> = people.iter().filter(|p| p["name"] == "shared").collect();
    assert_eq!((shared.len(), shared[0]["embeddings"].as_u64()), (1, Some(12)), "{body}");
    for s in [&mut a, &mut b] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).unwrap();
}
