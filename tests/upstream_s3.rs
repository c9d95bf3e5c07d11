//! `kind = "s3"` against real S3-compatible stores on loopback: SeaweedFS
//! (tests/stores/seaweedfs.sh, signatures checked) and rclone's S3 server
//! (tests/stores/rclone-s3.sh). Objects are put with Keyhole's own header-auth signer.
//!
//! A missing store binary skips a test (with a printed reason); with KEYHOLE_INTEROP=1 or in
//! CI it fails.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    request_as, require_tool, shared_store, signed, stop_shared_store, Binary, Response, Store,
    TestServer, PROJECT,
};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use keyhole::backend::s3::{read_buckets, S3Names};
use keyhole::backend::ListQuery;
use keyhole::config::{Placeholder, S3Store, S3Style, Secret, Template};
use keyhole::upstream::client::{Client, Timeouts};
use sha2::{Digest as _, Sha256};

static SEAWEED: OnceLock<Store> = OnceLock::new();
extern "C" fn stop_seaweed() {
    stop_shared_store(&SEAWEED);
}

/// The shared SeaweedFS, or None when `weed` is not installed here.
fn seaweed() -> Option<&'static Store> {
    if !require_tool("weed") {
        return None;
    }
    Some(shared_store(&SEAWEED, "seaweedfs.sh", &[], stop_seaweed))
}

static RCLONE: OnceLock<Store> = OnceLock::new();
extern "C" fn stop_rclone() {
    stop_shared_store(&RCLONE);
}

/// The shared `rclone serve s3`, or None when rclone is not installed here.
fn rclone() -> Option<&'static Store> {
    if !require_tool("rclone") {
        return None;
    }
    Some(shared_store(&RCLONE, "rclone-s3.sh", &[], stop_rclone))
}

fn block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn now() -> u64 {
    common::now()
}

/// The store's `[backend]` as Keyhole would read it, with `secret` for its secret key.
fn s3_store(store: &Store, secret: &str, bucket: &str, object: &str) -> S3Store {
    let all = [
        Placeholder::Project,
        Placeholder::Container,
        Placeholder::Object,
    ];
    S3Store {
        endpoint: store.var("S3_ENDPOINT").parse().unwrap(),
        region: store.var("S3_REGION").to_string(),
        access_key: store.var("S3_ACCESS_KEY").to_string(),
        secret_key: Secret::new(secret),
        style: S3Style::Path,
        bucket: Template::parse(bucket, &all[..2]).unwrap(),
        object: Template::parse(object, &all).unwrap(),
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(30),
    }
}

fn names(store: &Store) -> S3Names {
    S3Names::new(&s3_store(
        store,
        store.var("S3_SECRET_KEY"),
        "{container}",
        "{object}",
    ))
}

/// Sends a signed request built by `names` with `body`; the status and the whole answer.
async fn send(req: http::Request<()>, body: Bytes) -> (StatusCode, Bytes) {
    let client = Client::new(Timeouts::default()).unwrap();
    let (parts, ()) = req.into_parts();
    let resp = client
        .send(parts.method, parts.uri, parts.headers, body)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

/// Creates `bucket` (if need be) and puts `key` in it, signed by Keyhole's signer.
fn put(store: &Store, bucket: &str, key: &str, bytes: &[u8]) {
    let n = names(store);
    block(async {
        let mk = n.request(Method::PUT, Some(bucket), "", "", now()).unwrap();
        let (status, body) = send(mk, Bytes::new()).await;
        assert!(
            status.is_success() || status == StatusCode::CONFLICT,
            "create bucket {bucket}: {status} {body:?}"
        );
        // SeaweedFS may answer 500 ("please try again") while a new bucket's volume is
        // still being set up on a busy machine: a few tries, as its clients make.
        let mut tries = 0;
        loop {
            let req = n
                .request(Method::PUT, Some(bucket), key, "", now())
                .unwrap();
            let (status, body) = send(req, Bytes::copy_from_slice(bytes)).await;
            tries += 1;
            if status.is_server_error() && tries < 5 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            assert!(status.is_success(), "put {bucket}/{key}: {status} {body:?}");
            break;
        }
    });
}

const TRICKY_KEY: &str = "dir/Tiếng Việt + a&b=c (1)~.txt";

#[test]
fn the_header_signer_is_accepted_by_seaweedfs_for_put_get_and_listings() {
    let Some(store) = seaweed() else { return };
    put(store, "signer", TRICKY_KEY, b"signed bytes");
    put(store, "signer", "dir/sub/x", b"x");
    put(store, "signer", "top", b"t");
    let n = names(store);
    block(async {
        let get = n
            .object_request(false, "p1", "signer", TRICKY_KEY, now())
            .unwrap();
        let (status, body) = send(get, Bytes::new()).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"signed bytes"[..]));

        let query = ListQuery {
            prefix: "dir/",
            delimiter: true,
            marker: "",
            limit: 10,
        };
        let (req, frame) = n.list_request("p1", "signer", &query, now()).unwrap();
        let (status, body) = send(req, Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        let page = frame.read(&body).unwrap();
        let objects: Vec<&str> = page.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(objects, [TRICKY_KEY]);
        assert_eq!(page.prefixes, ["dir/sub/"]);
        assert_eq!(page.objects[0].bytes, 12);
        assert_eq!(page.next_marker, None);

        let (status, body) = send(n.list_buckets_request(now()).unwrap(), Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert!(read_buckets(&body).unwrap().contains(&"signer".to_string()));
    });
}

#[test]
fn seaweedfs_refuses_a_request_signed_with_the_wrong_secret() {
    let Some(store) = seaweed() else { return };
    put(store, "signer", "refused", b"r");
    let wrong = S3Names::new(&s3_store(
        store,
        "not-the-secret",
        "{container}",
        "{object}",
    ));
    block(async {
        let req = wrong
            .object_request(false, "p1", "signer", "refused", now())
            .unwrap();
        let (status, body) = send(req, Bytes::new()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
    });
}

#[test]
fn the_header_signer_is_accepted_by_rclone() {
    let Some(store) = rclone() else { return };
    put(store, "signer", TRICKY_KEY, b"rclone bytes");
    let n = names(store);
    block(async {
        let get = n
            .object_request(false, "p1", "signer", TRICKY_KEY, now())
            .unwrap();
        let (status, body) = send(get, Bytes::new()).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"rclone bytes"[..]));
    });
}

// ---- through Keyhole ----

/// The bucket of container `c` of project `p1` under the test template.
const BUCKET: &str = "kh-p1-c";

/// The `[backend]` lines for `store`, signing with `secret`.
fn backend_lines(store: &Store, secret: &str) -> String {
    format!(
        "kind = \"s3\"\nendpoint = \"{}\"\nregion = \"{}\"\naccess_key = \"{}\"\n\
         secret_key = \"{secret}\"\nbucket = \"kh-{{project}}-{{container}}\"\n\
         connect_timeout = 2\nresponse_timeout = 5\n",
        store.var("S3_ENDPOINT"),
        store.var("S3_REGION"),
        store.var("S3_ACCESS_KEY"),
    )
}

/// The test suite's usual config with its fs backend swapped for `store`.
fn config_for(dir: &Path, store: &Store, secret: &str) -> String {
    config_with(dir, store, secret, "")
}

/// `config_for` with `extra` appended (more projects, API tokens).
fn config_with(dir: &Path, store: &Store, secret: &str, extra: &str) -> String {
    let text = common::base_config(dir, extra);
    let fs = format!("kind = \"fs\"\nroot = \"{}\"\n", dir.join("data").display());
    assert!(text.contains(&fs), "base_config changed its [backend]");
    text.replacen(&fs, &backend_lines(store, secret), 1)
}

fn keyhole(store: &Store) -> TestServer {
    TestServer::from_text(|dir| config_for(dir, store, store.var("S3_SECRET_KEY")))
}

fn swift_target(object: &str) -> String {
    signed(&format!("/v1/AUTH_{PROJECT}/c/{object}"))
}

/// A presigned S3 GET of `c/<object>` for a client that sends `Host: host`.
fn s3_link(host: &str, object: &str) -> String {
    common::s3_target_as(host, object, false, &[])
}

fn get(srv: &TestServer, target: &str, headers: &[(&str, &str)]) -> Response {
    srv.request("GET", target, headers)
}

/// `n` bytes that differ at every offset a range could pick.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 251) as u8).collect()
}

fn sha256(b: &[u8]) -> String {
    const_hex::encode(Sha256::digest(b))
}

/// Headers a store adds that must never reach a client.
fn assert_no_store_headers(r: &Response) {
    for (name, value) in &r.headers {
        let n = name.to_ascii_lowercase();
        assert!(
            !n.starts_with("x-amz-") && !n.starts_with("seaweed") && n != "server",
            "{name}: {value} passed through"
        );
        assert!(!value.contains("SeaweedFS"), "{name}: {value}");
    }
}

#[test]
fn swift_and_s3_links_through_keyhole_serve_the_stores_bytes() {
    let Some(store) = seaweed() else { return };
    let bytes = pattern(1 << 20);
    put(store, BUCKET, "big.bin", &bytes);
    put(store, BUCKET, TRICKY_KEY, b"tricky");
    let srv = keyhole(store);
    let r = get(&srv, &swift_target("big.bin"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256(&r.body), sha256(&bytes));
    assert_eq!(r.header("content-length"), Some("1048576"));
    assert!(r.header("etag").is_some_and(|e| e.starts_with('"')));
    assert_no_store_headers(&r);
    let host = srv.addr.to_string();
    let r = get(&srv, &s3_link(&host, "big.bin"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256(&r.body), sha256(&bytes));
    assert_no_store_headers(&r);
    let r = get(&srv, &swift_target(TRICKY_KEY), &[]);
    assert_eq!(
        (r.status, &r.body[..]),
        (200, &b"tricky"[..]),
        "{}",
        r.text()
    );
    let r = get(&srv, &s3_link(&host, TRICKY_KEY), &[]);
    assert_eq!(
        (r.status, &r.body[..]),
        (200, &b"tricky"[..]),
        "{}",
        r.text()
    );
}

/// Ranges, If-None-Match, If-Range and HEAD, through Keyhole from `store`.
fn ranges_and_preconditions(store: &Store) {
    let bytes = pattern(16388);
    put(store, BUCKET, "ranged.bin", &bytes);
    let srv = keyhole(store);
    let link = swift_target("ranged.bin");
    let whole = get(&srv, &link, &[]);
    assert_eq!(whole.status, 200, "{}", whole.text());
    let etag = whole.header("etag").expect("an etag").to_string();

    let r = get(&srv, &link, &[("Range", "bytes=2-5")]);
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(r.body, &bytes[2..6]);
    assert_eq!(r.header("content-range"), Some("bytes 2-5/16388"));
    let r = get(&srv, &link, &[("Range", "bytes=-3")]);
    assert_eq!((r.status, &r.body[..]), (206, &bytes[16385..]));
    assert_eq!(r.header("content-range"), Some("bytes 16385-16387/16388"));

    let r = get(&srv, &link, &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    // Stores answer 206 to a wrong If-Range validator; RFC 9110 wants the whole object.
    let r = get(
        &srv,
        &link,
        &[("Range", "bytes=2-5"), ("If-Range", "\"wrong\"")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        sha256(&r.body),
        sha256(&bytes),
        "{:?} {} bytes",
        r.headers,
        r.body.len()
    );
    let r = get(&srv, &link, &[("Range", "bytes=2-5"), ("If-Range", &etag)]);
    assert_eq!((r.status, &r.body[..]), (206, &bytes[2..6]));
    let r = get(&srv, &link, &[("If-Match", "\"wrong\"")]);
    assert_eq!(r.status, 412, "{}", r.text());
    // Past the end: 416 with the object's length, whether or not the store stated it.
    let r = get(&srv, &link, &[("Range", "bytes=20000-")]);
    assert_eq!(r.status, 416, "{}", r.text());
    assert_eq!(r.header("content-range"), Some("bytes */16388"));

    let head = srv.request("HEAD", &link, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in [
        "content-length",
        "etag",
        "last-modified",
        "content-type",
        "accept-ranges",
    ] {
        assert_eq!(head.header(name), whole.header(name), "{name}");
    }
}

#[test]
fn ranges_preconditions_and_head_follow_http_through_seaweedfs() {
    let Some(store) = seaweed() else { return };
    ranges_and_preconditions(store);
}

/// A missing object is Swift's plain 404 and S3's NoSuchKey.
fn missing_object(store: &Store) {
    put(store, BUCKET, "present", b"p");
    let srv = keyhole(store);
    let r = get(&srv, &swift_target("absent"), &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(!r.text().contains('<'), "{}", r.text());
    let r = get(&srv, &s3_link(&srv.addr.to_string(), "absent"), &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("<Code>NoSuchKey</Code>"), "{}", r.text());
}

#[test]
fn a_missing_object_is_each_protocols_404_through_seaweedfs() {
    let Some(store) = seaweed() else { return };
    missing_object(store);
}

#[test]
fn wrong_credentials_are_a_502_and_readyz_fails() {
    let Some(store) = seaweed() else { return };
    put(store, BUCKET, "guarded", b"g");
    let good = keyhole(store);
    assert_eq!(good.get("/_keyhole/readyz").status, 200);
    let srv = TestServer::from_text(|dir| config_for(dir, store, "not-the-secret"));
    let r = get(&srv, &swift_target("guarded"), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(!r.text().contains("SignatureDoesNotMatch"), "{}", r.text());
    let r = get(&srv, &s3_link(&srv.addr.to_string(), "guarded"), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("<Error>"), "{}", r.text());
    assert_eq!(srv.get("/_keyhole/readyz").status, 503);
}

#[test]
fn two_replicas_serve_the_same_link() {
    let Some(store) = seaweed() else { return };
    let bytes = pattern(70_000);
    put(store, BUCKET, "shared.bin", &bytes);
    let (a, b) = (keyhole(store), keyhole(store));
    // As behind one proxy: both see the same public Host.
    let host = "share.example.com";
    let s3 = s3_link(host, "shared.bin");
    let swift = swift_target("shared.bin");
    for srv in [&a, &b] {
        for target in [&s3, &swift] {
            let r = request_as(srv.addr, "GET", host, target, &[]);
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(sha256(&r.body), sha256(&bytes));
        }
    }
}

#[test]
fn the_store_stopped_mid_test_is_a_502_within_the_timeout_then_served_again() {
    if !require_tool("weed") {
        return;
    }
    let store = Store::start("seaweedfs.sh", &[]);
    put(&store, BUCKET, "flaky", b"flaky bytes");
    let srv = keyhole(&store);
    let link = swift_target("flaky");
    assert_eq!(get(&srv, &link, &[]).status, 200);
    store.stop();
    let start = Instant::now();
    let r = get(&srv, &link, &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(srv.get("/_keyhole/readyz").status, 503);
    store.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(&srv, &link, &[]);
        if r.status == 200 {
            assert_eq!(r.body, b"flaky bytes");
            break;
        }
        assert!(Instant::now() < deadline, "not served again: {}", r.status);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(srv.get("/_keyhole/readyz").status, 200);
}

/// The real binary in front of `store`.
fn binary(store: &Store) -> Binary {
    let dir = common::TempDir::new("binary");
    let text = config_for(&dir.0, store, store.var("S3_SECRET_KEY"));
    Binary::spawn(dir, &text, 2, |_| {})
}

/// Sends a GET of `target` and reads the head; the stream is left at the body.
fn open_get(addr: std::net::SocketAddr, target: &str) -> (TcpStream, Response) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let head = common::read_head(&mut s);
    (s, head)
}

#[test]
fn a_256_mib_object_streams_through_in_bounded_memory_and_a_client_may_leave_mid_body() {
    let Some(store) = seaweed() else { return };
    const LEN: usize = 256 << 20;
    let bytes = pattern(LEN);
    let want = sha256(&bytes);
    put(store, BUCKET, "huge.bin", &bytes);
    drop(bytes);
    let bin = binary(store);
    let target = swift_target("huge.bin");

    // One client reads a little and leaves; Keyhole lets go of the store's answer.
    let fds = bin.fds();
    let (mut s, head) = open_get(bin.addr, &target);
    assert_eq!(head.status, 200);
    let mut some = vec![0u8; 1 << 20];
    s.read_exact(&mut some).unwrap();
    drop(s);

    let (mut s, head) = open_get(bin.addr, &target);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(&*LEN.to_string()));
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    loop {
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => {
                hash.update(&buf[..n]);
                got += n;
            }
        }
    }
    assert_eq!(got, LEN);
    assert_eq!(const_hex::encode(hash.finalize()), want);
    let rss = bin.peak_rss_kib();
    eprintln!("keyhole peak RSS after 256 MiB: {rss} KiB");
    assert!(rss < 64 * 1024, "keyhole's peak RSS was {rss} KiB");
    // The connection of the client that left is not kept open (pooled connections to the
    // store are allowed a few).
    let after = bin.settle_fds(fds, 4);
    assert!(after <= fds + 4, "descriptors: {fds} before, {after} after");
}

const TOKEN: &str = "s3-listing-token";

/// GETs an API path with the test token; the status and the envelope's `data`.
fn api(srv: &TestServer, target: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {TOKEN}");
    let r = srv.request("GET", target, &[("Authorization", &auth)]);
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    (r.status, v["data"].clone())
}

#[test]
fn the_listing_api_and_any_container_list_through_list_objects_and_list_buckets() {
    let Some(store) = seaweed() else { return };
    for name in [
        "lst/top.txt",
        "lst/docs/a.pdf",
        "lst/docs/old/b.pdf",
        "lst/pics/c.png",
    ] {
        put(store, BUCKET, name, b"x");
    }
    put(store, "kh-p3-photos", "x.jpg", b"x");
    let extra = format!(
        "[[project]]\nid = \"p3\"\nany_container = true\ntemp_url_keys = [\"k3\"]\n\
         [[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p1\", \"p3\"]\n"
    );
    let srv =
        TestServer::from_text(|dir| config_with(dir, store, store.var("S3_SECRET_KEY"), &extra));
    let list = |query: &str| {
        api(
            &srv,
            &format!("/api/v1/projects/p1/containers/c/objects?{query}"),
        )
    };
    let names = |data: &serde_json::Value| -> Vec<String> {
        data["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, data) = list("prefix=lst/&delimiter=/");
    assert_eq!(status, 200, "{data}");
    assert_eq!(names(&data), ["lst/top.txt"]);
    assert_eq!(
        data["prefixes"],
        serde_json::json!(["lst/docs/", "lst/pics/"])
    );
    // Page by page, one name at a time, every object once and in order.
    let mut seen = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let (status, data) = list(&format!("prefix=lst/&limit=1&marker={marker}"));
        assert_eq!(status, 200, "{data}");
        seen.extend(names(&data));
        match data["nextMarker"].as_str() {
            Some(m) => marker = common::encode_path(m),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "lst/docs/a.pdf",
            "lst/docs/old/b.pdf",
            "lst/pics/c.png",
            "lst/top.txt"
        ]
    );
    let (status, data) = api(&srv, "/api/v1/projects");
    assert_eq!(status, 200, "{data}");
    let p3 = data
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "p3")
        .unwrap()
        .clone();
    let containers: Vec<&str> = p3["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(containers, ["photos"], "{p3}");
}

#[test]
fn a_reload_with_the_right_secret_serves_what_the_wrong_one_could_not() {
    let Some(store) = seaweed() else { return };
    put(store, BUCKET, "reloaded", b"after the reload");
    let dir = common::TempDir::new("binary");
    let text = config_for(&dir.0, store, "not-the-secret");
    let bin = Binary::spawn(dir, &text, 1, |c| {
        c.env("RUST_LOG", "info");
    });
    let target = swift_target("reloaded");
    let status = |bin: &Binary| {
        let (s, head) = open_get(bin.addr, &target);
        drop(s);
        head.status
    };
    assert_eq!(status(&bin), 502);
    let right = text.replace("not-the-secret", store.var("S3_SECRET_KEY"));
    std::fs::write(bin.config_path(), right).unwrap();
    let said = bin.reload();
    assert!(said.contains("config reloaded"), "{said}");
    let (mut s, head) = open_get(bin.addr, &target);
    assert_eq!(head.status, 200);
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    assert_eq!(body, b"after the reload");
}

// ---- rclone serve s3: the same smoke cases and its quirks ----

#[test]
fn rclone_links_ranges_and_preconditions_through_keyhole() {
    let Some(store) = rclone() else { return };
    // rclone answers a Range with 200 plus Content-Range: Keyhole still answers 206.
    ranges_and_preconditions(store);
}

#[test]
fn rclone_missing_object_and_whole_get() {
    let Some(store) = rclone() else { return };
    missing_object(store);
    let bytes = pattern(300_000);
    put(store, BUCKET, "whole.bin", &bytes);
    let srv = keyhole(store);
    let r = get(&srv, &s3_link(&srv.addr.to_string(), "whole.bin"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256(&r.body), sha256(&bytes));
    assert_no_store_headers(&r);
}

// ---- the documented configs ----

/// The TOML of the README's S3 example (the block after its `upstream-example` marker).
fn readme_s3_example() -> String {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let at = readme
        .find("<!-- upstream-example")
        .expect("README marks its S3 example");
    let block = &readme[at..];
    let start = block.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + block[start..].find("```").unwrap();
    block[start..end].to_string()
}

/// The `keyhole.toml` of the Kubernetes ConfigMap (a `|` block indented by four spaces).
fn configmap_config() -> String {
    let yaml = std::fs::read_to_string("deploy/kubernetes/configmap.yaml").unwrap();
    let (_, body) = yaml.split_once("keyhole.toml: |\n").expect("keyhole.toml");
    body.lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_and_kubernetes_s3_configs_are_valid_and_mean_what_they_say() {
    use keyhole::config::{BackendConfig, Config};
    let dir = common::TempDir::new("docs");
    std::env::set_var("KEYHOLE_STORE_SECRET", "store-secret");
    std::env::set_var("KEYHOLE_TEAM_S3_SECRET", "team-secret");
    std::env::set_var("KEYHOLE_API_TOKEN", "api-token");
    // The Secret's files, where the Deployment mounts them, moved into a folder of the test.
    let secrets = dir.0.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for f in ["store-secret-key", "link-secret-key"] {
        std::fs::write(secrets.join(f), format!("{f}\n")).unwrap();
    }
    let configmap =
        configmap_config().replace("/run/secrets/keyhole", &secrets.display().to_string());
    for (what, text) in [("README", readme_s3_example()), ("ConfigMap", configmap)] {
        let cfg = Config::parse(&text, &dir.0).unwrap_or_else(|e| panic!("{what}: {e}"));
        let BackendConfig::S3(s3) = &cfg.backend else {
            panic!("{what}: not an s3 backend")
        };
        assert_eq!(s3.style, S3Style::Path, "{what}");
        assert_eq!(s3.bucket.render("p", "photos", "o"), "photos", "{what}");
        assert_eq!(s3.object.render("p", "c", "a/b"), "a/b", "{what}");
        assert!(!s3.secret_key.expose().is_empty(), "{what}");
    }
}
