//! The management API (`download_tempurls`) over HTTP: links for each type and mode, batch,
//! and every error with its status and envelope.

mod common;

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "api-token-p1";
const TOKEN_P2: &str = "api-token-p2";

fn server() -> TestServer {
    let s = TestServer::with_config(&format!(
        "[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p1\"]\n[[api_token]]\ntoken = \"{TOKEN_P2}\"\nprojects = [\"p2\"]\n"
    ));
    s.put(PROJECT, "c", "photo.jpg", b"JPEG BYTES");
    s.put(PROJECT, "c", "docs/Báo cáo tháng 11.pdf", b"PDF BYTES");
    s
}

fn post(s: &TestServer, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", s.addr, body.len());
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let r = raw(s.addr, req.as_bytes());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.text()
    );
    let v: Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()));
    assert_eq!(v["code"], json!(r.status), "code mirrors the status: {v}");
    (r.status, v)
}

fn object_path(object: &str) -> String {
    format!(
        "/api/v1/projects/p1/containers/c/objects/{}/download_tempurls",
        encode_path(object)
    )
}

/// Fetches a link the API returned, on the test server.
fn open(s: &TestServer, url: &str) -> Response {
    let target = url.split_once("://").unwrap().1;
    let target = &target[target.find('/').unwrap()..];
    s.get(target)
}

#[test]
fn swift_view_and_download_links_work_and_say_their_mode() {
    let s = server();
    for (mode, disposition) in [("view", "inline;"), ("download", "attachment;")] {
        let body = json!({"timeExpire": 3600, "urlType": "swift", "viewMode": mode}).to_string();
        let (status, v) = post(&s, &object_path("photo.jpg"), Some(TOKEN), &body);
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["success"].clone(), v["errorMsg"].clone()),
            (json!(true), Value::Null)
        );
        let url = v["data"]["photo.jpg"].as_str().unwrap();
        assert!(
            url.starts_with(&format!(
                "http://{}/v1/AUTH_p1/c/photo.jpg?temp_url_sig=",
                s.addr
            )),
            "{url}"
        );
        let r = open(&s, url);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, b"JPEG BYTES".as_slice())
        );
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with(disposition),
            "{mode}"
        );
        let max_age: u64 = r
            .header("cache-control")
            .unwrap()
            .trim_start_matches("private, max-age=")
            .parse()
            .unwrap();
        assert!((3590..=3600).contains(&max_age));
    }
}

#[test]
fn a_utf8_object_in_the_path_is_percent_decoded() {
    let s = server();
    let body = json!({"timeExpire": 60, "urlType": "swift", "viewMode": "download"}).to_string();
    let (status, v) = post(
        &s,
        &object_path("docs/Báo cáo tháng 11.pdf"),
        Some(TOKEN),
        &body,
    );
    assert_eq!(status, 200, "{v}");
    let url = v["data"]["docs/Báo cáo tháng 11.pdf"].as_str().unwrap();
    let r = open(&s, url);
    assert_eq!(r.body, b"PDF BYTES");
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("filename*=UTF-8''B%C3%A1o%20c%C3%A1o%20th%C3%A1ng%2011.pdf"));
}

#[test]
fn the_batch_form_gives_one_link_per_object() {
    let s = server();
    let body = json!({"timeExpire": 600, "urlType": "swift", "viewMode": "view", "objects": ["photo.jpg", "docs/Báo cáo tháng 11.pdf"]}).to_string();
    let (status, v) = post(
        &s,
        "/api/v1/projects/p1/containers/c/download_tempurls",
        Some(TOKEN),
        &body,
    );
    assert_eq!(status, 200, "{v}");
    let data = v["data"].as_object().unwrap();
    assert_eq!(data.len(), 2);
    for (name, url) in data {
        assert_eq!(open(&s, url.as_str().unwrap()).status, 200, "{name}");
    }
}

#[test]
fn every_error_keeps_the_envelope_and_its_status() {
    let s = server();
    let ok = json!({"timeExpire": 60, "urlType": "swift", "viewMode": "view"}).to_string();
    let p = object_path("photo.jpg");
    let cases: Vec<(&str, String, Option<&str>, String, u16)> = vec![
        ("no token", p.clone(), None, ok.clone(), 401),
        ("bad token", p.clone(), Some("nope"), ok.clone(), 401),
        ("token for another project", p.clone(), Some(TOKEN_P2), ok.clone(), 403),
        ("unknown container", "/api/v1/projects/p1/containers/nope/objects/photo.jpg/download_tempurls".into(), Some(TOKEN), ok.clone(), 404),
        ("unknown object", object_path("nope.jpg"), Some(TOKEN), ok.clone(), 404),
        ("escaping object", object_path("../c/photo.jpg"), Some(TOKEN), ok.clone(), 404),
        ("bad JSON", p.clone(), Some(TOKEN), "{not json".into(), 400),
        ("unknown urlType", p.clone(), Some(TOKEN), json!({"timeExpire": 60, "urlType": "ftp", "viewMode": "view"}).to_string(), 400),
        ("unknown viewMode", p.clone(), Some(TOKEN), json!({"timeExpire": 60, "urlType": "swift", "viewMode": "print"}).to_string(), 400),
        ("zero lifetime", p.clone(), Some(TOKEN), json!({"timeExpire": 0, "urlType": "swift", "viewMode": "view"}).to_string(), 400),
        ("negative lifetime", p.clone(), Some(TOKEN), json!({"timeExpire": -5, "urlType": "swift", "viewMode": "view"}).to_string(), 400),
        ("s3 over a week", p.clone(), Some(TOKEN), json!({"timeExpire": 604801, "urlType": "s3", "viewMode": "view", "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}).to_string(), 400),
        ("s3 with an access key but no secret", p.clone(), Some(TOKEN), json!({"timeExpire": 60, "urlType": "s3", "viewMode": "view", "accessKey": ACCESS_KEY}).to_string(), 400),
        ("s3 with a foreign pair", p.clone(), Some(TOKEN), json!({"timeExpire": 60, "urlType": "s3", "viewMode": "view", "accessKey": ACCESS_KEY, "secretKey": "guessed-secret"}).to_string(), 400),
        ("missing field", p.clone(), Some(TOKEN), json!({"urlType": "swift", "viewMode": "view"}).to_string(), 400),
        ("batch path without objects", "/api/v1/projects/p1/containers/c/download_tempurls".into(), Some(TOKEN), ok.clone(), 400),
        ("unknown endpoint", "/api/v1/projects/p1/whatever".into(), Some(TOKEN), ok.clone(), 404),
    ];
    for (what, path, token, body, want) in cases {
        let (status, v) = post(&s, &path, token, &body);
        assert_eq!(status, want, "{what}: {v}");
        assert_eq!(v["success"], json!(false), "{what}");
        assert_eq!(v["data"], Value::Null, "{what}");
        assert!(
            v["errorMsg"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(
            !v.to_string().contains("guessed-secret") && !v.to_string().contains(SECRET_KEY),
            "{what} echoed a secret"
        );
    }
}

#[test]
fn a_body_over_the_limit_is_413() {
    let s = server();
    let big = format!(
        "{{\"timeExpire\": 60, \"urlType\": \"swift\", \"viewMode\": \"view\", \"pad\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let (status, v) = post(&s, &object_path("photo.jpg"), Some(TOKEN), &big);
    assert_eq!(status, 413, "{v}");
}

#[test]
fn get_on_the_api_is_not_allowed() {
    let s = server();
    let r = s.request(
        "GET",
        &object_path("photo.jpg"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(r.status, 405);
}

#[test]
fn s3_view_and_download_links_work_and_say_their_mode() {
    let s = server();
    for (mode, disposition) in [("view", "inline;"), ("download", "attachment;")] {
        let body = json!({"timeExpire": 600, "urlType": "s3", "viewMode": mode, "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}).to_string();
        let (status, v) = post(
            &s,
            &object_path("docs/Báo cáo tháng 11.pdf"),
            Some(TOKEN),
            &body,
        );
        assert_eq!(status, 200, "{v}");
        let url = v["data"]["docs/Báo cáo tháng 11.pdf"].as_str().unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(!url.contains(SECRET_KEY));
        let r = open(&s, url);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, b"PDF BYTES".as_slice()),
            "{mode}: {}",
            r.text()
        );
        let cd = r.header("content-disposition").unwrap();
        assert!(cd.starts_with(disposition), "{mode}: {cd}");
        assert!(
            cd.contains("filename*=UTF-8''B%C3%A1o%20c%C3%A1o%20th%C3%A1ng%2011.pdf"),
            "{cd}"
        );
    }
}
