//! Keyhole's Keystone v3 login in front of a real Swift (`SWIFT_AUTH=keystone
//! tests/stores/swift.sh`): its own test binary, since Keystone takes ~20 s to start here.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use common::{keystone_swift, stop_shared_store, Store};
use http::{HeaderMap, Method};
use keyhole::upstream::client::{Client, Timeouts};
use keyhole::upstream::swift_auth::{AuthError, Login, Secret, TokenCache};

static KEYSTONE: OnceLock<Store> = OnceLock::new();

extern "C" fn stop_keystone() {
    stop_shared_store(&KEYSTONE);
}

fn keystone() -> Option<&'static Store> {
    keystone_swift(&KEYSTONE, stop_keystone)
}

fn cache(store: &Store, password: &str, region: Option<&str>) -> TokenCache {
    let login = Login::keystone(
        store.var("OS_AUTH_URL"),
        store.var("KEYSTONE_DEMO_USER"),
        "Default",
        Secret::new(password),
        store.var("KEYSTONE_DEMO_PROJECT"),
        "Default",
        region,
    )
    .unwrap();
    // Keystone answers one request at a time, 1-3 s each on a busy machine.
    let timeouts = Timeouts {
        head: Duration::from_secs(60),
        ..Timeouts::default()
    };
    TokenCache::new(
        Client::new(timeouts).unwrap(),
        login,
        Duration::from_secs(30),
    )
}

#[tokio::test]
async fn keystone_gives_a_token_and_the_catalogs_storage_url_that_open_the_account() {
    let Some(store) = keystone() else { return };
    let region = store.var("KEYSTONE_REGION");
    let cache = cache(store, store.var("KEYSTONE_DEMO_PASSWORD"), Some(region));
    let token = cache.token().await.unwrap();
    // KEYSTONE_TOKEN_LIFE is the default hour: the body's expires_at was read.
    let life = token
        .expires()
        .map(|e| e.duration_since(tokio::time::Instant::now()));
    assert!(
        life.is_some_and(|l| l > Duration::from_secs(3000) && l <= Duration::from_secs(3600)),
        "{life:?}"
    );
    let url = token.storage_url();
    assert_eq!(
        url.port_u16().map(|p| p.to_string()).as_deref(),
        Some(store.var("SWIFT_PROXY_PORT"))
    );
    assert!(url.path().starts_with("/v1/AUTH_"), "{url}");
    let c = Client::new(Timeouts {
        head: Duration::from_secs(60),
        ..Timeouts::default()
    })
    .unwrap();
    let mut h = HeaderMap::new();
    h.insert("x-auth-token", token.header_value().clone());
    let resp = c
        .send(Method::HEAD, url.clone(), h, Bytes::new())
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(cache.logins(), 1);
}

#[tokio::test]
async fn a_region_the_catalog_lacks_is_a_misconfiguration() {
    let Some(store) = keystone() else { return };
    let cache = cache(
        store,
        store.var("KEYSTONE_DEMO_PASSWORD"),
        Some("RegionNowhere"),
    );
    let e = cache.token().await.unwrap_err();
    assert!(
        matches!(e, AuthError::Misconfigured(ref m) if m.contains("RegionNowhere")),
        "{e}"
    );
}

#[tokio::test]
async fn a_wrong_keystone_password_is_a_misconfiguration() {
    let Some(store) = keystone() else { return };
    let cache = cache(store, "not-the-password", None);
    let e = cache.token().await.unwrap_err();
    assert!(matches!(e, AuthError::Misconfigured(_)), "{e}");
    assert!(!e.to_string().contains("not-the-password"));
    assert!(!e.retry_may_help());
}
