//! Links verified recently. A shared link is fetched again and again — a video player seeks
//! with one Range request after another, a page reloads, a download resumes — and every
//! fetch would otherwise redo the same HMACs (several microseconds on a CPU without SHA
//! instructions). The answer for identical inputs cannot change while the link lives: the
//! keys are fixed for the life of the process, and time only moves a link closer to its
//! expiry, which is checked again on every hit. So a hit returns the grant at once.
//!
//! SECURITY: the key is every input the verification read — method, host, client address
//! where the link is bound to one, the raw path and the raw query — compared in full, never
//! by hash alone. Requests whose signature covers more (S3 header auth, other signed headers)
//! are never cached, nor are refusals.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use crate::delivery::Prepared;

const SHARDS: usize = 16;
/// Entries per shard; a full shard is emptied and starts again (4,096 links in all).
const PER_SHARD: usize = 256;
/// Longer requests are verified every time rather than stored.
const MAX_KEY: usize = 2048;

pub struct LinkCache {
    shards: [Mutex<HashMap<Box<str>, Arc<Prepared>>>; SHARDS],
    hasher: RandomState,
}

impl Default for LinkCache {
    fn default() -> Self {
        LinkCache {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            hasher: RandomState::new(),
        }
    }
}

/// Everything a verification read, as one string.
pub fn key(method: &str, host: &str, client: &str, path: &str, query: &str) -> Option<String> {
    let len = method.len() + host.len() + client.len() + path.len() + query.len() + 4;
    if len > MAX_KEY {
        return None;
    }
    let mut k = String::with_capacity(len);
    for part in [method, "\n", host, "\n", client, "\n", path, "?", query] {
        k.push_str(part);
    }
    Some(k)
}

impl LinkCache {
    fn shard(&self, key: &str) -> &Mutex<HashMap<Box<str>, Arc<Prepared>>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// The grant a still-valid link verified to, if this exact request was seen.
    pub fn get(&self, key: &str, now: u64) -> Option<Arc<Prepared>> {
        let map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let p = map.get(key)?;
        match p.grant.expires_at {
            Some(exp) if now <= exp => Some(p.clone()),
            _ => None,
        }
    }

    pub fn put(&self, key: String, p: &Arc<Prepared>) {
        if p.grant.expires_at.is_none() {
            return;
        }
        let mut map = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= PER_SHARD {
            map.clear();
        }
        map.insert(key.into_boxed_str(), p.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Disposition, Grant, Overrides};

    fn grant(expires_at: Option<u64>) -> Arc<Prepared> {
        Arc::new(Prepared::new(Grant {
            project: "p".into(),
            container: "c".into(),
            object: "o".into(),
            disposition: Disposition::default(),
            expires_at,
            overrides: Overrides::default(),
        }))
    }

    #[test]
    fn a_hit_needs_the_identical_request_and_a_live_link() {
        let c = LinkCache::default();
        let k = key(
            "GET",
            "h",
            "",
            "/v1/AUTH_p/c/o",
            "temp_url_sig=a&temp_url_expires=100",
        )
        .unwrap();
        c.put(k.clone(), &grant(Some(100)));
        assert!(c.get(&k, 100).is_some());
        assert!(
            c.get(&k, 101).is_none(),
            "expired links are never served from the cache"
        );
        let other = key(
            "GET",
            "h",
            "",
            "/v1/AUTH_p/c/o",
            "temp_url_sig=b&temp_url_expires=100",
        )
        .unwrap();
        assert!(c.get(&other, 50).is_none());
        let head = key(
            "HEAD",
            "h",
            "",
            "/v1/AUTH_p/c/o",
            "temp_url_sig=a&temp_url_expires=100",
        )
        .unwrap();
        assert!(c.get(&head, 50).is_none());
    }

    #[test]
    fn grants_without_expiry_are_not_kept() {
        let c = LinkCache::default();
        let k = key("GET", "", "", "/b/k", "").unwrap();
        c.put(k.clone(), &grant(None));
        assert!(c.get(&k, 0).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = LinkCache::default();
        for i in 0..(SHARDS * PER_SHARD * 3) {
            c.put(
                key("GET", "", "", "/p", &i.to_string()).unwrap(),
                &grant(Some(10)),
            );
        }
        let total: usize = c.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * PER_SHARD);
        assert!(key("GET", "", "", "/p", &"q".repeat(MAX_KEY)).is_none());
    }
}
