//! Memory budgets for body buffers: what one body, one connection and the whole server may
//! hold in chunks that were read from a file but not yet sent.
//!
//! hyper's HTTP/2 path polls a body for its next frame before it knows whether the stream may
//! send, and keeps that frame until the client's flow-control window opens; a client that
//! never opens it keeps every frame it was given. So each chunk is charged here before it is
//! filled, and the charge goes back only when the chunk itself is dropped (written to the
//! socket, or its stream reset). Past its connection's share or the server's budget a body
//! reads small chunks instead, one at a time: it never fails and never waits for a budget.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of unsent full-size body chunks the whole server may hold; past it, each stream
/// may still hold one small chunk.
pub const SERVER: usize = 64 << 20;
/// Bytes of unsent full-size body chunks one connection may hold: 32 of them, far more than
/// one TCP connection needs in flight, far less than `max_streams` stalled streams would take.
/// Past it, each stream may still hold one small chunk (see `Account::poll_reserve`).
pub const CONNECTION: usize = 4 << 20;

/// The server-wide budget.
pub struct Budget {
    server: Arc<Semaphore>,
    /// Reads made small because a connection's share or the server's budget was spent.
    spent: Arc<AtomicU64>,
}

impl Budget {
    pub fn new(bytes: usize, spent: Arc<AtomicU64>) -> Budget {
        Budget {
            server: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            spent,
        }
    }

    /// A fresh share for one connection, drawn from this server's budget as it is used.
    pub fn connection(&self) -> Charge {
        Charge {
            connection: Arc::new(Semaphore::new(CONNECTION)),
            server: self.server.clone(),
            spent: self.spent.clone(),
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
    spent: Arc<AtomicU64>,
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

    fn grant(&self, one: OwnedSemaphorePermit, bytes: usize, small: usize) -> Held {
        let n = bytes.min(CONNECTION) as u32;
        if let Ok(conn) = self.connection.clone().try_acquire_many_owned(n) {
            if let Ok(server) = self.server.clone().try_acquire_many_owned(n) {
                return Held {
                    _one: one,
                    _connection: Some(conn),
                    _server: Some(server),
                    bytes: n as usize,
                };
            }
        }
        // A small read, not a wait. The connection's share may be held by this client's
        // other streams, which it will not read before this one; the server's by clients
        // that never read at all. Waiting on either could wait for ever, while a small
        // chunk per stream (one each, see `one`) is bounded by the streams themselves.
        self.spent.fetch_add(1, Ordering::Relaxed);
        let small = small.min(bytes).min(CONNECTION) as u32;
        Held {
            _one: one,
            _connection: None,
            _server: self.server.clone().try_acquire_many_owned(small).ok(),
            bytes: small as usize,
        }
    }
}

/// Bytes held against a body, its connection and the server; given back on drop.
pub struct Held {
    _one: OwnedSemaphorePermit,
    /// `None` for a small read made when a budget was spent.
    _connection: Option<OwnedSemaphorePermit>,
    _server: Option<OwnedSemaphorePermit>,
    /// The bytes granted: what was asked for, or the small size.
    pub bytes: usize,
}

type Waiting = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

pub struct Account {
    charge: Charge,
    one: Arc<Semaphore>,
    /// Waiting for the body's previous chunk to be dropped.
    waiting: Option<Waiting>,
}

impl Account {
    /// Reserves `bytes` for the body's next chunk, once its previous chunk is gone; or, when
    /// the connection's share or the server's budget is spent, `small` bytes. `None` only if
    /// the body's own semaphore was closed, which never happens.
    pub fn poll_reserve(
        &mut self,
        cx: &mut Context<'_>,
        bytes: usize,
        small: usize,
    ) -> Poll<Option<Held>> {
        loop {
            if let Some(w) = &mut self.waiting {
                let one = std::task::ready!(w.as_mut().poll(cx));
                self.waiting = None;
                return Poll::Ready(one.map(|one| self.charge.grant(one, bytes, small)));
            }
            match self.one.clone().try_acquire_owned() {
                Ok(one) => return Poll::Ready(Some(self.charge.grant(one, bytes, small))),
                Err(_) => {
                    let one = self.one.clone();
                    self.waiting = Some(Box::pin(async move { one.acquire_owned().await.ok() }));
                }
            }
        }
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
    fn a_spent_server_budget_makes_reads_small_and_uncharged() {
        let waits = Arc::new(AtomicU64::new(0));
        let budget = Budget::new(1000, waits.clone());
        let charge = budget.connection();
        let (mut a, mut b) = (charge.account(), charge.account());
        let Poll::Ready(Some(held)) = poll(&mut a, 1000) else {
            panic!("room for one")
        };
        let Poll::Ready(Some(small)) = poll(&mut b, 1000) else {
            panic!("a small read goes ahead")
        };
        assert_eq!((held.bytes, small.bytes), (1000, 10));
        assert_eq!(budget.available(), 0, "the small read is not charged");
        assert_eq!(waits.load(Ordering::Relaxed), 1);
        drop((held, small));
        assert_eq!(budget.available(), 1000);
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
