//! Slice readers for the hot record-decoding path.
//!
//! The records loop reads many small varints; doing that on a `&[u8]` with an
//! index is much cheaper than advancing a `Bytes` through `Buf`. Every read
//! is bounds-checked and returns `None` when the input ends or a varint is
//! too long; callers turn that into a `DecodeError` naming the field.

/// Big-endian i64 at `at`. The caller has checked the length.
#[inline]
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Big-endian i32 at `at`. The caller has checked the length.
#[inline]
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

/// Big-endian i16 at `at`. The caller has checked the length.
#[inline]
pub(crate) fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Why a cursor read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFail {
    Eof,
    VarintTooLong,
}

/// A read position in a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, ReadFail> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(ReadFail::Eof),
        }
    }

    /// Unsigned LEB128 of at most 5 bytes.
    #[inline]
    pub fn uvarint(&mut self) -> Result<u32, ReadFail> {
        // Fast path: one byte (small lengths, deltas and counts).
        let b = self.u8()?;
        if b & 0x80 == 0 {
            return Ok(b as u32);
        }
        let mut value = (b & 0x7f) as u32;
        for i in 1..5 {
            let b = self.u8()?;
            if i == 4 && b > 0x0f {
                return Err(ReadFail::VarintTooLong);
            }
            value |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReadFail::VarintTooLong)
    }

    /// Unsigned LEB128 of at most 10 bytes.
    #[inline]
    pub fn uvarlong(&mut self) -> Result<u64, ReadFail> {
        let b = self.u8()?;
        if b & 0x80 == 0 {
            return Ok(b as u64);
        }
        let mut value = (b & 0x7f) as u64;
        for i in 1..10 {
            let b = self.u8()?;
            if i == 9 && b > 0x01 {
                return Err(ReadFail::VarintTooLong);
            }
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReadFail::VarintTooLong)
    }

    /// Zigzag varint (i32).
    #[inline]
    pub fn varint(&mut self) -> Result<i32, ReadFail> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Zigzag varlong (i64).
    #[inline]
    pub fn varlong(&mut self) -> Result<i64, ReadFail> {
        let u = self.uvarlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{write_varint, write_varlong};
    use bytes::BytesMut;

    #[test]
    fn matches_primitives_encoding() {
        let ints = [0, 1, -1, 63, -64, 64, 8191, -8192, i32::MAX, i32::MIN];
        let longs = [0, -1, 1 << 40, i64::MAX, i64::MIN];
        let mut b = BytesMut::new();
        for v in ints {
            write_varint(&mut b, v);
        }
        for v in longs {
            write_varlong(&mut b, v);
        }
        let mut c = Cursor::new(&b, 0);
        for v in ints {
            assert_eq!(c.varint(), Ok(v));
        }
        for v in longs {
            assert_eq!(c.varlong(), Ok(v));
        }
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.varint(), Err(ReadFail::Eof));
    }

    #[test]
    fn overlong_varints_fail() {
        let five = [0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(
            Cursor::new(&five, 0).uvarint(),
            Err(ReadFail::VarintTooLong)
        );
        let ten = [0xff; 10];
        assert_eq!(
            Cursor::new(&ten, 0).uvarlong(),
            Err(ReadFail::VarintTooLong)
        );
        assert_eq!(Cursor::new(&[0x80, 0x80], 0).uvarint(), Err(ReadFail::Eof));
    }
}
