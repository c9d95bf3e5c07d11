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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    kind: String,
    root: Option<PathBuf>,
    #[serde(default)]
    hard_links: bool,
    // swift
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
    match b.kind.as_str() {
        "fs" => {
            only_for_kind(&b, "fs")?;
            fs_backend(b, base)
        }
        "swift" => {
            only_for_kind(&b, "swift")?;
            swift_backend(b, base).map(|s| BackendConfig::Swift(Box::new(s)))
        }
        "s3" => err(
            "backend.kind",
            format!(
                "{:?} is not supported by this build yet; use \"fs\" or \"swift\"",
                b.kind
            ),
        ),
        other => err(
            "backend.kind",
            format!("{other:?} is not one of \"fs\", \"s3\", \"swift\""),
        ),
    }
}

/// Refuses a key that belongs to another kind of backend than `kind`: it would be ignored,
/// and the operator who wrote it meant something by it.
fn only_for_kind(b: &RawBackend, kind: &str) -> Result<(), ConfigError> {
    let fs_keys = [("root", b.root.is_some()), ("hard_links", b.hard_links)];
    let swift_keys = [
        ("auth_url", b.auth_url.is_some()),
        ("user", b.user.is_some()),
        ("key", b.key.is_some()),
        ("key_env", b.key_env.is_some()),
        ("key_file", b.key_file.is_some()),
        ("user_domain", b.user_domain.is_some()),
        ("project", b.project.is_some()),
        ("project_domain", b.project_domain.is_some()),
        ("region", b.region.is_some()),
        ("account", b.account.is_some()),
        ("container", b.container.is_some()),
        ("object", b.object.is_some()),
        ("key_cache", b.key_cache.is_some()),
        ("connect_timeout", b.connect_timeout.is_some()),
        ("response_timeout", b.response_timeout.is_some()),
    ];
    let foreign: &[(&str, bool)] = match kind {
        "fs" => &swift_keys,
        _ => &fs_keys,
    };
    match foreign.iter().find(|(_, given)| *given) {
        Some((name, _)) => err(
            KeyPath::new("backend").key(name),
            format!("is not a key of the {kind:?} backend"),
        ),
        None => Ok(()),
    }
}

fn fs_backend(b: RawBackend, base: &Path) -> Result<BackendConfig, ConfigError> {
    match b.root {
        Some(root) => Ok(BackendConfig::Fs {
            root: base.join(root),
            hard_links: b.hard_links,
        }),
        None => err(
            "backend.root",
            "missing (the folder that holds <project>/<container>/<object>)",
        ),
    }
}

/// `[backend] kind = "swift"` (DESIGN §3b): v1 tempauth unless `auth_url` ends in `/v3`.
fn swift_backend(b: RawBackend, base: &Path) -> Result<SwiftStore, ConfigError> {
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
        let text = text.unwrap_or_else(|| default.to_string());
        Template::parse(&text, allowed).map_err(|e| ConfigError(format!("{}: {e}", key.key(name))))
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
