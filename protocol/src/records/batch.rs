//! One record batch: header fields read eagerly (fixed offsets, cheap), the
//! CRC checked once, records decoded lazily.

use bytes::Bytes;

use super::compression::{decompress, is_too_large, Compression};
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
                    let kind = if is_too_large(&m, self.max_decompressed_size) {
                        DecodeErrorKind::DecompressedTooLarge {
                            max: self.max_decompressed_size,
                        }
                    } else {
                        DecodeErrorKind::Compression(format!("{codec}: {m}"))
                    };
                    batch_error(self.base_offset, "records", kind)
                })?,
            ),
        };
        let log_append_time = match self.timestamp_type() {
            TimestampType::LogAppendTime => Some(self.max_timestamp),
            TimestampType::CreateTime => None,
        };
        Ok(Records {
            data,
            state: State {
                pos: 0,
                remaining: self.record_count as u32,
                index: 0,
                base_offset: self.base_offset,
                base_timestamp: self.base_timestamp,
                log_append_time,
                failed: false,
            },
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
///
/// Two ways to read: as an [`Iterator`] of owned [`Record`]s (keys, values
/// and header values are `Bytes` slices of the batch), or through
/// [`borrowed`](Records::borrowed), an iterator of [`RecordRef`]s of plain
/// `&[u8]` slices: no allocation and no reference counting per record, for
/// callers that deserialize straight from the bytes
/// ([`slice_ref`](Records::slice_ref) turns a slice into `Bytes` when one is
/// to be kept).
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    state: State,
}

/// Iteration state shared by [`Records`] and [`RecordRefs`].
#[derive(Debug, Clone)]
struct State {
    pos: usize,
    remaining: u32,
    index: u32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    failed: bool,
}

/// Iterator of borrowed records (see [`Records::borrowed`]).
#[derive(Debug, Clone)]
pub struct RecordRefs<'a> {
    data: &'a [u8],
    state: State,
}

/// A record borrowed from its batch's buffer (see [`Records::borrowed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
}

impl<'a> RecordRef<'a> {
    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers as `(key, value)` byte slices.
    pub fn headers(&self) -> HeaderRefs<'a> {
        HeaderRefs {
            cursor: Cursor::new(self.headers, 0),
            left: self.header_count,
        }
    }
}

/// Iterator over a [`RecordRef`]'s headers: `(key, value)`. The headers were
/// validated when the record was read.
#[derive(Debug, Clone)]
pub struct HeaderRefs<'a> {
    cursor: Cursor<'a>,
    left: u32,
}

impl<'a> Iterator for HeaderRefs<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let c = &mut self.cursor;
        let buf = c.buf;
        // Already validated by `Records::parse`; a failure here cannot
        // happen, and ends the iteration rather than panicking.
        let key_len = usize::try_from(c.varint().ok()?).ok()?;
        let key = buf.get(c.pos..c.pos.checked_add(key_len)?)?;
        c.pos += key_len;
        let value_len = c.varint().ok()?;
        let value = if value_len < 0 {
            None
        } else {
            let v = buf.get(c.pos..c.pos.checked_add(value_len as usize)?)?;
            c.pos += value_len as usize;
            Some(v)
        };
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Exact: the headers were validated when the record was read.
        (self.left as usize, Some(self.left as usize))
    }
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

/// One record's fields as positions in the records buffer.
struct RawRecord {
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
    headers: (usize, usize),
    header_count: u32,
    end: usize,
}

/// Reads a nullable length-prefixed field ending at or before the cursor's end.
#[inline]
fn nullable_range(c: &mut Cursor<'_>, field: &'static str) -> Result<Option<(usize, usize)>, Fail> {
    let len = rd!(c, varint, field);
    if len < 0 {
        if len == -1 {
            return Ok(None);
        }
        return Err(Fail(field, DecodeErrorKind::InvalidLength(len as i64)));
    }
    let len = len as usize;
    if len > c.remaining() {
        return Err(Fail(
            field,
            DecodeErrorKind::LengthExceedsInput {
                length: len as u64,
                remaining: c.remaining(),
            },
        ));
    }
    let start = c.pos;
    c.pos += len;
    Ok(Some((start, start + len)))
}

/// Reads and validates the record at `pos`; nothing is allocated.
#[inline]
fn parse_record(data: &[u8], pos: usize) -> Result<RawRecord, Fail> {
    let mut c = Cursor::new(data, pos);
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
    let mut c = Cursor::new(&data[..end], c.pos);
    let _attributes = rd!(c, u8, "attributes");
    let timestamp_delta = rd!(c, varlong, "timestampDelta");
    let offset_delta = rd!(c, varint, "offsetDelta");
    let key = nullable_range(&mut c, "key")?;
    let value = nullable_range(&mut c, "value")?;
    let header_count = rd!(c, varint, "headerCount");
    if header_count < 0 {
        return Err(Fail(
            "headerCount",
            DecodeErrorKind::InvalidLength(header_count as i64),
        ));
    }
    let headers_start = c.pos;
    for _ in 0..header_count {
        match nullable_range(&mut c, "headers.key")? {
            Some(_) => {}
            None => return Err(Fail("headers.key", DecodeErrorKind::UnexpectedNull)),
        }
        nullable_range(&mut c, "headers.value")?;
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
    Ok(RawRecord {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers: (headers_start, end),
        header_count: header_count as u32,
        end,
    })
}

/// Header keys are strings; like the Java client, invalid UTF-8 is replaced
/// rather than failing the whole fetch.
#[inline]
fn header_key(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

impl State {
    /// Steps past the next record of `data`, or says why not (`None` at the end).
    #[inline]
    fn advance(&mut self, data: &[u8]) -> Option<Result<RawRecord, DecodeError>> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            if self.pos < data.len() {
                let extra = data.len() - self.pos;
                return Some(Err(self.error("end", DecodeErrorKind::TrailingBytes(extra))));
            }
            return None;
        }
        match parse_record(data, self.pos) {
            Ok(raw) => {
                self.pos = raw.end;
                self.remaining -= 1;
                self.index += 1;
                Some(Ok(raw))
            }
            Err(Fail(field, kind)) => Some(Err(self.error(field, kind))),
        }
    }

    #[inline]
    fn offset_and_timestamp(&self, raw: &RawRecord) -> (i64, i64) {
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(raw.timestamp_delta),
        };
        (
            self.base_offset.wrapping_add(raw.offset_delta as i64),
            timestamp,
        )
    }

    fn size_hint(&self, len: usize) -> (usize, Option<usize>) {
        if self.failed {
            return (0, Some(0));
        }
        // Every record takes at least 7 bytes; the declared count may lie.
        let left = len.saturating_sub(self.pos) / 7;
        (0, Some((self.remaining as usize).min(left) + 1))
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

impl Records {
    /// Records not yet yielded, per the batch's declared count.
    pub fn remaining_count(&self) -> usize {
        self.state.remaining as usize
    }

    /// The records from the current position on, borrowed from the buffer
    /// (this iterator does not move; the borrowed one has its own position).
    pub fn borrowed(&self) -> RecordRefs<'_> {
        RecordRefs {
            data: &self.data,
            state: self.state.clone(),
        }
    }

    /// A zero-copy `Bytes` for a slice of a [`RecordRef`] from
    /// [`borrowed`](Records::borrowed), e.g. to keep one value.
    ///
    /// Returns `None` if `subset` is not part of this batch's buffer.
    pub fn slice_ref(&self, subset: &[u8]) -> Option<Bytes> {
        if subset.is_empty() {
            return Some(Bytes::new());
        }
        let base = self.data.as_ptr() as usize;
        let p = subset.as_ptr() as usize;
        if p < base || p + subset.len() > base + self.data.len() {
            return None;
        }
        Some(self.data.slice_ref(subset))
    }
}

impl<'a> Iterator for RecordRefs<'a> {
    type Item = Result<RecordRef<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        let raw = match self.state.advance(data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let (offset, timestamp) = self.state.offset_and_timestamp(&raw);
        Some(Ok(RecordRef {
            offset,
            timestamp,
            key: raw.key.map(|(s, e)| &data[s..e]),
            value: raw.value.map(|(s, e)| &data[s..e]),
            headers: &data[raw.headers.0..raw.headers.1],
            header_count: raw.header_count,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.state.size_hint(self.data.len())
    }
}

impl std::iter::FusedIterator for RecordRefs<'_> {}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.state.advance(&self.data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let (offset, timestamp) = self.state.offset_and_timestamp(&raw);
        let slice = |r: Option<(usize, usize)>| r.map(|(s, e)| self.data.slice(s..e));
        let headers = if raw.header_count == 0 {
            Vec::new()
        } else {
            let refs = HeaderRefs {
                cursor: Cursor::new(&self.data[raw.headers.0..raw.headers.1], 0),
                left: raw.header_count,
            };
            refs.map(|(k, v)| RecordHeader {
                key: header_key(k),
                value: v.map(|v| self.data.slice_ref(v)),
            })
            .collect()
        };
        Some(Ok(Record {
            offset,
            timestamp,
            key: slice(raw.key),
            value: slice(raw.value),
            headers,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.state.size_hint(self.data.len())
    }
}

impl std::iter::FusedIterator for Records {}
