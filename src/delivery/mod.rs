//! Turning a granted, opened object into the response: status, headers and body.

pub mod conditional;
pub mod cors;
pub mod disposition;
pub mod media_type;
pub mod multipart;
pub mod range;
pub mod sandbox;

use std::sync::Mutex;

use conditional::Stop;
use range::Ranges;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::auth::Grant;
use crate::backend::{Etag, Object, ObjectMeta};
use crate::body::{Body, Part};
use crate::clock;

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
    /// An ETag with its ETag and Last-Modified values (the tag covers the mtime).
    version: Option<(Etag, Validators)>,
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
    fn remember<K: Copy + PartialEq, V: Clone>(
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
        self.remember(
            |r| &mut r.version,
            meta.etag,
            || Validators {
                etag: HeaderValue::from_str(meta.etag.text().as_str()).ok(),
                last_modified: http_date(clock::http_secs(meta.modified)),
            },
        )
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

/// The headers every representation of this object carries, whatever the status.
fn representation_headers(p: &Prepared, object: &Object, now: u64, headers: &mut HeaderMap) {
    let meta = &object.meta;
    if p.sandbox {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
    headers.insert(header::CONTENT_TYPE, p.content_type.clone());
    headers.insert(header::CONTENT_DISPOSITION, p.disposition.clone());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let v = p.validators(meta);
    let cache_control = match &p.cache_control {
        Some(cc) => Some(cc.clone()),
        None => p.max_age(now),
    };
    let optional = [
        (header::ETAG, &v.etag),
        (header::LAST_MODIFIED, &v.last_modified),
        (header::CACHE_CONTROL, &cache_control),
        (header::EXPIRES, &p.expires),
        (header::CONTENT_LANGUAGE, &p.content_language),
        (header::CONTENT_ENCODING, &p.content_encoding),
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

/// The answer when a precondition stops the request.
fn stopped(stop: Stop, mut full: HeaderMap) -> Response<Body> {
    match stop {
        Stop::NotModified => {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = stop.status();
            for name in NOT_MODIFIED_KEEPS {
                if let Some(v) = full.remove(&name) {
                    r.headers_mut().insert(name, v);
                }
            }
            r
        }
        Stop::PreconditionFailed => small(stop.status(), "412 Precondition Failed\n"),
    }
}

/// The request headers that can change the answer from a plain 200 with the whole object.
const ASKING: [HeaderName; 6] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::RANGE,
    header::IF_RANGE,
];

/// The response to a GET or HEAD of an object the request may read: conditionals first,
/// then Range, then the bytes. HEAD gets exactly GET's status and headers, without a body.
pub fn respond(
    prepared: &Prepared,
    object: Object,
    method: &Method,
    request: &HeaderMap,
    now: u64,
) -> Response<Body> {
    let meta = &object.meta;
    let len = meta.len;
    // Last-Modified is sent in whole seconds, so conditions compare in whole seconds.
    let modified_secs = clock::http_secs(meta.modified);
    let mut headers = HeaderMap::with_capacity(16);
    representation_headers(prepared, &object, now, &mut headers);

    // Most requests carry no precondition and no Range: one pass over the names they did
    // send spares six lookups of names they did not.
    let ranges = if request.keys().any(|k| ASKING.contains(k)) {
        let etag = meta.etag.text();
        let etag = etag.as_str();
        if let Err(stop) = conditional::evaluate(method, request, etag, modified_secs) {
            return stopped(stop, headers);
        }
        range::from_request(method, request, len, etag, modified_secs)
    } else {
        Ranges::Whole
    };
    let head = method == Method::HEAD;
    let (status, parts, length) = match ranges {
        Ranges::Whole => (
            StatusCode::OK,
            vec![Part::Range { start: 0, end: len }],
            len,
        ),
        Ranges::Single(r) => {
            set(
                &mut headers,
                header::CONTENT_RANGE,
                &range::content_range(&r, len),
            );
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Part::Range {
                    start: r.start,
                    end: r.end,
                }],
                r.end - r.start,
            )
        }
        Ranges::Multi(ranges) => {
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
        Ranges::Unsatisfiable => {
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
    };
    // hyper writes Content-Length from a body's exact size without formatting a header
    // value; a HEAD has no body to tell it.
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let body = if head || length == 0 {
        Body::Empty
    } else {
        object.body(parts)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn meta(mtime: u64, len: u64) -> ObjectMeta {
        ObjectMeta {
            len,
            modified: UNIX_EPOCH + Duration::from_secs(mtime),
            etag: Etag::of_file(7, i128::from(mtime) * 1_000_000_000, len),
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
