//! One media type, as RFC 9110 §8.3.1 writes it:
//! `type "/" subtype *( OWS ";" OWS [ parameter ] )`, a parameter being
//! `token "=" ( token / quoted-string )`.
//!
//! SECURITY: whatever decides from a type (the sandbox) must decide from the one thing a
//! browser will read. A value that is not exactly one media type — a comma list, a missing
//! subtype, stray bytes — has no single meaning, so it does not parse at all.

/// The essence of a well-formed media type: `type/subtype`, lowercased (types are
/// case-insensitive, RFC 9110 §8.3.1). Parameters are checked for form and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    essence: String,
}

impl MediaType {
    /// `None` unless `value` is exactly one media type, with nothing before or after it.
    pub fn parse(value: &[u8]) -> Option<MediaType> {
        let mut p = Parser { s: value, i: 0 };
        let kind = p.token()?;
        p.byte(b'/')?;
        let subtype = p.token()?;
        loop {
            p.ows();
            if p.at_end() {
                break;
            }
            p.byte(b';')?;
            p.ows();
            // RFC 9110 allows an empty parameter (`text/plain;`).
            if p.at_end() || p.peek() == Some(b';') {
                continue;
            }
            p.token()?;
            p.byte(b'=')?;
            if p.peek() == Some(b'"') {
                p.quoted_string()?;
            } else {
                p.token()?;
            }
        }
        // Field values carry no whitespace at either end (RFC 9110 §5.5).
        if value.last().is_some_and(|b| is_ows(*b)) {
            return None;
        }
        let mut essence = Vec::with_capacity(kind.len() + 1 + subtype.len());
        essence.extend_from_slice(kind);
        essence.push(b'/');
        essence.extend_from_slice(subtype);
        essence.make_ascii_lowercase();
        // Only tchars went in, which are ASCII.
        String::from_utf8(essence)
            .ok()
            .map(|essence| MediaType { essence })
    }

    /// `type/subtype`, lowercased.
    pub fn essence(&self) -> &str {
        &self.essence
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.peek() == Some(want)).then(|| self.i += 1)
    }

    fn ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.i += 1;
        }
    }

    /// `1*tchar`.
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    /// `DQUOTE *( qdtext / quoted-pair ) DQUOTE`, ASCII only: `obs-text` is refused, as
    /// every other byte above 0x7E is in an override.
    fn quoted_string(&mut self) -> Option<()> {
        self.byte(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    self.i += 1;
                    let escaped = self.peek()?;
                    if !(escaped == b'\t' || (b' '..=b'~').contains(&escaped)) {
                        return None;
                    }
                    self.i += 1;
                }
                b'\t' | b' ' | b'!' | b'#'..=b'[' | b']'..=b'~' => self.i += 1,
                _ => return None,
            }
        }
    }
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn essence(v: &str) -> Option<String> {
        MediaType::parse(v.as_bytes()).map(|m| m.essence().to_string())
    }

    #[test]
    fn a_plain_type_is_its_own_essence() {
        assert_eq!(essence("text/plain").as_deref(), Some("text/plain"));
        assert_eq!(essence("image/svg+xml").as_deref(), Some("image/svg+xml"));
    }

    #[test]
    fn case_is_folded_and_parameters_are_dropped() {
        assert_eq!(essence("TEXT/HTML").as_deref(), Some("text/html"));
        assert_eq!(
            essence("text/html;charset=utf-8").as_deref(),
            Some("text/html")
        );
        assert_eq!(essence("text/html ; x=1").as_deref(), Some("text/html"));
        assert_eq!(
            essence("Text/Plain; charset=\"utf-8\"; q=\"a\\\"b;c\"").as_deref(),
            Some("text/plain")
        );
        assert_eq!(essence("text/plain;").as_deref(), Some("text/plain"));
        assert_eq!(essence("text/plain;;a=b").as_deref(), Some("text/plain"));
    }

    #[test]
    fn anything_but_exactly_one_media_type_is_refused() {
        for bad in [
            "",
            " ",
            "text",
            "text/",
            "/html",
            "text/plain,text/html",
            "text/plain, text/html",
            "text/plain text/html",
            "text/plain;charset",
            "text/plain;charset=",
            "text/plain;charset=\"utf-8",
            "text/plain;charset=\"\\\u{7}\"",
            "text/plain; a=b c",
            " text/plain",
            "text/plain ",
            "text/plain\t",
            "text/plain\r\n",
            "text/pl\u{0}ain",
            "text/plaín",
            "text/plain;a=\"é\"",
            "text/html/x",
            "text//html",
            "te(x)t/html",
        ] {
            assert_eq!(essence(bad), None, "{bad:?}");
        }
    }
}
