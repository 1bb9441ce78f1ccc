//! Decode + CRC-check throughput of uncompressed record batches, next to a
//! plain memcpy of the same bytes as the reference ceiling.
//!
//! Input: a fetch-response-sized records blob (4 MiB) of 64 KiB batches
//! with 1 KB or 100 B values (short keys, one header), as a consumer sees it.
//! The decode benchmark walks every batch (CRC32C checked) and every record
//! (key, value and header slices), touching the lengths so nothing is
//! optimised away: once as owned `Record`s (`Bytes` slices, the contract
//! API) and once as borrowed `RecordRef`s. Throughput is in bytes of input, so criterion reports GB/s.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prozess_protocol::records::{Compression, MemoryRecordsBuilder, RecordBatches, RecordHeader};

const TOTAL: usize = 4 * 1024 * 1024;
const BATCH: usize = 64 * 1024;

fn records_blob(value_size: usize) -> Bytes {
    let value = vec![b'x'; value_size];
    let headers = [RecordHeader::new("source", &b"bench"[..])];
    let mut out = Vec::with_capacity(TOTAL + BATCH);
    let mut offset = 0i64;
    while out.len() < TOTAL {
        let mut b = MemoryRecordsBuilder::new(offset, Compression::None).with_capacity(BATCH);
        loop {
            let key = format!("key-{offset:010}");
            if !b.has_room_for(Some(key.as_bytes()), Some(&value), &headers, BATCH) {
                break;
            }
            b.append(
                1_700_000_000_000 + offset,
                Some(key.as_bytes()),
                Some(&value),
                &headers,
            )
            .expect("append");
            offset += 1;
        }
        out.extend_from_slice(&b.build().expect("build"));
    }
    Bytes::from(out)
}

fn decode_all(blob: &Bytes) -> usize {
    let mut n = 0usize;
    for batch in RecordBatches::new(blob.clone()) {
        let batch = batch.expect("valid batch");
        for record in batch.records().expect("records") {
            let r = record.expect("valid record");
            n += r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len()) + r.headers.len();
        }
    }
    n
}

/// The same walk over borrowed records (`&[u8]` slices: no per-record
/// allocation or reference counting).
fn decode_all_borrowed(blob: &Bytes) -> usize {
    let mut n = 0usize;
    for batch in RecordBatches::new(blob.clone()) {
        let batch = batch.expect("valid batch");
        let records = batch.records().expect("records");
        for record in records.borrowed() {
            let r = record.expect("valid record");
            n +=
                r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len) + r.headers().count();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    for (name, size) in [("1KB", 1000usize), ("100B", 100)] {
        let blob = records_blob(size);
        let mut group = c.benchmark_group(format!("record_batch/{name}"));
        group.throughput(Throughput::Bytes(blob.len() as u64));
        group.bench_function("decode+crc", |b| {
            b.iter(|| black_box(decode_all(black_box(&blob))))
        });
        group.bench_function("decode+crc borrowed", |b| {
            b.iter(|| black_box(decode_all_borrowed(black_box(&blob))))
        });
        let mut dst = vec![0u8; blob.len()];
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&blob[..]));
                black_box(&dst);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
