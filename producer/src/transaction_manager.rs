//! `TransactionManager`: the idempotent producer's state (the
//! transactional state is [`crate::transactions::Transactions`]).
//!
//! - A producer id and epoch from InitProducerId, fetched before the first
//!   produce request.
//! - The next sequence number per partition. A batch gets its base
//!   sequence when it is first drained (or re-drained after an epoch bump)
//!   and keeps it across retries, so the broker drops a retry of a batch it
//!   already wrote instead of writing it twice.
//! - Epoch bump: after OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID or
//!   INVALID_PRODUCER_EPOCH, or after a batch that may have been written
//!   expired, the sender waits for its in-flight requests, asks for a new
//!   epoch (InitProducerId with the current id and epoch, KIP-360) and
//!   restarts every partition's sequence at 0.

use std::collections::HashMap;

use prozess_network::TopicPartition;

use crate::accumulator::ProducerBatch;
use crate::error::Error;

/// Where the producer id stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdState {
    /// No producer id yet.
    Uninitialized,
    /// An InitProducerId request is in flight.
    Initializing,
    /// Producer id and epoch are known.
    Ready,
    /// InitProducerId failed for good; nothing can be sent.
    Fatal(Error),
}

/// Producer id, epoch and per-partition sequences.
#[derive(Debug)]
pub struct TransactionManager {
    producer_id: i64,
    producer_epoch: i16,
    state: IdState,
    next_sequence: HashMap<TopicPartition, i32>,
    last_acked: HashMap<TopicPartition, i32>,
    bump_requested: bool,
}

impl Default for TransactionManager {
    fn default() -> Self {
        Self::new()
    }
}

impl TransactionManager {
    /// A manager without producer id.
    pub fn new() -> TransactionManager {
        TransactionManager {
            producer_id: -1,
            producer_epoch: -1,
            state: IdState::Uninitialized,
            next_sequence: HashMap::new(),
            last_acked: HashMap::new(),
            bump_requested: false,
        }
    }

    /// The current producer id (-1 if none).
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The current epoch (-1 if none).
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// The state.
    pub fn state(&self) -> &IdState {
        &self.state
    }

    /// Whether produce requests may go out.
    pub fn has_producer_id(&self) -> bool {
        self.state == IdState::Ready && self.producer_id >= 0 && !self.bump_requested
    }

    /// Whether an InitProducerId request should be sent (once nothing is in
    /// flight, for a bump).
    pub fn needs_init(&self) -> bool {
        matches!(self.state, IdState::Uninitialized)
            || (self.state == IdState::Ready && self.bump_requested)
    }

    /// Whether an epoch bump is pending.
    pub fn bump_requested(&self) -> bool {
        self.bump_requested
    }

    /// Asks for a new epoch before more batches are sent.
    pub fn request_epoch_bump(&mut self, why: &str) {
        if !self.bump_requested {
            tracing::info!(
                producer_id = self.producer_id,
                epoch = self.producer_epoch,
                why,
                "bumping the producer epoch"
            );
        }
        self.bump_requested = true;
    }

    /// The producer id and epoch to put in InitProducerId: the current
    /// ones for a bump when the broker supports it (v3+), else -1/-1.
    pub fn init_request_ids(&self, supports_bump: bool) -> (i64, i16) {
        if self.bump_requested && supports_bump && self.producer_id >= 0 {
            (self.producer_id, self.producer_epoch)
        } else {
            (-1, -1)
        }
    }

    /// Marks an InitProducerId request as sent.
    pub fn init_sent(&mut self) {
        self.state = IdState::Initializing;
    }

    /// A request that failed in transit: try again later.
    pub fn init_failed_retriable(&mut self) {
        if self.state == IdState::Initializing {
            self.state = if self.producer_id >= 0 {
                IdState::Ready
            } else {
                IdState::Uninitialized
            };
        }
    }

    /// A non-retriable InitProducerId error.
    pub fn init_failed_fatal(&mut self, error: Error) {
        self.state = IdState::Fatal(error);
    }

    /// InitProducerId succeeded: new id/epoch, all sequences start at 0.
    pub fn init_succeeded(&mut self, producer_id: i64, producer_epoch: i16) {
        tracing::debug!(producer_id, producer_epoch, "producer id and epoch set");
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.state = IdState::Ready;
        self.bump_requested = false;
        self.next_sequence.clear();
        self.last_acked.clear();
    }

    /// Gives a drained batch its producer id, epoch and base sequence,
    /// unless it already has them for the current epoch (a retry).
    pub fn assign(&mut self, batch: &mut ProducerBatch) {
        if batch.producer_id == self.producer_id
            && batch.producer_epoch == self.producer_epoch
            && batch.base_sequence >= 0
        {
            return;
        }
        let seq = self.next_sequence.entry(batch.tp.clone()).or_insert(0);
        batch.producer_id = self.producer_id;
        batch.producer_epoch = self.producer_epoch;
        batch.base_sequence = *seq;
        *seq = increment_sequence(*seq, record_count_i32(batch));
    }

    /// The next sequence a new batch of `tp` would get.
    pub fn next_sequence(&self, tp: &TopicPartition) -> i32 {
        self.next_sequence.get(tp).copied().unwrap_or(0)
    }

    /// Records that the broker acknowledged `batch`.
    pub fn on_batch_acked(&mut self, batch: &ProducerBatch) {
        if self.is_stale(batch) || batch.base_sequence < 0 {
            return;
        }
        let last = increment_sequence(batch.base_sequence, record_count_i32(batch) - 1);
        self.last_acked.insert(batch.tp.clone(), last);
    }

    /// Whether `batch` is the next one the broker expects for its partition
    /// (its base sequence follows the last acknowledged one). An
    /// OUT_OF_ORDER_SEQUENCE_NUMBER for a batch that is not next in line only
    /// means an earlier batch has not been written yet: retry, no bump.
    pub fn is_next_in_line(&self, batch: &ProducerBatch) -> bool {
        let expected = match self.last_acked.get(&batch.tp) {
            Some(&last) => increment_sequence(last, 1),
            None => 0,
        };
        batch.base_sequence == expected
    }

    /// Whether this batch was sent with an older epoch (its error is stale).
    pub fn is_stale(&self, batch: &ProducerBatch) -> bool {
        batch.producer_id != self.producer_id || batch.producer_epoch != self.producer_epoch
    }
}

/// `sequence + increment`, wrapping past `i32::MAX` to 0 as the broker
/// does (Java's `DefaultRecordBatch.incrementSequence`): the one wrapping
/// rule for next sequences, last sequences and the next-in-line check.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// A batch's record count as a sequence increment (a batch never holds
/// more than `i32::MAX` records; saturate rather than wrap if one did).
fn record_count_i32(batch: &ProducerBatch) -> i32 {
    i32::try_from(batch.record_count()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::{AccumulatorConfig, RecordAccumulator, StoredRecord, Thunk};
    use crate::delivery::DeliveryFuture;
    use std::time::{Duration, Instant};

    fn batches(n: usize, records: usize) -> Vec<ProducerBatch> {
        let acc = RecordAccumulator::new(AccumulatorConfig {
            batch_size: 100_000,
            buffer_memory: 1 << 20,
            linger: Duration::ZERO,
            retry_backoff: Duration::ZERO,
            retry_backoff_max: Duration::ZERO,
            delivery_timeout: Duration::from_secs(60),
            max_in_flight_per_partition: 1,
            compression: prozess_protocol::records::Compression::None,
            compression_level: None,
        });
        let now = Instant::now();
        let mut out = Vec::new();
        for _ in 0..n {
            for _ in 0..records {
                let r = StoredRecord {
                    timestamp: 0,
                    key: None,
                    value: None,
                    headers: vec![],
                };
                acc.append(
                    &TopicPartition::new("t", 0),
                    r,
                    Thunk::new(DeliveryFuture::new(), None),
                    Duration::ZERO,
                    now,
                )
                .unwrap();
            }
            let mut d = acc.drain_node(1, 1 << 20, now, &|_| Some(1));
            out.push(d.remove(0));
            acc.in_flight_done(&TopicPartition::new("t", 0));
        }
        out
    }

    #[test]
    fn sequences_advance_per_record_and_stick_across_retries() {
        let mut tm = TransactionManager::new();
        assert!(tm.needs_init());
        assert_eq!(tm.init_request_ids(true), (-1, -1));
        tm.init_sent();
        assert!(!tm.needs_init());
        tm.init_succeeded(7, 0);
        assert!(tm.has_producer_id());
        let mut b = batches(2, 3);
        tm.assign(&mut b[0]);
        tm.assign(&mut b[1]);
        assert_eq!((b[0].base_sequence, b[1].base_sequence), (0, 3));
        // A retry keeps its sequence.
        tm.assign(&mut b[0]);
        assert_eq!(b[0].base_sequence, 0);
        assert_eq!(tm.next_sequence(&TopicPartition::new("t", 0)), 6);
        assert!(!tm.is_stale(&b[0]));
    }

    #[test]
    fn epoch_bump_resets_sequences_and_resequences_batches() {
        let mut tm = TransactionManager::new();
        tm.init_succeeded(7, 0);
        let mut b = batches(2, 2);
        tm.assign(&mut b[0]);
        tm.assign(&mut b[1]);
        tm.request_epoch_bump("test");
        assert!(!tm.has_producer_id());
        assert!(tm.needs_init());
        assert_eq!(tm.init_request_ids(true), (7, 0));
        assert_eq!(tm.init_request_ids(false), (-1, -1));
        tm.init_sent();
        tm.init_succeeded(7, 1);
        assert!(tm.is_stale(&b[1]));
        tm.assign(&mut b[1]);
        assert_eq!((b[1].producer_epoch, b[1].base_sequence), (1, 0));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        let mut tm = TransactionManager::new();
        tm.init_succeeded(1, 0);
        tm.next_sequence
            .insert(TopicPartition::new("t", 0), i32::MAX - 1);
        let mut b = batches(1, 3);
        tm.assign(&mut b[0]);
        assert_eq!(b[0].base_sequence, i32::MAX - 1);
        assert_eq!(tm.next_sequence(&TopicPartition::new("t", 0)), 1);
    }

    #[test]
    fn increment_sequence_wraps_at_i32_max_to_zero() {
        assert_eq!(increment_sequence(0, 5), 5);
        assert_eq!(increment_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 2), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(i32::MAX, 0), i32::MAX);
    }

    #[test]
    fn batch_after_an_acked_batch_that_crossed_the_wrap_is_next_in_line() {
        let tp = TopicPartition::new("t", 0);
        let mut tm = TransactionManager::new();
        tm.init_succeeded(1, 0);
        tm.next_sequence.insert(tp.clone(), i32::MAX - 1);
        let mut b = batches(2, 3);
        tm.assign(&mut b[0]);
        tm.assign(&mut b[1]);
        // Records MAX-1, MAX, 0; then 1, 2, 3.
        assert_eq!((b[0].base_sequence, b[1].base_sequence), (i32::MAX - 1, 1));
        assert!(!tm.is_next_in_line(&b[1]));
        tm.on_batch_acked(&b[0]);
        assert!(tm.is_next_in_line(&b[1]));
        tm.on_batch_acked(&b[1]);
        assert_eq!(tm.last_acked.get(&tp), Some(&3));
    }

    #[test]
    fn batch_ending_exactly_at_i32_max_is_followed_by_zero() {
        let tp = TopicPartition::new("t", 0);
        let mut tm = TransactionManager::new();
        tm.init_succeeded(1, 0);
        tm.next_sequence.insert(tp.clone(), i32::MAX - 2);
        let mut b = batches(2, 3);
        tm.assign(&mut b[0]);
        tm.assign(&mut b[1]);
        assert_eq!((b[0].base_sequence, b[1].base_sequence), (i32::MAX - 2, 0));
        tm.on_batch_acked(&b[0]);
        assert_eq!(tm.last_acked.get(&tp), Some(&i32::MAX));
        assert!(tm.is_next_in_line(&b[1]));
    }

    #[test]
    fn fatal_init_stops_everything() {
        let mut tm = TransactionManager::new();
        tm.init_sent();
        tm.init_failed_retriable();
        assert!(tm.needs_init());
        tm.init_failed_fatal(Error::Fatal("no".into()));
        assert!(!tm.needs_init());
        assert!(!tm.has_producer_id());
    }
}
