//! `[backend] kind = "swift"`: objects from an OpenStack Swift cluster, fetched with
//! Keyhole's own token (`upstream::swift_auth`) through the shared upstream client
//! (`backend::upstream`).
//!
//! One GET or HEAD per object request. The object's URL is the token's storage URL with the
//! account replaced per `account` (if set) and the container and object filled in from
//! their templates, each percent-encoded as one path segment (`/` kept in the object). A
//! 401 from the store means the token went stale: it is dropped and the request sent once
//! more with a new one, which is always before any byte reached the client, since a fetch
//! returns before its body is read.

mod store_keys;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderMap, Method, Request, Uri};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::upstream::Upstream;
use super::ListedObject;
use super::{valid_object_name, valid_segment, Ask, BackendError, Fetched, ListQuery, Listing};
use crate::config::{Names, SwiftStore, Template};
use crate::keys::{Secret, StoreKeys, TempUrlKey};
use crate::upstream::client::{Client, Timeouts};
use crate::upstream::swift_auth::{AuthError, Token, TokenCache};
use store_keys::KeyCache;

/// The name logs and errors give the store.
const STORE: &str = "swift";
/// How long before its expiry the token is replaced (at most half its life, see TokenCache).
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The largest listing read (10,000 entries of long names).
const MAX_LISTING: usize = 16 << 20;
/// The most entries Swift gives in one listing.
const SWIFT_PAGE: usize = 10_000;
/// Account listings read for `containers` at most (each up to `SWIFT_PAGE` names).
const MAX_ACCOUNT_PAGES: usize = 100;

/// Unreserved characters (RFC 3986) stay; everything else is encoded, so a name reaches
/// Swift as exactly the one segment (or, for objects, the segments) it is.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const OBJECT: &AsciiSet = &SEGMENT.remove(b'/');

pub struct SwiftBackend {
    upstream: Upstream,
    tokens: TokenCache,
    account: Option<Template>,
    container: Template,
    object: Template,
    keys: KeyCache,
}

impl std::fmt::Debug for SwiftBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwiftBackend").finish_non_exhaustive()
    }
}

/// The upstream names of a Keyhole project, container and object.
struct Upstreamed {
    account: Option<String>,
    container: String,
    object: String,
}

impl SwiftBackend {
    pub fn new(cfg: &SwiftStore) -> Result<SwiftBackend, BackendError> {
        let timeouts = Timeouts {
            connect: cfg.connect_timeout,
            head: cfg.response_timeout,
            body_idle: cfg.response_timeout,
        };
        let upstream = Upstream::new(STORE, timeouts)?;
        let client = Client::new(timeouts).map_err(|e| BackendError::Unavailable {
            store: STORE.to_string(),
            detail: e.to_string(),
            retry: false,
        })?;
        Ok(SwiftBackend {
            upstream,
            tokens: TokenCache::new(client, cfg.login.clone(), TOKEN_MARGIN),
            account: cfg.account.clone(),
            container: cfg.container.clone(),
            object: cfg.object.clone(),
            keys: KeyCache::new(cfg.key_cache),
        })
    }

    /// How many logins were tried (for tests and metrics).
    pub fn logins(&self) -> u64 {
        self.tokens.logins()
    }

    /// The store's names for a Keyhole container (and object, if given), or `NotFound` when
    /// a template made one that Swift would read as another place.
    fn names(
        &self,
        project: &str,
        container: &str,
        object: Option<&str>,
    ) -> Result<Upstreamed, BackendError> {
        let names = Names {
            project,
            container,
            object: object.unwrap_or(""),
        };
        let account = self.account.as_ref().map(|t| t.fill(&names));
        let upstream_container = self.container.fill(&names);
        let upstream_object = object.map(|_| self.object.fill(&names));
        // SECURITY: a filled name with a `/`, `.` or `..` where one segment belongs would
        // address another account or container.
        let ok = account.as_deref().map_or(true, valid_segment)
            && valid_segment(&upstream_container)
            && upstream_object.as_deref().map_or(true, valid_object_name);
        if !ok {
            return Err(BackendError::NotFound);
        }
        Ok(Upstreamed {
            account,
            container: upstream_container,
            object: upstream_object.unwrap_or_default(),
        })
    }

    /// The object's answer to a GET or HEAD with `ask`'s Range and preconditions.
    pub async fn fetch(
        &self,
        project: &str,
        container: &str,
        object: &str,
        ask: Ask<'_>,
    ) -> Result<Fetched, BackendError> {
        let n = self.names(project, container, Some(object))?;
        let method = if ask.head { Method::HEAD } else { Method::GET };
        self.with_token(|token| {
            let url = object_url(token.storage_url(), &n);
            let sent = url.and_then(|u| request(method.clone(), &u, &token));
            async move { self.upstream.fetch(sent?, &ask).await }
        })
        .await
    }

    /// One page of a container's objects, through Swift's own listing.
    pub async fn list(
        &self,
        project: &str,
        container: &str,
        query: &ListQuery<'_>,
    ) -> Result<Listing, BackendError> {
        let n = self.names(project, container, None)?;
        let limit = query.limit.clamp(1, SWIFT_PAGE - 1);
        let mut params = vec![
            ("format", "json".to_string()),
            ("prefix", query.prefix.to_string()),
            ("marker", query.marker.to_string()),
            ("limit", (limit + 1).to_string()),
        ];
        if query.delimiter {
            params.push(("delimiter", "/".to_string()));
        }
        let body = self
            .with_token(|token| {
                let url = container_url(token.storage_url(), &n).map(|u| with_query(&u, &params));
                let sent = url.and_then(|u| request(Method::GET, &u, &token));
                async move { self.ok_body(sent?, MAX_LISTING).await }
            })
            .await?;
        listing(&body, query.marker, limit)
    }

    /// The containers the store holds for `project` (for `any_container` projects), as
    /// Keyhole names them: the upstream names that the container template could have made.
    pub async fn containers(&self, project: &str) -> Result<Vec<String>, BackendError> {
        let n = self.names(project, "c", None)?;
        // The text around `{container}` once the project is filled in.
        let marker = "\u{0}";
        let shape = self.container.fill(&Names {
            project,
            container: marker,
            object: "",
        });
        let Some((before, after)) = shape.split_once(marker) else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        let mut last = String::new();
        for _ in 0..MAX_ACCOUNT_PAGES {
            let params = [
                ("format", "json".to_string()),
                ("marker", last.clone()),
                ("limit", SWIFT_PAGE.to_string()),
            ];
            let body = self
                .with_token(|token| {
                    let url = account_url(token.storage_url(), n.account.as_deref())
                        .map(|u| with_query(&u, &params));
                    let sent = url.and_then(|u| request(Method::GET, &u, &token));
                    async move { self.ok_body(sent?, MAX_LISTING).await }
                })
                .await?;
            let page: Vec<AccountEntry> = parse_json(&body)?;
            let Some(end) = page.last() else { break };
            last = end.name.clone();
            let full = page.len() >= SWIFT_PAGE;
            names.extend(page.into_iter().filter_map(|e| {
                let inner = e.name.strip_prefix(before)?.strip_suffix(after)?;
                (valid_segment(inner) && !inner.starts_with('_')).then(|| inner.to_string())
            }));
            if !full {
                break;
            }
        }
        Ok(names)
    }

    /// Ready when Keyhole can log in and the store accepts its token for its account.
    pub async fn ready(&self) -> Result<(), String> {
        self.with_token(|token| {
            let sent = request(Method::HEAD, &token.storage_url().to_string(), &token);
            async move { self.ok_body(sent?, 0).await.map(drop) }
        })
        .await
        .map_err(|e| e.to_string())
    }

    /// The Temp-URL keys the store keeps on the project's account and on the container,
    /// held for `key_cache` seconds (see `store_keys`).
    pub async fn store_keys(
        &self,
        project: &str,
        container: &str,
        now_unix: u64,
    ) -> Result<StoreKeys, BackendError> {
        let n = self.names(project, container, None)?;
        let token = self.token().await?;
        let account = account_url(token.storage_url(), n.account.as_deref())?;
        let container = container_url(token.storage_url(), &n)?;
        let account_keys = self.keys.get(&account, now_unix, || {
            self.meta_keys(account.clone(), "x-account-meta-temp-url-key")
        });
        let container_keys = self.keys.get(&container, now_unix, || {
            self.meta_keys(container.clone(), "x-container-meta-temp-url-key")
        });
        let (a, c) = tokio::join!(account_keys, container_keys);
        let (a, c) = (a?, c?);
        Ok(StoreKeys {
            until: a.until.min(c.until),
            account: a.keys.to_vec(),
            container: c.keys.to_vec(),
        })
    }

    /// The keys in `header` and `header-2` of a HEAD of `url` (none if it does not exist).
    async fn meta_keys(&self, url: String, header: &str) -> Result<Vec<TempUrlKey>, BackendError> {
        let answer = self
            .with_token(|token| {
                let sent = request(Method::HEAD, &url, &token);
                async move {
                    let (head, _) = self.upstream.send(sent?, 0).await?;
                    Ok(head)
                }
            })
            .await;
        let head = match answer {
            Ok(head) => head,
            Err(BackendError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(temp_url_keys(&head.headers, header))
    }

    async fn token(&self) -> Result<Arc<Token>, BackendError> {
        self.tokens.token().await.map_err(auth_failure)
    }

    /// `call` with a token; once more with a new one if the store refused it with 401.
    async fn with_token<T, F, Fut>(&self, mut call: F) -> Result<T, BackendError>
    where
        F: FnMut(Arc<Token>) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let token = self.token().await?;
        match call(token.clone()).await {
            Err(BackendError::Misconfigured { status: 401, .. }) => {
                self.tokens.invalidate(&token);
                call(self.token().await?).await
            }
            other => other,
        }
    }

    /// The body of a request (`Upstream::send` takes only a 2xx for an answer).
    async fn ok_body(&self, req: Request<()>, limit: usize) -> Result<Bytes, BackendError> {
        self.upstream.send(req, limit).await.map(|(_, body)| body)
    }
}

/// A token failure as the request sees it: the store's auth is the store.
fn auth_failure(e: AuthError) -> BackendError {
    let store = STORE.to_string();
    match e {
        AuthError::Misconfigured(detail) => BackendError::Misconfigured {
            store,
            status: 401,
            detail,
        },
        AuthError::TimedOut => BackendError::Timeout { store },
        AuthError::Unavailable(ref c) if c.is_timeout() => BackendError::Timeout { store },
        other => BackendError::Unavailable {
            store,
            retry: other.retry_may_help(),
            detail: other.to_string(),
        },
    }
}

/// `storage_url` (scheme, host and path only) with its account, the path's last segment,
/// replaced by `account` if given.
fn account_url(storage_url: &Uri, account: Option<&str>) -> Result<String, BackendError> {
    let no_account = || BackendError::Unavailable {
        store: STORE.to_string(),
        detail: "the storage URL names no account".to_string(),
        retry: false,
    };
    let (Some(scheme), Some(authority)) = (storage_url.scheme_str(), storage_url.authority())
    else {
        return Err(no_account());
    };
    let path = storage_url.path().trim_end_matches('/');
    let path = match account {
        None => path.to_string(),
        Some(account) => {
            let parent = path.rfind('/').map(|i| &path[..i]).ok_or_else(no_account)?;
            format!("{parent}/{}", utf8_percent_encode(account, SEGMENT))
        }
    };
    if path.is_empty() {
        return Err(no_account());
    }
    Ok(format!("{scheme}://{authority}{path}"))
}

fn container_url(storage_url: &Uri, n: &Upstreamed) -> Result<String, BackendError> {
    Ok(format!(
        "{}/{}",
        account_url(storage_url, n.account.as_deref())?,
        utf8_percent_encode(&n.container, SEGMENT)
    ))
}

fn object_url(storage_url: &Uri, n: &Upstreamed) -> Result<String, BackendError> {
    Ok(format!(
        "{}/{}",
        container_url(storage_url, n)?,
        utf8_percent_encode(&n.object, OBJECT)
    ))
}

fn with_query(url: &str, params: &[(&str, String)]) -> String {
    let mut out = format!("{url}?");
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.extend(utf8_percent_encode(v, SEGMENT));
    }
    out
}

/// `method url` with the token and nothing else from Keyhole.
fn request(method: Method, url: &str, token: &Token) -> Result<Request<()>, BackendError> {
    let uri: Uri = url.parse().map_err(|_| BackendError::Unavailable {
        store: STORE.to_string(),
        detail: "the storage URL does not make a valid object URL".to_string(),
        retry: false,
    })?;
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    req.headers_mut().insert(
        HeaderName::from_static("x-auth-token"),
        token.header_value().clone(),
    );
    Ok(req)
}

/// `header` and `header-2` of a HEAD answer, as keys (empty or non-UTF-8 ones skipped).
fn temp_url_keys(headers: &HeaderMap, header: &str) -> Vec<TempUrlKey> {
    [header.to_string(), format!("{header}-2")]
        .iter()
        .filter_map(|h| headers.get(h.as_str()))
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(|v| TempUrlKey::new(Secret::new(v)))
        .collect()
}

#[derive(Deserialize)]
struct AccountEntry {
    name: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ContainerEntry {
    Subdir {
        subdir: String,
    },
    Object {
        name: String,
        bytes: u64,
        last_modified: String,
    },
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, BackendError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(body).map_err(|_| BackendError::Unavailable {
        store: STORE.to_string(),
        detail: "the store's listing is not the JSON Swift sends".to_string(),
        retry: true,
    })
}

/// A Swift container listing (asked for `limit + 1` entries) as one page of `limit`.
fn listing(body: &[u8], marker: &str, limit: usize) -> Result<Listing, BackendError> {
    let entries: Vec<ContainerEntry> = parse_json(body)?;
    let mut page = Listing::default();
    let mut given = 0;
    let mut last = String::new();
    for e in entries {
        let name = match &e {
            ContainerEntry::Subdir { subdir } => subdir,
            ContainerEntry::Object { name, .. } => name,
        };
        // Swift already starts after the marker; a store that does not is not believed.
        if name.as_str() <= marker {
            continue;
        }
        if given == limit {
            page.next_marker = Some(last);
            break;
        }
        given += 1;
        last.clone_from(name);
        match e {
            ContainerEntry::Subdir { subdir } => page.prefixes.push(subdir),
            ContainerEntry::Object {
                name,
                bytes,
                last_modified,
            } => page.objects.push(ListedObject {
                name,
                bytes,
                modified: swift_time(&last_modified).unwrap_or(SystemTime::UNIX_EPOCH),
            }),
        }
    }
    Ok(page)
}

/// Swift's listing time: `2024-05-01T12:34:56.123456`, UTC.
fn swift_time(text: &str) -> Option<SystemTime> {
    let whole = text.split('.').next()?;
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(whole, format).ok()?;
    let secs = u64::try_from(t.assume_utc().unix_timestamp()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(account: Option<&str>, container: &str, object: &str) -> Upstreamed {
        Upstreamed {
            account: account.map(str::to_string),
            container: container.to_string(),
            object: object.to_string(),
        }
    }

    #[test]
    fn the_object_url_keeps_the_storage_urls_account_unless_told_and_encodes_names() {
        let storage: Uri = "http://127.0.0.1:8080/v1/AUTH_test".parse().unwrap();
        let n = names(None, "c 1", "a/b c+d&e?f#g%/Báo.pdf");
        assert_eq!(
            object_url(&storage, &n).unwrap(),
            "http://127.0.0.1:8080/v1/AUTH_test/c%201/a/b%20c%2Bd%26e%3Ff%23g%25/B%C3%A1o.pdf"
        );
        let n = names(Some("AUTH_p1"), "c", "o");
        assert_eq!(
            object_url(&storage, &n).unwrap(),
            "http://127.0.0.1:8080/v1/AUTH_p1/c/o"
        );
        let slash: Uri = "https://s.example/swift/v1/AUTH_x/".parse().unwrap();
        assert_eq!(
            container_url(&slash, &names(Some("AUTH_y"), "c", "")).unwrap(),
            "https://s.example/swift/v1/AUTH_y/c"
        );
        let bare: Uri = "http://h".parse().unwrap();
        assert!(account_url(&bare, Some("AUTH_y")).is_err());
        assert!(account_url(&bare, None).is_err());
        let query: Uri = "http://h/v1/AUTH_x?a=b".parse().unwrap();
        assert_eq!(account_url(&query, None).unwrap(), "http://h/v1/AUTH_x");
    }

    #[test]
    fn a_listing_maps_objects_and_folders_and_says_when_more_follow() {
        let body = br#"[
            {"subdir": "a/"},
            {"name": "b", "bytes": 3, "hash": "x", "last_modified": "2024-05-01T12:34:56.123456", "content_type": "text/plain"},
            {"name": "c", "bytes": 1, "hash": "y", "last_modified": "2024-05-01T12:34:57"}
        ]"#;
        let page = listing(body, "", 2).unwrap();
        assert_eq!(page.prefixes, vec!["a/"]);
        assert_eq!(page.objects.len(), 1);
        assert_eq!(page.objects[0].name, "b");
        assert_eq!(page.objects[0].bytes, 3);
        let at = page.objects[0]
            .modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(at.as_secs(), 1_714_566_896);
        assert_eq!(page.next_marker.as_deref(), Some("b"));
        let all = listing(body, "", 3).unwrap();
        assert_eq!((all.objects.len(), all.next_marker), (2, None));
        let after = listing(body, "b", 3).unwrap();
        assert_eq!(after.objects.len(), 1, "nothing at or before the marker");
        assert_eq!(listing(b"", "", 3).unwrap(), Listing::default());
        assert!(listing(b"<html>", "", 3).is_err());
    }

    #[test]
    fn temp_url_keys_are_read_from_both_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-account-meta-temp-url-key", "one".parse().unwrap());
        h.insert("x-account-meta-temp-url-key-2", "two".parse().unwrap());
        let keys = temp_url_keys(&h, "x-account-meta-temp-url-key");
        let text: Vec<&str> = keys.iter().map(TempUrlKey::expose).collect();
        assert_eq!(text, ["one", "two"]);
        assert!(temp_url_keys(&h, "x-container-meta-temp-url-key").is_empty());
    }
}
