//! HTTP's rules for conditional and partial GETs (RFC 9110 §13, §14), as pure functions of
//! the request's headers and the object's length and validators. The fs backend decides a
//! request with them; an upstream backend checks its store's answer with them.

pub mod conditional;
pub mod multipart;
pub mod range;

use std::ops::Range;

use http::header::{self, HeaderMap, HeaderName};
use http::Method;

use conditional::Stop;
use range::Ranges;

/// What a GET or HEAD of an object is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// 200 with the whole object.
    Whole,
    /// 206 with one `Content-Range`.
    Single(Range<u64>),
    /// 206 `multipart/byteranges` (only a backend that can read at any offset gives this).
    Multi(Vec<Range<u64>>),
    /// 416: no asked range overlaps the object.
    Unsatisfiable,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: the object is not the one the client conditioned on.
    PreconditionFailed,
}

impl From<Ranges> for Selection {
    fn from(r: Ranges) -> Selection {
        match r {
            Ranges::Whole => Selection::Whole,
            Ranges::Single(r) => Selection::Single(r),
            Ranges::Multi(r) => Selection::Multi(r),
            Ranges::Unsatisfiable => Selection::Unsatisfiable,
        }
    }
}

impl From<Stop> for Selection {
    fn from(s: Stop) -> Selection {
        match s {
            Stop::NotModified => Selection::NotModified,
            Stop::PreconditionFailed => Selection::PreconditionFailed,
        }
    }
}

/// The request headers that can change the answer from a plain 200 with the whole object.
pub const ASKING: [HeaderName; 6] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::RANGE,
    header::IF_RANGE,
];

/// True when the request carries a precondition or a Range: one pass over the names it did
/// send spares six lookups of names most requests do not.
pub fn asks_anything(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| ASKING.contains(k))
}

/// The answer to a GET (or, with `head`, a HEAD) of an object of `len` bytes whose validators
/// are `etag` (strong and quoted; `""` when it has none) and `modified_secs`: preconditions
/// first, then Range and If-Range.
pub fn select(
    head: bool,
    headers: &HeaderMap,
    len: u64,
    etag: &str,
    modified_secs: Option<u64>,
) -> Selection {
    let method = if head { Method::HEAD } else { Method::GET };
    if let Err(stop) = conditional::evaluate(&method, headers, etag, modified_secs) {
        return stop.into();
    }
    range::from_request(&method, headers, len, etag, modified_secs).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn preconditions_come_before_the_range() {
        let h = headers(&[(header::IF_MATCH, "\"x\""), (header::RANGE, "bytes=0-0")]);
        assert_eq!(
            select(false, &h, 10, "\"y\"", Some(5)),
            Selection::PreconditionFailed
        );
        let h = headers(&[(header::RANGE, "bytes=2-3")]);
        assert_eq!(
            select(false, &h, 10, "\"y\"", Some(5)),
            Selection::Single(2..4)
        );
        assert_eq!(select(true, &h, 10, "\"y\"", Some(5)), Selection::Whole);
    }

    #[test]
    fn date_conditions_on_an_object_without_a_date_are_ignored() {
        let h = headers(&[(header::IF_MODIFIED_SINCE, "Thu, 01 Jan 1970 00:01:40 GMT")]);
        assert_eq!(select(false, &h, 10, "\"y\"", None), Selection::Whole);
        assert_eq!(
            select(false, &h, 10, "\"y\"", Some(100)),
            Selection::NotModified
        );
        let h = headers(&[(header::IF_UNMODIFIED_SINCE, "Thu, 01 Jan 1970 00:01:40 GMT")]);
        assert_eq!(select(false, &h, 10, "\"y\"", None), Selection::Whole);
        assert_eq!(
            select(false, &h, 10, "\"y\"", Some(101)),
            Selection::PreconditionFailed
        );
    }

    #[test]
    fn an_object_without_an_etag_matches_only_a_star() {
        let h = headers(&[(header::IF_MATCH, "*")]);
        assert_eq!(select(false, &h, 1, "", None), Selection::Whole);
        let h = headers(&[(header::IF_MATCH, "\"\"")]);
        assert_eq!(
            select(false, &h, 1, "", None),
            Selection::PreconditionFailed
        );
        let h = headers(&[(header::RANGE, "bytes=0-0"), (header::IF_RANGE, "\"\"")]);
        assert_eq!(select(false, &h, 1, "", None), Selection::Whole);
    }
}
