//! Swift Temporary URLs, as OpenStack Swift's `tempurl` middleware makes and checks them.
//!
//! The HMAC covers `[ip=RANGE\n]METHOD\nEXPIRES\nPATH`, where PATH is the *decoded* request
//! path (or `prefix:/v1/ACCOUNT/CONTAINER/PREFIX` for prefix-scoped links) and EXPIRES the
//! integer unix time even when the URL carries the ISO 8601 form. `string_to_sign` is the one
//! place that text is built, for links we make and links we check.

use std::borrow::Cow;
use std::net::IpAddr;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::auth::{Denied, Disposition, Grant};
use crate::config::{Config, Project};
use crate::keys::{Secret, StoreKeys};
use crate::outcome::Reason;
use crate::query::{form_decode, Query};

#[cfg(test)]
use crate::keys::MACS;
pub use crate::keys::{hmac, Digest, Tag, TempUrlKey};

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
    let mut text = Message::new();
    string_to_sign(&mut text, method, &expires.to_string(), scope, ip_range);
    String::from_utf8_lossy(&text).into_owned()
}

/// A string to sign in one buffer, so that each key's MAC over it is a single update.
type Message = Vec<u8>;

/// Writes the tempurl string to sign into `out`, which it empties first. Signing and verifying
/// both go through here.
fn string_to_sign(
    out: &mut Message,
    method: &str,
    expires: &str,
    scope: Scope<'_>,
    ip_range: Option<&str>,
) {
    out.clear();
    let path = match scope {
        Scope::Object(p) | Scope::Prefix(p) => p,
    };
    // "ip=" and "prefix:" and the newlines: at most 12 more bytes.
    out.reserve(ip_range.map_or(0, str::len) + method.len() + expires.len() + path.len() + 12);
    if let Some(range) = ip_range {
        out.extend_from_slice(b"ip=");
        out.extend_from_slice(range.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(expires.as_bytes());
    out.push(b'\n');
    let path = match scope {
        Scope::Object(p) => p,
        Scope::Prefix(p) => {
            out.extend_from_slice(b"prefix:");
            p
        }
    };
    out.extend_from_slice(path.as_bytes());
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
    let mut message = Message::new();
    string_to_sign(&mut message, method, &expires.to_string(), scope, ip_range);
    const_hex::encode(hmac(digest, key.as_bytes(), &[&message]).as_bytes())
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
    sig: Cow<'q, str>,
    expires: Cow<'q, str>,
    prefix: Option<Cow<'q, str>>,
    ip_range: Option<Cow<'q, str>>,
    inline: bool,
    filename: Option<Cow<'q, str>>,
}

/// True when a query carries any tempurl parameter.
pub fn is_tempurl(query: &Query<'_>) -> bool {
    query.has("temp_url_sig") || query.has("temp_url_expires")
}

/// Every parameter a link's verification and grant read, in one pass over the query.
fn params<'q>(query: &Query<'q>) -> Result<Params<'q>, Denied> {
    let mut signed: [Option<&'q str>; 4] = [None; 4];
    let (mut inline, mut filename) = (false, None);
    for (k, v) in query.pairs() {
        let Some(k) = form_decode(k) else { continue };
        let slot = match &*k {
            "temp_url_sig" => 0,
            "temp_url_expires" => 1,
            "temp_url_prefix" => 2,
            "temp_url_ip_range" => 3,
            "inline" => {
                inline = true;
                continue;
            }
            "filename" => {
                filename = filename.or(Some(v));
                continue;
            }
            _ => continue,
        };
        // Swift takes the last of repeated parameters; we refuse the ambiguity instead.
        if signed[slot].replace(v).is_some() {
            return Err(Denied::Swift(Reason::BadRequest));
        }
    }
    // A value that is not UTF-8 once decoded counts as absent.
    let [sig, expires, prefix, ip_range] = signed.map(|v| v.and_then(form_decode));
    Ok(Params {
        sig: sig.ok_or(Denied::Swift(Reason::BadRequest))?,
        expires: expires.ok_or(Denied::Swift(Reason::BadRequest))?,
        prefix,
        ip_range,
        inline,
        filename: filename.and_then(form_decode).filter(|f| !f.is_empty()),
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

/// A signature as the URL carries it.
enum Given<'a> {
    /// Hex, the digest told by its length. Swift compares the hex its HMAC prints, so this is
    /// compared as text: an uppercase spelling never matches, and nothing needs decoding.
    Hex(&'a [u8]),
    /// `digest:base64`, decoded.
    Raw(Tag),
}

impl Given<'_> {
    /// Constant time in the tag's bytes.
    fn matches(&self, tag: &Tag) -> bool {
        match self {
            Given::Hex(text) => {
                let mut buf = [0; 128];
                let hex = &mut buf[..tag.as_bytes().len() * 2];
                const_hex::encode_to_slice(tag.as_bytes(), hex).is_ok()
                    && crate::mac::tags_equal(hex, text)
            }
            Given::Raw(given) => crate::mac::tags_equal(tag.as_bytes(), given.as_bytes()),
        }
    }
}

fn decode_signature(sig: &str) -> Option<(Digest, Given<'_>)> {
    if let Some((name, b64)) = sig.split_once(':') {
        let digest = Digest::from_name(name)?;
        // Form decoding turned a raw '+' into a space; base64 never holds a space.
        let b64 = b64.trim_end_matches('=').replace(' ', "+");
        let bytes = if b64.contains(['-', '_']) {
            URL_SAFE_NO_PAD.decode(b64.as_bytes()).ok()?
        } else {
            STANDARD_NO_PAD.decode(b64.as_bytes()).ok()?
        };
        return (bytes.len() == digest.output_len())
            .then(|| (digest, Given::Raw(Tag::from(&bytes[..]))));
    }
    let digest = Digest::from_hex_len(sig.len())?;
    Some((digest, Given::Hex(sig.as_bytes())))
}

/// Keys tried for every link, in fixed slots: two account keys (Key, Key-2), then two
/// container keys, as Swift's tempurl orders them; for a `keys_from_store` project the store's
/// two account and two container keys follow. A slot without a key is tried with `dummy_key`,
/// so a refusal costs the same MACs whether or not the account, the container and their keys
/// exist (a `keys_from_store` project costs twice as many, which tells only that it is one),
/// and a valid link costs the MACs up to its own slot, whatever the other slots hold.
fn key_slots<'k>(
    account: &'k [TempUrlKey],
    container: &'k [TempUrlKey],
    store: Option<&'k StoreKeys>,
) -> impl Iterator<Item = Option<&'k TempUrlKey>> {
    let four =
        |a: &'k [TempUrlKey], c: &'k [TempUrlKey]| [a.first(), a.get(1), c.first(), c.get(1)];
    let stored = store.map(|s| four(&s.account, &s.container));
    four(account, container)
        .into_iter()
        .chain(stored.into_iter().flatten())
}

/// A key of a real key's shape that no link is signed with: random for the process.
fn dummy_key() -> &'static TempUrlKey {
    static DUMMY: std::sync::OnceLock<TempUrlKey> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut raw = [0u8; 16];
        // Without randomness the key is fixed, which is still safe: a dummy never grants.
        let _ = getrandom::getrandom(&mut raw);
        TempUrlKey::new(Secret::new(const_hex::encode(raw)))
    })
}

/// Checks a Swift Temporary URL. Every failure is the same `Denied::Swift` response (its
/// reason is for the log only): the caller must
/// not learn which part was wrong, nor whether the object exists.
pub fn verify(
    cfg: &Config,
    req: &SwiftPath<'_>,
    method: &http::Method,
    query: &Query<'_>,
    client_ip: IpAddr,
    now: u64,
) -> Result<Grant, Denied> {
    verify_with(cfg, req, method, query, client_ip, now, None)
}

/// `verify`, also accepting the keys the store keeps for the link's account and container
/// (`keys_from_store`), when the caller read them.
pub fn verify_with(
    cfg: &Config,
    req: &SwiftPath<'_>,
    method: &http::Method,
    query: &Query<'_>,
    client_ip: IpAddr,
    now: u64,
    store: Option<&StoreKeys>,
) -> Result<Grant, Denied> {
    // SECURITY: an unknown account or container must cost the same work as a known one, or
    // the time a refusal takes tells which exist. Nothing below returns early on whether they
    // do; the MACs run over dummy keys in their place (see `key_slots`).
    let project: Option<&Project> = req
        .account
        .strip_prefix(cfg.swift.reseller_prefix.as_str())
        .and_then(|id| cfg.project(id));
    let p = params(query)?;

    let expires = parse_expires(&p.expires).ok_or(Denied::Swift(Reason::BadRequest))?;
    if expires < now {
        return Err(Denied::Swift(Reason::Expired));
    }
    if let Some(max) = cfg.max_link_lifetime {
        if expires - now > max {
            return Err(Denied::Swift(Reason::TooLong));
        }
    }

    // The prefix scope is built from the same decoded parts the backend will be asked for.
    let prefix_path;
    let scope = match &p.prefix {
        Some(prefix) => {
            if !req.object.starts_with(prefix.as_ref()) {
                return Err(Denied::Swift(Reason::OutsidePrefix));
            }
            prefix_path = format!("/v1/{}/{}/{}", req.account, req.container, prefix);
            Scope::Prefix(&prefix_path)
        }
        None => Scope::Object(req.path),
    };

    let clients = match &p.ip_range {
        Some(range) => {
            Some(crate::ip_range::parse(range).ok_or(Denied::Swift(Reason::BadRequest))?)
        }
        None => None,
    };

    let (digest, given) = decode_signature(&p.sig).ok_or(Denied::Swift(Reason::BadRequest))?;
    if !cfg.swift.allowed_digests.contains(&digest) {
        return Err(Denied::Swift(Reason::Digest));
    }

    let Some((&signed_as, also)) =
        crate::auth::signed_methods(method).and_then(|m| m.split_first())
    else {
        return Err(Denied::Swift(Reason::WrongMethod));
    };
    let none: &[TempUrlKey] = &[];
    let container_keys = project
        .and_then(|p| p.container(req.container))
        .map_or(none, |c| c.temp_url_keys.as_slice());
    let account_keys = project.map_or(none, |p| p.temp_url_keys.as_slice());
    // The string to sign holds the integer as Swift prints it, which the URL's text already
    // is unless it is ISO 8601 or has leading zeros.
    let expires_text =
        if p.expires.bytes().all(|b| b.is_ascii_digit()) && !p.expires.starts_with('0') {
            Cow::Borrowed(&*p.expires)
        } else {
            Cow::Owned(expires.to_string())
        };
    let ip = p.ip_range.as_deref();
    // The text each method could have been signed for (a second only for HEAD), built once
    // for every key.
    let mut first = Message::new();
    string_to_sign(&mut first, signed_as, &expires_text, scope, ip);
    let second = also.first().map(|m| {
        let mut text = Message::new();
        string_to_sign(&mut text, m, &expires_text, scope, ip);
        text
    });
    let mut matched = false;
    // Only a `keys_from_store` project's link is checked against what its store keeps.
    let store = store.filter(|_| project.is_some_and(|p| p.keys_from_store));
    for slot in key_slots(account_keys, container_keys, store) {
        let key = match slot {
            Some(k) => k,
            None => dummy_key(),
        };
        for m in std::iter::once(&first).chain(&second) {
            let hit = given.matches(&key.tag(digest, &[m]));
            // A dummy key never grants, whatever it is.
            if hit && slot.is_some() {
                matched = true;
            }
        }
        // A valid link may stop at its key: only its holder learns which slot that was.
        if matched {
            break;
        }
    }
    let Some(project) = project.filter(|_| matched) else {
        // Told apart after every MAC ran, so the time a refusal takes says nothing more.
        let keyless = container_keys.is_empty() && account_keys.is_empty();
        return Err(Denied::Swift(if keyless {
            Reason::UnknownKey
        } else {
            Reason::BadSignature
        }));
    };

    let (inline, filename) = (p.inline, p.filename.map(Cow::into_owned));
    let grant = Grant {
        project: project.id.clone(),
        container: req.container.to_string(),
        object: req.object.to_string(),
        disposition: Disposition { inline, filename },
        expires_at: Some(expires),
        overrides: Default::default(),
        clients,
    };
    if !grant.admits(client_ip) {
        return Err(Denied::Swift(Reason::IpRange));
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    // Vectors made by python-swiftclient's `swiftclient.utils.generate_temp_url` with key
    // "mykey", method GET and expiry 1700000000 unless stated.
    const SHA1: &str = "3994d403a1e371c61672cc49d49e3504805f4887";
    const SHA256: &str = "7d8e44a645aab88cf197df39a844fc98555dad169375805007f6e9b55a5c9370";
    const SHA512_B64: &str = "sha512:HMKjP-WxpBiTUiQeNX60E3hSrPe529erBIA_rTrKvSyMR_8w9GeS7Y_w3aDzmQzIv_z0F5HBgKnxPnLPLULrNA";
    const PREFIX_SHA256: &str = "ef1aa565d51cf7ef227a3474e74d1a365deb678882ad7267f88949e4660f9cd9";
    const IP_SHA256: &str = "247add8fe3eb808a9bcd02db5d9f6b45ba9f682dea86df4483f5d0ab6ba2253f";
    const UTF8_SHA256: &str = "0a1c76475b086aec236eecf4721da4c78a8f5634e48848d6f3b8b962f6b06cdc";
    const HEAD_SHA1: &str = "717bac59e7c6fd8d188279df432dafaae472e46d";
    const EXPIRES: u64 = 1_700_000_000;

    fn cfg() -> Config {
        Config::parse(
            r#"
[backend]
kind = "fs"
root = "x"
[[project]]
id = "test"
temp_url_keys = ["other", "mykey"]
  [[project.container]]
  name = "ck"
  temp_url_keys = ["container-key"]
"#,
            Path::new("/"),
        )
        .unwrap()
    }

    fn check(
        path: &str,
        method: http::Method,
        query: &str,
        ip: &str,
        now: u64,
    ) -> Result<Grant, Denied> {
        check_with(&cfg(), path, method, query, ip, now)
    }

    fn check_with(
        cfg: &Config,
        path: &str,
        method: http::Method,
        query: &str,
        ip: &str,
        now: u64,
    ) -> Result<Grant, Denied> {
        let mut parts = path.splitn(5, '/').skip(2);
        let (account, container, object) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let req = SwiftPath {
            path,
            account,
            container,
            object,
        };
        verify(
            cfg,
            &req,
            &method,
            &Query::new(query),
            ip.parse().unwrap(),
            now,
        )
    }

    fn get(query: &str) -> Result<Grant, Denied> {
        check(
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            query,
            "127.0.0.1",
            EXPIRES - 1,
        )
    }

    fn store_keys(container: &[&str], account: &[&str]) -> StoreKeys {
        let k = |list: &[&str]| {
            list.iter()
                .map(|s| TempUrlKey::new(Secret::new(*s)))
                .collect()
        };
        StoreKeys {
            account: k(account),
            container: k(container),
            until: EXPIRES,
        }
    }

    fn check_store(cfg: &Config, store: &StoreKeys) -> Result<Grant, Denied> {
        let req = SwiftPath {
            path: "/v1/AUTH_test/c/o",
            account: "AUTH_test",
            container: "c",
            object: "o",
        };
        let q = format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}");
        let ip = "127.0.0.1".parse().unwrap();
        let get = http::Method::GET;
        verify_with(
            cfg,
            &req,
            &get,
            &Query::new(&q),
            ip,
            EXPIRES - 1,
            Some(store),
        )
    }

    #[test]
    fn the_stores_keys_open_links_only_for_a_keys_from_store_project() {
        let swift = |keys_from_store: bool| {
            let text = format!(
                "[backend]\nkind = \"swift\"\nauth_url = \"http://h/auth/v1.0\"\nuser = \"u\"\n\
                 key = \"k\"\n[[project]]\nid = \"test\"\nkeys_from_store = {keys_from_store}\n"
            );
            Config::parse(&text, Path::new("/")).unwrap()
        };
        let on = swift(true);
        for store in [
            store_keys(&["mykey"], &[]),
            store_keys(&[], &["x", "mykey"]),
        ] {
            assert!(check_store(&on, &store).is_ok(), "{store:?}");
        }
        assert!(check_store(&on, &store_keys(&["other"], &["other2"])).is_err());
        assert!(
            check_store(&swift(false), &store_keys(&["mykey"], &["mykey"])).is_err(),
            "a project that did not ask for the store's keys never takes them"
        );
        // A refusal costs the same MACs whichever store keys exist.
        let macs = |store: &StoreKeys| {
            MACS.with(|n| n.set(0));
            assert!(check_store(&on, store).is_err());
            MACS.with(|n| n.get())
        };
        let none = macs(&store_keys(&[], &[]));
        assert_eq!(none, macs(&store_keys(&["a", "b"], &["c", "d"])));
        assert_eq!(none, 8, "four configured and four stored slots");
    }

    #[test]
    fn signing_reproduces_swiftclient_for_each_digest() {
        let s = |d| {
            sign(
                d,
                "mykey",
                "GET",
                EXPIRES,
                Scope::Object("/v1/AUTH_test/c/o"),
                None,
            )
        };
        assert_eq!(s(Digest::Sha1), SHA1);
        assert_eq!(s(Digest::Sha256), SHA256);
        let b64 = SHA512_B64.strip_prefix("sha512:").unwrap();
        assert_eq!(
            s(Digest::Sha512),
            const_hex::encode(URL_SAFE_NO_PAD.decode(b64).unwrap())
        );
    }

    #[test]
    fn signing_reproduces_swiftclient_for_prefix_ip_utf8_and_head() {
        let sha = Digest::Sha256;
        assert_eq!(
            sign(
                sha,
                "mykey",
                "GET",
                EXPIRES,
                Scope::Prefix("/v1/AUTH_test/c/dir/"),
                None
            ),
            PREFIX_SHA256
        );
        assert_eq!(
            sign(
                sha,
                "mykey",
                "GET",
                EXPIRES,
                Scope::Object("/v1/AUTH_test/c/o"),
                Some("10.0.0.0/8")
            ),
            IP_SHA256
        );
        assert_eq!(
            sign(
                sha,
                "mykey",
                "GET",
                EXPIRES,
                Scope::Object("/v1/AUTH_test/c/Báo cáo tháng 11.pdf"),
                None
            ),
            UTF8_SHA256
        );
        assert_eq!(
            sign(
                Digest::Sha1,
                "mykey",
                "HEAD",
                EXPIRES,
                Scope::Object("/v1/AUTH_test/c/o"),
                None
            ),
            HEAD_SHA1
        );
        assert_eq!(
            string_to_sign_text("GET", EXPIRES, Scope::Prefix("/v1/a/c/p"), Some("1.2.3.4")),
            "ip=1.2.3.4\nGET\n1700000000\nprefix:/v1/a/c/p"
        );
    }

    #[test]
    fn swiftclient_links_verify_for_every_digest_and_expiry_form() {
        for q in [
            format!("temp_url_sig={SHA1}&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={SHA512_B64}&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={SHA256}&temp_url_expires=2023-11-14T22:13:20Z"),
            format!("temp_url_sig={SHA256}&temp_url_expires=2023-11-14T22%3A13%3A20Z"),
        ] {
            let g = get(&q).unwrap_or_else(|_| panic!("{q}"));
            assert_eq!(
                (g.project.as_str(), g.container.as_str(), g.object.as_str()),
                ("test", "c", "o")
            );
            assert_eq!(g.expires_at, Some(EXPIRES));
            assert!(!g.disposition.inline);
        }
    }

    #[test]
    fn standard_base64_with_padding_or_a_decoded_plus_also_verifies() {
        let raw = const_hex::decode(sign(
            Digest::Sha512,
            "mykey",
            "GET",
            EXPIRES,
            Scope::Object("/v1/AUTH_test/c/o"),
            None,
        ))
        .unwrap();
        let std_b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let encoded = std_b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert!(get(&format!(
            "temp_url_sig=sha512:{encoded}&temp_url_expires={EXPIRES}"
        ))
        .is_ok());
        if std_b64.contains('+') {
            // A raw '+' is form-decoded to a space, as Swift's parse_qs does; we read it back.
            let raw_plus = std_b64.replace('/', "%2F").replace('=', "");
            assert!(get(&format!(
                "temp_url_sig=sha512:{raw_plus}&temp_url_expires={EXPIRES}"
            ))
            .is_ok());
        }
    }

    #[test]
    fn an_expired_link_fails_and_the_last_second_still_works() {
        let q = format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}");
        assert!(check(
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &q,
            "127.0.0.1",
            EXPIRES
        )
        .is_ok());
        assert_eq!(
            check(
                "/v1/AUTH_test/c/o",
                http::Method::GET,
                &q,
                "127.0.0.1",
                EXPIRES + 1
            )
            .unwrap_err(),
            Denied::Swift(Reason::Expired)
        );
    }

    #[test]
    fn uppercase_hex_does_not_match() {
        assert!(get(&format!(
            "temp_url_sig={}&temp_url_expires={EXPIRES}",
            SHA256.to_uppercase()
        ))
        .is_err());
    }

    #[test]
    fn hex_that_is_not_hex_does_not_match() {
        let sig = format!("{}g", &SHA256[..63]);
        assert!(get(&format!("temp_url_sig={sig}&temp_url_expires={EXPIRES}")).is_err());
        assert!(get(&format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}")).is_ok());
    }

    #[test]
    fn expires_with_leading_zeros_is_signed_as_the_integer() {
        // Swift reads `int(temp_url_expires)` and signs the integer it printed back.
        assert!(get(&format!(
            "temp_url_sig={SHA256}&temp_url_expires=00{EXPIRES}"
        ))
        .is_ok());
    }

    #[test]
    fn head_is_allowed_with_a_get_signature_but_not_the_reverse() {
        let q = format!("temp_url_sig={SHA1}&temp_url_expires={EXPIRES}");
        assert!(check("/v1/AUTH_test/c/o", http::Method::HEAD, &q, "127.0.0.1", 1).is_ok());
        let head_sig = format!("temp_url_sig={HEAD_SHA1}&temp_url_expires={EXPIRES}");
        assert!(check(
            "/v1/AUTH_test/c/o",
            http::Method::HEAD,
            &head_sig,
            "127.0.0.1",
            1
        )
        .is_ok());
        assert!(check(
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &head_sig,
            "127.0.0.1",
            1
        )
        .is_err());
        assert!(check("/v1/AUTH_test/c/o", http::Method::PUT, &q, "127.0.0.1", 1).is_err());
    }

    #[test]
    fn ip_range_links_work_only_from_inside_the_range() {
        let q = format!(
            "temp_url_sig={IP_SHA256}&temp_url_expires={EXPIRES}&temp_url_ip_range=10.0.0.0%2F8"
        );
        assert!(check("/v1/AUTH_test/c/o", http::Method::GET, &q, "10.1.2.3", 1).is_ok());
        assert!(check(
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &q,
            "::ffff:10.1.2.3",
            1
        )
        .is_ok());
        assert!(check("/v1/AUTH_test/c/o", http::Method::GET, &q, "11.1.2.3", 1).is_err());
        // Dropping the range from the URL breaks the signature.
        let stripped = format!("temp_url_sig={IP_SHA256}&temp_url_expires={EXPIRES}");
        assert!(check(
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &stripped,
            "10.1.2.3",
            1
        )
        .is_err());
    }

    #[test]
    fn prefix_links_cover_objects_under_the_prefix_only() {
        let q =
            format!("temp_url_sig={PREFIX_SHA256}&temp_url_expires={EXPIRES}&temp_url_prefix=dir/");
        let g = check(
            "/v1/AUTH_test/c/dir/a/b.txt",
            http::Method::GET,
            &q,
            "127.0.0.1",
            1,
        )
        .unwrap();
        assert_eq!(g.object, "dir/a/b.txt");
        assert!(check(
            "/v1/AUTH_test/c/other/b.txt",
            http::Method::GET,
            &q,
            "127.0.0.1",
            1
        )
        .is_err());
        assert!(check(
            "/v1/AUTH_test/c2/dir/b.txt",
            http::Method::GET,
            &q,
            "127.0.0.1",
            1
        )
        .is_err());
    }

    #[test]
    fn container_keys_sign_for_their_container_only() {
        let sig = sign(
            Digest::Sha256,
            "container-key",
            "GET",
            EXPIRES,
            Scope::Object("/v1/AUTH_test/ck/o"),
            None,
        );
        let q = format!("temp_url_sig={sig}&temp_url_expires={EXPIRES}");
        assert!(check("/v1/AUTH_test/ck/o", http::Method::GET, &q, "127.0.0.1", 1).is_ok());
        let sig = sign(
            Digest::Sha256,
            "container-key",
            "GET",
            EXPIRES,
            Scope::Object("/v1/AUTH_test/c/o"),
            None,
        );
        let q = format!("temp_url_sig={sig}&temp_url_expires={EXPIRES}");
        assert!(check("/v1/AUTH_test/c/o", http::Method::GET, &q, "127.0.0.1", 1).is_err());
    }

    #[test]
    fn inline_and_filename_are_not_signed_but_shape_the_grant() {
        let g = get(&format!(
            "temp_url_sig={SHA256}&temp_url_expires={EXPIRES}&inline&filename=My+File%20%C3%A1.txt"
        ))
        .unwrap();
        assert!(g.disposition.inline);
        assert_eq!(g.disposition.filename.as_deref(), Some("My File á.txt"));
    }

    #[test]
    fn malformed_and_ambiguous_parameters_fail_the_same_way() {
        for q in [
            String::new(),
            format!("temp_url_sig={SHA256}"),
            format!("temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={SHA256}&temp_url_expires=abc"),
            format!("temp_url_sig={SHA256}&temp_url_expires=-1"),
            format!("temp_url_sig={SHA256}&temp_url_expires=99999999999999999999999"),
            format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={SHA256}&temp_url_sig={SHA256}&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={}&temp_url_expires={EXPIRES}", &SHA256[1..]),
            format!("temp_url_sig=md5:AAAA&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig=sha256:!!!&temp_url_expires={EXPIRES}"),
            format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}&temp_url_ip_range=not-an-ip"),
            format!("temp_url_sig=%FF&temp_url_expires={EXPIRES}"),
        ] {
            assert_eq!(
                get(&q).unwrap_err(),
                Denied::Swift(Reason::BadRequest),
                "{q}"
            );
        }
    }

    #[test]
    fn a_digest_outside_allowed_digests_is_refused() {
        let text = "[swift]\nallowed_digests = [\"sha256\"]\n[backend]\nkind = \"fs\"\nroot = \"x\"\n[[project]]\nid = \"test\"\ntemp_url_keys = [\"mykey\"]\n";
        let c = Config::parse(text, Path::new("/")).unwrap();
        let q = |sig: &str| format!("temp_url_sig={sig}&temp_url_expires={EXPIRES}");
        assert!(check_with(
            &c,
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &q(SHA256),
            "127.0.0.1",
            1
        )
        .is_ok());
        assert!(check_with(
            &c,
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &q(SHA1),
            "127.0.0.1",
            1
        )
        .is_err());
    }

    #[test]
    fn a_link_past_the_configured_longest_lifetime_is_refused() {
        let text = "max_link_lifetime = 3600\n[backend]\nkind = \"fs\"\nroot = \"x\"\n[[project]]\nid = \"test\"\ntemp_url_keys = [\"mykey\"]\n";
        let c = Config::parse(text, Path::new("/")).unwrap();
        let q = format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}");
        assert!(check_with(
            &c,
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &q,
            "127.0.0.1",
            EXPIRES - 3600
        )
        .is_ok());
        assert!(check_with(
            &c,
            "/v1/AUTH_test/c/o",
            http::Method::GET,
            &q,
            "127.0.0.1",
            EXPIRES - 3601
        )
        .is_err());
    }

    #[test]
    fn unknown_accounts_and_foreign_reseller_prefixes_are_refused() {
        let q = format!("temp_url_sig={SHA256}&temp_url_expires={EXPIRES}");
        assert!(check("/v1/AUTH_nobody/c/o", http::Method::GET, &q, "127.0.0.1", 1).is_err());
        assert!(check("/v1/KEY_test/c/o", http::Method::GET, &q, "127.0.0.1", 1).is_err());
    }

    #[test]
    fn hmac_and_pre_keyed_keys_reproduce_rfc_2202_and_rfc_4231() {
        use crate::mac::vectors::{HMAC_SHA1, HMAC_SHA256, HMAC_SHA512};
        for (digest, cases) in [
            (Digest::Sha1, &HMAC_SHA1),
            (Digest::Sha256, &HMAC_SHA256),
            (Digest::Sha512, &HMAC_SHA512),
        ] {
            for c in cases {
                let (a, b) = c.data.split_at(c.data.len() / 2);
                let hmac_hex = const_hex::encode(hmac(digest, c.key, &[a, b"", b]).as_bytes());
                assert_eq!(hmac_hex, c.hex, "{}", digest.name());
                // A Temp-URL key is text; RFC keys that are not UTF-8 are covered above.
                if let Ok(text) = std::str::from_utf8(c.key) {
                    let key = TempUrlKey::new(Secret::new(text));
                    // Twice: a tag must leave the kept keyed state as it was.
                    for _ in 0..2 {
                        let tag = key.tag(digest, &[a, b]);
                        assert_eq!(
                            const_hex::encode(tag.as_bytes()),
                            c.hex,
                            "{}",
                            digest.name()
                        );
                    }
                }
            }
        }
    }

    /// The MACs `verify` computes for one request.
    fn macs_for(path: &str, method: http::Method, query: &str) -> usize {
        let before = MACS.with(|n| n.get());
        let _ = check(path, method, query, "127.0.0.1", 1);
        MACS.with(|n| n.get()) - before
    }

    #[test]
    fn a_bad_link_costs_the_same_macs_whether_or_not_the_account_or_container_exists() {
        let bad = "0".repeat(64);
        let q = format!("temp_url_sig={bad}&temp_url_expires={EXPIRES}");
        let known = macs_for("/v1/AUTH_test/ck/o", http::Method::GET, &q);
        assert!(known > 0);
        for path in [
            "/v1/AUTH_test/unlisted/o",
            "/v1/AUTH_nobody/c/o",
            "/v1/KEY_test/c/o",
        ] {
            assert_eq!(macs_for(path, http::Method::GET, &q), known, "{path}");
        }
        let head = macs_for("/v1/AUTH_test/ck/o", http::Method::HEAD, &q);
        assert_eq!(
            macs_for("/v1/AUTH_nobody/c/o", http::Method::HEAD, &q),
            head
        );
    }

    #[test]
    fn a_valid_link_costs_the_macs_up_to_its_key_slot_whatever_the_other_slots_hold() {
        let link = |key: &str, path: &str| {
            let sig = sign(
                Digest::Sha256,
                key,
                "GET",
                EXPIRES,
                Scope::Object(path),
                None,
            );
            format!("temp_url_sig={sig}&temp_url_expires={EXPIRES}")
        };
        // Account keys come first, as in Swift; "ck" has a container key, "plain" none.
        for (key, slot) in [("other", 1), ("mykey", 2)] {
            for path in ["/v1/AUTH_test/ck/o", "/v1/AUTH_test/plain/o"] {
                let q = link(key, path);
                assert_eq!(macs_for(path, http::Method::GET, &q), slot, "{key} {path}");
            }
        }
        let path = "/v1/AUTH_test/ck/o";
        let q = link("container-key", path);
        assert_eq!(macs_for(path, http::Method::GET, &q), 3);
        // HEAD tries the HEAD and the GET text with each key up to the one that signed.
        assert_eq!(macs_for(path, http::Method::HEAD, &q), 6);
    }

    #[test]
    fn an_empty_key_slot_never_grants() {
        // The dummy key itself signs nothing that verifies, for a known account or not.
        for path in ["/v1/AUTH_test/c/o", "/v1/AUTH_nobody/c/o"] {
            let dummy = dummy_key().expose();
            let sig = sign(
                Digest::Sha256,
                dummy,
                "GET",
                EXPIRES,
                Scope::Object(path),
                None,
            );
            let q = format!("temp_url_sig={sig}&temp_url_expires={EXPIRES}");
            assert!(check(path, http::Method::GET, &q, "127.0.0.1", 1).is_err());
        }
    }
}
