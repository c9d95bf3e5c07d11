//! Live reload on SIGHUP, against the real binary: a removed key's links (Swift and S3, cached
//! or not) fail at once and a new key's work, a download started before the reload finishes
//! byte-exact on the config it started with, a broken file is refused by its key while the
//! old config keeps serving, and a data root swapped by a deploy is the one served after.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::nginx::{free_port, Nginx};
use common::*;

const NEW_KEY: &str = "account-key-new";
const NEW_ACCESS: &str = "AKIDKEYHOLENEW";
const NEW_SECRET: &str = "keyhole-new-secret";

fn start() -> Binary {
    Binary::start_with(2, "", |c| {
        c.env("RUST_LOG", "info");
    })
}

/// A path-style S3 link (SigV4) for `p1`'s container `c`, signed for `addr`.
fn s3_link(addr: SocketAddr, name: &str, access_key: &str, secret: &str) -> String {
    let endpoint = format!("http://{addr}");
    let url = keyhole::share::s3::S3Link {
        endpoint: &endpoint,
        bucket: "c",
        key: name,
        access_key,
        secret,
        region: "us-east-1",
        now: now(),
        expires: 3600,
        style: keyhole::share::s3::Style::Path,
        v2: false,
        overrides: &[],
    }
    .url()
    .expect("a link to a plain key");
    url[endpoint.len()..].to_string()
}

fn get(b: &Binary, target: &str) -> Response {
    request_as(b.addr, "GET", &b.addr.to_string(), target, &[])
}

/// Rewrites the binary's config with `edit` applied.
fn edit_config(b: &Binary, edit: impl FnOnce(String) -> String) {
    let path = b.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&path, edited).unwrap();
}

/// The base config with the account key and the S3 key replaced by new ones.
fn rotate_keys(text: String) -> String {
    text.replace(
        &format!("[\"{ACCOUNT_KEY}\", \"{ACCOUNT_KEY_2}\"]"),
        &format!("[\"{NEW_KEY}\"]"),
    )
    .replace(ACCESS_KEY, NEW_ACCESS)
    .replace(SECRET_KEY, NEW_SECRET)
}

/// Byte `i` of the large object: not a repeating short pattern, so a misplaced chunk shows.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

#[test]
fn sighup_revokes_removed_keys_and_admits_new_ones_while_a_download_finishes_byte_exact() {
    let b = start();
    const LEN: u64 = 200 << 20;
    let big: Vec<u8> = (0..LEN).map(byte_at).collect();
    b.put("big.bin", &big);
    drop(big);
    b.put("small.txt", b"small");
    let old_swift = signed("/v1/AUTH_p1/c/small.txt");
    let old_s3 = s3_link(b.addr, "small.txt", ACCESS_KEY, SECRET_KEY);
    assert_eq!(get(&b, &old_swift).status, 200);
    assert_eq!(get(&b, &old_s3).status, 200);

    // The download starts on the old config and reads only its first MiB before the reload.
    let mut conn = TcpStream::connect(b.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let target = signed("/v1/AUTH_p1/c/big.bin");
    write!(
        conn,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        b.addr
    )
    .unwrap();
    let mut got: Vec<u8> = Vec::with_capacity(2 << 20);
    let mut buf = vec![0u8; 64 << 10];
    let head_end = loop {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the connection closed before the head");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = got.split_off(head_end);
    while body.len() < 1 << 20 {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0);
        body.extend_from_slice(&buf[..n]);
    }

    edit_config(&b, rotate_keys);
    let line = b.reload();
    assert!(line.contains("config reloaded"), "{line}");
    assert!(line.contains("temp_url_keys 4 -> 3"), "{line}");
    for secret in [NEW_KEY, NEW_SECRET, ACCOUNT_KEY, SECRET_KEY] {
        assert!(!b.logged(secret), "a secret reached the log");
    }

    assert_eq!(
        get(&b, &old_swift).status,
        401,
        "a removed Swift key still opens"
    );
    let refused = get(&b, &old_s3);
    assert_eq!(refused.status, 403, "a removed S3 key still opens");
    assert!(
        refused.text().contains("InvalidAccessKeyId"),
        "{}",
        refused.text()
    );
    let new_swift = signed_with("/v1/AUTH_p1/c/small.txt", NEW_KEY);
    let new_s3 = s3_link(b.addr, "small.txt", NEW_ACCESS, NEW_SECRET);
    assert_eq!(get(&b, &new_swift).body, b"small");
    assert_eq!(get(&b, &new_s3).body, b"small");

    // The download goes on to its last byte, every byte where it belongs.
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body.len() as u64, LEN, "the download was cut");
    let wrong = body
        .iter()
        .enumerate()
        .position(|(i, &v)| v != byte_at(i as u64));
    assert_eq!(wrong, None, "the download's bytes differ");
}

#[test]
fn a_link_verified_before_the_reload_is_not_served_from_the_cache_after_it() {
    let b = start();
    b.put("o.txt", b"cached");
    let swift = signed("/v1/AUTH_p1/c/o.txt");
    let s3 = s3_link(b.addr, "o.txt", ACCESS_KEY, SECRET_KEY);
    // Twice each: the second is a hit of the verified-link cache.
    for _ in 0..2 {
        assert_eq!(get(&b, &swift).body, b"cached");
        assert_eq!(get(&b, &s3).body, b"cached");
    }
    edit_config(&b, rotate_keys);
    assert!(b.reload().contains("config reloaded"));
    assert_eq!(get(&b, &swift).status, 401);
    assert_eq!(get(&b, &s3).status, 403);
}

#[test]
fn a_broken_config_is_refused_by_its_key_and_the_old_one_keeps_serving() {
    let b = start();
    b.put("o.txt", b"still here");
    let swift = signed("/v1/AUTH_p1/c/o.txt");
    let s3 = s3_link(b.addr, "o.txt", ACCESS_KEY, SECRET_KEY);
    // The broken file also drops the account key: none of it may take effect.
    edit_config(&b, |t| {
        t.replace(&format!("\"{ACCOUNT_KEY}\", "), "")
            .replace(&format!("\"{SECRET_KEY}\""), "\"\"")
    });
    let line = b.reload();
    assert!(line.contains("config refused"), "{line}");
    assert!(line.contains("project[0].s3_key[0].secret_key"), "{line}");
    assert_eq!(get(&b, &swift).body, b"still here");
    assert_eq!(get(&b, &s3).body, b"still here");
    assert!(!b.logged(SECRET_KEY) && !b.logged(ACCOUNT_KEY_2));

    // A file that is not TOML at all is refused the same way, with where it broke.
    std::fs::write(b.config_path(), "listen = \n[[[").unwrap();
    let line = b.reload();
    assert!(
        line.contains("config refused") && line.contains("line 1"),
        "{line}"
    );
    assert_eq!(get(&b, &swift).body, b"still here");

    // Fixed again, it loads.
    edit_config(&b, |_| base_config(&b.dir.0, ""));
    assert!(b.reload().contains("config reloaded"));
    assert_eq!(get(&b, &swift).body, b"still here");
}

#[test]
fn a_data_root_swapped_by_a_deploy_is_served_after_sighup() {
    let b = start();
    b.put("o.txt", b"release 1");
    let link = signed("/v1/AUTH_p1/c/o.txt");
    assert_eq!(get(&b, &link).body, b"release 1");
    // A deploy moves the old tree aside and puts a new one at the configured path.
    let root = b.dir.0.join("data");
    std::fs::rename(&root, b.dir.0.join("data-old")).unwrap();
    std::fs::create_dir_all(root.join("p1/c")).unwrap();
    std::fs::write(root.join("p1/c/o.txt"), b"release 2").unwrap();
    // Nothing changed in the file itself; the reload opens the root again.
    let line = b.reload();
    assert!(line.contains("config reloaded"), "{line}");
    assert_eq!(get(&b, &link).body, b"release 2");
}

#[test]
fn a_data_root_that_is_gone_refuses_the_reload_and_the_old_one_keeps_serving() {
    let b = start();
    b.put("o.txt", b"kept");
    let link = signed("/v1/AUTH_p1/c/o.txt");
    let root = b.dir.0.join("data");
    std::fs::rename(&root, b.dir.0.join("data-moved")).unwrap();
    let line = b.reload();
    assert!(
        line.contains("config refused") && line.contains("backend root"),
        "{line}"
    );
    // The root opened at start is still the one served.
    assert_eq!(get(&b, &link).body, b"kept");
}

#[test]
fn behind_nginx_a_key_removed_by_sighup_fails_through_the_proxy_and_a_new_one_opens() {
    if !require_tool("nginx") {
        return;
    }
    let b = Binary::start_with(2, "[proxy]\ntrusted = [\"127.0.0.1/32\"]\n", |c| {
        c.env("RUST_LOG", "info");
    });
    b.put("o.txt", b"proxied");
    let n = Nginx::start(free_port(), &[("/", &[b.addr])]);
    let swift = signed("/v1/AUTH_p1/c/o.txt");
    let s3 = s3_link(n.addr, "o.txt", ACCESS_KEY, SECRET_KEY);
    assert_eq!(n.get(&swift, &[]).body, b"proxied", "{}", n.log());
    assert_eq!(n.get(&s3, &[]).body, b"proxied", "{}", n.log());
    edit_config(&b, rotate_keys);
    assert!(b.reload().contains("config reloaded"));
    assert_eq!(n.get(&swift, &[]).status, 401);
    assert_eq!(n.get(&s3, &[]).status, 403);
    let new_swift = signed_with("/v1/AUTH_p1/c/o.txt", NEW_KEY);
    let new_s3 = s3_link(n.addr, "o.txt", NEW_ACCESS, NEW_SECRET);
    assert_eq!(n.get(&new_swift, &[]).body, b"proxied");
    assert_eq!(n.get(&new_s3, &[]).body, b"proxied");
}
