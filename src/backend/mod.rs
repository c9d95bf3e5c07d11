//! Where object bytes come from. The request path makes one call per object request,
//! `Backend::fetch`, and gets back the object's metadata, what the request selected of it
//! (given its Range and preconditions) and the bytes; how a store names, finds and reads
//! objects stays behind this seam.

pub mod fs;
pub mod s3;
pub mod swift;
pub mod upstream;

use std::io;
use std::time::SystemTime;

use http::header::{HeaderMap, HeaderValue};

use crate::body::{Body, Part};
use crate::config::{BackendConfig, Config};
pub use crate::http_rules::Selection;

/// What a request asks of an object: GET or HEAD, and its headers, of which a backend reads
/// only Range, If-Range and the preconditions.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    pub head: bool,
    pub headers: &'a HeaderMap,
}

/// What a response needs to know about an object before sending a byte.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    /// The whole object's length.
    pub len: u64,
    pub modified: Option<SystemTime>,
    /// A strong validator that changes whenever the content does.
    pub etag: Option<Etag>,
    /// The store's own type and codings, when it keeps them (they win over a guess from the
    /// object's name; a link's `response-*` overrides win over them).
    pub content_type: Option<HeaderValue>,
    pub content_encoding: Option<HeaderValue>,
    pub content_language: Option<HeaderValue>,
}

impl ObjectMeta {
    /// Metadata with only a length, the rest unknown.
    pub fn of_len(len: u64) -> ObjectMeta {
        ObjectMeta {
            len,
            modified: None,
            etag: None,
            content_type: None,
            content_encoding: None,
            content_language: None,
        }
    }
}

/// An object's answer to one request: its metadata, what was selected, and the bytes.
pub struct Fetched {
    pub meta: ObjectMeta,
    pub selection: Selection,
    pub contents: Contents,
}

/// The bytes of a fetched object.
pub enum Contents {
    /// Nothing to send (HEAD, 304, 412, 416).
    None,
    /// Bytes that can be read at any offset: the response asks for the parts it frames.
    Seekable(Box<dyn Seekable>),
    /// Exactly the selected bytes, in order, as the store sends them.
    Stream(Body),
}

/// An object that can give any of its byte ranges.
pub trait Seekable: Send {
    /// A body sending `parts` in order: byte ranges of the object and literal bytes (the
    /// framing of a multipart answer).
    fn body(self: Box<Self>, parts: Vec<Part>) -> Body;
}

/// A strong validator, quoted: the fs backend's own (kept as numbers, spelled out only when a
/// header or a precondition needs the text), or a store's, passed on as the store sent it.
#[derive(Clone, PartialEq, Eq)]
pub struct Etag(Tag);

#[derive(Clone, PartialEq, Eq)]
enum Tag {
    /// `"<inode>-<mtime ns>-<length>"` in hex. Any write changes the mtime, and a replaced
    /// file has a new inode, so equal tags mean equal bytes.
    File {
        ino: u64,
        mtime_ns: i128,
        len: u64,
    },
    Verbatim(HeaderValue),
}

/// An `Etag` spelled out, quoted, on the stack.
pub struct EtagText {
    bytes: [u8; EtagText::MAX],
    len: u8,
}

impl Etag {
    pub fn of_file(ino: u64, mtime_ns: i128, len: u64) -> Etag {
        Etag(Tag::File { ino, mtime_ns, len })
    }

    /// A store's ETag, if it is one: visible ASCII in quotes, optionally `W/`-prefixed (a
    /// weak tag never matches a strong comparison, so it is passed on but never satisfies
    /// If-Match or If-Range). Swift sends its tags unquoted: they are quoted here.
    pub fn verbatim(v: &HeaderValue) -> Option<Etag> {
        let s = v.to_str().ok()?.trim();
        let opaque = s.strip_prefix("W/").unwrap_or(s);
        let quoted = opaque.len() >= 2 && opaque.starts_with('"') && opaque.ends_with('"');
        let inner = if quoted {
            &opaque[1..opaque.len() - 1]
        } else {
            opaque
        };
        if inner.is_empty() || inner.bytes().any(|b| b == b'"' || !b.is_ascii_graphic()) {
            return None;
        }
        let v = match quoted {
            true => HeaderValue::from_str(s).ok()?,
            false => HeaderValue::from_str(&format!("\"{inner}\"")).ok()?,
        };
        Some(Etag(Tag::Verbatim(v)))
    }

    /// Calls `f` with the quoted text.
    pub fn with_text<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        match &self.0 {
            Tag::File { .. } => f(self.file_text().as_str()),
            // Checked to be visible ASCII when it was made.
            Tag::Verbatim(v) => f(v.to_str().unwrap_or("\"\"")),
        }
    }

    pub fn header_value(&self) -> Option<HeaderValue> {
        match &self.0 {
            Tag::File { .. } => HeaderValue::from_str(self.file_text().as_str()).ok(),
            Tag::Verbatim(v) => Some(v.clone()),
        }
    }

    fn file_text(&self) -> EtagText {
        let mut t = EtagText {
            bytes: [0; EtagText::MAX],
            len: 0,
        };
        let Tag::File { ino, mtime_ns, len } = self.0 else {
            return t;
        };
        let mut at = 0;
        let mut put = |b: u8| {
            t.bytes[at] = b;
            at += 1;
        };
        put(b'"');
        // A negative mtime prints as its two's complement, as `{:x}` of an i128 does.
        let numbers = [u128::from(ino), mtime_ns as u128, u128::from(len)];
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
        self.with_text(|t| f.write_str(t))
    }
}

/// Why a backend could not give an object. Each says what happened; the response follows
/// from it (see `app::denied`), and none carries a store's URL, credentials or body.
#[derive(Debug)]
pub enum BackendError {
    /// No such object, a name that can never be one (it would leave the container), or a
    /// name the store holds something other than an object under (a folder, a socket).
    NotFound,
    /// The object is there but the store may not read it: the operator's doing (fs).
    Denied,
    /// The filesystem failed (fs).
    Io(io::Error),
    /// The store could not be reached, cut the connection or answered nonsense (502).
    Unavailable {
        store: String,
        detail: String,
        /// The same request might succeed later.
        retry: bool,
    },
    /// No connection or no answer within the store's time limits (504).
    Timeout { store: String },
    /// The store refused Keyhole's own credentials (502, and the operator must act).
    Misconfigured {
        store: String,
        status: u16,
        detail: String,
    },
}

impl BackendError {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::NotFound => "not_found",
            BackendError::Denied => "denied",
            BackendError::Io(_) => "io",
            BackendError::Unavailable { .. } => "unavailable",
            BackendError::Timeout { .. } => "timeout",
            BackendError::Misconfigured { .. } => "misconfigured",
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::NotFound => f.write_str("no such object"),
            BackendError::Denied => f.write_str("the store may not read the object"),
            BackendError::Io(e) => write!(f, "{e}"),
            BackendError::Unavailable { store, detail, .. } => {
                write!(f, "store {store} unavailable: {detail}")
            }
            BackendError::Timeout { store } => write!(f, "store {store} timed out"),
            BackendError::Misconfigured {
                store,
                status,
                detail,
            } => write!(
                f,
                "store {store} refused keyhole's credentials ({status}): {detail}"
            ),
        }
    }
}

impl From<io::Error> for BackendError {
    fn from(e: io::Error) -> Self {
        fs::errno_meaning(e)
    }
}

pub enum Backend {
    Fs(std::sync::Arc<fs::FsBackend>),
    Swift(std::sync::Arc<swift::SwiftBackend>),
    S3(std::sync::Arc<s3::S3Backend>),
}

impl Backend {
    pub fn from_config(cfg: &Config) -> io::Result<Backend> {
        match &cfg.backend {
            BackendConfig::Fs { root, hard_links } => Ok(Backend::Fs(std::sync::Arc::new(
                fs::FsBackend::new(root)?.allow_hard_links(*hard_links),
            ))),
            BackendConfig::Swift(s) => swift::SwiftBackend::new(s)
                .map(|b| Backend::Swift(std::sync::Arc::new(b)))
                .map_err(|e| io::Error::other(e.to_string())),
            BackendConfig::S3(store) => s3::S3Backend::new(store)
                .map(|b| Backend::S3(std::sync::Arc::new(b)))
                .map_err(|e| io::Error::other(e.to_string())),
        }
    }

    /// Whether the store can serve now (for `/_keyhole/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        match self {
            Backend::Fs(fs) => fs.ready(),
            // Boxed for the reason `fetch` boxes.
            Backend::Swift(s) => Box::pin(s.ready()).await,
            Backend::S3(s3) => Box::pin(s3.ready()).await,
        }
    }

    /// The object's answer to a GET or HEAD with `ask`'s Range and preconditions.
    pub async fn fetch(
        &self,
        project: &str,
        container: &str,
        object: &str,
        ask: Ask<'_>,
    ) -> Result<Fetched, BackendError> {
        // Each backend checks names against its own store's rules (see `FsBackend::fetch`).
        // An upstream request's future holds a whole HTTP exchange, some kilobytes: boxed, so
        // that every request's future (and each connection's task) does not carry its size
        // when the store is a filesystem, and costs one allocation beside a network trip.
        match self {
            Backend::Fs(fs) => fs.fetch(project, container, object, ask),
            Backend::Swift(s) => Box::pin(s.fetch(project, container, object, ask)).await,
            Backend::S3(s3) => Box::pin(s3.fetch(project, container, object, ask)).await,
        }
    }

    /// Whether the object exists and can be read (the share API links only to such).
    pub async fn exists(
        &self,
        project: &str,
        container: &str,
        object: &str,
    ) -> Result<(), BackendError> {
        let none = HeaderMap::new();
        let ask = Ask {
            head: true,
            headers: &none,
        };
        self.fetch(project, container, object, ask).await.map(drop)
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
            Backend::Swift(s) => s.list(project, container, query).await,
            Backend::S3(s3) => s3.list(project, container, query).await,
        }
    }
}

impl Backend {
    /// The Temp-URL keys the store keeps for `project`'s account and `container`, for a
    /// `keys_from_store` project; `None` for a store that keeps none.
    pub async fn store_keys(
        &self,
        project: &str,
        container: &str,
        now: u64,
    ) -> Option<Result<crate::keys::StoreKeys, BackendError>> {
        match self {
            Backend::Fs(_) | Backend::S3(_) => None,
            // Boxed for the reason `fetch` boxes.
            Backend::Swift(s) => Some(Box::pin(s.store_keys(project, container, now)).await),
        }
    }
}

impl Backend {
    /// The containers the store holds for `project` (for `any_container` projects).
    pub async fn containers(&self, project: &str) -> Result<Vec<String>, BackendError> {
        match self {
            Backend::Fs(fs) => fs.containers(project),
            Backend::Swift(s) => s.containers(project).await,
            Backend::S3(s3) => s3.containers(project).await,
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

pub use crate::names::{valid_location, valid_object_name, valid_segment, MAX_OBJECT_NAME};

#[cfg(test)]
mod tests {
    use super::Etag;
    use http::HeaderValue;

    #[test]
    fn the_longest_file_etag_is_written_whole() {
        let text = |ino, mtime, len| Etag::of_file(ino, mtime, len).with_text(str::to_string);
        let expected = format!("\"{:x}-{:x}-{:x}\"", u64::MAX, i128::MIN, u64::MAX);
        assert_eq!(text(u64::MAX, i128::MIN, u64::MAX), expected);
        assert_eq!(text(1, 2, 3), "\"1-2-3\"");
        assert_eq!(text(0, 0x10, 0xabc), "\"0-10-abc\"");
        let e = text(0x98c204, 0x18ec0eaef27416cd, 4096);
        assert_eq!(e, "\"98c204-18ec0eaef27416cd-1000\"");
    }

    #[test]
    fn a_stores_etag_is_kept_as_sent_and_swifts_bare_tag_is_quoted() {
        let tag = |s: &str| Etag::verbatim(&HeaderValue::from_str(s).unwrap());
        let text = |s: &str| tag(s).map(|t| t.with_text(str::to_string));
        assert_eq!(text("\"abc-1\"").as_deref(), Some("\"abc-1\""));
        assert_eq!(text("W/\"abc\"").as_deref(), Some("W/\"abc\""));
        assert_eq!(
            text("d41d8cd98f00b204").as_deref(),
            Some("\"d41d8cd98f00b204\"")
        );
        for bad in ["", "\"\"", "\"a\"b\"", "a b", "\"a"] {
            assert!(tag(bad).is_none(), "{bad:?}");
        }
    }
}
