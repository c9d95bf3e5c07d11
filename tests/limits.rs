//! `[limits]` against the real binary on loopback: slowloris heads, idle keep-alive sockets
//! and clients that stop reading are cut at their timeouts while others are served; the
//! connection cap holds; SIGTERM lets a download finish within the grace and says what it
//! cut; SIGHUP does not end the process. Each test sets its timeouts to a second or two.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

struct Server(Binary);

impl std::ops::Deref for Server {
    type Target = Binary;
    fn deref(&self) -> &Binary {
        &self.0
    }
}

impl Server {
    /// The binary with `limits` as its `[limits]` table.
    fn start(limits: &str) -> Server {
        Server(Binary::start(2, &format!("[limits]\n{limits}\n")))
    }

    /// A download link's request for object `object` of `p1/c`.
    fn get(&self, object: &str) -> Vec<u8> {
        self.request(&signed(&format!("/v1/AUTH_p1/c/{object}")))
    }

    /// One link request for `object` on a connection of its own.
    fn once(&self, object: &str) -> Response {
        let target = signed(&format!("/v1/AUTH_p1/c/{object}"));
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        raw(self.addr, req.as_bytes())
    }

    /// A `keyhole_limit_hits_total` counter.
    fn hits(&self, limit: &str) -> u64 {
        self.counter(&format!("keyhole_limit_hits_total{{limit=\"{limit}\"}}"))
    }

    /// A counter from the metrics page, asked on a fresh connection.
    fn counter(&self, name: &str) -> u64 {
        let page = raw(
            self.addr,
            b"GET /_keyhole/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(page.status, 200);
        value_of(&page.text(), name)
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: a plain kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) },
            0
        );
    }

    /// The exit status, waiting at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.0.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Whether the server has closed `s` (EOF or reset), without blocking.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// The value of sample `name` in a metrics page.
fn value_of(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn slowloris_heads_are_cut_at_the_header_read_timeout_while_others_are_served() {
    let srv = Server::start("header_read_timeout = 2\nidle_timeout = 30");
    srv.put("small.bin", &[5u8; 1000]);
    let head = b"GET /v1/AUTH_p1/c/small.bin HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaa";
    let mut lorises: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    let start = Instant::now();
    let mut served = 0;
    let mut cut_at = vec![None; lorises.len()];
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(5) && cut_at.iter().any(Option::is_none) {
        // A byte a second on each connection still open.
        if start.elapsed() >= Duration::from_secs(sent as u64) && sent < head.len() {
            for (s, cut) in lorises.iter_mut().zip(&cut_at) {
                if cut.is_none() {
                    let _ = s.write_all(&head[sent..sent + 1]);
                }
            }
            sent += 1;
        }
        for (s, cut) in lorises.iter_mut().zip(cut_at.iter_mut()) {
            if cut.is_none() && closed_by_server(s) {
                *cut = Some(start.elapsed());
            }
        }
        // Someone else is served all along.
        let r = srv.once("small.bin");
        assert_eq!(
            (r.status, r.body.len()),
            (200, 1000),
            "at {:?}",
            start.elapsed()
        );
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, cut) in cut_at.iter().enumerate() {
        let cut = cut.unwrap_or_else(|| panic!("slow head {i} was never cut"));
        assert!(
            cut >= Duration::from_millis(1500) && cut < Duration::from_millis(3500),
            "slow head {i} cut at {cut:?}, not at the 2 s timeout"
        );
    }
    assert!(served >= 10, "only {served} requests served meanwhile");
    assert!(srv.hits("header_read_timeout") >= 40);
}

#[test]
fn idle_keep_alive_connections_are_closed_at_the_idle_timeout_not_the_header_one() {
    let srv = Server::start("header_read_timeout = 1\nidle_timeout = 3");
    srv.put("small.bin", &[5u8; 1000]);
    let baseline = srv.fds();
    let req = srv.get("small.bin");
    let mut conns: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = TcpStream::connect(srv.addr).unwrap();
            s.write_all(&req).unwrap();
            assert_eq!(read_response(&mut s).0, 200);
            s
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    for (i, s) in conns.iter_mut().enumerate() {
        assert!(
            !closed_by_server(s),
            "connection {i} closed before idle_timeout"
        );
    }
    // Still usable: a second request restarts the idle clock.
    conns[0].write_all(&req).unwrap();
    assert_eq!(read_response(&mut conns[0]).0, 200);
    std::thread::sleep((Duration::from_millis(3700)).saturating_sub(start.elapsed()));
    for (i, s) in conns.iter_mut().enumerate().skip(1) {
        assert!(
            closed_by_server(s),
            "connection {i} still open after idle_timeout"
        );
    }
    assert!(srv.hits("idle_timeout") >= 9);
    let after = srv.settle_fds(baseline, 3);
    assert!(
        after <= baseline + 3,
        "descriptors: {baseline} before, {after} after"
    );
}

#[test]
fn a_client_that_stops_reading_a_large_body_is_dropped_at_the_send_timeout() {
    let srv = Server::start("send_timeout = 2");
    let big = pattern(64 * 1024 * 1024);
    srv.put("big.bin", &big);
    let baseline = srv.fds();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(&srv.get("big.bin")).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    s.read_exact(&mut buf).unwrap();
    // The client stops reading: the server's writes wait, then it gives up and lets go of
    // the file and the socket while the client still holds its end.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        srv.fds() > baseline,
        "the stalled download is still held at first"
    );
    let after = srv.settle_fds(baseline, 0);
    assert_eq!(after, baseline, "the stalled download was never dropped");
    assert_eq!(srv.hits("send_timeout"), 1);
    // What the client then reads ends short of the body: the connection was closed.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.len() + buf.len() < big.len(), "the whole body arrived");
}

#[test]
fn the_connection_cap_holds_and_a_waiting_client_is_served_once_one_closes() {
    let srv = Server::start("max_connections = 20");
    srv.put("small.bin", &[5u8; 1000]);
    let req = srv.get("small.bin");
    let baseline = srv.fds();
    let mut open: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(srv.addr).unwrap();
            s.write_all(&req).unwrap();
            assert_eq!(read_response(&mut s).0, 200);
            s
        })
        .collect();
    // The 21st connects (the kernel queues it) but is not served.
    let mut late = TcpStream::connect(srv.addr).unwrap();
    late.write_all(&req).unwrap();
    late.set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = late.read(&mut byte);
    assert!(
        matches!(&waited, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the 21st connection was answered: {waited:?}"
    );
    assert!(
        srv.fds() <= baseline + 20,
        "more than 20 connections accepted"
    );
    assert!(srv.hits_while_full(&mut open) >= 1);
    // One closes: the waiting one is served.
    drop(open.pop());
    late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (status, body) = read_response(&mut late);
    assert_eq!((status, body.len()), (200, 1000));
    drop(open);
    drop(late);
    let after = srv.settle_fds(baseline, 2);
    assert!(
        after <= baseline + 2,
        "descriptors: {baseline} before, {after} after"
    );
}

impl Server {
    /// The max_connections counter, asked over one of the connections already open (a new
    /// one would wait behind the cap).
    fn hits_while_full(&self, open: &mut [TcpStream]) -> u64 {
        let s = &mut open[0];
        s.write_all(b"GET /_keyhole/metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(s);
        assert_eq!(status, 200);
        value_of(
            &String::from_utf8(body).unwrap(),
            "keyhole_limit_hits_total{limit=\"max_connections\"}",
        )
    }
}

#[test]
fn sigterm_lets_a_slow_download_finish_within_the_grace_and_logs_what_it_cut() {
    let mut srv = Server::start("shutdown_grace = 3");
    let big = pattern(8 * 1024 * 1024);
    srv.put("big.bin", &big);
    let req = srv.get("big.bin");
    // One client will never read its body: the grace has to cut it.
    let mut stuck = TcpStream::connect(srv.addr).unwrap();
    stuck.write_all(&req).unwrap();
    let mut reader = TcpStream::connect(srv.addr).unwrap();
    reader.write_all(&req).unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_head(&mut reader).status, 200);
    let start = Instant::now();
    srv.signal(libc::SIGTERM);
    // Reading slowly (about 2 s for the rest), the download completes byte-exact.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the download was cut after {:?}: {e}", start.elapsed()),
        }
        std::thread::sleep(Duration::from_millis(30));
        if start.elapsed() > Duration::from_millis(300) && start.elapsed() < Duration::from_secs(1)
        {
            assert!(
                TcpStream::connect(srv.addr).is_err(),
                "still accepting after SIGTERM"
            );
        }
    }
    assert!(got == big, "the body differs from the file");
    let status = srv
        .exit_within(Duration::from_secs(6))
        .expect("still running well after the grace");
    let took = start.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_millis(4500),
        "exited {took:?} after SIGTERM, not at the 3 s grace"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        srv.logged("shutdown: 1 connection(s) still open after the 3s grace, closed"),
        "{:?}",
        srv.log.lock().unwrap()
    );
    drop(stuck);
}

#[test]
fn sighup_and_sigusr1_are_logged_and_the_server_keeps_serving_a_download_in_progress() {
    let mut srv = Server::start("");
    let big = pattern(4 * 1024 * 1024);
    srv.put("big.bin", &big);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(&srv.get("big.bin")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(read_head(&mut s).status, 200);
    srv.signal(libc::SIGHUP);
    srv.signal(libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(300));
    let mut body = vec![0u8; big.len()];
    s.read_exact(&mut body).expect("the download was cut");
    assert!(body == big, "the body differs from the file");
    assert_eq!(
        srv.0.child.try_wait().unwrap(),
        None,
        "SIGHUP or SIGUSR1 ended the process"
    );
    let mut again = TcpStream::connect(srv.addr).unwrap();
    again.write_all(&srv.get("big.bin")).unwrap();
    assert_eq!(read_response(&mut again).0, 200);
    // SIGHUP reloaded the unchanged file (tests/reload.rs pins what a reload does).
    assert!(
        !srv.logged("SIGHUP: config refused"),
        "{:?}",
        srv.log.lock().unwrap()
    );
    assert!(
        srv.logged("SIGUSR1: not used by Keyhole; ignored"),
        "{:?}",
        srv.log.lock().unwrap()
    );
}

/// A GET of `object` on a new HTTP/2 connection (prior knowledge) with a stream window of
/// `window` bytes: the response, the client (the connection closes when it is dropped) and a
/// task that ends when the server closes the connection.
async fn h2_get(
    addr: std::net::SocketAddr,
    window: u32,
    object: &str,
) -> (
    http::Response<h2::RecvStream>,
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<()>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = h2::client::Builder::new()
        .initial_window_size(window)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let link = signed(&format!("/v1/AUTH_p1/c/{object}"));
    let req = http::Request::get(format!("http://{addr}{link}"))
        .body(())
        .unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    (resp, client, conn)
}

#[tokio::test]
async fn an_http2_client_with_a_closed_window_is_dropped_at_the_send_timeout() {
    let srv = Server::start("send_timeout = 2");
    srv.put("big.bin", &pattern(8 * 1024 * 1024));
    let baseline = srv.fds();
    let (resp, _client, conn) = h2_get(srv.addr, 0, "big.bin").await;
    let start = Instant::now();
    // The body is never read, so its window never opens.
    let _body = resp.into_body();
    tokio::time::timeout(Duration::from_secs(8), conn)
        .await
        .expect("the stalled HTTP/2 connection was never dropped")
        .unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "dropped after {took:?}, before the 2 s send_timeout"
    );
    assert_eq!(srv.hits("send_timeout"), 1);
    let after = srv.settle_fds(baseline, 0);
    assert_eq!(
        after, baseline,
        "descriptors: {baseline} before, {after} after"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_at_the_idle_timeout_not_the_header_one() {
    let srv = Server::start("header_read_timeout = 1\nidle_timeout = 3");
    srv.put("small.bin", &[5u8; 1000]);
    let (resp, _client, conn) = h2_get(srv.addr, 65_535, "small.bin").await;
    let mut body = resp.into_body();
    let mut got = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        got += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    assert_eq!(got, 1000);
    let start = Instant::now();
    // The client's acknowledgements after the response are not a request head.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(!conn.is_finished(), "closed before idle_timeout");
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the idle HTTP/2 connection was never closed")
        .unwrap();
    let took = start.elapsed();
    assert!(took < Duration::from_millis(4500), "closed after {took:?}");
    assert_eq!(srv.hits("idle_timeout"), 1);
}

#[test]
fn a_connection_that_never_finishes_its_http2_preface_is_cut_at_the_header_read_timeout() {
    let srv = Server::start("header_read_timeout = 1\nidle_timeout = 30");
    let mut s = TcpStream::connect(srv.addr).unwrap();
    // The preface and half of an empty SETTINGS frame's header.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04")
        .unwrap();
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sink = Vec::new();
    let ended = s.read_to_end(&mut sink);
    let took = start.elapsed();
    assert!(
        !matches!(&ended, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "still open after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(2500),
        "cut after {took:?}, not at the 1 s header_read_timeout"
    );
    assert_eq!(srv.hits("header_read_timeout"), 1);
}

#[test]
fn out_of_descriptors_the_listener_logs_once_backs_off_and_recovers() {
    use std::os::unix::process::CommandExt;
    let srv = Server(Binary::start_with(1, "", |cmd| {
        // SAFETY: setrlimit only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 64,
                    rlim_max: 64,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }));
    srv.put("small.bin", &[5u8; 1000]);
    // More connections than the server has descriptors: the rest wait in the backlog and
    // each accept fails with EMFILE.
    let hogs: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let failures = srv
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert_eq!(
        failures, 1,
        "\"accept failed\" logged {failures} times in 3 s, not once"
    );
    drop(hogs);
    // Descriptors free again: served (after at most one back-off pause).
    let r = srv.once("small.bin");
    assert_eq!(r.status, 200);
    let errors = srv.counter("keyhole_accept_errors_total");
    assert!(
        (1..=20).contains(&errors),
        "{errors} failed accepts in 3 s: no back-off"
    );
}
