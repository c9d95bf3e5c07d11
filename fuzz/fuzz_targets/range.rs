//! Range selection: every range honoured lies inside the object and is non-empty, a
//! multi-range answer has no overlaps and at most MAX_RANGES parts, the Content-Range and
//! multipart length arithmetic never overflows, and for well-formed headers the answer is the
//! one RFC 9110 §14 gives (checked against a small model).
#![no_main]

use std::ops::Range;

use arbitrary::Arbitrary;
use http::header::{HeaderMap, HeaderValue, IF_RANGE, RANGE};
use http::Method;
use keyhole::delivery::multipart;
use keyhole::delivery::range::{
    content_range, from_request, if_range_holds, select, Ranges, MAX_RANGES,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Spec {
    From(u64, Option<u64>),
    Suffix(u64),
}

/// Input layout (so that seeds can be real headers): byte 0 picks the mode and whether the
/// length is kept small, bytes 1..9 are the object length (little-endian), the rest is
/// - mode 0: the Range header text;
/// - mode 1: Range header bytes, then optionally `\n` and If-Range bytes (not UTF-8 checked);
/// - mode 2: well-formed specs drawn with `arbitrary`, checked against the model.
#[derive(Debug)]
enum Header<'a> {
    Raw(std::borrow::Cow<'a, str>),
    Specs(Vec<Spec>),
    Request(&'a [u8], Option<&'a [u8]>),
}

/// RFC 9110 §14.1.2 applied to well-formed specs, with Keyhole's documented choices (too many
/// or overlapping ranges: the whole object; empty object: whole).
fn model(specs: &[Spec], len: u64) -> Ranges {
    if specs.is_empty() || specs.len() > MAX_RANGES {
        return Ranges::Whole;
    }
    if specs
        .iter()
        .any(|s| matches!(s, Spec::From(f, Some(l)) if l < f))
    {
        return Ranges::Whole;
    }
    if len == 0 {
        return Ranges::Whole;
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    for s in specs {
        match *s {
            Spec::From(f, _) if f >= len => {}
            Spec::From(f, None) => out.push(f..len),
            Spec::From(f, Some(l)) => out.push(f..l.min(len - 1) + 1),
            Spec::Suffix(0) => {}
            Spec::Suffix(n) => out.push(len.saturating_sub(n)..len),
        }
    }
    match out.len() {
        0 => Ranges::Unsatisfiable,
        1 => Ranges::Single(out.remove(0)),
        _ => {
            for (i, a) in out.iter().enumerate() {
                for b in &out[i + 1..] {
                    if a.start < b.end && b.start < a.end {
                        return Ranges::Whole;
                    }
                }
            }
            Ranges::Multi(out)
        }
    }
}

fn check_one(r: &Range<u64>, len: u64) {
    assert!(r.start < r.end, "empty range {r:?}");
    assert!(r.end <= len, "{r:?} past the end of {len}");
    let cr = content_range(r, len);
    assert_eq!(cr, format!("bytes {}-{}/{}", r.start, r.end - 1, len));
}

fn check(result: &Ranges, len: u64) {
    match result {
        Ranges::Whole | Ranges::Unsatisfiable => {}
        Ranges::Single(r) => check_one(r, len),
        Ranges::Multi(rs) => {
            assert!(
                rs.len() >= 2 && rs.len() <= MAX_RANGES,
                "{} parts",
                rs.len()
            );
            for r in rs {
                check_one(r, len);
            }
            let mut sorted = rs.clone();
            sorted.sort_by_key(|r| r.start);
            assert!(
                sorted.windows(2).all(|w| w[0].end <= w[1].start),
                "overlap {rs:?}"
            );
            let boundary = multipart::boundary();
            let (parts, total) = multipart::parts(rs, len, b"text/plain", &boundary);
            assert_eq!(parts.len(), rs.len() * 2 + 1);
            let payload: u64 = rs.iter().map(|r| r.end - r.start).sum();
            assert!(total > payload);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let raw_len = u64::from_le_bytes(data[1..9].try_into().unwrap());
    let rest = &data[9..];
    // A file's length is an off_t: at most i64::MAX. Often keep it small so ranges actually
    // land inside it.
    let len = if data[0] & 0x10 == 0 {
        raw_len % 4096
    } else {
        raw_len % (i64::MAX as u64 + 1)
    };
    let header = match data[0] % 3 {
        0 => Header::Raw(String::from_utf8_lossy(rest)),
        1 => match rest.iter().position(|&b| b == b'\n') {
            Some(i) => Header::Request(&rest[..i], Some(&rest[i + 1..])),
            None => Header::Request(rest, None),
        },
        _ => match arbitrary::Unstructured::new(rest).arbitrary() {
            Ok(specs) => Header::Specs(specs),
            Err(_) => return,
        },
    };
    match &header {
        Header::Raw(text) => {
            let r = select(text, len);
            check(&r, len);
        }
        Header::Specs(specs) => {
            let text = specs
                .iter()
                .map(|s| match s {
                    Spec::From(f, Some(l)) => format!("{f}-{l}"),
                    Spec::From(f, None) => format!("{f}-"),
                    Spec::Suffix(n) => format!("-{n}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let r = select(&format!("bytes={text}"), len);
            check(&r, len);
            assert_eq!(r, model(specs, len), "bytes={text} len={len}");
        }
        Header::Request(range, if_range) => {
            let etag = "\"1-2-3\"";
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(range) {
                h.insert(RANGE, v);
            }
            if let Some(ir) = if_range {
                if let Ok(v) = HeaderValue::from_bytes(ir) {
                    if let Ok(s) = v.to_str() {
                        // A weak or different tag never holds; the exact strong tag always does.
                        let held = if_range_holds(s, etag, 1_000);
                        if s.trim() == etag {
                            assert!(held);
                        }
                        if s.trim_start().starts_with("W/") {
                            assert!(!held);
                        }
                    }
                    h.insert(IF_RANGE, v);
                }
            }
            let r = from_request(&Method::GET, &h, len, etag, 1_000);
            check(&r, len);
            // Only GET has range semantics: a HEAD is always answered whole.
            assert_eq!(
                from_request(&Method::HEAD, &h, len, etag, 1_000),
                Ranges::Whole
            );
            if !h.contains_key(RANGE) {
                assert_eq!(r, Ranges::Whole);
            }
        }
    }
});
