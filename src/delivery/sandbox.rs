//! Which object responses get `Content-Security-Policy: sandbox` (DESIGN.md section 6).
//!
//! SECURITY: an allowlist of passive types a browser only displays — raster images (never
//! SVG), audio, video, PDF and plain text — decided on the parsed essence of a value that is
//! exactly one media type. Everything else is sandboxed: HTML, SVG, XML and script, but
//! also every unknown type and every spelling that does not parse (a comma list, a stray
//! byte), so no spelling can reach a browser's script engine on our origin. PDF is here
//! because Chromium's viewer does not open a sandboxed document.

use crate::delivery::media_type::MediaType;

/// Essences shown without any script, sorted for `binary_search`.
const PASSIVE: &[&str] = &[
    "application/pdf",
    "audio/aac",
    "audio/flac",
    "audio/mp4",
    "audio/mpeg",
    "audio/ogg",
    "audio/opus",
    "audio/wav",
    "audio/wave",
    "audio/webm",
    "audio/x-flac",
    "audio/x-m4a",
    "audio/x-wav",
    "image/apng",
    "image/avif",
    "image/bmp",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "image/vnd.microsoft.icon",
    "image/webp",
    "image/x-icon",
    "text/plain",
    "video/mp4",
    "video/mpeg",
    "video/ogg",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
];

/// True unless `content_type` is exactly one media type whose essence is passive.
pub fn needs_sandbox(content_type: &[u8]) -> bool {
    match MediaType::parse(content_type) {
        Some(t) => PASSIVE.binary_search(&t.essence()).is_err(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_is_sorted_lowercase_essences() {
        assert!(PASSIVE.windows(2).all(|w| w[0] < w[1]));
        for t in PASSIVE {
            let parsed = MediaType::parse(t.as_bytes()).map(|m| m.essence().to_string());
            assert_eq!(parsed.as_deref(), Some(*t));
        }
    }

    #[test]
    fn passive_types_in_any_spelling_are_not_sandboxed() {
        for t in [
            "text/plain",
            "text/plain; charset=utf-8",
            "TEXT/PLAIN",
            "image/png",
            "image/JPEG",
            "application/pdf",
            "video/mp4; codecs=\"avc1.42E01E, mp4a.40.2\"",
            "audio/mpeg",
        ] {
            assert!(!needs_sandbox(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn everything_else_is_sandboxed_however_it_is_spelled() {
        for t in [
            "text/html",
            "TEXT/HTML",
            "text/html;charset=utf-8",
            "text/html ; x=1",
            "text/plain,text/html",
            "text/plain, text/html",
            "image/svg+xml",
            "IMAGE/SVG+XML",
            "text/xml",
            "application/xml",
            "application/xhtml+xml",
            "text/javascript",
            "application/javascript",
            "text/xsl",
            "text/css",
            "application/octet-stream",
            "application/x-keyhole",
            "image/x-unknown",
            "multipart/byteranges; boundary=x",
            "",
            "text",
            "text/plain ",
            "text/plain\0",
        ] {
            assert!(needs_sandbox(t.as_bytes()), "{t:?}");
        }
    }

    #[test]
    fn types_guessed_from_common_names_are_decided_as_expected() {
        for (name, sandboxed) in [
            ("a.txt", false),
            ("a.png", false),
            ("a.jpg", false),
            ("a.gif", false),
            ("a.webp", false),
            ("a.pdf", false),
            ("a.mp4", false),
            ("a.webm", false),
            ("a.mp3", false),
            ("a.html", true),
            ("a.htm", true),
            ("a.svg", true),
            ("a.xml", true),
            ("a.xhtml", true),
            ("a.js", true),
            ("a.unknown-ext", true),
        ] {
            let t = crate::delivery::content_type(name);
            assert_eq!(needs_sandbox(t.as_bytes()), sandboxed, "{name}: {t:?}");
        }
    }
}
