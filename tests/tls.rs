//! `[tls]` against the real binary, with certificates made by the test (`openssl req -x509`):
//! curl over HTTPS with HTTP/1.1 and HTTP/2 (ALPN) gets a link's bytes exactly, a certificate
//! swapped by SIGHUP is the one served next, a bad new one is refused while the old one stays,
//! and each bad `[tls]` file is a config error naming its key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use keyhole::config::Config;

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`.
struct Cert {
    cert: PathBuf,
    key: PathBuf,
}

fn make_cert(dir: &Path, name: &str) -> Cert {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    Cert { cert, key }
}

/// The SHA-256 fingerprint `openssl x509` gives a certificate.
fn fingerprint_of_file(cert: &Path) -> String {
    let out = stdout_of(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    );
    out.trim().to_string()
}

/// The fingerprint of the certificate a new handshake with `b` is given.
fn served_fingerprint(b: &Binary) -> String {
    let script = format!(
        "openssl s_client -connect {} -servername localhost </dev/null 2>/dev/null \
         | openssl x509 -noout -fingerprint -sha256",
        b.addr
    );
    stdout_of(Command::new("sh").args(["-c", &script]))
        .trim()
        .to_string()
}

fn tools() -> bool {
    if !require_tool("openssl") || !require_tool("curl") {
        return false;
    }
    let features = stdout_of(Command::new("curl").arg("-V"));
    let h2 = features.contains("HTTP2");
    if !h2 {
        eprintln!("skipping: this curl has no HTTP/2");
    }
    h2
}

fn tls_section(c: &Cert) -> String {
    format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        c.cert.display().to_string(),
        c.key.display().to_string()
    )
}

fn start(c: &Cert) -> Binary {
    Binary::start_with(2, &tls_section(c), |cmd| {
        cmd.env("RUST_LOG", "info");
    })
}

/// curl's body (to `out`) and the HTTP version it spoke, trusting only `ca`.
fn curl(b: &Binary, ca: &Path, version: &str, target: &str, out: &Path) -> String {
    let said = Command::new("curl")
        .args(["-sS", "--fail", version, "--cacert"])
        .arg(ca)
        .args(["-w", "%{http_version}", "-o"])
        .arg(out)
        .arg(format!("https://{}{target}", b.addr))
        .output()
        .unwrap();
    assert!(
        said.status.success(),
        "curl {version}: {}",
        String::from_utf8_lossy(&said.stderr)
    );
    String::from_utf8_lossy(&said.stdout).to_string()
}

#[test]
fn curl_gets_a_link_byte_exact_over_https_with_http1_and_http2() {
    if !tools() {
        return;
    }
    let certs = TempDir::new("tls-certs");
    let c = make_cert(&certs.0, "one");
    let b = start(&c);
    // Larger than any socket buffer, so sendfile would have sent some of it in the clear.
    let bytes: Vec<u8> = (0..(6u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    b.put("big.bin", &bytes);
    let link = signed("/v1/AUTH_p1/c/big.bin");
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = certs.0.join(format!("out-{version}"));
        assert_eq!(curl(&b, &c.cert, flag, &link, &out), version);
        let got = std::fs::read(&out).unwrap();
        assert!(
            got == bytes,
            "{flag}: {} bytes, not the object's",
            got.len()
        );
    }
}

#[test]
fn a_certificate_swapped_by_sighup_is_the_one_served_next() {
    if !tools() {
        return;
    }
    let certs = TempDir::new("tls-certs");
    let c = make_cert(&certs.0, "first");
    let second = make_cert(&certs.0, "second");
    let b = start(&c);
    b.put("o.txt", b"over tls");
    let link = signed("/v1/AUTH_p1/c/o.txt");
    assert_eq!(served_fingerprint(&b), fingerprint_of_file(&c.cert));

    std::fs::copy(&second.cert, &c.cert).unwrap();
    std::fs::copy(&second.key, &c.key).unwrap();
    let line = b.reload();
    assert!(line.contains("config reloaded"), "{line}");
    let want = fingerprint_of_file(&second.cert);
    assert_ne!(
        want,
        fingerprint_of_file(&make_cert(&certs.0, "third").cert)
    );
    assert_eq!(served_fingerprint(&b), want);
    let out = certs.0.join("out");
    curl(&b, &second.cert, "--http2", &link, &out);
    assert_eq!(std::fs::read(&out).unwrap(), b"over tls");

    // A broken certificate is refused by its key, and the one being served stays.
    std::fs::write(&c.cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let line = b.reload();
    assert!(
        line.contains("config refused") && line.contains("tls.cert"),
        "{line}"
    );
    assert_eq!(served_fingerprint(&b), want);
    curl(&b, &second.cert, "--http1.1", &link, &out);
    assert_eq!(std::fs::read(&out).unwrap(), b"over tls");
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_cut_at_the_header_timeout() {
    if !tools() {
        return;
    }
    use std::io::Read;
    let certs = TempDir::new("tls-certs");
    let c = make_cert(&certs.0, "one");
    let extra = format!("{}\n[limits]\nheader_read_timeout = 1\n", tls_section(&c));
    let b = Binary::start(1, &extra);
    let mut s = std::net::TcpStream::connect(b.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server answered a client that sent nothing");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn links_made_without_public_url_say_https_when_tls_is_on() {
    if !tools() {
        return;
    }
    let certs = TempDir::new("tls-certs");
    let c = make_cert(&certs.0, "one");
    let b = start(&c);
    b.put("o.txt", b"x");
    let out = stdout_of(
        Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(["share", "--config"])
            .arg(b.config_path())
            .arg("p1/c/o.txt"),
    );
    let link = out
        .lines()
        .find(|l| l.contains("temp_url_sig"))
        .unwrap_or("");
    assert!(link.starts_with("https://"), "{out}");
    // The link works as printed, over TLS, at the running server's address.
    let target = target_of(link).to_string();
    let got = certs.0.join("got");
    curl(&b, &c.cert, "--http1.1", &target, &got);
    assert_eq!(std::fs::read(&got).unwrap(), b"x");
}

#[test]
fn each_bad_tls_file_is_a_config_error_naming_its_key() {
    if !require_tool("openssl") {
        return;
    }
    let certs = TempDir::new("tls-certs");
    let one = make_cert(&certs.0, "one");
    let two = make_cert(&certs.0, "two");
    let junk = certs.0.join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let missing = certs.0.join("missing.pem");
    let error_of =
        |section: &str| match Config::parse(&base_config(&certs.0, section), Path::new("/")) {
            Ok(_) => panic!("accepted {section}"),
            Err(e) => e.0,
        };
    let error = |cert: &Path, key: &Path| {
        error_of(&format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ))
    };
    let e = error(&missing, &one.key);
    assert!(
        e.starts_with("tls.cert: ") && e.contains("cannot read"),
        "{e}"
    );
    let e = error(&one.cert, &missing);
    assert!(
        e.starts_with("tls.key: ") && e.contains("cannot read"),
        "{e}"
    );
    let e = error(&junk, &one.key);
    assert!(
        e.starts_with("tls.cert: ") && e.contains("no PEM certificate"),
        "{e}"
    );
    let e = error(&one.cert, &junk);
    assert!(
        e.starts_with("tls.key: ") && e.contains("not a PEM private key"),
        "{e}"
    );
    let e = error(&one.cert, &two.key);
    assert!(
        e.starts_with("tls.key: ") && e.contains("does not go with"),
        "{e}"
    );
    // A key file's bytes never reach a message.
    let key_pem = std::fs::read_to_string(&two.key).unwrap();
    let body = key_pem.lines().nth(1).unwrap();
    assert!(!e.contains(body), "{e}");

    let e = error_of("[tls]\ncert = \"a.pem\"\n");
    assert!(e.starts_with("tls.key: missing"), "{e}");
    let e = error_of("[tls]\ncert = \"a\"\nkey = \"b\"\nchain = \"c\"\n");
    assert!(e.contains("chain"), "{e}");
    assert!(Config::parse(&base_config(&certs.0, &tls_section(&one)), Path::new("/")).is_ok());
}

#[test]
fn api_links_asked_for_over_tls_say_https_and_open() {
    if !tools() {
        return;
    }
    let certs = TempDir::new("tls-certs");
    let c = make_cert(&certs.0, "one");
    let extra = format!(
        "[[api_token]]\ntoken = \"api-token-tls\"\nprojects = [\"p1\"]\n{}",
        tls_section(&c)
    );
    let b = Binary::start(1, &extra);
    b.put("o.txt", b"via the api");
    let said = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&c.cert)
        .args(["-H", "Authorization: Bearer api-token-tls"])
        .args(["-H", "Content-Type: application/json"])
        .args([
            "--data",
            r#"{"timeExpire": 600, "urlType": "swift", "viewMode": "download"}"#,
        ])
        .arg(format!(
            "https://{}/api/v1/projects/p1/containers/c/objects/o.txt/download_tempurls",
            b.addr
        ))
        .output()
        .unwrap();
    assert!(
        said.status.success(),
        "{}",
        String::from_utf8_lossy(&said.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&said.stdout).unwrap();
    let link = v["data"]["o.txt"].as_str().unwrap_or_default().to_string();
    assert!(link.starts_with(&format!("https://{}/", b.addr)), "{v}");
    let got = certs.0.join("got");
    curl(&b, &c.cert, "--http2", target_of(&link), &got);
    assert_eq!(std::fs::read(&got).unwrap(), b"via the api");
}
