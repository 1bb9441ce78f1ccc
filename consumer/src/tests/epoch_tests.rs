//! Leader epochs over the scripted MockClient (issue 10, items 0 and 4): the
//! epochs each Fetch carries before and after a leader change, KIP-320
//! position validation with OffsetForLeaderEpoch, truncation handling with
//! and without a reset policy, and brokers that cannot validate.

use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_network::mock::MockClient;
use prozess_network::{MetadataSnapshot, NodeId};
use prozess_protocol::messages::offset_for_leader_epoch::response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use prozess_protocol::messages::{FetchResponse, OffsetForLeaderEpochResponse};
use prozess_protocol::records::{Compression, MemoryRecordsBuilder};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody};

use super::{concat, consumer_with, fetch_response, flatten, part, part_err, tp, Consumer};
use crate::error::Error;

/// A cluster of nodes 0 and 1 with topic `t` (one partition) led by
/// `leader` at `epoch`.
fn cluster(leader: NodeId, epoch: i32) -> MetadataSnapshot {
    let mut s = MetadataSnapshot::simple(&[0, 1], &[("t", 1)]);
    let p = &mut s.topics[0].partitions[0];
    p.leader = Some(leader);
    p.leader_epoch = epoch;
    p.replicas = vec![0, 1];
    p.isr = vec![0, 1];
    s
}

/// `n` records from `base`, written under leader epoch `epoch`.
fn epoch_batch(base: i64, n: usize, epoch: i32) -> Bytes {
    let mut b = MemoryRecordsBuilder::new(base, Compression::None).partition_leader_epoch(epoch);
    for i in 0..n {
        let v = format!("v{}", base + i as i64);
        b.append(1_000, None, Some(v.as_bytes()), &[]).unwrap();
    }
    b.build().unwrap()
}

/// (fetch offset, current_leader_epoch, last_fetched_epoch) of partition 0.
fn fetch_epochs(b: &RequestBody) -> Option<(i64, i32, i32)> {
    match b {
        RequestBody::Fetch(f) => f.topics.iter().flat_map(|t| &t.partitions).find_map(|p| {
            (p.partition == 0).then_some((
                p.fetch_offset,
                p.current_leader_epoch,
                p.last_fetched_epoch,
            ))
        }),
        _ => None,
    }
}

/// The epochs of the Fetch requests sent since the last call.
fn sent_fetches(c: &mut Consumer) -> Vec<(NodeId, (i64, i32, i32))> {
    c.client_mut()
        .take_requests()
        .into_iter()
        .filter(|r| r.api_key == ApiKey::Fetch)
        .filter_map(|r| fetch_epochs(&r.body).map(|e| (r.node, e)))
        .collect()
}

/// (current_leader_epoch, leader_epoch) of each OffsetForLeaderEpoch
/// partition sent since the last call, with the node.
fn sent_validations(requests: &[prozess_network::mock::SentRequest]) -> Vec<(NodeId, i32, i32)> {
    requests
        .iter()
        .filter_map(|r| match &r.body {
            RequestBody::OffsetForLeaderEpoch(o) => Some((r.node, o)),
            _ => None,
        })
        .flat_map(|(node, o)| {
            o.topics.iter().flat_map(move |t| {
                t.partitions
                    .iter()
                    .map(move |p| (node, p.current_leader_epoch, p.leader_epoch))
            })
        })
        .collect()
}

fn validation_answer(
    error: ErrorCode,
    epoch: i32,
    end_offset: i64,
) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        topics: vec![OffsetForLeaderTopicResult {
            topic: "t".into(),
            partitions: vec![EpochEndOffset {
                error_code: error.code(),
                partition: 0,
                leader_epoch: epoch,
                end_offset,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn records(data: Bytes, high_watermark: i64) -> FetchResponse {
    fetch_response(vec![part(0, data, high_watermark)], 0)
}

/// A Fetch answer with no data and a diverging epoch (KIP-595).
fn diverging(epoch: i32, end_offset: i64) -> FetchResponse {
    let mut r = fetch_response(vec![part(0, Bytes::new(), 100)], 0);
    let p = &mut r.responses[0].partitions[0];
    p.diverging_epoch.epoch = epoch;
    p.diverging_epoch.end_offset = end_offset;
    r
}

fn offsets(c: &mut Consumer) -> Vec<i64> {
    flatten(&c.poll(Duration::ZERO).unwrap())
        .into_iter()
        .map(|(_, o, _)| o)
        .collect()
}

/// A consumer reading `t-0` from offset 0, led by node 0 at epoch 5.
fn consumer_at_epoch_5(props: &[(&str, &str)]) -> Consumer {
    let mut client = MockClient::new();
    client.update_metadata(cluster(0, 5), Instant::now());
    let mut c = consumer_with(props, client);
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    c
}

/// Reads offsets 0..3 (epoch 5) so the position is (3, epoch 5); a Fetch at
/// 3 is left in flight on node 0 and answered with no data.
fn consume_three_at_epoch_5(c: &mut Consumer) {
    assert!(offsets(c).is_empty());
    assert_eq!(sent_fetches(c), vec![(0, (0, 5, -1))]);
    c.client_mut()
        .respond_to(0, records(epoch_batch(0, 3, 5), 3));
    assert_eq!(offsets(c), vec![0, 1, 2]);
    assert_eq!(sent_fetches(c), vec![(0, (3, 5, 5))], "pipelined fetch");
    c.client_mut().respond_to(0, records(Bytes::new(), 3));
    assert!(offsets(c).is_empty());
    c.client_mut().take_requests();
}

// ---- item 0: the epochs each fetch carries around a leader change ----

#[test]
fn fetches_carry_the_new_epoch_after_a_leader_change_and_each_record_is_read_once() {
    let mut c =
        consumer_at_epoch_5(&[("max.poll.records", "2"), ("auto.offset.reset", "earliest")]);
    // Epoch 5 on node 0: the first fetch knows no epoch of a last record.
    assert!(offsets(&mut c).is_empty());
    assert_eq!(sent_fetches(&mut c), vec![(0, (0, 5, -1))]);
    c.client_mut()
        .respond_to(0, records(epoch_batch(0, 2, 5), 2));
    assert_eq!(offsets(&mut c), vec![0, 1]);
    assert_eq!(sent_fetches(&mut c), vec![(0, (2, 5, 5))]);
    // Node 0 dies; node 1 leads at epoch 6 (its log keeps epoch 5 up to 4).
    c.client_mut().respond_to(
        0,
        fetch_response(vec![part_err(0, ErrorCode::NotLeaderOrFollower)], 0),
    );
    let now = Instant::now();
    c.client_mut().update_metadata(cluster(1, 6), now);
    assert!(offsets(&mut c).is_empty());
    let requests = c.client_mut().take_requests();
    assert_eq!(sent_validations(&requests), vec![(1, 6, 5)]);
    assert!(
        requests.iter().all(|r| r.api_key != ApiKey::Fetch),
        "no fetch while the position awaits validation"
    );
    c.client_mut()
        .respond_to(1, validation_answer(ErrorCode::None, 5, 4));
    assert!(offsets(&mut c).is_empty());
    assert_eq!(sent_fetches(&mut c), vec![(1, (2, 6, 5))]);
    // Batches of both epochs: 2-3 (epoch 5) and 4-6 (epoch 6).
    c.client_mut().respond_to(
        1,
        records(concat(&[epoch_batch(2, 2, 5), epoch_batch(4, 3, 6)]), 7),
    );
    let mut got = offsets(&mut c);
    assert_eq!(got, vec![2, 3]);
    // The fetch ahead of the buffered data starts where it ends, with the
    // epoch of its last batch: 6, not the position's 5 (the broker would
    // answer a diverging epoch (5, 4) and the position would go back).
    assert_eq!(sent_fetches(&mut c), vec![(1, (7, 6, 6))]);
    c.client_mut()
        .respond_to(1, records(epoch_batch(7, 2, 6), 9));
    for _ in 0..10 {
        got.extend(offsets(&mut c));
    }
    assert_eq!(
        got,
        (2..9).collect::<Vec<i64>>(),
        "every record once, in order"
    );
    let pos = c.fetch_position(&tp(0)).unwrap();
    assert_eq!((pos.offset, pos.offset_epoch), (9, Some(6)));
    let later = sent_fetches(&mut c);
    assert_eq!(later.last(), Some(&(1, (9, 6, 6))));
}

#[test]
fn a_diverging_epoch_moves_the_position_once() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "earliest")]);
    assert!(offsets(&mut c).is_empty());
    assert_eq!(sent_fetches(&mut c), vec![(0, (0, 5, -1))]);
    c.client_mut()
        .respond_to(0, records(epoch_batch(0, 8, 5), 8));
    assert_eq!(offsets(&mut c).len(), 8);
    assert_eq!(sent_fetches(&mut c), vec![(0, (8, 5, 5))]);
    // The leader's epoch 5 ended at 6: offsets 6 and 7 were truncated.
    c.client_mut().respond_to(0, diverging(5, 6));
    assert!(offsets(&mut c).is_empty());
    let pos = c.fetch_position(&tp(0)).unwrap();
    assert_eq!((pos.offset, pos.offset_epoch), (6, Some(5)));
    assert_eq!(sent_fetches(&mut c), vec![(0, (6, 5, 5))]);
    // The new leader's records from 6 on: read once, no further jump.
    c.client_mut()
        .respond_to(0, records(epoch_batch(6, 3, 5), 9));
    assert_eq!(offsets(&mut c), vec![6, 7, 8]);
    assert_eq!(sent_fetches(&mut c), vec![(0, (9, 5, 5))]);
    c.client_mut().respond_to(0, records(Bytes::new(), 9));
    assert!(offsets(&mut c).is_empty());
    assert_eq!(c.fetch_position(&tp(0)).unwrap().offset, 9);
}

#[test]
fn a_diverging_epoch_with_reset_none_is_log_truncation() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "none")]);
    assert!(offsets(&mut c).is_empty());
    c.client_mut()
        .respond_to(0, records(epoch_batch(0, 8, 5), 8));
    assert_eq!(offsets(&mut c).len(), 8);
    c.client_mut().respond_to(0, diverging(5, 6));
    match c.poll(Duration::ZERO) {
        Err(Error::LogTruncation { truncations }) => {
            assert_eq!(truncations.len(), 1);
            let t = &truncations[0];
            assert_eq!((t.tp.clone(), t.offset), (tp(0), 8));
            assert_eq!(t.divergent_offset, Some((6, 5)));
            let msg = Error::LogTruncation {
                truncations: truncations.clone(),
            }
            .to_string();
            assert!(
                msg.contains("t-0") && msg.contains("offset 8") && msg.contains("offset 6"),
                "{msg}"
            );
        }
        other => panic!("expected LogTruncation, got {other:?}"),
    }
    assert_eq!(
        c.fetch_position(&tp(0)).unwrap().offset,
        8,
        "not moved quietly"
    );
}

// ---- item 4: KIP-320 validation with OffsetForLeaderEpoch ----

#[test]
fn epoch_bump_sends_a_validation_and_a_matching_epoch_keeps_the_position() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "earliest")]);
    consume_three_at_epoch_5(&mut c);
    let in_flight_before = c.client().in_flight_requests().len();
    // Same leader, new epoch: the position is validated before fetching.
    let now = Instant::now();
    c.client_mut().update_metadata(cluster(0, 6), now);
    assert!(offsets(&mut c).is_empty());
    let requests = c.client_mut().take_requests();
    assert_eq!(sent_validations(&requests), vec![(0, 6, 5)]);
    assert!(requests.iter().all(|r| r.api_key != ApiKey::Fetch));
    assert!(c.client().in_flight_requests().len() > in_flight_before);
    // Nothing more is sent while the answer is outstanding.
    assert!(offsets(&mut c).is_empty());
    assert!(sent_validations(&c.client_mut().take_requests()).is_empty());
    c.client_mut()
        .respond_to(0, validation_answer(ErrorCode::None, 5, 3));
    assert!(offsets(&mut c).is_empty());
    assert_eq!(c.position(&tp(0)).unwrap(), 3);
    // The fetch sent before the bump ends; the next carries epoch 6.
    c.client_mut().respond_to(0, records(Bytes::new(), 3));
    assert!(offsets(&mut c).is_empty());
    let fetches = sent_fetches(&mut c);
    assert_eq!(fetches.last(), Some(&(0, (3, 6, 5))));
}

#[test]
fn truncation_found_by_validation_resets_to_the_end_of_the_common_epoch() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "earliest")]);
    consume_three_at_epoch_5(&mut c);
    let now = Instant::now();
    c.client_mut().update_metadata(cluster(1, 6), now);
    assert!(offsets(&mut c).is_empty());
    assert_eq!(
        sent_validations(&c.client_mut().take_requests()),
        vec![(1, 6, 5)]
    );
    // The new leader's epoch 5 ends at 1: offsets 1 and 2 are gone.
    c.client_mut()
        .respond_to(1, validation_answer(ErrorCode::None, 5, 1));
    assert!(offsets(&mut c).is_empty());
    let pos = c.fetch_position(&tp(0)).unwrap();
    assert_eq!((pos.offset, pos.offset_epoch), (1, Some(5)));
    assert_eq!(sent_fetches(&mut c).last(), Some(&(1, (1, 6, 5))));
}

#[test]
fn truncation_found_by_validation_with_reset_none_is_log_truncation() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "none")]);
    consume_three_at_epoch_5(&mut c);
    let now = Instant::now();
    c.client_mut().update_metadata(cluster(1, 6), now);
    assert!(offsets(&mut c).is_empty());
    c.client_mut()
        .respond_to(1, validation_answer(ErrorCode::None, 5, 1));
    match c.poll(Duration::ZERO) {
        Err(Error::LogTruncation { truncations }) => {
            let t = &truncations[0];
            assert_eq!(
                (t.tp.clone(), t.offset, t.offset_epoch),
                (tp(0), 3, Some(5))
            );
            assert_eq!(t.divergent_offset, Some((1, 5)));
        }
        other => panic!("expected LogTruncation, got {other:?}"),
    }
    assert!(
        sent_fetches(&mut c).is_empty(),
        "the truncated position is not fetched from"
    );
    // The caller decides: a seek ends it.
    c.seek(&tp(0), 1).unwrap();
    assert!(offsets(&mut c).is_empty());
    assert_eq!(sent_fetches(&mut c).last().map(|f| f.1 .0), Some(1));
}

#[test]
fn retriable_validation_errors_are_retried() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "earliest")]);
    consume_three_at_epoch_5(&mut c);
    let now = Instant::now();
    c.client_mut().update_metadata(cluster(0, 6), now);
    assert!(offsets(&mut c).is_empty());
    c.client_mut().take_requests();
    c.client_mut()
        .respond_to(0, validation_answer(ErrorCode::FencedLeaderEpoch, -1, -1));
    // After the backoff (the test clock moves 1 ms per read) it goes again.
    let mut again = Vec::new();
    for _ in 0..200 {
        assert!(offsets(&mut c).is_empty());
        again = sent_validations(&c.client_mut().take_requests());
        if !again.is_empty() {
            break;
        }
    }
    assert_eq!(again, vec![(0, 6, 5)]);
}

#[test]
fn broker_without_offset_for_leader_epoch_is_not_asked() {
    let mut c = consumer_at_epoch_5(&[("auto.offset.reset", "earliest")]);
    // Like Tansu: the API is not offered at all.
    c.client_mut()
        .set_unsupported(0, ApiKey::OffsetForLeaderEpoch);
    consume_three_at_epoch_5(&mut c);
    let now = Instant::now();
    c.client_mut().update_metadata(cluster(0, 6), now);
    assert!(offsets(&mut c).is_empty());
    let requests = c.client_mut().take_requests();
    assert!(sent_validations(&requests).is_empty());
    assert_eq!(c.position(&tp(0)).unwrap(), 3);
    // The position is fetched from at once, with the new leader epoch.
    c.client_mut().respond_to(0, records(Bytes::new(), 3));
    assert!(offsets(&mut c).is_empty());
    assert_eq!(sent_fetches(&mut c).last(), Some(&(0, (3, 6, 5))));
}

#[test]
fn seek_with_an_epoch_is_validated_before_fetching() {
    let mut client = MockClient::new();
    client.update_metadata(cluster(0, 5), Instant::now());
    let mut c = consumer_with(&[("auto.offset.reset", "earliest")], client);
    c.assign([tp(0)]).unwrap();
    c.seek_with_metadata(&tp(0), 40, Some(3)).unwrap();
    assert!(offsets(&mut c).is_empty());
    let requests = c.client_mut().take_requests();
    assert_eq!(sent_validations(&requests), vec![(0, 5, 3)]);
    assert!(requests.iter().all(|r| r.api_key != ApiKey::Fetch));
    c.client_mut()
        .respond_to(0, validation_answer(ErrorCode::None, 3, 50));
    assert!(offsets(&mut c).is_empty());
    assert_eq!(sent_fetches(&mut c).last(), Some(&(0, (40, 5, 3))));
}
