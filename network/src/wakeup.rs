//! The cloneable wakeup handle: the one thing another thread may do to a client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Makes a blocked [`poll`](crate::KafkaClient::poll) return at once, from any
/// thread. Cloneable, `Send + Sync`.
///
/// Besides waking the poll, `wakeup()` sets a flag that stays set until someone
/// calls [`take`](WakeupHandle::take): the network client never reads it, so the
/// consumer can turn it into `Error::Wakeup` at its own check points.
#[derive(Clone, Debug)]
pub struct WakeupHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    woken: AtomicBool,
    waker: Option<mio::Waker>,
}

impl WakeupHandle {
    /// A handle over a mio waker registered with the client's `Poll`.
    pub fn new(waker: mio::Waker) -> Self {
        WakeupHandle {
            inner: Arc::new(Inner {
                woken: AtomicBool::new(false),
                waker: Some(waker),
            }),
        }
    }

    /// A handle with only the flag (no poll to wake), as the MockClient uses.
    pub fn flag_only() -> Self {
        WakeupHandle {
            inner: Arc::new(Inner {
                woken: AtomicBool::new(false),
                waker: None,
            }),
        }
    }

    /// Sets the flag and interrupts the poll (if one is blocked, or the next one).
    pub fn wakeup(&self) {
        self.inner.woken.store(true, Ordering::SeqCst);
        if let Some(waker) = &self.inner.waker {
            if let Err(e) = waker.wake() {
                tracing::warn!(error = %e, "waking the network poll failed");
            }
        }
    }

    /// Whether `wakeup()` was called since the last `take()`.
    pub fn is_set(&self) -> bool {
        self.inner.woken.load(Ordering::SeqCst)
    }

    /// Clears the flag, returning whether it was set.
    pub fn take(&self) -> bool {
        self.inner.woken.swap(false, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_is_shared_by_clones() {
        let h = WakeupHandle::flag_only();
        let h2 = h.clone();
        assert!(!h.is_set());
        std::thread::spawn(move || h2.wakeup()).join().unwrap();
        assert!(h.is_set());
        assert!(h.take());
        assert!(!h.take());
    }

    #[test]
    fn wakes_a_blocked_mio_poll() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(usize::MAX)).unwrap();
        let h = WakeupHandle::new(waker);
        let h2 = h.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            h2.wakeup();
        });
        let mut events = mio::Events::with_capacity(4);
        // Without the wakeup this would block for an hour.
        loop {
            poll.poll(&mut events, Some(std::time::Duration::from_secs(3600)))
                .unwrap();
            if events.iter().any(|e| e.token() == mio::Token(usize::MAX)) {
                break;
            }
        }
        t.join().unwrap();
        assert!(h.take());
    }
}
