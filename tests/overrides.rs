//! What a link may change about a response, over real HTTP: only what its signature covers,
//! read by the same decoding that decided it was signed (any spelling of a name, any
//! repetition), and only values that mean one thing to every reader. Whatever type a link
//! asks for, a type that is not passive is served under `Content-Security-Policy: sandbox`.

mod common;

use common::*;

const HTML: &[u8] = b"<!doctype html><script>document.title='ran'</script>";
const TEXT: &[u8] = b"hello, overrides\n";

fn setup() -> TestServer {
    let srv = TestServer::start();
    srv.put(PROJECT, "c", "page.html", HTML);
    srv.put(PROJECT, "c", "hello.txt", TEXT);
    srv
}

fn assert_s3_error(r: &Response, status: u16, code: &str) {
    let body = r.text();
    assert_eq!(r.status, status, "{body}");
    assert_eq!(r.header("content-type"), Some("application/xml"), "{body}");
    assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
}

#[test]
fn an_encoded_override_name_added_to_a_v2_link_is_signed_and_so_refused() {
    let srv = setup();
    let link = s3_target(&srv, "page.html", true, &[]);
    assert_eq!(srv.get(&link).status, 200);
    for extra in [
        "response%2Dcontent%2Dtype=text%2Fplain",
        "response%2dcontent%2ddisposition=inline",
        "%72esponse-cache-control=public%2C%20max-age%3D31536000",
        "response-content-%74ype=text%2Fplain",
    ] {
        let r = srv.get(&format!("{link}&{extra}"));
        assert_s3_error(&r, 403, "SignatureDoesNotMatch");
        assert_ne!(r.header("content-type"), Some("text/plain"), "{extra}");
        assert_eq!(r.header("cache-control"), None, "{extra}");
    }
}

#[test]
fn a_v2_override_signed_under_its_name_serves_the_same_value_in_any_spelling() {
    let srv = setup();
    let link = s3_target(
        &srv,
        "hello.txt",
        true,
        &[("response-cache-control", "no-store")],
    );
    let respelled = link.replace("response-cache-control=", "response%2Dcache%2Dcontrol=");
    assert_ne!(respelled, link);
    for l in [&link, &respelled] {
        let r = srv.get(l);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[test]
fn a_repeated_override_is_refused_whichever_spelling_was_signed() {
    let srv = setup();
    // SigV4 signs every parameter: both values, in either spelling, are covered, so no
    // reader may pick one. The request is refused rather than served either type.
    let both = s3_target(
        &srv,
        "page.html",
        false,
        &[
            ("response-content-type", "text/plain"),
            ("response-content-type", "image/png"),
        ],
    );
    let at = both.rfind("response-content-type=").unwrap();
    let mixed = format!(
        "{}response%2Dcontent%2Dtype={}",
        &both[..at],
        &both[at + "response-content-type=".len()..]
    );
    for l in [&both, &mixed] {
        let r = srv.get(l);
        assert_s3_error(&r, 400, "InvalidArgument");
        assert!(r.header("content-security-policy").is_none());
    }

    // V2: a second spelling added to a signed override is signed too, so it breaks the link.
    let one = s3_target(
        &srv,
        "page.html",
        true,
        &[("response-content-type", "text/html")],
    );
    for extra in [
        "response-content-type=text%2Fplain",
        "response%2Dcontent%2Dtype=text%2Fplain",
    ] {
        let r = srv.get(&format!("{one}&{extra}"));
        assert!(r.status == 400 || r.status == 403, "{extra}: {}", r.status);
        assert_ne!(r.header("content-type"), Some("text/plain"), "{extra}");
    }
}

#[test]
fn a_swift_parameter_is_the_one_verified_in_any_spelling_and_never_twice() {
    let srv = setup();
    let path = format!("/v1/AUTH_{PROJECT}/c/hello.txt");
    let make = |ip_range| swift_link(&path, ACCOUNT_KEY, ip_range, now() + 3600);
    let open = make(None);
    assert_eq!(srv.get(&open).status, 200);
    // Bound to a range the test client is outside of: no spelling of the name unbinds it.
    let elsewhere = make(Some("192.0.2.0/24"));
    let respelled = elsewhere.replace("temp_url_ip_range=", "temp%5Furl%5Fip%5Frange=");
    for l in [&elsewhere, &respelled] {
        assert_eq!(srv.get(l).status, 401, "{l}");
    }
    // A signed parameter given again, in any spelling, is refused, never the first or last.
    for extra in [
        "temp_url_expires=1",
        "temp%5Furl%5Fexpires=1",
        "temp_url_sig=0",
        "temp%5furl%5fsig=0",
        "temp_url_ip_range=0.0.0.0%2F0",
        "temp%5Furl%5Fip%5Frange=0.0.0.0%2F0",
        "temp_url_prefix=",
    ] {
        assert_eq!(srv.get(&format!("{open}&{extra}")).status, 401, "{extra}");
        assert_eq!(
            srv.get(&format!("{elsewhere}&{extra}")).status,
            401,
            "{extra}"
        );
    }
}

#[test]
fn a_swift_filename_cannot_add_header_syntax() {
    let srv = setup();
    let link = signed(&format!("/v1/AUTH_{PROJECT}/c/hello.txt"));
    let r = srv.get(&format!(
        "{link}&filename=a%22%3B%20filename%3Dx.html%0D%0ASet-Cookie%3A%20k%3Dv%C3%A9"
    ));
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_none());
    let cd = r.header("content-disposition").unwrap();
    assert!(
        cd.starts_with(
            "attachment; filename=\"a_; filename=x.html__Set-Cookie: k=ve\"; filename*=UTF-8''"
        ),
        "{cd}"
    );
    assert_eq!(cd.matches('"').count(), 2, "{cd}");
}

#[test]
fn any_type_but_a_passive_one_is_sandboxed_however_it_is_spelled() {
    let srv = setup();
    for (ctype, sandboxed) in [
        ("TEXT/HTML", true),
        ("text/html;charset=utf-8", true),
        ("text/html ; x=1", true),
        ("image/svg+xml", true),
        ("text/xml", true),
        ("application/xhtml+xml", true),
        ("application/x-keyhole-unknown", true),
        ("image/x-unknown", true),
        ("text/plain; charset=utf-8", false),
        ("Text/Plain", false),
        ("image/png", false),
        ("application/pdf", false),
    ] {
        for v2 in [false, true] {
            let link = s3_target(&srv, "page.html", v2, &[("response-content-type", ctype)]);
            for method in ["GET", "HEAD"] {
                let r = srv.request(method, &link, &[]);
                assert_eq!(r.status, 200, "{ctype} {method}: {}", r.text());
                assert_eq!(r.header("content-type"), Some(ctype));
                assert_eq!(
                    r.header("content-security-policy") == Some("sandbox"),
                    sandboxed,
                    "{ctype} v2={v2} {method}"
                );
            }
        }
    }
    // The object's own type decides the same way.
    let html = s3_target(&srv, "page.html", false, &[]);
    assert_eq!(
        srv.get(&html).header("content-security-policy"),
        Some("sandbox")
    );
    let text = s3_target(&srv, "hello.txt", false, &[]);
    assert_eq!(srv.get(&text).header("content-security-policy"), None);
}

#[test]
fn several_ranges_of_a_passive_type_are_sandboxed_as_the_multipart_they_are() {
    let srv = setup();
    let link = s3_target(&srv, "hello.txt", false, &[]);
    let r = srv.request("GET", &link, &[("Range", "bytes=0-1,4-5")]);
    assert_eq!(r.status, 206);
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("multipart/byteranges")));
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
}

#[test]
fn a_type_that_is_not_exactly_one_media_type_is_invalid_argument() {
    let srv = setup();
    for ctype in [
        "text/plain,text/html",
        "text/plain, text/html",
        "text/html text/plain",
        "",
        "text",
        "text/",
        "/html",
        "text/plain;charset",
        "text/plain;x=\"open",
        " text/plain",
        "text/plain ",
    ] {
        for v2 in [false, true] {
            let link = s3_target(&srv, "page.html", v2, &[("response-content-type", ctype)]);
            let r = srv.get(&link);
            assert_s3_error(&r, 400, "InvalidArgument");
            assert!(r.body.windows(8).all(|w| w != b"<script>"), "{ctype:?}");
            assert_eq!(srv.request("HEAD", &link, &[]).status, 400, "{ctype:?}");
        }
    }
}

#[test]
fn a_non_ascii_or_control_character_override_value_is_invalid_argument() {
    let srv = setup();
    for name in keyhole::auth::s3::OVERRIDES {
        for value in [
            "attachment; filename=\"Báo cáo.txt\"",
            "caf\u{e9}",
            "a\tb",
            "a\u{7f}b",
            "a\u{1}b",
        ] {
            for v2 in [false, true] {
                let link = s3_target(&srv, "hello.txt", v2, &[(name, value)]);
                let r = srv.get(&link);
                assert_s3_error(&r, 400, "InvalidArgument");
                assert_eq!(srv.request("HEAD", &link, &[]).status, 400);
            }
        }
    }
}

#[test]
fn keyhole_sign_s3_refuses_overrides_the_server_would_refuse() {
    let sign = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(["sign", "s3", "--access-key", ACCESS_KEY, "--secret-key"])
            .args([
                SECRET_KEY,
                "--endpoint",
                "http://127.0.0.1:1",
                "--bucket",
                "c",
            ])
            .args(["--key", "hello.txt"])
            .args(extra)
            .output()
            .unwrap()
    };
    for bad in [
        &["--response-content-type", "text/plain,text/html"][..],
        &["--response-content-type", ""],
        &[
            "--response-content-disposition",
            "inline; filename=\"é.txt\"",
        ],
        &["--v2", "--response-cache-control", "a\tb"],
    ] {
        let out = sign(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{}:", bad[bad.len() - 2])), "{err}");
    }
    let out = sign(&["--response-content-type", "text/plain; charset=utf-8"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
