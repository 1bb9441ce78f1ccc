//! `DeliveryFuture`: the handle `send` returns, completed by the sender
//! thread with the record's metadata or an error. Blocking waits only; no
//! async runtime.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::record::RecordMetadata;

/// `from + d`, saturating (a user's `Duration::MAX` means "no limit", not
/// a panic on overflow).
pub(crate) fn deadline_after(from: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(d.min(FAR)).unwrap_or(from)
}

/// A user callback, run on the producer's I/O thread when the record is
/// acknowledged or failed (as the Java client's `Callback`). Keep it short:
/// it delays the sending of other records.
pub type Callback = Box<dyn FnOnce(&Result<RecordMetadata>) + Send + 'static>;

#[derive(Default)]
struct Slot {
    result: Option<Result<RecordMetadata>>,
    /// Threads blocked in `get`/`wait_timeout`: completion signals the
    /// condvar only when someone waits (a notify is a syscall, and most
    /// futures are never waited on while pending).
    waiters: usize,
}

#[derive(Default)]
struct State {
    slot: Mutex<Slot>,
    done: Condvar,
}

/// The pending result of one `send`: resolves to the partition, offset and
/// timestamp the broker gave the record, or to the error that failed it.
#[derive(Clone)]
pub struct DeliveryFuture {
    state: Arc<State>,
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("done", &self.is_done())
            .finish()
    }
}

impl DeliveryFuture {
    pub(crate) fn new() -> DeliveryFuture {
        DeliveryFuture {
            state: Arc::new(State::default()),
        }
    }

    /// A future that is already complete.
    #[cfg(test)]
    pub(crate) fn completed(result: Result<RecordMetadata>) -> DeliveryFuture {
        let f = DeliveryFuture::new();
        f.complete(result);
        f
    }

    /// Sets the result once; later calls are ignored.
    pub(crate) fn complete(&self, result: Result<RecordMetadata>) {
        let mut slot = self.state.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.result.is_none() {
            slot.result = Some(result);
            if slot.waiters > 0 {
                self.state.done.notify_all();
            }
        }
    }

    /// Whether the result is there.
    pub fn is_done(&self) -> bool {
        self.state
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .result
            .is_some()
    }

    /// The result if it is there, without waiting.
    pub fn try_get(&self) -> Option<Result<RecordMetadata>> {
        self.state
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .result
            .clone()
    }

    /// Blocks until the record is acknowledged or failed. It always ends:
    /// every record is completed within `delivery.timeout.ms` (or by
    /// `close`).
    pub fn get(&self) -> Result<RecordMetadata> {
        let mut slot = self.state.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.result.as_ref() {
                return r.clone();
            }
            slot.waiters += 1;
            slot = self
                .state
                .done
                .wait(slot)
                .unwrap_or_else(|e| e.into_inner());
            slot.waiters -= 1;
        }
    }

    /// Blocks up to `timeout`; `Err(Error::Timeout)` if the result is not
    /// there by then (the record may still be delivered later).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<RecordMetadata> {
        let deadline = deadline_after(Instant::now(), timeout);
        let mut slot = self.state.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.result.as_ref() {
                return r.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(timeout));
            }
            slot.waiters += 1;
            slot = self
                .state
                .done
                .wait_timeout(slot, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            slot.waiters -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md() -> RecordMetadata {
        RecordMetadata {
            topic: "t".into(),
            partition: 1,
            offset: 5,
            timestamp: 9,
            serialized_key_size: -1,
            serialized_value_size: 3,
        }
    }

    #[test]
    fn completes_once_and_wakes_waiters() {
        let f = DeliveryFuture::new();
        assert!(!f.is_done());
        assert_eq!(
            f.wait_timeout(Duration::from_millis(1)),
            Err(Error::Timeout(Duration::from_millis(1)))
        );
        let g = f.clone();
        let t = std::thread::spawn(move || g.get());
        f.complete(Ok(md()));
        f.complete(Err(Error::Closed));
        assert_eq!(t.join().unwrap(), Ok(md()));
        assert_eq!(f.try_get(), Some(Ok(md())));
        assert_eq!(
            DeliveryFuture::completed(Err(Error::Closed)).get(),
            Err(Error::Closed)
        );
    }
}
