//! Precondition evaluation: never panics; 304 only for GET/HEAD and only when If-None-Match
//! or If-Modified-Since was sent; 412 only when a precondition that can fail was sent; and for
//! requests with at most one well-formed value per header the answer is the one RFC 9110
//! §13.2.2 gives (checked against a small model).
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::Method;
use keyhole::delivery::conditional::{evaluate, Stop};
use libfuzzer_sys::fuzz_target;

const ETAG: &str = "\"1a-2b-3c\"";

/// A value a well-behaved client might send.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum TagValue {
    Star,
    Ours,
    WeakOurs,
    Other,
    /// Another tag, then ours, in one list.
    ListWithOurs,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum DateValue {
    /// Last-Modified plus this many seconds (may be negative).
    Offset(i16),
    Garbage,
}

#[derive(Arbitrary, Debug)]
struct Simple {
    if_match: Option<TagValue>,
    if_unmodified_since: Option<DateValue>,
    if_none_match: Option<TagValue>,
    if_modified_since: Option<DateValue>,
}

/// Input layout (so that seeds can be real requests): byte 0 picks the method (low 3 bits)
/// and the mode (bit 3), bytes 1..5 are Last-Modified (little-endian unix seconds), the rest
/// is either header lines `Name: value` separated by `\n` (any bytes in the value; lines
/// whose name is not one of the four preconditions are dropped), or a `Simple` request drawn
/// with `arbitrary` and checked against the model.
enum Headers<'a> {
    Raw(&'a [u8]),
    Simple(Simple),
}

fn tag_text(t: TagValue) -> &'static str {
    match t {
        TagValue::Star => "*",
        TagValue::Ours => ETAG,
        TagValue::WeakOurs => "W/\"1a-2b-3c\"",
        TagValue::Other => "\"zzz\"",
        TagValue::ListWithOurs => "\"zzz\", \"1a-2b-3c\"",
    }
}

fn date_text(d: DateValue, modified: u64) -> String {
    match d {
        DateValue::Offset(o) => {
            let t = modified.saturating_add_signed(i64::from(o));
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(t))
        }
        DateValue::Garbage => "yesterday".to_string(),
    }
}

fn date_secs(d: DateValue, modified: u64) -> Option<u64> {
    match d {
        DateValue::Offset(o) => Some(modified.saturating_add_signed(i64::from(o))),
        DateValue::Garbage => None,
    }
}

/// RFC 9110 §13.2.2, for one well-formed value per header.
fn model(method: &Method, s: &Simple, modified: u64) -> Result<(), Stop> {
    let safe = *method == Method::GET || *method == Method::HEAD;
    let strong =
        |t: TagValue| matches!(t, TagValue::Star | TagValue::Ours | TagValue::ListWithOurs);
    let weak = |t: TagValue| !matches!(t, TagValue::Other);
    match s.if_match {
        Some(t) => {
            if !strong(t) {
                return Err(Stop::PreconditionFailed);
            }
        }
        None => {
            if let Some(d) = s.if_unmodified_since.and_then(|d| date_secs(d, modified)) {
                if modified > d {
                    return Err(Stop::PreconditionFailed);
                }
            }
        }
    }
    match s.if_none_match {
        Some(t) => {
            if weak(t) {
                return Err(if safe {
                    Stop::NotModified
                } else {
                    Stop::PreconditionFailed
                });
            }
        }
        None => {
            if safe {
                if let Some(d) = s.if_modified_since.and_then(|d| date_secs(d, modified)) {
                    if modified <= d {
                        return Err(Stop::NotModified);
                    }
                }
            }
        }
    }
    Ok(())
}

const NAMES: [HeaderName; 4] = [
    IF_MATCH,
    IF_UNMODIFIED_SINCE,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let headers = if data[0] & 0x08 == 0 {
        Headers::Raw(&data[5..])
    } else {
        match arbitrary::Unstructured::new(&data[5..]).arbitrary() {
            Ok(s) => Headers::Simple(s),
            Err(_) => return,
        }
    };
    let method = match (data[0] & 0x07) % 5 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        3 => Method::PUT,
        _ => Method::DELETE,
    };
    let safe = method == Method::GET || method == Method::HEAD;
    // Last-Modified as a file system would give it (HTTP dates end in year 9999).
    let modified = u64::from(u32::from_le_bytes(data[1..5].try_into().unwrap()));
    let mut h = HeaderMap::new();
    match &headers {
        Headers::Raw(lines) => {
            for line in lines.split(|&b| b == b'\n') {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let Some(name) = NAMES
                    .iter()
                    .find(|n| n.as_str().as_bytes().eq_ignore_ascii_case(&line[..colon]))
                else {
                    continue;
                };
                let value = line[colon + 1..].trim_ascii();
                if let Ok(v) = HeaderValue::from_bytes(value) {
                    h.append(name.clone(), v);
                }
            }
        }
        Headers::Simple(s) => {
            let mut put = |name: HeaderName, v: String| {
                h.insert(name, HeaderValue::from_str(&v).unwrap());
            };
            if let Some(t) = s.if_match {
                put(IF_MATCH, tag_text(t).to_string());
            }
            if let Some(d) = s.if_unmodified_since {
                put(IF_UNMODIFIED_SINCE, date_text(d, modified));
            }
            if let Some(t) = s.if_none_match {
                put(IF_NONE_MATCH, tag_text(t).to_string());
            }
            if let Some(d) = s.if_modified_since {
                put(IF_MODIFIED_SINCE, date_text(d, modified));
            }
        }
    }
    let result = evaluate(&method, &h, ETAG, modified);
    match result {
        Ok(()) => {}
        Err(Stop::NotModified) => {
            assert!(safe, "304 for {method}");
            assert!(h.contains_key(IF_NONE_MATCH) || h.contains_key(IF_MODIFIED_SINCE));
        }
        Err(Stop::PreconditionFailed) => {
            assert!(
                h.contains_key(IF_MATCH)
                    || h.contains_key(IF_UNMODIFIED_SINCE)
                    || (!safe && h.contains_key(IF_NONE_MATCH)),
                "412 with no precondition that can fail"
            );
        }
    }
    if let Err(stop) = result {
        assert!(matches!(stop.status().as_u16(), 304 | 412));
    }
    if h.is_empty() {
        assert_eq!(result, Ok(()));
    }
    if let Headers::Simple(s) = &headers {
        assert_eq!(result, model(&method, s, modified), "{s:?} {h:?}");
    }
});
