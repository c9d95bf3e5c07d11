//! What the S3 and Swift backends share: one GET or HEAD of an object from an HTTP store,
//! the store's answer checked against HTTP's rules and mapped onto the seam, and the store's
//! body streamed on as the response body.
//!
//! The store is given the request's preconditions and at most one range, spelled anew. Its
//! answer is not taken on trust: Keyhole decides If-Range itself (stores answer 206 to a
//! stale one) and checks the preconditions again on the validators the store returned (some
//! stores ignore If-Match or If-Unmodified-Since). A request for several ranges is answered
//! with the whole object, as RFC 9110 allows: one upstream request, never a buffered object.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, StatusCode};
use http_body::{Body as _, Frame};

use super::{Ask, BackendError, Contents, Etag, Fetched, ObjectMeta, Selection};
use crate::body::{Body, BoxError, Source};
use crate::http_rules::{self, range};
use crate::upstream::client::{Client, Error as ClientError, IdleBody, Timeouts};

/// The preconditions a store is given as the client sent them (every field line).
const PRECONDITIONS: [HeaderName; 4] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// What is read of an answer that carries no object (an error, a 304) so that its connection
/// can go back to the pool; past this the connection is dropped instead.
const SMALL: usize = 64 * 1024;

/// One store's client, named for logs (never by its URL).
pub struct Upstream {
    client: Client,
    name: String,
}

impl Upstream {
    pub fn new(name: &str, timeouts: Timeouts) -> Result<Upstream, BackendError> {
        let client = Client::new(timeouts).map_err(|e| BackendError::Unavailable {
            store: name.to_string(),
            detail: e.to_string(),
            retry: false,
        })?;
        Ok(Upstream {
            client,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `req` (GET or HEAD, an absolute URI, the store's own auth headers already set and
    /// nothing of the client's) with `ask`'s Range and preconditions added, and maps the answer
    /// (see the module's comment). The body is streamed; one that ends short of its length
    /// fails, which cuts the client's connection.
    pub async fn fetch(&self, req: Request<()>, ask: &Ask<'_>) -> Result<Fetched, BackendError> {
        let range = match ask.head {
            true => None,
            false => range::forwardable(ask.headers),
        };
        if let Some(fetched) = self.exchange(&req, ask, range.as_deref()).await? {
            return Ok(fetched);
        }
        // The store sent a range the request does not get (a stale If-Range, or a range of
        // an empty object): once more, for the whole object.
        let again = match range {
            Some(_) => self.exchange(&req, ask, None).await?,
            None => None,
        };
        again.ok_or_else(|| self.broken("the store answered with a range it was not asked for"))
    }

    /// Sends any other request (a HEAD of an account, a listing) and returns the head and at
    /// most `limit` bytes of body. Only a 2xx is an answer: 404 is `NotFound`, 401 and 403
    /// are `Misconfigured` (the store refused Keyhole's credentials), the rest `Unavailable`.
    pub async fn send(
        &self,
        req: Request<()>,
        limit: usize,
    ) -> Result<(http::response::Parts, Bytes), BackendError> {
        let (parts, ()) = req.into_parts();
        let resp = self
            .client
            .send(parts.method, parts.uri, parts.headers, Bytes::new())
            .await
            .map_err(|e| self.failed(&e))?;
        let (head, body) = resp.into_parts();
        if !head.status.is_success() {
            let body = body.collect_limited(SMALL).await.unwrap_or_default();
            return Err(self.refusal(head.status, &body));
        }
        let body = body
            .collect_limited(limit)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok((head, body))
    }

    /// One request to the store and what its answer means for this request; `None`: ask
    /// again for the whole object.
    async fn exchange(
        &self,
        req: &Request<()>,
        ask: &Ask<'_>,
        range: Option<&str>,
    ) -> Result<Option<Fetched>, BackendError> {
        let mut headers = req.headers().clone();
        for name in PRECONDITIONS {
            for v in ask.headers.get_all(&name) {
                headers.append(name.clone(), v.clone());
            }
        }
        if let Some(r) = range.and_then(|r| HeaderValue::from_str(r).ok()) {
            headers.insert(header::RANGE, r);
        }
        let resp = self
            .client
            .send(
                req.method().clone(),
                req.uri().clone(),
                headers,
                Bytes::new(),
            )
            .await
            .map_err(|e| self.failed(&e))?;
        let (head, body) = resp.into_parts();
        let status = head.status;
        let h = &head.headers;
        let content_range = h
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(range::parse_content_range);
        let stopped = |selection, meta| {
            Some(Fetched {
                meta,
                selection,
                contents: Contents::None,
            })
        };
        match status {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => {}
            StatusCode::NOT_MODIFIED => {
                drain(body).await;
                return Ok(stopped(Selection::NotModified, meta(h, 0)));
            }
            StatusCode::PRECONDITION_FAILED => {
                drain(body).await;
                return Ok(stopped(Selection::PreconditionFailed, meta(h, 0)));
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                drain(body).await;
                // A 416 must say the object's length (`bytes */len`), and Keyhole's own answer
                // needs it. A store that leaves it out (rclone) is asked for the whole object,
                // whose head tells it; the range is then decided here.
                let Some(len) = content_range.as_ref().and_then(|c| c.len) else {
                    return Ok(None);
                };
                let meta = meta(h, len);
                // Only if the request's own range cannot be met: of an empty object, for
                // one, the whole (empty) object is the answer.
                return Ok(match decide(ask, &meta, len) {
                    Selection::Unsatisfiable => stopped(Selection::Unsatisfiable, meta),
                    _ => None,
                });
            }
            s => {
                let body = body.collect_limited(SMALL).await.unwrap_or_default();
                return Err(self.refusal(s, &body));
            }
        }
        let length = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // A range is what Content-Range says was sent (rclone sends one with a 200); the
        // object's length is the range's stated total, else the body's length.
        let (sent, len) = match (&content_range, status, length) {
            (
                Some(range::ContentRange {
                    sent: Some(r),
                    len: Some(n),
                }),
                _,
                _,
            ) => (Some(r.clone()), *n),
            (Some(_), _, _) => return Err(self.broken("the store sent an unusable Content-Range")),
            (None, StatusCode::OK, Some(n)) => (None, n),
            (None, StatusCode::OK, None) => return Err(self.broken("the store sent no length")),
            (None, _, _) => return Err(self.broken("the store sent a 206 without Content-Range")),
        };
        let sent_len = sent.as_ref().map_or(len, |r| r.end - r.start);
        if !ask.head && length.is_some_and(|n| n != sent_len) {
            return Err(self.broken("the store's Content-Length and Content-Range disagree"));
        }
        let meta = meta(h, len);
        let selection = match (decide(ask, &meta, len), sent) {
            (stop @ (Selection::NotModified | Selection::PreconditionFailed), _) => {
                return Ok(stopped(stop, meta));
            }
            (Selection::Unsatisfiable, _) => return Ok(stopped(Selection::Unsatisfiable, meta)),
            (Selection::Whole, None) => Selection::Whole,
            // The store ignored the range: the whole object is a valid answer too.
            (Selection::Single(_), None) => Selection::Whole,
            (Selection::Single(want), Some(got)) if want == got => Selection::Single(want),
            (Selection::Whole, Some(_)) => return Ok(None),
            (_, Some(_)) => return Err(self.broken("the store sent other bytes than asked for")),
            (Selection::Multi(_), None) => Selection::Whole,
        };
        let contents = match ask.head {
            true => Contents::None,
            false => Contents::Stream(Body::stream(Streamed {
                inner: body,
                remaining: sent_len,
            })),
        };
        Ok(Some(Fetched {
            meta,
            selection,
            contents,
        }))
    }

    /// A client error: 504 for the time limits, else 502.
    fn failed(&self, e: &ClientError) -> BackendError {
        match e.is_timeout() {
            true => BackendError::Timeout {
                store: self.name.clone(),
            },
            false => BackendError::Unavailable {
                store: self.name.clone(),
                detail: e.to_string(),
                retry: e.retry_may_help(),
            },
        }
    }

    /// A store that broke HTTP's rules in its answer.
    fn broken(&self, detail: &str) -> BackendError {
        BackendError::Unavailable {
            store: self.name.clone(),
            detail: detail.to_string(),
            retry: false,
        }
    }

    /// A status that is no answer about the object: what it says about the store.
    fn refusal(&self, status: StatusCode, body: &[u8]) -> BackendError {
        // An S3 error's code says which (SignatureDoesNotMatch, InvalidAccessKeyId, ...);
        // nothing else of the body is repeated, since it may echo the request.
        let code = s3_error_code(body)
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let store = self.name.clone();
        match status {
            StatusCode::NOT_FOUND => BackendError::NotFound,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => BackendError::Misconfigured {
                store,
                status: status.as_u16(),
                detail: format!("HTTP {}{code}", status.as_u16()),
            },
            s => BackendError::Unavailable {
                store,
                detail: format!("HTTP {}{code}", s.as_u16()),
                retry: s.is_server_error(),
            },
        }
    }
}

/// Keyhole's own answer to the request, on the validators the store returned. Several
/// ranges are answered whole (see the module's comment).
fn decide(ask: &Ask<'_>, meta: &ObjectMeta, len: u64) -> Selection {
    let modified = meta.modified.map(crate::clock::http_secs);
    let select = |etag: &str| http_rules::select(ask.head, ask.headers, len, etag, modified);
    match meta
        .etag
        .as_ref()
        .map_or_else(|| select(""), |e| e.with_text(select))
    {
        Selection::Multi(_) => Selection::Whole,
        s => s,
    }
}

/// The object's metadata as the store states it; only what is kept (see DESIGN.md section 6).
fn meta(h: &HeaderMap, len: u64) -> ObjectMeta {
    let modified = h
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    ObjectMeta {
        len,
        modified,
        etag: h.get(header::ETAG).and_then(Etag::verbatim),
        content_type: h.get(header::CONTENT_TYPE).cloned(),
        content_encoding: h.get(header::CONTENT_ENCODING).cloned(),
        content_language: h.get(header::CONTENT_LANGUAGE).cloned(),
    }
}

/// `<Code>…</Code>` of an S3 error body, if it is a plain token.
fn s3_error_code(body: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(body).ok()?;
    let start = s.find("<Code>")? + "<Code>".len();
    let code = &s[start..start + s[start..].find("</Code>")?];
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(code)
}

/// Reads a small answer to its end, so that its connection can be used again.
async fn drain(body: IdleBody) {
    let _ = body.collect_limited(SMALL).await;
}

/// The store's body, passed on frame by frame. It must carry exactly the bytes its head
/// promised: more or fewer is an error, never a short or long success.
struct Streamed {
    inner: IdleBody,
    remaining: u64,
}

impl Source for Streamed {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let frame = match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) if self.remaining == 0 => return Poll::Ready(None),
                Poll::Ready(None) => {
                    return Poll::Ready(Some(Err("the store's body ended short".into())))
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            // Trailers carry nothing the client is owed.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let n = data.len() as u64;
            if n > self.remaining {
                return Poll::Ready(Some(Err("the store sent more than its length".into())));
            }
            self.remaining -= n;
            if n > 0 {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
        }
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_s3_error_code_is_repeated() {
        let xml = b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(xml), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_error_code(b"<Code>a b</Code>"), None);
        assert_eq!(s3_error_code(b"<Code>abc"), None);
        assert_eq!(s3_error_code(b"Unauthorized"), None);
    }
}
