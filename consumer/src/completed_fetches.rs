//! `CompletedFetch` (one partition's data from one Fetch response) and
//! `FetchBuffer` (the queue of them waiting to be handed to the caller).
//!
//! Records are decoded lazily, batch by batch, straight out of the response
//! buffer: keys, values and header values of uncompressed batches stay
//! zero-copy slices of it. Control batches never surface; under
//! read_committed, batches of aborted transactions are skipped using the
//! response's aborted-transaction list (as the Java client does).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};

use bytes::Bytes;
use prozess_network::TopicPartition;
use prozess_protocol::records::{
    ControlRecordType, Record, RecordBatches, Records, TimestampType, DEFAULT_MAX_DECOMPRESSED_SIZE,
};
use prozess_protocol::{DecodeErrorKind, ErrorCode};

use crate::error::Error;

/// At most this many responses are buffered per partition: one being
/// consumed and one fetched ahead (so the next data is already there when
/// the caller drains the first).
pub const MAX_BUFFERED_FETCHES: usize = 2;

/// One partition's part of a Fetch response, as the fetcher hands it over.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    /// Partition error.
    pub error: ErrorCode,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset (-1 if unknown).
    pub last_stable_offset: i64,
    /// Log start offset (-1 if unknown).
    pub log_start_offset: i64,
    /// Aborted transactions as (producer id, first offset); `None` if the
    /// broker sent none.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// Preferred read replica (-1 for none).
    pub preferred_read_replica: i32,
    /// The log diverged from our last fetched epoch (KIP-595): (epoch, end
    /// offset) of the leader's log for that epoch.
    pub diverging_epoch: Option<(i32, i64)>,
    /// The records blob.
    pub records: Option<Bytes>,
}

impl FetchedPartition {
    /// An empty, error-free partition (tests and defaults).
    pub fn empty() -> Self {
        FetchedPartition {
            error: ErrorCode::None,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted_transactions: None,
            preferred_read_replica: -1,
            diverging_epoch: None,
            records: None,
        }
    }
}

/// A record taken out of a batch, with what the batch says about it.
#[derive(Debug, Clone)]
pub struct FetchedRecord {
    /// The record (zero-copy for uncompressed batches).
    pub record: Record,
    /// The batch's timestamp type.
    pub timestamp_type: TimestampType,
    /// The batch's partition leader epoch (None if -1).
    pub leader_epoch: Option<i32>,
}

struct CurrentBatch {
    records: Records,
    next_offset: i64,
    leader_epoch: Option<i32>,
    timestamp_type: TimestampType,
}

/// One partition's data from one Fetch response.
pub struct CompletedFetch {
    /// The partition.
    pub tp: TopicPartition,
    /// The offset the request fetched from.
    pub fetch_offset: i64,
    /// What the broker answered for this partition.
    pub partition: FetchedPartition,
    /// Bytes of record data held (for the memory bound).
    pub size_in_bytes: usize,
    /// The offset after the last complete batch (where a fetch ahead of this
    /// one starts); `None` for an error response or undecodable data.
    pub end_offset: Option<i64>,
    /// Leader epoch of the last complete batch (`None` without one): the
    /// `last_fetched_epoch` of a fetch ahead of this one.
    end_epoch: Option<i32>,
    /// The `last_fetched_epoch` the request carried (a diverging-epoch answer
    /// is about the position the request was sent with).
    request_epoch: Option<i32>,
    /// Bound on one batch's decompressed size (named in the error).
    max_decompressed_size: usize,
    initialized: bool,
    consumed: bool,
    next_fetch_offset: i64,
    last_epoch: Option<i32>,
    batches: RecordBatches,
    current: Option<CurrentBatch>,
    pending: Option<(FetchedRecord, i64, Option<i32>)>,
    aborted_transactions: BinaryHeap<Reverse<(i64, i64)>>,
    aborted_producer_ids: HashSet<i64>,
    read_committed: bool,
    error: Option<Error>,
}

impl std::fmt::Debug for CompletedFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletedFetch")
            .field("tp", &self.tp)
            .field("fetch_offset", &self.fetch_offset)
            .field("next_fetch_offset", &self.next_fetch_offset)
            .field("size_in_bytes", &self.size_in_bytes)
            .field("consumed", &self.consumed)
            .finish()
    }
}

impl CompletedFetch {
    /// Wraps one partition's response data.
    pub fn new(
        tp: TopicPartition,
        fetch_offset: i64,
        partition: FetchedPartition,
        read_committed: bool,
        check_crcs: bool,
    ) -> Self {
        let records = partition.records.clone().unwrap_or_default();
        let size_in_bytes = records.len();
        // No fetch ahead of a diverging-epoch answer: the position moves first.
        let (end_offset, end_epoch) =
            if partition.error == ErrorCode::None && partition.diverging_epoch.is_none() {
                match end_of_batches(&records, fetch_offset) {
                    Some((end, epoch)) => (Some(end), epoch),
                    None => (None, None),
                }
            } else {
                (None, None)
            };
        let aborted_transactions = partition
            .aborted_transactions
            .iter()
            .flatten()
            .map(|&(pid, first)| Reverse((first, pid)))
            .collect();
        CompletedFetch {
            tp,
            fetch_offset,
            partition,
            size_in_bytes,
            end_offset,
            end_epoch,
            request_epoch: None,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            initialized: false,
            consumed: false,
            next_fetch_offset: fetch_offset,
            last_epoch: None,
            batches: RecordBatches::new(records).check_crcs(check_crcs),
            current: None,
            pending: None,
            aborted_transactions,
            aborted_producer_ids: HashSet::new(),
            read_committed,
            error: None,
        }
    }

    /// Records the `last_fetched_epoch` the request carried for this partition.
    pub fn with_request_epoch(mut self, epoch: Option<i32>) -> Self {
        self.request_epoch = epoch;
        self
    }

    /// Bounds the decompressed size of each batch (the consumer's
    /// [`ConsumerConfig::max_decompressed_batch_bytes`](crate::ConsumerConfig::max_decompressed_batch_bytes)).
    pub fn max_decompressed_size(mut self, max: usize) -> Self {
        self.max_decompressed_size = max;
        self.batches = self.batches.max_decompressed_size(max);
        self
    }

    /// The `last_fetched_epoch` the request carried.
    pub fn request_epoch(&self) -> Option<i32> {
        self.request_epoch
    }

    /// Where a fetch ahead of this one starts: the offset after its last
    /// complete batch and that batch's leader epoch (the request's epoch if
    /// no batch carries one): the position the caller has once it consumed
    /// this fetch. `None` for an error response or undecodable data.
    pub fn end_position(&self) -> Option<(i64, Option<i32>)> {
        self.end_offset
            .map(|end| (end, self.end_epoch.or(self.request_epoch)))
    }

    /// Whether the partition data was checked against the subscription state.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    pub(crate) fn set_initialized(&mut self) {
        self.initialized = true;
    }

    /// Whether every record was handed out (or the fetch was dropped).
    pub fn is_consumed(&self) -> bool {
        self.consumed
    }

    /// Drops the rest of the data.
    pub fn drain(&mut self) {
        self.consumed = true;
        self.current = None;
        self.pending = None;
    }

    /// The offset after the last record handed out (or skipped batch).
    pub fn next_fetch_offset(&self) -> i64 {
        self.next_fetch_offset
    }

    /// Leader epoch of the last record handed out.
    pub fn last_epoch(&self) -> Option<i32> {
        self.last_epoch
    }

    /// Puts a record back (its deserialization failed): it is the next one
    /// again and the next fetch offset points at it.
    pub fn push_back(&mut self, rec: FetchedRecord, prev_offset: i64, prev_epoch: Option<i32>) {
        self.next_fetch_offset = prev_offset;
        self.last_epoch = prev_epoch;
        self.pending = Some((rec, prev_offset, prev_epoch));
        self.consumed = false;
    }

    fn corrupt(&mut self, message: String) -> Error {
        let e = Error::CorruptRecord {
            tp: self.tp.clone(),
            offset: self.next_fetch_offset,
            message,
        };
        self.error = Some(e.clone());
        e
    }

    fn consume_aborted_up_to(&mut self, offset: i64) {
        while let Some(Reverse((first, pid))) = self.aborted_transactions.peek().copied() {
            if first > offset {
                break;
            }
            self.aborted_transactions.pop();
            self.aborted_producer_ids.insert(pid);
        }
    }

    /// The next record to hand out, or `None` when the data is used up.
    /// A corrupt batch or record gives `Err` now and on every later call: the
    /// consumer stops at that offset instead of skipping data.
    pub fn next_record(&mut self) -> Result<Option<FetchedRecord>, Error> {
        if let Some((rec, _, _)) = self.pending.take() {
            self.next_fetch_offset = rec.record.offset.saturating_add(1);
            self.last_epoch = rec.leader_epoch;
            return Ok(Some(rec));
        }
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.consumed {
            return Ok(None);
        }
        loop {
            if let Some(cur) = self.current.as_mut() {
                match cur.records.next() {
                    Some(Ok(record)) => {
                        if record.offset < self.next_fetch_offset {
                            // A fetch from the middle of a batch returns the whole batch.
                            continue;
                        }
                        // Offset deltas are not bounded by the batch header, so
                        // a hostile batch can reach i64::MAX: no next offset.
                        if record.offset == i64::MAX {
                            return Err(self.corrupt(format!(
                                "record offset {} leaves no room for a next offset",
                                record.offset
                            )));
                        }
                        let rec = FetchedRecord {
                            record,
                            timestamp_type: cur.timestamp_type,
                            leader_epoch: cur.leader_epoch,
                        };
                        self.next_fetch_offset = rec.record.offset + 1;
                        self.last_epoch = rec.leader_epoch;
                        return Ok(Some(rec));
                    }
                    Some(Err(e)) => return Err(self.corrupt(e.to_string())),
                    None => {
                        let next = cur.next_offset;
                        let epoch = cur.leader_epoch;
                        self.current = None;
                        if next > self.next_fetch_offset {
                            self.next_fetch_offset = next;
                            self.last_epoch = epoch;
                        }
                        continue;
                    }
                }
            }
            let batch = match self.batches.next() {
                None => {
                    self.consumed = true;
                    return Ok(None);
                }
                Some(Err(e)) => return Err(self.corrupt(e.to_string())),
                Some(Ok(b)) => b,
            };
            // A negative last offset delta or one that runs into i64::MAX would
            // wrap next_offset() and make the batch look consumed: the consumer
            // would fetch it again forever instead of reporting it.
            if batch.last_offset() < batch.base_offset() || batch.last_offset() == i64::MAX {
                return Err(self.corrupt(format!(
                    "batch at base offset {} has last offset {}",
                    batch.base_offset(),
                    batch.last_offset()
                )));
            }
            if batch.next_offset() <= self.next_fetch_offset {
                continue;
            }
            let epoch = match batch.partition_leader_epoch() {
                e if e >= 0 => Some(e),
                _ => None,
            };
            if self.read_committed && batch.producer_id() >= 0 {
                self.consume_aborted_up_to(batch.last_offset());
            }
            if batch.is_control() {
                match batch.control_record() {
                    Ok(Some(cr)) => {
                        if self.read_committed && cr.control_type == ControlRecordType::Abort {
                            self.aborted_producer_ids.remove(&batch.producer_id());
                        }
                    }
                    Ok(None) => {}
                    Err(e) => return Err(self.corrupt(e.to_string())),
                }
                self.next_fetch_offset = batch.next_offset();
                self.last_epoch = epoch;
                continue;
            }
            if self.read_committed
                && batch.is_transactional()
                && self.aborted_producer_ids.contains(&batch.producer_id())
            {
                tracing::trace!(tp = %self.tp, base_offset = batch.base_offset(), "skipping aborted transactional batch");
                self.next_fetch_offset = batch.next_offset();
                self.last_epoch = epoch;
                continue;
            }
            let records = match batch.records() {
                Ok(r) => r,
                Err(e) if matches!(e.kind, DecodeErrorKind::DecompressedTooLarge { .. }) => {
                    let e = Error::DecompressedBatchTooLarge {
                        tp: self.tp.clone(),
                        offset: self.next_fetch_offset,
                        limit: self.max_decompressed_size,
                    };
                    self.error = Some(e.clone());
                    return Err(e);
                }
                Err(e) => return Err(self.corrupt(e.to_string())),
            };
            self.current = Some(CurrentBatch {
                records,
                next_offset: batch.next_offset(),
                leader_epoch: epoch,
                timestamp_type: batch.timestamp_type(),
            });
        }
    }
}

/// The next offset after the complete batches of `records` and the leader
/// epoch of the batch that ends there (headers only, no CRC: the batches are
/// checked when consumed). `None` if a batch header is bad.
fn end_of_batches(records: &Bytes, fetch_offset: i64) -> Option<(i64, Option<i32>)> {
    let mut end = fetch_offset;
    let mut epoch = None;
    for batch in RecordBatches::new(records.clone()).check_crcs(false) {
        let batch = batch.ok()?;
        if batch.next_offset() > end {
            end = batch.next_offset();
            epoch = Some(batch.partition_leader_epoch()).filter(|e| *e >= 0);
        }
    }
    Some((end, epoch))
}

/// The queue of completed fetches plus the one being drained (Java's
/// `FetchBuffer`). A partition has at most [`MAX_BUFFERED_FETCHES`] entries,
/// in offset order: the fetcher fetches ahead of buffered data only up to
/// that, which bounds memory per partition however slowly the caller polls.
#[derive(Debug, Default)]
pub struct FetchBuffer {
    queue: VecDeque<CompletedFetch>,
    next_in_line: Option<CompletedFetch>,
}

impl FetchBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fetch to the end of the queue.
    pub fn add(&mut self, fetch: CompletedFetch) {
        self.queue.push_back(fetch);
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
            && self
                .next_in_line
                .as_ref()
                .map(|f| f.is_consumed())
                .unwrap_or(true)
    }

    pub(crate) fn peek_mut(&mut self) -> Option<&mut CompletedFetch> {
        self.queue.front_mut()
    }

    pub(crate) fn pop(&mut self) -> Option<CompletedFetch> {
        self.queue.pop_front()
    }

    pub(crate) fn next_in_line_mut(&mut self) -> &mut Option<CompletedFetch> {
        &mut self.next_in_line
    }

    /// Where the next fetch of `tp` starts: `Ok(None)` if nothing is buffered
    /// (start at the position), `Ok(Some((offset, epoch)))` to fetch ahead of
    /// the one buffered response (its end offset, and the leader epoch of its
    /// last batch as the fetch's `last_fetched_epoch`), `Err(())` if `tp` must
    /// not be fetched now (the buffer holds its limit, or an error response
    /// waits to be handled).
    #[allow(clippy::result_unit_err)]
    pub fn fetch_ahead_position(
        &self,
        tp: &TopicPartition,
    ) -> Result<Option<(i64, Option<i32>)>, ()> {
        let mut count = 0;
        let mut end = None;
        let live_next = self.next_in_line.as_ref().filter(|f| !f.is_consumed());
        for f in live_next.into_iter().chain(self.queue.iter()) {
            if &f.tp == tp {
                count += 1;
                end = f.end_position();
            }
        }
        match (count, end) {
            (0, _) => Ok(None),
            (n, Some(e)) if n < MAX_BUFFERED_FETCHES => Ok(Some(e)),
            _ => Err(()),
        }
    }

    /// Moves every queued fetch of `tp` to the end of the queue, keeping
    /// their order (a paused partition's data goes back behind the others).
    pub(crate) fn take_partition(&mut self, tp: &TopicPartition) -> Vec<CompletedFetch> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for f in self.queue.drain(..) {
            if &f.tp == tp {
                taken.push(f);
            } else {
                kept.push_back(f);
            }
        }
        self.queue = kept;
        taken
    }

    /// Drops every buffered fetch of `tp` (after a seek they are stale: the
    /// collector would discard them anyway, and a fetch ahead of them would
    /// start at the wrong offset).
    pub fn remove_partition(&mut self, tp: &TopicPartition) {
        self.queue.retain(|f| &f.tp != tp);
        if self.next_in_line.as_ref().is_some_and(|f| &f.tp == tp) {
            self.next_in_line = None;
        }
    }

    /// Partitions with data waiting (not to be fetched again until drained).
    pub fn buffered_partitions(&self) -> HashSet<TopicPartition> {
        let mut set: HashSet<TopicPartition> = self.queue.iter().map(|f| f.tp.clone()).collect();
        if let Some(f) = &self.next_in_line {
            if !f.is_consumed() {
                set.insert(f.tp.clone());
            }
        }
        set
    }

    /// Bytes of record data held.
    pub fn buffered_bytes(&self) -> usize {
        self.queue.iter().map(|f| f.size_in_bytes).sum::<usize>()
            + self
                .next_in_line
                .as_ref()
                .filter(|f| !f.is_consumed())
                .map(|f| f.size_in_bytes)
                .unwrap_or(0)
    }

    /// Drops data of partitions for which `keep` is false (unassigned).
    pub fn retain(&mut self, mut keep: impl FnMut(&TopicPartition) -> bool) {
        self.queue.retain(|f| keep(&f.tp));
        if let Some(f) = &self.next_in_line {
            if !keep(&f.tp) {
                self.next_in_line = None;
            }
        }
    }

    /// Number of queued fetches (not counting the one being drained).
    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use prozess_protocol::records::{
        Compression, ControlRecord, MemoryRecordsBuilder, RecordHeader,
    };

    pub(crate) fn batch(base: i64, n: usize, compression: Compression) -> Bytes {
        let mut b = MemoryRecordsBuilder::new(base, compression);
        for i in 0..n {
            let v = format!("v{}", base + i as i64);
            b.append(
                1_000 + i as i64,
                Some(b"k"),
                Some(v.as_bytes()),
                &[RecordHeader::new("h", Bytes::from_static(b"x"))],
            )
            .unwrap();
        }
        b.build().unwrap()
    }

    pub(crate) fn txn_batch(base: i64, n: usize, pid: i64) -> Bytes {
        let mut b = MemoryRecordsBuilder::new(base, Compression::None)
            .producer_state(pid, 0, 0)
            .transactional(true);
        for i in 0..n {
            b.append(
                1,
                None,
                Some(format!("t{}", base + i as i64).as_bytes()),
                &[],
            )
            .unwrap();
        }
        b.build().unwrap()
    }

    pub(crate) fn marker(offset: i64, pid: i64, commit: bool) -> Bytes {
        let mut b = MemoryRecordsBuilder::new(offset, Compression::None)
            .producer_state(pid, 0, -1)
            .transactional(true)
            .control(true);
        b.append_control_record(1, &ControlRecord::transaction_marker(commit, 0))
            .unwrap();
        b.build().unwrap()
    }

    pub(crate) fn concat(parts: &[Bytes]) -> Bytes {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(p);
        }
        Bytes::from(v)
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn fetched(records: Bytes) -> FetchedPartition {
        FetchedPartition {
            high_watermark: 100,
            records: Some(records),
            ..FetchedPartition::empty()
        }
    }

    fn drain(cf: &mut CompletedFetch) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(r) = cf.next_record().unwrap() {
            out.push(r.record.offset);
        }
        out
    }

    #[test]
    fn skips_records_before_fetch_offset_and_is_zero_copy() {
        let data = concat(&[
            batch(0, 3, Compression::None),
            batch(3, 3, Compression::None),
        ]);
        let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
        let mut cf = CompletedFetch::new(tp(), 2, fetched(data), false, true);
        let first = cf.next_record().unwrap().unwrap();
        assert_eq!(first.record.offset, 2);
        let v = first.record.value.unwrap();
        assert!(
            range.contains(&(v.as_ptr() as usize)),
            "value is a slice of the response"
        );
        assert_eq!(drain(&mut cf), vec![3, 4, 5]);
        assert_eq!(cf.next_fetch_offset(), 6);
        assert!(cf.is_consumed());
    }

    #[test]
    fn compressed_batches_decode() {
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut cf = CompletedFetch::new(tp(), 0, fetched(batch(0, 4, c)), false, true);
            assert_eq!(drain(&mut cf), vec![0, 1, 2, 3], "{c:?}");
        }
    }

    #[test]
    fn corrupt_batch_is_sticky_at_its_offset() {
        let good = batch(0, 2, Compression::None);
        let mut bad = batch(2, 2, Compression::None).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff; // breaks the CRC
        let data = concat(&[good, Bytes::from(bad)]);
        let mut cf = CompletedFetch::new(tp(), 0, fetched(data), false, true);
        assert_eq!(cf.next_record().unwrap().unwrap().record.offset, 0);
        assert_eq!(cf.next_record().unwrap().unwrap().record.offset, 1);
        for _ in 0..2 {
            match cf.next_record() {
                Err(Error::CorruptRecord { offset, .. }) => assert_eq!(offset, 2),
                other => panic!("expected corrupt record, got {other:?}"),
            }
        }
        assert_eq!(cf.next_fetch_offset(), 2);
    }

    #[test]
    fn a_batch_ending_at_the_largest_offset_is_corrupt_not_skipped() {
        let data = batch(i64::MAX - 1, 2, Compression::None);
        let mut cf = CompletedFetch::new(tp(), i64::MAX - 1, fetched(data), false, true);
        match cf.next_record() {
            Err(Error::CorruptRecord {
                offset, message, ..
            }) => {
                assert_eq!(offset, i64::MAX - 1);
                assert!(message.contains("last offset"), "{message}");
            }
            other => panic!("expected corrupt record, got {other:?}"),
        }
    }

    #[test]
    fn read_committed_filters_aborted_and_control() {
        // pid 1 aborted (offsets 0..1 + marker 2), pid 2 committed (3..4 + marker 5).
        let data = concat(&[
            txn_batch(0, 2, 1),
            marker(2, 1, false),
            txn_batch(3, 2, 2),
            marker(5, 2, true),
        ]);
        let mut p = fetched(data.clone());
        p.aborted_transactions = Some(vec![(1, 0)]);
        let mut cf = CompletedFetch::new(tp(), 0, p.clone(), true, true);
        assert_eq!(drain(&mut cf), vec![3, 4]);
        assert_eq!(
            cf.next_fetch_offset(),
            6,
            "position passes the trailing marker"
        );
        // read_uncommitted: every data record, still no control records.
        let mut cf = CompletedFetch::new(tp(), 0, p, false, true);
        assert_eq!(drain(&mut cf), vec![0, 1, 3, 4]);
        assert_eq!(cf.next_fetch_offset(), 6);
    }

    #[test]
    fn push_back_repeats_record() {
        let mut cf = CompletedFetch::new(
            tp(),
            0,
            fetched(batch(0, 2, Compression::None)),
            false,
            true,
        );
        let r = cf.next_record().unwrap().unwrap();
        cf.push_back(r, 0, None);
        assert_eq!(cf.next_fetch_offset(), 0);
        assert_eq!(drain(&mut cf), vec![0, 1]);
    }

    #[test]
    fn buffer_tracks_partitions_and_bytes() {
        let mut buf = FetchBuffer::new();
        assert!(buf.is_empty());
        buf.add(CompletedFetch::new(
            tp(),
            0,
            fetched(batch(0, 1, Compression::None)),
            false,
            true,
        ));
        buf.add(CompletedFetch::new(
            TopicPartition::new("u", 1),
            0,
            FetchedPartition::empty(),
            false,
            true,
        ));
        assert_eq!(buf.buffered_partitions().len(), 2);
        assert!(buf.buffered_bytes() > 0);
        buf.retain(|t| t.topic == "u");
        assert_eq!(buf.len(), 1);
        assert_eq!(buf.buffered_bytes(), 0);
    }
}
