//! AWS Signature Version 4 for S3, as a signer sees it: the canonical request, the string to
//! sign, the signing key and presigned GET URLs. Nothing here knows a config, a verifier's
//! errors or a link's policy, so an upstream S3 client can sign with it as the verifiers
//! (`auth::sigv4`) check with it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, OnceLock};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::aws::encoding::{is_canonical, query_decode, uri_encode, uri_encode_into};
use crate::expiry::format_amz_date;
use crate::mac::keyed;
use crate::query::Query;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const SERVICE: &str = "s3";
pub const TERMINATOR: &str = "aws4_request";

/// HMAC-SHA256 of `data` with a state already keyed.
pub(crate) fn mac(key: &Hmac<Sha256>, data: &[u8]) -> [u8; 32] {
    let mut m = key.clone();
    m.update(data);
    m.finalize().into_bytes().into()
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    mac(&keyed(key), data)
}

// ---- the signed text ----

/// The canonical query of a raw query string: every parameter but `X-Amz-Signature`, names and
/// values decoded (`+` is a space) and AWS-encoded, sorted by name then value.
pub fn canonical_query(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    canonical_query_into(&mut out, Query::new(raw).pairs());
    out
}

/// `canonical_query` of the raw (undecoded) pairs of a query, appended to `out`.
pub fn canonical_query_into<'a>(
    out: &mut String,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    // A presigned URL has about a dozen parameters at most: their pieces stay on the stack,
    // and a longer query moves them to the heap.
    const ON_STACK: usize = 16;
    let mut stack: [(Cow<'a, str>, Cow<'a, str>); ON_STACK] = Default::default();
    let mut heap: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
    let mut n = 0;
    for (k, v) in pairs {
        let name = canonical_piece(k);
        if name == "X-Amz-Signature" {
            continue;
        }
        let piece = (name, canonical_piece(v));
        match stack.get_mut(n) {
            Some(slot) if heap.is_empty() => *slot = piece,
            _ => {
                if heap.is_empty() {
                    heap.extend(stack.iter_mut().map(std::mem::take));
                }
                heap.push(piece);
            }
        }
        n += 1;
    }
    let pieces = if heap.is_empty() {
        &mut stack[..n]
    } else {
        &mut heap[..]
    };
    // Signers send the parameters sorted, so the check is usually all the sorting there is.
    if !pieces.windows(2).all(|w| w[0] <= w[1]) {
        pieces.sort_unstable();
    }
    for (i, (k, v)) in pieces.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// One query name or value in canonical form.
pub(crate) fn canonical_piece(raw: &str) -> Cow<'_, str> {
    if is_canonical(raw, false) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(uri_encode(&query_decode(raw), false))
    }
}

/// A header value as SigV4 signs it: trimmed, runs of spaces folded into one.
pub fn fold_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let start = out.len();
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = out.len() > start;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
    }
}

/// The canonical request: `METHOD\nURI\nQUERY\nname:value\n...\n\nSIGNED\nPAYLOAD`.
/// `headers` holds the folded value of each signed header, in `signed_headers` order.
pub fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[(&str, Vec<u8>)],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + uri.len() + query.len() + headers.len() * 40);
    for part in [method, "\n", uri, "\n", query, "\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    for part in ["\n", signed_headers, "\n", payload_hash] {
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    // Hex on the stack rather than `hex::encode`, which builds a String a char at a time.
    // Neither step can fail (the buffer is exactly the digest's hex); if one did, the text
    // would lack the hash and match no signature.
    let mut hex = [0u8; 64];
    let _ = hex::encode_to_slice(Sha256::digest(canonical_request), &mut hex);
    let hash = std::str::from_utf8(&hex).unwrap_or_default();
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    for part in [ALGORITHM, "\n", amz_date, "\n", scope, "\n", hash] {
        s.push_str(part);
    }
    s
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, SERVICE.as_bytes());
    hmac(&k, TERMINATOR.as_bytes())
}

/// A signing key ready to MAC with: HMAC's inner and outer pads already absorbed, with the
/// inputs it was derived from.
#[derive(Clone)]
struct CachedKey {
    access_key: Box<str>,
    date: Box<str>,
    region: Box<str>,
    secret: Box<str>,
    key: Hmac<Sha256>,
}

/// The signing key of (access key, day, region). Deriving one costs four HMACs, far more than
/// the lookup, and a key serves a whole day of requests. The cache is indexed by a seeded
/// hash of the borrowed tuple, so a hit allocates nothing; the entry found is compared in full
/// (a hash collision is a miss that replaces it), and the secret is kept with the key so a
/// changed secret (another config in the same process) is never served a stale key.
pub(crate) fn cached_signing_key(
    access_key: &str,
    secret: &str,
    date: &str,
    region: &str,
) -> Hmac<Sha256> {
    const MAX_ENTRIES: usize = 4096;
    type Cache = HashMap<u64, CachedKey, foldhash::fast::RandomState>;
    static CACHE: OnceLock<(foldhash::fast::RandomState, Mutex<Cache>)> = OnceLock::new();
    let (hasher, cache) = CACHE.get_or_init(Default::default);
    let slot = hasher.hash_one((access_key, date, region));
    if let Ok(map) = cache.lock() {
        if let Some(k) = map.get(&slot) {
            if *k.access_key == *access_key
                && *k.date == *date
                && *k.region == *region
                && bool::from(k.secret.as_bytes().ct_eq(secret.as_bytes()))
            {
                return k.key.clone();
            }
        }
    }
    let key: Hmac<Sha256> = keyed(&signing_key(secret, date, region));
    if let Ok(mut map) = cache.lock() {
        // Bounded: a flood of made-up scopes can only make us forget, never grow.
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            slot,
            CachedKey {
                access_key: access_key.into(),
                date: date.into(),
                region: region.into(),
                secret: secret.into(),
                key: key.clone(),
            },
        );
    }
    key
}

/// Everything a SigV4 presigned GET URL is made of.
#[derive(Debug, Clone)]
pub struct Presign<'a> {
    /// `host[:port]` as the client will send it.
    pub host: &'a str,
    /// The decoded path the client will request, `public_url`'s path included: `/bucket/key`.
    pub path: &'a str,
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    /// Unix seconds the link is signed at (`X-Amz-Date`).
    pub now: u64,
    /// `X-Amz-Expires`, seconds.
    pub expires: u64,
    /// Extra signed parameters, decoded (`response-content-disposition`, ...).
    pub params: &'a [(&'a str, &'a str)],
}

impl Presign<'_> {
    /// The encoded path and query, signature last: append to `scheme://host`.
    pub fn path_and_query(&self) -> String {
        let amz_date = format_amz_date(self.now);
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/{SERVICE}/{TERMINATOR}", self.region);
        let credential = format!("{}/{scope}", self.access_key);
        let expires = self.expires.to_string();
        let mut raw = String::new();
        let fixed = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", &credential),
            ("X-Amz-Date", &amz_date),
            ("X-Amz-Expires", &expires),
            ("X-Amz-SignedHeaders", "host"),
        ];
        for (name, value) in fixed.iter().chain(self.params) {
            if !raw.is_empty() {
                raw.push('&');
            }
            uri_encode_into(&mut raw, name.as_bytes(), false);
            raw.push('=');
            uri_encode_into(&mut raw, value.as_bytes(), false);
        }
        let uri = uri_encode(self.path.as_bytes(), true);
        let query = canonical_query(&raw);
        let mut host = Vec::new();
        fold_value(&mut host, self.host.as_bytes());
        let cr = canonical_request(
            "GET",
            &uri,
            &query,
            &[("host", host)],
            "host",
            UNSIGNED_PAYLOAD,
        );
        let sts = string_to_sign(&amz_date, &scope, &cr);
        let sig = hex::encode(hmac(
            &signing_key(self.secret, date, self.region),
            sts.as_bytes(),
        ));
        format!("{uri}?{query}&X-Amz-Signature={sig}")
    }
}

// ---- header auth: Keyhole signing its own requests to an upstream store ----

/// A GET, HEAD or other bodiless request to a store, to be signed in its `Authorization`
/// header with the same canonical request, string to sign and signing key as links.
#[derive(Debug, Clone)]
pub struct HeaderAuth<'a> {
    pub method: &'a str,
    /// `host[:port]` exactly as the request's Host header will carry it.
    pub host: &'a str,
    /// The path as it will be sent, percent-encoded (`/bucket/a%20b`).
    pub path: &'a str,
    /// The query as it will be sent (encoded), or empty.
    pub query: &'a str,
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    /// Unix seconds the request is signed at (`x-amz-date`).
    pub now: u64,
}

/// The headers that make a request signed: set all three on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeaders {
    pub authorization: String,
    /// `x-amz-date`
    pub amz_date: String,
    /// `x-amz-content-sha256`
    pub content_sha256: String,
}

impl HeaderAuth<'_> {
    /// Signed for an unsigned payload, over `host;x-amz-content-sha256;x-amz-date`: both
    /// `x-amz-*` headers are always sent and signed, as stores disagree about a missing one.
    pub fn sign(&self) -> AuthHeaders {
        self.sign_with(&[], UNSIGNED_PAYLOAD)
    }

    /// Signed with `extra` headers (lowercase names, values as sent) signed too, and
    /// `payload_hash` as `x-amz-content-sha256`.
    pub fn sign_with(&self, extra: &[(&str, &str)], payload_hash: &str) -> AuthHeaders {
        let amz_date = format_amz_date(self.now);
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/{SERVICE}/{TERMINATOR}", self.region);
        let mut named: Vec<(&str, &str)> = Vec::with_capacity(3 + extra.len());
        named.extend_from_slice(&[
            ("host", self.host),
            ("x-amz-content-sha256", payload_hash),
            ("x-amz-date", &amz_date),
        ]);
        named.extend_from_slice(extra);
        named.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let headers: Vec<(&str, Vec<u8>)> = named
            .iter()
            .map(|(name, value)| {
                let mut folded = Vec::with_capacity(value.len());
                fold_value(&mut folded, value.as_bytes());
                (*name, folded)
            })
            .collect();
        let signed = named.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");
        let uri = crate::aws::encoding::canonical_uri(self.path);
        let cr = canonical_request(
            self.method,
            &uri,
            &canonical_query(self.query),
            &headers,
            &signed,
            payload_hash,
        );
        let sts = string_to_sign(&amz_date, &scope, &cr);
        let key = cached_signing_key(self.access_key, self.secret, date, self.region);
        let signature = hex::encode(mac(&key, sts.as_bytes()));
        AuthHeaders {
            authorization: format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                self.access_key
            ),
            amz_date,
            content_sha256: payload_hash.to_string(),
        }
    }
}

#[cfg(test)]
mod header_auth_tests {
    use super::*;

    /// The example credentials of AWS's S3 SigV4 documentation ("Signature Calculations for
    /// the Authorization Header: Transferring Payload in a Single Chunk").
    fn example<'a>(path: &'a str, query: &'a str) -> HeaderAuth<'a> {
        HeaderAuth {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path,
            query,
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            now: 1_369_353_600, // 20130524T000000Z
        }
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn the_published_get_object_example_is_reproduced() {
        let h = example("/test.txt", "").sign_with(&[("range", "bytes=0-9")], EMPTY_SHA256);
        assert_eq!(
            h.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(h.amz_date, "20130524T000000Z");
        assert_eq!(h.content_sha256, EMPTY_SHA256);
    }

    #[test]
    fn the_published_list_objects_example_is_reproduced() {
        // Its query is sent in another order than the canonical one.
        let h = example("/", "prefix=J&max-keys=2").sign_with(&[], EMPTY_SHA256);
        assert_eq!(
            h.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn an_unsigned_payload_signs_host_and_both_amz_headers() {
        let h = example("/a%20b/c", "").sign();
        assert_eq!(h.content_sha256, UNSIGNED_PAYLOAD);
        assert!(
            h.authorization
                .contains(", SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="),
            "{}",
            h.authorization
        );
        // The path is canonicalised as the verifiers do: an encoded `~` is the same request.
        assert_eq!(
            example("/a%20b/%7E", "").sign(),
            example("/a%20b/~", "").sign()
        );
        assert_ne!(
            example("/a%20b/c", "").sign(),
            example("/a%20b/d", "").sign()
        );
    }
}
