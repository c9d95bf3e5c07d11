//! `Config::parse` on any text: never panics, and a config it accepts keeps its promises:
//! project ids and container names are single safe path segments and unique, S3 access keys
//! are unique and index back to their project, key lists are non-empty secrets (at most two).
#![no_main]

use std::collections::HashSet;
use std::path::Path;

use keyhole::config::{BackendConfig, Config};
use libfuzzer_sys::fuzz_target;

fn segment_ok(v: &str) -> bool {
    !v.trim().is_empty()
        && v != "."
        && v != ".."
        && !v.contains('/')
        && !v.contains('\0')
        && !v.starts_with('_')
}

fuzz_target!(|text: &str| {
    // `secret_key_file` reads a file: a fuzzer that names /dev/zero or /dev/stdin would hang
    // or exhaust memory on the operator's own trusted input, not on ours. Quoted keys with
    // escapes could spell the name too.
    if text.contains("_file") || text.contains("\\u") || text.contains("\\U") {
        return;
    }
    let Ok(cfg) = Config::parse(text, Path::new("/nonexistent-keyhole-fuzz")) else {
        return;
    };
    if let BackendConfig::Fs { root, .. } = &cfg.backend {
        assert!(root.is_absolute(), "{root:?}");
    }
    assert!(!cfg.swift.reseller_prefix.contains('/'));
    assert!(!cfg.swift.allowed_digests.is_empty());
    assert!(!cfg.s3.regions.is_empty());
    assert!(cfg
        .s3
        .regions
        .iter()
        .all(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')));
    assert_ne!(cfg.workers, Some(0));
    assert_ne!(cfg.max_link_lifetime, Some(0));
    if let Some(u) = &cfg.public_url {
        assert!(u.starts_with("http://") || u.starts_with("https://"));
        assert!(!u.ends_with('/'));
    }

    let mut ids = HashSet::new();
    let mut access_keys = HashSet::new();
    for p in &cfg.projects {
        assert!(segment_ok(&p.id), "{:?}", p.id);
        assert!(ids.insert(p.id.as_str()), "duplicate project {:?}", p.id);
        assert!(std::ptr::eq(cfg.project(&p.id).unwrap(), p));
        assert!(p.temp_url_keys.len() <= 2);
        assert!(p.temp_url_keys.iter().all(|k| !k.expose().is_empty()));
        for k in &p.s3_keys {
            assert!(!k.access_key.trim().is_empty());
            assert!(
                access_keys.insert(k.access_key.as_str()),
                "duplicate access key {:?}",
                k.access_key
            );
            assert!(!k.secret_key.expose().is_empty());
            let (owner, key) = cfg.s3_key(&k.access_key).unwrap();
            assert!(std::ptr::eq(owner, p) && std::ptr::eq(key, k));
        }
        let mut names = HashSet::new();
        for c in &p.containers {
            assert!(segment_ok(&c.name), "{:?}", c.name);
            assert!(
                names.insert(c.name.as_str()),
                "duplicate container {:?}",
                c.name
            );
            assert!(c.temp_url_keys.len() <= 2);
            assert!(c.temp_url_keys.iter().all(|k| !k.expose().is_empty()));
            assert!(c
                .cors_origins
                .iter()
                .all(|o| o == "*" || o.starts_with("http://") || o.starts_with("https://")));
        }
    }
    for t in &cfg.api_tokens {
        assert!(!t.token.expose().is_empty());
        assert!(t.projects.iter().all(|p| cfg.project(p).is_some()));
    }
});
