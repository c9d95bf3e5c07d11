//! The TOML configuration: parsed strictly, validated once at start, then read-only.
//!
//! Every error names the key it is about (`project[0].s3_key[1].secret_key: …`), because the
//! operator fixing it has only the message.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use foldhash::fast::RandomState;
use ipnet::IpNet;

pub use crate::keys::Secret;
use crate::keys::{Digest, TempUrlKey};

pub mod template;
mod validate;

pub use crate::limits::Limits;

pub use template::{Names, Placeholder, Template};

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
    /// How log lines are written (`--log-format` overrides it).
    pub log_format: LogFormat,
    /// Longest lifetime of a link of any kind, in seconds (None: each protocol's own rule).
    pub max_link_lifetime: Option<u64>,
    pub swift: SwiftConfig,
    pub s3: S3Config,
    pub backend: BackendConfig,
    pub projects: Vec<Project>,
    pub api_tokens: Vec<ApiToken>,
    pub proxy: ProxyConfig,
    pub limits: Limits,
    /// `[tls]`: when set, the listener speaks only TLS.
    pub tls: Option<crate::tls::Tls>,
    // foldhash, not SipHash: these maps are built from the config alone, so a request can
    // only look names up, never add colliding ones.
    project_index: HashMap<String, usize, RandomState>,
    /// access key -> (project index, key index)
    s3_key_index: HashMap<String, (usize, usize), RandomState>,
}

/// `log_format`: lines for people, or one JSON object per line for a log pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
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
    /// An OpenStack Swift cluster (DESIGN §3b).
    Swift(Box<SwiftStore>),
    /// Any S3-compatible store (DESIGN §3b), with Keyhole's own credentials.
    S3(Box<S3Store>),
}

/// `[backend] kind = "swift"`.
#[derive(Debug, Clone)]
pub struct SwiftStore {
    /// How Keyhole logs in: tempauth v1, or Keystone v3 when `auth_url` ends in `/v3`.
    pub login: crate::upstream::swift_auth::Login,
    /// The upstream account of a project (`{project}`); `None`: the storage URL's own.
    pub account: Option<Template>,
    /// `{project}` `{container}`.
    pub container: Template,
    /// `{project}` `{container}` `{object}`.
    pub object: Template,
    /// How long the store's Temp-URL keys are kept (`keys_from_store`).
    pub key_cache: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

/// `[backend] kind = "s3"`: where the store is and how Keyhole names and signs for objects.
#[derive(Debug, Clone)]
pub struct S3Store {
    /// `http(s)://host[:port]`, no path.
    pub endpoint: http::Uri,
    /// The region the store signs for.
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub style: S3Style,
    /// The upstream bucket: `{project}` and `{container}`.
    pub bucket: Template,
    /// The upstream key: `{project}`, `{container}` and `{object}`.
    pub object: Template,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

/// How a bucket is addressed at the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Style {
    /// `http://host/<bucket>/<key>`
    Path,
    /// `http://<bucket>.host/<key>`
    Virtual,
}

#[derive(Debug)]
pub struct Project {
    pub id: String,
    pub temp_url_keys: Vec<TempUrlKey>,
    /// Every container the store holds for this project exists, not only the listed ones.
    pub any_container: bool,
    /// Also accept the Temp-URL keys the Swift store keeps on the account and containers.
    pub keys_from_store: bool,
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

#[derive(Debug, Default)]
pub struct ProxyConfig {
    pub trusted: Vec<IpNet>,
    /// The one family of forwarded headers those proxies set; the other is ignored.
    pub headers: crate::forwarded::Family,
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
        validate::parse(text, base)
    }

    /// The scheme the listener speaks: `https` with `[tls]`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
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
        let BackendConfig::Fs { root, hard_links } = &c.backend else {
            panic!("an fs backend was configured");
        };
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

    const SWIFT: &str = r#"
[backend]
kind = "swift"
auth_url = "http://127.0.0.1:8080/auth/v1.0"
user = "test:tester"
key = "testing"
[[project]]
id = "p1"
keys_from_store = true
"#;

    #[test]
    fn a_swift_backend_defaults_to_the_design() {
        use crate::upstream::swift_auth::Login;
        let c = parse(SWIFT).unwrap();
        let BackendConfig::Swift(s) = &c.backend else {
            panic!("a swift backend was configured");
        };
        assert!(matches!(&s.login, Login::TempAuth { user, .. } if user == "test:tester"));
        assert!(
            s.account.is_none(),
            "the storage URL's own account by default"
        );
        let names = Names {
            project: "p",
            container: "c",
            object: "a/b",
        };
        assert_eq!(s.container.fill(&names), "c");
        assert_eq!(s.object.fill(&names), "a/b");
        assert_eq!(s.key_cache, Duration::from_secs(60));
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.response_timeout, Duration::from_secs(30));
        assert!(c.project("p1").unwrap().keys_from_store);
        assert!(
            !format!("{c:?}").contains("testing"),
            "the key is never printed"
        );
    }

    #[test]
    fn a_v3_auth_url_means_keystone_with_default_domains() {
        use crate::upstream::swift_auth::Login;
        let text = SWIFT.replace("/auth/v1.0", "/v3").replace(
            "key = \"testing\"",
            "key = \"pw\"\nproject = \"service\"\nregion = \"RegionOne\"\naccount = \"AUTH_{project}\"\nkey_cache = 5",
        );
        let c = parse(&text).unwrap();
        let BackendConfig::Swift(s) = &c.backend else {
            panic!("a swift backend was configured");
        };
        let Login::Keystone(k) = &s.login else {
            panic!("a v3 auth_url is Keystone");
        };
        assert_eq!(k.tokens_url, "http://127.0.0.1:8080/v3/auth/tokens");
        assert_eq!(
            (k.user_domain.as_str(), k.project_domain.as_str()),
            ("Default", "Default")
        );
        assert_eq!(k.region.as_deref(), Some("RegionOne"));
        let names = Names {
            project: "p",
            container: "c",
            object: "o",
        };
        assert_eq!(s.account.as_ref().unwrap().fill(&names), "AUTH_p");
        assert_eq!(s.key_cache, Duration::from_secs(5));
        let e = error_of(&SWIFT.replace("/auth/v1.0", "/v3"));
        assert!(e.starts_with("backend.project: missing"), "{e}");
    }

    #[test]
    fn a_bad_swift_backend_is_named_by_its_key() {
        for (from, to, key) in [
            (
                "auth_url = \"http://127.0.0.1:8080/auth/v1.0\"\n",
                "",
                "backend.auth_url",
            ),
            ("user = \"test:tester\"\n", "", "backend.user"),
            ("key = \"testing\"", "", "backend.key"),
            ("key = \"testing\"", "key = \"\"", "backend.key"),
            (
                "key = \"testing\"",
                "key = \"a\"\nkey_env = \"B\"",
                "backend.key",
            ),
            ("http://127.0.0.1:8080", "ftp://h", "backend.auth_url"),
            (
                "key = \"testing\"",
                "key = \"t\"\nproject = \"p\"",
                "backend.project",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\nregion = \"r\"",
                "backend.region",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\nroot = \"d\"",
                "backend.root",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\nobject = \"x\"",
                "backend.object",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\nobject = \"{obj}\"",
                "backend.object",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\ncontainer = \"{object}\"",
                "backend.container",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\naccount = \"AUTH_{container}\"",
                "backend.account",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\nkey_cache = 0",
                "backend.key_cache",
            ),
            (
                "key = \"testing\"",
                "key = \"t\"\nresponse_timeout = -1",
                "backend.response_timeout",
            ),
            ("key = \"testing\"", "key = \"t\"\nbogus = 1", "bogus"),
        ] {
            let e = error_of(&SWIFT.replace(from, to));
            assert!(e.contains(key), "{from} -> {to}: {e}");
        }
        let e = error_of(&SWIFT.replace("key = \"testing\"", "key = \"t\"\nproject = \"p\""));
        assert!(e.contains("Keystone v3 only"), "{e}");
    }

    #[test]
    fn keys_from_store_needs_the_swift_backend() {
        let e = error_of(&GOOD.replace("id = \"p1\"", "id = \"p1\"\nkeys_from_store = true"));
        assert!(
            e.starts_with("project[0].keys_from_store: needs the swift backend"),
            "{e}"
        );
        assert!(!parse(GOOD).unwrap().project("p1").unwrap().keys_from_store);
        let e = error_of(&GOOD.replace(
            "root = \"data\"",
            "root = \"data\"\nauth_url = \"http://h/\"",
        ));
        assert!(e.starts_with("backend.auth_url: unknown key"), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = parse(GOOD).unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("SK1") && !dump.contains("\"ck\""), "{dump}");
    }
}
