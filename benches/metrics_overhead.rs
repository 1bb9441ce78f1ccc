//! What the metrics cost on the hot paths, counted in instructions (the
//! machine is shared, so wall time says little): a `KafkaConsumer` polling
//! fetch responses of 1 MiB (16 KiB batches of 100-byte values) through a
//! `MockClient`, and a producer `Sender` draining 100-byte records into
//! ProduceRequests, answered at once. Run it under callgrind, counting only
//! the measured function (see benches/README.md, "Metrics overhead"):
//!
//! ```text
//! cargo bench --bench metrics_overhead --no-run
//! valgrind --tool=callgrind --toggle-collect='*consume_loop*' target/release/deps/metrics_overhead-* consumer
//! valgrind --tool=callgrind --toggle-collect='*produce_loop*' target/release/deps/metrics_overhead-* producer
//! ```
//!
//! It uses only API that existed before the metrics, so the same file
//! measures the code before and after them.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_consumer::{BytesDeserializer, ConsumerConfig, KafkaConsumer, TopicPartition};
use prozess_network::mock::MockClient;
use prozess_network::KafkaClient;
use prozess_producer::accumulator::{AccumulatorConfig, RecordAccumulator, StoredRecord, Thunk};
use prozess_producer::metadata::ProducerMetadata;
use prozess_producer::sender::{Sender, SenderConfig};
use prozess_producer::ProducerConfig;
use prozess_protocol::messages::fetch::response::{FetchableTopicResponse, PartitionData};
use prozess_protocol::messages::produce::response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use prozess_protocol::messages::{FetchResponse, ProduceResponse};
use prozess_protocol::records::{Compression, MemoryRecordsBuilder};
use prozess_protocol::{RequestBody, ResponseBody, Uuid};

const RESPONSES: i64 = 16;
const BLOB: usize = 1024 * 1024;
const BATCH: usize = 16 * 1024;
const RECORDS: usize = 200_000;

/// 1 MiB of batches from `base`; returns the bytes and the next offset.
fn blob(base: i64) -> (Bytes, i64) {
    let value = vec![b'x'; 100];
    let mut out = Vec::with_capacity(BLOB + BATCH);
    let mut offset = base;
    while out.len() < BLOB {
        let mut b = MemoryRecordsBuilder::new(offset, Compression::None);
        while b.uncompressed_size_in_bytes() < BATCH {
            let key = format!("key-{offset:08}");
            b.append(1_700_000_000_000, Some(key.as_bytes()), Some(&value), &[])
                .expect("append");
            offset += 1;
        }
        out.extend_from_slice(&b.build().expect("build"));
    }
    (Bytes::from(out), offset)
}

fn consumer_setup() -> (KafkaConsumer<Bytes, Bytes, MockClient>, i64) {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut next = 0;
    let mut blobs = Vec::new();
    for _ in 0..RESPONSES {
        let (b, end) = blob(next);
        blobs.push((next, b));
        next = end;
    }
    for (start, records) in blobs {
        let response = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                topic_id: Uuid::from_u128(0x1000),
                partitions: vec![PartitionData {
                    partition_index: 0,
                    high_watermark: next,
                    last_stable_offset: next,
                    log_start_offset: 0,
                    records: Some(records),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        client.prepare_response(
            move |b: &RequestBody| match b {
                RequestBody::Fetch(f) => f
                    .topics
                    .iter()
                    .any(|t| t.partitions.iter().any(|p| p.fetch_offset == start)),
                _ => false,
            },
            response,
        );
    }
    let config =
        ConsumerConfig::from_properties([("bootstrap.servers", "localhost:9092")]).expect("config");
    let mut c = KafkaConsumer::with_client(
        config,
        client,
        BytesDeserializer,
        BytesDeserializer,
        Box::new(Instant::now),
    );
    let tp = TopicPartition::new("t", 0);
    c.assign([tp.clone()]).expect("assign");
    c.seek(&tp, 0).expect("seek");
    (c, next)
}

#[inline(never)]
fn consume_loop(c: &mut KafkaConsumer<Bytes, Bytes, MockClient>, total: i64) -> i64 {
    let mut got = 0i64;
    for _ in 0..1_000_000 {
        if got >= total {
            break;
        }
        let records = c.poll(Duration::ZERO).expect("poll");
        got += records.count() as i64;
        black_box(records);
    }
    got
}

fn produce_setup() -> (Sender<MockClient>, Arc<RecordAccumulator>) {
    let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
        batch_size: 16384,
        buffer_memory: 32 << 20,
        linger: Duration::ZERO,
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_secs(1),
        delivery_timeout: Duration::from_secs(120),
        max_in_flight_per_partition: 5,
        compression: Compression::None,
        compression_level: None,
    }));
    let md = Arc::new(ProducerMetadata::new());
    md.register("t");
    let mut config = ProducerConfig::default();
    config.enable_idempotence = false;
    let mut s = Sender::new(
        MockClient::new_with_cluster(&[1], &[("t", 1)]),
        acc.clone(),
        md,
        SenderConfig::from_config(&config),
    );
    s.run_once(Instant::now());
    (s, acc)
}

#[inline(never)]
fn produce_loop(s: &mut Sender<MockClient>, acc: &RecordAccumulator) -> usize {
    let tp = TopicPartition::new("t", 0);
    let value = Bytes::from(vec![b'x'; 100]);
    let ok = ResponseBody::Produce(ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            partition_responses: vec![PartitionProduceResponse {
                index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut answered = 0;
    for i in 0..RECORDS {
        let record = StoredRecord {
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(value.clone()),
            headers: Vec::new(),
        };
        acc.append(
            &tp,
            record,
            Thunk::deferred(None),
            Duration::ZERO,
            Instant::now(),
        )
        .expect("append");
        if i % 1000 == 999 {
            s.run_once(Instant::now());
            while s.client().in_flight_count(1) > 0 {
                s.client_mut().respond(ok.clone());
                answered += 1;
                s.run_once(Instant::now());
            }
        }
    }
    answered
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which != "producer" {
        let (mut c, total) = consumer_setup();
        let got = consume_loop(&mut c, total);
        assert_eq!(got, total, "every record consumed");
        println!("consumer: {got} records");
    }
    if which != "consumer" {
        let (mut s, acc) = produce_setup();
        let requests = produce_loop(&mut s, &acc);
        assert!(requests > 0);
        println!("producer: {RECORDS} records in {requests} requests");
    }
}
