//! The request query string, read lazily: most requests look up a handful of names, so the
//! query is scanned in place rather than collected into a map.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Two occurrences of a parameter that must be unique.
#[derive(Debug, PartialEq, Eq)]
pub struct Repeated;

#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    raw: &'a str,
}

impl<'a> Query<'a> {
    pub fn new(raw: &'a str) -> Query<'a> {
        Query { raw }
    }

    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Every `name=value` pair, undecoded, in order. A pair without `=` has an empty value;
    /// empty pairs (`&&`, a leading or trailing `&`) are skipped.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        // Split at ASCII bytes, found with `memchr`: each piece is still a whole `str`.
        let split = |s: &'a str, at: u8| match memchr::memchr(at, s.as_bytes()) {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        let mut rest = self.raw;
        std::iter::from_fn(move || loop {
            if rest.is_empty() {
                return None;
            }
            let (pair, tail) = split(rest, b'&');
            rest = tail;
            if !pair.is_empty() {
                return Some(split(pair, b'='));
            }
        })
    }

    /// True when a parameter of that (decoded) name is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.pairs()
            .any(|(k, _)| form_decode(k).as_deref() == Some(name))
    }

    /// The first value of `name`, form-decoded (`+` is a space); invalid UTF-8 counts as absent.
    pub fn first_form(&self, name: &str) -> Option<Cow<'a, str>> {
        self.pairs()
            .find(|(k, _)| form_decode(k).as_deref() == Some(name))
            .and_then(|(_, v)| form_decode(v))
    }

    /// The value of a parameter that must appear at most once, form-decoded.
    /// A value that is not UTF-8 is treated as absent.
    pub fn unique_form(&self, name: &str) -> Result<Option<Cow<'a, str>>, Repeated> {
        let mut found = None;
        for (k, v) in self.pairs() {
            if form_decode(k).as_deref() == Some(name) {
                if found.is_some() {
                    return Err(Repeated);
                }
                found = Some(v);
            }
        }
        Ok(found.and_then(form_decode))
    }
}

/// `application/x-www-form-urlencoded` decoding, as Python's `parse_qs` does it.
pub fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if plain(s) {
        return Some(Cow::Borrowed(s));
    }
    if s.contains('+') {
        let spaced = s.replace('+', " ");
        return percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|c| Cow::Owned(c.into_owned()));
    }
    percent_decode_str(s).decode_utf8().ok()
}

/// Room on the stack for a decoded name or value: most are short.
pub type DecodeBuf = [u8; 128];

/// `form_decode`, into `buf` when the text fits, so a short value costs no allocation.
pub fn form_decode_into<'a>(s: &'a str, buf: &'a mut DecodeBuf) -> Option<Cow<'a, str>> {
    if plain(s) {
        return Some(Cow::Borrowed(s));
    }
    // Decoding never lengthens a text.
    if s.len() > buf.len() {
        return form_decode(s);
    }
    let mut len = 0;
    // A raw `+` is a space and an escaped one (`%2B`) a plus: split before decoding.
    for (i, run) in s.split('+').enumerate() {
        let spaced = (i > 0).then_some(b' ');
        for (slot, byte) in buf[len..]
            .iter_mut()
            .zip(spaced.into_iter().chain(percent_decode_str(run)))
        {
            *slot = byte;
            len += 1;
        }
    }
    std::str::from_utf8(&buf[..len]).ok().map(Cow::Borrowed)
}

/// Nothing to decode: most names and values, and a `str` is already UTF-8.
fn plain(s: &str) -> bool {
    memchr::memchr2(b'%', b'+', s.as_bytes()).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_form_decoded() {
        let q = Query::new("a=1+2&b=%C3%A1%2B&flag");
        assert_eq!(q.first_form("a").as_deref(), Some("1 2"));
        assert_eq!(q.first_form("b").as_deref(), Some("á+"));
        assert!(q.has("flag"));
        assert_eq!(q.first_form("flag").as_deref(), Some(""));
        assert!(!q.has("c"));
    }

    #[test]
    fn repeated_unique_parameters_are_refused() {
        let q = Query::new("x=1&x=2");
        assert_eq!(q.unique_form("x"), Err(Repeated));
        assert_eq!(
            Query::new("x=1").unique_form("x").unwrap().as_deref(),
            Some("1")
        );
    }

    #[test]
    fn names_are_decoded_before_matching() {
        assert!(Query::new("temp%5Furl%5Fsig=1").has("temp_url_sig"));
    }

    #[test]
    fn pairs_skip_empty_ones_and_a_bare_name_has_an_empty_value() {
        let pairs: Vec<_> = Query::new("&a=1&&flag&=x").pairs().collect();
        assert_eq!(pairs, [("a", "1"), ("flag", ""), ("", "x")]);
    }

    proptest::proptest! {
        /// Decoding into the stack buffer gives what decoding byte by byte gives (a raw `+` a
        /// space first), malformed escapes, invalid UTF-8 and texts too long for the stack
        /// included.
        #[test]
        fn decoding_agrees_with_percent_decoding_every_byte(
            raw in "([a-z/~]|\\+|%[0-9a-fA-FzZ%+]{0,2}|[\u{e1}\u{20ac}]){0,80}"
        ) {
            let want = percent_encoding::percent_decode_str(&raw.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|t| t.into_owned());
            proptest::prop_assert_eq!(form_decode(&raw).map(Cow::into_owned), want.clone());
            let mut buf = [0; 128];
            proptest::prop_assert_eq!(form_decode_into(&raw, &mut buf).map(Cow::into_owned), want);
        }
    }

    #[test]
    fn invalid_utf8_values_count_as_absent() {
        assert_eq!(Query::new("a=%FF").first_form("a"), None);
    }
}
