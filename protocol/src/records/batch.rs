//! One record batch: header fields read eagerly (fixed offsets, cheap), the
//! CRC checked once, records decoded lazily.

use bytes::Bytes;

use super::compression::{decompress, Compression};
use super::control::ControlRecord;
use super::cursor::{be_i16, be_i32, be_i64, Cursor, ReadFail};
use super::{
    attributes, batch_error, layout, TimestampType, CURRENT_MAGIC, DEFAULT_MAX_DECOMPRESSED_SIZE,
    LOG_OVERHEAD, RECORD_BATCH_OVERHEAD,
};
use crate::error::{DecodeError, DecodeErrorKind};

/// A record header: a string key and a nullable byte value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeader {
    pub key: String,
    pub value: Option<Bytes>,
}

impl RecordHeader {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        RecordHeader {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// One record, with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub offset: i64,
    /// The record's timestamp (for `LogAppendTime` batches: the batch's max
    /// timestamp, the broker's append time).
    pub timestamp: i64,
    pub key: Option<Bytes>,
    /// `None` is a tombstone on a compacted topic.
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

/// A complete record batch (magic 2).
#[derive(Debug, Clone)]
pub struct RecordBatch {
    /// The whole batch, from baseOffset to its last byte.
    data: Bytes,
    base_offset: i64,
    partition_leader_epoch: i32,
    crc: u32,
    attributes: i16,
    compression: Compression,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
    max_decompressed_size: usize,
}

impl RecordBatch {
    /// Reads the batch that `data` holds exactly (baseOffset to the end of the
    /// batch; use [`super::RecordBatches`] to split a records blob). Checks
    /// the magic, the length and, if `check_crc`, the CRC32C.
    pub fn parse(data: Bytes, check_crc: bool) -> Result<RecordBatch, DecodeError> {
        if data.len() < LOG_OVERHEAD {
            return Err(batch_error(
                -1,
                "header",
                DecodeErrorKind::UnexpectedEof {
                    needed: LOG_OVERHEAD,
                    remaining: data.len(),
                },
            ));
        }
        let base_offset = be_i64(&data, layout::BASE_OFFSET);
        let length = be_i32(&data, layout::LENGTH);
        if length < 0 || LOG_OVERHEAD + length as usize != data.len() {
            return Err(batch_error(
                base_offset,
                "batchLength",
                DecodeErrorKind::InvalidValue(format!(
                    "batch length {length} does not match the {} bytes after the length field",
                    data.len() - LOG_OVERHEAD
                )),
            ));
        }
        if data.len() <= layout::MAGIC {
            return Err(batch_error(
                base_offset,
                "magic",
                DecodeErrorKind::UnexpectedEof {
                    needed: layout::MAGIC + 1,
                    remaining: data.len(),
                },
            ));
        }
        let magic = data[layout::MAGIC] as i8;
        if magic != CURRENT_MAGIC {
            // v0/v1 message sets (pre-0.11) share the offset/length/magic
            // positions, so this is where they are told apart. Kafka 4.0
            // removed them; brokers convert on fetch only for old clients.
            return Err(batch_error(
                base_offset,
                "magic",
                DecodeErrorKind::InvalidValue(format!(
                    "unsupported record format magic {magic}: only magic 2 record batches \
                     are supported (message format v0/v1 was removed in Kafka 4.0)"
                )),
            ));
        }
        if data.len() < RECORD_BATCH_OVERHEAD {
            return Err(batch_error(
                base_offset,
                "header",
                DecodeErrorKind::UnexpectedEof {
                    needed: RECORD_BATCH_OVERHEAD,
                    remaining: data.len(),
                },
            ));
        }
        let crc = be_i32(&data, layout::CRC) as u32;
        if check_crc {
            let computed = crc32c::crc32c(&data[layout::ATTRIBUTES..]);
            if computed != crc {
                return Err(batch_error(
                    base_offset,
                    "crc",
                    DecodeErrorKind::CrcMismatch {
                        expected: crc,
                        computed,
                    },
                ));
            }
        }
        let attrs = be_i16(&data, layout::ATTRIBUTES);
        let codec = attrs & attributes::COMPRESSION_MASK;
        let compression = Compression::from_id(codec).ok_or_else(|| {
            batch_error(
                base_offset,
                "attributes",
                DecodeErrorKind::InvalidValue(format!("unknown compression codec id {codec}")),
            )
        })?;
        let record_count = be_i32(&data, layout::RECORD_COUNT);
        if record_count < 0 {
            return Err(batch_error(
                base_offset,
                "recordCount",
                DecodeErrorKind::InvalidLength(record_count as i64),
            ));
        }
        let last_offset_delta = be_i32(&data, layout::LAST_OFFSET_DELTA);
        if last_offset_delta < 0 {
            return Err(batch_error(
                base_offset,
                "lastOffsetDelta",
                DecodeErrorKind::InvalidValue(format!(
                    "negative last offset delta {last_offset_delta}"
                )),
            ));
        }
        Ok(RecordBatch {
            base_offset,
            partition_leader_epoch: be_i32(&data, layout::PARTITION_LEADER_EPOCH),
            crc,
            attributes: attrs,
            compression,
            last_offset_delta,
            base_timestamp: be_i64(&data, layout::BASE_TIMESTAMP),
            max_timestamp: be_i64(&data, layout::MAX_TIMESTAMP),
            producer_id: be_i64(&data, layout::PRODUCER_ID),
            producer_epoch: be_i16(&data, layout::PRODUCER_EPOCH),
            base_sequence: be_i32(&data, layout::BASE_SEQUENCE),
            record_count,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            data,
        })
    }

    /// Bounds the decompressed size of this batch's records (default
    /// [`DEFAULT_MAX_DECOMPRESSED_SIZE`]); a batch that inflates past it
    /// fails to iterate with a `Compression` error.
    pub fn set_max_decompressed_size(&mut self, max: usize) {
        self.max_decompressed_size = max;
    }

    /// Offset of the first record (as written; compaction may have removed it).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Offset of the last record the batch was written with.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// The offset after this batch: where the next fetch continues.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    pub fn last_offset_delta(&self) -> i32 {
        self.last_offset_delta
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        self.partition_leader_epoch
    }

    /// Always 2 (other formats are refused by [`RecordBatch::parse`]).
    pub fn magic(&self) -> i8 {
        CURRENT_MAGIC
    }

    /// The CRC stored in the batch.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// Recomputes the CRC32C over attributes..end.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.data[layout::ATTRIBUTES..])
    }

    /// Whether the stored CRC matches the contents.
    pub fn is_valid(&self) -> bool {
        self.compute_crc() == self.crc
    }

    /// The raw attributes field.
    pub fn attributes(&self) -> i16 {
        self.attributes
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & attributes::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & attributes::TRANSACTIONAL != 0
    }

    /// Whether this is a control batch (transaction markers and the like).
    pub fn is_control(&self) -> bool {
        self.attributes & attributes::CONTROL != 0
    }

    /// Whether baseTimestamp holds a delete horizon (set by compaction, KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & attributes::DELETE_HORIZON != 0
    }

    /// The delete horizon, when [`has_delete_horizon`](Self::has_delete_horizon).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }

    /// Sequence of the last record (-1 when the batch has no sequence);
    /// sequences wrap at `i32::MAX` as in the Java client.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }

    /// The record count the header declares.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Size of the whole batch on the wire.
    pub fn size_in_bytes(&self) -> usize {
        self.data.len()
    }

    /// The batch as it is on the wire (zero-copy).
    pub fn as_bytes(&self) -> &Bytes {
        &self.data
    }

    /// The records, decoded lazily. For a compressed batch this decompresses
    /// once (bounded by the decompressed-size limit); an uncompressed batch's
    /// records are zero-copy slices of the batch.
    pub fn records(&self) -> Result<Records, DecodeError> {
        let section = self.data.slice(layout::RECORDS..);
        let data = match self.compression {
            Compression::None => section,
            codec => Bytes::from(
                decompress(codec, &section, self.max_decompressed_size).map_err(|m| {
                    batch_error(
                        self.base_offset,
                        "records",
                        DecodeErrorKind::Compression(format!("{codec}: {m}")),
                    )
                })?,
            ),
        };
        let log_append_time = match self.timestamp_type() {
            TimestampType::LogAppendTime => Some(self.max_timestamp),
            TimestampType::CreateTime => None,
        };
        Ok(Records {
            data,
            pos: 0,
            remaining: self.record_count as u32,
            index: 0,
            base_offset: self.base_offset,
            base_timestamp: self.base_timestamp,
            log_append_time,
            failed: false,
        })
    }

    /// For a control batch: its control record (the first record). `None`
    /// for data batches.
    pub fn control_record(&self) -> Result<Option<ControlRecord>, DecodeError> {
        if !self.is_control() {
            return Ok(None);
        }
        let first = self.records()?.next().ok_or_else(|| {
            batch_error(
                self.base_offset,
                "records",
                DecodeErrorKind::InvalidValue("control batch without a record".into()),
            )
        })??;
        ControlRecord::from_record(&first)
            .map(Some)
            .map_err(|e| e.within(&format!("RecordBatch@{}", self.base_offset)))
    }
}

/// Lazy iterator over a batch's records. Yields `Err` once on corrupt input
/// (the field path names the batch and the record index) and then stops;
/// also an error: bytes left after the declared record count.
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    pos: usize,
    remaining: u32,
    index: u32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    failed: bool,
}

/// Where a record read failed (field name and why).
struct Fail(&'static str, DecodeErrorKind);

#[cold]
fn read_fail(field: &'static str, f: ReadFail, remaining: usize) -> Fail {
    match f {
        ReadFail::Eof => Fail(
            field,
            DecodeErrorKind::UnexpectedEof {
                needed: 1,
                remaining,
            },
        ),
        ReadFail::VarintTooLong => Fail(field, DecodeErrorKind::VarintTooLong),
    }
}

macro_rules! rd {
    ($c:expr, $m:ident, $field:expr) => {
        match $c.$m() {
            Ok(v) => v,
            Err(f) => return Err(read_fail($field, f, $c.remaining())),
        }
    };
}

impl Records {
    /// Records not yet yielded, per the batch's declared count.
    pub fn remaining_count(&self) -> usize {
        self.remaining as usize
    }

    /// Reads a nullable length-prefixed slice ending at or before `end`.
    #[inline]
    fn nullable_slice(
        &self,
        c: &mut Cursor<'_>,
        end: usize,
        field: &'static str,
    ) -> Result<Option<Bytes>, Fail> {
        let len = rd!(c, varint, field);
        if len < 0 {
            if len == -1 {
                return Ok(None);
            }
            return Err(Fail(field, DecodeErrorKind::InvalidLength(len as i64)));
        }
        let len = len as usize;
        if len > end - c.pos {
            return Err(Fail(
                field,
                DecodeErrorKind::LengthExceedsInput {
                    length: len as u64,
                    remaining: end - c.pos,
                },
            ));
        }
        let start = c.pos;
        c.pos += len;
        Ok(Some(self.data.slice(start..start + len)))
    }

    fn read_record(&mut self) -> Result<Record, Fail> {
        let mut c = Cursor::new(&self.data, self.pos);
        let len = rd!(c, varint, "length");
        if len < 0 {
            return Err(Fail("length", DecodeErrorKind::InvalidLength(len as i64)));
        }
        let len = len as usize;
        if len > c.remaining() {
            return Err(Fail(
                "length",
                DecodeErrorKind::LengthExceedsInput {
                    length: len as u64,
                    remaining: c.remaining(),
                },
            ));
        }
        let end = c.pos + len;
        // Bound every read below by the record's own length.
        let mut c = Cursor::new(&self.data[..end], c.pos);
        let _attributes = rd!(c, u8, "attributes");
        let timestamp_delta = rd!(c, varlong, "timestampDelta");
        let offset_delta = rd!(c, varint, "offsetDelta");
        let key = self.nullable_slice(&mut c, end, "key")?;
        let value = self.nullable_slice(&mut c, end, "value")?;
        let header_count = rd!(c, varint, "headerCount");
        if header_count < 0 {
            return Err(Fail(
                "headerCount",
                DecodeErrorKind::InvalidLength(header_count as i64),
            ));
        }
        let header_count = header_count as usize;
        // A header takes at least 2 bytes (two one-byte lengths), so a count
        // the record cannot hold is refused before allocating for it.
        if header_count > c.remaining() / 2 {
            return Err(Fail(
                "headerCount",
                DecodeErrorKind::LengthExceedsInput {
                    length: header_count as u64,
                    remaining: c.remaining(),
                },
            ));
        }
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let key_len = rd!(c, varint, "headers.key");
            if key_len < 0 || key_len as usize > end - c.pos {
                return Err(Fail(
                    "headers.key",
                    if key_len < 0 {
                        DecodeErrorKind::InvalidLength(key_len as i64)
                    } else {
                        DecodeErrorKind::LengthExceedsInput {
                            length: key_len as u64,
                            remaining: end - c.pos,
                        }
                    },
                ));
            }
            let kb = &self.data[c.pos..c.pos + key_len as usize];
            c.pos += key_len as usize;
            // Lenient like the Java client: invalid UTF-8 in a header key is
            // replaced rather than failing the whole fetch.
            let key = String::from_utf8_lossy(kb).into_owned();
            let value = self.nullable_slice(&mut c, end, "headers.value")?;
            headers.push(RecordHeader { key, value });
        }
        if c.pos != end {
            return Err(Fail(
                "length",
                DecodeErrorKind::InvalidValue(format!(
                    "record length {len} but its fields end {} bytes early",
                    end - c.pos
                )),
            ));
        }
        self.pos = end;
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(timestamp_delta),
        };
        Ok(Record {
            offset: self.base_offset.wrapping_add(offset_delta as i64),
            timestamp,
            key,
            value,
            headers,
        })
    }

    #[cold]
    fn error(&mut self, field: &str, kind: DecodeErrorKind) -> DecodeError {
        self.failed = true;
        batch_error(
            self.base_offset,
            &format!("records[{}].{field}", self.index),
            kind,
        )
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            if self.pos < self.data.len() {
                let extra = self.data.len() - self.pos;
                return Some(Err(self.error("end", DecodeErrorKind::TrailingBytes(extra))));
            }
            return None;
        }
        match self.read_record() {
            Ok(r) => {
                self.remaining -= 1;
                self.index += 1;
                Some(Ok(r))
            }
            Err(Fail(field, kind)) => Some(Err(self.error(field, kind))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            return (0, Some(0));
        }
        // Every record takes at least 7 bytes; the declared count may lie.
        let left = (self.data.len() - self.pos) / 7;
        (0, Some((self.remaining as usize).min(left) + 1))
    }
}

impl std::iter::FusedIterator for Records {}
