//! Link secrets out of log lines. A signature in a log is a working link for whoever reads
//! the log, and it can sit in a *path*: a client that percent-encoded the `?`
//! (`/v1/AUTH_p/c/o%3Ftemp_url_sig%3D…`) sends the whole query as part of the object name.
//! So every text that reaches a log line from a request goes through `redact`, which finds
//! the secret parameters however they are spelled (any case, raw or percent-encoded, once
//! or several times over) and replaces their values.

use std::borrow::Cow;

/// Parameters whose values are secrets (or name the key that made one), lowercase.
const SECRETS: [&str; 5] = [
    "temp_url_sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    // V2's; also the tail of `x-amz-signature`.
    "signature",
];

/// What a redacted value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// One character of `text` as a decoder would see it: the byte it stands for and the byte
/// range of `text` that spells it (`%3D`, `%253D`, or one raw byte).
#[derive(Clone, Copy)]
struct Unit {
    byte: u8,
    end: usize,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The unit that starts at `at`. A `%XX` that decodes to `%` takes the two (themselves
/// possibly encoded) hex digits after it too, so `%253D` is an `=` like `%3D`.
fn unit(text: &[u8], at: usize) -> Unit {
    let raw = Unit {
        byte: text[at],
        end: at + 1,
    };
    if text[at] != b'%' {
        return raw;
    }
    let (Some(hi), Some(lo)) = (
        text.get(at + 1).copied().and_then(hex),
        text.get(at + 2).copied().and_then(hex),
    ) else {
        return raw;
    };
    let once = Unit {
        byte: hi << 4 | lo,
        end: at + 3,
    };
    if once.byte != b'%' || once.end >= text.len() {
        return once;
    }
    let d1 = unit(text, once.end);
    if d1.end >= text.len() {
        return once;
    }
    let d2 = unit(text, d1.end);
    match (hex(d1.byte), hex(d2.byte)) {
        (Some(hi), Some(lo)) => Unit {
            byte: hi << 4 | lo,
            end: d2.end,
        },
        _ => once,
    }
}

/// Where a secret's value starts, if a secret parameter name and its `=` start at `at`.
fn secret_value_at(text: &[u8], at: usize) -> Option<usize> {
    for name in SECRETS {
        let mut pos = at;
        let mut ok = true;
        for &want in name.as_bytes() {
            if pos >= text.len() {
                ok = false;
                break;
            }
            let u = unit(text, pos);
            if !u.byte.eq_ignore_ascii_case(&want) {
                ok = false;
                break;
            }
            pos = u.end;
        }
        if ok && pos < text.len() {
            let eq = unit(text, pos);
            if eq.byte == b'=' {
                return Some(eq.end);
            }
        }
    }
    None
}

/// Where a value that starts at `at` ends: at the next `&` (raw or encoded), space, quote
/// or fragment.
fn value_end(text: &[u8], mut at: usize) -> usize {
    while at < text.len() {
        let u = unit(text, at);
        if matches!(u.byte, b'&' | b'#' | b' ' | b'"' | b'\'' | b'\\') || u.byte.is_ascii_control()
        {
            return at;
        }
        at = u.end;
    }
    at
}

/// `text` with the value of every secret parameter replaced by `REDACTED`; borrowed when it
/// holds none.
pub fn redact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // Every secret is followed by an `=`, raw or encoded: most paths have neither.
    if !bytes.iter().any(|&b| b == b'=' || b == b'%') {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some(start) = secret_value_at(bytes, at) else {
            at += 1;
            continue;
        };
        let end = value_end(bytes, start);
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        // Units end on ASCII bytes, so these are char boundaries.
        o.push_str(&text[copied..start]);
        o.push_str(REDACTED);
        copied = end;
        at = end.max(start + 1);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_without_secrets_are_untouched() {
        for t in [
            "/v1/AUTH_p/c/o.txt",
            "/b/k%20y",
            "",
            "%",
            "%2",
            "/a%25",
            "sig=1",
        ] {
            assert!(matches!(redact(t), Cow::Borrowed(_)), "{t}");
        }
    }

    #[test]
    fn raw_query_secrets_are_redacted() {
        assert_eq!(
            redact("/v1/AUTH_p/c/o?temp_url_sig=abc123&temp_url_expires=9"),
            "/v1/AUTH_p/c/o?temp_url_sig=REDACTED&temp_url_expires=9"
        );
        assert_eq!(
            redact("X-Amz-Credential=AK%2F2024&X-Amz-Signature=ff00&x-id=GetObject"),
            "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&x-id=GetObject"
        );
        assert_eq!(
            redact("?AWSAccessKeyId=AK&Expires=1&Signature=a%2Bb%3D"),
            "?AWSAccessKeyId=AK&Expires=1&Signature=REDACTED"
        );
        assert_eq!(
            redact("?X-Amz-Security-Token=tok"),
            "?X-Amz-Security-Token=REDACTED"
        );
    }

    #[test]
    fn encoded_and_odd_cased_secrets_are_redacted() {
        assert_eq!(
            redact("/v1/AUTH_p/c/o%3Ftemp_url_sig%3Dabc%26temp_url_expires%3D9"),
            "/v1/AUTH_p/c/o%3Ftemp_url_sig%3DREDACTED%26temp_url_expires%3D9"
        );
        assert_eq!(
            redact("/b/k%3fTEMP%5FURL%5Fsig%3dabc"),
            "/b/k%3fTEMP%5FURL%5Fsig%3dREDACTED"
        );
        assert_eq!(
            redact("/b/k%253Fx-amz-signature%253Dabc%2526a=1"),
            "/b/k%253Fx-amz-signature%253DREDACTED%2526a=1"
        );
        // Decoded object names, as the backend logs them.
        assert_eq!(
            redact("o?Temp_Url_Sig=abc&x=1"),
            "o?Temp_Url_Sig=REDACTED&x=1"
        );
    }

    #[test]
    fn every_occurrence_is_redacted_and_nothing_of_the_value_survives() {
        let t = "/a?signature=s1&b=2/c%3FSignature%3Ds2";
        let r = redact(t);
        assert!(!r.contains("s1") && !r.contains("s2"), "{r}");
        // Ends of text, truncated escapes, multibyte text around a match.
        assert_eq!(redact("Signature="), "Signature=REDACTED");
        assert_eq!(redact("á?signature=x%"), "á?signature=REDACTED");
        assert_eq!(redact("signature%3"), "signature%3");
    }
}
