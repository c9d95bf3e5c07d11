//! AWS Signature Version 2, as a signer sees it: the canonical resource, the string to sign,
//! the HMAC-SHA1 signature and presigned GET URLs. Nothing here knows a config or a
//! verifier's errors (`auth::sigv2` checks with the same functions).

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha1::Sha1;

use crate::aws::encoding::{query_decode, uri_encode};
use crate::mac::keyed;
use crate::query::form_decode;

/// Parameters that name a sub-resource or override a response header: the only ones V2
/// signs. Sorted.
pub(crate) const SIGNED_PARAMS: &[&str] = &[
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
                v.map(|v| String::from_utf8_lossy(&query_decode(v)).into_owned()),
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
