//! The TOML configuration: parsed strictly, validated once at start, then read-only.
//!
//! Every error names the key it is about (`project[0].s3_key[1].secret_key: …`), because the
//! operator fixing it has only the message.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use foldhash::fast::RandomState;
use ipnet::IpNet;
use serde::Deserialize;

use crate::auth::swift::{Digest, TempUrlKey};

/// A configuration that passed validation.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Base of the links Keyhole makes, without a trailing slash. When unset, links use the
    /// address the request came to (API, share page) or `http://<listen>` (CLI).
    pub public_url: Option<String>,
    /// The path of `public_url` (`/files`), empty when it has none: a proxy mounts Keyhole
    /// there and passes the path on whole, so every route lives under it.
    pub mount: String,
    pub workers: Option<usize>,
    /// Longest lifetime of a link of any kind, in seconds (None: each protocol's own rule).
    pub max_link_lifetime: Option<u64>,
    pub swift: SwiftConfig,
    pub s3: S3Config,
    pub backend: BackendConfig,
    pub projects: Vec<Project>,
    pub api_tokens: Vec<ApiToken>,
    pub proxy: ProxyConfig,
    pub limits: Limits,
    // foldhash, not SipHash: these maps are built from the config alone, so a request can
    // only look names up, never add colliding ones.
    project_index: HashMap<String, usize, RandomState>,
    /// access key -> (project index, key index)
    s3_key_index: HashMap<String, (usize, usize), RandomState>,
}

#[derive(Debug)]
pub struct SwiftConfig {
    pub reseller_prefix: String,
    pub allowed_digests: Vec<Digest>,
}

#[derive(Debug)]
pub struct S3Config {
    pub regions: Vec<String>,
    pub domain: Option<String>,
}

#[derive(Debug)]
pub enum BackendConfig {
    Fs {
        root: PathBuf,
        /// Serve files with more than one name (hard links); off by default.
        hard_links: bool,
    },
}

#[derive(Debug)]
pub struct Project {
    pub id: String,
    pub temp_url_keys: Vec<TempUrlKey>,
    /// Every container the store holds for this project exists, not only the listed ones.
    pub any_container: bool,
    pub s3_keys: Vec<S3Key>,
    pub containers: Vec<Container>,
}

#[derive(Debug)]
pub struct S3Key {
    pub access_key: String,
    pub secret_key: Secret,
}

#[derive(Debug)]
pub struct Container {
    pub name: String,
    pub temp_url_keys: Vec<TempUrlKey>,
    pub public: bool,
    pub cors_origins: Vec<String>,
}

#[derive(Debug)]
pub struct ApiToken {
    pub token: Secret,
    pub projects: Vec<String>,
}

/// `[limits]`: what one client may hold of the server, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// HTTP/2 streams a connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_streams: u32,
    /// A request head must arrive within this (from accept, or from its first byte).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// A connection whose client takes no byte for this long, mid-response, is dropped.
    pub send_timeout: Duration,
    /// Connections open at once; past it the listener waits for one to close.
    pub max_connections: u32,
    /// SIGTERM/SIGINT: how long in-flight requests get to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_streams: 100,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Longest timeout or grace: a day. Far beyond any use, and deadlines computed from it can
/// never overflow a clock.
const MAX_LIMIT_SECS: i64 = 86_400;

/// Most connections at once (each holds at least a descriptor).
const MAX_CONNECTIONS: i64 = 1_000_000;

#[derive(Debug, Default)]
pub struct ProxyConfig {
    pub trusted: Vec<IpNet>,
    /// The one family of forwarded headers those proxies set; the other is ignored.
    pub headers: crate::forwarded::Family,
}

/// Key material. Debug never prints it, so a logged config cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A configuration error: what is wrong, and the key it is wrong at.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

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

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    workers: Option<usize>,
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
fn limits(table: toml::Table) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    for (key, value) in table {
        let path = format!("limits.{key}");
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
fn seconds(path: &str, value: &toml::Value, min: i64) -> Result<Duration, ConfigError> {
    match value.as_integer() {
        Some(n) if (min..=MAX_LIMIT_SECS).contains(&n) => Ok(Duration::from_secs(n.unsigned_abs())),
        _ => err(
            path,
            format!("must be a whole number of seconds from {min} to {MAX_LIMIT_SECS}"),
        ),
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    /// Reads and validates a config file. Relative paths in it (backend root, secret files)
    /// are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and validates config text; `base` resolves relative paths.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError(toml_message(&e, text)))?;
        raw.validate(base)
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.project_index.get(id).map(|&i| &self.projects[i])
    }

    /// The project an S3 access key belongs to, and the key.
    pub fn s3_key(&self, access_key: &str) -> Option<(&Project, &S3Key)> {
        let &(p, k) = self.s3_key_index.get(access_key)?;
        let project = &self.projects[p];
        Some((project, &project.s3_keys[k]))
    }

    /// The project that holds `bucket` for S3 requests without a key (public containers).
    pub fn public_bucket(&self, bucket: &str) -> Option<(&Project, &Container)> {
        self.bucket(bucket).filter(|(_, c)| c.public)
    }

    /// The container an S3 bucket name means when no access key says whose it is (public
    /// buckets, CORS preflights). S3 buckets are global names, so a name two projects share is
    /// ambiguous and matches none.
    pub fn bucket(&self, bucket: &str) -> Option<(&Project, &Container)> {
        let mut found = None;
        for p in &self.projects {
            if let Some(c) = p.container(bucket) {
                if found.is_some() {
                    return None;
                }
                found = Some((p, c));
            }
        }
        found
    }
}

impl Project {
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Whether `name` is a container of this project at all (DESIGN §3 `any_container`):
    /// a listed one, or, with `any_container`, any the store holds. A link to any other name
    /// opens nothing, however well it is signed.
    pub fn has_container(&self, name: &str) -> bool {
        self.any_container || self.container(name).is_some()
    }
}

/// toml's message carries line and column; a wrong type names only the value, so the key
/// written on that line is added. Kept on one line.
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

fn non_empty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        return err(key, "must not be empty");
    }
    Ok(())
}

/// A name usable as one path segment on disk and in URLs.
fn segment_name(key: &str, v: &str) -> Result<(), ConfigError> {
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
    key: &str,
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
    Ok(Secret(value))
}

fn keys(key: &str, list: Vec<String>) -> Result<Vec<TempUrlKey>, ConfigError> {
    if list.len() > 2 {
        return err(key, "at most two keys (Key and Key-2)");
    }
    list.into_iter()
        .enumerate()
        .map(|(i, k)| {
            if k.is_empty() {
                err(format!("{key}[{i}]"), "the key is empty")
            } else {
                Ok(TempUrlKey::new(Secret(k)))
            }
        })
        .collect()
}

impl RawConfig {
    fn validate(self, base: &Path) -> Result<Config, ConfigError> {
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().or_else(|_| {
            err(
                "listen",
                format!("{listen_text:?} is not an address like 127.0.0.1:8080"),
            )
        })?;
        let public_url = match self.public_url {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                if !(u.starts_with("http://") || u.starts_with("https://"))
                    || u.len() <= "https://".len()
                {
                    return err(
                        "public_url",
                        format!("{u:?} must start with http:// or https:// and name a host"),
                    );
                }
                Some(u)
            }
            None => None,
        };
        let mount = match &public_url {
            Some(u) => mount_of(u)?,
            None => String::new(),
        };
        if self.workers == Some(0) {
            return err("workers", "must be at least 1");
        }
        if self.max_link_lifetime == Some(0) {
            return err("max_link_lifetime", "must be at least 1 second");
        }

        let reseller_prefix = self
            .swift
            .reseller_prefix
            .unwrap_or_else(|| "AUTH_".to_string());
        if reseller_prefix.contains('/') {
            return err("swift.reseller_prefix", "must not contain '/'");
        }
        let allowed_digests = match self.swift.allowed_digests {
            None => vec![Digest::Sha1, Digest::Sha256, Digest::Sha512],
            Some(list) => {
                if list.is_empty() {
                    return err("swift.allowed_digests", "must name at least one digest");
                }
                let mut out = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    match Digest::from_name(name) {
                        Some(d) => out.push(d),
                        None => {
                            return err(
                                format!("swift.allowed_digests[{i}]"),
                                format!("{name:?} is not one of sha1, sha256, sha512"),
                            )
                        }
                    }
                }
                out
            }
        };

        let regions = self
            .s3
            .regions
            .unwrap_or_else(|| vec!["us-east-1".to_string()]);
        if regions.is_empty() {
            return err("s3.regions", "must name at least one region");
        }
        for (i, r) in regions.iter().enumerate() {
            if r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return err(
                    format!("s3.regions[{i}]"),
                    format!("{r:?} is not a region name"),
                );
            }
        }
        let domain = match self.s3.domain {
            Some(d) if d.is_empty() => return err("s3.domain", "must not be empty"),
            Some(d) => Some(d.to_ascii_lowercase()),
            None => None,
        };

        let backend = match self.backend {
            None => {
                return err(
                    "backend",
                    "missing section ([backend] kind = \"fs\", root = ...)",
                )
            }
            Some(b) => match b.kind.as_str() {
                "fs" => match b.root {
                    Some(root) => BackendConfig::Fs {
                        root: base.join(root),
                        hard_links: b.hard_links,
                    },
                    None => {
                        return err(
                            "backend.root",
                            "missing (the folder that holds <project>/<container>/<object>)",
                        )
                    }
                },
                "s3" | "swift" => {
                    return err(
                        "backend.kind",
                        format!(
                            "{:?} is not supported by this build yet; use \"fs\"",
                            b.kind
                        ),
                    )
                }
                other => {
                    return err(
                        "backend.kind",
                        format!("{other:?} is not one of \"fs\", \"s3\", \"swift\""),
                    )
                }
            },
        };

        let mut projects = Vec::new();
        let mut project_index = HashMap::default();
        let mut s3_key_index = HashMap::default();
        for (pi, p) in self.project.into_iter().enumerate() {
            let key = format!("project[{pi}]");
            segment_name(&format!("{key}.id"), &p.id)?;
            if project_index.insert(p.id.clone(), pi).is_some() {
                return err(format!("{key}.id"), format!("duplicate project {:?}", p.id));
            }
            let temp_url_keys = keys(&format!("{key}.temp_url_keys"), p.temp_url_keys)?;
            let mut s3_keys = Vec::new();
            for (ki, k) in p.s3_key.into_iter().enumerate() {
                let kkey = format!("{key}.s3_key[{ki}]");
                non_empty(&format!("{kkey}.access_key"), &k.access_key)?;
                if s3_key_index
                    .insert(k.access_key.clone(), (pi, ki))
                    .is_some()
                {
                    return err(
                        format!("{kkey}.access_key"),
                        format!("duplicate access key {:?}", k.access_key),
                    );
                }
                let secret_key = secret_from(
                    &format!("{kkey}.secret_key"),
                    k.secret_key,
                    k.secret_key_env,
                    k.secret_key_file,
                    base,
                )?;
                s3_keys.push(S3Key {
                    access_key: k.access_key,
                    secret_key,
                });
            }
            let mut containers: Vec<Container> = Vec::new();
            for (ci, c) in p.container.into_iter().enumerate() {
                let ckey = format!("{key}.container[{ci}]");
                segment_name(&format!("{ckey}.name"), &c.name)?;
                if containers.iter().any(|o| o.name == c.name) {
                    return err(
                        format!("{ckey}.name"),
                        format!("duplicate container {:?}", c.name),
                    );
                }
                for (oi, o) in c.cors_origins.iter().enumerate() {
                    if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                        return err(
                            format!("{ckey}.cors_origins[{oi}]"),
                            format!("{o:?} is not \"*\" or an origin like https://app.example.com"),
                        );
                    }
                }
                containers.push(Container {
                    temp_url_keys: keys(&format!("{ckey}.temp_url_keys"), c.temp_url_keys)?,
                    name: c.name,
                    public: c.public,
                    cors_origins: c
                        .cors_origins
                        .into_iter()
                        .map(|o| o.trim_end_matches('/').to_string())
                        .collect(),
                });
            }
            projects.push(Project {
                id: p.id,
                temp_url_keys,
                any_container: p.any_container,
                s3_keys,
                containers,
            });
        }

        let mut api_tokens = Vec::new();
        for (ti, t) in self.api_token.into_iter().enumerate() {
            let key = format!("api_token[{ti}]");
            let token = secret_from(&format!("{key}.token"), t.token, t.token_env, None, base)?;
            for (i, p) in t.projects.iter().enumerate() {
                if !project_index.contains_key(p) {
                    return err(
                        format!("{key}.projects[{i}]"),
                        format!("no project {p:?} is configured"),
                    );
                }
            }
            api_tokens.push(ApiToken {
                token,
                projects: t.projects,
            });
        }

        let mut trusted = Vec::new();
        for (i, cidr) in self.proxy.trusted.iter().enumerate() {
            let net = cidr
                .parse::<IpNet>()
                .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                .or_else(|_| {
                    err(
                        format!("proxy.trusted[{i}]"),
                        format!("{cidr:?} is not a CIDR such as 10.0.0.0/8"),
                    )
                })?;
            trusted.push(net);
        }
        let headers = match self.proxy.headers.as_deref() {
            None => crate::forwarded::Family::default(),
            Some(name) => crate::forwarded::Family::parse(name).ok_or_else(|| {
                ConfigError(format!(
                    "proxy.headers: {name:?} is not \"x-forwarded\" or \"forwarded\""
                ))
            })?,
        };

        Ok(Config {
            listen,
            public_url,
            mount,
            workers: self.workers,
            max_link_lifetime: self.max_link_lifetime,
            swift: SwiftConfig {
                reseller_prefix,
                allowed_digests,
            },
            s3: S3Config { regions, domain },
            backend,
            projects,
            api_tokens,
            proxy: ProxyConfig { trusted, headers },
            limits: limits(self.limits)?,
            project_index,
            s3_key_index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:9000"
public_url = "https://share.example.com/files/"
[backend]
kind = "fs"
root = "data"
[[project]]
id = "p1"
temp_url_keys = ["a", "b"]
  [[project.s3_key]]
  access_key = "AK1"
  secret_key = "SK1"
  [[project.container]]
  name = "c1"
  temp_url_keys = ["ck"]
  public = true
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/keyhole"))
    }

    fn error_of(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("config was accepted"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn a_good_config_is_indexed_and_paths_resolve_against_the_file() {
        let c = parse(GOOD).unwrap();
        assert_eq!(
            c.public_url.as_deref(),
            Some("https://share.example.com/files")
        );
        assert_eq!(c.listen.port(), 9000);
        let BackendConfig::Fs { root, hard_links } = &c.backend;
        assert!(!hard_links, "hard links are refused unless asked for");
        assert_eq!(root, Path::new("/etc/keyhole/data"));
        let (p, k) = c.s3_key("AK1").unwrap();
        assert_eq!(p.id, "p1");
        assert_eq!(k.secret_key.expose(), "SK1");
        assert!(c.project("p1").unwrap().container("c1").unwrap().public);
        assert!(c.public_bucket("c1").is_some());
        assert!(c.s3_key("nope").is_none());
    }

    #[test]
    fn public_urls_path_is_the_mount_point() {
        assert_eq!(parse(GOOD).unwrap().mount, "/files");
        for (url, mount) in [
            ("https://h.example", ""),
            ("https://h.example/", ""),
            ("http://h.example:81/a/b-c_d.e~/", "/a/b-c_d.e~"),
        ] {
            let c = parse(&GOOD.replace("https://share.example.com/files/", url)).unwrap();
            assert_eq!(c.mount, mount, "{url}");
        }
        for url in [
            "https://h.example/a?b",
            "https://h.example/a#b",
            "https://h.example/a b",
            "https://h.example//a",
            "https://h.example/a/../b",
            "https://h.example/ä",
            "https://h.example/a%20b",
            "https://h.example/a;b",
            "https://h.example?x",
            "https://user@h.example",
            "https://h.example#f",
        ] {
            let e = error_of(&GOOD.replace("https://share.example.com/files/", url));
            assert!(e.starts_with("public_url"), "{url}: {e}");
        }
    }

    #[test]
    fn proxy_headers_names_one_family() {
        use crate::forwarded::Family;
        assert_eq!(parse(GOOD).unwrap().proxy.headers, Family::XForwarded);
        let c = parse(&format!("{GOOD}\n[proxy]\nheaders = \"forwarded\"\n")).unwrap();
        assert_eq!(c.proxy.headers, Family::Forwarded);
        for bad in ["both", "X-Forwarded", ""] {
            let e = error_of(&format!("{GOOD}\n[proxy]\nheaders = \"{bad}\"\n"));
            assert!(e.starts_with("proxy.headers"), "{e}");
        }
    }

    #[test]
    fn only_listed_containers_exist_unless_any_container_is_set() {
        let c = parse(GOOD).unwrap();
        let p = c.project("p1").unwrap();
        assert!(!p.any_container, "any_container defaults to false");
        assert!(p.has_container("c1") && !p.has_container("c2"));
        let c = parse(&GOOD.replace("id = \"p1\"", "id = \"p1\"\nany_container = true")).unwrap();
        assert!(c.project("p1").unwrap().has_container("c2"));
        let e = error_of(&GOOD.replace("id = \"p1\"", "id = \"p1\"\nany_container = \"yes\""));
        assert!(e.contains("any_container"), "{e}");
    }

    #[test]
    fn a_mistyped_secret_is_named_but_not_printed() {
        let e = error_of(&GOOD.replace("secret_key = \"SK1\"", "secret_key = 73219846"));
        assert!(e.contains("secret_key") && !e.contains("73219846"), "{e}");
        let e = error_of(&GOOD.replace("[\"a\", \"b\"]", "[\"a\", 98765]"));
        assert!(e.contains("temp_url_keys") && !e.contains("98765"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = error_of(&format!("{GOOD}\nbogus_key = 1"));
        assert!(e.contains("bogus_key"), "{e}");
    }

    #[test]
    fn an_empty_secret_names_its_key() {
        let e = error_of(&GOOD.replace("secret_key = \"SK1\"", "secret_key = \"\""));
        assert!(e.contains("project[0].s3_key[0].secret_key"), "{e}");
    }

    #[test]
    fn a_duplicate_access_key_is_an_error() {
        let text =
            format!("{GOOD}\n  [[project.s3_key]]\n  access_key = \"AK1\"\n  secret_key = \"x\"\n");
        let e = error_of(&text);
        assert!(
            e.contains("project[0].s3_key[1].access_key") && e.contains("duplicate"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_cidr_names_its_key() {
        let e = error_of(&format!("{GOOD}\n[proxy]\ntrusted = [\"10.0.0.0/33\"]\n"));
        assert!(e.contains("proxy.trusted[0]"), "{e}");
    }

    #[test]
    fn limits_default_and_are_checked_by_their_key_path() {
        assert_eq!(parse(GOOD).unwrap().limits.max_streams, 100);
        let c = parse(&format!("{GOOD}\n[limits]\nmax_streams = 7\n")).unwrap();
        assert_eq!(c.limits.max_streams, 7);
        let e = error_of(&format!("{GOOD}\n[limits]\nmax_streams = 0\n"));
        assert!(e.contains("limits.max_streams"), "{e}");
        let e = error_of(&format!("{GOOD}\n[limits]\nmax_stream = 7\n"));
        assert!(e.contains("limits.max_stream: unknown key"), "{e}");
        let e = error_of(&format!("{GOOD}\n[limits]\nmax_streams = -1\n"));
        assert!(e.contains("max_streams"), "{e}");
    }

    #[test]
    fn timeouts_and_the_connection_cap_default_to_the_design() {
        let l = parse(GOOD).unwrap().limits;
        assert_eq!(l.header_read_timeout, Duration::from_secs(10));
        assert_eq!(l.idle_timeout, Duration::from_secs(75));
        assert_eq!(l.send_timeout, Duration::from_secs(60));
        assert_eq!(l.max_connections, 10_000);
        assert_eq!(l.shutdown_grace, Duration::from_secs(30));
        let c = parse(&format!(
            "{GOOD}\n[limits]\nheader_read_timeout = 2\nidle_timeout = 3\nsend_timeout = 4\n\
             max_connections = 20\nshutdown_grace = 0\n"
        ))
        .unwrap();
        assert_eq!(c.limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(3));
        assert_eq!(c.limits.send_timeout, Duration::from_secs(4));
        assert_eq!(c.limits.max_connections, 20);
        assert_eq!(c.limits.shutdown_grace, Duration::ZERO);
    }

    #[test]
    fn a_meaningless_timeout_or_cap_is_refused_by_its_key_path() {
        for (key, bad) in [
            ("header_read_timeout", "0"),
            ("header_read_timeout", "-1"),
            ("idle_timeout", "0"),
            ("idle_timeout", "1.5"),
            ("send_timeout", "0"),
            ("send_timeout", "\"60s\""),
            ("send_timeout", "86401"),
            ("shutdown_grace", "-1"),
            ("shutdown_grace", "9223372036854775807"),
            ("max_connections", "0"),
            ("max_connections", "-5"),
            ("max_connections", "1000001"),
            ("max_connections", "4294967296"),
        ] {
            let e = error_of(&format!("{GOOD}\n[limits]\n{key} = {bad}\n"));
            assert!(
                e.contains(&format!("limits.{key}: must be")),
                "{key} = {bad}: {e}"
            );
        }
    }

    #[test]
    fn a_missing_backend_is_named() {
        let e = error_of("[[project]]\nid = \"p\"\n");
        assert!(e.contains("backend"), "{e}");
    }

    #[test]
    fn a_missing_required_key_is_named() {
        let e = error_of(
            "[backend]\nkind = \"fs\"\nroot = \"d\"\n[[project]]\ntemp_url_keys = [\"a\"]\n",
        );
        assert!(e.contains("id"), "{e}");
    }

    #[test]
    fn secrets_come_from_the_environment() {
        std::env::set_var("KEYHOLE_TEST_SECRET_1", "from-env");
        let c = parse(&GOOD.replace(
            "secret_key = \"SK1\"",
            "secret_key_env = \"KEYHOLE_TEST_SECRET_1\"",
        ))
        .unwrap();
        assert_eq!(c.s3_key("AK1").unwrap().1.secret_key.expose(), "from-env");
        let e = error_of(&GOOD.replace(
            "secret_key = \"SK1\"",
            "secret_key_env = \"KEYHOLE_TEST_UNSET_VAR\"",
        ));
        assert!(
            e.contains("secret_key_env") && e.contains("KEYHOLE_TEST_UNSET_VAR"),
            "{e}"
        );
    }

    #[test]
    fn container_names_that_could_escape_are_refused() {
        for bad in ["..", ".", "a/b", "_keyhole", ""] {
            let e = error_of(&GOOD.replace("name = \"c1\"", &format!("name = {bad:?}")));
            assert!(e.contains("project[0].container[0].name"), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = parse(GOOD).unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("SK1") && !dump.contains("\"ck\""), "{dump}");
    }
}
