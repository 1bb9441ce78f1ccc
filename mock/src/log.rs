//! One partition's log: record batches kept as the bytes producers sent, with
//! the base offset and partition leader epoch rewritten on append (neither is
//! covered by the batch CRC, which starts at the attributes).

use bytes::{Bytes, BytesMut};
use prozess_protocol::records::{RecordBatch, RecordBatches};
use prozess_protocol::ErrorCode;

/// A batch in the log.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub leader_epoch: i32,
    pub max_timestamp: i64,
    pub bytes: Bytes,
}

/// Idempotent producer state of one producer id on one partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    /// (first sequence, last sequence, base offset) of the last five batches,
    /// as the broker keeps them for duplicate detection.
    pub recent: Vec<(i32, i32, i64)>,
}

/// A partition: leader, epoch, log.
#[derive(Debug, Clone)]
pub(crate) struct PartitionLog {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub log_start: i64,
    pub batches: Vec<StoredBatch>,
    pub producers: std::collections::HashMap<i64, ProducerEntry>,
    /// (epoch, start offset) for each leader epoch that wrote data.
    pub epochs: Vec<(i32, i64)>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub base_offset: i64,
}

impl PartitionLog {
    pub fn new(leader: i32, replicas: Vec<i32>) -> Self {
        PartitionLog {
            leader,
            leader_epoch: 0,
            replicas,
            log_start: 0,
            batches: Vec::new(),
            producers: Default::default(),
            epochs: Vec::new(),
        }
    }

    /// The next offset to be written (all replicas are in sync here, so it is
    /// also the high watermark and the last stable offset).
    pub fn high_watermark(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.log_start, |b| b.last_offset + 1)
    }

    /// Appends the batches of a produce request's `records`; checks CRCs and
    /// idempotent sequences first, so a rejected request appends nothing.
    pub fn append(&mut self, records: &Bytes) -> Result<Appended, ErrorCode> {
        let mut parsed = Vec::new();
        let mut iter = RecordBatches::new(records.clone());
        for batch in iter.by_ref() {
            let batch: RecordBatch = batch.map_err(|_| ErrorCode::CorruptMessage)?;
            if batch.magic() != 2 {
                return Err(ErrorCode::UnsupportedForMessageFormat);
            }
            parsed.push(batch);
        }
        if parsed.is_empty() || !iter.remaining().is_empty() {
            return Err(ErrorCode::CorruptMessage);
        }
        // Idempotence: one batch per request from the Java-style producers;
        // check the first and let the rest follow in sequence.
        let first = &parsed[0];
        if first.producer_id() >= 0 {
            if let Some(dup) = self.check_sequence(first)? {
                return Ok(Appended { base_offset: dup });
            }
        }
        let base = self.high_watermark();
        let mut next = base;
        for batch in &parsed {
            let count = i64::from(batch.last_offset_delta()) + 1;
            let mut bytes = BytesMut::from(batch.as_bytes().as_ref());
            bytes[0..8].copy_from_slice(&next.to_be_bytes());
            bytes[12..16].copy_from_slice(&self.leader_epoch.to_be_bytes());
            if self
                .epochs
                .last()
                .is_none_or(|&(e, _)| e != self.leader_epoch)
            {
                self.epochs.push((self.leader_epoch, next));
            }
            if batch.producer_id() >= 0 {
                let entry = self.producers.entry(batch.producer_id()).or_default();
                entry.epoch = batch.producer_epoch();
                entry
                    .recent
                    .push((batch.base_sequence(), batch.last_sequence(), next));
                if entry.recent.len() > 5 {
                    entry.recent.remove(0);
                }
            }
            self.batches.push(StoredBatch {
                base_offset: next,
                last_offset: next + count - 1,
                leader_epoch: self.leader_epoch,
                max_timestamp: batch.max_timestamp(),
                bytes: bytes.freeze(),
            });
            next += count;
        }
        Ok(Appended { base_offset: base })
    }

    /// `Ok(Some(offset))` for a duplicate of a batch already written,
    /// `Ok(None)` for the next batch in sequence.
    fn check_sequence(&self, batch: &RecordBatch) -> Result<Option<i64>, ErrorCode> {
        let seq = batch.base_sequence();
        match self.producers.get(&batch.producer_id()) {
            None => Ok(None),
            Some(entry) if batch.producer_epoch() < entry.epoch => {
                Err(ErrorCode::InvalidProducerEpoch)
            }
            Some(entry) if batch.producer_epoch() > entry.epoch => {
                if seq == 0 {
                    Ok(None)
                } else {
                    Err(ErrorCode::OutOfOrderSequenceNumber)
                }
            }
            Some(entry) => {
                if let Some(&(_, _, off)) = entry
                    .recent
                    .iter()
                    .find(|&&(f, l, _)| f == seq && l == batch.last_sequence())
                {
                    return Ok(Some(off));
                }
                let last = entry.recent.last().map_or(-1, |&(_, l, _)| l);
                if seq == last.wrapping_add(1) || (last == i32::MAX && seq == 0) {
                    Ok(None)
                } else {
                    Err(ErrorCode::OutOfOrderSequenceNumber)
                }
            }
        }
    }

    /// Batches from the one holding `offset` on, at most `max_bytes` (but at
    /// least one batch if `first` is set, as the broker always returns the
    /// first batch so that a large batch cannot block a consumer).
    pub fn read(&self, offset: i64, max_bytes: usize, first: bool) -> Bytes {
        let start = self.batches.partition_point(|b| b.last_offset < offset);
        let mut out = BytesMut::new();
        for b in &self.batches[start..] {
            if out.len() + b.bytes.len() > max_bytes && !(first && out.is_empty()) {
                break;
            }
            out.extend_from_slice(&b.bytes);
        }
        out.freeze()
    }

    /// The offset of the first record whose timestamp is at least `ts`, and
    /// that record's timestamp; `None` if there is none.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64, i32)> {
        for b in &self.batches {
            if b.max_timestamp < ts || b.last_offset < self.log_start {
                continue;
            }
            let batch = RecordBatch::parse(b.bytes.clone(), false).ok()?;
            let records = batch.records().ok()?;
            for r in records.borrowed() {
                let r = r.ok()?;
                if r.offset >= self.log_start && r.timestamp >= ts {
                    return Some((r.offset, r.timestamp, b.leader_epoch));
                }
            }
        }
        None
    }

    /// The end offset of `epoch` (the start of the next higher epoch, or the
    /// log end), and the largest epoch not above it (KIP-101/320).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let mut found: Option<(i32, i64)> = None;
        for (i, &(e, _)) in self.epochs.iter().enumerate() {
            if e <= epoch {
                let end = self
                    .epochs
                    .get(i + 1)
                    .map_or(self.high_watermark(), |&(_, s)| s);
                found = Some((e, end));
            }
        }
        match found {
            Some(f) => f,
            None if epoch >= self.leader_epoch => (self.leader_epoch, self.high_watermark()),
            None => (-1, -1),
        }
    }

    /// Drops the records from `offset` on (a log truncated by an unclean
    /// leader change).
    pub fn truncate_to(&mut self, offset: i64) {
        self.batches.retain(|b| b.base_offset < offset);
        // A batch straddling the point is dropped whole: batches are units.
        while self.batches.last().is_some_and(|b| b.last_offset >= offset) {
            self.batches.pop();
        }
        let end = self.high_watermark();
        self.epochs.retain(|&(_, s)| s < end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prozess_protocol::records::{Compression, MemoryRecordsBuilder};

    fn batch(n: usize, ts: i64) -> Bytes {
        let mut b = MemoryRecordsBuilder::new(0, Compression::None);
        for i in 0..n {
            b.append(ts + i as i64, None, Some(format!("v{i}").as_bytes()), &[])
                .unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn append_assigns_base_offsets_and_keeps_crc_valid() {
        let mut log = PartitionLog::new(0, vec![0]);
        assert_eq!(log.append(&batch(3, 100)).unwrap().base_offset, 0);
        log.leader_epoch = 4;
        assert_eq!(log.append(&batch(2, 200)).unwrap().base_offset, 3);
        assert_eq!(log.high_watermark(), 5);
        let read = log.read(3, 1 << 20, true);
        let b = RecordBatches::new(read).next().unwrap().unwrap();
        assert_eq!(b.base_offset(), 3);
        assert_eq!(b.partition_leader_epoch(), 4);
        assert!(b.is_valid());
        assert_eq!(log.offset_for_timestamp(201), Some((4, 201, 4)));
        assert_eq!(log.end_offset_for_epoch(0), (0, 3));
        assert_eq!(log.end_offset_for_epoch(4), (4, 5));
    }

    #[test]
    fn read_returns_a_first_batch_over_the_limit() {
        let mut log = PartitionLog::new(0, vec![0]);
        log.append(&batch(10, 0)).unwrap();
        log.append(&batch(10, 0)).unwrap();
        let one = log.read(0, 1, true);
        assert_eq!(RecordBatches::new(one).count(), 1);
        assert!(log.read(0, 1, false).is_empty());
        let from_second = log.read(12, 1 << 20, true);
        let first = RecordBatches::new(from_second).next().unwrap().unwrap();
        assert_eq!(first.base_offset(), 10);
    }

    #[test]
    fn corrupt_batches_are_rejected() {
        let mut log = PartitionLog::new(0, vec![0]);
        let mut b = BytesMut::from(batch(2, 0).as_ref());
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert_eq!(log.append(&b.freeze()), Err(ErrorCode::CorruptMessage));
        assert_eq!(log.high_watermark(), 0);
    }

    #[test]
    fn idempotent_sequences() {
        let build = |seq: i32, epoch: i16| {
            let mut b =
                MemoryRecordsBuilder::new(0, Compression::None).producer_state(7, epoch, seq);
            b.append(0, None, Some(b"x".as_slice()), &[]).unwrap();
            b.build().unwrap()
        };
        let mut log = PartitionLog::new(0, vec![0]);
        assert_eq!(log.append(&build(0, 0)).unwrap().base_offset, 0);
        assert_eq!(log.append(&build(1, 0)).unwrap().base_offset, 1);
        // A retried batch gets its first offset back and is not written twice.
        assert_eq!(log.append(&build(1, 0)).unwrap().base_offset, 1);
        assert_eq!(log.high_watermark(), 2);
        assert_eq!(
            log.append(&build(5, 0)),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(log.append(&build(0, 1)).unwrap().base_offset, 2);
        assert_eq!(
            log.append(&build(2, 0)),
            Err(ErrorCode::InvalidProducerEpoch)
        );
    }
}
