//! AWS Signature Version 2 query auth (`AWSAccessKeyId`, `Expires`, `Signature`), as
//! `s3cmd signurl`, AWS CLI v1 (`aws s3 presign` in us-east-1) and boto3 with
//! `signature_version='s3'` make it.
//!
//! The signature is base64(HMAC-SHA1(secret, string to sign)) over
//! `METHOD\nContent-MD5\nContent-Type\nEXPIRES\n<x-amz-* headers><canonical resource>`.
//! The canonical resource is `/<bucket><path as sent>` — `/<bucket>` even in virtual-hosted
//! style — followed only by the sub-resources and `response-*` parameters, sorted, names and
//! values decoded. Any other parameter is unsigned and ignored (botocore adds `content-type=`).
//! The signer (`canonical_resource`, `StringToSign`, `signature`, `Presign`) is AWS's, in
//! `crate::aws::sigv2`; the verifier here goes through the same functions.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::auth::s3_request::{S3Request, Verified};
use crate::auth::Denied;
use crate::aws::encoding::canonical_uri;
use crate::aws::error::S3Error;
pub use crate::aws::sigv2::*;
use crate::config::Config;
use crate::expiry::format_iso8601;
use crate::outcome::Reason;
use crate::query::{form_decode, Query};

/// A `Signature` parameter, already form-decoded: base64 whose `+` a form decoder may have
/// turned into a space. Only the canonical padded form is accepted, as AWS compares the
/// text: a lenient decoder would let many spellings of one link verify.
fn decode_signature(sig: &str) -> Option<[u8; 20]> {
    let bytes = STANDARD.decode(sig.replace(' ', "+")).ok()?;
    bytes.try_into().ok()
}

/// A header for the string to sign: the request's, else (query auth) the parameter a signer
/// moved into the query, else empty.
fn header_or_param(req: &S3Request<'_>, name: &str) -> String {
    if let Some(v) = req.headers.get(name).and_then(|v| v.to_str().ok()) {
        return v.trim().to_string();
    }
    req.query
        .first_form(name)
        .map(|v| v.into_owned())
        .unwrap_or_default()
}

/// `x-amz-*` headers (and parameters a signer moved into the query), `name:value\n`, sorted.
fn amz_headers(req: &S3Request<'_>) -> String {
    let mut found: Vec<(String, String)> = Vec::new();
    for name in req
        .headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-amz-"))
    {
        let values: Vec<&str> = req
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        found.push((name.as_str().to_string(), values.join(",")));
    }
    for (k, v) in req.query.pairs() {
        let Some(k) = form_decode(k).map(|k| k.to_ascii_lowercase()) else {
            continue;
        };
        if k.starts_with("x-amz-") && !found.iter().any(|(n, _)| *n == k) {
            found.push((
                k,
                form_decode(v).map(|v| v.into_owned()).unwrap_or_default(),
            ));
        }
    }
    found.sort();
    found.iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
}

const QUERY_PARAMS_REQUIRED: &str =
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters";

/// The three parameters of a V2 link, form-decoded, read in one pass over the query. Each
/// must appear once; the first that does not, in this order, is the one refused.
fn query_params<'q>(q: &Query<'q>) -> Result<[Cow<'q, str>; 3], S3Error> {
    const NAMES: [&str; 3] = ["AWSAccessKeyId", "Expires", "Signature"];
    let mut found: [Option<&str>; 3] = [None; 3];
    let mut repeated = [false; 3];
    for (k, v) in q.pairs() {
        let Some(name) = form_decode(k) else { continue };
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            repeated[i] |= found[i].replace(v).is_some();
        }
    }
    let take = |i: usize| {
        if repeated[i] {
            return Err(S3Error::query_parameters(format!(
                "{} must appear only once.",
                NAMES[i]
            )));
        }
        // A value that is not UTF-8 is taken as absent.
        found[i]
            .and_then(form_decode)
            .ok_or_else(|| S3Error::query_parameters(QUERY_PARAMS_REQUIRED))
    };
    Ok([take(0)?, take(1)?, take(2)?])
}

/// Checks a V2 presigned URL.
pub fn verify_query<'c>(
    cfg: &'c Config,
    req: &S3Request<'_>,
    now: u64,
) -> Result<Verified<'c>, Denied> {
    let q = &req.query;
    let [access_key, expires_text, provided] = query_params(q)?;
    if expires_text.is_empty() || !expires_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(S3Error::query_parameters(
            "Expires must be a number of seconds since the epoch",
        )
        .into());
    }
    let expires = expires_text.parse::<u64>().unwrap_or(u64::MAX);

    let Some((project, key)) = cfg.s3_key(&access_key) else {
        return Err(S3Error::invalid_access_key(&access_key).into());
    };
    if now > expires {
        return Err(S3Error::access_denied("Request has expired")
            .because(Reason::Expired)
            .with("Expires", format_iso8601(expires))
            .with("ServerTime", format_iso8601(now))
            .into());
    }
    // V2 has no cap of its own; the configured one applies to the time the link has left.
    if let Some(max) = cfg.max_link_lifetime {
        if expires - now > max {
            return Err(S3Error::query_parameters(format!(
                "Expires must be at most {max} seconds from now on this server (max_link_lifetime)"
            ))
            .because(Reason::TooLong)
            .into());
        }
    }

    // The path as the client sent it is what it signed; a client that escaped different
    // characters than it sent is still matched through the canonical (AWS-encoded) form.
    let bucket_prefix = if req.virtual_host {
        format!("/{}", req.bucket)
    } else {
        String::new()
    };
    let sent = format!("{bucket_prefix}{}", req.signed_path);
    let canonical = format!("{bucket_prefix}{}", canonical_uri(req.signed_path));
    let paths: &[&str] = if sent == canonical {
        &[&sent]
    } else {
        &[&sent, &canonical]
    };
    // Other methods never get here (`app::authorize` refuses them); they are checked as GET.
    let methods = crate::auth::signed_methods(req.method).unwrap_or(&["GET"]);

    let content_md5 = header_or_param(req, "content-md5");
    let content_type = header_or_param(req, "content-type");
    let amz = amz_headers(req);
    let given = decode_signature(&provided);
    let mut first = None;
    for path in paths {
        let resource = canonical_resource(path, q.raw());
        for &method in methods {
            let sts = StringToSign {
                method,
                content_md5: &content_md5,
                content_type: &content_type,
                expires: &expires_text,
                amz_headers: &amz,
                resource: &resource,
            }
            .text();
            let expected = signature(key.secret_key.expose(), &sts);
            if given.is_some_and(|g| crate::mac::tags_equal(&expected, &g)) {
                return Ok(Verified {
                    project,
                    expires_at: Some(expires),
                });
            }
            first.get_or_insert(sts);
        }
    }
    let sts = first.unwrap_or_default();
    Err(S3Error::signature_mismatch(&access_key, sts.as_bytes(), &provided, None).into())
}

#[cfg(test)]
mod tests;
