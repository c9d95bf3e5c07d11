//! Counters for `/_keyhole/metrics`, in Prometheus text format. Plain atomics: no lock on
//! the request path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Default)]
pub struct Metrics {
    /// Responses by status class: 1xx..5xx.
    responses: [AtomicU64; 5],
    denied: AtomicU64,
    pub panics: AtomicU64,
    connections: AtomicU64,
    /// Shared with every connection (`zerocopy::Conn`), which counts the bytes it sendfiles.
    pub zero_copy_bytes: Arc<AtomicU64>,
    /// Shared with the body budget (`budget::Budget`), which counts reads it made small.
    pub budget_spent: Arc<AtomicU64>,
    /// Hits of each `[limits]` key, by `Limit as usize`.
    limit_hits: [AtomicU64; Limit::ALL.len()],
    accept_errors: AtomicU64,
}

/// A `[limits]` key that closed (or held back) a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    HeaderReadTimeout,
    IdleTimeout,
    SendTimeout,
    MaxConnections,
    ShutdownGrace,
}

impl Limit {
    pub const ALL: [Limit; 5] = [
        Limit::HeaderReadTimeout,
        Limit::IdleTimeout,
        Limit::SendTimeout,
        Limit::MaxConnections,
        Limit::ShutdownGrace,
    ];

    /// The config key, and the metric's label value.
    pub fn key(self) -> &'static str {
        match self {
            Limit::HeaderReadTimeout => "header_read_timeout",
            Limit::IdleTimeout => "idle_timeout",
            Limit::SendTimeout => "send_timeout",
            Limit::MaxConnections => "max_connections",
            Limit::ShutdownGrace => "shutdown_grace",
        }
    }
}

impl Metrics {
    pub fn response(&self, status: u16) {
        if let Some(c) = self
            .responses
            .get((status / 100).saturating_sub(1) as usize)
        {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn denied(&self) {
        self.denied.fetch_add(1, Relaxed);
    }

    pub fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// `n` hits of `limit` (a shutdown can cut many connections at once).
    pub fn limit_hits(&self, limit: Limit, n: u64) {
        self.limit_hits[limit as usize].fetch_add(n, Relaxed);
    }

    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP keyhole_responses_total Responses sent, by status class.\n");
        out.push_str("# TYPE keyhole_responses_total counter\n");
        for (i, c) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "keyhole_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Relaxed)
            );
        }
        out.push_str(
            "# HELP keyhole_limit_hits_total Connections closed or held back by a [limits] key.\n",
        );
        out.push_str("# TYPE keyhole_limit_hits_total counter\n");
        for l in Limit::ALL {
            let _ = writeln!(
                out,
                "keyhole_limit_hits_total{{limit=\"{}\"}} {}",
                l.key(),
                self.limit_hits[l as usize].load(Relaxed)
            );
        }
        let mut one = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        one(
            "keyhole_denied_total",
            "Requests refused for a missing, bad or expired link.",
            self.denied.load(Relaxed),
        );
        one(
            "keyhole_panics_total",
            "Request handlers that panicked (and were contained).",
            self.panics.load(Relaxed),
        );
        one(
            "keyhole_connections_total",
            "Connections accepted.",
            self.connections.load(Relaxed),
        );
        one(
            "keyhole_zero_copy_bytes_total",
            "Body bytes the kernel sent straight from the file (sendfile).",
            self.zero_copy_bytes.load(Relaxed),
        );
        one(
            "keyhole_body_budget_spent_total",
            "Body reads past a connection's or the server's budget for unsent chunks (made 16 KiB at most).",
            self.budget_spent.load(Relaxed),
        );
        one(
            "keyhole_accept_errors_total",
            "Failed accepts (e.g. out of descriptors); the listener backs off after each.",
            self.accept_errors.load(Relaxed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Limit, Metrics};

    #[test]
    fn each_limit_is_counted_under_its_own_label() {
        let m = Metrics::default();
        for (i, l) in Limit::ALL.into_iter().enumerate() {
            assert_eq!(l as usize, i, "ALL is in discriminant order");
        }
        m.limit_hits(Limit::SendTimeout, 1);
        m.limit_hits(Limit::ShutdownGrace, 3);
        let text = m.render();
        assert!(
            text.contains("keyhole_limit_hits_total{limit=\"send_timeout\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("keyhole_limit_hits_total{limit=\"shutdown_grace\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("keyhole_limit_hits_total{limit=\"idle_timeout\"} 0\n"),
            "{text}"
        );
    }
}
