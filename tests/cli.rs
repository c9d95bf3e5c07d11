//! The `keyhole` binary: the embedded default, check-config and exit codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn keyhole() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keyhole"))
}

#[test]
fn serve_with_no_config_writes_the_demo_and_prints_links_that_open() {
    let dir = TempDir::new("demo");
    let mut child = Child(
        keyhole()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(&dir.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("keyhole listening on ")
        .expect(&first)
        .to_string();
    let mut links = Vec::new();
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(url) = line.trim().strip_prefix("http://") {
            links.push(url.split_once('/').unwrap().1.to_string());
        }
    }
    assert!(dir.0.join("keyhole.toml").exists());
    assert!(dir.0.join("keyhole-data").is_dir());
    assert!(links.len() >= 3, "{links:?}");
    let addr: std::net::SocketAddr = base.strip_prefix("http://").unwrap().parse().unwrap();

    let picture = raw(
        addr,
        format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            links[0]
        )
        .as_bytes(),
    );
    assert_eq!(picture.status, 200);
    assert_eq!(picture.header("content-type"), Some("image/png"));
    assert!(picture
        .header("content-disposition")
        .unwrap()
        .starts_with("inline;"));
    assert!(picture.body.starts_with(b"\x89PNG"));

    let report = links
        .iter()
        .find(|l| l.contains("B%C3%A1o"))
        .expect("a UTF-8 download link");
    let r = raw(
        addr,
        format!("GET /{report} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment;"));
    let s3 = links
        .iter()
        .find(|l| l.contains("X-Amz-Signature="))
        .expect("an S3 presigned link");
    let r = raw(
        addr,
        format!("GET /{s3} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(keyhole()
        .args(["check-config", "keyhole.toml"])
        .current_dir(&dir.0)
        .status()
        .unwrap()
        .success());
}

#[test]
fn check_config_accepts_a_good_file() {
    let dir = TempDir::new("cfg");
    let path = dir.0.join("k.toml");
    std::fs::write(&path, base_config(&dir.0, "")).unwrap();
    let out = keyhole()
        .args(["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_names_the_bad_key_and_exits_2() {
    let dir = TempDir::new("cfg");
    let cases = [
        ("mystery = 1\n", "mystery"),
        ("[proxy]\ntrusted = [\"300.1.1.1/8\"]\n", "proxy.trusted[0]"),
        ("[[project]]\nid = \"p3\"\n  [[project.s3_key]]\n  access_key = \"AKIDKEYHOLETEST\"\n  secret_key = \"x\"\n", "access_key"),
        ("[[project]]\nid = \"p4\"\n  [[project.s3_key]]\n  access_key = \"new\"\n  secret_key = \"\"\n", "project[2].s3_key[0].secret_key"),
    ];
    for (extra, key) in cases {
        let path = dir.0.join("bad.toml");
        std::fs::write(&path, base_config(&dir.0, extra)).unwrap();
        let out = keyhole()
            .args(["check-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{extra}: {err}");
    }
    let out = keyhole()
        .args(["check-config", "/nonexistent/keyhole.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2() {
    let out = keyhole()
        .args(["sign", "swift", "--key", "k", "--path", "/not/swift"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = keyhole()
        .args([
            "sign",
            "swift",
            "--key",
            "k",
            "--path",
            "/v1/AUTH_p/c/o",
            "--expires",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = keyhole().args(["no-such-command"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sign_swift_with_a_fixed_clock_reproduces_swiftclient() {
    let out = keyhole()
        .args([
            "sign",
            "swift",
            "--key",
            "mykey",
            "--path",
            "/v1/AUTH_test/c/o",
            "--now",
            "1699999400",
            "--expires",
            "10m",
            "--digest",
            "sha1",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "/v1/AUTH_test/c/o?temp_url_sig=3994d403a1e371c61672cc49d49e3504805f4887&temp_url_expires=1700000000"
    );
}

/// A server plus a config file naming the same root, for `keyhole share`.
fn share_setup() -> (TestServer, std::path::PathBuf) {
    let s = TestServer::start();
    let cfg = s.dir.0.join("share.toml");
    // S3 signs the host, so links must name the server's real address.
    let text = format!(
        "public_url = \"http://{}\"\n{}",
        s.addr,
        base_config(&s.dir.0, "")
    );
    std::fs::write(&cfg, text).unwrap();
    (s, cfg)
}

fn share(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    keyhole()
        .arg("share")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

#[test]
fn share_makes_swift_links_in_both_modes_that_verify() {
    let (s, cfg) = share_setup();
    s.put(PROJECT, "c", "a b.txt", b"shared");
    s.put(PROJECT, "c", "two.txt", b"second");
    for (mode, disposition) in [("view", "inline;"), ("download", "attachment;")] {
        let out = share(
            &cfg,
            &[
                "p1/c/a b.txt",
                "p1/c/two.txt",
                "--protocol",
                "swift",
                "--mode",
                mode,
                "--expires",
                "2h30m",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let links: Vec<&str> = text.lines().collect();
        assert_eq!(links.len(), 2);
        let r = s.get(path_of(links[0]));
        assert_eq!((r.status, r.body.as_slice()), (200, b"shared".as_slice()));
        assert!(r
            .header("content-disposition")
            .unwrap()
            .starts_with(disposition));
        let max_age: u64 = r
            .header("cache-control")
            .unwrap()
            .trim_start_matches("private, max-age=")
            .parse()
            .unwrap();
        assert!((9000 - 10..=9000).contains(&max_age), "{max_age}");
        assert_eq!(s.get(path_of(links[1])).body, b"second");
    }
}

#[test]
fn share_accepts_every_lifetime_form_and_refuses_bad_ones() {
    let (s, cfg) = share_setup();
    s.put(PROJECT, "c", "o", b"x");
    for (lifetime, seconds) in [
        ("1d", 86_400u64),
        ("2h30m", 9_000),
        ("45m", 2_700),
        ("3600", 3_600),
    ] {
        let out = share(&cfg, &["p1/c/o", "--expires", lifetime]);
        assert!(out.status.success(), "{lifetime}");
        let url = String::from_utf8(out.stdout).unwrap();
        let expires: u64 = url
            .trim()
            .split("temp_url_expires=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(expires.abs_diff(now() + seconds) <= 5, "{lifetime}");
    }
    for bad in ["0", "-5", "1x", "", "30m2h"] {
        let out = share(&cfg, &["p1/c/o", "--expires", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let out = share(&cfg, &["p1/c/o", "--protocol", "s3", "--expires", "8d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("604800"),
        "the error says the limit"
    );
    let out = share(&cfg, &["nobody/c/o"]);
    assert_eq!(out.status.code(), Some(2));
    let out = share(&cfg, &["p1/c"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn share_prefix_and_ip_range_links_verify() {
    let (s, cfg) = share_setup();
    s.put(PROJECT, "c", "dir/x.txt", b"x");
    let out = share(&cfg, &["p1/c/dir/", "--prefix", "--expires", "10m"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let query = url.trim().split_once('?').unwrap().1.to_string();
    assert_eq!(
        s.get(&format!("/v1/AUTH_p1/c/dir/x.txt?{query}")).status,
        200
    );

    let out = share(
        &cfg,
        &[
            "p1/c/dir/x.txt",
            "--ip-range",
            "127.0.0.1",
            "--filename",
            "renamed.txt",
        ],
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let r = s.get(path_of(url.trim()));
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("renamed.txt"));
    let out = share(&cfg, &["p1/c/dir/x.txt", "--ip-range", "not-a-range"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn share_makes_s3_links_in_both_modes_that_verify() {
    let (s, cfg) = share_setup();
    s.put(PROJECT, "c", "clip.mp4", b"video bytes");
    for (mode, disposition) in [("view", "inline;"), ("download", "attachment;")] {
        let out = share(
            &cfg,
            &[
                "p1/c/clip.mp4",
                "--protocol",
                "s3",
                "--mode",
                mode,
                "--expires",
                "7d",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap();
        assert!(url.contains("X-Amz-Expires=604800"), "{url}");
        let r = s.get(path_of(url.trim()));
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, b"video bytes".as_slice()),
            "{}",
            r.text()
        );
        assert_eq!(r.header("content-type"), Some("video/mp4"));
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with(disposition),
            "{mode}"
        );
    }
    let out = share(
        &cfg,
        &[
            "p1/c/clip.mp4",
            "--protocol",
            "s3",
            "--access-key",
            "NOT-A-KEY",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
