//! The S3 backend (`kind = "s3"`): objects of any S3-compatible store, fetched with
//! Keyhole's own credentials in requests signed by `aws::sigv4::HeaderAuth`.
//!
//! A Keyhole project, container and object name an upstream bucket and key through the
//! config's templates. Each request is built here from those names alone: nothing of the
//! client's request but the headers `Upstream` forwards reaches the store.

use std::time::{Duration, Instant, SystemTime};

use http::header::{HeaderValue, HOST};
use http::{Method, Request, Uri};
use serde::Deserialize;

use crate::aws::encoding::uri_encode_into;
use crate::aws::sigv4::HeaderAuth;
use crate::config::{Placeholder, S3Store, S3Style};

use super::upstream::Upstream;
use super::{Ask, BackendError, Fetched, ListQuery, ListedObject, Listing};
use crate::upstream::client::Timeouts;

/// Most bytes of a listing answer read (a page of 1000 keys of 1 KiB each, and the XML).
pub const MAX_LIST_BODY: usize = 4 << 20;
/// S3's own cap on `max-keys`.
const MAX_KEYS: usize = 1000;

/// An S3-compatible store: names mapped through the templates, requests signed, answers
/// mapped by the shared `Upstream`.
pub struct S3Backend {
    names: S3Names,
    upstream: Upstream,
    /// The last readiness answer and when it was found.
    readiness: std::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

/// How long a readiness answer is reused: `/_keyhole/readyz` needs no signature, so a flood
/// of probes costs the store at most one ListBuckets this often.
const READY_FOR: Duration = Duration::from_secs(1);

impl S3Backend {
    pub fn new(store: &S3Store) -> Result<S3Backend, BackendError> {
        let timeouts = Timeouts {
            connect: store.connect_timeout,
            head: store.response_timeout,
            // A store that sends no byte of a body for as long as it may take to answer.
            body_idle: store.response_timeout,
        };
        Ok(S3Backend {
            names: S3Names::new(store),
            upstream: Upstream::new(STORE_NAME, timeouts)?,
            readiness: std::sync::Mutex::new(None),
        })
    }

    /// One signed GET or HEAD with the request's Range and preconditions. A name that can be
    /// no bucket or key of this store is no object of it.
    pub async fn fetch(
        &self,
        project: &str,
        container: &str,
        object: &str,
        ask: Ask<'_>,
    ) -> Result<Fetched, BackendError> {
        let req = self
            .names
            .object_request(
                ask.head,
                project,
                container,
                object,
                crate::clock::unix_now(),
            )
            .map_err(|NoSuchName| BackendError::NotFound)?;
        self.upstream.fetch(req, &ask).await
    }

    /// One page of ListObjectsV2.
    pub async fn list(
        &self,
        project: &str,
        container: &str,
        query: &ListQuery<'_>,
    ) -> Result<Listing, BackendError> {
        let (req, frame) = self
            .names
            .list_request(project, container, query, crate::clock::unix_now())
            .map_err(|NoSuchName| BackendError::NotFound)?;
        let (_, body) = self.upstream.send(req, MAX_LIST_BODY).await?;
        frame
            .read(&body)
            .map_err(|e| self.bad_answer("ListObjectsV2", e))
    }

    /// The containers of `project` among the store's buckets (see `S3Names::containers_of`).
    pub async fn containers(&self, project: &str) -> Result<Vec<String>, BackendError> {
        let buckets = self.buckets().await?;
        Ok(self.names.containers_of(project, &buckets))
    }

    /// Ready when a signed ListBuckets is answered: the store is up and takes Keyhole's
    /// credentials.
    pub async fn ready(&self) -> Result<(), String> {
        let cached = |r: &Option<(Instant, Result<(), String>)>| match r {
            Some((at, answer)) if at.elapsed() < READY_FOR => Some(answer.clone()),
            _ => None,
        };
        if let Some(answer) = self.readiness.lock().ok().and_then(|r| cached(&r)) {
            return answer;
        }
        let answer = self.buckets().await.map(drop).map_err(|e| e.to_string());
        if let Ok(mut r) = self.readiness.lock() {
            *r = Some((Instant::now(), answer.clone()));
        }
        answer
    }

    async fn buckets(&self) -> Result<Vec<String>, BackendError> {
        let req = self
            .names
            .list_buckets_request(crate::clock::unix_now())
            .map_err(|NoSuchName| self.bad_answer("ListBuckets", BadAnswer("no request".into())))?;
        let (_, body) = self.upstream.send(req, MAX_LIST_BODY).await?;
        read_buckets(&body).map_err(|e| self.bad_answer("ListBuckets", e))
    }

    fn bad_answer(&self, what: &str, e: BadAnswer) -> BackendError {
        BackendError::Unavailable {
            store: self.upstream.name().to_string(),
            detail: format!("the store's {what} answer is unreadable: {}", e.0),
            retry: false,
        }
    }
}

/// Where a store is and how to sign for it: everything a request is built from.
#[derive(Debug, Clone)]
pub struct S3Names {
    store: S3Store,
}

/// Why no request could be built: the names cannot be an upstream bucket or key.
#[derive(Debug, PartialEq, Eq)]
pub struct NoSuchName;

impl S3Names {
    pub fn new(store: &S3Store) -> S3Names {
        S3Names {
            store: store.clone(),
        }
    }

    pub fn store(&self) -> &S3Store {
        &self.store
    }

    /// The upstream bucket of a container, if it can be one. The container is the client's
    /// word with `any_container`, so it is checked here whatever the caller did.
    // SECURITY: in virtual style the bucket becomes part of the Host: only a DNS name's
    // letters; in path style it is one encoded segment, never `.` or `..`, which a store
    // could resolve to another bucket.
    pub fn bucket(&self, project: &str, container: &str) -> Result<String, NoSuchName> {
        if !super::valid_segment(project) || !super::valid_segment(container) {
            return Err(NoSuchName);
        }
        let bucket = self.store.bucket.render(project, container, "");
        let ok = match self.store.style {
            S3Style::Path => super::valid_segment(&bucket) && bucket.len() <= 255,
            S3Style::Virtual => dns_bucket(&bucket),
        };
        ok.then_some(bucket).ok_or(NoSuchName)
    }

    /// The upstream key of an object, if it can be one: a plain name (see
    /// `valid_object_name`), so no `.`/`..` segment reaches a store that might resolve it.
    pub fn key(&self, project: &str, container: &str, object: &str) -> Result<String, NoSuchName> {
        if !super::valid_location(project, container, object) {
            return Err(NoSuchName);
        }
        let key = self.store.object.render(project, container, object);
        super::valid_object_name(&key)
            .then_some(key)
            .ok_or(NoSuchName)
    }

    /// The key prefix of every object of a container, and the text after `{object}`.
    fn key_frame(&self, project: &str, container: &str) -> (String, String) {
        const MARK: &str = "\u{0}";
        let whole = self.store.object.render(project, container, MARK);
        match whole.split_once(MARK) {
            Some((before, after)) => (before.to_string(), after.to_string()),
            None => (whole, String::new()),
        }
    }

    /// A signed bodiless request: `bucket` (None: the service, for ListBuckets), the decoded
    /// `key` (empty: the bucket itself) and an encoded `query`.
    pub fn request(
        &self,
        method: Method,
        bucket: Option<&str>,
        key: &str,
        query: &str,
        now: u64,
    ) -> Result<Request<()>, NoSuchName> {
        let endpoint = &self.store.endpoint;
        let scheme = endpoint.scheme_str().unwrap_or("http");
        let mut host = host_of(endpoint);
        let mut path = String::with_capacity(key.len() + 64);
        match (bucket, self.store.style) {
            (Some(b), S3Style::Path) => {
                path.push('/');
                uri_encode_into(&mut path, b.as_bytes(), false);
                path.push('/');
            }
            (Some(b), S3Style::Virtual) => {
                host = format!("{b}.{host}");
                path.push('/');
            }
            (None, _) => path.push('/'),
        }
        uri_encode_into(&mut path, key.as_bytes(), true);
        let target = match query {
            "" => path.clone(),
            q => format!("{path}?{q}"),
        };
        let uri: Uri = format!("{scheme}://{host}{target}")
            .parse()
            .map_err(|_| NoSuchName)?;
        let auth = HeaderAuth {
            method: method.as_str(),
            host: &host,
            path: &path,
            query,
            access_key: &self.store.access_key,
            secret: self.store.secret_key.expose(),
            region: &self.store.region,
            now,
        }
        .sign();
        let value = |s: &str| HeaderValue::from_str(s).map_err(|_| NoSuchName);
        let mut authorization = value(&auth.authorization)?;
        authorization.set_sensitive(true);
        Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, value(&host)?)
            .header("authorization", authorization)
            .header("x-amz-date", value(&auth.amz_date)?)
            .header("x-amz-content-sha256", value(&auth.content_sha256)?)
            .body(())
            .map_err(|_| NoSuchName)
    }

    /// The signed GET or HEAD of an object.
    pub fn object_request(
        &self,
        head: bool,
        project: &str,
        container: &str,
        object: &str,
        now: u64,
    ) -> Result<Request<()>, NoSuchName> {
        let bucket = self.bucket(project, container)?;
        let key = self.key(project, container, object)?;
        let method = if head { Method::HEAD } else { Method::GET };
        self.request(method, Some(&bucket), &key, "", now)
    }

    /// The signed ListObjectsV2 for one page of `query`, and how to read its answer.
    pub fn list_request(
        &self,
        project: &str,
        container: &str,
        query: &ListQuery<'_>,
        now: u64,
    ) -> Result<(Request<()>, ListFrame), NoSuchName> {
        let bucket = self.bucket(project, container)?;
        let (before, after) = self.key_frame(project, container);
        let mut q = String::from("list-type=2");
        let mut param = |name: &str, value: &str| {
            q.push('&');
            q.push_str(name);
            q.push('=');
            uri_encode_into(&mut q, value.as_bytes(), false);
        };
        if query.delimiter {
            param("delimiter", "/");
        }
        // One more than asked: a page is cut only when one more exists, as the fs walk does,
        // and a prefix given last on the previous page may come back first.
        let limit = query.limit.min(MAX_KEYS - 1);
        param("max-keys", &(limit + 1).to_string());
        let prefix = format!("{before}{}", query.prefix);
        if !prefix.is_empty() {
            param("prefix", &prefix);
        }
        if !query.marker.is_empty() {
            param("start-after", &format!("{before}{}", query.marker));
        }
        let req = self.request(Method::GET, Some(&bucket), "", &q, now)?;
        let frame = ListFrame {
            before,
            after,
            marker: query.marker.to_string(),
            limit,
        };
        Ok((req, frame))
    }

    /// The signed ListBuckets (also what `ready` asks: it needs the endpoint up and the
    /// credentials accepted).
    pub fn list_buckets_request(&self, now: u64) -> Result<Request<()>, NoSuchName> {
        self.request(Method::GET, None, "", "", now)
    }

    /// The containers of `project` among the store's buckets: the names the bucket
    /// template maps back to a valid container. None when the template names one fixed
    /// bucket for every container (no `{container}` in it).
    pub fn containers_of(&self, project: &str, buckets: &[String]) -> Vec<String> {
        if self.store.bucket.count(Placeholder::Container) == 0 {
            return Vec::new();
        }
        let mut out: Vec<String> = buckets
            .iter()
            .filter_map(|b| self.store.bucket.container_of(project, b))
            .filter(|c| super::valid_segment(c))
            // Only names whose bucket is the one this container would be fetched from.
            .filter(|c| self.bucket(project, c).is_ok_and(|b| buckets.contains(&b)))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A bucket name usable as a DNS label in a Host header: lowercase letters, digits, `-`
/// and `.` between labels, 3 to 63 characters.
fn dns_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
}

/// `host[:port]` as hyper would send it: the port only when it is not the scheme's default.
fn host_of(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    match uri.port_u16() {
        Some(p) if p != default => format!("{host}:{p}"),
        _ => host.to_string(),
    }
}

/// What a listing answer is read against: the key text around `{object}`, the page's marker
/// and its size.
#[derive(Debug, Clone)]
pub struct ListFrame {
    before: String,
    after: String,
    marker: String,
    limit: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    contents: Vec<XmlObject>,
    #[serde(default)]
    common_prefixes: Vec<XmlPrefix>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlObject {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    last_modified: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlPrefix {
    prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAllMyBucketsResult {
    #[serde(default)]
    buckets: XmlBuckets,
}

#[derive(Debug, Default, Deserialize)]
struct XmlBuckets {
    #[serde(default, rename = "Bucket")]
    bucket: Vec<XmlBucket>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlBucket {
    name: String,
}

/// An answer that is not the XML it should be.
#[derive(Debug)]
pub struct BadAnswer(pub String);

impl ListFrame {
    /// One page of the listing from a ListObjectsV2 answer: keys mapped back to object
    /// names (those the key template could not have made are left out), objects and
    /// prefixes merged in name order, at most `limit`, `next_marker` set when more follow.
    pub fn read(&self, xml: &[u8]) -> Result<Listing, BadAnswer> {
        let text = std::str::from_utf8(xml).map_err(|_| BadAnswer("not UTF-8".into()))?;
        let answer: ListBucketResult =
            quick_xml::de::from_str(text).map_err(|e| BadAnswer(e.to_string()))?;
        let mut items: Vec<(String, Option<ListedObject>)> = Vec::new();
        for o in answer.contents {
            let Some(name) = self.name_of(&o.key) else {
                continue;
            };
            if !super::valid_object_name(&name) || name <= self.marker {
                continue;
            }
            let modified = parse_time(&o.last_modified).unwrap_or(SystemTime::UNIX_EPOCH);
            let object = ListedObject {
                name: name.clone(),
                bytes: o.size,
                modified,
            };
            items.push((name, Some(object)));
        }
        for p in answer.common_prefixes {
            let Some(name) = p.prefix.strip_prefix(&self.before) else {
                continue;
            };
            // A prefix given last on the previous page comes back first on this one; one
            // that no object name could start with is the store's, not a folder.
            let folder = name.strip_suffix('/').unwrap_or(name);
            if !super::valid_object_name(folder)
                || name <= self.marker.as_str()
                || self.marker.starts_with(name)
            {
                continue;
            }
            items.push((name.to_string(), None));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let mut page = Listing::default();
        let more = items.len() > self.limit || answer.is_truncated;
        items.truncate(self.limit);
        if more {
            page.next_marker = items.last().map(|(n, _)| n.clone());
        }
        for (name, object) in items {
            match object {
                Some(o) => page.objects.push(o),
                None => page.prefixes.push(name),
            }
        }
        Ok(page)
    }

    /// The object name a key stands for, if the key template could have made it.
    fn name_of(&self, key: &str) -> Option<String> {
        let name = key.strip_prefix(&self.before)?.strip_suffix(&self.after)?;
        Some(name.to_string())
    }
}

/// The bucket names of a ListBuckets answer.
pub fn read_buckets(xml: &[u8]) -> Result<Vec<String>, BadAnswer> {
    let text = std::str::from_utf8(xml).map_err(|_| BadAnswer("not UTF-8".into()))?;
    let answer: ListAllMyBucketsResult =
        quick_xml::de::from_str(text).map_err(|e| BadAnswer(e.to_string()))?;
    Ok(answer.buckets.bucket.into_iter().map(|b| b.name).collect())
}

/// S3's `LastModified` (`2009-10-12T17:50:30.000Z`).
fn parse_time(text: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The store's name in log lines and errors: its kind, never its URL or a credential.
const STORE_NAME: &str = "s3";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, Template};

    fn store(style: S3Style, bucket: &str, object: &str) -> S3Names {
        let all = [
            Placeholder::Project,
            Placeholder::Container,
            Placeholder::Object,
        ];
        S3Names::new(&S3Store {
            endpoint: "http://s3.test:8333".parse().unwrap(),
            region: "us-east-1".into(),
            access_key: "AK".into(),
            secret_key: Secret::new("SK"),
            style,
            bucket: Template::parse(bucket, &all[..2]).unwrap(),
            object: Template::parse(object, &all).unwrap(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
        })
    }

    #[test]
    fn a_path_style_url_has_the_bucket_and_the_aws_encoded_key_and_is_signed() {
        let s = store(S3Style::Path, "{container}", "{object}");
        let r = s
            .object_request(false, "p1", "c", "a b/ti\u{1ebf}ng+#?.txt", 1_369_353_600)
            .unwrap();
        assert_eq!(r.method(), Method::GET);
        assert_eq!(
            r.uri().to_string(),
            "http://s3.test:8333/c/a%20b/ti%E1%BA%BFng%2B%23%3F.txt"
        );
        assert_eq!(r.headers()["host"], "s3.test:8333");
        assert_eq!(r.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        assert_eq!(r.headers()["x-amz-date"], "20130524T000000Z");
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="), "{auth}");
        assert!(r.headers()["authorization"].is_sensitive());
        let head = s.object_request(true, "p1", "c", "x", 0).unwrap();
        assert_eq!(head.method(), Method::HEAD);
    }

    #[test]
    fn a_virtual_style_url_puts_the_bucket_in_the_host() {
        let s = store(S3Style::Virtual, "kh-{project}-{container}", "{object}");
        let r = s.object_request(false, "p1", "media", "x/y", 0).unwrap();
        assert_eq!(r.uri().to_string(), "http://kh-p1-media.s3.test:8333/x/y");
        assert_eq!(r.headers()["host"], "kh-p1-media.s3.test:8333");
        // A container that would not be a DNS name never reaches the Host header.
        for bad in ["Media", "a_b", "x.evil.com:80#", "a..b", "a-", "a/b"] {
            assert_eq!(s.bucket("p1", bad), Err(NoSuchName), "{bad}");
        }
    }

    #[test]
    fn names_that_are_no_plain_bucket_or_key_are_refused() {
        let s = store(S3Style::Path, "{container}", "{project}/{object}");
        for (c, o) in [
            ("..", "x"),
            (".", "x"),
            ("c", "../x"),
            ("c", "a//b"),
            ("c", ""),
        ] {
            assert!(s.object_request(false, "p1", c, o, 0).is_err(), "{c} {o}");
        }
        assert_eq!(s.key("p1", "c", "a/b").unwrap(), "p1/a/b");
    }

    #[test]
    fn the_default_port_is_left_out_of_the_host_as_hyper_does() {
        let mut s = store(S3Style::Path, "{container}", "{object}");
        s.store.endpoint = "https://s3.test:443".parse().unwrap();
        let r = s.object_request(false, "p", "c", "o", 0).unwrap();
        assert_eq!(r.headers()["host"], "s3.test");
    }

    #[test]
    fn a_listing_asks_for_the_prefix_and_marker_under_the_key_template() {
        let s = store(S3Style::Path, "bkt", "{container}/{object}");
        let q = ListQuery {
            prefix: "a b/",
            delimiter: true,
            marker: "a b/c",
            limit: 2,
        };
        let (r, _) = s.list_request("p1", "c", &q, 0).unwrap();
        assert_eq!(
            r.uri().to_string(),
            "http://s3.test:8333/bkt/?list-type=2&delimiter=%2F&max-keys=3&prefix=c%2Fa%20b%2F&start-after=c%2Fa%20b%2Fc"
        );
    }

    #[test]
    fn a_listing_answer_becomes_one_page_in_name_order() {
        let s = store(S3Style::Path, "bkt", "{container}/{object}");
        let q = ListQuery {
            prefix: "",
            delimiter: true,
            marker: "d/",
            limit: 2,
        };
        let (_, frame) = s.list_request("p1", "c", &q, 0).unwrap();
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>
<Contents><Key>c/e.txt</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>"x"</ETag><Size>7</Size></Contents>
<Contents><Key>c/g &amp; h</Key><LastModified>2024-01-02T03:04:05Z</LastModified><Size>1</Size></Contents>
<CommonPrefixes><Prefix>c/d/</Prefix></CommonPrefixes>
<CommonPrefixes><Prefix>c/e//</Prefix></CommonPrefixes>
<CommonPrefixes><Prefix>c/../</Prefix></CommonPrefixes>
<CommonPrefixes><Prefix>c/f/</Prefix></CommonPrefixes>
<IsTruncated>false</IsTruncated></ListBucketResult>"#;
        let page = frame.read(xml).unwrap();
        let names: Vec<&str> = page.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["e.txt"]);
        assert_eq!(page.prefixes, ["f/"]);
        assert_eq!(page.next_marker.as_deref(), Some("f/"));
        assert_eq!(page.objects[0].bytes, 7);
        assert_eq!(
            page.objects[0].modified,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645)
        );
        assert!(frame.read(b"<nope").is_err());
        assert!(frame.read(b"\xff").is_err());
    }

    #[test]
    fn buckets_map_back_to_the_containers_the_template_would_fetch_from() {
        let s = store(S3Style::Path, "kh-{project}-{container}", "{object}");
        let xml = br#"<ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets>
<Bucket><Name>kh-p1-photos</Name><CreationDate>2024-01-01T00:00:00Z</CreationDate></Bucket>
<Bucket><Name>kh-p2-docs</Name></Bucket><Bucket><Name>other</Name></Bucket>
<Bucket><Name>kh-p1-a</Name></Bucket></Buckets></ListAllMyBucketsResult>"#;
        let buckets = read_buckets(xml).unwrap();
        assert_eq!(s.containers_of("p1", &buckets), ["a", "photos"]);
        assert!(read_buckets(b"<ListAllMyBucketsResult/>")
            .unwrap()
            .is_empty());
        let fixed = store(S3Style::Path, "one", "{container}/{object}");
        assert!(fixed.containers_of("p1", &buckets).is_empty());
    }
}
