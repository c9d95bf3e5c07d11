//! Every way a link request can fail, as a value, and the one place each becomes a response
//! in its protocol's shape: Swift's plain text, AWS's error XML. The request path decides
//! *what* went wrong; only `render` knows what that looks like on the wire.

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::auth::{self, s3::S3Error};
use crate::backend::BackendError;
use crate::body::Body;
use crate::reply::text;
use crate::share::Protocol;

/// A refused or failed link request.
#[derive(Debug)]
pub enum Denied {
    /// Links serve GET and HEAD (and OPTIONS, a preflight) only.
    Method(Protocol, Method),
    /// The link (or the public-container check) did not hold; auth's reason, already in the
    /// shape of its protocol. Counted in the metrics as a refusal.
    Link(auth::Denied),
    /// After the link held, the store could not give the object. Only then may the caller
    /// learn what exists.
    Store {
        protocol: Protocol,
        failure: StoreFailure,
    },
}

/// Why the store could not give a granted object.
#[derive(Debug)]
pub enum StoreFailure {
    /// No such object in a container the config has.
    NoSuchKey(String),
    /// The container is not one the config has (S3 says "no such bucket").
    NoSuchBucket(String),
    /// The store refused (it logged why, once).
    Refused,
    /// The store failed (logged where it happened).
    Failed,
    /// An upstream store could not be reached, broke the exchange or refused Keyhole's own
    /// credentials (logged here): 502.
    BadGateway,
    /// An upstream store did not answer in time (logged here): 504.
    GatewayTimeout,
}

impl Denied {
    /// What a store's failure to open a granted object says. `exists`: the config has the
    /// grant's container.
    pub fn store(
        protocol: Protocol,
        e: &BackendError,
        grant: &crate::grant::Grant,
        exists: bool,
    ) -> Denied {
        let failure = match e {
            BackendError::NotFound if exists => StoreFailure::NoSuchKey(grant.object.clone()),
            BackendError::NotFound => StoreFailure::NoSuchBucket(grant.container.clone()),
            BackendError::Denied => StoreFailure::Refused,
            BackendError::Io(err) => {
                tracing::error!(project = %grant.project, container = %grant.container, error = %err, "backend read failed");
                StoreFailure::Failed
            }
            BackendError::Misconfigured { .. } => {
                tracing::error!(project = %grant.project, container = %grant.container, error = %e, "the store refused keyhole's credentials");
                StoreFailure::BadGateway
            }
            BackendError::Unavailable { .. } => {
                tracing::warn!(project = %grant.project, container = %grant.container, error = %e, "store unavailable");
                StoreFailure::BadGateway
            }
            BackendError::Timeout { .. } => {
                tracing::warn!(project = %grant.project, container = %grant.container, error = %e, "store timed out");
                StoreFailure::GatewayTimeout
            }
        };
        Denied::Store { protocol, failure }
    }

    /// The response, in the shape of the link's protocol.
    pub fn render(&self) -> Response<Body> {
        match self {
            Denied::Method(Protocol::Swift, _) => method_not_allowed(),
            Denied::Method(Protocol::S3, m) => s3_error(&S3Error::method_not_allowed(m.as_str())),
            // Swift's own words; the same for every failure.
            Denied::Link(auth::Denied::Swift) => text(
                StatusCode::UNAUTHORIZED,
                "401 Unauthorized: Temp URL invalid\n",
            ),
            Denied::Link(auth::Denied::S3(e)) => s3_error(e),
            Denied::Store {
                protocol: Protocol::Swift,
                failure,
            } => match failure {
                StoreFailure::NoSuchKey(_) | StoreFailure::NoSuchBucket(_) => {
                    text(StatusCode::NOT_FOUND, "404 Not Found\n")
                }
                StoreFailure::Refused => text(StatusCode::FORBIDDEN, "403 Forbidden\n"),
                StoreFailure::Failed => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 Service Unavailable: the object store failed\n",
                ),
                StoreFailure::BadGateway => text(
                    StatusCode::BAD_GATEWAY,
                    "502 Bad Gateway: the object store failed\n",
                ),
                StoreFailure::GatewayTimeout => text(
                    StatusCode::GATEWAY_TIMEOUT,
                    "504 Gateway Timeout: the object store did not answer in time\n",
                ),
            },
            Denied::Store {
                protocol: Protocol::S3,
                failure,
            } => s3_error(&match failure {
                StoreFailure::NoSuchKey(key) => S3Error::no_such_key(key),
                StoreFailure::NoSuchBucket(bucket) => S3Error::no_such_bucket(bucket),
                StoreFailure::Refused => S3Error::access_denied("Access Denied"),
                StoreFailure::Failed => S3Error::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The object store failed. Please try again.",
                ),
                StoreFailure::BadGateway => S3Error::new(
                    StatusCode::BAD_GATEWAY,
                    "BadGateway",
                    "The object store failed. Please try again.",
                ),
                StoreFailure::GatewayTimeout => S3Error::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "GatewayTimeout",
                    "The object store did not answer in time. Please try again.",
                ),
            }),
        }
    }
}

fn method_not_allowed() -> Response<Body> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed\n");
    r.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    r
}

/// AWS's error XML, with the request id AWS also sends as a header.
pub fn s3_error(e: &S3Error) -> Response<Body> {
    let id = auth::s3::request_id();
    let mut r = Response::new(Body::full(e.xml(&id)));
    *r.status_mut() = e.status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v);
    }
    if e.status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
    }
    r
}
