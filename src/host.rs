//! The one definition of "the host this request addressed", before any proxy header is
//! considered: HTTP/2's `:authority`, an absolute-form HTTP/1.1 target's authority, or the
//! `Host` header. Every reader of the host (the router's virtual-hosted buckets, the SigV4
//! `host` header, the links the API makes) gets it from here, by way of `forwarded::Origin`.

use http::{header, HeaderMap, Uri, Version};

/// Why a request's host cannot be told: answered with 400 before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHost {
    /// More than one `Host` line, or one holding a comma list (RFC 9112 §3.2).
    Repeated,
    /// A `Host` value that is not an authority (`host[:port]`).
    Unreadable,
    /// HTTP/2's `:authority` and a `Host` header that name different hosts.
    Conflict,
    /// An authority with user information (`user@host`), which names no host of ours.
    UserInfo,
    /// An HTTP/1.1 request with no Host line at all (RFC 9112 §3.2 requires one).
    Missing,
}

impl BadHost {
    pub fn message(self) -> &'static str {
        match self {
            BadHost::Repeated => "400 Bad Request: more than one Host\n",
            BadHost::Unreadable => "400 Bad Request: the Host header is not a host[:port]\n",
            BadHost::Conflict => "400 Bad Request: :authority and Host differ\n",
            BadHost::UserInfo => "400 Bad Request: the authority carries user information\n",
            BadHost::Missing => "400 Bad Request: an HTTP/1.1 request needs a Host header\n",
        }
    }
}

/// `host[:port]` as RFC 9112 §3.2 has it: an authority without user information, and a
/// port that is a number.
fn checked(v: &str) -> Result<&str, BadHost> {
    if plain(v) {
        return Ok(v);
    }
    parsed(v)
}

/// `checked`, by parsing `v` as an authority.
fn parsed(v: &str) -> Result<&str, BadHost> {
    let parsed = v
        .parse::<http::uri::Authority>()
        .map_err(|_| BadHost::Unreadable)?;
    if parsed.as_str().contains('@') {
        return Err(BadHost::UserInfo);
    }
    // The parser leaves the port unchecked.
    let port = v.get(parsed.host().len()..).unwrap_or("");
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok());
    if !port_ok {
        return Err(BadHost::Unreadable);
    }
    Ok(v)
}

/// Whether `v` is a name of letters, digits, dots and dashes with at most a numeric port:
/// what nearly every client sends, and an authority that `checked` would accept, told
/// without parsing (and copying) it.
fn plain(v: &str) -> bool {
    // One pass over the bytes: this runs on every request.
    let b = v.as_bytes();
    let name = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-'))
        .unwrap_or(b.len());
    if name == 0 {
        return false;
    }
    match v.get(name..) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok()),
        None => false,
    }
}

/// The host (and port) the client addressed, as it wrote it; `None` when it named none.
pub fn of<'a>(
    version: Version,
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> Result<Option<&'a str>, BadHost> {
    let mut lines = headers.get_all(header::HOST).iter();
    let line = lines.next();
    if lines.next().is_some() {
        return Err(BadHost::Repeated);
    }
    let host_header = match line {
        Some(v) => {
            let v = v.to_str().map_err(|_| BadHost::Unreadable)?.trim();
            if plain(v) {
                Some(v)
            } else if v.contains(',') {
                return Err(BadHost::Repeated);
            } else if v.is_empty() {
                None
            } else {
                Some(parsed(v)?)
            }
        }
        None => None,
    };
    let Some(authority) = uri.authority() else {
        // An empty `Host:` is allowed (a target without a host); no line at all is not.
        if version == Version::HTTP_11 && line.is_none() {
            return Err(BadHost::Missing);
        }
        return Ok(host_header);
    };
    let authority = checked(authority.as_str())?;
    if version == Version::HTTP_2 && host_header.is_some_and(|h| !h.eq_ignore_ascii_case(authority))
    {
        return Err(BadHost::Conflict);
    }
    // HTTP/2's `:authority`, or an absolute-form HTTP/1.1 target, whose authority is the
    // host and whose Host header is ignored (RFC 9112 §3.2.2).
    Ok(Some(authority).filter(|a| !a.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_plain_host_is_one_the_authority_parser_accepts(v in "[a-zA-Z0-9.:@+\\[\\]_-]{0,12}") {
            if plain(&v) {
                prop_assert_eq!(parsed(&v), Ok(v.as_str()));
            }
        }
    }

    fn host(version: Version, uri: &str, hosts: &[&str]) -> Result<Option<String>, BadHost> {
        let uri: Uri = uri.parse().unwrap();
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(header::HOST, v.parse().unwrap());
        }
        of(version, &uri, &h).map(|o| o.map(str::to_string))
    }

    #[test]
    fn an_origin_form_request_is_for_its_host_header() {
        assert_eq!(
            host(Version::HTTP_11, "/b/k", &["b.s3.example:80"]),
            Ok(Some("b.s3.example:80".into()))
        );
        assert_eq!(host(Version::HTTP_11, "/b/k", &[""]), Ok(None));
        // HTTP/1.0 had no Host requirement.
        assert_eq!(host(Version::HTTP_10, "/b/k", &[]), Ok(None));
    }

    #[test]
    fn an_http11_request_without_a_host_line_is_refused() {
        assert_eq!(host(Version::HTTP_11, "/b/k", &[]), Err(BadHost::Missing));
        assert_eq!(
            host(Version::HTTP_11, "http://a.example/k", &[]),
            Ok(Some("a.example".into()))
        );
    }

    #[test]
    fn two_hosts_or_a_host_list_are_refused() {
        assert_eq!(
            host(Version::HTTP_11, "/b/k", &["a.example", "b.example"]),
            Err(BadHost::Repeated)
        );
        assert_eq!(
            host(Version::HTTP_11, "/b/k", &["a.example, b.example"]),
            Err(BadHost::Repeated)
        );
        assert_eq!(
            host(
                Version::HTTP_11,
                "http://a.example/b/k",
                &["a.example", "a.example"]
            ),
            Err(BadHost::Repeated)
        );
    }

    #[test]
    fn a_host_that_is_no_authority_is_refused() {
        for bad in [
            "a b.example",
            "a.example/x",
            "a.example:port",
            "u@a.example",
        ] {
            assert!(host(Version::HTTP_11, "/b/k", &[bad]).is_err(), "{bad}");
        }
        for good in ["a.example", "[::1]:8080", "127.0.0.1:80", "A-b.Example"] {
            assert_eq!(
                host(Version::HTTP_11, "/b/k", &[good]),
                Ok(Some(good.into()))
            );
        }
    }

    #[test]
    fn an_absolute_form_target_names_the_host_and_host_is_ignored() {
        assert_eq!(
            host(
                Version::HTTP_11,
                "http://b.s3.example/k",
                &["other.example"]
            ),
            Ok(Some("b.s3.example".into()))
        );
        assert_eq!(
            host(Version::HTTP_11, "http://u:pw@a.example/k", &[]),
            Err(BadHost::UserInfo)
        );
    }

    #[test]
    fn http2_uses_authority_and_refuses_a_different_host() {
        assert_eq!(
            host(Version::HTTP_2, "https://a.example:8443/k", &[]),
            Ok(Some("a.example:8443".into()))
        );
        assert_eq!(
            host(
                Version::HTTP_2,
                "https://a.example:8443/k",
                &["A.example:8443"]
            ),
            Ok(Some("a.example:8443".into()))
        );
        assert_eq!(
            host(Version::HTTP_2, "https://a.example/k", &["b.example"]),
            Err(BadHost::Conflict)
        );
        // An h2 request without `:authority` falls back to its Host header.
        assert_eq!(
            host(Version::HTTP_2, "/k", &["a.example"]),
            Ok(Some("a.example".into()))
        );
    }
}
