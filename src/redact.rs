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

/// Layers of percent-encoding looked through (`%25253D` is three). A bound, so that a path
/// of `%25%25%25…` costs no deep recursion and no quadratic scan.
const MAX_LAYERS: u8 = 3;

/// The unit that starts at `at`. A `%XX` that decodes to `%` takes the two (themselves
/// possibly encoded) hex digits after it too, so `%253D` is an `=` like `%3D`.
fn unit(text: &[u8], at: usize) -> Unit {
    unit_within(text, at, MAX_LAYERS)
}

fn unit_within(text: &[u8], at: usize, layers: u8) -> Unit {
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
    let mut cur = Unit {
        byte: hi << 4 | lo,
        end: at + 3,
    };
    let mut left = layers;
    // A decoded `%` takes the next two units as its hex digits, once per layer.
    while cur.byte == b'%' && left > 0 && cur.end < text.len() {
        left -= 1;
        let d1 = unit_within(text, cur.end, left);
        if d1.end >= text.len() {
            break;
        }
        let d2 = unit_within(text, d1.end, left);
        match (hex(d1.byte), hex(d2.byte)) {
            (Some(hi), Some(lo)) => {
                cur = Unit {
                    byte: hi << 4 | lo,
                    end: d2.end,
                }
            }
            _ => break,
        }
    }
    cur
}

/// The units of a text, each decoded once at most: a name is matched from every position,
/// and without this a run of `%25%25…` would be decoded again from each.
struct Units<'t> {
    text: &'t [u8],
    memo: Vec<Option<Unit>>,
}

impl<'t> Units<'t> {
    fn new(text: &'t [u8]) -> Units<'t> {
        Units {
            text,
            memo: vec![None; text.len()],
        }
    }

    fn at(&mut self, at: usize) -> Unit {
        if let Some(u) = self.memo[at] {
            return u;
        }
        let u = unit(self.text, at);
        self.memo[at] = Some(u);
        u
    }

    fn len(&self) -> usize {
        self.text.len()
    }
}

/// Where a secret's value starts, if a secret parameter name and its `=` start at `at`.
fn secret_value_at(units: &mut Units<'_>, at: usize) -> Option<usize> {
    // Every name starts with `t`, `x` or `s`, raw or encoded.
    if !matches!(
        units.text[at].to_ascii_lowercase(),
        b't' | b'x' | b's' | b'%'
    ) {
        return None;
    }
    'names: for name in SECRETS {
        let mut pos = at;
        for &want in name.as_bytes() {
            if pos >= units.len() {
                continue 'names;
            }
            let u = units.at(pos);
            if !u.byte.eq_ignore_ascii_case(&want) {
                continue 'names;
            }
            pos = u.end;
        }
        if pos < units.len() {
            let eq = units.at(pos);
            if eq.byte == b'=' {
                return Some(eq.end);
            }
        }
    }
    None
}

/// Where a value that starts at `at` ends: at the next `&` (raw or encoded), space, quote
/// or fragment.
fn value_end(units: &mut Units<'_>, mut at: usize) -> usize {
    while at < units.len() {
        let u = units.at(at);
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
    let mut units = Units::new(bytes);
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some(start) = secret_value_at(&mut units, at) else {
            at += 1;
            continue;
        };
        let end = value_end(&mut units, start);
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
    fn a_long_run_of_encoded_percent_signs_costs_little() {
        let t = format!("/b/{}", "%25".repeat(30_000));
        let start = std::time::Instant::now();
        assert_eq!(redact(&t), t);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        let deep = "/b/k%252525253Fsignature%252525253Dabc";
        assert!(
            matches!(redact(deep), Cow::Borrowed(_)),
            "beyond the layers looked through"
        );
        assert_eq!(
            redact("/b/k%25253Fsignature%25253Dabc"),
            "/b/k%25253Fsignature%25253DREDACTED"
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
