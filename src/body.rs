//! The response body: nothing, a buffer, or an object's bytes streamed by the backend that
//! holds them. What a stream is made of (a file, an upstream response) is the backend's
//! business; the listener only tells it how the connection will carry it (`Carrier`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::budget::Account;
use crate::zerocopy::Plan;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Largest read per frame: large enough for throughput, small enough that a stalled client
/// holds little (hyper buffers at most one frame per connection; see `server.rs`).
pub const CHUNK: usize = crate::bufpool::REGION;

/// One piece of an object's body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Literal bytes, e.g. multipart boundaries and part headers.
    Bytes(Bytes),
    /// The object's bytes `[start, end)`.
    Range { start: u64, end: u64 },
}

impl Part {
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::Range { start, end } => end.saturating_sub(*start),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How the connection carries a body, told to it once before its first frame.
pub struct Carrier {
    /// Where the memory of chunks read but not yet sent is charged (see `budget`).
    pub account: Account,
    /// Set on plain HTTP/1 connections: a body may hand file ranges to the connection to
    /// send itself (see `zerocopy`).
    pub zero_copy: Option<Arc<Plan>>,
    /// The connection multiplexes streams (HTTP/2): a client may leave many bodies waiting,
    /// so none should hold a scarce resource (a descriptor) while it waits.
    pub multiplexed: bool,
}

/// An object's bytes as a backend streams them.
pub trait Source: Send {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>;

    /// Bytes still to come: exact, since every object body has a known length.
    fn remaining(&self) -> u64;

    /// Told how the connection carries this body; sources that cannot use it ignore it.
    fn carried_by(&mut self, _carrier: Carrier) {}
}

pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Stream(Box<dyn Source>),
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }

    pub fn stream(source: impl Source + 'static) -> Body {
        Body::Stream(Box::new(source))
    }

    /// Passes the connection's means on to a streamed body (see `Carrier`).
    pub fn carried_by(&mut self, carrier: Carrier) {
        if let Body::Stream(s) = self {
            s.carried_by(carrier);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(s) => s.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Stream(s) => s.remaining() == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(s) => SizeHint::with_exact(s.remaining()),
        }
    }
}
