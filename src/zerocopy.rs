//! Zero-copy file bodies on plain HTTP/1: `sendfile(2)` moves file pages to the socket, so
//! the bytes never pass through Keyhole's memory.
//!
//! hyper's body API carries bytes, not descriptors. So on an HTTP/1 connection a file body
//! yields *placeholders*, slices of `marker()` (read-only zero pages nothing ever writes), and
//! queues each one's file and offset in the connection's [`Plan`]. hyper's vectored write
//! strategy (forced in `server.rs`) hands body chunks to [`Conn`]'s `poll_write_vectored` as
//! the same slices, uncopied and in order; `Conn` knows a placeholder by its address and
//! sends that many bytes of the file in its place. Anything unexpected (a placeholder with
//! nothing queued, or not at the queued position) fails the connection rather than let a
//! placeholder byte reach the wire. HTTP/2 frames its own data, so it always gets real bytes.
//!
//! A chunk goes this way only when the page cache holds all of it (`cachestat(2)`), so
//! sendfile never waits for the disk on a worker thread; a cold chunk is read on the
//! blocking pool like any other body (see `body.rs`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{SendAncillaryBuffer, SendFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::watchdog::Activity;

/// Largest placeholder, and so the most one body frame stands for.
pub const CHUNK: usize = 1 << 20;

/// The file ended before the bytes promised in Content-Length: it was truncated or replaced
/// while streaming. The connection is closed so the client sees a short body. (Both ways of
/// sending a file body, here and in `body`, end with it.)
#[derive(Debug)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file shrank while it was being sent")
    }
}

impl std::error::Error for Truncated {}

/// The placeholder region: `CHUNK` bytes of private anonymous read-only memory. Only its
/// addresses are used; reading it would give zeros, and it costs no memory.
fn marker() -> Option<&'static [u8]> {
    static MARKER: OnceLock<Option<usize>> = OnceLock::new();
    let base = (*MARKER.get_or_init(|| {
        // SAFETY: a fresh anonymous mapping with no address hint; nothing else refers to it.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                CHUNK,
                ProtFlags::READ,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        };
        p.ok().map(|p| p as usize)
    }))?;
    // SAFETY: the mapping is readable, `CHUNK` long and never unmapped.
    Some(unsafe { std::slice::from_raw_parts(base as *const u8, CHUNK) })
}

/// Where `buf` starts inside the placeholder region, if it is a placeholder.
fn placeholder_at(buf: &[u8]) -> Option<usize> {
    let base = marker()?.as_ptr() as usize;
    let p = buf.as_ptr() as usize;
    (!buf.is_empty() && p >= base && p < base + CHUNK).then(|| p - base)
}

/// Whether `buf` is a placeholder (bytes `Conn` sends from a file), not bytes of its own.
pub fn is_placeholder(buf: &[u8]) -> bool {
    placeholder_at(buf).is_some()
}

/// The file chunks a connection's placeholders stand for, in the order hyper writes them.
#[derive(Default)]
pub struct Plan(Mutex<VecDeque<Pending>>);

struct Pending {
    file: Arc<File>,
    offset: u64,
    left: usize,
    /// The placeholder position of the next byte.
    at: usize,
}

impl Plan {
    /// Queues the file's bytes `[offset, offset + len)` (at most `CHUNK`) and returns the
    /// placeholder to yield for them, or `None` when zero-copy cannot be used for them.
    pub fn placeholder(&self, file: &Arc<File>, offset: u64, len: usize) -> Option<Bytes> {
        let len = len.min(CHUNK);
        if len == 0 || NO_SENDFILE.load(Ordering::Relaxed) || !in_page_cache(file, offset, len) {
            return None;
        }
        let marker = marker()?;
        self.queue().push_back(Pending {
            file: file.clone(),
            offset,
            left: len,
            at: 0,
        });
        Some(Bytes::from_static(&marker[..len]))
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<Pending>> {
        // Nothing panics while holding it; a poisoned queue is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const SYS_CACHESTAT: libc::c_long = 451;

static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// Set when sendfile said this filesystem cannot splice (see `poll_sendfile`).
static NO_SENDFILE: AtomicBool = AtomicBool::new(false);

/// Whether every page of `[offset, offset + len)` is in the page cache. False when the
/// kernel cannot say (before Linux 6.5), which turns zero-copy off.
fn in_page_cache(file: &File, offset: u64, len: usize) -> bool {
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    ))]
    {
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        #[repr(C)]
        #[derive(Default)]
        struct Stat {
            nr_cache: u64,
            nr_dirty: u64,
            nr_writeback: u64,
            nr_evicted: u64,
            nr_recently_evicted: u64,
        }
        if NO_CACHESTAT.load(Ordering::Relaxed) {
            return false;
        }
        let range = Range {
            off: offset,
            len: len as u64,
        };
        let mut stat = Stat::default();
        // SAFETY: both structs match the kernel's layout and outlive the call.
        let r = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                file.as_raw_fd(),
                &range as *const Range,
                &mut stat as *mut Stat,
                0u32,
            )
        };
        if r != 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                NO_CACHESTAT.store(true, Ordering::Relaxed);
            }
            return false;
        }
        let page = page_size();
        // An empty range is trivially cached; never let `len - 1` wrap.
        let Some(last) = (len as u64).checked_sub(1) else {
            return true;
        };
        let pages = offset.saturating_add(last) / page - offset / page + 1;
        stat.nr_cache >= pages
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )))]
    {
        let _ = (file, offset, len, &NO_CACHESTAT);
        false
    }
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// A client connection: hyper's I/O over the TCP stream, sending placeholders from their
/// files, and telling the connection's watchdog when bytes move.
pub struct Conn {
    io: TokioIo<TcpStream>,
    plan: Arc<Plan>,
    /// Bytes sent with sendfile, over all connections (a metric).
    sent: Arc<AtomicU64>,
    activity: Arc<Activity>,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        plan: Arc<Plan>,
        sent: Arc<AtomicU64>,
        activity: Arc<Activity>,
    ) -> Conn {
        Conn {
            io: TokioIo::new(stream),
            plan,
            sent,
            activity,
        }
    }

    /// Tells the watchdog whether a write moved bytes or waits for the client.
    fn noted(&self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        self.activity.wrote_poll(&r);
        r
    }

    /// Sends the file bytes `buf` stands for; at most `buf.len()`, as a write would.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        at: usize,
    ) -> Poll<io::Result<usize>> {
        let mut queue = self.plan.queue();
        let Some(front) = queue.front_mut() else {
            return Poll::Ready(Err(mismatch("a placeholder with no file queued")));
        };
        if front.at != at || buf.len() > front.left {
            return Poll::Ready(Err(mismatch("a placeholder out of order")));
        }
        let tcp = self.io.inner();
        let sent = if NO_SENDFILE.load(Ordering::Relaxed) {
            poll_copy(tcp, cx, &front.file, front.offset, buf.len())
        } else {
            poll_syscall(tcp, cx, || {
                let mut off = front.offset;
                rustix::fs::sendfile(tcp, &*front.file, Some(&mut off), buf.len())
            })
        };
        let n = match ready!(sent) {
            // A filesystem that cannot splice: this chunk is copied, later bodies are not
            // given placeholders at all.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                ) =>
            {
                if !NO_SENDFILE.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "sendfile refused; file bodies will be copied");
                }
                ready!(poll_copy(tcp, cx, &front.file, front.offset, buf.len()))?
            }
            other => other?,
        };
        if n == 0 {
            tracing::warn!("a file shrank while it was being sent; closing the connection");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, Truncated)));
        }
        front.offset += n as u64;
        front.left -= n;
        front.at += n;
        if front.left == 0 {
            queue.pop_front();
        }
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(n))
    }
}

/// Without sendfile: reads up to 64 KiB at `offset` (in the page cache, as `placeholder`
/// checked) and writes what the socket takes. Returns 0 at the end of the file.
fn poll_copy(
    tcp: &TcpStream,
    cx: &mut Context<'_>,
    file: &File,
    offset: u64,
    len: usize,
) -> Poll<io::Result<usize>> {
    let mut buf = vec![0u8; len.min(64 * 1024)];
    let n = std::os::unix::fs::FileExt::read_at(file, &mut buf, offset)?;
    if n == 0 {
        return Poll::Ready(Ok(0));
    }
    poll_syscall(tcp, cx, || {
        rustix::net::send(tcp, &buf[..n], SendFlags::NOSIGNAL)
    })
}

/// Sends real bytes that a placeholder follows, telling the kernel more is coming (as
/// TCP_CORK would), so the response head and the first file bytes share packets.
fn poll_send_more(
    tcp: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let bufs = &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)];
    poll_syscall(tcp, cx, || {
        let mut no_control = SendAncillaryBuffer::default();
        rustix::net::sendmsg(
            tcp,
            bufs,
            &mut no_control,
            SendFlags::MORE | SendFlags::NOSIGNAL,
        )
    })
}

/// Runs a nonblocking socket write `f` once the socket is writable, retrying after spurious
/// wake-ups (EAGAIN clears tokio's readiness, so the next poll waits for the socket).
fn poll_syscall(
    tcp: &TcpStream,
    cx: &mut Context<'_>,
    mut f: impl FnMut() -> Result<usize, Errno>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(tcp.poll_write_ready(cx))?;
        let res = tcp.try_io(Interest::WRITABLE, || Ok(f()?));
        match res {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            other => return Poll::Ready(other),
        }
    }
}

fn mismatch(what: &'static str) -> io::Error {
    tracing::error!("zero-copy: {what}; closing the connection");
    io::Error::other(what)
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.activity.read();
        }
        r
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = match placeholder_at(buf) {
            Some(at) => self.poll_sendfile(cx, buf, at),
            None => Pin::new(&mut self.io).poll_write(cx, buf),
        };
        self.noted(r)
    }

    /// Real bytes before the first placeholder go out in one writev; a placeholder at the
    /// front is sent from its file. hyper calls again for the rest.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| placeholder_at(b).map(|at| (i, at)));
        let r = match first {
            None => Pin::new(&mut self.io).poll_write_vectored(cx, bufs),
            Some((0, at)) => self.poll_sendfile(cx, &bufs[0], at),
            Some((k, _)) => poll_send_more(self.io.inner(), cx, &bufs[..k]),
        };
        self.noted(r)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_marker_region_is_taken_for_a_placeholder() {
        let m = marker().expect("the region maps");
        assert_eq!(placeholder_at(&m[..10]), Some(0));
        assert_eq!(placeholder_at(&m[4096..]), Some(4096));
        assert_eq!(placeholder_at(&m[..0]), None, "an empty slice is nothing");
        let real = vec![0u8; 64];
        assert_eq!(
            placeholder_at(&real),
            None,
            "zeros elsewhere are real bytes"
        );
    }

    #[tokio::test]
    async fn the_copy_fallback_sends_the_file_bytes_at_the_offset() {
        use tokio::io::AsyncReadExt;
        let path = std::env::temp_dir().join(format!("keyhole-zc-copy-{}", std::process::id()));
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let n = std::future::poll_fn(|cx| poll_copy(&client, cx, &file, 1000, 150_000))
            .await
            .unwrap();
        assert!(n > 0 && n <= 64 * 1024);
        let mut got = vec![0; n];
        server.read_exact(&mut got).await.unwrap();
        assert!(got == data[1000..1000 + n]);
        let end = std::future::poll_fn(|cx| poll_copy(&client, cx, &file, 200_000, 10)).await;
        assert_eq!(end.unwrap(), 0, "end of file");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_placeholder_is_queued_only_for_cached_bytes() {
        let path = std::env::temp_dir().join(format!("keyhole-zc-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 3 * 4096]).unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let plan = Plan::default();
        if in_page_cache(&file, 0, 1) {
            let p = plan
                .placeholder(&file, 4096, 2 * 4096)
                .expect("cached bytes");
            assert_eq!(p.len(), 2 * 4096);
            assert_eq!(
                plan.queue().front().map(|q| (q.offset, q.left)),
                Some((4096, 8192))
            );
        }
        // Past the end of the file nothing is cached: never a placeholder for it.
        assert!(plan.placeholder(&file, 1 << 30, 4096).is_none());
        assert!(plan.placeholder(&file, 0, 0).is_none());
        std::fs::remove_file(path).unwrap();
    }
}
