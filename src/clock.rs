//! Times that come from a request or from the store, made safe to format and to compute with.
//!
//! An HTTP-date (and ISO 8601 or an AWS date, which also have four-digit years) can say no
//! time after 9999-12-31T23:59:59Z nor before 1970, and `httpdate` panics outside that range,
//! as `SystemTime + Duration` does past its own. A link's expiry is any unsigned 64-bit number
//! its signer chose (Swift accepts any integer) and a file's mtime any 64-bit number a `utimensat`
//! set, so every such value reaches a date or a sum through here, clamped or saturated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z in unix seconds: the last instant an HTTP-date can name.
pub const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// The largest `max-age` a cache must understand (RFC 9111 §1.2.2: a cache treats any larger
/// delta-seconds as 2^31), so a longer lifetime is said as this.
pub const MAX_AGE_CAP: u64 = 1 << 31;

/// `unix` seconds as an HTTP-date; a time past year 9999 is said as its last second.
pub fn http_date(unix: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix.min(LAST_HTTP_DATE)))
}

/// A time in the whole seconds an HTTP-date can say: before 1970 is 1970, past 9999 is the
/// last second of 9999. Last-Modified is written from this, and conditions compare with it,
/// so what a client echoes back is what we compare against.
pub fn http_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(LAST_HTTP_DATE)
}

/// A file's `(mtime, mtime_nsec)` as a `SystemTime`, whatever the numbers (a time the
/// platform's clock cannot hold is the nearest end of 1970..=9999).
pub fn from_unix(secs: i64, nanos: i64) -> SystemTime {
    let nanos = u32::try_from(nanos).unwrap_or(0).min(999_999_999);
    let t = match u64::try_from(secs) {
        Ok(s) => UNIX_EPOCH.checked_add(Duration::new(s.min(LAST_HTTP_DATE), nanos)),
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs())),
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// Seconds a link expiring at `expires_at` has left at `now`, as a `max-age`: never negative,
/// never more than `MAX_AGE_CAP`.
pub fn max_age(expires_at: u64, now: u64) -> u64 {
    expires_at.saturating_sub(now).min(MAX_AGE_CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_clamp_to_the_last_second_of_9999() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(LAST_HTTP_DATE), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            http_date(LAST_HTTP_DATE + 1),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            httpdate::parse_http_date(&http_date(LAST_HTTP_DATE))
                .map(http_secs)
                .ok(),
            Some(LAST_HTTP_DATE)
        );
    }

    #[test]
    fn file_times_outside_the_clock_become_its_ends() {
        assert_eq!(http_secs(from_unix(100, 5)), 100);
        assert_eq!(http_secs(from_unix(-1, 0)), 0);
        assert_eq!(http_secs(from_unix(i64::MIN, 0)), 0);
        assert_eq!(http_secs(from_unix(i64::MAX, 999_999_999)), LAST_HTTP_DATE);
        assert_eq!(http_secs(from_unix(7, -3)), 7);
        assert_eq!(http_secs(from_unix(7, i64::MAX)), 7);
    }

    #[test]
    fn max_age_never_underflows_nor_passes_the_cap() {
        assert_eq!(max_age(1_000, 400), 600);
        assert_eq!(max_age(400, 1_000), 0);
        assert_eq!(max_age(u64::MAX, 0), MAX_AGE_CAP);
        assert_eq!(max_age(u64::MAX, u64::MAX), 0);
    }
}
