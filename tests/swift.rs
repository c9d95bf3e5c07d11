//! Swift Temporary URLs over HTTP against a real server.

mod common;

use common::*;
use keyhole::auth::swift::Digest;
use keyhole::share::SwiftLink;

fn link(path: &str, key: &str, method: &str, expires: u64) -> SwiftLink<'static> {
    SwiftLink {
        base_url: "",
        path: Box::leak(path.to_string().into_boxed_str()),
        key: Box::leak(key.to_string().into_boxed_str()),
        method: Box::leak(method.to_string().into_boxed_str()),
        expires,
        digest: Digest::Sha256,
        ip_range: None,
        prefix: false,
        iso8601: false,
        inline: false,
        filename: None,
    }
}

fn good(path: &str) -> String {
    link(path, ACCOUNT_KEY, "GET", now() + 600).url()
}

const UNAUTHORIZED: &str = "401 Unauthorized: Temp URL invalid\n";

#[test]
fn a_download_link_serves_the_bytes_as_an_attachment() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "report.pdf", b"%PDF-1.4 fake");
    let r = s.get(&good("/v1/AUTH_p1/c/report.pdf"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"%PDF-1.4 fake");
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf")
    );
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("etag").is_some_and(|e| e.starts_with('"')));
    assert!(r.header("last-modified").is_some());
}

#[test]
fn a_view_link_is_inline_with_the_same_filename_parts() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "photo.png", b"\x89PNG");
    let mut l = link("/v1/AUTH_p1/c/photo.png", ACCOUNT_KEY, "GET", now() + 600);
    l.inline = true;
    let r = s.get(&l.url());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(
        r.header("content-disposition"),
        Some("inline; filename=\"photo.png\"; filename*=UTF-8''photo.png")
    );
}

#[test]
fn the_filename_parameter_names_the_download() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "blob", b"x");
    let mut l = link("/v1/AUTH_p1/c/blob", ACCOUNT_KEY, "GET", now() + 600);
    l.filename = Some("Hóa đơn \"2026\".txt");
    let r = s.get(&l.url());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"Hoa don _2026_.txt\"; filename*=UTF-8''H%C3%B3a%20%C4%91%C6%A1n%20%222026%22.txt")
    );
}

#[test]
fn utf8_and_special_character_names_round_trip() {
    let s = TestServer::start();
    for name in [
        "Báo cáo tháng 11.pdf",
        "a b+c&d=e?f#g.txt",
        "dir/sub/x y.txt",
        "日本語/ファイル.txt",
        "%41 literal percent",
    ] {
        s.put(PROJECT, "c", name, name.as_bytes());
        let r = s.get(&good(&format!("/v1/AUTH_p1/c/{name}")));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.body, name.as_bytes(), "{name}");
        let last = name.rsplit('/').next().unwrap();
        let want = format!(
            "filename*=UTF-8''{}",
            keyhole::share::encode_value(last)
                .replace("%2B", "+")
                .replace("%26", "&")
                .replace("%23", "#")
        );
        assert!(
            r.header("content-disposition").unwrap().ends_with(&want),
            "{name}: {:?}",
            r.header("content-disposition")
        );
    }
}

#[test]
fn every_key_of_the_account_and_the_container_works() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o", b"ok");
    for key in [ACCOUNT_KEY, ACCOUNT_KEY_2, CONTAINER_KEY] {
        let r = s.get(&link("/v1/AUTH_p1/c/o", key, "GET", now() + 60).url());
        assert_eq!(r.status, 200, "{key}");
    }
}

#[test]
fn head_with_a_get_link_gives_headers_and_no_body() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o.txt", b"hello");
    let r = s.request("HEAD", &good("/v1/AUTH_p1/c/o.txt"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5"));
    assert!(r.body.is_empty());
    let raw_end = r.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(r.raw.len(), raw_end, "HEAD sent body bytes");
}

#[test]
fn an_address_bound_link_works_only_from_inside_its_range_even_when_repeated() {
    let s = TestServer::with_config("[proxy]\ntrusted = [\"127.0.0.1/32\"]\n");
    s.put(PROJECT, "c", "o.txt", b"bound");
    let mut l = link("/v1/AUTH_p1/c/o.txt", ACCOUNT_KEY, "GET", now() + 600);
    l.ip_range = Some("10.0.0.0/8");
    let url = l.url();
    let from = |ip: &str| s.request("GET", &url, &[("X-Forwarded-For", ip)]);
    // The second and later requests are answered from the verified-link cache, which
    // must still ask who is calling.
    for _ in 0..2 {
        let r = from("10.1.2.3");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"bound"[..]));
    }
    for ip in ["192.0.2.1", "11.0.0.1", "::1"] {
        let r = from(ip);
        assert_eq!((r.status, r.text().as_str()), (401, UNAUTHORIZED), "{ip}");
    }
    assert_eq!(from("10.9.9.9").status, 200);
}

#[test]
fn bad_links_get_one_short_401_and_never_reveal_the_object() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o", b"secret bytes");
    let valid = good("/v1/AUTH_p1/c/o");
    let sig = valid
        .split("temp_url_sig=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let mut tampered = sig.clone().into_bytes();
    tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    let exp = now() + 600;
    let cases = [
        (
            "expired",
            link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, "GET", now() - 1).url(),
        ),
        ("tampered", valid.replace(&sig, &tampered)),
        (
            "wrong key",
            link("/v1/AUTH_p1/c/o", "not-the-key", "GET", exp).url(),
        ),
        (
            "other project's key",
            link("/v1/AUTH_p1/c/o", "other-project-key", "GET", exp).url(),
        ),
        (
            "HEAD link used for GET",
            link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, "HEAD", exp).url(),
        ),
        (
            "PUT link used for GET",
            link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, "PUT", exp).url(),
        ),
        (
            "no signature",
            format!("/v1/AUTH_p1/c/o?temp_url_expires={exp}"),
        ),
        ("no expiry", format!("/v1/AUTH_p1/c/o?temp_url_sig={sig}")),
        ("no query", "/v1/AUTH_p1/c/o".to_string()),
        (
            "garbage expiry",
            format!("/v1/AUTH_p1/c/o?temp_url_sig={sig}&temp_url_expires=tomorrow"),
        ),
        (
            "huge expiry",
            format!("/v1/AUTH_p1/c/o?temp_url_sig={sig}&temp_url_expires=184467440737095516160"),
        ),
        (
            "garbage signature",
            format!("/v1/AUTH_p1/c/o?temp_url_sig=%00%FF&temp_url_expires={exp}"),
        ),
        ("repeated signature", format!("{valid}&temp_url_sig={sig}")),
        (
            "moved to another object",
            valid.replace("/c/o?", "/c/other?"),
        ),
    ];
    for (what, target) in cases {
        let r = s.get(&target);
        assert_eq!(r.status, 401, "{what}: {target}");
        assert_eq!(r.text(), UNAUTHORIZED, "{what}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    // A missing object answers the same 401 to a bad link as an existing one does.
    let r = s.get(&link("/v1/AUTH_p1/c/missing", "not-the-key", "GET", exp).url());
    assert_eq!((r.status, r.text().as_str()), (401, UNAUTHORIZED));
}

#[test]
fn a_valid_link_to_a_missing_object_is_404() {
    let s = TestServer::start();
    let r = s.get(&good("/v1/AUTH_p1/c/nothing-here"));
    assert_eq!(r.status, 404);
}

#[test]
fn methods_other_than_get_and_head_are_not_allowed() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o", b"x");
    for m in ["PUT", "POST", "DELETE", "PATCH"] {
        let r = s.request(
            m,
            &link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, m, now() + 60).url(),
            &[("Content-Length", "0")],
        );
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}

#[test]
fn links_made_by_the_cli_for_each_digest_verify() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o", b"cli");
    for digest in ["sha1", "sha256", "sha512"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args([
                "sign",
                "swift",
                "--key",
                ACCOUNT_KEY,
                "--path",
                "/v1/AUTH_p1/c/o",
                "--expires",
                "5m",
                "--digest",
                digest,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap();
        let r = s.get(url.trim());
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, b"cli".as_slice()),
            "{digest}"
        );
    }
}

#[test]
fn iso8601_prefix_and_ip_range_links_work_end_to_end() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "dir/a.txt", b"a");
    let mut l = link("/v1/AUTH_p1/c/dir/a.txt", ACCOUNT_KEY, "GET", now() + 600);
    l.iso8601 = true;
    assert_eq!(s.get(&l.url()).status, 200);

    let mut p = link("/v1/AUTH_p1/c/dir/", ACCOUNT_KEY, "GET", now() + 600);
    p.prefix = true;
    let url = p.url();
    let (_, query) = url.split_once('?').unwrap();
    assert_eq!(
        s.get(&format!("/v1/AUTH_p1/c/dir/a.txt?{query}")).status,
        200
    );
    assert_eq!(
        s.get(&format!("/v1/AUTH_p1/c/elsewhere.txt?{query}"))
            .status,
        401
    );

    let mut ip = link("/v1/AUTH_p1/c/dir/a.txt", ACCOUNT_KEY, "GET", now() + 600);
    ip.ip_range = Some("127.0.0.0/8");
    assert_eq!(s.get(&ip.url()).status, 200);
    ip.ip_range = Some("10.0.0.0/8");
    assert_eq!(s.get(&ip.url()).status, 401);
}

#[test]
fn public_containers_serve_without_a_link_and_private_ones_do_not() {
    let s = TestServer::start();
    s.put(PROJECT, "pub", "open.txt", b"public");
    s.put(PROJECT, "c", "closed.txt", b"private");
    let r = s.get("/v1/AUTH_p1/pub/open.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, b"public".as_slice()));
    assert_eq!(s.get("/v1/AUTH_p1/c/closed.txt").status, 401);
}

/// Every way a signed path could try to leave its container: the signature may be valid
/// (the key holder signed it), but no byte outside the container may come back.
#[test]
fn signed_paths_cannot_escape_the_container() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "inside.txt", b"inside");
    s.put("p2", "c", "secret.txt", b"OTHER PROJECT SECRET");
    s.put(PROJECT, "pub", "x.txt", b"OTHER CONTAINER");
    std::fs::write(s.dir.0.join("outside.txt"), b"OUTSIDE ROOT").unwrap();
    std::os::unix::fs::symlink(s.dir.0.join("outside.txt"), s.root().join("p1/c/abs-link"))
        .unwrap();
    std::os::unix::fs::symlink("../../p2/c/secret.txt", s.root().join("p1/c/rel-link")).unwrap();
    std::os::unix::fs::symlink("../pub", s.root().join("p1/c/dir-link")).unwrap();
    // Hard links: to a file outside the root, and to another project's file.
    std::fs::hard_link(s.dir.0.join("outside.txt"), s.root().join("p1/c/hard-out")).unwrap();
    std::fs::hard_link(
        s.root().join("p2/c/secret.txt"),
        s.root().join("p1/c/hard-p2"),
    )
    .unwrap();

    let decoded_paths = [
        "/v1/AUTH_p1/c/../../p2/c/secret.txt",
        "/v1/AUTH_p1/c/../pub/x.txt",
        "/v1/AUTH_p1/c/./inside.txt",
        "/v1/AUTH_p1/c//inside.txt",
        "/v1/AUTH_p1/c/abs-link",
        "/v1/AUTH_p1/c/rel-link",
        "/v1/AUTH_p1/c/dir-link/x.txt",
        "/v1/AUTH_p1/c/hard-out",
        "/v1/AUTH_p1/c/hard-p2",
        "/v1/AUTH_p1/c/../../../outside.txt",
        "/v1/AUTH_p1/c/..",
    ];
    for path in decoded_paths {
        // Signed by a key holder over exactly this decoded path, in plain and encoded forms.
        let signed = link(path, ACCOUNT_KEY, "GET", now() + 60).url();
        let (_, query) = signed.split_once('?').unwrap();
        let forms = [
            signed.clone(),
            format!("{}?{query}", path.replace('.', "%2e")),
            format!(
                "{}?{query}",
                path.replace("/..", "%2F..").replacen("%2F..", "/..", 0)
            ),
            format!("{}?{query}", path.replace("../", "..%2F")),
            format!("{}?{query}", path.replace("../", "%2e%2e%2f")),
        ];
        for target in forms {
            let r = s.get(&target);
            assert!(
                (400..500).contains(&r.status),
                "{target}: status {}",
                r.status
            );
            for leak in ["OTHER PROJECT SECRET", "OTHER CONTAINER", "OUTSIDE ROOT"] {
                assert!(!r.text().contains(leak), "{target} leaked {leak}");
            }
        }
    }
    // Double encoding is decoded once: `%252e%252e` is a literal name, not a parent.
    let r = s.get(&good("/v1/AUTH_p1/c/%2e%2e/secret.txt").replace("%2e%2e", "%252e%252e"));
    assert!((400..500).contains(&r.status));
    // A key of project p1 cannot sign for project p2.
    let r = s.get(&link("/v1/AUTH_p2/c/secret.txt", ACCOUNT_KEY, "GET", now() + 60).url());
    assert_eq!(r.status, 401);
    // And the server still answers.
    assert_eq!(s.get(&good("/v1/AUTH_p1/c/inside.txt")).status, 200);
}

#[test]
fn a_path_that_is_not_utf8_is_a_bad_request() {
    let s = TestServer::start();
    let r = s.get(&format!(
        "/v1/AUTH_p1/c/%FF%FE?temp_url_sig=x&temp_url_expires={}",
        now() + 60
    ));
    assert_eq!(r.status, 400);
}

#[test]
fn hard_links_are_served_only_when_the_config_allows_them() {
    let url = link("/v1/AUTH_p1/c/two.txt", ACCOUNT_KEY, "GET", now() + 60).url();
    let first = link("/v1/AUTH_p1/c/one.txt", ACCOUNT_KEY, "GET", now() + 60).url();
    let with_two_names = |backend: &str| {
        let srv = TestServer::with_backend(backend);
        srv.put(PROJECT, "c", "one.txt", b"one name");
        let root = srv.root().join("p1/c");
        std::fs::hard_link(root.join("one.txt"), root.join("two.txt")).unwrap();
        srv
    };
    let refusing = with_two_names("");
    assert_eq!(refusing.get(&url).status, 404, "refused by default");
    assert_eq!(refusing.get(&first).status, 404, "under either name");
    let allowing = with_two_names("hard_links = true");
    let r = allowing.get(&url);
    assert_eq!((r.status, r.body.as_slice()), (200, b"one name".as_slice()));
}

/// Verified links are remembered (app::links); the memory must never outlive the link, nor
/// let a link bound to an address work from another.
#[test]
fn a_remembered_link_still_expires_and_stays_bound_to_its_address() {
    let s = TestServer::start();
    s.put(PROJECT, "c", "o", b"x");
    let url = link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, "GET", now() + 1).url();
    for _ in 0..3 {
        assert_eq!(s.get(&url).status, 200);
    }
    let mut bound = link("/v1/AUTH_p1/c/o", ACCOUNT_KEY, "GET", now() + 60);
    bound.ip_range = Some("10.0.0.0/8");
    let bound = bound.url();
    for _ in 0..2 {
        assert_eq!(
            s.get(&bound).status,
            401,
            "the loopback client is outside the range"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(s.get(&url).status, 401);
}

/// Found while reworking the filesystem open: `..` as the *container* (not the object) of a
/// validly signed link must not reach a sibling project.
#[test]
fn a_dot_dot_container_cannot_reach_another_project() {
    let s = TestServer::start();
    s.put("p2", "c", "secret.txt", b"OTHER PROJECT SECRET");
    std::fs::write(s.root().join("top.txt"), b"ROOT FILE").unwrap();
    for path in [
        "/v1/AUTH_p1/../p2/c/secret.txt",
        "/v1/AUTH_p1/./c/x",
        "/v1/AUTH_p1/../top.txt",
    ] {
        let r = s.get(&link(path, ACCOUNT_KEY, "GET", now() + 60).url());
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
        assert!(
            !r.text().contains("SECRET") && !r.text().contains("ROOT FILE"),
            "{path} leaked"
        );
    }
}
