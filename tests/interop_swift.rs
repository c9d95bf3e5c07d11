//! Links made by python-swiftclient's `swift tempurl`, fetched with curl and wget.

mod common;

use std::process::Command;

use common::*;

/// A browser or a user pasting the link encodes the path; the query is used as printed.
fn encoded(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let (origin, path) = base.split_at(base.find("/v1/").unwrap());
    format!("{origin}{}?{query}", encode_path(path))
}

fn swift_tempurl(args: &[&str]) -> String {
    stdout_of(Command::new("swift").arg("tempurl").args(args))
}

fn curl(url: &str) -> (u16, Vec<u8>) {
    let dir = TempDir::new("curl");
    let file = dir.0.join("body");
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            file.to_str().unwrap(),
            "-w",
            "%{http_code}",
            url,
        ])
        .output()
        .expect("run curl");
    let code = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
    (code, std::fs::read(&file).unwrap_or_default())
}

#[test]
fn swift_tempurl_links_for_every_digest_open_with_curl() {
    if !require_tool("swift") || !require_tool("curl") {
        return;
    }
    let s = TestServer::start();
    let name = "Báo cáo tháng 11.pdf";
    s.put(PROJECT, "c", name, b"%PDF-1.4 monthly report");
    let object_url = format!("http://{}/v1/AUTH_p1/c/{name}", s.addr);
    for digest in ["sha1", "sha256", "sha512"] {
        let url = swift_tempurl(&["--digest", digest, "GET", "600", &object_url, ACCOUNT_KEY]);
        let (code, body) = curl(&encoded(&url));
        assert_eq!(code, 200, "{digest}: {url}");
        assert_eq!(body, b"%PDF-1.4 monthly report", "{digest}");

        // One character of the signature changed: refused.
        let sig_at = url.find("temp_url_sig=").unwrap() + "temp_url_sig=".len() + 12;
        let mut bad = url.clone().into_bytes();
        bad[sig_at] = if bad[sig_at] == b'0' { b'1' } else { b'0' };
        let (code, body) = curl(&encoded(&String::from_utf8(bad).unwrap()));
        assert_eq!(code, 401, "{digest} tampered");
        assert!(!body.starts_with(b"%PDF"));
    }
}

#[test]
fn swift_tempurl_iso8601_container_key_and_prefix_links_open() {
    if !require_tool("swift") || !require_tool("curl") {
        return;
    }
    let s = TestServer::start();
    s.put(PROJECT, "c", "docs/a.txt", b"in docs");
    let base = format!("http://{}/v1/AUTH_p1/c", s.addr);

    let url = swift_tempurl(&[
        "--iso8601",
        "GET",
        "600",
        &format!("{base}/docs/a.txt"),
        ACCOUNT_KEY,
    ]);
    assert!(url.contains("Z"), "not ISO 8601: {url}");
    assert_eq!(curl(&encoded(&url)), (200, b"in docs".to_vec()));

    let url = swift_tempurl(&["GET", "600", &format!("{base}/docs/a.txt"), CONTAINER_KEY]);
    assert_eq!(curl(&encoded(&url)).0, 200);

    let url = swift_tempurl(&[
        "--prefix-based",
        "GET",
        "600",
        &format!("{base}/docs/"),
        ACCOUNT_KEY,
    ]);
    let (_, query) = url.split_once('?').unwrap();
    assert_eq!(
        curl(&format!("{base}/docs/a.txt?{query}")),
        (200, b"in docs".to_vec())
    );

    let expired = swift_tempurl(&[
        "--absolute",
        "GET",
        "1000000000",
        &format!("{base}/docs/a.txt"),
        ACCOUNT_KEY,
    ]);
    assert_eq!(curl(&encoded(&expired)).0, 401);
}

#[test]
fn wget_content_disposition_saves_under_the_utf8_object_name() {
    if !require_tool("swift") || !require_tool("wget") {
        return;
    }
    let s = TestServer::start();
    let name = "Báo cáo tháng 11.pdf";
    s.put(PROJECT, "c", &format!("reports/{name}"), b"report bytes");
    let url = swift_tempurl(&[
        "GET",
        "600",
        &format!("http://{}/v1/AUTH_p1/c/reports/{name}", s.addr),
        ACCOUNT_KEY,
    ]);
    for (i, target) in [encoded(&url), url.clone()].into_iter().enumerate() {
        let dir = TempDir::new(&format!("wget{i}"));
        let out = Command::new("wget")
            .args([
                "-q",
                "--content-disposition",
                "-P",
                dir.0.to_str().unwrap(),
                &target,
            ])
            .output()
            .expect("run wget");
        assert!(
            out.status.success(),
            "wget failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let saved = std::fs::read(dir.0.join(name)).unwrap_or_else(|e| {
            let names: Vec<_> = std::fs::read_dir(&dir.0)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            panic!("{name} not saved ({e}); folder has {names:?}")
        });
        assert_eq!(saved, b"report bytes");
    }
}
