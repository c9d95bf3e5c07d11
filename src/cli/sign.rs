//! `keyhole sign swift|s3`: a link from a key given on the command line, with no config, as
//! `swift tempurl` and the AWS SDKs make them. The arguments are declared here, beside what
//! they mean; `main.rs` only parses them.

use clap::Args;

use crate::clock::{unix_now, LAST_HTTP_DATE};
use crate::expiry;
use crate::grant::OVERRIDE_NAMES;
use crate::keys::Digest;
use crate::share::s3::{S3Link, Style};
use crate::share::SwiftLink;

#[derive(Args)]
pub struct SwiftArgs {
    /// The Temp-URL key (account or container).
    #[arg(long)]
    key: String,
    /// Object path as Swift signs it, decoded: /v1/AUTH_<project>/<container>/<object>
    /// (with --prefix: /v1/AUTH_<project>/<container>/<prefix>).
    #[arg(long)]
    path: String,
    /// The method the link is for (HEAD is allowed with a GET link).
    #[arg(long, default_value = "GET")]
    method: String,
    /// Lifetime from now: seconds or e.g. 1d2h30m. Ignored with --expires-at.
    #[arg(long, default_value = "1h")]
    expires: String,
    /// Absolute expiry, unix seconds.
    #[arg(long)]
    expires_at: Option<u64>,
    /// The clock: unix seconds or YYYYMMDDTHHMMSSZ (default: the system clock).
    #[arg(long)]
    now: Option<String>,
    #[arg(long, value_enum, default_value = "sha256")]
    digest: Digest,
    /// Only clients in this IP or CIDR may use the link.
    #[arg(long)]
    ip_range: Option<String>,
    /// Sign for every object whose name starts with the path's last part.
    #[arg(long)]
    prefix: bool,
    /// Write the expiry as ISO 8601 instead of unix seconds.
    #[arg(long)]
    iso8601: bool,
    /// View mode: the browser shows the object instead of saving it.
    #[arg(long)]
    inline: bool,
    /// Name to save or show the object under.
    #[arg(long)]
    filename: Option<String>,
    /// Scheme, host and port to put before the path, e.g. https://share.example.com.
    #[arg(long, default_value = "")]
    base_url: String,
}

#[derive(Args)]
pub struct S3Args {
    /// The access key id.
    #[arg(long)]
    access_key: String,
    /// The secret access key.
    #[arg(long)]
    secret_key: String,
    /// Signing region (SigV4).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Where clients reach the gateway: scheme://host[:port][/prefix].
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    bucket: String,
    /// The object key, unencoded (e.g. "reports/Báo cáo.pdf").
    #[arg(long)]
    key: String,
    /// Lifetime: seconds or e.g. 1d2h30m (SigV4 allows at most 7 days).
    #[arg(long, default_value = "1h")]
    expires: String,
    /// The clock: unix seconds or YYYYMMDDTHHMMSSZ (default: the system clock).
    #[arg(long)]
    now: Option<String>,
    /// Path style puts the bucket in the path; virtual puts it in the host name.
    #[arg(long, value_enum, default_value = "path")]
    style: Style,
    /// Sign with Signature Version 2 (AWSAccessKeyId/Expires/Signature).
    #[arg(long)]
    v2: bool,
    /// Content-Type the response will carry.
    #[arg(long)]
    response_content_type: Option<String>,
    /// Content-Disposition the response will carry, e.g. 'attachment; filename="a.pdf"'.
    #[arg(long)]
    response_content_disposition: Option<String>,
    /// Cache-Control the response will carry.
    #[arg(long)]
    response_cache_control: Option<String>,
    /// Expires the response will carry.
    #[arg(long)]
    response_expires: Option<String>,
    /// Content-Language the response will carry.
    #[arg(long)]
    response_content_language: Option<String>,
    /// Content-Encoding the response will carry.
    #[arg(long)]
    response_content_encoding: Option<String>,
}

/// `--now`, or the clock.
fn now(given: Option<&str>) -> Result<u64, String> {
    match given.map(expiry::parse_now).transpose() {
        Ok(n) => Ok(n.unwrap_or_else(unix_now)),
        Err(e) => Err(format!("--now: {e}")),
    }
}

/// `keyhole sign swift`: the link, or what is wrong with the arguments.
pub fn swift(a: &SwiftArgs) -> Result<String, String> {
    let now = now(a.now.as_deref())?;
    let expires = match a.expires_at {
        Some(t) => t,
        None => match expiry::parse_lifetime(&a.expires) {
            Ok(s) => now.saturating_add(s),
            Err(e) => return Err(format!("--expires: {e}")),
        },
    };
    if a.iso8601 && expires > LAST_HTTP_DATE {
        return Err(
            "--iso8601 cannot write an expiry past 9999-12-31T23:59:59Z; use unix seconds".into(),
        );
    }
    if !a.path.starts_with("/v1/") || a.path.splitn(5, '/').count() < 5 {
        return Err("--path must look like /v1/AUTH_<project>/<container>/<object>".into());
    }
    let link = SwiftLink {
        base_url: a.base_url.trim_end_matches('/'),
        path: &a.path,
        key: &a.key,
        method: &a.method.to_ascii_uppercase(),
        expires,
        digest: a.digest,
        ip_range: a.ip_range.as_deref(),
        prefix: a.prefix,
        iso8601: a.iso8601,
        inline: a.inline,
        filename: a.filename.as_deref(),
    };
    Ok(link.url())
}

/// `keyhole sign s3`: the link, or what is wrong with the arguments.
pub fn s3(a: &S3Args) -> Result<String, String> {
    let now = now(a.now.as_deref())?;
    let expires = expiry::parse_lifetime(&a.expires).map_err(|e| format!("--expires: {e}"))?;
    // In the order of `OVERRIDE_NAMES`.
    let values = [
        &a.response_content_type,
        &a.response_content_disposition,
        &a.response_cache_control,
        &a.response_expires,
        &a.response_content_language,
        &a.response_content_encoding,
    ];
    let overrides: Vec<(&str, &str)> = OVERRIDE_NAMES
        .into_iter()
        .zip(values)
        .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
        .collect();
    let link = S3Link {
        endpoint: &a.endpoint,
        bucket: &a.bucket,
        key: &a.key,
        access_key: &a.access_key,
        secret: &a.secret_key,
        region: &a.region,
        now,
        expires,
        style: a.style,
        v2: a.v2,
        overrides: &overrides,
    };
    link.checked_url()
}
