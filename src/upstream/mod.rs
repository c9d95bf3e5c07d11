//! Upstream stores (S3-compatible, OpenStack Swift): the pieces a backend that fetches objects
//! over HTTP is built from. Leaves: nothing here sees the app's state or config types.

pub mod client;
pub mod swift_auth;
