//! Link verification. Each protocol checks its own link and, when it holds, yields a `Grant`:
//! everything the rest of the request may rely on. Nothing after this step re-reads the query.

pub mod s3;
pub mod s3_request;
pub mod sigv2;
pub mod sigv4;
pub mod swift;

pub use crate::grant::{Disposition, Grant, Overrides};

/// SigV4's own cap on a presigned URL's lifetime: 7 days.
pub const MAX_S3_LIFETIME: u64 = 604_800;

/// Why a request was refused, shaped for its protocol's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Swift: one 401 for every failure.
    Swift,
    /// S3: AWS's error code, message and details (for `SignatureDoesNotMatch`, what we signed).
    S3(Box<s3::S3Error>),
}
