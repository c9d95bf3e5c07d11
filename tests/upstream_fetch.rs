//! The shared upstream fetch (`backend::upstream::Upstream`) against a real store: SeaweedFS
//! (`tests/stores/seaweedfs.sh`), objects put with boto3, fetched with
//! presigned GETs so that only the fetch's mapping of the store's answers is under test.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::BodyExt;
use keyhole::aws::sigv4::Presign;
use keyhole::backend::upstream::Upstream;
use keyhole::backend::{Ask, BackendError, Contents, Fetched, Selection};
use keyhole::upstream::client::Timeouts;

use common::{now, shared_store, stop_shared_store, Store};

static STORE: OnceLock<Store> = OnceLock::new();
extern "C" fn stop_store() {
    stop_shared_store(&STORE);
}

/// The store with bucket `bkt` holding `obj` (the bytes of `data()`) and `empty`; `None` when
/// SeaweedFS is not installed (and not required).
fn store() -> Option<&'static Store> {
    if !common::require_tool("weed") || !common::require_python_module("boto3") {
        return None;
    }
    static PUT: OnceLock<()> = OnceLock::new();
    let s = shared_store(&STORE, "seaweedfs.sh", &[], stop_store);
    PUT.get_or_init(|| {
        let dir = &s.dir.0;
        std::fs::write(dir.join("obj"), data()).unwrap();
        std::fs::write(dir.join("empty"), b"").unwrap();
        let script = "import boto3, sys\n\
             e, ak, sk, d = sys.argv[1:]\n\
             c = boto3.client('s3', endpoint_url=e, region_name='us-east-1',\n\
                 aws_access_key_id=ak, aws_secret_access_key=sk)\n\
             c.create_bucket(Bucket='bkt')\n\
             for n in ('obj', 'empty'):\n\
             \x20   c.put_object(Bucket='bkt', Key=n, Body=open(d + '/' + n, 'rb').read())\n";
        let out = std::process::Command::new("python3")
            .args(["-c", script, s.var("S3_ENDPOINT")])
            .args([s.var("S3_ACCESS_KEY"), s.var("S3_SECRET_KEY")])
            .arg(dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "putting the objects: {err}");
    });
    Some(s)
}

fn data() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A presigned GET of `/bkt/<key>` with `secret`.
fn get(s: &Store, key: &str, secret: &str) -> Request<()> {
    let endpoint = s.var("S3_ENDPOINT");
    let host = endpoint.trim_start_matches("http://");
    let path = format!("/bkt/{key}");
    let p = Presign {
        host,
        path: &path,
        access_key: s.var("S3_ACCESS_KEY"),
        secret,
        region: "us-east-1",
        now: now(),
        expires: 300,
        params: &[],
    };
    Request::get(format!("{endpoint}{}", p.path_and_query()))
        .body(())
        .unwrap()
}

fn upstream() -> Upstream {
    let t = Timeouts {
        connect: Duration::from_secs(2),
        head: Duration::from_secs(5),
        body_idle: Duration::from_secs(5),
    };
    Upstream::new("seaweedfs", t).unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

async fn fetch(s: &Store, key: &str, h: &HeaderMap) -> Result<Fetched, BackendError> {
    let ask = Ask {
        head: false,
        headers: h,
    };
    upstream()
        .fetch(get(s, key, s.var("S3_SECRET_KEY")), &ask)
        .await
}

async fn bytes(f: Fetched) -> Bytes {
    match f.contents {
        Contents::Stream(b) => b.collect().await.unwrap().to_bytes(),
        Contents::None => Bytes::new(),
        Contents::Seekable(_) => panic!("an upstream gives a stream"),
    }
}

#[tokio::test]
async fn a_whole_object_streams_with_the_stores_validators() {
    let Some(s) = store() else { return };
    let f = fetch(s, "obj", &HeaderMap::new()).await.unwrap();
    assert_eq!(f.selection, Selection::Whole);
    assert_eq!(f.meta.len, 300_000);
    assert!(f.meta.etag.is_some() && f.meta.modified.is_some());
    assert_eq!(bytes(f).await.as_ref(), data().as_slice());
}

#[tokio::test]
async fn single_and_suffix_ranges_are_the_stores_exact_bytes() {
    let Some(s) = store() else { return };
    for (range, want) in [("bytes=10-19", 10..20), ("bytes=-5", 299_995..300_000)] {
        let f = fetch(s, "obj", &headers(&[("range", range)]))
            .await
            .unwrap();
        assert_eq!(f.selection, Selection::Single(want.clone()), "{range}");
        assert_eq!(f.meta.len, 300_000);
        assert_eq!(
            bytes(f).await.as_ref(),
            &data()[want.start as usize..want.end as usize]
        );
    }
}

#[tokio::test]
async fn several_ranges_are_answered_with_the_whole_object() {
    let Some(s) = store() else { return };
    let f = fetch(s, "obj", &headers(&[("range", "bytes=0-1,5-6")]))
        .await
        .unwrap();
    assert_eq!(f.selection, Selection::Whole);
    assert_eq!(bytes(f).await.len(), 300_000);
}

#[tokio::test]
async fn a_stale_if_range_gets_the_whole_object_though_the_store_sends_a_range() {
    let Some(s) = store() else { return };
    let h = headers(&[("range", "bytes=0-9"), ("if-range", "\"not-the-tag\"")]);
    let f = fetch(s, "obj", &h).await.unwrap();
    assert_eq!(f.selection, Selection::Whole);
    assert_eq!(bytes(f).await.as_ref(), data().as_slice());
    // The current tag keeps the range.
    let tag = fetch(s, "obj", &HeaderMap::new()).await.unwrap().meta.etag;
    let tag = tag.unwrap().with_text(str::to_string);
    let h = headers(&[("range", "bytes=0-9"), ("if-range", &tag)]);
    let f = fetch(s, "obj", &h).await.unwrap();
    assert_eq!(f.selection, Selection::Single(0..10));
    assert_eq!(bytes(f).await.as_ref(), &data()[..10]);
}

#[tokio::test]
async fn preconditions_are_decided_on_the_stores_validators() {
    let Some(s) = store() else { return };
    let tag = fetch(s, "obj", &HeaderMap::new()).await.unwrap().meta.etag;
    let tag = tag.unwrap().with_text(str::to_string);
    let f = fetch(s, "obj", &headers(&[("if-none-match", &tag)]))
        .await
        .unwrap();
    assert_eq!(f.selection, Selection::NotModified);
    assert!(matches!(f.contents, Contents::None));
    let f = fetch(s, "obj", &headers(&[("if-match", "\"other\"")]))
        .await
        .unwrap();
    assert_eq!(f.selection, Selection::PreconditionFailed);
    let f = fetch(s, "obj", &headers(&[("if-match", &tag)]))
        .await
        .unwrap();
    assert_eq!(f.selection, Selection::Whole);
}

#[tokio::test]
async fn a_range_past_the_end_is_unsatisfiable_but_an_empty_object_is_sent_whole() {
    let Some(s) = store() else { return };
    let f = fetch(s, "obj", &headers(&[("range", "bytes=400000-")]))
        .await
        .unwrap();
    assert_eq!(f.selection, Selection::Unsatisfiable);
    let f = fetch(s, "empty", &headers(&[("range", "bytes=0-0")]))
        .await
        .unwrap();
    assert_eq!(f.selection, Selection::Whole);
    assert_eq!(f.meta.len, 0);
}

#[tokio::test]
async fn a_missing_object_is_not_found_and_a_refused_signature_is_misconfigured() {
    let Some(s) = store() else { return };
    let e = fetch(s, "nothing-here", &HeaderMap::new()).await.err();
    assert!(matches!(e, Some(BackendError::NotFound)), "{e:?}");
    let ask = Ask {
        head: false,
        headers: &HeaderMap::new(),
    };
    let e = upstream()
        .fetch(get(s, "obj", "wrong-secret"), &ask)
        .await
        .err();
    match e {
        Some(BackendError::Misconfigured { status, detail, .. }) => {
            assert_eq!(status, 403);
            assert!(detail.contains("SignatureDoesNotMatch"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let req = Request::get(format!("http://127.0.0.1:{port}/b/o"))
        .body(())
        .unwrap();
    let ask = Ask {
        head: false,
        headers: &HeaderMap::new(),
    };
    let e = upstream().fetch(req, &ask).await.err();
    assert!(
        matches!(e, Some(BackendError::Unavailable { retry: true, .. })),
        "{e:?}"
    );
}
