//! Links verified recently. A shared link is fetched again and again — a video player seeks
//! with one Range request after another, a page reloads, a download resumes — and every
//! fetch would otherwise redo the same HMACs (several microseconds on a CPU without SHA
//! instructions). The answer for identical inputs cannot change while the link lives: the
//! keys are fixed for the life of a config snapshot (a reload starts with an empty cache, see
//! `app::state`, so a removed key's link is verified again and refused), and time only moves
//! a link closer to its expiry, which is checked again on every hit. So a hit returns the
//! grant at once. The one exception, keys read from a Swift store (`keys_from_store`), may
//! change there: an entry verified with them is kept only while they are believed
//! (`put_until`).
//!
//! SECURITY: the key is every input the verification read — method, host, the raw path and
//! the raw query — compared in full, never by hash alone. The one other input, the client's
//! address for a link bound to a range, is checked against the grant on every hit, as the
//! expiry is. Requests whose signature covers more (S3 header auth, other signed headers)
//! are never cached, nor are refusals.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;

use crate::delivery::Prepared;
use crate::outcome::Kind;

const SHARDS: usize = 16;
/// Entries per shard; a full shard is emptied and starts again (4,096 links in all).
const PER_SHARD: usize = 256;
/// Longer requests are verified every time rather than stored.
const MAX_KEY: usize = 2048;

// A seeded fast hash rather than SipHash, which was 5% of a cached request's instructions.
// Collisions cannot pile up: only verified links are stored, and a shard holds at most
// `PER_SHARD` of them.
type Shard = HashMap<Box<str>, Entry, RandomState>;

/// A grant, and the unix time after which it must be verified again whatever its expiry.
type Entry = (Verified, Option<u64>);

/// What a link verified to: its grant, ready to deliver, and the protocol it spoke (the
/// metrics' label, which a hit would otherwise read from the query again).
#[derive(Clone)]
pub struct Verified {
    pub prepared: Arc<Prepared>,
    pub kind: Kind,
}

pub struct LinkCache {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
}

impl Default for LinkCache {
    fn default() -> Self {
        LinkCache {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            hasher: RandomState::default(),
        }
    }
}

/// Everything a verification read. It is compared as one string, built in a per-thread
/// buffer, so that a hit (the common case) allocates nothing.
#[derive(Clone, Copy)]
pub struct Key<'a>([&'a str; 7]);

/// The key of a request, or `None` when it is too long to keep.
pub fn key<'a>(method: &'a str, host: &'a str, path: &'a str, query: &'a str) -> Option<Key<'a>> {
    let k = Key([method, "\n", host, "\n", path, "?", query]);
    (k.0.iter().map(|p| p.len()).sum::<usize>() <= MAX_KEY).then_some(k)
}

thread_local! {
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Key<'_> {
    fn write(&self, text: &mut String) {
        text.clear();
        for part in self.0 {
            text.push_str(part);
        }
    }

    /// Calls `f` with the key as one string.
    fn with<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        SCRATCH.with(|buf| match buf.try_borrow_mut() {
            Ok(mut text) => {
                self.write(&mut text);
                f(&text)
            }
            // Only if `f` itself looked up a key, which nothing does.
            Err(_) => {
                let mut text = String::new();
                self.write(&mut text);
                f(&text)
            }
        })
    }
}

impl LinkCache {
    fn shard(&self, key: &str) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// What this exact request verified to before, while the link lives and admits
    /// `client`; otherwise what `verify` says, remembered when it is a grant.
    pub fn get_or_verify<E>(
        &self,
        key: Key<'_>,
        now: u64,
        client: IpAddr,
        verify: impl FnOnce() -> Result<Verified, E>,
    ) -> Result<Verified, E> {
        key.with(|k| {
            if let Some(p) = self.find(k, now, client) {
                return Ok(p);
            }
            let p = verify()?;
            self.keep(k, &p, None);
            Ok(p)
        })
    }

    /// What this exact request verified to before, while the link lives and admits `client`.
    pub fn get(&self, key: Key<'_>, now: u64, client: IpAddr) -> Option<Verified> {
        key.with(|k| self.find(k, now, client))
    }

    /// Remembers a grant that `key` verified to (a grant without expiry is not kept).
    pub fn put(&self, key: Key<'_>, v: &Verified) {
        key.with(|k| self.keep(k, v, None))
    }

    /// `put`, for a grant that holds only until `until` (unix seconds), when the keys that
    /// verified it may have changed.
    pub fn put_until(&self, key: Key<'_>, v: &Verified, until: u64) {
        key.with(|k| self.keep(k, v, Some(until)))
    }

    fn find(&self, key: &str, now: u64, client: IpAddr) -> Option<Verified> {
        let map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let (v, until) = map.get(key)?;
        let grant = &v.prepared.grant;
        let live = grant.expires_at.is_some_and(|exp| now <= exp);
        let believed = until.map_or(true, |u| now < u);
        (live && believed && grant.admits(client)).then(|| v.clone())
    }

    fn keep(&self, key: &str, v: &Verified, until: Option<u64>) {
        if v.prepared.grant.expires_at.is_none() {
            return;
        }
        let mut map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= PER_SHARD {
            map.clear();
        }
        map.insert(key.into(), (v.clone(), until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::{Disposition, Grant, Overrides};

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3));

    fn grant(expires_at: Option<u64>, clients: Option<&str>) -> Verified {
        let prepared = Arc::new(Prepared::new(Grant {
            project: "p".into(),
            container: "c".into(),
            object: "o".into(),
            disposition: Disposition::default(),
            expires_at,
            overrides: Overrides::default(),
            clients: clients.map(|c| c.parse().unwrap()),
        }));
        Verified {
            prepared,
            kind: Kind::Swift,
        }
    }

    /// Looks `k` up for `client`, remembering `g` on a miss; true on a hit.
    fn hit_from(c: &LinkCache, k: Key<'_>, now: u64, client: IpAddr, g: &Verified) -> bool {
        let mut verified = false;
        let got = c.get_or_verify(k, now, client, || {
            verified = true;
            Ok::<_, ()>(g.clone())
        });
        assert!(got.is_ok());
        !verified
    }

    fn hit(c: &LinkCache, k: Key<'_>, now: u64, g: &Verified) -> bool {
        hit_from(c, k, now, CLIENT, g)
    }

    #[test]
    fn a_hit_needs_the_identical_request_and_a_live_link() {
        let c = LinkCache::default();
        let (path, query) = ("/v1/AUTH_p/c/o", "temp_url_sig=a&temp_url_expires=100");
        let k = key("GET", "h", path, query).unwrap();
        let g = grant(Some(100), None);
        assert!(!hit(&c, k, 50, &g), "the first request is verified");
        assert!(hit(&c, k, 100, &g));
        assert!(
            !hit(&c, k, 101, &g),
            "expired links are never served from the cache"
        );
        let other = key("GET", "h", path, "temp_url_sig=b&temp_url_expires=100").unwrap();
        assert!(!hit(&c, other, 50, &g));
        assert!(!hit(&c, key("HEAD", "h", path, query).unwrap(), 50, &g));
        assert!(!hit(&c, key("GET", "h2", path, query).unwrap(), 50, &g));
        // A refusal is never remembered.
        let refused = key("GET", "h", "/v1/AUTH_p/c/x", query).unwrap();
        assert!(c.get_or_verify(refused, 50, CLIENT, || Err(())).is_err());
        assert!(!hit(&c, refused, 50, &g));
    }

    #[test]
    fn a_link_bound_to_addresses_hits_only_from_inside_them() {
        let c = LinkCache::default();
        let k = key(
            "GET",
            "",
            "/v1/AUTH_p/c/o",
            "temp_url_ip_range=10.0.0.0%2F8",
        )
        .unwrap();
        let g = grant(Some(100), Some("10.0.0.0/8"));
        assert!(!hit(&c, k, 50, &g));
        assert!(hit(&c, k, 50, &g));
        // IPv4 through an IPv6 socket is the same client.
        assert!(hit_from(&c, k, 50, "::ffff:10.9.9.9".parse().unwrap(), &g));
        let outside = "192.0.2.1".parse().unwrap();
        assert!(
            !hit_from(&c, k, 50, outside, &g),
            "an address outside the range is verified again, and so refused"
        );
    }

    #[test]
    fn a_grant_kept_until_a_time_is_verified_again_from_then() {
        let c = LinkCache::default();
        let k = key("GET", "", "/v1/AUTH_p/c/o", "temp_url_expires=100").unwrap();
        let g = grant(Some(100), None);
        c.put_until(k, &g, 60);
        assert!(hit(&c, k, 59, &g));
        assert!(
            c.get(k, 60, CLIENT).is_none(),
            "the store's keys may have changed: verified again"
        );
    }

    #[test]
    fn grants_without_expiry_are_not_kept() {
        let c = LinkCache::default();
        let k = key("GET", "", "/b/k", "").unwrap();
        assert!(!hit(&c, k, 0, &grant(None, None)));
        assert!(!hit(&c, k, 0, &grant(None, None)));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = LinkCache::default();
        let g = grant(Some(10), None);
        for i in 0..(SHARDS * PER_SHARD * 3) {
            let q = i.to_string();
            hit(&c, key("GET", "", "/p", &q).unwrap(), 0, &g);
        }
        let total: usize = c.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * PER_SHARD);
        assert!(key("GET", "", "/p", &"q".repeat(MAX_KEY)).is_none());
    }
}
