//! AWS's URI encoding (`UriEncode`) and its query decoding, as both signers canonicalise a
//! request: the verifiers here and, later, a client signing its own requests upstream.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

const fn unreserved(b: u8) -> bool {
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
    // The hex digits of an escape are unreserved, so only its `%` is among the escaped bytes.
    all_escaped(raw.as_bytes(), keep_slash, |i| {
        is_canonical_escape(raw.as_bytes(), i, keep_slash)
    })
}

/// Whether `raw[i..]` starts with `%XX` in uppercase hex of a byte `UriEncode` escapes
/// (`/` included unless `keep_slash`). The digits are looked up in tables, not branched on:
/// the escapes of a path or query mix digits and letters, and a branch would guess wrong.
pub fn is_canonical_escape(raw: &[u8], i: usize, keep_slash: bool) -> bool {
    let Some(&[b'%', h, l]) = raw.get(i..i + 3) else {
        return false;
    };
    let byte = usize::from(HEX_DIGIT[usize::from(h)]) << 4 | usize::from(HEX_DIGIT[usize::from(l)]);
    // A digit that is not one is 256, which puts `byte` beyond any byte.
    let escaped = ESCAPED.get(byte).copied().unwrap_or(false);
    escaped & !(keep_slash & (byte == usize::from(b'/')))
}

/// Each byte's value as an uppercase hex digit, or 256 when it is none.
const HEX_DIGIT: [u16; 256] = {
    let mut t = [256; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            c @ b'0'..=b'9' => (c - b'0') as u16,
            c @ b'A'..=b'F' => (c - b'A' + 10) as u16,
            _ => 256,
        };
        b += 1;
    }
    t
};

/// Whether `UriEncode` escapes each byte (`/` included).
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = !unreserved(b as u8);
        b += 1;
    }
    t
};

/// Calls `visit` with the position, in order, of each byte of `raw` that `UriEncode` escapes
/// (all but the unreserved ones, and but `/` when `keep_slash`) until it returns false; true
/// when it never did. This runs over every byte of the path and the query of each request, so
/// it classifies a block of bytes at a time, in a form the compiler turns into vector
/// compares, and calls `visit` only for the flagged ones.
pub fn all_escaped(raw: &[u8], keep_slash: bool, mut visit: impl FnMut(usize) -> bool) -> bool {
    let mut blocks = raw.chunks_exact(BLOCK);
    let mut at = 0;
    for block in &mut blocks {
        // Cannot fail: every chunk is a whole block.
        let Ok(block) = block.try_into() else { break };
        if !visit_flagged(at, escaped_flags(block, keep_slash), &mut visit) {
            return false;
        }
        at += BLOCK;
    }
    let rest = blocks.remainder();
    if rest.is_empty() {
        return true;
    }
    // The short last block is padded with an unreserved byte.
    let mut last = [b'a'; BLOCK];
    last[..rest.len()].copy_from_slice(rest);
    visit_flagged(at, escaped_flags(&last, keep_slash), &mut visit)
}

const BLOCK: usize = 32;

/// One flag byte per byte of `block`, 1 where it is escaped, read as little-endian words.
#[inline(always)]
fn escaped_flags(block: &[u8; BLOCK], keep_slash: bool) -> [u64; BLOCK / 8] {
    let mut flags = [0u8; BLOCK];
    for (flag, &b) in flags.iter_mut().zip(block) {
        // `|`, not `||`: without branches the loop becomes vector compares.
        let kept = ((b | 0x20).wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b.wrapping_sub(b'-') < 2)
            | (b == b'_')
            | (b == b'~')
            | (keep_slash & (b == b'/'));
        *flag = u8::from(!kept);
    }
    let mut words = [0u64; BLOCK / 8];
    for (w, f) in words.iter_mut().zip(flags.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(f);
        *w = u64::from_le_bytes(le);
    }
    words
}

#[inline(always)]
fn visit_flagged(
    at: usize,
    words: [u64; BLOCK / 8],
    visit: &mut impl FnMut(usize) -> bool,
) -> bool {
    for (k, mut w) in words.into_iter().enumerate() {
        while w != 0 {
            // The lowest flag byte set is the next escaped byte.
            if !visit(at + k * 8 + (w.trailing_zeros() / 8) as usize) {
                return false;
            }
            w &= w - 1;
        }
    }
    true
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
    fn every_escaped_byte_is_visited_once_in_order_in_whichever_block_it_falls() {
        // Every byte value, at every offset of texts shorter and longer than a block.
        for len in 0..=3 * BLOCK + 5 {
            for shift in 0..=255u8 {
                let raw: Vec<u8> = (0..len)
                    .map(|i| (i as u8).wrapping_mul(37).wrapping_add(shift))
                    .collect();
                for keep_slash in [false, true] {
                    let want: Vec<usize> = (0..len)
                        .filter(|&i| !(unreserved(raw[i]) || (keep_slash && raw[i] == b'/')))
                        .collect();
                    let mut seen = Vec::new();
                    assert!(all_escaped(&raw, keep_slash, |i| {
                        seen.push(i);
                        true
                    }));
                    assert_eq!(seen, want, "{raw:?} keep_slash={keep_slash}");
                }
            }
        }
        // A visit that says stop is the last.
        let mut seen = Vec::new();
        assert!(!all_escaped(b"a b c d", false, |i| {
            seen.push(i);
            i < 3
        }));
        assert_eq!(seen, [1, 3]);
    }

    #[test]
    fn a_canonical_escape_is_uppercase_hex_of_a_byte_that_stays_escaped() {
        for (raw, query, path) in [
            ("%2F", true, false),
            ("%20", true, true),
            ("%2f", false, false),
            ("%41", false, false),
            ("%7E", false, false),
            ("%E1", true, true),
            ("%4", false, false),
            ("%", false, false),
            ("%%41", false, false),
            ("%zz", false, false),
        ] {
            assert_eq!(
                is_canonical_escape(raw.as_bytes(), 0, false),
                query,
                "{raw}"
            );
            assert_eq!(is_canonical_escape(raw.as_bytes(), 0, true), path, "{raw}");
        }
    }

    #[test]
    fn an_escape_is_canonical_exactly_when_decoding_and_encoding_it_gives_it_back() {
        for h in 0..=255u8 {
            for l in 0..=255u8 {
                let raw = [b'%', h, l];
                for keep_slash in [false, true] {
                    let round_trip = std::str::from_utf8(&raw).is_ok_and(|text| {
                        let decoded: Vec<u8> = percent_decode_str(text).collect();
                        decoded.len() == 1 && uri_encode(&decoded, keep_slash).as_bytes() == raw
                    });
                    assert_eq!(
                        is_canonical_escape(&raw, 0, keep_slash),
                        round_trip,
                        "{raw:?} keep_slash={keep_slash}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_raw_plus_in_the_query_is_a_space_and_an_encoded_one_a_plus() {
        assert_eq!(&*query_decode("a+b%2Bc"), b"a b+c");
        assert_eq!(&*query_decode("%zz%41"), b"%zzA");
    }
}
