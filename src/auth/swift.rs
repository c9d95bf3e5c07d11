//! Swift Temporary URLs, as OpenStack Swift's `tempurl` middleware makes and checks them.
//!
//! The HMAC covers `[ip=RANGE\n]METHOD\nEXPIRES\nPATH`, where PATH is the *decoded* request
//! path (or `prefix:/v1/ACCOUNT/CONTAINER/PREFIX` for prefix-scoped links) and EXPIRES the
//! integer unix time even when the URL carries the ISO 8601 form. `string_to_sign` is the one
//! place that text is built, for links we make and links we check.

use std::net::IpAddr;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::auth::{Denied, Disposition, Grant};
use crate::config::{Config, Project, Secret};
use crate::query::Query;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    pub fn from_name(name: &str) -> Option<Digest> {
        match name {
            "sha1" => Some(Digest::Sha1),
            "sha256" => Some(Digest::Sha256),
            "sha512" => Some(Digest::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        }
    }

    fn from_hex_len(len: usize) -> Option<Digest> {
        match len {
            40 => Some(Digest::Sha1),
            64 => Some(Digest::Sha256),
            128 => Some(Digest::Sha512),
            _ => None,
        }
    }

    fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha512 => 64,
        }
    }
}

/// An HMAC value of at most 64 bytes, kept on the stack.
pub struct Tag {
    bytes: [u8; 64],
    len: usize,
}

impl Tag {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn mac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Tag {
    // HMAC accepts keys of any length, so new_from_slice cannot fail here.
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    let out = mac.finalize().into_bytes();
    let mut tag = Tag {
        bytes: [0; 64],
        len: out.len(),
    };
    tag.bytes[..out.len()].copy_from_slice(&out);
    tag
}

/// HMAC over the concatenation of `parts`.
pub fn hmac(digest: Digest, key: &[u8], parts: &[&[u8]]) -> Tag {
    match digest {
        Digest::Sha1 => mac_with::<Hmac<Sha1>>(key, parts),
        Digest::Sha256 => mac_with::<Hmac<Sha256>>(key, parts),
        Digest::Sha512 => mac_with::<Hmac<Sha512>>(key, parts),
    }
}

/// What a link is scoped to: one object, or every object under a prefix.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// `/v1/AUTH_p/c/o`, decoded.
    Object(&'a str),
    /// `/v1/AUTH_p/c/PREFIX`, decoded; signed as `prefix:` + this.
    Prefix(&'a str),
}

/// The exact text Swift HMACs, for display and tests.
pub fn string_to_sign_text(
    method: &str,
    expires: u64,
    scope: Scope<'_>,
    ip_range: Option<&str>,
) -> String {
    let expires = expires.to_string();
    let mut out = Vec::new();
    for part in string_to_sign(method, &expires, scope, ip_range).iter() {
        out.extend_from_slice(part);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The tempurl string to sign, as the pieces to feed the HMAC in order, so that verifying
/// allocates nothing. Signing and verifying both go through here.
fn string_to_sign<'a>(
    method: &'a str,
    expires: &'a str,
    scope: Scope<'a>,
    ip_range: Option<&'a str>,
) -> [&'a [u8]; 9] {
    let (ip_head, ip, ip_tail): (&[u8], &[u8], &[u8]) = match ip_range {
        Some(r) => (b"ip=", r.as_bytes(), b"\n"),
        None => (b"", b"", b""),
    };
    let (scope_head, path): (&[u8], &str) = match scope {
        Scope::Object(p) => (b"", p),
        Scope::Prefix(p) => (b"prefix:", p),
    };
    [
        ip_head,
        ip,
        ip_tail,
        method.as_bytes(),
        b"\n",
        expires.as_bytes(),
        b"\n",
        scope_head,
        path.as_bytes(),
    ]
}

/// The hex signature of a link, as `swift tempurl` prints it.
pub fn sign(
    digest: Digest,
    key: &str,
    method: &str,
    expires: u64,
    scope: Scope<'_>,
    ip_range: Option<&str>,
) -> String {
    let expires = expires.to_string();
    hex::encode(
        hmac(
            digest,
            key.as_bytes(),
            &string_to_sign(method, &expires, scope, ip_range),
        )
        .as_bytes(),
    )
}

/// A Swift object request, split from its decoded path by the router.
#[derive(Debug)]
pub struct SwiftPath<'a> {
    /// The decoded path as Swift signs it: `/v1/AUTH_p/c/o`.
    pub path: &'a str,
    pub account: &'a str,
    pub container: &'a str,
    pub object: &'a str,
}

/// The tempurl parameters of a query. `None` when the query carries none of them, so an
/// unsigned request can be told from a badly signed one.
struct Params<'q> {
    sig: std::borrow::Cow<'q, str>,
    expires: std::borrow::Cow<'q, str>,
    prefix: Option<std::borrow::Cow<'q, str>>,
    ip_range: Option<std::borrow::Cow<'q, str>>,
}

/// True when a query carries any tempurl parameter.
pub fn is_tempurl(query: &Query<'_>) -> bool {
    query.has("temp_url_sig") || query.has("temp_url_expires")
}

fn params<'q>(query: &Query<'q>) -> Result<Params<'q>, Denied> {
    // Swift takes the last of repeated parameters; we refuse the ambiguity instead.
    let one = |name| query.unique_form(name).map_err(|_| Denied::Swift);
    Ok(Params {
        sig: one("temp_url_sig")?.ok_or(Denied::Swift)?,
        expires: one("temp_url_expires")?.ok_or(Denied::Swift)?,
        prefix: one("temp_url_prefix")?,
        ip_range: one("temp_url_ip_range")?,
    })
}

/// `temp_url_expires`: integer unix seconds, or ISO 8601 `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_expires(text: &str) -> Option<u64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let t = time::PrimitiveDateTime::parse(text, format).ok()?;
    u64::try_from(t.assume_utc().unix_timestamp()).ok()
}

/// A signature as the URL carries it: hex (digest told by its length) or `digest:base64`.
fn decode_signature(sig: &str) -> Option<(Digest, Vec<u8>)> {
    if let Some((name, b64)) = sig.split_once(':') {
        let digest = Digest::from_name(name)?;
        // Form decoding turned a raw '+' into a space; base64 never holds a space.
        let b64 = b64.trim_end_matches('=').replace(' ', "+");
        let bytes = if b64.contains(['-', '_']) {
            URL_SAFE_NO_PAD.decode(b64.as_bytes()).ok()?
        } else {
            STANDARD_NO_PAD.decode(b64.as_bytes()).ok()?
        };
        return (bytes.len() == digest.output_len()).then_some((digest, bytes));
    }
    let digest = Digest::from_hex_len(sig.len())?;
    // Swift compares hex strings as its HMAC prints them: lowercase only.
    if !sig
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Some((digest, hex::decode(sig).ok()?))
}

/// Checks a Swift Temporary URL. Every failure is the same `Denied::Swift`: the caller must
/// not learn which part was wrong, nor whether the object exists.
pub fn verify(
    cfg: &Config,
    req: &SwiftPath<'_>,
    method: &http::Method,
    query: &Query<'_>,
    client_ip: IpAddr,
    now: u64,
) -> Result<Grant, Denied> {
    let project_id = req
        .account
        .strip_prefix(cfg.swift.reseller_prefix.as_str())
        .ok_or(Denied::Swift)?;
    let project: &Project = cfg.project(project_id).ok_or(Denied::Swift)?;
    let p = params(query)?;

    let expires = parse_expires(&p.expires).ok_or(Denied::Swift)?;
    if expires < now {
        return Err(Denied::Swift);
    }
    if let Some(max) = cfg.max_link_lifetime {
        if expires - now > max {
            return Err(Denied::Swift);
        }
    }

    // The prefix scope is built from the same decoded parts the backend will be asked for.
    let prefix_path;
    let scope = match &p.prefix {
        Some(prefix) => {
            if !req.object.starts_with(prefix.as_ref()) {
                return Err(Denied::Swift);
            }
            prefix_path = format!("/v1/{}/{}/{}", req.account, req.container, prefix);
            Scope::Prefix(&prefix_path)
        }
        None => Scope::Object(req.path),
    };

    if let Some(range) = &p.ip_range {
        let net = range
            .parse::<IpNet>()
            .or_else(|_| range.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| Denied::Swift)?;
        if !net.contains(&canonical_ip(client_ip)) {
            return Err(Denied::Swift);
        }
    }

    let (digest, given) = decode_signature(&p.sig).ok_or(Denied::Swift)?;
    if !cfg.swift.allowed_digests.contains(&digest) {
        return Err(Denied::Swift);
    }

    // HEAD is allowed with a GET signature, as Swift allows it.
    let methods: &[&str] = match *method {
        http::Method::GET => &["GET"],
        http::Method::HEAD => &["HEAD", "GET"],
        _ => return Err(Denied::Swift),
    };
    let container_keys: &[Secret] = project
        .container(req.container)
        .map(|c| c.temp_url_keys.as_slice())
        .unwrap_or(&[]);
    let expires_text = expires.to_string();
    let ip = p.ip_range.as_deref();
    let matched = container_keys
        .iter()
        .chain(&project.temp_url_keys)
        .any(|key| {
            methods.iter().any(|m| {
                let tag = hmac(
                    digest,
                    key.expose().as_bytes(),
                    &string_to_sign(m, &expires_text, scope, ip),
                );
                bool::from(tag.as_bytes().ct_eq(&given))
            })
        });
    if !matched {
        return Err(Denied::Swift);
    }

    let inline = query.has("inline");
    let filename = query
        .first_form("filename")
        .filter(|f| !f.is_empty())
        .map(|f| f.into_owned());
    Ok(Grant {
        project: project.id.clone(),
        container: req.container.to_string(),
        object: req.object.to_string(),
        disposition: Disposition { inline, filename },
        expires_at: Some(expires),
        overrides: Default::default(),
    })
}

/// An IPv4 client seen through an IPv6 socket must still match an IPv4 range.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
