//! Load and faults against the real binary, on loopback, bounded in count and time: many
//! keep-alive connections, stalled and vanishing clients, files truncated while they stream.
//! After each, descriptors and memory come back to where they were.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

type Server = Binary;

impl Binary {
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .parse()
            .unwrap()
    }
}

fn link(object: &str) -> String {
    signed(&format!("/v1/AUTH_p1/c/{object}"))
}

#[test]
fn thousands_of_keep_alive_connections_are_served_and_released() {
    // The connections all open before any sends a request, which under load can take
    // longer than the default header_read_timeout.
    let srv = Server::start(1, "[limits]\nheader_read_timeout = 120\n");
    srv.put("small.bin", &[7u8; 4096]);
    let req = srv.request(&link("small.bin"));
    let baseline = srv.fds();
    let n = 5000;
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        conns.push(s);
    }
    // Two requests on every connection, all connections open at once.
    for round in 0..2 {
        for s in conns.iter_mut() {
            s.write_all(&req).unwrap();
        }
        for (i, s) in conns.iter_mut().enumerate() {
            let (status, body) = read_response(s);
            assert_eq!(
                (status, body.len()),
                (200, 4096),
                "connection {i}, round {round}"
            );
        }
    }
    assert!(
        srv.fds() >= baseline + n / 2,
        "the connections were not all open at once"
    );
    drop(conns);
    let after = srv.settle_fds(baseline, 4);
    assert!(
        after <= baseline + 4,
        "descriptors leaked: {baseline} before, {after} after"
    );
}

#[test]
fn stalled_and_vanishing_clients_free_their_files_and_memory() {
    let srv = Server::start(2, "");
    let big: Vec<u8> = (0..32 * 1024 * 1024)
        .map(|i: u32| (i % 253) as u8)
        .collect();
    srv.put("big.bin", &big);
    let req = srv.request(&link("big.bin"));
    let baseline = srv.fds();
    // Warm up once so the idle RSS includes the runtime's steady state.
    let mut warm = TcpStream::connect(srv.addr).unwrap();
    warm.write_all(&req).unwrap();
    assert_eq!(read_response(&mut warm).1.len(), big.len());
    drop(warm);
    let idle_rss = srv.rss_kib();

    // 1,000 clients ask for 32 MiB and never read.
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(&req).unwrap();
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    // Meanwhile, others are served.
    let mut other = TcpStream::connect(srv.addr).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    other.write_all(&srv.request(&link("big.bin"))).unwrap();
    let (status, body) = read_response(&mut other);
    assert_eq!(status, 200);
    assert!(body == big, "a served body differs from the file");
    let busy_rss = srv.rss_kib();
    drop(stalled);

    // Clients that read a little and vanish mid-body.
    for _ in 0..200 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(&req).unwrap();
        let mut buf = [0u8; 65536];
        let _ = s.read(&mut buf);
    }
    drop(other);
    let after = srv.settle_fds(baseline, 4);
    assert!(
        after <= baseline + 4,
        "descriptors leaked: {baseline} before, {after} after"
    );
    std::thread::sleep(Duration::from_millis(300));
    let end_rss = srv.rss_kib();
    eprintln!("RSS KiB: idle {idle_rss}, 1000 stalled {busy_rss}, after {end_rss}");
    // Memory held for stalled clients is given back (allocator slack allowed).
    assert!(
        end_rss < idle_rss + 64 * 1024,
        "RSS did not come back: idle {idle_rss} KiB, after {end_rss} KiB"
    );
}

#[test]
fn a_file_truncated_while_streaming_gives_a_short_body_and_a_closed_connection() {
    let srv = Server::start(2, "");
    let size = 64 * 1024 * 1024;
    let data: Vec<u8> = (0..size as u32).map(|i| (i % 251) as u8).collect();
    let path = srv.put("shrinks.bin", &data);
    srv.put("neighbour.bin", &vec![0xEE; size]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&srv.request(&link("shrinks.bin"))).unwrap();
    let mut got = vec![0u8; 1024 * 1024];
    s.read_exact(&mut got).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(2 * 1024 * 1024)
        .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    got.extend_from_slice(&rest);
    let body_start = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &got[body_start..];
    assert!(
        body.len() < size,
        "the body was not cut short ({} bytes)",
        body.len()
    );
    assert_eq!(
        body,
        &data[..body.len()],
        "bytes differ from the file's own"
    );
    assert!(
        !body.contains(&0xEE) || data[..body.len()].contains(&0xEE),
        "bytes of another file"
    );
    // The server goes on.
    let mut again = TcpStream::connect(srv.addr).unwrap();
    again
        .write_all(&srv.request(&link("neighbour.bin")))
        .unwrap();
    assert_eq!(read_response(&mut again).0, 200);
}

#[test]
fn a_file_deleted_while_streaming_is_sent_whole_from_the_open_descriptor() {
    let srv = Server::start(2, "");
    let data: Vec<u8> = (0..16 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let path = srv.put("goes.bin", &data);
    let baseline = srv.fds();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&srv.request(&link("goes.bin"))).unwrap();
    let mut head = [0u8; 4096];
    let n = s.read(&mut head).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut rest = head[..n].to_vec();
    let mut r = s.try_clone().unwrap();
    let mut buf = vec![0; 1 << 20];
    let start = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    while rest.len() - start < data.len() {
        let k = r.read(&mut buf).unwrap();
        assert!(k > 0, "connection closed early");
        rest.extend_from_slice(&buf[..k]);
    }
    assert!(rest[start..] == data[..]);
    drop(s);
    let after = srv.settle_fds(baseline, 2);
    assert!(
        after <= baseline + 2,
        "the deleted file's descriptor leaked"
    );
}
