//! Property tests for the link verifiers: every link Keyhole makes verifies, for every link
//! kind and any UTF-8 object name, and any single-character change to a signed URL's path or
//! query (replacing, inserting or deleting one character) fails — except a change that is a
//! no-op by the protocol's own rules, which the tests name explicitly:
//!
//! - Swift: `inline` and `filename` (and any other unknown parameter) are not signed;
//!   percent-escapes that decode to the same text (`%2F`/`%2f`) are the same path or value;
//!   the same signature bytes in another base64 alphabet are the same signature; and with a
//!   prefix link any object under the prefix is covered.
//! - S3 (SigV4 and V2): escapes that decode to the same bytes are the same, as is a V2
//!   signature with whitespace around it (read trimmed) or in padded/unpadded base64; beyond that a
//!   change that still verifies must leave the grant (project, bucket, key, expiry, `response-*`
//!   overrides) exactly as it was.

mod common;

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use http::{HeaderMap, Method};
use keyhole::auth::s3::{self, query_decode, S3Request};
use keyhole::auth::swift::{self, parse_expires, Digest, SwiftPath};
use keyhole::auth::Grant;
use keyhole::config::Config;
use keyhole::query::{form_decode, Query};
use keyhole::router::{route, Route};
use keyhole::share::s3::{S3Link, Style};
use keyhole::share::{encode_value, SwiftLink};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};

const NOW: u64 = 1_700_000_000;
const HOST: &str = "keyhole.test:8080";

fn cfg() -> Config {
    Config::parse(
        r#"
[s3]
regions = ["us-east-1"]
domain = "keyhole.test"
[backend]
kind = "fs"
root = "x"
[[project]]
id = "p"
temp_url_keys = ["key-one", "key-two"]
  [[project.s3_key]]
  access_key = "AKIDP"
  secret_key = "secret-p"
  [[project.container]]
  name = "c"
  temp_url_keys = ["container-key"]
"#,
        Path::new("/"),
    )
    .unwrap()
}

/// A runner with a fixed, modest case count that writes no regression files.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(PtConfig {
        cases,
        failure_persistence: None,
        ..PtConfig::default()
    })
}

// ---- strategies ----

/// One path segment of any UTF-8 but `/` and NUL, never `.` or `..`.
fn segment() -> impl Strategy<Value = String> {
    "[^/\u{0}]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

/// A valid object name: one to three segments.
fn object_name() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_map(|v| v.join("/"))
}

#[derive(Debug, Clone, Copy)]
enum SigForm {
    Hex,
    Base64Url,
    Base64Std,
}

#[derive(Debug, Clone)]
struct SwiftCase {
    object: String,
    key: &'static str,
    digest: Digest,
    form: SigForm,
    iso8601: bool,
    /// Sign for the prefix made of this many leading chars of the object.
    prefix: Option<usize>,
    ip_range: bool,
    head: bool,
    inline: bool,
    filename: Option<String>,
}

fn swift_case() -> impl Strategy<Value = SwiftCase> {
    (
        object_name(),
        prop::sample::select(vec!["key-one", "key-two", "container-key"]),
        prop::sample::select(vec![Digest::Sha1, Digest::Sha256, Digest::Sha512]),
        prop::sample::select(vec![SigForm::Hex, SigForm::Base64Url, SigForm::Base64Std]),
        any::<bool>(),
        prop::option::of(0usize..8),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of("\\PC{0,10}"),
    )
        .prop_map(
            |(object, key, digest, form, iso8601, prefix, ip_range, head, inline, filename)| {
                SwiftCase {
                    object,
                    key,
                    digest,
                    form,
                    iso8601,
                    prefix,
                    ip_range,
                    head,
                    inline,
                    filename,
                }
            },
        )
}

/// A one-character change at `at` (taken modulo the length): 0 replaces, 1 inserts, 2 deletes.
fn mutate(url: &str, op: u8, at: usize, c: char) -> Option<String> {
    let mut chars: Vec<char> = url.chars().collect();
    let at = at % (chars.len() + usize::from(op == 1));
    match op {
        0 => {
            if chars[at] == c {
                return None;
            }
            chars[at] = c;
        }
        1 => chars.insert(at, c),
        _ => {
            chars.remove(at);
        }
    }
    Some(chars.into_iter().collect())
}

/// Characters a change may bring: URL syntax, escapes, hex digits of both cases, base64's
/// alphabets, and some non-ASCII.
fn change_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(
            "%/?&=+-_.~:;#0123456789abcdefABCDEFxzZ "
                .chars()
                .collect::<Vec<_>>()
        ),
        any::<char>(),
    ]
}

// ---- Swift ----

const EXPIRES: u64 = NOW + 3600;
const CLIENT: &str = "10.1.2.3";

/// Builds the link with `SwiftLink`, as `keyhole share` does, then rewrites the signature in
/// the requested form. Returns `path?query`.
fn swift_url(c: &SwiftCase) -> String {
    let object_path = format!("/v1/AUTH_p/c/{}", c.object);
    let prefix: Option<String> = c.prefix.map(|n| c.object.chars().take(n).collect());
    let signed_path = match &prefix {
        Some(p) => format!("/v1/AUTH_p/c/{p}"),
        None => object_path.clone(),
    };
    let url = SwiftLink {
        base_url: "",
        path: &signed_path,
        key: c.key,
        method: if c.head { "HEAD" } else { "GET" },
        expires: EXPIRES,
        digest: c.digest,
        ip_range: c.ip_range.then_some("10.0.0.0/8"),
        prefix: prefix.is_some(),
        iso8601: c.iso8601,
        inline: c.inline,
        filename: c.filename.as_deref(),
    }
    .url();
    let (_, query) = url.split_once('?').unwrap();
    let hex_sig = Query::new(query)
        .first_form("temp_url_sig")
        .unwrap()
        .into_owned();
    let raw = const_hex::decode(&hex_sig).unwrap();
    let sig = match c.form {
        SigForm::Hex => hex_sig.clone(),
        SigForm::Base64Url => format!("{}:{}", c.digest.name(), URL_SAFE_NO_PAD.encode(&raw)),
        SigForm::Base64Std => format!(
            "{}:{}",
            c.digest.name(),
            encode_value(&STANDARD.encode(&raw))
        ),
    };
    let query = query.replacen(&hex_sig, &sig, 1);
    // The request goes to the object itself (for prefix links, an object under the prefix).
    format!("{}?{query}", keyhole::share::encode_path(&object_path))
}

fn swift_check(cfg: &Config, url: &str, head: bool) -> Option<Grant> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let Route::Swift(r) = route(cfg, path, None) else {
        return None;
    };
    let req = SwiftPath {
        path: &r.path,
        account: r.account(),
        container: r.container(),
        object: r.object(),
    };
    let method = if head { Method::HEAD } else { Method::GET };
    let client: IpAddr = CLIENT.parse().unwrap();
    swift::verify(cfg, &req, &method, &Query::new(query), client, NOW).ok()
}

/// A Swift signature as bytes, whichever form it was written in (hex must be lowercase, as
/// Swift compares hex strings).
fn swift_signature(sig: &str) -> Option<(String, Vec<u8>)> {
    if let Some((name, b64)) = sig.split_once(':') {
        let b64 = b64.trim_end_matches('=').replace(' ', "+");
        let bytes = URL_SAFE_NO_PAD
            .decode(&b64)
            .or_else(|_| STANDARD_NO_PAD.decode(&b64))
            .ok()?;
        return Some((name.to_string(), bytes));
    }
    if sig.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(("hex".into(), const_hex::decode(sig).ok()?))
}

/// What a Swift URL means to the verifier, by the protocol's rules: the decoded path (or, for
/// a prefix link, the account, container and whether the object is under the prefix), and
/// each signed parameter's decoded values. Unsigned parameters are left out.
#[derive(Debug, PartialEq)]
struct SwiftMeaning {
    path: Option<String>,
    in_prefix: Option<(String, String, bool)>,
    sig: Vec<Option<(String, Vec<u8>)>>,
    expires: Vec<Option<u64>>,
    prefix: Vec<Option<String>>,
    ip_range: Vec<Option<String>>,
}

fn swift_meaning(url: &str) -> SwiftMeaning {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let q = Query::new(query);
    let values = |name: &str| -> Vec<Option<String>> {
        q.pairs()
            .filter(|(k, _)| form_decode(k).as_deref() == Some(name))
            .map(|(_, v)| form_decode(v).map(Cow::into_owned))
            .collect()
    };
    let prefix = values("temp_url_prefix");
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned);
    let (path, in_prefix) = match (&decoded, prefix.as_slice()) {
        (Some(d), [Some(p)]) => {
            let mut parts = d.strip_prefix("/v1/").unwrap_or("").splitn(3, '/');
            let (a, c, o) = (parts.next(), parts.next(), parts.next());
            match (a, c, o) {
                (Some(a), Some(c), Some(o)) if !a.is_empty() && !c.is_empty() && !o.is_empty() => (
                    None,
                    Some((a.to_string(), c.to_string(), o.starts_with(p.as_str()))),
                ),
                _ => (decoded.clone(), None),
            }
        }
        _ => (decoded.clone(), None),
    };
    SwiftMeaning {
        path,
        in_prefix,
        sig: values("temp_url_sig")
            .into_iter()
            .map(|v| v.and_then(|v| swift_signature(&v)))
            .collect(),
        expires: values("temp_url_expires")
            .into_iter()
            .map(|v| v.and_then(|v| parse_expires(&v)))
            .collect(),
        prefix,
        ip_range: values("temp_url_ip_range"),
    }
}

#[test]
fn swift_links_of_every_kind_verify_for_any_utf8_name() {
    let cfg = cfg();
    let mut runner = runner(256);
    runner
        .run(&swift_case(), |c| {
            let url = swift_url(&c);
            let g = swift_check(&cfg, &url, true);
            prop_assert!(g.is_some(), "HEAD refused {url}");
            let g = g.unwrap();
            prop_assert_eq!(&g.object, &c.object);
            prop_assert_eq!(g.expires_at, Some(EXPIRES));
            prop_assert_eq!(g.disposition.inline, c.inline);
            let want_filename = c.filename.as_deref().filter(|f| !f.is_empty());
            prop_assert_eq!(g.disposition.filename.as_deref(), want_filename);
            // A HEAD link does not serve GET; a GET link serves both.
            prop_assert_eq!(swift_check(&cfg, &url, false).is_some(), !c.head);
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_one_character_change_to_a_swift_link_fails_unless_the_protocol_ignores_it() {
    let cfg = cfg();
    let mut runner = runner(256);
    let strategy = (
        swift_case(),
        prop::collection::vec((0u8..3, any::<usize>(), change_char()), 8),
    );
    runner
        .run(&strategy, |(c, changes)| {
            let url = swift_url(&c);
            let meaning = swift_meaning(&url);
            prop_assert!(swift_check(&cfg, &url, true).is_some());
            for (op, at, ch) in changes {
                let Some(changed) = mutate(&url, op, at, ch) else {
                    continue;
                };
                let verified = swift_check(&cfg, &changed, true).is_some();
                // The no-op rules of the module docs: same decoded signed parts.
                let same = swift_meaning(&changed) == meaning;
                prop_assert_eq!(
                    verified,
                    same,
                    "change {:?} of {:?}\n  signed:  {}\n  changed: {}",
                    op,
                    ch,
                    url,
                    changed
                );
            }
            Ok(())
        })
        .unwrap();
}

// ---- S3 ----

#[derive(Debug, Clone)]
struct S3Case {
    key: String,
    virtual_host: bool,
    v2: bool,
    lifetime: u64,
    overrides: Vec<(usize, String)>,
    head: bool,
}

fn s3_case() -> impl Strategy<Value = S3Case> {
    (
        object_name(),
        any::<bool>(),
        any::<bool>(),
        1u64..=3600,
        // Each `response-*` at most once: a repeated one is refused by design. Values are
        // printable ASCII, and the type (index 0) one media type, as served overrides must be.
        prop::collection::btree_map(0usize..6, "[ -~]{0,12}", 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(i, v)| match i {
                    0 => (
                        i,
                        format!(
                            "text/x-{}",
                            v.replace(|c: char| !c.is_ascii_alphanumeric(), "")
                        ),
                    ),
                    _ => (i, v),
                })
                .collect::<Vec<_>>()
        }),
        any::<bool>(),
    )
        .prop_map(
            |(key, virtual_host, v2, lifetime, overrides, head)| S3Case {
                key,
                virtual_host,
                v2,
                lifetime,
                overrides,
                head,
            },
        )
}

/// A link made by `S3Link` (what `keyhole share` and the API make): (host, path?query).
fn s3_url(c: &S3Case) -> (String, String) {
    let overrides: Vec<(&str, &str)> = c
        .overrides
        .iter()
        .map(|(i, v)| (s3::OVERRIDES[*i], v.as_str()))
        .collect();
    let url = S3Link {
        endpoint: &format!("http://{HOST}"),
        bucket: "c",
        key: &c.key,
        access_key: "AKIDP",
        secret: "secret-p",
        region: "us-east-1",
        now: NOW,
        expires: c.lifetime,
        style: if c.virtual_host {
            Style::Virtual
        } else {
            Style::Path
        },
        v2: c.v2,
        overrides: &overrides,
    }
    .url()
    .unwrap();
    let rest = url.strip_prefix("http://").unwrap();
    let slash = rest.find('/').unwrap();
    (rest[..slash].to_string(), rest[slash..].to_string())
}

fn s3_check(cfg: &Config, host: &str, url: &str, head: bool) -> Option<Grant> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let Route::S3(r) = route(cfg, path, Some(host)) else {
        return None;
    };
    let headers = HeaderMap::new();
    let method = if head { Method::HEAD } else { Method::GET };
    let req = S3Request {
        method: &method,
        signed_path: r.signed_path,
        bucket: &r.bucket,
        key: &r.key,
        virtual_host: r.virtual_host,
        query: Query::new(query),
        headers: &headers,
        host: Some(host),
    };
    let scheme = s3::scheme(&req).ok()?;
    s3::verify(cfg, &req, scheme, NOW + 1).ok()
}

/// The decoded path bytes and the sorted decoded query pairs (the signature as bytes).
type S3Meaning = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

fn s3_meaning(url: &str) -> S3Meaning {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Query::new(query)
        .pairs()
        .map(|(k, v)| {
            let k = query_decode(k).into_owned();
            let v = query_decode(v).into_owned();
            if k == b"Signature" {
                // V2 reads the signature trimmed, a space as the `+` form decoding made of it.
                let b64 = String::from_utf8_lossy(&v).trim().replace(' ', "+");
                let bytes = STANDARD_NO_PAD
                    .decode(b64.trim_end_matches('='))
                    .unwrap_or(v);
                return (k, bytes);
            }
            (k, v)
        })
        .collect();
    pairs.sort();
    (percent_decode_str(path).collect(), pairs)
}

fn grant_text(g: &Grant) -> String {
    format!(
        "{} {} {} {:?} {:?}",
        g.project, g.container, g.object, g.expires_at, g.overrides
    )
}

#[test]
fn s3_links_verify_for_any_utf8_key() {
    let cfg = cfg();
    let mut runner = runner(256);
    runner
        .run(&s3_case(), |c| {
            let (host, url) = s3_url(&c);
            let g = s3_check(&cfg, &host, &url, c.head);
            prop_assert!(g.is_some(), "refused {host} {url}");
            let g = g.unwrap();
            prop_assert_eq!(&g.container, "c");
            prop_assert_eq!(&g.object, &c.key);
            prop_assert_eq!(g.expires_at, Some(NOW + c.lifetime));
            for (i, v) in &c.overrides {
                if *i == 1 {
                    let d = g.overrides.content_disposition.clone();
                    prop_assert_eq!(d.as_deref(), Some(v.as_str()));
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_one_character_change_to_an_s3_link_fails_unless_it_changes_nothing() {
    let cfg = cfg();
    let mut runner = runner(256);
    let strategy = (
        s3_case(),
        prop::collection::vec((0u8..3, any::<usize>(), change_char()), 8),
    );
    runner
        .run(&strategy, |(c, changes)| {
            let (host, url) = s3_url(&c);
            let Some(signed) = s3_check(&cfg, &host, &url, c.head) else {
                return Err(TestCaseError::fail(format!("refused {url}")));
            };
            let meaning = s3_meaning(&url);
            for (op, at, ch) in changes {
                let Some(changed) = mutate(&url, op, at, ch) else {
                    continue;
                };
                let Some(g) = s3_check(&cfg, &host, &changed, c.head) else {
                    continue;
                };
                // Verified after a change: it must be an encoding no-op that grants the same.
                prop_assert_eq!(
                    s3_meaning(&changed),
                    meaning.clone(),
                    "verified a changed link\n  signed:  {}\n  changed: {}",
                    url,
                    changed
                );
                prop_assert_eq!(grant_text(&g), grant_text(&signed), "{}", changed);
            }
            // The host is signed too (SigV4), or at least not a way to another bucket (V2).
            let other = format!("x{host}");
            if let Some(g) = s3_check(&cfg, &other, &url, c.head) {
                prop_assert!(c.v2, "SigV4 verified for another host");
                prop_assert_eq!(grant_text(&g), grant_text(&signed));
            }
            Ok(())
        })
        .unwrap();
}

// ---- over HTTP ----

/// A few links end to end: the server serves the exact bytes, and a changed link is refused.
#[test]
fn links_round_trip_over_http() {
    let srv = common::TestServer::start();
    let mut runner = runner(16);
    let case = (object_name(), any::<bool>());
    runner
        .run(&case, |(name, s3)| {
            // Names the file system can hold: at most 255 bytes per segment.
            prop_assume!(name.split('/').all(|s| s.len() <= 255));
            let body = format!("body of {name}");
            srv.put(common::PROJECT, "c", &name, body.as_bytes());
            let now = common::now();
            let url = if s3 {
                S3Link {
                    endpoint: &format!("http://{}", srv.addr),
                    bucket: "c",
                    key: &name,
                    access_key: common::ACCESS_KEY,
                    secret: common::SECRET_KEY,
                    region: "us-east-1",
                    now,
                    expires: 600,
                    style: Style::Path,
                    v2: false,
                    overrides: &[],
                }
                .url()
                .unwrap()
                .split_once(&srv.addr.to_string())
                .unwrap()
                .1
                .to_string()
            } else {
                SwiftLink {
                    base_url: "",
                    path: &format!("/v1/AUTH_{}/c/{name}", common::PROJECT),
                    key: common::ACCOUNT_KEY,
                    method: "GET",
                    expires: now + 600,
                    digest: Digest::Sha256,
                    ip_range: None,
                    prefix: false,
                    iso8601: false,
                    inline: false,
                    filename: None,
                }
                .url()
            };
            let r = srv.get(&url);
            prop_assert_eq!(r.status, 200, "{}", url);
            prop_assert_eq!(r.text(), body);
            // Flip the last hex digit of the signature (the last parameter of both links'
            // signature... or wherever it is): the link no longer works.
            let sig_at = url
                .find("temp_url_sig=")
                .map(|i| i + "temp_url_sig=".len())
                .or_else(|| {
                    url.find("X-Amz-Signature=")
                        .map(|i| i + "X-Amz-Signature=".len())
                })
                .unwrap();
            let mut bad = url.clone().into_bytes();
            bad[sig_at] = if bad[sig_at] == b'0' { b'1' } else { b'0' };
            let r = srv.get(&String::from_utf8(bad).unwrap());
            prop_assert!(r.status == 401 || r.status == 403, "{}", r.status);
            Ok(())
        })
        .unwrap();
}
