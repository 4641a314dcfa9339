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
