//! Decoding never allocates from an unchecked length: a counting global
//! allocator measures the peak heap use of decoding captured frames and
//! mutations of them that carry huge lengths (int16/int32 lengths and array
//! counts, compact uvarint lengths, record varint lengths), and the peak must
//! stay within a small multiple of the input plus a constant.
//!
//! Its own test binary because it replaces the global allocator. The counters
//! are per thread, so the harness running tests in parallel does not mix
//! their measurements.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prozess_protocol::frame::{decode_request_frame_lenient, decode_response_frame};
use prozess_protocol::records::RecordBatches;
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_of;

/// Decoded structs are larger than their encoding (a 1-byte empty compact
/// array becomes a 24-byte `Vec`, a 2-byte tagged field a 40-byte entry), so
/// the factor is per input byte; what the test rules out is an allocation
/// that follows a length the input does not back. The constant covers the
/// bounded preallocation of arrays (64 KiB) and error messages.
const FACTOR: usize = 64;
const CONSTANT: usize = 256 * 1024;

fn bound(input_len: usize) -> usize {
    FACTOR * input_len + CONSTANT
}

#[derive(Clone)]
struct Frame {
    name: String,
    key: ApiKey,
    version: i16,
    request: bool,
    bytes: Vec<u8>,
}

fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "bin") {
            out.push(path);
        }
    }
}

/// `NNNN-<Api>-v<version>-<request|response>.bin` -> (API, version, is request).
fn parse_name(name: &str) -> Option<(ApiKey, i16, bool)> {
    let stem = name.strip_suffix(".bin")?;
    let mut parts = stem.rsplitn(3, '-');
    let kind = parts.next()?;
    let version = parts.next()?.strip_prefix('v')?.parse().ok()?;
    let api = parts.next()?.split_once('-')?.1;
    let key = *ApiKey::ALL.iter().find(|k| k.name() == api)?;
    Some((key, version, kind == "request"))
}

/// Per API, version and direction the smallest and the largest captured
/// frame (the larger ones carry the arrays and records worth mutating).
fn frames() -> Vec<Frame> {
    let mut paths = Vec::new();
    collect(&captures_dir(), &mut paths);
    paths.sort();
    let mut by_kind: BTreeMap<(i16, i16, bool), Vec<Frame>> = BTreeMap::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((key, version, request)) = parse_name(&name) else {
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        let name = path
            .strip_prefix(captures_dir())
            .unwrap()
            .display()
            .to_string();
        by_kind
            .entry((key as i16, version, request))
            .or_default()
            .push(Frame {
                name,
                key,
                version,
                request,
                bytes,
            });
    }
    let mut out = Vec::new();
    for (_, mut v) in by_kind {
        v.sort_by_key(|f| f.bytes.len());
        let last = v.len() - 1;
        out.push(v[0].clone());
        if last > 0 {
            out.push(v[last].clone());
        }
    }
    assert!(out.len() > 50, "captures not found: {} frames", out.len());
    out
}

/// Decodes `bytes` as `frame` says, and every records field of what decoded.
fn decode(frame: &Frame, bytes: &[u8]) -> usize {
    let input = Bytes::copy_from_slice(bytes);
    peak_of(|| {
        let mut blobs = Vec::new();
        if frame.request {
            if let Ok((_, body, _)) = decode_request_frame_lenient(input) {
                if let RequestBody::Produce(p) = &body {
                    for t in &p.topic_data {
                        blobs.extend(t.partition_data.iter().filter_map(|p| p.records.clone()));
                    }
                }
                return (Some(body), None, read_records(blobs));
            }
        } else if let Ok((_, body)) = decode_response_frame(input, frame.key, frame.version) {
            if let ResponseBody::Fetch(f) = &body {
                for t in &f.responses {
                    blobs.extend(t.partitions.iter().filter_map(|p| p.records.clone()));
                }
            }
            return (None, Some(body), read_records(blobs));
        }
        (None, None, 0)
    })
}

/// Reads every record of uncompressed batches (compressed ones inflate up to
/// their own limit, which `decompression_is_bounded` checks), keeping them.
fn read_records(blobs: Vec<Bytes>) -> usize {
    let mut kept = Vec::new();
    for blob in blobs {
        for batch in RecordBatches::new(blob).check_crcs(false) {
            let Ok(batch) = batch else { break };
            if batch.compression() != prozess_protocol::records::Compression::None {
                continue;
            }
            if let Ok(records) = batch.records() {
                kept.extend(records.map_while(Result::ok));
            }
        }
    }
    kept.len()
}

fn check(frame: &Frame, bytes: &[u8], what: &str) {
    let peak = decode(frame, bytes);
    assert!(
        peak <= bound(bytes.len()),
        "{} ({} v{} {}), {what}: decoding {} bytes allocated {peak} bytes at peak (bound {})",
        frame.name,
        frame.key,
        frame.version,
        if frame.request { "request" } else { "response" },
        bytes.len(),
        bound(bytes.len()),
    );
}

#[test]
fn captured_frames_decode_within_the_bound() {
    let mut worst = (0.0f64, String::new());
    for frame in frames() {
        let peak = decode(&frame, &frame.bytes);
        let ratio = peak as f64 / frame.bytes.len() as f64;
        if ratio > worst.0 {
            worst = (ratio, frame.name.clone());
        }
        check(&frame, &frame.bytes, "as captured");
    }
    eprintln!("largest peak/input ratio: {:.1} ({})", worst.0, worst.1);
}

/// A compressed batch inflates only up to its limit: every codec's bomb (a
/// small batch of 8 MiB of zeros) read with a 1 MiB limit fails having used
/// at most a small multiple of the limit (the output buffer grows by
/// doubling). zstd's own window buffers live in C and are not counted.
#[test]
fn decompression_is_bounded() {
    use prozess_protocol::records::{Compression, MemoryRecordsBuilder};
    let zeros = vec![0u8; 8 << 20];
    let limit = 1 << 20;
    for codec in Compression::ALL {
        let mut builder = MemoryRecordsBuilder::new(0, codec);
        builder.append(0, None, Some(&zeros), &[]).unwrap();
        let blob = builder.build().unwrap();
        let mut batch = RecordBatches::new(blob.clone()).next().unwrap().unwrap();
        batch.set_max_decompressed_size(limit);
        let mut failed = false;
        let peak = peak_of(|| failed = batch.records().is_err());
        if codec == Compression::None {
            // Not inflated: the records are slices of the input.
            assert!(!failed && peak < CONSTANT, "none: {peak}");
            continue;
        }
        assert!(failed, "{codec}: 8 MiB passed a 1 MiB limit");
        assert!(
            peak <= 3 * limit + bound(blob.len()),
            "{codec}: a {} byte batch with a {limit} byte limit allocated {peak} bytes",
            blob.len()
        );
    }
}

/// Mutations that make whatever starts at `at` a huge length: int32 and
/// int16 maxima, -2 (below null), and a 5-byte uvarint/varint of about
/// 2^31 or 2^32 both written over the bytes there and inserted.
fn mutations(bytes: &[u8], at: usize) -> Vec<(Vec<u8>, &'static str)> {
    let mut out = Vec::new();
    let mut over = |patch: &[u8], what: &'static str| {
        if at + patch.len() <= bytes.len() {
            let mut m = bytes.to_vec();
            m[at..at + patch.len()].copy_from_slice(patch);
            out.push((m, what));
        }
    };
    over(&[0x7f, 0xff, 0xff, 0xff], "int32 max");
    over(&[0x7f, 0xff], "int16 max");
    over(&[0xff, 0xff, 0xff, 0xfe], "int32 -2");
    over(&[0xff, 0xff, 0xff, 0xff, 0x0f], "uvarint u32 max");
    over(&[0xfe, 0xff, 0xff, 0xff, 0x0f], "zigzag varint i32 max");
    let mut inserted = bytes.to_vec();
    inserted.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x07]);
    out.push((inserted, "inserted uvarint 2^31-1"));
    out
}

/// The instrument itself: an allocation of the size a wire length claims is
/// seen, so the bounds below would catch one.
#[test]
fn the_counter_sees_a_length_sized_allocation() {
    let claimed = 0x7fff_ffffusize >> 4;
    let peak = peak_of(|| Vec::<u8>::with_capacity(claimed));
    assert!(peak >= claimed, "peak {peak}");
    assert!(peak > bound(1024), "a 128 MiB allocation passes the bound");
    let mut v = Vec::<u64>::new();
    let peak = peak_of(|| v.extend(0..1000));
    assert!(peak >= 8000, "growth by realloc counted: {peak}");
}

#[test]
fn frames_with_huge_lengths_decode_within_the_bound() {
    let mut cases = 0usize;
    let mut worst = (0.0f64, String::new());
    for frame in frames() {
        let len = frame.bytes.len();
        // Every position of small frames; about 400 spread over large ones.
        let step = (len / 400).max(1);
        for at in (0..len).step_by(step) {
            for (bytes, what) in mutations(&frame.bytes, at) {
                let what = format!("{what} at byte {at}");
                let ratio = decode(&frame, &bytes) as f64 / bytes.len() as f64;
                if ratio > worst.0 {
                    worst = (ratio, format!("{}, {what}", frame.name));
                }
                check(&frame, &bytes, &what);
                cases += 1;
            }
        }
    }
    eprintln!(
        "{cases} mutated frames; largest peak/input ratio: {:.1} ({})",
        worst.0, worst.1
    );
    assert!(cases > 10_000, "only {cases} mutated frames");
}
