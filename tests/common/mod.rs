//! Test support: a real Keyhole on an ephemeral port over a temporary data folder, and a
//! raw HTTP/1.1 client that sends exactly the bytes a test writes (hostile paths included).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyhole::config::Config;

pub mod nginx;

pub const PROJECT: &str = "p1";
pub const ACCOUNT_KEY: &str = "account-key-1";
pub const ACCOUNT_KEY_2: &str = "account-key-2";
pub const CONTAINER_KEY: &str = "container-key-1";
pub const ACCESS_KEY: &str = "AKIDKEYHOLETEST";
pub const SECRET_KEY: &str = "keyhole-test-secret";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("keyhole-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: TempDir,
}

/// The config every test server starts from; `extra` is appended (more projects, sections).
pub fn base_config(root: &Path, extra: &str) -> String {
    config_with_backend(root, "", extra)
}

/// `base_config` with `backend` added to the `[backend]` table.
pub fn config_with_backend(root: &Path, backend: &str, extra: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
[backend]
kind = "fs"
root = "{root}"
{backend}
[[project]]
id = "{PROJECT}"
temp_url_keys = ["{ACCOUNT_KEY}", "{ACCOUNT_KEY_2}"]
  [[project.s3_key]]
  access_key = "{ACCESS_KEY}"
  secret_key = "{SECRET_KEY}"
  [[project.container]]
  name = "c"
  temp_url_keys = ["{CONTAINER_KEY}"]
  [[project.container]]
  name = "pub"
  public = true
[[project]]
id = "p2"
temp_url_keys = ["other-project-key"]
{extra}
"#,
        root = root.join("data").display()
    )
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with_config("")
    }

    /// Starts a server whose config is `base_config` plus `extra`.
    pub fn with_config(extra: &str) -> TestServer {
        TestServer::configured("", extra)
    }

    /// Starts a server with `backend` lines added to its `[backend]` table.
    pub fn with_backend(backend: &str) -> TestServer {
        TestServer::configured(backend, "")
    }

    fn configured(backend: &str, extra: &str) -> TestServer {
        TestServer::configured_with("", backend, extra)
    }

    /// Starts a server with top-level keys (`public_url = ...`) before the base config.
    pub fn with_top_level(top: &str, extra: &str) -> TestServer {
        TestServer::configured_with(top, "", extra)
    }

    fn configured_with(top: &str, backend: &str, extra: &str) -> TestServer {
        TestServer::in_dir(TempDir::new("srv"), top, backend, extra)
    }

    /// Starts a server on the config `text` makes for its folder (usually an edited
    /// `base_config`, for changes inside the base projects).
    pub fn from_text(text: impl FnOnce(&Path) -> String) -> TestServer {
        TestServer::in_dir_text(TempDir::new("srv"), text)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    /// Writes an object at `<root>/<project>/<container>/<name>`.
    pub fn put(&self, project: &str, container: &str, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.root().join(project).join(container).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[])
    }

    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        raw(self.addr, req.as_bytes())
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Everything received, for tests about framing.
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` as is and reads until the server closes. Status 0 means the server closed
/// without an answer.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(buf)
}

pub fn parse(buf: Vec<u8>) -> Response {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Response {
            status: 0,
            headers: vec![],
            body: vec![],
            raw: buf,
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        if let Ok(n) = len.1.parse::<usize>() {
            body.truncate(n);
        }
    }
    Response {
        status,
        headers,
        body,
        raw: buf,
    }
}

/// A download link for `path` (e.g. `/v1/AUTH_p1/c/o`): sha256, account key, an hour.
pub fn signed(path: &str) -> String {
    signed_with_until(path, ACCOUNT_KEY, now() + 3600)
}

/// `signed`, expiring at `expires` (unix seconds).
pub fn signed_until(path: &str, expires: u64) -> String {
    signed_with_until(path, ACCOUNT_KEY, expires)
}

/// `signed`, with `key` instead of the account key.
pub fn signed_with(path: &str, key: &str) -> String {
    signed_with_until(path, key, now() + 3600)
}

fn signed_with_until(path: &str, key: &str, expires: u64) -> String {
    swift_link(path, key, None, expires)
}

/// Percent-encodes a path for a request line (everything but unreserved and `/`).
pub fn encode_path(p: &str) -> String {
    keyhole::share::encode_path(p)
}

/// True when tools must be present (CI, or KEYHOLE_INTEROP=1); otherwise a test that needs a
/// missing tool says so and passes without asserting.
pub fn require_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        let required =
            std::env::var("KEYHOLE_INTEROP").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok();
        assert!(
            !required,
            "{tool} is required for this test (KEYHOLE_INTEROP=1 or CI) but is not installed"
        );
        eprintln!("skipping: {tool} is not installed (set KEYHOLE_INTEROP=1 to require it)");
    }
    found
}

/// Sends one request to `addr` naming `host` in its Host header (a proxy's public name).
pub fn request_as(
    addr: SocketAddr,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw(addr, req.as_bytes())
}

/// The request target (path and query) of an absolute URL.
pub fn target_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// The flags every test's headless Chromium runs with: no sandbox (tests run as root), no
/// GPU, and nothing that talks to the network on its own.
pub const HEADLESS_CHROMIUM: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
];

/// The path and query of an S3 presigned GET of `c/<key>` (SigV4, or V2 with `v2`), path
/// style, made now for an hour with the test key and `overrides` signed in.
pub fn s3_target(srv: &TestServer, key: &str, v2: bool, overrides: &[(&str, &str)]) -> String {
    s3_path(&srv.addr.to_string(), key, v2, overrides, now(), 3600)
}

/// `s3_target` for a client that sends `Host: host` (a proxy's public name).
pub fn s3_target_as(host: &str, key: &str, v2: bool, overrides: &[(&str, &str)]) -> String {
    s3_path(host, key, v2, overrides, now(), 3600)
}

fn s3_path(
    host: &str,
    key: &str,
    v2: bool,
    overrides: &[(&str, &str)],
    signed_at: u64,
    expires: u64,
) -> String {
    let endpoint = format!("http://{host}");
    let url = keyhole::share::s3::S3Link {
        endpoint: &endpoint,
        bucket: "c",
        key,
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        region: "us-east-1",
        now: signed_at,
        expires,
        style: keyhole::share::s3::Style::Path,
        v2,
        overrides,
    }
    .url()
    .expect("a link to a plain key");
    url[endpoint.len()..].to_string()
}

impl TestServer {
    /// `TestServer::start()` with its data folder under `parent` (e.g. a tmpfs, which keeps
    /// file times that ext4 would clamp).
    pub fn start_in(parent: &Path) -> TestServer {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = parent.join(format!("keyhole-it-srv-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TestServer::in_dir(TempDir(p), "", "", "")
    }

    fn in_dir(dir: TempDir, top: &str, backend: &str, extra: &str) -> TestServer {
        TestServer::in_dir_text(dir, |d| {
            format!("{top}{}", config_with_backend(d, backend, extra))
        })
    }

    fn in_dir_text(dir: TempDir, text: impl FnOnce(&Path) -> String) -> TestServer {
        std::fs::create_dir_all(dir.0.join("data").join(PROJECT).join("c")).unwrap();
        std::fs::create_dir_all(dir.0.join("data").join(PROJECT).join("pub")).unwrap();
        std::fs::create_dir_all(dir.0.join("data").join("p2").join("c")).unwrap();
        let text = text(&dir.0);
        let cfg = Config::parse(&text, &dir.0).expect("test config");
        let addr = keyhole::server::spawn_background(cfg).expect("server starts");
        TestServer { addr, dir }
    }
}

/// A child process killed when the test ends, pass or fail.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Like `require_tool`, for a module that `python3` must be able to import.
pub fn require_python_module(module: &str) -> bool {
    if !require_tool("python3") {
        return false;
    }
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required =
            std::env::var("KEYHOLE_INTEROP").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok();
        assert!(
            !required,
            "python module {module} is required for this test (KEYHOLE_INTEROP=1 or CI) but is not installed"
        );
        eprintln!("skipping: python module {module} is not installed (set KEYHOLE_INTEROP=1 to require it)");
    }
    found
}

/// Runs a tool to completion; its standard output, trimmed. A tool that fails fails the test
/// with its standard error.
pub fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A real store from tests/stores/ (`swift.sh`, `seaweedfs.sh`, ...) started in a folder of
/// its own; `ports.env` parsed into `env`. Stopped on drop; started with STORES_WATCH_PID so
/// the scripts' watcher stops it even if this process is killed.
pub struct Store {
    pub script: &'static str,
    pub dir: TempDir,
    pub env: std::collections::HashMap<String, String>,
}

impl Store {
    pub fn start(script: &'static str, extra_env: &[(&str, &str)]) -> Store {
        let dir = TempDir::new("store");
        let pid = std::process::id().to_string();
        let st = std::process::Command::new("bash")
            .arg(format!("tests/stores/{script}"))
            .arg("start")
            .arg(&dir.0)
            .envs(extra_env.iter().copied())
            .env("STORES_WATCH_PID", &pid)
            .status()
            .unwrap();
        if !st.success() {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("tail -n 30 {}/log/*.log", dir.0.display()))
                .status();
            panic!("{script} start failed: see {}/log", dir.0.display());
        }
        let text = std::fs::read_to_string(dir.0.join("ports.env")).unwrap();
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('\'').to_owned()))
            .collect();
        Store { script, dir, env }
    }

    /// A key of `ports.env`.
    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{} has no {key} in ports.env", self.script))
    }

    /// Stops every process the script started (idempotent).
    pub fn stop(&self) {
        let _ = std::process::Command::new("bash")
            .arg(format!("tests/stores/{}", self.script))
            .arg("stop")
            .arg(&self.dir.0)
            .status();
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A store shared by every test of a binary: started on first use, stopped (and its folder
/// removed) when the process exits, since a static is never dropped.
pub fn shared_store(
    cell: &'static std::sync::OnceLock<Store>,
    script: &'static str,
    extra_env: &[(&str, &str)],
    at_exit: extern "C" fn(),
) -> &'static Store {
    cell.get_or_init(|| {
        let store = Store::start(script, extra_env);
        // SAFETY: registers a plain `extern "C" fn()` with the C runtime; it runs once at exit.
        unsafe { libc::atexit(at_exit) };
        store
    })
}

/// For `shared_store`'s `at_exit`: stops the store in `cell`, if it was started.
pub fn stop_shared_store(cell: &'static std::sync::OnceLock<Store>) {
    if let Some(store) = cell.get() {
        store.stop();
        let _ = std::fs::remove_dir_all(&store.dir.0);
    }
}

/// The real `keyhole` binary as a child process (killed on drop), serving a temporary folder
/// with `base_config(root, extra)`, its stderr lines kept in `log`.
pub struct Binary {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// One worker runs on a single-threaded runtime, more on a multi-threaded one. Logs at
    /// warn and above.
    pub fn start(workers: u32, extra: &str) -> Binary {
        Binary::start_with(workers, extra, |_| {})
    }

    /// `start`, with `tweak` applied to the command first (limits, environment).
    pub fn start_with(
        workers: u32,
        extra: &str,
        tweak: impl FnOnce(&mut std::process::Command),
    ) -> Binary {
        let dir = TempDir::new("binary");
        std::fs::create_dir_all(dir.0.join("data/p1/c")).unwrap();
        let text = base_config(&dir.0, extra);
        Binary::spawn(dir, &text, workers, tweak)
    }

    /// The binary with the config `text` (written into `dir`, which it keeps).
    pub fn spawn(
        dir: TempDir,
        text: &str,
        workers: u32,
        tweak: impl FnOnce(&mut std::process::Command),
    ) -> Binary {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let cfg = dir.0.join("k.toml");
        std::fs::write(&cfg, text).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhole"));
        cmd.args(["serve", "--workers", &workers.to_string()])
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tweak(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("no listening line: {line:?}"));
        Binary {
            child,
            addr,
            dir,
            log,
        }
    }

    /// Writes an object of container `p1/c`.
    pub fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.0.join("data/p1/c").join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Descriptors the child holds.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// Waits (bounded) for the descriptor count to come back within `slack` of `baseline`.
    pub fn settle_fds(&self, baseline: usize, slack: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = self.fds();
            if n <= baseline + slack || std::time::Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A keep-alive GET of `target`.
    pub fn request(&self, target: &str) -> Vec<u8> {
        format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr).into_bytes()
    }

    /// Whether a stderr line so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }
}

/// Reads a response head, byte by byte so nothing of the body is taken. Status 0: the
/// connection ended first.
pub fn read_head(s: &mut TcpStream) -> Response {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    parse(head)
}

/// Reads one response with a Content-Length body from a keep-alive connection.
pub fn read_response(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let r = read_head(s);
    if r.status == 0 {
        return (0, r.raw);
    }
    let len: usize = r.header("content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    (r.status, body)
}

impl Store {
    /// Starts the store again after `stop`, in the same folder: same ports, keys and data.
    pub fn start_again(&self) {
        let st = std::process::Command::new("bash")
            .arg(format!("tests/stores/{}", self.script))
            .arg("start")
            .arg(&self.dir.0)
            .env("STORES_WATCH_PID", std::process::id().to_string())
            .status()
            .unwrap();
        assert!(st.success(), "{} start again failed", self.script);
    }
}

impl Binary {
    /// The peak resident set of the child (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }
}

impl Binary {
    /// The config file the binary was started with (rewrite it, then `reload`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.0.join("k.toml")
    }

    /// Sends SIGHUP and waits (bounded) for the line that says how the reload went
    /// (`config reloaded`, logged at info, or `config refused`); returns it.
    pub fn reload(&self) -> String {
        let said = |log: &Vec<String>| {
            log.iter()
                .filter(|l| l.contains("SIGHUP: config"))
                .cloned()
                .collect::<Vec<_>>()
        };
        let before = said(&self.log.lock().unwrap()).len();
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -HUP");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = said(&self.log.lock().unwrap()).get(before) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no reload line after SIGHUP: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A Keyhole serving the whole config `text`, in a folder of its own (upstream backends).
pub fn serve_config(tag: &str, text: &str) -> TestServer {
    let dir = TempDir::new(tag);
    let cfg = Config::parse(text, &dir.0).expect("test config");
    let addr = keyhole::server::spawn_background(cfg).expect("server starts");
    TestServer { addr, dir }
}

/// The Swift behind Keystone (`SWIFT_AUTH=keystone swift.sh`) shared by a binary's tests,
/// or None when its packages are missing here.
pub fn keystone_swift(
    cell: &'static std::sync::OnceLock<Store>,
    at_exit: extern "C" fn(),
) -> Option<&'static Store> {
    if !require_tool("swift-proxy-server") || !require_tool("keystone-manage") {
        return None;
    }
    Some(shared_store(
        cell,
        "swift.sh",
        &[("SWIFT_AUTH", "keystone")],
        at_exit,
    ))
}

/// The path and query of an S3 presigned GET of `c/<key>` on the server at `addr`, signed at
/// `signed_at` for `expires` seconds with the test key (SigV4, or V2 with `v2`).
pub fn s3_target_at(addr: SocketAddr, key: &str, v2: bool, signed_at: u64, expires: u64) -> String {
    s3_path(&addr.to_string(), key, v2, &[], signed_at, expires)
}

/// A Swift download link (sha256) for `path`, signed with `key` until `expires`, limited to
/// clients in `ip_range` when given.
pub fn swift_link(path: &str, key: &str, ip_range: Option<&str>, expires: u64) -> String {
    keyhole::share::SwiftLink {
        base_url: "",
        path,
        key,
        method: "GET",
        expires,
        digest: keyhole::auth::swift::Digest::Sha256,
        ip_range,
        prefix: false,
        iso8601: false,
        inline: false,
        filename: None,
    }
    .url()
}

/// A `Binary::start_with` tweak that puts `top` (top-level keys) before the config's tables.
pub fn top_level(top: &'static str) -> impl FnOnce(&mut std::process::Command) {
    move |cmd| {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let at = args.iter().position(|a| a == "--config").expect("--config") + 1;
        let text = std::fs::read_to_string(&args[at]).unwrap();
        std::fs::write(&args[at], format!("{top}\n{text}")).unwrap();
    }
}
