//! The download tools people really use: wget and curl, saving under the link's name and
//! resuming broken downloads with Range.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{now, require_tool, TempDir, TestServer, PROJECT};
use keyhole::auth::swift::Digest;
use keyhole::share::SwiftLink;
use sha2::{Digest as _, Sha256};

fn url(s: &TestServer, object: &str, filename: Option<&str>) -> String {
    let path = format!("/v1/AUTH_{PROJECT}/c/{object}");
    let base = format!("http://{}", s.addr);
    SwiftLink {
        base_url: &base,
        path: &path,
        key: common::CONTAINER_KEY,
        method: "GET",
        expires: now() + 3600,
        digest: Digest::Sha256,
        ip_range: None,
        prefix: false,
        iso8601: false,
        inline: false,
        filename,
    }
    .url()
}

/// Bytes that differ everywhere, so a resume at the wrong offset cannot go unnoticed.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    const_hex::encode(Sha256::digest(bytes))
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const BIG: usize = 32 * 1024 * 1024;

#[test]
fn wget_content_disposition_saves_under_the_object_name() {
    if !require_tool("wget") {
        return;
    }
    let s = TestServer::start();
    s.put(PROJECT, "c", "dir/report 2024.pdf", b"%PDF-1.4 ascii");
    s.put(
        PROJECT,
        "c",
        "Báo cáo tháng 11.pdf",
        "%PDF-1.4 tiếng Việt".as_bytes(),
    );
    for (object, filename, want) in [
        ("dir/report 2024.pdf", None, "report 2024.pdf"),
        ("Báo cáo tháng 11.pdf", None, "Báo cáo tháng 11.pdf"),
        ("dir/report 2024.pdf", Some("renamed.pdf"), "renamed.pdf"),
    ] {
        let dir = TempDir::new("wget-cd");
        run(Command::new("wget")
            .args(["-q", "--content-disposition", &url(&s, object, filename)])
            .current_dir(&dir.0)
            .env("LC_ALL", "C.UTF-8"));
        assert_eq!(files_in(&dir.0), vec![want.to_string()], "{object}");
        let got = std::fs::read(dir.0.join(want)).unwrap();
        assert_eq!(
            got,
            std::fs::read(s.root().join(PROJECT).join("c").join(object)).unwrap()
        );
    }
}

#[test]
fn wget_continue_resumes_a_partial_file() {
    if !require_tool("wget") {
        return;
    }
    let s = TestServer::start();
    let bytes = noise(BIG);
    s.put(PROJECT, "c", "big.bin", &bytes);
    let dir = TempDir::new("wget-c");
    let out = dir.0.join("big.bin");
    // What a broken connection leaves behind: the first 10 MiB and a bit.
    std::fs::write(&out, &bytes[..10 * 1024 * 1024 + 12345]).unwrap();
    let res = run(Command::new("wget")
        .args(["-c", "-S", "-O"])
        .arg(&out)
        .arg(url(&s, "big.bin", None)));
    let log = String::from_utf8_lossy(&res.stderr);
    assert!(
        log.contains("206 Partial Content"),
        "wget did not resume: {log}"
    );
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&bytes));
}

#[test]
fn curl_continue_resumes_an_interrupted_download() {
    if !require_tool("curl") {
        return;
    }
    let s = TestServer::start();
    let bytes = noise(BIG);
    s.put(PROJECT, "c", "big.bin", &bytes);
    let dir = TempDir::new("curl-c");
    let out = dir.0.join("big.bin");
    let link = url(&s, "big.bin", None);
    // A slow download, killed part way: a real broken transfer.
    let mut child = Command::new("curl")
        .args(["-s", "--limit-rate", "4M", "-o"])
        .arg(&out)
        .arg(&link)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl starts");
    let start = Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 2 * 1024 * 1024
        && start.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill curl");
    child.wait().unwrap();
    let partial = std::fs::metadata(&out).unwrap().len() as usize;
    assert!(
        partial > 0 && partial < BIG,
        "the download was not interrupted part way: {partial}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), &bytes[..partial]);

    let res = run(Command::new("curl")
        .args(["-sS", "-C", "-", "-w", "%{http_code}", "-o"])
        .arg(&out)
        .arg(&link));
    assert_eq!(String::from_utf8_lossy(&res.stdout), "206");
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&bytes));
}

#[test]
fn curl_range_fetches_exactly_the_bytes_asked_for() {
    if !require_tool("curl") {
        return;
    }
    let s = TestServer::start();
    let bytes = noise(100_000);
    s.put(PROJECT, "c", "r.bin", &bytes);
    let link = url(&s, "r.bin", None);
    let fetch = |range: &str| run(Command::new("curl").args(["-sS", "-r", range, &link])).stdout;
    assert_eq!(fetch("0-99"), &bytes[..100]);
    assert_eq!(fetch("99000-"), &bytes[99_000..]);
    assert_eq!(fetch("-500"), &bytes[99_500..]);
    // Several ranges: curl writes the multipart body as it came.
    let multi = fetch("0-9,50000-50009");
    let find = |needle: &[u8]| multi.windows(needle.len()).any(|w| w == needle);
    assert!(find(b"Content-Range: bytes 0-9/100000"));
    assert!(find(b"Content-Range: bytes 50000-50009/100000"));
    assert!(find(&bytes[..10]) && find(&bytes[50_000..50_010]));
}
