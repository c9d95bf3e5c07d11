//! AWS Signature Version 4 for S3: presigned URLs (query auth) and `Authorization` header
//! auth, for GET and HEAD of one object.
//!
//! The signed text (`canonical_request`, `string_to_sign`) and the signer (`Presign`, used by
//! `share::s3`) are AWS's and live in `crate::aws::sigv4`; the verifiers here go through the
//! same functions, so a link we make is a link we accept. This file adds what only a verifier
//! needs: parsing what a client sent, the config's keys, the clock and the refusals.
//!
//! How S3 reads a request, which is what decides compatibility:
//! - the canonical URI is the path decoded and then encoded once with AWS's rules, never
//!   normalised (no `.`/`..` or `//` folding), so a client's choice of which characters to
//!   escape in the URL does not matter;
//! - every query parameter but `X-Amz-Signature` is signed, a raw `+` read as a space;
//! - the derived signing key depends only on (secret, day, region), so it is cached.

use std::borrow::Cow;

use crate::auth::s3_request::{S3Request, Verified};
use crate::auth::Denied;
use crate::auth::{signed_methods, MAX_S3_LIFETIME};
pub use crate::aws::encoding::canonical_uri;
use crate::aws::error::S3Error;
pub use crate::aws::sigv4::*;
use crate::config::Config;
use crate::expiry::{format_iso8601, parse_amz_date};
use crate::outcome::Reason;
use crate::query::{form_decode, form_decode_into, DecodeBuf, Query};

/// How far a client clock may run ahead (and, for header auth, behind) of ours.
pub const MAX_SKEW: u64 = 900;

// ---- parsing ----

/// `<access key>/<YYYYMMDD>/<region>/s3/aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    /// Everything after the access key: `date/region/service/terminator`.
    pub scope: &'a str,
}

impl<'a> Credential<'a> {
    pub fn parse(text: &'a str) -> Option<Credential<'a>> {
        // Split from the right at the last four `/` (an access key may hold one); the text is
        // short, so a plain scan beats a searcher's set-up.
        let mut cut = [0usize; 4];
        let mut end = text.len();
        for slot in &mut cut {
            *slot = text.as_bytes()[..end].iter().rposition(|&b| b == b'/')?;
            end = *slot;
        }
        let [t, s, r, d] = cut;
        let (access_key, date, region, service, terminator) = (
            &text[..d],
            &text[d + 1..r],
            &text[r + 1..s],
            &text[s + 1..t],
            &text[t + 1..],
        );
        if [terminator, service, region, date, access_key]
            .iter()
            .any(|s| s.is_empty())
        {
            return None;
        }
        Some(Credential {
            access_key,
            date,
            region,
            service,
            terminator,
            scope: &text[d + 1..],
        })
    }

    /// Region, service and terminator as this endpoint expects them; the error message is AWS's.
    fn check(&self, cfg: &Config, amz_date: &str, prefix: &str) -> Result<(), String> {
        if !cfg.s3.regions.iter().any(|r| r == self.region) {
            let expected = cfg
                .s3
                .regions
                .first()
                .map(String::as_str)
                .unwrap_or("us-east-1");
            return Err(format!(
                "{prefix} the region '{}' is wrong; expecting '{expected}'",
                self.region
            ));
        }
        if self.service != SERVICE {
            return Err(format!(
                "{prefix} incorrect service \"{}\". This endpoint belongs to \"s3\".",
                self.service
            ));
        }
        if self.terminator != TERMINATOR {
            return Err(format!(
                "{prefix} incorrect terminal \"{}\". This endpoint uses \"aws4_request\".",
                self.terminator
            ));
        }
        if amz_date.get(..8) != Some(self.date) {
            return Err("Invalid credential date. Date is not the same as X-Amz-Date.".to_string());
        }
        Ok(())
    }
}

/// `X-Amz-Date`: exactly `YYYYMMDDTHHMMSSZ`.
fn parse_date(text: &str) -> Option<u64> {
    if text.len() != 16 {
        return None;
    }
    parse_amz_date(text)
}

/// `host;range;x-amz-date`: lowercase names, `host` among them.
fn valid_signed_headers(text: &str) -> bool {
    let valid = |n: &[u8]| {
        !n.is_empty()
            && n.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    let mut names = signed_header_names(text).map(str::as_bytes);
    names.clone().all(valid) && names.any(|n| n == b"host")
}

/// The names of `SignedHeaders`. A closure rather than a `char` pattern: a `char` pattern
/// searches with memchr, whose set-up costs more than scanning a few short names.
#[allow(clippy::manual_pattern_char_comparison)]
fn signed_header_names(text: &str) -> impl Iterator<Item = &str> + Clone {
    text.split(|c| c == ';')
}

/// The canonical request of `req`, signed headers included. `host` is the host the client
/// addressed (behind a trusted proxy, the forwarded one); a signed header the request lacks
/// signs as empty, and so cannot match.
fn canonical_request_of<'a>(
    req: &S3Request<'a>,
    s: &Signed<'_>,
    query: &'a CanonicalQuery<'_>,
) -> CanonicalRequest<'a> {
    let mut cr = CanonicalRequest::new(canonical_uri(req.signed_path), query.parts());
    for name in signed_header_names(s.signed_headers) {
        if name == "host" {
            cr.header(name, [req.host.unwrap_or("").as_bytes()]);
        } else {
            cr.header(name, req.headers.get_all(name).iter().map(|v| v.as_bytes()));
        }
    }
    cr.end(s.signed_headers, s.payload_hash);
    cr
}

/// Whether a provided signature is `expected` as AWS prints it, exactly 64 lowercase hex
/// digits, compared in constant time. The MAC is encoded rather than the signature decoded,
/// so any other spelling (uppercase, shorter, longer, not hex) simply does not match.
fn signature_matches(expected: &[u8; 32], provided: &str) -> bool {
    let mut hex = [0u8; 64];
    const_hex::encode_to_slice(expected, &mut hex).is_ok()
        && crate::mac::tags_equal(&hex, provided.as_bytes())
}

/// What both verifiers feed the signature check.
struct Signed<'a> {
    credential: Credential<'a>,
    secret: &'a str,
    amz_date: &'a str,
    /// Valid (`valid_signed_headers`).
    signed_headers: &'a str,
    payload_hash: &'a str,
    signature: &'a str,
}

/// Recomputes the signature for each method the request may have been signed for (HEAD is
/// allowed with a GET link) and compares in constant time.
fn check_signature(
    req: &S3Request<'_>,
    s: &Signed<'_>,
    query: &CanonicalQuery<'_>,
    methods: &[&str],
) -> Result<(), Denied> {
    let cr = canonical_request_of(req, s, query);
    let key = cached_signing_key(
        s.credential.access_key,
        s.secret,
        s.credential.date,
        s.credential.region,
    );
    for &method in methods {
        let digest = cr.digest(method);
        if signature_matches(
            &signature_of(&key, s.amz_date, s.credential.scope, &digest),
            s.signature,
        ) {
            return Ok(());
        }
    }
    // What the first method would have signed, for the error (as S3 shows it).
    let method = methods.first().copied().unwrap_or("GET");
    let sts = string_to_sign_of(s.amz_date, s.credential.scope, &cr.digest(method));
    Err(S3Error::signature_mismatch(
        s.credential.access_key,
        &sts,
        s.signature,
        Some(&cr.text(method)),
    )
    .into())
}

// ---- query auth (presigned URLs) ----

const QUERY_PARAMS_REQUIRED: &str = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

/// The `X-Amz-*` parameters of a presigned URL, as `QueryParams` holds them.
#[derive(Clone, Copy)]
enum Param {
    Algorithm,
    Credential,
    Date,
    Expires,
    SignedHeaders,
    Signature,
    ContentSha256,
}

impl Param {
    const ALL: [Param; 7] = [
        Param::Algorithm,
        Param::Credential,
        Param::Date,
        Param::Expires,
        Param::SignedHeaders,
        Param::Signature,
        Param::ContentSha256,
    ];

    fn name(self) -> &'static str {
        match self {
            Param::Algorithm => "X-Amz-Algorithm",
            Param::Credential => "X-Amz-Credential",
            Param::Date => "X-Amz-Date",
            Param::Expires => "X-Amz-Expires",
            Param::SignedHeaders => "X-Amz-SignedHeaders",
            Param::Signature => "X-Amz-Signature",
            Param::ContentSha256 => "X-Amz-Content-Sha256",
        }
    }

    fn named(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The raw values of the `X-Amz-*` parameters of a presigned URL, read in one pass over the
/// query (this is on every request's path), indexed by `Param`. Each may appear once.
struct QueryParams<'q>([Option<&'q str>; Param::ALL.len()]);

impl<'q> QueryParams<'q> {
    /// Reads the parameters and, in the same pass over the query, its canonical form.
    fn read(q: &Query<'q>) -> Result<(QueryParams<'q>, CanonicalQuery<'q>), S3Error> {
        let mut raw = [None; Param::ALL.len()];
        let mut repeated = None;
        let canonical = CanonicalQuery::of(q.raw(), |k, v| {
            // Signers send these names as they are; only a name that matches none may still
            // be one of them escaped (`X-Amz-%44ate`), so only then is it decoded.
            let found = Param::named(k).or_else(|| form_decode(k).and_then(|n| Param::named(&n)));
            let Some(p) = found else { return };
            if raw[p as usize].replace(v).is_some() {
                repeated.get_or_insert(p);
            }
        });
        if let Some(p) = repeated {
            return Err(S3Error::query_parameters(format!(
                "{} must appear only once.",
                p.name()
            )));
        }
        Ok((QueryParams(raw), canonical))
    }

    /// A parameter's value, form-decoded; one that is missing or not UTF-8 is refused.
    fn get(&self, p: Param) -> Result<Cow<'q, str>, S3Error> {
        need(self.0[p as usize].and_then(form_decode))
    }

    /// The same, decoded into `buf` when it fits: the credential is the one value a signer
    /// always escapes (its `/`s).
    fn get_in<'b>(&self, p: Param, buf: &'b mut DecodeBuf) -> Result<Cow<'b, str>, S3Error>
    where
        'q: 'b,
    {
        need(self.0[p as usize].and_then(|v| form_decode_into(v, buf)))
    }
}

fn need<T>(v: Option<T>) -> Result<T, S3Error> {
    v.ok_or_else(|| S3Error::query_parameters(QUERY_PARAMS_REQUIRED))
}

/// Checks a SigV4 presigned URL.
pub fn verify_query<'c>(
    cfg: &'c Config,
    req: &S3Request<'_>,
    now: u64,
) -> Result<Verified<'c>, Denied> {
    let (p, canonical) = QueryParams::read(&req.query)?;
    let mut buf = [0; 128];
    let algorithm = p.get(Param::Algorithm)?;
    let credential = p.get_in(Param::Credential, &mut buf)?;
    let amz_date = p.get(Param::Date)?;
    let expires = p.get(Param::Expires)?;
    let signed_headers = p.get(Param::SignedHeaders)?;
    let signature = p.get(Param::Signature)?;
    let payload_hash = p.get(Param::ContentSha256).ok();
    let (algorithm, credential, amz_date, expires, signed_headers, signature) = (
        &*algorithm,
        &*credential,
        &*amz_date,
        &*expires,
        &*signed_headers,
        &*signature,
    );

    if algorithm != ALGORITHM {
        return Err(S3Error::query_parameters(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        )
        .into());
    }
    let Some(date) = parse_date(amz_date) else {
        return Err(S3Error::query_parameters(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
        .into());
    };
    let Some(cred) = Credential::parse(credential) else {
        return Err(S3Error::query_parameters("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".").into());
    };
    cred.check(
        cfg,
        amz_date,
        "Error parsing the X-Amz-Credential parameter;",
    )
    .map_err(S3Error::query_parameters)?;
    let lifetime = parse_expires(expires, cfg.max_link_lifetime)?;
    if !valid_signed_headers(signed_headers) {
        return Err(S3Error::query_parameters(
            "X-Amz-SignedHeaders must be lowercase header names separated by ';' and include host.",
        )
        .into());
    }

    let Some((project, key)) = cfg.s3_key(cred.access_key) else {
        return Err(S3Error::invalid_access_key(cred.access_key).into());
    };

    // The link's age is not limited beyond X-Amz-Expires; only a date from the future is.
    if date > now.saturating_add(MAX_SKEW) {
        return Err(S3Error::access_denied("Request is not yet valid")
            .because(Reason::NotYetValid)
            .with("X-Amz-Date", amz_date)
            .with("ServerTime", format_iso8601(now))
            .into());
    }
    let expires_at = date.saturating_add(lifetime);
    if now > expires_at {
        return Err(S3Error::access_denied("Request has expired")
            .because(Reason::Expired)
            .with("X-Amz-Expires", expires)
            .with("Expires", format_iso8601(expires_at))
            .with("ServerTime", format_iso8601(now))
            .into());
    }

    let signed = Signed {
        credential: cred,
        secret: key.secret_key.expose(),
        amz_date,
        signed_headers,
        payload_hash: payload_hash.as_deref().unwrap_or(UNSIGNED_PAYLOAD),
        signature,
    };
    // Other methods never get here (`app::authorize` refuses them); they are checked as GET.
    let methods = signed_methods(req.method).unwrap_or(&["GET"]);
    check_signature(req, &signed, &canonical, methods)?;
    Ok(Verified {
        project,
        expires_at: Some(expires_at),
    })
}

/// `X-Amz-Expires`: decimal seconds, 1..=604800, and no more than the configured cap.
fn parse_expires(text: &str, cap: Option<u64>) -> Result<u64, S3Error> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(S3Error::query_parameters(
            "X-Amz-Expires should be a number",
        ));
    }
    let n = text.parse::<u64>().unwrap_or(u64::MAX);
    if n == 0 {
        return Err(S3Error::query_parameters(
            "X-Amz-Expires must be at least 1 second",
        ));
    }
    if n > MAX_S3_LIFETIME {
        return Err(S3Error::query_parameters(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    match cap {
        Some(max) if n > max => Err(S3Error::query_parameters(format!(
            "X-Amz-Expires must be at most {max} seconds on this server (max_link_lifetime)"
        ))
        .because(Reason::TooLong)),
        _ => Ok(n),
    }
}

// ---- header auth ----

/// Checks a request signed in its `Authorization` header (what SDKs and `rclone` send).
pub fn verify_header<'c>(
    cfg: &'c Config,
    req: &S3Request<'_>,
    now: u64,
) -> Result<Verified<'c>, Denied> {
    let malformed = || {
        S3Error::header_malformed("The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.")
    };
    let auth = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(ALGORITHM))
        .ok_or_else(malformed)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in auth.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(malformed().into()),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed().into());
    };

    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(date) = parse_date(amz_date) else {
        return Err(S3Error::access_denied(
            "AWS authentication requires a valid Date or x-amz-date header",
        )
        .because(Reason::BadRequest)
        .into());
    };
    let Some(cred) = Credential::parse(credential) else {
        return Err(S3Error::header_malformed("The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".").into());
    };
    cred.check(cfg, amz_date, "The authorization header is malformed;")
        .map_err(S3Error::header_malformed)?;
    if !valid_signed_headers(signed_headers) {
        return Err(S3Error::header_malformed("The authorization header is malformed; SignedHeaders must be lowercase names separated by ';' and include host.").into());
    }
    let Some(payload_hash) = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(S3Error::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256",
        )
        .into());
    };

    let Some((project, key)) = cfg.s3_key(cred.access_key) else {
        return Err(S3Error::invalid_access_key(cred.access_key).into());
    };
    if date.abs_diff(now) > MAX_SKEW {
        return Err(S3Error::new(
            http::StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .with("RequestTime", amz_date)
        .with("ServerTime", format_iso8601(now))
        .with("MaxAllowedSkewMilliseconds", "900000")
        .into());
    }

    let signed = Signed {
        credential: cred,
        secret: key.secret_key.expose(),
        amz_date,
        signed_headers,
        payload_hash,
        signature,
    };
    check_signature(
        req,
        &signed,
        &CanonicalQuery::of(req.query.raw(), |_, _| ()),
        &[req.method.as_str()],
    )?;
    Ok(Verified {
        project,
        expires_at: None,
    })
}

#[cfg(test)]
mod tests;
