//! The log: `--log-format json` / `log_format = "json"` writes one JSON object per line, an
//! access line per request with the refusal's reason, and no line ever holds a key, a
//! signature or a token, at any level.

mod common;

use std::time::{Duration, Instant};

use common::*;

const TOKEN: &str = "api-token-for-the-log-test-0123456789";

fn api_token() -> String {
    format!("[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"{PROJECT}\"]\n")
}

fn query_value<'a>(target: &'a str, name: &str) -> &'a str {
    target
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{name} in {target}"))
}

fn get(b: &Binary, method: &str, target: &str) -> Response {
    request_as(b.addr, method, &b.addr.to_string(), target, &[])
}

/// The access lines so far, parsed; waits (bounded) until there are at least `n`.
fn access_lines(b: &Binary, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<serde_json::Value> = b
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .filter(|v: &serde_json::Value| v["target"] == "keyhole::access")
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An API call for a download link, with `token` as its bearer token.
fn make_links(b: &Binary, api: &str, token: &str) -> Response {
    let body = r#"{"timeExpire": 600, "urlType": "swift", "viewMode": "download"}"#;
    let req = format!(
        "POST {api} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        b.addr,
        body.len()
    );
    raw(b.addr, req.as_bytes())
}

/// Waits (bounded) for a log line holding `needle`.
fn wait_for(b: &Binary, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.logged(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle}: {:#?}",
            b.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The access line of the one request to a path starting with `path`.
fn line_for<'a>(lines: &'a [serde_json::Value], path: &str) -> &'a serde_json::Value {
    let found: Vec<_> = lines
        .iter()
        .filter(|l| l["path"].as_str().is_some_and(|p| p.starts_with(path)))
        .collect();
    assert_eq!(found.len(), 1, "one access line for {path}: {lines:#?}");
    found[0]
}

#[test]
fn json_lines_carry_every_field_and_each_refusal_reason_and_no_secret_at_debug() {
    let b = Binary::start_with(1, &api_token(), |c| {
        c.args(["--log-format", "json"]).env("RUST_LOG", "debug");
    });
    b.put("ok.txt", b"hello");
    let hour = now() + 3600;
    // Each request names its own object, so its access line is found by path.
    let good = swift_link("/v1/AUTH_p1/c/ok.txt", ACCOUNT_KEY, None, hour);
    let expired = swift_link("/v1/AUTH_p1/c/expired", ACCOUNT_KEY, None, now() - 10);
    let bad_sig = swift_link("/v1/AUTH_p1/c/badsig", "not-the-key", None, hour);
    let unknown = swift_link("/v1/AUTH_nobody/c/unknown", "some-key", None, hour);
    let method = swift_link("/v1/AUTH_p1/c/method", ACCOUNT_KEY, None, hour);
    let ip = swift_link("/v1/AUTH_p1/c/ip", ACCOUNT_KEY, Some("10.0.0.0/8"), hour);
    let v4 = s3_target_at(b.addr, "ok.txt", false, now(), 3600);
    let v2 = s3_target_at(b.addr, "ok.txt", true, now(), 3600);
    let v4_expired = s3_target_at(b.addr, "s3expired", false, now() - 7200, 60);
    let v4_bad = s3_target_at(b.addr, "s3bad", false, now(), 3600);
    let v4_bad = v4_bad.replace(query_value(&v4_bad, "X-Amz-Signature"), &"0".repeat(64));
    // A client that percent-encoded the `?`: the signature sits in the path itself.
    let in_path = good.replacen('?', "%3F", 1).replace("/ok.txt", "/inpath");
    let api = format!("/api/v1/projects/{PROJECT}/containers/c/objects/ok.txt/download_tempurls");

    let cases: [(&str, &str, u16); 10] = [
        ("GET", &good, 200),
        ("GET", &expired, 401),
        ("GET", &bad_sig, 401),
        ("GET", &unknown, 401),
        ("DELETE", &method, 405),
        ("GET", &ip, 401),
        ("GET", &v4, 200),
        ("GET", &v2, 200),
        ("GET", &v4_expired, 403),
        ("GET", &in_path, 401),
    ];
    for (m, target, status) in cases {
        assert_eq!(get(&b, m, target).status, status, "{m} {target}");
    }
    let r = get(&b, "GET", &v4_bad);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = make_links(&b, &api, TOKEN);
    assert_eq!(r.status, 200, "{}", r.text());
    let guessed = "a-guessed-token-that-must-not-be-logged";
    let r = make_links(&b, &api, guessed);
    assert_eq!(r.status, 401, "{}", r.text());

    // Not HTTP: hyper answers, and the connection's end is logged at debug.
    let _ = raw(b.addr, b"NOT HTTP\r\n\r\n");
    wait_for(&b, "\"DEBUG\"");

    let lines = access_lines(&b, cases.len() + 3);
    assert_eq!(lines.len(), cases.len() + 3, "{lines:#?}");
    let ok = line_for(&lines, "/v1/AUTH_p1/c/ok.txt");
    let ts = ok["timestamp"].as_str().expect("timestamp");
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{ts}: {e}"));
    assert_eq!(t.offset(), time::UtcOffset::UTC, "{ts}");
    assert!((t.unix_timestamp() - now() as i64).abs() < 60, "{ts}");
    assert_eq!(ok["method"], "GET");
    assert_eq!(
        ok["path"], "/v1/AUTH_p1/c/ok.txt",
        "the query is never logged"
    );
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["bytes"], 5);
    assert!(ok["micros"].is_u64(), "{ok}");
    assert_eq!(ok["client"], "127.0.0.1");
    assert_eq!(ok["protocol"], "swift");
    assert!(
        ok.get("reason").is_none(),
        "a served request has no reason: {ok}"
    );

    for (path, protocol, reason) in [
        ("/v1/AUTH_p1/c/expired", "swift", "expired"),
        ("/v1/AUTH_p1/c/badsig", "swift", "bad_signature"),
        ("/v1/AUTH_nobody/c/unknown", "swift", "unknown_key"),
        ("/v1/AUTH_p1/c/method", "swift", "wrong_method"),
        ("/v1/AUTH_p1/c/ip", "swift", "ip_range"),
        ("/v1/AUTH_p1/c/inpath", "swift", "unsigned"),
        ("/c/s3expired", "s3-v4", "expired"),
        ("/c/s3bad", "s3-v4", "bad_signature"),
    ] {
        let l = line_for(&lines, path);
        assert_eq!(l["reason"], reason, "{l}");
        assert_eq!(l["protocol"], protocol, "{l}");
    }
    let s3: Vec<_> = lines.iter().filter(|l| l["path"] == "/c/ok.txt").collect();
    let mut kinds: Vec<_> = s3.iter().map(|l| l["protocol"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["s3-v2", "s3-v4"]);
    let api_lines: Vec<_> = lines.iter().filter(|l| l["protocol"] == "api").collect();
    assert_eq!(api_lines.len(), 2, "{lines:#?}");
    assert!(api_lines[0].get("reason").is_none(), "{}", api_lines[0]);
    assert_eq!(api_lines[1]["reason"], "bad_token", "{}", api_lines[1]);
    let in_path = line_for(&lines, "/v1/AUTH_p1/c/inpath")["path"]
        .as_str()
        .unwrap();
    assert!(in_path.contains("REDACTED"), "{in_path}");

    // Every line at every level: not one holds a key, a signature or a token.
    let mut secrets = vec![
        ACCOUNT_KEY.to_string(),
        ACCOUNT_KEY_2.to_string(),
        CONTAINER_KEY.to_string(),
        SECRET_KEY.to_string(),
        TOKEN.to_string(),
        guessed.to_string(),
    ];
    for t in [&good, &expired, &bad_sig, &unknown, &method, &ip] {
        secrets.push(query_value(t, "temp_url_sig").to_string());
    }
    for t in [&v4, &v4_expired, &v4_bad] {
        secrets.push(query_value(t, "X-Amz-Signature").to_string());
    }
    secrets.push(query_value(&v2, "Signature").to_string());
    let log = b.log.lock().unwrap();
    for level in ["\"DEBUG\"", "\"INFO\""] {
        let others = log.iter().filter(|l| !l.contains("keyhole::access"));
        assert!(
            others.filter(|l| l.contains(level)).count() > 0,
            "{level} lines besides the access log are written: {log:#?}"
        );
    }
    for line in log.iter() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "{s} in {line}");
        }
    }
}

#[test]
fn text_lines_name_the_reason_and_the_response_does_not() {
    let b = Binary::start_with(1, "", |c| {
        c.env("RUST_LOG", "info");
    });
    let expired = swift_link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, None, now() - 10);
    let bad_sig = swift_link("/v1/AUTH_p1/c/o", "not-the-key", None, now() + 3600);
    let a = get(&b, "GET", &expired);
    let c = get(&b, "GET", &bad_sig);
    assert_eq!((a.status, c.status), (401, 401));
    // SECURITY: the client is told the same whatever was wrong.
    assert_eq!(a.body, c.body);
    assert_eq!(a.text(), "401 Unauthorized: Temp URL invalid\n");
    wait_for(&b, "reason=expired");
    wait_for(&b, "reason=bad_signature");
    let log = b.log.lock().unwrap();
    let line = log.iter().find(|l| l.contains("reason=expired")).unwrap();
    assert!(
        line.contains("status=401") && line.contains("protocol=swift"),
        "{line}"
    );
    assert!(
        log.iter().all(|l| !l.starts_with('{')),
        "text, not JSON: {log:#?}"
    );
}

#[test]
fn log_format_json_in_the_config_and_the_flag_wins_over_it() {
    let b = Binary::start_with(1, "", |c| {
        top_level("log_format = \"json\"")(c);
        c.env("RUST_LOG", "info");
    });
    assert_eq!(get(&b, "GET", "/_keyhole/healthz").status, 200);
    let lines = access_lines(&b, 1);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["protocol"], "health");

    let t = Binary::start_with(1, "", |c| {
        top_level("log_format = \"json\"")(c);
        c.args(["--log-format", "text"]).env("RUST_LOG", "info");
    });
    assert_eq!(get(&t, "GET", "/_keyhole/healthz").status, 200);
    wait_for(&t, "protocol=health");
    assert!(t.log.lock().unwrap().iter().all(|l| !l.starts_with('{')));
}

#[test]
fn an_unknown_log_format_is_refused_by_its_key() {
    let dir = TempDir::new("logfmt");
    let cfg = dir.0.join("k.toml");
    std::fs::write(
        &cfg,
        format!("log_format = \"yaml\"\n{}", base_config(&dir.0, "")),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"log_format: "yaml" is not "text" or "json""#),
        "{err}"
    );
}
