//! Writes seed corpora for the cargo-fuzz targets in `fuzz/` from the
//! captured frames under `protocol/tests/data/captures/` (see
//! `fuzz/README.md`):
//!
//! - `decode_request`: every request frame as captured;
//! - `decode_response`: every response frame, prefixed with the two selector
//!   bytes the target reads (API index, version) so that it decodes as the
//!   API and version it was captured with;
//! - `decode_record_batch` and `decode_record_batch_fixed_crc`: the records
//!   fields of every Produce request and Fetch response, whole and split into
//!   single batches.
//!
//! Usage: `cargo run -p prozess-protocol --example fuzz_seeds -- <corpus dir>`
//! (the directory that holds one sub-directory per target). Files are named
//! by a hash of their content, so repeated runs add nothing twice.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prozess_protocol::frame::{decode_request_frame_lenient, decode_response_frame};
use prozess_protocol::records::RecordBatches;
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: fuzz_seeds <corpus dir>")?,
    );
    let captures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures");
    let mut frames = Vec::new();
    collect(&captures, &mut frames)?;
    frames.sort();
    let mut counts = [0usize; 3];
    for path in &frames {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((key, version, is_request)) = parse_name(name) else {
            continue;
        };
        let frame = Bytes::from(std::fs::read(path)?);
        let mut blobs = Vec::new();
        if is_request {
            write_seed(&out.join("decode_request"), &frame)?;
            counts[0] += 1;
            if let Ok((_, RequestBody::Produce(p), _)) = decode_request_frame_lenient(frame) {
                for t in p.topic_data {
                    blobs.extend(t.partition_data.into_iter().filter_map(|p| p.records));
                }
            }
        } else {
            let Some(index) = ApiKey::ALL.iter().position(|k| *k == key) else {
                continue;
            };
            let mut seed = vec![index as u8, version_selector(key, version)];
            seed.extend_from_slice(&frame);
            write_seed(&out.join("decode_response"), &seed)?;
            counts[1] += 1;
            if let Ok((_, ResponseBody::Fetch(f))) = decode_response_frame(frame, key, version) {
                for t in f.responses {
                    blobs.extend(t.partitions.into_iter().filter_map(|p| p.records));
                }
            }
        }
        for blob in blobs.into_iter().filter(|b| !b.is_empty()) {
            let mut seeds = vec![blob.clone()];
            seeds.extend(
                RecordBatches::new(blob)
                    .check_crcs(false)
                    .map_while(|b| b.ok())
                    .map(|b| b.as_bytes().clone()),
            );
            for seed in seeds {
                for target in ["decode_record_batch", "decode_record_batch_fixed_crc"] {
                    write_seed(&out.join(target), &seed)?;
                }
                counts[2] += 1;
            }
        }
    }
    println!(
        "{} request, {} response and {} record batch seeds in {}",
        counts[0],
        counts[1],
        counts[2],
        out.display()
    );
    Ok(())
}

/// All `.bin` files below `dir`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "bin") {
            out.push(path);
        }
    }
    Ok(())
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

/// The second byte of a `decode_response` input that selects `version`
/// (the target reads `min + b % span` unless `b % 8 == 0`).
fn version_selector(key: ApiKey, version: i16) -> u8 {
    let (min, max) = key.supported_versions();
    let span = (max - min + 1) as u16;
    let want = (version - min).max(0) as u16;
    (0..=255u16)
        .find(|b| b % 8 != 0 && b % span == want)
        .unwrap_or(1) as u8
}

fn write_seed(dir: &Path, data: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    std::fs::write(dir.join(format!("{:016x}", h.finish())), data)?;
    Ok(())
}
