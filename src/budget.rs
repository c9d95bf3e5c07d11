//! Memory budgets for body buffers: what one body, one connection and the whole server may
//! hold in chunks that were read from a file but not yet sent.
//!
//! hyper's HTTP/2 path polls a body for its next frame before it knows whether the stream may
//! send, and keeps that frame until the client's flow-control window opens; a client that
//! never opens it keeps every frame it was given. So each chunk is charged here before it is
//! filled, and the charge goes back only when the chunk itself is dropped (written to the
//! socket, or its stream reset). A body whose connection's share is spent reads small chunks
//! charged to the server alone; one whose server budget is spent waits, holding no buffer and
//! no descriptor (see `body.rs`). Neither fails the response.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of unsent body chunks the whole server may hold.
pub const SERVER: usize = 64 << 20;
/// Bytes of unsent full-size body chunks one connection may hold: 32 of them, far more than
/// one TCP connection needs in flight, far less than `max_streams` stalled streams would take.
/// Past it, each stream may still hold one small chunk (see `Account::poll_reserve`).
pub const CONNECTION: usize = 4 << 20;

/// The server-wide budget.
pub struct Budget {
    server: Arc<Semaphore>,
    /// Reads made smaller because a connection's share was spent, or that waited for the
    /// server's budget.
    waits: Arc<AtomicU64>,
}

impl Budget {
    pub fn new(bytes: usize, waits: Arc<AtomicU64>) -> Budget {
        Budget {
            server: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            waits,
        }
    }

    /// A fresh share for one connection, drawn from this server's budget as it is used.
    pub fn connection(&self) -> Charge {
        Charge {
            connection: Arc::new(Semaphore::new(CONNECTION)),
            server: self.server.clone(),
            waits: self.waits.clone(),
        }
    }

    /// Bytes not currently held by any chunk.
    pub fn available(&self) -> usize {
        self.server.available_permits()
    }
}

/// Where a connection's bodies charge their chunks.
#[derive(Clone)]
pub struct Charge {
    connection: Arc<Semaphore>,
    server: Arc<Semaphore>,
    waits: Arc<AtomicU64>,
}

impl Charge {
    /// One body's account: besides the budgets, a body holds at most one unsent chunk, so a
    /// stream that stops reading keeps one chunk, not one per frame hyper asked for.
    pub fn account(&self) -> Account {
        Account {
            charge: self.clone(),
            one: Arc::new(Semaphore::new(1)),
            waiting: None,
        }
    }
}

/// Bytes held against a body, its connection and the server; given back on drop.
pub struct Held {
    _one: OwnedSemaphorePermit,
    /// `None` for a small read made when the connection's share was spent.
    _connection: Option<OwnedSemaphorePermit>,
    _server: OwnedSemaphorePermit,
    /// The bytes granted: what was asked for, or the small size.
    pub bytes: usize,
}

type Waiting = Pin<Box<dyn Future<Output = Option<Held>> + Send>>;

pub struct Account {
    charge: Charge,
    one: Arc<Semaphore>,
    waiting: Option<Waiting>,
}

impl Account {
    /// Reserves `bytes` for the body's next chunk, once its previous chunk is gone. When the
    /// connection's share is spent, grants `small` bytes charged to the server alone rather
    /// than wait: the share may be held by this client's other streams, which it will not
    /// read before this one, so waiting could wait for ever. When the server's budget is
    /// spent, waits. `None` only if a budget was closed, which never happens.
    pub fn poll_reserve(
        &mut self,
        cx: &mut Context<'_>,
        bytes: usize,
        small: usize,
    ) -> Poll<Option<Held>> {
        // Never more than a budget holds, or the wait would never end.
        let n = bytes.min(CONNECTION) as u32;
        let small = small.min(bytes).min(CONNECTION) as u32;
        if self.waiting.is_none() {
            if let Some(held) = self.try_reserve(n) {
                return Poll::Ready(Some(held));
            }
            let (one, c) = (self.one.clone(), self.charge.clone());
            // Always body, then connection, then server: no two waiters hold what the
            // other waits for in the opposite order.
            self.waiting = Some(Box::pin(async move {
                let one = one.acquire_owned().await.ok()?;
                let conn = c.connection.clone().try_acquire_many_owned(n).ok();
                let n = if conn.is_some() { n } else { small };
                let server = match c.server.clone().try_acquire_many_owned(n) {
                    Ok(p) if conn.is_some() => p,
                    now => {
                        c.waits.fetch_add(1, Ordering::Relaxed);
                        match now {
                            Ok(p) => p,
                            Err(_) => c.server.clone().acquire_many_owned(n).await.ok()?,
                        }
                    }
                };
                Some(Held {
                    _one: one,
                    _connection: conn,
                    _server: server,
                    bytes: n as usize,
                })
            }));
        }
        let Some(w) = &mut self.waiting else {
            return Poll::Ready(None);
        };
        let held = std::task::ready!(w.as_mut().poll(cx));
        self.waiting = None;
        Poll::Ready(held)
    }

    /// All three at once, or nothing taken.
    fn try_reserve(&self, n: u32) -> Option<Held> {
        let c = &self.charge;
        Some(Held {
            _one: self.one.clone().try_acquire_owned().ok()?,
            _connection: Some(c.connection.clone().try_acquire_many_owned(n).ok()?),
            _server: c.server.clone().try_acquire_many_owned(n).ok()?,
            bytes: n as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll(a: &mut Account, bytes: usize) -> Poll<Option<Held>> {
        let waker = std::task::Waker::from(Arc::new(Noop));
        a.poll_reserve(&mut Context::from_waker(&waker), bytes, 10)
    }

    #[test]
    fn a_body_holds_one_chunk_until_it_is_dropped() {
        let budget = Budget::new(1 << 20, Default::default());
        let mut a = budget.connection().account();
        let Poll::Ready(Some(first)) = poll(&mut a, 1000) else {
            panic!("the first chunk is free to take")
        };
        assert!(poll(&mut a, 1000).is_pending(), "the first is still unsent");
        assert_eq!(budget.available(), (1 << 20) - 1000);
        drop(first);
        assert!(matches!(poll(&mut a, 1000), Poll::Ready(Some(_))));
        assert_eq!(budget.available(), 1 << 20, "given back on drop");
    }

    #[test]
    fn a_spent_budget_is_waited_for_and_counted() {
        let waits = Arc::new(AtomicU64::new(0));
        let budget = Budget::new(1500, waits.clone());
        let charge = budget.connection();
        let (mut a, mut b) = (charge.account(), charge.account());
        let Poll::Ready(Some(held)) = poll(&mut a, 1000) else {
            panic!("room for one")
        };
        assert!(poll(&mut b, 1000).is_pending());
        assert_eq!(waits.load(Ordering::Relaxed), 1);
        drop(held);
        assert!(matches!(poll(&mut b, 1000), Poll::Ready(Some(_))));
    }

    #[test]
    fn a_spent_connection_share_makes_reads_small_rather_than_wait() {
        let waits = Arc::new(AtomicU64::new(0));
        let budget = Budget::new(SERVER, waits.clone());
        let charge = budget.connection();
        let mut hog = charge.account();
        let Poll::Ready(Some(all)) = poll(&mut hog, CONNECTION) else {
            panic!("the whole share")
        };
        assert_eq!(all.bytes, CONNECTION);
        let Poll::Ready(Some(small)) = poll(&mut charge.account(), 1000) else {
            panic!("a small read goes ahead")
        };
        assert_eq!(small.bytes, 10);
        assert_eq!(
            budget.available(),
            SERVER - CONNECTION - 10,
            "the server is charged"
        );
        assert_eq!(waits.load(Ordering::Relaxed), 1);
        // Another connection has its own share.
        let other = poll(&mut budget.connection().account(), 1000);
        assert!(matches!(other, Poll::Ready(Some(Held { bytes: 1000, .. }))));
    }
}
