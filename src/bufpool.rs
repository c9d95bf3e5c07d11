//! Read buffers for file bodies.
//!
//! Large reads go into 128 KiB regions mapped straight from the kernel and recycled through
//! a small idle list. A region travels inside the `Bytes` hyper sends and comes back here
//! when hyper drops it, so streaming allocates nothing in the steady state; regions beyond
//! the idle list are unmapped, so memory held for a burst of slow clients is returned to the
//! system afterwards (heap memory freed by malloc often is not).

use std::io;
use std::ptr::NonNull;
use std::sync::Mutex;

use bytes::Bytes;

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

/// The first `len` bytes of a region, as the owner behind a `Bytes`.
struct Filled {
    region: Option<Region>,
    len: usize,
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
            Ok(ReadBuf::Heap(vec![0; len]))
        } else {
            take_region().map(ReadBuf::Pooled)
        }
    }

    /// Where to read to: at most `len` bytes of the buffer.
    pub fn as_mut(&mut self, len: usize) -> &mut [u8] {
        match self {
            ReadBuf::Heap(v) => {
                let n = len.min(v.len());
                &mut v[..n]
            }
            ReadBuf::Pooled(r) => &mut r.as_mut_slice()[..len.min(REGION)],
        }
    }

    /// The first `n` bytes, read-only, without copying.
    pub fn freeze(self, n: usize) -> Bytes {
        match self {
            ReadBuf::Heap(mut v) => {
                v.truncate(n);
                Bytes::from(v)
            }
            ReadBuf::Pooled(r) => Bytes::from_owner(Filled {
                len: n.min(REGION),
                region: Some(r),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_bytes_hold_what_was_written_and_the_region_returns() {
        let mut b = ReadBuf::new(REGION).unwrap();
        b.as_mut(5).copy_from_slice(b"hello");
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
        let mut b = ReadBuf::new(10).unwrap();
        assert_eq!(b.as_mut(100).len(), 10);
        assert!(matches!(b, ReadBuf::Heap(_)));
        assert_eq!(b.freeze(3).len(), 3);
    }
}
