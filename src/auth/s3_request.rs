//! An S3 request as the verifiers (`sigv4`, `sigv2`) read it, and what a signature proved.
//! Below the dispatcher in `s3`, so the verifiers need not import it.

use http::{HeaderMap, Method};

use crate::config::Project;
use crate::query::Query;

/// An S3 object request, as every verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct S3Request<'a> {
    pub method: &'a Method,
    /// The raw request path as the client sent and signed it, `public_url`'s path included.
    pub signed_path: &'a str,
    pub bucket: &'a str,
    /// The decoded object key.
    pub key: &'a str,
    pub virtual_host: bool,
    pub query: Query<'a>,
    pub headers: &'a HeaderMap,
    /// The host the client addressed (the forwarded host behind a trusted proxy).
    pub host: Option<&'a str>,
}

/// What a valid signature proved: whose key signed, and until when the link works.
#[derive(Debug)]
pub struct Verified<'c> {
    pub project: &'c Project,
    pub expires_at: Option<u64>,
}
