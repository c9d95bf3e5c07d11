//! "A CIDR or a bare address": the one way Keyhole reads an IP range, wherever one is given
//! (a Swift link's `temp_url_ip_range`, `--ip-range`, `proxy.trusted`). A bare address is
//! the range of that address alone.

use std::net::IpAddr;

use ipnet::IpNet;

pub fn parse(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_cidr_or_a_bare_address_is_a_range_and_nothing_else_is() {
        assert_eq!(parse("10.0.0.0/8"), "10.0.0.0/8".parse().ok());
        assert_eq!(parse("192.0.2.1"), "192.0.2.1/32".parse().ok());
        assert_eq!(parse("2001:db8::1"), "2001:db8::1/128".parse().ok());
        for bad in [
            "",
            "10.0.0.0/33",
            "example.com",
            "10.0.0.1 ",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
