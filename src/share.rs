//! Making links. Every signature here comes from the same canonicalisation the verifiers
//! use (`auth::swift::sign`), so a link we make is a link we accept.

pub mod s3;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::auth::swift::{self, Digest, Scope};
use crate::expiry::format_iso8601;

/// Path characters sent as they are: RFC 3986 unreserved, and `/` between segments.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Query values: unreserved only.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

pub fn encode_value(v: &str) -> String {
    utf8_percent_encode(v, VALUE).to_string()
}

/// Everything a Swift Temporary URL is made of.
#[derive(Debug, Clone)]
pub struct SwiftLink<'a> {
    /// Scheme, host, port and any path prefix, without a trailing `/`; empty for a bare path.
    pub base_url: &'a str,
    /// The decoded path: `/v1/AUTH_p/c/o` (or `/v1/AUTH_p/c/PREFIX` with `prefix`).
    pub path: &'a str,
    pub key: &'a str,
    pub method: &'a str,
    pub expires: u64,
    pub digest: Digest,
    pub ip_range: Option<&'a str>,
    /// Sign for every object under `path` instead of one object.
    pub prefix: bool,
    /// Write the expiry as ISO 8601 rather than unix seconds (the signature is the same).
    pub iso8601: bool,
    pub inline: bool,
    pub filename: Option<&'a str>,
}

impl SwiftLink<'_> {
    pub fn url(&self) -> String {
        // ISO 8601 cannot write a time past 9999: such a link expires at the last second it
        // can write, and is signed for that, so that what it says is what it means.
        let signed_expires = if self.iso8601 {
            self.expires.min(crate::clock::LAST_HTTP_DATE)
        } else {
            self.expires
        };
        let (scope, prefix_value) = if self.prefix {
            // The prefix is the part of the path after /v1/ACCOUNT/CONTAINER/.
            let prefix = self.path.splitn(5, '/').nth(4).unwrap_or("");
            (Scope::Prefix(self.path), Some(prefix))
        } else {
            (Scope::Object(self.path), None)
        };
        let sig = swift::sign(
            self.digest,
            self.key,
            self.method,
            signed_expires,
            scope,
            self.ip_range,
        );
        let expires = if self.iso8601 {
            format_iso8601(signed_expires)
        } else {
            signed_expires.to_string()
        };
        let mut url = format!(
            "{}{}?temp_url_sig={sig}&temp_url_expires={}",
            self.base_url,
            encode_path(self.path),
            encode_value(&expires)
        );
        if let Some(p) = prefix_value {
            url.push_str("&temp_url_prefix=");
            url.push_str(&encode_value(p));
        }
        if let Some(ip) = self.ip_range {
            url.push_str("&temp_url_ip_range=");
            url.push_str(&encode_value(ip));
        }
        if self.inline {
            url.push_str("&inline");
        }
        if let Some(f) = self.filename {
            url.push_str("&filename=");
            url.push_str(&encode_value(f));
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(path: &str) -> SwiftLink<'_> {
        SwiftLink {
            base_url: "https://h",
            path,
            key: "k",
            method: "GET",
            expires: 1_700_000_000,
            digest: Digest::Sha256,
            ip_range: None,
            prefix: false,
            iso8601: false,
            inline: false,
            filename: None,
        }
    }

    #[test]
    fn paths_and_values_are_encoded_once() {
        let mut l = link("/v1/AUTH_p/c/Báo cáo+&#?.pdf");
        l.filename = Some("a b&c.pdf");
        l.inline = true;
        let url = l.url();
        assert!(
            url.starts_with(
                "https://h/v1/AUTH_p/c/B%C3%A1o%20c%C3%A1o%2B%26%23%3F.pdf?temp_url_sig="
            ),
            "{url}"
        );
        assert!(
            url.ends_with("&temp_url_expires=1700000000&inline&filename=a%20b%26c.pdf"),
            "{url}"
        );
    }

    #[test]
    fn prefix_links_carry_the_prefix_after_the_container() {
        let mut l = link("/v1/AUTH_p/c/dir/sub/");
        l.prefix = true;
        l.iso8601 = true;
        assert!(l
            .url()
            .ends_with("&temp_url_expires=2023-11-14T22%3A13%3A20Z&temp_url_prefix=dir%2Fsub%2F"));
    }
}

/// Which kind of link to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Swift,
    S3,
}

/// View (shown in the browser) or download (saved as a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    View,
    Download,
}

/// A link to make with the config's keys: what `keyhole share`, the API and the share page ask.
#[derive(Debug, Clone)]
pub struct ShareSpec<'a> {
    pub project: &'a str,
    pub container: &'a str,
    /// The object, or with `prefix` the prefix every shared object starts with.
    pub object: &'a str,
    pub protocol: Protocol,
    pub mode: Mode,
    /// Seconds from now.
    pub lifetime: u64,
    /// S3: which of the project's access keys signs (default: its first).
    pub access_key: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub ip_range: Option<&'a str>,
    pub prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareError {
    UnknownProject(String),
    /// Not a container of the project (see `Project::has_container`).
    UnknownContainer(String),
    /// The request is not something a link can be made for; the text says why.
    Invalid(String),
}

impl std::fmt::Display for ShareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShareError::UnknownProject(p) => write!(f, "no project {p:?} is configured"),
            ShareError::UnknownContainer(c) => write!(
                f,
                "no container {c:?} is configured for the project (any_container is false)"
            ),
            ShareError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Checks that a link of `protocol` made at `now` may live `lifetime` seconds, and returns
/// its expiry. The protocol's own cap (SigV4: 7 days; Swift has none) and `max_link_lifetime`
/// apply, and every link must end by 9999-12-31T23:59:59Z: past it, no HTTP-date, ISO 8601
/// or AWS date can say when the link ends. The error completes "the lifetime …".
pub fn check_lifetime(
    cfg: &crate::config::Config,
    protocol: Protocol,
    lifetime: u64,
    now: u64,
) -> Result<u64, String> {
    let own = match protocol {
        Protocol::S3 => Some((crate::auth::MAX_S3_LIFETIME, "S3's limit")),
        Protocol::Swift => None,
    };
    let configured = cfg.max_link_lifetime.map(|m| (m, "max_link_lifetime"));
    let cap = match (own, configured) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    };
    if lifetime == 0 {
        return Err("must be at least 1 second".into());
    }
    if let Some((max, why)) = cap.filter(|(max, _)| lifetime > *max) {
        return Err(format!("must be at most {max} seconds ({why})"));
    }
    match now.checked_add(lifetime) {
        Some(expires) if expires <= crate::clock::LAST_HTTP_DATE => Ok(expires),
        _ => Err(format!(
            "must end by {} (at most {} seconds from now)",
            format_iso8601(crate::clock::LAST_HTTP_DATE),
            crate::clock::LAST_HTTP_DATE.saturating_sub(now)
        )),
    }
}

/// Makes one link with the config's keys, under `base_url` (scheme, host, port, path prefix).
pub fn make_link(
    cfg: &crate::config::Config,
    spec: &ShareSpec<'_>,
    base_url: &str,
    now: u64,
) -> Result<String, ShareError> {
    let project = cfg
        .project(spec.project)
        .ok_or_else(|| ShareError::UnknownProject(spec.project.to_string()))?;
    // A link to a folder that is no container would only ever answer 404.
    if !project.has_container(spec.container) {
        return Err(ShareError::UnknownContainer(spec.container.to_string()));
    }
    // A prefix may be empty or end in '/': it is valid when an object under it could be.
    let valid = if spec.prefix {
        crate::backend::valid_object_name(&format!("{}x", spec.object))
    } else {
        crate::backend::valid_object_name(spec.object)
    };
    if !valid {
        return Err(ShareError::Invalid(format!(
            "{:?} is not a valid object name",
            spec.object
        )));
    }
    let expires = check_lifetime(cfg, spec.protocol, spec.lifetime, now)
        .map_err(|why| ShareError::Invalid(format!("the lifetime {why}")))?;
    match spec.protocol {
        Protocol::Swift => {
            if spec.access_key.is_some() {
                return Err(ShareError::Invalid(
                    "an access key is only for S3 links".into(),
                ));
            }
            // Prefer the account key; a container key also signs for its container.
            let key = project
                .temp_url_keys
                .first()
                .or_else(|| {
                    project
                        .container(spec.container)
                        .and_then(|c| c.temp_url_keys.first())
                })
                .ok_or_else(|| {
                    ShareError::Invalid(format!(
                        "project {:?} has no Temp-URL key for container {:?}",
                        project.id, spec.container
                    ))
                })?;
            let path = format!(
                "/v1/{}{}/{}/{}",
                cfg.swift.reseller_prefix, project.id, spec.container, spec.object
            );
            Ok(SwiftLink {
                base_url,
                path: &path,
                key: key.expose(),
                method: "GET",
                expires,
                digest: Digest::Sha256,
                ip_range: spec.ip_range,
                prefix: spec.prefix,
                iso8601: false,
                inline: spec.mode == Mode::View,
                filename: spec.filename,
            }
            .url())
        }
        Protocol::S3 => {
            if spec.prefix || spec.ip_range.is_some() {
                return Err(ShareError::Invalid(
                    "prefix and IP-range links are Swift-only".into(),
                ));
            }
            let key = match spec.access_key {
                Some(ak) => project.s3_keys.iter().find(|k| k.access_key == ak),
                None => project.s3_keys.first(),
            }
            .ok_or_else(|| {
                ShareError::Invalid(format!(
                    "project {:?} has no such S3 access key",
                    project.id
                ))
            })?;
            s3_link(cfg, key, spec, base_url, now)
        }
    }
}

/// An S3 SigV4 presigned GET, path style (virtual-hosted when `[s3] domain` is set and
/// the base URL's host is that domain). Download links sign a `response-content-disposition`
/// of `attachment`, so the object saves under its name; view links need no override.
fn s3_link(
    cfg: &crate::config::Config,
    key: &crate::config::S3Key,
    spec: &ShareSpec<'_>,
    base_url: &str,
    now: u64,
) -> Result<String, ShareError> {
    let name = spec
        .filename
        .unwrap_or_else(|| crate::delivery::disposition::default_filename(spec.object));
    let disposition;
    let mut overrides: Vec<(&str, &str)> = Vec::new();
    if spec.mode == Mode::Download || spec.filename.is_some() {
        disposition =
            crate::delivery::disposition::content_disposition(spec.mode == Mode::View, name);
        let value = disposition
            .to_str()
            .map_err(|_| ShareError::Invalid("bad file name".into()))?;
        overrides.push(("response-content-disposition", value));
    }
    let (endpoint, style) = match &cfg.s3.domain {
        Some(domain) if host_of(base_url).is_some_and(|h| h.eq_ignore_ascii_case(domain)) => {
            (base_url, s3::Style::Virtual)
        }
        _ => (base_url, s3::Style::Path),
    };
    s3::S3Link {
        endpoint,
        bucket: spec.container,
        key: spec.object,
        access_key: &key.access_key,
        secret: key.secret_key.expose(),
        region: cfg.s3.regions.first().map_or("us-east-1", String::as_str),
        now,
        expires: spec.lifetime,
        style,
        v2: false,
        overrides: &overrides,
    }
    .checked_url()
    .map_err(ShareError::Invalid)
}

/// The host of `scheme://host[:port]/...`, without the port.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h))
}
