//! HMAC keying shared by the Swift, SigV4 and V2 signers (RustCrypto `hmac` over `sha1` and
//! `sha2`). A leaf: it knows nothing of links or config.

use hmac::digest::KeyInit;

/// An HMAC state with `key` absorbed, ready to clone per message. Keying cannot fail: HMAC
/// takes a key of any length (a longer one than the block is hashed first), and `Hmac`'s
/// `new_from_slice` always returns `Ok`.
pub fn keyed<M: KeyInit>(key: &[u8]) -> M {
    M::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Whether two MACs (or their hex) are equal, in constant time in their contents. The
/// difference of every machine word is folded into one, and only that one goes through
/// `subtle`'s optimisation barrier: a barrier per byte of a 64-digit hex signature cost more
/// than the SHA-256 it checks.
pub fn tags_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    if a.len() != b.len() {
        return false;
    }
    // Whole words, then the bytes left: a chunk of 8 always converts.
    let word = |c: &[u8]| c.try_into().map_or(0, u64::from_ne_bytes);
    let (mut xs, mut ys) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut diff = (&mut xs)
        .zip(&mut ys)
        .fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    for (x, y) in xs.remainder().iter().zip(ys.remainder()) {
        diff |= u64::from(x ^ y);
    }
    bool::from(diff.ct_eq(&0))
}

/// Published HMAC test vectors, for the signers' unit tests: an answer no crate in this build
/// computed.
#[cfg(test)]
pub(crate) mod vectors {
    /// One case: key, message, and the expected MAC in hex.
    pub struct Case {
        pub key: &'static [u8],
        pub data: &'static [u8],
        pub hex: &'static str,
    }

    const KEY_0B_20: &[u8] = &[0x0b; 20];
    const JEFE: &[u8] = b"Jefe";
    const WANT: &[u8] = b"what do ya want for nothing?";
    const LONG_KEY_DATA: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";

    /// RFC 2202 section 3, test cases 1, 2 and 6 (a key longer than the block).
    pub const HMAC_SHA1: [Case; 3] = [
        Case {
            key: KEY_0B_20,
            data: b"Hi There",
            hex: "b617318655057264e28bc0b6fb378c8ef146be00",
        },
        Case {
            key: JEFE,
            data: WANT,
            hex: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        },
        Case {
            key: &[0xaa; 80],
            data: LONG_KEY_DATA,
            hex: "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        },
    ];

    /// RFC 4231 section 4, test cases 1, 2 and 6 (a key longer than the block).
    pub const HMAC_SHA256: [Case; 3] = [
        Case {
            key: KEY_0B_20,
            data: b"Hi There",
            hex: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        },
        Case {
            key: JEFE,
            data: WANT,
            hex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        },
        Case {
            key: &[0xaa; 131],
            data: LONG_KEY_DATA,
            hex: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        },
    ];

    /// RFC 4231 section 4, test cases 1, 2 and 6.
    pub const HMAC_SHA512: [Case; 3] = [
        Case {
            key: KEY_0B_20,
            data: b"Hi There",
            hex: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
                  daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        },
        Case {
            key: JEFE,
            data: WANT,
            hex: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                  9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        },
        Case {
            key: &[0xaa; 131],
            data: LONG_KEY_DATA,
            hex: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
                  6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        },
    ];
}

#[cfg(test)]
mod tests {
    use super::tags_equal;

    #[test]
    fn tags_are_equal_only_when_every_byte_and_the_length_are() {
        let a: Vec<u8> = (0..64).collect();
        assert!(tags_equal(&a, &a.clone()));
        assert!(tags_equal(&a[..20], &a[..20]));
        assert!(tags_equal(b"", b""));
        for i in [0, 7, 8, 19, 63] {
            let mut b = a.clone();
            b[i] ^= 1;
            assert!(!tags_equal(&a, &b), "byte {i}");
        }
        assert!(!tags_equal(&a, &a[..63]));
        assert!(!tags_equal(&a[..20], &a[1..21]));
    }
}
