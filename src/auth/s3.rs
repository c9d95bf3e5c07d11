//! What S3 presigned URLs (SigV4 and V2) and SigV4 header auth share: the request as the
//! verifiers see it, choosing the scheme a request uses, AWS's URI encoding, the `response-*`
//! overrides, and AWS's error XML.
//!
//! The schemes themselves live in `sigv4.rs` and `sigv2.rs`; this file only dispatches and
//! turns a verified signature into a `Grant`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, Method, StatusCode};
use percent_encoding::percent_decode_str;

use crate::auth::{sigv2, sigv4, Denied, Disposition, Grant, Overrides};
use crate::config::{Config, Project};
use crate::delivery::media_type::MediaType;
use crate::query::{form_decode, Query};

/// An S3 object request, as every verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct S3Request<'a> {
    pub method: &'a Method,
    /// The raw request path as the client sent and signed it, `public_url`'s path included.
    pub signed_path: &'a str,
    pub bucket: &'a str,
    /// The decoded object key.
    pub key: &'a str,
    pub virtual_host: bool,
    pub query: Query<'a>,
    pub headers: &'a HeaderMap,
    /// The host the client addressed (the forwarded host behind a trusted proxy).
    pub host: Option<&'a str>,
}

/// What a valid signature proved: whose key signed, and until when the link works.
#[derive(Debug)]
pub struct Verified<'c> {
    pub project: &'c Project,
    pub expires_at: Option<u64>,
}

/// The way a request claims to be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    QueryV4,
    QueryV2,
    HeaderV4,
    Unsigned,
}

/// Tells the scheme from the parameters and headers present, before any of them is parsed.
pub fn scheme(req: &S3Request<'_>) -> Result<Scheme, Denied> {
    // One pass over the query: every request comes through here before anything else.
    let (mut v4, mut v2) = (false, false);
    for (k, _) in req.query.pairs() {
        match form_decode(k).as_deref() {
            Some("X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature") => v4 = true,
            Some("AWSAccessKeyId" | "Signature") => v2 = true,
            _ => {}
        }
    }
    let header = req
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let found = [v4, v2, header.is_some()].iter().filter(|&&b| b).count();
    if found > 1 {
        return Err(S3Error::invalid_argument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", "Authorization", "").into());
    }
    Ok(match header {
        Some(h) if h.starts_with(b"AWS4-HMAC-SHA256 ") => Scheme::HeaderV4,
        Some(_) => {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Unsupported Authorization Type",
            )
            .into())
        }
        None if v4 => Scheme::QueryV4,
        None if v2 => Scheme::QueryV2,
        None => Scheme::Unsigned,
    })
}

/// Checks a signed S3 request and grants what it may read. `Scheme::Unsigned` is the
/// caller's business (public buckets), as is the existence of the object.
pub fn verify(
    cfg: &Config,
    req: &S3Request<'_>,
    scheme: Scheme,
    now: u64,
) -> Result<Grant, Denied> {
    let verified = match scheme {
        Scheme::QueryV4 => sigv4::verify_query(cfg, req, now)?,
        Scheme::HeaderV4 => sigv4::verify_header(cfg, req, now)?,
        Scheme::QueryV2 => sigv2::verify_query(cfg, req, now)?,
        Scheme::Unsigned => return Err(S3Error::access_denied("Access Denied").into()),
    };
    Ok(Grant {
        project: verified.project.id.clone(),
        container: req.bucket.to_string(),
        object: req.key.to_string(),
        // Without an override S3 serves inline, and so do we.
        disposition: Disposition {
            inline: true,
            filename: None,
        },
        expires_at: verified.expires_at,
        // Every query parameter is covered by the signature checked above (V4 signs them all,
        // V2 signs the `response-*` ones), so the overrides may be believed.
        overrides: overrides(&req.query)?,
        clients: None,
    })
}

/// The key under which `req` may be answered from an earlier verification (see
/// `auth::cache`): only when its headers add nothing a query link's signature could cover —
/// no Authorization, and none of the Content-Type, Content-MD5 and `x-amz-*` headers that V2
/// signs. It is looked up before the query is read at all.
pub fn cache_key<'a>(req: &S3Request<'a>) -> Option<crate::auth::cache::Key<'a>> {
    // One pass over the names sent, rather than a lookup of each name that was not.
    let signable = req.headers.keys().any(|name| {
        *name == http::header::AUTHORIZATION
            || *name == http::header::CONTENT_TYPE
            || name.as_str() == "content-md5"
            || name.as_str().starts_with("x-amz-")
    });
    if signable {
        return None;
    }
    crate::auth::cache::key(
        req.method.as_str(),
        req.host.unwrap_or(""),
        req.signed_path,
        req.query.raw(),
    )
}

/// Whether a verification of `req` covered nothing but what `cache_key` holds, so it may be
/// kept: V4 query links whose only signed header is `host`, and V2 query links (which sign
/// only the query and the headers `cache_key` refuses).
pub fn keepable(req: &S3Request<'_>, scheme: Scheme) -> bool {
    match scheme {
        Scheme::QueryV4 => {
            req.query
                .unique_form("X-Amz-SignedHeaders")
                .ok()
                .flatten()
                .as_deref()
                == Some("host")
        }
        Scheme::QueryV2 => true,
        Scheme::HeaderV4 | Scheme::Unsigned => false,
    }
}

/// The six `response-*` parameters S3 honours, and the header each replaces.
pub const OVERRIDES: [&str; 6] = [
    "response-content-type",
    "response-content-disposition",
    "response-cache-control",
    "response-expires",
    "response-content-language",
    "response-content-encoding",
];

/// Reads the `response-*` overrides. Each must appear at most once and be printable ASCII
/// (a header value whose bytes mean the same to every reader), and `response-content-type`
/// exactly one media type (the sandbox decides from it); anything else is S3's
/// `400 InvalidArgument`. Names are matched decoded, as `sigv2::canonical_resource` signs them.
pub fn overrides(query: &Query<'_>) -> Result<Overrides, Denied> {
    let mut o = Overrides::default();
    for name in OVERRIDES {
        let value = match query.unique_form(name) {
            Ok(v) => v,
            Err(_) => {
                return Err(S3Error::invalid_argument(
                    "A response-* parameter may appear only once",
                    name,
                    "",
                )
                .into())
            }
        };
        // An undecodable value is not "absent" here: the client asked for something.
        let value = match value {
            Some(v) => Some(v),
            None if query.has(name) => {
                return Err(
                    S3Error::invalid_argument("The value is not valid UTF-8", name, "").into(),
                );
            }
            None => None,
        };
        let Some(v) = value else { continue };
        // SECURITY: no control byte (a header break), and no non-ASCII byte, which clients
        // read as Latin-1 or UTF-8 as they please.
        if !v.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(S3Error::invalid_argument(
                "A response-* value must be printable ASCII",
                name,
                &v,
            )
            .into());
        }
        if name == "response-content-type" && MediaType::parse(v.as_bytes()).is_none() {
            return Err(S3Error::invalid_argument(
                "response-content-type must be exactly one media type",
                name,
                &v,
            )
            .into());
        }
        let slot = match name {
            "response-content-type" => &mut o.content_type,
            "response-content-disposition" => &mut o.content_disposition,
            "response-cache-control" => &mut o.cache_control,
            "response-expires" => &mut o.expires,
            "response-content-language" => &mut o.content_language,
            _ => &mut o.content_encoding,
        };
        *slot = Some(v.into_owned());
    }
    Ok(o)
}

// ---- AWS URI encoding ----

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// AWS's `UriEncode`: every byte but the unreserved ones as `%XX` (uppercase hex), and `/`
/// kept when `keep_slash` (object paths). Appends to `out`.
pub fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    uri_encode_into(&mut s, bytes, keep_slash);
    s
}

/// A query name or value as AWS reads it: `+` is a space, `%XX` a byte (UTF-8 not required).
pub fn query_decode(raw: &str) -> Cow<'_, [u8]> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        return Cow::Owned(percent_decode_str(&spaced).collect());
    }
    percent_decode_str(raw).into()
}

// ---- errors ----

/// An S3 error: the status, AWS's code and message, and the extra elements AWS adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<(&'static str, String)>,
}

impl From<S3Error> for Denied {
    fn from(e: S3Error) -> Denied {
        Denied::S3(Box::new(e))
    }
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.details.push((name, value.into()));
        self
    }

    pub fn access_denied(message: &str) -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn query_parameters(message: impl Into<String>) -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        )
    }

    pub fn header_malformed(message: impl Into<String>) -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            message,
        )
    }

    pub fn invalid_access_key(access_key: &str) -> S3Error {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", access_key)
    }

    pub fn invalid_argument(message: &str, name: &str, value: &str) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    /// AWS shows what it signed so that a client author can find their mistake.
    pub fn signature_mismatch(
        access_key: &str,
        string_to_sign: &[u8],
        provided: &str,
        canonical_request: Option<&[u8]>,
    ) -> S3Error {
        let mut e = S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with("AWSAccessKeyId", access_key)
        .with("StringToSign", String::from_utf8_lossy(string_to_sign))
        .with("SignatureProvided", provided)
        .with("StringToSignBytes", spaced_hex(string_to_sign));
        if let Some(cr) = canonical_request {
            e = e
                .with("CanonicalRequest", String::from_utf8_lossy(cr))
                .with("CanonicalRequestBytes", spaced_hex(cr));
        }
        e
    }

    pub fn no_such_key(key: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    pub fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    pub fn method_not_allowed(method: &str) -> S3Error {
        S3Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
        .with("Method", method)
        .with("ResourceType", "OBJECT")
    }

    /// The body AWS sends, `RequestId` last.
    pub fn xml(&self, request_id: &str) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        element(&mut s, "Code", self.code);
        element(&mut s, "Message", &self.message);
        for (name, value) in &self.details {
            element(&mut s, name, value);
        }
        element(&mut s, "RequestId", request_id);
        s.push_str("</Error>");
        s
    }
}

fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    xml_escape_into(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Escapes text for an XML element; characters XML 1.0 cannot hold become U+FFFD.
pub fn xml_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A request id for the error body and `x-amz-request-id`: unique within a run, and not
/// guessable from the previous one.
pub fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = getrandom::getrandom(&mut b);
        u64::from_le_bytes(b)
    });
    // splitmix64: a bijection, so distinct counters give distinct ids.
    let mut z = COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(seed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016X}", z ^ (z >> 31))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding_keeps_unreserved_and_optionally_slash() {
        let key = "a b+c~d%e=f/g_h.i-j/tiếng việt";
        assert_eq!(
            uri_encode(key.as_bytes(), true),
            "a%20b%2Bc~d%25e%3Df/g_h.i-j/ti%E1%BA%BFng%20vi%E1%BB%87t"
        );
        assert_eq!(
            uri_encode(key.as_bytes(), false),
            "a%20b%2Bc~d%25e%3Df%2Fg_h.i-j%2Fti%E1%BA%BFng%20vi%E1%BB%87t"
        );
    }

    #[test]
    fn a_raw_plus_in_the_query_is_a_space_and_an_encoded_one_a_plus() {
        assert_eq!(&*query_decode("a+b%2Bc"), b"a b+c");
        assert_eq!(&*query_decode("%zz%41"), b"%zzA");
    }

    #[test]
    fn error_xml_has_aws_shape_and_escapes_values() {
        let e = S3Error::no_such_key("a<&>\"'\u{1}.txt");
        let xml = e.xml("REQ1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&lt;&amp;&gt;&quot;&apos;\u{FFFD}.txt</Key><RequestId>REQ1</RequestId></Error>"
        );
    }

    #[test]
    fn overrides_must_be_unique_header_values() {
        let o = overrides(&Query::new(
            "response-content-type=text%2Fplain&response-cache-control=no-store&x=1",
        ))
        .unwrap();
        assert_eq!(o.content_type.as_deref(), Some("text/plain"));
        assert_eq!(o.cache_control.as_deref(), Some("no-store"));
        for bad in [
            "response-content-type=a%0D%0Ab",
            "response-expires=1&response-expires=2",
            "response-content-language=%FF",
            "response-content-disposition=attachment%3B%20filename%3D%22B%C3%A1o.txt%22",
            "response-cache-control=no-store%09",
            "response-content-type=text%2Fplain%2Ctext%2Fhtml",
            "response-content-type=",
            "response-content-type",
            "response%2Dcontent%2Dtype=text%2Fplain&response-content-type=text%2Fhtml",
        ] {
            let Err(Denied::S3(e)) = overrides(&Query::new(bad)) else {
                panic!("{bad}")
            };
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "InvalidArgument"),
                "{bad}"
            );
        }
    }

    #[test]
    fn request_ids_differ() {
        assert_ne!(request_id(), request_id());
    }
}
