//! Applying a MetadataResponse stays within a small multiple of its size: a
//! counting global allocator measures the peak heap use of decoding a large
//! response, turning it into a `MetadataSnapshot` and applying it to
//! `Metadata`, for the layouts that amplify most (the longest topic name over
//! many partitions, many one-partition topics).
//!
//! Its own test binary because it replaces the global allocator (as
//! protocol/tests/alloc_bound.rs). The counters are per thread.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use prozess_network::{Metadata, MetadataSnapshot};
use prozess_protocol::messages::metadata::response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use prozess_protocol::messages::MetadataResponse;
use prozess_protocol::{ApiKey, Uuid};

#[path = "../../protocol/tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_of;

/// The protocol crate's own bound for decoded messages (a partition's 18
/// bytes become structs with four `Vec`s): what it rules out is a copy of a
/// long topic name per partition and allocations the input does not back.
const FACTOR: usize = 64;
const CONSTANT: usize = 256 * 1024;

const MB: usize = 1 << 20;

fn partition(index: i32) -> MetadataResponsePartition {
    MetadataResponsePartition {
        partition_index: index,
        leader_id: 0,
        leader_epoch: 1,
        ..Default::default()
    }
}

fn response(topics: Vec<MetadataResponseTopic>) -> MetadataResponse {
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: 0,
            host: "localhost".into(),
            port: 9092,
            ..Default::default()
        }],
        controller_id: 0,
        topics,
        ..Default::default()
    }
}

/// Decodes `response` (as the client reads it) and applies it to a fresh
/// `Metadata` interested in every topic; returns the input size and peak.
fn measure(response: &MetadataResponse) -> (usize, usize) {
    let version = ApiKey::Metadata.supported_versions().1;
    let mut buf = BytesMut::new();
    response.encode(version, &mut buf).unwrap();
    let bytes = buf.freeze();
    let now = Instant::now();
    let mut metadata = Metadata::new(
        Duration::from_millis(100),
        Duration::from_secs(1),
        Duration::from_secs(300),
    );
    metadata.set_all_topics(true);
    let spec = metadata.request_spec();
    let peak = peak_of(|| {
        let decoded = MetadataResponse::decode(&mut bytes.clone(), version).unwrap();
        let snapshot = MetadataSnapshot::from_response(&decoded, version);
        drop(decoded);
        metadata.update(spec.request_version, snapshot, now);
    });
    assert!(metadata.topics().count() > 0, "the response was applied");
    (bytes.len(), peak)
}

fn assert_bounded(what: &str, input_len: usize, peak: usize) {
    let bound = FACTOR * input_len + CONSTANT;
    assert!(
        peak <= bound,
        "{what}: applying {input_len} bytes took {peak} bytes of heap ({}x), more than {bound}",
        peak / input_len.max(1)
    );
}

#[test]
fn a_long_topic_name_over_many_partitions() {
    let n = MB / 18;
    let topic = MetadataResponseTopic {
        name: Some("x".repeat(249)),
        topic_id: Uuid([1; 16]),
        partitions: (0..n as i32).map(partition).collect(),
        ..Default::default()
    };
    let (len, peak) = measure(&response(vec![topic]));
    assert_bounded("one long-named topic", len, peak);
}

#[test]
fn many_one_partition_topics() {
    let n = MB / 48;
    let topics = (0..n)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            MetadataResponseTopic {
                name: Some(format!("t{i}")),
                topic_id: Uuid(id),
                partitions: vec![partition(0)],
                ..Default::default()
            }
        })
        .collect();
    let (len, peak) = measure(&response(topics));
    assert_bounded("many topics", len, peak);
}
