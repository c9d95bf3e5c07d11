//! The upstream client's failure kinds against real sockets, and Keyhole's tempauth login at a
//! real OpenStack Swift (tests/stores/swift.sh, token life 3 s) with its token cache.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{require_tool, shared_store, stop_shared_store, Store};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use keyhole::upstream::client::{Client, ErrorKind, Timeouts};
use keyhole::upstream::swift_auth::{AuthError, Login, Secret, Token, TokenCache};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        head: Duration::from_millis(600),
        body_idle: Duration::from_millis(600),
    }
}

fn url(addr: std::net::SocketAddr, path: &str) -> Uri {
    format!("http://{addr}{path}").parse().unwrap()
}

/// A listener on 127.0.0.1 whose one connection is handed to `serve` (in a thread).
fn one_shot(serve: impl FnOnce(std::net::TcpStream) + Send + 'static) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            serve(s);
        }
    });
    addr
}

fn read_head(s: &mut std::net::TcpStream) {
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

async fn get(
    c: &Client,
    u: Uri,
) -> Result<http::Response<keyhole::upstream::client::IdleBody>, keyhole::upstream::client::Error> {
    c.send(Method::GET, u, HeaderMap::new(), Bytes::new()).await
}

#[tokio::test]
async fn a_port_with_nothing_listening_is_refused_within_the_connect_timeout() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = Client::new(quick()).unwrap();
    let start = Instant::now();
    let e = get(&c, url(addr, "/")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(e.retry_may_help() && !e.is_timeout());
}

#[tokio::test]
async fn a_listener_whose_backlog_is_full_is_a_connect_timeout() {
    // A listen backlog of 0 that nobody accepts from: once it holds a connection, the kernel
    // drops further SYNs, so a connect hangs as it would to a host that is down.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = sock.listen(0).unwrap();
    let addr = l.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    let c = Client::new(Timeouts {
        connect: Duration::from_millis(500),
        ..quick()
    })
    .unwrap();
    let start = Instant::now();
    let e = get(&c, url(addr, "/")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectTimeout, "{e}");
    assert!(e.is_timeout());
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_store_that_accepts_but_never_answers_is_a_head_timeout() {
    let addr = one_shot(|mut s| {
        read_head(&mut s);
        std::thread::sleep(Duration::from_secs(5));
    });
    let c = Client::new(quick()).unwrap();
    let start = Instant::now();
    let e = get(&c, url(addr, "/")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::HeadTimeout, "{e}");
    assert!(e.is_timeout());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_body_that_stalls_fails_with_an_idle_timeout_after_the_bytes_it_sent() {
    let addr = one_shot(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        std::thread::sleep(Duration::from_secs(5));
    });
    let c = Client::new(quick()).unwrap();
    let mut body = get(&c, url(addr, "/")).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"abc");
    let start = Instant::now();
    let e = body.frame().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BodyIdle, "{e}");
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert!(body.frame().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn the_idle_time_counts_from_when_the_reader_asks_not_from_its_last_frame() {
    // The reader pauses for twice the idle time after the first frame; the store answers
    // 0.2 s after the reader asks again. A reader's own pause must not count against the store.
    let addr = one_shot(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc");
        std::thread::sleep(Duration::from_millis(1500));
        let _ = s.write_all(b"def");
        std::thread::sleep(Duration::from_secs(5));
    });
    let c = Client::new(quick()).unwrap();
    let mut body = get(&c, url(addr, "/")).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"abc");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let rest = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&rest[..], b"def");
}

#[tokio::test]
async fn a_body_cut_short_of_its_content_length_is_an_error_not_an_end() {
    let addr = one_shot(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    });
    let c = Client::new(quick()).unwrap();
    let body = get(&c, url(addr, "/")).await.unwrap().into_body();
    let e = body.collect_limited(1 << 20).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
}

#[tokio::test]
async fn a_plain_http_answer_to_an_https_store_is_a_tls_error() {
    let addr = one_shot(|mut s| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let c = Client::new(quick()).unwrap();
    let u: Uri = format!("https://localhost:{}/", addr.port())
        .parse()
        .unwrap();
    let e = get(&c, u).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(!e.retry_may_help());
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed_and_only_the_given_headers_are_sent() {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = one_shot(move |mut s| {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
        let _ = s.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let c = Client::new(quick()).unwrap();
    let mut h = HeaderMap::new();
    h.insert("range", HeaderValue::from_static("bytes=0-1"));
    let resp = c
        .send(Method::GET, url(addr, "/o"), h, Bytes::new())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let head = rx
        .recv_timeout(Duration::from_secs(2))
        .unwrap()
        .to_ascii_lowercase();
    let names: Vec<&str> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n))
        .collect();
    assert_eq!(names, ["range", "host"], "{head}");
    assert!(head.contains(&format!("host: {addr}")));
}

// ---- tempauth at a real Swift ----

static SWIFT: OnceLock<Store> = OnceLock::new();

extern "C" fn stop_swift() {
    stop_shared_store(&SWIFT);
}

/// The shared Swift (tempauth, 3 s tokens), or None when its packages are missing here.
fn swift() -> Option<&'static Store> {
    if !require_tool("swift-proxy-server") {
        return None;
    }
    Some(shared_store(
        &SWIFT,
        "swift.sh",
        &[("SWIFT_TOKEN_LIFE", "3")],
        stop_swift,
    ))
}

fn tempauth(store: &Store, key: &str) -> TokenCache {
    let login = Login::tempauth(
        store.var("SWIFT_AUTH_URL"),
        store.var("SWIFT_USER"),
        Secret::new(key),
    )
    .unwrap();
    TokenCache::new(
        Client::new(Timeouts::default()).unwrap(),
        login,
        Duration::from_secs(30),
    )
}

async fn head_account(token: &Token) -> StatusCode {
    let c = Client::new(Timeouts::default()).unwrap();
    let mut h = HeaderMap::new();
    h.insert("x-auth-token", token.header_value().clone());
    let resp = c
        .send(Method::HEAD, token.storage_url().clone(), h, Bytes::new())
        .await
        .unwrap();
    resp.status()
}

#[tokio::test]
async fn tempauth_gives_a_token_and_storage_url_that_open_the_account() {
    let Some(store) = swift() else { return };
    let cache = tempauth(store, store.var("SWIFT_KEY"));
    let token = cache.token().await.unwrap();
    assert_eq!(
        token.storage_url().to_string(),
        store.var("SWIFT_STORAGE_URL")
    );
    assert!(head_account(&token).await.is_success());
    let again = cache.token().await.unwrap();
    assert!(Arc::ptr_eq(&token, &again), "a fresh token is reused");
    assert_eq!(cache.logins(), 1);
}

#[tokio::test]
async fn an_expired_tempauth_token_is_replaced_by_a_new_one() {
    let Some(store) = swift() else { return };
    let cache = tempauth(store, store.var("SWIFT_KEY"));
    let old = cache.token().await.unwrap();
    assert!(head_account(&old).await.is_success());
    // tempauth hands the same token out again until it ends; past its 3 s the proxy refuses it.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(head_account(&old).await, StatusCode::UNAUTHORIZED);
    let new = cache.token().await.unwrap();
    assert_ne!(new.header_value(), old.header_value());
    assert!(head_account(&new).await.is_success());
    // A late 401 for the old token must not throw away the new one.
    let logins = cache.logins();
    cache.invalidate(&old);
    let still = cache.token().await.unwrap();
    assert!(Arc::ptr_eq(&new, &still));
    assert_eq!(cache.logins(), logins);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires_and_once_only() {
    let Some(store) = swift() else { return };
    // The second account's user: no other test holds its token, so this one starts at 3 s.
    let login = Login::tempauth(
        store.var("SWIFT_AUTH_URL"),
        store.var("SWIFT_USER2"),
        Secret::new(store.var("SWIFT_KEY2")),
    )
    .unwrap();
    let cache = TokenCache::new(
        Client::new(Timeouts::default()).unwrap(),
        login,
        Duration::from_secs(30),
    );
    let start = tokio::time::Instant::now();
    let first = cache.token().await.unwrap();
    assert_eq!(
        first.storage_url().to_string(),
        store.var("SWIFT_STORAGE_URL2")
    );
    // tempauth says 2 (its whole seconds left, rounded down). Half its life is the margin of
    // so short a token: at 1.3 s it is renewed ahead of its end. (Whether tempauth hands the
    // same token back then depends on memcached's whole-second clock; `deadlines`' unit tests
    // pin what is done with one that comes back unchanged.)
    tokio::time::sleep_until(start + Duration::from_millis(1300)).await;
    let early = cache.token().await.unwrap();
    assert_eq!(cache.logins(), 2);
    // A new token opens the account; the old one handed back again may already be gone by
    // memcached's whole-second clock, and that is the only way this may be refused.
    let status = head_account(&early).await;
    assert!(
        status.is_success()
            || (status == StatusCode::UNAUTHORIZED && early.header_value() == first.header_value()),
        "{status}"
    );
    // Renewed once, not again on every call.
    assert!(Arc::ptr_eq(&early, &cache.token().await.unwrap()));
    assert_eq!(cache.logins(), 2);
    tokio::time::sleep_until(start + Duration::from_millis(3600)).await;
    let next = cache.token().await.unwrap();
    assert_eq!(cache.logins(), 3);
    assert_ne!(next.header_value(), first.header_value());
    assert!(head_account(&next).await.is_success());
}

#[tokio::test]
async fn fifty_callers_after_an_invalidation_cause_exactly_one_login() {
    let Some(store) = swift() else { return };
    let cache = Arc::new(tempauth(store, store.var("SWIFT_KEY")));
    let first = cache.token().await.unwrap();
    assert_eq!(cache.logins(), 1);
    cache.invalidate(&first);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.unwrap().unwrap().header_value().clone());
    }
    assert_eq!(cache.logins(), 2);
    assert!(
        values.windows(2).all(|w| w[0] == w[1]),
        "every caller got the one new token"
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_misconfiguration_tried_once_however_many_wait() {
    let Some(store) = swift() else { return };
    let cache = Arc::new(tempauth(store, "not-the-key"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, AuthError::Misconfigured(_)), "{e}");
        assert!(!e.retry_may_help());
        assert!(!e.to_string().contains("not-the-key"), "{e}");
    }
    assert_eq!(cache.logins(), 1);
}

/// A tempauth login at a test's own listener, with the short time limits.
fn tempauth_at(addr: std::net::SocketAddr) -> TokenCache {
    let login =
        Login::tempauth(&format!("http://{addr}/auth/v1.0"), "a:b", Secret::new("k")).unwrap();
    TokenCache::new(
        Client::new(quick()).unwrap(),
        login,
        Duration::from_secs(30),
    )
}

#[tokio::test]
async fn an_auth_service_that_is_down_is_unavailable_and_may_be_retried() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cache = tempauth_at(addr);
    let e = cache.token().await.unwrap_err();
    match &e {
        AuthError::Unavailable(inner) => assert_eq!(inner.kind(), ErrorKind::Refused),
        other => panic!("{other}"),
    }
    assert!(e.retry_may_help());
}

#[tokio::test]
async fn an_auth_service_that_drips_its_answer_is_cut_off_in_bounded_time() {
    // Each byte comes within the idle time, so only a bound on the whole login stops it: the
    // renewal lock must not be held for as long as a hostile or broken service likes.
    let addr = one_shot(|mut s| {
        read_head(&mut s);
        let head = "HTTP/1.1 200 OK\r\nX-Auth-Token: AUTH_tk1\r\n\
                    X-Storage-Url: http://127.0.0.1:1/v1/AUTH_a\r\nContent-Length: 40\r\n\r\n";
        let _ = s.write_all(head.as_bytes());
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(200));
            if s.write_all(b"x").is_err() {
                return;
            }
        }
    });
    let cache = tempauth_at(addr);
    let start = Instant::now();
    let e = cache.token().await.unwrap_err();
    assert!(e.retry_may_help(), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}
