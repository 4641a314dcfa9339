//! Prometheus metrics in the text exposition format (version 0.0.4), written by hand: a few
//! counters and histograms keyed by endpoint and API key id need no metrics framework.
//!
//! Labels: `endpoint` is the route template (`/v1/people/{person}`), never the raw path, so
//! the number of series stays bounded; `key` is the API key's id from the keys file (`-`
//! without keys, `unauthenticated` for refused requests), never the secret.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the latency histogram buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Series {
    /// Requests by status code.
    by_status: BTreeMap<u16, u64>,
    /// Error answers by error code.
    errors: BTreeMap<&'static str, u64>,
    /// Cumulative bucket counts (one per [`BUCKETS`] entry).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    faces: u64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Jobs queued or running.
    pub queue_depth: usize,
    /// Waiting jobs the queue holds.
    pub queue_capacity: usize,
    /// Inference threads.
    pub workers: usize,
    /// Requests being answered.
    pub in_flight: usize,
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, endpoint: &str, key: &str, status: u16, error: Option<&'static str>, seconds: f64, faces: u64) {
        let mut all = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = all.entry((endpoint.to_string(), key.to_string())).or_default();
        *s.by_status.entry(status).or_default() += 1;
        if let Some(code) = error {
            *s.errors.entry(code).or_default() += 1;
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum += seconds;
        s.faces += faces;
    }

    /// The exposition text.
    pub fn render(&self, g: Gauges) -> String {
        let all = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut o = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = writeln!(o, "# HELP facecore_requests_total Requests answered, by endpoint, API key id and status.");
        let _ = writeln!(o, "# TYPE facecore_requests_total counter");
        for ((ep, key), s) in all.iter() {
            for (status, n) in &s.by_status {
                let _ = writeln!(o, "facecore_requests_total{{endpoint=\"{}\",key=\"{}\",status=\"{status}\"}} {n}", esc(ep), esc(key));
            }
        }
        let _ = writeln!(o, "# HELP facecore_request_errors_total Error answers, by endpoint, API key id and error code.");
        let _ = writeln!(o, "# TYPE facecore_request_errors_total counter");
        for ((ep, key), s) in all.iter() {
            for (code, n) in &s.errors {
                let _ = writeln!(o, "facecore_request_errors_total{{endpoint=\"{}\",key=\"{}\",code=\"{code}\"}} {n}", esc(ep), esc(key));
            }
        }
        let _ = writeln!(o, "# HELP facecore_request_duration_seconds Time to answer, by endpoint and API key id.");
        let _ = writeln!(o, "# TYPE facecore_request_duration_seconds histogram");
        for ((ep, key), s) in all.iter() {
            let (ep, key) = (esc(ep), esc(key));
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ =
                    writeln!(o, "facecore_request_duration_seconds_bucket{{endpoint=\"{ep}\",key=\"{key}\",le=\"{le}\"}} {}", s.buckets[i]);
            }
            let _ = writeln!(o, "facecore_request_duration_seconds_bucket{{endpoint=\"{ep}\",key=\"{key}\",le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(o, "facecore_request_duration_seconds_sum{{endpoint=\"{ep}\",key=\"{key}\"}} {}", s.sum);
            let _ = writeln!(o, "facecore_request_duration_seconds_count{{endpoint=\"{ep}\",key=\"{key}\"}} {}", s.count);
        }
        let _ = writeln!(o, "# HELP facecore_faces_processed_total Faces detected in request images, by endpoint and API key id.");
        let _ = writeln!(o, "# TYPE facecore_faces_processed_total counter");
        for ((ep, key), s) in all.iter() {
            if s.faces > 0 {
                let _ = writeln!(o, "facecore_faces_processed_total{{endpoint=\"{}\",key=\"{}\"}} {}", esc(ep), esc(key), s.faces);
            }
        }
        for (name, help, v) in [
            ("facecore_queue_depth", "Inference jobs queued or running.", g.queue_depth),
            ("facecore_queue_capacity", "Waiting inference jobs the queue holds before answering 429.", g.queue_capacity),
            ("facecore_inference_threads", "Inference threads.", g.workers),
            ("facecore_requests_in_flight", "Requests being answered.", g.in_flight),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        o
    }
}
