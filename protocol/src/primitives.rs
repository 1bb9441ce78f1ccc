//! Hand-written wire primitives: fixed-width ints, varints, (compact) strings,
//! bytes and arrays, UUIDs and tagged-field sections.
//!
//! Readers take `&mut Bytes` and advance it; they never panic and never
//! allocate more than the input can hold: every length is checked against the
//! remaining bytes before anything is reserved. Errors carry an empty field
//! name; callers add the field path with [`DecodeError::within`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

fn eof(needed: usize, remaining: usize) -> DecodeError {
    DecodeError::new("", DecodeErrorKind::UnexpectedEof { needed, remaining })
}

#[inline]
fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        Err(eof(n, buf.remaining()))
    } else {
        Ok(())
    }
}

macro_rules! fixed {
    ($read:ident, $write:ident, $t:ty, $get:ident, $put:ident, $n:expr) => {
        #[inline]
        pub fn $read(buf: &mut Bytes) -> Result<$t, DecodeError> {
            need(buf, $n)?;
            Ok(buf.$get())
        }
        #[inline]
        pub fn $write(buf: &mut BytesMut, v: $t) {
            buf.$put(v);
        }
    };
}

fixed!(read_i8, write_i8, i8, get_i8, put_i8, 1);
fixed!(read_i16, write_i16, i16, get_i16, put_i16, 2);
fixed!(read_u16, write_u16, u16, get_u16, put_u16, 2);
fixed!(read_i32, write_i32, i32, get_i32, put_i32, 4);
fixed!(read_u32, write_u32, u32, get_u32, put_u32, 4);
fixed!(read_i64, write_i64, i64, get_i64, put_i64, 8);
fixed!(read_f64, write_f64, f64, get_f64, put_f64, 8);

pub fn read_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(read_i8(buf)? != 0)
}

pub fn write_bool(buf: &mut BytesMut, v: bool) {
    buf.put_i8(v as i8);
}

/// Unsigned LEB128 varint of at most 5 bytes (32 bits).
pub fn read_unsigned_varint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let b = buf.get_u8();
        if i == 4 && b > 0x0f {
            return Err(DecodeError::new("", DecodeErrorKind::VarintTooLong));
        }
        value |= ((b & 0x7f) as u32) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::new("", DecodeErrorKind::VarintTooLong))
}

pub fn write_unsigned_varint(buf: &mut BytesMut, v: u32) {
    write_unsigned_varlong(buf, v as u64);
}

/// Unsigned LEB128 varlong of at most 10 bytes (64 bits).
pub fn read_unsigned_varlong(buf: &mut Bytes) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        need(buf, 1)?;
        let b = buf.get_u8();
        if i == 9 && b > 0x01 {
            return Err(DecodeError::new("", DecodeErrorKind::VarintTooLong));
        }
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::new("", DecodeErrorKind::VarintTooLong))
}

pub fn write_unsigned_varlong(buf: &mut BytesMut, v: u64) {
    // Encoding on the stack and copying once costs one capacity check
    // instead of one per byte.
    let mut scratch = [0u8; MAX_VARLONG_LEN];
    let n = encode_unsigned_varlong(v, &mut scratch);
    buf.put_slice(&scratch[..n]);
}

/// The most bytes an unsigned varlong takes (64 bits, 7 per byte).
pub const MAX_VARLONG_LEN: usize = 10;

/// Writes `v` as an unsigned LEB128 varlong at the start of `out` and returns
/// the number of bytes written (at most [`MAX_VARLONG_LEN`]; `out` must have
/// room for them, e.g. a `[u8; MAX_VARLONG_LEN]` or a slice sized with
/// [`varlong_len`]). For hot paths that encode into a slice.
pub fn encode_unsigned_varlong(mut v: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// [`encode_unsigned_varlong`] of the zigzag encoding of `v` (a record
/// varint or varlong: zigzag of an `i32` equals zigzag of it as `i64`).
pub fn encode_varlong(v: i64, out: &mut [u8]) -> usize {
    encode_unsigned_varlong(((v << 1) ^ (v >> 63)) as u64, out)
}

/// Zigzag-encoded signed varint (32 bits), as used inside record batches.
pub fn read_varint(buf: &mut Bytes) -> Result<i32, DecodeError> {
    let u = read_unsigned_varint(buf)?;
    Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
}

pub fn write_varint(buf: &mut BytesMut, v: i32) {
    write_unsigned_varint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Zigzag-encoded signed varlong (64 bits).
pub fn read_varlong(buf: &mut Bytes) -> Result<i64, DecodeError> {
    let u = read_unsigned_varlong(buf)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

pub fn write_varlong(buf: &mut BytesMut, v: i64) {
    write_unsigned_varlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Number of bytes `write_varint(v)` takes.
pub fn varint_len(v: i32) -> usize {
    unsigned_varint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// Number of bytes `write_varlong(v)` takes.
pub fn varlong_len(v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

pub fn unsigned_varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a length for a nullable item: `None` for null. `compact` lengths are
/// stored as unsigned varint N+1 (0 = null); classic lengths as `int16`
/// (strings) or `int32` (bytes, arrays) with -1 = null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenKind {
    Int16,
    Int32,
    Compact,
}

pub fn read_len(buf: &mut Bytes, kind: LenKind) -> Result<Option<usize>, DecodeError> {
    let raw: i64 = match kind {
        LenKind::Int16 => read_i16(buf)? as i64,
        LenKind::Int32 => read_i32(buf)? as i64,
        LenKind::Compact => read_unsigned_varint(buf)? as i64 - 1,
    };
    if raw == -1 {
        return Ok(None);
    }
    if raw < -1 {
        return Err(DecodeError::new("", DecodeErrorKind::InvalidLength(raw)));
    }
    Ok(Some(raw as usize))
}

pub fn write_len(buf: &mut BytesMut, kind: LenKind, len: Option<usize>) -> Result<(), EncodeError> {
    match (kind, len) {
        (LenKind::Int16, None) => buf.put_i16(-1),
        (LenKind::Int16, Some(n)) => {
            if n > i16::MAX as usize {
                return Err(EncodeError::new(
                    "",
                    format!("length {n} does not fit in int16"),
                ));
            }
            buf.put_i16(n as i16)
        }
        (LenKind::Int32, None) => buf.put_i32(-1),
        (LenKind::Int32, Some(n)) => {
            if n > i32::MAX as usize {
                return Err(EncodeError::new(
                    "",
                    format!("length {n} does not fit in int32"),
                ));
            }
            buf.put_i32(n as i32)
        }
        (LenKind::Compact, None) => write_unsigned_varint(buf, 0),
        (LenKind::Compact, Some(n)) => {
            if n >= u32::MAX as usize {
                return Err(EncodeError::new("", format!("length {n} too large")));
            }
            write_unsigned_varint(buf, n as u32 + 1)
        }
    }
    Ok(())
}

/// Takes `len` bytes as a zero-copy slice, checking the length first.
pub fn take_bytes(buf: &mut Bytes, len: usize) -> Result<Bytes, DecodeError> {
    if len > buf.remaining() {
        return Err(DecodeError::new(
            "",
            DecodeErrorKind::LengthExceedsInput {
                length: len as u64,
                remaining: buf.remaining(),
            },
        ));
    }
    Ok(buf.split_to(len))
}

fn utf8(b: Bytes) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::new("", DecodeErrorKind::InvalidUtf8))
}

/// String (int16 length) or compact string (varint length + 1).
pub fn read_nullable_string(buf: &mut Bytes, compact: bool) -> Result<Option<String>, DecodeError> {
    let kind = if compact {
        LenKind::Compact
    } else {
        LenKind::Int16
    };
    match read_len(buf, kind)? {
        None => Ok(None),
        Some(n) => Ok(Some(utf8(take_bytes(buf, n)?)?)),
    }
}

pub fn read_string(buf: &mut Bytes, compact: bool) -> Result<String, DecodeError> {
    read_nullable_string(buf, compact)?
        .ok_or_else(|| DecodeError::new("", DecodeErrorKind::UnexpectedNull))
}

pub fn write_nullable_string(
    buf: &mut BytesMut,
    compact: bool,
    s: Option<&str>,
) -> Result<(), EncodeError> {
    let kind = if compact {
        LenKind::Compact
    } else {
        LenKind::Int16
    };
    write_len(buf, kind, s.map(str::len))?;
    if let Some(s) = s {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

pub fn write_string(buf: &mut BytesMut, compact: bool, s: &str) -> Result<(), EncodeError> {
    write_nullable_string(buf, compact, Some(s))
}

/// Bytes (int32 length) or compact bytes (varint length + 1), zero-copy.
pub fn read_nullable_bytes(buf: &mut Bytes, compact: bool) -> Result<Option<Bytes>, DecodeError> {
    let kind = if compact {
        LenKind::Compact
    } else {
        LenKind::Int32
    };
    match read_len(buf, kind)? {
        None => Ok(None),
        Some(n) => Ok(Some(take_bytes(buf, n)?)),
    }
}

pub fn read_bytes(buf: &mut Bytes, compact: bool) -> Result<Bytes, DecodeError> {
    read_nullable_bytes(buf, compact)?
        .ok_or_else(|| DecodeError::new("", DecodeErrorKind::UnexpectedNull))
}

pub fn write_nullable_bytes(
    buf: &mut BytesMut,
    compact: bool,
    b: Option<&[u8]>,
) -> Result<(), EncodeError> {
    let kind = if compact {
        LenKind::Compact
    } else {
        LenKind::Int32
    };
    write_len(buf, kind, b.map(<[u8]>::len))?;
    if let Some(b) = b {
        buf.put_slice(b);
    }
    Ok(())
}

pub fn write_bytes(buf: &mut BytesMut, compact: bool, b: &[u8]) -> Result<(), EncodeError> {
    write_nullable_bytes(buf, compact, Some(b))
}

/// Reads an array length (int32 or compact) and checks it against the input:
/// every element takes at least `min_elem_size` bytes (at least 1 is assumed),
/// so a length the input cannot hold is an error before anything is allocated.
pub fn read_array_len(
    buf: &mut Bytes,
    compact: bool,
    min_elem_size: usize,
) -> Result<Option<usize>, DecodeError> {
    let kind = if compact {
        LenKind::Compact
    } else {
        LenKind::Int32
    };
    let len = read_len(buf, kind)?;
    if let Some(n) = len {
        let min = n.saturating_mul(min_elem_size.max(1));
        if min > buf.remaining() {
            return Err(DecodeError::new(
                "",
                DecodeErrorKind::LengthExceedsInput {
                    length: n as u64,
                    remaining: buf.remaining(),
                },
            ));
        }
    }
    Ok(len)
}

pub fn write_array_len(
    buf: &mut BytesMut,
    compact: bool,
    len: Option<usize>,
) -> Result<(), EncodeError> {
    let kind = if compact {
        LenKind::Compact
    } else {
        LenKind::Int32
    };
    write_len(buf, kind, len)
}

/// A 128-bit UUID (Kafka topic ids, member ids in KIP-848).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    pub const NIL: Uuid = Uuid([0; 16]);

    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    pub fn from_u128(v: u128) -> Uuid {
        Uuid(v.to_be_bytes())
    }

    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

pub fn read_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeError> {
    need(buf, 16)?;
    let mut u = [0u8; 16];
    buf.copy_to_slice(&mut u);
    Ok(Uuid(u))
}

pub fn write_uuid(buf: &mut BytesMut, u: &Uuid) {
    buf.put_slice(&u.0);
}

/// A tagged field the decoder did not recognise, kept so it round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    pub tag: u32,
    pub data: Bytes,
}

/// Reads the header of a tagged-field section: the number of fields. Each field
/// is then `tag` (uvarint), `size` (uvarint), `size` bytes; use
/// [`read_tagged_field`] for each.
pub fn read_tagged_count(buf: &mut Bytes) -> Result<usize, DecodeError> {
    let n = read_unsigned_varint(buf)? as usize;
    // Every tagged field takes at least two bytes (tag and size).
    if n.saturating_mul(2) > buf.remaining() {
        return Err(DecodeError::new(
            "",
            DecodeErrorKind::LengthExceedsInput {
                length: n as u64,
                remaining: buf.remaining(),
            },
        ));
    }
    Ok(n)
}

/// Reads one tagged field: its tag and its payload as a zero-copy slice.
pub fn read_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes), DecodeError> {
    let tag = read_unsigned_varint(buf)?;
    let size = read_unsigned_varint(buf)? as usize;
    Ok((tag, take_bytes(buf, size)?))
}

/// Writes one tagged field with its payload.
pub fn write_tagged_field(buf: &mut BytesMut, tag: u32, data: &[u8]) {
    write_unsigned_varint(buf, tag);
    write_unsigned_varint(buf, data.len() as u32);
    buf.put_slice(data);
}

/// Reads a tagged-field section keeping every field as raw bytes (for headers
/// and structs with no known tagged fields).
pub fn read_unknown_tagged_fields(buf: &mut Bytes) -> Result<Vec<RawTaggedField>, DecodeError> {
    let n = read_tagged_count(buf)?;
    // `n` is only checked against two bytes a field, and an entry takes 40:
    // grow past a few fields as they are actually read.
    let mut out = Vec::with_capacity(n.min(4));
    for _ in 0..n {
        let (tag, data) = read_tagged_field(buf)?;
        out.push(RawTaggedField { tag, data });
    }
    Ok(out)
}

/// Writes a tagged-field section of raw fields only.
pub fn write_unknown_tagged_fields(buf: &mut BytesMut, fields: &[RawTaggedField]) {
    write_unsigned_varint(buf, fields.len() as u32);
    for f in fields {
        write_tagged_field(buf, f.tag, &f.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_sizes() {
        for v in [0i32, 1, -1, 63, -64, 64, 300, -300, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            write_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "len of {v}");
            let mut r = b.freeze();
            assert_eq!(read_varint(&mut r).unwrap(), v);
            assert!(r.is_empty());
        }
        for v in [0i64, 1, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = BytesMut::new();
            write_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v));
            let mut r = b.freeze();
            assert_eq!(read_varlong(&mut r).unwrap(), v);
        }
    }

    #[test]
    fn encode_varlong_of_an_int_matches_write_varint() {
        // Record builders encode int varints through the 64-bit path.
        for v in [0i32, 1, -1, 63, -64, 64, 8191, -8192, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            write_varint(&mut b, v);
            let mut out = [0u8; MAX_VARLONG_LEN];
            let n = encode_varlong(v as i64, &mut out);
            assert_eq!(&out[..n], &b[..], "encoding of {v}");
        }
        let mut out = [0u8; MAX_VARLONG_LEN];
        assert_eq!(encode_unsigned_varlong(u64::MAX, &mut out), MAX_VARLONG_LEN);
    }

    #[test]
    fn zigzag_known_encodings() {
        let mut b = BytesMut::new();
        write_varint(&mut b, -1);
        write_varint(&mut b, 1);
        write_varint(&mut b, 150);
        assert_eq!(&b[..], &[0x01, 0x02, 0xac, 0x02]);
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            read_unsigned_varint(&mut b).unwrap_err().kind,
            DecodeErrorKind::VarintTooLong
        );
        let mut b = Bytes::from_static(&[0x80]);
        assert!(matches!(
            read_unsigned_varint(&mut b).unwrap_err().kind,
            DecodeErrorKind::UnexpectedEof { .. }
        ));
    }

    #[test]
    fn huge_array_length_is_rejected_without_allocation() {
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        let e = read_array_len(&mut b, false, 4).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::LengthExceedsInput { .. }));
    }

    #[test]
    fn strings_and_nulls() {
        let mut b = BytesMut::new();
        write_nullable_string(&mut b, false, None).unwrap();
        write_string(&mut b, true, "héllo").unwrap();
        write_nullable_bytes(&mut b, true, None).unwrap();
        let mut r = b.freeze();
        assert_eq!(read_nullable_string(&mut r, false).unwrap(), None);
        assert_eq!(read_string(&mut r, true).unwrap(), "héllo");
        assert_eq!(read_nullable_bytes(&mut r, true).unwrap(), None);
        assert!(r.is_empty());
        let mut bad = Bytes::from_static(&[0, 2, 0xff, 0xfe]);
        assert_eq!(
            read_string(&mut bad, false).unwrap_err().kind,
            DecodeErrorKind::InvalidUtf8
        );
        let mut neg = Bytes::from_static(&[0xff, 0xfe]);
        assert_eq!(
            read_string(&mut neg, false).unwrap_err().kind,
            DecodeErrorKind::InvalidLength(-2)
        );
    }

    #[test]
    fn uuid_display() {
        let u = Uuid::from_u128(0x0123456789abcdef0123456789abcdef);
        assert_eq!(u.to_string(), "01234567-89ab-cdef-0123-456789abcdef");
    }
}
