//! Where object bytes come from. The request path sees only `Backend::open` and the `Object`
//! it returns; how a store names, finds and reads objects stays behind this seam.

pub mod fs;

use std::io::{self, Write};
use std::time::SystemTime;

use crate::body::Body;
use crate::config::{BackendConfig, Config};

/// What a response needs to know about an object before sending a byte.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    pub len: u64,
    pub modified: SystemTime,
    /// A strong validator, quoted, that changes whenever the content does.
    pub etag: Etag,
}

/// A quoted entity tag, kept inline: every response carries one, and most are compared
/// and copied into a header without ever needing the heap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Etag {
    bytes: [u8; Etag::MAX],
    len: u8,
}

impl Etag {
    pub const MAX: usize = 80;

    /// `"<inode>-<mtime ns>-<length>"` in hex: any write changes the mtime, and a replaced
    /// file has a new inode, so equal tags mean equal bytes.
    pub fn of_file(ino: u64, mtime_ns: i128, len: u64) -> Etag {
        let mut e = Etag {
            bytes: [0; Etag::MAX],
            len: 0,
        };
        let mut out = &mut e.bytes[..];
        // At most 2 + 16 + 1 + 32 + 1 + 16 = 68 bytes, so the write always fits.
        let _ = write!(out, "\"{ino:x}-{mtime_ns:x}-{len:x}\"");
        let left = out.len();
        e.len = (Etag::MAX - left) as u8;
        e
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("\"\"")
    }
}

impl std::fmt::Debug for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opened object: its metadata and a handle to read it from.
pub struct Object {
    pub meta: ObjectMeta,
    content: Content,
}

enum Content {
    File(std::fs::File),
}

impl Object {
    /// A body that sends `parts` in order: byte ranges of the object and literal bytes
    /// (the framing of a multipart answer).
    pub fn body(self, parts: Vec<crate::body::Part>) -> Body {
        match self.content {
            Content::File(file) => Body::file(file, parts),
        }
    }
}

#[derive(Debug)]
pub enum BackendError {
    /// No such object, or a name that can never be one (it would leave the container).
    NotFound,
    Io(io::Error),
}

impl From<io::Error> for BackendError {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(
                libc::ENOENT
                | libc::ENOTDIR
                | libc::ELOOP
                | libc::EXDEV
                | libc::ENAMETOOLONG
                | libc::EISDIR,
            ) => BackendError::NotFound,
            _ => BackendError::Io(e),
        }
    }
}

pub enum Backend {
    Fs(fs::FsBackend),
}

impl Backend {
    pub fn from_config(cfg: &Config) -> io::Result<Backend> {
        match &cfg.backend {
            BackendConfig::Fs { root, hard_links } => Ok(Backend::Fs(
                fs::FsBackend::new(root)?.allow_hard_links(*hard_links),
            )),
        }
    }

    /// Whether the store can serve now (for `/_keyhole/readyz`).
    pub fn ready(&self) -> Result<(), String> {
        match self {
            Backend::Fs(fs) => fs.ready(),
        }
    }

    pub async fn open(
        &self,
        project: &str,
        container: &str,
        object: &str,
    ) -> Result<Object, BackendError> {
        if !valid_location(project, container, object) {
            return Err(BackendError::NotFound);
        }
        match self {
            Backend::Fs(fs) => fs.open(project, container, object),
        }
    }
}

/// Swift's limit on object names, in bytes.
pub const MAX_OBJECT_NAME: usize = 1024;

/// A name that maps onto a path below its container and nowhere else: no empty, `.` or `..`
/// segment, no NUL, not absolute.
// SECURITY: this is the first of two walls (the second is `openat2` with RESOLVE_BENEATH);
// a name refused here never reaches the filesystem.
pub fn valid_object_name(name: &str) -> bool {
    name.len() <= MAX_OBJECT_NAME && name.split('/').all(valid_segment)
}

/// A project, container and object that name a place inside that container and nowhere else.
// SECURITY: the project and container are single segments too: a `..` container would
// otherwise climb into a sibling project.
pub fn valid_location(project: &str, container: &str, object: &str) -> bool {
    valid_segment(project) && valid_segment(container) && valid_object_name(object)
}

/// One path component that names itself: not empty, `.` or `..`, no `/` or NUL.
pub fn valid_segment(s: &str) -> bool {
    // Bytes, not chars: both are ASCII, and a byte scan is several times cheaper.
    !s.is_empty() && s != "." && s != ".." && !s.bytes().any(|b| b == b'/' || b == 0)
}

#[cfg(test)]
mod tests {
    use super::{valid_object_name, Etag};

    #[test]
    fn the_longest_file_etag_is_written_whole() {
        let e = Etag::of_file(u64::MAX, i128::MIN, u64::MAX);
        let expected = format!("\"{:x}-{:x}-{:x}\"", u64::MAX, i128::MIN, u64::MAX);
        assert_eq!(e.as_str(), expected);
        assert_eq!(Etag::of_file(1, 2, 3).as_str(), "\"1-2-3\"");
    }

    #[test]
    fn names_that_would_leave_the_container_are_invalid() {
        for bad in [
            "",
            "/etc/passwd",
            "..",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            ".",
            "a\0b",
            "../x",
        ] {
            assert!(!valid_object_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn project_and_container_segments_cannot_climb() {
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(!super::valid_segment(bad), "{bad:?}");
        }
        assert!(super::valid_segment("..a") && super::valid_segment("c"));
    }

    #[test]
    fn ordinary_names_are_valid() {
        for good in [
            "a",
            "a/b/c.txt",
            "Báo cáo tháng 11.pdf",
            "a b+c&d=e?f#g",
            "..a",
            "a..",
            ".hidden",
            "a\\b",
        ] {
            assert!(valid_object_name(good), "{good:?}");
        }
    }
}
