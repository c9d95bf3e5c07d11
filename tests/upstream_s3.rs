//! `kind = "s3"` against real S3-compatible stores on loopback: SeaweedFS
//! (tests/stores/seaweedfs.sh, signatures checked) and rclone's S3 server
//! (tests/stores/rclone-s3.sh). Objects are put with Keyhole's own header-auth signer.
//!
//! A missing store binary skips a test (with a printed reason); with KEYHOLE_INTEROP=1 or in
//! CI it fails.

mod common;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use common::{require_tool, shared_store, stop_shared_store, Store};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use keyhole::backend::s3::{read_buckets, S3Names};
use keyhole::backend::ListQuery;
use keyhole::config::{Placeholder, S3Store, S3Style, Secret, Template};
use keyhole::upstream::client::{Client, Timeouts};

static SEAWEED: OnceLock<Store> = OnceLock::new();
extern "C" fn stop_seaweed() {
    stop_shared_store(&SEAWEED);
}

/// The shared SeaweedFS, or None when `weed` is not installed here.
fn seaweed() -> Option<&'static Store> {
    if !require_tool("weed") {
        return None;
    }
    Some(shared_store(&SEAWEED, "seaweedfs.sh", &[], stop_seaweed))
}

static RCLONE: OnceLock<Store> = OnceLock::new();
extern "C" fn stop_rclone() {
    stop_shared_store(&RCLONE);
}

/// The shared `rclone serve s3`, or None when rclone is not installed here.
fn rclone() -> Option<&'static Store> {
    if !require_tool("rclone") {
        return None;
    }
    Some(shared_store(&RCLONE, "rclone-s3.sh", &[], stop_rclone))
}

fn block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn now() -> u64 {
    common::now()
}

/// The store's `[backend]` as Keyhole would read it, with `secret` for its secret key.
fn s3_store(store: &Store, secret: &str, bucket: &str, object: &str) -> S3Store {
    let all = [
        Placeholder::Project,
        Placeholder::Container,
        Placeholder::Object,
    ];
    S3Store {
        endpoint: store.var("S3_ENDPOINT").parse().unwrap(),
        region: store.var("S3_REGION").to_string(),
        access_key: store.var("S3_ACCESS_KEY").to_string(),
        secret_key: Secret::new(secret),
        style: S3Style::Path,
        bucket: Template::parse(bucket, &all[..2]).unwrap(),
        object: Template::parse(object, &all).unwrap(),
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(30),
    }
}

fn names(store: &Store) -> S3Names {
    S3Names::new(&s3_store(
        store,
        store.var("S3_SECRET_KEY"),
        "{container}",
        "{object}",
    ))
}

/// Sends a signed request built by `names` with `body`; the status and the whole answer.
async fn send(req: http::Request<()>, body: Bytes) -> (StatusCode, Bytes) {
    let client = Client::new(Timeouts::default()).unwrap();
    let (parts, ()) = req.into_parts();
    let resp = client
        .send(parts.method, parts.uri, parts.headers, body)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

/// Creates `bucket` (if need be) and puts `key` in it, signed by Keyhole's signer.
fn put(store: &Store, bucket: &str, key: &str, bytes: &[u8]) {
    let n = names(store);
    block(async {
        let mk = n.request(Method::PUT, Some(bucket), "", "", now()).unwrap();
        let (status, body) = send(mk, Bytes::new()).await;
        assert!(
            status.is_success() || status == StatusCode::CONFLICT,
            "create bucket {bucket}: {status} {body:?}"
        );
        let req = n
            .request(Method::PUT, Some(bucket), key, "", now())
            .unwrap();
        let (status, body) = send(req, Bytes::copy_from_slice(bytes)).await;
        assert!(status.is_success(), "put {bucket}/{key}: {status} {body:?}");
    });
}

const TRICKY_KEY: &str = "dir/Tiếng Việt + a&b=c (1)~.txt";

#[test]
fn the_header_signer_is_accepted_by_seaweedfs_for_put_get_and_listings() {
    let Some(store) = seaweed() else { return };
    put(store, "signer", TRICKY_KEY, b"signed bytes");
    put(store, "signer", "dir/sub/x", b"x");
    put(store, "signer", "top", b"t");
    let n = names(store);
    block(async {
        let get = n
            .object_request(false, "p1", "signer", TRICKY_KEY, now())
            .unwrap();
        let (status, body) = send(get, Bytes::new()).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"signed bytes"[..]));

        let query = ListQuery {
            prefix: "dir/",
            delimiter: true,
            marker: "",
            limit: 10,
        };
        let (req, frame) = n.list_request("p1", "signer", &query, now()).unwrap();
        let (status, body) = send(req, Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        let page = frame.read(&body).unwrap();
        let objects: Vec<&str> = page.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(objects, [TRICKY_KEY]);
        assert_eq!(page.prefixes, ["dir/sub/"]);
        assert_eq!(page.objects[0].bytes, 12);
        assert_eq!(page.next_marker, None);

        let (status, body) = send(n.list_buckets_request(now()).unwrap(), Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert!(read_buckets(&body).unwrap().contains(&"signer".to_string()));
    });
}

#[test]
fn seaweedfs_refuses_a_request_signed_with_the_wrong_secret() {
    let Some(store) = seaweed() else { return };
    put(store, "signer", "refused", b"r");
    let wrong = S3Names::new(&s3_store(
        store,
        "not-the-secret",
        "{container}",
        "{object}",
    ));
    block(async {
        let req = wrong
            .object_request(false, "p1", "signer", "refused", now())
            .unwrap();
        let (status, body) = send(req, Bytes::new()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
    });
}

#[test]
fn the_header_signer_is_accepted_by_rclone() {
    let Some(store) = rclone() else { return };
    put(store, "signer", TRICKY_KEY, b"rclone bytes");
    let n = names(store);
    block(async {
        let get = n
            .object_request(false, "p1", "signer", TRICKY_KEY, now())
            .unwrap();
        let (status, body) = send(get, Bytes::new()).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"rclone bytes"[..]));
    });
}
