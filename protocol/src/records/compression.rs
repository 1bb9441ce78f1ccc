//! Compression codecs of record batches: gzip, snappy (raw and xerial
//! framing), lz4 (frame format) and zstd, each with a bound on the
//! decompressed size so a small malicious batch cannot make us allocate
//! without limit.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

/// The compression codec of a record batch (attribute bits 0..2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec for the id stored in a batch's attributes.
    pub fn from_id(id: i16) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The id stored in a batch's attributes.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name used by `compression.type` (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a `compression.type` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCompression(pub String);

impl fmt::Display for UnknownCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown compression type {:?} (accepted: none, gzip, snappy, lz4, zstd)",
            self.0
        )
    }
}

impl std::error::Error for UnknownCompression {}

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCompression(s.to_string()))
    }
}

/// The header the Java producer (snappy-java's `SnappyOutputStream`) puts in
/// front of its snappy blocks: magic, then version 1 and compatible version 1.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// Bound on snappy's expansion ratio (see `snappy_block`).
const SNAPPY_MAX_RATIO: usize = 32;
/// snappy-java's default block size, so our framing looks like the Java producer's.
const XERIAL_BLOCK: usize = 32 * 1024;

/// Compresses `input` with `codec`, appending to `out`. `level` applies to
/// gzip (0..=9, default 6) and zstd (1..=22, default 3) and is ignored by
/// snappy and lz4. `Compression::None` copies.
///
/// Snappy is written with the xerial framing, as the Java producer does
/// (every Kafka client reads it); lz4 as an LZ4 frame with independent 64 KiB
/// blocks, which the Java client requires.
pub fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> io::Result<()> {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let level = level.map_or(flate2::Compression::default(), |l| {
                flate2::Compression::new(l.clamp(0, 9) as u32)
            });
            let mut enc = flate2::write::GzEncoder::new(out.writer(), level);
            enc.write_all(input)?;
            enc.finish()?;
        }
        Compression::Snappy => {
            out.reserve(XERIAL_HEADER_LEN + snap::raw::max_compress_len(input.len()) + 64);
            out.put_slice(&XERIAL_MAGIC);
            out.put_i32(1);
            out.put_i32(1);
            let mut enc = snap::raw::Encoder::new();
            for chunk in input.chunks(XERIAL_BLOCK) {
                let start = out.len();
                let max = snap::raw::max_compress_len(chunk.len());
                out.resize(start + 4 + max, 0);
                let n = enc
                    .compress(chunk, &mut out[start + 4..])
                    .map_err(io::Error::other)?;
                out[start..start + 4].copy_from_slice(&(n as u32).to_be_bytes());
                out.truncate(start + 4 + n);
            }
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out.writer());
            enc.write_all(input)?;
            enc.finish().map_err(io::Error::other)?;
        }
        Compression::Zstd => {
            let level = level.unwrap_or(zstd::DEFAULT_COMPRESSION_LEVEL);
            let mut enc = zstd::stream::write::Encoder::new(out.writer(), level)?;
            enc.set_pledged_src_size(Some(input.len() as u64))?;
            enc.write_all(input)?;
            enc.finish()?;
        }
    }
    Ok(())
}

/// Decompresses `input`, returning at most `max` bytes; more is an error (the
/// message says so), as is any corrupt input. The output is never allocated
/// from a size the input claims without checking it against `max` first.
///
/// Snappy input may be raw (librdkafka) or xerial-framed (the Java producer).
pub fn decompress(codec: Compression, input: &[u8], max: usize) -> Result<Vec<u8>, String> {
    // A first guess for the output: compressed record data typically inflates
    // 2-5x; `read_to_end` grows from there if needed.
    // Capped so a large batch does not reserve its worst case up front.
    let hint = input.len().saturating_mul(4).min(max).min(8 << 20);
    match codec {
        Compression::None => {
            if input.len() > max {
                return Err(too_large(max));
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(input), max, hint),
        Compression::Snappy => {
            if input.len() >= XERIAL_HEADER_LEN && input[..8] == XERIAL_MAGIC {
                snappy_xerial(&input[XERIAL_HEADER_LEN..], max)
            } else {
                let mut out = Vec::new();
                snappy_block(input, max, &mut out)?;
                Ok(out)
            }
        }
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(input), max, hint),
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(input).map_err(|e| e.to_string())?;
            read_bounded(dec, max, hint)
        }
    }
}

/// Whether a [`decompress`] error is the size limit (not corrupt input).
pub fn is_too_large(error: &str, max: usize) -> bool {
    error == too_large(max)
}

#[cold]
fn too_large(max: usize) -> String {
    format!("decompressed size exceeds the limit of {max} bytes")
}

fn read_bounded<R: Read>(r: R, max: usize, hint: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(hint);
    // One byte past the limit tells "exactly max" from "more than max".
    // Saturating: a limit of `usize::MAX` (no limit) must not wrap to 0.
    r.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > max {
        return Err(too_large(max));
    }
    Ok(out)
}

/// Appends one raw snappy block's contents to `out`, keeping `out` within `max`.
fn snappy_block(block: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let n = snap::raw::decompress_len(block).map_err(|e| format!("snappy: {e}"))?;
    if n > max.saturating_sub(out.len()) {
        return Err(too_large(max));
    }
    // Snappy's densest element (a 3-byte copy of 64 bytes) inflates about
    // 21x, so a larger claim is corrupt: refuse it before allocating.
    if n > block.len().saturating_mul(SNAPPY_MAX_RATIO) + 64 {
        return Err(format!(
            "snappy: block of {} bytes claims {n} bytes uncompressed",
            block.len()
        ));
    }
    let start = out.len();
    out.resize(start + n, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| format!("snappy: {e}"))?;
    out.truncate(start + written);
    Ok(())
}

/// The xerial stream after its header: blocks of `int32 length | raw snappy`.
fn snappy_xerial(mut rest: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(format!(
                "snappy (xerial): {} stray bytes where a block length was expected",
                rest.len()
            ));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if len > rest.len() {
            return Err(format!(
                "snappy (xerial): block of {len} bytes but only {} remain",
                rest.len()
            ));
        }
        snappy_block(&rest[..len], max, &mut out)?;
        rest = &rest[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| format!("record-{} ", i % 1000).into_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let input = sample();
        for codec in Compression::ALL {
            let mut out = BytesMut::new();
            compress(codec, None, &input, &mut out).unwrap();
            if codec != Compression::None {
                assert!(out.len() < input.len() / 2, "{codec} did not compress");
            }
            let back = decompress(codec, &out, usize::MAX >> 1).unwrap();
            assert_eq!(back, input, "{codec}");
        }
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let input = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 30).unwrap(),
            input
        );
    }

    #[test]
    fn names_parse() {
        for c in Compression::ALL {
            assert_eq!(c.name().parse::<Compression>(), Ok(c));
            assert_eq!(Compression::from_id(c.id()), Some(c));
        }
        assert_eq!("GZIP".parse::<Compression>(), Ok(Compression::Gzip));
        let e = "brotli".parse::<Compression>().unwrap_err();
        assert!(e.to_string().contains("brotli"));
        assert_eq!(Compression::from_id(5), None);
    }

    #[test]
    fn bombs_hit_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        for codec in Compression::ALL {
            let mut out = BytesMut::new();
            compress(codec, None, &zeros, &mut out).unwrap();
            let err = decompress(codec, &out, 1 << 20).unwrap_err();
            assert!(err.contains("exceeds the limit"), "{codec}: {err}");
            // Exactly at the limit is fine.
            assert_eq!(decompress(codec, &out, 4 << 20).unwrap().len(), 4 << 20);
        }
    }

    #[test]
    fn an_unlimited_size_does_not_overflow() {
        let input = sample();
        for codec in Compression::ALL {
            let mut out = BytesMut::new();
            compress(codec, None, &input, &mut out).unwrap();
            assert_eq!(
                decompress(codec, &out, usize::MAX).unwrap(),
                input,
                "{codec}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        for codec in Compression::ALL.into_iter().skip(1) {
            assert!(decompress(codec, &junk, 1 << 20).is_err(), "{codec}");
        }
        // A tiny raw block claiming 1 MiB: refused without allocating it.
        let mut claim = Vec::new();
        let mut n = 1u32 << 20;
        while n >= 0x80 {
            claim.push((n as u8) | 0x80);
            n >>= 7;
        }
        claim.push(n as u8);
        claim.extend_from_slice(&[0, 0, 0, 0]);
        let e = decompress(Compression::Snappy, &claim, 1 << 30).unwrap_err();
        assert!(e.contains("claims"), "{e}");
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0]);
        assert!(decompress(Compression::Snappy, &xerial, 1 << 20).is_err());
    }
}
