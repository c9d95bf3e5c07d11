//! S3 presigned URLs and header-signed requests over real HTTP: what AWS S3 accepts is served,
//! everything forged, altered, stale or malformed fails with S3's error XML, never a 500.

mod common;

use common::*;
use keyhole::auth::sigv4;
use keyhole::share::s3::{S3Link, Style};

const BYTES: &[u8] = b"hello from keyhole s3\n";

fn link<'a>(srv: &TestServer, endpoint: &'a str, key: &'a str) -> S3Link<'a> {
    let _ = srv;
    S3Link {
        endpoint,
        bucket: "c",
        key,
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        region: "us-east-1",
        now: now(),
        expires: 3600,
        style: Style::Path,
        v2: false,
        overrides: &[],
    }
}

fn endpoint(srv: &TestServer) -> String {
    format!("http://{}", srv.addr)
}

/// The request target (path and query) of a URL.
fn target(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

fn setup() -> (TestServer, String) {
    let srv = TestServer::start();
    srv.put(PROJECT, "c", "hello.txt", BYTES);
    let ep = endpoint(&srv);
    (srv, ep)
}

/// Asserts an S3 error: status, `<Code>`, XML shape.
fn assert_s3_error(r: &Response, status: u16, code: &str) {
    let body = r.text();
    assert_eq!(r.status, status, "{body}");
    assert_eq!(r.header("content-type"), Some("application/xml"), "{body}");
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"),
        "{body}"
    );
    assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
    assert!(
        body.contains("<RequestId>") && body.ends_with("</RequestId></Error>"),
        "{body}"
    );
}

/// Sends a request with an explicit Host header.
fn request_with_host(
    srv: &TestServer,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    request_as(srv.addr, method, host, target, headers)
}

/// Replaces one character of the signature value.
fn flip_signature(url: &str, param: &str) -> String {
    let at = url.find(&format!("{param}=")).unwrap() + param.len() + 1;
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

// ---- SigV4 presigned URLs ----

#[test]
fn a_good_presigned_url_serves_the_object_inline_until_it_expires() {
    let (srv, ep) = setup();
    let url = link(&srv, &ep, "hello.txt").url().unwrap();
    let r = srv.get(target(&url));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, BYTES);
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("inline"));
    let cc = r.header("cache-control").unwrap();
    assert!(
        cc.starts_with("private, max-age=") && cc != "private, max-age=0",
        "{cc}"
    );
}

#[test]
fn head_is_allowed_with_a_get_presign() {
    let (srv, ep) = setup();
    let url = link(&srv, &ep, "hello.txt").url().unwrap();
    let r = srv.request("HEAD", target(&url), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(BYTES.len().to_string().as_str())
    );
    assert!(r.body.is_empty());
}

#[test]
fn an_expired_link_is_access_denied_request_has_expired() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.now = now() - 7200;
    let r = srv.get(target(&l.url().unwrap()));
    assert_s3_error(&r, 403, "AccessDenied");
    assert!(r.text().contains("<Message>Request has expired</Message>"));
    assert!(r.text().contains("<X-Amz-Expires>3600</X-Amz-Expires>"));
}

#[test]
fn a_link_dated_in_the_future_beyond_the_skew_is_not_yet_valid() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.now = now() + 3600;
    let r = srv.get(target(&l.url().unwrap()));
    assert_s3_error(&r, 403, "AccessDenied");
    assert!(r
        .text()
        .contains("<Message>Request is not yet valid</Message>"));
    // Within the 15-minute skew it works.
    l.now = now() + 600;
    assert_eq!(srv.get(target(&l.url().unwrap())).status, 200);
}

#[test]
fn an_old_link_still_in_its_lifetime_works() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.now = now() - 6 * 86_400;
    l.expires = 604_800;
    assert_eq!(srv.get(target(&l.url().unwrap())).status, 200);
}

#[test]
fn tampered_urls_fail_with_signature_does_not_match_showing_what_was_signed() {
    let (srv, ep) = setup();
    srv.put(PROJECT, "c", "other.txt", b"secret");
    let url = link(&srv, &ep, "hello.txt").url().unwrap();
    let tampered = [
        flip_signature(&url, "X-Amz-Signature"),
        url.replace("/c/hello.txt", "/c/other.txt"),
        url.replace("X-Amz-Expires=3600", "X-Amz-Expires=3000"),
        format!("{url}&response-content-type=text%2Fhtml"),
        format!("{url}&x-id=GetObject"),
    ];
    for t in &tampered {
        let r = srv.get(target(t));
        assert_s3_error(&r, 403, "SignatureDoesNotMatch");
        let body = r.text();
        assert!(body.contains("<StringToSign>AWS4-HMAC-SHA256\n"), "{body}");
        assert!(body.contains("<CanonicalRequest>GET\n/c/"), "{body}");
        assert!(
            body.contains(&format!("<AWSAccessKeyId>{ACCESS_KEY}</AWSAccessKeyId>")),
            "{body}"
        );
    }
}

#[test]
fn a_link_signed_with_the_wrong_secret_does_not_match() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.secret = "not-the-secret";
    assert_s3_error(
        &srv.get(target(&l.url().unwrap())),
        403,
        "SignatureDoesNotMatch",
    );
}

#[test]
fn an_unknown_access_key_is_invalid_access_key_id() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.access_key = "AKIDNOBODY";
    let r = srv.get(target(&l.url().unwrap()));
    assert_s3_error(&r, 403, "InvalidAccessKeyId");
    assert!(r
        .text()
        .contains("<AWSAccessKeyId>AKIDNOBODY</AWSAccessKeyId>"));
}

fn presign_raw(srv: &TestServer, path: &str, expires: u64, params: &[(&str, &str)]) -> String {
    sigv4::Presign {
        host: &srv.addr.to_string(),
        path,
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        region: "us-east-1",
        now: now(),
        expires,
        params,
    }
    .path_and_query()
}

#[test]
fn a_link_over_a_week_is_an_authorization_query_parameters_error() {
    let (srv, _) = setup();
    let r = srv.get(&presign_raw(&srv, "/c/hello.txt", 604_801, &[]));
    assert_s3_error(&r, 400, "AuthorizationQueryParametersError");
    assert!(r.text().contains("604800"));
}

#[test]
fn each_missing_parameter_is_an_authorization_query_parameters_error() {
    let (srv, ep) = setup();
    let url = link(&srv, &ep, "hello.txt").url().unwrap();
    let t = target(&url);
    let (path, query) = t.split_once('?').unwrap();
    for drop in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ] {
        let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with(drop)).collect();
        let r = srv.get(&format!("{path}?{}", kept.join("&")));
        assert_s3_error(&r, 400, "AuthorizationQueryParametersError");
    }
}

#[test]
fn garbage_parameters_are_s3_errors_never_a_500() {
    let (srv, ep) = setup();
    let url = link(&srv, &ep, "hello.txt").url().unwrap();
    let t = target(&url).to_string();
    let cases: Vec<(String, u16, &str)> = vec![
        (
            t.replace("X-Amz-Expires=3600", "X-Amz-Expires=abc"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-Expires=3600", "X-Amz-Expires=0"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-Expires=3600", "X-Amz-Expires=-5"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace(
                "X-Amz-Expires=3600",
                "X-Amz-Expires=99999999999999999999999",
            ),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Algorithm=AWS4-HMAC-SHA1",
            ),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-Date=", "X-Amz-Date=garbage"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-Date=", "X-Amz-Date=%FF"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("%2Faws4_request", ""),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("%2Faws4_request", "%2Faws5_request"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-Credential=", "X-Amz-Credential=junk"),
            403,
            "InvalidAccessKeyId",
        ),
        (
            t.replace("us-east-1", "eu-west-9"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("%2Fs3%2F", "%2Fs4%2F"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=Host"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            format!("{t}&X-Amz-Signature=00"),
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            t.replace("X-Amz-Signature=", "X-Amz-Signature=zz"),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            t.replace(
                "X-Amz-SignedHeaders=host",
                "X-Amz-SignedHeaders=host%3Bx-missing",
            ),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            format!("{t}&%FF=%FE&a=%zz&&=&b"),
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (target, status, code) in &cases {
        let r = srv.get(target);
        assert_s3_error(&r, *status, code);
    }
}

#[test]
fn the_scope_date_must_be_the_x_amz_date_day() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.now = 1_700_000_000;
    let url = l.url().unwrap();
    let bad = url.replace("%2F20231114%2F", "%2F20231113%2F");
    assert_ne!(bad, url);
    assert_s3_error(
        &srv.get(target(&bad)),
        400,
        "AuthorizationQueryParametersError",
    );
}

#[test]
fn response_overrides_set_the_headers_on_get_and_head() {
    let (srv, ep) = setup();
    let overrides = [
        ("response-content-type", "application/x-keyhole"),
        (
            "response-content-disposition",
            "attachment; filename=\"Bao cao.txt\"; filename*=UTF-8''B%C3%A1o%20c%C3%A1o.txt",
        ),
        ("response-cache-control", "no-store"),
        ("response-expires", "Thu, 01 Dec 1994 16:00:00 GMT"),
        ("response-content-language", "vi"),
        ("response-content-encoding", "identity"),
    ];
    let mut l = link(&srv, &ep, "hello.txt");
    l.overrides = &overrides;
    let url = l.url().unwrap();
    for method in ["GET", "HEAD"] {
        let r = srv.request(method, target(&url), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/x-keyhole"));
        assert_eq!(
            r.header("content-disposition"),
            Some("attachment; filename=\"Bao cao.txt\"; filename*=UTF-8''B%C3%A1o%20c%C3%A1o.txt")
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("expires"), Some("Thu, 01 Dec 1994 16:00:00 GMT"));
        assert_eq!(r.header("content-language"), Some("vi"));
        assert_eq!(r.header("content-encoding"), Some("identity"));
    }
}

#[test]
fn a_signed_override_that_is_not_a_header_value_is_invalid_argument() {
    let (srv, ep) = setup();
    let overrides = [("response-content-type", "text/plain\r\nSet-Cookie: x=1")];
    let mut l = link(&srv, &ep, "hello.txt");
    l.overrides = &overrides;
    let r = srv.get(target(&l.url().unwrap()));
    assert_s3_error(&r, 400, "InvalidArgument");
    assert!(r.header("set-cookie").is_none());
}

#[test]
fn a_raw_plus_in_the_query_is_read_as_a_space() {
    let (srv, ep) = setup();
    let overrides = [(
        "response-content-disposition",
        "attachment; filename=a b.txt",
    )];
    let mut l = link(&srv, &ep, "hello.txt");
    l.overrides = &overrides;
    let url = l.url().unwrap();
    assert!(url.contains("filename%3Da%20b.txt"));
    let r = srv.get(target(
        &url.replace("filename%3Da%20b.txt", "filename%3Da+b.txt"),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=a b.txt")
    );
    // An encoded plus is a plus, so it no longer matches what was signed.
    let r = srv.get(target(
        &url.replace("filename%3Da%20b.txt", "filename%3Da%2Bb.txt"),
    ));
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
}

#[test]
fn keys_with_utf8_space_plus_tilde_percent_equals_and_slashes() {
    let (srv, ep) = setup();
    for key in [
        "Tiếng Việt/báo cáo.pdf",
        "a b+c.txt",
        "~user/100%=x.bin",
        "dir/sub dir/&#?.txt",
        "ファイル (1).txt",
    ] {
        srv.put(PROJECT, "c", key, key.as_bytes());
        let url = link(&srv, &ep, key).url().unwrap();
        let r = srv.get(target(&url));
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        assert_eq!(r.body, key.as_bytes());
        // A client escaping more than needed (`~` as %7E) signed the same canonical URI.
        let t = target(&url).replacen('~', "%7E", 1);
        assert_eq!(srv.get(&t).status, 200, "{key}");
    }
}

#[test]
fn not_found_is_told_only_after_a_valid_signature() {
    let (srv, ep) = setup();
    let url = link(&srv, &ep, "missing.txt").url().unwrap();
    let r = srv.get(target(&url));
    assert_s3_error(&r, 404, "NoSuchKey");
    assert!(r.text().contains("<Key>missing.txt</Key>"));
    assert_s3_error(
        &srv.get(target(&flip_signature(&url, "X-Amz-Signature"))),
        403,
        "SignatureDoesNotMatch",
    );
    let mut l = link(&srv, &ep, "hello.txt");
    l.bucket = "nobucket";
    assert_s3_error(&srv.get(target(&l.url().unwrap())), 404, "NoSuchBucket");
}

#[test]
fn a_bucket_of_another_project_is_not_reachable_with_this_key() {
    let (srv, ep) = setup();
    srv.put("p2", "c2", "x.txt", b"p2 data");
    let mut l = link(&srv, &ep, "x.txt");
    l.bucket = "c2";
    assert_eq!(srv.get(target(&l.url().unwrap())).status, 404);
}

#[test]
fn only_get_and_head_are_allowed() {
    let (srv, ep) = setup();
    let url = link(&srv, &ep, "hello.txt").url().unwrap();
    let r = srv.request("DELETE", target(&url), &[]);
    assert_s3_error(&r, 405, "MethodNotAllowed");
}

// ---- public and private buckets without a signature ----

#[test]
fn an_unsigned_get_of_a_public_bucket_is_served_and_of_a_private_one_denied() {
    let (srv, _) = setup();
    srv.put(PROJECT, "pub", "open.txt", b"open");
    let r = srv.get("/pub/open.txt?response-content-type=text%2Fhtml");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"open");
    // An unsigned override is not believed.
    assert_ne!(r.header("content-type"), Some("text/html"));
    let r = srv.get("/c/hello.txt");
    assert_s3_error(&r, 403, "AccessDenied");
    assert!(!r.text().contains("hello"));
}

// ---- virtual-hosted style and forwarded hosts ----

#[test]
fn virtual_hosted_style_links_work_and_are_bound_to_their_host() {
    let srv = TestServer::with_config("[s3]\ndomain = \"s3.test\"\n");
    srv.put(PROJECT, "c", "hello.txt", BYTES);
    let port = srv.addr.port();
    let ep = format!("http://s3.test:{port}");
    let mut l = link(&srv, &ep, "hello.txt");
    l.style = Style::Virtual;
    for v2 in [false, true] {
        l.v2 = v2;
        let url = l.url().unwrap();
        assert!(
            url.starts_with(&format!("http://c.s3.test:{port}/hello.txt?")),
            "{url}"
        );
        let host = format!("c.s3.test:{port}");
        let r = request_with_host(&srv, "GET", &host, target(&url), &[]);
        assert_eq!(r.status, 200, "v2={v2}: {}", r.text());
        assert_eq!(r.body, BYTES);
    }
    // SigV4 signs the host: the same path and query under another bucket's host fails.
    l.v2 = false;
    srv.put(PROJECT, "pub", "hello.txt", b"other");
    let url = l.url().unwrap();
    let r = request_with_host(
        &srv,
        "GET",
        &format!("pub.s3.test:{port}"),
        target(&url),
        &[],
    );
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
    // Path style still works beside it.
    l.style = Style::Path;
    l.endpoint = &ep;
    let url = l.url().unwrap();
    assert_eq!(
        request_with_host(&srv, "GET", &format!("s3.test:{port}"), target(&url), &[]).status,
        200
    );
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_host_is_the_signed_host() {
    let srv = TestServer::with_top_level(
        "public_url = \"https://share.example.com/files\"\n",
        "[proxy]\ntrusted = [\"127.0.0.1/32\"]\n",
    );
    srv.put(PROJECT, "c", "hello.txt", BYTES);
    let l = link(&srv, "https://share.example.com/files", "hello.txt");
    let url = l.url().unwrap();
    // The proxy passes the path on whole, mount included.
    let path = target(&url);
    assert!(path.starts_with("/files/c/hello.txt?"), "{path}");
    let fwd = [
        ("X-Forwarded-Host", "share.example.com"),
        ("X-Forwarded-Proto", "https"),
    ];
    let r = srv.request("GET", path, &fwd);
    assert_eq!(r.status, 200, "{}", r.text());
    // The same request without the forwarded host is signed for another host.
    assert_s3_error(
        &srv.request("GET", path, &fwd[1..]),
        403,
        "SignatureDoesNotMatch",
    );
}

// ---- V2 ----

#[test]
fn v2_links_good_head_expired_tampered_and_overridden() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "Tiếng Việt/a+b=c~.txt");
    l.v2 = true;
    srv.put(PROJECT, "c", "Tiếng Việt/a+b=c~.txt", BYTES);
    let url = l.url().unwrap();
    let r = srv.get(target(&url));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, BYTES);
    assert_eq!(srv.request("HEAD", target(&url), &[]).status, 200);
    // botocore adds an unsigned `content-type=`; unrelated parameters do not break V2.
    assert_eq!(
        srv.get(&format!("{}&content-type=&x-id=GetObject", target(&url)))
            .status,
        200
    );

    let r = srv.get(target(&flip_signature(&url, "Signature")));
    assert_s3_error(&r, 403, "SignatureDoesNotMatch");
    assert!(r.text().contains("<StringToSign>GET\n\n\n"));
    assert_s3_error(
        &srv.get(&format!(
            "{}&response-content-type=text%2Fhtml",
            target(&url)
        )),
        403,
        "SignatureDoesNotMatch",
    );

    l.now = now() - 7200;
    assert_s3_error(&srv.get(target(&l.url().unwrap())), 403, "AccessDenied");

    let overrides = [(
        "response-content-disposition",
        "attachment; filename=\"x y.txt\"",
    )];
    l.now = now();
    l.overrides = &overrides;
    let r = srv.get(target(&l.url().unwrap()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"x y.txt\"")
    );
}

#[test]
fn v2_malformed_and_unknown_key() {
    let (srv, ep) = setup();
    let mut l = link(&srv, &ep, "hello.txt");
    l.v2 = true;
    let url = l.url().unwrap();
    let t = target(&url);
    let expires = t
        .split("Expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert_s3_error(
        &srv.get(&t.replace(&format!("Expires={expires}"), "Expires=soon")),
        400,
        "AuthorizationQueryParametersError",
    );
    assert_s3_error(
        &srv.get(&t.replace(&format!("&Expires={expires}"), "")),
        400,
        "AuthorizationQueryParametersError",
    );
    assert_s3_error(
        &srv.get(&t.replace(ACCESS_KEY, "AKIDNOBODY")),
        403,
        "InvalidAccessKeyId",
    );
    assert_s3_error(
        &srv.get(&t.replace("Signature=", "Signature=zz")),
        403,
        "SignatureDoesNotMatch",
    );
    assert_s3_error(
        &srv.get(&t.replace("Signature=", "Signature=%FF%FE")),
        400,
        "AuthorizationQueryParametersError",
    );
}

// ---- the configured longest lifetime ----

#[test]
fn max_link_lifetime_caps_v4_and_v2_links() {
    let dir = TempDir::new("s3cap");
    for d in ["c", "pub"] {
        std::fs::create_dir_all(dir.0.join("data").join(PROJECT).join(d)).unwrap();
    }
    std::fs::write(
        dir.0.join("data").join(PROJECT).join("c").join("hello.txt"),
        BYTES,
    )
    .unwrap();
    let text = format!("max_link_lifetime = 3600\n{}", base_config(&dir.0, ""));
    let cfg = keyhole::config::Config::parse(&text, &dir.0).unwrap();
    let addr = keyhole::server::spawn_background(cfg).unwrap();
    let ep = format!("http://{addr}");
    let get = |url: &str| {
        raw(
            addr,
            format!(
                "GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
                target(url)
            )
            .as_bytes(),
        )
    };
    for v2 in [false, true] {
        let mut l = S3Link {
            endpoint: &ep,
            bucket: "c",
            key: "hello.txt",
            access_key: ACCESS_KEY,
            secret: SECRET_KEY,
            region: "us-east-1",
            now: now(),
            expires: 3600,
            style: Style::Path,
            v2,
            overrides: &[],
        };
        assert_eq!(get(&l.url().unwrap()).status, 200, "v2={v2}");
        l.expires = 7200;
        assert_s3_error(
            &get(&l.url().unwrap()),
            400,
            "AuthorizationQueryParametersError",
        );
    }
}

// ---- header auth ----

/// Signs a request in its Authorization header, as an SDK does.
fn header_signed(
    srv: &TestServer,
    method: &str,
    path: &str,
    date: u64,
    secret: &str,
) -> Vec<(String, String)> {
    let amz_date = keyhole::expiry::format_amz_date(date);
    let host = srv.addr.to_string();
    let payload = "UNSIGNED-PAYLOAD";
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let headers = [
        ("host", host.as_bytes().to_vec()),
        ("x-amz-content-sha256", payload.as_bytes().to_vec()),
        ("x-amz-date", amz_date.as_bytes().to_vec()),
    ];
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let cr = sigv4::canonical_request(
        method,
        &sigv4::canonical_uri(path),
        &sigv4::canonical_query(query),
        &headers,
        signed,
        payload,
    );
    let scope = format!("{}/us-east-1/s3/aws4_request", &amz_date[..8]);
    let sts = sigv4::string_to_sign(&amz_date, &scope, &cr);
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&sigv4::signing_key(
        secret,
        &amz_date[..8],
        "us-east-1",
    ))
    .unwrap();
    m.update(sts.as_bytes());
    let sig = const_hex::encode(m.finalize().into_bytes());
    vec![
        ("Authorization".into(), format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed}, Signature={sig}")),
        ("x-amz-content-sha256".into(), payload.into()),
        ("x-amz-date".into(), amz_date),
    ]
}

fn send(srv: &TestServer, method: &str, path: &str, headers: &[(String, String)]) -> Response {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    srv.request(method, path, &h)
}

#[test]
fn header_signed_head_and_get_good_stale_and_bad() {
    let (srv, _) = setup();
    for method in ["HEAD", "GET"] {
        let path = "/c/hello.txt";
        let r = send(
            &srv,
            method,
            path,
            &header_signed(&srv, method, path, now(), SECRET_KEY),
        );
        assert_eq!(r.status, 200, "{method}: {}", r.text());
        if method == "GET" {
            assert_eq!(r.body, BYTES);
        }
        let r = send(
            &srv,
            method,
            path,
            &header_signed(&srv, method, path, now() - 1200, SECRET_KEY),
        );
        assert_eq!(r.status, 403, "{method}");
        if method == "GET" {
            assert_s3_error(&r, 403, "RequestTimeTooSkewed");
        }
        let r = send(
            &srv,
            method,
            path,
            &header_signed(&srv, method, path, now(), "wrong"),
        );
        assert_eq!(r.status, 403, "{method}");
        if method == "GET" {
            assert_s3_error(&r, 403, "SignatureDoesNotMatch");
        }
    }
    // A GET signature does not make a HEAD: the method is signed in header auth.
    let h = header_signed(&srv, "GET", "/c/hello.txt", now(), SECRET_KEY);
    assert_eq!(send(&srv, "HEAD", "/c/hello.txt", &h).status, 403);
    // Query parameters are signed too, overrides included.
    let p = "/c/hello.txt?response-content-type=text%2Fx-signed";
    let r = send(
        &srv,
        "GET",
        p,
        &header_signed(&srv, "GET", p, now(), SECRET_KEY),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/x-signed"));
}

#[test]
fn header_auth_without_its_parts_is_refused_cleanly() {
    let (srv, _) = setup();
    let cases: [&[(&str, &str)]; 4] = [
        &[("Authorization", "AWS4-HMAC-SHA256 garbage")],
        &[(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
        )],
        &[("Authorization", "AWS AKID:c2ln")],
        &[("Authorization", "Bearer x")],
    ];
    for headers in cases {
        let r = srv.request("GET", "/c/hello.txt", headers);
        assert!(
            r.status == 400 || r.status == 403,
            "{headers:?}: {}",
            r.status
        );
        assert!(r.text().contains("<Error><Code>"));
    }
    // Both a presigned query and an Authorization header: S3 refuses the ambiguity.
    let url = link(&srv, &endpoint(&srv), "hello.txt").url().unwrap();
    let h = header_signed(&srv, "GET", "/c/hello.txt", now(), SECRET_KEY);
    assert_s3_error(&send(&srv, "GET", target(&url), &h), 400, "InvalidArgument");
}

// ---- the command line ----

#[test]
fn sign_s3_reproduces_the_aws_documentation_example() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args([
            "sign",
            "s3",
            "--access-key",
            "AKIAIOSFODNN7EXAMPLE",
            "--secret-key",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ])
        .args([
            "--region",
            "us-east-1",
            "--endpoint",
            "https://s3.amazonaws.com",
            "--bucket",
            "examplebucket",
            "--key",
            "test.txt",
        ])
        .args([
            "--expires",
            "86400",
            "--now",
            "20130524T000000Z",
            "--style",
            "virtual",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
}

/// Verified links are remembered (app::links); the memory must never outlive the link or
/// stand in for a different request.
#[test]
fn a_remembered_link_still_expires_and_covers_only_its_exact_request() {
    let (srv, ep) = setup();
    for v2 in [false, true] {
        let mut l = link(&srv, &ep, "hello.txt");
        l.expires = 1;
        l.v2 = v2;
        let url = l.url().unwrap();
        for _ in 0..3 {
            assert_eq!(srv.get(target(&url)).status, 200, "v2={v2}");
        }
        let sig = if v2 { "Signature" } else { "X-Amz-Signature" };
        assert_eq!(srv.get(target(&flip_signature(&url, sig))).status, 403);
        // Headers the remembered request did not carry are not covered by its verification:
        // a second auth mechanism is refused, and V2 signs Content-Type and x-amz-* headers.
        let with = |h: (&str, &str)| srv.request("GET", target(&url), &[h]);
        let r = with(("Authorization", "AWS4-HMAC-SHA256 Credential=x"));
        assert_s3_error(&r, 400, "InvalidArgument");
        if v2 {
            for h in [("Content-Type", "text/plain"), ("x-amz-meta-a", "b")] {
                assert_s3_error(&with(h), 403, "SignatureDoesNotMatch");
            }
        }
        // SigV4 signs the host; path-style V2 does not.
        let r = request_with_host(&srv, "GET", "other.example:1", target(&url), &[]);
        assert_eq!(
            r.status,
            if v2 { 200 } else { 403 },
            "another host, v2={v2}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_s3_error(&srv.get(target(&url)), 403, "AccessDenied");
    }
}

/// `..` or `.` as the bucket of a validly signed link must not climb into another project.
#[test]
fn a_dot_dot_bucket_cannot_reach_another_project() {
    let (srv, ep) = setup();
    srv.put("p2", "c", "secret.txt", b"OTHER PROJECT SECRET");
    for (bucket, key) in [("..", "p2/c/secret.txt"), (".", "c/hello.txt")] {
        let mut l = link(&srv, &ep, key);
        l.bucket = bucket;
        for v2 in [false, true] {
            l.v2 = v2;
            let url = l.url().unwrap();
            let r = srv.get(target(&url));
            assert!((400..500).contains(&r.status), "{url}: {}", r.status);
            assert!(
                !r.text().contains("SECRET") && !r.text().contains("hello"),
                "{url} leaked"
            );
        }
    }
}
