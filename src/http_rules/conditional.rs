//! Conditional requests (RFC 9110 §13): If-Match, If-Unmodified-Since, If-None-Match and
//! If-Modified-Since, evaluated in the order of §13.2.2 so that caches revalidate (304) and
//! careful clients never get bytes of a representation they did not expect (412).

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode};

/// A precondition that stops the request before any byte is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The client's copy is current: 304, validators and caching headers only.
    NotModified,
    /// The representation is not the one the client conditioned on: 412.
    PreconditionFailed,
}

impl Stop {
    pub fn status(self) -> StatusCode {
        match self {
            Stop::NotModified => StatusCode::NOT_MODIFIED,
            Stop::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        }
    }
}

/// One member of an entity-tag list: `opaque` keeps its quotes, as our ETag does.
#[derive(Debug, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    opaque: &'a str,
}

/// `*` or a list of entity-tags. Parsing stops at the first malformed member; what came
/// before still counts.
#[derive(Debug, PartialEq, Eq)]
enum Tags<'a> {
    Any,
    List(Vec<Tag<'a>>),
}

fn tags(value: &str) -> Tags<'_> {
    if value.trim() == "*" {
        return Tags::Any;
    }
    let mut list = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        // An entity-tag is `"…"` with no `"` inside (commas are allowed).
        let Some(body) = rest.strip_prefix('"') else {
            break;
        };
        let Some(close) = body.find('"') else { break };
        list.push(Tag {
            weak,
            opaque: &rest[..close + 2],
        });
        rest = &body[close + 1..];
    }
    Tags::List(list)
}

/// All field lines of `name` as one list, as a recipient may combine them; `None` when absent
/// or not visible ASCII (such a header cannot match anything).
fn list(headers: &HeaderMap, name: HeaderName) -> Option<Result<String, ()>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut out = Vec::new();
    for v in values {
        match v.to_str() {
            Ok(s) => out.push(s),
            Err(_) => return Some(Err(())),
        }
    }
    Some(Ok(out.join(",")))
}

/// Strong comparison (If-Match): neither side weak and the same opaque tag.
fn strong_match(value: &str, etag: &str) -> bool {
    match tags(value) {
        Tags::Any => true,
        Tags::List(l) => l.iter().any(|t| !t.weak && t.opaque == etag),
    }
}

/// Weak comparison (If-None-Match): the same opaque tag, weak or not.
fn weak_match(value: &str, etag: &str) -> bool {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    match tags(value) {
        Tags::Any => true,
        Tags::List(l) => l.iter().any(|t| t.opaque == etag),
    }
}

/// A date header with exactly one valid HTTP-date, in unix seconds; anything else is ignored.
fn date(headers: &HeaderMap, name: HeaderName) -> Option<u64> {
    let mut all = headers.get_all(name).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return None;
    };
    let t = httpdate::parse_http_date(v.to_str().ok()?.trim()).ok()?;
    Some(crate::clock::http_secs(t))
}

/// Evaluates the request's preconditions against the current `etag` (strong, quoted) and
/// Last-Modified (`modified_secs`, if the object has one: date conditions on an object
/// without one are ignored), in RFC 9110 §13.2.2 order. `Ok` means: go on to Range.
pub fn evaluate(
    method: &Method,
    headers: &HeaderMap,
    etag: &str,
    modified_secs: impl Into<Option<u64>>,
) -> Result<(), Stop> {
    let modified_secs = modified_secs.into();
    // Step 1 / 2: If-Match wins over If-Unmodified-Since.
    match list(headers, header::IF_MATCH) {
        Some(v) => {
            if !v.is_ok_and(|v| strong_match(&v, etag)) {
                return Err(Stop::PreconditionFailed);
            }
        }
        None => {
            if date(headers, header::IF_UNMODIFIED_SINCE)
                .is_some_and(|d| modified_secs.is_some_and(|m| m > d))
            {
                return Err(Stop::PreconditionFailed);
            }
        }
    }
    let safe = method == Method::GET || method == Method::HEAD;
    // Step 3 / 4: If-None-Match wins over If-Modified-Since.
    match list(headers, header::IF_NONE_MATCH) {
        Some(v) => {
            if v.is_ok_and(|v| weak_match(&v, etag)) {
                return Err(if safe {
                    Stop::NotModified
                } else {
                    Stop::PreconditionFailed
                });
            }
        }
        None => {
            let unchanged_since = |d| modified_secs.is_some_and(|m| m <= d);
            if safe && date(headers, header::IF_MODIFIED_SINCE).is_some_and(unchanged_since) {
                return Err(Stop::NotModified);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const ETAG: &str = "\"1-2-3\"";
    const MODIFIED: u64 = 1_000_000;

    fn run(pairs: &[(HeaderName, &str)]) -> Result<(), Stop> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        evaluate(&Method::GET, &h, ETAG, MODIFIED)
    }

    fn at(secs: u64) -> String {
        crate::clock::http_date(secs)
    }

    #[test]
    fn entity_tag_lists_parse_with_weak_markers_and_commas() {
        assert_eq!(tags(" * "), Tags::Any);
        let Tags::List(l) = tags("W/\"a\", \"b,c\" ,\"d\"") else {
            panic!()
        };
        assert_eq!(
            l,
            vec![
                Tag {
                    weak: true,
                    opaque: "\"a\""
                },
                Tag {
                    weak: false,
                    opaque: "\"b,c\""
                },
                Tag {
                    weak: false,
                    opaque: "\"d\""
                }
            ]
        );
        let Tags::List(l) = tags("\"a\", garbage, \"b\"") else {
            panic!()
        };
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn if_match_needs_a_strong_match() {
        assert_eq!(run(&[(header::IF_MATCH, ETAG)]), Ok(()));
        assert_eq!(run(&[(header::IF_MATCH, "*")]), Ok(()));
        assert_eq!(run(&[(header::IF_MATCH, "\"x\", \"1-2-3\"")]), Ok(()));
        assert_eq!(
            run(&[(header::IF_MATCH, "W/\"1-2-3\"")]),
            Err(Stop::PreconditionFailed)
        );
        assert_eq!(
            run(&[(header::IF_MATCH, "\"x\"")]),
            Err(Stop::PreconditionFailed)
        );
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison() {
        assert_eq!(
            run(&[(header::IF_NONE_MATCH, "W/\"1-2-3\"")]),
            Err(Stop::NotModified)
        );
        assert_eq!(run(&[(header::IF_NONE_MATCH, "*")]), Err(Stop::NotModified));
        assert_eq!(run(&[(header::IF_NONE_MATCH, "\"x\"")]), Ok(()));
    }

    #[test]
    fn dates_compare_in_whole_seconds_and_bad_dates_are_ignored() {
        assert_eq!(
            run(&[(header::IF_MODIFIED_SINCE, &at(MODIFIED))]),
            Err(Stop::NotModified)
        );
        assert_eq!(
            run(&[(header::IF_MODIFIED_SINCE, &at(MODIFIED - 1))]),
            Ok(())
        );
        assert_eq!(
            run(&[(header::IF_UNMODIFIED_SINCE, &at(MODIFIED - 1))]),
            Err(Stop::PreconditionFailed)
        );
        assert_eq!(run(&[(header::IF_UNMODIFIED_SINCE, &at(MODIFIED))]), Ok(()));
        assert_eq!(run(&[(header::IF_MODIFIED_SINCE, "not a date")]), Ok(()));
        assert_eq!(run(&[(header::IF_UNMODIFIED_SINCE, "not a date")]), Ok(()));
    }

    #[test]
    fn precedence_follows_rfc_9110() {
        // If-Match beats If-Unmodified-Since.
        assert_eq!(
            run(&[
                (header::IF_MATCH, ETAG),
                (header::IF_UNMODIFIED_SINCE, &at(0))
            ]),
            Ok(())
        );
        // If-None-Match beats If-Modified-Since.
        assert_eq!(
            run(&[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_MODIFIED_SINCE, &at(MODIFIED))
            ]),
            Ok(())
        );
        // 412 is decided before 304.
        assert_eq!(
            run(&[(header::IF_MATCH, "\"x\""), (header::IF_NONE_MATCH, ETAG)]),
            Err(Stop::PreconditionFailed)
        );
    }

    #[test]
    fn several_field_lines_form_one_list() {
        assert_eq!(
            run(&[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_NONE_MATCH, ETAG)
            ]),
            Err(Stop::NotModified)
        );
    }
}
