//! What `keyhole serve` tells a newcomer at startup, and the address links name when no
//! `public_url` is set: the share page and how to sign in to it, and a working host in place
//! of a wildcard listen address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::config::Config;
use crate::share::encode_value;

/// The first line of the config `keyhole serve` writes when there is none.
pub const DEMO_HEADER: &str =
    "# Keyhole demo configuration, written by `keyhole serve` because none was found.";

/// The base of links for a server on `addr` without `public_url`, and a warning when `addr`
/// is a wildcard: `0.0.0.0` and `[::]` name no host a client can open, so loopback (which
/// works on this machine) stands in.
pub fn local_base(addr: SocketAddr) -> (String, Option<String>) {
    let ip = addr.ip();
    if !ip.is_unspecified() {
        return (format!("http://{addr}"), None);
    }
    let loopback = match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    let local = SocketAddr::new(loopback, addr.port());
    let warning = format!(
        "listening on every address ({addr}) without public_url: links name {local}, which \
         opens on this machine only. To share with other machines, set public_url in the \
         config to the address they use (e.g. http://192.168.1.10:{port}): S3 links are \
         signed for the host they name.",
        port = addr.port()
    );
    (format!("http://{local}"), Some(warning))
}

/// Where links point: `public_url`, else the local base for `addr` (with its warning).
pub fn base_url(cfg: &Config, addr: SocketAddr) -> (String, Option<String>) {
    match &cfg.public_url {
        Some(u) => (u.clone(), None),
        None => {
            let (base, warning) = local_base(addr);
            let base = match base.strip_prefix("http://") {
                Some(rest) if cfg.tls.is_some() => format!("https://{rest}"),
                _ => base,
            };
            (base, warning)
        }
    }
}

/// Whether the config at `path` is the demo `keyhole serve` wrote (its first line says so).
pub fn is_demo(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.starts_with(DEMO_HEADER))
}

/// The banner's lines about the share page. For the demo config, a sign-in link that carries
/// the API token in the fragment (`#token=`), which a browser never sends to a server, so it
/// reaches no access log; for any other config, where the token is found.
pub fn share_page_lines(cfg: &Config, base: &str, config_path: &Path, demo: bool) -> Vec<String> {
    let page = format!("{base}/_keyhole/ui/");
    let mut lines = vec![format!("Share page: {page}")];
    match cfg.api_tokens.first() {
        Some(t) if demo => {
            lines.push(
                "  sign in with this link (it holds the demo's API token; the part after # \
                 stays in the browser):"
                    .to_string(),
            );
            lines.push(format!(
                "    {page}#token={}",
                encode_value(t.token.expose())
            ));
        }
        Some(_) => lines.push(format!(
            "  sign in with the token of an [[api_token]] in {}",
            config_path.display()
        )),
        None => lines.push(format!(
            "  add an [[api_token]] (token = \"...\", projects = [\"...\"]) to {} to sign in",
            config_path.display()
        )),
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_gives_loopback_links_and_a_warning() {
        let (base, warning) = local_base("0.0.0.0:8080".parse().unwrap());
        assert_eq!(base, "http://127.0.0.1:8080");
        assert!(warning.unwrap().contains("public_url"));
        let (base, warning) = local_base("[::]:9000".parse().unwrap());
        assert_eq!(
            (base.as_str(), warning.is_some()),
            ("http://[::1]:9000", true)
        );
        let (base, warning) = local_base("192.0.2.7:80".parse().unwrap());
        assert_eq!((base.as_str(), warning), ("http://192.0.2.7:80", None));
    }
}
