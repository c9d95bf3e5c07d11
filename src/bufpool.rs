//! Read buffers for file bodies.
//!
//! Large reads go into 128 KiB regions mapped straight from the kernel and recycled through
//! a small idle list. A region travels inside the `Bytes` hyper sends and comes back here
//! when hyper drops it, so streaming allocates nothing in the steady state; regions beyond
//! the idle list are unmapped, so memory held for a burst of slow clients is returned to the
//! system afterwards (heap memory freed by malloc often is not).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::Mutex;

use bytes::Bytes;

use crate::budget::Held;

/// Size of one pooled region, and so the largest single read.
pub const REGION: usize = 128 * 1024;
/// Reads this small use an ordinary heap buffer of exactly their size.
const SMALL: usize = 32 * 1024;
/// Idle regions kept for reuse (4 MiB); the rest are unmapped.
const MAX_IDLE: usize = 32;

/// `REGION` bytes of anonymous memory owned by this value.
pub struct Region(NonNull<u8>);

// SAFETY: a Region is plain memory with a single owner; moving it between threads is fine.
unsafe impl Send for Region {}
// SAFETY: shared access only ever reads through `&self`.
unsafe impl Sync for Region {}

impl Region {
    fn new() -> io::Result<Region> {
        // SAFETY: an anonymous private mapping with no address hint; checked for failure.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                REGION,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast())
            .map(Region)
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is REGION bytes, readable, zero-filled at creation and so
        // always initialised, and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr(), REGION) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_ptr(), REGION) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mmap of REGION bytes and is unmapped exactly once.
        unsafe { libc::munmap(self.0.as_ptr().cast(), REGION) };
    }
}

static IDLE: Mutex<Vec<Region>> = Mutex::new(Vec::new());

fn take_region() -> io::Result<Region> {
    let reused = IDLE.lock().unwrap_or_else(|e| e.into_inner()).pop();
    match reused {
        Some(r) => Ok(r),
        None => Region::new(),
    }
}

fn give_back(r: Region) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE {
        idle.push(r);
    }
}

/// The first `len` bytes of a region, as the owner behind a `Bytes`; the budget charge for
/// it goes back when the last `Bytes` over it is dropped, that is once it has been sent.
struct Filled {
    region: Option<Region>,
    len: usize,
    _held: Option<Held>,
}

/// A heap buffer holding a budget charge, as the owner behind a `Bytes`.
struct HeapFilled {
    bytes: Vec<u8>,
    _held: Held,
}

impl AsRef<[u8]> for HeapFilled {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for Filled {
    fn as_ref(&self) -> &[u8] {
        self.region
            .as_ref()
            .map_or(&[], |r| &r.as_slice()[..self.len])
    }
}

impl Drop for Filled {
    fn drop(&mut self) {
        if let Some(r) = self.region.take() {
            give_back(r);
        }
    }
}

/// A buffer to read up to `len` bytes into, then hand to hyper as `Bytes`.
pub enum ReadBuf {
    Heap(Vec<u8>),
    Pooled(Region),
}

impl ReadBuf {
    /// A buffer for a read of `min(len, REGION)` bytes.
    pub fn new(len: usize) -> io::Result<ReadBuf> {
        if len <= SMALL {
            Ok(ReadBuf::Heap(Vec::with_capacity(len)))
        } else {
            take_region().map(ReadBuf::Pooled)
        }
    }

    /// Reads up to `len` bytes of `file` at `offset`, into memory nothing initialised first:
    /// zeroing a buffer only for the kernel to overwrite it cost as much as the rest of a
    /// small request's user-space work. Non-zero `flags` go to `preadv2`; without flags it is
    /// a plain `pread`, which every kernel and seccomp profile allows, because that read is
    /// the fallback when `preadv2(RWF_NOWAIT)` fails for any reason.
    pub fn pread(&mut self, file: &File, offset: u64, len: usize, flags: i32) -> io::Result<usize> {
        let (ptr, room) = match self {
            ReadBuf::Heap(v) => {
                v.clear();
                (v.as_mut_ptr(), len.min(v.capacity()))
            }
            ReadBuf::Pooled(r) => (r.as_mut_slice().as_mut_ptr(), len.min(REGION)),
        };
        let iov = libc::iovec {
            iov_base: ptr.cast(),
            iov_len: room,
        };
        let (fd, at) = (file.as_raw_fd(), offset as libc::off_t);
        let n = loop {
            // SAFETY: the iovec (and `ptr`, `room`) cover `room` writable bytes that this
            // buffer owns for the whole call; the kernel only writes to them.
            let n = unsafe {
                if flags == 0 {
                    libc::pread(fd, ptr.cast(), room, at)
                } else {
                    libc::preadv2(fd, &iov, 1, at, flags)
                }
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        if let ReadBuf::Heap(v) = self {
            // SAFETY: the kernel wrote the first `n` bytes, and n <= room <= capacity.
            unsafe { v.set_len(n) };
        }
        Ok(n)
    }

    /// The memory a buffer for a read of `len` bytes takes, as `new` would make it.
    pub fn cost(len: usize) -> usize {
        if len <= SMALL {
            len
        } else {
            REGION
        }
    }

    /// The first `n` bytes, read-only, without copying.
    pub fn freeze(self, n: usize) -> Bytes {
        self.freeze_held(n, None)
    }

    /// `freeze`, keeping `held` until the bytes are dropped.
    pub fn freeze_held(self, n: usize, held: Option<Held>) -> Bytes {
        match self {
            ReadBuf::Heap(mut v) => {
                v.truncate(n);
                match held {
                    None => Bytes::from(v),
                    Some(held) => Bytes::from_owner(HeapFilled {
                        bytes: v,
                        _held: held,
                    }),
                }
            }
            ReadBuf::Pooled(r) => Bytes::from_owner(Filled {
                len: n.min(REGION),
                region: Some(r),
                _held: held,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> File {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("keyhole-bufpool-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn pooled_bytes_hold_what_was_read_and_the_region_returns() {
        let mut b = ReadBuf::new(REGION).unwrap();
        assert_eq!(b.pread(&file(b"hello"), 0, REGION, 0).unwrap(), 5);
        let bytes = b.freeze(5);
        assert_eq!(&bytes[..], b"hello");
        let clone = bytes.slice(1..3);
        drop(bytes);
        assert_eq!(&clone[..], b"el", "a slice keeps the region alive");
        drop(clone);
        assert!(!IDLE.lock().unwrap().is_empty());
    }

    #[test]
    fn small_reads_use_exact_heap_buffers() {
        let f = file(b"0123456789abcdef");
        let mut b = ReadBuf::new(10).unwrap();
        assert!(matches!(b, ReadBuf::Heap(_)));
        // Never more than the buffer holds, whatever is asked.
        assert_eq!(b.pread(&f, 2, 100, 0).unwrap(), 10);
        assert_eq!(&b.freeze(10)[..], b"23456789ab");
        let mut b = ReadBuf::new(10).unwrap();
        assert_eq!(
            b.pread(&f, 12, 10, 0).unwrap(),
            4,
            "a short read at the end"
        );
        assert_eq!(&b.freeze(4)[..], b"cdef");
    }
}
