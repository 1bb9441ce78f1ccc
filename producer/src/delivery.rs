//! `DeliveryFuture`: the handle `send` returns, completed by the sender
//! thread with the record's metadata or an error. Blocking waits only; no
//! async runtime.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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

/// What a record's future needs to make its [`RecordMetadata`] once its
/// batch completed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordInfo {
    /// Create time, ms since the epoch.
    pub timestamp: i64,
    /// Serialized key size, -1 for a null key.
    pub key_size: i32,
    /// Serialized value size, -1 for a null value.
    pub value_size: i32,
}

/// A batch's outcome, shared by the futures of its records (the Java
/// client's `ProduceRequestResult`): one completion per batch instead of
/// one per record, and no allocation per record. A batch split in parts
/// completes each part's range of record indices separately.
pub(crate) struct BatchResult {
    topic: String,
    partition: i32,
    slot: Mutex<BatchSlot>,
    done: Condvar,
}

/// `Ok((base_offset, log_append_time))` of a batch, or why it failed.
type BatchOutcome = Result<(i64, i64)>;

#[derive(Default)]
struct BatchSlot {
    /// Completed ranges of record indices, with `Ok((base_offset,
    /// log_append_time))` or the error.
    parts: Vec<(Range<u32>, BatchOutcome)>,
    waiters: usize,
}

impl BatchSlot {
    fn result(
        &self,
        batch: &BatchResult,
        index: u32,
        info: &RecordInfo,
    ) -> Option<Result<RecordMetadata>> {
        let (range, result) = self.parts.iter().find(|(r, _)| r.contains(&index))?;
        Some(match result {
            Ok((base_offset, log_append_time)) => Ok(RecordMetadata {
                topic: batch.topic.clone(),
                partition: batch.partition,
                offset: if *base_offset >= 0 {
                    base_offset.saturating_add(i64::from(index - range.start))
                } else {
                    -1
                },
                timestamp: if *log_append_time >= 0 {
                    *log_append_time
                } else {
                    info.timestamp
                },
                serialized_key_size: info.key_size,
                serialized_value_size: info.value_size,
            }),
            Err(e) => Err(e.clone()),
        })
    }
}

impl BatchResult {
    /// The (pending) outcome of a new batch of `topic`-`partition`.
    pub(crate) fn new(topic: &str, partition: i32) -> Arc<BatchResult> {
        Arc::new(BatchResult {
            topic: topic.to_string(),
            partition,
            slot: Mutex::new(BatchSlot::default()),
            done: Condvar::new(),
        })
    }

    /// Completes the records `range` (their first gets `base_offset`).
    pub(crate) fn complete(&self, range: Range<u32>, result: Result<(i64, i64)>) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.parts.push((range, result));
        if slot.waiters > 0 {
            self.done.notify_all();
        }
    }

    /// The metadata of record `index`, as its callback gets it.
    pub(crate) fn record_result(
        &self,
        index: u32,
        info: &RecordInfo,
    ) -> Option<Result<RecordMetadata>> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.result(self, index, info)
    }
}

#[derive(Clone)]
enum Inner {
    /// A future of its own (records failed before they were queued, tests).
    Own(Arc<State>),
    /// Record `index` of a batch.
    Batch {
        batch: Arc<BatchResult>,
        index: u32,
        info: RecordInfo,
    },
}

/// The pending result of one `send`: resolves to the partition, offset and
/// timestamp the broker gave the record, or to the error that failed it.
#[derive(Clone)]
pub struct DeliveryFuture {
    inner: Inner,
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
            inner: Inner::Own(Arc::new(State::default())),
        }
    }

    /// The future of record `index` of a batch.
    pub(crate) fn of_batch(
        batch: Arc<BatchResult>,
        index: u32,
        info: RecordInfo,
    ) -> DeliveryFuture {
        DeliveryFuture {
            inner: Inner::Batch { batch, index, info },
        }
    }

    /// A future that is already complete.
    pub(crate) fn completed(result: Result<RecordMetadata>) -> DeliveryFuture {
        let f = DeliveryFuture::new();
        f.complete(result);
        f
    }

    /// Sets the result once; later calls are ignored. (A batch's futures
    /// complete through their [`BatchResult`]; this does nothing for them.)
    pub(crate) fn complete(&self, result: Result<RecordMetadata>) {
        let Inner::Own(state) = &self.inner else {
            return;
        };
        let mut slot = state.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.result.is_none() {
            slot.result = Some(result);
            if slot.waiters > 0 {
                state.done.notify_all();
            }
        }
    }

    /// Whether the result is there.
    pub fn is_done(&self) -> bool {
        self.try_get().is_some()
    }

    /// The result if it is there, without waiting.
    pub fn try_get(&self) -> Option<Result<RecordMetadata>> {
        match &self.inner {
            Inner::Own(state) => state
                .slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .result
                .clone(),
            Inner::Batch { batch, index, info } => batch.record_result(*index, info),
        }
    }

    /// Blocks until the record is acknowledged or failed. It always ends:
    /// every record is completed within `delivery.timeout.ms` (or by
    /// `close`).
    pub fn get(&self) -> Result<RecordMetadata> {
        // Without a deadline the wait only ends with a result.
        self.wait_until(None)
            .unwrap_or(Err(Error::Timeout(Duration::MAX)))
    }

    /// Blocks up to `timeout`; `Err(Error::Timeout)` if the result is not
    /// there by then (the record may still be delivered later).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<RecordMetadata> {
        let deadline = deadline_after(Instant::now(), timeout);
        self.wait_until(Some(deadline))
            .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// The result, waiting until `deadline` (`None`: for ever); `None` if
    /// the deadline passed first.
    fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<RecordMetadata>> {
        match &self.inner {
            Inner::Own(state) => {
                let slot = state.slot.lock().unwrap_or_else(|e| e.into_inner());
                wait_on(
                    &state.done,
                    slot,
                    deadline,
                    |s| s.result.clone(),
                    |s| &mut s.waiters,
                )
            }
            Inner::Batch { batch, index, info } => {
                let slot = batch.slot.lock().unwrap_or_else(|e| e.into_inner());
                wait_on(
                    &batch.done,
                    slot,
                    deadline,
                    |s| s.result(batch, *index, info),
                    |s| &mut s.waiters,
                )
            }
        }
    }
}

/// Waits on `cond` until `result` gives something or `deadline` passes,
/// counting itself among the slot's waiters meanwhile.
fn wait_on<S, T>(
    cond: &Condvar,
    mut slot: MutexGuard<'_, S>,
    deadline: Option<Instant>,
    result: impl Fn(&S) -> Option<T>,
    waiters: impl Fn(&mut S) -> &mut usize,
) -> Option<T> {
    loop {
        if let Some(r) = result(&slot) {
            return Some(r);
        }
        *waiters(&mut slot) += 1;
        slot = match deadline {
            None => cond.wait(slot).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    *waiters(&mut slot) -= 1;
                    return None;
                }
                cond.wait_timeout(slot, d - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        *waiters(&mut slot) -= 1;
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
