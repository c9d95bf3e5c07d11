//! `content_disposition(inline, name)` for any name: the value is always a valid header
//! value of the expected shape, the plain `filename="…"` holds only safe printable ASCII, and
//! `filename*` decodes back to exactly the name.
#![no_main]

use keyhole::delivery::disposition::{ascii_fallback, content_disposition, default_filename};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

/// RFC 8187 attr-char.
fn attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

fuzz_target!(|input: (bool, String)| {
    let (inline, name) = input;
    let value = content_disposition(inline, &name);
    let text = value.to_str().expect("a header value of visible ASCII");
    assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{text:?}");

    let kind = if inline { "inline" } else { "attachment" };
    let rest = text
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix("; filename=\""))
        .unwrap_or_else(|| panic!("not `{kind}; filename=\"…`: {text:?}"));
    let (plain, rest) = rest.split_once('"').expect("closing quote");
    assert!(!plain.is_empty(), "{text:?}");
    assert!(
        plain
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'%')),
        "unsafe fallback {plain:?}"
    );
    assert_eq!(plain, ascii_fallback(&name));

    let encoded = rest
        .strip_prefix("; filename*=UTF-8''")
        .unwrap_or_else(|| panic!("no filename*: {text:?}"));
    let bytes = encoded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            assert!(
                i + 2 < bytes.len()
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit(),
                "bad escape in {encoded:?}"
            );
            i += 3;
        } else {
            assert!(
                attr_char(bytes[i]),
                "{:?} is not an attr-char in {encoded:?}",
                bytes[i] as char
            );
            i += 1;
        }
    }
    let decoded = percent_decode_str(encoded).decode_utf8().expect("UTF-8");
    assert_eq!(decoded, name.as_str());

    // The default name is a suffix of the object name with no '/'.
    let d = default_filename(&name);
    assert!(name.ends_with(d) && !d.contains('/'));
});
