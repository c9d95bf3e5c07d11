//! The Temp-URL keys a Swift store keeps on accounts and containers (`keys_from_store`),
//! remembered for `key_cache` seconds: one read at a time per account or container, however
//! many requests wait for it, in a map of bounded size.
//!
//! SECURITY: keys are held as `TempUrlKey`s (never printed). A failed read is remembered
//! only briefly (`FAILURE_HOLD`) and never as "no keys": a store that is down makes links
//! that need its keys fail as the store's failure, not as a bad signature for long.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::BackendError;
use crate::keys::TempUrlKey;

/// Accounts and containers whose keys are held at once; past it, stale ones are dropped
/// first, then all.
const MAX_SLOTS: usize = 4096;
/// How long a failed read is the answer before the store is asked again (at most the life
/// of keys read).
const FAILURE_HOLD: Duration = Duration::from_secs(2);

/// Keys read at one time, and the unix time until which they are believed.
#[derive(Clone)]
pub struct Held {
    pub keys: Arc<[TempUrlKey]>,
    pub until: u64,
}

enum Known {
    Keys { held: Held, at: Instant },
    Failed { error: Failure, at: Instant },
}

/// A store failure, kept to be given to the callers that waited for it.
#[derive(Clone)]
struct Failure {
    store: String,
    detail: String,
    kind: FailureKind,
}

#[derive(Clone, Copy)]
enum FailureKind {
    Unavailable(bool),
    Timeout,
    Misconfigured(u16),
}

impl Failure {
    fn of(e: &BackendError) -> Failure {
        let (store, detail, kind) = match e {
            BackendError::Unavailable {
                store,
                detail,
                retry,
            } => (
                store.clone(),
                detail.clone(),
                FailureKind::Unavailable(*retry),
            ),
            BackendError::Timeout { store } => (store.clone(), String::new(), FailureKind::Timeout),
            BackendError::Misconfigured {
                store,
                status,
                detail,
            } => (
                store.clone(),
                detail.clone(),
                FailureKind::Misconfigured(*status),
            ),
            other => (
                "swift".to_string(),
                other.to_string(),
                FailureKind::Unavailable(true),
            ),
        };
        Failure {
            store,
            detail,
            kind,
        }
    }

    fn error(&self) -> BackendError {
        let (store, detail) = (self.store.clone(), self.detail.clone());
        match self.kind {
            FailureKind::Unavailable(retry) => BackendError::Unavailable {
                store,
                detail,
                retry,
            },
            FailureKind::Timeout => BackendError::Timeout { store },
            FailureKind::Misconfigured(status) => BackendError::Misconfigured {
                store,
                status,
                detail,
            },
        }
    }
}

#[derive(Default)]
struct Slot {
    known: Mutex<Option<Known>>,
    /// Held by the one caller that reads the store; the others wait, then find its answer.
    reading: tokio::sync::Mutex<()>,
}

impl Slot {
    fn known(&self) -> MutexGuard<'_, Option<Known>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer that needs no read.
    fn settled(&self, now: Instant, life: Duration) -> Option<Result<Held, BackendError>> {
        match self.known().as_ref()? {
            Known::Keys { held, at } if now.duration_since(*at) < life => Some(Ok(held.clone())),
            Known::Failed { error, at } if now.duration_since(*at) < FAILURE_HOLD.min(life) => {
                Some(Err(error.error()))
            }
            _ => None,
        }
    }

    fn fresh(&self, now: Instant, life: Duration) -> bool {
        self.settled(now, life).is_some()
    }
}

pub struct KeyCache {
    life: Duration,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl KeyCache {
    pub fn new(life: Duration) -> KeyCache {
        KeyCache {
            life,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, name: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get(name) {
            return s.clone();
        }
        if slots.len() >= MAX_SLOTS {
            let now = Instant::now();
            slots.retain(|_, s| s.fresh(now, self.life));
            if slots.len() >= MAX_SLOTS {
                slots.clear();
            }
        }
        let s = Arc::new(Slot::default());
        slots.insert(name.to_string(), s.clone());
        s
    }

    /// The keys held for `name`, read with `read` when they are older than the cache's
    /// life. `now_unix` dates what a read returns.
    pub async fn get<F, Fut>(
        &self,
        name: &str,
        now_unix: u64,
        read: F,
    ) -> Result<Held, BackendError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<TempUrlKey>, BackendError>>,
    {
        let slot = self.slot(name);
        if let Some(r) = slot.settled(Instant::now(), self.life) {
            return r;
        }
        let _reading = slot.reading.lock().await;
        if let Some(r) = slot.settled(Instant::now(), self.life) {
            return r;
        }
        let answer = read().await;
        let at = Instant::now();
        let mut known = slot.known();
        match answer {
            Ok(keys) => {
                let held = Held {
                    keys: keys.into(),
                    until: now_unix.saturating_add(self.life.as_secs()),
                };
                *known = Some(Known::Keys {
                    held: held.clone(),
                    at,
                });
                Ok(held)
            }
            Err(e) => {
                *known = Some(Known::Failed {
                    error: Failure::of(&e),
                    at,
                });
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Secret;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(s: &str) -> TempUrlKey {
        TempUrlKey::new(Secret::new(s))
    }

    const LIFE: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn keys_are_read_once_per_life_however_many_wait() {
        let cache = Arc::new(KeyCache::new(LIFE));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut waiting = Vec::new();
        for _ in 0..20 {
            let (cache, reads) = (cache.clone(), reads.clone());
            waiting.push(tokio::spawn(async move {
                cache
                    .get("a", 1000, || async move {
                        reads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(vec![key("k")])
                    })
                    .await
                    .map(|h| (h.keys.len(), h.until))
            }));
        }
        for w in waiting {
            assert_eq!(w.await.unwrap().ok(), Some((1, 1000)));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(LIFE).await;
        let again = cache.get("a", 1001, || async { Ok(vec![]) }).await;
        assert_eq!(
            again.ok().map(|h| h.keys.len()),
            Some(0),
            "read again after its life"
        );
    }

    #[tokio::test]
    async fn a_failed_read_is_held_briefly_and_never_as_no_keys() {
        let cache = KeyCache::new(LIFE);
        let down = || async {
            Err(BackendError::Unavailable {
                store: "swift".into(),
                detail: "refused".into(),
                retry: true,
            })
        };
        assert!(cache.get("a", 0, down).await.is_err());
        let held = cache.get("a", 0, || async { Ok(vec![key("k")]) }).await;
        assert!(
            matches!(held, Err(BackendError::Unavailable { .. })),
            "within the hold the failure is the answer"
        );
        tokio::time::sleep(LIFE).await;
        let held = cache.get("a", 2, || async { Ok(vec![key("k")]) }).await;
        assert_eq!(held.ok().map(|h| h.keys.len()), Some(1));
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let cache = KeyCache::new(Duration::from_secs(60));
        for i in 0..(MAX_SLOTS + 10) {
            let _ = cache.get(&i.to_string(), 0, || async { Ok(vec![]) }).await;
        }
        assert!(cache.slots.lock().unwrap().len() <= MAX_SLOTS);
    }
}
