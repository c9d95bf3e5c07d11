//! The cost of checking one presigned URL: SigV4 with a warm signing-key cache (the steady
//! state: a key serves a whole day), and V2.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue, Method};

use keyhole::auth::s3::{S3Request, Scheme};
use keyhole::auth::{s3, sigv2, sigv4};
use keyhole::config::Config;
use keyhole::query::Query;

const HOST: &str = "share.example.com";
const NOW: u64 = 1_700_000_000;

fn config() -> Config {
    Config::parse(
        "[backend]\nkind = \"fs\"\nroot = \"x\"\n[[project]]\nid = \"p\"\n  [[project.s3_key]]\n  access_key = \"AKIDBENCH\"\n  secret_key = \"bench-secret-key-0123456789\"\n",
        std::path::Path::new("/"),
    )
    .expect("bench config")
}

fn bench(c: &mut Criterion) {
    let cfg = config();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(HOST));
    let method = Method::GET;
    let params = [(
        "response-content-disposition",
        "attachment; filename=\"report 2024.pdf\"",
    )];

    let v4_signer = sigv4::Presign {
        host: HOST,
        path: "/photos/2024/Báo cáo tháng 11.pdf",
        access_key: "AKIDBENCH",
        secret: "bench-secret-key-0123456789",
        region: "us-east-1",
        now: NOW,
        expires: 3600,
        params: &params,
    };
    let v4 = v4_signer.path_and_query();
    let (v4_path, v4_query) = v4.split_once('?').expect("a query");
    let (bucket, key) = ("photos", "2024/Báo cáo tháng 11.pdf");
    let req = S3Request {
        method: &method,
        signed_path: v4_path,
        bucket,
        key,
        virtual_host: false,
        query: Query::new(v4_query),
        headers: &headers,
        host: Some(HOST),
    };
    assert!(
        s3::verify(&cfg, &req, Scheme::QueryV4, NOW + 10).is_ok(),
        "the bench link verifies"
    );
    c.bench_function("sigv4 query verification (warm key cache)", |b| {
        b.iter(|| sigv4::verify_query(black_box(&cfg), black_box(&req), NOW + 10).is_ok())
    });

    // The same check for the plainest link an SDK makes: an ASCII key and no `response-*`
    // parameters, so a shorter text to hash and almost nothing to decode.
    let plain = sigv4::Presign {
        path: "/photos/2024/report.pdf",
        params: &[],
        ..v4_signer.clone()
    }
    .path_and_query();
    let (plain_path, plain_query) = plain.split_once('?').expect("a query");
    let plain_req = S3Request {
        signed_path: plain_path,
        key: "2024/report.pdf",
        query: Query::new(plain_query),
        ..req
    };
    assert!(
        s3::verify(&cfg, &plain_req, Scheme::QueryV4, NOW + 10).is_ok(),
        "the plain bench link verifies"
    );
    c.bench_function(
        "sigv4 query verification, plain link (warm key cache)",
        |b| {
            b.iter(|| sigv4::verify_query(black_box(&cfg), black_box(&plain_req), NOW + 10).is_ok())
        },
    );

    let v2 = sigv2::Presign {
        path: "/photos/2024/Báo cáo tháng 11.pdf",
        virtual_bucket: None,
        access_key: "AKIDBENCH",
        secret: "bench-secret-key-0123456789",
        expires: NOW + 3600,
        params: &params,
    }
    .path_and_query();
    let (v2_path, v2_query) = v2.split_once('?').expect("a query");
    let req2 = S3Request {
        signed_path: v2_path,
        query: Query::new(v2_query),
        ..req
    };
    assert!(
        s3::verify(&cfg, &req2, Scheme::QueryV2, NOW + 10).is_ok(),
        "the V2 bench link verifies"
    );
    c.bench_function("sigv2 query verification", |b| {
        b.iter(|| sigv2::verify_query(black_box(&cfg), black_box(&req2), NOW + 10).is_ok())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
