//! From a request line (and Host) to what the request is for. Only shapes are decided here;
//! whether the request may have it is for `auth`.

use std::borrow::Cow;
use std::ops::Range;

use percent_encoding::percent_decode_str;

use crate::config::Config;

/// A route borrows the request's path: most paths need no decoding, so most routes copy
/// nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    Ready,
    Metrics,
    /// `/_keyhole/ui/<asset>`.
    Ui(String),
    /// `/_keyhole/ui` alone: redirected to the slash form.
    UiRedirect,
    /// `/` (below the mount): a newcomer's first request, sent on to the share page.
    Home,
    /// `/api/v1/...`: the rest of the decoded path after `/api/v1`.
    Api(String),
    Swift(SwiftRoute<'a>),
    S3(S3Route<'a>),
    /// OPTIONS on an object's path: a CORS preflight, which carries no signature.
    Preflight(Preflight<'a>),
    NotFound,
    /// The path is not percent-encoded UTF-8.
    BadPath,
}

/// The object a preflight asks about.
#[derive(Debug, PartialEq, Eq)]
pub enum Preflight<'a> {
    Swift(SwiftRoute<'a>),
    S3(S3Route<'a>),
}

/// `/v1/<account>/<container>/<object>`, decoded once; the ranges index `path`.
#[derive(Debug, PartialEq, Eq)]
pub struct SwiftRoute<'a> {
    pub path: Cow<'a, str>,
    account: Range<usize>,
    container: Range<usize>,
    object: Range<usize>,
}

impl SwiftRoute<'_> {
    pub fn account(&self) -> &str {
        &self.path[self.account.clone()]
    }
    pub fn container(&self) -> &str {
        &self.path[self.container.clone()]
    }
    pub fn object(&self) -> &str {
        &self.path[self.object.clone()]
    }
}

/// An S3 object request. `bucket` and `key` are decoded from the path below the mount.
#[derive(Debug, PartialEq, Eq)]
pub struct S3Route<'a> {
    pub bucket: Cow<'a, str>,
    pub key: Cow<'a, str>,
    pub virtual_host: bool,
    /// The whole path as sent, mount included: what the client signed, and the only path
    /// `bucket` and `key` were taken from.
    pub signed_path: &'a str,
}

fn decode(raw: &str) -> Option<Cow<'_, str>> {
    // A path without escapes is already what it names; skip the decoder's UTF-8 re-check.
    if !raw.as_bytes().contains(&b'%') {
        return Some(Cow::Borrowed(raw));
    }
    percent_decode_str(raw).decode_utf8().ok()
}

/// The first `/` in `s`. A plain byte scan: segments are short, and `str::find` sets up a
/// searcher that costs more than the scan itself.
fn slash(s: &str) -> Option<usize> {
    s.bytes().position(|b| b == b'/')
}

/// `text[range]`, borrowed when `text` is.
fn part<'a>(text: &Cow<'a, str>, range: Range<usize>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(&t[range]),
        Cow::Owned(t) => Cow::Owned(t[range].to_string()),
    }
}

/// The bucket named by a virtual-hosted-style Host (`<bucket>.<domain>[:port]`).
fn virtual_bucket<'h>(cfg: &Config, host: Option<&'h str>) -> Option<&'h str> {
    let domain = cfg.s3.domain.as_deref()?;
    let host = host?;
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(']') => h,
        _ => host,
    };
    let bucket = name.get(..name.len().checked_sub(domain.len() + 1)?)?;
    let rest = &name[bucket.len()..];
    (rest.len() == domain.len() + 1
        && rest.starts_with('.')
        && rest[1..].eq_ignore_ascii_case(domain)
        && !bucket.is_empty())
    .then_some(bucket)
}

/// The part of `path` below `mount` (`/files` + `/c/o` gives `/c/o`); `None` when the path is
/// not under it. Compared as sent: a proxy passes the path on whole, so no decoding of it
/// can name another mount.
fn below_mount<'a>(mount: &str, path: &'a str) -> Option<&'a str> {
    path.strip_prefix(mount)
        .filter(|rest| rest.starts_with('/'))
}

/// Routes the request path as sent (`public_url`'s path included). The mount is taken off
/// once, here; everything is found by what is below it.
pub fn route<'a>(cfg: &Config, path: &'a str, host: Option<&'a str>) -> Route<'a> {
    match below_mount(&cfg.mount, path) {
        Some(below) => route_below(cfg, path, below, host),
        // Probes and scrapers talk to the listener itself, not through the proxy's mount.
        None => match path {
            "/_keyhole/healthz" => Route::Health,
            "/_keyhole/readyz" => Route::Ready,
            "/_keyhole/metrics" => Route::Metrics,
            _ => Route::NotFound,
        },
    }
}

/// Routes a request: as `route`, and OPTIONS on an object's path is its preflight.
pub fn route_request<'a>(
    cfg: &Config,
    method: &http::Method,
    path: &'a str,
    host: Option<&'a str>,
) -> Route<'a> {
    match route(cfg, path, host) {
        Route::Swift(r) if method == http::Method::OPTIONS => Route::Preflight(Preflight::Swift(r)),
        Route::S3(r) if method == http::Method::OPTIONS => Route::Preflight(Preflight::S3(r)),
        other => other,
    }
}

fn route_below<'a>(
    cfg: &Config,
    signed_path: &'a str,
    raw_path: &'a str,
    host: Option<&'a str>,
) -> Route<'a> {
    if let Some(internal) = raw_path.strip_prefix("/_keyhole/") {
        return match internal {
            "healthz" => Route::Health,
            "readyz" => Route::Ready,
            "metrics" => Route::Metrics,
            "ui" => Route::UiRedirect,
            p if p.starts_with("ui/") => Route::Ui(p["ui/".len()..].to_string()),
            _ => Route::NotFound,
        };
    }
    if let Some(bucket) = virtual_bucket(cfg, host) {
        let Some(key) = decode(raw_path.strip_prefix('/').unwrap_or(raw_path)) else {
            return Route::BadPath;
        };
        let bucket = if bucket.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(bucket.to_ascii_lowercase())
        } else {
            Cow::Borrowed(bucket)
        };
        return Route::S3(S3Route {
            bucket,
            key,
            virtual_host: true,
            signed_path,
        });
    }
    if raw_path == "/" {
        return Route::Home;
    }
    let Some(path) = decode(raw_path) else {
        return Route::BadPath;
    };
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        return Route::Api(format!("/{rest}"));
    }
    if path.starts_with("/v1/") {
        return swift_route(path);
    }
    // S3 path style: /<bucket>/<key>
    if !path.starts_with('/') {
        return Route::NotFound;
    }
    match slash(&path[1..]).map(|i| i + 1) {
        Some(slash) if slash > 1 && slash + 1 < path.len() => Route::S3(S3Route {
            bucket: part(&path, 1..slash),
            key: part(&path, slash + 1..path.len()),
            virtual_host: false,
            signed_path,
        }),
        _ => Route::NotFound,
    }
}

fn swift_route(path: Cow<'_, str>) -> Route<'_> {
    let start = "/v1/".len();
    let Some(a_len) = slash(&path[start..]) else {
        return Route::NotFound;
    };
    let account = start..start + a_len;
    let c_start = account.end + 1;
    let Some(c_len) = slash(&path[c_start..]) else {
        return Route::NotFound;
    };
    let container = c_start..c_start + c_len;
    let object = container.end + 1..path.len();
    if account.is_empty() || container.is_empty() || object.is_empty() {
        return Route::NotFound;
    }
    Route::Swift(SwiftRoute {
        path,
        account,
        container,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            "[s3]\ndomain = \"s3.example.com\"\n[backend]\nkind = \"fs\"\nroot = \"x\"\n",
            Path::new("/"),
        )
        .unwrap()
    }

    #[test]
    fn swift_paths_are_decoded_and_split_once() {
        let Route::Swift(r) = route(&cfg(), "/v1/AUTH_p/c/a%2Fb/%C3%A1%20x%3F", None) else {
            panic!()
        };
        assert_eq!(r.path, "/v1/AUTH_p/c/a/b/á x?");
        assert_eq!(
            (r.account(), r.container(), r.object()),
            ("AUTH_p", "c", "a/b/á x?")
        );
    }

    #[test]
    fn a_swift_path_without_an_object_is_not_found() {
        for p in [
            "/v1/AUTH_p",
            "/v1/AUTH_p/c",
            "/v1/AUTH_p/c/",
            "/v1//c/o",
            "/v1/AUTH_p//o",
        ] {
            assert_eq!(route(&cfg(), p, None), Route::NotFound, "{p}");
        }
    }

    #[test]
    fn s3_path_and_virtual_host_styles() {
        let Route::S3(r) = route(&cfg(), "/bucket/dir/k%20y", Some("localhost:8080")) else {
            panic!()
        };
        assert_eq!(
            (&*r.bucket, &*r.key, r.virtual_host),
            ("bucket", "dir/k y", false)
        );
        let Route::S3(r) = route(&cfg(), "/dir/k", Some("Test.S3.example.com:443")) else {
            panic!()
        };
        assert_eq!(
            (&*r.bucket, &*r.key, r.virtual_host),
            ("test", "dir/k", true)
        );
        assert!(matches!(
            route(&cfg(), "/b/k", Some("s3.example.com")),
            Route::S3(S3Route {
                virtual_host: false,
                ..
            })
        ));
    }

    #[test]
    fn internal_routes_win_over_buckets() {
        assert_eq!(
            route(&cfg(), "/_keyhole/healthz", Some("b.s3.example.com")),
            Route::Health
        );
        assert_eq!(route(&cfg(), "/_keyhole/nope", None), Route::NotFound);
    }

    fn mounted() -> Config {
        Config::parse(
            "public_url = \"https://h.example/files/\"\n[s3]\ndomain = \"s3.example.com\"\n\
             [backend]\nkind = \"fs\"\nroot = \"x\"\n",
            Path::new("/"),
        )
        .unwrap()
    }

    #[test]
    fn under_a_mount_routes_are_found_below_it_and_s3_signs_the_whole_path() {
        let cfg = mounted();
        let Route::S3(r) = route(&cfg, "/files/docs/shared/s.txt", None) else {
            panic!()
        };
        assert_eq!(
            (&*r.bucket, &*r.key, r.signed_path),
            ("docs", "shared/s.txt", "/files/docs/shared/s.txt")
        );
        let Route::S3(r) = route(&cfg, "/files/k", Some("b.s3.example.com")) else {
            panic!()
        };
        assert_eq!((&*r.bucket, &*r.key, r.signed_path), ("b", "k", "/files/k"));
        let Route::Swift(r) = route(&cfg, "/files/v1/AUTH_p/c/o", None) else {
            panic!()
        };
        assert_eq!(r.path, "/v1/AUTH_p/c/o");
        assert_eq!(
            route(&cfg, "/files/api/v1/projects", None),
            Route::Api("/projects".into())
        );
        assert_eq!(
            route(&cfg, "/files/_keyhole/ui/", None),
            Route::Ui(String::new())
        );
    }

    #[test]
    fn outside_the_mount_only_probes_answer() {
        let cfg = mounted();
        for p in [
            "/docs/shared/s.txt",
            "/v1/AUTH_p/c/o",
            "/files",
            "/filesx/b/k",
            "/%66iles/b/k",
            "/api/v1/projects",
            "/_keyhole/ui/",
        ] {
            assert_eq!(route(&cfg, p, None), Route::NotFound, "{p}");
        }
        assert_eq!(route(&cfg, "/_keyhole/healthz", None), Route::Health);
        assert_eq!(route(&cfg, "/files/_keyhole/healthz", None), Route::Health);
    }

    #[test]
    fn the_root_is_home_unless_a_virtual_host_names_a_bucket() {
        assert_eq!(route(&cfg(), "/", Some("localhost")), Route::Home);
        assert_eq!(route(&mounted(), "/files/", None), Route::Home);
        assert_eq!(route(&mounted(), "/", None), Route::NotFound);
        assert!(matches!(
            route(&cfg(), "/", Some("b.s3.example.com")),
            Route::S3(_)
        ));
    }

    #[test]
    fn non_utf8_paths_are_bad() {
        assert_eq!(route(&cfg(), "/v1/AUTH_p/c/%FF", None), Route::BadPath);
    }

    #[test]
    fn options_on_an_object_is_its_preflight_and_other_routes_ignore_the_method() {
        let cfg = cfg();
        let options = http::Method::OPTIONS;
        assert!(matches!(
            route_request(&cfg, &options, "/v1/AUTH_p/c/o", None),
            Route::Preflight(Preflight::Swift(r)) if r.object() == "o"
        ));
        assert!(matches!(
            route_request(&cfg, &options, "/b/k", None),
            Route::Preflight(Preflight::S3(r)) if r.bucket == "b" && r.key == "k"
        ));
        assert!(matches!(
            route_request(&cfg, &http::Method::GET, "/b/k", None),
            Route::S3(_)
        ));
        assert_eq!(
            route_request(&cfg, &options, "/_keyhole/healthz", None),
            Route::Health
        );
    }

    #[test]
    fn the_bare_ui_path_redirects_and_no_asset_name_does() {
        assert_eq!(route(&cfg(), "/_keyhole/ui", None), Route::UiRedirect);
        assert_eq!(
            route(&cfg(), "/_keyhole/ui/..", None),
            Route::Ui("..".to_string())
        );
    }
}
