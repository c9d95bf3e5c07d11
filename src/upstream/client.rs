//! One pooled HTTP client per upstream store.
//!
//! What it does and does not do, since a gateway's client is where leaks happen:
//! - It sends exactly the method, URL, headers and body it is given. It never copies anything
//!   from a downstream request: a client's `Authorization`, `Cookie` or `Host` reach a store
//!   only if a caller puts them in, and callers must not. The `Host` header is the store's own,
//!   set by hyper from the URL.
//! - No redirect is followed (a 3xx is returned as it is) and no proxy is taken from the
//!   environment (`HTTP_PROXY` and friends are never read).
//! - Time limits: to connect, to the response head, and between two frames of a response body
//!   (`IdleBody`), so a store that stalls can never hold a request forever.
//! - `https` stores are spoken to with rustls and the platform's trust store.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{sleep, Instant, Sleep};

/// The time limits of one store's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish the TCP connection (and, for https, the TLS handshake is inside `head`).
    pub connect: Duration,
    /// From sending the request to the whole response head.
    pub head: Duration,
    /// Between two frames of a response body.
    pub body_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            head: Duration::from_secs(30),
            body_idle: Duration::from_secs(30),
        }
    }
}

/// What went wrong talking to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The store's address refused the connection (nothing listening).
    Refused,
    /// The store's host could not be resolved or reached.
    Unreachable,
    /// No connection within `Timeouts::connect`.
    ConnectTimeout,
    /// No complete response head within `Timeouts::head`.
    HeadTimeout,
    /// No body frame within `Timeouts::body_idle`.
    BodyIdle,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The store broke HTTP: a malformed answer, or the connection closed mid-message.
    Protocol,
    /// The request itself could not be sent (a URL without scheme or host).
    InvalidRequest,
}

/// An error talking to a store. Its text names what happened, never the URL or a header.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    fn new(kind: ErrorKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Error {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    fn bare(kind: ErrorKind) -> Error {
        Error { kind, source: None }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True for the time limits: a gateway answers these with 504, the others with 502.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::ConnectTimeout | ErrorKind::HeadTimeout | ErrorKind::BodyIdle
        )
    }

    /// Whether the same request might succeed later: the store was down, slow or cut the
    /// connection. Not for TLS or an unsendable request, which need a configuration change.
    /// (Whether a retry is allowed, e.g. no byte went to the client yet, is the caller's call.)
    pub fn retry_may_help(&self) -> bool {
        !matches!(self.kind, ErrorKind::Tls | ErrorKind::InvalidRequest)
    }

    /// Classifies an error of hyper's client by walking its causes.
    fn classify(e: hyper_util::client::legacy::Error) -> Error {
        // Refused and timed out mean the connect step only: a read that times out later on a
        // pooled connection is a broken answer, not a store that cannot be reached.
        let kind = match e.is_connect() {
            true => kind_of(&e).unwrap_or(ErrorKind::Unreachable),
            false => ErrorKind::Protocol,
        };
        Error::new(kind, e)
    }
}

/// The kind named by the first cause that tells one.
fn kind_of(e: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return Some(ErrorKind::Tls);
        }
        let mut next = err.source();
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(ErrorKind::Refused),
                std::io::ErrorKind::TimedOut => return Some(ErrorKind::ConnectTimeout),
                _ => {}
            }
            if matches!(
                io.raw_os_error(),
                Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EADDRNOTAVAIL)
            ) {
                return Some(ErrorKind::Unreachable);
            }
            // io::Error's `source` skips the error it wraps, so step into it by hand:
            // hyper-rustls reports a failed handshake as io(io(rustls::Error)).
            if let Some(inner) = io.get_ref() {
                next = Some(inner as &(dyn StdError + 'static));
            }
        }
        cur = next;
    }
    None
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Refused => "the store refused the connection",
            ErrorKind::Unreachable => "the store could not be reached",
            ErrorKind::ConnectTimeout => "connecting to the store timed out",
            ErrorKind::HeadTimeout => "the store sent no response head in time",
            ErrorKind::BodyIdle => "the store's response body stalled",
            ErrorKind::Tls => "TLS with the store failed",
            ErrorKind::Protocol => "the store's answer broke HTTP",
            ErrorKind::InvalidRequest => "the request to the store could not be made",
        };
        f.write_str(what)?;
        // hyper's and io's messages name causes ("Connection refused (os error 111)"), never
        // the URL or a header value.
        let mut cause = self
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static));
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl StdError for Error {}

/// A pooled client for one store. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeouts: Timeouts,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Must be called inside a tokio runtime when the first request is sent. Fails only if
    /// rustls cannot be set up (its aws-lc-rs provider refusing its own defaults).
    pub fn new(timeouts: Timeouts) -> Result<Client, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeouts.connect));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let tls = || {
            rustls::ClientConfig::builder_with_provider(
                rustls::crypto::aws_lc_rs::default_provider().into(),
            )
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Tls, e))
        };
        let tls = match tls()?.with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            Err(e) => {
                // Plain-http stores still work; an https one then fails with a TLS error.
                tracing::warn!(error = %e, "no trusted roots in the system store");
                tls()?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = HyperClient::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Ok(Client { inner, timeouts })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Sends `method url` with exactly `headers` and `body` (empty for GET/HEAD) and waits for
    /// the response head, at most `Timeouts::head`. The body it returns enforces
    /// `Timeouts::body_idle`; dropping it drops the connection if it was not read to the end.
    pub async fn send(
        &self,
        method: Method,
        url: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<IdleBody>, Error> {
        if url.scheme().is_none() || url.host().is_none() {
            return Err(Error::bare(ErrorKind::InvalidRequest));
        }
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = url;
        *req.headers_mut() = headers;
        let head = tokio::time::timeout(self.timeouts.head, self.inner.request(req)).await;
        let resp = match head {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => return Err(Error::classify(e)),
            Err(_) => return Err(Error::bare(ErrorKind::HeadTimeout)),
        };
        let idle = self.timeouts.body_idle;
        Ok(resp.map(|b| IdleBody::new(b, idle)))
    }
}

/// A store's response body that fails with `ErrorKind::BodyIdle` when no frame arrives within
/// its idle time of being asked for (a reader's own pauses never count against the store),
/// and with `ErrorKind::Protocol` when the connection breaks mid-body (a store
/// that promised a Content-Length and stopped short is an error, never a short success).
pub struct IdleBody {
    inner: Incoming,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// The timer runs for the poll that is waiting for a frame; set on the first Pending.
    waiting: bool,
    done: bool,
}

impl IdleBody {
    fn new(inner: Incoming, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            timer: Box::pin(sleep(idle)),
            waiting: false,
            done: false,
        }
    }

    /// Reads the whole body, failing past `limit` bytes (for small answers: auth, listings).
    pub async fn collect_limited(self, limit: usize) -> Result<Bytes, Error> {
        let mut out = Vec::new();
        let mut body = self;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if out.len().saturating_add(data.len()) > limit {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "the store's answer is too large",
                    ));
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(out))
    }
}

impl fmt::Debug for IdleBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleBody")
            .field("idle", &self.idle)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Body for IdleBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(Error::new(ErrorKind::Protocol, e))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.done = true;
                        Poll::Ready(Some(Err(Error::bare(ErrorKind::BodyIdle))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_504_and_the_rest_502() {
        for kind in [
            ErrorKind::ConnectTimeout,
            ErrorKind::HeadTimeout,
            ErrorKind::BodyIdle,
        ] {
            assert!(Error::bare(kind).is_timeout());
        }
        for kind in [
            ErrorKind::Refused,
            ErrorKind::Unreachable,
            ErrorKind::Tls,
            ErrorKind::Protocol,
        ] {
            assert!(!Error::bare(kind).is_timeout());
        }
    }

    #[test]
    fn only_configuration_errors_say_a_retry_cannot_help() {
        assert!(!Error::bare(ErrorKind::Tls).retry_may_help());
        assert!(!Error::bare(ErrorKind::InvalidRequest).retry_may_help());
        assert!(Error::bare(ErrorKind::Refused).retry_may_help());
        assert!(Error::bare(ErrorKind::HeadTimeout).retry_may_help());
    }

    #[test]
    fn a_tls_failure_wrapped_in_io_is_told_apart_from_a_refusal() {
        let tls = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("bad".into()),
        ));
        assert_eq!(kind_of(&tls), Some(ErrorKind::Tls));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(kind_of(&refused), Some(ErrorKind::Refused));
        let unreachable = std::io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert_eq!(kind_of(&unreachable), Some(ErrorKind::Unreachable));
    }

    #[tokio::test]
    async fn a_url_without_host_is_refused_before_anything_is_sent() {
        let c = Client::new(Timeouts::default()).unwrap();
        let e = c
            .send(
                Method::GET,
                Uri::from_static("/x"),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await
            .err()
            .map(|e| e.kind());
        assert_eq!(e, Some(ErrorKind::InvalidRequest));
    }
}
