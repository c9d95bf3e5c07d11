//! The README's upstream example, as a newcomer would run it: two Keyhole replicas with the
//! S3 config of "In front of an object store" in front of one real SeaweedFS, behind a real
//! nginx configured as `deploy/nginx/keyhole.conf` is. Links made for the proxy's URL open
//! through either replica, byte-exact.

mod common;

use std::collections::HashSet;
use std::sync::OnceLock;

use common::nginx::{free_port, Nginx};
use common::*;
use keyhole::aws::sigv4::Presign;

static STORE: OnceLock<Store> = OnceLock::new();
extern "C" fn stop_store() {
    stop_shared_store(&STORE);
}

const OBJECT: &str = "q4/Báo cáo.pdf";

fn object_bytes() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 13 % 253) as u8).collect()
}

/// The TOML block that follows the README's `upstream-example` marker.
fn readme_example() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let after = readme
        .split_once("<!-- upstream-example")
        .expect("the README marks its upstream example")
        .1;
    let block = after.split_once("```toml\n").expect("a toml block").1;
    block
        .split_once("```")
        .expect("the block ends")
        .0
        .to_string()
}

/// The example with the test's store, address and public URL put in; only those lines change.
fn config(store: &Store, public_url: &str) -> String {
    let mut text = readme_example();
    for (from, to) in [
        (
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "public_url = \"https://share.example.com\"",
            format!("public_url = \"{public_url}\"\n[proxy]\ntrusted = [\"127.0.0.1/32\"]"),
        ),
        (
            "endpoint = \"http://127.0.0.1:8333\"",
            format!("endpoint = \"{}\"", store.var("S3_ENDPOINT")),
        ),
        (
            "access_key = \"keyhole\"",
            format!("access_key = \"{}\"", store.var("S3_ACCESS_KEY")),
        ),
    ] {
        assert!(
            text.contains(from),
            "the README example no longer has {from}"
        );
        text = text.replacen(from, &to, 1);
    }
    text
}

#[test]
fn two_replicas_behind_nginx_serve_the_readmes_example_from_one_store() {
    if !require_tool("weed") || !require_tool("nginx") || !require_python_module("boto3") {
        return;
    }
    let store = shared_store(&STORE, "seaweedfs.sh", &[], stop_store);
    let bytes = object_bytes();
    let file = store.dir.0.join("upload.bin");
    std::fs::write(&file, &bytes).unwrap();
    let script = "import boto3, sys\n\
         e, ak, sk, f, key = sys.argv[1:]\n\
         c = boto3.client('s3', endpoint_url=e, region_name='us-east-1',\n\
             aws_access_key_id=ak, aws_secret_access_key=sk)\n\
         c.create_bucket(Bucket='reports')\n\
         c.put_object(Bucket='reports', Key=key, Body=open(f, 'rb').read(),\n\
             ContentType='application/pdf')\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, store.var("S3_ENDPOINT")])
        .args([store.var("S3_ACCESS_KEY"), store.var("S3_SECRET_KEY")])
        .arg(&file)
        .arg(OBJECT)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "putting the object: {err}");

    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let text = config(store, &public_url);
    let replica = || {
        Binary::spawn(TempDir::new("replica"), &text, 1, |cmd| {
            cmd.env("KEYHOLE_STORE_SECRET", store.var("S3_SECRET_KEY"))
                .env("KEYHOLE_TEAM_S3_SECRET", "team-secret")
                .env("RUST_LOG", "keyhole::access=info,warn");
        })
    };
    let replicas = [replica(), replica()];
    let addrs = [replicas[0].addr, replicas[1].addr];
    let nginx = Nginx::start(port, &[("/", &addrs)]);

    let path = format!("/v1/AUTH_team/reports/{OBJECT}");
    let expires = now() + 600;
    let sig = keyhole::auth::swift::sign(
        keyhole::auth::swift::Digest::Sha256,
        "change-me-account-key",
        "GET",
        expires,
        keyhole::auth::swift::Scope::Object(&path),
        None,
    );
    let swift = format!(
        "{}?temp_url_sig={sig}&temp_url_expires={expires}",
        encode_path(&path)
    );
    let s3_path = format!("/reports/{OBJECT}");
    let host = nginx.host();
    let s3 = Presign {
        host: &host,
        path: &s3_path,
        access_key: "team-links",
        secret: "team-secret",
        region: "us-east-1",
        now: now(),
        expires: 600,
        params: &[],
    }
    .path_and_query();

    for target in [&swift, &s3] {
        for _ in 0..4 {
            let r = nginx.get(target, &[]);
            assert_eq!(r.status, 200, "{target}: {}\n{}", r.text(), nginx.log());
            assert!(r.body == bytes, "{target}: the bytes differ");
            assert_eq!(r.header("content-type"), Some("application/pdf"));
        }
        let r = nginx.get(target, &[("Range", "bytes=100-199")]);
        assert_eq!(r.status, 206, "{target}");
        assert!(r.body == bytes[100..200], "{target}: the range differs");
    }
    // nginx spreads requests over the upstream's servers: both replicas served links.
    let served: HashSet<usize> = replicas
        .iter()
        .enumerate()
        .filter(|(_, b)| b.logged("status=200"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(served.len(), 2, "each replica served some of the requests");
}
