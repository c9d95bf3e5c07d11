//! Shared by `sigv4_query` and `sigv2_query`: S3 presigned-URL verification never succeeds for
//! a signature the configured secrets did not make for exactly that request.
//!
//! Input layout (so that seeds can be real links): byte 0 holds flags (bit 0: the strict
//! config with a one-hour cap, bit 1: HEAD, bit 2: `Signed` mode, bit 3: virtual-hosted
//! style in raw mode), bytes 1..5 how many seconds after signing (or after NOW) the request
//! comes (little-endian), the rest the URL `path?query` (raw mode, sent to host
//! `keyhole.test:8080`, or `<bucket>.keyhole.test:8080` with bit 3 and the bucket as the first
//! segment) or a `Signed` link drawn with `arbitrary`.
//!
//! Whenever verification succeeds:
//! 1. re-signing: the signature the query carries is what the secret of the access key it
//!    names computes over this request, with the module's public canonicalisation;
//! 2. for `Signed` inputs: the grant is for what was signed: project, bucket, key, expiry
//!    and the `response-*` overrides of the link as made.

use std::path::Path;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use http::{HeaderMap, Method};
use keyhole::auth::s3::{self, S3Request, Scheme, OVERRIDES};
use keyhole::auth::{sigv2, sigv4, Grant};
use keyhole::config::Config;
use keyhole::query::Query;
use keyhole::router::{route, Route};
use keyhole::share::s3::{S3Link, Style};

pub const NOW: u64 = 1_700_000_000;
const HOST: &str = "keyhole.test:8080";

const CONFIG: &str = r#"
[s3]
regions = ["us-east-1", "eu-west-1"]
domain = "keyhole.test"
[backend]
kind = "fs"
root = "x"
[[project]]
id = "p"
  [[project.s3_key]]
  access_key = "AKIDP"
  secret_key = "secret-p"
  [[project.s3_key]]
  access_key = "AKIDP2"
  secret_key = "secret-p2"
  [[project.container]]
  name = "bkt"
[[project]]
id = "q"
  [[project.s3_key]]
  access_key = "AKIDQ"
  secret_key = "secret-q"
"#;

fn configs() -> &'static [Config; 2] {
    static C: OnceLock<[Config; 2]> = OnceLock::new();
    C.get_or_init(|| {
        let strict = format!("max_link_lifetime = 3600\n{CONFIG}");
        [
            Config::parse(CONFIG, Path::new("/")).unwrap(),
            Config::parse(&strict, Path::new("/")).unwrap(),
        ]
    })
}

/// (project, access key, secret); the last signs with a secret that is not the key's.
const SIGNERS: [(&str, &str, &str); 4] = [
    ("p", "AKIDP", "secret-p"),
    ("p", "AKIDP2", "secret-p2"),
    ("q", "AKIDQ", "secret-q"),
    ("p", "AKIDP", "secret-q"),
];
const BUCKETS: [&str; 3] = ["bkt", "other", "b.k-t"];
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "mars-1"];

#[derive(Arbitrary, Debug)]
pub enum Edit {
    Replace(u16, char),
    Insert(u16, char),
    Delete(u16),
}

#[derive(Arbitrary, Debug)]
pub struct Signed {
    signer: u8,
    bucket: u8,
    key: String,
    region: u8,
    expires: u32,
    virtual_host: bool,
    /// (index into OVERRIDES, value)
    overrides: Vec<(u8, String)>,
    /// Sent to a different host than signed for.
    other_host: bool,
    edits: Vec<Edit>,
}

struct Made {
    project: &'static str,
    bucket: &'static str,
    key: String,
    expires_at: u64,
    overrides: String,
}

fn apply(url: &str, edits: &[Edit]) -> String {
    let mut url: Vec<char> = url.chars().collect();
    for e in edits {
        match *e {
            Edit::Replace(at, c) if !url.is_empty() => {
                let at = usize::from(at) % url.len();
                url[at] = c;
            }
            Edit::Insert(at, c) => {
                let at = usize::from(at) % (url.len() + 1);
                url.insert(at, c);
            }
            Edit::Delete(at) if !url.is_empty() => {
                let at = usize::from(at) % url.len();
                url.remove(at);
            }
            _ => {}
        }
    }
    url.into_iter().collect()
}

/// A link made by `share::s3::S3Link` (what `keyhole share` and the API make), then edited.
/// Returns (path?query, host, what was signed).
fn make(s: &Signed, v2: bool) -> Option<(String, String, Made)> {
    let (project, access_key, secret) = SIGNERS[usize::from(s.signer) % SIGNERS.len()];
    let bucket = BUCKETS[usize::from(s.bucket) % BUCKETS.len()];
    let lifetime = u64::from(s.expires) % (sigv4::MAX_EXPIRES + 2);
    let overrides: Vec<(&str, &str)> = s
        .overrides
        .iter()
        .map(|(i, v)| (OVERRIDES[usize::from(*i) % OVERRIDES.len()], v.as_str()))
        .collect();
    let url = S3Link {
        endpoint: &format!("http://{HOST}"),
        bucket,
        key: &s.key,
        access_key,
        secret,
        region: REGIONS[usize::from(s.region) % REGIONS.len()],
        now: NOW,
        expires: lifetime,
        style: if s.virtual_host {
            Style::Virtual
        } else {
            Style::Path
        },
        v2,
        overrides: &overrides,
    }
    .url()
    .ok()?;
    let rest = url.strip_prefix("http://")?;
    let slash = rest.find('/')?;
    let (host, path_and_query) = rest.split_at(slash);
    let (_, query) = path_and_query.split_once('?')?;
    let made = Made {
        project,
        bucket,
        key: s.key.clone(),
        expires_at: NOW + lifetime,
        overrides: format!("{:?}", s3::overrides(&Query::new(query)).ok()?),
    };
    let host = if s.other_host {
        format!("x{host}")
    } else {
        host.to_string()
    };
    Some((apply(path_and_query, &s.edits), host, made))
}

fn resigned_v4(cfg: &Config, req: &S3Request<'_>, g: &Grant) -> bool {
    let q = &req.query;
    let get = |n: &str| q.unique_form(n).unwrap().unwrap().into_owned();
    let credential = get("X-Amz-Credential");
    let cred = sigv4::Credential::parse(&credential).unwrap();
    let (project, key) = cfg.s3_key(cred.access_key).unwrap();
    assert_eq!(project.id, g.project);
    let signed_headers = get("X-Amz-SignedHeaders");
    let payload = q
        .unique_form("X-Amz-Content-Sha256")
        .unwrap()
        .map(|p| p.into_owned())
        .unwrap_or_else(|| sigv4::UNSIGNED_PAYLOAD.to_string());
    let headers: Vec<(&str, Vec<u8>)> = signed_headers
        .split(';')
        .map(|n| {
            let mut v = Vec::new();
            if n == "host" {
                sigv4::fold_value(&mut v, req.host.unwrap().as_bytes());
            }
            (n, v)
        })
        .collect();
    let amz_date = get("X-Amz-Date");
    let signing = sigv4::signing_key(key.secret_key.expose(), cred.date, cred.region);
    let methods: &[&str] = if *req.method == Method::HEAD {
        &["HEAD", "GET"]
    } else {
        &["GET"]
    };
    let carried = get("X-Amz-Signature");
    methods.iter().any(|m| {
        let cr = sigv4::canonical_request(
            m,
            &sigv4::canonical_uri(req.signed_path),
            &sigv4::canonical_query(q.raw()),
            &headers,
            &signed_headers,
            &payload,
        );
        let sts = sigv4::string_to_sign(&amz_date, cred.scope, &cr);
        hex::encode(hmac_sha256(&signing, sts.as_bytes())) == carried
    })
}

/// The `hmac` crate the verifier also uses: this re-derivation checks what a granted link
/// signed, not the MAC itself, which the unit tests pin to RFC 4231 and AWS's examples.
fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn resigned_v2(cfg: &Config, req: &S3Request<'_>, g: &Grant) -> bool {
    use base64::Engine;
    let q = &req.query;
    let get = |n: &str| q.unique_form(n).unwrap().unwrap().into_owned();
    let (project, key) = cfg.s3_key(&get("AWSAccessKeyId")).unwrap();
    assert_eq!(project.id, g.project);
    let expires = get("Expires");
    let carried = get("Signature").trim().replace(' ', "+");
    let carried = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(carried.trim_end_matches('='))
        .expect("a verified V2 signature is base64");
    let prefix = if req.virtual_host {
        format!("/{}", req.bucket)
    } else {
        String::new()
    };
    let paths = [
        format!("{prefix}{}", req.signed_path),
        format!("{prefix}{}", sigv4::canonical_uri(req.signed_path)),
    ];
    let methods: &[&str] = if *req.method == Method::HEAD {
        &["HEAD", "GET"]
    } else {
        &["GET"]
    };
    paths.iter().any(|path| {
        let resource = sigv2::canonical_resource(path, q.raw());
        methods.iter().any(|m| {
            let sts = sigv2::StringToSign {
                method: m,
                content_md5: "",
                content_type: "",
                expires: &expires,
                amz_headers: "",
                resource: &resource,
            };
            sigv2::signature(key.secret_key.expose(), &sts.text()).as_slice() == carried.as_slice()
        })
    })
}

pub fn run(data: &[u8], v2: bool) {
    if data.len() < 5 {
        return;
    }
    let flags = data[0];
    let cfg = &configs()[usize::from(flags & 1)];
    let method = if flags & 2 != 0 {
        Method::HEAD
    } else {
        Method::GET
    };
    let after = u64::from(u32::from_le_bytes(data[1..5].try_into().unwrap()));
    let rest = &data[5..];
    let (url, host, made) = if flags & 4 != 0 {
        let Ok(s) = arbitrary::Unstructured::new(rest).arbitrary::<Signed>() else {
            return;
        };
        let Some((url, host, made)) = make(&s, v2) else {
            return;
        };
        (url, host, Some(made))
    } else {
        let url = String::from_utf8_lossy(rest).into_owned();
        let host = if flags & 8 != 0 {
            let bucket = url.trim_start_matches('/').split('/').next().unwrap_or("");
            let host = format!("{bucket}.{HOST}");
            let path = url.trim_start_matches('/')[bucket.len()..].to_string();
            return check(cfg, &method, &path, &host, NOW + after, None, v2);
        } else {
            HOST.to_string()
        };
        (url, host, None)
    };
    check(cfg, &method, &url, &host, NOW + after, made, v2);
}

fn check(
    cfg: &Config,
    method: &Method,
    url: &str,
    host: &str,
    now: u64,
    made: Option<Made>,
    v2: bool,
) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let Route::S3(r) = route(cfg, path, Some(host)) else {
        return;
    };
    let headers = HeaderMap::new();
    let req = S3Request {
        method,
        signed_path: r.signed_path,
        bucket: &r.bucket,
        key: &r.key,
        virtual_host: r.virtual_host,
        query: Query::new(query),
        headers: &headers,
        host: Some(host),
    };
    let Ok(scheme) = s3::scheme(&req) else {
        return;
    };
    let Ok(g) = s3::verify(cfg, &req, scheme, now) else {
        return;
    };
    if std::env::var_os("KEYHOLE_FUZZ_DEBUG").is_some() {
        eprintln!("verified: {host} {url}");
    }
    assert_eq!(
        (g.container.as_str(), g.object.as_str()),
        (req.bucket, req.key)
    );
    let expires = g.expires_at.expect("a presigned URL expires");
    assert!(expires >= now, "expired at {expires}, now {now}");
    if let Some(max) = cfg.max_link_lifetime {
        if v2 {
            assert!(expires - now <= max);
        }
    }
    match scheme {
        Scheme::QueryV4 => assert!(resigned_v4(cfg, &req, &g), "no key signed {host} {url}"),
        Scheme::QueryV2 => assert!(resigned_v2(cfg, &req, &g), "no key signed {host} {url}"),
        other => panic!("{other:?} verified without headers: {url}"),
    }
    if let Some(m) = made {
        assert_eq!(g.project, m.project, "{host} {url}");
        assert_eq!(g.container, m.bucket, "{host} {url}");
        assert_eq!(g.object, m.key, "{host} {url}");
        assert_eq!(expires, m.expires_at, "{host} {url}");
        assert_eq!(
            format!("{:?}", g.overrides),
            m.overrides,
            "overrides changed: {host} {url}"
        );
    }
}
