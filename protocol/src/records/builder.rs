//! Writing record batches.

use bytes::{Bytes, BytesMut};

use super::batch::RecordHeader;
use super::compression::{compress, Compression};
use super::control::ControlRecord;
use super::{
    attributes, layout, TimestampType, CURRENT_MAGIC, LOG_OVERHEAD, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, RECORD_BATCH_OVERHEAD,
};
use crate::error::EncodeError;
use crate::primitives::{encode_varlong, varint_len, varlong_len};

/// Builds one record batch (magic 2), as the Java client's
/// `MemoryRecordsBuilder` does: append records, then [`build`](Self::build)
/// writes the header with the right length, attributes, timestamps and CRC,
/// compressing the records if a codec is set.
///
/// Records are encoded as they are appended, so
/// [`estimated_size_in_bytes`](Self::estimated_size_in_bytes) and
/// [`has_room_for`](Self::has_room_for) let a producer keep batches within
/// `batch.size`.
///
/// ```
/// use prozess_protocol::records::{Compression, MemoryRecordsBuilder, RecordBatches};
/// let mut b = MemoryRecordsBuilder::new(0, Compression::Lz4);
/// b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]).unwrap();
/// let bytes = b.build().unwrap();
/// let batch = RecordBatches::new(bytes).next().unwrap().unwrap();
/// assert_eq!(batch.records().unwrap().count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryRecordsBuilder {
    /// Header space (filled in by `build`) followed by the encoded records.
    buf: BytesMut,
    base_offset: i64,
    compression: Compression,
    compression_level: Option<i32>,
    timestamp_type: TimestampType,
    log_append_time: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    last_offset: Option<i64>,
    count: i32,
    estimated_compression_ratio: f32,
}

fn err(field: &str, message: impl Into<String>) -> EncodeError {
    EncodeError::new(format!("RecordBatch.{field}"), message)
}

fn nullable_len(len: Option<usize>) -> usize {
    match len {
        None => 1,
        Some(n) => varint_len(n as i32) + n,
    }
}

fn headers_len(headers: &[RecordHeader]) -> usize {
    headers
        .iter()
        .map(|h| nullable_len(Some(h.key.len())) + nullable_len(h.value.as_ref().map(|v| v.len())))
        .sum::<usize>()
        + varint_len(headers.len() as i32)
}

fn check_len(field: &str, len: Option<usize>) -> Result<(), EncodeError> {
    match len {
        Some(n) if n > i32::MAX as usize => Err(err(
            field,
            format!("{n} bytes do not fit in a record (limit {})", i32::MAX),
        )),
        _ => Ok(()),
    }
}

impl MemoryRecordsBuilder {
    /// A builder for a batch whose first record gets `base_offset` (0 for
    /// produce requests: the broker assigns the real offsets).
    pub fn new(base_offset: i64, compression: Compression) -> Self {
        let mut buf = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + 1024);
        buf.resize(RECORD_BATCH_OVERHEAD, 0);
        MemoryRecordsBuilder {
            buf,
            base_offset,
            compression,
            compression_level: None,
            timestamp_type: TimestampType::CreateTime,
            log_append_time: super::NO_TIMESTAMP,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            base_timestamp: None,
            max_timestamp: super::NO_TIMESTAMP,
            last_offset: None,
            count: 0,
            estimated_compression_ratio: 1.0,
        }
    }

    /// Reserves room for `bytes` of records up front (e.g. `batch.size`).
    pub fn with_capacity(mut self, bytes: usize) -> Self {
        self.buf.reserve(bytes);
        self
    }

    /// Sets the codec's level (gzip 0..=9, zstd 1..=22; ignored otherwise).
    pub fn compression_level(mut self, level: Option<i32>) -> Self {
        self.compression_level = level;
        self
    }

    /// Idempotent/transactional producer state: producer id, epoch and the
    /// sequence of the first record.
    pub fn producer_state(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Self {
        self.set_producer_state(producer_id, producer_epoch, base_sequence);
        self
    }

    /// Like [`producer_state`](Self::producer_state) on a builder in use: the
    /// Java producer assigns sequences only when a batch is drained.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as a control batch (see
    /// [`append_control_record`](Self::append_control_record)).
    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Writes a `LogAppendTime` batch: every record's timestamp reads as
    /// `append_time` (what a broker does for such topics).
    pub fn log_append_time(mut self, append_time: i64) -> Self {
        self.timestamp_type = TimestampType::LogAppendTime;
        self.log_append_time = append_time;
        self
    }

    /// Sets the base timestamp that record timestamps are stored relative to
    /// (default: the first record's timestamp). Only before the first append.
    pub fn base_timestamp(mut self, timestamp: i64) -> Self {
        if self.count == 0 {
            self.base_timestamp = Some(timestamp);
        }
        self
    }

    /// Expected compressed/uncompressed size ratio, used by
    /// [`estimated_size_in_bytes`](Self::estimated_size_in_bytes) for
    /// compressed batches (the Java producer keeps such an estimate per topic;
    /// 1.0, the default, never underestimates).
    pub fn estimated_compression_ratio(mut self, ratio: f32) -> Self {
        self.estimated_compression_ratio = ratio.clamp(0.01, 2.0);
        self
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Records appended so far.
    pub fn num_records(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The offset the next [`append`](Self::append) gets.
    pub fn next_offset(&self) -> i64 {
        self.last_offset.map_or(self.base_offset, |o| o + 1)
    }

    /// Header plus the encoded records, before compression.
    pub fn uncompressed_size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Size the built batch is expected to have: exact without compression,
    /// the records scaled by the estimated compression ratio otherwise.
    pub fn estimated_size_in_bytes(&self) -> usize {
        let records = self.buf.len() - RECORD_BATCH_OVERHEAD;
        match self.compression {
            Compression::None => self.buf.len(),
            _ => {
                RECORD_BATCH_OVERHEAD
                    + (records as f64 * self.estimated_compression_ratio as f64).ceil() as usize
            }
        }
    }

    /// An upper bound of the encoded size of one record (worst-case varints
    /// for its deltas).
    pub fn estimate_record_size(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> usize {
        // length (5) + attributes (1) + timestampDelta (10) + offsetDelta (5)
        5 + 1
            + 10
            + 5
            + nullable_len(key.map(<[u8]>::len))
            + nullable_len(value.map(<[u8]>::len))
            + headers_len(headers)
    }

    /// Whether a record fits without the batch growing past `batch_size`
    /// (estimated). An empty batch always has room, so a record larger than
    /// `batch_size` still gets its own batch, as in the Java producer.
    pub fn has_room_for(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
        batch_size: usize,
    ) -> bool {
        if self.count == 0 {
            return true;
        }
        let record = Self::estimate_record_size(key, value, headers);
        let record = match self.compression {
            Compression::None => record,
            _ => (record as f64 * self.estimated_compression_ratio as f64).ceil() as usize,
        };
        self.estimated_size_in_bytes() + record <= batch_size
    }

    /// Appends a record at the next offset; returns that offset.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<i64, EncodeError> {
        let offset = self.next_offset();
        self.append_with_offset(offset, timestamp, key, value, headers)?;
        Ok(offset)
    }

    /// Appends a record at `offset`, which must be above the previous
    /// record's and within `i32::MAX` of the base offset.
    pub fn append_with_offset(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<(), EncodeError> {
        if let Some(last) = self.last_offset {
            if offset <= last {
                return Err(err(
                    "records.offset",
                    format!("offset {offset} does not follow the previous offset {last}"),
                ));
            }
        }
        let delta = offset
            .checked_sub(self.base_offset)
            .filter(|d| (0..=i32::MAX as i64).contains(d))
            .ok_or_else(|| {
                err(
                    "records.offset",
                    format!(
                        "offset {offset} is not within 0..={} of base offset {}",
                        i32::MAX,
                        self.base_offset
                    ),
                )
            })? as i32;
        if self.count == i32::MAX {
            return Err(err("recordCount", "too many records"));
        }
        check_len("records.key", key.map(<[u8]>::len))?;
        check_len("records.value", value.map(<[u8]>::len))?;
        for h in headers {
            check_len("records.headers.key", Some(h.key.len()))?;
            check_len("records.headers.value", h.value.as_ref().map(|v| v.len()))?;
        }
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        let timestamp_delta = timestamp.checked_sub(base_timestamp).ok_or_else(|| {
            err(
                "records.timestamp",
                format!("timestamp {timestamp} too far from base timestamp {base_timestamp}"),
            )
        })?;

        let body_len = 1
            + varlong_len(timestamp_delta)
            + varint_len(delta)
            + nullable_len(key.map(<[u8]>::len))
            + nullable_len(value.map(<[u8]>::len))
            + headers_len(headers);
        if body_len > i32::MAX as usize {
            return Err(err("records.length", format!("record of {body_len} bytes")));
        }
        // The record's exact size is known, so grow the buffer once and fill
        // the new bytes through a cursor: per-byte `put_u8` calls each
        // re-check capacity, which dominated appending small records.
        let record_len = varint_len(body_len as i32) + body_len;
        let start = self.buf.len();
        self.buf.resize(start + record_len, 0);
        let mut out = RecordWriter {
            buf: &mut self.buf[start..],
            pos: 0,
        };
        out.varint(body_len as i32);
        out.byte(0); // record attributes: unused
        out.varlong(timestamp_delta);
        out.varint(delta);
        out.nullable(key);
        out.nullable(value);
        out.varint(headers.len() as i32);
        for h in headers {
            out.nullable(Some(h.key.as_bytes()));
            out.nullable(h.value.as_deref());
        }
        debug_assert_eq!(out.pos, record_len, "record size computed wrongly");

        self.max_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        self.last_offset = Some(offset);
        self.count += 1;
        Ok(())
    }

    /// Appends a control record (e.g. a transaction marker); the builder must
    /// have been made a control batch with [`control(true)`](Self::control).
    pub fn append_control_record(
        &mut self,
        timestamp: i64,
        record: &ControlRecord,
    ) -> Result<i64, EncodeError> {
        if !self.control {
            return Err(err(
                "attributes",
                "control records go only into a control batch (call control(true))",
            ));
        }
        let key = record.encode_key();
        let value = record.encode_value();
        self.append(timestamp, Some(&key), value.as_deref(), &[])
    }

    /// Writes the batch. An empty builder gives empty bytes (no batch), as
    /// the Java client's does.
    pub fn build(self) -> Result<Bytes, EncodeError> {
        if self.count == 0 {
            return Ok(Bytes::new());
        }
        let mut out = match self.compression {
            Compression::None => self.buf,
            codec => {
                let records = &self.buf[RECORD_BATCH_OVERHEAD..];
                let mut out =
                    BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
                out.resize(RECORD_BATCH_OVERHEAD, 0);
                compress(codec, self.compression_level, records, &mut out)
                    .map_err(|e| err("records", format!("{codec} compression failed: {e}")))?;
                out
            }
        };
        let length = out.len() - LOG_OVERHEAD;
        if length > i32::MAX as usize {
            return Err(err(
                "batchLength",
                format!("batch of {length} bytes is too large"),
            ));
        }
        let mut attrs = self.compression.id();
        if self.timestamp_type == TimestampType::LogAppendTime {
            attrs |= attributes::TIMESTAMP_TYPE;
        }
        if self.transactional {
            attrs |= attributes::TRANSACTIONAL;
        }
        if self.control {
            attrs |= attributes::CONTROL;
        }
        let max_timestamp = match self.timestamp_type {
            TimestampType::LogAppendTime => self.log_append_time,
            TimestampType::CreateTime => self.max_timestamp,
        };
        let last_offset_delta =
            (self.last_offset.unwrap_or(self.base_offset) - self.base_offset) as i32;
        let base_timestamp = self.base_timestamp.unwrap_or(super::NO_TIMESTAMP);

        let h = &mut out[..RECORD_BATCH_OVERHEAD];
        put_at(h, layout::BASE_OFFSET, &self.base_offset.to_be_bytes());
        put_at(h, layout::LENGTH, &(length as i32).to_be_bytes());
        put_at(
            h,
            layout::PARTITION_LEADER_EPOCH,
            &self.partition_leader_epoch.to_be_bytes(),
        );
        h[layout::MAGIC] = CURRENT_MAGIC as u8;
        put_at(h, layout::ATTRIBUTES, &attrs.to_be_bytes());
        put_at(
            h,
            layout::LAST_OFFSET_DELTA,
            &last_offset_delta.to_be_bytes(),
        );
        put_at(h, layout::BASE_TIMESTAMP, &base_timestamp.to_be_bytes());
        put_at(h, layout::MAX_TIMESTAMP, &max_timestamp.to_be_bytes());
        put_at(h, layout::PRODUCER_ID, &self.producer_id.to_be_bytes());
        put_at(
            h,
            layout::PRODUCER_EPOCH,
            &self.producer_epoch.to_be_bytes(),
        );
        put_at(h, layout::BASE_SEQUENCE, &self.base_sequence.to_be_bytes());
        put_at(h, layout::RECORD_COUNT, &self.count.to_be_bytes());
        let crc = crc32c::crc32c(&out[layout::ATTRIBUTES..]);
        put_at(&mut out, layout::CRC, &crc.to_be_bytes());
        Ok(out.freeze())
    }
}

fn put_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A cursor over the bytes reserved for one record (sized exactly by
/// `append_with_offset`, so writing past the end is a bug and panics).
struct RecordWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl RecordWriter<'_> {
    fn byte(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }

    fn varint(&mut self, v: i32) {
        self.varlong(v as i64);
    }

    fn varlong(&mut self, v: i64) {
        self.pos += encode_varlong(v, &mut self.buf[self.pos..]);
    }

    fn slice(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    fn nullable(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.varint(-1),
            Some(b) => {
                self.varint(b.len() as i32);
                self.slice(b);
            }
        }
    }
}
