//! Keyhole: a gateway that verifies Swift Temporary URLs and S3 presigned URLs and serves the
//! objects they point at.

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod backend;
pub mod body;
pub mod budget;
pub mod bufpool;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod expiry;
pub mod first_run;
pub mod forwarded;
pub mod grant;
pub mod handler;
pub mod host;
pub mod http_rules;
pub mod ip_range;
pub mod keys;
pub mod mac;
pub mod media_type;
pub mod metrics;
pub mod query;
pub mod redact;
pub mod reply;
pub mod router;
pub mod server;
pub mod share;
pub mod ui;
pub mod upstream;
pub mod watchdog;
pub mod zerocopy;
