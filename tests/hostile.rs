//! Hostile input over raw HTTP: every case gets a 4xx or a clean close, never a 5xx, never a
//! byte from outside the container, and the server answers the next request.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const SECRETS: [&str; 3] = ["OTHER PROJECT SECRET", "OUTSIDE ROOT", "/bin/bash"];

fn setup() -> TestServer {
    let s = TestServer::start();
    s.put(PROJECT, "c", "ok.txt", b"fine");
    s.put("p2", "c", "secret.txt", b"OTHER PROJECT SECRET");
    std::fs::write(s.dir.0.join("outside.txt"), b"OUTSIDE ROOT").unwrap();
    s
}

/// The server still serves a good link after whatever came before.
fn still_serving(s: &TestServer) {
    let r = s.get(&signed("/v1/AUTH_p1/c/ok.txt"));
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"fine".as_slice()),
        "server stopped serving"
    );
}

fn assert_refused(what: &str, r: &Response) {
    assert!(
        r.status == 0 || (400..500).contains(&r.status),
        "{what}: status {} ({})",
        r.status,
        r.text()
    );
    assert_no_secret(what, r);
}

/// Nothing from outside the container anywhere in what came back, head included.
fn assert_no_secret(what: &str, r: &Response) {
    let all = String::from_utf8_lossy(&r.raw);
    for s in SECRETS {
        assert!(!all.contains(s), "{what}: leaked {s}");
    }
}

fn send(s: &TestServer, bytes: &[u8]) -> Response {
    raw(s.addr, bytes)
}

#[test]
fn traversal_in_every_encoding_is_refused() {
    let s = setup();
    let (_, q) = signed("/v1/AUTH_p1/c/x")
        .split_once('?')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let targets = [
        "/v1/AUTH_p1/c/../../p2/c/secret.txt".to_string(),
        "/v1/AUTH_p1/c/%2e%2e/%2e%2e/p2/c/secret.txt".to_string(),
        "/v1/AUTH_p1/c/%2E%2E%2F%2E%2E%2Fp2%2Fc%2Fsecret.txt".to_string(),
        "/v1/AUTH_p1/c/%252e%252e/%252e%252e/p2/c/secret.txt".to_string(),
        "/v1/AUTH_p1/c/%c0%ae%c0%ae/%c0%ae%c0%ae/p2/c/secret.txt".to_string(),
        "/v1/AUTH_p1/c/..%5c..%5cp2%5cc%5csecret.txt".to_string(),
        "/v1/AUTH_p1/c/..\\..\\p2\\c\\secret.txt".to_string(),
        "/v1/AUTH_p1/c/ok.txt%00.png".to_string(),
        "/v1/AUTH_p1/c/%2fetc%2fpasswd".to_string(),
        "/v1/AUTH_p1/c//etc/passwd".to_string(),
        "/v1/AUTH_p1/c/../../../../../../etc/passwd".to_string(),
        "/v1/AUTH_p1/c/../../../outside.txt".to_string(),
        "/p2/c/../secret.txt".to_string(),
        "//etc/passwd".to_string(),
        "/v1/AUTH_p1/../p2/c/secret.txt".to_string(),
        "/v1/AUTH_p2/c/secret.txt".to_string(),
    ];
    for t in targets {
        for target in [format!("{t}?{q}"), t.clone()] {
            let r = send(
                &s,
                format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            assert_refused(&target, &r);
        }
    }
    still_serving(&s);
}

#[test]
fn oversized_urls_headers_and_queries_are_refused_cleanly() {
    let s = setup();
    let long_path = format!("/v1/AUTH_p1/c/{}", "a".repeat(200_000));
    let r = send(
        &s,
        format!("GET {long_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_refused("long path", &r);

    let long_query = format!(
        "{}&pad={}",
        signed("/v1/AUTH_p1/c/ok.txt"),
        "b".repeat(60_000)
    );
    let r = send(
        &s,
        format!("GET {long_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(
        r.status == 200 || r.status == 0 || (400..500).contains(&r.status),
        "long query: {}",
        r.status
    );

    let long_name = format!("/v1/AUTH_p1/c/{}", "n".repeat(5_000));
    let r = send(
        &s,
        format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            signed(&long_name)
        )
        .as_bytes(),
    );
    assert_refused("object name over the limit", &r);

    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "h".repeat(1_000_000)
    );
    assert_refused("huge header", &send(&s, big_header.as_bytes()));

    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..2000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("Connection: close\r\n\r\n");
    assert_refused("many headers", &send(&s, many.as_bytes()));
    still_serving(&s);
}

#[test]
fn malformed_requests_never_get_a_5xx() {
    let s = setup();
    let good = signed("/v1/AUTH_p1/c/ok.txt");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("raw non-UTF-8 in the path", b"GET /v1/AUTH_p1/c/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("raw non-UTF-8 in a header", b"GET / HTTP/1.1\r\nHost: \xff\r\nConnection: close\r\n\r\n".to_vec()),
        ("percent-encoded non-UTF-8", b"GET /v1/AUTH_p1/c/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("bad method", b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
        ("bad version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        ("no target", b"GET HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("absolute-form elsewhere", b"GET http://evil.example/v1/AUTH_p2/c/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("CL and TE together", format!("GET {good} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/AUTH_p2/c/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()),
        ("two Content-Lengths", format!("GET {good} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef").into_bytes()),
        ("negative Content-Length", format!("GET {good} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n").into_bytes()),
        ("bad chunk size", format!("POST {good} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n").into_bytes()),
        ("header without colon", b"GET / HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n".to_vec()),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\nConnection: close\r\n\r\n".to_vec()),
        ("huge range numbers", format!("GET {good} HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999999999999999999-\r\nConnection: close\r\n\r\n").into_bytes()),
        ("conflicting expiries", format!("GET {good}&temp_url_expires=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()),
        ("API without a body", b"POST /api/v1/projects/p1/containers/c/objects/ok.txt/download_tempurls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n".to_vec()),
    ];
    for (what, bytes) in cases {
        let r = send(&s, &bytes);
        assert!(r.status < 500, "{what}: {}", r.status);
        assert!(
            !String::from_utf8_lossy(&r.raw).contains("OTHER PROJECT SECRET"),
            "{what} leaked"
        );
    }
    still_serving(&s);
}

#[test]
fn http_1_0_without_host_is_served_and_closed() {
    let s = setup();
    let r = send(
        &s,
        format!("GET {} HTTP/1.0\r\n\r\n", signed("/v1/AUTH_p1/c/ok.txt")).as_bytes(),
    );
    assert_eq!((r.status, r.body.as_slice()), (200, b"fine".as_slice()));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = setup();
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let good = signed("/v1/AUTH_p1/c/ok.txt");
    let batch = format!(
        "GET {good} HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/AUTH_p1/c/ok.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD {good} HTTP/1.1\r\nHost: x\r\n\r\nGET {good} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(batch.as_bytes()).unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "401", "200", "200"], "{text}");
    assert_eq!(
        text.matches("fine").count(),
        2,
        "HEAD must not carry the body"
    );
}

#[test]
fn a_slow_client_sending_headers_byte_by_byte_is_still_served() {
    let s = setup();
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        signed("/v1/AUTH_p1/c/ok.txt")
    );
    for chunk in req.as_bytes().chunks(7) {
        stream.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    assert_eq!(parse(all).status, 200);
}

/// A file, and the folder holding it, swapped for symlinks out of the root while requests
/// race them: each answer is the real file or a 404, never the target of a link. (One
/// `openat2` resolves the whole path, so there is no gap between a check and the open.)
#[test]
fn files_and_folders_swapped_for_symlinks_mid_request_never_leak() {
    let s = setup();
    let outside_dir = s.dir.0.join("outside-dir");
    std::fs::create_dir_all(outside_dir.join("sub")).unwrap();
    std::fs::write(outside_dir.join("sub/race.txt"), b"OUTSIDE ROOT").unwrap();
    let c = s.root().join("p1/c");
    s.put(PROJECT, "c", "sub/race.txt", b"inside");
    // Prepared once; the racer renames them over the real names and back.
    std::os::unix::fs::symlink(s.dir.0.join("outside.txt"), c.join(".file-link")).unwrap();
    std::os::unix::fs::symlink(outside_dir.join("sub"), c.join(".dir-link")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (real, link) = if swaps % 2 == 0 {
                    (c.join("sub/race.txt"), c.join(".file-link"))
                } else {
                    (c.join("sub"), c.join(".dir-link"))
                };
                let keep = c.join(".real");
                std::fs::rename(&real, &keep).unwrap();
                std::fs::rename(&link, &real).unwrap();
                std::thread::yield_now();
                std::fs::rename(&real, &link).unwrap();
                std::fs::rename(&keep, &real).unwrap();
                // Leave the real names in place for a while too, so both states are hit.
                std::thread::sleep(Duration::from_micros(200));
                swaps += 1;
            }
            swaps
        })
    };
    let url = signed("/v1/AUTH_p1/c/sub/race.txt");
    let (mut served, mut refused) = (0, 0);
    for _ in 0..400 {
        let r = s.get(&url);
        match r.status {
            200 => {
                assert_eq!(r.body, b"inside", "bytes from elsewhere");
                served += 1;
            }
            404 => refused += 1,
            other => panic!("status {other}: {}", r.text()),
        }
        assert_no_secret("racing request", &r);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    assert!(swaps > 10, "the racer barely ran ({swaps} swaps)");
    assert!(
        served > 0,
        "never served the real file: the race did not alternate"
    );
    eprintln!("{served} served, {refused} refused during {swaps} swaps");
    still_serving(&s);
}

#[test]
fn an_http11_request_without_host_is_refused_and_http10_is_served() {
    let s = setup();
    let target = signed("/v1/AUTH_p1/c/ok.txt");
    let r = send(
        &s,
        format!("GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Host"), "{}", r.text());
    let r = send(&s, format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
    assert_eq!((r.status, r.body.as_slice()), (200, b"fine".as_slice()));
    still_serving(&s);
}
