//! Link verification. Each protocol checks its own link and, when it holds, yields a `Grant`:
//! everything the rest of the request may rely on. Nothing after this step re-reads the query.

pub mod s3;
pub mod s3_request;
pub mod sigv2;
pub mod sigv4;
pub mod swift;

pub use crate::grant::{Disposition, Grant, Overrides};
use crate::outcome::Reason;

/// S3's longest presigned-URL lifetime (SigV4's own cap): seven days.
pub const MAX_S3_LIFETIME: u64 = 604_800;

/// The methods a link may have been signed for, for a request of `method`: a HEAD may use a
/// GET signature (Swift, SigV4 and V2 all allow it), a GET only its own. `None` for any other
/// method, which no link serves.
pub fn signed_methods(method: &http::Method) -> Option<&'static [&'static str]> {
    match *method {
        http::Method::GET => Some(&["GET"]),
        http::Method::HEAD => Some(&["HEAD", "GET"]),
        _ => None,
    }
}

/// Why a request was refused, shaped for its protocol's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Swift: one 401 for every failure, whatever the reason (which only the log sees).
    Swift(Reason),
    /// S3: AWS's error code, message and details (for `SignatureDoesNotMatch`, what we signed).
    S3(Box<s3::S3Error>),
}

impl Denied {
    /// Why, for the log and the metrics.
    pub fn reason(&self) -> Reason {
        match self {
            Denied::Swift(r) => *r,
            Denied::S3(e) => e.reason,
        }
    }
}
