//! Links signed by an HMAC this build does not contain (Python's `hmac`/`hashlib`, which is
//! what Swift's tempurl middleware runs) verify against a real server, for every digest, with
//! keys shorter and longer than the hash block; altered, they fail. The unit tests pin the
//! primitives to RFC 2202/4231 and AWS's examples; this pins the whole verification path.

mod common;

use std::process::Command;

use common::*;

const BYTES: &[u8] = b"signed by another implementation\n";
/// Longer than SHA-512's 128-byte block, so HMAC hashes the key first.
const LONG_KEY: &str = "a-temp-url-key-far-longer-than-any-hash-block-so-hmac-must-hash-it-first-\
                        0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz-\
                        0123456789abcdefghijklmnopqrstuvwxyz";
const LONG_ACCESS_KEY: &str = "AKIDLONGSECRET";
/// `AWS4` + this is longer than SHA-256's 64-byte block.
const LONG_SECRET: &str =
    "a-secret-key-longer-than-the-sha256-block-0123456789abcdefghijklmnopqrstuvwxyz";

/// Runs `script` in Python with `args`; its one line of output.
fn python(script: &str, args: &[&str]) -> String {
    stdout_of(Command::new("python3").arg("-c").arg(script).args(args))
}

fn server() -> TestServer {
    let s = TestServer::with_config(&format!(
        r#"[[project]]
id = "p3"
temp_url_keys = ["{LONG_KEY}"]
  [[project.s3_key]]
  access_key = "{LONG_ACCESS_KEY}"
  secret_key = "{LONG_SECRET}"
  [[project.container]]
  name = "c"
"#
    ));
    s.put(PROJECT, "c", "o.txt", BYTES);
    s.put("p3", "c", "o.txt", BYTES);
    s
}

/// The last hex digit of a signature changed.
fn altered(sig: &str) -> String {
    let (head, last) = sig.split_at(sig.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

/// Swift's tempurl: hex HMAC of `METHOD\nEXPIRES\nPATH`.
const SWIFT_SIG: &str = r#"
import hmac, hashlib, sys
digest, key, expires, path = sys.argv[1:]
body = "GET\n%s\n%s" % (expires, path)
print(hmac.new(key.encode(), body.encode(), getattr(hashlib, digest)).hexdigest())
"#;

#[test]
fn swift_links_signed_by_python_hmac_verify_for_each_digest_and_key_length() {
    if !require_tool("python3") {
        return;
    }
    let s = server();
    let expires = (now() + 600).to_string();
    for (account, key) in [("p1", ACCOUNT_KEY), ("p3", LONG_KEY)] {
        let path = format!("/v1/AUTH_{account}/c/o.txt");
        for digest in ["sha1", "sha256", "sha512"] {
            let sig = python(SWIFT_SIG, &[digest, key, &expires, &path]);
            let r = s.get(&format!(
                "{path}?temp_url_sig={sig}&temp_url_expires={expires}"
            ));
            assert_eq!((r.status, &r.body[..]), (200, BYTES), "{digest} {account}");
            let r = s.get(&format!(
                "{path}?temp_url_sig={}&temp_url_expires={expires}",
                altered(&sig)
            ));
            assert_eq!(r.status, 401, "{digest} {account} altered");
        }
    }
}

/// A SigV4 presigned GET as AWS documents it, path style, `host` the one signed header.
const SIGV4_PRESIGN: &str = r#"
import hmac, hashlib, sys, urllib.parse
ak, secret, host, path, amz_date = sys.argv[1:]
date = amz_date[:8]
scope = date + "/us-east-1/s3/aws4_request"
q = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": ak + "/" + scope,
     "X-Amz-Date": amz_date, "X-Amz-Expires": "600", "X-Amz-SignedHeaders": "host"}
enc = lambda s: urllib.parse.quote(s, safe="-_.~")
cq = "&".join(enc(k) + "=" + enc(v) for k, v in sorted(q.items()))
cr = "\n".join(["GET", path, cq, "host:" + host, "", "host", "UNSIGNED-PAYLOAD"])
sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(cr.encode()).hexdigest()])
k = ("AWS4" + secret).encode()
for part in [date, "us-east-1", "s3", "aws4_request"]:
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
print(path + "?" + cq + "&X-Amz-Signature=" + hmac.new(k, sts.encode(), hashlib.sha256).hexdigest())
"#;

#[test]
fn sigv4_links_signed_by_python_verify_with_a_cold_and_a_warm_signing_key() {
    if !require_tool("python3") {
        return;
    }
    let s = server();
    let host = s.addr.to_string();
    let amz_date = keyhole::expiry::format_amz_date(now());
    for (bucket_owner, ak, secret) in [
        ("p1", ACCESS_KEY, SECRET_KEY),
        ("p3", LONG_ACCESS_KEY, LONG_SECRET),
    ] {
        let target = python(SIGV4_PRESIGN, &[ak, secret, &host, "/c/o.txt", &amz_date]);
        // The first request derives the signing key, the second is served it from the cache.
        for pass in ["cold", "warm"] {
            let r = s.get(&target);
            assert_eq!(
                (r.status, &r.body[..]),
                (200, BYTES),
                "{bucket_owner} {pass}"
            );
        }
        let r = s.get(&altered(&target));
        assert_eq!(r.status, 403, "{bucket_owner} altered: {}", r.text());
        assert!(r.text().contains("<Code>SignatureDoesNotMatch</Code>"));
    }
}

/// A V2 presigned GET: base64 HMAC-SHA1 of `GET\n\n\nEXPIRES\n/bucket/key`.
const SIGV2_PRESIGN: &str = r#"
import base64, hmac, hashlib, sys, urllib.parse
ak, secret, path, expires = sys.argv[1:]
sts = "GET\n\n\n%s\n%s" % (expires, path)
sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
print("%s?AWSAccessKeyId=%s&Expires=%s&Signature=%s" % (path, ak, expires, urllib.parse.quote(sig, safe="")))
"#;

#[test]
fn sigv2_links_signed_by_python_hmac_sha1_verify() {
    if !require_tool("python3") {
        return;
    }
    let s = server();
    let expires = (now() + 600).to_string();
    for (ak, secret) in [(ACCESS_KEY, SECRET_KEY), (LONG_ACCESS_KEY, LONG_SECRET)] {
        let target = python(SIGV2_PRESIGN, &[ak, secret, "/c/o.txt", &expires]);
        let r = s.get(&target);
        assert_eq!((r.status, &r.body[..]), (200, BYTES), "{ak}");
        let forged = python(SIGV2_PRESIGN, &[ak, "not-the-secret", "/c/o.txt", &expires]);
        let r = s.get(&forged);
        assert_eq!(r.status, 403, "{ak} wrong secret: {}", r.text());
        assert!(r.text().contains("<Code>SignatureDoesNotMatch</Code>"));
    }
}
