//! Key material and the HMAC digests keyed with it: a leaf that config (which holds the keys)
//! and the verifiers and link makers (which use them) both build on.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use crate::mac::keyed;

/// Key material. Debug never prints it, so a logged config cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    pub const ALL: [Digest; 3] = [Digest::Sha1, Digest::Sha256, Digest::Sha512];

    /// The digest `name` (as `name()` writes it) names: config, command line and links alike.
    pub fn from_name(name: &str) -> Option<Digest> {
        Digest::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        }
    }

    /// The digest whose MAC, in hex, is `len` characters long.
    pub fn from_hex_len(len: usize) -> Option<Digest> {
        match len {
            40 => Some(Digest::Sha1),
            64 => Some(Digest::Sha256),
            128 => Some(Digest::Sha512),
            _ => None,
        }
    }

    /// Bytes of its MAC.
    pub fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha512 => 64,
        }
    }
}

/// An HMAC value of at most 64 bytes, kept on the stack.
pub struct Tag {
    bytes: [u8; 64],
    len: usize,
}

impl Tag {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::str::FromStr for Digest {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Digest, UnknownName> {
        Digest::from_name(s).ok_or(UnknownName)
    }
}

/// A name that is none of an enum's (`FromStr`); the caller says which names it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownName;

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a known name")
    }
}

impl std::error::Error for UnknownName {}

impl From<&[u8]> for Tag {
    /// At most 64 bytes are kept: no digest here is longer.
    fn from(b: &[u8]) -> Tag {
        let len = b.len().min(64);
        let mut tag = Tag {
            bytes: [0; 64],
            len,
        };
        tag.bytes[..len].copy_from_slice(&b[..len]);
        tag
    }
}

#[cfg(test)]
thread_local! {
    /// HMACs computed on this thread, so tests can see how much work a refusal costs.
    pub(crate) static MACS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn finish<M: Mac>(mut mac: M, parts: &[&[u8]]) -> Tag {
    #[cfg(test)]
    MACS.with(|n| n.set(n.get() + 1));
    for p in parts {
        mac.update(p);
    }
    Tag::from(mac.finalize().into_bytes().as_slice())
}

/// HMAC over the concatenation of `parts`. SHA-1 is what Swift's tempurl still accepts by
/// default, so it is supported here for the links that exist, not recommended.
pub fn hmac(digest: Digest, key: &[u8], parts: &[&[u8]]) -> Tag {
    match digest {
        Digest::Sha1 => finish(keyed::<Hmac<Sha1>>(key), parts),
        Digest::Sha256 => finish(keyed::<Hmac<Sha256>>(key), parts),
        Digest::Sha512 => finish(keyed::<Hmac<Sha512>>(key), parts),
    }
}

/// A Temp-URL key with an HMAC state already keyed for each digest. Keying costs two of the
/// four hash compressions of an HMAC over a short message; doing it once at config load
/// halves the cost of every verification.
#[derive(Clone)]
pub struct TempUrlKey {
    secret: Secret,
    sha1: Hmac<Sha1>,
    sha256: Hmac<Sha256>,
    sha512: Hmac<Sha512>,
}

impl TempUrlKey {
    pub fn new(secret: Secret) -> TempUrlKey {
        let k = secret.expose().as_bytes();
        TempUrlKey {
            sha1: keyed(k),
            sha256: keyed(k),
            sha512: keyed(k),
            secret,
        }
    }

    pub fn expose(&self) -> &str {
        self.secret.expose()
    }

    /// The same value as `hmac(digest, key, parts)`.
    pub fn tag(&self, digest: Digest, parts: &[&[u8]]) -> Tag {
        // A clone of a keyed state is a copy of two hash states: no key is re-absorbed.
        match digest {
            Digest::Sha1 => finish(self.sha1.clone(), parts),
            Digest::Sha256 => finish(self.sha256.clone(), parts),
            Digest::Sha512 => finish(self.sha512.clone(), parts),
        }
    }
}

impl std::fmt::Debug for TempUrlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TempUrlKey(..)")
    }
}

/// The Temp-URL keys a Swift store keeps itself (`X-Account-Meta-Temp-URL-Key(-2)`,
/// `X-Container-Meta-Temp-URL-Key(-2)`), as read for `keys_from_store`.
#[derive(Debug, Clone, Default)]
pub struct StoreKeys {
    pub account: Vec<TempUrlKey>,
    pub container: Vec<TempUrlKey>,
    /// Unix time after which these keys may have changed on the store: nothing verified
    /// with them may be remembered past it.
    pub until: u64,
}
