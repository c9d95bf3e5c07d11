//! The per-request work before the first byte, other than S3 signatures (benches/sigv4.rs):
//! Swift Temporary URL verification for each digest, Range parsing, Content-Disposition
//! building and config key lookup.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keyhole::app::links::{self as cache, LinkCache, Verified};
use keyhole::auth::swift::{self, Digest, Scope, SwiftPath};
use keyhole::auth::Grant;
use keyhole::config::Config;
use keyhole::delivery::disposition::content_disposition;
use keyhole::delivery::range;
use keyhole::delivery::Prepared;
use keyhole::outcome::Kind;
use keyhole::query::Query;

fn config() -> Config {
    let mut text = String::from("[backend]\nkind = \"fs\"\nroot = \"/tmp\"\n");
    // A config of realistic size: 200 projects with keys and containers.
    for p in 0..200 {
        text.push_str(&format!(
            "[[project]]\nid = \"project{p:04}\"\ntemp_url_keys = [\"k{p}-1\", \"k{p}-2\"]\n  [[project.s3_key]]\n  access_key = \"AK{p:016}\"\n  secret_key = \"s{p}\"\n  [[project.container]]\n  name = \"c\"\n"
        ));
    }
    Config::parse(&text, Path::new("/")).unwrap()
}

fn verify(c: &mut Criterion) {
    let cfg = config();
    let path = "/v1/AUTH_project0100/c/reports/Báo cáo tháng 11.pdf";
    let expires = 4_000_000_000u64;
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    // Key-2 is signed with, so each verification first tries (and fails) with Key-1, as a
    // link made after a key rotation would; "first key" is the one-HMAC case.
    let cases = [
        (Digest::Sha1, "k100-2", ""),
        (Digest::Sha256, "k100-2", ""),
        (Digest::Sha512, "k100-2", ""),
        (Digest::Sha256, "k100-1", ", first key"),
    ];
    for (digest, key, label) in cases {
        let sig = swift::sign(digest, key, "GET", expires, Scope::Object(path), None);
        let query = format!("temp_url_sig={sig}&temp_url_expires={expires}&inline");
        let req = SwiftPath {
            path,
            account: "AUTH_project0100",
            container: "c",
            object: "reports/Báo cáo tháng 11.pdf",
        };
        c.bench_function(&format!("swift verify {}{label}", digest.name()), |b| {
            b.iter(|| {
                let q = Query::new(black_box(&query));
                swift::verify(
                    &cfg,
                    black_box(&req),
                    &http::Method::GET,
                    &q,
                    ip,
                    1_700_000_000,
                )
                .unwrap()
            })
        });
    }
}

/// A repeat of a verified link (a Range seek, a reload): the whole request is the key.
fn cached(c: &mut Criterion) {
    let cache = LinkCache::default();
    let path = "/v1/AUTH_project0100/c/reports/Báo cáo tháng 11.pdf";
    let query = "temp_url_sig=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
                 &temp_url_expires=4000000000&inline";
    let grant = Grant::public("project0100", "c", "reports/Báo cáo tháng 11.pdf");
    let grant = Grant {
        expires_at: Some(4_000_000_000),
        ..grant
    };
    let key = cache::key("GET", "", path, query).unwrap();
    let prepared = Arc::new(Prepared::new(grant));
    let client = IpAddr::from([127, 0, 0, 1]);
    let _ = cache.get_or_verify(key, 1_700_000_000, client, || {
        Ok::<_, ()>(Verified {
            prepared,
            kind: Kind::Swift,
        })
    });
    c.bench_function("verified-link cache hit", |b| {
        b.iter(|| {
            let k = cache::key("GET", "", black_box(path), black_box(query)).unwrap();
            cache
                .get_or_verify(k, 1_700_000_000, client, || Err(()))
                .expect("a hit")
        })
    });
}

fn disposition(c: &mut Criterion) {
    c.bench_function("content-disposition ascii", |b| {
        b.iter(|| content_disposition(false, black_box("report-2026.pdf")))
    });
    c.bench_function("content-disposition utf8", |b| {
        b.iter(|| content_disposition(true, black_box("Báo cáo tháng 11.pdf")))
    });
}

fn ranges(c: &mut Criterion) {
    let len = 1 << 30;
    c.bench_function("range single", |b| {
        b.iter(|| range::select(black_box("bytes=1048576-2097151"), len))
    });
    c.bench_function("range suffix", |b| {
        b.iter(|| range::select(black_box("bytes=-500"), len))
    });
    c.bench_function("range multi (4)", |b| {
        b.iter(|| range::select(black_box("bytes=0-99,1000-1999,5000-5999,100000-"), len))
    });
}

fn lookup(c: &mut Criterion) {
    let cfg = config();
    c.bench_function("config project lookup", |b| {
        b.iter(|| cfg.project(black_box("project0150")).is_some())
    });
    c.bench_function("config s3 key lookup", |b| {
        b.iter(|| cfg.s3_key(black_box("AK0000000000000150")).is_some())
    });
}

criterion_group!(benches, verify, cached, ranges, disposition, lookup);
criterion_main!(benches);
