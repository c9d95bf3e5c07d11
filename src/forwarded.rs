//! Who is asking, and under which public address: from the socket, or from `X-Forwarded-*` /
//! `Forwarded` when (and only when) the peer is a trusted proxy.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::header::AsHeaderName;
use http::HeaderMap;
use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    pub client_ip: IpAddr,
    pub scheme: &'static str,
    /// The host (and port) the client addressed, as it wrote it.
    /// Borrowed from the request unless a proxy's headers had to be combined.
    pub host: Option<Cow<'a, str>>,
    /// The path prefix a proxy removed before passing the request on (`X-Forwarded-Prefix`).
    pub prefix: String,
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn trusted(list: &[IpNet], ip: IpAddr) -> bool {
    list.iter().any(|n| n.contains(&ip))
}

fn header(h: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Parses one `for=` node of `Forwarded`: `1.2.3.4`, `"[::1]:80"`, `1.2.3.4:5`.
fn node_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

impl<'a> Origin<'a> {
    /// `host` is the request's own host (see `crate::host::of`); a trusted proxy's
    /// forwarded host takes its place.
    pub fn from_request(
        trusted_proxies: &[IpNet],
        peer: SocketAddr,
        host: Option<&'a str>,
        headers: &'a HeaderMap,
    ) -> Origin<'a> {
        let peer_ip = canonical(peer.ip());
        let host = host.map(Cow::Borrowed);
        let direct = Origin {
            client_ip: peer_ip,
            scheme: "http",
            host,
            prefix: String::new(),
        };
        if !trusted(trusted_proxies, peer_ip) {
            return direct;
        }

        // The client is the rightmost address that is not one of our proxies.
        let mut hops: Vec<IpAddr> = Vec::new();
        let mut fwd_proto = None;
        let mut fwd_host = None;
        if let Some(f) = header(headers, "forwarded") {
            for element in f.split(',') {
                for pair in element.split(';') {
                    let Some((k, v)) = pair.split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"');
                    match k.trim().to_ascii_lowercase().as_str() {
                        "for" => hops.extend(node_ip(v)),
                        "proto" => fwd_proto = Some(v.to_ascii_lowercase()),
                        "host" => fwd_host = Some(Cow::Borrowed(v)),
                        _ => {}
                    }
                }
            }
        } else if let Some(xff) = header(headers, "x-forwarded-for") {
            hops.extend(xff.split(',').filter_map(node_ip));
        }
        let client_ip = hops
            .iter()
            .rev()
            .map(|ip| canonical(*ip))
            .find(|ip| !trusted(trusted_proxies, *ip))
            .or_else(|| hops.first().copied().map(canonical))
            .unwrap_or(peer_ip);

        let proto = fwd_proto
            .or_else(|| header(headers, "x-forwarded-proto").map(|p| p.to_ascii_lowercase()));
        let scheme = match proto
            .as_deref()
            .map(|p| p.split(',').next().unwrap_or("").trim())
        {
            Some("https") => "https",
            _ => "http",
        };
        let mut host = fwd_host
            .or_else(|| {
                header(headers, "x-forwarded-host")
                    .map(|h| Cow::Borrowed(h.split(',').next().unwrap_or("").trim()))
            })
            .or(direct.host);
        if let (Some(h), Some(port)) = (&host, header(headers, "x-forwarded-port")) {
            let default =
                (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
            if !h.contains(':') && !default && port.bytes().all(|b| b.is_ascii_digit()) {
                host = Some(Cow::Owned(format!("{h}:{port}")));
            }
        }
        let prefix = header(headers, "x-forwarded-prefix")
            .map(|p| format!("/{}", p.trim_matches('/')))
            .filter(|p| p != "/")
            .unwrap_or_default();
        Origin {
            client_ip,
            scheme,
            host,
            prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("host", "a.example"),
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let o = Origin::from_request(&[], "10.0.0.1:5000".parse().unwrap(), Some("a.example"), &h);
        assert_eq!(o.client_ip.to_string(), "10.0.0.1");
        assert_eq!(o.scheme, "http");
        assert_eq!(o.host.as_deref(), Some("a.example"));
    }

    #[test]
    fn a_trusted_proxy_supplies_client_scheme_host_and_prefix() {
        let h = headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2, 127.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "share.example.com"),
            ("x-forwarded-prefix", "/files/"),
        ]);
        let o = Origin::from_request(
            &nets(&["127.0.0.0/8"]),
            "127.0.0.1:5000".parse().unwrap(),
            Some("internal:8080"),
            &h,
        );
        assert_eq!(o.client_ip.to_string(), "2.2.2.2");
        assert_eq!(o.scheme, "https");
        assert_eq!(o.host.as_deref(), Some("share.example.com"));
        assert_eq!(o.prefix, "/files");
    }

    #[test]
    fn the_standard_forwarded_header_is_understood() {
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8::1]:4711\";proto=https;host=s.example",
        )]);
        let o = Origin::from_request(&nets(&["::1/128"]), "[::1]:5000".parse().unwrap(), None, &h);
        assert_eq!(o.client_ip.to_string(), "2001:db8::1");
        assert_eq!(o.scheme, "https");
        assert_eq!(o.host.as_deref(), Some("s.example"));
    }
}
