//! Turning a granted, opened object into the response: status, headers and body.

pub mod cors;
pub mod disposition;
pub use crate::http_rules::{conditional, multipart, range};
pub use crate::media_type;
pub mod sandbox;

use std::sync::Mutex;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::backend::{Contents, Etag, Fetched, ObjectMeta, Selection};
use crate::body::{Body, Part};
use crate::clock;
use crate::grant::Grant;

/// Content-Type from the object name; `text/*` is declared UTF-8 unless the type says more.
/// A guess that is not exactly one media type is served as `application/octet-stream`.
pub fn content_type(object: &str) -> HeaderValue {
    const UNKNOWN: HeaderValue = HeaderValue::from_static("application/octet-stream");
    let guessed = match mime_guess::from_path(object).first_raw() {
        Some(t) if t.starts_with("text/") => HeaderValue::from_str(&format!("{t}; charset=utf-8")),
        Some(t) => HeaderValue::from_str(t),
        None => return UNKNOWN,
    };
    match guessed {
        Ok(v) if media_type::MediaType::parse(v.as_bytes()).is_some() => v,
        _ => UNKNOWN,
    }
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// A grant with the response headers that depend on it alone, built once when the link is
/// verified (and kept with it in the link cache) rather than on every request.
pub struct Prepared {
    pub grant: Grant,
    content_type: HeaderValue,
    /// The link names the type (`response-content-type`): it wins over the store's.
    type_overridden: bool,
    /// SECURITY: anything but a passive type must not run script on our origin.
    sandbox: bool,
    disposition: HeaderValue,
    /// Fixed Cache-Control; `None` means "counts down to the link's expiry".
    cache_control: Option<HeaderValue>,
    expires: Option<HeaderValue>,
    content_language: Option<HeaderValue>,
    content_encoding: Option<HeaderValue>,
    recent: Mutex<Recent>,
}

/// The header values that follow from the object's version and from the clock, kept from
/// this link's last response: a link fetched again and again (a player seeking, a busy
/// download page) reuses them rather than formatting and allocating them anew.
#[derive(Default)]
struct Recent {
    /// An ETag and date with their ETag and Last-Modified values.
    version: Option<((Etag, Option<std::time::SystemTime>), Validators)>,
    /// A second with its `private, max-age=…` value.
    max_age: Option<(u64, Option<HeaderValue>)>,
}

#[derive(Clone)]
struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl Prepared {
    pub fn new(grant: Grant) -> Prepared {
        let o = &grant.overrides;
        let value = |v: &Option<String>| v.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
        let content_type = value(&o.content_type).unwrap_or_else(|| content_type(&grant.object));
        let disposition = value(&o.content_disposition).unwrap_or_else(|| {
            let name = grant
                .disposition
                .filename
                .as_deref()
                .unwrap_or_else(|| disposition::default_filename(&grant.object));
            disposition::content_disposition(grant.disposition.inline, name)
        });
        // Caches never outlive the link: a reload after expiry must come back to us and fail.
        let cache_control = match (&o.cache_control, grant.expires_at) {
            (Some(_), _) => value(&o.cache_control),
            (None, Some(_)) => None,
            (None, None) => Some(HeaderValue::from_static("public, no-cache")),
        };
        let expires = match (&o.expires, grant.expires_at) {
            (Some(_), _) => value(&o.expires),
            // A link may outlive year 9999 (Swift takes any integer): say its last second.
            (None, Some(exp)) => http_date(exp),
            (None, None) => None,
        };
        Prepared {
            sandbox: sandbox::needs_sandbox(content_type.as_bytes()),
            type_overridden: o.content_type.is_some(),
            content_type,
            disposition,
            cache_control,
            expires,
            content_language: value(&o.content_language),
            content_encoding: value(&o.content_encoding),
            recent: Mutex::default(),
            grant,
        }
    }

    /// `make()`, or the value kept from the last call for the same `key`. A busy lock is
    /// never waited on: the caller makes its own value instead.
    fn remember<K: Clone + PartialEq, V: Clone>(
        &self,
        slot: impl FnOnce(&mut Recent) -> &mut Option<(K, V)>,
        key: K,
        make: impl FnOnce() -> V,
    ) -> V {
        let Ok(mut recent) = self.recent.try_lock() else {
            return make();
        };
        match slot(&mut recent) {
            Some((k, v)) if *k == key => v.clone(),
            kept => {
                let v = make();
                *kept = Some((key, v.clone()));
                v
            }
        }
    }

    fn validators(&self, meta: &ObjectMeta) -> Validators {
        let make = || Validators {
            etag: meta.etag.as_ref().and_then(Etag::header_value),
            last_modified: meta.modified.and_then(|m| http_date(clock::http_secs(m))),
        };
        match &meta.etag {
            // The tag covers the date: the same tag, the same two values.
            Some(etag) => self.remember(|r| &mut r.version, (etag.clone(), meta.modified), make),
            None => make(),
        }
    }

    /// `private, max-age=<seconds until the link expires>`.
    fn max_age(&self, now: u64) -> Option<HeaderValue> {
        self.remember(
            |r| &mut r.max_age,
            now,
            || {
                let left = clock::max_age(self.grant.expires_at.unwrap_or(0), now);
                HeaderValue::from_str(&format!("private, max-age={left}")).ok()
            },
        )
    }
}

fn http_date(unix: u64) -> Option<HeaderValue> {
    HeaderValue::try_from(clock::http_date(unix)).ok()
}

/// The type to send and whether it needs the sandbox: the link's override, else the store's
/// own type, else the guess from the name made with the grant.
fn media_type(p: &Prepared, meta: &ObjectMeta) -> (HeaderValue, bool) {
    const UNKNOWN: HeaderValue = HeaderValue::from_static("application/octet-stream");
    match &meta.content_type {
        Some(t) if !p.type_overridden => {
            let t = match media_type::MediaType::parse(t.as_bytes()) {
                Some(_) => t.clone(),
                None => UNKNOWN,
            };
            let sandbox = sandbox::needs_sandbox(t.as_bytes());
            (t, sandbox)
        }
        _ => (p.content_type.clone(), p.sandbox),
    }
}

/// The headers every representation of this object carries, whatever the status.
fn representation_headers(p: &Prepared, meta: &ObjectMeta, now: u64, headers: &mut HeaderMap) {
    let (content_type, sandbox) = media_type(p, meta);
    if sandbox {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, p.disposition.clone());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let v = p.validators(meta);
    let cache_control = match &p.cache_control {
        Some(cc) => Some(cc.clone()),
        None => p.max_age(now),
    };
    let optional = [
        (header::ETAG, v.etag.as_ref()),
        (header::LAST_MODIFIED, v.last_modified.as_ref()),
        (header::CACHE_CONTROL, cache_control.as_ref()),
        (header::EXPIRES, p.expires.as_ref()),
        (
            header::CONTENT_LANGUAGE,
            p.content_language
                .as_ref()
                .or(meta.content_language.as_ref()),
        ),
        (
            header::CONTENT_ENCODING,
            p.content_encoding
                .as_ref()
                .or(meta.content_encoding.as_ref()),
        ),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            headers.insert(name, v.clone());
        }
    }
}

/// Headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5): the validators and
/// what lets a cache refresh its copy's lifetime.
const NOT_MODIFIED_KEEPS: [header::HeaderName; 4] = [
    header::ETAG,
    header::LAST_MODIFIED,
    header::CACHE_CONTROL,
    header::EXPIRES,
];

fn small(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The answer to a GET or HEAD of an object the request may read, from what the backend
/// selected. HEAD gets exactly GET's status and headers, without a body.
pub fn respond(prepared: &Prepared, fetched: Fetched, head: bool, now: u64) -> Response<Body> {
    let Fetched {
        meta,
        selection,
        contents,
    } = fetched;
    let len = meta.len;
    let mut headers = HeaderMap::with_capacity(16);
    representation_headers(prepared, &meta, now, &mut headers);
    let (status, parts, length) = match selection {
        Selection::Whole => (
            StatusCode::OK,
            vec![Part::Range { start: 0, end: len }],
            len,
        ),
        Selection::Single(r) => {
            set(
                &mut headers,
                header::CONTENT_RANGE,
                &range::content_range(&r, len),
            );
            let length = r.end - r.start;
            let part = Part::Range {
                start: r.start,
                end: r.end,
            };
            (StatusCode::PARTIAL_CONTENT, vec![part], length)
        }
        Selection::Multi(ranges) => {
            let boundary = multipart::boundary();
            let part_type = headers
                .get(header::CONTENT_TYPE)
                .map_or(&b"application/octet-stream"[..], |v| v.as_bytes());
            let (parts, length) = multipart::parts(&ranges, len, part_type, &boundary);
            set(
                &mut headers,
                header::CONTENT_TYPE,
                &format!("multipart/byteranges; boundary={boundary}"),
            );
            // The type now sent is not a passive one, whatever the parts are.
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox"),
            );
            (StatusCode::PARTIAL_CONTENT, parts, length)
        }
        Selection::Unsatisfiable => {
            let mut r = small(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "416 Range Not Satisfiable\n",
            );
            set(
                r.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{len}"),
            );
            r.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return r;
        }
        Selection::NotModified => {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            for name in NOT_MODIFIED_KEEPS {
                if let Some(v) = headers.remove(&name) {
                    r.headers_mut().insert(name, v);
                }
            }
            return r;
        }
        Selection::PreconditionFailed => {
            return small(StatusCode::PRECONDITION_FAILED, "412 Precondition Failed\n")
        }
    };
    // hyper writes Content-Length from a body's exact size without formatting a header
    // value; a HEAD has no body to tell it.
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let body = match contents {
        _ if head || length == 0 => Body::Empty,
        Contents::Seekable(object) => object.body(parts),
        Contents::Stream(body) => body,
        // A backend that selected bytes gives them; one that did not breaks its contract,
        // and an empty body under a non-zero length is cut by the connection, never sent
        // as a short success.
        Contents::None => Body::stream(Missing(length)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// A body that fails at once: bytes were promised and there are none.
struct Missing(u64);

impl crate::body::Source for Missing {
    fn poll_frame(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, crate::body::BoxError>>>
    {
        std::task::Poll::Ready(Some(Err("the backend gave no bytes".into())))
    }

    fn remaining(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn meta(mtime: u64, len: u64) -> ObjectMeta {
        ObjectMeta {
            modified: Some(UNIX_EPOCH + Duration::from_secs(mtime)),
            etag: Some(Etag::of_file(7, i128::from(mtime) * 1_000_000_000, len)),
            ..ObjectMeta::of_len(len)
        }
    }

    #[test]
    fn remembered_header_values_follow_the_object_and_the_clock() {
        let mut grant = Grant::public("p", "c", "o.bin");
        grant.expires_at = Some(1_000);
        let p = Prepared::new(grant);
        let value = |v: Option<HeaderValue>| v.unwrap().to_str().unwrap().to_string();

        let first = p.validators(&meta(100, 5));
        assert_eq!(value(first.etag), "\"7-174876e800-5\"");
        assert_eq!(value(first.last_modified), "Thu, 01 Jan 1970 00:01:40 GMT");
        // The file changed: a new tag and date, though the link is the same.
        let changed = p.validators(&meta(200, 6));
        assert_eq!(value(changed.etag), "\"7-2e90edd000-6\"");
        assert_eq!(
            value(changed.last_modified),
            "Thu, 01 Jan 1970 00:03:20 GMT"
        );
        assert_eq!(
            value(p.validators(&meta(200, 6)).etag),
            "\"7-2e90edd000-6\""
        );

        assert_eq!(value(p.max_age(400)), "private, max-age=600");
        assert_eq!(value(p.max_age(400)), "private, max-age=600");
        assert_eq!(value(p.max_age(401)), "private, max-age=599");
        assert_eq!(value(p.max_age(2_000)), "private, max-age=0");
    }
}
