//! AWS's own conventions, apart from any link or config: the URI encoding both signatures
//! canonicalise with, the SigV4 and V2 signers, and the error XML S3 clients read. The verifiers in `auth` use them, as
//! an upstream S3 client would.

pub mod encoding;
pub mod error;
pub mod sigv2;
pub mod sigv4;
