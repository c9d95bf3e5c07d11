//! The share page at `/_keyhole/ui/`: a static form in front of the management API. Its
//! assets are compiled in, so the page works with any backend and needs no files on disk.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;

const INDEX: &str = include_str!("../assets/ui/index.html");
const APP: &str = include_str!("../assets/ui/app.js");
const STYLE: &str = include_str!("../assets/ui/style.css");
const QR: &str = include_str!("../assets/ui/qr.js");

/// The asset at `name` (the path after `/_keyhole/ui/`).
pub fn page(name: &str) -> Response<Body> {
    let (body, ctype) = match name {
        "" | "index.html" => (INDEX, "text/html; charset=utf-8"),
        "app.js" => (APP, "text/javascript; charset=utf-8"),
        "qr.js" => (QR, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return crate::reply::text(StatusCode::NOT_FOUND, "404 Not Found\n"),
    };
    let mut r = Response::new(Body::full(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // Only our own script and style; the page never frames or is framed.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `/`: a redirect to the share page, relative so that it stays below a proxy's mount.
pub fn home() -> Response<Body> {
    let mut r = crate::reply::text(StatusCode::FOUND, "the share page is at /_keyhole/ui/\n");
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("_keyhole/ui/"));
    r
}
