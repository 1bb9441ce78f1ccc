//! `RecordAccumulator`: records wait here, batched per partition, until the
//! sender drains them.
//!
//! - One open batch per partition, closed at `batch.size` (estimated encoded
//!   size before compression) or when drained; a record larger than
//!   `batch.size` gets a batch of its own.
//! - A partition is ready to send when its first batch is full, has waited
//!   `linger.ms`, a flush or close is in progress, or a `send` is blocked on
//!   memory. Retried batches wait `retry.backoff.ms` (doubling up to
//!   `retry.backoff.max.ms`) before they are ready again.
//! - `buffer.memory` bounds the bytes of all records not yet completed:
//!   `append` blocks up to `max.block.ms` for room (BufferPool's job in the
//!   Java client) and then fails with [`Error::BufferExhausted`].
//! - At most `max.in.flight.requests.per.connection` batches of a partition
//!   are in flight (one when that setting is 1: strict order even without
//!   idempotence). A batch that comes back for a retry is put back in
//!   creation order, and is sent again only once nothing else of its
//!   partition is in flight, so with idempotence retries keep the order.
//!
//! Thread use: `append` and `flush` run on application threads; everything
//! else on the sender thread. One mutex guards the state; no callback runs
//! under it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prozess_network::{NodeId, PartitionMetadata, TopicPartition};
use prozess_protocol::records::{Compression, MemoryRecordsBuilder, RecordBatches};

use crate::delivery::{BatchResult, Callback, DeliveryFuture, RecordInfo};
use crate::error::{Error, Result};
use crate::partitioner::PartitionLoad;
use crate::record::{Header, RecordMetadata};

/// Size of a record batch header (magic 2), as Kafka's
/// `RECORD_BATCH_OVERHEAD`.
pub const RECORD_BATCH_OVERHEAD: usize = 61;

fn varint_size(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// An upper bound of one record's encoded size inside a batch, as Kafka's
/// `DefaultRecord.sizeInUpperBound` (worst-case varints for the deltas).
pub fn record_size_upper_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let len = |b: Option<&[u8]>| b.map_or(1, |b| varint_size(b.len() as i64) + b.len());
    let mut body = 1 /* attributes */ + 10 /* timestamp delta */ + 5 /* offset delta */;
    body += len(key) + len(value);
    body += varint_size(headers.len() as i64);
    for h in headers {
        body += varint_size(h.key.len() as i64) + h.key.len();
        body += len(h.value.as_deref());
    }
    body + 5 /* length prefix */
}

/// The largest a batch holding only this record can be (Kafka's
/// `estimateSizeInBytesUpperBound`), checked against `max.request.size`.
pub fn batch_size_upper_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    RECORD_BATCH_OVERHEAD + record_size_upper_bound(key, value, headers)
}

/// A record as it waits in a batch: serialized, with its timestamp fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Create time, ms since the epoch.
    pub timestamp: i64,
    /// Serialized key.
    pub key: Option<Bytes>,
    /// Serialized value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
}

/// How one record's completion is reported: optionally a future of its
/// own and a user callback. Without a future of its own, the record's
/// future is its batch's ([`AppendResult::future`]): no allocation and no
/// completion per record.
pub struct Thunk {
    pub(crate) future: Option<DeliveryFuture>,
    pub(crate) callback: Option<Callback>,
}

impl Thunk {
    /// A thunk that completes `future` (and runs `callback`).
    pub fn new(future: DeliveryFuture, callback: Option<Callback>) -> Thunk {
        Thunk {
            future: Some(future),
            callback,
        }
    }

    /// A thunk whose future the accumulator makes from the record's batch.
    pub fn deferred(callback: Option<Callback>) -> Thunk {
        Thunk {
            future: None,
            callback,
        }
    }

    /// Reports a failure before the record was queued: runs the callback,
    /// completes the future (call it without locks held).
    pub(crate) fn fail(self, e: &Error) {
        let r = Err(e.clone());
        if let Some(cb) = self.callback {
            cb(&r);
        }
        if let Some(f) = self.future {
            f.complete(r);
        }
    }
}

/// Signals when a batch completed (for `flush`). A batch split in parts
/// (after MESSAGE_TOO_LARGE) is done when every part is.
pub(crate) struct BatchDone {
    /// Parts not completed yet.
    remaining: Mutex<usize>,
    cond: Condvar,
}

impl Default for BatchDone {
    fn default() -> Self {
        BatchDone {
            remaining: Mutex::new(1),
            cond: Condvar::new(),
        }
    }
}

impl BatchDone {
    /// One part completed; true when it was the last one.
    fn set(&self) -> bool {
        let mut r = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        *r = r.saturating_sub(1);
        let all = *r == 0;
        if all {
            self.cond.notify_all();
        }
        all
    }

    /// One part became two.
    fn add_part(&self) {
        *self.remaining.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// Waits until done or `deadline`; true if done.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut remaining = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        while *remaining > 0 {
            match deadline {
                None => remaining = self.cond.wait(remaining).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    remaining = self
                        .cond
                        .wait_timeout(remaining, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        true
    }
}

/// The records of one partition sent together as one record batch.
pub struct ProducerBatch {
    /// The partition.
    pub tp: TopicPartition,
    /// The records, encoded as they were appended (no copy of them waits
    /// anywhere else); taken by the first [`encoded`](Self::encoded).
    builder: Option<MemoryRecordsBuilder>,
    /// The batch as last sent, and the producer id, epoch and base
    /// sequence stamped into it.
    encoded: Option<(Bytes, (i64, i16, i32))>,
    /// Per record, in order: its completion and what its metadata reports.
    pending: Vec<PendingRecord>,
    /// The outcome its records' futures wait on, and the index there of
    /// its first record (a part of a split batch starts past 0).
    result: Arc<BatchResult>,
    index_base: u32,
    /// When the first record was appended.
    pub created: Instant,
    /// When the batch was last sent or put back for a retry.
    pub last_attempt: Option<Instant>,
    /// How many times it was sent.
    pub attempts: u32,
    /// Whether it came back for a retry (then it waits out the backoff).
    pub(crate) retry: bool,
    size: usize,
    reserved: usize,
    closed: bool,
    /// Producer id, epoch and base sequence it was (or will be) sent with;
    /// -1 while not set.
    pub producer_id: i64,
    /// See `producer_id`.
    pub producer_epoch: i16,
    /// See `producer_id`.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction (the batch attribute
    /// read_committed consumers filter on); set by the sender.
    pub transactional: bool,
    /// The last retriable error, reported if the batch then expires.
    pub(crate) last_error: Option<Error>,
    id: u64,
    /// This batch's share of its id's order range: the parts of a split
    /// batch sort by it, between the batches before and after.
    order_lo: u32,
    order_hi: u32,
    done: Arc<BatchDone>,
}

impl fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("tp", &self.tp)
            .field("records", &self.pending.len())
            .field("size", &self.size)
            .field("attempts", &self.attempts)
            .field("base_sequence", &self.base_sequence)
            .finish()
    }
}

/// What a batch keeps of each record besides its encoded bytes.
struct PendingRecord {
    thunk: Thunk,
    info: RecordInfo,
}

/// Field offsets of a record batch header (magic 2), as the protocol
/// defines them.
mod header {
    pub const CRC: usize = 17;
    pub const ATTRIBUTES: usize = 21;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORDS: usize = 61;
}

/// A copy of an encoded batch with other producer id, epoch and base
/// sequence (a retry after an epoch bump), CRC recomputed; the records are
/// not touched, so nothing is encoded or compressed again.
fn restamp(encoded: &[u8], (id, epoch, seq): (i64, i16, i32)) -> Bytes {
    let mut out = BytesMut::from(encoded);
    if out.len() >= header::RECORDS {
        out[header::PRODUCER_ID..header::PRODUCER_ID + 8].copy_from_slice(&id.to_be_bytes());
        out[header::PRODUCER_EPOCH..header::PRODUCER_EPOCH + 2]
            .copy_from_slice(&epoch.to_be_bytes());
        out[header::BASE_SEQUENCE..header::BASE_SEQUENCE + 4].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&out[header::ATTRIBUTES..]);
        out[header::CRC..header::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    out.freeze()
}

impl ProducerBatch {
    fn new(
        tp: TopicPartition,
        id: u64,
        now: Instant,
        config: &AccumulatorConfig,
        first_record_size: usize,
    ) -> ProducerBatch {
        // Room for a few dozen records like the first one (at most a full
        // batch): the buffer grows (doubling) from there, so memory follows
        // what `buffer.memory` accounts for also with many partitions
        // holding a record or two each, and a busy partition's batch
        // reallocates only a few times.
        let records = (config.batch_size / first_record_size.max(1)).clamp(1, 32);
        let builder = MemoryRecordsBuilder::new(0, config.compression)
            .compression_level(config.compression_level)
            .with_capacity((first_record_size * records).min(config.batch_size));
        let result = BatchResult::new(&tp.topic, tp.partition);
        ProducerBatch {
            tp,
            builder: Some(builder),
            encoded: None,
            pending: Vec::with_capacity(
                (config.batch_size / first_record_size.max(1)).clamp(1, 512),
            ),
            result,
            index_base: 0,
            created: now,
            last_attempt: None,
            attempts: 0,
            retry: false,
            size: RECORD_BATCH_OVERHEAD,
            reserved: 0,
            closed: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            last_error: None,
            id,
            order_lo: 0,
            order_hi: u32::MAX,
            done: Arc::new(BatchDone::default()),
        }
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.pending.len()
    }

    /// The record batch (magic 2) to send, with the batch's current
    /// producer id, epoch and base sequence. Encoded (and compressed) once;
    /// a resend reuses those bytes, restamped if the producer state changed.
    pub fn encoded(&mut self) -> std::result::Result<Bytes, Error> {
        let state = (self.producer_id, self.producer_epoch, self.base_sequence);
        if let Some(mut builder) = self.builder.take() {
            if self.producer_id >= 0 {
                builder.set_producer_state(state.0, state.1, state.2);
            }
            let bytes = builder
                .transactional(self.transactional)
                .build()
                .map_err(|e| Error::Serialization(e.to_string()))?;
            self.encoded = Some((bytes.clone(), state));
            return Ok(bytes);
        }
        match &mut self.encoded {
            Some((bytes, stamped)) => {
                if *stamped != state {
                    *bytes = restamp(bytes, state);
                    *stamped = state;
                }
                Ok(bytes.clone())
            }
            None => Err(Error::Fatal("a batch lost its records".to_string())),
        }
    }

    /// The records back from the encoded batch (to split it).
    fn decoded_records(&mut self) -> std::result::Result<Vec<StoredRecord>, Error> {
        let bytes = self.encoded()?;
        let mut out = Vec::with_capacity(self.pending.len());
        for batch in RecordBatches::new(bytes) {
            let batch = batch.map_err(|e| Error::Fatal(format!("re-reading a batch: {e}")))?;
            let records = batch
                .records()
                .map_err(|e| Error::Fatal(format!("re-reading a batch: {e}")))?;
            for r in records {
                let r = r.map_err(|e| Error::Fatal(format!("re-reading a batch: {e}")))?;
                out.push(StoredRecord {
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                });
            }
        }
        Ok(out)
    }

    /// Estimated encoded size (uncompressed upper bound).
    pub fn estimated_size(&self) -> usize {
        self.size
    }

    /// Bytes written to the batch so far (header and records, before
    /// compression; the estimate after it once encoded).
    fn written(&self) -> usize {
        match (&self.builder, &self.encoded) {
            (Some(b), _) => b.estimated_size_in_bytes(),
            (None, Some((bytes, _))) => bytes.len(),
            (None, None) => usize::MAX,
        }
    }

    /// Encodes the record into the batch. Fails (the record is not added)
    /// only for what cannot be encoded at all.
    fn push(
        &mut self,
        record: &StoredRecord,
        record_size: usize,
        thunk: Thunk,
    ) -> std::result::Result<Option<DeliveryFuture>, (Error, Thunk)> {
        let Some(builder) = self.builder.as_mut() else {
            return Err((Error::Fatal("append to a sent batch".to_string()), thunk));
        };
        if let Err(e) = builder.append(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        ) {
            return Err((Error::Serialization(e.to_string()), thunk));
        }
        let info = RecordInfo {
            timestamp: record.timestamp,
            key_size: record.key.as_ref().map_or(-1, |k| k.len() as i32),
            value_size: record.value.as_ref().map_or(-1, |v| v.len() as i32),
        };
        let future = thunk.future.is_none().then(|| {
            let index = self.index_base + self.pending.len() as u32;
            DeliveryFuture::of_batch(self.result.clone(), index, info)
        });
        self.pending.push(PendingRecord { thunk, info });
        self.size += record_size;
        self.reserved += record_size;
        Ok(future)
    }

    /// Whether the producer may have written it (a response was lost): then
    /// its sequence numbers are in doubt.
    pub fn has_been_sent(&self) -> bool {
        self.attempts > 0
    }

    /// Completes every record: `Ok(base_offset, log_append_time)` or an
    /// error. Runs the callbacks on this thread.
    fn order(&self) -> (u64, u32) {
        (self.id, self.order_lo)
    }

    /// Whether [`RecordAccumulator::split_and_reenqueue`] can split it.
    pub fn can_split(&self) -> bool {
        self.pending.len() > 1 && self.order_hi - self.order_lo > 1
    }

    /// Returns true when this completed the whole (possibly split) batch.
    fn finish(mut self, result: std::result::Result<(i64, i64), Error>) -> bool {
        // One completion for every record whose future is the batch's.
        let count = self.pending.len() as u32;
        self.result
            .complete(self.index_base..self.index_base + count, result.clone());
        let topic = self.tp.topic.clone();
        let partition = self.tp.partition;
        for (i, record) in self.pending.drain(..).enumerate() {
            let thunk = record.thunk;
            if thunk.callback.is_none() && thunk.future.is_none() {
                continue;
            }
            let record = record.info;
            let r = match &result {
                Ok((base_offset, log_append_time)) => Ok(RecordMetadata {
                    topic: topic.clone(),
                    partition,
                    offset: if *base_offset >= 0 {
                        base_offset.saturating_add(i as i64)
                    } else {
                        -1
                    },
                    timestamp: if *log_append_time >= 0 {
                        *log_append_time
                    } else {
                        record.timestamp
                    },
                    serialized_key_size: record.key_size,
                    serialized_value_size: record.value_size,
                }),
                Err(e) => Err(e.clone()),
            };
            if let Some(cb) = thunk.callback {
                // A panicking user callback must not take the I/O thread down.
                let r2 = &r;
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(r2))).is_err() {
                    tracing::error!(%self.tp, "a producer callback panicked");
                }
            }
            if let Some(f) = thunk.future {
                f.complete(r);
            }
        }
        self.done.set()
    }
}

/// Settings of the accumulator (from `ProducerConfig`).
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    /// `batch.size`.
    pub batch_size: usize,
    /// `buffer.memory`.
    pub buffer_memory: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// How many batches of one partition may be in flight
    /// (`max.in.flight.requests.per.connection`).
    pub max_in_flight_per_partition: usize,
    /// `compression.type`: batches are encoded (and then compressed) as
    /// records are appended.
    pub compression: Compression,
    /// `compression.*.level`.
    pub compression_level: Option<i32>,
}

/// What `append` did.
#[derive(Debug)]
pub struct AppendResult {
    /// The record's future, when the thunk had none of its own
    /// ([`Thunk::deferred`]).
    pub future: Option<DeliveryFuture>,
    /// The batch the record went into is full (or more batches wait): the
    /// sender should be woken.
    pub batch_is_full: bool,
    /// A new batch was created for the record.
    pub new_batch_created: bool,
}

/// What [`RecordAccumulator::append_to`] did.
struct Appended {
    /// A batch of the partition waits full.
    batch_is_full: bool,
    /// The completion signal of the batch created for the record.
    new_batch: Option<Arc<BatchDone>>,
    /// The record filled its batch.
    just_filled: bool,
    /// The record's future, if its thunk had none.
    future: Option<DeliveryFuture>,
}

/// Which nodes have something to send, and when to check again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadyCheckResult {
    /// Leaders with at least one sendable batch.
    pub ready_nodes: HashSet<NodeId>,
    /// When the next not-yet-ready batch becomes ready.
    pub next_ready_check_delay: Duration,
    /// Topics with batches whose partition has no known leader.
    pub unknown_leader_topics: HashSet<String>,
}

struct Inner {
    batches: HashMap<TopicPartition, VecDeque<ProducerBatch>>,
    /// Batches in flight per partition.
    in_flight: HashMap<TopicPartition, usize>,
    /// Completion signals of every batch not yet completed, by batch id.
    incomplete: HashMap<u64, Arc<BatchDone>>,
    used_memory: usize,
    memory_waiters: usize,
    flushes_in_progress: usize,
    closed: bool,
    next_batch_id: u64,
    drain_index: usize,
}

impl Inner {
    /// Whether the first batch of `tp` may be sent now: below the in-flight
    /// limit, and a retry only when nothing else of the partition is in
    /// flight.
    fn may_send(&self, tp: &TopicPartition, first: &ProducerBatch, limit: usize) -> bool {
        let n = self.in_flight.get(tp).copied().unwrap_or(0);
        n < limit.max(1) && !(first.retry && n > 0)
    }

    fn release(&mut self, tp: &TopicPartition) {
        if let Some(n) = self.in_flight.get_mut(tp) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(tp);
            }
        }
    }
}

type Waker = Box<dyn Fn() + Send + Sync>;

/// Batches records per partition for the sender.
pub struct RecordAccumulator {
    config: AccumulatorConfig,
    inner: Mutex<Inner>,
    memory_freed: Condvar,
    waker: Mutex<Option<Waker>>,
    /// Whether the sender may be about to block (or is blocked) in its
    /// poll: set before it looks at the batches, cleared once the poll
    /// returned. An append wakes it only then; otherwise the sender looks
    /// at the batches again anyway before it blocks, and a wakeup would be
    /// a wasted syscall and a wasted pass.
    sender_polling: AtomicBool,
    /// Per leader: when it last had sendable batches, and when the sender
    /// last could send to it (Java's `NodeLatencyStats`, KIP-794).
    node_stats: Mutex<HashMap<NodeId, NodeLatencyStats>>,
}

/// See [`RecordAccumulator::update_node_latency_stats`].
#[derive(Debug, Clone, Copy)]
struct NodeLatencyStats {
    ready: Instant,
    drained: Instant,
}

impl fmt::Debug for RecordAccumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordAccumulator")
            .field("config", &self.config)
            .finish()
    }
}

impl RecordAccumulator {
    /// An empty accumulator.
    pub fn new(config: AccumulatorConfig) -> RecordAccumulator {
        RecordAccumulator {
            config,
            inner: Mutex::new(Inner {
                batches: HashMap::new(),
                in_flight: HashMap::new(),
                incomplete: HashMap::new(),
                used_memory: 0,
                memory_waiters: 0,
                flushes_in_progress: 0,
                closed: false,
                next_batch_id: 0,
                drain_index: 0,
            }),
            memory_freed: Condvar::new(),
            waker: Mutex::new(None),
            sender_polling: AtomicBool::new(true),
            node_stats: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AccumulatorConfig {
        &self.config
    }

    /// Sets what wakes the sender (the network client's wakeup handle).
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(waker));
    }

    /// The sender is about to look at the batches and then block in its
    /// poll (`true`), or its poll returned (`false`).
    pub fn set_sender_polling(&self, polling: bool) {
        self.sender_polling.store(polling, Ordering::SeqCst);
    }

    fn wake_sender(&self) {
        if let Some(w) = self
            .waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            w();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a record to the open batch of `tp` (or a new one). Blocks up to
    /// `max_block` while `buffer.memory` is used up.
    pub fn append(
        &self,
        tp: &TopicPartition,
        record: StoredRecord,
        thunk: Thunk,
        max_block: Duration,
        now: Instant,
    ) -> Result<AppendResult> {
        self.try_append(tp, record, thunk, max_block, now)
            .map_err(|(e, thunk)| {
                // Not queued: reported here, with no lock held.
                thunk.fail(&e);
                e
            })
    }

    fn try_append(
        &self,
        tp: &TopicPartition,
        record: StoredRecord,
        thunk: Thunk,
        max_block: Duration,
        now: Instant,
    ) -> std::result::Result<AppendResult, (Error, Thunk)> {
        let size = record_size_upper_bound(
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        if size > self.config.buffer_memory {
            let e = Error::RecordTooLarge {
                size,
                max: self.config.buffer_memory,
                limit: "buffer.memory",
            };
            return Err((e, thunk));
        }
        let mut inner = self.lock();
        if inner.closed {
            return Err((Error::Closed, thunk));
        }
        if inner.used_memory + size > self.config.buffer_memory {
            let started = Instant::now();
            let deadline = crate::delivery::deadline_after(started, max_block);
            inner.memory_waiters += 1;
            // Full batches get sent sooner while someone waits for memory.
            drop(inner);
            self.wake_sender();
            inner = self.lock();
            while inner.used_memory + size > self.config.buffer_memory && !inner.closed {
                let t = Instant::now();
                if t >= deadline {
                    inner.memory_waiters -= 1;
                    let e = Error::BufferExhausted {
                        waited: max_block,
                        buffer_memory: self.config.buffer_memory,
                    };
                    return Err((e, thunk));
                }
                inner = self
                    .memory_freed
                    .wait_timeout(inner, deadline - t)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            inner.memory_waiters -= 1;
            if inner.closed {
                return Err((Error::Closed, thunk));
            }
        }
        inner.used_memory += size;
        let id = inner.next_batch_id;
        // One hash lookup per record, and no copy of the key: only the
        // first record of a partition inserts.
        let appended = match inner.batches.get_mut(tp) {
            Some(deque) => self.append_to(deque, tp, id, &record, size, thunk, now),
            None => {
                let mut deque = VecDeque::new();
                let appended = self.append_to(&mut deque, tp, id, &record, size, thunk, now);
                inner.batches.insert(tp.clone(), deque);
                appended
            }
        };
        let Appended {
            batch_is_full,
            new_batch,
            just_filled,
            future,
        } = match appended {
            Ok(a) => a,
            Err(failed) => {
                inner.used_memory -= size;
                return Err(failed);
            }
        };
        let new_batch_created = new_batch.is_some();
        if let Some(done) = new_batch {
            inner.next_batch_id += 1;
            inner.incomplete.insert(id, done);
        }
        drop(inner);
        // Wake the sender when something changed for it (a batch to time,
        // or one that just filled up), not on every record, and only if it
        // may be blocked: a wakeup is a syscall, and records arrive much
        // faster than batches. The flag is read after the lock is released:
        // a sender that set it later takes the lock after this append and
        // sees the batch.
        if (just_filled || new_batch_created) && self.sender_polling.load(Ordering::SeqCst) {
            self.wake_sender();
        }
        Ok(AppendResult {
            future,
            batch_is_full,
            new_batch_created,
        })
    }

    /// Appends to the last batch of a partition's queue, or to a new one
    /// (with id `id`).
    #[allow(clippy::too_many_arguments)]
    fn append_to(
        &self,
        deque: &mut VecDeque<ProducerBatch>,
        tp: &TopicPartition,
        id: u64,
        record: &StoredRecord,
        size: usize,
        thunk: Thunk,
        now: Instant,
    ) -> std::result::Result<Appended, (Error, Thunk)> {
        let batch_size = self.config.batch_size;
        // As Java's `hasRoomFor`: the bytes written so far plus this
        // record's upper bound (the estimate the memory reservation uses
        // would fill batches only to about 85%).
        let fits = deque
            .back()
            .is_some_and(|b| !b.closed && b.written() + size <= batch_size);
        let mut new_batch_created = false;
        if !fits {
            if let Some(last) = deque.back_mut() {
                last.closed = true;
            }
            deque.push_back(ProducerBatch::new(tp.clone(), id, now, &self.config, size));
            new_batch_created = true;
        }
        let last = deque.back_mut().expect("a batch was just ensured");
        let future = match last.push(record, size, thunk) {
            Ok(future) => future,
            Err(failed) => {
                if new_batch_created {
                    deque.pop_back();
                }
                return Err(failed);
            }
        };
        // Closed as soon as another record like this one would not fit, so
        // the sender need not wait for that record to learn it is full.
        let mut just_filled = false;
        if last.written() + size > batch_size {
            just_filled = !last.closed;
            last.closed = true;
        }
        let last_closed = last.closed;
        let done = new_batch_created.then(|| last.done.clone());
        Ok(Appended {
            batch_is_full: deque.len() > 1 || last_closed,
            new_batch: done,
            just_filled,
            future,
        })
    }

    fn backoff_for(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(16);
        let b = self.config.retry_backoff.saturating_mul(1u32 << shift);
        b.min(self.config.retry_backoff_max.max(self.config.retry_backoff))
    }

    /// Which leaders have sendable batches (`leader_for` maps a partition to
    /// its leader from metadata).
    pub fn ready(
        &self,
        now: Instant,
        leader_for: &dyn Fn(&TopicPartition) -> Option<NodeId>,
    ) -> ReadyCheckResult {
        let inner = self.lock();
        let mut result = ReadyCheckResult {
            next_ready_check_delay: Duration::from_secs(3600),
            ..Default::default()
        };
        let exhausted = inner.memory_waiters > 0;
        let flushing = inner.flushes_in_progress > 0 || inner.closed;
        for (tp, deque) in &inner.batches {
            let Some(first) = deque.front() else { continue };
            let Some(leader) = leader_for(tp) else {
                result.unknown_leader_topics.insert(tp.topic.clone());
                continue;
            };
            if result.ready_nodes.contains(&leader)
                || !inner.may_send(tp, first, self.config.max_in_flight_per_partition)
            {
                continue;
            }
            let (since, wait) = if first.retry {
                (
                    first.last_attempt.unwrap_or(first.created),
                    self.backoff_for(first.attempts),
                )
            } else {
                (first.created, self.config.linger)
            };
            let waited = now.saturating_duration_since(since);
            let backing_off = first.retry && waited < wait;
            let full = deque.len() > 1 || first.closed;
            let sendable = full || waited >= wait || exhausted || flushing;
            if sendable && !backing_off {
                result.ready_nodes.insert(leader);
            } else {
                let left = wait.saturating_sub(waited);
                result.next_ready_check_delay = result.next_ready_check_delay.min(left);
            }
        }
        result
    }

    /// Takes the first batch of each unmuted partition led by `node`, up to
    /// `max_size` bytes in total (at least one batch), and mutes those
    /// partitions. Batches backing off for a retry stay.
    pub fn drain_node(
        &self,
        node: NodeId,
        max_size: usize,
        now: Instant,
        leader_for: &dyn Fn(&TopicPartition) -> Option<NodeId>,
    ) -> Vec<ProducerBatch> {
        let mut inner = self.lock();
        let mut tps: Vec<TopicPartition> = inner
            .batches
            .iter()
            .filter(|(tp, d)| !d.is_empty() && leader_for(tp) == Some(node))
            .map(|(tp, _)| tp.clone())
            .collect();
        if tps.is_empty() {
            return Vec::new();
        }
        tps.sort();
        // Start where the last drain stopped, so no partition starves when
        // requests fill up.
        let start = inner.drain_index % tps.len();
        tps.rotate_left(start);
        let mut size = 0;
        let mut out = Vec::new();
        let mut taken = 0;
        for tp in tps {
            taken += 1;
            let blocked = match inner.batches.get(&tp).and_then(|d| d.front()) {
                Some(first) => !inner.may_send(&tp, first, self.config.max_in_flight_per_partition),
                None => true,
            };
            if blocked {
                continue;
            }
            let backoff = {
                let first = inner.batches.get(&tp).and_then(|d| d.front());
                match first {
                    Some(b) if b.retry => {
                        let since = b.last_attempt.unwrap_or(b.created);
                        now.saturating_duration_since(since) < self.backoff_for(b.attempts)
                    }
                    Some(_) => false,
                    None => true,
                }
            };
            if backoff {
                continue;
            }
            let first_size = inner.batches[&tp].front().map_or(0, |b| b.size);
            if !out.is_empty() && size + first_size > max_size {
                taken -= 1;
                break;
            }
            let Some(mut batch) = inner.batches.get_mut(&tp).and_then(|d| d.pop_front()) else {
                continue;
            };
            batch.closed = true;
            size += batch.size;
            *inner.in_flight.entry(tp).or_insert(0) += 1;
            out.push(batch);
        }
        inner.drain_index = inner.drain_index.wrapping_add(taken);
        out
    }

    /// Puts a batch back at the front of its partition for a retry and
    /// unmutes the partition.
    pub fn reenqueue(&self, mut batch: ProducerBatch, now: Instant) {
        batch.retry = true;
        batch.last_attempt = Some(now);
        let mut inner = self.lock();
        inner.release(&batch.tp);
        // Back in creation order (batch ids grow per partition), before the
        // batches created after it: several can come back from one request
        // or one lost connection, in any order.
        let deque = inner.batches.entry(batch.tp.clone()).or_default();
        let order = batch.order();
        let at = deque
            .iter()
            .position(|b| b.order() > order)
            .unwrap_or(deque.len());
        deque.insert(at, batch);
    }

    /// Notes that an in-flight batch of `tp` is done (completed or failed).
    pub fn in_flight_done(&self, tp: &TopicPartition) {
        self.lock().release(tp);
    }

    /// Completes a batch: releases its memory, then completes its records'
    /// futures and runs their callbacks (outside the lock).
    pub fn complete_batch(
        &self,
        batch: ProducerBatch,
        result: std::result::Result<(i64, i64), Error>,
    ) {
        let id = batch.id;
        let waiters = {
            let mut inner = self.lock();
            inner.used_memory = inner.used_memory.saturating_sub(batch.reserved);
            inner.memory_waiters
        };
        // A notify is a syscall: only when a `send` waits for memory (it
        // counts itself under the lock before it waits).
        if waiters > 0 {
            self.memory_freed.notify_all();
        }
        if batch.finish(result) {
            self.lock().incomplete.remove(&id);
        }
    }

    /// Splits a batch the broker refused as too large into two halves and
    /// puts both back, in order, for a retry (the Java client's
    /// `splitAndReenqueue`). The halves lose their producer state and get
    /// new sequences (the sender bumps the epoch first: the refused batch
    /// left a gap). Gives the batch back if it cannot be split.
    pub fn split_and_reenqueue(
        &self,
        mut batch: ProducerBatch,
        now: Instant,
    ) -> std::result::Result<(), Box<ProducerBatch>> {
        if !batch.can_split() {
            return Err(Box::new(batch));
        }
        let records = match batch.decoded_records() {
            Ok(r) if r.len() == batch.pending.len() => r,
            Ok(_) | Err(_) => return Err(Box::new(batch)),
        };
        let half = records.len() / 2;
        let mid = batch.order_lo + (batch.order_hi - batch.order_lo) / 2;
        let config = &self.config;
        let average = batch.size.saturating_sub(RECORD_BATCH_OVERHEAD) / records.len().max(1);
        let mut first =
            ProducerBatch::new(batch.tp.clone(), batch.id, batch.created, config, average);
        let mut second =
            ProducerBatch::new(batch.tp.clone(), batch.id, batch.created, config, average);
        first.order_lo = batch.order_lo;
        first.order_hi = mid;
        second.order_lo = mid;
        second.order_hi = batch.order_hi;
        first.done = batch.done.clone();
        second.done = batch.done.clone();
        // The records' futures wait on the original batch's outcome: each
        // half completes its range of it.
        first.result = batch.result.clone();
        first.index_base = batch.index_base;
        second.result = batch.result.clone();
        second.index_base = batch.index_base + half as u32;
        batch.done.add_part();
        first.last_error = batch.last_error.take();
        let mut lost_memory = 0;
        for (i, (record, pending)) in records.into_iter().zip(batch.pending.drain(..)).enumerate() {
            let size = record_size_upper_bound(
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
            );
            let target = if i < half { &mut first } else { &mut second };
            if let Err((e, thunk)) = target.push(&record, size, pending.thunk) {
                // It was encoded once already, so this cannot happen; if it
                // does, the record fails rather than vanishing.
                tracing::error!(error = %e, "could not re-encode a record of a split batch");
                lost_memory += size;
                thunk.fail(&e);
            }
        }
        let mut batch = first;
        for b in [&mut batch, &mut second] {
            b.closed = true;
            // New to the broker: attempts count anew.
            b.attempts = 0;
            b.producer_id = -1;
            b.producer_epoch = -1;
            b.base_sequence = -1;
            b.retry = true;
            b.last_attempt = Some(now);
        }
        tracing::debug!(
            tp = %batch.tp,
            first = batch.pending.len(),
            second = second.pending.len(),
            "split a batch the broker refused as too large"
        );
        let mut inner = self.lock();
        inner.used_memory = inner.used_memory.saturating_sub(lost_memory);
        // One batch was in flight; both halves wait in the queue now.
        inner.release(&batch.tp);
        let deque = inner.batches.entry(batch.tp.clone()).or_default();
        for b in [batch, second] {
            let order = b.order();
            let at = deque
                .iter()
                .position(|x| x.order() > order)
                .unwrap_or(deque.len());
            deque.insert(at, b);
        }
        Ok(())
    }

    /// Removes and returns the batches waiting in the accumulator longer
    /// than `delivery.timeout.ms`.
    pub fn expired_batches(&self, now: Instant) -> Vec<ProducerBatch> {
        let mut inner = self.lock();
        let timeout = self.config.delivery_timeout;
        let mut out = Vec::new();
        for deque in inner.batches.values_mut() {
            while deque
                .front()
                .is_some_and(|b| now.saturating_duration_since(b.created) >= timeout)
            {
                if let Some(b) = deque.pop_front() {
                    out.push(b);
                }
            }
        }
        out
    }

    /// The earliest time a waiting batch expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        let inner = self.lock();
        inner
            .batches
            .values()
            .filter_map(|d| d.front())
            .map(|b| b.created + self.config.delivery_timeout)
            .min()
    }

    /// Removes every waiting batch (for abort on close or a fatal error).
    pub fn take_all(&self) -> Vec<ProducerBatch> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for deque in inner.batches.values_mut() {
            out.extend(deque.drain(..));
        }
        out
    }

    /// The sender saw sendable batches for `node` at `now`, and could send
    /// to it (`can_drain`) or not (not connected, too many requests in
    /// flight). How long a node had data without taking it decides whether
    /// its partitions count as available (`partitioner.availability.timeout.ms`).
    pub fn update_node_latency_stats(&self, node: NodeId, now: Instant, can_drain: bool) {
        let mut stats = self.node_stats.lock().unwrap_or_else(|e| e.into_inner());
        let s = stats.entry(node).or_insert(NodeLatencyStats {
            ready: now,
            drained: now,
        });
        s.ready = now;
        if can_drain {
            s.drained = now;
        }
    }

    /// What adaptive partitioning weighs for `topic`: its queues, and, with
    /// a non-zero `availability_timeout`, the partitions whose leader had
    /// data waiting without taking it for longer than that (or has none).
    pub fn partition_load(
        &self,
        topic: &str,
        partitions: &[PartitionMetadata],
        availability_timeout: Duration,
    ) -> PartitionLoad {
        let queue_sizes = self.queue_sizes(topic);
        let mut unavailable = Vec::new();
        if !availability_timeout.is_zero() {
            let stats = self.node_stats.lock().unwrap_or_else(|e| e.into_inner());
            for p in partitions {
                let slow = match p.leader {
                    Some(leader) => stats.get(&leader).is_some_and(|s| {
                        s.ready.saturating_duration_since(s.drained) > availability_timeout
                    }),
                    None => true,
                };
                if slow {
                    unavailable.push(p.partition);
                }
            }
        }
        PartitionLoad {
            queue_sizes,
            unavailable,
        }
    }

    /// Batches waiting per partition of `topic` (the load adaptive
    /// partitioning weighs).
    pub fn queue_sizes(&self, topic: &str) -> HashMap<i32, usize> {
        self.lock()
            .batches
            .iter()
            .filter(|(tp, _)| tp.topic == topic)
            .map(|(tp, d)| (tp.partition, d.len()))
            .collect()
    }

    /// Whether batches wait that were not drained yet.
    pub fn has_undrained(&self) -> bool {
        self.lock().batches.values().any(|d| !d.is_empty())
    }

    /// Whether any batch is not completed (waiting or in flight).
    pub fn has_incomplete(&self) -> bool {
        !self.lock().incomplete.is_empty()
    }

    /// Records in batches not yet drained (statistics' `msg_cnt`, with
    /// those in flight).
    pub fn queued_records(&self) -> usize {
        self.lock()
            .batches
            .values()
            .flat_map(|d| d.iter())
            .map(ProducerBatch::record_count)
            .sum()
    }

    /// Bytes of `buffer.memory` in use.
    pub fn used_memory(&self) -> usize {
        self.lock().used_memory
    }

    /// Makes everything sendable at once and waits until every batch that
    /// exists now is completed (or `timeout` passes; then false).
    pub fn flush(&self, timeout: Option<Duration>) -> bool {
        let handles: Vec<Arc<BatchDone>> = {
            let mut inner = self.lock();
            inner.flushes_in_progress += 1;
            inner.incomplete.values().cloned().collect()
        };
        self.wake_sender();
        let deadline = timeout.map(|t| crate::delivery::deadline_after(Instant::now(), t));
        let all = handles.iter().all(|h| h.wait_until(deadline));
        self.lock().flushes_in_progress -= 1;
        all
    }

    /// Refuses further appends and makes everything sendable; wakes
    /// `send`s blocked on memory.
    pub fn close(&self) {
        self.lock().closed = true;
        self.memory_freed.notify_all();
        self.wake_sender();
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: 1000,
            buffer_memory: 10_000,
            linger: Duration::from_millis(10),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            delivery_timeout: Duration::from_secs(60),
            max_in_flight_per_partition: 1,
            compression: prozess_protocol::records::Compression::None,
            compression_level: None,
        }
    }

    fn rec(n: usize) -> StoredRecord {
        StoredRecord {
            timestamp: 1000,
            key: None,
            value: Some(Bytes::from(vec![b'x'; n])),
            headers: vec![],
        }
    }

    fn thunk() -> (Thunk, DeliveryFuture) {
        let f = DeliveryFuture::new();
        (Thunk::new(f.clone(), None), f)
    }

    fn leader(_: &TopicPartition) -> Option<NodeId> {
        Some(1)
    }

    #[test]
    fn batches_fill_up_to_batch_size_then_roll() {
        let acc = RecordAccumulator::new(cfg());
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let per = record_size_upper_bound(None, Some(&[0; 300]), &[]);
        // Encoded, a record of 300 bytes takes 309 (the upper bound `per`
        // is 325); a record fits while what is written plus `per` does.
        let per_batch = (1..)
            .take_while(|k| 61 + (k - 1) * 309 + per <= 1000)
            .count();
        assert_eq!(per_batch, 2);
        let mut news = 0;
        for _ in 0..5 {
            let (t, _) = thunk();
            let r = acc.append(&tp, rec(300), t, Duration::ZERO, now).unwrap();
            news += r.new_batch_created as usize;
        }
        assert_eq!(news, 5usize.div_ceil(per_batch));
        let ready = acc.ready(now, &leader);
        // The first batch is full, so node 1 is ready before linger.
        assert!(ready.ready_nodes.contains(&1));
        let drained = acc.drain_node(1, 1 << 20, now, &leader);
        assert_eq!(drained.len(), 1, "one batch per partition per drain");
        assert_eq!(drained[0].record_count(), per_batch);
        // Muted while in flight: nothing more drains for this partition.
        assert!(acc.drain_node(1, 1 << 20, now, &leader).is_empty());
        assert!(acc.ready(now, &leader).ready_nodes.is_empty());
    }

    #[test]
    fn linger_decides_readiness_of_a_partial_batch() {
        let acc = RecordAccumulator::new(cfg());
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let (t, _) = thunk();
        acc.append(&tp, rec(10), t, Duration::ZERO, now).unwrap();
        let r = acc.ready(now + Duration::from_millis(4), &leader);
        assert!(r.ready_nodes.is_empty());
        assert_eq!(r.next_ready_check_delay, Duration::from_millis(6));
        let r = acc.ready(now + Duration::from_millis(10), &leader);
        assert!(r.ready_nodes.contains(&1));
        // Unknown leader is reported by topic.
        let r = acc.ready(now, &|_| None);
        assert!(r.unknown_leader_topics.contains("t"));
    }

    #[test]
    fn completion_assigns_offsets_and_releases_memory() {
        let acc = RecordAccumulator::new(cfg());
        let tp = TopicPartition::new("t", 3);
        let now = Instant::now();
        let (t1, f1) = thunk();
        let (t2, f2) = thunk();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let t3 = Thunk::new(
            DeliveryFuture::new(),
            Some(Box::new(move |r: &Result<RecordMetadata>| {
                s.lock().unwrap().push(r.as_ref().unwrap().offset)
            })),
        );
        acc.append(&tp, rec(5), t1, Duration::ZERO, now).unwrap();
        acc.append(&tp, rec(5), t2, Duration::ZERO, now).unwrap();
        acc.append(&tp, rec(5), t3, Duration::ZERO, now).unwrap();
        assert!(acc.used_memory() > 0);
        let mut b = acc.drain_node(1, 1 << 20, now + Duration::from_secs(1), &leader);
        acc.complete_batch(b.remove(0), Ok((40, -1)));
        assert_eq!(acc.used_memory(), 0);
        assert_eq!(f1.get().unwrap().offset, 40);
        assert_eq!(f2.get().unwrap().offset, 41);
        assert_eq!(f2.get().unwrap().timestamp, 1000);
        assert_eq!(f2.get().unwrap().partition, 3);
        assert_eq!(*seen.lock().unwrap(), vec![42]);
        assert!(!acc.has_incomplete());
    }

    #[test]
    fn batch_futures_resolve_per_record_also_across_a_split() {
        let acc = RecordAccumulator::new(cfg());
        let tp = TopicPartition::new("t", 1);
        let now = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let futures: Vec<DeliveryFuture> = (0..4)
            .map(|i| {
                let tx = tx.clone();
                let cb: Callback = Box::new(move |r: &Result<RecordMetadata>| {
                    tx.send((i, r.as_ref().map(|m| m.offset).ok())).unwrap()
                });
                let r = acc
                    .append(&tp, rec(10), Thunk::deferred(Some(cb)), Duration::ZERO, now)
                    .unwrap();
                r.future.expect("a deferred thunk gets its batch's future")
            })
            .collect();
        assert!(futures.iter().all(|f| !f.is_done()));
        let mut batch = acc.drain_node(1, 1 << 20, now, &leader).remove(0);
        batch.encoded().unwrap();
        acc.split_and_reenqueue(batch, now).unwrap();
        let later = now + Duration::from_secs(5);
        let first = acc.drain_node(1, 1 << 20, later, &leader).remove(0);
        assert_eq!(first.record_count(), 2);
        acc.in_flight_done(&tp);
        acc.complete_batch(first, Ok((100, -1)));
        assert_eq!(futures[1].try_get().unwrap().unwrap().offset, 101);
        assert!(!futures[2].is_done(), "the second half is still pending");
        let second = acc.drain_node(1, 1 << 20, later, &leader).remove(0);
        acc.complete_batch(second, Err(Error::Closed));
        let md = futures[0].get().unwrap();
        assert_eq!((md.topic.as_str(), md.partition, md.offset), ("t", 1, 100));
        assert_eq!(
            (
                md.timestamp,
                md.serialized_key_size,
                md.serialized_value_size
            ),
            (1000, -1, 10)
        );
        assert_eq!(futures[3].wait_timeout(Duration::ZERO), Err(Error::Closed));
        let mut seen: Vec<_> = rx.try_iter().collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![(0, Some(100)), (1, Some(101)), (2, None), (3, None)]
        );
        assert!(!acc.has_incomplete());
    }

    #[test]
    fn leaders_that_do_not_take_data_make_their_partitions_unavailable() {
        let acc = RecordAccumulator::new(cfg());
        let part = |partition, leader| PartitionMetadata {
            partition,
            leader,
            leader_epoch: 0,
            replicas: vec![],
            isr: vec![],
            offline: vec![],
            error: prozess_protocol::ErrorCode::None,
        };
        let parts = [
            part(0, Some(1)),
            part(1, Some(2)),
            part(2, None),
            part(3, Some(3)),
        ];
        let t0 = Instant::now();
        let tp = TopicPartition::new("t", 1);
        let (t, _) = thunk();
        acc.append(&tp, rec(10), t, Duration::ZERO, t0).unwrap();
        acc.update_node_latency_stats(1, t0, true);
        acc.update_node_latency_stats(2, t0, true);
        // Node 1 has had data for 2 s without taking any; node 2 took it.
        acc.update_node_latency_stats(1, t0 + Duration::from_secs(2), false);
        acc.update_node_latency_stats(2, t0 + Duration::from_secs(2), true);
        let load = acc.partition_load("t", &parts, Duration::from_secs(1));
        // No leader counts as unavailable; node 3 was never seen with data.
        assert_eq!(load.unavailable, vec![0, 2]);
        assert_eq!(load.queue_sizes.get(&1), Some(&1));
        // Off (0) by default: only the queues.
        assert!(acc
            .partition_load("t", &parts, Duration::ZERO)
            .unavailable
            .is_empty());
        assert!(
            acc.partition_load("t", &parts, Duration::from_secs(3))
                .unavailable
                == vec![2]
        );
    }

    #[test]
    fn a_record_refused_at_append_still_runs_its_callback() {
        let acc = RecordAccumulator::new(cfg());
        acc.close();
        let (tx, rx) = std::sync::mpsc::channel();
        let cb: Callback = Box::new(move |r: &Result<RecordMetadata>| tx.send(r.clone()).unwrap());
        let tp = TopicPartition::new("t", 0);
        let e = acc
            .append(
                &tp,
                rec(10),
                Thunk::deferred(Some(cb)),
                Duration::ZERO,
                Instant::now(),
            )
            .unwrap_err();
        assert_eq!(e, Error::Closed);
        assert_eq!(rx.try_recv().unwrap(), Err(Error::Closed));
    }

    #[test]
    fn retries_wait_out_the_backoff_and_keep_order() {
        let acc = RecordAccumulator::new(cfg());
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        for _ in 0..2 {
            let (t, _) = thunk();
            acc.append(&tp, rec(600), t, Duration::ZERO, now).unwrap();
        }
        let mut first = acc.drain_node(1, 1 << 20, now, &leader);
        let mut b = first.remove(0);
        b.attempts = 1;
        acc.reenqueue(b, now);
        // Backing off: neither the retried batch nor the one behind it goes.
        assert!(acc.drain_node(1, 1 << 20, now, &leader).is_empty());
        let r = acc.ready(now + Duration::from_millis(50), &leader);
        assert!(r.ready_nodes.is_empty());
        let later = now + Duration::from_millis(100);
        let again = acc.drain_node(1, 1 << 20, later, &leader);
        assert_eq!(again.len(), 1);
        assert!(again[0].retry, "the retried batch goes first");
    }

    #[test]
    fn append_blocks_on_memory_then_fails_clearly() {
        let mut c = cfg();
        c.buffer_memory = 200;
        let acc = RecordAccumulator::new(c);
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let (t, _) = thunk();
        acc.append(&tp, rec(150), t, Duration::ZERO, now).unwrap();
        let (t, _) = thunk();
        let e = acc
            .append(&tp, rec(150), t, Duration::from_millis(20), now)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::BufferExhausted {
                    buffer_memory: 200,
                    ..
                }
            ),
            "{e}"
        );
        let (t, _) = thunk();
        let e = acc
            .append(&tp, rec(500), t, Duration::ZERO, now)
            .unwrap_err();
        assert!(matches!(
            e,
            Error::RecordTooLarge {
                limit: "buffer.memory",
                ..
            }
        ));
    }

    #[test]
    fn blocked_append_proceeds_when_memory_is_freed() {
        let mut c = cfg();
        c.buffer_memory = 200;
        let acc = Arc::new(RecordAccumulator::new(c));
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let (t, _) = thunk();
        acc.append(&tp, rec(150), t, Duration::ZERO, now).unwrap();
        let a = acc.clone();
        let tp2 = tp.clone();
        let h = std::thread::spawn(move || {
            let (t, _) = thunk();
            a.append(&tp2, rec(150), t, Duration::from_secs(60), Instant::now())
        });
        // The waiting append makes the batch sendable right away.
        let mut drained = Vec::new();
        while drained.is_empty() {
            drained = acc.drain_node(1, 1 << 20, now, &leader);
            std::thread::yield_now();
        }
        acc.complete_batch(drained.remove(0), Ok((0, -1)));
        assert!(h.join().unwrap().is_ok());
    }

    #[test]
    fn expired_batches_are_taken_out() {
        let acc = RecordAccumulator::new(cfg());
        let tp = TopicPartition::new("t", 0);
        let now = Instant::now();
        let (t, f) = thunk();
        acc.append(&tp, rec(1), t, Duration::ZERO, now).unwrap();
        assert!(acc
            .expired_batches(now + Duration::from_secs(59))
            .is_empty());
        let exp = acc.expired_batches(now + Duration::from_secs(60));
        assert_eq!(exp.len(), 1);
        for b in exp {
            acc.complete_batch(b, Err(Error::Closed));
        }
        assert_eq!(f.get(), Err(Error::Closed));
        assert!(!acc.has_undrained());
    }

    #[test]
    fn drain_respects_max_request_size_but_takes_one() {
        let acc = RecordAccumulator::new(cfg());
        let now = Instant::now();
        for p in 0..3 {
            let (t, _) = thunk();
            acc.append(
                &TopicPartition::new("t", p),
                rec(500),
                t,
                Duration::ZERO,
                now,
            )
            .unwrap();
        }
        let one = acc.drain_node(1, 10, now, &leader);
        assert_eq!(one.len(), 1);
        let rest = acc.drain_node(1, 1 << 20, now, &leader);
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn size_estimates_bound_the_encoding() {
        let h = vec![Header::new("k", "v")];
        let s = record_size_upper_bound(Some(b"key"), Some(b"value"), &h);
        // attributes 1 + ts 10 + offset 5 + key 1+3 + value 1+5 + 1 header count
        // + header (1+1 + 1+1) + length prefix 5.
        assert_eq!(s, 1 + 10 + 5 + 4 + 6 + 1 + 4 + 5);
        assert_eq!(
            batch_size_upper_bound(None, None, &[]),
            61 + 1 + 10 + 5 + 1 + 1 + 1 + 5
        );
    }
}
