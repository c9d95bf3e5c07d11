//! What S3 presigned URLs (SigV4 and V2) and SigV4 header auth share: choosing the scheme a
//! request uses and the `response-*` overrides. The request as the verifiers see it is in
//! `s3_request`; AWS's URI encoding and error XML are AWS's, in `crate::aws`.
//!
//! The schemes themselves live in `sigv4.rs` and `sigv2.rs`; this file only dispatches and
//! turns a verified signature into a `Grant`.

use http::StatusCode;

pub use crate::auth::s3_request::{S3Request, Verified};
use crate::auth::{sigv2, sigv4, Denied, Disposition, Grant, Overrides};
pub use crate::aws::encoding::{query_decode, uri_encode, uri_encode_into};
pub use crate::aws::error::{request_id, xml_escape_into, S3Error};
use crate::config::Config;
use crate::media_type::MediaType;
use crate::outcome::{Kind, Reason};
use crate::query::{form_decode, Query};

/// The way a request claims to be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    QueryV4,
    QueryV2,
    HeaderV4,
    Unsigned,
}

impl Scheme {
    /// The protocol the log and the metrics name a request verified by this scheme, as
    /// [`kind`] names it from the claims.
    pub fn kind(self) -> Kind {
        match self {
            Scheme::QueryV4 | Scheme::HeaderV4 => Kind::S3V4,
            Scheme::QueryV2 => Kind::S3V2,
            Scheme::Unsigned => Kind::S3,
        }
    }
}

/// The schemes a request claims: V4 query parameters, V2 ones, an Authorization header.
fn claims<'h>(query: &Query<'_>, headers: &'h http::HeaderMap) -> (bool, bool, Option<&'h [u8]>) {
    // One pass over the query: every request comes through here before anything else.
    let (mut v4, mut v2) = (false, false);
    for (k, _) in query.pairs() {
        match form_decode(k).as_deref() {
            Some("X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature") => v4 = true,
            Some("AWSAccessKeyId" | "Signature") => v2 = true,
            _ => {}
        }
    }
    let header = headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    (v4, v2, header)
}

/// The protocol the log and the metrics name an S3 request by, from the scheme it claims.
pub fn kind(query: &Query<'_>, headers: &http::HeaderMap) -> Kind {
    match claims(query, headers) {
        (true, false, None) => Kind::S3V4,
        (false, false, Some(h)) if h.starts_with(b"AWS4-HMAC-SHA256 ") => Kind::S3V4,
        (false, true, None) => Kind::S3V2,
        _ => Kind::S3,
    }
}

/// Tells the scheme from the parameters and headers present, before any of them is parsed.
pub fn scheme(req: &S3Request<'_>) -> Result<Scheme, Denied> {
    let (v4, v2, header) = claims(&req.query, req.headers);
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
        Scheme::Unsigned => {
            return Err(S3Error::access_denied("Access Denied")
                .because(Reason::Unsigned)
                .into())
        }
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

/// Whether `req` may be answered from an earlier verification of its method, host, signed
/// path and raw query (the link cache's key): only when its headers add nothing a query
/// link's signature could cover — no Authorization, and none of the Content-Type,
/// Content-MD5 and `x-amz-*` headers that V2 signs. It is asked before the query is read.
pub fn cacheable(req: &S3Request<'_>) -> bool {
    // One pass over the names sent, rather than a lookup of each name that was not.
    !req.headers.keys().any(|name| {
        *name == http::header::AUTHORIZATION
            || *name == http::header::CONTENT_TYPE
            || name.as_str() == "content-md5"
            || name.as_str().starts_with("x-amz-")
    })
}

/// Whether a verification of `req` covered nothing but the link cache's key, so it may be
/// kept: V4 query links whose only signed header is `host`, and V2 query links (which sign
/// only the query and the headers `cacheable` refuses).
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
pub use crate::grant::OVERRIDE_NAMES as OVERRIDES;

/// Reads the `response-*` overrides. Each must appear at most once and be printable ASCII
/// (a header value whose bytes mean the same to every reader), and `response-content-type`
/// exactly one media type (the sandbox decides from it); anything else is S3's
/// `400 InvalidArgument`. Names are matched decoded, as `sigv2::canonical_resource` signs them.
pub fn overrides(query: &Query<'_>) -> Result<Overrides, Denied> {
    let mut o = Overrides::default();
    // One pass over the query for all six (this is on every S3 request's path): how often
    // each name appears, and its first raw value.
    let mut found: [(usize, Option<&str>); OVERRIDES.len()] = [(0, None); OVERRIDES.len()];
    for (k, v) in query.pairs() {
        let Some(k) = form_decode(k) else { continue };
        if let Some(i) = OVERRIDES.iter().position(|&n| n == k) {
            let (count, first) = &mut found[i];
            *count += 1;
            first.get_or_insert(v);
        }
    }
    for (name, (count, raw)) in OVERRIDES.into_iter().zip(found) {
        if count > 1 {
            return Err(S3Error::invalid_argument(
                "A response-* parameter may appear only once",
                name,
                "",
            )
            .into());
        }
        // An undecodable value is not "absent" here: the client asked for something.
        let value = match raw.and_then(form_decode) {
            Some(v) => Some(v),
            None if count > 0 => {
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
        if let Some(field) = o.field_mut(name) {
            *field = Some(v.into_owned());
        }
    }
    Ok(o)
}

impl From<S3Error> for Denied {
    fn from(e: S3Error) -> Denied {
        Denied::S3(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
