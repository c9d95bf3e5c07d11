//! The filesystem backend: objects at `<root>/<project>/<container>/<object>`.
//!
//! Opening resolves `<project>/<container>/<object>` from the root in one `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`: the kernel refuses any symlink on the way and any
//! escape from the root, in one step, so no name, symlink or rename racing the open can reach
//! another container. (`backend::valid_segment` has already refused `.` and `..`.)
//! Symlinks are never followed, as nginx's `disable_symlinks on` would have it.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub mod body;

use super::{
    Ask, BackendError, Contents, Etag, Fetched, ListQuery, ListedObject, Listing, ObjectMeta,
    Seekable,
};
use crate::body::{Body, Part};
use crate::http_rules;

pub struct FsBackend {
    root: OwnedFd,
    /// Set when the kernel (or a seccomp filter) refuses openat2; we then walk the path
    /// one component at a time with O_NOFOLLOW, which refuses every symlink.
    no_openat2: AtomicBool,
    /// Whether files with more than one name may be served (`backend.hard_links`).
    hard_links: bool,
    /// Objects already reported as unreadable or hard-linked.
    reported: Reported,
}

/// Object paths whose refusal (unreadable, hard-linked) has been logged. Either is the
/// operator's to fix and one line says so; a line per request would let anyone holding a
/// link flood the log. Bounded: when full it starts over, so no request can grow it.
#[derive(Default)]
struct Reported(std::sync::Mutex<std::collections::HashSet<String>>);

impl Reported {
    const MAX: usize = 1024;

    /// True the first time `path` is seen (since the set last started over).
    fn first(&self, path: String) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.contains(&path) {
            return false;
        }
        if seen.len() >= Reported::MAX {
            seen.clear();
        }
        seen.insert(path)
    }
}

/// Calls `f` with `parts` joined and NUL-terminated: on the stack when short, as almost
/// every object path is, so opening allocates nothing.
fn with_c_path<T>(parts: &[&str], f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
    let len = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap[..]
    };
    let mut at = 0;
    for p in parts {
        buf[at..at + p.len()].copy_from_slice(p.as_bytes());
        at += p.len();
    }
    // A NUL inside a name can name no file.
    let path =
        CStr::from_bytes_with_nul(buf).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
    f(path)
}

fn openat2(dir: BorrowedFd<'_>, path: &CStr, flags: OFlags) -> io::Result<OwnedFd> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    loop {
        match rustix::fs::openat2(dir, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            // EAGAIN: a rename raced the lookup; the kernel asks for another try.
            Err(Errno::AGAIN | Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

fn openat(dir: BorrowedFd<'_>, name: &str, flags: OFlags) -> io::Result<OwnedFd> {
    with_c_path(&[name], |name| {
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
    })
}

impl FsBackend {
    pub fn new(root: &Path) -> io::Result<FsBackend> {
        let dir = File::open(root).map_err(|e| {
            io::Error::new(e.kind(), format!("backend root {}: {e}", root.display()))
        })?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("backend root {} is not a directory", root.display()),
            ));
        }
        Ok(FsBackend {
            root: OwnedFd::from(dir),
            no_openat2: AtomicBool::new(false),
            hard_links: false,
            reported: Reported::default(),
        })
    }

    /// Serve files that have other names too (hard links); see `open`.
    pub fn allow_hard_links(mut self, allow: bool) -> FsBackend {
        self.hard_links = allow;
        self
    }

    /// Opens `<project>/<container>/<object>` below the root, refusing every symlink on the
    /// way: one `openat2` in the kernel, so nothing can be swapped in between checks.
    fn open_file(&self, project: &str, container: &str, object: &str) -> io::Result<OwnedFd> {
        // O_NONBLOCK: opening a FIFO must not hang the worker; it is refused below as not a file.
        let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK;
        if !self.no_openat2.load(Ordering::Relaxed) {
            let opened = with_c_path(&[project, "/", container, "/", object], |path| {
                openat2(self.root.as_fd(), path, flags)
            });
            match opened {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    self.no_openat2.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        // Without openat2: one component at a time, each with O_NOFOLLOW.
        let mut dir: Option<OwnedFd> = None;
        let mut segments = [project, container]
            .into_iter()
            .chain(object.split('/'))
            .peekable();
        while let Some(seg) = segments.next() {
            let at = dir.as_ref().map_or(self.root.as_fd(), |d| d.as_fd());
            if segments.peek().is_none() {
                return openat(at, seg, flags);
            }
            dir = Some(openat(at, seg, OFlags::PATH | OFlags::DIRECTORY)?);
        }
        Err(io::Error::from_raw_os_error(libc::ENOENT))
    }

    /// The root is still a directory we can reach (not unmounted or deleted under us).
    pub fn ready(&self) -> Result<(), String> {
        let probe = openat(self.root.as_fd(), ".", OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| e.to_string())?;
        let md = File::from(probe).metadata().map_err(|e| e.to_string())?;
        if md.nlink() == 0 {
            return Err("the backend root was deleted".into());
        }
        Ok(())
    }

    /// Warns that an object is refused for `why`, the first time it is (see `Reported`).
    fn report_once(&self, project: &str, container: &str, object: &str, why: &str) {
        if self
            .reported
            .first(format!("{project}/{container}/{object}"))
        {
            tracing::warn!(
                project,
                container,
                // SECURITY: a name can hold a link's query (an encoded `?`).
                object = %crate::redact::redact(object),
                "{why} (reported once)"
            );
        }
    }

    /// The object's answer to `ask`: one open, one fstat, and the request's preconditions and
    /// Range decided here against the file's own validators.
    pub fn fetch(
        self: &Arc<Self>,
        project: &str,
        container: &str,
        object: &str,
        ask: Ask<'_>,
    ) -> Result<Fetched, BackendError> {
        let opened = self.open(project, container, object)?;
        let meta = &opened.meta;
        let selection = if http_rules::asks_anything(ask.headers) {
            let modified = meta.modified.map(crate::clock::http_secs);
            let select =
                |etag: &str| http_rules::select(ask.head, ask.headers, meta.len, etag, modified);
            match &meta.etag {
                Some(etag) => etag.with_text(select),
                None => select(""),
            }
        } else {
            http_rules::Selection::Whole
        };
        let sends = matches!(
            selection,
            http_rules::Selection::Whole
                | http_rules::Selection::Single(_)
                | http_rules::Selection::Multi(_)
        );
        let Opened { meta, file, reopen } = opened;
        let contents = match sends && !ask.head {
            true => Contents::Seekable(Box::new(FileContents { file, reopen })),
            false => Contents::None,
        };
        Ok(Fetched {
            meta,
            selection,
            contents,
        })
    }

    /// Opens an object for reading: one open, one fstat.
    fn open(
        self: &Arc<Self>,
        project: &str,
        container: &str,
        object: &str,
    ) -> Result<Opened, BackendError> {
        // SECURITY: the kernel keeps the open under the root and off symlinks; only names
        // without `.`/`..` segments keep it inside the container, so this backend checks them
        // itself rather than trust every caller to.
        if !super::valid_location(project, container, object) {
            return Err(BackendError::NotFound);
        }
        let file = match self.open_file(project, container, object) {
            Ok(fd) => File::from(fd),
            Err(e) => {
                let e = BackendError::from(e);
                if matches!(e, BackendError::Denied) {
                    self.report_once(
                        project,
                        container,
                        object,
                        "an object is not readable by keyhole",
                    );
                }
                return Err(e);
            }
        };
        let md = file.metadata()?;
        if !md.is_file() {
            return Err(BackendError::NotFound);
        }
        // SECURITY: a hard link is a second name for the same file, and the other name may
        // be anywhere on the filesystem (a link to /etc/shadow made by anyone who can write
        // into the root). No path check can tell, so by default a file with more than one
        // name is not served at all.
        if md.nlink() > 1 && !self.hard_links {
            self.report_once(
                project,
                container,
                object,
                "not serving a hard-linked file (backend.hard_links = true allows it)",
            );
            return Err(BackendError::NotFound);
        }
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        // Any i64 can be a file's mtime (`utimensat`), far past what a clock can hold.
        let modified = crate::clock::from_unix(md.mtime(), md.mtime_nsec());
        let meta = ObjectMeta {
            modified: Some(modified),
            etag: Some(Etag::of_file(md.ino(), mtime_ns, md.len())),
            ..ObjectMeta::of_len(md.len())
        };
        let reopen = Reopener {
            backend: self.clone(),
            name: [project, container, object].join("/"),
            ends: (project.len(), project.len() + 1 + container.len()),
            dev: md.dev(),
            ino: md.ino(),
        };
        Ok(Opened { meta, file, reopen })
    }
}

/// An opened object file, with its metadata and the way back to it.
struct Opened {
    meta: ObjectMeta,
    file: File,
    reopen: Reopener,
}

struct FileContents {
    file: File,
    reopen: Reopener,
}

impl Seekable for FileContents {
    fn body(self: Box<Self>, parts: Vec<Part>) -> Body {
        let FileContents { file, reopen } = *self;
        body::body(file, parts, || Some(reopen))
    }
}

/// What an errno means for an object: most say it is not there (or not a file we serve).
pub(super) fn errno_meaning(e: io::Error) -> BackendError {
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

/// A directory entry as the listing sees it, with its name as sorted: a directory's name
/// ends in `/`, so that walking each directory in order gives every name in byte order
/// (`a-b` < `a/b`, as `-` < `/`).
struct DirEntry {
    name: String,
    sort_key: String,
    kind: EntryKind,
}

enum EntryKind {
    Dir,
    File { len: u64, modified: SystemTime },
}

/// The entries of `dir` that can be objects or hold them: regular files (one name only,
/// unless hard links are allowed, as `open` would serve them) and directories, with UTF-8
/// names. Symlinks, FIFOs, sockets and devices are left out: `open` never serves them.
fn read_dir(dir: &OwnedFd, hard_links: bool) -> io::Result<Vec<DirEntry>> {
    // A duplicate, so the stream owns (and closes) its own descriptor.
    let stream = rustix::io::fcntl_dupfd_cloexec(dir, 0)?;
    let mut entries = Vec::new();
    for ent in rustix::fs::Dir::new(stream)? {
        let ent = ent?;
        let cname = ent.file_name();
        let Ok(name) = cname.to_str() else { continue };
        if name == "." || name == ".." {
            continue;
        }
        // Gone since readdir: not listed.
        let Ok(st) = rustix::fs::statat(dir, cname, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => EntryKind::Dir,
            FileType::RegularFile if st.st_nlink <= 1 || hard_links => EntryKind::File {
                len: st.st_size as u64,
                modified: if st.st_mtime >= 0 {
                    UNIX_EPOCH + Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32)
                } else {
                    UNIX_EPOCH
                },
            },
            _ => continue,
        };
        let sort_key = match kind {
            EntryKind::Dir => format!("{name}/"),
            EntryKind::File { .. } => name.to_string(),
        };
        entries.push(DirEntry {
            name: name.to_string(),
            sort_key,
            kind,
        });
    }
    Ok(entries)
}

/// A walk of one container for one `ListQuery`, in name order, stopping once the page is full.
struct Walk<'q> {
    query: &'q ListQuery<'q>,
    hard_links: bool,
    page: Listing,
    count: usize,
    last: String,
}

enum Flow {
    More,
    Full,
}

impl Walk<'_> {
    fn push(&mut self, item: Result<ListedObject, String>) -> Flow {
        if self.count == self.query.limit {
            // One more exists: the page is cut after the last name given.
            self.page.next_marker = Some(std::mem::take(&mut self.last));
            return Flow::Full;
        }
        self.count += 1;
        match item {
            Ok(o) => {
                self.last.clone_from(&o.name);
                self.page.objects.push(o);
            }
            Err(p) => {
                self.last.clone_from(&p);
                self.page.prefixes.push(p);
            }
        }
        Flow::More
    }

    /// Lists `dir`, whose names all start with `path` (empty or ending in `/`).
    fn dir(&mut self, dir: &OwnedFd, path: &mut String) -> io::Result<Flow> {
        let mut entries = read_dir(dir, self.hard_links)?;
        entries.sort_unstable_by(|a, b| a.sort_key.cmp(&b.sort_key));
        for e in entries {
            let base = path.len();
            path.push_str(&e.sort_key);
            let flow = self.entry(dir, e, path);
            path.truncate(base);
            if let Flow::Full = flow? {
                return Ok(Flow::Full);
            }
        }
        Ok(Flow::More)
    }

    fn entry(&mut self, dir: &OwnedFd, e: DirEntry, path: &str) -> io::Result<Flow> {
        let q = self.query;
        match e.kind {
            EntryKind::File { len, modified } => {
                if !path.starts_with(q.prefix)
                    || path <= q.marker
                    || !super::valid_object_name(path)
                {
                    return Ok(Flow::More);
                }
                let object = ListedObject {
                    name: path.to_string(),
                    bytes: len,
                    modified,
                };
                Ok(self.push(Ok(object)))
            }
            EntryKind::Dir => {
                // Names below it would be too long to be objects; no prefix can reach them.
                if path.len() > super::MAX_OBJECT_NAME
                    || !(path.starts_with(q.prefix) || q.prefix.starts_with(path))
                {
                    return Ok(Flow::More);
                }
                // Every name below sorts before the marker.
                if path < q.marker && !q.marker.starts_with(path) {
                    return Ok(Flow::More);
                }
                // SECURITY: one component, opened with O_NOFOLLOW: a directory swapped for a
                // symlink since readdir is refused, so the walk never leaves the container.
                let Ok(sub) = openat(dir.as_fd(), &e.name, OFlags::RDONLY | OFlags::DIRECTORY)
                else {
                    return Ok(Flow::More);
                };
                if q.delimiter && path.len() > q.prefix.len() && path.starts_with(q.prefix) {
                    // A folder: listed once, as a prefix, when it holds any object. A marker
                    // inside it means it was given already (a page may end on a prefix).
                    if path <= q.marker || q.marker.starts_with(path) {
                        return Ok(Flow::More);
                    }
                    if !self.holds_an_object(&sub, path.len())? {
                        return Ok(Flow::More);
                    }
                    return Ok(self.push(Err(path.to_string())));
                }
                let mut path = path.to_string();
                self.dir(&sub, &mut path)
            }
        }
    }

    /// Whether `dir` (at a name `len` bytes long) holds an object at any depth.
    fn holds_an_object(&self, dir: &OwnedFd, len: usize) -> io::Result<bool> {
        for e in read_dir(dir, self.hard_links)? {
            let len = len + e.sort_key.len();
            if len > super::MAX_OBJECT_NAME {
                continue;
            }
            match e.kind {
                EntryKind::File { .. } => return Ok(true),
                EntryKind::Dir => {
                    let flags = OFlags::RDONLY | OFlags::DIRECTORY;
                    if let Ok(sub) = openat(dir.as_fd(), &e.name, flags) {
                        if self.holds_an_object(&sub, len)? {
                            return Ok(true);
                        }
                    }
                }
            }
        }
        Ok(false)
    }
}

impl FsBackend {
    /// One page of `<project>/<container>`'s objects. The walk opens each directory by one
    /// component with O_NOFOLLOW from the one above it, starting at the root, so it never
    /// follows a symlink and never leaves the container; it lists exactly what `open`
    /// would serve (dot files included: they are objects like any other).
    pub fn list(
        &self,
        project: &str,
        container: &str,
        query: &ListQuery<'_>,
    ) -> Result<Listing, BackendError> {
        if !super::valid_segment(project) || !super::valid_segment(container) {
            return Err(BackendError::NotFound);
        }
        let project_dir = openat(self.root.as_fd(), project, OFlags::PATH | OFlags::DIRECTORY)?;
        let dir = openat(
            project_dir.as_fd(),
            container,
            OFlags::RDONLY | OFlags::DIRECTORY,
        )?;
        let mut walk = Walk {
            query,
            hard_links: self.hard_links,
            page: Listing::default(),
            count: 0,
            last: String::new(),
        };
        walk.dir(&dir, &mut String::new())?;
        Ok(walk.page)
    }
}

impl FsBackend {
    /// The folders of `<project>` that can be containers (names that are one valid
    /// segment, no symlinks), in name order; none when the project has no folder.
    pub fn containers(&self, project: &str) -> Result<Vec<String>, BackendError> {
        if !super::valid_segment(project) {
            return Ok(Vec::new());
        }
        let dir = match openat(
            self.root.as_fd(),
            project,
            OFlags::RDONLY | OFlags::DIRECTORY,
        ) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut names: Vec<String> = read_dir(&dir, self.hard_links)?
            .into_iter()
            .filter(|e| matches!(e.kind, EntryKind::Dir) && super::valid_segment(&e.name))
            .map(|e| e.name)
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The way back to an object's file after its body closed the descriptor.
struct Reopener {
    backend: Arc<FsBackend>,
    /// `<project>/<container>/<object>`, split at `ends`.
    name: String,
    ends: (usize, usize),
    dev: u64,
    ino: u64,
}

/// The name now leads to another file than the one the response began with.
#[derive(Debug)]
pub struct Replaced;

impl std::fmt::Display for Replaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file was replaced while it was being sent")
    }
}

impl std::error::Error for Replaced {}

impl body::Reopen for Reopener {
    fn reopen(&self) -> io::Result<File> {
        let (p, c) = self.ends;
        let (project, container, object) = (
            self.name.get(..p).unwrap_or_default(),
            self.name.get(p + 1..c).unwrap_or_default(),
            self.name.get(c + 1..).unwrap_or_default(),
        );
        let file = File::from(self.backend.open_file(project, container, object)?);
        let md = file.metadata()?;
        // SECURITY: the same inode only. Another file at the name is another object, whose
        // bytes must not be sent on under this response's headers.
        if md.dev() != self.dev || md.ino() != self.ino {
            return Err(io::Error::other(Replaced));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::body::Reopen;
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempdir::Dir, Arc<FsBackend>) {
        let d = tempdir::Dir::new();
        std::fs::create_dir_all(d.path().join("p/c/sub")).unwrap();
        std::fs::create_dir_all(d.path().join("p/other")).unwrap();
        std::fs::write(d.path().join("p/c/sub/o.txt"), b"hello").unwrap();
        std::fs::write(d.path().join("p/other/secret"), b"secret").unwrap();
        std::fs::write(d.path().join("outside"), b"outside").unwrap();
        let b = Arc::new(FsBackend::new(d.path()).unwrap());
        (d, b)
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("keyhole-fs-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn an_unreadable_object_is_reported_once_and_the_record_stays_bounded() {
        let r = Reported::default();
        assert!(r.first("p/c/o".into()));
        assert!(!r.first("p/c/o".into()));
        for i in 0..Reported::MAX * 2 {
            r.first(format!("p/c/{i}"));
        }
        assert!(r.0.lock().unwrap().len() <= Reported::MAX);
    }

    #[test]
    fn a_socket_under_an_object_name_is_not_found() {
        let (d, b) = tree();
        let _sock = std::os::unix::net::UnixListener::bind(d.path().join("p/c/sock")).unwrap();
        assert!(matches!(
            b.open("p", "c", "sock"),
            Err(BackendError::NotFound)
        ));
    }

    fn read(o: Opened) -> Vec<u8> {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut &o.file, &mut s).unwrap();
        s
    }

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
    fn long_names_open_and_a_nul_names_nothing() {
        let (d, b) = tree();
        // Longer than the on-stack path buffer: built on the heap instead.
        let dir = "d".repeat(200);
        let name = "n".repeat(200);
        std::fs::create_dir_all(d.path().join("p/c").join(&dir)).unwrap();
        std::fs::write(d.path().join("p/c").join(&dir).join(&name), b"long").unwrap();
        assert_eq!(
            read(b.open("p", "c", &format!("{dir}/{name}")).unwrap()),
            b"long"
        );
        assert!(matches!(
            b.open("p", "c", "sub/o.txt\0x"),
            Err(BackendError::NotFound)
        ));
    }

    #[test]
    fn opens_a_nested_object_with_its_metadata() {
        let (_d, b) = tree();
        let o = b.open("p", "c", "sub/o.txt").unwrap();
        assert_eq!(o.meta.len, 5);
        let etag = o.meta.etag.as_ref().unwrap().with_text(str::to_string);
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(read(o), b"hello");
    }

    #[test]
    fn a_symlink_out_of_the_container_is_not_found() {
        let (d, b) = tree();
        symlink(d.path().join("outside"), d.path().join("p/c/abs")).unwrap();
        symlink("../other/secret", d.path().join("p/c/rel")).unwrap();
        symlink("../../../outside", d.path().join("p/c/sub/up")).unwrap();
        for name in ["abs", "rel", "sub/up"] {
            assert!(
                matches!(b.open("p", "c", name), Err(BackendError::NotFound)),
                "{name}"
            );
        }
    }

    #[test]
    fn symlinks_are_never_followed_even_inside_the_container() {
        let (d, b) = tree();
        symlink("sub/o.txt", d.path().join("p/c/alias")).unwrap();
        symlink("sub", d.path().join("p/c/dir-alias")).unwrap();
        assert!(matches!(
            b.open("p", "c", "alias"),
            Err(BackendError::NotFound)
        ));
        assert!(matches!(
            b.open("p", "c", "dir-alias/o.txt"),
            Err(BackendError::NotFound)
        ));
    }

    #[test]
    fn a_file_with_a_second_name_is_refused_unless_allowed() {
        let (d, b) = tree();
        std::fs::hard_link(d.path().join("p/other/secret"), d.path().join("p/c/hard")).unwrap();
        assert!(matches!(
            b.open("p", "c", "hard"),
            Err(BackendError::NotFound)
        ));
        let b = Arc::new(FsBackend::new(d.path()).unwrap().allow_hard_links(true));
        assert_eq!(b.open("p", "c", "hard").unwrap().meta.len, 6);
    }

    #[test]
    fn reopening_finds_the_same_file_and_refuses_a_replaced_one() {
        let (d, b) = tree();
        let reopen = b.open("p", "c", "sub/o.txt").unwrap().reopen;
        let mut s = String::new();
        std::io::Read::read_to_string(&mut reopen.reopen().unwrap(), &mut s).unwrap();
        assert_eq!(s, "hello");
        // An atomic replace puts another inode at the name: not the object the response
        // began with.
        std::fs::write(d.path().join("p/c/new"), b"other").unwrap();
        std::fs::rename(d.path().join("p/c/new"), d.path().join("p/c/sub/o.txt")).unwrap();
        let e = reopen.reopen().unwrap_err();
        assert!(e.get_ref().is_some_and(|e| e.is::<Replaced>()), "{e}");
        std::fs::remove_file(d.path().join("p/c/sub/o.txt")).unwrap();
        assert!(reopen.reopen().is_err(), "gone");
    }

    #[test]
    fn a_symlinked_container_is_refused() {
        let (d, b) = tree();
        symlink(d.path().join("p/other"), d.path().join("p/linked")).unwrap();
        assert!(matches!(
            b.open("p", "linked", "secret"),
            Err(BackendError::NotFound)
        ));
    }

    #[test]
    fn names_that_climb_are_refused_by_the_backend_itself() {
        let (_d, b) = tree();
        for (container, object) in [
            ("c", "../other/secret"),
            ("..", "p/other/secret"),
            ("c", "sub/../../other/secret"),
        ] {
            assert!(
                matches!(b.open("p", container, object), Err(BackendError::NotFound)),
                "{container} {object}"
            );
        }
    }

    #[test]
    fn directories_and_fifos_are_not_objects() {
        let (d, b) = tree();
        assert!(matches!(
            b.open("p", "c", "sub"),
            Err(BackendError::NotFound)
        ));
        let fifo = std::ffi::CString::new(d.path().join("p/c/fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            b.open("p", "c", "fifo"),
            Err(BackendError::NotFound)
        ));
    }

    #[test]
    fn the_component_walk_fallback_refuses_symlinks_too() {
        let (d, b) = tree();
        b.no_openat2.store(true, Ordering::Relaxed);
        symlink("../other/secret", d.path().join("p/c/rel")).unwrap();
        assert!(matches!(
            b.open("p", "c", "rel"),
            Err(BackendError::NotFound)
        ));
        assert_eq!(read(b.open("p", "c", "sub/o.txt").unwrap()), b"hello");
    }

    fn names(l: &Listing) -> Vec<&str> {
        l.objects.iter().map(|o| o.name.as_str()).collect()
    }

    fn all<'a>(prefix: &'a str, delimiter: bool, marker: &'a str, limit: usize) -> ListQuery<'a> {
        ListQuery {
            prefix,
            delimiter,
            marker,
            limit,
        }
    }

    #[test]
    fn a_listing_is_in_byte_order_across_folders() {
        let (d, b) = tree();
        for name in ["a-b", "a/b", "a/a", "a0", "Z", "é"] {
            let path = d.path().join("p/c").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let l = b.list("p", "c", &all("", false, "", 100)).unwrap();
        assert_eq!(
            names(&l),
            ["Z", "a-b", "a/a", "a/b", "a0", "sub/o.txt", "é"]
        );
        assert_eq!(l.next_marker, None);
        assert_eq!(l.objects[0].bytes, 1);
    }

    #[test]
    fn a_listing_pages_by_marker_and_rolls_folders_into_prefixes() {
        let (d, b) = tree();
        std::fs::create_dir_all(d.path().join("p/c/empty/deeper")).unwrap();
        std::fs::write(d.path().join("p/c/top"), b"t").unwrap();
        let l = b.list("p", "c", &all("", true, "", 1)).unwrap();
        assert_eq!(
            (l.prefixes.as_slice(), l.next_marker.as_deref()),
            (&["sub/".to_string()][..], Some("sub/"))
        );
        // A page that ends on a prefix goes on after everything below it.
        let l = b.list("p", "c", &all("", true, "sub/", 1)).unwrap();
        assert_eq!((names(&l), l.next_marker.as_deref()), (vec!["top"], None));
        let l = b.list("p", "c", &all("sub/", true, "", 10)).unwrap();
        assert_eq!(names(&l), ["sub/o.txt"]);
    }

    #[test]
    fn a_listing_leaves_out_symlinks_fifos_and_other_containers() {
        let (d, b) = tree();
        symlink(d.path().join("outside"), d.path().join("p/c/abs")).unwrap();
        symlink("../other", d.path().join("p/c/dir-link")).unwrap();
        let fifo = std::ffi::CString::new(d.path().join("p/c/fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::fs::hard_link(d.path().join("p/other/secret"), d.path().join("p/c/hard")).unwrap();
        let l = b.list("p", "c", &all("", false, "", 100)).unwrap();
        assert_eq!(names(&l), ["sub/o.txt"]);
        symlink(d.path().join("p/other"), d.path().join("p/linked")).unwrap();
        assert!(matches!(
            b.list("p", "linked", &all("", false, "", 100)),
            Err(BackendError::NotFound)
        ));
        assert!(matches!(
            b.list("p", "..", &all("", false, "", 100)),
            Err(BackendError::NotFound)
        ));
    }
}
