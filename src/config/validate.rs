//! From the file as written (`Raw*`, read strictly by serde) to a `Config`: each section
//! checked by its own function, in the order of the file, and every message naming the key
//! it is about by its `KeyPath`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::*;

/// Where a value sits in the file, as a message names it: `project[0].s3_key[1].access_key`.
#[derive(Debug, Clone)]
struct KeyPath(String);

impl KeyPath {
    fn new(name: &str) -> KeyPath {
        KeyPath(name.to_string())
    }
    /// `self.name`
    fn key(&self, name: &str) -> KeyPath {
        KeyPath(format!("{}.{name}", self.0))
    }
    /// `self[i]`
    fn at(&self, i: usize) -> KeyPath {
        KeyPath(format!("{}[{i}]", self.0))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses and validates config text; `base` resolves relative paths.
pub(super) fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError(toml_message(&e, text)))?;
    raw.validate(base)
}

fn err<T>(key: impl fmt::Display, msg: impl fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("{key}: {msg}")))
}

/// The path of a `public_url` (without its trailing `/`). Only unreserved characters
/// (RFC 3986) and `/`, so the path reads the same encoded and decoded, and link makers that
/// encode it cannot turn it into another; no empty or dot segments, which a proxy in front
/// would normalise away before Keyhole saw them.
fn mount_of(url: &str) -> Result<String, ConfigError> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // A host and port only: no user, query or fragment for links to inherit.
    let authority = |b: u8| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b);
    if host.is_empty() || !host.bytes().all(authority) {
        return err(
            "public_url",
            format!("{url:?}: the host must be a name or address and an optional port"),
        );
    }
    if path.is_empty() {
        return Ok(String::new());
    }
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~/".contains(&b);
    let segments_ok = path[1..]
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..");
    if !path.bytes().all(plain) || !segments_ok {
        return err(
            "public_url",
            format!(
                "{url:?}: the path must be segments of letters, digits and -._~ such as /files"
            ),
        );
    }
    Ok(path.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    workers: Option<usize>,
    log_format: Option<String>,
    max_link_lifetime: Option<u64>,
    #[serde(default)]
    swift: RawSwift,
    #[serde(default)]
    s3: RawS3,
    backend: Option<RawBackend>,
    #[serde(default)]
    project: Vec<RawProject>,
    #[serde(default)]
    api_token: Vec<RawApiToken>,
    #[serde(default)]
    proxy: RawProxy,
    /// Read key by key (see `limits`), so an unknown one is named with its table.
    #[serde(default)]
    limits: toml::Table,
    tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSwift {
    reseller_prefix: Option<String>,
    allowed_digests: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    regions: Option<Vec<String>>,
    domain: Option<String>,
}

/// `[backend]`: its `kind`, and the rest read by that kind's own strict struct, so a key of
/// another kind (`endpoint` with `kind = "fs"`) is named as unknown.
#[derive(Deserialize)]
struct RawBackend {
    kind: String,
    #[serde(flatten)]
    rest: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFsBackend {
    root: Option<PathBuf>,
    #[serde(default)]
    hard_links: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwiftBackend {
    auth_url: Option<String>,
    user: Option<String>,
    key: Option<String>,
    key_env: Option<String>,
    key_file: Option<PathBuf>,
    user_domain: Option<String>,
    project: Option<String>,
    project_domain: Option<String>,
    region: Option<String>,
    account: Option<String>,
    container: Option<String>,
    object: Option<String>,
    key_cache: Option<toml::Value>,
    connect_timeout: Option<toml::Value>,
    response_timeout: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3Backend {
    endpoint: Option<String>,
    region: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    secret_key_env: Option<String>,
    secret_key_file: Option<PathBuf>,
    style: Option<String>,
    bucket: Option<String>,
    object: Option<String>,
    connect_timeout: Option<toml::Value>,
    response_timeout: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    id: String,
    #[serde(default)]
    temp_url_keys: Vec<String>,
    #[serde(default)]
    any_container: bool,
    #[serde(default)]
    keys_from_store: bool,
    #[serde(default)]
    s3_key: Vec<RawS3Key>,
    #[serde(default)]
    container: Vec<RawContainer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3Key {
    access_key: String,
    secret_key: Option<String>,
    secret_key_env: Option<String>,
    secret_key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    name: String,
    #[serde(default)]
    temp_url_keys: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    cors_origins: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiToken {
    token: Option<String>,
    token_env: Option<String>,
    #[serde(default)]
    projects: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    #[serde(default)]
    trusted: Vec<String>,
    headers: Option<String>,
}

/// `[limits]`, each key checked and named with its table: `limits.max_streams: …`.
/// Longest timeout or grace: a day. Far beyond any use, and deadlines computed from it can
/// never overflow a clock.
const MAX_LIMIT_SECS: i64 = 86_400;

/// Most connections at once (each holds at least a descriptor).
const MAX_CONNECTIONS: i64 = 1_000_000;

fn limits(table: toml::Table) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    for (key, value) in table {
        let path = KeyPath::new("limits").key(&key);
        match key.as_str() {
            "max_streams" => {
                limits.max_streams = value
                    .as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n >= 1)
                    .map_or_else(
                        || err(&path, "must be a whole number from 1 to 4294967295"),
                        Ok,
                    )?
            }
            "header_read_timeout" => limits.header_read_timeout = seconds(&path, &value, 1)?,
            "idle_timeout" => limits.idle_timeout = seconds(&path, &value, 1)?,
            "send_timeout" => limits.send_timeout = seconds(&path, &value, 1)?,
            // 0 is meaningful here: close what is open at once.
            "shutdown_grace" => limits.shutdown_grace = seconds(&path, &value, 0)?,
            "max_connections" => {
                limits.max_connections = value
                    .as_integer()
                    .filter(|n| (1..=MAX_CONNECTIONS).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .map_or_else(
                        || {
                            err(
                                &path,
                                format!("must be a whole number from 1 to {MAX_CONNECTIONS}"),
                            )
                        },
                        Ok,
                    )?
            }
            _ => return err(&path, "unknown key"),
        }
    }
    Ok(limits)
}

/// A whole number of seconds from `min` to a day.
fn seconds(path: &KeyPath, value: &toml::Value, min: i64) -> Result<Duration, ConfigError> {
    match value.as_integer() {
        Some(n) if (min..=MAX_LIMIT_SECS).contains(&n) => Ok(Duration::from_secs(n.unsigned_abs())),
        _ => err(
            path,
            format!("must be a whole number of seconds from {min} to {MAX_LIMIT_SECS}"),
        ),
    }
}

fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message();
    let Some(span) = e.span() else {
        return msg.to_string();
    };
    let first = e.to_string();
    let line = first.lines().next().unwrap_or("").trim().to_string();
    // The key on the line the error points at, when that line is `key = value`.
    let start = text
        .get(..span.start)
        .map_or(0, |t| t.rfind('\n').map_or(0, |i| i + 1));
    let key = text
        .get(start..)
        .and_then(|rest| rest.lines().next())
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !msg.contains(*k) && !k.starts_with('['));
    // SECURITY: a mistyped secret must not be printed back (`invalid type: integer `1234``).
    let secret =
        key.is_some_and(|k| k.contains("secret") || k.contains("key") || k.contains("token"));
    let msg: Cow<'_, str> = if secret {
        without_quoted(msg).into()
    } else {
        msg.into()
    };
    match (line.is_empty(), key) {
        (true, _) => msg.to_string(),
        (false, Some(key)) => format!("{line}: {key}: {msg}"),
        (false, None) => format!("{line}: {msg}"),
    }
}

/// `text` with every `` `…` `` and `"…"` part taken out.
fn without_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(q) if c == q => open = None,
            Some(_) => {}
            None if c == '`' || c == '"' => {
                open = Some(c);
                out.push_str("(value hidden)");
            }
            None => out.push(c),
        }
    }
    out
}

fn non_empty(key: &KeyPath, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        return err(key, "must not be empty");
    }
    Ok(())
}

/// A name usable as one path segment on disk and in URLs.
fn segment_name(key: &KeyPath, v: &str) -> Result<(), ConfigError> {
    non_empty(key, v)?;
    if v == "." || v == ".." || v.contains('/') || v.contains('\0') || v.starts_with('_') {
        return err(
            key,
            format!("{v:?} is not a valid name (no '/', NUL, '.', '..' or leading '_')"),
        );
    }
    Ok(())
}

fn secret_from(
    key: &KeyPath,
    inline: Option<String>,
    env: Option<String>,
    file: Option<PathBuf>,
    base: &Path,
) -> Result<Secret, ConfigError> {
    let given = inline.is_some() as u8 + env.is_some() as u8 + file.is_some() as u8;
    if given != 1 {
        return err(key, "give exactly one of the value, `_env` or `_file`");
    }
    let value = if let Some(v) = inline {
        v
    } else if let Some(var) = env {
        std::env::var(&var).or_else(|_| {
            err(
                format!("{key}_env"),
                format!("environment variable {var} is not set"),
            )
        })?
    } else if let Some(path) = file {
        let path = base.join(path);
        let text = std::fs::read_to_string(&path).or_else(|e| {
            err(
                format!("{key}_file"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else {
        unreachable!("exactly one source was checked above")
    };
    if value.is_empty() {
        return err(key, "the secret is empty");
    }
    Ok(Secret::new(value))
}

fn keys(key: &KeyPath, list: Vec<String>) -> Result<Vec<TempUrlKey>, ConfigError> {
    if list.len() > 2 {
        return err(key, "at most two keys (Key and Key-2)");
    }
    list.into_iter()
        .enumerate()
        .map(|(i, k)| {
            if k.is_empty() {
                err(key.at(i), "the key is empty")
            } else {
                Ok(TempUrlKey::new(Secret::new(k)))
            }
        })
        .collect()
}

impl RawConfig {
    fn validate(self, base: &Path) -> Result<Config, ConfigError> {
        let listen = listen(self.listen)?;
        let public_url = public_url(self.public_url)?;
        let mount = match &public_url {
            Some(u) => mount_of(u)?,
            None => String::new(),
        };
        if self.workers == Some(0) {
            return err("workers", "must be at least 1");
        }
        let log_format = match self.log_format.as_deref() {
            None => LogFormat::Text,
            Some(f) => match LogFormat::parse(f) {
                Some(f) => f,
                None => return err("log_format", format!("{f:?} is not \"text\" or \"json\"")),
            },
        };
        if self.max_link_lifetime == Some(0) {
            return err("max_link_lifetime", "must be at least 1 second");
        }
        let swift = self.swift.validate(&KeyPath::new("swift"))?;
        let s3 = self.s3.validate(&KeyPath::new("s3"))?;
        let backend = backend(self.backend, base)?;
        let Projects {
            projects,
            project_index,
            s3_key_index,
        } = projects(self.project, base)?;
        if !matches!(backend, BackendConfig::Swift(_)) {
            if let Some(i) = projects.iter().position(|p| p.keys_from_store) {
                return err(
                    KeyPath::new("project").at(i).key("keys_from_store"),
                    "needs the swift backend ([backend] kind = \"swift\"), whose store keeps the keys",
                );
            }
        }
        if let BackendConfig::S3(store) = &backend {
            projects_kept_apart(store, &projects)?;
        }
        let api_tokens = api_tokens(self.api_token, &project_index, base)?;
        let proxy = self.proxy.validate(&KeyPath::new("proxy"))?;
        Ok(Config {
            listen,
            public_url,
            mount,
            workers: self.workers,
            log_format,
            max_link_lifetime: self.max_link_lifetime,
            swift,
            s3,
            backend,
            projects,
            api_tokens,
            proxy,
            limits: limits(self.limits)?,
            tls: tls(self.tls, base)?,
            project_index,
            s3_key_index,
        })
    }
}

/// `[tls]`: both files are read and checked now, so a bad one fails the start or the reload.
fn tls(raw: Option<RawTls>, base: &Path) -> Result<Option<crate::tls::Tls>, ConfigError> {
    let Some(t) = raw else { return Ok(None) };
    let cert = t
        .cert
        .ok_or_else(|| ConfigError("tls.cert: missing (the PEM certificate chain)".into()))?;
    let key = t
        .key
        .ok_or_else(|| ConfigError("tls.key: missing (the PEM private key)".into()))?;
    crate::tls::load(base.join(cert), base.join(key))
        .map(Some)
        .map_err(ConfigError)
}

fn listen(text: Option<String>) -> Result<SocketAddr, ConfigError> {
    let text = text.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    text.parse().or_else(|_| {
        err(
            "listen",
            format!("{text:?} is not an address like 127.0.0.1:8080"),
        )
    })
}

/// `public_url` without its trailing `/`.
fn public_url(url: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(u) = url else { return Ok(None) };
    let u = u.trim_end_matches('/').to_string();
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= "https://".len() {
        return err(
            "public_url",
            format!("{u:?} must start with http:// or https:// and name a host"),
        );
    }
    Ok(Some(u))
}

impl RawSwift {
    fn validate(self, key: &KeyPath) -> Result<SwiftConfig, ConfigError> {
        let reseller_prefix = self.reseller_prefix.unwrap_or_else(|| "AUTH_".to_string());
        if reseller_prefix.contains('/') {
            return err(key.key("reseller_prefix"), "must not contain '/'");
        }
        let digests = key.key("allowed_digests");
        let allowed_digests = match self.allowed_digests {
            None => vec![Digest::Sha1, Digest::Sha256, Digest::Sha512],
            Some(list) if list.is_empty() => {
                return err(digests, "must name at least one digest");
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    Digest::from_name(name).map_or_else(
                        || {
                            err(
                                digests.at(i),
                                format!("{name:?} is not one of sha1, sha256, sha512"),
                            )
                        },
                        Ok,
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(SwiftConfig {
            reseller_prefix,
            allowed_digests,
        })
    }
}

impl RawS3 {
    fn validate(self, key: &KeyPath) -> Result<S3Config, ConfigError> {
        let regions = self
            .regions
            .unwrap_or_else(|| vec!["us-east-1".to_string()]);
        if regions.is_empty() {
            return err(key.key("regions"), "must name at least one region");
        }
        for (i, r) in regions.iter().enumerate() {
            if r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return err(
                    key.key("regions").at(i),
                    format!("{r:?} is not a region name"),
                );
            }
        }
        let domain = match self.domain {
            Some(d) if d.is_empty() => return err(key.key("domain"), "must not be empty"),
            Some(d) => Some(d.to_ascii_lowercase()),
            None => None,
        };
        Ok(S3Config { regions, domain })
    }
}

fn backend(raw: Option<RawBackend>, base: &Path) -> Result<BackendConfig, ConfigError> {
    let Some(b) = raw else {
        return err(
            "backend",
            "missing section ([backend] kind = \"fs\", root = ...)",
        );
    };
    let key = KeyPath::new("backend");
    match b.kind.as_str() {
        "fs" => {
            let fs: RawFsBackend = kind_table(&key, b.rest)?;
            match fs.root {
                Some(root) => Ok(BackendConfig::Fs {
                    root: base.join(root),
                    hard_links: fs.hard_links,
                }),
                None => err(
                    "backend.root",
                    "missing (the folder that holds <project>/<container>/<object>)",
                ),
            }
        }
        "s3" => Ok(BackendConfig::S3(Box::new(
            kind_table::<RawS3Backend>(&key, b.rest)?.validate(&key, base)?,
        ))),
        "swift" => swift_backend(kind_table(&key, b.rest)?, base)
            .map(|s| BackendConfig::Swift(Box::new(s))),
        other => err(
            "backend.kind",
            format!("{other:?} is not one of \"fs\", \"s3\", \"swift\""),
        ),
    }
}

/// `[backend] kind = "swift"` (DESIGN §3b): v1 tempauth unless `auth_url` ends in `/v3`.
fn swift_backend(b: RawSwiftBackend, base: &Path) -> Result<SwiftStore, ConfigError> {
    use crate::upstream::swift_auth::Login;
    use template::Placeholder::{Container, Object, Project};
    let key = KeyPath::new("backend");
    let required = |name: &str, v: Option<String>| match v {
        Some(v) => non_empty(&key.key(name), &v).map(|()| v),
        None => err(key.key(name), "missing (the swift backend needs it)"),
    };
    let auth_url = required("auth_url", b.auth_url)?;
    let user = required("user", b.user)?;
    let secret = secret_from(&key.key("key"), b.key, b.key_env, b.key_file, base)?;
    let keystone = auth_url.trim_end_matches('/').ends_with("/v3");
    let bad_url = |_| {
        ConfigError(format!(
            "{}: {auth_url:?} is not an http(s) URL",
            key.key("auth_url")
        ))
    };
    let login = if keystone {
        let project = required("project", b.project)?;
        let domain = |name: &str, v: Option<String>| match v {
            Some(v) => non_empty(&key.key(name), &v).map(|()| v),
            None => Ok("Default".to_string()),
        };
        let user_domain = domain("user_domain", b.user_domain)?;
        let project_domain = domain("project_domain", b.project_domain)?;
        if let Some(r) = &b.region {
            non_empty(&key.key("region"), r)?;
        }
        Login::keystone(
            &auth_url,
            &user,
            &user_domain,
            secret,
            &project,
            &project_domain,
            b.region.as_deref(),
        )
        .map_err(bad_url)?
    } else {
        let v3_only = [
            ("user_domain", b.user_domain.is_some()),
            ("project", b.project.is_some()),
            ("project_domain", b.project_domain.is_some()),
            ("region", b.region.is_some()),
        ];
        if let Some((name, _)) = v3_only.iter().find(|(_, given)| *given) {
            return err(
                key.key(name),
                "is for Keystone v3 only (an auth_url ending in /v3); this auth_url is tempauth v1",
            );
        }
        Login::tempauth(&auth_url, &user, secret).map_err(bad_url)?
    };
    let template = |name: &str, text: Option<String>, default: &str, allowed: &[Placeholder]| {
        template(&key.key(name), text.as_deref().unwrap_or(default), allowed)
    };
    let account = match b.account {
        Some(text) => Some(template("account", Some(text), "", &[Project])?),
        None => None,
    };
    let container = template(
        "container",
        b.container,
        "{container}",
        &[Project, Container],
    )?;
    let object = template(
        "object",
        b.object,
        "{object}",
        &[Project, Container, Object],
    )?;
    if !object.uses(Object) {
        return err(
            key.key("object"),
            "must hold {object}, or every link would open the same object",
        );
    }
    let secs = |name: &str, v: Option<toml::Value>, default: u64| match v {
        Some(v) => seconds(&key.key(name), &v, 1),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(SwiftStore {
        login,
        account,
        container,
        object,
        key_cache: secs("key_cache", b.key_cache, 60)?,
        connect_timeout: secs("connect_timeout", b.connect_timeout, 5)?,
        response_timeout: secs("response_timeout", b.response_timeout, 30)?,
    })
}

/// The keys of `[backend]` besides `kind`, read as one kind's struct. An unknown key is named
/// with its table; a value of the wrong type is named by its key but never printed (it may be
/// a secret).
fn kind_table<T: serde::de::DeserializeOwned>(
    key: &KeyPath,
    rest: toml::Table,
) -> Result<T, ConfigError> {
    T::deserialize(toml::Value::Table(rest.clone())).or_else(|e| {
        let msg = e.message().to_string();
        if let Some(field) = msg
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
        {
            return err(key.key(field), "unknown key");
        }
        // serde names no key for a wrong type: find the one whose value has that type.
        let named = rest
            .iter()
            .find(|(_, v)| msg.contains(&format!("invalid type: {}", v.type_str())))
            .map_or_else(|| key.clone(), |(k, _)| key.key(k));
        err(named, without_quoted(&msg))
    })
}

/// A URL of the store: `http(s)://host[:port]` and nothing else.
fn store_url(key: &KeyPath, text: &str) -> Result<http::Uri, ConfigError> {
    let bad = |why: &str| {
        err(
            key,
            format!("{text:?} {why}: give http(s)://host[:port], e.g. http://127.0.0.1:8333"),
        )
    };
    let Ok(uri) = text.parse::<http::Uri>() else {
        return bad("is not a URL");
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return bad("must start with http:// or https://");
    }
    let Some(authority) = uri.authority() else {
        return bad("names no host");
    };
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return bad("must name a host (and no user)");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return bad("has a path or query");
    }
    Ok(uri)
}

impl RawS3Backend {
    fn validate(self, key: &KeyPath, base: &Path) -> Result<S3Store, ConfigError> {
        let required = |name: &str, v: Option<String>| match v {
            Some(v) => non_empty(&key.key(name), &v).map(|()| v),
            None => err(key.key(name), "missing"),
        };
        let endpoint_text = required("endpoint", self.endpoint)?;
        let endpoint = store_url(&key.key("endpoint"), &endpoint_text)?;
        let region = self.region.unwrap_or_else(|| "us-east-1".to_string());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return err(
                key.key("region"),
                format!("{region:?} is not a region name"),
            );
        }
        let access_key = required("access_key", self.access_key)?;
        // It is written into the Credential of every request's Authorization header.
        if !access_key
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"/,=".contains(&b))
        {
            return err(
                key.key("access_key"),
                "must be printable ASCII without spaces, '/', ',' or '='",
            );
        }
        let secret_key = secret_from(
            &key.key("secret_key"),
            self.secret_key,
            self.secret_key_env,
            self.secret_key_file,
            base,
        )?;
        let style = match self.style.as_deref() {
            None | Some("path") => S3Style::Path,
            Some("virtual") => S3Style::Virtual,
            Some(other) => {
                return err(
                    key.key("style"),
                    format!("{other:?} is not \"path\" or \"virtual\""),
                )
            }
        };
        if style == S3Style::Virtual {
            let host = endpoint.host().unwrap_or_default();
            if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
                return err(
                    key.key("style"),
                    "\"virtual\" needs an endpoint with a host name (<bucket>.<host>), not an IP address",
                );
            }
        }
        let bucket = template(
            &key.key("bucket"),
            self.bucket.as_deref().unwrap_or("{container}"),
            &[Placeholder::Project, Placeholder::Container],
        )?;
        // A bucket is a DNS label or a path segment: its fixed text must keep it one.
        let bucket_char =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
        if !bucket.literals().all(|t| t.bytes().all(bucket_char)) {
            return err(
                key.key("bucket"),
                "its text may hold only lowercase letters, digits, '.' and '-'",
            );
        }
        if bucket.count(Placeholder::Container) > 1 {
            return err(key.key("bucket"), "{container} may appear only once");
        }
        let object = template(
            &key.key("object"),
            self.object.as_deref().unwrap_or("{object}"),
            &[
                Placeholder::Project,
                Placeholder::Container,
                Placeholder::Object,
            ],
        )?;
        if object.count(Placeholder::Object) == 0 {
            return err(
                key.key("object"),
                "must hold {object}, or every link would fetch the same key",
            );
        }
        // The key of a plain object name must itself be a plain name: no leading '/', no
        // empty, '.' or '..' segment that a store could normalise into another key.
        if !crate::names::valid_object_name(&object.render("p", "c", "o")) {
            return err(
                key.key("object"),
                "must make a key without a leading '/', '//', or '.' and '..' segments",
            );
        }
        let timeout = |name: &str, v: Option<toml::Value>, default: i64| {
            seconds(
                &key.key(name),
                &v.unwrap_or(toml::Value::Integer(default)),
                1,
            )
        };
        Ok(S3Store {
            endpoint,
            region,
            access_key,
            secret_key,
            style,
            bucket,
            object,
            connect_timeout: timeout("connect_timeout", self.connect_timeout, 5)?,
            response_timeout: timeout("response_timeout", self.response_timeout, 30)?,
        })
    }
}

/// With `{project}` in the templates, no project's buckets and keys may be another's: the
/// fixed text up to the first container or object name must not be a prefix of another
/// project's. Otherwise `kh-{project}-{container}` would give project `a`, container `b-x`
/// the bucket of project `a-b`, container `x`, and an `any_container` link of `a` would
/// open it. (Without `{project}` the projects share the store's names by design.)
// SECURITY: a link is signed with its own project's keys; this keeps it inside that
// project's part of the store.
fn projects_kept_apart(store: &S3Store, projects: &[Project]) -> Result<(), ConfigError> {
    if store.bucket.count(Placeholder::Project) + store.object.count(Placeholder::Project) == 0 {
        return Ok(());
    }
    // NUL ends the fixed text: no project id, bucket or key text can hold one. Two projects
    // are apart when their buckets or their keys begin differently.
    // A head is the whole name when no container or object name follows it (`open` false).
    let head = |t: &Template, p: &str| {
        let whole = t.render(p, "\0", "\0");
        match whole.split_once('\0') {
            Some((fixed, _)) => (fixed.to_string(), true),
            None => (whole, false),
        }
    };
    let heads: Vec<_> = projects
        .iter()
        .map(|p| (head(&store.bucket, &p.id), head(&store.object, &p.id)))
        .collect();
    let meet = |(a, a_open): &(String, bool), (b, b_open): &(String, bool)| {
        (*b_open && a.starts_with(b.as_str())) || (*a_open && b.starts_with(a.as_str())) || a == b
    };
    for (i, a) in heads.iter().enumerate() {
        for (j, b) in heads.iter().enumerate().skip(i + 1) {
            if meet(&a.0, &b.0) && meet(&a.1, &b.1) {
                return err(
                    "backend.bucket",
                    format!(
                        "projects {:?} and {:?} could name the same bucket and key: put a \
                         separator no project id holds ('/' in `object`, or a fixed end) after \
                         {{project}}",
                        projects[i].id, projects[j].id
                    ),
                );
            }
        }
    }
    Ok(())
}

fn template(key: &KeyPath, text: &str, allowed: &[Placeholder]) -> Result<Template, ConfigError> {
    non_empty(key, text)?;
    Template::parse(text, allowed).or_else(|e| err(key, e))
}

/// The projects and the indexes that find them (by id, and by S3 access key).
struct Projects {
    projects: Vec<Project>,
    project_index: HashMap<String, usize, RandomState>,
    s3_key_index: HashMap<String, (usize, usize), RandomState>,
}

fn projects(list: Vec<RawProject>, base: &Path) -> Result<Projects, ConfigError> {
    let mut out = Projects {
        projects: Vec::new(),
        project_index: HashMap::default(),
        s3_key_index: HashMap::default(),
    };
    for (pi, p) in list.into_iter().enumerate() {
        let key = KeyPath::new("project").at(pi);
        segment_name(&key.key("id"), &p.id)?;
        if out.project_index.insert(p.id.clone(), pi).is_some() {
            return err(key.key("id"), format!("duplicate project {:?}", p.id));
        }
        let temp_url_keys = keys(&key.key("temp_url_keys"), p.temp_url_keys)?;
        let mut s3_keys = Vec::new();
        for (ki, k) in p.s3_key.into_iter().enumerate() {
            let kkey = key.key("s3_key").at(ki);
            non_empty(&kkey.key("access_key"), &k.access_key)?;
            if out
                .s3_key_index
                .insert(k.access_key.clone(), (pi, ki))
                .is_some()
            {
                return err(
                    kkey.key("access_key"),
                    format!("duplicate access key {:?}", k.access_key),
                );
            }
            s3_keys.push(k.validate(&kkey, base)?);
        }
        let mut containers: Vec<Container> = Vec::new();
        for (ci, c) in p.container.into_iter().enumerate() {
            let ckey = key.key("container").at(ci);
            segment_name(&ckey.key("name"), &c.name)?;
            if containers.iter().any(|o| o.name == c.name) {
                return err(
                    ckey.key("name"),
                    format!("duplicate container {:?}", c.name),
                );
            }
            containers.push(c.validate(&ckey)?);
        }
        out.projects.push(Project {
            id: p.id,
            temp_url_keys,
            any_container: p.any_container,
            keys_from_store: p.keys_from_store,
            s3_keys,
            containers,
        });
    }
    Ok(out)
}

impl RawS3Key {
    fn validate(self, key: &KeyPath, base: &Path) -> Result<S3Key, ConfigError> {
        let secret_key = secret_from(
            &key.key("secret_key"),
            self.secret_key,
            self.secret_key_env,
            self.secret_key_file,
            base,
        )?;
        Ok(S3Key {
            access_key: self.access_key,
            secret_key,
        })
    }
}

impl RawContainer {
    /// Its name was checked, and found unique, by the caller.
    fn validate(self, key: &KeyPath) -> Result<Container, ConfigError> {
        for (oi, o) in self.cors_origins.iter().enumerate() {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return err(
                    key.key("cors_origins").at(oi),
                    format!("{o:?} is not \"*\" or an origin like https://app.example.com"),
                );
            }
        }
        Ok(Container {
            temp_url_keys: keys(&key.key("temp_url_keys"), self.temp_url_keys)?,
            name: self.name,
            public: self.public,
            cors_origins: self
                .cors_origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        })
    }
}

fn api_tokens(
    list: Vec<RawApiToken>,
    project_index: &HashMap<String, usize, RandomState>,
    base: &Path,
) -> Result<Vec<ApiToken>, ConfigError> {
    let mut out = Vec::new();
    for (ti, t) in list.into_iter().enumerate() {
        let key = KeyPath::new("api_token").at(ti);
        let token = secret_from(&key.key("token"), t.token, t.token_env, None, base)?;
        for (i, p) in t.projects.iter().enumerate() {
            if !project_index.contains_key(p) {
                return err(
                    key.key("projects").at(i),
                    format!("no project {p:?} is configured"),
                );
            }
        }
        out.push(ApiToken {
            token,
            projects: t.projects,
        });
    }
    Ok(out)
}

impl RawProxy {
    fn validate(self, key: &KeyPath) -> Result<ProxyConfig, ConfigError> {
        let mut trusted = Vec::new();
        for (i, cidr) in self.trusted.iter().enumerate() {
            let net = crate::ip_range::parse(cidr).map_or_else(
                || {
                    err(
                        key.key("trusted").at(i),
                        format!("{cidr:?} is not a CIDR such as 10.0.0.0/8"),
                    )
                },
                Ok,
            )?;
            trusted.push(net);
        }
        let headers = match self.headers.as_deref() {
            None => crate::forwarded::Family::default(),
            Some(name) => crate::forwarded::Family::parse(name).ok_or_else(|| {
                ConfigError(format!(
                    "{}: {name:?} is not \"x-forwarded\" or \"forwarded\"",
                    key.key("headers")
                ))
            })?,
        };
        Ok(ProxyConfig { trusted, headers })
    }
}

#[cfg(test)]
mod s3_backend_tests {
    use super::*;

    const PROJECTS: &str = "[[project]]\nid = \"p1\"\ntemp_url_keys = [\"k\"]\n";

    fn with_backend(lines: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "[backend]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:8333\"\n\
             access_key = \"AK\"\nsecret_key = \"SK\"\n{lines}\n{PROJECTS}"
        );
        parse(&text, Path::new("/etc/keyhole"))
    }

    fn store(lines: &str) -> S3Store {
        match with_backend(lines) {
            Ok(Config {
                backend: BackendConfig::S3(s),
                ..
            }) => *s,
            Ok(_) => panic!("not an s3 backend"),
            Err(e) => panic!("refused: {e}"),
        }
    }

    fn error_of(lines: &str) -> String {
        match with_backend(lines) {
            Ok(_) => panic!("accepted: {lines}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn an_s3_backend_defaults_to_path_style_and_names_as_given() {
        let s = store("");
        assert_eq!(s.endpoint.to_string(), "http://127.0.0.1:8333/");
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.style, S3Style::Path);
        assert_eq!(s.access_key, "AK");
        assert_eq!(s.secret_key.expose(), "SK");
        assert_eq!(s.bucket.render("p", "c", "o"), "c");
        assert_eq!(s.object.render("p", "c", "a/b"), "a/b");
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.response_timeout, Duration::from_secs(30));
        let s = store(
            "region = \"eu-west-3\"\nbucket = \"kh-{project}\"\nobject = \"{container}/{object}\"\n\
             connect_timeout = 2\nresponse_timeout = 9\n",
        );
        assert_eq!(s.region, "eu-west-3");
        assert_eq!(s.bucket.render("p1", "c", "o"), "kh-p1");
        assert_eq!(s.object.render("p1", "c", "a/b"), "c/a/b");
        assert_eq!(
            (s.connect_timeout, s.response_timeout),
            (Duration::from_secs(2), Duration::from_secs(9))
        );
    }

    #[test]
    fn the_secret_comes_from_the_environment_or_a_file_like_the_project_keys() {
        std::env::set_var("KEYHOLE_TEST_S3_BACKEND_SECRET", "env-secret");
        let text = "secret_key_env = \"KEYHOLE_TEST_S3_BACKEND_SECRET\"";
        let e = error_of(text);
        assert!(e.contains("backend.secret_key: give exactly one"), "{e}");
        let cfg = format!(
            "[backend]\nkind = \"s3\"\nendpoint = \"https://s3.example.com\"\naccess_key = \"AK\"\n\
             {text}\n{PROJECTS}"
        );
        let c = parse(&cfg, Path::new("/")).unwrap();
        let BackendConfig::S3(s) = c.backend else {
            panic!("s3")
        };
        assert_eq!(s.secret_key.expose(), "env-secret");
        let missing = cfg.replace("KEYHOLE_TEST_S3_BACKEND_SECRET", "KEYHOLE_TEST_S3_UNSET");
        let e = parse(&missing, Path::new("/")).unwrap_err().0;
        assert!(e.starts_with("backend.secret_key_env:"), "{e}");
        let file = cfg.replace(text, "secret_key_file = \"/nonexistent/keyhole-secret\"");
        let e = parse(&file, Path::new("/")).unwrap_err().0;
        assert!(e.starts_with("backend.secret_key_file:"), "{e}");
    }

    #[test]
    fn an_empty_or_mistyped_secret_is_named_and_never_printed() {
        let cfg = |secret: &str| {
            format!(
                "[backend]\nkind = \"s3\"\nendpoint = \"http://h:1\"\naccess_key = \"AK\"\n\
                 secret_key = {secret}\n{PROJECTS}"
            )
        };
        let e = parse(&cfg("\"\""), Path::new("/")).unwrap_err().0;
        assert!(
            e.starts_with("backend.secret_key: the secret is empty"),
            "{e}"
        );
        let e = parse(&cfg("73219846"), Path::new("/")).unwrap_err().0;
        assert!(
            e.starts_with("backend.secret_key:") && !e.contains("73219846"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_endpoint_is_refused_by_its_key() {
        for bad in [
            "127.0.0.1:8333",
            "ftp://h",
            "http://",
            "http://user:pw@h",
            "http://h/prefix",
            "http://h/?a=b",
            "http://h h",
        ] {
            let text = format!(
                "[backend]\nkind = \"s3\"\nendpoint = {bad:?}\naccess_key = \"AK\"\n\
                 secret_key = \"SK\"\n{PROJECTS}"
            );
            let e = parse(&text, Path::new("/")).unwrap_err().0;
            assert!(e.starts_with("backend.endpoint:"), "{bad}: {e}");
        }
        let e = parse(
            &format!(
                "[backend]\nkind = \"s3\"\naccess_key = \"AK\"\nsecret_key = \"SK\"\n{PROJECTS}"
            ),
            Path::new("/"),
        )
        .unwrap_err()
        .0;
        assert_eq!(e, "backend.endpoint: missing");
    }

    #[test]
    fn templates_take_only_their_placeholders_and_make_plain_names() {
        for (lines, want) in [
            (
                "bucket = \"{object}\"",
                "backend.bucket: {object} cannot be used here",
            ),
            (
                "bucket = \"{tenant}\"",
                "backend.bucket: unknown placeholder",
            ),
            (
                "bucket = \"Media_{container}\"",
                "backend.bucket: its text may hold only",
            ),
            (
                "bucket = \"{container}{container}\"",
                "backend.bucket: {container} may appear",
            ),
            ("bucket = \"\"", "backend.bucket: must not be empty"),
            (
                "object = \"{container}\"",
                "backend.object: must hold {object}",
            ),
            (
                "object = \"{objects}\"",
                "backend.object: unknown placeholder",
            ),
            ("object = \"/{object}\"", "backend.object: must make a key"),
            (
                "object = \"{project}//{object}\"",
                "backend.object: must make a key",
            ),
            (
                "object = \"../{object}\"",
                "backend.object: must make a key",
            ),
        ] {
            let e = error_of(lines);
            assert!(e.starts_with(want), "{lines}: {e}");
        }
    }

    #[test]
    fn style_region_access_key_and_timeouts_are_checked_by_their_key() {
        for (lines, want) in [
            ("style = \"Virtual\"", "backend.style:"),
            ("region = \"us east\"", "backend.region:"),
            ("region = \"\"", "backend.region:"),
            ("connect_timeout = 0", "backend.connect_timeout: must be"),
            ("response_timeout = \"30s\"", "backend.response_timeout"),
            ("root = \"/data\"", "backend.root: unknown key"),
            ("auth_url = \"http://x\"", "backend.auth_url: unknown key"),
        ] {
            let e = error_of(lines);
            assert!(e.starts_with(want), "{lines}: {e}");
        }
        let cfg = |endpoint: &str, ak: &str| {
            format!(
                "[backend]\nkind = \"s3\"\nendpoint = {endpoint:?}\naccess_key = {ak:?}\n\
                 secret_key = \"SK\"\nstyle = \"virtual\"\n{PROJECTS}"
            )
        };
        let c = parse(&cfg("http://s3.local:9000", "AK"), Path::new("/")).unwrap();
        assert!(matches!(c.backend, BackendConfig::S3(s) if s.style == S3Style::Virtual));
        for ip in ["http://127.0.0.1:9000", "http://[::1]:9000"] {
            let e = parse(&cfg(ip, "AK"), Path::new("/")).unwrap_err().0;
            assert!(e.starts_with("backend.style:"), "{e}");
        }
        for ak in ["", "a/b", "a b", "a,b"] {
            let e = parse(&cfg("http://s3.local", ak), Path::new("/"))
                .unwrap_err()
                .0;
            assert!(e.starts_with("backend.access_key:"), "{ak:?}: {e}");
        }
    }

    #[test]
    fn projects_whose_buckets_or_keys_could_meet_are_refused() {
        let two = |bucket: &str, object: &str, ids: [&str; 2]| {
            let text = format!(
                "[backend]\nkind = \"s3\"\nendpoint = \"http://h:1\"\naccess_key = \"AK\"\n\
                 secret_key = \"SK\"\nbucket = \"{bucket}\"\nobject = \"{object}\"\n\
                 [[project]]\nid = \"{}\"\n[[project]]\nid = \"{}\"\n",
                ids[0], ids[1]
            );
            parse(&text, Path::new("/")).map(drop).map_err(|e| e.0)
        };
        // Project a, container b-x and project a-b, container x: one bucket.
        let e = two("kh-{project}-{container}", "{object}", ["a", "a-b"]).unwrap_err();
        assert!(
            e.starts_with("backend.bucket: projects \"a\" and \"a-b\""),
            "{e}"
        );
        let e = two("media", "{project}{container}/{object}", ["a-b", "a"]).unwrap_err();
        assert!(e.contains("could name the same bucket and key"), "{e}");
        let e = two("{container}-{project}", "{object}", ["a", "b"]).unwrap_err();
        assert!(e.contains("could name the same"), "{e}");
        let e = two("{container}", "{project}{object}", ["a-b", "a"]).unwrap_err();
        assert!(e.contains("could name the same"), "{e}");
        // A separator no id holds, or no {project} at all (shared by design), is fine.
        two("media", "{project}/{container}/{object}", ["a", "a-b"]).unwrap();
        two("{container}", "{project}/{object}", ["a", "a-b"]).unwrap();
        two("kh-{project}", "{container}/{object}", ["a", "a-b"]).unwrap();
        two("kh-{project}-{container}", "{object}", ["a", "b"]).unwrap();
        two("{container}", "{object}", ["a", "a-b"]).unwrap();
    }

    #[test]
    fn an_fs_backend_names_a_key_of_another_kind_as_unknown() {
        let text =
            format!("[backend]\nkind = \"fs\"\nroot = \"d\"\nendpoint = \"http://h\"\n{PROJECTS}");
        let e = parse(&text, Path::new("/")).unwrap_err().0;
        assert_eq!(e, "backend.endpoint: unknown key");
    }
}
