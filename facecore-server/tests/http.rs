//! The HTTP API through a real client (reqwest) against servers on 127.0.0.1:0 in this
//! process: every endpoint, bad requests, API keys, back-pressure, timeouts, graceful
//! shutdown, the OpenAPI document. (Killing a `facecore serve` process mid-burst is tested
//! with the real binary in facecore-cli/tests/serve.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use facecore::store::FileStore;
use facecore::{FacePipeline, Image, Preset};
use facecore_server::{ApiKeys, Options, Server};
use reqwest::blocking::{Client, Response, multipart};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn pipeline() -> FacePipeline {
    static P: OnceLock<FacePipeline> = OnceLock::new();
    P.get_or_init(|| FacePipeline::from_preset(Preset::Fast).unwrap()).clone()
}

fn png_of(rgb: &facecore::image_crate::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    rgb.write_to(&mut out, facecore::image_crate::ImageFormat::Png).unwrap();
    out.into_inner()
}

struct TestServer {
    addr: SocketAddr,
    server: Arc<Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl TestServer {
    fn start(name: &str, keys: Option<ApiKeys>, options: Options) -> TestServer {
        let dir = std::env::temp_dir().join(format!("facecore-http-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(FileStore::open(dir.join("gallery.fcg"), None).unwrap());
        let server = Arc::new(Server::new(pipeline(), store, keys, options).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                s.serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        TestServer { addr, server, stop: Some(stop), thread: Some(thread), dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Triggers graceful shutdown and waits for the server to return.
    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// The status and JSON body of a response.
fn json_of(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}")))
}

/// Asserts an error answer: status, JSON error code, a message.
fn assert_error(r: Response, status: u16, code: &str) -> Value {
    let (s, v) = json_of(r);
    assert_eq!(s, status, "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty(), "{v}");
    v
}

fn post_image(c: &Client, url: &str, bytes: Vec<u8>, content_type: &str) -> Response {
    c.post(url).header("content-type", content_type).body(bytes).send().unwrap()
}

fn names_of(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v["faces"].as_array().unwrap().iter().filter_map(|f| f["name"].as_str().map(str::to_string)).collect();
    names.sort();
    names
}

fn embedding_of(file: &str) -> Vec<f32> {
    let img = Image::decode(&fixture(file)).unwrap();
    pipeline().embed_best(&img).unwrap().unwrap().embedding.as_slice().to_vec()
}

fn space() -> String {
    pipeline().recognizer().space().to_string()
}

#[test]
fn every_endpoint() {
    let s = TestServer::start("endpoints", None, Options::default());
    let c = client();
    let (st, v) = json_of(c.get(s.url("/healthz")).send().unwrap());
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
    assert_eq!(v["space"], space());

    // Enrol from a raw JPEG and a PNG body.
    let r = post_image(&c, &s.url("/v1/people/obama"), fixture("obama.jpg"), "image/jpeg");
    assert_eq!(r.headers()["location"], "/v1/people/1");
    let (st, obama) = json_of(r);
    assert_eq!(st, 201, "{obama}");
    assert_eq!((obama["id"].as_u64(), obama["name"].as_str(), obama["enrolled"].as_u64()), (Some(1), Some("obama"), Some(1)));
    let biden_png = png_of(Image::decode(&fixture("biden.jpg")).unwrap().as_rgb());
    let (st, biden) = json_of(post_image(&c, &s.url("/v1/people/biden"), biden_png, "image/png"));
    assert_eq!((st, biden["id"].as_u64()), (201, Some(2)), "{biden}");
    // Multipart with two images of one person.
    let form = multipart::Form::new()
        .part("a", multipart::Part::bytes(fixture("obama2.jpg")).mime_str("image/jpeg").unwrap())
        .part("b", multipart::Part::bytes(fixture("obama.jpg")).mime_str("image/jpeg").unwrap());
    let (st, v) = json_of(c.post(s.url("/v1/people/obama")).multipart(form).send().unwrap());
    assert_eq!((st, v["id"].as_u64(), v["embeddings"].as_u64(), v["enrolled"].as_u64()), (201, Some(1), Some(3), Some(2)), "{v}");

    // Identify: the fixed contract.
    let (st, v) = json_of(post_image(&c, &s.url("/v1/identify"), fixture("two_people.jpg"), "image/jpeg"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(names_of(&v), ["biden", "obama"]);
    for f in v["faces"].as_array().unwrap() {
        assert_eq!(f["box"].as_array().unwrap().len(), 4);
        assert!(f["score"].as_f64().unwrap() > v["threshold"].as_f64().unwrap());
    }
    // No content type: sniffed.
    let (st, v) = json_of(c.post(s.url("/v1/identify")).body(fixture("obama2.jpg")).send().unwrap());
    assert_eq!((st, names_of(&v)), (200, vec!["obama".to_string()]));
    // An unknown face: name null, a score below the threshold.
    let (st, v) = json_of(post_image(&c, &s.url("/v1/identify?op=fmr1e-4"), fixture("obama_small.jpg"), "image/jpeg"));
    assert_eq!(st, 200, "{v}");

    // Identify from embeddings (an edge device that already runs facecore).
    let body = json!({"space": space(), "embeddings": [embedding_of("obama2.jpg"), embedding_of("biden.jpg")]});
    let (st, v) = json_of(c.post(s.url("/v1/identify")).json(&body).send().unwrap());
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["faces"][0]["name"], "obama");
    assert_eq!(v["faces"][1]["name"], "biden");
    assert!(v["faces"][0].get("box").is_none());

    // Detect.
    let (st, v) = json_of(post_image(&c, &s.url("/v1/detect"), fixture("two_people.jpg"), "image/jpeg"));
    assert_eq!((st, v["faces"].as_array().unwrap().len()), (200, 2), "{v}");
    assert_eq!(v["faces"][0]["landmarks"].as_array().unwrap().len(), 5);

    // Verify: two images, two embeddings.
    let pair = |a: &str, b: &str| {
        multipart::Form::new()
            .part("a", multipart::Part::bytes(fixture(a)).mime_str("image/jpeg").unwrap())
            .part("b", multipart::Part::bytes(fixture(b)).mime_str("image/jpeg").unwrap())
    };
    let (st, v) = json_of(c.post(s.url("/v1/verify")).multipart(pair("obama.jpg", "obama2.jpg")).send().unwrap());
    assert_eq!((st, v["same_person"].as_bool()), (200, Some(true)), "{v}");
    let (st, v) = json_of(c.post(s.url("/v1/verify")).multipart(pair("obama.jpg", "biden.jpg")).send().unwrap());
    assert_eq!((st, v["same_person"].as_bool(), v["faces"].as_array().map(Vec::len)), (200, Some(false), Some(2)), "{v}");
    let body = json!({"space": space(), "embeddings": [embedding_of("obama.jpg"), embedding_of("obama2.jpg")]});
    let (st, v) = json_of(c.post(s.url("/v1/verify")).json(&body).send().unwrap());
    assert_eq!((st, v["same_person"].as_bool()), (200, Some(true)), "{v}");

    // Enrol from embeddings, with metadata, through both routes.
    let body = json!({"space": space(), "embeddings": [embedding_of("obama_small.jpg")], "metadata": {"team": "blue"}});
    let (st, v) = json_of(c.post(s.url("/v1/people/small")).json(&body).send().unwrap());
    assert_eq!((st, v["id"].as_u64(), v["metadata"].as_str()), (201, Some(3), Some(r#"{"team":"blue"}"#)), "{v}");
    let body = json!({"name": "copy", "space": space(), "embeddings": [embedding_of("biden.jpg")]});
    let (st, v) = json_of(c.post(s.url("/v1/people")).json(&body).send().unwrap());
    assert_eq!((st, v["id"].as_u64()), (201, Some(4)), "{v}");

    // List with pagination.
    let (st, v) = json_of(c.get(s.url("/v1/people?limit=3")).send().unwrap());
    assert_eq!(
        (st, v["total"].as_u64(), v["people"].as_array().unwrap().len(), v["next_offset"].as_u64()),
        (200, Some(4), 3, Some(3)),
        "{v}"
    );
    let (_, v) = json_of(c.get(s.url("/v1/people?offset=3&limit=3")).send().unwrap());
    assert_eq!((v["people"][0]["name"].as_str(), v["next_offset"].is_null()), (Some("copy"), true), "{v}");

    // Get by id and by name; metadata by PUT and PATCH.
    let (st, v) = json_of(c.get(s.url("/v1/people/2")).send().unwrap());
    assert_eq!((st, v["name"].as_str()), (200, Some("biden")));
    let (st, v) = json_of(c.get(s.url("/v1/people/obama")).send().unwrap());
    assert_eq!((st, v["id"].as_u64(), v["embeddings"].as_u64()), (200, Some(1), Some(3)));
    let (st, v) = json_of(c.put(s.url("/v1/people/obama/metadata")).body("44th").send().unwrap());
    assert_eq!((st, v["metadata"].as_str()), (200, Some("44th")));
    let (st, v) = json_of(c.patch(s.url("/v1/people/1")).json(&json!({"metadata": {"term": 2}})).send().unwrap());
    assert_eq!((st, v["metadata"].as_str()), (200, Some(r#"{"term":2}"#)));

    // Remove.
    assert_eq!(c.delete(s.url("/v1/people/copy")).send().unwrap().status().as_u16(), 204);
    assert_error(c.get(s.url("/v1/people/4")).send().unwrap(), 404, "not_found");
    assert_error(c.delete(s.url("/v1/people/4")).send().unwrap(), 404, "not_found");
    assert_error(c.put(s.url("/v1/people/nobody/metadata")).body("x").send().unwrap(), 404, "not_found");

    // Metrics: per endpoint (route template), faces, queue.
    let m = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    for needle in [
        "facecore_requests_total{endpoint=\"/v1/identify\",key=\"-\",status=\"200\"} 4",
        "facecore_requests_total{endpoint=\"/v1/people/{person}\",key=\"-\",status=\"201\"} 4",
        "facecore_request_errors_total{endpoint=\"/v1/people/{person}\",key=\"-\",code=\"not_found\"} 2",
        "facecore_request_duration_seconds_bucket{endpoint=\"/v1/detect\",key=\"-\",le=\"+Inf\"} 1",
        "facecore_faces_processed_total{endpoint=\"/v1/detect\",key=\"-\"} 2",
        "facecore_queue_depth 0",
        "facecore_inference_threads ",
    ] {
        assert!(m.contains(needle), "{needle} not in\n{m}");
    }
}

#[test]
fn bad_requests_are_json_errors_and_the_server_keeps_serving() {
    let options = Options { body_limit: 1 << 20, ..Options::default() };
    let s = TestServer::start("bad", None, options);
    let c = client();
    let url = s.url("/v1/identify");
    // Wrong content types.
    assert_error(post_image(&c, &url, b"hello".to_vec(), "text/plain"), 415, "unsupported_media_type");
    assert_error(post_image(&c, &s.url("/v1/detect"), b"{}".to_vec(), "application/json"), 415, "unsupported_media_type");
    assert_error(post_image(&c, &url, b"GIF89a....".to_vec(), "image/jpeg"), 415, "unsupported_media_type");
    let form = multipart::Form::new().part("a", multipart::Part::text("not an image"));
    assert_error(c.post(&url).multipart(form).send().unwrap(), 415, "unsupported_media_type");
    assert_error(c.patch(s.url("/v1/people/1")).body("x").send().unwrap(), 415, "unsupported_media_type");
    // Empty, corrupt and truncated images.
    assert_error(post_image(&c, &url, Vec::new(), "image/jpeg"), 400, "bad_request");
    let mut corrupt = vec![0xFF, 0xD8, 0xFF, 0xE0];
    corrupt.extend(std::iter::repeat_n(0x5A, 1000));
    assert_error(post_image(&c, &url, corrupt, "image/jpeg"), 400, "bad_image");
    let mut truncated = fixture("obama.jpg");
    truncated.truncate(truncated.len() / 3);
    let r = post_image(&c, &s.url("/v1/people/obama"), truncated, "image/jpeg");
    assert!(matches!(r.status().as_u16(), 400 | 422), "{}", r.status());
    // A huge body, and an image whose pixels are over the limit (tiny file, 17000 px wide).
    assert_error(post_image(&c, &url, vec![0xFF; 3 << 20], "image/jpeg"), 413, "too_large");
    let wide = png_of(&facecore::image_crate::RgbImage::new(17_000, 4));
    assert_error(post_image(&c, &url, wide, "image/png"), 413, "too_large");
    // No face, low quality.
    let grey = png_of(&facecore::image_crate::RgbImage::from_pixel(200, 200, facecore::image_crate::Rgb([128, 128, 128])));
    assert_error(post_image(&c, &s.url("/v1/people/nobody"), grey.clone(), "image/png"), 422, "no_face");
    let form = multipart::Form::new()
        .part("a", multipart::Part::bytes(fixture("obama.jpg")).mime_str("image/jpeg").unwrap())
        .part("b", multipart::Part::bytes(grey).mime_str("image/png").unwrap());
    assert_error(c.post(s.url("/v1/verify")).multipart(form).send().unwrap(), 422, "no_face");
    let small = Image::decode(&fixture("obama.jpg")).unwrap();
    let tiny = facecore::image_crate::imageops::resize(small.as_rgb(), 60, 60, facecore::image_crate::imageops::FilterType::Triangle);
    let r = post_image(&c, &s.url("/v1/people/tiny"), png_of(&tiny), "image/png");
    let (st, v) = json_of(r);
    assert!(st == 422 && ["low_quality", "no_face"].contains(&v["error"]["code"].as_str().unwrap()), "{st} {v}");
    // Embeddings: foreign space, wrong size, bad JSON, missing fields.
    let e = embedding_of("obama.jpg");
    let foreign = json!({"space": "sface-2021dec", "embeddings": [e.clone()]});
    assert_error(c.post(&url).json(&foreign).send().unwrap(), 422, "foreign_embedding_space");
    assert_error(c.post(s.url("/v1/people/x")).json(&foreign).send().unwrap(), 422, "foreign_embedding_space");
    assert_error(c.post(&url).json(&json!({"space": space(), "embeddings": [[1.0, 2.0]]})).send().unwrap(), 400, "bad_request");
    assert_error(c.post(&url).json(&json!({"space": space(), "embeddings": []})).send().unwrap(), 400, "bad_request");
    assert_error(post_image(&c, &url, b"{\"space\": ".to_vec(), "application/json"), 400, "bad_request");
    assert_error(c.post(s.url("/v1/verify")).json(&json!({"space": space(), "embeddings": [e]})).send().unwrap(), 400, "bad_request");
    assert_error(c.post(s.url("/v1/people")).json(&json!({"space": space(), "embeddings": [[1.0]]})).send().unwrap(), 400, "bad_request");
    // Verify needs two images.
    assert_error(post_image(&c, &s.url("/v1/verify"), fixture("obama.jpg"), "image/jpeg"), 400, "bad_request");
    // Bad parameters, routes, methods.
    assert_error(post_image(&c, &s.url("/v1/identify?op=fmr1"), fixture("obama.jpg"), "image/jpeg"), 400, "invalid_input");
    assert_error(c.get(s.url("/v1/people?limit=0")).send().unwrap(), 400, "bad_request");
    assert_error(c.get(s.url("/v1/people?limit=abc")).send().unwrap(), 400, "bad_request");
    assert_error(c.get(s.url("/v1/people/1?by=nickname")).send().unwrap(), 400, "bad_request");
    assert_error(c.get(s.url("/v2/nothing")).send().unwrap(), 404, "not_found");
    assert_error(c.get(s.url("/v1/identify")).send().unwrap(), 405, "method_not_allowed");

    // Still serving, and nothing was enrolled by the failures.
    let (st, _) = json_of(post_image(&c, &s.url("/v1/people/obama"), fixture("obama.jpg"), "image/jpeg"));
    assert_eq!(st, 201);
    assert_error(c.put(s.url("/v1/people/1/metadata")).body(vec![0xFF, 0xFE]).send().unwrap(), 400, "bad_request");
    let (st, v) = json_of(post_image(&c, &url, fixture("two_people.jpg"), "image/jpeg"));
    assert_eq!((st, names_of(&v)), (200, vec!["obama".to_string()]));
    let (_, v) = json_of(c.get(s.url("/v1/people")).send().unwrap());
    assert_eq!(v["total"], 1, "{v}");
}

#[test]
fn api_keys_are_required_and_metered_by_id() {
    let keys = ApiKeys::new([("acme", "acme-secret-0123456789"), ("zeta", "zeta-secret-0123456789")]).unwrap();
    let s = TestServer::start("keys", Some(keys), Options::default());
    let c = client();
    let url = s.url("/v1/detect");
    let r = post_image(&c, &url, fixture("obama.jpg"), "image/jpeg");
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(r, 401, "unauthorized");
    let r = c.post(&url).bearer_auth("acme-secret-0123456780").body(fixture("obama.jpg")).send().unwrap();
    assert_error(r, 401, "unauthorized");
    let r = c.post(&url).header("authorization", "Basic YWNtZTpzZWNyZXQ=").body(fixture("obama.jpg")).send().unwrap();
    assert_error(r, 401, "unauthorized");
    assert_error(c.get(s.url("/v1/people")).send().unwrap(), 401, "unauthorized");
    assert_error(c.get(s.url("/metrics")).send().unwrap(), 401, "unauthorized");
    // /healthz stays open for load balancers.
    assert_eq!(c.get(s.url("/healthz")).send().unwrap().status().as_u16(), 200);
    for _ in 0..2 {
        let (st, v) = json_of(c.post(&url).bearer_auth("acme-secret-0123456789").body(fixture("obama.jpg")).send().unwrap());
        assert_eq!((st, v["faces"].as_array().unwrap().len()), (200, 1));
    }
    let (st, _) = json_of(c.get(s.url("/v1/people")).bearer_auth("zeta-secret-0123456789").send().unwrap());
    assert_eq!(st, 200);
    let m = c.get(s.url("/metrics")).bearer_auth("zeta-secret-0123456789").send().unwrap().text().unwrap();
    assert!(m.contains("facecore_requests_total{endpoint=\"/v1/detect\",key=\"acme\",status=\"200\"} 2"), "{m}");
    assert!(m.contains("facecore_faces_processed_total{endpoint=\"/v1/detect\",key=\"acme\"} 2"), "{m}");
    assert!(m.contains("facecore_requests_total{endpoint=\"/v1/detect\",key=\"unauthenticated\",status=\"401\"} 3"), "{m}");
    assert!(m.contains("facecore_requests_total{endpoint=\"/v1/people\",key=\"zeta\",status=\"200\"} 1"), "{m}");
    assert!(!m.contains("secret"), "a secret leaked into the metrics");
}

/// Fires `n` identify requests at once; returns each (status, Retry-After, error code).
fn burst(s: &TestServer, n: usize) -> Vec<(u16, Option<String>, Option<String>)> {
    let url = s.url("/v1/identify");
    let body = fixture("two_people.jpg");
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (url, body, barrier) = (url.clone(), body.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let c = client();
                barrier.wait();
                let r = post_image(&c, &url, body, "image/jpeg");
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                let (st, v) = json_of(r);
                (st, retry, v["error"]["code"].as_str().map(str::to_string))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let s = TestServer::start("queue", None, Options { workers: 1, queue: 1, ..Options::default() });
    let answers = burst(&s, 8);
    let full: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert!(!full.is_empty(), "{answers:?}");
    for (st, retry, code) in &answers {
        match st {
            200 => {}
            429 => assert_eq!((retry.as_deref(), code.as_deref()), (Some("1"), Some("queue_full"))),
            other => panic!("unexpected {other}: {answers:?}"),
        }
    }
    assert!(answers.iter().any(|a| a.0 == 200), "{answers:?}");
    // The queue drains and the server serves again.
    let (st, _) = json_of(post_image(&client(), &s.url("/v1/identify"), fixture("two_people.jpg"), "image/jpeg"));
    assert_eq!(st, 200);
}

#[test]
fn slow_requests_time_out_with_503_and_retry_after() {
    let s = TestServer::start("timeout", None, Options { workers: 1, queue: 16, timeout: Duration::from_millis(40), ..Options::default() });
    let answers = burst(&s, 6);
    assert!(answers.iter().any(|a| a.0 == 503 && a.1.as_deref() == Some("1") && a.2.as_deref() == Some("timeout")), "{answers:?}");
    assert!(answers.iter().all(|a| matches!(a.0, 200 | 503)), "{answers:?}");
    // A timed-out enrolment enrols nothing; a fast request still gets through.
    let c = client();
    let t0 = Instant::now();
    while s.server.queue_depth() > 0 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.get(s.url("/healthz")).send().unwrap().status().as_u16(), 200);
}

#[test]
fn graceful_shutdown_finishes_requests_in_flight() {
    let mut s = TestServer::start("shutdown", None, Options { workers: 1, queue: 8, ..Options::default() });
    let url = s.url("/v1/identify");
    let addr = s.addr;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (url, done, barrier) = (url.clone(), Arc::clone(&done), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let c = client();
                barrier.wait();
                let status = post_image(&c, &url, fixture("two_people.jpg"), "image/jpeg").status().as_u16();
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                status
            })
        })
        .collect();
    // Shut down once every request has reached the server (answered, running or queued)
    // and at least one is still in the inference pool.
    let t0 = Instant::now();
    loop {
        let depth = s.server.queue_depth();
        if depth >= 1 && depth + done.load(std::sync::atomic::Ordering::SeqCst) >= 3 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the requests never arrived together");
        std::thread::sleep(Duration::from_millis(1));
    }
    s.shutdown();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 200]);
    // Stopped: new connections are refused.
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn openapi_is_served_committed_and_complete() {
    let s = TestServer::start("openapi", None, Options::default());
    let served: Value = client().get(s.url("/v1/openapi.json")).send().unwrap().json().unwrap();
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("FACECORE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&committed_path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/openapi.json differs from the served document: run FACECORE_UPDATE_OPENAPI=1 cargo test -p facecore-server --test http openapi"
    );
    let paths = served["paths"].as_object().unwrap();
    for (method, path) in facecore_server::ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(method.to_ascii_lowercase())).is_some(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    let mut documented = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            documented += 1;
            assert!(
                facecore_server::ROUTES.contains(&(method.to_ascii_uppercase().as_str(), path.as_str())),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert_eq!(documented, facecore_server::ROUTES.len());
    // Every route is routed: none answers "no such route" or 405 for its own method.
    let c = client();
    for (method, path) in facecore_server::ROUTES {
        let url = s.url(&path.replace("{person}", "1"));
        let r = c.request(method.parse().unwrap(), url).send().unwrap();
        let st = r.status().as_u16();
        let message = r.text().unwrap();
        assert!(st != 405 && !message.contains("no such route"), "{method} {path}: {st} {message}");
    }
}
