//! Consumer-side cost per record: a fetch response's partition data (1 MiB
//! of 16 KiB batches, 100-byte values, short keys, no headers) turned into
//! `ConsumerRecords` by the `FetchCollector` with zero-copy `Bytes` and with
//! `String` deserializers, uncompressed and lz4. Throughput is in records.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prozess_consumer::completed_fetches::{CompletedFetch, FetchBuffer, FetchedPartition};
use prozess_consumer::fetch_collector::FetchCollector;
use prozess_consumer::subscription_state::{FetchPosition, SubscriptionState};
use prozess_consumer::{
    BytesDeserializer, Deserializer, OffsetResetStrategy, StringDeserializer, TopicPartition,
};
use prozess_protocol::records::{Compression, MemoryRecordsBuilder};

const TOTAL: usize = 1024 * 1024;
const BATCH: usize = 16 * 1024;

fn blob(compression: Compression) -> (Bytes, usize) {
    let value = vec![b'x'; 100];
    let mut out = Vec::with_capacity(TOTAL + BATCH);
    let mut offset = 0i64;
    let mut uncompressed = 0;
    while uncompressed < TOTAL {
        let mut b = MemoryRecordsBuilder::new(offset, compression);
        while b.uncompressed_size_in_bytes() < BATCH {
            let key = format!("key-{offset:08}");
            b.append(1_700_000_000_000, Some(key.as_bytes()), Some(&value), &[])
                .expect("append");
            offset += 1;
        }
        uncompressed += b.uncompressed_size_in_bytes();
        out.extend_from_slice(&b.build().expect("build"));
    }
    (Bytes::from(out), offset as usize)
}

fn collect_all<K, V>(
    data: &Bytes,
    key_de: &dyn Deserializer<K>,
    value_de: &dyn Deserializer<V>,
) -> usize {
    let tp = TopicPartition::new("bench", 0);
    let mut subs = SubscriptionState::new(OffsetResetStrategy::Earliest);
    subs.assign_from_user([tp.clone()]);
    subs.seek(&tp, FetchPosition::at(0));
    let mut buf = FetchBuffer::new();
    buf.add(CompletedFetch::new(
        tp,
        0,
        FetchedPartition {
            records: Some(data.clone()),
            ..FetchedPartition::empty()
        },
        false,
        true,
    ));
    let collector = FetchCollector::new(500, Duration::from_secs(300));
    let now = Instant::now();
    let mut n = 0;
    loop {
        let (r, _) = collector.collect_fetch(&mut buf, &mut subs, key_de, value_de, now);
        let records = r.expect("records");
        if records.is_empty() {
            return n;
        }
        n += records.count();
        black_box(records);
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("collect_fetch");
    for (name, compression) in [("none", Compression::None), ("lz4", Compression::Lz4)] {
        let (data, count) = blob(compression);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(format!("{name}/bytes"), |b| {
            b.iter(|| {
                assert_eq!(
                    collect_all(&data, &BytesDeserializer, &BytesDeserializer),
                    count
                )
            })
        });
        group.bench_function(format!("{name}/string"), |b| {
            b.iter(|| {
                assert_eq!(
                    collect_all(&data, &StringDeserializer, &StringDeserializer),
                    count
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
