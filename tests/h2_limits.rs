//! HTTP/2 clients that never read: what they may make the server hold, and that everyone
//! else is still served while they wait. The server runs in this process (see `common`), so
//! its descriptors and memory are this process's.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{raw, signed, TestServer, PROJECT};
use tokio::time::timeout;

/// Large enough that no stream could be sent whole in one window.
const BIG: usize = 8 << 20;
/// Connections that stall, each with `STREAMS` streams.
const STALLERS: usize = 8;
const STREAMS: usize = 100;
/// A generous bound for "still served", not a performance target.
const SERVED: Duration = Duration::from_secs(10);

/// The tests here measure the whole process: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// What this process holds: open descriptors and resident bytes.
struct Usage {
    fds: usize,
    rss: u64,
}

impl Usage {
    fn now() -> Usage {
        Usage {
            fds: open_descriptors(),
            rss: rss_bytes(),
        }
    }

    /// Descriptors and bytes held now beyond `self`.
    fn grown(&self, what: &str) -> (usize, u64) {
        let now = Usage::now();
        let grown = (
            now.fds.saturating_sub(self.fds),
            now.rss.saturating_sub(self.rss),
        );
        eprintln!("{what}: {} descriptors, {} KiB", grown.0, grown.1 >> 10);
        grown
    }
}

/// A server with the big object, already fetched once over HTTP/2 so that the page cache,
/// the server's pools and threads are warm before anything is measured.
async fn warm_server() -> (TestServer, String) {
    let (srv, link) = server_with_big_object();
    assert_eq!(h2_download(srv.addr, &link).await, BIG);
    (srv, link)
}

fn server_with_big_object() -> (TestServer, String) {
    let srv = TestServer::start();
    let data: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    srv.put(PROJECT, "c", "big.bin", &data);
    let link = signed(&format!("/v1/AUTH_{PROJECT}/c/big.bin"));
    (srv, link)
}

/// A connection whose client opened `streams` requests for `link` with a small flow-control
/// window (0 or a few KiB), got the response heads, and never reads a byte of the bodies.
struct Staller {
    responses: Vec<http::Response<h2::RecvStream>>,
    _client: h2::client::SendRequest<Bytes>,
}

/// `connections` stalled connections of `STREAMS` streams, each stream with a window of
/// `window` bytes (it takes that much, then no more), once every stream's body was polled.
async fn stall_many(addr: SocketAddr, link: &str, connections: usize, window: u32) -> Vec<Staller> {
    let mut stallers = Vec::new();
    for _ in 0..connections {
        stallers.push(stall(addr, link, STREAMS, window).await);
    }
    // hyper asks each body for its first frame as soon as the head is sent; let it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stallers
}

async fn stall(addr: SocketAddr, link: &str, streams: usize, window: u32) -> Staller {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::Builder::new()
        .initial_window_size(window)
        // Room for every stream's window on the connection too.
        .initial_connection_window_size((streams as u32 * window).max(65_535))
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap();
    let mut pending = Vec::new();
    for _ in 0..streams {
        let req = http::Request::get(format!("http://{addr}{link}"))
            .body(())
            .unwrap();
        let (resp, _) = client.send_request(req, true).unwrap();
        pending.push(resp);
        client = client.ready().await.unwrap();
    }
    let mut responses = Vec::new();
    for resp in pending {
        let resp = timeout(SERVED, resp).await.unwrap().unwrap();
        assert_eq!(resp.status(), 200);
        responses.push(resp);
    }
    Staller {
        responses,
        _client: client,
    }
}

/// An ordinary HTTP/2 download of `link`, read to the end; returns the bytes received.
async fn h2_download(addr: SocketAddr, link: &str) -> usize {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(format!("http://{addr}{link}"))
        .body(())
        .unwrap();
    let (resp, _) = client
        .ready()
        .await
        .unwrap()
        .send_request(req, true)
        .unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    read_all(resp.into_body()).await
}

/// Reads a body to its end, opening the window as it goes; returns the bytes received.
async fn read_all(mut body: h2::RecvStream) -> usize {
    let mut got = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        got += chunk.len();
        body.flow_control().release_capacity(chunk.len()).unwrap();
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_streams_hold_no_descriptor_or_buffer_and_others_are_still_served() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (srv, link) = warm_server().await;
    let addr = srv.addr;
    let before = Usage::now();

    let stallers = stall_many(addr, &link, STALLERS, 0).await;
    let (held_fds, held_rss) = before.grown("stalled");
    // Each stalled connection is a socket at each end; the streams add nothing.
    assert!(
        held_fds <= 2 * STALLERS + 16,
        "{held_fds} descriptors held by {STALLERS} stalled connections of {STREAMS} streams"
    );
    // Before the budget each stream kept a 128 KiB chunk (100 MiB here).
    assert!(
        held_rss < 48 << 20,
        "{} MiB held by {} stalled streams",
        held_rss >> 20,
        STALLERS * STREAMS
    );

    // Others are still served, over both protocols, while the stallers stay connected.
    let got = timeout(SERVED, h2_download(addr, &link)).await;
    assert_eq!(got.expect("an HTTP/2 download finishes"), BIG);
    let req = format!("GET {link} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let h1 = tokio::task::spawn_blocking(move || raw(addr, req.as_bytes()));
    let resp = timeout(SERVED, h1)
        .await
        .expect("an HTTP/1.1 download finishes");
    let resp = resp.unwrap();
    assert_eq!((resp.status, resp.body.len()), (200, BIG));
    drop(stallers);
}

/// A counter from the metrics page; 0 when it is not there.
fn metric(srv: &TestServer, name: &str) -> u64 {
    let page = srv.get("/_keyhole/metrics").text();
    let line = page.lines().find(|l| l.split(' ').next() == Some(name));
    line.map_or(0, |l| l.split(' ').nth(1).unwrap().parse().unwrap())
}

fn budget_spent(srv: &TestServer) -> u64 {
    metric(srv, "keyhole_body_budget_spent_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_read_a_little_then_stop_hold_at_most_their_connections_share() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (srv, link) = warm_server().await;
    let addr = srv.addr;
    let before = Usage::now();
    assert_eq!(budget_spent(&srv), 0);

    // One byte more than the first frame: each stream is sent its first chunk, and its
    // second is read and kept with all but one byte unsent.
    const CONNECTIONS: usize = 3;
    let stallers = stall_many(addr, &link, CONNECTIONS, 16 * 1024 + 1).await;
    // A connection's share is 4 MiB: 32 of its streams hold a 128 KiB second chunk, and
    // each of the others is held back to a 16 KiB one.
    let held_back = (CONNECTIONS * (STREAMS - 32)) as u64;
    let settled = tokio::time::Instant::now() + SERVED;
    while budget_spent(&srv) < held_back && tokio::time::Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (held_fds, held_rss) = before.grown("read a little");
    assert!(held_fds <= 2 * CONNECTIONS + 16, "{held_fds} descriptors");
    // Without the share, all 100 would hold one (38 MiB here).
    assert!(held_rss < 28 << 20, "{} MiB held", held_rss >> 20);
    let small = budget_spent(&srv);
    assert!(
        small >= held_back,
        "{small} reads were made small by their connection's share"
    );

    let got = timeout(SERVED, h2_download(addr, &link)).await;
    assert_eq!(got.expect("an HTTP/2 download finishes"), BIG);
    drop(stallers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stallers_that_spend_the_whole_server_budget_do_not_stop_others() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (srv, link) = warm_server().await;
    let addr = srv.addr;
    // Each connection keeps its 4 MiB share in unsent 128 KiB chunks: 17 spend the 64 MiB.
    let stallers = stall_many(addr, &link, 17, 16 * 1024 + 1).await;
    let settled = tokio::time::Instant::now() + SERVED;
    while budget_spent(&srv) < 17 * 68 && tokio::time::Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Uncached, so HTTP/1 must read (and charge) its chunks too rather than use sendfile.
    evict(&srv.root().join(PROJECT).join("c").join("big.bin"));
    let req = format!("GET {link} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let h1 = tokio::task::spawn_blocking(move || raw(addr, req.as_bytes()));
    let resp = timeout(SERVED, h1)
        .await
        .expect("an HTTP/1.1 download finishes");
    assert_eq!(resp.unwrap().body.len(), BIG);
    let got = timeout(SERVED, h2_download(addr, &link)).await;
    assert_eq!(got.expect("an HTTP/2 download finishes"), BIG);
    drop(stallers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_its_streams_one_at_a_time_is_served_each_in_turn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (srv, link) = warm_server().await;
    let addr = srv.addr;
    // More big downloads on one connection than its share holds chunks, with the default
    // 64 KiB windows, read one after another: the streams not being read fill their windows
    // and keep a chunk each. The one being read must still get chunks.
    const OPEN: usize = 48;
    let staller = stall(addr, &link, OPEN, 65_535).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, resp) in staller.responses.into_iter().take(3).enumerate() {
        let got = timeout(SERVED, read_all(resp.into_body())).await;
        assert_eq!(got.unwrap_or_else(|_| panic!("stream {i} stalled")), BIG);
    }
}

/// Drops `path`'s pages from the page cache, so reading it needs the disk again.
fn evict(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: a valid descriptor; the call only advises the kernel.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncached_object_is_read_through_the_budget_whole_over_both_protocols() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (srv, link) = server_with_big_object();
    let path = srv.root().join(PROJECT).join("c").join("big.bin");
    let addr = srv.addr;
    // Cold, HTTP/1 cannot use sendfile: chunks are read, charged and sent one at a time.
    evict(&path);
    let req = format!("GET {link} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let h1 = tokio::task::spawn_blocking(move || raw(addr, req.as_bytes()));
    let resp = timeout(SERVED, h1).await.unwrap().unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.body == std::fs::read(&path).unwrap(), "the same bytes");
    let sent_by_sendfile = metric(&srv, "keyhole_zero_copy_bytes_total");
    assert!(
        sent_by_sendfile < BIG as u64,
        "some of it was read: {sent_by_sendfile}"
    );
    evict(&path);
    let got = timeout(SERVED, h2_download(addr, &link)).await;
    assert_eq!(got.expect("an HTTP/2 download finishes"), BIG);
}

// ---- a raw HTTP/2 client, to send more streams than the server allows ----

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const REFUSED_STREAM: u32 = 0x7;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

fn read_frame(s: &mut std::net::TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).expect("a frame");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).expect("a frame's payload");
    (head[3], head[4], stream, payload)
}

/// An HPACK integer with an `n`-bit prefix after `first`'s high bits (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A literal header field without indexing, its name from the static table (§6.2.2).
fn hpack_literal(out: &mut Vec<u8>, name_index: usize, value: &str) {
    hpack_int(out, 0x00, 4, name_index);
    hpack_int(out, 0x00, 7, value.len());
    out.extend(value.as_bytes());
}

/// A GET request head: `:method GET`, `:scheme http` (static entries 2 and 6), `:authority`
/// (1) and `:path` (4).
fn get_head(authority: &str, path: &str) -> Vec<u8> {
    let mut h = vec![0x82, 0x86];
    hpack_literal(&mut h, 1, authority);
    hpack_literal(&mut h, 4, path);
    h
}

#[test]
fn streams_past_max_streams_are_refused_by_the_settings_limit() {
    let _one = ONE_AT_A_TIME.blocking_lock();
    let (srv, link) = server_with_big_object();
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(SERVED)).unwrap();
    let mut hello = PREFACE.to_vec();
    // A window of 0: no stream can finish, so every one stays open.
    let mut window = SETTINGS_INITIAL_WINDOW_SIZE.to_be_bytes().to_vec();
    window.extend(0u32.to_be_bytes());
    hello.extend(frame(SETTINGS, 0, 0, &window));
    s.write_all(&hello).unwrap();

    let announced = loop {
        let (kind, flags, _, payload) = read_frame(&mut s);
        if kind == SETTINGS && flags & 0x1 == 0 {
            let max = payload.chunks_exact(6).find_map(|p| {
                (u16::from_be_bytes([p[0], p[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
                    .then(|| u32::from_be_bytes([p[2], p[3], p[4], p[5]]))
            });
            s.write_all(&frame(SETTINGS, 0x1, 0, &[])).unwrap();
            break max;
        }
    };
    assert_eq!(announced, Some(100), "the default [limits] max_streams");

    // One stream more than announced, all at once.
    let head = get_head(&srv.addr.to_string(), &link);
    let mut burst = Vec::new();
    let over = 2 * 100 + 1;
    for id in (1..=over).step_by(2) {
        // END_STREAM | END_HEADERS
        burst.extend(frame(HEADERS, 0x5, id as u32, &head));
    }
    s.write_all(&burst).unwrap();

    let (mut heads, mut refused) = (0, Vec::new());
    while heads < 100 || refused.is_empty() {
        let (kind, _, stream, payload) = read_frame(&mut s);
        match kind {
            HEADERS => heads += 1,
            RST_STREAM => {
                let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                refused.push((stream, code));
            }
            GOAWAY => panic!("the connection was closed: {payload:?}"),
            _ => {}
        }
    }
    assert_eq!(heads, 100, "every stream within the limit is answered");
    assert_eq!(refused, vec![(over as u32, REFUSED_STREAM)]);
}
