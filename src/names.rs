//! Which project, container and object names can be served: names that map onto a place
//! inside their container and nowhere else. A leaf: the config checks its templates with it,
//! and every backend checks each request's names with it.

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
    use super::*;

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
