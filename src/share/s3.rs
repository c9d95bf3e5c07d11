//! Making S3 presigned GET URLs (SigV4 or V2). The signatures come from `auth::sigv4::Presign`
//! and `auth::sigv2::Presign`, which share the verifiers' canonicalisation.

use crate::auth::{s3, sigv2, sigv4, Denied};
use crate::query::Query;

/// Where the bucket goes in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `https://host/<bucket>/<key>`
    Path,
    /// `https://<bucket>.host/<key>`
    Virtual,
}

impl Style {
    pub const ALL: [Style; 2] = [Style::Path, Style::Virtual];

    pub fn name(self) -> &'static str {
        match self {
            Style::Path => "path",
            Style::Virtual => "virtual",
        }
    }
}

impl std::str::FromStr for Style {
    type Err = crate::keys::UnknownName;
    fn from_str(s: &str) -> Result<Style, crate::keys::UnknownName> {
        Style::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or(crate::keys::UnknownName)
    }
}

/// Everything an S3 presigned URL is made of.
#[derive(Debug, Clone)]
pub struct S3Link<'a> {
    /// `scheme://host[:port][/prefix]`: where clients reach the gateway.
    pub endpoint: &'a str,
    pub bucket: &'a str,
    /// The object key, decoded.
    pub key: &'a str,
    pub access_key: &'a str,
    pub secret: &'a str,
    /// Signing region (SigV4 only).
    pub region: &'a str,
    /// Unix seconds the link is made at.
    pub now: u64,
    /// Lifetime in seconds.
    pub expires: u64,
    pub style: Style,
    /// Sign with V2 (`AWSAccessKeyId`/`Expires`/`Signature`) instead of SigV4.
    pub v2: bool,
    /// `response-*` parameters and their decoded values, signed into the link.
    pub overrides: &'a [(&'a str, &'a str)],
}

impl S3Link<'_> {
    pub fn url(&self) -> Result<String, String> {
        let (scheme, rest) = self.endpoint.split_once("://").ok_or_else(|| {
            format!(
                "endpoint {:?} must start with http:// or https://",
                self.endpoint
            )
        })?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(format!("endpoint {:?} has no host", self.endpoint));
        }
        if self.bucket.is_empty() || self.bucket.contains('/') || self.key.is_empty() {
            return Err(
                "the bucket must be one non-empty path segment and the key non-empty".into(),
            );
        }
        let (host, path) = match self.style {
            Style::Path => (
                host.to_string(),
                format!("{prefix}/{}/{}", self.bucket, self.key),
            ),
            Style::Virtual => (
                format!("{}.{host}", self.bucket),
                format!("{prefix}/{}", self.key),
            ),
        };
        let path_and_query = if self.v2 {
            sigv2::Presign {
                path: &path,
                virtual_bucket: (self.style == Style::Virtual).then_some(self.bucket),
                access_key: self.access_key,
                secret: self.secret,
                expires: self.now.saturating_add(self.expires),
                params: self.overrides,
            }
            .path_and_query()
        } else {
            if !(1..=crate::auth::MAX_S3_LIFETIME).contains(&self.expires) {
                return Err(format!(
                    "a SigV4 link lives 1 to {} seconds",
                    crate::auth::MAX_S3_LIFETIME
                ));
            }
            sigv4::Presign {
                host: &host,
                path: &path,
                access_key: self.access_key,
                secret: self.secret,
                region: self.region,
                now: self.now,
                expires: self.expires,
                params: self.overrides,
            }
            .path_and_query()
        };
        Ok(format!("{scheme}://{host}{path_and_query}"))
    }

    /// `url()`, refused when the server would refuse the link's `response-*` overrides (a
    /// non-ASCII value, a type that is not one media type), by the server's own reader.
    pub fn checked_url(&self) -> Result<String, String> {
        let url = self.url()?;
        let query = url.split_once('?').map_or("", |(_, q)| q);
        match s3::overrides(&Query::new(query)) {
            Ok(_) => Ok(url),
            Err(Denied::S3(e)) => {
                let name = e.details.iter().find(|(n, _)| *n == "ArgumentName");
                Err(format!(
                    "--{}: {}",
                    name.map_or("response-*", |(_, v)| v.as_str()),
                    e.message
                ))
            }
            Err(Denied::Swift(_)) => Err("the overrides are refused".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> S3Link<'static> {
        S3Link {
            endpoint: "https://s3.amazonaws.com",
            bucket: "examplebucket",
            key: "test.txt",
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            now: 1_369_353_600,
            expires: 86_400,
            style: Style::Virtual,
            v2: false,
            overrides: &[],
        }
    }

    #[test]
    fn a_checked_url_refuses_overrides_the_server_would_refuse() {
        let mut l = example();
        l.overrides = &[("response-content-type", "text/plain,text/html")];
        assert!(l.url().is_ok());
        let e = l.checked_url().unwrap_err();
        assert!(e.starts_with("--response-content-type: "), "{e}");
        l.overrides = &[("response-content-disposition", "inline; filename=\"é\"")];
        assert!(l.checked_url().is_err());
        l.overrides = &[("response-content-type", "text/plain; charset=utf-8")];
        assert_eq!(l.checked_url(), l.url());
    }

    /// The presigned URL of AWS's SigV4 query-auth documentation, byte for byte.
    #[test]
    fn the_aws_documentation_example_url() {
        assert_eq!(
            example().url().unwrap(),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn path_style_keeps_the_endpoint_prefix_and_port() {
        let mut l = example();
        l.style = Style::Path;
        l.endpoint = "http://127.0.0.1:8080/files/";
        let url = l.url().unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:8080/files/examplebucket/test.txt?X-Amz-Algorithm="),
            "{url}"
        );
    }

    #[test]
    fn v2_links_carry_an_absolute_expiry() {
        let mut l = example();
        l.v2 = true;
        l.style = Style::Path;
        l.endpoint = "https://s3.example.com";
        assert_eq!(
            l.url().unwrap(),
            "https://s3.example.com/examplebucket/test.txt?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1369440000&Signature=9yqNWMOTdBFkNuezE9j%2BGyrt4Z8%3D"
        );
    }

    #[test]
    fn bad_endpoints_and_lifetimes_are_refused() {
        let mut l = example();
        l.endpoint = "s3.amazonaws.com";
        assert!(l.url().is_err());
        let mut l = example();
        l.expires = 604_801;
        assert!(l.url().is_err());
    }
}
