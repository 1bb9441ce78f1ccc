//! KafkaConsumer tests over prozess-network's scripted MockClient, modelled on the Apache
//! Kafka 4.0 captures (consume-assign, fetch-session, transactions) and on
//! the cases the Java client's FetcherTest/KafkaConsumerTest cover. Each of
//! DESIGN.md's consumer invariants that applies to manual assignment has a
//! test here (or in fetch_collector.rs) that fails if it is broken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_network::{coordinator_connection_id, KafkaClient, TopicPartition};
use prozess_protocol::messages::fetch::response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::list_offsets::response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use prozess_protocol::messages::offset_commit::response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use prozess_protocol::messages::offset_fetch::response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use prozess_protocol::messages::{
    FetchResponse, FindCoordinatorResponse, ListOffsetsResponse, OffsetCommitResponse,
    OffsetFetchResponse,
};
use prozess_protocol::records::Compression;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, Uuid};

use crate::completed_fetches::tests::{batch, concat, marker, txn_batch};
use crate::consumer::{Clock, KafkaConsumer};
use crate::deserializer::StringDeserializer;
use crate::error::Error;
use crate::offsets::OffsetAndMetadata;
use crate::record::ConsumerRecords;
use crate::ConsumerConfig;
use prozess_network::mock::{MockClient, MockTime};

type Consumer = KafkaConsumer<String, String, MockClient>;

pub(crate) const TOPIC_ID: u128 = 0x1000; // MetadataSnapshot::simple's id of the first topic

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// A clock that moves 1 ms every time it is read: blocking calls end by
/// their deadlines without real sleeping.
fn test_clock() -> Clock {
    let base = Instant::now();
    let ticks = Arc::new(AtomicU64::new(0));
    Box::new(move || base + Duration::from_millis(ticks.fetch_add(1, Ordering::SeqCst)))
}

fn consumer_with(props: &[(&str, &str)], client: MockClient) -> Consumer {
    let mut all = vec![("bootstrap.servers", "localhost:9092")];
    all.extend_from_slice(props);
    let config = ConsumerConfig::from_properties(all).unwrap();
    KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        test_clock(),
    )
}

fn is(key: ApiKey) -> impl Fn(&RequestBody) -> bool + Send + 'static {
    move |b: &RequestBody| b.api_key() == key
}

/// A Fetch asking partition `p` from `offset`.
fn fetch_from(p: i32, offset: i64) -> impl Fn(&RequestBody) -> bool + Send + 'static {
    move |b: &RequestBody| match b {
        RequestBody::Fetch(f) => f.topics.iter().any(|t| {
            t.partitions
                .iter()
                .any(|x| x.partition == p && x.fetch_offset == offset)
        }),
        _ => false,
    }
}

fn fetched_partitions(b: &RequestBody) -> Vec<(i32, i64)> {
    match b {
        RequestBody::Fetch(f) => f
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
            .collect(),
        _ => Vec::new(),
    }
}

struct Part {
    partition: i32,
    records: Option<Bytes>,
    error: ErrorCode,
    high_watermark: i64,
    aborted: Option<Vec<(i64, i64)>>,
}

fn part(partition: i32, records: Bytes, high_watermark: i64) -> Part {
    Part {
        partition,
        records: Some(records),
        error: ErrorCode::None,
        high_watermark,
        aborted: None,
    }
}

fn part_err(partition: i32, error: ErrorCode) -> Part {
    Part {
        partition,
        records: None,
        error,
        high_watermark: -1,
        aborted: None,
    }
}

fn fetch_response(parts: Vec<Part>, session_id: i32) -> FetchResponse {
    FetchResponse {
        session_id,
        responses: if parts.is_empty() {
            Vec::new()
        } else {
            vec![FetchableTopicResponse {
                topic: "t".into(),
                topic_id: Uuid::from_u128(TOPIC_ID),
                partitions: parts
                    .into_iter()
                    .map(|p| PartitionData {
                        partition_index: p.partition,
                        error_code: p.error.code(),
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.high_watermark,
                        log_start_offset: 0,
                        aborted_transactions: p.aborted.map(|v| {
                            v.into_iter()
                                .map(|(producer_id, first_offset)| AbortedTransaction {
                                    producer_id,
                                    first_offset,
                                    ..Default::default()
                                })
                                .collect()
                        }),
                        records: p.records,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

fn list_offsets_response(parts: &[(i32, i64)]) -> ListOffsetsResponse {
    ListOffsetsResponse {
        topics: vec![ListOffsetsTopicResponse {
            name: "t".into(),
            partitions: parts
                .iter()
                .map(|&(p, offset)| ListOffsetsPartitionResponse {
                    partition_index: p,
                    offset,
                    timestamp: if offset >= 0 { 1000 + offset } else { -1 },
                    leader_epoch: 0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn find_coordinator_response(node: i32, error: ErrorCode) -> FindCoordinatorResponse {
    FindCoordinatorResponse {
        coordinators: vec![Coordinator {
            key: "g".into(),
            node_id: node,
            host: "localhost".into(),
            port: 9092,
            error_code: error.code(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn commit_response(parts: &[(i32, ErrorCode)]) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: vec![OffsetCommitResponseTopic {
            name: "t".into(),
            partitions: parts
                .iter()
                .map(|&(p, e)| OffsetCommitResponsePartition {
                    partition_index: p,
                    error_code: e.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn offset_fetch_response(parts: &[(i32, i64, &str)]) -> OffsetFetchResponse {
    OffsetFetchResponse {
        groups: vec![OffsetFetchResponseGroup {
            group_id: "g".into(),
            topics: vec![OffsetFetchResponseTopics {
                name: "t".into(),
                partitions: parts
                    .iter()
                    .map(|&(p, offset, meta)| OffsetFetchResponsePartitions {
                        partition_index: p,
                        committed_offset: offset,
                        committed_leader_epoch: -1,
                        metadata: Some(meta.to_string()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn poll_until(c: &mut Consumer, n: usize) -> Vec<(i32, i64, String)> {
    let mut out = Vec::new();
    for _ in 0..20 {
        let r = c.poll(Duration::ZERO).unwrap();
        out.extend(flatten(&r));
        if out.len() >= n {
            break;
        }
    }
    out
}

fn flatten(r: &ConsumerRecords<String, String>) -> Vec<(i32, i64, String)> {
    r.iter()
        .map(|r| (r.partition, r.offset, r.value.clone().unwrap_or_default()))
        .collect()
}

fn offsets_of(v: &[(i32, i64, String)]) -> Vec<(i32, i64)> {
    v.iter().map(|(p, o, _)| (*p, *o)).collect()
}

// ---- basic flow ----

#[test]
fn reset_then_fetch_then_records() {
    // consume-assign capture: ListOffsets (earliest) then Fetch v16/17 from 0.
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 0)]));
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 3, Compression::None), 3)], 0),
    );
    let mut c = consumer_with(&[("auto.offset.reset", "earliest")], client);
    c.assign([tp(0)]).unwrap();
    let got = poll_until(&mut c, 3);
    assert_eq!(offsets_of(&got), vec![(0, 0), (0, 1), (0, 2)]);
    assert_eq!(got[0].2, "v0");
    assert_eq!(c.position(&tp(0)).unwrap(), 3);
    assert_eq!(c.current_lag(&tp(0)), Some(0));
    let lo = c.client().requests_of(ApiKey::ListOffsets);
    match &lo[0].body {
        RequestBody::ListOffsets(r) => {
            assert_eq!(r.topics[0].partitions[0].timestamp, -2);
            assert_eq!(r.isolation_level, 0);
        }
        _ => unreachable!(),
    }
}

#[test]
fn fetch_request_carries_byte_limits_and_topic_ids() {
    let client = MockClient::new_with_cluster(&[0], &[("t", 2)]);
    let mut c = consumer_with(
        &[
            ("fetch.min.bytes", "7"),
            ("fetch.max.bytes", "1000"),
            ("max.partition.fetch.bytes", "300"),
            ("fetch.max.wait.ms", "123"),
            ("isolation.level", "read_committed"),
        ],
        client,
    );
    c.assign([tp(0), tp(1)]).unwrap();
    c.seek(&tp(0), 5).unwrap();
    c.seek(&tp(1), 9).unwrap();
    c.poll(Duration::ZERO).unwrap();
    let fetches = c.client().requests_of(ApiKey::Fetch);
    assert_eq!(fetches.len(), 1, "one fetch per node");
    assert_eq!(fetches[0].version, 17);
    let RequestBody::Fetch(f) = &fetches[0].body else {
        unreachable!()
    };
    assert_eq!(f.min_bytes, 7);
    assert_eq!(f.max_bytes, 1000);
    assert_eq!(f.max_wait_ms, 123);
    assert_eq!(f.isolation_level, 1);
    assert_eq!(f.replica_id, -1);
    assert_eq!(f.topics[0].topic_id, Uuid::from_u128(TOPIC_ID));
    assert!(f.topics[0]
        .partitions
        .iter()
        .all(|p| p.partition_max_bytes == 300));
    assert_eq!(fetched_partitions(&fetches[0].body), vec![(0, 5), (1, 9)]);
}

#[test]
fn one_fetch_per_node_and_none_while_in_flight() {
    let client = MockClient::new_with_cluster(&[0, 1], &[("t", 4)]);
    let mut c = consumer_with(&[], client);
    c.assign((0..4).map(tp)).unwrap();
    for p in 0..4 {
        c.seek(&tp(p), 0).unwrap();
    }
    c.poll(Duration::ZERO).unwrap();
    c.poll(Duration::ZERO).unwrap();
    let fetches = c.client().requests_of(ApiKey::Fetch);
    assert_eq!(fetches.len(), 2, "one per node, no second while in flight");
    let mut nodes: Vec<i32> = fetches.iter().map(|f| f.node).collect();
    nodes.sort();
    assert_eq!(nodes, vec![0, 1]);
}

#[test]
fn max_poll_records_is_honoured() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 10, Compression::Lz4), 10)], 0),
    );
    let mut c = consumer_with(&[("max.poll.records", "4")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let mut sizes = Vec::new();
    for _ in 0..10 {
        let r = c.poll(Duration::ZERO).unwrap();
        if !r.is_empty() {
            sizes.push(r.count());
        }
    }
    assert_eq!(sizes, vec![4, 4, 2]);
}

// ---- invariants ----

#[test]
fn invariant_position_moves_only_when_records_are_returned() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 5, Compression::None), 5)], 0),
    );
    let mut c = consumer_with(&[("max.poll.records", "2")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    // First poll sends the fetch; its response is buffered during the next.
    let got = poll_until(&mut c, 2);
    assert_eq!(offsets_of(&got), vec![(0, 0), (0, 1)]);
    assert!(c.buffered_bytes() > 0, "the rest is buffered");
    assert_eq!(
        c.fetch_position(&tp(0)).unwrap().offset,
        2,
        "not 5: only returned records count"
    );
    assert_eq!(c.consumed_offsets()[&tp(0)].offset, 2);
}

#[test]
fn invariant_paused_data_stays_buffered_and_is_not_refetched() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 2)]);
    client.prepare_response(
        is(ApiKey::Fetch),
        fetch_response(
            vec![
                part(0, batch(0, 3, Compression::None), 3),
                part(1, batch(0, 3, Compression::None), 3),
            ],
            0,
        ),
    );
    let mut c = consumer_with(&[("max.poll.records", "1")], client);
    c.assign([tp(0), tp(1)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    c.seek(&tp(1), 0).unwrap();
    let got = poll_until(&mut c, 1);
    assert_eq!(offsets_of(&got), vec![(0, 0)]);
    c.pause(&[tp(0)]).unwrap();
    assert_eq!(c.paused(), vec![tp(0)]);
    let before = c.client().requests_of(ApiKey::Fetch).len();
    let mut rest = Vec::new();
    for _ in 0..6 {
        rest.extend(flatten(&c.poll(Duration::ZERO).unwrap()));
    }
    assert!(
        rest.iter().all(|(p, _, _)| *p == 1),
        "nothing of the paused partition"
    );
    assert_eq!(offsets_of(&rest), vec![(1, 0), (1, 1), (1, 2)]);
    // Later fetches never ask for the paused partition again.
    for f in &c.client().requests_of(ApiKey::Fetch)[before..] {
        assert!(fetched_partitions(&f.body).iter().all(|(p, _)| *p != 0));
    }
    assert!(c.buffered_bytes() > 0, "paused data is kept");
    c.resume(&[tp(0)]).unwrap();
    let after = poll_until(&mut c, 2);
    assert_eq!(
        offsets_of(&after),
        vec![(0, 1), (0, 2)],
        "returned after resume, from the buffer"
    );
    for f in &c.client().requests_of(ApiKey::Fetch) {
        let parts = fetched_partitions(&f.body);
        assert!(!parts.contains(&(0, 1)), "never re-fetched: {parts:?}");
    }
}

#[test]
fn invariant_stale_fetch_after_seek_is_discarded() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut c = {
        client.prepare_response(
            fetch_from(0, 5),
            fetch_response(vec![part(0, batch(5, 2, Compression::None), 7)], 0),
        );
        consumer_with(&[], client)
    };
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    c.poll(Duration::ZERO).unwrap(); // Fetch from 0 in flight
    c.seek(&tp(0), 5).unwrap();
    // The answer to the fetch from 0 arrives after the seek.
    c.client_mut().prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 3, Compression::None), 7)], 0),
    );
    let got = poll_until(&mut c, 2);
    assert_eq!(
        offsets_of(&got),
        vec![(0, 5), (0, 6)],
        "records of the old position never surface"
    );
}

#[test]
fn invariant_pipelining_sends_next_fetch_before_returning_records() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 2, Compression::None), 2)], 0),
    );
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(got.len(), 2);
    let fetches = c.client().requests_of(ApiKey::Fetch);
    assert_eq!(fetches.len(), 2, "the next fetch went out with the records");
    assert_eq!(fetched_partitions(&fetches[1].body), vec![(0, 2)]);
}

#[test]
fn invariant_memory_is_bounded_however_slowly_the_caller_polls() {
    // Every fetch answers 200 records; the caller takes one record per poll.
    // A partition is fetched ahead at most once beyond the response being
    // consumed, so the buffer never holds more than two responses of it.
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    for k in 0..20 {
        client.prepare_response(
            fetch_from(0, 200 * k),
            fetch_response(
                vec![part(0, batch(200 * k, 200, Compression::None), 4000)],
                0,
            ),
        );
    }
    let mut c = consumer_with(&[("max.poll.records", "1")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let two_responses =
        batch(0, 200, Compression::None).len() + batch(200, 200, Compression::None).len();
    let mut max_buffered = 0;
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(flatten(&c.poll(Duration::ZERO).unwrap()));
        max_buffered = max_buffered.max(c.buffered_bytes());
    }
    assert!(
        max_buffered <= two_responses,
        "{max_buffered} > {two_responses}"
    );
    assert_eq!(
        offsets_of(&got),
        (0..got.len() as i64).map(|o| (0, o)).collect::<Vec<_>>()
    );
    let fetches = c.client().requests_of(ApiKey::Fetch);
    assert_eq!(
        fetches
            .iter()
            .map(|f| fetched_partitions(&f.body))
            .collect::<Vec<_>>(),
        vec![vec![(0, 0)], vec![(0, 200)]],
        "one fetch ahead, then nothing while two responses are buffered"
    );
}

#[test]
fn fetch_ahead_data_is_used_in_order_without_refetching() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    for k in 0..10 {
        client.prepare_response(
            fetch_from(0, 50 * k),
            fetch_response(
                vec![part(0, batch(50 * k, 50, Compression::Snappy), 500)],
                0,
            ),
        );
    }
    let mut c = consumer_with(&[("max.poll.records", "30")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 500);
    assert_eq!(
        offsets_of(&got),
        (0..500).map(|o| (0, o)).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let asked: Vec<i64> = c
        .client()
        .requests_of(ApiKey::Fetch)
        .iter()
        .flat_map(|f| fetched_partitions(&f.body))
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        &asked[..10],
        &(0..10).map(|k| 50 * k).collect::<Vec<_>>()[..]
    );
}

#[test]
fn seek_discards_data_fetched_ahead() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 5, Compression::None), 100)], 0),
    );
    client.prepare_response(
        fetch_from(0, 5),
        fetch_response(vec![part(0, batch(5, 5, Compression::None), 100)], 0),
    );
    client.prepare_response(
        fetch_from(0, 50),
        fetch_response(vec![part(0, batch(50, 2, Compression::None), 100)], 0),
    );
    let mut c = consumer_with(&[("max.poll.records", "2")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(offsets_of(&got), vec![(0, 0), (0, 1)]);
    c.seek(&tp(0), 50).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(
        offsets_of(&got),
        vec![(0, 50), (0, 51)],
        "neither buffered response surfaces"
    );
}

// ---- errors while fetching ----

#[test]
fn offset_out_of_range_resets_with_policy() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 100),
        fetch_response(vec![part_err(0, ErrorCode::OffsetOutOfRange)], 0),
    );
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 3)]));
    client.prepare_response(
        fetch_from(0, 3),
        fetch_response(vec![part(0, batch(3, 2, Compression::None), 5)], 0),
    );
    let mut c = consumer_with(&[("auto.offset.reset", "earliest")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 100).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(offsets_of(&got), vec![(0, 3), (0, 4)]);
}

#[test]
fn offset_out_of_range_with_none_is_an_error() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 100),
        fetch_response(vec![part_err(0, ErrorCode::OffsetOutOfRange)], 0),
    );
    let mut c = consumer_with(&[("auto.offset.reset", "none")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 100).unwrap();
    let mut err = None;
    for _ in 0..5 {
        if let Err(e) = c.poll(Duration::ZERO) {
            err = Some(e);
            break;
        }
    }
    match err {
        Some(Error::OffsetOutOfRange { offsets }) => assert_eq!(offsets, vec![(tp(0), 100)]),
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
}

#[test]
fn no_offset_and_reset_none_is_a_clear_error() {
    let client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut c = consumer_with(&[("auto.offset.reset", "none")], client);
    c.assign([tp(0)]).unwrap();
    match c.poll(Duration::ZERO) {
        Err(Error::NoOffsetForPartition(tps)) => assert_eq!(tps, vec![tp(0)]),
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
}

#[test]
fn leader_errors_refresh_metadata_and_retry() {
    for code in [
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::FencedLeaderEpoch,
    ] {
        let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
        client.prepare_response(fetch_from(0, 0), fetch_response(vec![part_err(0, code)], 0));
        client.prepare_response(
            fetch_from(0, 0),
            fetch_response(vec![part(0, batch(0, 1, Compression::None), 1)], 0),
        );
        let mut c = consumer_with(&[], client);
        c.assign([tp(0)]).unwrap();
        c.seek(&tp(0), 0).unwrap();
        let version = c.client().metadata().update_version();
        let got = poll_until(&mut c, 1);
        assert_eq!(offsets_of(&got), vec![(0, 0)], "{code}");
        assert!(
            c.client().metadata().update_version() > version,
            "{code}: metadata was refreshed"
        );
        assert!(c.client().requests_of(ApiKey::Fetch).len() >= 2);
    }
}

#[test]
fn corrupt_record_is_surfaced_at_its_offset() {
    let mut bad = batch(2, 2, Compression::None).to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let data = concat(&[batch(0, 2, Compression::None), Bytes::from(bad)]);
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(fetch_from(0, 0), fetch_response(vec![part(0, data, 4)], 0));
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(offsets_of(&got), vec![(0, 0), (0, 1)]);
    match c.poll(Duration::ZERO) {
        Err(Error::CorruptRecord { tp: t, offset, .. }) => assert_eq!((t, offset), (tp(0), 2)),
        other => panic!("expected CorruptRecord, got {:?}", other.map(|r| r.count())),
    }
    assert_eq!(c.position(&tp(0)).unwrap(), 2);
}

#[test]
fn disconnect_during_fetch_loses_and_duplicates_nothing() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 2, Compression::None), 4)], 0),
    );
    client.prepare_disconnect(fetch_from(0, 2));
    client.prepare_response(
        fetch_from(0, 2),
        fetch_response(vec![part(0, batch(2, 2, Compression::None), 4)], 0),
    );
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 4);
    assert_eq!(offsets_of(&got), vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
}

// ---- fetch sessions (KIP-227), modelled on captures/kafka-4.0/fetch-session ----

#[test]
fn incremental_fetch_session() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 4)]);
    client.prepare_response(
        fetch_from(3, 0),
        fetch_response(vec![part(3, batch(0, 1, Compression::None), 1)], 77),
    );
    let mut c = consumer_with(&[], client);
    c.assign((0..4).map(tp)).unwrap();
    for p in 0..4 {
        c.seek(&tp(p), 0).unwrap();
    }
    let got = poll_until(&mut c, 1);
    assert_eq!(offsets_of(&got), vec![(3, 0)]);
    let fetches = c.client().requests_of(ApiKey::Fetch);
    let RequestBody::Fetch(first) = &fetches[0].body else {
        unreachable!()
    };
    assert_eq!((first.session_id, first.session_epoch), (0, 0));
    assert_eq!(fetched_partitions(&fetches[0].body).len(), 4, "full fetch");
    let RequestBody::Fetch(second) = &fetches[1].body else {
        unreachable!()
    };
    assert_eq!((second.session_id, second.session_epoch), (77, 1));
    assert_eq!(
        fetched_partitions(&fetches[1].body),
        vec![(3, 1)],
        "only the partition whose position changed"
    );
    // The broker lost the session: the next fetch is a full one again.
    c.client_mut().prepare_response(
        is(ApiKey::Fetch),
        FetchResponse {
            error_code: ErrorCode::FetchSessionIdNotFound.code(),
            ..Default::default()
        },
    );
    c.poll(Duration::ZERO).unwrap();
    c.poll(Duration::ZERO).unwrap();
    let fetches = c.client().requests_of(ApiKey::Fetch);
    let RequestBody::Fetch(third) = &fetches[2].body else {
        unreachable!()
    };
    assert_eq!((third.session_id, third.session_epoch), (0, 0));
    assert_eq!(fetched_partitions(&fetches[2].body).len(), 4);
}

#[test]
fn paused_partition_is_forgotten_from_session() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 2)]);
    client.prepare_response(is(ApiKey::Fetch), fetch_response(vec![], 5));
    let mut c = consumer_with(&[], client);
    c.assign([tp(0), tp(1)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    c.seek(&tp(1), 0).unwrap();
    c.poll(Duration::ZERO).unwrap();
    // The incremental fetch (epoch 1, nothing changed) is in flight; answer it.
    let sent = c.client().requests_of(ApiKey::Fetch).len();
    assert_eq!(sent, 2);
    c.client_mut()
        .prepare_response(is(ApiKey::Fetch), fetch_response(vec![], 5));
    c.pause(&[tp(1)]).unwrap();
    c.poll(Duration::ZERO).unwrap();
    c.poll(Duration::ZERO).unwrap();
    let fetches = c.client().requests_of(ApiKey::Fetch);
    let RequestBody::Fetch(f) = &fetches[1].body else {
        unreachable!()
    };
    assert_eq!((f.session_id, f.session_epoch), (5, 1));
    assert!(f.topics.is_empty() && f.forgotten_topics_data.is_empty());
    let RequestBody::Fetch(f) = &fetches[2].body else {
        unreachable!()
    };
    assert_eq!((f.session_id, f.session_epoch), (5, 2));
    assert!(f.topics.is_empty());
    assert_eq!(f.forgotten_topics_data.len(), 1);
    assert_eq!(f.forgotten_topics_data[0].partitions, vec![1]);
}

#[test]
fn old_fetch_version_uses_topic_names_without_sessions() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.set_api_version_range(0, ApiKey::Fetch, 4, 6);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 1, Compression::Gzip), 1)], 0),
    );
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 1);
    assert_eq!(offsets_of(&got), vec![(0, 0)]);
    let f = &c.client().requests_of(ApiKey::Fetch)[0];
    assert_eq!(f.version, 6);
    let RequestBody::Fetch(r) = &f.body else {
        unreachable!()
    };
    assert_eq!(r.topics[0].topic, "t");
}

// ---- transactions (captures/kafka-4.0/transactions) ----

#[test]
fn read_committed_skips_aborted_transactions_and_control_records() {
    let data = concat(&[
        txn_batch(0, 2, 11),
        marker(2, 11, false),
        txn_batch(3, 2, 12),
        marker(5, 12, true),
    ]);
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut p = part(0, data.clone(), 6);
    p.aborted = Some(vec![(11, 0)]);
    client.prepare_response(fetch_from(0, 0), fetch_response(vec![p], 0));
    let mut c = consumer_with(&[("isolation.level", "read_committed")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(offsets_of(&got), vec![(0, 3), (0, 4)]);
    assert_eq!(got[0].2, "t3");
    // The position passes the trailing commit marker.
    for _ in 0..2 {
        c.poll(Duration::ZERO).unwrap();
    }
    assert_eq!(c.fetch_position(&tp(0)).unwrap().offset, 6);

    // read_uncommitted delivers aborted data but never control records.
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut p = part(0, data, 6);
    p.aborted = Some(vec![(11, 0)]);
    client.prepare_response(fetch_from(0, 0), fetch_response(vec![p], 0));
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let got = poll_until(&mut c, 4);
    assert_eq!(offsets_of(&got), vec![(0, 0), (0, 1), (0, 3), (0, 4)]);
}

// ---- offsets and commits ----

fn group_client() -> MockClient {
    let mut client = MockClient::new_with_cluster(&[0, 1], &[("t", 2)]);
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(1, ErrorCode::None),
    );
    client
}

#[test]
fn reset_list_offsets_goes_out_as_soon_as_the_leader_is_connected() {
    // A connection under way is no failure: the ListOffsets of a reset must
    // leave on the poll in which the leader becomes ready, not one
    // retry.backoff.ms later (found as a 100 ms idle before the first
    // ListOffsets of consumer_perf).
    let time = MockTime::new();
    let mut client =
        MockClient::new_with_cluster_at(&[0, 1], &[("t", 2)], time.now()).with_time(time.clone());
    client.delay_ready(0, Duration::from_millis(5), time.now());
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 40)]));
    let clock_time = time.clone();
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", "localhost:9092"),
        ("auto.offset.reset", "latest"),
        ("retry.backoff.ms", "100"),
    ])
    .unwrap();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        Box::new(move || clock_time.now()),
    );
    c.assign([tp(0)]).unwrap();
    c.poll(Duration::ZERO).unwrap();
    assert!(
        c.client().requests_of(ApiKey::ListOffsets).is_empty(),
        "leader 0 is still connecting"
    );
    time.advance(Duration::from_millis(5));
    c.poll(Duration::ZERO).unwrap();
    let lo = c.client().requests_of(ApiKey::ListOffsets);
    assert_eq!(lo.len(), 1, "sent on the poll the leader became ready");
    assert_eq!(lo[0].node, 0);
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(c.fetch_position(&tp(0)).map(|p| p.offset), Some(40));
}

#[test]
fn reset_after_a_failed_connection_waits_for_the_backoff() {
    // A real failure keeps its retry backoff.
    let time = MockTime::new();
    let mut client =
        MockClient::new_with_cluster_at(&[0, 1], &[("t", 2)], time.now()).with_time(time.clone());
    client.blackout(0, Duration::from_millis(5), time.now());
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 40)]));
    let clock_time = time.clone();
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", "localhost:9092"),
        ("auto.offset.reset", "latest"),
        ("retry.backoff.ms", "100"),
    ])
    .unwrap();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        Box::new(move || clock_time.now()),
    );
    c.assign([tp(0)]).unwrap();
    c.poll(Duration::ZERO).unwrap();
    time.advance(Duration::from_millis(5));
    c.poll(Duration::ZERO).unwrap();
    assert!(
        c.client().requests_of(ApiKey::ListOffsets).is_empty(),
        "still backing off after the failure"
    );
    time.advance(Duration::from_millis(100));
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(c.client().requests_of(ApiKey::ListOffsets).len(), 1);
}

#[test]
fn starts_at_committed_offset_else_reset() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 7, "m"), (1, -1, "")]),
    );
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(1, 40)]));
    let mut c = consumer_with(
        &[
            ("group.id", "g"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "latest"),
        ],
        client,
    );
    c.assign([tp(0), tp(1)]).unwrap();
    assert_eq!(c.position(&tp(0)).unwrap(), 7);
    assert_eq!(c.position(&tp(1)).unwrap(), 40);
    let of = c.client().requests_of(ApiKey::OffsetFetch);
    assert_eq!(
        of[0].node,
        coordinator_connection_id(1),
        "sent to the coordinator"
    );
    let lo = c.client().requests_of(ApiKey::ListOffsets);
    let RequestBody::ListOffsets(r) = &lo[0].body else {
        unreachable!()
    };
    assert_eq!(
        r.topics[0].partitions.len(),
        1,
        "only the partition without a commit"
    );
    assert_eq!(r.topics[0].partitions[0].timestamp, -1);
}

#[test]
fn commit_sync_commits_consumed_positions_with_metadata() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None)]),
    );
    let mut c = consumer_with(
        &[("group.id", "g"), ("enable.auto.commit", "false")],
        client,
    );
    c.assign([tp(0), tp(1)]).unwrap();
    c.seek(&tp(0), 4).unwrap();
    c.seek(&tp(1), 9).unwrap();
    c.commit_sync().unwrap();
    let mut offsets = HashMap::new();
    offsets.insert(tp(0), OffsetAndMetadata::with_metadata(2, "note"));
    c.commit_sync_offsets(offsets).unwrap();
    let commits = c.client().requests_of(ApiKey::OffsetCommit);
    assert_eq!(commits.len(), 2);
    let RequestBody::OffsetCommit(r) = &commits[0].body else {
        unreachable!()
    };
    assert_eq!(r.group_id, "g");
    assert_eq!(r.generation_id_or_member_epoch, -1);
    assert_eq!(r.member_id, "");
    let parts: Vec<(i32, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(parts, vec![(0, 4), (1, 9)]);
    let RequestBody::OffsetCommit(r) = &commits[1].body else {
        unreachable!()
    };
    assert_eq!(
        r.topics[0].partitions[0].committed_metadata.as_deref(),
        Some("note")
    );
    assert_eq!(commits[0].node, coordinator_connection_id(1));
}

#[test]
fn commit_sync_retries_after_coordinator_moves() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::NotCoordinator)]),
    );
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(0, ErrorCode::None),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None)]),
    );
    let mut c = consumer_with(
        &[("group.id", "g"), ("enable.auto.commit", "false")],
        client,
    );
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 1).unwrap();
    c.commit_sync().unwrap();
    let commits = c.client().requests_of(ApiKey::OffsetCommit);
    assert_eq!(commits.len(), 2);
    assert_eq!(
        (commits[0].node, commits[1].node),
        (coordinator_connection_id(1), coordinator_connection_id(0))
    );
}

#[test]
fn commit_sync_fails_on_fatal_error_and_times_out() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::GroupAuthorizationFailed)]),
    );
    let mut c = consumer_with(
        &[
            ("group.id", "g"),
            ("enable.auto.commit", "false"),
            ("default.api.timeout.ms", "500"),
        ],
        client,
    );
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 1).unwrap();
    assert!(matches!(c.commit_sync(), Err(Error::CommitFailed(_))));
    // No answer at all: blocks until the timeout, then says so.
    assert!(matches!(c.commit_sync(), Err(Error::Timeout(_))));
}

#[test]
fn commit_without_group_id_is_rejected() {
    let client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    assert!(matches!(c.commit_sync(), Err(Error::InvalidGroupId)));
    assert!(matches!(c.committed(&[tp(0)]), Err(Error::InvalidGroupId)));
}

#[test]
fn invariant_commit_async_callbacks_run_in_order_inside_later_calls() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None)]),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::UnknownTopicOrPartition)]),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None)]),
    );
    let mut c = consumer_with(
        &[("group.id", "g"), ("enable.auto.commit", "false")],
        client,
    );
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 1).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let l = log.clone();
        c.commit_async(Some(Box::new(move |offsets, r| {
            l.lock()
                .unwrap()
                .push((i, offsets[&tp(0)].offset, r.is_ok()));
        })))
        .unwrap();
        assert!(
            log.lock().unwrap().iter().all(|(j, _, _)| *j < i),
            "a commit's own call never runs its callback"
        );
    }
    // The network delivers the answers, but callbacks wait for a consumer call.
    let ran = log.lock().unwrap().len();
    let _ = c.client_mut().poll(Duration::ZERO, Instant::now());
    assert_eq!(log.lock().unwrap().len(), ran);
    for _ in 0..5 {
        c.poll(Duration::ZERO).unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        vec![(0, 1, true), (1, 1, false), (2, 1, true)],
        "in commit order, with their outcomes"
    );
}

#[test]
fn close_completes_pending_async_commits() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None)]),
    );
    let mut c = consumer_with(
        &[("group.id", "g"), ("enable.auto.commit", "false")],
        client,
    );
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 3).unwrap();
    let done = Arc::new(Mutex::new(None));
    let d = done.clone();
    c.commit_async(Some(Box::new(move |_, r| {
        *d.lock().unwrap() = Some(r.is_ok())
    })))
    .unwrap();
    c.close(Duration::from_secs(5)).unwrap();
    assert_eq!(*done.lock().unwrap(), Some(true));
    assert!(matches!(
        c.poll(Duration::ZERO),
        Err(Error::IllegalState(_))
    ));
}

#[test]
fn auto_commit_commits_consumed_offsets_on_interval_and_close() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 0, "")]),
    );
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 2, Compression::None), 2)], 0),
    );
    for _ in 0..10 {
        client.prepare_response(
            is(ApiKey::OffsetCommit),
            commit_response(&[(0, ErrorCode::None)]),
        );
    }
    let mut c = consumer_with(
        &[("group.id", "g"), ("auto.commit.interval.ms", "5")],
        client,
    );
    c.assign([tp(0)]).unwrap();
    let got = poll_until(&mut c, 2);
    assert_eq!(got.len(), 2);
    for _ in 0..10 {
        c.poll(Duration::ZERO).unwrap();
    }
    c.close(Duration::from_secs(1)).unwrap();
    let commits = c.client().requests_of(ApiKey::OffsetCommit);
    assert!(!commits.is_empty());
    let RequestBody::OffsetCommit(last) = &commits.last().unwrap().body else {
        unreachable!()
    };
    assert_eq!(last.topics[0].partitions[0].committed_offset, 2);
}

#[test]
fn committed_returns_offsets_and_metadata() {
    let mut client = group_client();
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 12, "meta"), (1, -1, "")]),
    );
    let mut c = consumer_with(&[("group.id", "g")], client);
    let r = c.committed(&[tp(0), tp(1)]).unwrap();
    assert_eq!(
        r[&tp(0)],
        Some(OffsetAndMetadata::with_metadata(12, "meta"))
    );
    assert_eq!(r[&tp(1)], None);
}

#[test]
fn beginning_end_offsets_and_offsets_for_times() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 2)]);
    client.prepare_response(
        is(ApiKey::ListOffsets),
        list_offsets_response(&[(0, 0), (1, 5)]),
    );
    client.prepare_response(
        is(ApiKey::ListOffsets),
        list_offsets_response(&[(0, 10), (1, 20)]),
    );
    client.prepare_response(
        is(ApiKey::ListOffsets),
        list_offsets_response(&[(0, 4), (1, -1)]),
    );
    let mut c = consumer_with(&[], client);
    let b = c
        .beginning_offsets(&[tp(0), tp(1)], Duration::from_secs(1))
        .unwrap();
    assert_eq!((b[&tp(0)], b[&tp(1)]), (0, 5));
    let e = c
        .end_offsets(&[tp(0), tp(1)], Duration::from_secs(1))
        .unwrap();
    assert_eq!((e[&tp(0)], e[&tp(1)]), (10, 20));
    let times: HashMap<TopicPartition, i64> =
        [(tp(0), 1004), (tp(1), 99_999)].into_iter().collect();
    let t = c.offsets_for_times(&times, Duration::from_secs(1)).unwrap();
    assert_eq!(t[&tp(0)].unwrap().offset, 4);
    assert_eq!(t[&tp(1)], None);
    let reqs = c.client().requests_of(ApiKey::ListOffsets);
    let RequestBody::ListOffsets(r) = &reqs[2].body else {
        unreachable!()
    };
    let ts: Vec<i64> = r.topics[0].partitions.iter().map(|p| p.timestamp).collect();
    assert!(ts.contains(&1004) && ts.contains(&99_999));
}

#[test]
fn list_offsets_retries_after_leader_error() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        is(ApiKey::ListOffsets),
        ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "t".into(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition_index: 0,
                    error_code: ErrorCode::NotLeaderOrFollower.code(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 8)]));
    let mut c = consumer_with(&[], client);
    let e = c.end_offsets(&[tp(0)], Duration::from_secs(1)).unwrap();
    assert_eq!(e[&tp(0)], 8);
}

#[test]
fn seek_to_beginning_and_end_are_lazy_resets() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 2)]));
    client.prepare_response(is(ApiKey::ListOffsets), list_offsets_response(&[(0, 30)]));
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek_to_beginning(Vec::<TopicPartition>::new()).unwrap();
    assert!(
        c.client().requests_of(ApiKey::ListOffsets).is_empty(),
        "lazy"
    );
    assert_eq!(c.position(&tp(0)).unwrap(), 2);
    c.seek_to_end(&[tp(0)]).unwrap();
    assert_eq!(c.position(&tp(0)).unwrap(), 30);
    let reqs = c.client().requests_of(ApiKey::ListOffsets);
    let ts: Vec<i64> = reqs
        .iter()
        .map(|r| match &r.body {
            RequestBody::ListOffsets(l) => l.topics[0].partitions[0].timestamp,
            _ => 0,
        })
        .collect();
    assert_eq!(ts, vec![-2, -1]);
}

#[test]
fn calls_on_unassigned_partitions_fail() {
    let client = MockClient::new_with_cluster(&[0], &[("t", 2)]);
    let mut c = consumer_with(&[], client);
    assert!(matches!(
        c.poll(Duration::ZERO),
        Err(Error::IllegalState(_))
    ));
    c.assign([tp(0)]).unwrap();
    assert!(matches!(c.seek(&tp(1), 0), Err(Error::NotAssigned(_))));
    assert!(matches!(c.pause(&[tp(1)]), Err(Error::NotAssigned(_))));
    assert!(matches!(c.position(&tp(1)), Err(Error::NotAssigned(_))));
    assert!(c.seek(&tp(0), -1).is_err());
    assert_eq!(c.assignment(), vec![tp(0)]);
    c.assign([tp(1)]).unwrap();
    assert_eq!(c.assignment(), vec![tp(1)]);
    c.unsubscribe().unwrap();
    assert!(c.assignment().is_empty());
}

#[test]
fn reassignment_drops_buffered_data_of_removed_partitions() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 2)]);
    client.prepare_response(
        is(ApiKey::Fetch),
        fetch_response(vec![part(0, batch(0, 5, Compression::None), 5)], 0),
    );
    let mut c = consumer_with(&[("max.poll.records", "1")], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    poll_until(&mut c, 1);
    assert!(c.buffered_bytes() > 0);
    c.assign([tp(1)]).unwrap();
    assert_eq!(c.buffered_bytes(), 0);
}

#[test]
fn wakeup_from_another_thread_interrupts_poll() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<crate::WakeupHandle>();
    let client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let handle = c.wakeup_handle();
    std::thread::spawn(move || handle.wakeup()).join().unwrap();
    assert!(matches!(
        c.poll(Duration::from_secs(3600)),
        Err(Error::Wakeup)
    ));
    // Only once: the next call works normally.
    assert!(c.poll(Duration::ZERO).is_ok());
    c.wakeup();
    assert!(matches!(c.position(&tp(0)), Err(Error::Wakeup)));
}

#[test]
fn partitions_for_and_list_topics() {
    let client = MockClient::new_with_cluster(&[0], &[("t", 3), ("u", 1)]);
    let mut c = consumer_with(&[], client);
    let parts = c.partitions_for("t").unwrap();
    assert_eq!(parts.len(), 3);
    let topics = c.list_topics().unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics["u"].len(), 1);
}

#[test]
fn records_carry_headers_timestamps_and_sizes() {
    let mut client = MockClient::new_with_cluster(&[0], &[("t", 1)]);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, batch(0, 1, Compression::Zstd), 1)], 0),
    );
    let mut c = consumer_with(&[], client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    let mut recs = Vec::new();
    for _ in 0..5 {
        recs.extend(c.poll(Duration::ZERO).unwrap());
    }
    let r = &recs[0];
    assert_eq!(r.topic(), "t");
    assert_eq!(r.timestamp, 1000);
    assert_eq!(r.timestamp_type, crate::TimestampType::CreateTime);
    assert_eq!(r.key.as_deref(), Some("k"));
    assert_eq!(r.serialized_key_size, 1);
    assert_eq!(r.serialized_value_size, 2);
    assert_eq!(r.headers[0].key, "h");
    assert_eq!(r.leader_epoch, None);
}

#[test]
fn consumer_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<KafkaConsumer<String, String>>();
    assert_send::<Consumer>();
    assert_send::<crate::ConsumerRecords<String, String>>();
}

/// receive.buffer.bytes defaults to the OS default (no SO_RCVBUF, so Linux
/// auto-tunes the receive buffer); a value the user sets is still applied.
#[test]
fn socket_buffers_default_to_the_os_and_honour_what_is_set() {
    use crate::consumer::network_config;
    let c = ConsumerConfig::from_properties([("bootstrap.servers", "b:9092")]).unwrap();
    let n = network_config(&c).unwrap();
    assert_eq!(n.receive_buffer, None, "receive.buffer.bytes default");
    assert_eq!(n.send_buffer, Some(131_072), "send.buffer.bytes default");
    let c = ConsumerConfig::from_properties([
        ("bootstrap.servers", "b:9092"),
        ("receive.buffer.bytes", "65536"),
        ("send.buffer.bytes", "-1"),
    ])
    .unwrap();
    let n = network_config(&c).unwrap();
    assert_eq!(n.receive_buffer, Some(65_536));
    assert_eq!(n.send_buffer, None);
    let e = ConsumerConfig::from_properties([
        ("bootstrap.servers", "b:9092"),
        ("receive.buffer.bytes", "-2"),
    ]);
    assert!(e.is_err(), "below -1 is refused");
}

#[test]
fn network_config_carries_security_settings() {
    use crate::consumer::network_config;
    use prozess_network::sasl::SaslMechanism;
    let c = ConsumerConfig::from_properties([
        ("bootstrap.servers", "b:9093"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";"#,
        ),
        ("ssl.ca.location", "/etc/ca.pem"),
        ("ssl.endpoint.identification.algorithm", ""),
        ("request.timeout.ms", "1234"),
    ])
    .unwrap();
    let n = network_config(&c).unwrap();
    let sasl = n.sasl.unwrap();
    assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
    assert_eq!(
        (sasl.username.as_str(), sasl.password.as_str()),
        ("alice", "s3cret")
    );
    let tls = n.tls.unwrap();
    assert_eq!(tls.ca_file.unwrap().to_str(), Some("/etc/ca.pem"));
    assert!(!tls.verify_hostname);
    assert_eq!(n.request_timeout, Duration::from_millis(1234));
    assert!(n.max_response_size > c.fetch_max_bytes as usize);
    // The password never shows in debug output.
    assert!(!format!("{c:?}").contains("s3cret"));
    // SASL without credentials is a configuration error naming the key,
    // found when the configuration is validated (as the producer's).
    let no_credentials = ConsumerConfig::from_properties([
        ("bootstrap.servers", "b:9093"),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
    ]);
    match no_credentials {
        Err(Error::Config { key, .. }) => assert_eq!(key, "sasl.jaas.config"),
        other => panic!("expected a config error, got {:?}", other.map(|_| ())),
    }
    let no_mechanism = ConsumerConfig::from_properties([
        ("bootstrap.servers", "b:9093"),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
    ]);
    match no_mechanism {
        Err(Error::Config { key, message }) => {
            assert_eq!(key, "sasl.mechanism");
            assert!(message.contains("GSSAPI"), "{message}");
        }
        other => panic!("expected a config error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn committed_offset_lookup_is_retried_after_a_retriable_error() {
    let mut client = group_client();
    let mut failed = offset_fetch_response(&[]);
    failed.groups[0].error_code = ErrorCode::CoordinatorLoadInProgress.code();
    client.prepare_response(is(ApiKey::OffsetFetch), failed);
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 21, "")]),
    );
    let mut c = consumer_with(
        &[("group.id", "g"), ("enable.auto.commit", "false")],
        client,
    );
    c.assign([tp(0)]).unwrap();
    assert_eq!(c.position(&tp(0)).unwrap(), 21);
    assert_eq!(c.client().requests_of(ApiKey::OffsetFetch).len(), 2);
    assert!(
        c.client().requests_of(ApiKey::ListOffsets).is_empty(),
        "no reset"
    );
}

mod epoch_tests;
mod group_tests;
mod metrics_tests;
