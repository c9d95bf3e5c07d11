//! Per-connection timeouts (`[limits]` header_read_timeout, idle_timeout, send_timeout), kept
//! by one watchdog per connection from what its IO (`zerocopy::Conn`) and its requests record.
//!
//! hyper has none of these as needed: it has no idle timeout for HTTP/1 keep-alive nor any
//! send timeout, and its HTTP/1 header-read timeout starts as soon as it waits for the next
//! request, so it would also close every idle keep-alive connection at the header timeout.
//! Here a request head is timed from the connection's accept (its first request) or from the
//! first byte after the previous response (later ones), and one rule serves HTTP/1 and HTTP/2.
//!
//! Every read and write stamps the time, so the stamps come from the coarse monotonic clock
//! (the kernel's last tick, a few milliseconds behind at most): it is read without touching
//! the hardware clock, and the timeouts are whole seconds.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rustix::time::{clock_gettime, ClockId};

use crate::limits::Limits;
use crate::metrics::Limit;

/// A reading of the coarse monotonic clock, in milliseconds since boot: the unit the
/// stamps are kept in, so that a stamp costs no conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Tick(u64);

impl Tick {
    fn now() -> Tick {
        let t = clock_gettime(ClockId::MonotonicCoarse);
        // The clock counts from boot: never negative, nanoseconds always below a second.
        let secs = u64::try_from(t.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
        Tick(secs.saturating_mul(1000).saturating_add(nanos / 1_000_000))
    }

    /// How long until `later` (zero if it has passed).
    fn until(self, later: Tick) -> Duration {
        Duration::from_millis(later.0.saturating_sub(self.0))
    }
}

impl std::ops::Add<Duration> for Tick {
    type Output = Tick;
    fn add(self, d: Duration) -> Tick {
        Tick(self.0.saturating_add(millis(d)))
    }
}

/// What a connection is doing, as `Tick`s.
pub struct Activity {
    /// Requests whose response is not yet done with (see [`Busy`]).
    in_flight: AtomicU32,
    /// Set by the first HTTP/2 request: between HTTP/2 requests the client sends control
    /// frames (WINDOW_UPDATE, SETTINGS acks), which are not the start of a request head.
    h2: AtomicBool,
    /// 1 + when the pending request head started arriving; 0: none is arriving.
    head_since: AtomicU64,
    /// When the last request in flight ended.
    idle_since: AtomicU64,
    /// When a write last moved a byte, or the request in flight started.
    last_out: AtomicU64,
    /// A write is waiting for the client to take bytes.
    blocked: AtomicBool,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::since(Tick::now())
    }
}

impl Activity {
    /// A connection accepted at `born`.
    fn since(born: Tick) -> Activity {
        Activity {
            in_flight: AtomicU32::new(0),
            h2: AtomicBool::new(false),
            // The first request's head is timed from the accept: a connection that never
            // sends one (or never finishes its HTTP/2 preface) is cut at the header timeout.
            head_since: AtomicU64::new(born.0 + 1),
            idle_since: AtomicU64::new(born.0),
            last_out: AtomicU64::new(born.0),
            blocked: AtomicBool::new(false),
        }
    }
}

/// Held by a request until its response is done with (sent or dropped).
pub struct Busy(std::sync::Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Relaxed) == 1 {
            a.head_since.store(0, Relaxed);
            a.idle_since.store(Tick::now().0, Relaxed);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    /// A request began (its head was read); it is in flight until the `Busy` is dropped.
    pub fn begin(self: &std::sync::Arc<Self>, http2: bool) -> Busy {
        if http2 {
            self.h2.store(true, Relaxed);
        }
        self.in_flight.fetch_add(1, Relaxed);
        self.head_since.store(0, Relaxed);
        self.last_out.store(Tick::now().0, Relaxed);
        Busy(self.clone())
    }

    /// Bytes (or the end of the stream) arrived.
    pub fn read(&self) {
        if self.in_flight.load(Relaxed) == 0 && !self.h2.load(Relaxed) {
            let now = Tick::now().0 + 1;
            let _ = self.head_since.compare_exchange(0, now, Relaxed, Relaxed);
        }
    }

    /// A write moved bytes (`true`) or had to wait for the client (`false`).
    pub fn wrote(&self, moved: bool) {
        if moved {
            self.last_out.store(Tick::now().0, Relaxed);
            self.blocked.store(false, Relaxed);
        } else if !self.blocked.swap(true, Relaxed) && self.in_flight.load(Relaxed) == 0 {
            // Between requests `last_out` is stale: the wait starts now.
            self.last_out.store(Tick::now().0, Relaxed);
        }
    }

    /// What a write's result says: bytes moved, or a wait for the client.
    pub fn wrote_poll(&self, r: &std::task::Poll<std::io::Result<usize>>) {
        match r {
            std::task::Poll::Ready(Ok(n)) if *n > 0 => self.wrote(true),
            std::task::Poll::Pending => self.wrote(false),
            _ => {}
        }
    }

    /// The limit `now` is past, or when to look again. Looking again no later than the
    /// shortest timeout from now catches a rule that starts applying in between.
    fn check(&self, limits: &Limits, now: Tick) -> Result<Tick, Limit> {
        let t = now.0;
        let send = millis(limits.send_timeout);
        let header = millis(limits.header_read_timeout);
        let idle = millis(limits.idle_timeout);
        let mut next = t.saturating_add(send.min(header).min(idle));
        if self.in_flight.load(Relaxed) > 0 || self.blocked.load(Relaxed) {
            let due = self.last_out.load(Relaxed).saturating_add(send);
            if t >= due {
                return Err(Limit::SendTimeout);
            }
            next = next.min(due);
        } else {
            let head = self.head_since.load(Relaxed);
            if head != 0 {
                let due = (head - 1).saturating_add(header);
                if t >= due {
                    return Err(Limit::HeaderReadTimeout);
                }
                next = next.min(due);
            }
            let due = self.idle_since.load(Relaxed).saturating_add(idle);
            if t >= due {
                return Err(Limit::IdleTimeout);
            }
            next = next.min(due);
        }
        Ok(Tick(next))
    }
}

/// Resolves with the limit the connection broke; the caller closes it.
pub async fn watch(activity: &Activity, limits: &Limits) -> Limit {
    loop {
        let now = Tick::now();
        match activity.check(limits, now) {
            Err(limit) => return limit,
            Ok(next) => tokio::time::sleep(now.until(next)).await,
        }
    }
}

/// Says when a repeated event (a failed accept, a full connection table) is worth a log
/// line: its first time, then at most once a `period`, with how many went unsaid.
pub struct Quiet {
    period: Duration,
    last: Option<Instant>,
    unsaid: u64,
}

impl Quiet {
    pub fn new(period: Duration) -> Quiet {
        Quiet {
            period,
            last: None,
            unsaid: 0,
        }
    }

    /// `Some(events not logged since the last line)` when this one should be logged.
    pub fn event(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(l) if now.saturating_duration_since(l) < self.period => {
                self.unsaid += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unsaid))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    /// A connection accepted now (the stamps its requests make are real clock readings).
    fn fresh() -> (Arc<Activity>, Tick) {
        let born = Tick::now();
        (Arc::new(Activity::since(born)), born)
    }

    fn at(born: Tick, secs: u64) -> Tick {
        born + Duration::from_secs(secs)
    }

    #[test]
    fn a_first_request_must_arrive_within_the_header_timeout_of_the_accept() {
        let (a, born) = fresh();
        assert!(a.check(&limits(), at(born, 9)).is_ok());
        assert_eq!(
            a.check(&limits(), at(born, 10)),
            Err(Limit::HeaderReadTimeout)
        );
    }

    #[test]
    fn an_idle_keep_alive_connection_is_cut_at_the_idle_timeout_not_the_header_one() {
        let (a, born) = fresh();
        drop(a.begin(false));
        assert!(a.check(&limits(), at(born, 74)).is_ok());
        assert_eq!(a.check(&limits(), at(born, 75)), Err(Limit::IdleTimeout));
    }

    #[test]
    fn a_head_trickling_in_after_a_response_is_cut_at_the_header_timeout() {
        let (a, born) = fresh();
        drop(a.begin(false));
        a.read();
        assert!(a.check(&limits(), at(born, 9)).is_ok());
        assert_eq!(
            a.check(&limits(), at(born, 10)),
            Err(Limit::HeaderReadTimeout)
        );
    }

    #[test]
    fn http2_control_frames_between_requests_are_not_a_request_head() {
        let (a, born) = fresh();
        drop(a.begin(true));
        a.read();
        assert!(a.check(&limits(), at(born, 30)).is_ok());
        assert_eq!(a.check(&limits(), at(born, 75)), Err(Limit::IdleTimeout));
    }

    #[test]
    fn a_request_in_flight_is_cut_only_when_no_byte_moves_for_the_send_timeout() {
        let (a, born) = fresh();
        let busy = a.begin(false);
        a.wrote(false);
        assert!(
            a.check(&limits(), at(born, 59)).is_ok(),
            "no header or idle rule"
        );
        assert_eq!(a.check(&limits(), at(born, 60)), Err(Limit::SendTimeout));
        drop(busy);
        a.wrote(true);
        assert!(a.check(&limits(), at(born, 60)).is_ok());
    }

    #[test]
    fn the_next_look_is_never_later_than_a_rule_could_fire() {
        let (a, born) = fresh();
        drop(a.begin(false));
        let next = a.check(&limits(), at(born, 1)).unwrap();
        assert!(next <= at(born, 11), "a head starting now is due at 11 s");
    }

    #[test]
    fn a_repeated_event_is_logged_once_a_period_with_the_count_unsaid() {
        let mut q = Quiet::new(Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(q.event(t), Some(0));
        assert_eq!(q.event(t + Duration::from_secs(1)), None);
        assert_eq!(q.event(t + Duration::from_secs(2)), None);
        assert_eq!(q.event(t + Duration::from_secs(61)), Some(2));
    }
}
