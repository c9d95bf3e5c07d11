//! The body of a multi-range answer (`multipart/byteranges`, RFC 9110 §14.6): literal part
//! headers between file ranges, so the bytes still stream from the file and the exact
//! Content-Length is known before sending.

use std::ops::Range;

use bytes::Bytes;

use super::range::content_range;
use crate::body::Part;

/// A boundary no object can collide with by accident: random, and long.
pub fn boundary() -> String {
    let mut raw = [0u8; 16];
    if getrandom::getrandom(&mut raw).is_err() {
        // Only the odds of a collision with the content suffer; the answer stays valid.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        raw = t.to_le_bytes();
    }
    format!("keyhole-{}", const_hex::encode(raw))
}

/// The parts of the body, in the order the ranges were asked for, and their total length.
pub fn parts(
    ranges: &[Range<u64>],
    len: u64,
    content_type: &[u8],
    boundary: &str,
) -> (Vec<Part>, u64) {
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut total = 0u64;
    for (i, r) in ranges.iter().enumerate() {
        let mut head = Vec::with_capacity(128);
        if i > 0 {
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(format!("--{boundary}\r\nContent-Type: ").as_bytes());
        head.extend_from_slice(content_type);
        head.extend_from_slice(
            format!("\r\nContent-Range: {}\r\n\r\n", content_range(r, len)).as_bytes(),
        );
        total += head.len() as u64 + (r.end - r.start);
        parts.push(Part::Bytes(Bytes::from(head)));
        parts.push(Part::Range {
            start: r.start,
            end: r.end,
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    total += tail.len() as u64;
    parts.push(Part::Bytes(Bytes::from(tail)));
    (parts, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_counts_every_byte_of_framing_and_data() {
        let (parts, total) = parts(&[0..10, 20..25], 100, b"text/plain", "B");
        let framing: u64 = parts
            .iter()
            .map(|p| match p {
                Part::Bytes(b) => b.len() as u64,
                Part::Range { start, end } => end - start,
            })
            .sum();
        assert_eq!(total, framing);
        let Part::Bytes(first) = &parts[0] else {
            panic!()
        };
        assert_eq!(
            first.as_ref(),
            b"--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-9/100\r\n\r\n"
        );
        let Part::Bytes(last) = &parts[4] else {
            panic!()
        };
        assert_eq!(last.as_ref(), b"\r\n--B--\r\n");
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
    }
}
