//! Keyhole's own login at a Swift cluster: tempauth v1 or Keystone v3 password auth, and a
//! token cache that renews before expiry and after a 401, one login at a time.
//!
//! SECURITY: the key, the password and the token live in `Secret`s and sensitive header
//! values; none of them is in a `Debug` output, an error text or a log line.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Uri};
use serde::Deserialize;
use tokio::time::Instant;

use super::client::{self, Client};

/// The largest auth answer read (a Keystone catalog of a big cloud is tens of KiB).
const MAX_AUTH_BODY: usize = 4 << 20;
/// How long a failed login is the answer for every caller before another one is tried, so a
/// wrong key or a down auth service costs one login per this time, not one per request.
const FAILURE_HOLD: Duration = Duration::from_secs(2);
/// A new token is used at least this long before a renewal by time (a 401 still replaces it
/// at once), so a service that hands out tokens already due costs one login per this time.
const MIN_USE: Duration = Duration::from_secs(1);
/// The longest lifetime believed, so that no number from the service overflows a deadline.
const MAX_LIFE: Duration = Duration::from_secs(366 * 86_400);

/// A key, password or token: never printed (the one secret type of the crate).
pub use crate::keys::Secret;

/// How Keyhole logs in to the cluster.
#[derive(Debug, Clone)]
pub enum Login {
    /// tempauth/swauth v1: `GET url` with `X-Auth-User` and `X-Auth-Key`.
    TempAuth { url: Uri, user: String, key: Secret },
    /// Keystone v3 password auth scoped to a project: `POST {url}/auth/tokens`.
    Keystone(Keystone),
}

/// A Keystone v3 password login scoped to a project.
#[derive(Debug, Clone)]
pub struct Keystone {
    /// The tokens endpoint (the configured `.../v3` with `/auth/tokens` appended).
    pub tokens_url: Uri,
    pub user: String,
    pub user_domain: String,
    pub password: Secret,
    pub project: String,
    pub project_domain: String,
    /// Which object-store endpoint of the catalog; any region when `None`.
    pub region: Option<String>,
}

impl Login {
    pub fn tempauth(url: &str, user: &str, key: Secret) -> Result<Login, AuthError> {
        Ok(Login::TempAuth {
            url: absolute_url(url, "auth_url")?,
            user: user.to_owned(),
            key,
        })
    }

    /// `auth_url` is Keystone's v3 root (`http://host:5000/v3`).
    pub fn keystone(
        auth_url: &str,
        user: &str,
        user_domain: &str,
        password: Secret,
        project: &str,
        project_domain: &str,
        region: Option<&str>,
    ) -> Result<Login, AuthError> {
        let tokens = format!("{}/auth/tokens", auth_url.trim_end_matches('/'));
        Ok(Login::Keystone(Keystone {
            tokens_url: absolute_url(&tokens, "auth_url")?,
            user: user.to_owned(),
            user_domain: user_domain.to_owned(),
            password,
            project: project.to_owned(),
            project_domain: project_domain.to_owned(),
            region: region.map(str::to_owned),
        }))
    }
}

fn absolute_url(text: &str, what: &'static str) -> Result<Uri, AuthError> {
    match text.parse::<Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => Ok(u),
        _ => Err(AuthError::Misconfigured(format!(
            "{what} is not an http(s) URL"
        ))),
    }
}

/// Why Keyhole holds no token.
#[derive(Debug, Clone)]
pub enum AuthError {
    /// The auth service refused Keyhole's credentials, or its answer cannot serve this
    /// configuration (no object-store endpoint in the region). Retrying will not help.
    Misconfigured(String),
    /// The auth service could not be reached, or timed out.
    Unavailable(Arc<client::Error>),
    /// The whole login took longer than the client's head and idle times together.
    TimedOut,
    /// The auth service answered with a server error.
    Failed(StatusCode),
    /// The auth service's answer broke its protocol (no token header, unreadable JSON).
    Protocol(String),
}

impl AuthError {
    pub fn retry_may_help(&self) -> bool {
        match self {
            AuthError::Misconfigured(_) => false,
            AuthError::Unavailable(e) => e.retry_may_help(),
            AuthError::TimedOut | AuthError::Failed(_) | AuthError::Protocol(_) => true,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Misconfigured(why) => write!(f, "Swift auth misconfigured: {why}"),
            AuthError::Unavailable(e) => write!(f, "Swift auth unavailable: {e}"),
            AuthError::TimedOut => f.write_str("Swift auth timed out"),
            AuthError::Failed(s) => write!(f, "Swift auth failed with status {}", s.as_u16()),
            AuthError::Protocol(why) => write!(f, "Swift auth answer unusable: {why}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// A token and the storage URL it is good for.
pub struct Token {
    value: HeaderValue,
    storage_url: Uri,
    /// When the auth service said the token ends; `None`: it did not say.
    expires: Option<Instant>,
    /// When to log in again ahead of `expires`.
    renew_at: Option<Instant>,
}

impl Token {
    /// The `X-Auth-Token` value (marked sensitive).
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }

    /// The account's URL: `https://swift.example.com/v1/AUTH_project`.
    pub fn storage_url(&self) -> &Uri {
        &self.storage_url
    }

    /// When the auth service said the token ends, if it said.
    pub fn expires(&self) -> Option<Instant> {
        self.expires
    }

    fn fresh(&self, now: Instant) -> bool {
        self.renew_at.map_or(true, |t| now < t)
    }

    fn valid(&self, now: Instant) -> bool {
        self.expires.map_or(true, |t| now < t)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("storage_url", &self.storage_url)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    current: Option<Arc<Token>>,
    failure: Option<(AuthError, Instant)>,
}

impl State {
    /// The answer that needs no login: a fresh token, or a recent failure (with the old token
    /// while it is still valid, so a renewal that failed does not cut service early).
    fn settled(&self, now: Instant) -> Option<Result<Arc<Token>, AuthError>> {
        let current = self.current.as_ref();
        if let Some(t) = current.filter(|t| t.fresh(now)) {
            return Some(Ok(t.clone()));
        }
        let (e, at) = self.failure.as_ref()?;
        if now.duration_since(*at) >= FAILURE_HOLD {
            return None;
        }
        Some(match current.filter(|t| t.valid(now)) {
            Some(t) => Ok(t.clone()),
            None => Err(e.clone()),
        })
    }
}

/// Keyhole's token at one cluster.
pub struct TokenCache {
    client: Client,
    login: Login,
    margin: Duration,
    state: Mutex<State>,
    /// Held by the one caller that logs in; the others wait on it, then find its token.
    renewal: tokio::sync::Mutex<()>,
    logins: AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("login", &self.login)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// `margin`: how long before its expiry a token is replaced (at most half its life).
    pub fn new(client: Client, login: Login, margin: Duration) -> TokenCache {
        TokenCache {
            client,
            login,
            margin,
            state: Mutex::new(State::default()),
            renewal: tokio::sync::Mutex::new(()),
            logins: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves a State that is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many logins were tried (for tests and metrics).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// A usable token, logging in if there is none or it is due for renewal. However many
    /// callers arrive at once, one logs in and the others get its token (or its error).
    pub async fn token(&self) -> Result<Arc<Token>, AuthError> {
        if let Some(r) = self.state().settled(Instant::now()) {
            return r;
        }
        let _renewing = self.renewal.lock().await;
        let previous = {
            let s = self.state();
            if let Some(r) = s.settled(Instant::now()) {
                return r;
            }
            s.current.clone()
        };
        self.logins.fetch_add(1, Ordering::Relaxed);
        // Bounded as a whole: every byte of a dripped answer may come within the idle time,
        // and every caller waits behind this one.
        let t = self.client.timeouts();
        let limit = t.head.saturating_add(t.body_idle);
        let result = tokio::time::timeout(limit, self.login_once(previous.as_deref()))
            .await
            .unwrap_or(Err(AuthError::TimedOut));
        let mut s = self.state();
        match result {
            Ok(t) => {
                tracing::info!("logged in to Swift");
                let t = Arc::new(t);
                s.current = Some(t.clone());
                s.failure = None;
                Ok(t)
            }
            Err(e) => {
                tracing::error!(error = %e, "Swift login failed");
                let now = Instant::now();
                s.failure = Some((e.clone(), now));
                match s.current.as_ref().filter(|t| t.valid(now)) {
                    Some(t) => Ok(t.clone()),
                    None => Err(e),
                }
            }
        }
    }

    /// The store answered 401 to `token`: forget it, unless it was already replaced, so a
    /// burst of 401s for one old token causes one login, not one each.
    pub fn invalidate(&self, token: &Token) {
        let mut s = self.state();
        if s.current.as_ref().is_some_and(|c| c.value == token.value) {
            s.current = None;
            s.failure = None;
        }
    }

    async fn login_once(&self, previous: Option<&Token>) -> Result<Token, AuthError> {
        let sent = Instant::now();
        let (value, storage_url, life) = match &self.login {
            Login::TempAuth { url, user, key } => self.tempauth(url, user, key).await?,
            Login::Keystone(ks) => self.keystone(ks).await?,
        };
        let reused = previous.is_some_and(|p| p.value == value);
        let (expires, renew_at) = deadlines(sent, Instant::now(), life, self.margin, reused);
        Ok(Token {
            value,
            storage_url,
            expires,
            renew_at,
        })
    }

    async fn send(
        &self,
        method: Method,
        url: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), AuthError> {
        let unavailable = |e| AuthError::Unavailable(Arc::new(e));
        let resp = self
            .client
            .send(method, url.clone(), headers, body)
            .await
            .map_err(unavailable)?;
        let (head, body) = resp.into_parts();
        let body = body
            .collect_limited(MAX_AUTH_BODY)
            .await
            .map_err(unavailable)?;
        let status = head.status;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(AuthError::Misconfigured(format!(
                "the auth service refused Keyhole's credentials ({})",
                status.as_u16()
            )));
        }
        if status.is_server_error() {
            return Err(AuthError::Failed(status));
        }
        if !status.is_success() {
            return Err(AuthError::Misconfigured(format!(
                "the auth service answered {} (check auth_url, user and project)",
                status.as_u16()
            )));
        }
        Ok((status, head.headers, body))
    }

    async fn tempauth(
        &self,
        url: &Uri,
        user: &str,
        key: &Secret,
    ) -> Result<(HeaderValue, Uri, Option<Duration>), AuthError> {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-auth-user"),
            sensitive(user, "user")?,
        );
        h.insert(
            HeaderName::from_static("x-auth-key"),
            sensitive(key.expose(), "key")?,
        );
        let (_, headers, _) = self.send(Method::GET, url, h, Bytes::new()).await?;
        let token = headers
            .get("x-auth-token")
            .or_else(|| headers.get("x-storage-token"))
            .ok_or_else(|| AuthError::Protocol("no X-Auth-Token in the answer".into()))?;
        let storage = headers
            .get("x-storage-url")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AuthError::Protocol("no X-Storage-Url in the answer".into()))?;
        let storage = absolute_url(storage, "the X-Storage-Url")
            .map_err(|_| AuthError::Protocol("X-Storage-Url is not an http(s) URL".into()))?;
        let life = headers
            .get("x-auth-token-expires")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut token = token.clone();
        token.set_sensitive(true);
        Ok((token, storage, life))
    }

    async fn keystone(
        &self,
        ks: &Keystone,
    ) -> Result<(HeaderValue, Uri, Option<Duration>), AuthError> {
        let Keystone {
            tokens_url,
            user,
            user_domain,
            password,
            project,
            project_domain,
            region,
        } = ks;
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": user_domain}, "password": password.expose(),
            }}},
            "scope": {"project": {"name": project, "domain": {"name": project_domain}}},
        }});
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = Bytes::from(body.to_string());
        let (_, headers, answer) = self.send(Method::POST, tokens_url, h, body).await?;
        let mut token = headers
            .get("x-subject-token")
            .cloned()
            .ok_or_else(|| AuthError::Protocol("no X-Subject-Token in the answer".into()))?;
        token.set_sensitive(true);
        let answer: KeystoneAnswer = serde_json::from_slice(&answer)
            .map_err(|_| AuthError::Protocol("the token body is not Keystone's JSON".into()))?;
        let storage = answer.token.object_store_url(region.as_deref())?;
        // Measured against the auth service's own clock, so a skew between the two clocks
        // neither makes every token look expired nor keeps one past its end.
        let server_now = headers
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(time::OffsetDateTime::from)
            .unwrap_or_else(time::OffsetDateTime::now_utc);
        let life = answer
            .token
            .expires_at
            .as_deref()
            .and_then(|at| life_until(at, server_now));
        Ok((token, storage, life))
    }
}

/// When a token got at `sent` (answered at `now`) with `life` ends, and when to renew it:
/// `margin` ahead of its end, at most half its life, never sooner than `MIN_USE` from now.
/// tempauth hands out the same token again while it is valid (`reused`): renewing it early
/// gains nothing, so it is kept to its end (the store's 401 after that brings a new one).
fn deadlines(
    sent: Instant,
    now: Instant,
    life: Option<Duration>,
    margin: Duration,
    reused: bool,
) -> (Option<Instant>, Option<Instant>) {
    let life = life.map(|l| l.min(MAX_LIFE));
    let expires = life.and_then(|l| sent.checked_add(l));
    let renew_at = match (expires, life) {
        (Some(end), Some(l)) if !reused => end.checked_sub(margin.min(l / 2)),
        _ => expires,
    };
    (expires, renew_at.map(|t| t.max(now + MIN_USE)))
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, AuthError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| AuthError::Misconfigured(format!("the {what} is not a valid header value")))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Time from `now` to an RFC 3339 instant (Keystone's `expires_at`); zero if already past.
fn life_until(expires_at: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let end =
        time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
            .ok()?;
    let left = end - now;
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

#[derive(Deserialize)]
struct KeystoneAnswer {
    token: KeystoneToken,
}

#[derive(Deserialize)]
struct KeystoneToken {
    expires_at: Option<String>,
    #[serde(default)]
    catalog: Vec<CatalogService>,
}

#[derive(Deserialize)]
struct CatalogService {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    endpoints: Vec<CatalogEndpoint>,
}

#[derive(Deserialize)]
struct CatalogEndpoint {
    interface: String,
    region: Option<String>,
    region_id: Option<String>,
    url: String,
}

impl KeystoneToken {
    /// The catalog's `object-store` `public` endpoint, in `region` when one is asked for.
    fn object_store_url(&self, region: Option<&str>) -> Result<Uri, AuthError> {
        let in_region = |e: &CatalogEndpoint| {
            region.map_or(true, |r| {
                e.region.as_deref() == Some(r) || e.region_id.as_deref() == Some(r)
            })
        };
        let url = self
            .catalog
            .iter()
            .filter(|s| s.kind == "object-store")
            .flat_map(|s| &s.endpoints)
            .find(|e| e.interface == "public" && in_region(e))
            .ok_or_else(|| {
                AuthError::Misconfigured(match region {
                    Some(r) => {
                        format!("the catalog has no public object-store endpoint in region {r:?}")
                    }
                    None => "the catalog has no public object-store endpoint".into(),
                })
            })?;
        absolute_url(&url.url, "the catalog's object-store URL")
            .map_err(|_| AuthError::Protocol("the object-store URL is not an http(s) URL".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> KeystoneToken {
        serde_json::from_str(
            r#"{"expires_at": "2030-01-01T00:00:00.000000Z", "catalog": [
                {"type": "identity", "endpoints": [
                    {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                     "url": "http://127.0.0.1:5000/v3"}]},
                {"type": "object-store", "endpoints": [
                    {"interface": "internal", "region": "RegionOne", "url": "http://10.0.0.1/v1/AUTH_p"},
                    {"interface": "public", "region": "RegionOne", "url": "http://one.example/v1/AUTH_p"},
                    {"interface": "public", "region": "RegionTwo", "url": "http://two.example/v1/AUTH_p"}]}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_storage_url_is_the_public_object_store_endpoint_of_the_region() {
        let t = catalog();
        let one = t.object_store_url(Some("RegionOne")).unwrap();
        assert_eq!(one.host(), Some("one.example"));
        let two = t.object_store_url(Some("RegionTwo")).unwrap();
        assert_eq!(two.host(), Some("two.example"));
        assert_eq!(
            t.object_store_url(None).unwrap().host(),
            Some("one.example")
        );
    }

    #[test]
    fn a_region_without_an_object_store_is_a_configuration_error() {
        let e = catalog().object_store_url(Some("Nowhere")).unwrap_err();
        assert!(
            matches!(e, AuthError::Misconfigured(ref m) if m.contains("Nowhere")),
            "{e}"
        );
        assert!(!e.retry_may_help());
    }

    #[test]
    fn secrets_and_tokens_never_debug_print() {
        let login = Login::tempauth(
            "http://127.0.0.1:1/auth/v1.0",
            "a:b",
            Secret::new("hunter2"),
        )
        .unwrap();
        assert!(!format!("{login:?}").contains("hunter2"));
        let mut value = HeaderValue::from_static("AUTH_tk-very-secret");
        value.set_sensitive(true);
        let token = Token {
            value,
            storage_url: Uri::from_static("http://127.0.0.1/v1/AUTH_test"),
            expires: None,
            renew_at: None,
        };
        assert!(!format!("{token:?}").contains("very-secret"));
    }

    #[test]
    fn keystone_expiry_is_counted_from_the_services_clock_and_a_past_one_is_zero() {
        let now = time::macros::datetime!(2026-12-01 10:00:00 UTC);
        let at = "2026-12-01T11:00:00.000000Z";
        assert_eq!(life_until(at, now), Some(Duration::from_secs(3600)));
        let past = "2000-01-01T00:00:00.000000Z";
        assert_eq!(life_until(past, now), Some(Duration::ZERO));
        assert_eq!(life_until("tomorrow", now), None);
    }

    #[test]
    fn a_token_is_renewed_a_margin_ahead_at_most_half_its_life_and_a_reused_one_at_its_end() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let margin = s(30);
        assert_eq!(
            deadlines(t0, t0, Some(s(3600)), margin, false),
            (Some(t0 + s(3600)), Some(t0 + s(3570)))
        );
        assert_eq!(
            deadlines(t0, t0, Some(s(10)), margin, false),
            (Some(t0 + s(10)), Some(t0 + s(5)))
        );
        assert_eq!(
            deadlines(t0, t0, Some(s(10)), margin, true),
            (Some(t0 + s(10)), Some(t0 + s(10)))
        );
        // Nothing said: kept until the store's 401.
        assert_eq!(deadlines(t0, t0, None, margin, false), (None, None));
    }

    #[test]
    fn a_token_already_due_is_still_used_a_moment_and_no_life_overflows() {
        let t0 = Instant::now();
        let (end, renew) = deadlines(t0, t0, Some(Duration::ZERO), Duration::from_secs(30), false);
        assert_eq!(end, Some(t0));
        assert_eq!(renew, Some(t0 + MIN_USE));
        let (end, _) = deadlines(t0, t0, Some(Duration::MAX), Duration::from_secs(30), false);
        assert_eq!(end, Some(t0 + MAX_LIFE));
    }

    #[test]
    fn auth_urls_must_be_absolute_http() {
        assert!(Login::tempauth("/auth/v1.0", "a:b", Secret::new("k")).is_err());
        assert!(Login::tempauth("ftp://h/auth", "a:b", Secret::new("k")).is_err());
        let ks = Login::keystone(
            "http://h:5000/v3/",
            "u",
            "Default",
            Secret::new("p"),
            "p",
            "Default",
            None,
        )
        .unwrap();
        let Login::Keystone(Keystone { tokens_url, .. }) = ks else {
            panic!("a Keystone login")
        };
        assert_eq!(tokens_url.path(), "/v3/auth/tokens");
    }
}
