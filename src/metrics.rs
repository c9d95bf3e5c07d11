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
    zero_copy_bytes: AtomicU64,
    /// Shared with the body budget (`budget::Budget`), which counts reads it made small.
    pub budget_spent: Arc<AtomicU64>,
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

    pub fn zero_copy(&self, bytes: usize) {
        self.zero_copy_bytes.fetch_add(bytes as u64, Relaxed);
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
        out
    }
}
