//! The share page at `/_keyhole/ui/`, used in a real headless Chromium driven over the
//! DevTools protocol (`--remote-debugging-pipe`: JSON messages on fds 3 and 4, no extra
//! crates): sign in, browse, tick two objects, make links for each protocol and mode, fetch
//! them, copy one, and see a wrong token explained in plain words; on a 390 px phone screen
//! nothing scrolls sideways. Screenshots of the filled dialog go to tests/artifacts/.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "share-page-token";
const PDF: &[u8] = include_bytes!("../assets/demo/guide.pdf");
const VIETNAMESE: &str = "docs/Báo cáo tháng 11.pdf";
const PLAIN: &str = "docs/notes.txt";

/// One Chromium at a time: two cores are shared with the rest of the suite.
static CHROMIUM: Mutex<()> = Mutex::new(());

/// A pipe whose two ends are close-on-exec and numbered 10 or above, so that the child can
/// `dup2` them onto 3 and 4 without clobbering one with the other.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let high = |fd: i32| {
        // SAFETY: `fd` is open; the duplicate is new and ours, and the original is closed once.
        unsafe {
            let h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            assert!(h >= 10);
            libc::close(fd);
            OwnedFd::from_raw_fd(h)
        }
    };
    (high(fds[0]), high(fds[1]))
}

/// A headless Chromium with one page, spoken to over the DevTools pipe.
struct Browser {
    child: Child,
    to: File,
    from: BufReader<File>,
    id: u64,
    session: String,
    _profile: TempDir,
}

impl Browser {
    fn launch(width: u32, height: u32) -> Browser {
        let profile = TempDir::new("share-page");
        let (cmd_read, cmd_write) = pipe();
        let (out_read, out_write) = pipe();
        let (r, w) = (cmd_read.into_raw_fd(), out_write.into_raw_fd());
        let mut command = Command::new("chromium");
        command
            .args(HEADLESS_CHROMIUM)
            .args(["--hide-scrollbars", "--remote-debugging-pipe"])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: the child has its copies; ours of the child's ends are closed here.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        let mut b = Browser {
            child,
            to: File::from(cmd_write),
            from: BufReader::new(File::from(out_read)),
            id: 0,
            session: String::new(),
            _profile: profile,
        };
        let targets = b.send(None, "Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let attached = b.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call("Runtime.enable", json!({}));
        b.call("Page.enable", json!({}));
        b.call(
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        b
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.id += 1;
        let mut msg = json!({"id": self.id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let mut buf = Vec::new();
            let n = self
                .from
                .read_until(0, &mut buf)
                .expect("read from chromium");
            assert!(n > 0, "chromium closed the pipe during {method}");
            buf.pop();
            let v: Value = serde_json::from_slice(&buf).unwrap();
            if v["id"] == json!(self.id) {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Evaluates `js` in the page as a user gesture, awaiting a promise; returns its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "awaitPromise": true, "returnByValue": true, "userGesture": true}),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "{js}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits until `js` is true in the page.
    fn wait(&mut self, js: &str) {
        let start = Instant::now();
        while self.eval(&format!("Boolean({js})")) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {js}; page text: {}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait("document.readyState === 'complete' && typeof QR === 'object'");
    }

    /// Saves the whole page as a PNG.
    fn screenshot(&mut self, path: &Path) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn server() -> TestServer {
    let s = TestServer::with_config(&format!(
        "[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p1\"]\n"
    ));
    s.put(PROJECT, "c", VIETNAMESE, PDF);
    s.put(PROJECT, "c", PLAIN, b"plain notes\n");
    s.put(PROJECT, "c", "docs/old/2019.txt", b"old");
    s.put(PROJECT, "c", "top.txt", b"top");
    s
}

/// The one Chromium slot and a server with the test objects; `None` (skip) without Chromium.
fn chromium_and_server() -> Option<(MutexGuard<'static, ()>, TestServer)> {
    if !require_tool("chromium") {
        return None;
    }
    let one = CHROMIUM.lock().unwrap_or_else(|e| e.into_inner());
    Some((one, server()))
}

fn page_url(s: &TestServer) -> String {
    format!("http://{}/_keyhole/ui/", s.addr)
}

/// Signs in through the form, opens `docs/` and ticks the two objects.
fn sign_in_and_pick(b: &mut Browser) {
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.getElementById('signin-button').click()",
        json!(TOKEN)
    ));
    b.wait("!document.getElementById('browser').hidden && document.querySelector('[data-folder=\"docs/\"]')");
    b.eval("{ const c = document.getElementById('container'); c.value = 'c'; c.dispatchEvent(new Event('change')) }");
    b.wait("document.querySelector('[data-folder=\"docs/\"]')");
    b.eval("document.querySelector('[data-folder=\"docs/\"]').click()");
    b.wait("document.querySelectorAll('#rows input[type=checkbox]').length === 2");
    for name in [VIETNAMESE, PLAIN] {
        b.eval(&format!(
            "[...document.querySelectorAll('#rows input')].find(i => i.dataset.name === {}).click()",
            json!(name)
        ));
    }
    b.wait("document.getElementById('count').textContent === '2 files selected'");
}

/// Sets protocol, mode and 1 day 2 hours, presses Generate and reads the links back.
fn generate(b: &mut Browser, protocol: &str, mode: &str) -> Vec<(String, String)> {
    b.eval(&format!(
        r#"{{ const f = document.getElementById('share');
        document.querySelector('input[name=urlType][value={protocol}]').click();
        document.querySelector('input[name=viewMode][value={mode}]').click();
        for (const [n, v] of [['days', '1'], ['hours', '2'], ['minutes', '0']]) {{
          f[n].value = v; f[n].dispatchEvent(new Event('input', {{ bubbles: true }}));
        }}
        document.getElementById('links').replaceChildren();
        document.getElementById('generate').click() }}"#
    ));
    b.wait("document.querySelectorAll('#links li').length === 2 && !document.getElementById('generate').disabled");
    let rows = b.eval(
        "[...document.querySelectorAll('#links li')].map(li => [li.querySelector('.obj').textContent, li.querySelector('input').value, li.querySelector('.expires').textContent, Boolean(li.querySelector('.qr svg path'))])",
    );
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let expires = r[2].as_str().unwrap();
            assert!(expires.starts_with("Expires "), "{expires}");
            assert_eq!(r[3], json!(true), "no QR code drawn");
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The link's lifetime left, in seconds, read from its query.
fn lifetime(url: &str) -> u64 {
    let query = url.split_once('?').unwrap().1;
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .map(|v| v.parse::<u64>().unwrap())
    };
    match param("temp_url_expires") {
        Some(at) => at - now(),
        None => param("X-Amz-Expires").expect("an S3 lifetime"),
    }
}

#[test]
fn a_user_shares_two_objects_for_each_protocol_and_mode_and_copies_a_link() {
    let Some((_one, s)) = chromium_and_server() else {
        return;
    };
    let mut b = Browser::launch(1280, 900);
    b.open(&page_url(&s));
    sign_in_and_pick(&mut b);
    for (protocol, mode, disposition) in [
        ("swift", "view", "inline"),
        ("swift", "download", "attachment"),
        ("s3", "view", "inline"),
        ("s3", "download", "attachment"),
    ] {
        let links = generate(&mut b, protocol, mode);
        let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [VIETNAMESE, PLAIN], "{protocol} {mode}");
        for (name, url) in &links {
            let left = lifetime(url);
            assert!(
                (93_400..=93_600).contains(&left),
                "{protocol} {mode}: not 1 day 2 hours: {left} s in {url}"
            );
            let r = s.get(target_of(url));
            let want: &[u8] = if name == VIETNAMESE {
                PDF
            } else {
                b"plain notes\n"
            };
            assert_eq!(r.status, 200, "{protocol} {mode} {url}: {}", r.text());
            assert_eq!(r.body, want, "{protocol} {mode} {name}");
            let cd = r.header("content-disposition").unwrap_or("");
            let leaf = name.rsplit('/').next().unwrap();
            assert!(
                cd.starts_with(disposition)
                    && cd.contains(&format!("filename*=UTF-8''{}", encode_path(leaf))),
                "{protocol} {mode} {name}: {cd}"
            );
        }
        if protocol == "swift" && mode == "download" {
            b.screenshot(&artifacts().join("share-dialog-desktop.png"));
        }
    }

    // The QR code the page drew reads back as the link (zbarimg decodes a screenshot of it).
    if require_tool("zbarimg") {
        let want = b.eval("document.querySelector('#links li input').value");
        b.eval("{ const q = document.querySelector('#links li .qr'); q.style.width = q.style.height = '500px'; q.scrollIntoView() }");
        let rect = b.eval("(() => { const r = document.querySelector('#links li .qr').getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width]; })()");
        let shot = b.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": rect[0], "y": rect[1], "width": rect[2], "height": rect[2], "scale": 1}}),
        );
        let png = artifacts().join("share-dialog-qr.png");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(&png, bytes).unwrap();
        let out = Command::new("zbarimg")
            .args(["-q", "--raw"])
            .arg(&png)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            want.as_str().unwrap()
        );
    }

    // Copy puts the link on the clipboard and says so.
    let origin = format!("http://{}", s.addr);
    b.send(
        None,
        "Browser.grantPermissions",
        json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
    );
    b.eval("document.querySelector('#links li button.copy').click()");
    b.wait("document.querySelector('#links li button.copy').textContent === 'Copied'");
    let want = b.eval("document.querySelector('#links li input').value");
    assert_eq!(b.eval("navigator.clipboard.readText()"), want);

    // The S3 limit is shown before submitting: 8 days cannot be asked for.
    b.eval(
        "{ const f = document.getElementById('share'); f.days.value = '8'; f.dispatchEvent(new Event('input')) }",
    );
    let limit = b.eval("document.getElementById('limit').textContent");
    assert!(
        limit.as_str().unwrap().contains("at most 7 days"),
        "{limit}"
    );
    assert_eq!(
        b.eval("document.getElementById('generate').disabled"),
        json!(true)
    );

    // An expiry the server refuses is explained in plain words, not as the API's message.
    b.eval("document.querySelector('input[name=urlType][value=swift]').click()");
    b.eval("{ const f = document.getElementById('share'); f.days.value = '3000000'; f.dispatchEvent(new Event('input')); document.getElementById('generate').click() }");
    b.wait("!document.getElementById('error').hidden");
    let error = b.eval("document.getElementById('error').textContent");
    assert_eq!(
        error,
        json!("That expiry is too far in the future. Shorten it.")
    );
}

impl Browser {
    /// Presses one key as a keyboard would (keyDown with its text, then keyUp).
    fn press(&mut self, key: &str, code: &str, key_code: u32, text: &str) {
        for kind in ["keyDown", "keyUp"] {
            let mut params = json!({"type": kind, "key": key, "code": code,
                "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code});
            if kind == "keyDown" && !text.is_empty() {
                params["text"] = json!(text);
            }
            self.call("Input.dispatchKeyEvent", params);
        }
    }

    fn tab_to(&mut self, js_element: &str) {
        for _ in 0..40 {
            if self.eval(&format!("document.activeElement === {js_element}")) == json!(true) {
                return;
            }
            self.press("Tab", "Tab", 9, "");
        }
        panic!("Tab never reached {js_element}");
    }
}

#[test]
fn the_keyboard_alone_signs_in_opens_a_folder_ticks_and_generates() {
    let Some((_one, s)) = chromium_and_server() else {
        return;
    };
    let mut b = Browser::launch(1024, 900);
    b.open(&page_url(&s));
    b.tab_to("document.getElementById('token')");
    b.call("Input.insertText", json!({"text": TOKEN}));
    b.press("Enter", "Enter", 13, "\r");
    b.wait("document.querySelector('[data-folder=\"docs/\"]')");
    b.tab_to("document.querySelector('[data-folder=\"docs/\"]')");
    b.press("Enter", "Enter", 13, "\r");
    b.wait("document.querySelectorAll('#rows input[type=checkbox]').length === 2");
    b.tab_to("document.getElementById('all')");
    b.press(" ", "Space", 32, " ");
    b.wait("document.getElementById('count').textContent === '2 files selected'");
    b.tab_to("document.getElementById('generate')");
    b.press("Enter", "Enter", 13, "\r");
    b.wait("document.querySelectorAll('#links li').length === 2");
    // Focus moves to the first Copy button, so Enter copies straight away.
    assert_eq!(b.eval("document.activeElement.className"), json!("copy"));
}

#[test]
fn a_wrong_token_is_refused_in_plain_words() {
    let Some((_one, s)) = chromium_and_server() else {
        return;
    };
    let mut b = Browser::launch(1024, 768);
    b.open(&page_url(&s));
    b.eval("document.getElementById('token').value = 'not-the-token'; document.getElementById('signin-button').click()");
    b.wait("!document.getElementById('error').hidden");
    let error = b.eval("document.getElementById('error').textContent");
    let error = error.as_str().unwrap();
    assert!(
        error.starts_with("That API token was not accepted") && error.contains("keyhole.toml"),
        "{error}"
    );
    assert_eq!(
        b.eval("document.getElementById('browser').hidden"),
        json!(true)
    );
    // The token never reaches the address bar or storage when refused.
    assert_eq!(
        b.eval("location.href.includes('not-the-token') || sessionStorage.length > 0"),
        json!(false)
    );
}

#[test]
fn on_a_390px_phone_the_filled_dialog_has_no_horizontal_scroll() {
    let Some((_one, s)) = chromium_and_server() else {
        return;
    };
    let mut b = Browser::launch(390, 844);
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    );
    // The one-time sign-in link: the fragment fills the token in and is wiped at once.
    b.open(&format!("{}#token={TOKEN}", page_url(&s)));
    b.wait("!document.getElementById('browser').hidden && document.querySelector('[data-folder=\"docs/\"]')");
    assert_eq!(b.eval("location.hash"), json!(""));
    b.eval("document.querySelector('[data-folder=\"docs/\"]').click()");
    b.wait("document.querySelectorAll('#rows input[type=checkbox]').length === 2");
    b.eval("document.getElementById('all').click()");
    b.wait("document.getElementById('count').textContent === '2 files selected'");
    generate(&mut b, "s3", "view");
    let widths = b.eval("[document.documentElement.scrollWidth, window.innerWidth]");
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "the page scrolls sideways: {widths}"
    );
    b.screenshot(&artifacts().join("share-dialog-phone.png"));
}

#[test]
fn the_root_sends_a_newcomer_to_the_share_page_and_its_assets_keep_the_strict_csp() {
    let s = server();
    let r = s.get("/");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("_keyhole/ui/"))
    );
    for asset in ["", "app.js", "qr.js", "style.css"] {
        let r = s.get(&format!("/_keyhole/ui/{asset}"));
        assert_eq!(r.status, 200, "{asset}");
        let csp = r.header("content-security-policy").unwrap_or("");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{asset}: {csp}"
        );
    }
    // Every script the page loads is its own file: nothing inline for the CSP to refuse.
    let html = s.get("/_keyhole/ui/").text();
    let handler = html.split(" on").skip(1).any(|rest| {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert!(!html.contains("<script>") && !handler, "{html}");
}

// ---- first run: the banner and `keyhole share` show the way ----

/// `keyhole serve` in `dir` with `args`; killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `keyhole serve` in `dir` and returns it with its banner (stdout up to and
/// including the share page's lines) and a file that collects its stderr.
fn serve(dir: &Path, args: &[&str]) -> (Serve, Vec<String>, PathBuf) {
    let stderr = dir.join("stderr.log");
    let child = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut child = Serve(child);
    let out = child.0.stdout.take().unwrap();
    // Read on a thread: a banner that never shows the share page must fail, not hang.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut banner: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // The share page's lines end the banner: its URL, then how to sign in (one line, or a
    // line ending in `:` and the link).
    let ended = |b: &[String]| {
        let Some(at) = b.iter().position(|l| l.starts_with("Share page: ")) else {
            return false;
        };
        match b.get(at + 1) {
            Some(l) if l.ends_with(':') => b.len() > at + 2,
            Some(_) => true,
            None => false,
        }
    };
    while !ended(&banner) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => banner.push(line),
            Err(_) => panic!("the banner never showed the share page: {banner:?}"),
        }
    }
    (child, banner, stderr)
}

fn addr_of(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    rest[..rest.find('/').unwrap_or(rest.len())]
        .parse()
        .unwrap()
}

#[test]
fn the_first_run_banner_prints_the_share_page_and_a_sign_in_link_that_works() {
    let dir = TempDir::new("first-run");
    let (_server, banner, _) = serve(&dir.0, &["--listen", "127.0.0.1:0"]);
    let base = banner[0].strip_prefix("keyhole listening on ").unwrap();
    let page = format!("{base}/_keyhole/ui/");
    assert!(
        banner.contains(&format!("Share page: {page}")),
        "{banner:?}"
    );
    let sign_in = banner.last().unwrap().trim();
    let token = sign_in
        .strip_prefix(&format!("{page}#token="))
        .unwrap_or_else(|| panic!("no sign-in link: {banner:?}"));
    let config = std::fs::read_to_string(dir.0.join("keyhole.toml")).unwrap();
    assert!(config.contains(&format!("token = \"{token}\"")), "{config}");
    // The token in the link is accepted by the API the page calls.
    let r = request_as(
        addr_of(base),
        "GET",
        "localhost",
        "/api/v1/projects",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"demo\""), "{}", r.text());
}

#[test]
fn a_wildcard_listen_warns_and_prints_links_for_loopback_that_open() {
    let dir = TempDir::new("wildcard");
    let (_server, banner, stderr) = serve(&dir.0, &["--listen", "0.0.0.0:0"]);
    let port = banner[0].rsplit(':').next().unwrap().to_string();
    let links: Vec<&str> = banner
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("http://"))
        .collect();
    assert!(links.len() >= 5, "{banner:?}");
    for link in &links {
        assert!(
            link.starts_with(&format!("http://127.0.0.1:{port}/")),
            "{link}"
        );
    }
    // The S3 link (signed for the host it names) opens at that host.
    let s3 = links
        .iter()
        .find(|l| l.contains("X-Amz-Signature"))
        .unwrap();
    let r = request_as(
        addr_of(s3),
        "GET",
        &format!("127.0.0.1:{port}"),
        target_of(s3),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let warned = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        warned.contains("warning: listening on every address") && warned.contains("public_url"),
        "{warned}"
    );
}

fn share_cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("share")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn share_takes_a_base_url_and_warns_about_what_does_not_exist() {
    let s = server();
    let config = s.dir.0.join("share.toml");
    std::fs::write(&config, base_config(&s.dir.0, "")).unwrap();
    // The server runs on another port than the config's listen: --base-url names it.
    let base = format!("http://{}", s.addr);
    let out = share_cli(
        &config,
        &["p1/c/top.txt", "--protocol", "s3", "--base-url", &base],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap();
    assert!(link.starts_with(&format!("{base}/c/top.txt?")), "{link}");
    assert_eq!(s.get(target_of(link.trim())).body, b"top");

    for (target, says) in [
        (
            "p1/c/missing.txt",
            "there is no object \"missing.txt\" in p1/c",
        ),
        ("p1/pub/a.txt", "there is no object \"a.txt\" in p1/pub"),
    ] {
        let out = share_cli(&config, &[target, "--base-url", &base]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{target}: {stderr}");
        assert!(
            stderr.contains("warning") && stderr.contains(says),
            "{target}: {stderr}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(&base),
            "{target}: still prints the link"
        );
    }
    // A container the config does not know is an error, as before.
    let out = share_cli(&config, &["p1/nope/a.txt", "--base-url", &base]);
    assert_eq!(out.status.code(), Some(2));
    let out = share_cli(&config, &["p1/c/top.txt", "--base-url", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_server_keeps_serving_when_its_stdout_is_closed_before_the_banner() {
    let dir = TempDir::new("closed-stdout");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A supervisor that has already gone: every banner line meets a closed pipe.
    let (read, write) = pipe();
    drop(read);
    let child = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(&dir.0)
        .stdout(Stdio::from(write))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Serve(child);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past the banner: still up and answering.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
    let r = request_as(addr, "GET", "localhost", "/_keyhole/healthz", &[]);
    assert_eq!(r.status, 200);
}
