//! AWS Signature Version 2 query auth (`AWSAccessKeyId`, `Expires`, `Signature`), as
//! `s3cmd signurl`, AWS CLI v1 (`aws s3 presign` in us-east-1) and boto3 with
//! `signature_version='s3'` make it.
//!
//! The signature is base64(HMAC-SHA1(secret, string to sign)) over
//! `METHOD\nContent-MD5\nContent-Type\nEXPIRES\n<x-amz-* headers><canonical resource>`.
//! The canonical resource is `/<bucket><path as sent>` — `/<bucket>` even in virtual-hosted
//! style — followed only by the sub-resources and `response-*` parameters, sorted, names and
//! values decoded. Any other parameter is unsigned and ignored (botocore adds `content-type=`).
//! `string_to_sign` is shared by the verifier and `presign`.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::auth::s3::{uri_encode, S3Error, S3Request, Verified};
use crate::auth::sigv4::canonical_uri;
use crate::auth::Denied;
use crate::config::Config;
use crate::expiry::format_iso8601;
use crate::mac::keyed;
use crate::query::form_decode;

/// Parameters that name a sub-resource or override a response header: the only ones V2
/// signs. Sorted.
const SIGNED_PARAMS: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "select",
    "select-type",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The canonical resource: `path` (already `/<bucket>/<key>` as sent) and the signed
/// parameters of `raw_query`, sorted by name, values percent-decoded as botocore does.
///
/// SECURITY: names are matched decoded, by the decoding `Query` gives every reader of a
/// parameter (`s3::overrides` among them): `response%2Dcontent%2Dtype` is the override it
/// names, so it is signed as one, and no spelling of a name can be applied unsigned.
pub fn canonical_resource(path: &str, raw_query: &str) -> String {
    let mut signed: Vec<(Cow<'_, str>, Option<String>)> = Vec::new();
    for pair in raw_query.split('&') {
        // `?acl` (no `=`) signs as the bare name, `?acl=` as `acl=`.
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let Some(k) = form_decode(k) else { continue };
        if SIGNED_PARAMS.binary_search(&&*k).is_ok() {
            signed.push((
                k,
                // Decoded exactly as `s3::overrides` reads the value it will serve (a raw
                // `+` is a space), so what was signed is what is sent.
                v.map(|v| String::from_utf8_lossy(&crate::auth::s3::query_decode(v)).into_owned()),
            ));
        }
    }
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(path.len() + 32);
    out.push_str(path);
    for (i, (k, v)) in signed.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// What V2 signs, given the parts a request or a link builder has.
#[derive(Debug, Clone, Copy)]
pub struct StringToSign<'a> {
    pub method: &'a str,
    pub content_md5: &'a str,
    pub content_type: &'a str,
    pub expires: &'a str,
    /// `name:value\n` for each `x-amz-*` header, sorted; empty for plain links.
    pub amz_headers: &'a str,
    pub resource: &'a str,
}

impl StringToSign<'_> {
    pub fn text(&self) -> String {
        let parts = [
            self.method,
            "\n",
            self.content_md5,
            "\n",
            self.content_type,
            "\n",
            self.expires,
            "\n",
            self.amz_headers,
            self.resource,
        ];
        parts.concat()
    }
}

/// HMAC-SHA1, the only MAC V2 has.
pub fn signature(secret: &str, string_to_sign: &str) -> [u8; 20] {
    let mut mac = keyed::<Hmac<Sha1>>(secret.as_bytes());
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

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

/// Checks a V2 presigned URL.
pub fn verify_query<'c>(
    cfg: &'c Config,
    req: &S3Request<'_>,
    now: u64,
) -> Result<Verified<'c>, Denied> {
    let q = &req.query;
    let param = |name: &str| match q.unique_form(name) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(S3Error::query_parameters(QUERY_PARAMS_REQUIRED)),
        Err(_) => Err(S3Error::query_parameters(format!(
            "{name} must appear only once."
        ))),
    };
    let access_key = param("AWSAccessKeyId")?;
    let expires_text = param("Expires")?;
    let provided = param("Signature")?;
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
    let methods: &[&str] = if req.method == http::Method::HEAD {
        &["HEAD", "GET"]
    } else {
        &["GET"]
    };

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
            if given.is_some_and(|g| bool::from(expected.ct_eq(&g))) {
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

/// Everything a V2 presigned GET URL is made of.
#[derive(Debug, Clone)]
pub struct Presign<'a> {
    /// The decoded path the client will request: `/bucket/key` (or `/key` when virtual).
    pub path: &'a str,
    /// The bucket, when the URL is virtual-hosted (V2 still signs `/<bucket>`).
    pub virtual_bucket: Option<&'a str>,
    pub access_key: &'a str,
    pub secret: &'a str,
    /// Absolute expiry, unix seconds.
    pub expires: u64,
    /// Extra signed parameters, decoded (`response-*`).
    pub params: &'a [(&'a str, &'a str)],
}

impl Presign<'_> {
    /// The encoded path and query: append to `scheme://host`.
    pub fn path_and_query(&self) -> String {
        self.path_and_query_expiring(&self.expires.to_string())
    }

    /// The same with `Expires` written as `expires` rather than from `self.expires`: V2 signs
    /// the text, so leading zeros or digits past 64 bits are the signer's to choose.
    pub fn path_and_query_expiring(&self, expires: &str) -> String {
        let path = uri_encode(self.path.as_bytes(), true);
        let mut extra = String::new();
        for (k, v) in self.params {
            extra.push('&');
            extra.push_str(&uri_encode(k.as_bytes(), false));
            extra.push('=');
            extra.push_str(&uri_encode(v.as_bytes(), false));
        }
        let signed_path = match self.virtual_bucket {
            Some(b) => format!("/{b}{path}"),
            None => path.clone(),
        };
        let resource = canonical_resource(&signed_path, extra.trim_start_matches('&'));
        let sts = StringToSign {
            method: "GET",
            content_md5: "",
            content_type: "",
            expires,
            amz_headers: "",
            resource: &resource,
        };
        let sig = STANDARD.encode(signature(self.secret, &sts.text()));
        let sig = utf8_percent_encode(&sig, NON_ALPHANUMERIC);
        format!(
            "{path}?AWSAccessKeyId={}&Expires={expires}&Signature={sig}{extra}",
            uri_encode(self.access_key.as_bytes(), false)
        )
    }
}

#[cfg(test)]
mod tests;
