//! Dates a clock cannot hold: links that expire past year 9999 or near the 64-bit limit,
//! files whose mtime is past 9999 or before 1970, and conditional headers at the ends of the
//! HTTP-date range. Each gets a sane answer from a real server, never a 500.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::*;
use keyhole::auth::sigv2;
use keyhole::auth::swift::Digest;
use keyhole::share::SwiftLink;
use serde_json::{json, Value};

/// 10000-01-01T00:00:00Z, the first second no HTTP-date can say.
const YEAR_10000: u64 = 253_402_300_800;
const LAST_DATE: &str = "Fri, 31 Dec 9999 23:59:59 GMT";
const FAR_EXPIRIES: [u64; 5] = [
    YEAR_10000,
    YEAR_10000 * 1_000,
    i64::MAX as u64,
    i64::MAX as u64 + 1,
    u64::MAX,
];

fn swift_link(expires: u64) -> String {
    signed_until("/v1/AUTH_p1/c/o.txt", expires)
}

/// A V2 presigned GET of `/c/o.txt` whose `Expires` is `expires` as written.
fn v2_link(expires: &str) -> String {
    sigv2::Presign {
        path: "/c/o.txt",
        virtual_bucket: None,
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        expires: 0,
        params: &[],
    }
    .path_and_query_expiring(expires)
}

/// The 5xx count the metrics page shows.
fn server_errors(s: &TestServer) -> u64 {
    let m = s.get("/_keyhole/metrics").text();
    let lines: Vec<u64> = m
        .lines()
        .filter(|l| l.starts_with("keyhole_requests_total{") && l.contains("class=\"5xx\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(!lines.is_empty(), "no 5xx line in {m}");
    lines.iter().sum()
}

fn assert_lasting(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(r.header("expires"), Some(LAST_DATE), "{what}");
    // RFC 9111 §1.2.2: 2^31 is the largest max-age a cache must take.
    assert_eq!(
        r.header("cache-control"),
        Some("private, max-age=2147483648"),
        "{what}"
    );
}

#[test]
fn swift_links_expiring_past_year_9999_are_served_with_the_last_http_date() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"hello");
    for exp in FAR_EXPIRIES {
        let url = swift_link(exp);
        for method in ["GET", "HEAD"] {
            let r = s.request(method, &url, &[]);
            assert_lasting(&r, &format!("{method} expiring at {exp}"));
        }
        assert_eq!(s.get(&url).body, b"hello");
    }
    // One past u64 is a number no clock here holds: a bad link, not a crash.
    let too_far = swift_link(u64::MAX).replace(
        &format!("temp_url_expires={}", u64::MAX),
        "temp_url_expires=18446744073709551616",
    );
    assert_eq!(s.get(&too_far).status, 401);
    assert_eq!(server_errors(&s), 0);
}

#[test]
fn v2_links_expiring_past_year_9999_are_served_with_the_last_http_date() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"hello");
    let u64_max = u64::MAX.to_string();
    for exp in [
        "253402300800",
        "9223372036854775807",
        u64_max.as_str(),
        // Past u64: it never expires, as its signer asked.
        "99999999999999999999999",
        "000000000000000000000000253402300800",
    ] {
        let url = v2_link(exp);
        for method in ["GET", "HEAD"] {
            let r = s.request(method, &url, &[]);
            assert_lasting(&r, &format!("{method} Expires={exp}"));
        }
    }
    assert_eq!(server_errors(&s), 0);
}

#[test]
fn the_api_bounds_time_expire_by_the_end_of_year_9999() {
    let token = "api-token-dates";
    let s = TestServer::with_config(&format!(
        "[[api_token]]\ntoken = \"{token}\"\nprojects = [\"p1\"]\n"
    ));
    s.put(PROJECT, "c", "o.txt", b"hello");
    let post = |time_expire: Value| {
        let body =
            json!({"timeExpire": time_expire, "urlType": "swift", "viewMode": "view"}).to_string();
        let req = format!(
            "POST /api/v1/projects/p1/containers/c/objects/o.txt/download_tempurls HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            s.addr,
            body.len()
        );
        let r = raw(s.addr, req.as_bytes());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        (r.status, v)
    };
    for huge in [json!(i64::MAX), json!(YEAR_10000)] {
        let (status, v) = post(huge.clone());
        assert_eq!(status, 400, "{huge}: {v}");
        let msg = v["errorMsg"].as_str().unwrap();
        assert!(msg.contains("9999-12-31T23:59:59Z"), "{msg}");
        assert!(!msg.contains("18446744073709551615"), "{msg}");
    }
    for bad in [json!(0), json!(-1), json!(i64::MIN)] {
        let (status, v) = post(bad.clone());
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["errorMsg"]
            .as_str()
            .unwrap()
            .contains("at least 1 second"));
    }
    // The longest lifetime it allows makes a link that opens.
    let longest = YEAR_10000 - 1 - now() - 60;
    let (status, v) = post(json!(longest));
    assert_eq!(status, 200, "{v}");
    let url = v["data"]["o.txt"].as_str().unwrap();
    let target = &url[url.find("/v1/").unwrap()..];
    let r = s.get(target);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(server_errors(&s), 0);
}

/// A tmpfs keeps any 64-bit mtime; ext4 clamps to year 2446.
fn far_future_capable_dir() -> Option<std::path::PathBuf> {
    let d = std::path::Path::new("/dev/shm");
    d.is_dir().then(|| d.to_path_buf())
}

fn set_mtime(path: &std::path::Path, secs_from_epoch: i64) -> i64 {
    use std::os::unix::fs::MetadataExt;
    let t = if secs_from_epoch >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs_from_epoch as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs_from_epoch.unsigned_abs())
    };
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
    std::fs::metadata(path).unwrap().mtime()
}

#[test]
fn objects_modified_past_year_9999_say_its_last_second_and_compare_with_it() {
    let Some(parent) = far_future_capable_dir() else {
        eprintln!("skipping: no /dev/shm to hold a far mtime");
        return;
    };
    let s = TestServer::start_in(&parent);
    let path = s.put(PROJECT, "c", "o.txt", b"hello");
    let url = signed("/v1/AUTH_p1/c/o.txt");
    for far in [YEAR_10000 as i64, i64::MAX / 2, 300_000_000_000_000] {
        let held = set_mtime(&path, far);
        assert!(
            held >= YEAR_10000 as i64,
            "the filesystem clamped {far} to {held}"
        );
        let r = s.get(&url);
        assert_eq!(r.status, 200, "mtime {far}: {}", r.text());
        assert_eq!(r.header("last-modified"), Some(LAST_DATE));
        assert_eq!(r.body, b"hello");
        // What a client echoes back is what it is compared with.
        let ims = s.request("GET", &url, &[("If-Modified-Since", LAST_DATE)]);
        assert_eq!(ims.status, 304, "mtime {far}");
        let ius = s.request("GET", &url, &[("If-Unmodified-Since", LAST_DATE)]);
        assert_eq!(ius.status, 200, "mtime {far}");
        let ranged = s.request(
            "GET",
            &url,
            &[("Range", "bytes=1-2"), ("If-Range", LAST_DATE)],
        );
        assert_eq!((ranged.status, ranged.body.as_slice()), (206, &b"el"[..]));
    }
    assert_eq!(server_errors(&s), 0);
}

#[test]
fn objects_modified_before_1970_say_the_epoch() {
    let s = TestServer::start();
    let path = s.put(PROJECT, "c", "o.txt", b"hello");
    let url = signed("/v1/AUTH_p1/c/o.txt");
    let epoch = "Thu, 01 Jan 1970 00:00:00 GMT";
    // ext4 holds mtimes back to 1901 (-2^31).
    for before in [-1, -86_400 * 365 * 60] {
        assert_eq!(set_mtime(&path, before), before);
        let r = s.get(&url);
        assert_eq!(r.status, 200, "mtime {before}: {}", r.text());
        assert_eq!(r.header("last-modified"), Some(epoch));
        let ims = s.request("GET", &url, &[("If-Modified-Since", epoch)]);
        assert_eq!(ims.status, 304);
    }
    assert_eq!(server_errors(&s), 0);
}

#[test]
fn conditional_dates_at_and_past_the_ends_of_the_http_date_range() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"hello");
    let url = signed("/v1/AUTH_p1/c/o.txt");
    let cases: [(&str, &str, u16); 10] = [
        ("If-Modified-Since", LAST_DATE, 304),
        ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT", 200),
        // Not HTTP-dates (five-digit and pre-1970 years): ignored.
        ("If-Modified-Since", "Sat, 01 Jan 10000 00:00:00 GMT", 200),
        ("If-Modified-Since", "Wed, 31 Dec 1969 23:59:59 GMT", 200),
        ("If-Modified-Since", "Mon, 01 Jan 0001 00:00:00 GMT", 200),
        ("If-Unmodified-Since", LAST_DATE, 200),
        ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT", 412),
        ("If-Unmodified-Since", "Sat, 01 Jan 10000 00:00:00 GMT", 200),
        ("If-Unmodified-Since", "Fri, 31 Dec 99999 23:59:59 GMT", 200),
        ("If-Modified-Since", "18446744073709551616", 200),
    ];
    for (name, value, want) in cases {
        let r = s.request("GET", &url, &[(name, value)]);
        assert_eq!(r.status, want, "{name}: {value}");
    }
    for value in [
        LAST_DATE,
        "Sat, 01 Jan 10000 00:00:00 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let r = s.request("GET", &url, &[("Range", "bytes=0-0"), ("If-Range", value)]);
        assert_eq!(
            r.status, 200,
            "If-Range: {value} does not name this version"
        );
    }
    assert_eq!(server_errors(&s), 0);
}

fn keyhole(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn share_refuses_a_lifetime_that_ends_past_year_9999() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"hello");
    let cfg = s.dir.0.join("share.toml");
    std::fs::write(&cfg, base_config(&s.dir.0, "")).unwrap();
    let cfg = cfg.to_str().unwrap();
    let share = |expires: &str| {
        keyhole(&[
            "share",
            "--config",
            cfg,
            "p1/c/o.txt",
            "--protocol",
            "swift",
            "--mode",
            "view",
            "--expires",
            expires,
        ])
    };
    let out = share("99999999d");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("9999-12-31T23:59:59Z"), "{err}");
    // Well inside the range, the link opens.
    let out = share("36500d");
    assert_eq!(out.status.code(), Some(0));
    let url = String::from_utf8(out.stdout).unwrap();
    let target = &url[url.find("/v1/").unwrap()..];
    assert_eq!(s.get(target.trim()).status, 200);
}

#[test]
fn iso8601_links_never_claim_an_expiry_they_were_not_signed_for() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"hello");
    // A link made by the library: ISO 8601 says 9999 at most, and is signed for what it says.
    let url = SwiftLink {
        base_url: "",
        path: "/v1/AUTH_p1/c/o.txt",
        key: ACCOUNT_KEY,
        method: "GET",
        expires: u64::MAX,
        digest: Digest::Sha256,
        ip_range: None,
        prefix: false,
        iso8601: true,
        inline: false,
        filename: None,
    }
    .url();
    assert!(
        url.contains("temp_url_expires=9999-12-31T23%3A59%3A59Z"),
        "{url}"
    );
    let r = s.get(&url);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("expires"), Some(LAST_DATE));
    // The command line says it cannot, rather than print a link that does not open.
    let out = keyhole(&[
        "sign",
        "swift",
        "--key",
        ACCOUNT_KEY,
        "--path",
        "/v1/AUTH_p1/c/o.txt",
        "--expires-at",
        "253402300800",
        "--iso8601",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("9999-12-31T23:59:59Z"), "{err}");
}
