//! Read buffers for file bodies.
//!
//! Large reads go into 128 KiB regions mapped straight from the kernel and recycled through
//! a small idle list. A region travels inside the `Bytes` hyper sends and comes back here
//! when hyper drops it, so streaming allocates nothing in the steady state; regions beyond
//! the idle list are unmapped, so memory held for a burst of slow clients is returned to the
//! system afterwards (heap memory freed by malloc often is not).

use std::fs::File;
use std::io;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::Mutex;

use bytes::Bytes;
use rustix::io::{Errno, ReadWriteFlags};
use rustix::mm::{MapFlags, ProtFlags};

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
        // SAFETY: a fresh anonymous private mapping with no address hint: it aliases nothing.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                REGION,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }?;
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
        // SAFETY: the pointer came from mmap of REGION bytes and is unmapped exactly once;
        // no reference into it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.0.as_ptr().cast(), REGION) };
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

/// `preadv2` into memory nothing initialised yet. rustix's `preadv2` takes only initialised
/// slices (`IoSliceMut`), so this one call is made through libc.
fn preadv2_uninit(
    file: &File,
    buf: &mut [MaybeUninit<u8>],
    offset: u64,
    flags: ReadWriteFlags,
) -> Result<usize, Errno> {
    let offset = libc::off_t::try_from(offset).map_err(|_| Errno::INVAL)?;
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, writable and borrowed for the call; the kernel writes at
    // most `buf.len()` bytes into it and touches nothing else. Flags are plain bits.
    let n = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            offset,
            flags.bits() as libc::c_int,
        )
    };
    usize::try_from(n)
        .map_err(|_| Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::IO))
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

    /// Reads up to `len` bytes of `file` at `offset`. Non-empty `flags` go to `preadv2`;
    /// without flags it is a plain `pread`, which every kernel and seccomp profile allows,
    /// because that read is the fallback when `preadv2(RWF_NOWAIT)` fails for any reason.
    /// A heap buffer is read into uninitialised: zeroing it only for the kernel to overwrite
    /// it costs a small request a pass over its whole body.
    pub fn pread(
        &mut self,
        file: &File,
        offset: u64,
        len: usize,
        flags: ReadWriteFlags,
    ) -> io::Result<usize> {
        loop {
            let read = match self {
                ReadBuf::Heap(v) => {
                    v.clear();
                    // Never more than `len`: the bytes past it are not the caller's to send.
                    let room = len.min(v.capacity());
                    let spare = &mut v.spare_capacity_mut()[..room];
                    let read = if flags.is_empty() {
                        rustix::io::pread(file, spare, offset).map(|(done, _)| done.len())
                    } else {
                        preadv2_uninit(file, spare, offset, flags)
                    };
                    if let Ok(n) = read {
                        // SAFETY: the kernel initialised the first `n` bytes of `spare`, which
                        // starts at the vector's (empty) end, and `n <= room <= capacity`.
                        unsafe { v.set_len(n.min(room)) };
                    }
                    read
                }
                ReadBuf::Pooled(r) => {
                    let buf = &mut r.as_mut_slice()[..len.min(REGION)];
                    if flags.is_empty() {
                        rustix::io::pread(file, buf, offset)
                    } else {
                        rustix::io::preadv2(file, &mut [IoSliceMut::new(buf)], offset, flags)
                    }
                }
            };
            match read {
                Ok(n) => return Ok(n),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
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
        assert_eq!(
            b.pread(&file(b"hello"), 0, REGION, ReadWriteFlags::empty())
                .unwrap(),
            5
        );
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
        assert_eq!(b.pread(&f, 2, 100, ReadWriteFlags::empty()).unwrap(), 10);
        assert_eq!(&b.freeze(10)[..], b"23456789ab");
        let mut b = ReadBuf::new(10).unwrap();
        assert_eq!(
            b.pread(&f, 12, 10, ReadWriteFlags::empty()).unwrap(),
            4,
            "a short read at the end"
        );
        assert_eq!(&b.freeze(4)[..], b"cdef");
    }

    #[test]
    fn a_nowait_read_of_cached_bytes_reads_them_into_either_buffer() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let f = file(&data);
        // Just written, so in the page cache: RWF_NOWAIT has no reason to refuse.
        for len in [10, REGION] {
            let mut b = ReadBuf::new(len).unwrap();
            let n = match b.pread(&f, 7, len, ReadWriteFlags::NOWAIT) {
                Ok(n) => n,
                // A filesystem without RWF_NOWAIT (the body then turns it off).
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(n, len.min(data.len() - 7));
            assert!(b.freeze(n)[..] == data[7..7 + n]);
        }
    }
}
