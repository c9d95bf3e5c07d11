//! CORS for shared objects, as each container's `cors_origins` allows, so a web app on
//! another origin can `fetch()` a link or play it in a `<video>`. Links carry their
//! authority in the URL and only GET/HEAD are served, so CORS here decides who may *read*
//! the answer, never who may act.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;

/// Response headers a cross-origin script may read beyond the CORS-safelisted ones: what a
/// download helper or a player needs (name, size, position, validators).
pub const EXPOSE_HEADERS: &str =
    "Content-Disposition, Content-Range, Content-Length, ETag, Accept-Ranges, Last-Modified";

/// Request headers allowed when a preflight names none we can echo.
const ALLOW_HEADERS: &str = "Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, Cache-Control";

/// How long a browser may cache a preflight answer (Chromium caps it at two hours).
const MAX_AGE: &str = "3600";

/// Is `origin` one of `allowed` (`"*"` allows every origin)?
pub fn allows(allowed: &[String], origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
}

/// Adds CORS to the answer of a GET/HEAD on a container whose CORS list is `allowed`: the
/// origin echoed and the exposed headers for an allowed origin, nothing for any other, and
/// `Vary: Origin` whenever the answer depends on it so shared caches keep them apart.
pub fn decorate(allowed: &[String], request: &HeaderMap, response: &mut HeaderMap) {
    if allowed.is_empty() {
        return;
    }
    response.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = request.get(header::ORIGIN) else {
        return;
    };
    if allows(allowed, origin) {
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        response.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

/// A comma-separated list of header names, as sent in Access-Control-Request-Headers.
fn is_token_list(v: &[u8]) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    v.split(|&b| b == b',').all(|name| {
        let name = name.trim_ascii();
        !name.is_empty() && name.iter().all(|&b| tchar(b))
    })
}

fn refused() -> Response<Body> {
    let mut r = Response::new(Body::full(
        "403 Forbidden: cross-origin request not allowed\n",
    ));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The answer to an `OPTIONS` on an object, given before and without any signature check (a
/// preflight never carries the link's credentials in a form we could check). `allowed` is the
/// container's CORS list, `None` when the path names no container we can tell.
pub fn preflight(allowed: Option<&[String]>, request: &HeaderMap) -> Response<Body> {
    let Some(origin) = request.get(header::ORIGIN) else {
        // Not a CORS preflight: say what the resource supports.
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NO_CONTENT;
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return r;
    };
    let allowed = allowed.unwrap_or(&[]);
    let method_ok = request
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .is_some_and(|m| m.as_bytes() == b"GET" || m.as_bytes() == b"HEAD");
    if !allows(allowed, origin) || !method_ok {
        return refused();
    }
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD"),
    );
    // Any request header may come along: the answer is read-only and authority is in the URL,
    // so echoing what the page asks for (Range, If-*, an SDK's extras) costs nothing.
    let asked = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| is_token_list(v.as_bytes()));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked
            .cloned()
            .unwrap_or(HeaderValue::from_static(ALLOW_HEADERS)),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    h.append(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn origins_match_exactly_or_by_star() {
        let list = origins(&["https://app.example.com"]);
        assert!(allows(
            &list,
            &HeaderValue::from_static("https://app.example.com")
        ));
        assert!(!allows(
            &list,
            &HeaderValue::from_static("https://app.example.com.evil")
        ));
        assert!(!allows(
            &list,
            &HeaderValue::from_static("http://app.example.com")
        ));
        assert!(allows(
            &origins(&["*"]),
            &HeaderValue::from_static("https://x")
        ));
        assert!(!allows(&[], &HeaderValue::from_static("https://x")));
    }

    #[test]
    fn a_refused_origin_gets_no_cors_headers_but_vary() {
        let mut req = HeaderMap::new();
        req.insert(header::ORIGIN, HeaderValue::from_static("https://evil"));
        let mut resp = HeaderMap::new();
        decorate(&origins(&["https://app"]), &req, &mut resp);
        assert!(resp.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(resp.get(header::VARY).unwrap(), "Origin");
    }

    #[test]
    fn header_lists_are_echoed_only_when_well_formed() {
        assert!(is_token_list(b"range, if-none-match,x-amz-date"));
        assert!(!is_token_list(b"range,,x"));
        assert!(!is_token_list(b"bad header"));
    }
}
