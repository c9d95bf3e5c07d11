//! AWS's URI encoding (`UriEncode`) and its query decoding, as both signers canonicalise a
//! request: the verifiers here and, later, a client signing its own requests upstream.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// AWS's `UriEncode`: every byte but the unreserved ones as `%XX` (uppercase hex), and `/`
/// kept when `keep_slash` (object paths). Appends to `out`.
pub fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    uri_encode_into(&mut s, bytes, keep_slash);
    s
}

/// A query name or value as AWS reads it: `+` is a space, `%XX` a byte (UTF-8 not required).
pub fn query_decode(raw: &str) -> Cow<'_, [u8]> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        return Cow::Owned(percent_decode_str(&spaced).collect());
    }
    percent_decode_str(raw).into()
}

/// The canonical URI of a path as sent (percent-encoded): decoded, then AWS-encoded once.
pub fn canonical_uri(path: &str) -> Cow<'_, str> {
    if is_canonical(path, true) {
        return Cow::Borrowed(path);
    }
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    Cow::Owned(uri_encode(&decoded, true))
}

/// True when decoding `raw` and AWS-encoding it again gives `raw` back: every byte unreserved
/// (or `/`, in a path) or an uppercase `%XX` of a byte that must stay escaped. Signers send
/// most names, values and paths that way, and those are taken as they are, uncopied.
pub fn is_canonical(raw: &str, keep_slash: bool) -> bool {
    // A table, as this runs over every byte of the path and the query.
    const fn bare(keep_slash: bool) -> [bool; 256] {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b'~')
                || (keep_slash && b == b'/');
            c += 1;
        }
        t
    }
    const IN_QUERY: [bool; 256] = bare(false);
    const IN_PATH: [bool; 256] = bare(true);
    let bare = if keep_slash { &IN_PATH } else { &IN_QUERY };
    let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
    let b = raw.as_bytes();
    let mut i = 0;
    loop {
        // Runs of bare bytes, the bulk of any name, value or path, in a tight loop.
        match b
            .get(i..)
            .unwrap_or_default()
            .iter()
            .position(|&c| !bare[usize::from(c)])
        {
            Some(n) => i += n,
            None => return true,
        }
        match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h) && hex(l) => {
                if bare[usize::from((hex_value(h) << 4) | hex_value(l))] {
                    return false;
                }
            }
            _ => return false,
        }
        i += 3;
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding_keeps_unreserved_and_optionally_slash() {
        let key = "a b+c~d%e=f/g_h.i-j/tiếng việt";
        assert_eq!(
            uri_encode(key.as_bytes(), true),
            "a%20b%2Bc~d%25e%3Df/g_h.i-j/ti%E1%BA%BFng%20vi%E1%BB%87t"
        );
        assert_eq!(
            uri_encode(key.as_bytes(), false),
            "a%20b%2Bc~d%25e%3Df%2Fg_h.i-j%2Fti%E1%BA%BFng%20vi%E1%BB%87t"
        );
    }

    #[test]
    fn a_raw_plus_in_the_query_is_a_space_and_an_encoded_one_a_plus() {
        assert_eq!(&*query_decode("a+b%2Bc"), b"a b+c");
        assert_eq!(&*query_decode("%zz%41"), b"%zzA");
    }
}
