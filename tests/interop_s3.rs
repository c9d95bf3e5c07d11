//! Real S3 clients against a running Keyhole: boto3, the AWS CLI, the MinIO Python SDK,
//! rclone and s3cmd each make a presigned URL; curl fetches it and must get the exact bytes,
//! and the same URL with one signature character changed must get S3's 403 error XML.
//!
//! The tools are installed by `.ci/install.sh`. Locally a missing tool skips its test;
//! in CI (or with KEYHOLE_INTEROP=1) it fails.
//!
//! Bucket `c` of project `p1` is used wherever the client accepts it. boto3's virtual-hosted
//! style and the MinIO SDK refuse bucket names shorter than three characters, so those use
//! `interop`, a folder of the same project that is served because the project has
//! `any_container = true`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const BYTES: &[u8] = b"interop bytes \x00\x01\xfe\xff end\n";
const UTF8_KEY: &str = "Tiếng Việt/báo cáo+1 (final).txt";
const DOMAIN: &str = "s3.test";

fn server() -> TestServer {
    // `interop` is a folder, not a listed container: p1 serves it by `any_container`.
    let srv = TestServer::from_text(|dir| {
        base_config(dir, &format!("[s3]\ndomain = \"{DOMAIN}\"\n")).replacen(
            &format!("id = \"{PROJECT}\"\n"),
            &format!("id = \"{PROJECT}\"\nany_container = true\n"),
            1,
        )
    });
    for bucket in ["c", "interop"] {
        srv.put(PROJECT, bucket, "hello.txt", BYTES);
        srv.put(PROJECT, bucket, UTF8_KEY, BYTES);
    }
    srv
}

/// True when a Python module is importable; a missing one fails like a missing tool.
fn require_python_module(module: &str) -> bool {
    if !require_tool("python3") {
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let required =
            std::env::var("KEYHOLE_INTEROP").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok();
        assert!(
            !required,
            "python module {module} is required for this test but is not installed"
        );
        eprintln!("skipping: python module {module} is not installed");
    }
    ok
}

/// Runs a command and returns its trimmed stdout, failing the test with stderr otherwise.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .trim()
        .to_string()
}

/// Fetches a URL with curl; every `*.s3.test` / `s3.test` host is sent to the test server.
fn curl(srv: &TestServer, url: &str) -> Response {
    let port = srv.addr.port();
    let host = url
        .split_once("://")
        .map(|(_, r)| r.split('/').next().unwrap_or(""))
        .unwrap_or("")
        .to_string();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--max-time",
            "20",
            "--connect-to",
            &format!("{host}:127.0.0.1:{port}"),
            url,
        ])
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(out.stdout)
}

/// The same URL with one character of the signature changed.
fn tamper(url: &str) -> String {
    let name = if url.contains("X-Amz-Signature=") {
        "X-Amz-Signature="
    } else {
        "Signature="
    };
    let at = url.find(name).expect("a signature") + name.len();
    let mut b = url.as_bytes().to_vec();
    b[at] = if b[at] == b'a' { b'b' } else { b'a' };
    String::from_utf8(b).unwrap()
}

/// The URL serves the exact bytes; tampered, it is S3's 403.
fn assert_link_works(srv: &TestServer, url: &str) -> Response {
    let r = curl(srv, url);
    assert_eq!(r.status, 200, "{url}\n{}", r.text());
    assert_eq!(r.body, BYTES, "{url}");
    let bad = curl(srv, &tamper(url));
    assert_eq!(bad.status, 403, "{url}");
    assert_eq!(bad.header("content-type"), Some("application/xml"));
    assert!(
        bad.text().contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        bad.text()
    );
    r
}

/// Environment for the Python clients and the AWS CLI: our keys, no user config.
fn aws_env<'c>(cmd: &'c mut Command, home: &Path) -> &'c mut Command {
    cmd.env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
}

const BOTO3: &str = r#"
import sys, boto3
from botocore.config import Config
endpoint, signature, style, bucket, key, disposition = sys.argv[1:7]
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    config=Config(signature_version=signature, s3={"addressing_style": style}))
params = {"Bucket": bucket, "Key": key}
if disposition:
    params["ResponseContentDisposition"] = disposition
print(client.generate_presigned_url("get_object", Params=params, ExpiresIn=900))
"#;

fn boto3(
    srv: &TestServer,
    home: &Path,
    signature: &str,
    style: &str,
    bucket: &str,
    key: &str,
    disposition: &str,
) -> String {
    let endpoint = format!("http://{DOMAIN}:{}", srv.addr.port());
    run(aws_env(
        Command::new("python3").args([
            "-c",
            BOTO3,
            &endpoint,
            signature,
            style,
            bucket,
            key,
            disposition,
        ]),
        home,
    ))
}

#[test]
fn boto3_presigned_urls_path_and_virtual_utf8_and_disposition() {
    if !require_python_module("boto3") || !require_tool("curl") {
        return;
    }
    let srv = server();
    let home = TempDir::new("boto3");
    let port = srv.addr.port();
    for signature in ["s3v4", "s3"] {
        let url = boto3(&srv, &home.0, signature, "path", "c", "hello.txt", "");
        assert!(
            url.starts_with(&format!("http://{DOMAIN}:{port}/c/hello.txt?")),
            "{url}"
        );
        let marker = if signature == "s3" {
            "AWSAccessKeyId="
        } else {
            "X-Amz-Signature="
        };
        assert!(url.contains(marker), "{url}");
        assert_link_works(&srv, &url);

        let url = boto3(&srv, &home.0, signature, "virtual", "interop", UTF8_KEY, "");
        assert!(
            url.starts_with(&format!("http://interop.{DOMAIN}:{port}/Ti%E1%BA%BFng")),
            "{url}"
        );
        assert_link_works(&srv, &url);

        // A UTF-8 name goes in `filename*`: a non-ASCII override byte is refused.
        let disposition =
            "attachment; filename=\"bao cao.txt\"; filename*=UTF-8''b%C3%A1o%20c%C3%A1o.txt";
        let url = boto3(&srv, &home.0, signature, "path", "c", UTF8_KEY, disposition);
        let r = assert_link_works(&srv, &url);
        assert_eq!(
            r.header("content-disposition"),
            Some(disposition),
            "{signature}"
        );
        let raw_utf8 = "attachment; filename=\"b\u{e1}o c\u{e1}o.txt\"";
        let url = boto3(&srv, &home.0, signature, "path", "c", UTF8_KEY, raw_utf8);
        let r = curl(&srv, &url);
        assert_eq!(r.status, 400, "{signature}: {}", r.text());
        assert!(
            r.text().contains("<Code>InvalidArgument</Code>"),
            "{}",
            r.text()
        );
    }
}

#[test]
fn aws_cli_presign_default_and_s3v4() {
    if !require_tool("aws") || !require_tool("curl") {
        return;
    }
    let srv = server();
    let home = TempDir::new("awscli");
    let endpoint = format!("http://127.0.0.1:{}", srv.addr.port());
    let presign = |key: &str| {
        run(aws_env(
            Command::new("aws").args([
                "--endpoint-url",
                &endpoint,
                "s3",
                "presign",
                &format!("s3://c/{key}"),
                "--expires-in",
                "900",
            ]),
            &home.0,
        ))
    };
    for key in ["hello.txt", UTF8_KEY] {
        let url = presign(key);
        // AWS CLI v1 presigns with V2 by default in us-east-1.
        assert!(url.contains("AWSAccessKeyId="), "{url}");
        assert_link_works(&srv, &url);
    }
    std::fs::write(
        home.0.join("aws-config"),
        "[default]\ns3 =\n    signature_version = s3v4\n",
    )
    .unwrap();
    for key in ["hello.txt", UTF8_KEY] {
        let url = presign(key);
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert_link_works(&srv, &url);
    }
}

const MINIO: &str = r#"
import sys
from datetime import timedelta
from minio import Minio
endpoint, access, secret, bucket, key, ctype = sys.argv[1:7]
m = Minio(endpoint, access_key=access, secret_key=secret, secure=False, region="us-east-1")
headers = {"response-content-type": ctype} if ctype else None
print(m.presigned_get_object(bucket, key, expires=timedelta(minutes=15), response_headers=headers))
"#;

#[test]
fn minio_sdk_presigned_get_object() {
    if !require_python_module("minio") || !require_tool("curl") {
        return;
    }
    let srv = server();
    let home = TempDir::new("minio");
    let endpoint = srv.addr.to_string();
    for (key, ctype) in [
        ("hello.txt", ""),
        (UTF8_KEY, ""),
        ("hello.txt", "text/x-minio"),
    ] {
        let url = run(aws_env(
            Command::new("python3").args([
                "-c", MINIO, &endpoint, ACCESS_KEY, SECRET_KEY, "interop", key, ctype,
            ]),
            &home.0,
        ));
        let r = assert_link_works(&srv, &url);
        if !ctype.is_empty() {
            assert_eq!(r.header("content-type"), Some(ctype));
        }
    }
}

#[test]
fn rclone_link_after_its_header_signed_head() {
    if !require_tool("rclone") || !require_tool("curl") {
        return;
    }
    let srv = server();
    let home = TempDir::new("rclone");
    for key in ["hello.txt", UTF8_KEY] {
        let url = run(Command::new("rclone")
            .args(["link", "--expire", "1h", &format!("kh:c/{key}")])
            .env("HOME", &home.0)
            .env("RCLONE_CONFIG", home.0.join("rclone.conf"))
            .env("RCLONE_CONFIG_KH_TYPE", "s3")
            .env("RCLONE_CONFIG_KH_PROVIDER", "Other")
            .env("RCLONE_CONFIG_KH_ACCESS_KEY_ID", ACCESS_KEY)
            .env("RCLONE_CONFIG_KH_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("RCLONE_CONFIG_KH_REGION", "us-east-1")
            .env("RCLONE_CONFIG_KH_ENDPOINT", format!("http://{}", srv.addr))
            .env("RCLONE_CONFIG_KH_FORCE_PATH_STYLE", "true")
            // rclone (aws-sdk-go) refuses a CA bundle with its own transport; it speaks plain HTTP here.
            .env_remove("AWS_CA_BUNDLE"));
        assert_link_works(&srv, &url);
    }
}

#[test]
fn s3cmd_signurl_v2_with_and_without_disposition() {
    if !require_tool("s3cmd") || !require_tool("curl") {
        return;
    }
    let srv = server();
    let home = TempDir::new("s3cmd");
    let cfg = home.0.join("s3cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {addr}\nhost_bucket = {addr}\nuse_https = False\nsignurl_use_https = False\n",
            addr = srv.addr
        ),
    )
    .unwrap();
    let signurl = |key: &str, extra: &[&str]| {
        run(Command::new("s3cmd")
            .arg("-c")
            .arg(&cfg)
            .args(extra)
            .args(["signurl", &format!("s3://c/{key}"), "+900"])
            .env("HOME", &home.0))
    };
    for key in ["hello.txt", UTF8_KEY] {
        assert_link_works(&srv, &signurl(key, &[]));
    }
    let url = signurl(
        "hello.txt",
        &["--content-disposition=attachment; filename=\"z.txt\""],
    );
    let r = assert_link_works(&srv, &url);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"z.txt\"")
    );
}
