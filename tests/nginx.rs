//! A real nginx in front of Keyhole, proxying with the shipped `deploy/nginx/keyhole-proxy.conf`
//! (the file `deploy/nginx/keyhole.conf` includes): links made for the proxy's public URL open
//! through it, at the root and under a path prefix; `temp_url_ip_range` sees the real client;
//! forwarded headers the client writes itself change nothing.

mod common;

use common::nginx::{free_port, snippet, Nginx};
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "api-token-nginx";
const NAME: &str = "docs/Tiếng Việt a+b.txt";
const BYTES: &[u8] = b"through the proxy";

/// Keyhole behind nginx at `public_url`, trusting 127.0.0.1 (where nginx connects from).
fn keyhole(public_url: &str) -> TestServer {
    let s = TestServer::with_top_level(
        &format!("public_url = \"{public_url}\"\n"),
        &format!(
            "[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p1\"]\n[proxy]\ntrusted = [\"127.0.0.1/32\"]\n"
        ),
    );
    s.put(PROJECT, "c", NAME, BYTES);
    s
}

/// A link from the management API, asked for through the proxy.
fn api_link(n: &Nginx, mount: &str, body: Value) -> String {
    let body = body.to_string();
    let path = format!(
        "{mount}/api/v1/projects/p1/containers/c/objects/{}/download_tempurls",
        encode_path(NAME)
    );
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        n.host(),
        body.len()
    );
    let r = raw(n.addr, req.as_bytes());
    assert_eq!(r.status, 200, "{}\n{}", r.text(), n.log());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["data"][NAME].as_str().unwrap().to_string()
}

/// What a client may add to try to pass for someone else, somewhere else.
const SPOOFED: [(&str, &str); 7] = [
    ("X-Forwarded-For", "10.1.2.3"),
    ("Forwarded", "for=10.1.2.3;proto=https;host=evil.example"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Port", "1"),
    ("X-Forwarded-Prefix", "/files"),
    ("X-Real-IP", "10.1.2.3"),
];

fn with_nginx(test: impl FnOnce(&Nginx)) {
    if !require_tool("nginx") {
        return;
    }
    let port = free_port();
    let root = keyhole(&format!("http://127.0.0.1:{port}"));
    let files = keyhole(&format!("http://127.0.0.1:{port}/files"));
    let n = Nginx::start(port, &[("/", &[root.addr]), ("/files/", &[files.addr])]);
    test(&n);
}

#[test]
fn the_shipped_config_proxies_as_the_test_does() {
    let conf = std::fs::read_to_string(snippet().parent().unwrap().join("keyhole.conf")).unwrap();
    assert!(conf.contains("proxy_pass http://keyhole;"), "{conf}");
    assert!(
        conf.contains("include snippets/keyhole-proxy.conf;"),
        "{conf}"
    );
    assert!(!conf.contains("proxy_pass http://keyhole/;"), "{conf}");
}

#[test]
fn swift_and_s3_links_for_the_proxys_url_open_through_it_at_the_root_and_under_a_prefix() {
    with_nginx(|n| {
        for mount in ["", "/files"] {
            for kind in ["swift", "s3"] {
                let mut body = json!({"timeExpire": 600, "urlType": kind, "viewMode": "view"});
                if kind == "s3" {
                    body["accessKey"] = json!(ACCESS_KEY);
                    body["secretKey"] = json!(SECRET_KEY);
                }
                let url = api_link(n, mount, body);
                let base = format!("http://{}{mount}/", n.host());
                assert!(url.starts_with(&base), "{url}");
                let target = target_of(&url);
                for headers in [&[][..], &SPOOFED] {
                    let r = n.get(target, headers);
                    assert_eq!(r.status, 200, "{mount} {kind}: {}\n{}", r.text(), n.log());
                    assert_eq!(r.body, BYTES);
                }
                let r = n.get(target, &[("Range", "bytes=0-6")]);
                assert_eq!((r.status, r.body.as_slice()), (206, &BYTES[..7]), "{kind}");
            }
        }
    });
}

#[test]
fn an_ip_range_link_through_nginx_sees_the_real_client() {
    with_nginx(|n| {
        for mount in ["", "/files"] {
            for (range, status) in [("127.0.0.1/32", 200), ("10.0.0.0/8", 401)] {
                let url = keyhole::share::SwiftLink {
                    base_url: &format!("http://{}{mount}", n.host()),
                    path: &format!("/v1/AUTH_p1/c/{NAME}"),
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
                .url();
                for headers in [&[][..], &SPOOFED] {
                    let r = n.get(target_of(&url), headers);
                    assert_eq!(
                        r.status,
                        status,
                        "{mount} {range} {headers:?}: {}",
                        r.text()
                    );
                }
            }
        }
    });
}

#[test]
fn a_client_x_forwarded_prefix_does_not_reach_keyhole_through_nginx() {
    with_nginx(|n| {
        // Under /files the prefix comes from public_url: the path without it is another
        // Keyhole's (the root one), where the link is not valid.
        let body = json!({"timeExpire": 600, "urlType": "s3", "viewMode": "view",
            "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY});
        let url = api_link(n, "/files", body);
        let outside = target_of(&url).strip_prefix("/files").unwrap();
        let r = n.get(outside, &[("X-Forwarded-Prefix", "/files")]);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(!r.body.windows(BYTES.len()).any(|w| w == BYTES));
    });
}
