//! A file's bytes as a response body, streamed with bounded memory.
//!
//! A file is read inside the body's poll with `preadv2(RWF_NOWAIT)`, which succeeds only
//! when the bytes are already in the page cache; anything that would wait for the disk goes
//! to tokio's blocking pool instead, so a cold disk never stalls a worker thread. On a plain
//! HTTP/1 connection, cached ranges are handed to the connection to `sendfile` (`zerocopy`).

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use rustix::io::ReadWriteFlags;
use tokio::task::JoinHandle;

use crate::body::{Body, BoxError, Carrier, Part, Source, CHUNK};
use crate::budget::Account;
use crate::bufpool::ReadBuf;
use crate::zerocopy::Truncated;
use crate::zerocopy::{self, Plan};

/// Single ranges up to this size are read when the response is made (see `FileBody::body`).
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

/// A body for `parts` of `file`. A small single range already in the page cache is read at
/// once into a buffer: no stream to set up or poll, and the file is closed sooner. `reopen`
/// is asked for only when the body streams.
pub fn body<R: Reopen + 'static>(
    file: File,
    parts: Vec<Part>,
    reopen: impl FnOnce() -> Option<R>,
) -> Body {
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
    let reopen = reopen().map(|r| Box::new(r) as Box<dyn Reopen>);
    Body::stream(FileBody::new(file, parts, reopen))
}

impl Source for FileBody {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.poll_next(cx)
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }

    fn carried_by(&mut self, carrier: Carrier) {
        self.account = Some(carrier.account);
        self.zero_copy = carrier.zero_copy;
        if carrier.multiplexed {
            // SECURITY: an HTTP/2 client may leave up to `max_streams` streams per
            // connection unread; each must not keep a descriptor while it waits.
            self.release = self.reopen.is_some();
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

/// Reads up to `len` bytes at `offset` only if no disk wait is needed.
fn read_nowait(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = ReadBuf::new(len)?;
    let n = buf.pread(file, offset, len, ReadWriteFlags::NOWAIT)?;
    Ok(buf.freeze(n))
}

impl FileBody {
    fn new(file: File, parts: Vec<Part>, reopen: Option<Box<dyn Reopen>>) -> FileBody {
        let remaining = parts.iter().map(Part::len).sum();
        FileBody {
            file: Some(Arc::new(file)),
            reopen,
            release: false,
            account: None,
            chunk: FIRST,
            parts: parts.into(),
            remaining,
            pending: None,
            nowait: true,
            zero_copy: None,
        }
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
                match buf.pread(&file, start, len, ReadWriteFlags::NOWAIT) {
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
                let n = buf.pread(&file, start, len, ReadWriteFlags::empty())?;
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

    /// A body that is never given a way back to its file.
    struct NoReopen;
    impl Reopen for NoReopen {
        fn reopen(&self) -> io::Result<File> {
            Err(io::Error::other("not reopened"))
        }
    }

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
        let body = body(f, parts, || None::<NoReopen>);
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
        let body = body(f, vec![Part::Range { start: 0, end: 100 }], || {
            None::<NoReopen>
        });
        assert!(body.collect().await.is_err());
        std::fs::remove_file(path).unwrap();
    }

    #[tokio::test]
    async fn the_blocking_fallback_reads_the_same_bytes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        let (path, f) = temp_file(&data);
        let whole = vec![Part::Range {
            start: 0,
            end: data.len() as u64,
        }];
        let mut fb = FileBody::new(f, whole, None);
        fb.nowait = false;
        let got = Body::stream(fb).collect().await.unwrap().to_bytes();
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
        let reopen = Box::new(ByPath(path.clone(), opens.clone()));
        let mut fb = FileBody::new(File::open(&path).unwrap(), whole, Some(reopen));
        fb.release = true;
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
        fb.account = Some(charge.account());
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
