//! `[limits]`: what one client may hold of the server, and for how long. A leaf, so that the
//! connection watchdog that enforces them needs nothing of the config around them.

use std::time::Duration;

/// The `[limits]` section, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// HTTP/2 streams a connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_streams: u32,
    /// A request head must arrive within this (from accept, or from its first byte).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// A connection whose client takes no byte for this long, mid-response, is dropped.
    pub send_timeout: Duration,
    /// Connections open at once; past it the listener waits for one to close.
    pub max_connections: u32,
    /// SIGTERM/SIGINT: how long in-flight requests get to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_streams: 100,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
