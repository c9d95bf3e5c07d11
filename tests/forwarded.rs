//! Forwarded headers a proxy passes on untouched, against the real server behind a trusted
//! 127.0.0.1: one header family, chains walked from the right over every line, and a path
//! prefix that only `public_url` can set.

mod common;

use common::*;
use keyhole::share::s3::{S3Link, Style};
use keyhole::share::SwiftLink;
use serde_json::{json, Value};

const UNAUTHORIZED: &str = "401 Unauthorized: Temp URL invalid\n";
const TRUSTED: &str = "[proxy]\ntrusted = [\"127.0.0.1/32\"]\n";
const TOKEN: &str = "api-token-fwd";

/// A Swift link for `/v1/AUTH_p1/c/o.txt` that only opens from 10.0.0.0/8.
fn bound_link() -> String {
    link_bound_to("10.0.0.0/8")
}

fn link_bound_to(range: &str) -> String {
    SwiftLink {
        base_url: "",
        path: "/v1/AUTH_p1/c/o.txt",
        key: ACCOUNT_KEY,
        method: "GET",
        expires: now() + 600,
        digest: keyhole::auth::swift::Digest::Sha256,
        ip_range: Some(range),
        prefix: false,
        iso8601: false,
        inline: false,
        filename: None,
    }
    .url()
}

fn bound_server(extra: &str) -> TestServer {
    let s = TestServer::with_config(&format!("{TRUSTED}{extra}"));
    s.put(PROJECT, "c", "o.txt", b"bound");
    s
}

fn status(r: &Response) -> (u16, String) {
    (r.status, r.text())
}

#[test]
fn a_client_forwarded_header_is_ignored_under_x_forwarded() {
    let s = bound_server("");
    let url = bound_link();
    // nginx sets X-Forwarded-For and passes the client's own Forwarded on.
    let spoof = [
        ("Forwarded", "for=10.1.2.3"),
        ("X-Forwarded-For", "192.0.2.1"),
    ];
    assert_eq!(
        status(&s.request("GET", &url, &spoof)),
        (401, UNAUTHORIZED.into())
    );
    assert_eq!(
        s.request("GET", &url, &[("Forwarded", "for=10.1.2.3")])
            .status,
        401,
        "without X-Forwarded-For the client is the proxy itself"
    );
    let r = s.request("GET", &url, &[("X-Forwarded-For", "10.1.2.3")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bound"[..]));
}

#[test]
fn under_forwarded_the_x_forwarded_family_is_ignored() {
    let s = bound_server("headers = \"forwarded\"\n");
    let url = bound_link();
    let spoof = [
        ("X-Forwarded-For", "10.1.2.3"),
        ("Forwarded", "for=192.0.2.1"),
    ];
    assert_eq!(s.request("GET", &url, &spoof).status, 401);
    let r = s.request("GET", &url, &[("Forwarded", "for=\"10.1.2.3:5555\"")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bound"[..]));
}

#[test]
fn repeated_x_forwarded_for_lines_are_walked_from_the_right() {
    let s = bound_server("");
    let url = bound_link();
    // The client's own line, then the one its proxy appended (HAProxy `option forwardfor`).
    let appended = [
        ("X-Forwarded-For", "10.1.2.3"),
        ("X-Forwarded-For", "192.0.2.1"),
    ];
    // Twice: the second answer comes from the verified-link cache.
    for _ in 0..2 {
        assert_eq!(
            status(&s.request("GET", &url, &appended)),
            (401, UNAUTHORIZED.into())
        );
    }
    let inside = [
        ("X-Forwarded-For", "192.0.2.1"),
        ("X-Forwarded-For", "10.1.2.3"),
    ];
    assert_eq!(s.request("GET", &url, &inside).status, 200);
}

#[test]
fn an_ip_range_link_refuses_every_spoofed_forwarded_spelling() {
    let s = bound_server("");
    let url = bound_link();
    for spoof in [
        // A hop that cannot be read: whatever is left of it is the client's.
        &[("X-Forwarded-For", "10.1.2.3, unknown")][..],
        &[("X-Forwarded-For", "10.1.2.3, 192.0.2.1")],
        &[
            ("X-Forwarded-For", "10.1.2.3,"),
            ("X-Forwarded-For", "192.0.2.1"),
        ],
        &[("X-Forwarded-For", "10.1.2.3, 127.0.0.1, 192.0.2.1")],
        &[
            ("X-Forwarded-For", "192.0.2.1"),
            ("Forwarded", "for=10.1.2.3"),
            ("X-Real-IP", "10.1.2.3"),
        ],
    ] {
        assert_eq!(s.request("GET", &url, spoof).status, 401, "{spoof:?}");
    }
    // An untrusted peer's headers are all ignored.
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"bound");
    assert_eq!(
        s.request("GET", &url, &[("X-Forwarded-For", "10.1.2.3")])
            .status,
        401
    );
}

#[test]
fn an_unreadable_hop_opens_no_address_bound_link_not_even_one_covering_the_proxy() {
    let s = TestServer::with_config("[proxy]\ntrusted = [\"127.0.0.0/8\"]\n");
    s.put(PROJECT, "c", "o.txt", b"bound");
    let url = link_bound_to("127.0.0.0/8");
    for chain in ["unknown", "10.1.2.3, junk", "10.1.2.3, _hidden, 127.0.0.2"] {
        let r = s.request("GET", &url, &[("X-Forwarded-For", chain)]);
        assert_eq!(status(&r), (401, UNAUTHORIZED.into()), "{chain}");
    }
    // A chain of trusted addresses only is the leftmost of them.
    let r = s.request("GET", &url, &[("X-Forwarded-For", "127.0.0.5, 127.0.0.2")]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bound"[..]));
}

/// A project whose buckets `docs` and `shared` can be re-split into each other.
const DOCS: &str = r#"
[[project]]
id = "p3"
  [[project.s3_key]]
  access_key = "AKIDDOCS"
  secret_key = "docs-secret"
  [[project.container]]
  name = "docs"
  [[project.container]]
  name = "shared"
"#;

fn docs_link<'a>(endpoint: &'a str) -> S3Link<'a> {
    S3Link {
        endpoint,
        bucket: "docs",
        key: "shared/s.txt",
        access_key: "AKIDDOCS",
        secret: "docs-secret",
        region: "us-east-1",
        now: now(),
        expires: 3600,
        style: Style::Path,
        v2: false,
        overrides: &[],
    }
}

#[test]
fn a_client_x_forwarded_prefix_cannot_re_split_a_signed_path() {
    let s = TestServer::with_config(&format!("{TRUSTED}{DOCS}"));
    s.put("p3", "docs", "shared/s.txt", b"the shared document");
    s.put("p3", "shared", "s.txt", b"SECRET other bucket");
    let ep = format!("http://{}", s.addr);
    for v2 in [false, true] {
        let mut l = docs_link(&ep);
        l.v2 = v2;
        let url = l.url().unwrap();
        let target = target_of(&url);
        let moved = target.strip_prefix("/docs").unwrap();
        assert!(moved.starts_with("/shared/s.txt?"), "{moved}");
        let r = s.request("GET", moved, &[("X-Forwarded-Prefix", "/docs")]);
        assert_eq!(r.status, 403, "v2={v2}: {}", r.text());
        assert!(!r.text().contains("SECRET"));
        // Nothing was kept for the link: it still opens its own object, for everyone.
        let r = s.request("GET", target, &[("X-Forwarded-Prefix", "/docs")]);
        assert_eq!(r.status, 200, "v2={v2}: {}", r.text());
        assert_eq!(r.body, b"the shared document", "v2={v2}");
        let r = s.get(target);
        assert_eq!(r.body, b"the shared document", "v2={v2}");
    }
}

/// A server mounted at `http://share.test/files`, as a proxy would pass requests on.
fn mounted() -> TestServer {
    let s = TestServer::with_top_level(
        "public_url = \"http://share.test/files/\"\n",
        &format!("[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p1\"]\n"),
    );
    s.put(PROJECT, "c", "docs/a b.txt", b"mounted bytes");
    s
}

fn api_link(s: &TestServer, kind: &str) -> String {
    let body = json!({"timeExpire": 600, "urlType": kind, "viewMode": "download",
        "accessKey": if kind == "s3" { Some(ACCESS_KEY) } else { None },
        "secretKey": if kind == "s3" { Some(SECRET_KEY) } else { None }})
    .to_string();
    let path = "/files/api/v1/projects/p1/containers/c/objects/docs%2Fa%20b.txt/download_tempurls";
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: share.test\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = raw(s.addr, req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["data"]["docs/a b.txt"].as_str().unwrap().to_string()
}

#[test]
fn links_made_for_a_public_url_with_a_path_open_under_that_path_only() {
    let s = mounted();
    for kind in ["swift", "s3"] {
        let url = api_link(&s, kind);
        assert!(url.starts_with("http://share.test/files/"), "{url}");
        let target = target_of(&url);
        let r = request_as(s.addr, "GET", "share.test", target, &[]);
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
        assert_eq!(r.body, b"mounted bytes");
        // Outside the mount nothing is routed, and no header puts a request back under it.
        let outside = target.strip_prefix("/files").unwrap();
        for headers in [&[][..], &[("X-Forwarded-Prefix", "/files")]] {
            let r = request_as(s.addr, "GET", "share.test", outside, headers);
            assert_eq!(r.status, 404, "{kind} {headers:?}: {}", r.text());
        }
    }
    // Probes still reach the listener directly.
    assert_eq!(s.get("/_keyhole/healthz").status, 200);
}

#[test]
fn keyhole_share_links_for_a_mounted_public_url_open_through_it() {
    let s = mounted();
    let cfg = s.dir.0.join("share.toml");
    let text = format!(
        "public_url = \"http://share.test/files\"\n{}",
        base_config(&s.dir.0, "")
    );
    std::fs::write(&cfg, text).unwrap();
    for protocol in ["swift", "s3"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(["share", "--config"])
            .arg(&cfg)
            .args(["p1/c/docs/a b.txt", "--protocol", protocol])
            .args(["--mode", "view", "--expires", "10m"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let url = String::from_utf8(out.stdout).unwrap();
        let url = url.trim();
        assert!(url.starts_with("http://share.test/files/"), "{url}");
        let r = request_as(s.addr, "GET", "share.test", target_of(url), &[]);
        assert_eq!(r.status, 200, "{protocol}: {}", r.text());
        assert_eq!(r.body, b"mounted bytes");
    }
}
