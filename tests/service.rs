//! The service routes: health, readiness, metrics and the share page.

mod common;

use common::*;

#[test]
fn health_and_readiness_answer() {
    let s = TestServer::start();
    assert_eq!(s.get("/_keyhole/healthz").status, 200);
    assert_eq!(s.get("/_keyhole/readyz").status, 200);
}

#[test]
fn readiness_fails_when_the_backend_root_is_gone() {
    let s = TestServer::start();
    std::fs::remove_dir_all(s.root()).unwrap();
    assert_eq!(s.get("/_keyhole/readyz").status, 503);
    assert_eq!(
        s.get("/_keyhole/healthz").status,
        200,
        "alive even when not ready"
    );
}

#[test]
fn metrics_are_prometheus_text_and_count_responses() {
    let s = TestServer::start();
    s.get("/v1/AUTH_p1/c/o");
    let r = s.get("/_keyhole/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    assert!(
        text.contains("# TYPE keyhole_requests_total counter"),
        "{text}"
    );
    let refused: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("keyhole_refusals_total{reason=\"unsigned\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(refused >= 1, "{text}");
    assert!(text.contains("keyhole_requests_total{protocol=\"swift\",class=\"4xx\"} 1\n"));
}

#[test]
fn the_share_page_and_its_assets_are_served_with_a_strict_policy() {
    let s = TestServer::start();
    let r = s.get("/_keyhole/ui");
    assert_eq!((r.status, r.header("location")), (301, Some("ui/")));
    let page = s.get("/_keyhole/ui/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("<form id=\"share\">"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(
        s.get("/_keyhole/ui/app.js").header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(s.get("/_keyhole/ui/style.css").status, 200);
    assert_eq!(s.get("/_keyhole/ui/../../etc/passwd").status, 404);
    assert_eq!(s.get("/_keyhole/nothing").status, 404);
}
