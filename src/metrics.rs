//! `/_keyhole/metrics`, kept with `prometheus-client` and rendered in the Prometheus text
//! format (0.0.4).
//!
//! The request path touches only handles made here at start, one per label set from the
//! fixed enums (`Kind`, `Reason`, `Limit`): a count is one atomic increment, with no label
//! lookup and no allocation. Only backend errors, which are rare and named by the backends,
//! are looked up by label when they happen.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;

use crate::outcome::{Kind, Reason};

/// The `Content-Type` of what `render` returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const KINDS: usize = Kind::ALL.len();

pub struct Metrics {
    registry: Registry,
    /// `[kind][status class]`.
    requests: [[Counter; 5]; KINDS],
    refusals: [Counter; Reason::ALL.len()],
    duration: [Histogram; KINDS],
    first_byte: [Histogram; KINDS],
    in_flight: Gauge,
    open_connections: Gauge,
    connections: Counter,
    copied_bytes: Counter,
    limit_hits: [Counter; Limit::ALL.len()],
    /// `[failed, ok]`.
    reloads: [Counter; 2],
    backend_errors: Family<Labels1, Counter>,
    panics: Counter,
    accept_errors: Counter,
    /// Shared with every connection (`zerocopy::Conn`), which counts the bytes it sendfiles.
    pub zero_copy_bytes: Arc<AtomicU64>,
    /// Shared with the body budget (`budget::Budget`), which counts reads it made small.
    pub budget_spent: Arc<AtomicU64>,
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

/// Seconds, from a fast cache hit to a long download.
const DURATION_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
    1800.0,
];
/// Seconds until the response head is ready: verification and the store's open.
const FIRST_BYTE_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn first_byte_histogram() -> Histogram {
    Histogram::new(FIRST_BYTE_BUCKETS)
}

/// Counters that other modules keep as plain atomics, read at each scrape.
#[derive(Debug)]
struct Shared {
    zero_copy_bytes: Arc<AtomicU64>,
    budget_spent: Arc<AtomicU64>,
}

impl Collector for Shared {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in [
            (
                "keyhole_zero_copy_bytes",
                "Body bytes the kernel sent straight from the file (sendfile)",
                &self.zero_copy_bytes,
            ),
            (
                "keyhole_body_budget_spent",
                "Body reads past a connection's or the server's budget for unsent chunks (made 16 KiB at most)",
                &self.budget_spent,
            ),
        ] {
            let c = ConstCounter::new(value.load(Relaxed));
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        Ok(())
    }
}

/// Registers `metric` as `name`, and returns a handle to it.
fn registered<M: Metric + Clone>(r: &mut Registry, name: &str, help: &str, metric: M) -> M {
    r.register(name, help, metric.clone());
    metric
}

/// Registers `family` as `name`, and returns its handle for each of `values` under `key`,
/// in order.
fn labelled<M, C, const N: usize>(
    r: &mut Registry,
    name: &str,
    help: &str,
    family: Family<Labels1, M, C>,
    key: &'static str,
    values: [&'static str; N],
) -> [M; N]
where
    M: EncodeMetric + TypedMetric + Clone + Send + Sync + std::fmt::Debug + 'static,
    C: MetricConstructor<M> + Clone + Send + Sync + std::fmt::Debug + 'static,
{
    let family = registered(r, name, help, family);
    values.map(|v| family.get_or_create_owned(&[(key, v)]))
}

type Histograms = Family<Labels1, Histogram, fn() -> Histogram>;

impl Default for Metrics {
    fn default() -> Metrics {
        let mut r = Registry::default();
        let r = &mut r;
        let requests = registered(
            r,
            "keyhole_requests",
            "Requests answered, by protocol and status class",
            Family::<Labels2, Counter>::default(),
        );
        let requests = Kind::ALL.map(|k| {
            CLASSES.map(|c| requests.get_or_create_owned(&[("protocol", k.as_str()), ("class", c)]))
        });
        let kinds = Kind::ALL.map(Kind::as_str);
        let zero_copy_bytes = Arc::new(AtomicU64::new(0));
        let budget_spent = Arc::new(AtomicU64::new(0));
        r.register_collector(Box::new(Shared {
            zero_copy_bytes: zero_copy_bytes.clone(),
            budget_spent: budget_spent.clone(),
        }));
        Metrics {
            requests,
            refusals: labelled(
                r,
                "keyhole_refusals",
                "Link requests refused or failed, by reason (the client is never told the reason)",
                Family::default(),
                "reason",
                Reason::ALL.map(Reason::as_str),
            ),
            duration: labelled(
                r,
                "keyhole_request_duration_seconds",
                "From the request head to the last body byte handed to the connection (or the client gone), by protocol",
                Histograms::new_with_constructor(duration_histogram),
                "protocol",
                kinds,
            ),
            first_byte: labelled(
                r,
                "keyhole_time_to_first_byte_seconds",
                "From the request head to the response head, by protocol",
                Histograms::new_with_constructor(first_byte_histogram),
                "protocol",
                kinds,
            ),
            in_flight: registered(
                r,
                "keyhole_requests_in_flight",
                "Requests being handled or sending their body",
                Gauge::default(),
            ),
            open_connections: registered(
                r,
                "keyhole_open_connections",
                "Client connections open",
                Gauge::default(),
            ),
            connections: registered(
                r,
                "keyhole_connections",
                "Connections accepted",
                Counter::default(),
            ),
            copied_bytes: registered(
                r,
                "keyhole_copied_bytes",
                "Body bytes handed to connections as copies (everything but sendfile's placeholders)",
                Counter::default(),
            ),
            limit_hits: labelled(
                r,
                "keyhole_limit_hits",
                "Connections closed or held back by a [limits] key",
                Family::default(),
                "limit",
                Limit::ALL.map(Limit::key),
            ),
            reloads: labelled(
                r,
                "keyhole_reloads",
                "Config reloads (SIGHUP), by result",
                Family::default(),
                "result",
                ["failed", "ok"],
            ),
            backend_errors: registered(
                r,
                "keyhole_backend_errors",
                "Failures of the object store, by kind",
                Family::default(),
            ),
            panics: registered(
                r,
                "keyhole_panics",
                "Request handlers that panicked (and were contained)",
                Counter::default(),
            ),
            accept_errors: registered(
                r,
                "keyhole_accept_errors",
                "Failed accepts (e.g. out of descriptors); the listener backs off after each",
                Counter::default(),
            ),
            zero_copy_bytes,
            budget_spent,
            // Last: every field above has registered its metrics by now.
            registry: std::mem::take(r),
        }
    }
}

/// Holds one in the `keyhole_requests_in_flight` or `keyhole_open_connections` gauge until
/// dropped.
#[must_use = "the gauge goes down when this is dropped"]
pub struct Held(Gauge);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A response of `status` to a request of `kind`.
    pub fn response(&self, kind: Kind, status: u16) {
        let class = (status / 100).saturating_sub(1) as usize;
        if let Some(c) = self.requests[kind as usize].get(class) {
            c.inc();
        }
    }

    pub fn refusal(&self, reason: Reason) {
        self.refusals[reason as usize].inc();
    }

    /// A request begins; it is in flight until the returned value is dropped.
    pub fn request(&self) -> Held {
        self.in_flight.inc();
        Held(self.in_flight.clone())
    }

    /// The response head of a `kind` request is ready, `elapsed` after its head arrived.
    pub fn first_byte(&self, kind: Kind, elapsed: Duration) {
        self.first_byte[kind as usize].observe(elapsed.as_secs_f64());
    }

    /// A `kind` request is done with: `copied` body bytes sent as copies.
    pub fn done(&self, kind: Kind, elapsed: Duration, copied: u64) {
        self.duration[kind as usize].observe(elapsed.as_secs_f64());
        if copied > 0 {
            self.copied_bytes.inc_by(copied);
        }
    }

    /// A connection is accepted; it is open until the returned value is dropped.
    pub fn connection(&self) -> Held {
        self.connections.inc();
        self.open_connections.inc();
        Held(self.open_connections.clone())
    }

    /// `n` hits of `limit` (a shutdown can cut many connections at once).
    pub fn limit_hits(&self, limit: Limit, n: u64) {
        self.limit_hits[limit as usize].inc_by(n);
    }

    /// A config reload was applied (`ok`) or refused.
    pub fn reload(&self, ok: bool) {
        self.reloads[usize::from(ok)].inc();
    }

    /// A failure of the object store, named by a fixed `kind` such as `"timeout"`,
    /// `"connect"` or `"status_5xx"` (never a value from a request or a response).
    pub fn backend_error(&self, kind: &'static str) {
        self.backend_errors.get_or_create(&[("kind", kind)]).inc();
    }

    pub fn panic(&self) {
        self.panics.inc();
    }

    pub fn accept_error(&self) {
        self.accept_errors.inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; a metric that could not be encoded is left out.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Limit, Metrics};
    use crate::outcome::{Kind, Reason};
    use std::time::Duration;

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

    #[test]
    fn each_label_set_counts_apart() {
        let m = Metrics::default();
        m.response(Kind::S3V2, 403);
        m.response(Kind::Swift, 200);
        m.response(Kind::Swift, 999);
        m.refusal(Reason::Expired);
        m.reload(true);
        m.reload(false);
        m.reload(false);
        m.backend_error("timeout");
        m.first_byte(Kind::Swift, Duration::from_millis(3));
        let text = m.render();
        for line in [
            "keyhole_requests_total{protocol=\"s3-v2\",class=\"4xx\"} 1\n",
            "keyhole_requests_total{protocol=\"swift\",class=\"2xx\"} 1\n",
            "keyhole_requests_total{protocol=\"swift\",class=\"4xx\"} 0\n",
            "keyhole_refusals_total{reason=\"expired\"} 1\n",
            "keyhole_refusals_total{reason=\"bad_signature\"} 0\n",
            "keyhole_reloads_total{result=\"ok\"} 1\n",
            "keyhole_reloads_total{result=\"failed\"} 2\n",
            "keyhole_backend_errors_total{kind=\"timeout\"} 1\n",
            "keyhole_time_to_first_byte_seconds_bucket{protocol=\"swift\",le=\"0.005\"} 1\n",
            "keyhole_time_to_first_byte_seconds_bucket{protocol=\"swift\",le=\"0.0025\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn gauges_go_down_when_what_they_hold_is_dropped() {
        let m = Metrics::default();
        let conn = m.connection();
        let req = m.request();
        let text = m.render();
        assert!(text.contains("keyhole_open_connections 1\n"), "{text}");
        assert!(text.contains("keyhole_requests_in_flight 1\n"), "{text}");
        drop((conn, req));
        let text = m.render();
        assert!(text.contains("keyhole_open_connections 0\n"), "{text}");
        assert!(text.contains("keyhole_requests_in_flight 0\n"), "{text}");
        assert!(text.contains("keyhole_connections_total 1\n"), "{text}");
    }
}
