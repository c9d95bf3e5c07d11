//! The response body: nothing, a buffer, or parts of a file streamed with bounded memory.
//!
//! A file is read inside the body's poll with `preadv2(RWF_NOWAIT)`, which succeeds only
//! when the bytes are already in the page cache; anything that would wait for the disk goes
//! to tokio's blocking pool instead, so a cold disk never stalls a worker thread.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::budget::Account;
use crate::bufpool::ReadBuf;
use crate::zerocopy::{self, Plan};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Largest read per frame: large enough for throughput, small enough that a stalled client
/// holds little (hyper buffers at most one frame per connection; see `server.rs`).
pub const CHUNK: usize = crate::bufpool::REGION;

/// Single ranges up to this size are read when the response is made (see `Body::file`).
const INLINE: usize = 16 * 1024;

/// The first read of a body: one HTTP/2 frame at its default size. hyper asks an HTTP/2 body
/// for a frame before it knows whether the stream may send, so this is all that a stream
/// whose client never opens its window keeps. Reads grow to `CHUNK` once a chunk was sent.
const FIRST: usize = 16 * 1024;

/// Opens an object's file again, so that a body can close its descriptor between chunks.
pub trait Reopen: Send + Sync {
    /// The same file as before (not another one put at its name since), or an error.
    fn reopen(&self) -> io::Result<File>;
}

/// One piece of a file body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Literal bytes, e.g. multipart boundaries and part headers.
    Bytes(Bytes),
    /// The file's bytes `[start, end)`.
    Range { start: u64, end: u64 },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::Range { start, end } => end - start,
        }
    }
}

pub enum Body {
    Empty,
    Full(Option<Bytes>),
    File(FileBody),
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }

    /// A body for `parts` of `file`. A small single range already in the page cache is read
    /// at once into a buffer: no stream to set up or poll, and the file is closed sooner.
    pub fn file(file: File, parts: Vec<Part>) -> Body {
        if let [Part::Range { start, end }] = parts.as_slice() {
            let len = end.saturating_sub(*start) as usize;
            if len <= INLINE {
                if let Ok(b) = read_nowait(&file, *start, len) {
                    if b.len() == len {
                        return Body::full(b);
                    }
                }
            }
        }
        let remaining = parts.iter().map(Part::len).sum();
        Body::File(FileBody {
            file: Some(Arc::new(file)),
            reopen: None,
            release: false,
            account: None,
            chunk: FIRST,
            parts: parts.into(),
            remaining,
            pending: None,
            nowait: true,
            zero_copy: None,
        })
    }

    /// Lets a file body open its file again after closing it (see `FileBody::release`).
    pub fn with_reopen(mut self, reopen: Box<dyn Reopen>) -> Body {
        if let Body::File(f) = &mut self {
            f.reopen = Some(reopen);
        }
        self
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
            Body::File(f) => f.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::File(f) => f.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File(f) => SizeHint::with_exact(f.remaining),
        }
    }
}

pub struct FileBody {
    /// `None` while closed between chunks (see `release`), and once all is read.
    file: Option<Arc<File>>,
    reopen: Option<Box<dyn Reopen>>,
    /// Close the file after each chunk and open it again for the next.
    release: bool,
    /// Where chunks are charged; `None`: nowhere (tests, embedders without a server).
    account: Option<Account>,
    /// Size of the next read.
    chunk: usize,
    parts: VecDeque<Part>,
    remaining: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
    /// False once the filesystem said it cannot do RWF_NOWAIT reads.
    nowait: bool,
    /// Set on plain HTTP/1 connections: cached ranges are sent with sendfile.
    zero_copy: Option<Arc<Plan>>,
}

/// The file ended before the bytes promised in Content-Length: it was truncated or replaced
/// while streaming. The connection is closed so the client sees a short body.
#[derive(Debug)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file shrank while it was being sent")
    }
}

impl std::error::Error for Truncated {}

/// Reads up to `len` bytes at `offset` only if no disk wait is needed.
fn read_nowait(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = ReadBuf::new(len)?;
    let n = buf.pread(file, offset, len, libc::RWF_NOWAIT)?;
    Ok(buf.freeze(n))
}

impl FileBody {
    /// Lets the connection send this body's file ranges itself (see `zerocopy`).
    pub fn zero_copy(&mut self, plan: Arc<Plan>) {
        self.zero_copy = Some(plan);
    }

    /// Charges every chunk this body reads to `account` before reading it, and keeps at most
    /// one read chunk unsent (see `budget`).
    pub fn charge(&mut self, account: Account) {
        self.account = Some(account);
    }

    /// Holds the file open only while reading a chunk, when it can be opened again. On a
    /// connection that multiplexes streams, descriptors are then bounded by the reads in
    /// progress, not by how many streams clients leave waiting.
    pub fn release(&mut self) {
        self.release = self.reopen.is_some();
    }

    /// The file, opened again if it was closed between chunks.
    fn file(&mut self) -> io::Result<Arc<File>> {
        if let Some(f) = &self.file {
            return Ok(f.clone());
        }
        let reopen = self
            .reopen
            .as_ref()
            .ok_or_else(|| io::Error::other("the body's file was closed"))?;
        let f = Arc::new(reopen.reopen()?);
        self.file = Some(f.clone());
        Ok(f)
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if let Some(task) = &mut self.pending {
                let res = ready!(Pin::new(task).poll(cx));
                self.pending = None;
                let chunk = match res {
                    Ok(Ok(chunk)) => chunk,
                    Ok(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                    Err(e) => return Poll::Ready(Some(Err(e.into()))),
                };
                return Poll::Ready(Some(self.take(chunk)));
            }
            let Some(part) = self.parts.front_mut() else {
                self.file = None;
                return Poll::Ready(None);
            };
            let (start, end) = match part {
                Part::Bytes(b) => {
                    let b = std::mem::take(b);
                    self.parts.pop_front();
                    self.remaining -= b.len() as u64;
                    if b.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Part::Range { start, end } => (*start, *end),
            };
            if start >= end {
                self.parts.pop_front();
                continue;
            }
            if let Some(plan) = self.zero_copy.clone() {
                let len = (end - start).min(zerocopy::CHUNK as u64) as usize;
                let file = match self.file() {
                    Ok(f) => f,
                    Err(e) => return Poll::Ready(Some(Err(e.into()))),
                };
                if let Some(placeholder) = plan.placeholder(&file, start, len) {
                    return Poll::Ready(Some(self.take(placeholder)));
                }
            }
            let mut len = (end - start).min(self.chunk as u64) as usize;
            // Charged before a buffer is taken. A body whose last chunk is still unsent
            // waits here, holding no buffer (and, released, no file).
            let held = match &mut self.account {
                Some(a) => {
                    let held = ready!(a.poll_reserve(cx, ReadBuf::cost(len), FIRST));
                    if let Some(h) = &held {
                        // A budget is spent: a small read instead.
                        if h.bytes < ReadBuf::cost(len) {
                            len = len.min(h.bytes);
                        }
                    }
                    held
                }
                None => None,
            };
            let file = match self.file() {
                Ok(f) => f,
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
            };
            let mut buf = match ReadBuf::new(len) {
                Ok(b) => b,
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
            };
            if self.nowait {
                match buf.pread(&file, start, len, libc::RWF_NOWAIT) {
                    Ok(n) => return Poll::Ready(Some(self.take(buf.freeze_held(n, held)))),
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)
                        ) =>
                    {
                        self.nowait = false;
                    }
                    Err(e) => return Poll::Ready(Some(Err(e.into()))),
                }
            }
            if self.release {
                // The read below holds its own reference until it is done.
                self.file = None;
            }
            self.pending = Some(tokio::task::spawn_blocking(move || {
                let n = buf.pread(&file, start, len, 0)?;
                Ok(buf.freeze_held(n, held))
            }));
        }
    }

    /// Accounts for a chunk read at the current part's start.
    fn take(&mut self, chunk: Bytes) -> Result<Frame<Bytes>, BoxError> {
        if chunk.is_empty() {
            return Err(Box::new(Truncated));
        }
        if let Some(Part::Range { start, .. }) = self.parts.front_mut() {
            *start += chunk.len() as u64;
        }
        self.remaining -= chunk.len() as u64;
        // This stream has taken a chunk: it can have full ones from now on.
        self.chunk = CHUNK;
        if self.release || self.remaining == 0 {
            self.file = None;
        }
        Ok(Frame::data(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    fn temp_file(bytes: &[u8]) -> (std::path::PathBuf, File) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("keyhole-body-{}-{n}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let f = File::open(&path).unwrap();
        (path, f)
    }

    #[tokio::test]
    async fn streams_ranges_and_literal_parts_in_order() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let (path, f) = temp_file(&data);
        let parts = vec![
            Part::Bytes(Bytes::from_static(b"<")),
            Part::Range { start: 3, end: 10 },
            Part::Bytes(Bytes::from_static(b">")),
            Part::Range {
                start: 0,
                end: data.len() as u64,
            },
        ];
        let body = Body::file(f, parts);
        assert_eq!(body.size_hint().exact(), Some(2 + 7 + data.len() as u64));
        let got = body.collect().await.unwrap().to_bytes();
        let mut want = b"<".to_vec();
        want.extend_from_slice(&data[3..10]);
        want.push(b'>');
        want.extend_from_slice(&data);
        assert_eq!(got.as_ref(), want.as_slice());
        std::fs::remove_file(path).unwrap();
    }

    #[tokio::test]
    async fn a_file_that_shrank_ends_the_body_with_an_error() {
        let (path, f) = temp_file(b"short");
        let body = Body::file(f, vec![Part::Range { start: 0, end: 100 }]);
        assert!(body.collect().await.is_err());
        std::fs::remove_file(path).unwrap();
    }

    #[tokio::test]
    async fn the_blocking_fallback_reads_the_same_bytes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        let (path, f) = temp_file(&data);
        let Body::File(mut fb) = Body::file(
            f,
            vec![Part::Range {
                start: 0,
                end: data.len() as u64,
            }],
        ) else {
            unreachable!()
        };
        fb.nowait = false;
        let got = Body::File(fb).collect().await.unwrap().to_bytes();
        assert_eq!(got.as_ref(), data.as_slice());
        std::fs::remove_file(path).unwrap();
    }
}

#[cfg(test)]
mod release_tests {
    use super::*;
    use crate::budget::Budget;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Opens a path again, counting the opens.
    struct ByPath(PathBuf, Arc<AtomicUsize>);

    impl Reopen for ByPath {
        fn reopen(&self) -> io::Result<File> {
            self.1.fetch_add(1, Ordering::Relaxed);
            File::open(&self.0)
        }
    }

    fn released_body(data: &[u8], tag: &str) -> (PathBuf, Arc<AtomicUsize>, FileBody) {
        let path = std::env::temp_dir().join(format!("keyhole-rel-{tag}-{}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let opens = Arc::new(AtomicUsize::new(0));
        let whole = vec![Part::Range {
            start: 0,
            end: data.len() as u64,
        }];
        let body = Body::file(File::open(&path).unwrap(), whole)
            .with_reopen(Box::new(ByPath(path.clone(), opens.clone())));
        let Body::File(mut fb) = body else {
            unreachable!("larger than INLINE")
        };
        fb.release();
        (path, opens, fb)
    }

    #[tokio::test]
    async fn a_released_body_holds_its_file_only_while_it_reads() {
        let data: Vec<u8> = (0..(FIRST + 2 * CHUNK + 5))
            .map(|i| (i % 249) as u8)
            .collect();
        let (path, opens, mut fb) = released_body(&data, "read");
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| fb.poll_next(cx)).await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(fb.file.is_none(), "closed while the chunk waits to be sent");
            sizes.push(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert!(got == data);
        assert_eq!(
            sizes,
            [FIRST, CHUNK, CHUNK, 5],
            "small first, then full chunks"
        );
        assert_eq!(
            opens.load(Ordering::Relaxed),
            3,
            "opened again for each later chunk"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[tokio::test]
    async fn a_spent_budget_makes_reads_small_and_the_body_goes_on() {
        let data: Vec<u8> = (0..(2 * CHUNK)).map(|i| (i % 241) as u8).collect();
        let (path, _opens, mut fb) = released_body(&data, "spent");
        // Other streams hold the whole server budget.
        let budget = Budget::new(CHUNK, Default::default());
        let charge = budget.connection();
        let waker = std::task::Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Some(_others)) = charge.account().poll_reserve(&mut cx, CHUNK, FIRST)
        else {
            panic!("the budget is free")
        };
        fb.charge(charge.account());
        let first = std::future::poll_fn(|cx| fb.poll_next(cx)).await;
        let first = first.unwrap().unwrap().into_data().unwrap();
        // Its own first chunk is unsent: the body may not read another yet.
        assert!(fb.poll_next(&mut cx).is_pending());
        assert!(fb.file.is_none(), "no descriptor while it waits");
        let mut got = first.to_vec();
        drop(first);
        let mut sizes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| fb.poll_next(cx)).await {
            let chunk = frame.unwrap().into_data().unwrap();
            sizes.push(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert!(got == data);
        assert!(
            sizes.iter().all(|&n| n == FIRST),
            "small reads only: {sizes:?}"
        );
        assert_eq!(budget.available(), 0, "none charged past the budget");
        std::fs::remove_file(path).unwrap();
    }

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
}
