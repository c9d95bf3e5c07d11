//! `Content-Disposition` for view (`inline`) and download (`attachment`).
//!
//! Both carry the name twice: `filename="…"`, a plain-ASCII fallback that can never break the
//! header, and `filename*=UTF-8''…` (RFC 6266 / RFC 8187) with the exact name, which every
//! current browser, wget and curl prefer.

use http::HeaderValue;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// RFC 8187 `attr-char`: everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The plain `filename` value: accents dropped (`Báo cáo` → `Bao cao`), and anything that is
/// not printable ASCII, or could end the quoted string or be read as an escape (`"`, `\`,
/// `%`), replaced by `_`.
pub fn ascii_fallback(name: &str) -> String {
    // Most names are plain ASCII already: no normalisation needed.
    if name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'%'))
        && !name.trim_matches(['_', '.', ' ']).is_empty()
    {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.nfkd().filter(|c| !is_combining_mark(*c)) {
        let c = match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        };
        out.push(match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        });
    }
    if out.trim_matches(['_', '.', ' ']).is_empty() {
        out = "download".to_string();
    }
    out
}

/// The whole header value, e.g. `attachment; filename="a.pdf"; filename*=UTF-8''a.pdf`.
pub fn content_disposition(inline: bool, filename: &str) -> HeaderValue {
    let kind = if inline { "inline" } else { "attachment" };
    let value = format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(filename),
        utf8_percent_encode(filename, ATTR_CHAR)
    );
    // Only printable ASCII went into `value`, so this cannot fail; fall back to the bare kind.
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

/// The name a download is saved under: the object's last path segment.
pub fn default_filename(object: &str) -> &str {
    object.rsplit('/').next().unwrap_or(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vietnamese_name_gets_a_readable_fallback_and_the_exact_utf8_name() {
        let v = content_disposition(false, "Báo cáo tháng 11.pdf");
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"Bao cao thang 11.pdf\"; filename*=UTF-8''B%C3%A1o%20c%C3%A1o%20th%C3%A1ng%2011.pdf"
        );
    }

    #[test]
    fn view_mode_is_inline_with_the_same_names() {
        let v = content_disposition(true, "photo.jpg");
        assert_eq!(
            v.to_str().unwrap(),
            "inline; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"
        );
    }

    #[test]
    fn quotes_backslashes_and_controls_cannot_break_the_header() {
        let v = content_disposition(false, "a\"b\\c\r\nd\u{0}e%41.txt");
        let s = v.to_str().unwrap();
        assert!(
            s.starts_with("attachment; filename=\"a_b_c__d_e_41.txt\"; filename*=UTF-8''"),
            "{s}"
        );
        assert!(s.ends_with("a%22b%5Cc%0D%0Ad%00e%2541.txt"), "{s}");
    }

    #[test]
    fn a_name_with_no_ascii_at_all_falls_back_to_download() {
        assert_eq!(ascii_fallback("日本語"), "download");
        assert!(content_disposition(false, "日本語")
            .to_str()
            .unwrap()
            .contains("filename*=UTF-8''%E6%97%A5"));
    }

    #[test]
    fn the_default_name_is_the_last_segment() {
        assert_eq!(default_filename("a/b/c d.txt"), "c d.txt");
        assert_eq!(default_filename("plain"), "plain");
    }
}
