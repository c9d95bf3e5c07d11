//! Keyhole with a Keystone v3 `auth_url` serving a link from the Swift behind it
//! (`SWIFT_AUTH=keystone tests/stores/swift.sh`): its own binary, as Keystone takes ~20 s to
//! start here.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use common::{keystone_swift, serve_config, signed, stop_shared_store, Store};
use common::{ACCOUNT_KEY, PROJECT};
use http::{HeaderMap, Method};
use keyhole::upstream::client::{Client, Timeouts};
use keyhole::upstream::swift_auth::{Login, Secret, TokenCache};

static KEYSTONE: OnceLock<Store> = OnceLock::new();

extern "C" fn stop_keystone() {
    stop_shared_store(&KEYSTONE);
}

fn keystone() -> Option<&'static Store> {
    keystone_swift(&KEYSTONE, stop_keystone)
}

/// Keystone answers one request at a time, 1-3 s each on a busy machine.
fn patient() -> Timeouts {
    Timeouts {
        head: Duration::from_secs(60),
        ..Timeouts::default()
    }
}

/// Puts `bytes` at `c/<name>` of the demo user's account, logged in as that user.
async fn put(store: &Store, name: &str, bytes: &'static [u8]) {
    let login = Login::keystone(
        store.var("OS_AUTH_URL"),
        store.var("KEYSTONE_DEMO_USER"),
        "Default",
        Secret::new(store.var("KEYSTONE_DEMO_PASSWORD")),
        store.var("KEYSTONE_DEMO_PROJECT"),
        "Default",
        None,
    )
    .unwrap();
    let client = Client::new(patient()).unwrap();
    let token = TokenCache::new(client.clone(), login, Duration::from_secs(30))
        .token()
        .await
        .unwrap();
    let mut h = HeaderMap::new();
    h.insert("x-auth-token", token.header_value().clone());
    let base = token.storage_url().to_string();
    for (url, body) in [
        (format!("{base}/c"), Bytes::new()),
        (
            format!("{base}/c/{}", common::encode_path(name)),
            Bytes::from_static(bytes),
        ),
    ] {
        let resp = client
            .send(Method::PUT, url.parse().unwrap(), h.clone(), body)
            .await
            .unwrap();
        assert!(resp.status().is_success(), "PUT {url}: {}", resp.status());
    }
}

#[test]
fn keyhole_with_a_v3_auth_url_serves_a_link_from_the_keystone_fronted_swift() {
    let Some(store) = keystone() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(put(store, "from keystone.txt", b"behind keystone\n"));
    // No `account`: the catalog's storage URL names the demo project's own account.
    let text = format!(
        r#"listen = "127.0.0.1:0"
[backend]
kind = "swift"
auth_url = "{auth}"
user = "{user}"
key = "{password}"
project = "{project}"
region = "{region}"
response_timeout = 60
[[project]]
id = "{PROJECT}"
temp_url_keys = ["{ACCOUNT_KEY}"]
any_container = true
"#,
        auth = store.var("OS_AUTH_URL"),
        user = store.var("KEYSTONE_DEMO_USER"),
        password = store.var("KEYSTONE_DEMO_PASSWORD"),
        project = store.var("KEYSTONE_DEMO_PROJECT"),
        region = store.var("KEYSTONE_REGION"),
    );
    let srv = serve_config("keystone-serve", &text);
    let r = srv.get(&signed(&format!("/v1/AUTH_{PROJECT}/c/from keystone.txt")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"behind keystone\n");
    assert_eq!(srv.get("/_keyhole/readyz").status, 200);
    let missing = srv.get(&signed(&format!("/v1/AUTH_{PROJECT}/c/none")));
    assert_eq!(missing.status, 404);
}
