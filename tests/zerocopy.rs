//! Zero-copy over real HTTP: large bodies on HTTP/1 leave by sendfile, byte for byte, in the
//! right order on a shared connection; HTTP/2 still gets real bytes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{parse, require_tool, signed, TestServer, PROJECT};

fn link(object: &str) -> String {
    signed(&format!("/v1/AUTH_{PROJECT}/c/{object}"))
}

/// Bytes that differ from file to file (`seed`) and from offset to offset.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn zero_copy_bytes(srv: &TestServer) -> u64 {
    srv.get("/_keyhole/metrics")
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("keyhole_zero_copy_bytes_total "))
        .and_then(|v| v.parse().ok())
        .expect("the metric is exported")
}

/// Reads `count` responses with Content-Length bodies from one connection.
fn read_responses(s: &mut TcpStream, count: usize) -> Vec<common::Response> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = vec![0; 1 << 16];
    while out.len() < count {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse(buf[..end + 4].to_vec());
            let len: usize = head
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let rest = buf.split_off(end + 4 + len);
                out.push(parse(std::mem::replace(&mut buf, rest)));
                continue;
            }
        }
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed after {} of {count} responses", out.len());
        buf.extend_from_slice(&chunk[..n]);
    }
    out
}

#[test]
fn a_large_body_is_sent_by_the_kernel_byte_for_byte() {
    let srv = TestServer::start();
    let data = pattern(3 * 1024 * 1024 + 123, 1);
    srv.put(PROJECT, "c", "big.bin", &data);
    let before = zero_copy_bytes(&srv);
    let r = srv.get(&link("big.bin"));
    assert_eq!(r.status, 200);
    assert!(r.body == data, "the body differs from the file");
    // The file was just written, so it is in the page cache: all of it goes by sendfile.
    assert!(
        zero_copy_bytes(&srv) - before >= data.len() as u64,
        "the body was copied, not sent from the file"
    );
}

#[test]
fn pipelined_responses_each_carry_their_own_file() {
    let srv = TestServer::start();
    let a = pattern(2 * 1024 * 1024 + 5, 2);
    let b = pattern(1024 * 1024 + 77, 3);
    srv.put(PROJECT, "c", "a.bin", &a);
    srv.put(PROJECT, "c", "b.bin", &b);
    let host = srv.addr;
    let mut reqs = String::new();
    for (target, range) in [
        (link("a.bin"), ""),
        (link("b.bin"), ""),
        (link("a.bin"), "Range: bytes=100000-1500000\r\n"),
        (link("b.bin"), ""),
    ] {
        reqs.push_str(&format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\n{range}\r\n"
        ));
    }
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(reqs.as_bytes()).unwrap();
    let got = read_responses(&mut s, 4);
    assert_eq!(got[0].status, 200);
    assert!(got[0].body == a, "first response");
    assert!(got[1].body == b, "second response");
    assert_eq!(got[2].status, 206);
    assert!(got[2].body == a[100_000..=1_500_000], "the range");
    assert!(got[3].body == b, "fourth response");
}

#[test]
fn multipart_ranges_interleave_file_bytes_and_part_headers() {
    let srv = TestServer::start();
    let data = pattern(1024 * 1024, 4);
    srv.put(PROJECT, "c", "m.bin", &data);
    let r = srv.request(
        "GET",
        &link("m.bin"),
        &[("Range", "bytes=0-99999,500000-899999")],
    );
    assert_eq!(r.status, 206);
    let body = &r.body;
    let find = |needle: &[u8], from: usize| {
        body[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
            .expect("part present")
    };
    let first = find(b"Content-Range: bytes 0-99999/1048576\r\n\r\n", 0) + 40;
    assert!(body[first..first + 100_000] == data[..100_000]);
    let second = find(b"Content-Range: bytes 500000-899999/1048576\r\n\r\n", first) + 46;
    assert!(body[second..second + 400_000] == data[500_000..900_000]);
}

#[test]
fn head_of_a_large_object_sends_no_body_and_keeps_the_connection() {
    let srv = TestServer::start();
    let data = pattern(2 * 1024 * 1024, 5);
    srv.put(PROJECT, "c", "h.bin", &data);
    let target = link("h.bin");
    let host = srv.addr;
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!("HEAD {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let get = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    s.write_all(format!("{head}{get}").as_bytes()).unwrap();
    // The HEAD answer has Content-Length but no body: read it alone, then the GET.
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        buf.push(byte[0]);
    }
    let h = parse(buf);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("2097152"));
    let got = read_responses(&mut s, 1);
    assert!(got[0].body == data);
}

#[test]
fn http2_gets_the_same_bytes_without_zero_copy() {
    if !require_tool("curl") {
        return;
    }
    let srv = TestServer::start();
    let data = pattern(2 * 1024 * 1024 + 9, 6);
    srv.put(PROJECT, "c", "h2.bin", &data);
    let out = std::process::Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}"])
        .arg(format!("http://{}{}", srv.addr, link("h2.bin")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, version) = out.stdout.split_at(out.stdout.len() - 2);
    assert_eq!(version, b"\n2", "curl did not speak HTTP/2");
    assert!(body == data, "HTTP/2 body differs from the file");
}
