//! Where object bytes come from. The request path sees only `Backend::open` and the `Object`
//! it returns; how a store names, finds and reads objects stays behind this seam.

pub mod fs;
pub mod s3;

use std::io;
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

/// A strong validator for a file: `"<inode>-<mtime ns>-<length>"` in hex. Any write changes
/// the mtime, and a replaced file has a new inode, so equal tags mean equal bytes. It is kept
/// as its numbers, which compare in a few instructions, and spelled out only when a header
/// or a precondition needs the text: most requests reuse the header value of the last.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Etag {
    ino: u64,
    mtime_ns: i128,
    len: u64,
}

/// An `Etag` spelled out, quoted, on the stack.
pub struct EtagText {
    bytes: [u8; EtagText::MAX],
    len: u8,
}

impl Etag {
    pub fn of_file(ino: u64, mtime_ns: i128, len: u64) -> Etag {
        Etag { ino, mtime_ns, len }
    }

    pub fn text(&self) -> EtagText {
        let mut t = EtagText {
            bytes: [0; EtagText::MAX],
            len: 0,
        };
        let mut at = 0;
        let mut put = |b: u8| {
            t.bytes[at] = b;
            at += 1;
        };
        put(b'"');
        // A negative mtime prints as its two's complement, as `{:x}` of an i128 does.
        let numbers = [
            u128::from(self.ino),
            self.mtime_ns as u128,
            u128::from(self.len),
        ];
        for (i, n) in numbers.into_iter().enumerate() {
            if i > 0 {
                put(b'-');
            }
            let digits = (128 - n.leading_zeros()).div_ceil(4).max(1);
            for d in (0..digits).rev() {
                put(b"0123456789abcdef"[((n >> (4 * d)) & 0xf) as usize]);
            }
        }
        put(b'"');
        t.len = at as u8;
        t
    }
}

impl EtagText {
    /// 2 quotes + 16 + 32 + 16 hex digits + 2 dashes.
    const MAX: usize = 68;

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("\"\"")
    }
}

impl std::fmt::Debug for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// An opened object: its metadata and a handle to read it from.
pub struct Object {
    pub meta: ObjectMeta,
    content: Content,
}

enum Content {
    /// The open file, and how to open it again once its body closed it.
    File(std::fs::File, Box<dyn crate::body::Reopen>),
}

impl Object {
    /// A body that sends `parts` in order: byte ranges of the object and literal bytes
    /// (the framing of a multipart answer).
    pub fn body(self, parts: Vec<crate::body::Part>) -> Body {
        match self.content {
            Content::File(file, reopen) => Body::file(file, parts).with_reopen(reopen),
        }
    }
}

#[derive(Debug)]
pub enum BackendError {
    /// No such object, a name that can never be one (it would leave the container), or a
    /// name the store holds something other than an object under (a folder, a socket).
    NotFound,
    /// The object is there but the store may not read it: the operator's doing.
    Denied,
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
                | libc::EISDIR
                // A socket, or a device without a driver: not a regular file.
                | libc::ENXIO
                | libc::ENODEV,
            ) => BackendError::NotFound,
            Some(libc::EACCES | libc::EPERM) => BackendError::Denied,
            _ => BackendError::Io(e),
        }
    }
}

pub enum Backend {
    Fs(std::sync::Arc<fs::FsBackend>),
}

impl Backend {
    pub fn from_config(cfg: &Config) -> io::Result<Backend> {
        match &cfg.backend {
            BackendConfig::Fs { root, hard_links } => Ok(Backend::Fs(std::sync::Arc::new(
                fs::FsBackend::new(root)?.allow_hard_links(*hard_links),
            ))),
            BackendConfig::S3(_) => Err(io::Error::other(
                "backend kind \"s3\" is not wired into this build yet",
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
        // Each backend checks names against its own store's rules (see `FsBackend::open`).
        match self {
            Backend::Fs(fs) => fs.open(project, container, object),
        }
    }
}

impl Backend {
    /// One page of a container's objects, in name order (see `ListQuery`).
    pub async fn list(
        &self,
        project: &str,
        container: &str,
        query: &ListQuery<'_>,
    ) -> Result<Listing, BackendError> {
        match self {
            // A walk reads many directories: on a blocking thread, so that a big container
            // does not hold up the requests sharing this worker.
            Backend::Fs(fs) => {
                let fs = std::sync::Arc::clone(fs);
                let (project, container) = (project.to_string(), container.to_string());
                let (prefix, marker) = (query.prefix.to_string(), query.marker.to_string());
                let (delimiter, limit) = (query.delimiter, query.limit);
                let walk = tokio::task::spawn_blocking(move || {
                    let query = ListQuery {
                        prefix: &prefix,
                        delimiter,
                        marker: &marker,
                        limit,
                    };
                    fs.list(&project, &container, &query)
                });
                walk.await
                    .unwrap_or_else(|e| Err(BackendError::Io(io::Error::other(e.to_string()))))
            }
        }
    }
}

impl Backend {
    /// The containers the store holds for `project` (for `any_container` projects).
    pub async fn containers(&self, project: &str) -> Result<Vec<String>, BackendError> {
        match self {
            Backend::Fs(fs) => fs.containers(project),
        }
    }
}

/// What to list: names starting with `prefix`, after `marker`, at most `limit` entries;
/// with `delimiter`, names with `/` after the prefix are rolled up into one prefix each.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    /// Only `/` is a delimiter here (the folders of the share page).
    pub delimiter: bool,
    pub marker: &'a str,
    pub limit: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ListedObject {
    pub name: String,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// One page: objects and rolled-up prefixes, together in name order at most `limit`;
/// `next_marker` is the last name given when more follow.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<ListedObject>,
    pub prefixes: Vec<String>,
    pub next_marker: Option<String>,
}

/// Swift's limit on object names, in bytes.
pub const MAX_OBJECT_NAME: usize = 1024;

/// A name that maps onto a path below its container and nowhere else: no empty, `.` or `..`
/// segment, no NUL, not absolute.
// SECURITY: this is the first of two walls (the second is `openat2` with RESOLVE_BENEATH);
// a name refused here never reaches the filesystem.
pub fn valid_object_name(name: &str) -> bool {
    // Bytes, not chars: every byte checked is ASCII, and a byte scan is several times cheaper.
    let name = name.as_bytes();
    name.len() <= MAX_OBJECT_NAME
        && !name.contains(&0)
        && name.split(|&b| b == b'/').all(names_itself)
}

/// A project, container and object that name a place inside that container and nowhere else.
// SECURITY: the project and container are single segments too: a `..` container would
// otherwise climb into a sibling project.
pub fn valid_location(project: &str, container: &str, object: &str) -> bool {
    valid_segment(project) && valid_segment(container) && valid_object_name(object)
}

/// One path component that names itself: not empty, `.` or `..`, no `/` or NUL.
pub fn valid_segment(s: &str) -> bool {
    names_itself(s.as_bytes()) && !s.bytes().any(|b| b == b'/' || b == 0)
}

fn names_itself(segment: &[u8]) -> bool {
    !matches!(segment, b"" | b"." | b"..")
}

#[cfg(test)]
mod tests {
    use super::{valid_object_name, BackendError, Etag};

    #[test]
    fn errno_says_what_the_store_means() {
        let of = |errno| BackendError::from(std::io::Error::from_raw_os_error(errno));
        for errno in [libc::ENOENT, libc::ENXIO, libc::EISDIR, libc::ENOTDIR] {
            assert!(matches!(of(errno), BackendError::NotFound), "{errno}");
        }
        for errno in [libc::EACCES, libc::EPERM] {
            assert!(matches!(of(errno), BackendError::Denied), "{errno}");
        }
        assert!(matches!(of(libc::EIO), BackendError::Io(_)));
    }

    #[test]
    fn the_longest_file_etag_is_written_whole() {
        let text = |ino, mtime, len| Etag::of_file(ino, mtime, len).text().as_str().to_string();
        let expected = format!("\"{:x}-{:x}-{:x}\"", u64::MAX, i128::MIN, u64::MAX);
        assert_eq!(text(u64::MAX, i128::MIN, u64::MAX), expected);
        assert_eq!(text(1, 2, 3), "\"1-2-3\"");
        assert_eq!(text(0, 0x10, 0xabc), "\"0-10-abc\"");
        let e = text(0x98c204, 0x18ec0eaef27416cd, 4096);
        assert_eq!(e, "\"98c204-18ec0eaef27416cd-1000\"");
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
