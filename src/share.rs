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
            self.expires,
            scope,
            self.ip_range,
        );
        let expires = if self.iso8601 {
            format_iso8601(self.expires)
        } else {
            self.expires.to_string()
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
