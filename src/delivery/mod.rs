//! Turning a granted, opened object into the response: status, headers and body.

pub mod disposition;

use std::time::{Duration, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::auth::Grant;
use crate::backend::Object;
use crate::body::{Body, Part};

/// Content-Type from the object name; `text/*` is declared UTF-8 unless the type says more.
pub fn content_type(object: &str) -> HeaderValue {
    match mime_guess::from_path(object).first_raw() {
        Some(t) if t.starts_with("text/") => HeaderValue::from_str(&format!("{t}; charset=utf-8"))
            .unwrap_or(HeaderValue::from_static("text/plain")),
        Some(t) => HeaderValue::from_static(t),
        None => HeaderValue::from_static("application/octet-stream"),
    }
}

/// Types a browser would run script in when shown on our origin.
fn is_active(content_type: &[u8]) -> bool {
    let t = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii()
        .to_ascii_lowercase();
    t == b"text/html"
        || t == b"application/xhtml+xml"
        || t == b"image/svg+xml"
        || t.ends_with(b"/xml")
        || t.ends_with(b"+xml")
        || t.ends_with(b"javascript")
        || t.ends_with(b"ecmascript")
        || t == b"text/xsl"
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The headers every representation of this object carries, whatever the status.
fn representation_headers(grant: &Grant, object: &Object, now: u64, headers: &mut HeaderMap) {
    let meta = &object.meta;
    let o = &grant.overrides;

    let ctype = match &o.content_type {
        Some(t) => HeaderValue::from_str(t).unwrap_or_else(|_| content_type(&grant.object)),
        None => content_type(&grant.object),
    };
    // SECURITY: a shared HTML/SVG/XML/script file must not run script on our origin.
    if is_active(ctype.as_bytes()) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
    headers.insert(header::CONTENT_TYPE, ctype);

    let disposition = match &o.content_disposition {
        Some(d) => HeaderValue::from_str(d).ok(),
        None => None,
    };
    let disposition = disposition.unwrap_or_else(|| {
        let name = grant
            .disposition
            .filename
            .as_deref()
            .unwrap_or_else(|| disposition::default_filename(&grant.object));
        disposition::content_disposition(grant.disposition.inline, name)
    });
    headers.insert(header::CONTENT_DISPOSITION, disposition);

    if let Ok(v) = HeaderValue::from_str(&meta.etag) {
        headers.insert(header::ETAG, v);
    }
    set(
        headers,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(meta.modified),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    // Caches never outlive the link: a reload after expiry must come back to us and fail.
    match (&o.cache_control, grant.expires_at) {
        (Some(cc), _) => set(headers, header::CACHE_CONTROL, cc),
        (None, Some(exp)) => set(
            headers,
            header::CACHE_CONTROL,
            &format!("private, max-age={}", exp.saturating_sub(now)),
        ),
        (None, None) => set(headers, header::CACHE_CONTROL, "public, no-cache"),
    }
    match (&o.expires, grant.expires_at) {
        (Some(e), _) => set(headers, header::EXPIRES, e),
        (None, Some(exp)) => set(
            headers,
            header::EXPIRES,
            &httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(exp)),
        ),
        (None, None) => {}
    }
    if let Some(l) = &o.content_language {
        set(headers, header::CONTENT_LANGUAGE, l);
    }
    if let Some(e) = &o.content_encoding {
        set(headers, header::CONTENT_ENCODING, e);
    }
}

/// The response to a GET or HEAD of an object the request may read.
pub fn respond(
    grant: &Grant,
    object: Object,
    method: &Method,
    _request: &HeaderMap,
    now: u64,
) -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    representation_headers(grant, &object, now, resp.headers_mut());
    let len = object.meta.len;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    *resp.status_mut() = StatusCode::OK;
    if method != Method::HEAD && len > 0 {
        *resp.body_mut() = object.body(vec![Part::Range { start: 0, end: len }]);
    }
    resp
}
