//! The plain-text responses every layer answers with (health, refusals, 404s), so that none
//! of them has to reach into the request handler for one.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;

/// A `text/plain` response with a fixed body.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
