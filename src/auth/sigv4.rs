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
use crate::aws::encoding::all_escaped;
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
        Credential::new(parts_around(text, [d, r, s, t], 1), &text[d + 1..])
    }

    /// From its five parts and its scope (the last four joined); `None` when a part is empty.
    fn new(parts: [&'a str; 5], scope: &'a str) -> Option<Credential<'a>> {
        let [access_key, date, region, service, terminator] = parts;
        parts.iter().all(|p| !p.is_empty()).then_some(Credential {
            access_key,
            date,
            region,
            service,
            terminator,
            scope,
        })
    }

    /// The credential of a presigned URL, from its value as sent (`escaped`: holding a `%`
    /// or `+`); `None` when it is malformed, and the query error when it is not UTF-8. A
    /// signer escapes a credential's four `/`s and nothing else, so such a value is split at
    /// those `%2F`s where it lies and only its scope is assembled, in `buf`; any other is
    /// decoded (into `buf` when it fits, else into `decoded`) and read by `parse`. Both give
    /// the same parts.
    fn in_query<'b>(
        (raw, escaped): (&'b str, bool),
        buf: &'b mut DecodeBuf,
        decoded: &'b mut Option<Cow<'b, str>>,
    ) -> Result<Option<Credential<'b>>, S3Error> {
        match escaped.then(|| escaped_slashes(raw)).flatten() {
            Some(cuts) => Ok(Credential::split_at_escapes(raw, cuts, buf)),
            None => Ok(Credential::parse(
                decoded.insert(need(form_decode_into(raw, buf))?),
            )),
        }
    }

    /// `raw` is `a%2Fb%2Fc%2Fd%2Fe` with `cuts` the positions of its escapes.
    fn split_at_escapes(
        raw: &'a str,
        cuts: [usize; 4],
        buf: &'a mut DecodeBuf,
    ) -> Option<Credential<'a>> {
        let parts = parts_around(raw, cuts, "%2F".len());
        let [_, date, region, service, terminator] = parts;
        Credential::new(parts, join_in([date, region, service, terminator], buf)?)
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

/// The five parts of `text` around the separators at `cuts`, each `width` bytes long.
fn parts_around(text: &str, [d, r, s, t]: [usize; 4], width: usize) -> [&str; 5] {
    [
        &text[..d],
        &text[d + width..r],
        &text[r + width..s],
        &text[s + width..t],
        &text[t + width..],
    ]
}

/// The positions of the four escapes of a credential as a signer sends it, when it holds
/// no other byte to decode: each is `%2F`, and there is no other `%` or `+`.
fn escaped_slashes(raw: &str) -> Option<[usize; 4]> {
    let (mut cuts, mut n) = ([0; 4], 0);
    let bytes = raw.as_bytes();
    let only_slashes = all_escaped(bytes, false, |i| {
        let slash = bytes.get(i..i + 3) == Some(b"%2F") && n < cuts.len();
        if slash {
            cuts[n] = i;
            n += 1;
        }
        slash
    });
    (only_slashes && n == cuts.len()).then_some(cuts)
}

/// `parts` joined with `/`, in `buf`: `None` when they do not fit.
fn join_in<'b>(parts: [&str; 4], buf: &'b mut DecodeBuf) -> Option<&'b str> {
    let mut len = 0;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            *buf.get_mut(len)? = b'/';
            len += 1;
        }
        buf.get_mut(len..len + part.len())?
            .copy_from_slice(part.as_bytes());
        len += part.len();
    }
    std::str::from_utf8(&buf[..len]).ok()
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
    // What nearly every presigned URL signs.
    if text == "host" {
        return true;
    }
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
    let c = &s.credential;
    let matched = with_signing_key(c.access_key, s.secret, c.date, c.region, |key| {
        methods.iter().any(|method| {
            let digest = cr.digest(method);
            signature_matches(
                &signature_of(key, s.amz_date, c.scope, &digest),
                s.signature,
            )
        })
    });
    if matched {
        return Ok(());
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
    /// How many there are: `Param` indexes an array.
    const COUNT: usize = Param::ContentSha256 as usize + 1;

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
        // A `match` compares with each literal inline, where a search would call `memcmp`.
        Some(match name {
            "X-Amz-Algorithm" => Param::Algorithm,
            "X-Amz-Credential" => Param::Credential,
            "X-Amz-Date" => Param::Date,
            "X-Amz-Expires" => Param::Expires,
            "X-Amz-SignedHeaders" => Param::SignedHeaders,
            "X-Amz-Signature" => Param::Signature,
            "X-Amz-Content-Sha256" => Param::ContentSha256,
            _ => return None,
        })
    }
}

/// The `X-Amz-*` parameters of a presigned URL as sent, read in one pass over the query (this
/// is on every request's path), indexed by `Param`: each raw value, and whether it holds
/// anything to decode. Each may appear once.
struct QueryParams<'q> {
    values: [Option<(&'q str, bool)>; Param::COUNT],
    /// The first that appeared twice.
    repeated: Option<Param>,
}

impl<'q> QueryParams<'q> {
    /// Reads the parameters and, in the same pass over the query, its canonical form. Built
    /// in place rather than returned in a `Result`: this is on every request's path, and the
    /// two are large to move.
    fn read(&mut self, q: &Query<'q>) -> CanonicalQuery<'q> {
        let QueryParams {
            values: raw,
            repeated,
        } = self;
        CanonicalQuery::scan(q.raw(), |pair| {
            // Signers send these names as they are; only a name that matches none and holds
            // an escape may still be one of them (`X-Amz-%44ate`), so only then is it decoded.
            let found = Param::named(pair.name).or_else(|| {
                pair.name_escaped
                    .then(|| form_decode(pair.name))
                    .flatten()
                    .and_then(|n| Param::named(&n))
            });
            let Some(p) = found else { return };
            if raw[p as usize]
                .replace((pair.value, pair.value_escaped))
                .is_some()
            {
                repeated.get_or_insert(p);
            }
        })
    }

    /// Refuses a query that holds a parameter twice.
    fn each_once(&self) -> Result<(), S3Error> {
        match self.repeated {
            Some(p) => Err(S3Error::query_parameters(format!(
                "{} must appear only once.",
                p.name()
            ))),
            None => Ok(()),
        }
    }

    /// A parameter's value as sent, and whether it holds anything to decode; a missing one
    /// is refused.
    fn raw(&self, p: Param) -> Result<(&'q str, bool), S3Error> {
        need(self.values[p as usize])
    }

    /// A parameter's value, form-decoded; one that is missing or not UTF-8 is refused.
    fn get(&self, p: Param) -> Result<Cow<'q, str>, S3Error> {
        match self.raw(p)? {
            (value, false) => Ok(Cow::Borrowed(value)),
            (value, true) => need(form_decode(value)),
        }
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
    let mut p = QueryParams {
        values: [None; Param::COUNT],
        repeated: None,
    };
    let canonical = p.read(&req.query);
    p.each_once()?;
    let mut buf = [0; 128];
    let algorithm = p.get(Param::Algorithm)?;
    let mut decoded = None;
    let credential = Credential::in_query(p.raw(Param::Credential)?, &mut buf, &mut decoded)?;
    let amz_date = p.get(Param::Date)?;
    let expires = p.get(Param::Expires)?;
    let signed_headers = p.get(Param::SignedHeaders)?;
    let signature = p.get(Param::Signature)?;
    let payload_hash = p.get(Param::ContentSha256).ok();
    let (algorithm, amz_date, expires, signed_headers, signature) = (
        &*algorithm,
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
    let Some(cred) = credential else {
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
