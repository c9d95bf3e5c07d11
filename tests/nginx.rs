//! A real nginx in front of Keyhole, proxying with the shipped `deploy/nginx/keyhole-proxy.conf`
//! (the file `deploy/nginx/keyhole.conf` includes): links made for the proxy's public URL open
//! through it, at the root and under a path prefix; `temp_url_ip_range` sees the real client;
//! forwarded headers the client writes itself change nothing.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "api-token-nginx";
const NAME: &str = "docs/Tiếng Việt a+b.txt";
const BYTES: &[u8] = b"through the proxy";

/// An nginx process started for one test, stopped (by its pid) when dropped.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM to the master, which stops its workers; KILL only if it does not go.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn snippet() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/keyhole-proxy.conf")
}

/// A port nothing listens on right now, for nginx to take.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

impl Nginx {
    /// nginx on `port`, passing `/` to `root` and `/files/` to `files` exactly as
    /// `deploy/nginx/keyhole.conf` does (upstream without a URI, then the shared snippet).
    fn start(port: u16, root: SocketAddr, files: SocketAddr) -> Nginx {
        let dir = TempDir::new("nginx");
        let d = dir.0.display();
        let include = snippet();
        let include = include.display();
        let conf = format!(
            r#"worker_processes 1;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream keyhole {{ server {root}; keepalive 4; }}
    upstream keyhole_files {{ server {files}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://keyhole;
            include {include};
        }}
        location /files/ {{
            proxy_pass http://keyhole_files;
            include {include};
        }}
    }}
}}
"#
        );
        let file = dir.0.join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&file)
            .arg("-e")
            .arg(dir.0.join("error.log"))
            .arg("-g")
            .arg(format!("daemon off; pid {d}/nginx.pid;"))
            .spawn()
            .expect("nginx starts");
        let mut n = Nginx {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(n.addr).is_err() {
            let exited = n.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!("nginx did not start ({exited:?}):\n{}", n.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("error.log")).unwrap_or_default()
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        request_as(self.addr, "GET", &self.host(), target, headers)
    }
}

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
    let n = Nginx::start(port, root.addr, files.addr);
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
