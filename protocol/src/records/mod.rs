//! Record batches, magic 2 (Kafka 0.11+; the only format Kafka 4.0 keeps).
//!
//! Layout of one batch (big-endian, `varint`s are zigzag):
//!
//! ```text
//! baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2)
//! | crc uint32 (CRC32C of attributes..end) | attributes int16 | lastOffsetDelta int32
//! | baseTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16
//! | baseSequence int32 | recordCount int32 | records (compressed as one block if any codec)
//! record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
//!         | keyLength varint | key | valueLength varint | value
//!         | headerCount varint | (keyLength varint | key | valueLength varint | value)*
//! ```
//!
//! Reading is lazy: [`RecordBatches`] splits a records blob (the `records`
//! field of a Fetch response partition or a Produce request) into
//! [`RecordBatch`]es, checking each batch's CRC once; a batch's [`Record`]s are
//! decoded only when iterated. For uncompressed batches, keys, values and
//! header values are zero-copy [`Bytes`] slices of the input; a compressed
//! batch is decompressed once (bounded by a size limit) into a new buffer that
//! its records then slice.
//!
//! Writing goes through [`MemoryRecordsBuilder`].
//!
//! ```
//! use bytes::Bytes;
//! use prozess_protocol::records::{Compression, MemoryRecordsBuilder, RecordBatches, RecordHeader};
//!
//! let mut builder = MemoryRecordsBuilder::new(42, Compression::Zstd).producer_state(7, 0, 0);
//! builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[RecordHeader::new("h", "x")])?;
//! builder.append(1_700_000_000_001, None, None, &[])?; // null key, tombstone
//! let records: Bytes = builder.build()?;
//!
//! // A consumer: batches of one partition, errors naming topic-partition@offset.
//! for batch in RecordBatches::new(records).for_partition("orders", 0) {
//!     let batch = batch?;
//!     assert_eq!((batch.base_offset(), batch.compression()), (42, Compression::Zstd));
//!     for record in batch.records()? {
//!         let record = record?;
//!         assert!(record.offset == 42 || record.value.is_none());
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod builder;
mod compression;
mod control;
mod cursor;

use std::fmt;

use bytes::Bytes;

use crate::error::{DecodeError, DecodeErrorKind};

pub use batch::{HeaderRefs, Record, RecordBatch, RecordHeader, RecordRef, RecordRefs, Records};
pub use builder::MemoryRecordsBuilder;
pub use compression::{compress, decompress, is_too_large, Compression};
pub use control::{ControlRecord, ControlRecordType};

/// The only record batch format prozess reads and writes.
pub const CURRENT_MAGIC: i8 = 2;

/// Bytes before the batch length counts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;

/// Size of a batch header up to and including the record count.
pub const RECORD_BATCH_OVERHEAD: usize = 61;

/// Default bound on the decompressed size of one batch: a batch whose records
/// inflate past this is an error
/// ([`DecodeErrorKind::DecompressedTooLarge`](crate::DecodeErrorKind::DecompressedTooLarge))
/// rather than an unbounded allocation. Readers set their own bound with
/// [`RecordBatches::max_decompressed_size`]; the consumer derives it from its
/// fetch sizes (`ConsumerConfig::max_decompressed_batch_bytes`).
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 * 1024 * 1024;

/// "No timestamp", as Kafka writes it.
pub const NO_TIMESTAMP: i64 = -1;
/// "No producer id" (non-idempotent producers).
pub const NO_PRODUCER_ID: i64 = -1;
/// "No producer epoch".
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// "No sequence".
pub const NO_SEQUENCE: i32 = -1;
/// "No partition leader epoch" (what producers write; the broker fills it in).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Byte offsets inside a batch, counted from the start of baseOffset.
pub(crate) mod layout {
    pub const BASE_OFFSET: usize = 0;
    pub const LENGTH: usize = 8;
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    pub const MAGIC: usize = 16;
    pub const CRC: usize = 17;
    pub const ATTRIBUTES: usize = 21;
    pub const LAST_OFFSET_DELTA: usize = 23;
    pub const BASE_TIMESTAMP: usize = 27;
    pub const MAX_TIMESTAMP: usize = 35;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORD_COUNT: usize = 57;
    pub const RECORDS: usize = 61;
}

/// Attribute bits of a batch.
pub(crate) mod attributes {
    pub const COMPRESSION_MASK: i16 = 0x07;
    pub const TIMESTAMP_TYPE: i16 = 0x08;
    pub const TRANSACTIONAL: i16 = 0x10;
    pub const CONTROL: i16 = 0x20;
    pub const DELETE_HORIZON: i16 = 0x40;
}

/// How a batch's timestamps were set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (the record's own timestamp).
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch (topic config
    /// `message.timestamp.type=LogAppendTime`); every record's timestamp is
    /// then the batch's max timestamp.
    LogAppendTime,
}

impl TimestampType {
    /// The Java client's name (`CreateTime`, `LogAppendTime`).
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Splits a records blob into record batches.
///
/// Yields `Ok(batch)` for each complete batch; stops silently at a trailing
/// partial batch (brokers cut the last batch at `max.partition.fetch.bytes` /
/// `fetch.max.bytes`), which [`RecordBatches::has_partial_batch`] reports
/// afterwards. A corrupt batch yields one `Err` whose field names the batch's
/// base offset (`RecordBatch@<offset>.<field>`), and iteration ends there:
/// after a corrupt length nothing later can be trusted.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    buf: Bytes,
    check_crc: bool,
    max_decompressed_size: usize,
    done: bool,
    partial: bool,
}

impl RecordBatches {
    /// Iterates the batches of `records`, with CRC checks on.
    pub fn new(records: Bytes) -> Self {
        RecordBatches {
            buf: records,
            check_crc: true,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            done: false,
            partial: false,
        }
    }

    /// Turns the per-batch CRC32C check on or off (the Java consumer's
    /// `check.crcs`; on by default).
    pub fn check_crcs(mut self, check: bool) -> Self {
        self.check_crc = check;
        self
    }

    /// Sets the decompressed-size bound handed to every batch (see
    /// [`RecordBatch::set_max_decompressed_size`]).
    pub fn max_decompressed_size(mut self, max: usize) -> Self {
        self.max_decompressed_size = max;
        self
    }

    /// The bytes not consumed yet (after the iteration ended: the partial
    /// batch, or the corrupt one and everything after it).
    pub fn remaining(&self) -> &Bytes {
        &self.buf
    }

    /// True once the iteration stopped at an incomplete trailing batch.
    pub fn has_partial_batch(&self) -> bool {
        self.partial
    }

    /// Base offset of the next batch, if at least its first 8 bytes are there.
    pub fn next_base_offset(&self) -> Option<i64> {
        if self.buf.len() >= 8 {
            Some(cursor::be_i64(&self.buf, 0))
        } else {
            None
        }
    }

    /// Attaches a topic and partition so errors come out as [`BatchError`]s
    /// that name them.
    pub fn for_partition(self, topic: impl Into<String>, partition: i32) -> PartitionBatches {
        PartitionBatches {
            inner: self,
            topic: topic.into(),
            partition,
        }
    }

    fn fail(&mut self, err: DecodeError) -> Option<Result<RecordBatch, DecodeError>> {
        self.done = true;
        Some(Err(err))
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let remaining = self.buf.len();
        if remaining < LOG_OVERHEAD {
            self.done = true;
            self.partial = remaining > 0;
            return None;
        }
        let base_offset = cursor::be_i64(&self.buf, layout::BASE_OFFSET);
        let length = cursor::be_i32(&self.buf, layout::LENGTH);
        if length < 0 {
            return self.fail(batch_error(
                base_offset,
                "batchLength",
                DecodeErrorKind::InvalidLength(length as i64),
            ));
        }
        let total = LOG_OVERHEAD + length as usize;
        if remaining < total {
            // The broker cut the batch at the end of the response.
            self.done = true;
            self.partial = true;
            return None;
        }
        let data = self.buf.split_to(total);
        match RecordBatch::parse(data, self.check_crc) {
            Ok(mut batch) => {
                batch.set_max_decompressed_size(self.max_decompressed_size);
                Some(Ok(batch))
            }
            Err(e) => self.fail(e),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            // Every complete batch takes at least RECORD_BATCH_OVERHEAD
            // bytes; one more item may be an error.
            (0, Some(self.buf.len() / RECORD_BATCH_OVERHEAD + 1))
        }
    }
}

impl std::iter::FusedIterator for RecordBatches {}

/// [`RecordBatches`] of one topic partition: errors are [`BatchError`]s.
#[derive(Debug, Clone)]
pub struct PartitionBatches {
    inner: RecordBatches,
    topic: String,
    partition: i32,
}

impl PartitionBatches {
    /// See [`RecordBatches::has_partial_batch`].
    pub fn has_partial_batch(&self) -> bool {
        self.inner.has_partial_batch()
    }

    /// See [`RecordBatches::remaining`].
    pub fn remaining(&self) -> &Bytes {
        self.inner.remaining()
    }
}

impl Iterator for PartitionBatches {
    type Item = Result<RecordBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.inner.next_base_offset().unwrap_or(-1);
        match self.inner.next()? {
            Ok(b) => Some(Ok(b)),
            Err(error) => Some(Err(BatchError {
                topic: self.topic.clone(),
                partition: self.partition,
                offset,
                error,
            })),
        }
    }
}

impl std::iter::FusedIterator for PartitionBatches {}

/// A record batch that could not be read, with where it was: topic,
/// partition and the batch's base offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    pub topic: String,
    pub partition: i32,
    /// Base offset of the batch (as its header says; -1 if not even that
    /// could be read).
    pub offset: i64,
    pub error: DecodeError,
}

impl BatchError {
    /// Wraps an error from a batch (e.g. from iterating its records) with
    /// where that batch came from.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64, error: DecodeError) -> Self {
        BatchError {
            topic: topic.into(),
            partition,
            offset,
            error,
        }
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt record batch in {}-{} at offset {}: {}",
            self.topic, self.partition, self.offset, self.error
        )
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// An error about the batch starting at `base_offset`, field path
/// `RecordBatch@<base_offset>.<field>`.
#[cold]
pub(crate) fn batch_error(base_offset: i64, field: &str, kind: DecodeErrorKind) -> DecodeError {
    DecodeError::new(format!("RecordBatch@{base_offset}.{field}"), kind)
}
