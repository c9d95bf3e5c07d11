//! `[backend] kind = "swift"` against a real OpenStack Swift (tests/stores/swift.sh,
//! tempauth): Swift and S3 links served from it, its failures, Keyhole's token renewal, and
//! `keys_from_store` with keys set by `swift post` and links made by `swift tempurl`.

mod common;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{
    now, require_tool, s3_target, serve_config, shared_store, signed, signed_with, stdout_of,
    stop_shared_store, Store, TempDir, TestServer, ACCESS_KEY, ACCOUNT_KEY, SECRET_KEY,
};
use sha2::{Digest as _, Sha256};

static SWIFT: OnceLock<Store> = OnceLock::new();
const API_TOKEN: &str = "swiftbe-api-token";

extern "C" fn stop_swift() {
    stop_shared_store(&SWIFT);
}

/// Whether Swift and its client are here (they must be with KEYHOLE_INTEROP=1 or CI).
fn have_swift() -> bool {
    require_tool("swift-proxy-server") && require_tool("swift")
}

/// The Swift shared by this binary's tests (tempauth, day-long tokens).
fn swift() -> Option<&'static Store> {
    have_swift().then(|| shared_store(&SWIFT, "swift.sh", &[], stop_swift))
}

/// The `swift` command line logged in as the store's first user.
fn swift_cli(store: &Store) -> Command {
    let mut c = Command::new("swift");
    c.env("ST_AUTH", store.var("SWIFT_AUTH_URL"))
        .env("ST_USER", store.var("SWIFT_USER"))
        .env("ST_KEY", store.var("SWIFT_KEY"))
        .env_remove("OS_AUTH_URL");
    c
}

/// Uploads `bytes` as `container/name` with `swift upload`.
fn put(store: &Store, container: &str, name: &str, bytes: &[u8]) {
    let dir = TempDir::new("upload");
    let file = dir.0.join("object");
    std::fs::write(&file, bytes).unwrap();
    stdout_of(
        swift_cli(store)
            .args(["upload", container])
            .arg(&file)
            .args(["--object-name", name]),
    );
}

/// A Keyhole in front of `store`, logging in with `key`; project `test` is the store's
/// `AUTH_test` account, with the common test keys and `keys_from_store`.
fn keyhole(store: &Store, key: &str, backend: &str) -> TestServer {
    let text = format!(
        r#"listen = "127.0.0.1:0"
[backend]
kind = "swift"
auth_url = "{auth}"
user = "{user}"
key = "{key}"
account = "AUTH_{{project}}"
connect_timeout = 2
response_timeout = 10
{backend}
[[project]]
id = "test"
temp_url_keys = ["{ACCOUNT_KEY}"]
any_container = true
keys_from_store = true
  [[project.s3_key]]
  access_key = "{ACCESS_KEY}"
  secret_key = "{SECRET_KEY}"
[[api_token]]
token = "{API_TOKEN}"
projects = ["test"]
"#,
        auth = store.var("SWIFT_AUTH_URL"),
        user = store.var("SWIFT_USER"),
    );
    serve_config("swiftbe", &text)
}

fn sha(bytes: &[u8]) -> String {
    const_hex::encode(Sha256::digest(bytes))
}

/// Bytes that differ at every offset a range could pick.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// Polls `check` every 200 ms for up to `limit`; whether it held.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_swift_link_gets_the_stores_bytes_ranges_and_conditional_answers() {
    let Some(store) = swift() else { return };
    let name = "docs/Báo cáo #1 & more.bin";
    let bytes = pattern(300_000);
    put(store, "c", name, &bytes);
    let srv = keyhole(store, store.var("SWIFT_KEY"), "");
    let link = signed(&format!("/v1/AUTH_test/c/{name}"));

    let whole = srv.get(&link);
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(sha(&whole.body), sha(&bytes));
    assert_eq!(whole.header("content-length"), Some("300000"));
    let etag = whole.header("etag").expect("the store's ETag").to_string();
    assert!(etag.starts_with('"'), "{etag}");

    let r = srv.request("GET", &link, &[("Range", "bytes=1000-1999")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/300000"));
    assert_eq!(r.body, &bytes[1000..2000]);
    let r = srv.request("GET", &link, &[("Range", "bytes=-7")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &bytes[bytes.len() - 7..]);

    let r = srv.request("GET", &link, &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = srv.request(
        "GET",
        &link,
        &[("Range", "bytes=0-9"), ("If-Range", "\"not-the-etag\"")],
    );
    assert_eq!(r.status, 200, "a stale If-Range gets the whole object");
    assert_eq!(sha(&r.body), sha(&bytes));

    // A GET link opens HEAD too (Swift signs the method; tempurl allows HEAD with GET).
    let head = srv.request("HEAD", &link, &[]);
    assert_eq!(head.status, 200);
    for h in ["content-length", "etag", "content-type", "last-modified"] {
        assert_eq!(head.header(h), whole.header(h), "{h}");
    }
    assert!(head.body.is_empty());
}

#[test]
fn an_s3_link_is_served_from_swift_and_a_missing_object_is_404() {
    let Some(store) = swift() else { return };
    let bytes = pattern(70_001);
    put(store, "c", "s3/object.bin", &bytes);
    let srv = keyhole(store, store.var("SWIFT_KEY"), "");
    let r = srv.get(&s3_target(&srv, "s3/object.bin", false, &[]));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha(&r.body), sha(&bytes));
    let r = srv.request(
        "GET",
        &s3_target(&srv, "s3/object.bin", true, &[]),
        &[("Range", "bytes=70000-")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &bytes[70000..]));

    let missing = srv.get(&s3_target(&srv, "s3/no-such-object", false, &[]));
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("<Code>NoSuchKey</Code>"),
        "{}",
        missing.text()
    );
    let missing = srv.get(&signed("/v1/AUTH_test/c/no-such-object"));
    assert_eq!(missing.status, 404, "{}", missing.text());
    let no_container = srv.get(&signed("/v1/AUTH_test/no-such-container/o"));
    assert_eq!(no_container.status, 404, "{}", no_container.text());
}

#[test]
fn a_link_made_by_swift_tempurl_with_the_accounts_stored_key_opens() {
    let Some(store) = swift() else { return };
    let key = format!("stored-account-key-{}", now());
    // The account key is this test's alone; the other keys_from_store test uses a container's.
    stdout_of(swift_cli(store).args(["post", "-m", &format!("Temp-URL-Key-2:{key}")]));
    put(store, "c", "tempurl/by-cli.txt", b"made by swift tempurl\n");
    let srv = keyhole(store, store.var("SWIFT_KEY"), "");
    let path = "/v1/AUTH_test/c/tempurl/by-cli.txt";
    for digest in ["sha1", "sha256"] {
        let link = stdout_of(
            swift_cli(store).args(["tempurl", "--digest", digest, "GET", "3600", path, &key]),
        );
        let r = srv.get(&link);
        assert_eq!(r.status, 200, "{digest}: {}", r.text());
        assert_eq!(r.body, b"made by swift tempurl\n");
    }
    let forged = signed_with(path, "not-the-stored-key");
    assert_eq!(srv.get(&forged).status, 401);
}

#[test]
fn a_container_key_changed_on_the_cluster_takes_effect_within_key_cache() {
    let Some(store) = swift() else { return };
    let (old, new) = (format!("old-{}", now()), format!("new-{}", now()));
    put(store, "kc", "o.txt", b"keyed by the container\n");
    let set = |key: &str| {
        stdout_of(swift_cli(store).args(["post", "kc", "-m", &format!("Temp-URL-Key:{key}")]));
    };
    set(&old);
    let srv = keyhole(store, store.var("SWIFT_KEY"), "key_cache = 2");
    let path = "/v1/AUTH_test/kc/o.txt";
    let tempurl =
        |key: &str| stdout_of(swift_cli(store).args(["tempurl", "GET", "3600", path, key]));
    let (old_link, new_link) = (tempurl(&old), tempurl(&new));
    // Twice: the second is the link cache's answer.
    for _ in 0..2 {
        let r = srv.get(&old_link);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(srv.get(&new_link).status, 401);
    set(&new);
    let changed = Instant::now();
    assert!(
        within(Duration::from_secs(5), || srv.get(&old_link).status == 401),
        "the old key still opens links after key_cache"
    );
    assert!(
        changed.elapsed() <= Duration::from_secs(4),
        "{:?}",
        changed.elapsed()
    );
    assert_eq!(srv.get(&new_link).status, 200);
}

#[test]
fn keyhole_refused_by_the_store_answers_502_and_is_not_ready() {
    let Some(store) = swift() else { return };
    put(store, "c", "refused.txt", b"x");
    let srv = keyhole(store, "not-the-key", "");
    let r = srv.get(&signed("/v1/AUTH_test/c/refused.txt"));
    assert_eq!(r.status, 502, "{}", r.text());
    let r = srv.get(&s3_target(&srv, "refused.txt", false, &[]));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("<Error>"), "S3's shape: {}", r.text());
    assert_eq!(srv.get("/_keyhole/readyz").status, 503);
    let good = keyhole(store, store.var("SWIFT_KEY"), "");
    assert_eq!(good.get("/_keyhole/readyz").status, 200);
}

/// Lines of the proxy's log with `needle` in them.
fn logged(store: &Store, needle: &str) -> usize {
    let log = std::fs::read_to_string(store.dir.0.join("log/proxy.log")).unwrap_or_default();
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn a_token_the_store_forgot_is_replaced_and_the_request_sent_again() {
    let Some(store) = swift() else { return };
    put(store, "c", "retried.txt", b"sent twice\n");
    let srv = keyhole(store, store.var("SWIFT_KEY"), "");
    let link = signed("/v1/AUTH_test/c/retried.txt");
    assert_eq!(srv.get(&link).status, 200);
    // tempauth keeps its tokens in memcached only: emptied, every token is unknown (401).
    let mut mc = std::net::TcpStream::connect(("127.0.0.1", memcached_port(store))).unwrap();
    std::io::Write::write_all(&mut mc, b"flush_all\r\n").unwrap();
    let mut ok = [0u8; 4];
    std::io::Read::read_exact(&mut mc, &mut ok).unwrap();
    assert_eq!(&ok, b"OK\r\n");
    // Keyhole's own requests carry no User-Agent: `- -` after the status.
    let refused = logged(store, "/retried.txt HTTP/1.0 401 - - ");
    let r = srv.get(&link);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"sent twice\n");
    assert_eq!(
        logged(store, "/retried.txt HTTP/1.0 401 - - "),
        refused + 1,
        "the first try was refused, the second served"
    );
}

fn memcached_port(store: &Store) -> u16 {
    store.var("SWIFT_MEMCACHED_PORT").parse().unwrap()
}

/// Keyhole's logins in the proxy's log: it sends no User-Agent, python-swiftclient does.
fn keyhole_logins(store: &Store) -> usize {
    logged(store, "GET /auth/v1.0 HTTP/1.0 200 - - ")
}

#[test]
fn expired_tokens_are_renewed_and_a_stopped_store_is_502_until_it_is_back() {
    if !have_swift() {
        return;
    }
    // A store of its own: it is stopped below, and its tokens last 3 s.
    let store = Store::start("swift.sh", &[("SWIFT_TOKEN_LIFE", "3")]);
    let bytes = pattern(5000);
    put(&store, "c", "renewed.bin", &bytes);
    let srv = keyhole(&store, store.var("SWIFT_KEY"), "");
    let link = signed("/v1/AUTH_test/c/renewed.bin");
    let before = keyhole_logins(&store);
    let (start, mut requests) = (Instant::now(), 0);
    while start.elapsed() < Duration::from_secs(8) {
        requests += 1;
        let r = srv.get(&link);
        assert_eq!(r.status, 200, "after {:?}: {}", start.elapsed(), r.text());
        assert_eq!(sha(&r.body), sha(&bytes));
        std::thread::sleep(Duration::from_millis(250));
    }
    let logins = keyhole_logins(&store) - before;
    // Renewed around each 3 s expiry, never once per request.
    assert!(
        logins >= 2 && logins * 2 < requests,
        "{logins} logins for {requests} requests"
    );

    store.stop();
    let r = srv.get(&link);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(srv.get("/_keyhole/readyz").status, 503);
    let st = Command::new("bash")
        .args(["tests/stores/swift.sh", "start"])
        .arg(&store.dir.0)
        .env("STORES_WATCH_PID", std::process::id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        within(Duration::from_secs(20), || srv.get(&link).status == 200),
        "served again once the store is back"
    );
    assert_eq!(srv.get("/_keyhole/readyz").status, 200);
}

/// `data` of a management API GET.
fn api(srv: &TestServer, target: &str) -> serde_json::Value {
    let auth = format!("Bearer {API_TOKEN}");
    let r = srv.request("GET", target, &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["data"].clone()
}

#[test]
fn listings_come_from_swifts_own_container_and_account_listings() {
    let Some(store) = swift() else { return };
    for name in ["a.txt", "dir/x.txt", "dir/y.txt", "z é.txt"] {
        put(store, "lst", name, name.as_bytes());
    }
    let srv = keyhole(store, store.var("SWIFT_KEY"), "");
    let objects = "/api/v1/projects/test/containers/lst/objects";
    let page = api(&srv, &format!("{objects}?delimiter=/&limit=2"));
    assert_eq!(page["objects"][0]["name"], "a.txt");
    assert_eq!(page["objects"][0]["bytes"], 5);
    assert_eq!(page["prefixes"], serde_json::json!(["dir/"]));
    assert_eq!(page["nextMarker"], "dir/");
    let rest = api(
        &srv,
        &format!("{objects}?delimiter=/&limit=2&marker=dir%2F"),
    );
    assert_eq!(rest["objects"][0]["name"], "z é.txt");
    assert_eq!(rest["prefixes"], serde_json::json!([]));
    assert!(rest["nextMarker"].is_null(), "{rest}");
    let inside = api(&srv, &format!("{objects}?prefix=dir%2F&delimiter=/"));
    let names: Vec<&str> = inside["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dir/x.txt", "dir/y.txt"]);
    // any_container: the account's containers are the project's.
    let projects = api(&srv, "/api/v1/projects");
    let held: Vec<&str> = projects[0]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(held.contains(&"lst"), "{projects}");
}
