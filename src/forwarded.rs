//! Who is asking, and under which host and scheme: from the socket, or from one family of
//! forwarded headers when (and only when) the peer is a trusted proxy.
//!
//! SECURITY: a proxy passes on untouched every header it does not set itself, so whatever it
//! did not write is the client's. Hence: only the configured family is read; every line of a
//! header counts (a proxy may append its own line after the client's); lists are read from
//! the right, where the nearest proxy wrote; and nothing here can move the path.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// Which forwarded headers the trusted proxies set (`[proxy] headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// `X-Forwarded-For`, `-Proto`, `-Host`, `-Port`.
    #[default]
    XForwarded,
    /// RFC 7239 `Forwarded`.
    Forwarded,
}

impl Family {
    pub fn parse(name: &str) -> Option<Family> {
        match name {
            "x-forwarded" => Some(Family::XForwarded),
            "forwarded" => Some(Family::Forwarded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    pub client_ip: IpAddr,
    pub scheme: &'static str,
    /// The host (and port) the client addressed, as it wrote it.
    /// Borrowed from the request unless a proxy's headers had to be combined.
    pub host: Option<Cow<'a, str>>,
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

/// Splits `s` at every `sep` that is not inside a quoted string (RFC 9110 section 5.6.4);
/// `None` when a quote is left open. SECURITY: a proxy that appends to the client's line
/// (`..., for=1.2.3.4`) would otherwise have its element swallowed into a string the client
/// opened, leaving the client's own `for=` as the last one read.
fn split_unquoted(s: &str, sep: u8) -> Option<Vec<&str>> {
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    let mut cuts = Vec::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                cuts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&s[start..]);
    (!quoted && !escaped).then_some(cuts)
}

/// Every element of a comma-list header, over all its lines, left to right; empty elements
/// dropped as RFC 9110 section 5.6.1 asks. `None` stands for what cannot be read (a line
/// that is not text, or with a quote left open), so it cannot be skipped over. The
/// `X-Forwarded-*` lists have no quoted strings: a quote there is just a byte.
fn elements<'h>(h: &'h HeaderMap, name: &str, quoting: bool) -> Vec<Option<&'h str>> {
    let mut out = Vec::new();
    for line in h.get_all(name) {
        let parts = line.to_str().ok().and_then(|text| match quoting {
            true => split_unquoted(text, b','),
            false => Some(text.split(',').collect()),
        });
        match parts {
            Some(parts) => out.extend(
                parts
                    .into_iter()
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(Some),
            ),
            None => out.push(None),
        }
    }
    out
}

/// Parses one node: `1.2.3.4`, `1.2.3.4:5`, `::1`, `[::1]`, `[::1]:80`, quoted or not.
fn node_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s);
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|ip| ip.parse().ok())
}

/// The client when the chain does not say who it is: a hop could not be read. No socket
/// has this address, and `Grant::admits` refuses it to every address-bound link.
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// The client from a chain of hops, oldest first. Walked from the right past trusted
/// proxies: the first address that is not trusted is the client; a chain of trusted
/// addresses only gives its leftmost. A hop that cannot be read ends the walk with
/// `UNKNOWN_CLIENT`: the hop to its left may be the client's own, and the trusted one to
/// its right is not the client either (a range that covers the proxy must not open).
fn client_from_chain(list: &[IpNet], peer: IpAddr, hops: &[Option<IpAddr>]) -> IpAddr {
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match hop.map(canonical) {
            Some(ip) if trusted(list, ip) => nearest = ip,
            Some(ip) => return ip,
            None => return UNKNOWN_CLIENT,
        }
    }
    nearest
}

/// `name=value` pairs of one `Forwarded` element, names lowercased, quotes removed.
fn forwarded_pairs(element: &str) -> impl Iterator<Item = (String, &str)> {
    // An element came out of a balanced split, so its own split cannot fail.
    let pairs = split_unquoted(element, b';').unwrap_or_default();
    pairs.into_iter().filter_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(v);
        Some((k.trim().to_ascii_lowercase(), v))
    })
}

/// A host as a client may write it in a URL authority: a name or address and a port.
/// Anything else (spaces, `/`, `@`, quotes) is not believed.
fn plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// Whether `host` already names a port (`a:80`, `[::1]:80`, not `[::1]`).
fn has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((h, _)) => !host.ends_with(']') && (h.starts_with('[') || !h.contains(':')),
        None => false,
    }
}

/// What one trusted proxy said: the chain of hops and, from the nearest proxy, the
/// scheme and host.
struct Said<'h> {
    hops: Vec<Option<IpAddr>>,
    proto: Option<&'h str>,
    host: Option<Cow<'h, str>>,
}

fn x_forwarded(h: &HeaderMap) -> Said<'_> {
    let hops = elements(h, "x-forwarded-for", false)
        .into_iter()
        .map(|e| e.and_then(node_ip))
        .collect();
    // The nearest proxy's value is the rightmost; one the client sent sits to its left.
    let last = |name| elements(h, name, false).last().copied().flatten();
    let proto = last("x-forwarded-proto");
    let mut host = last("x-forwarded-host")
        .filter(|h| plausible_host(h))
        .map(Cow::Borrowed);
    if let (Some(hh), Some(port)) = (&host, last("x-forwarded-port")) {
        let https = proto.is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let default = (https && port == "443") || (!https && port == "80");
        if !has_port(hh) && !default && port.parse::<u16>().is_ok() {
            host = Some(Cow::Owned(format!("{hh}:{port}")));
        }
    }
    Said { hops, proto, host }
}

fn forwarded(h: &HeaderMap) -> Said<'_> {
    let elements = elements(h, "forwarded", true);
    let mut hops = Vec::with_capacity(elements.len());
    for e in elements.iter().copied() {
        // An element without exactly one `for` names no hop we can read.
        hops.push(e.and_then(|e| {
            let mut fors = forwarded_pairs(e).filter(|(k, _)| k == "for");
            match (fors.next(), fors.next()) {
                (Some((_, v)), None) => node_ip(v),
                _ => None,
            }
        }));
    }
    // Scheme and host only from the element the nearest proxy wrote.
    let (mut proto, mut host) = (None, None);
    let nearest = elements.last().copied().flatten();
    for (k, v) in nearest.into_iter().flat_map(forwarded_pairs) {
        match k.as_str() {
            "proto" => proto = Some(v),
            "host" if plausible_host(v) => host = Some(Cow::Borrowed(v)),
            _ => {}
        }
    }
    Said { hops, proto, host }
}

impl<'a> Origin<'a> {
    /// `host` is the request's own host (see `crate::host::of`); a trusted proxy's
    /// forwarded host takes its place.
    pub fn from_request(
        trusted_proxies: &[IpNet],
        family: Family,
        peer: SocketAddr,
        host: Option<&'a str>,
        headers: &'a HeaderMap,
    ) -> Origin<'a> {
        Origin::on_connection(trusted_proxies, family, peer, host, headers, "http")
    }

    /// As `from_request`, for a connection that speaks `scheme` (`https` over Keyhole's own
    /// TLS): the scheme of a client that no trusted proxy speaks for.
    pub fn on_connection(
        trusted_proxies: &[IpNet],
        family: Family,
        peer: SocketAddr,
        host: Option<&'a str>,
        headers: &'a HeaderMap,
        scheme: &'static str,
    ) -> Origin<'a> {
        let peer_ip = canonical(peer.ip());
        let host = host.map(Cow::Borrowed);
        if !trusted(trusted_proxies, peer_ip) {
            return Origin {
                client_ip: peer_ip,
                scheme,
                host,
            };
        }
        let said = match family {
            Family::XForwarded => x_forwarded(headers),
            Family::Forwarded => forwarded(headers),
        };
        let scheme = match said.proto {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        Origin {
            client_ip: client_from_chain(trusted_proxies, peer_ip, &said.hops),
            scheme,
            host: said.host.or(host),
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

    fn local(family: Family, pairs: &[(&str, &str)]) -> Origin<'static> {
        let h = Box::leak(Box::new(headers(pairs)));
        Origin::from_request(
            &nets(&["127.0.0.0/8", "10.0.0.0/8"]),
            family,
            "127.0.0.1:5000".parse().unwrap(),
            host_of(h),
            h,
        )
    }

    fn host_of(h: &HeaderMap) -> Option<&str> {
        h.get("host").and_then(|v| v.to_str().ok())
    }

    fn client(family: Family, pairs: &[(&str, &str)]) -> String {
        local(family, pairs).client_ip.to_string()
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("host", "a.example"),
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=9.9.9.9;proto=https;host=b.example"),
        ]);
        for family in [Family::XForwarded, Family::Forwarded] {
            let o = Origin::from_request(
                &[],
                family,
                "10.0.0.1:5000".parse().unwrap(),
                host_of(&h),
                &h,
            );
            assert_eq!(o.client_ip.to_string(), "10.0.0.1");
            assert_eq!(o.scheme, "http");
            assert_eq!(o.host.as_deref(), Some("a.example"));
        }
    }

    #[test]
    fn a_trusted_proxy_supplies_client_scheme_and_host() {
        let o = local(
            Family::XForwarded,
            &[
                ("host", "internal:8080"),
                ("x-forwarded-for", "1.1.1.1, 2.2.2.2, 127.0.0.1"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "share.example.com"),
            ],
        );
        assert_eq!(o.client_ip.to_string(), "2.2.2.2");
        assert_eq!(o.scheme, "https");
        assert_eq!(o.host.as_deref(), Some("share.example.com"));
    }

    #[test]
    fn only_the_configured_family_is_read() {
        let both = [
            ("forwarded", "for=9.9.9.9;proto=https;host=evil.example"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-host", "good.example"),
        ];
        let o = local(Family::XForwarded, &both);
        assert_eq!(o.client_ip.to_string(), "2.2.2.2");
        assert_eq!(
            (o.scheme, o.host.as_deref()),
            ("http", Some("good.example"))
        );
        let o = local(Family::Forwarded, &both);
        assert_eq!(o.client_ip.to_string(), "9.9.9.9");
        assert_eq!(
            (o.scheme, o.host.as_deref()),
            ("https", Some("evil.example"))
        );
        // Without its own family's headers, the peer is the client.
        assert_eq!(
            client(Family::Forwarded, &[("x-forwarded-for", "2.2.2.2")]),
            "127.0.0.1"
        );
    }

    #[test]
    fn every_line_of_the_header_is_walked_from_the_right() {
        // The client's own line first, then the one its proxy appended (HAProxy).
        let lines = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "3.3.3.3"),
        ];
        assert_eq!(client(Family::XForwarded, &lines), "3.3.3.3");
        let lines = [
            ("forwarded", "for=6.6.6.6"),
            ("forwarded", "for=3.3.3.3, for=10.1.1.1"),
        ];
        assert_eq!(client(Family::Forwarded, &lines), "3.3.3.3");
    }

    #[test]
    fn a_chain_of_trusted_addresses_gives_the_leftmost() {
        let h = [
            ("x-forwarded-for", "10.0.0.7, 10.0.0.8"),
            ("x-forwarded-for", "127.0.0.2"),
        ];
        assert_eq!(client(Family::XForwarded, &h), "10.0.0.7");
        assert_eq!(client(Family::XForwarded, &[]), "127.0.0.1");
    }

    #[test]
    fn an_unreadable_hop_leaves_the_client_unknown() {
        // Whatever sits left of a hop we cannot read was written by that hop, and the
        // trusted proxy right of it is not the client.
        for chain in [
            "6.6.6.6, unknown",
            "6.6.6.6, 10.0.0.9, _hidden",
            "6.6.6.6, 1.2.3.4.5",
            "6.6.6.6, junk, 10.0.0.9",
            "\"6.6.6.6, 7.7.7.7\"",
        ] {
            let c = client(Family::XForwarded, &[("x-forwarded-for", chain)]);
            assert_eq!(c, UNKNOWN_CLIENT.to_string(), "{chain}");
        }
        for chain in [
            "for=6.6.6.6, for=unknown",
            "for=6.6.6.6, proto=https",
            "for=6.6.6.6, for=7.7.7.7;for=8.8.8.8",
            // A quoted comma cannot split one element into two.
            "for=\"6.6.6.6, for=7.7.7.7\"",
        ] {
            assert_eq!(
                client(Family::Forwarded, &[("forwarded", chain)]),
                UNKNOWN_CLIENT.to_string(),
                "{chain}"
            );
        }
        let h = [("x-forwarded-for", "6.6.6.6")];
        let raw = HeaderMap::from_iter([(
            http::HeaderName::from_static("x-forwarded-for"),
            http::HeaderValue::from_bytes(b"6.6.6.6, \xff").unwrap(),
        )]);
        let o = Origin::from_request(
            &nets(&["127.0.0.0/8"]),
            Family::XForwarded,
            "127.0.0.1:1".parse().unwrap(),
            host_of(&raw),
            &raw,
        );
        assert_eq!(o.client_ip, UNKNOWN_CLIENT);
        assert_eq!(client(Family::XForwarded, &h), "6.6.6.6");
    }

    #[test]
    fn a_quote_the_client_leaves_open_cannot_swallow_the_proxys_element() {
        // A proxy appending to the client's own line: `<client's text>, for=<client>`.
        let line = "for=10.1.1.1;x=\", for=192.0.2.9";
        assert_eq!(
            client(Family::Forwarded, &[("forwarded", line)]),
            UNKNOWN_CLIENT.to_string()
        );
        // In X-Forwarded-For a quote is just a byte.
        let line = "\"10.1.1.1, 192.0.2.9";
        assert_eq!(
            client(Family::XForwarded, &[("x-forwarded-for", line)]),
            "192.0.2.9"
        );
        // An open quote on the client's own line does not reach the proxy's line.
        let lines = [
            ("forwarded", "for=\"10.1.1.1"),
            ("forwarded", "for=192.0.2.9"),
        ];
        assert_eq!(client(Family::Forwarded, &lines), "192.0.2.9");
    }

    #[test]
    fn empty_list_elements_are_not_hops() {
        let h = [
            ("x-forwarded-for", "6.6.6.6,"),
            ("x-forwarded-for", ", 3.3.3.3"),
        ];
        assert_eq!(client(Family::XForwarded, &h), "3.3.3.3");
    }

    #[test]
    fn node_forms_with_ports_brackets_and_mapped_addresses() {
        for (v, ip) in [
            ("1.2.3.4:80", "1.2.3.4"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:1.2.3.4", "1.2.3.4"),
        ] {
            assert_eq!(
                client(Family::XForwarded, &[("x-forwarded-for", v)]),
                ip,
                "{v}"
            );
        }
        let o = Origin::from_request(
            &nets(&["::1/128"]),
            Family::Forwarded,
            "[::1]:5000".parse().unwrap(),
            None,
            Box::leak(Box::new(headers(&[(
                "forwarded",
                "for=\"[2001:db8::1]:4711\";proto=https;host=s.example",
            )]))),
        );
        assert_eq!(o.client_ip.to_string(), "2001:db8::1");
        assert_eq!(o.scheme, "https");
        assert_eq!(o.host.as_deref(), Some("s.example"));
    }

    #[test]
    fn scheme_host_and_port_are_the_nearest_proxys() {
        let o = local(
            Family::XForwarded,
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "evil.example, good.example"),
                ("x-forwarded-port", "1"),
                ("x-forwarded-port", "8443"),
            ],
        );
        assert_eq!(
            (o.scheme, o.host.as_deref()),
            ("http", Some("good.example:8443"))
        );
        let o = local(
            Family::Forwarded,
            &[
                ("forwarded", "for=1.1.1.1;proto=https;host=evil.example"),
                ("forwarded", "for=2.2.2.2;host=good.example"),
            ],
        );
        assert_eq!(
            (o.scheme, o.host.as_deref()),
            ("http", Some("good.example"))
        );
    }

    #[test]
    fn a_default_port_or_a_host_with_a_port_is_left_alone() {
        let host = |pairs: &[(&str, &str)]| local(Family::XForwarded, pairs).host;
        let h = host(&[
            ("x-forwarded-host", "a.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "443"),
        ]);
        assert_eq!(h.as_deref(), Some("a.example"));
        let h = host(&[
            ("x-forwarded-host", "a.example:81"),
            ("x-forwarded-port", "82"),
        ]);
        assert_eq!(h.as_deref(), Some("a.example:81"));
        let h = host(&[("x-forwarded-host", "[::1]"), ("x-forwarded-port", "82")]);
        assert_eq!(h.as_deref(), Some("[::1]:82"));
        let h = host(&[
            ("x-forwarded-host", "a.example"),
            ("x-forwarded-port", "99999"),
        ]);
        assert_eq!(h.as_deref(), Some("a.example"));
    }

    #[test]
    fn an_implausible_forwarded_host_falls_back_to_host() {
        let o = local(
            Family::XForwarded,
            &[
                ("host", "real.example"),
                ("x-forwarded-host", "a.example/evil"),
            ],
        );
        assert_eq!(o.host.as_deref(), Some("real.example"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One hop as a client or proxy might write it.
        fn hop() -> impl Strategy<Value = String> {
            prop_oneof![
                (0u8..4).prop_map(|n| format!("10.0.0.{n}")),
                (0u8..4).prop_map(|n| format!("192.0.2.{n}")),
                Just("unknown".to_string()),
                Just("".to_string()),
                "[ -~]{0,12}",
            ]
        }

        fn lines() -> impl Strategy<Value = Vec<String>> {
            prop::collection::vec(prop::collection::vec(hop(), 0..4), 0..4)
                .prop_map(|ls| ls.into_iter().map(|l| l.join(",")).collect())
        }

        fn with_lines(name: &str, lines: &[String]) -> HeaderMap {
            let mut h = HeaderMap::new();
            for l in lines {
                if let Ok(v) = l.parse() {
                    h.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
                }
            }
            h
        }

        fn walk(h: &HeaderMap) -> IpAddr {
            let peer = "127.0.0.1:1".parse().unwrap();
            Origin::from_request(
                &nets(&["127.0.0.0/8", "10.0.0.0/8"]),
                Family::XForwarded,
                peer,
                host_of(h),
                h,
            )
            .client_ip
        }

        proptest! {
            /// Whatever the client wrote, a line its proxy appends decides the client.
            #[test]
            fn an_appended_untrusted_address_is_the_client(sent in lines(), n in 0u8..4) {
                let mut all = sent;
                all.push(format!("192.0.2.{n}"));
                let h = with_lines("x-forwarded-for", &all);
                prop_assert_eq!(walk(&h).to_string(), format!("192.0.2.{n}"));
            }

            /// The client is the peer or a hop of the chain, never one left of a hop that
            /// cannot be read.
            #[test]
            fn nothing_left_of_an_unreadable_hop_is_chosen(sent in lines()) {
                let h = with_lines("x-forwarded-for", &sent);
                let client = walk(&h);
                let hops: Vec<Option<IpAddr>> = elements(&h, "x-forwarded-for", false)
                    .into_iter()
                    .map(|e| e.and_then(node_ip).map(canonical))
                    .collect();
                let right = match hops.iter().rposition(Option::is_none) {
                    Some(i) => &hops[i + 1..],
                    None => &hops[..],
                };
                let named = right.contains(&Some(client));
                prop_assert!(
                    client == UNKNOWN_CLIENT || client.to_string() == "127.0.0.1" || named,
                    "{client} from {hops:?}"
                );
            }
        }
    }
}
