//! Range requests (RFC 9110 §14): which bytes of the object a request asks for, and whether
//! to honour the ask at all. Players seek with single ranges, download tools resume with
//! `a-`, PDF viewers fetch several pieces at once.

use std::ops::Range;

use http::header::{self, HeaderMap};
use http::Method;

/// Most ranges honoured in one request. Real clients ask for a handful; past this the whole
/// object is sent, so a request cannot make us emit thousands of tiny parts.
pub const MAX_RANGES: usize = 32;

/// What to send for a request's Range header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// 200 with the whole object: no Range, one we must ignore (bad syntax, another unit,
    /// a stale If-Range) or one we choose not to honour (too many or overlapping ranges).
    Whole,
    /// 206 with one `Content-Range`.
    Single(Range<u64>),
    /// 206 `multipart/byteranges`, parts in the order asked.
    Multi(Vec<Range<u64>>),
    /// 416 with `Content-Range: bytes */<len>`: no range overlaps the object.
    Unsatisfiable,
}

/// One `range-spec` as written, before the object's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-` or `first-last` (`last` already checked to be >= `first`).
    From { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// Decimal digits to a number. Values past u64 saturate: `0-99999999999999999999999` means
/// "to the end", a first byte that large is past any object, and neither can overflow.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

// A closure rather than a `char` pattern, here and in `parse`: a `char` pattern searches with
// memchr, whose set-up costs more than scanning a range header's few bytes.
#[allow(clippy::manual_pattern_char_comparison)]
fn spec(s: &str) -> Option<Spec> {
    let (first, last) = s.split_once(|c| c == '-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::From { first, last: None });
    }
    let last = number(last)?;
    // RFC 9110 §14.1.1: last < first makes the range-spec invalid, hence the header ignored.
    (last >= first).then_some(Spec::From {
        first,
        last: Some(last),
    })
}

/// The specs of a Range header: on the stack for the few that players and PDF viewers send.
type Specs = smallvec::SmallVec<[Spec; 4]>;

/// `bytes=<spec>, <spec>, …`; `None` when the header is not a valid byte ranges-specifier or
/// names more than `MAX_RANGES` ranges.
#[allow(clippy::manual_pattern_char_comparison)]
fn parse(value: &str) -> Option<Specs> {
    let (unit, set) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Specs::new();
    // The `#` list rule allows empty elements and whitespace around commas.
    for item in set
        .split(|c| c == ',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
    {
        if specs.len() == MAX_RANGES {
            return None;
        }
        specs.push(spec(item)?);
    }
    (!specs.is_empty()).then_some(specs)
}

/// The bytes `[start, end)` a spec selects in an object of `len` bytes, if any.
fn resolve(spec: Spec, len: u64) -> Option<Range<u64>> {
    match spec {
        Spec::From { first, .. } if first >= len => None,
        Spec::From { first, last } => Some(first..last.map_or(len, |l| l.min(len - 1) + 1)),
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some(len.saturating_sub(n)..len),
    }
}

/// Ranges that overlap would let a small request ask for the same bytes many times over.
fn overlapping(ranges: &[Range<u64>]) -> bool {
    let mut sorted: smallvec::SmallVec<[Range<u64>; 4]> = ranges.iter().cloned().collect();
    sorted.sort_by_key(|r| r.start);
    sorted.windows(2).any(|w| w[1].start < w[0].end)
}

/// What to send for the Range header `value` of an object of `len` bytes.
pub fn select(value: &str, len: u64) -> Ranges {
    let Some(specs) = parse(value) else {
        return Ranges::Whole;
    };
    // An empty object has no byte positions to name; send it (empty) as a whole.
    if len == 0 {
        return Ranges::Whole;
    }
    let mut ranges = specs.iter().filter_map(|&s| resolve(s, len));
    let Some(first) = ranges.next() else {
        return Ranges::Unsatisfiable;
    };
    let Some(second) = ranges.next() else {
        return Ranges::Single(first);
    };
    let mut all = Vec::with_capacity(specs.len());
    all.extend([first, second]);
    all.extend(ranges);
    if overlapping(&all) {
        return Ranges::Whole;
    }
    Ranges::Multi(all)
}

/// Does `If-Range` still name this representation? An entity-tag must match strongly, a date
/// must equal Last-Modified exactly; anything else (weak tag, bad date) does not match.
pub fn if_range_holds(value: &str, etag: &str, modified_secs: impl Into<Option<u64>>) -> bool {
    let modified_secs = modified_secs.into();
    let value = value.trim();
    if value.starts_with("W/") {
        return false;
    }
    if value.starts_with('"') {
        return value == etag;
    }
    httpdate::parse_http_date(value)
        .is_ok_and(|t| Some(crate::clock::http_secs(t)) == modified_secs)
}

/// What to send for a request's Range and If-Range headers (conditionals already passed).
/// Only GET has range semantics (RFC 9110 §14.2): a HEAD answers as the whole GET would, so
/// a HEAD probe learns the full length, never a 206 or a 416.
pub fn from_request(
    method: &Method,
    headers: &HeaderMap,
    len: u64,
    etag: &str,
    modified_secs: impl Into<Option<u64>>,
) -> Ranges {
    let modified_secs = modified_secs.into();
    if method != Method::GET {
        return Ranges::Whole;
    }
    let mut all = headers.get_all(header::RANGE).iter();
    let (Some(range), None) = (all.next(), all.next()) else {
        return Ranges::Whole;
    };
    let Ok(range) = range.to_str() else {
        return Ranges::Whole;
    };
    if let Some(ir) = headers.get(header::IF_RANGE) {
        if !ir
            .to_str()
            .is_ok_and(|v| if_range_holds(v, etag, modified_secs))
        {
            return Ranges::Whole;
        }
    }
    select(range, len)
}

/// The request's Range as a store should see it: one range-spec, spelled out anew from what
/// was parsed (never the client's own bytes); `None` when there is no Range to pass on (none,
/// several headers, bad syntax, or several ranges, which an upstream answers whole).
pub fn forwardable(headers: &HeaderMap) -> Option<String> {
    let mut all = headers.get_all(header::RANGE).iter();
    let (Some(range), None) = (all.next(), all.next()) else {
        return None;
    };
    match parse(range.to_str().ok()?)?.as_slice() {
        [Spec::From { first, last: None }] => Some(format!("bytes={first}-")),
        [Spec::From {
            first,
            last: Some(last),
        }] => Some(format!("bytes={first}-{last}")),
        [Spec::Suffix(n)] => Some(format!("bytes=-{n}")),
        _ => None,
    }
}

/// A response's `Content-Range`: the bytes `[start, end)` sent, if any, and the whole length,
/// if said (`bytes a-b/len`, `bytes */len`, `bytes a-b/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRange {
    pub sent: Option<Range<u64>>,
    pub len: Option<u64>,
}

pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?.trim_start();
    let (sent, len) = rest.split_once('/')?;
    let len = match len {
        "*" => None,
        n => Some(exact_number(n)?),
    };
    let sent = match sent {
        "*" => None,
        r => {
            let (a, b) = r.split_once('-')?;
            let (a, b) = (exact_number(a)?, exact_number(b)?);
            let end = b.checked_add(1)?;
            if a > b || len.is_some_and(|n| end > n) {
                return None;
            }
            Some(a..end)
        }
    };
    if sent.is_none() && len.is_none() {
        return None;
    }
    Some(ContentRange { sent, len })
}

/// Decimal digits that fit a u64 (a length a store states is taken only exactly).
fn exact_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `Content-Range` of one part.
pub fn content_range(r: &Range<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", r.start, r.end - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_single_forms() {
        assert_eq!(select("bytes=0-9", 100), Ranges::Single(0..10));
        assert_eq!(select("bytes=90-", 100), Ranges::Single(90..100));
        assert_eq!(select("bytes=-10", 100), Ranges::Single(90..100));
        assert_eq!(select("bytes=-1000", 100), Ranges::Single(0..100));
        assert_eq!(select("bytes=50-1000", 100), Ranges::Single(50..100));
        assert_eq!(select("Bytes = 1-1", 100), Ranges::Single(1..2));
    }

    #[test]
    fn huge_numbers_saturate_instead_of_overflowing() {
        assert_eq!(
            select("bytes=0-99999999999999999999999", 100),
            Ranges::Single(0..100)
        );
        assert_eq!(
            select("bytes=99999999999999999999999-", 100),
            Ranges::Unsatisfiable
        );
        assert_eq!(
            select("bytes=-99999999999999999999999", 100),
            Ranges::Single(0..100)
        );
        assert_eq!(
            select(&format!("bytes=0-{}", u64::MAX), u64::MAX),
            Ranges::Single(0..u64::MAX)
        );
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(select("bytes=100-", 100), Ranges::Unsatisfiable);
        assert_eq!(select("bytes=-0", 100), Ranges::Unsatisfiable);
        assert_eq!(select("bytes=200-300, 100-", 100), Ranges::Unsatisfiable);
    }

    #[test]
    fn bad_syntax_is_ignored() {
        for v in [
            "bytes=5-3",
            "bytes=",
            "bytes=a-b",
            "bytes=1-2-3",
            "items=0-1",
            "bytes 0-1",
            "bytes=-",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=1-, x",
        ] {
            assert_eq!(select(v, 100), Ranges::Whole, "{v}");
        }
    }

    #[test]
    fn several_ranges_keep_their_order_and_drop_unsatisfiable_ones() {
        assert_eq!(
            select("bytes=50-59, 0-9", 100),
            Ranges::Multi(vec![50..60, 0..10])
        );
        assert_eq!(select("bytes=0-9,,500-", 100), Ranges::Single(0..10));
    }

    #[test]
    fn too_many_or_overlapping_ranges_get_the_whole_object() {
        let many: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect();
        assert_eq!(
            select(&format!("bytes={}", many.join(",")), 1000),
            Ranges::Whole
        );
        assert!(matches!(
            select(&format!("bytes={}", many[..MAX_RANGES].join(",")), 1000),
            Ranges::Multi(_)
        ));
        assert_eq!(select("bytes=0-50, 40-60", 100), Ranges::Whole);
        assert_eq!(select("bytes=0-, 0-, 0-", 100), Ranges::Whole);
    }

    #[test]
    fn an_empty_object_is_sent_whole() {
        assert_eq!(select("bytes=0-", 0), Ranges::Whole);
    }

    #[test]
    fn if_range_matches_strong_tags_and_exact_dates_only() {
        let etag = "\"abc\"";
        assert!(if_range_holds("\"abc\"", etag, 0));
        assert!(!if_range_holds("W/\"abc\"", etag, 0));
        assert!(!if_range_holds("\"abd\"", etag, 0));
        assert!(if_range_holds("Thu, 01 Jan 1970 00:00:10 GMT", etag, 10));
        assert!(!if_range_holds("Thu, 01 Jan 1970 00:00:11 GMT", etag, 10));
        assert!(!if_range_holds("yesterday", etag, 10));
    }

    #[test]
    fn content_range_names_the_last_byte() {
        assert_eq!(content_range(&(0..10), 100), "bytes 0-9/100");
    }

    #[test]
    fn only_get_has_range_semantics() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, "bytes=0-1".parse().unwrap());
        assert_eq!(
            from_request(&Method::GET, &h, 10, "\"e\"", 0),
            Ranges::Single(0..2)
        );
        assert_eq!(
            from_request(&Method::HEAD, &h, 10, "\"e\"", 0),
            Ranges::Whole
        );
        h.insert(header::RANGE, "bytes=50-60".parse().unwrap());
        assert_eq!(
            from_request(&Method::HEAD, &h, 10, "\"e\"", 0),
            Ranges::Whole
        );
    }

    #[test]
    fn only_one_range_is_passed_on_and_it_is_spelled_anew() {
        let fwd = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, v.parse().unwrap());
            forwardable(&h)
        };
        assert_eq!(fwd("bytes=0-99").as_deref(), Some("bytes=0-99"));
        assert_eq!(fwd("BYTES = 5-").as_deref(), Some("bytes=5-"));
        assert_eq!(fwd("bytes=-7,").as_deref(), Some("bytes=-7"));
        assert_eq!(
            fwd("bytes=0-99999999999999999999999").as_deref(),
            Some("bytes=0-18446744073709551615")
        );
        for none in [
            "bytes=0-1,3-4",
            "bytes=5-1",
            "items=0-1",
            "bytes=x",
            "bytes=",
        ] {
            assert_eq!(fwd(none), None, "{none}");
        }
    }

    #[test]
    fn a_stores_content_range_is_read_exactly() {
        let cr = |v| parse_content_range(v);
        assert_eq!(
            cr("bytes 0-9/100"),
            Some(ContentRange {
                sent: Some(0..10),
                len: Some(100)
            })
        );
        assert_eq!(
            cr("bytes */100"),
            Some(ContentRange {
                sent: None,
                len: Some(100)
            })
        );
        assert_eq!(
            cr("bytes 5-5/*"),
            Some(ContentRange {
                sent: Some(5..6),
                len: None
            })
        );
        for bad in [
            "bytes 9-0/100",
            "bytes 0-100/100",
            "bytes */*",
            "items 0-1/2",
            "bytes 0-18446744073709551615/*",
            "bytes 0-99999999999999999999/100",
            "bytes -1-2/3",
        ] {
            assert_eq!(cr(bad), None, "{bad}");
        }
    }
}
