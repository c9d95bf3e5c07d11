//! Swift Temporary URL verification never succeeds for a signature Keyhole's keys did not
//! make for exactly that request.
//!
//! Two kinds of input:
//! - `Raw`: any path and query, routed and verified as the handler does.
//! - `Signed`: a real link (any key of the config, or a key of another project, any digest,
//!   hex or base64, ISO or integer expiry, prefix, IP range), then arbitrary character edits.
//!
//! Whenever verification succeeds, two oracles must hold:
//! 1. re-signing: the signature the query carries equals `swift::sign` over the grant's own
//!    scope, expiry, method and IP range with one of the keys valid for that container;
//! 2. for `Signed` inputs: the grant is for what was signed (project, container, object or an
//!    object under the signed prefix, expiry, method, client inside the signed IP range).
#![no_main]

use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use ipnet::IpNet;
use keyhole::auth::swift::{self, Digest, Scope, SwiftPath};
use keyhole::config::Config;
use keyhole::query::Query;
use keyhole::router::{route, Route};
use keyhole::share::{encode_path, encode_value, SwiftLink};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;

const CONFIG: &str = r#"
[backend]
kind = "fs"
root = "x"
[[project]]
id = "p"
temp_url_keys = ["key-one", "key-two"]
  [[project.container]]
  name = "c"
  temp_url_keys = ["container-key"]
  [[project.container]]
  name = "d"
[[project]]
id = "q"
temp_url_keys = ["q-key"]
"#;

/// The same, with only SHA-256 allowed and a one-hour lifetime cap.
fn configs() -> &'static [Config; 2] {
    static C: OnceLock<[Config; 2]> = OnceLock::new();
    C.get_or_init(|| {
        let strict =
            format!("max_link_lifetime = 3600\n[swift]\nallowed_digests = [\"sha256\"]\n{CONFIG}");
        [
            Config::parse(CONFIG, Path::new("/")).unwrap(),
            Config::parse(&strict, Path::new("/")).unwrap(),
        ]
    })
}

/// (project, key) pairs a link can be signed with; "container-key" is valid for p/c only.
const SIGNERS: [(&str, &str); 5] = [
    ("p", "key-one"),
    ("p", "key-two"),
    ("p", "container-key"),
    ("q", "q-key"),
    ("p", "not-a-key"),
];
const CONTAINERS: [&str; 3] = ["c", "d", "e"];

#[derive(Arbitrary, Debug)]
enum Edit {
    Replace(u16, char),
    Insert(u16, char),
    Delete(u16),
}

#[derive(Arbitrary, Debug)]
enum SigForm {
    Hex,
    Base64Url,
    Base64StdPadded,
    Base64StdRawPlus,
}

#[derive(Arbitrary, Debug)]
struct Signed {
    signer: u8,
    container: u8,
    object: String,
    head_signature: bool,
    expires_in: u32,
    /// Sign for the prefix made of this many leading chars of the object.
    prefix: Option<u8>,
    iso8601: bool,
    ip_range: Option<([u8; 4], u8)>,
    digest: u8,
    sig_form: SigForm,
    inline: bool,
    filename: Option<String>,
    edits: Vec<Edit>,
}

/// Input layout (so that seeds can be real links): byte 0 holds flags (bit 0: the strict
/// config, bit 1: HEAD, bit 2: the client is IPv4-mapped IPv6, bit 3: `Signed` mode), bytes
/// 1..5 the client IPv4 address, bytes 5..9 how many seconds before the expiry (or before
/// NOW in raw mode) the request comes (little-endian), the rest the URL `path?query` (raw
/// mode) or a `Signed` link drawn with `arbitrary`.
enum Mode {
    Raw(String),
    Signed(Signed),
}

struct Input {
    strict: bool,
    head: bool,
    client: ([u8; 4], bool),
    now_back: u32,
    mode: Mode,
}

fn input(data: &[u8]) -> Option<Input> {
    if data.len() < 9 {
        return None;
    }
    let rest = &data[9..];
    Some(Input {
        strict: data[0] & 1 != 0,
        head: data[0] & 2 != 0,
        client: (data[1..5].try_into().unwrap(), data[0] & 4 != 0),
        now_back: u32::from_le_bytes(data[5..9].try_into().unwrap()),
        mode: if data[0] & 8 == 0 {
            Mode::Raw(String::from_utf8_lossy(rest).into_owned())
        } else {
            Mode::Signed(arbitrary::Unstructured::new(rest).arbitrary().ok()?)
        },
    })
}

/// What was signed, for oracle 2.
struct Made {
    project: &'static str,
    container: &'static str,
    object: String,
    prefix: Option<String>,
    head: bool,
    expires: u64,
    ip: Option<IpNet>,
}

fn digest_of(n: u8) -> Digest {
    match n % 3 {
        0 => Digest::Sha1,
        1 => Digest::Sha256,
        _ => Digest::Sha512,
    }
}

/// Builds a link with `SwiftLink` (the code that makes real links) and applies the edits.
fn make(s: &Signed) -> (String, Made) {
    let (project, key) = SIGNERS[usize::from(s.signer) % SIGNERS.len()];
    let container = CONTAINERS[usize::from(s.container) % CONTAINERS.len()];
    let expires = NOW + u64::from(s.expires_in);
    let prefix: Option<String> = s
        .prefix
        .map(|n| s.object.chars().take(usize::from(n)).collect());
    let object_path = format!("/v1/AUTH_{project}/{container}/{}", s.object);
    let signed_path = match &prefix {
        Some(p) => format!("/v1/AUTH_{project}/{container}/{p}"),
        None => object_path.clone(),
    };
    let ip = s
        .ip_range
        .map(|(a, len)| format!("{}/{}", std::net::Ipv4Addr::from(a), len % 33));
    let digest = digest_of(s.digest);
    let link = SwiftLink {
        base_url: "",
        path: &signed_path,
        key,
        method: if s.head_signature { "HEAD" } else { "GET" },
        expires,
        digest,
        ip_range: ip.as_deref(),
        prefix: prefix.is_some(),
        iso8601: s.iso8601,
        inline: s.inline,
        filename: s.filename.as_deref(),
    }
    .url();
    let (_, query) = link.split_once('?').expect("a link has a query");
    let hex_sig = Query::new(query)
        .first_form("temp_url_sig")
        .unwrap()
        .into_owned();
    let raw = hex::decode(&hex_sig).unwrap();
    let sig = match s.sig_form {
        SigForm::Hex => hex_sig.clone(),
        SigForm::Base64Url => format!("{}:{}", digest.name(), URL_SAFE_NO_PAD.encode(&raw)),
        SigForm::Base64StdPadded => {
            format!("{}:{}", digest.name(), encode_value(&STANDARD.encode(&raw)))
        }
        // '+' left raw is form-decoded to a space, which the verifier reads back as '+'.
        SigForm::Base64StdRawPlus => format!(
            "{}:{}",
            digest.name(),
            STANDARD_NO_PAD.encode(&raw).replace('/', "%2F")
        ),
    };
    let query = query.replacen(&hex_sig, &sig, 1);
    let mut url: Vec<char> = format!("{}?{query}", encode_path(&object_path))
        .chars()
        .collect();
    for e in &s.edits {
        match *e {
            Edit::Replace(at, c) if !url.is_empty() => {
                let at = usize::from(at) % url.len();
                url[at] = c;
            }
            Edit::Insert(at, c) => {
                let at = usize::from(at) % (url.len() + 1);
                url.insert(at, c);
            }
            Edit::Delete(at) if !url.is_empty() => {
                let at = usize::from(at) % url.len();
                url.remove(at);
            }
            _ => {}
        }
    }
    let made = Made {
        project,
        container,
        object: s.object.clone(),
        prefix,
        head: s.head_signature,
        expires,
        ip: ip.map(|i| i.parse().unwrap()),
    };
    (url.into_iter().collect(), made)
}

/// The signature bytes a query carries, decoded leniently (either base64 alphabet, padded or
/// not): the oracle compares bytes, so leniency here cannot hide a forgery.
fn carried_signature(sig: &str) -> Option<(Digest, Vec<u8>)> {
    if let Some((name, b64)) = sig.split_once(':') {
        let d = Digest::from_name(name)?;
        let b64 = b64.trim_end_matches('=').replace(' ', "+");
        let bytes = URL_SAFE_NO_PAD
            .decode(&b64)
            .or_else(|_| STANDARD_NO_PAD.decode(&b64))
            .ok()?;
        return Some((d, bytes));
    }
    let d = match sig.len() {
        40 => Digest::Sha1,
        64 => Digest::Sha256,
        128 => Digest::Sha512,
        _ => return None,
    };
    Some((d, hex::decode(sig).ok()?))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let cfg = &configs()[usize::from(input.strict)];
    let (url, made) = match &input.mode {
        Mode::Raw(url) => (url.clone(), None),
        Mode::Signed(s) => {
            let (url, made) = make(s);
            (url, Some(made))
        }
    };
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let Route::Swift(r) = route(cfg, path, None) else {
        return;
    };
    let method = if input.head {
        http::Method::HEAD
    } else {
        http::Method::GET
    };
    let (octets, mapped) = input.client;
    let client: IpAddr = if mapped {
        IpAddr::V6(std::net::Ipv4Addr::from(octets).to_ipv6_mapped())
    } else {
        IpAddr::V4(octets.into())
    };
    let now = match &made {
        Some(m) => m.expires.saturating_sub(u64::from(input.now_back)),
        None => NOW.saturating_sub(u64::from(input.now_back)),
    };
    let req = SwiftPath {
        path: &r.path,
        account: r.account(),
        container: r.container(),
        object: r.object(),
    };
    let q = Query::new(query);
    let Ok(g) = swift::verify(cfg, &req, &method, &q, client, now) else {
        return;
    };
    if std::env::var_os("KEYHOLE_FUZZ_DEBUG").is_some() {
        eprintln!("verified: {url}");
    }

    // ---- oracle 1: the carried signature is an HMAC of this request by a valid key ----
    assert_eq!(req.account, format!("AUTH_{}", g.project));
    assert_eq!(
        (g.container.as_str(), g.object.as_str()),
        (req.container, req.object)
    );
    let expires = g.expires_at.expect("links expire");
    assert!(expires >= now);
    if let Some(max) = cfg.max_link_lifetime {
        assert!(expires - now <= max);
    }
    let sig = q.unique_form("temp_url_sig").unwrap().unwrap();
    let (digest, bytes) = carried_signature(&sig).expect("a verified signature decodes");
    assert!(cfg.swift.allowed_digests.contains(&digest));
    let project = cfg.project(&g.project).unwrap();
    let keys: Vec<&str> = project
        .container(&g.container)
        .map(|c| {
            c.temp_url_keys
                .iter()
                .map(|k| k.expose())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain(project.temp_url_keys.iter().map(|k| k.expose()))
        .collect();
    let prefix = q.unique_form("temp_url_prefix").unwrap();
    let prefix_path = prefix
        .as_ref()
        .map(|p| format!("/v1/{}/{}/{}", req.account, req.container, p));
    let scope = match &prefix_path {
        Some(p) => Scope::Prefix(p),
        None => Scope::Object(req.path),
    };
    let ip = q.unique_form("temp_url_ip_range").unwrap();
    let methods: &[&str] = if input.head {
        &["HEAD", "GET"]
    } else {
        &["GET"]
    };
    let carried = hex::encode(&bytes);
    let resigned = keys.iter().any(|k| {
        methods
            .iter()
            .any(|m| swift::sign(digest, k, m, expires, scope, ip.as_deref()) == carried)
    });
    assert!(resigned, "verified a signature no key made: {url:?}");
    if let Some(p) = &prefix {
        assert!(g.object.starts_with(p.as_ref()));
    }

    // ---- oracle 2: the grant is for what was signed ----
    if let Some(m) = made {
        assert_eq!(g.project, m.project, "{url:?}");
        assert_eq!(g.container, m.container, "{url:?}");
        assert_eq!(expires, m.expires, "{url:?}");
        match &m.prefix {
            None => assert_eq!(g.object, m.object, "{url:?}"),
            Some(p) => assert!(g.object.starts_with(p.as_str()), "{url:?}"),
        }
        if m.head {
            assert!(input.head, "a HEAD signature served a GET: {url:?}");
        }
        if let Some(net) = m.ip {
            assert!(
                net.contains(&canonical(client)),
                "{client} outside {net}: {url:?}"
            );
        }
        let (signer_project, key) = SIGNERS[match &input.mode {
            Mode::Signed(s) => usize::from(s.signer) % SIGNERS.len(),
            Mode::Raw(_) => unreachable!(),
        }];
        assert_eq!(signer_project, m.project);
        assert!(
            keys.contains(&key),
            "{key} is not a key for {}/{}",
            g.project,
            g.container
        );
    }
});
