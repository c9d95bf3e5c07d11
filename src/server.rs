//! The listener: accepts connections, serves HTTP/1.1 (keep-alive) and HTTP/2 on each with
//! hyper, and writes one access-log line per request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};

pub use crate::app::{Live, State};
use crate::body::{Body, BoxError};
use crate::budget::Charge;
use crate::config::{Config, Limits};
use crate::metrics::{Held, Limit, Metrics};
use crate::outcome::{Kind, Note};
use crate::reply::text;
use crate::watchdog::{Activity, Busy, Quiet};
use crate::zerocopy::{Conn, Plan};

/// hyper's per-connection buffer limit, for reading request heads and queueing writes.
const MAX_BUF: usize = 64 * 1024;

/// Largest HTTP/2 request head (decoded header list), hyper's default made explicit.
const H2_MAX_HEADER_LIST: u32 = 16 * 1024;

/// A response body that logs the request when it is done with (sent, or dropped because
/// the client went away), so the line carries the bytes really sent.
pub struct Logged {
    inner: Body,
    record: Record,
    /// Keeps the request in flight for the connection's watchdog until the body is done with.
    _busy: Busy,
}

/// What the access log and the metrics say of a request once its body is done with.
struct Record {
    state: Arc<State>,
    method: Method,
    /// Redacted; `None` when the access log is off.
    path: Option<String>,
    status: u16,
    /// Body bytes handed to the connection, and how many of them were copies.
    sent: u64,
    copied: u64,
    start: Instant,
    note: Note,
    peer: SocketAddr,
    _in_flight: Held,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let r = &self.record;
        let elapsed = r.start.elapsed();
        r.state.metrics.done(r.note.kind, elapsed, r.copied);
        if let Some(path) = &r.path {
            tracing::info!(
                target: "keyhole::access",
                method = %r.method,
                path = %path,
                status = r.status,
                bytes = r.sent,
                // hyper stops polling once the body says it has ended, so ask the body.
                complete = http_body::Body::is_end_stream(&self.inner),
                micros = elapsed.as_micros() as u64,
                client = %r.note.client.unwrap_or(r.peer.ip()),
                protocol = %r.note.kind.as_str(),
                // SECURITY: the reason goes to the log only; the response never names it.
                reason = r.note.reason.map(|r| tracing::field::display(r.as_str())),
            );
        }
    }
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_frame(cx);
        match &res {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    let r = &mut this.record;
                    r.sent += d.len() as u64;
                    if !crate::zerocopy::is_placeholder(d) {
                        r.copied += d.len() as u64;
                    }
                }
            }
            // The connection is closed after this; say why.
            Poll::Ready(Some(Err(e))) => tracing::warn!(error = %e, "a body failed"),
            _ => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response, with a body that records the request when it is done with.
struct Begun {
    state: Arc<State>,
    method: Method,
    start: Instant,
    peer: SocketAddr,
    in_flight: Held,
    busy: Busy,
}

fn logged(begun: Begun, path: &str, note: Note, resp: Response<Body>) -> Response<Logged> {
    let status = resp.status().as_u16();
    let log_on = tracing::enabled!(target: "keyhole::access", tracing::Level::INFO);
    let record = Record {
        state: begun.state,
        method: begun.method,
        // SECURITY: a path can carry a link's signature (an encoded `?`); never log it.
        path: log_on.then(|| crate::redact::redact(path).into_owned()),
        status,
        sent: 0,
        copied: 0,
        start: begun.start,
        note,
        peer: begun.peer,
        _in_flight: begun.in_flight,
    };
    resp.map(|inner| Logged {
        inner,
        record,
        _busy: begun.busy,
    })
}

/// Contains a handler's panic to its request, which gets a 500; the server and the other
/// requests go on (and `keyhole_panics_total` counts it). A body's panic ends its
/// connection's task, which tokio contains the same way. `panic = "abort"` must never be set
/// for this crate.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning; the inner future is never moved out of `self`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

async fn service(
    live: Arc<Live>,
    req: Request<Incoming>,
    peer: SocketAddr,
    plan: Option<Arc<Plan>>,
    charge: Charge,
    activity: Arc<Activity>,
) -> Result<Response<Logged>, Infallible> {
    let start = Instant::now();
    // The request keeps this snapshot to its end, whatever a reload stores meanwhile.
    let state = live.load();
    let in_flight = state.metrics.request();
    let method = req.method().clone();
    // HTTP/2 frames its own data; only HTTP/1 can take placeholders.
    let http1 = req.version() <= http::Version::HTTP_11;
    let busy = activity.begin(!http1);
    // A clone shares the request's bytes: no copy unless something is logged.
    let uri = req.uri().clone();
    let handled = crate::handler::handle_noted(&state, req, peer);
    let (mut resp, note) = contained(&state.metrics, &method, uri.path(), handled).await;
    state.metrics.first_byte(note.kind, start.elapsed());
    // HTTP/2 frames its own data; only plain HTTP/1 can take sendfile placeholders (over
    // TLS there is no plan: the bytes must pass through the cipher, copied).
    resp.body_mut().carried_by(crate::body::Carrier {
        account: charge.account(),
        zero_copy: plan.filter(|_| http1),
        multiplexed: !http1,
    });
    let begun = Begun {
        state,
        method,
        start,
        peer,
        in_flight,
        busy,
    };
    Ok(logged(begun, uri.path(), note, resp))
}

/// The handler's response, or a 500 when it panicked, counted in the metrics as both.
async fn contained(
    metrics: &Metrics,
    method: &Method,
    path: &str,
    handled: impl Future<Output = (Response<Body>, Note)>,
) -> (Response<Body>, Note) {
    match CatchUnwind(handled).await {
        Ok(r) => r,
        Err(()) => {
            metrics.panic();
            // `handle` counts the responses it returns; this one it never returned.
            metrics.response(Kind::Other, 500);
            tracing::error!(%method, path = %crate::redact::redact(path), "request handler panicked");
            let resp = text(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error\n",
            );
            (resp, Note::new(Kind::Other))
        }
    }
}

/// Serves connections from `listener` until `shutdown` completes, then lets open
/// connections finish for up to `grace`. Each connection takes its timeouts and TLS
/// certificate from the snapshot current at its accept; each request, its config.
pub async fn serve(
    live: Arc<Live>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let first = live.load();
    let metrics = first.metrics.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A stalled client then holds at most one body frame (see `body::CHUNK`), and request
    // heads are capped at 64 KiB.
    // Vectored writes hand body chunks to the connection uncopied, which zero-copy needs.
    builder.http1().max_buf_size(MAX_BUF).writev(true);
    // SECURITY: what one HTTP/2 connection may make the server hold. Each stream holds at most
    // one unsent body chunk (see `budget`), which h2's send buffer need not exceed. The reset
    // limits are h2's and hyper's defaults, stated so an upgrade cannot quietly drop the
    // defence against rapid-reset floods.
    builder
        .http2()
        .max_concurrent_streams(first.config.limits.max_streams)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_send_buf_size(crate::body::CHUNK)
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(1024);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // One permit per open connection, held by its task: at the cap the loop waits for one to
    // close rather than accept (the kernel's backlog holds the rest).
    let max = first.config.limits.max_connections as usize;
    drop(first);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    let mut full = Quiet::new(Duration::from_secs(60));
    let mut failing = Quiet::new(Duration::from_secs(60));
    let mut failed: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                metrics.limit_hits(Limit::MaxConnections, 1);
                if let Some(unsaid) = full.event(Instant::now()) {
                    tracing::warn!(
                        max_connections = max,
                        earlier = unsaid,
                        "max_connections reached; new connections wait for one to close"
                    );
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: one line per
                    // burst, and a growing pause (the failing connection stays queued, so
                    // retrying at once would spin).
                    metrics.accept_error();
                    failed += 1;
                    if let Some(unsaid) = failing.event(Instant::now()) {
                        tracing::warn!(error = %e, earlier = unsaid, "accept failed; backing off");
                    }
                    let pause = Duration::from_millis(10 << failed.min(7));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            },
            _ = &mut shutdown => break,
        };
        if failed > 0 {
            tracing::info!(failed, "accepting again");
            failed = 0;
        }
        // Small responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let open = metrics.connection();
        let conn = Accepted {
            live: live.clone(),
            builder: builder.clone(),
            graceful: graceful.watcher(),
            peer,
        };
        tokio::spawn(async move {
            let _slot = permit;
            let _open = open;
            conn.run(stream).await;
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            // Each connection task returns its permit when it ends.
            let open = max.saturating_sub(slots.available_permits());
            metrics.limit_hits(Limit::ShutdownGrace, open as u64);
            tracing::warn!(
                "shutdown: {open} connection(s) still open after the {}s grace, closed",
                grace.as_secs()
            );
        }
    }
}

/// One accepted connection, on its own task.
struct Accepted {
    live: Arc<Live>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
}

impl Accepted {
    async fn run(self, stream: TcpStream) {
        let state = self.live.load();
        let limits = state.config.limits;
        let metrics = state.metrics.clone();
        let activity = Arc::new(Activity::default());
        // The connection's share of the body budget, so one client's streams cannot take it all.
        let charge = state.buffers.connection();
        let Some(tls) = &state.config.tls else {
            let plan = Arc::new(Plan::default());
            let io = Conn::new(
                stream,
                plan.clone(),
                metrics.zero_copy_bytes.clone(),
                activity.clone(),
            );
            drop(state);
            return self
                .serve(io, Some(plan), charge, activity, limits, metrics)
                .await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
        // The snapshot's other parts are not this connection's to keep.
        drop(state);
        // The handshake is part of the first request's head: a client that stalls in it is cut
        // at the same timeout.
        let peer = self.peer;
        let io =
            match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => crate::tls::TlsConn::new(s, activity.clone()),
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => {
                    metrics.limit_hits(Limit::HeaderReadTimeout, 1);
                    return tracing::debug!(%peer, "TLS handshake timed out");
                }
            };
        self.serve(io, None, charge, activity, limits, metrics)
            .await
    }

    async fn serve<I>(
        self,
        io: I,
        plan: Option<Arc<Plan>>,
        charge: Charge,
        activity: Arc<Activity>,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let Accepted {
            live,
            builder,
            graceful,
            peer,
        } = self;
        let svc_activity = activity.clone();
        let svc = hyper::service::service_fn(move |req| {
            service(
                live.clone(),
                req,
                peer,
                plan.clone(),
                charge.clone(),
                svc_activity.clone(),
            )
        });
        let conn = graceful.watch(builder.serve_connection(io, svc).into_owned());
        // The connection runs as its own task so that its IO wake-ups poll hyper alone; this
        // task wakes only when it ends or when the watchdog's timer is due.
        let mut conn = tokio::spawn(conn);
        tokio::select! {
            ended = &mut conn => match ended {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
                Err(e) if e.is_panic() => {
                    metrics.panic();
                    tracing::error!(%peer, "a connection panicked while sending a body; it was closed");
                }
                // Only the branch below aborts the task.
                Err(_) => {}
            },
            // Dropping the connection closes its socket; a response cut short says so in
            // the access log (`complete=false`).
            limit = crate::watchdog::watch(&activity, &limits) => {
                conn.abort();
                // The socket is closed once the task has dropped it; the slot is free then.
                let _ = conn.await;
                metrics.limit_hits(limit, 1);
                tracing::debug!(%peer, limit = limit.key(), "connection closed by a limit");
            }
        }
    }
}

/// Starts a server on its own thread and runtime, for tests and embedding: returns the
/// bound address. The server lives as long as the process.
pub fn spawn_background(config: Config) -> std::io::Result<SocketAddr> {
    let live = Arc::new(Live::new(State::new(config)?));
    let std_listener = std::net::TcpListener::bind(live.load().config.listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            match TcpListener::from_std(std_listener) {
                Ok(listener) => serve(live, listener, std::future::pending(), Duration::ZERO).await,
                Err(e) => tracing::error!(error = %e, "cannot listen"),
            }
        })
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::{contained, CatchUnwind};
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn a_panic_is_contained_to_its_future() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = CatchUnwind(async { panic!("boom") }).await;
        std::panic::set_hook(hook);
        assert_eq!(caught, Err::<(), ()>(()));
        assert_eq!(CatchUnwind(async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_contained_panic_counts_as_a_5xx_response() {
        let metrics = Metrics::default();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let handled = async { panic!("boom") };
        let (resp, _) = contained(&metrics, &http::Method::GET, "/x", handled).await;
        std::panic::set_hook(hook);
        assert_eq!(resp.status(), 500);
        let text = metrics.render();
        assert!(
            text.contains("keyhole_requests_total{protocol=\"other\",class=\"5xx\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("keyhole_panics_total 1\n"), "{text}");
    }
}
