//! Whole verified requests through the real handler (`keyhole::handler::handle`): a link is
//! signed with the config's own keys by the crate's own signing code (Swift, SigV4, V2, or
//! made by the management API), so it gets past verification, and then the numbers a client
//! or the store controls are the fuzzer's: the expiry (up to u64::MAX, ISO 8601, V2 text past
//! 64 bits), X-Amz-Date and X-Amz-Expires, `timeExpire`, the object's mtime (any i64, on a
//! tmpfs that keeps it), Range specs, dates in If-* headers, plus any other header.
//!
//! Properties, for every request:
//! 1. the handler never panics (libFuzzer reports it) and never answers 5xx other than 503;
//! 2. the body streams to its end without error, exactly as long as its size hint says (an
//!    object's HEAD has none);
//! 3. for a link the API made, the link it returned is served (200), not refused.
//!
//! Input layout (so that seeds can be real requests): byte 0 picks the kind (low 3 bits:
//! Swift, SigV4, V2, API, raw) and the strict config (bit 3: `max_link_lifetime = 3600`); the
//! rest is, for the raw kind, `METHOD TARGET\nName: value\n…` as text, otherwise a `Shaped`
//! request drawn with `arbitrary`.
#![no_main]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use keyhole::auth::s3::OVERRIDES;
use keyhole::auth::swift::Digest;
use keyhole::auth::{sigv2, sigv4};
use keyhole::config::Config;
use keyhole::server::State;
use keyhole::share::SwiftLink;
use libfuzzer_sys::fuzz_target;

const HOST: &str = "keyhole.test";
const SWIFT_KEY: &str = "swift-key";
const ACCESS_KEY: &str = "AKIDFUZZ";
const SECRET: &str = "fuzz-secret";
const TOKEN: &str = "fuzz-token";
/// (name, bytes): a text file, an empty one, an active type.
const OBJECTS: [(&str, usize); 3] = [("o.txt", 1000), ("e.bin", 0), ("s.html", 40)];
/// The edges of every clock in play.
const FAR: [u64; 9] = [
    0,
    253_402_300_799,
    253_402_300_800,
    1_000_000_000_000_000,
    i64::MAX as u64,
    i64::MAX as u64 + 1,
    u64::MAX - 604_800,
    u64::MAX - 1,
    u64::MAX,
];

struct World {
    /// [normal, strict]
    states: [State; 2],
    runtime: tokio::runtime::Runtime,
    data: PathBuf,
}

fn config(root: &std::path::Path, strict: bool) -> Config {
    let cap = if strict {
        "max_link_lifetime = 3600\n"
    } else {
        ""
    };
    let text = format!(
        r#"{cap}listen = "127.0.0.1:0"
[backend]
kind = "fs"
root = "{root}"
[[project]]
id = "p"
temp_url_keys = ["{SWIFT_KEY}"]
  [[project.s3_key]]
  access_key = "{ACCESS_KEY}"
  secret_key = "{SECRET}"
  [[project.container]]
  name = "c"
  cors_origins = ["https://app.example"]
[[api_token]]
token = "{TOKEN}"
projects = ["p"]
"#,
        root = root.display()
    );
    Config::parse(&text, root).unwrap()
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        // A tmpfs keeps any 64-bit mtime; ext4 would clamp it to 1901..2446.
        let base = ["/dev/shm", "/tmp"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        // One folder per fuzzing process; those of processes gone are removed.
        const PREFIX: &str = "keyhole-fuzz-request-";
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX) {
                if !PathBuf::from(format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("{PREFIX}{}", std::process::id()));
        let data = dir.join("data");
        let c = data.join("p").join("c");
        std::fs::create_dir_all(&c).unwrap();
        for (name, len) in OBJECTS {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(c.join(name), bytes).unwrap();
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        World {
            states: [
                State::new(config(&data, false)).unwrap(),
                State::new(config(&data, true)).unwrap(),
            ],
            runtime,
            data,
        }
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A point in time, relative to the real clock (the handler reads it) or absolute.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum When {
    Ahead(u32),
    Behind(u32),
    Far(u8),
    At(u64),
}

impl When {
    fn secs(self, now: u64) -> u64 {
        match self {
            When::Ahead(n) => now.saturating_add(u64::from(n)),
            When::Behind(n) => now.saturating_sub(u64::from(n)),
            When::Far(i) => FAR[usize::from(i) % FAR.len()],
            When::At(t) => t,
        }
    }
}

/// A V2 `Expires` as written: a number, or text past 64 bits.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum V2Expires {
    Number(When),
    Huge(u8),
    LeadingZeros(u8, When),
}

#[derive(Arbitrary, Debug)]
struct SwiftArgs {
    expires: When,
    iso8601: bool,
    digest: u8,
    head: bool,
}

#[derive(Arbitrary, Debug)]
struct V4Args {
    signed_at: When,
    /// `X-Amz-Expires`: mostly inside the 1..=604800 window, or anything.
    lifetime: u64,
    overrides: Vec<(u8, String)>,
}

#[derive(Arbitrary, Debug)]
struct V2Args {
    expires: V2Expires,
    overrides: Vec<(u8, String)>,
}

#[derive(Arbitrary, Debug)]
struct ApiArgs {
    time_expire: ApiNumber,
    s3: bool,
    download: bool,
}

#[derive(Debug)]
enum Link {
    Swift(SwiftArgs),
    V4(V4Args),
    V2(V2Args),
    Api(ApiArgs),
}

/// `timeExpire` as JSON: an integer of any size and sign, or some other number.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum ApiNumber {
    Int(i64),
    Far(u8),
    Wide(u64, bool),
    Float(f64),
}

/// A header value, shaped to reach the code behind that header.
#[derive(Arbitrary, Debug)]
enum Value {
    /// An HTTP-date of the object's mtime plus this offset, if one can say it.
    NearMtime(i16),
    Date(When),
    /// A date that cannot be one: a five-digit or pre-1970 year.
    BadYear(u32),
    Ranges(Vec<(Option<u64>, Option<u64>)>),
    Text(String),
}

const HEADERS: [&str; 12] = [
    "range",
    "if-range",
    "if-modified-since",
    "if-unmodified-since",
    "if-match",
    "if-none-match",
    "origin",
    "content-type",
    "content-md5",
    "x-amz-date",
    "x-forwarded-for",
    "forwarded",
];

/// What every kind of request has besides its link.
#[derive(Arbitrary, Debug)]
struct Shaped {
    object: u8,
    /// Low 3 bits: GET, HEAD, or another method.
    method: u8,
    mtime: Option<(i64, u32)>,
    headers: Vec<(u8, Value)>,
    /// Character edits to the signed URL (most break the signature: a refusal, not a 5xx).
    edits: Vec<(u16, Option<char>)>,
}

fn http_date(secs: u64) -> Option<String> {
    // httpdate panics past 9999: only ask it for what it can say.
    (secs <= 253_402_300_799)
        .then(|| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs)))
}

fn value_text(v: &Value, mtime: i64, now: u64) -> String {
    match v {
        Value::NearMtime(o) => {
            let t = u64::try_from(mtime.saturating_add(i64::from(*o))).unwrap_or(0);
            http_date(t)
                .unwrap_or_else(|| format!("Fri, 31 Dec 9999 23:59:{:02} GMT", o.rem_euclid(60)))
        }
        Value::Date(w) => {
            let t = w.secs(now);
            http_date(t)
                .unwrap_or_else(|| format!("Sat, 01 Jan {} 00:00:00 GMT", 1970 + t / 31_556_952))
        }
        Value::BadYear(y) => format!("Mon, 01 Jan {y:04} 00:00:00 GMT"),
        Value::Ranges(specs) => {
            let specs: Vec<String> = specs
                .iter()
                .map(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => format!("{a}-{b}"),
                    (Some(a), None) => format!("{a}-"),
                    (None, Some(b)) => format!("-{b}"),
                    (None, None) => "-".to_string(),
                })
                .collect();
            format!("bytes={}", specs.join(","))
        }
        Value::Text(t) => t.clone(),
    }
}

fn overrides(list: &[(u8, String)]) -> Vec<(&'static str, &str)> {
    list.iter()
        .map(|(i, v)| (OVERRIDES[usize::from(*i) % OVERRIDES.len()], v.as_str()))
        .collect()
}

/// The request target of a signed link, or (for the API) the POST that makes one.
enum Made {
    Get(String),
    Api(String, String),
}

fn make(link: &Link, object: &str, now: u64) -> Made {
    match link {
        Link::Swift(SwiftArgs {
            expires,
            iso8601,
            digest,
            head,
        }) => Made::Get(
            SwiftLink {
                base_url: "",
                path: &format!("/v1/AUTH_p/c/{object}"),
                key: SWIFT_KEY,
                method: if *head { "HEAD" } else { "GET" },
                expires: expires.secs(now),
                digest: [Digest::Sha1, Digest::Sha256, Digest::Sha512][usize::from(*digest) % 3],
                ip_range: None,
                prefix: false,
                iso8601: *iso8601,
                inline: false,
                filename: None,
            }
            .url(),
        ),
        Link::V4(V4Args {
            signed_at,
            lifetime,
            overrides: o,
        }) => {
            // Mostly inside the window SigV4 accepts, so that the link verifies.
            let lifetime = if lifetime >> 63 == 0 {
                lifetime % 604_802
            } else {
                *lifetime
            };
            Made::Get(
                sigv4::Presign {
                    host: HOST,
                    path: &format!("/c/{object}"),
                    access_key: ACCESS_KEY,
                    secret: SECRET,
                    region: "us-east-1",
                    now: signed_at.secs(now),
                    expires: lifetime,
                    params: &overrides(o),
                }
                .path_and_query(),
            )
        }
        Link::V2(V2Args {
            expires,
            overrides: o,
        }) => {
            let path = format!("/c/{object}");
            let params = overrides(o);
            let link = sigv2::Presign {
                path: &path,
                virtual_bucket: None,
                access_key: ACCESS_KEY,
                secret: SECRET,
                expires: 0,
                params: &params,
            };
            Made::Get(match *expires {
                V2Expires::Number(w) => link.path_and_query_expiring(&w.secs(now).to_string()),
                V2Expires::Huge(n) => link.path_and_query_expiring(&format!(
                    "{}{}",
                    u64::MAX,
                    "9".repeat(usize::from(n % 40))
                )),
                V2Expires::LeadingZeros(n, w) => link.path_and_query_expiring(&format!(
                    "{}{}",
                    "0".repeat(usize::from(n % 40)),
                    w.secs(now)
                )),
            })
        }
        Link::Api(ApiArgs {
            time_expire,
            s3,
            download,
        }) => {
            let n = match *time_expire {
                ApiNumber::Int(i) => i.to_string(),
                ApiNumber::Far(i) => FAR[usize::from(i) % FAR.len()].to_string(),
                ApiNumber::Wide(u, neg) => format!("{}{u}{u}", if neg { "-" } else { "" }),
                ApiNumber::Float(f) if f.is_finite() => format!("{f:?}"),
                ApiNumber::Float(_) => "1e999".to_string(),
            };
            let kind = if *s3 {
                format!(r#""s3","accessKey":"{ACCESS_KEY}","secretKey":"{SECRET}""#)
            } else {
                r#""swift""#.to_string()
            };
            let mode = if *download { "download" } else { "view" };
            Made::Api(
                format!("/api/v1/projects/p/containers/c/objects/{object}/download_tempurls"),
                format!(r#"{{"timeExpire":{n},"urlType":{kind},"viewMode":"{mode}"}}"#),
            )
        }
    }
}

fn edit(url: &str, edits: &[(u16, Option<char>)]) -> String {
    let mut chars: Vec<char> = url.chars().collect();
    for &(at, c) in edits {
        let at = usize::from(at) % (chars.len() + 1);
        match c {
            Some(c) => chars.insert(at, c),
            None if at < chars.len() => {
                chars.remove(at);
            }
            None => {}
        }
    }
    chars.into_iter().collect()
}

fn set_mtime(data: &std::path::Path, object: &str, (secs, nanos): (i64, u32)) -> i64 {
    let d = Duration::new(secs.unsigned_abs(), nanos % 1_000_000_000);
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    let path = data.join("p").join("c").join(object);
    if let (Some(t), Ok(f)) = (t, std::fs::File::options().write(true).open(&path)) {
        let _ = f.set_modified(t);
    }
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(&path).map_or(0, |m| m.mtime())
}

/// Sends one request through the handler and checks properties 1 and 2; returns the status
/// and, for a 200 from the API, its body.
fn send(state: &State, req: Request<Full<Bytes>>) -> (u16, Option<Bytes>) {
    let w = world();
    let head = req.method() == Method::HEAD;
    let what = format!("{} {} {:?}", req.method(), req.uri(), req.headers());
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let (status, hint, length, body) = w.runtime.block_on(async {
        let resp = keyhole::handler::handle(state, req, peer).await;
        let status = resp.status().as_u16();
        let length = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = resp.into_body();
        let hint = http_body::Body::size_hint(&body).exact();
        let collected = body.collect().await.map(|c| c.to_bytes());
        (status, hint, length, collected)
    });
    assert!(status < 500 || status == 503, "{status} for {what}");
    let body = body.unwrap_or_else(|_| panic!("the body failed for {what}"));
    if let Some(hint) = hint {
        assert_eq!(hint, body.len() as u64, "size hint for {what}");
    }
    // hyper drops any body of a HEAD answer; an object's HEAD must not even open one.
    if head && matches!(status, 200 | 206) {
        assert!(body.is_empty(), "a HEAD body for {what}");
    } else if let (false, Some(length)) = (head, length) {
        assert_eq!(length, body.len() as u64, "Content-Length for {what}");
    }
    (status, (status == 200).then_some(body))
}

fn request(
    method: Method,
    target: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
) -> Option<Request<Full<Bytes>>> {
    let mut req = Request::builder()
        .method(method)
        .uri(target)
        .body(Full::new(body))
        .ok()?;
    let h = req.headers_mut();
    h.insert(http::header::HOST, HeaderValue::from_static(HOST));
    for (k, v) in headers {
        h.append(k.clone(), v.clone());
    }
    Some(req)
}

fn raw(state: &State, text: &str) {
    let mut lines = text.split('\n');
    let Some((method, target)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let headers: Vec<(HeaderName, HeaderValue)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((
                HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
                HeaderValue::from_str(v.trim()).ok()?,
            ))
        })
        .collect();
    if let Some(req) = request(method, target, &headers, Bytes::new()) {
        send(state, req);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let w = world();
    let state = &w.states[usize::from(flags >> 3 & 1)];
    if flags & 7 >= 4 {
        return raw(state, &String::from_utf8_lossy(rest));
    }
    let mut u = arbitrary::Unstructured::new(rest);
    let link = match flags & 7 {
        0 => u.arbitrary().map(Link::Swift),
        1 => u.arbitrary().map(Link::V4),
        2 => u.arbitrary().map(Link::V2),
        _ => u.arbitrary().map(Link::Api),
    };
    let (Ok(link), Ok(mut s)) = (link, u.arbitrary::<Shaped>()) else {
        return;
    };
    let now = unix_now();
    let (object, _) = OBJECTS[usize::from(s.object) % OBJECTS.len()];
    // Every input sets the mtime it is served with, so a finding replays alone.
    let mtime = set_mtime(&w.data, object, s.mtime.unwrap_or((1_700_000_000, 0)));
    let method = match s.method & 7 {
        0..=3 => Method::GET,
        4..=5 => Method::HEAD,
        6 => Method::OPTIONS,
        _ => Method::DELETE,
    };
    let headers: Vec<(HeaderName, HeaderValue)> = s
        .headers
        .iter()
        .take(8)
        .filter_map(|(n, v)| {
            let name = HeaderName::from_static(HEADERS[usize::from(*n) % HEADERS.len()]);
            Some((
                name,
                HeaderValue::from_str(&value_text(v, mtime, now)).ok()?,
            ))
        })
        .collect();
    s.edits.truncate(4);
    match make(&link, object, now) {
        Made::Get(url) => {
            let url = edit(&url, &s.edits);
            if let Some(req) = request(method, &url, &headers, Bytes::new()) {
                send(state, req);
            }
        }
        Made::Api(path, body) => {
            let auth = (
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer fuzz-token"),
            );
            let Some(req) = request(Method::POST, &path, &[auth], Bytes::from(body.clone())) else {
                return;
            };
            let (_, Some(answer)) = send(state, req) else {
                return;
            };
            let v: serde_json::Value =
                serde_json::from_slice(&answer).expect("the API answers JSON");
            let link = v["data"][object].as_str().expect("a 200 carries the link");
            let target = &link[link.find("://").map_or(0, |i| i + 3)..];
            let target = &target[target.find('/').unwrap_or(0)..];
            let req =
                request(method.clone(), target, &headers, Bytes::new()).expect("a link is a URI");
            let (status, _) = send(state, req);
            // Property 3, for a plain GET or HEAD: the link it made opens. (Conditional
            // headers may rightly make it 304, 412 or 206/416.)
            if headers.is_empty() && (method == Method::GET || method == Method::HEAD) {
                assert_eq!(status, 200, "the API's link {target} for {body}");
            }
        }
    }
});
