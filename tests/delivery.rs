//! Delivery over real HTTP: ranges, conditionals, caching bound to the link's expiry, CORS
//! and the headers that make inline viewing safe.

mod common;

use common::{now, Response, TestServer};
use keyhole::auth::swift::Digest;
use keyhole::share::SwiftLink;

const WEB_KEY: &str = "web-key";
const ORIGIN: &str = "https://app.example.com";

/// A third project whose container `web` allows one origin; `c` stays CORS-less, and the name
/// `c` is shared by p1 and p2 (an ambiguous S3 bucket).
fn server() -> TestServer {
    TestServer::with_config(&format!(
        r#"[[project]]
id = "p3"
temp_url_keys = ["{WEB_KEY}"]
  [[project.container]]
  name = "web"
  cors_origins = ["{ORIGIN}/"]
"#
    ))
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn link_until(object: &str, inline: bool, expires: u64) -> String {
    let path = format!("/v1/AUTH_p3/web/{object}");
    SwiftLink {
        base_url: "",
        path: &path,
        key: WEB_KEY,
        method: "GET",
        expires,
        digest: Digest::Sha256,
        ip_range: None,
        prefix: false,
        iso8601: false,
        inline,
        filename: None,
    }
    .url()
}

fn link(object: &str) -> String {
    link_until(object, false, now() + 3600)
}

/// A server holding `obj.bin` (1000 bytes) in `p3/web`, and its link.
fn with_object() -> (TestServer, Vec<u8>, String) {
    let s = server();
    let bytes = data(1000);
    s.put("p3", "web", "obj.bin", &bytes);
    (s, bytes, link("obj.bin"))
}

fn ranged(s: &TestServer, url: &str, range: &str) -> Response {
    s.request("GET", url, &[("Range", range)])
}

#[test]
fn each_single_range_form_gets_206_with_its_content_range() {
    let (s, bytes, url) = with_object();
    for (range, start, end) in [
        ("bytes=0-99", 0, 100),
        ("bytes=900-", 900, 1000),
        ("bytes=-100", 900, 1000),
        ("bytes=500-500", 500, 501),
        ("bytes=990-5000", 990, 1000),
        ("bytes=0-99999999999999999999999", 0, 1000),
        ("bytes=-99999999999999999999999", 0, 1000),
    ] {
        let r = ranged(&s, &url, range);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {start}-{}/1000", end - 1),
            "{range}"
        );
        assert_eq!(
            r.header("content-length").unwrap(),
            (end - start).to_string(),
            "{range}"
        );
        assert_eq!(r.body, &bytes[start..end], "{range}");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
    }
}

/// Splits a multipart/byteranges body into (Content-Type, Content-Range, bytes) per part.
fn parse_multipart(r: &Response) -> Vec<(String, String, Vec<u8>)> {
    let ct = r.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(ct);
    let delim = format!("--{boundary}");
    let body = &r.body;
    let find = |from: usize, pat: &[u8]| {
        body[from..]
            .windows(pat.len())
            .position(|w| w == pat)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(0, delim.as_bytes()).unwrap();
    loop {
        at += delim.len();
        if body[at..].starts_with(b"--") {
            assert_eq!(&body[at..], b"--\r\n");
            break;
        }
        assert!(body[at..].starts_with(b"\r\n"));
        let head_end = find(at, b"\r\n\r\n").unwrap();
        let head = String::from_utf8(body[at + 2..head_end].to_vec()).unwrap();
        let mut ctype = String::new();
        let mut crange = String::new();
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(": ").unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-type" => ctype = v.to_string(),
                "content-range" => crange = v.to_string(),
                other => panic!("unexpected part header {other}"),
            }
        }
        let next = find(head_end, format!("\r\n{delim}").as_bytes()).unwrap();
        parts.push((ctype, crange, body[head_end + 4..next].to_vec()));
        at = next + 2;
    }
    parts
}

#[test]
fn several_ranges_come_back_as_multipart_byteranges_in_order() {
    let (s, bytes, url) = with_object();
    let r = ranged(&s, &url, "bytes=500-509, 0-9,-5");
    assert_eq!(r.status, 206);
    assert!(r.header("content-range").is_none());
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    let parts = parse_multipart(&r);
    let want = [(500, 510), (0, 10), (995, 1000)];
    assert_eq!(parts.len(), want.len());
    for ((ctype, crange, got), (a, b)) in parts.iter().zip(want) {
        assert_eq!(ctype, "application/octet-stream");
        assert_eq!(crange, &format!("bytes {a}-{}/1000", b - 1));
        assert_eq!(got.as_slice(), &bytes[a..b]);
    }
}

#[test]
fn overlapping_or_too_many_ranges_get_the_whole_object() {
    let (s, bytes, url) = with_object();
    let r = ranged(&s, &url, "bytes=0-500, 100-600");
    assert_eq!((r.status, r.body.as_slice()), (200, bytes.as_slice()));
    let many: Vec<String> = (0..100).map(|i| format!("{}-{}", i * 3, i * 3)).collect();
    let r = ranged(&s, &url, &format!("bytes={}", many.join(",")));
    assert_eq!((r.status, r.body.len()), (200, 1000));
}

#[test]
fn an_unsatisfiable_range_is_416_with_the_length() {
    let (s, _, url) = with_object();
    for range in [
        "bytes=1000-",
        "bytes=-0",
        "bytes=5000-6000, 1000-",
        "bytes=99999999999999999999999-",
    ] {
        let r = ranged(&s, &url, range);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[test]
fn a_range_with_bad_syntax_is_ignored() {
    let (s, bytes, url) = with_object();
    for range in [
        "bytes=5-3",
        "bytes=abc",
        "items=0-1",
        "bytes=",
        "bytes=--1",
        "0-10",
    ] {
        let r = ranged(&s, &url, range);
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, bytes, "{range}");
        assert!(r.header("content-range").is_none());
    }
}

#[test]
fn if_range_honours_the_range_only_for_the_current_representation() {
    let (s, bytes, url) = with_object();
    let full = s.get(&url);
    let etag = full.header("etag").unwrap().to_string();
    let modified = full.header("last-modified").unwrap().to_string();
    let with = |if_range: &str| {
        s.request(
            "GET",
            &url,
            &[("Range", "bytes=0-9"), ("If-Range", if_range)],
        )
    };
    let r = with(&etag);
    assert_eq!((r.status, r.body.as_slice()), (206, &bytes[..10]));
    let r = with(&modified);
    assert_eq!(r.status, 206);
    for stale in [
        "\"other\"",
        &format!("W/{etag}"),
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "garbage",
    ] {
        let r = with(stale);
        assert_eq!((r.status, r.body.len()), (200, 1000), "{stale}");
    }
}

#[test]
fn if_range_fails_once_the_object_changes() {
    let (s, _, url) = with_object();
    let etag = s.get(&url).header("etag").unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.put("p3", "web", "obj.bin", &data(2000));
    let r = s.request("GET", &url, &[("Range", "bytes=0-9"), ("If-Range", &etag)]);
    assert_eq!((r.status, r.body.len()), (200, 2000));
    assert_ne!(r.header("etag").unwrap(), etag);
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[test]
fn each_conditional_header_alone() {
    let (s, _, url) = with_object();
    let full = s.get(&url);
    let etag = full.header("etag").unwrap().to_string();
    let lm = full.header("last-modified").unwrap().to_string();
    let lm_secs = httpdate::parse_http_date(&lm)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let status = |h: &str, v: &str| s.request("GET", &url, &[(h, v)]).status;
    assert_eq!(status("If-Match", &etag), 200);
    assert_eq!(status("If-Match", "*"), 200);
    assert_eq!(status("If-Match", "\"nope\""), 412);
    assert_eq!(status("If-Match", &format!("W/{etag}")), 412);
    assert_eq!(status("If-Unmodified-Since", &lm), 200);
    assert_eq!(status("If-Unmodified-Since", &http_date(lm_secs - 1)), 412);
    assert_eq!(status("If-Unmodified-Since", "not a date"), 200);
    assert_eq!(status("If-None-Match", &etag), 304);
    assert_eq!(status("If-None-Match", &format!("\"x\", W/{etag}")), 304);
    assert_eq!(status("If-None-Match", "*"), 304);
    assert_eq!(status("If-None-Match", "\"nope\""), 200);
    assert_eq!(status("If-Modified-Since", &lm), 304);
    assert_eq!(status("If-Modified-Since", &http_date(lm_secs - 1)), 200);
    assert_eq!(status("If-Modified-Since", "yesterday"), 200);
}

#[test]
fn conditional_precedence_follows_rfc_9110() {
    let (s, _, url) = with_object();
    let full = s.get(&url);
    let etag = full.header("etag").unwrap().to_string();
    let lm = full.header("last-modified").unwrap().to_string();
    let status = |h: &[(&str, &str)]| s.request("GET", &url, h).status;
    // If-Match beats If-Unmodified-Since (which alone would fail).
    assert_eq!(
        status(&[("If-Match", &etag), ("If-Unmodified-Since", &http_date(0))]),
        200
    );
    // If-None-Match beats If-Modified-Since (which alone would give 304).
    assert_eq!(
        status(&[("If-None-Match", "\"nope\""), ("If-Modified-Since", &lm)]),
        200
    );
    assert_eq!(
        status(&[
            ("If-None-Match", &etag),
            ("If-Modified-Since", &http_date(0))
        ]),
        304
    );
    // 412 is decided before 304.
    assert_eq!(
        status(&[("If-Match", "\"nope\""), ("If-None-Match", &etag)]),
        412
    );
    assert_eq!(
        status(&[
            ("If-Unmodified-Since", &http_date(0)),
            ("If-Modified-Since", &lm)
        ]),
        412
    );
    // Conditionals come before Range.
    assert_eq!(
        status(&[("If-None-Match", &etag), ("Range", "bytes=0-1")]),
        304
    );
    assert_eq!(
        status(&[("If-Match", "\"nope\""), ("Range", "bytes=5000-")]),
        412
    );
}

#[test]
fn a_304_carries_validators_and_caching_but_no_body() {
    let (s, _, url) = with_object();
    let full = s.get(&url);
    let etag = full.header("etag").unwrap();
    let r = s.request("GET", &url, &[("If-None-Match", etag)]);
    assert_eq!(r.status, 304);
    for h in ["etag", "last-modified", "cache-control", "expires"] {
        assert_eq!(r.header(h), full.header(h), "{h}");
    }
    assert!(r.header("content-range").is_none());
    assert!(
        r.header("content-length").map_or(true, |v| v == "0"),
        "{:?}",
        r.header("content-length")
    );
    let head_end = r.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert_eq!(r.raw.len(), head_end + 4, "a 304 has no body");
}

/// Headers that must be equal between GET and HEAD (Date may tick).
fn comparable(r: &Response) -> Vec<(String, String)> {
    let mut h: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    h.sort();
    h
}

#[test]
fn head_gives_the_same_status_and_headers_as_get_without_a_body() {
    // Only GET has range semantics (RFC 9110 §14.2): a HEAD with Range is answered as the
    // GET without it.
    let (s, _, url) = with_object();
    let etag = s.get(&url).header("etag").unwrap().to_string();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("Range", "bytes=10-19")],
        vec![("Range", "bytes=-1")],
        vec![("Range", "bytes=5000-")],
        vec![("If-None-Match", &etag)],
        vec![("If-Match", "\"nope\"")],
        vec![("Origin", ORIGIN)],
    ];
    for headers in cases {
        let without_range: Vec<_> = headers
            .iter()
            .filter(|(k, _)| *k != "Range")
            .copied()
            .collect();
        let get = s.request("GET", &url, &without_range);
        let head = s.request("HEAD", &url, &headers);
        assert_eq!(get.status, head.status, "{headers:?}");
        assert_eq!(comparable(&get), comparable(&head), "{headers:?}");
        let head_end = head.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert_eq!(
            head.raw.len(),
            head_end + 4,
            "HEAD has no body: {headers:?}"
        );
    }
    let head = s.request("HEAD", &url, &[]);
    assert_eq!(head.header("content-length"), Some("1000"));
}

#[test]
fn caching_never_outlives_the_link() {
    let s = server();
    s.put("p3", "web", "a.txt", b"hello");
    let expires = now() + 1234;
    let r = s.get(&link_until("a.txt", false, expires));
    assert_eq!(r.status, 200);
    let cc = r.header("cache-control").unwrap();
    let max_age: u64 = cc
        .strip_prefix("private, max-age=")
        .expect(cc)
        .parse()
        .unwrap();
    assert!((1233..=1234).contains(&max_age), "{cc}");
    let exp = httpdate::parse_http_date(r.header("expires").unwrap()).unwrap();
    assert_eq!(
        exp,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires)
    );
    // The same caching on a 206.
    let r = s.request(
        "GET",
        &link_until("a.txt", false, expires),
        &[("Range", "bytes=0-0")],
    );
    assert_eq!(r.status, 206);
    assert!(r
        .header("cache-control")
        .unwrap()
        .starts_with("private, max-age=123"));
    // After expiry a reload reaches Keyhole and fails.
    let r = s.get(&link_until("a.txt", false, now() - 1));
    assert_eq!(r.status, 401);
}

fn preflight(s: &TestServer, target: &str, origin: &str) -> Response {
    s.request(
        "OPTIONS",
        target,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range, if-none-match"),
        ],
    )
}

#[test]
fn a_preflight_from_an_allowed_origin_is_answered_without_a_signature() {
    let s = server();
    for target in ["/v1/AUTH_p3/web/any/object.mp4", "/web/any/object.mp4"] {
        let r = preflight(&s, target, ORIGIN);
        assert!(r.status == 204 || r.status == 200, "{target}: {}", r.status);
        assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
        let methods = r.header("access-control-allow-methods").unwrap();
        assert!(methods.contains("GET") && methods.contains("HEAD"));
        assert!(r
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("range"));
        assert!(r.header("access-control-max-age").is_some());
        assert!(r.header("vary").unwrap().contains("Origin"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[test]
fn a_preflight_that_is_not_allowed_is_403_without_cors_headers() {
    let s = server();
    for (target, origin) in [
        ("/v1/AUTH_p3/web/o", "https://evil.example.com"),
        ("/v1/AUTH_p3/web/o", "http://app.example.com"),
        ("/v1/AUTH_p1/c/o", ORIGIN),     // container without CORS
        ("/v1/AUTH_nope/web/o", ORIGIN), // no such project
        ("/c/o", ORIGIN),                // bucket name shared by two projects: ambiguous
        ("/nope/o", ORIGIN),
    ] {
        let r = preflight(&s, target, origin);
        assert_eq!(r.status, 403, "{target} {origin}");
        assert!(
            r.headers
                .iter()
                .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
            "{target}"
        );
    }
    let r = s.request(
        "OPTIONS",
        "/v1/AUTH_p3/web/o",
        &[("Origin", ORIGIN), ("Access-Control-Request-Method", "PUT")],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn responses_to_an_allowed_origin_carry_cors_headers() {
    let (s, _, url) = with_object();
    let etag = s.get(&url).header("etag").unwrap().to_string();
    for (headers, status) in [
        (vec![], 200),
        (vec![("Range", "bytes=0-1")], 206),
        (vec![("If-None-Match", etag.as_str())], 304),
        (vec![("Range", "bytes=9999-")], 416),
    ] {
        let mut h = headers.clone();
        h.push(("Origin", ORIGIN));
        let r = s.request("GET", &url, &h);
        assert_eq!(r.status, status);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(ORIGIN),
            "{status}"
        );
        let exposed = r
            .header("access-control-expose-headers")
            .unwrap()
            .to_ascii_lowercase();
        for e in [
            "content-disposition",
            "content-range",
            "etag",
            "content-length",
            "accept-ranges",
            "last-modified",
        ] {
            assert!(exposed.contains(e), "{e}");
        }
        assert!(r.header("vary").unwrap().contains("Origin"));
    }
}

#[test]
fn responses_to_a_refused_origin_carry_no_cors_headers() {
    let (s, _, url) = with_object();
    let r = s.request("GET", &url, &[("Origin", "https://evil.example.com")]);
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("access-control-expose-headers").is_none());
    // A container without CORS never answers with CORS headers.
    s.put("p1", "pub", "x.txt", b"x");
    let r = s.request("GET", "/v1/AUTH_p1/pub/x.txt", &[("Origin", ORIGIN)]);
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[test]
fn nosniff_is_on_every_response_even_errors() {
    let (s, _, url) = with_object();
    let etag = s.get(&url).header("etag").unwrap().to_string();
    let responses = [
        s.get(&url),
        ranged(&s, &url, "bytes=0-0"),
        ranged(&s, &url, "bytes=0-0,5-5"),
        ranged(&s, &url, "bytes=5000-"),
        s.request("GET", &url, &[("If-None-Match", &etag)]),
        s.request("GET", &url, &[("If-Match", "\"x\"")]),
        s.get(&link("missing")),
        s.get("/v1/AUTH_p3/web/obj.bin?temp_url_sig=00&temp_url_expires=1"),
        s.request("DELETE", &url, &[]),
        s.get("/v1/AUTH_p3/web/%FF"),
        s.get("/nowhere"),
        preflight(&s, "/v1/AUTH_p3/web/o", ORIGIN),
        preflight(&s, "/v1/AUTH_p3/web/o", "https://evil"),
    ];
    for r in responses {
        assert_ne!(r.status, 0);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "status {}",
            r.status
        );
    }
}

#[test]
fn active_types_viewed_inline_are_sandboxed() {
    let s = server();
    for name in ["page.html", "pic.svg", "feed.xml", "app.js"] {
        s.put("p3", "web", name, b"<x/>");
        let r = s.get(&link_until(name, true, now() + 60));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.header("content-security-policy"),
            Some("sandbox"),
            "{name}"
        );
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with("inline"),
            "{name}"
        );
    }
    s.put("p3", "web", "pic.png", b"png");
    let r = s.get(&link_until("pic.png", true, now() + 60));
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.header("content-security-policy").is_none());
}

#[test]
fn text_gets_utf8_and_unknown_types_keep_their_name_inline() {
    let s = server();
    s.put("p3", "web", "notes.txt", "tháng".as_bytes());
    s.put("p3", "web", "table.csv", b"a,b");
    s.put("p3", "web", "blob.weird-ext", b"?");
    let r = s.get(&link_until("notes.txt", true, now() + 60));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = s.get(&link_until("table.csv", true, now() + 60));
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let r = s.get(&link_until("blob.weird-ext", true, now() + 60));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("inline; filename=\"blob.weird-ext\""));
}

#[test]
fn an_empty_object_with_a_range_is_sent_whole() {
    let s = server();
    s.put("p3", "web", "empty", b"");
    let r = ranged(&s, &link("empty"), "bytes=0-");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("0"));
}

#[test]
fn hostile_headers_never_panic_or_5xx() {
    let (s, _, url) = with_object();
    let long = format!("bytes={}", "0-0,".repeat(2000));
    let values: Vec<&str> = vec![
        "bytes=-",
        "bytes=,,,",
        "bytes=18446744073709551615-18446744073709551615",
        "bytes=-18446744073709551616",
        "bytes=0-0,-0,0-",
        &long,
        "W/",
        "\"",
        "W/\"",
        "*, \"a",
        "\t",
        "Thu, 99 Foo 2024 99:99:99 GMT",
    ];
    for v in &values {
        for h in [
            "Range",
            "If-Range",
            "If-Match",
            "If-None-Match",
            "If-Modified-Since",
            "If-Unmodified-Since",
            "Origin",
        ] {
            let r = s.request("GET", &url, &[(h, v), ("Range", "bytes=0-1")]);
            assert!(r.status != 0 && r.status < 500, "{h}: {v} -> {}", r.status);
        }
    }
    // Bytes that are not ASCII at all.
    let req = format!(
        "GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=\u{ff}0-1\r\nIf-None-Match: \"\u{e9}\"\r\nIf-Range: \u{e9}\r\nOrigin: \u{e9}\r\n\r\n"
    );
    let r = common::raw(s.addr, req.as_bytes());
    assert!(r.status != 0 && r.status < 500, "{}", r.status);
}
