//! SigV4 against AWS's published examples and S3's encoding rules.

use super::*;
use crate::aws::encoding::{query_decode, uri_encode};
use crate::mac::keyed;
use percent_encoding::percent_decode_str;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 20130524T000000Z
const MAY_24_2013: u64 = 1_369_353_600;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// AWS S3 docs, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)".
#[test]
fn presign_reproduces_the_aws_query_auth_example() {
    let p = Presign {
        host: "examplebucket.s3.amazonaws.com",
        path: "/test.txt",
        access_key: AK,
        secret: SECRET,
        region: "us-east-1",
        now: MAY_24_2013,
        expires: 86_400,
        params: &[],
    };
    assert_eq!(
        p.path_and_query(),
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
}

#[test]
fn the_aws_query_auth_example_canonical_request_and_string_to_sign() {
    let query = canonical_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=whatever");
    let cr = canonical_request(
        "GET",
        "/test.txt",
        &query,
        &[("host", b"examplebucket.s3.amazonaws.com".to_vec())],
        "host",
        UNSIGNED_PAYLOAD,
    );
    assert_eq!(
        String::from_utf8(cr.clone()).unwrap(),
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    );
    let sts = string_to_sign(
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
        &cr,
    );
    assert_eq!(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
}

/// AWS S3 docs, "Signature Calculations for the Authorization Header", example GET Object.
#[test]
fn the_aws_header_auth_get_object_example() {
    let headers = [
        ("host", b"examplebucket.s3.amazonaws.com".to_vec()),
        ("range", b"bytes=0-9".to_vec()),
        ("x-amz-content-sha256", EMPTY_SHA256.as_bytes().to_vec()),
        ("x-amz-date", b"20130524T000000Z".to_vec()),
    ];
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let cr = canonical_request("GET", "/test.txt", "", &headers, signed, EMPTY_SHA256);
    assert_eq!(
        String::from_utf8(cr.clone()).unwrap(),
        format!("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n{signed}\n{EMPTY_SHA256}")
    );
    let sts = string_to_sign(
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
        &cr,
    );
    assert_eq!(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    let sig = const_hex::encode(hmac(
        &signing_key(SECRET, "20130524", "us-east-1"),
        sts.as_bytes(),
    ));
    assert_eq!(
        sig,
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
}

#[test]
fn the_canonical_uri_is_the_decoded_path_encoded_once_and_never_normalised() {
    let cases = [
        ("/c/test.txt", "/c/test.txt"),
        ("/c/a%20b", "/c/a%20b"),
        // '+' in a path is a plus, not a space.
        ("/c/a+b", "/c/a%2Bb"),
        ("/c/a%2Bb", "/c/a%2Bb"),
        ("/c/%7E~", "/c/~~"),
        ("/c/100%25", "/c/100%25"),
        ("/c/a=b", "/c/a%3Db"),
        ("/c/a%3db", "/c/a%3Db"),
        ("/c/dir%2Fsub/x", "/c/dir/sub/x"),
        (
            "/c/Ti%E1%BA%BFng%20Vi%E1%BB%87t.pdf",
            "/c/Ti%E1%BA%BFng%20Vi%E1%BB%87t.pdf",
        ),
        ("/c/Tiếng", "/c/Ti%E1%BA%BFng"),
        ("/c/(a)!'*", "/c/%28a%29%21%27%2A"),
        ("/c//x/./../y", "/c//x/./../y"),
    ];
    for (path, want) in cases {
        assert_eq!(canonical_uri(path), want, "{path}");
    }
}

#[test]
fn the_canonical_query_signs_every_parameter_but_the_signature_sorted_and_encoded_once() {
    let cases = [
        ("b=2&a=1&X-Amz-Signature=ff", "a=1&b=2"),
        // AWS reads a raw '+' as a space; an encoded one stays a plus.
        ("a=x+y", "a=x%20y"),
        ("a=x%2By", "a=x%2By"),
        ("a=x%2by", "a=x%2By"),
        ("a=%7e&b=~", "a=~&b=~"),
        ("flag&x-id=GetObject", "flag=&x-id=GetObject"),
        ("a=2&a=1", "a=1&a=2"),
        ("a=%3D%26/", "a=%3D%26%2F"),
        (
            "response-content-disposition=attachment%3B%20filename%3D%22t%C3%A1.txt%22",
            "response-content-disposition=attachment%3B%20filename%3D%22t%C3%A1.txt%22",
        ),
        ("a=%zz", "a=%25zz"),
        ("a=%c3%a1&b=%C3%A1", "a=%C3%A1&b=%C3%A1"),
        ("a=%41%2d", "a=A-"),
        ("a=%", "a=%25"),
        ("a=%4", "a=%254"),
        ("X-Amz-%53ignature=1&z=2", "z=2"),
        ("&&a=1&", "a=1"),
    ];
    for (raw, want) in cases {
        assert_eq!(canonical_query(raw), want, "{raw}");
    }
}

#[test]
fn header_values_are_trimmed_and_inner_spaces_folded() {
    let mut out = Vec::new();
    fold_value(&mut out, b"  a   b \t c  ");
    assert_eq!(out, b"a b c");
}

#[test]
fn credentials_split_from_the_right() {
    let c = Credential::parse("AK/20130524/us-east-1/s3/aws4_request").unwrap();
    assert_eq!(
        (c.access_key, c.date, c.region, c.service, c.terminator),
        ("AK", "20130524", "us-east-1", "s3", "aws4_request")
    );
    assert_eq!(c.scope, "20130524/us-east-1/s3/aws4_request");
    for bad in [
        "",
        "AK/20130524/us-east-1/s3",
        "/20130524/us-east-1/s3/aws4_request",
        "AK//us-east-1/s3/aws4_request",
    ] {
        assert_eq!(Credential::parse(bad), None, "{bad}");
    }
}

#[test]
fn signatures_are_64_lowercase_hex_digits() {
    // The MAC whose lowercase hex is 64 `a`s.
    let mac = [0xaa; 32];
    assert!(signature_matches(&mac, &"a".repeat(64)));
    assert!(!signature_matches(&mac, &"A".repeat(64)));
    assert!(!signature_matches(&mac, &"a".repeat(63)));
    assert!(!signature_matches(&mac, &"g".repeat(64)));
}

#[test]
fn expires_is_one_second_to_a_week_and_at_most_the_configured_cap() {
    assert_eq!(parse_expires("1", None), Ok(1));
    assert_eq!(parse_expires("604800", None), Ok(604_800));
    for bad in [
        "0",
        "604801",
        "",
        "-1",
        "+5",
        "1.5",
        "99999999999999999999999",
    ] {
        assert!(parse_expires(bad, None).is_err(), "{bad}");
    }
    assert!(parse_expires("3601", Some(3600)).is_err());
    assert_eq!(parse_expires("3600", Some(3600)), Ok(3600));
}

#[test]
fn the_signing_key_cache_never_serves_a_key_for_another_secret() {
    let tag = |secret: &str| {
        mac(
            &cached_signing_key("CACHEAK", secret, "20130524", "us-east-1"),
            b"x",
        )
    };
    let fresh = |secret: &str| hmac(&signing_key(secret, "20130524", "us-east-1"), b"x");
    let a = tag("secret-a");
    assert_eq!(a, fresh("secret-a"));
    let b = tag("secret-b");
    assert_eq!(b, fresh("secret-b"));
    assert_ne!(a, b);
    assert_eq!(tag("secret-a"), a);
}

#[test]
fn hmac_and_a_pre_keyed_mac_reproduce_rfc_4231() {
    for c in &crate::mac::vectors::HMAC_SHA256 {
        assert_eq!(const_hex::encode(hmac(c.key, c.data)), c.hex);
        let key = keyed(c.key);
        // Twice: a MAC must leave the kept keyed state as it was.
        assert_eq!(const_hex::encode(mac(&key, c.data)), c.hex);
        assert_eq!(const_hex::encode(mac(&key, c.data)), c.hex);
    }
}

/// The cached, pre-keyed signing key signs AWS's header-auth example as AWS documents it.
#[test]
fn the_cached_signing_key_reproduces_the_aws_header_auth_signature() {
    let sts = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";
    for _ in 0..2 {
        let key = cached_signing_key("AWSDOCS", SECRET, "20130524", "us-east-1");
        assert_eq!(
            const_hex::encode(mac(&key, sts.as_bytes())),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}

proptest::proptest! {
    /// Taking an already-canonical path or query piece as it is gives what decoding and
    /// encoding it would.
    #[test]
    fn the_canonical_shortcut_agrees_with_decoding_and_encoding(
        raw in "([a-zA-Z0-9/+~._ -]|%[0-9a-fA-F]{0,2}|[áé€])*"
    ) {
        let path: Vec<u8> = percent_decode_str(&raw).collect();
        proptest::prop_assert_eq!(canonical_uri(&raw), uri_encode(&path, true));
        proptest::prop_assert_eq!(canonical_piece(&raw), uri_encode(&query_decode(&raw), false));
    }
}

/// `canonical_query` as it was first written: every piece collected on the heap and sorted.
fn canonical_query_by_sorting(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = Query::new(raw)
        .pairs()
        .map(|(k, v)| {
            (
                uri_encode(&query_decode(k), false),
                uri_encode(&query_decode(v), false),
            )
        })
        .filter(|(k, _)| k != "X-Amz-Signature")
        .collect();
    pairs.sort();
    let pairs: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

proptest::proptest! {
    /// The canonical query built on the stack, sorted only when out of order, is the one
    /// decoding, encoding and sorting every piece gives, for any query: short and longer
    /// than the stack holds, sorted or not, repeated names, escapes, `+`, bare names.
    #[test]
    fn the_canonical_query_fast_path_agrees_with_sorting_every_piece(
        pairs in proptest::collection::vec(
            (
                "X-Amz-Signature|X-Amz-Date|[a-cX]{1,3}|%2[0-9A-Fa-f]|a%2Bb|a\\+b|%C3%A1|%zz",
                proptest::option::of("[a-c0-9]{0,3}|%2[0-9A-F]|\\+|%41|\\u{e1}|="),
            ),
            0..24,
        ),
        sorted in proptest::bool::ANY,
    ) {
        let mut pieces: Vec<String> = pairs
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        if sorted {
            pieces.sort();
        }
        let raw = pieces.join("&");
        proptest::prop_assert_eq!(canonical_query(&raw), canonical_query_by_sorting(&raw));
    }
}

/// A cached signing key is served only for the very (access key, day, region) it was derived
/// for: another day or region of the same access key and secret derives its own.
#[test]
fn the_signing_key_cache_tells_scopes_apart() {
    let tag =
        |ak: &str, date: &str, region: &str| mac(&cached_signing_key(ak, "s", date, region), b"x");
    let fresh = |date: &str, region: &str| hmac(&signing_key("s", date, region), b"x");
    // Back to the first scope last: a cache keyed on less than the whole scope would now
    // serve it the key of the one before.
    for (date, region) in [
        ("20130524", "us-east-1"),
        ("20130525", "us-east-1"),
        ("20130524", "eu-west-1"),
        ("20130524", "us-east-1"),
    ] {
        assert_eq!(
            tag("SCOPEAK", date, region),
            fresh(date, region),
            "{date} {region}"
        );
    }
}

#[test]
fn a_query_sent_canonical_and_sorted_is_signed_as_it_came_less_its_signature() {
    let as_is = |raw: &str| match CanonicalQuery::of(raw, |_, _| ()) {
        CanonicalQuery::Raw(a, b) => Some(format!("{a}{b}")),
        CanonicalQuery::Built(_) => None,
    };
    assert_eq!(
        as_is("a=1&b=%2F&X-Amz-Signature=ff").as_deref(),
        Some("a=1&b=%2F")
    );
    assert_eq!(
        as_is("X-Amz-Signature=ff&a=1&b=2").as_deref(),
        Some("a=1&b=2")
    );
    assert_eq!(
        as_is("a=1&X-Amz-Signature=ff&b=2").as_deref(),
        Some("a=1&b=2")
    );
    assert_eq!(as_is("X-Amz-Signature=ff").as_deref(), Some(""));
    // Anything to re-encode, re-order or drop is built anew.
    for raw in [
        "b=1&a=2", "a=1+2", "a=%2f", "a", "a=1&&b=2", "a=1&", "a=b=c", "a=%41",
    ] {
        assert_eq!(as_is(raw), None, "{raw}");
    }
    // Each pair is seen once, in order, as sent.
    let mut seen = Vec::new();
    let _ = CanonicalQuery::of("x=1&X-Amz-Signature=ff&y", |k, v| seen.push((k, v)));
    assert_eq!(seen, [("x", "1"), ("X-Amz-Signature", "ff"), ("y", "")]);
}

proptest::proptest! {
    /// A credential split where it lies at its `%2F`s has the parts, and the scope, of the
    /// same credential decoded and split at its `/`s, and is refused exactly when that is.
    #[test]
    fn a_credential_read_as_sent_is_the_credential_decoded(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                4 => "[A-Za-z0-9_-]{1,6}",
                1 => "([A-Za-z0-9]|%2F|%2f|%41|%|\\+|/|\\u{e1}){0,4}",
            ],
            1..7,
        ),
        glue in proptest::prop_oneof![4 => proptest::strategy::Just("%2F".to_string()), 1 => "/|%2f"],
    ) {
        let raw = parts.join(&glue);
        let escaped = raw.contains(['%', '+']);
        let mut buf = [0; 128];
        let mut decoded = None;
        let read = Credential::in_query((&raw, escaped), &mut buf, &mut decoded).ok().flatten();
        let slow = crate::query::form_decode(&raw);
        let want = slow.as_deref().and_then(Credential::parse);
        proptest::prop_assert_eq!(read, want, "{}", raw);
    }
}

#[test]
fn a_credential_too_long_for_the_stack_is_read_the_same() {
    let raw = format!(
        "{}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
        "K".repeat(200)
    );
    let mut buf = [0; 128];
    let mut decoded = None;
    let c = Credential::in_query((&raw, true), &mut buf, &mut decoded)
        .unwrap()
        .unwrap();
    assert_eq!(c.access_key, "K".repeat(200));
    assert_eq!(c.scope, "20130524/us-east-1/s3/aws4_request");
}

#[test]
fn each_pair_says_which_of_its_sides_holds_something_to_decode() {
    let mut seen = Vec::new();
    let _ = CanonicalQuery::scan("a=1&b%20=2&c=%2F&d+=e+&f&g%41", |p| {
        seen.push((p.name, p.name_escaped, p.value_escaped))
    });
    assert_eq!(
        seen,
        [
            ("a", false, false),
            ("b%20", true, false),
            ("c", false, true),
            ("d+", true, true),
            ("f", false, false),
            ("g%41", true, false),
        ]
    );
}
