//! Object names to files: whatever the name, a successful open is of a regular file inside
//! the container (by device and inode against a walk of the container that follows no
//! symlink), and a name `valid_object_name` refuses never reaches the filesystem.
//!
//! The tree holds the escapes a name could try: symlinks out of the container (relative,
//! absolute, to the parent, to another container), a symlinked directory inside it, and
//! files beside and above the container.
#![no_main]

use std::collections::HashMap;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use keyhole::backend::fs::FsBackend;
use keyhole::backend::{valid_object_name, Ask, Backend, BackendError, MAX_OBJECT_NAME};
use libfuzzer_sys::fuzz_target;

struct Tree {
    fs: std::sync::Arc<FsBackend>,
    backend: Backend,
    /// (dev, ino) -> len of every regular file under p/c, reached without following symlinks.
    inside: HashMap<(u64, u64), u64>,
}

fn walk(dir: &Path, out: &mut HashMap<(u64, u64), u64>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        if md.is_dir() {
            walk(&e.path(), out);
        } else if md.is_file() {
            out.insert((md.dev(), md.ino()), md.len());
        }
    }
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let root: PathBuf =
            std::env::temp_dir().join(format!("keyhole-fuzz-fs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let c = root.join("p/c");
        for d in ["p/c/sub/deeper", "p/other", "q/c"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let files: [(&str, &[u8]); 7] = [
            ("p/c/a.txt", b"a"),
            ("p/c/sub/b.txt", b"bb"),
            ("p/c/sub/deeper/c.txt", b"ccc"),
            ("p/c/..a", b"dots"),
            ("p/other/secret", b"secret-other"),
            ("q/c/secret", b"secret-project"),
            ("secret", b"secret-root"),
        ];
        for (name, bytes) in files {
            std::fs::write(root.join(name), bytes).unwrap();
        }
        let abs_secret = root.join("secret");
        let links = [
            ("in", "sub/b.txt"),
            ("sub/up_in", "../a.txt"),
            ("dirlink", "sub"),
            ("out_rel", "../other/secret"),
            ("out_root", "../../secret"),
            ("out_abs", "/etc/passwd"),
            ("out_abs_tree", abs_secret.to_str().unwrap()),
            ("parent", ".."),
            ("sub/deeper/top", "../../../.."),
            ("self", "."),
            ("loop", "loop"),
            ("proc", "/proc/self/root/etc/passwd"),
        ];
        for (name, target) in links {
            symlink(target, c.join(name)).unwrap();
        }
        let mut inside = HashMap::new();
        walk(&c, &mut inside);
        let fs = std::sync::Arc::new(FsBackend::new(&root).unwrap());
        Tree {
            backend: Backend::Fs(fs.clone()),
            fs,
            inside,
        }
    })
}

/// Polls a future that never waits (the fs backend opens synchronously) to completion.
fn now_or_never<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fs backend waited"),
    }
}

/// An independent statement of the object-name rule: a relative path of normal components.
fn plainly_valid(name: &str) -> bool {
    if name.is_empty() || name.len() > MAX_OBJECT_NAME || name.contains('\0') {
        return false;
    }
    let segments = name.split('/').count();
    let p = Path::new(name);
    // Path::components drops empty and `.` segments: count them against the split.
    let normal = p.components().all(|c| matches!(c, Component::Normal(_)));
    normal && p.components().count() == segments
}

fuzz_target!(|name: &str| {
    let t = tree();
    let valid = valid_object_name(name);
    assert_eq!(valid, plainly_valid(name), "{name:?}");

    // Container names come from the validated config (single safe segments); the name is
    // what a link carries.
    let container = "c";
    let none = http::HeaderMap::new();
    let ask = Ask {
        head: true,
        headers: &none,
    };
    // The fs backend asked directly: it checks names itself (the first wall) and opens
    // beneath the root with openat2 (the second).
    let direct = t.fs.fetch("p", container, name, ask);
    if let Ok(o) = &direct {
        let etag = o.meta.etag.as_ref().expect("a file has an etag");
        let ino = etag
            .with_text(|t| {
                let hex = t.trim_matches('"').split('-').next()?;
                u64::from_str_radix(hex, 16).ok()
            })
            .expect("etag starts with the inode in hex");
        let found = t.inside.iter().find(|((_, i), _)| *i == ino);
        assert!(
            found.is_some_and(|(_, len)| *len == o.meta.len),
            "opened inode {ino} ({} bytes) outside p/c for container {container:?}, name {name:?}",
            o.meta.len
        );
    }
    // The same, as the handler calls it.
    let both = now_or_never(t.backend.fetch("p", container, name, ask));
    match &both {
        Ok(_) => assert!(valid && direct.is_ok(), "{name:?}"),
        Err(BackendError::NotFound) => {}
        Err(BackendError::Denied) => panic!("{name:?}: the fuzz tree is readable"),
        Err(e) => panic!("{name:?}: unexpected error {e}"),
    }
    if !valid {
        assert!(matches!(both, Err(BackendError::NotFound)));
    }
});
