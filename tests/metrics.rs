//! `/_keyhole/metrics` as a real Prometheus scraper reads it: parsed with Python's
//! `prometheus_client` parser, with counters and histogram buckets moving as requests are made.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// Every family's type, and every sample keyed by its name and sorted labels.
struct Scrape {
    types: HashMap<String, String>,
    samples: HashMap<String, f64>,
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
types, samples = {}, {}
for f in text_string_to_metric_families(sys.stdin.read()):
    types[f.name] = f.type
    for s in f.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps({"types": types, "samples": samples}))
"#;

fn scrape(s: &TestServer) -> Scrape {
    let r = s.get("/_keyhole/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let mut py = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    py.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the page: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        r.text()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let map = |k: &str| -> HashMap<String, serde_json::Value> {
        serde_json::from_value(v[k].clone()).unwrap()
    };
    Scrape {
        types: map("types")
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
            .collect(),
        samples: map("samples")
            .into_iter()
            .map(|(k, v)| (k, v.as_f64().unwrap()))
            .collect(),
    }
}

impl Scrape {
    /// A sample by name and labels in sorted order, `name{a="1",b="2"}`.
    fn get(&self, key: &str) -> f64 {
        *self
            .samples
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {:#?}", self.samples.keys()))
    }
}

fn parser_present() -> bool {
    require_python_module("prometheus_client.parser")
}

#[test]
fn a_real_prometheus_parser_reads_every_family_with_its_type() {
    if !parser_present() {
        return;
    }
    let s = TestServer::start();
    let m = scrape(&s);
    for (family, kind) in [
        ("keyhole_requests", "counter"),
        ("keyhole_refusals", "counter"),
        ("keyhole_request_duration_seconds", "histogram"),
        ("keyhole_time_to_first_byte_seconds", "histogram"),
        ("keyhole_requests_in_flight", "gauge"),
        ("keyhole_open_connections", "gauge"),
        ("keyhole_connections", "counter"),
        ("keyhole_zero_copy_bytes", "counter"),
        ("keyhole_copied_bytes", "counter"),
        ("keyhole_limit_hits", "counter"),
        ("keyhole_reloads", "counter"),
        ("keyhole_panics", "counter"),
        ("keyhole_accept_errors", "counter"),
        ("keyhole_body_budget_spent", "counter"),
    ] {
        assert_eq!(
            m.types.get(family).map(String::as_str),
            Some(kind),
            "{family} in {:?}",
            m.types
        );
    }
    // Every label set a request can reach is there from the start, at zero (backend errors,
    // named by the backends, appear at their first).
    assert_eq!(m.get(r#"keyhole_refusals_total{reason="ip_range"}"#), 0.0);
    assert_eq!(m.get(r#"keyhole_reloads_total{result="failed"}"#), 0.0);
    assert_eq!(
        m.get(r#"keyhole_limit_hits_total{limit="header_read_timeout"}"#),
        0.0
    );
}

#[test]
fn counters_and_histograms_move_as_requests_are_made() {
    if !parser_present() {
        return;
    }
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", &vec![b'x'; 100_000]);
    let before = scrape(&s);
    let good = signed("/v1/AUTH_p1/c/o.txt");
    for _ in 0..3 {
        let r = s.get(&good);
        assert_eq!((r.status, r.body.len()), (200, 100_000));
    }
    assert_eq!(
        s.get(&signed_until("/v1/AUTH_p1/c/o.txt", now() - 5))
            .status,
        401
    );
    assert_eq!(
        s.get(&signed_with("/v1/AUTH_p1/c/o.txt", "wrong")).status,
        401
    );
    let v2 = s3_target(&s, "o.txt", true, &[]);
    assert_eq!(s.get(&v2).status, 200);
    assert_eq!(s.get(&v2.replace("Signature=", "Signature=AA")).status, 403);
    let after = scrape(&s);

    let moved = |key: &str| after.get(key) - before.get(key);
    assert_eq!(
        moved(r#"keyhole_requests_total{class="2xx",protocol="swift"}"#),
        3.0
    );
    assert_eq!(
        moved(r#"keyhole_requests_total{class="4xx",protocol="swift"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"keyhole_requests_total{class="2xx",protocol="s3-v2"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"keyhole_requests_total{class="4xx",protocol="s3-v2"}"#),
        1.0
    );
    // The scrape before counts itself once its response is made.
    assert_eq!(
        moved(r#"keyhole_requests_total{class="2xx",protocol="metrics"}"#),
        1.0
    );
    assert_eq!(moved(r#"keyhole_refusals_total{reason="expired"}"#), 1.0);
    assert_eq!(
        moved(r#"keyhole_refusals_total{reason="bad_signature"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"keyhole_refusals_total{reason="unknown_key"}"#),
        0.0
    );

    for h in [
        "keyhole_request_duration_seconds",
        "keyhole_time_to_first_byte_seconds",
    ] {
        assert_eq!(
            moved(&format!(r#"{h}_count{{protocol="swift"}}"#)),
            5.0,
            "{h}"
        );
        assert_eq!(
            moved(&format!(r#"{h}_bucket{{le="+Inf",protocol="swift"}}"#)),
            5.0,
            "{h}"
        );
        assert!(
            moved(&format!(r#"{h}_sum{{protocol="swift"}}"#)) > 0.0,
            "{h}"
        );
        assert_eq!(
            moved(&format!(r#"{h}_count{{protocol="s3-v2"}}"#)),
            2.0,
            "{h}"
        );
    }
    // Buckets are cumulative: the largest finite one holds every fast request.
    assert_eq!(
        moved(r#"keyhole_request_duration_seconds_bucket{le="1800",protocol="swift"}"#),
        5.0
    );
    let sent = moved("keyhole_zero_copy_bytes_total{}") + moved("keyhole_copied_bytes_total{}");
    assert!(
        sent >= 400_000.0,
        "every body byte is counted one way or the other: {sent}"
    );
    // The scrape being answered is the one request in flight.
    assert_eq!(after.get("keyhole_requests_in_flight{}"), 1.0);
    assert!(after.get("keyhole_open_connections{}") >= 1.0);
    assert!(moved("keyhole_connections_total{}") >= 8.0);
}
