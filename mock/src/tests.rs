//! Unit tests of the sans-IO cluster: requests in, responses out, time
//! passed in by hand.

use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_protocol::messages::*;
use prozess_protocol::records::{Compression, MemoryRecordsBuilder, RecordBatches};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::state::{ClusterConfig, ClusterState, Reply};

fn state(brokers: i32) -> ClusterState {
    let mut s = ClusterState::new(
        brokers,
        ClusterConfig {
            group_initial_rebalance_delay: Duration::ZERO,
            ..ClusterConfig::default()
        },
    );
    s.create_topic("t", 2);
    s
}

fn batch(n: usize) -> Bytes {
    let mut b = MemoryRecordsBuilder::new(0, Compression::None);
    for i in 0..n {
        b.append(1000 + i as i64, None, Some(b"value".as_slice()), &[])
            .unwrap();
    }
    b.build().unwrap()
}

fn now_reply(r: Reply) -> ResponseBody {
    match r {
        Reply::Now(b) => b,
        other => panic!("expected an answer now, got {other:?}"),
    }
}

fn produce(acks: i16, partition: i32, records: Bytes) -> RequestBody {
    use produce::request::*;
    ProduceRequest {
        acks,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
    .into()
}

fn fetch(partition: i32, offset: i64, max_wait_ms: i32, epoch: i32) -> RequestBody {
    use fetch::request::*;
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "t".into(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: epoch,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
    .into()
}

fn fetch_error(r: &ResponseBody) -> (i16, usize, i64) {
    let ResponseBody::Fetch(f) = r else {
        panic!("not a fetch response: {r:?}")
    };
    let p = &f.responses[0].partitions[0];
    let batches = RecordBatches::new(p.records.clone().unwrap_or_default()).count();
    (p.error_code, batches, p.high_watermark)
}

#[test]
fn produce_assigns_offsets_and_fetch_reads_them_back() {
    let mut s = state(1);
    let t0 = Instant::now();
    let ResponseBody::Produce(p) =
        now_reply(s.handle((1, 0), 0, 9, "c", produce(-1, 0, batch(3)), t0))
    else {
        panic!()
    };
    assert_eq!(p.responses[0].partition_responses[0].base_offset, 0);
    let ResponseBody::Produce(p) =
        now_reply(s.handle((1, 1), 0, 9, "c", produce(1, 0, batch(2)), t0))
    else {
        panic!()
    };
    assert_eq!(p.responses[0].partition_responses[0].base_offset, 3);
    // acks=0: no response at all, the data is written.
    assert!(matches!(
        s.handle((1, 2), 0, 9, "c", produce(0, 0, batch(1)), t0),
        Reply::NoResponse
    ));
    let r = now_reply(s.handle((1, 3), 0, 12, "c", fetch(0, 4, 500, -1), t0));
    // The batch holding offset 4 starts at 3.
    assert_eq!(fetch_error(&r), (0, 2, 6));
}

#[test]
fn fetch_at_the_end_waits_until_data_or_max_wait() {
    let mut s = state(1);
    let t0 = Instant::now();
    assert!(matches!(
        s.handle((1, 0), 0, 12, "c", fetch(0, 0, 500, -1), t0),
        Reply::Held
    ));
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_millis(500)));
    s.tick(t0 + Duration::from_millis(499));
    assert!(s.take_completed(1).is_empty());
    s.tick(t0 + Duration::from_millis(500));
    let done = s.take_completed(1);
    assert_eq!(done.len(), 1);
    assert_eq!(fetch_error(&done[0].1), (0, 0, 0));
    // A second wait ends early when data arrives.
    assert!(matches!(
        s.handle((1, 1), 0, 12, "c", fetch(0, 0, 500, -1), t0),
        Reply::Held
    ));
    now_reply(s.handle((2, 0), 0, 9, "p", produce(1, 0, batch(1)), t0));
    let done = s.take_completed(1);
    assert_eq!(done[0].0, (1, 1));
    assert_eq!(fetch_error(&done[0].1), (0, 1, 1));
}

#[test]
fn fetch_errors_as_apache_kafka() {
    let mut s = state(2);
    let t0 = Instant::now();
    s.append("t", 0, batch(5), t0).unwrap();
    let leader = s.partition("t", 0).unwrap().leader;
    let other = 1 - leader;
    let code = |s: &mut ClusterState, broker, offset, epoch| {
        fetch_error(&now_reply(s.handle(
            (1, 0),
            broker,
            12,
            "c",
            fetch(0, offset, 0, epoch),
            t0,
        )))
        .0
    };
    assert_eq!(
        code(&mut s, leader, 6, -1),
        ErrorCode::OffsetOutOfRange.code()
    );
    assert_eq!(code(&mut s, leader, 5, -1), 0);
    assert_eq!(
        code(&mut s, other, 0, -1),
        ErrorCode::NotLeaderOrFollower.code()
    );
    assert_eq!(
        code(&mut s, leader, 0, 1),
        ErrorCode::UnknownLeaderEpoch.code()
    );
    s.partition_mut("t", 0).unwrap().leader_epoch = 3;
    assert_eq!(
        code(&mut s, leader, 0, 2),
        ErrorCode::FencedLeaderEpoch.code()
    );
    s.partition_mut("t", 0).unwrap().log_start = 2;
    assert_eq!(
        code(&mut s, leader, 1, 3),
        ErrorCode::OffsetOutOfRange.code()
    );
}

#[test]
fn list_offsets_earliest_latest_and_by_time() {
    use list_offsets::request::*;
    let mut s = state(1);
    let t0 = Instant::now();
    s.append("t", 0, batch(4), t0).unwrap();
    let ask = |s: &mut ClusterState, ts: i64| {
        let r = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch: -1,
                    timestamp: ts,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let ResponseBody::ListOffsets(l) = now_reply(s.handle((1, 0), 0, 8, "c", r.into(), t0))
        else {
            panic!()
        };
        l.topics[0].partitions[0].offset
    };
    assert_eq!(ask(&mut s, -2), 0);
    assert_eq!(ask(&mut s, -1), 4);
    assert_eq!(ask(&mut s, 1002), 2);
    assert_eq!(ask(&mut s, 5000), -1);
}

fn join(member: &str, session_ms: i32, rebalance_ms: i32) -> RequestBody {
    use join_group::request::JoinGroupRequestProtocol;
    JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms: session_ms,
        rebalance_timeout_ms: rebalance_ms,
        member_id: member.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"md"),
            ..Default::default()
        }],
        ..Default::default()
    }
    .into()
}

fn coordinator(s: &ClusterState) -> i32 {
    s.coordinator_for("g").unwrap()
}

/// Joins a new member (KIP-394 round trip); returns its id, join held.
fn join_new(s: &mut ClusterState, conn: u64, now: Instant) -> String {
    let c = coordinator(s);
    let ResponseBody::JoinGroup(j) =
        now_reply(s.handle((conn, 0), c, 9, "client", join("", 10_000, 30_000), now))
    else {
        panic!()
    };
    assert_eq!(j.error_code, ErrorCode::MemberIdRequired.code());
    let id = j.member_id.clone();
    let r = s.handle((conn, 1), c, 9, "client", join(&id, 10_000, 30_000), now);
    assert!(matches!(r, Reply::Held | Reply::Now(_)), "{r:?}");
    if let Reply::Now(b) = r {
        // Completed at once: put it where take_completed finds it.
        panic!("join completed at once: {b:?}");
    }
    id
}

#[test]
fn classic_group_join_sync_heartbeat_and_session_expiry() {
    let mut s = state(3);
    let t0 = Instant::now();
    let c = coordinator(&s);
    let other = (c + 1) % 3;
    let ResponseBody::Heartbeat(h) = now_reply(
        s.handle(
            (9, 0),
            other,
            4,
            "x",
            HeartbeatRequest {
                group_id: "g".into(),
                ..Default::default()
            }
            .into(),
            t0,
        ),
    ) else {
        panic!()
    };
    assert_eq!(h.error_code, ErrorCode::NotCoordinator.code());

    // First member: no initial delay configured, so the join completes.
    let c = coordinator(&s);
    let ResponseBody::JoinGroup(j) =
        now_reply(s.handle((1, 0), c, 9, "a", join("", 10_000, 30_000), t0))
    else {
        panic!()
    };
    let a = j.member_id;
    assert!(matches!(
        s.handle((1, 1), c, 9, "a", join(&a, 10_000, 30_000), t0),
        Reply::Held
    ));
    s.tick(t0);
    let done = s.take_completed(1);
    let ResponseBody::JoinGroup(j) = &done[0].1 else {
        panic!()
    };
    assert_eq!(
        (j.generation_id, j.leader.as_str(), j.members.len()),
        (1, a.as_str(), 1)
    );

    // Second member joins: a rebalance; A learns it from its heartbeat and
    // rejoins, then both get generation 2.
    let b = join_new(&mut s, 2, t0);
    let hb = |s: &mut ClusterState, member: &str, generation: i32, now: Instant| {
        let r = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            ..Default::default()
        };
        let ResponseBody::Heartbeat(h) = now_reply(s.handle((1, 9), c, 4, "a", r.into(), now))
        else {
            panic!()
        };
        h.error_code
    };
    assert_eq!(hb(&mut s, &a, 1, t0), ErrorCode::RebalanceInProgress.code());
    assert!(matches!(
        s.handle((1, 2), c, 9, "a", join(&a, 10_000, 30_000), t0),
        Reply::Held
    ));
    s.tick(t0);
    let mut done = s.take_completed(1);
    done.extend(s.take_completed(2));
    assert_eq!(done.len(), 2);
    for (_, r) in &done {
        let ResponseBody::JoinGroup(j) = r else {
            panic!()
        };
        assert_eq!(j.generation_id, 2);
        assert_eq!(j.leader, a);
    }
    // SyncGroup: B waits for the leader's assignment.
    use sync_group::request::SyncGroupRequestAssignment;
    let sync = |member: &str, assignments: Vec<SyncGroupRequestAssignment>| -> RequestBody {
        SyncGroupRequest {
            group_id: "g".into(),
            generation_id: 2,
            member_id: member.into(),
            assignments,
            ..Default::default()
        }
        .into()
    };
    assert!(matches!(
        s.handle((2, 3), c, 5, "b", sync(&b, vec![]), t0),
        Reply::Held
    ));
    let assignments = vec![
        SyncGroupRequestAssignment {
            member_id: a.clone(),
            assignment: Bytes::from_static(b"A"),
            ..Default::default()
        },
        SyncGroupRequestAssignment {
            member_id: b.clone(),
            assignment: Bytes::from_static(b"B"),
            ..Default::default()
        },
    ];
    // The leader's own SyncGroup is answered with everyone's.
    assert!(matches!(
        s.handle((1, 4), c, 5, "a", sync(&a, assignments), t0),
        Reply::Held
    ));
    let ResponseBody::SyncGroup(sa) = &s.take_completed(1)[0].1 else {
        panic!()
    };
    assert_eq!(sa.assignment, Bytes::from_static(b"A"));
    let ResponseBody::SyncGroup(sb) = &s.take_completed(2)[0].1 else {
        panic!()
    };
    assert_eq!(sb.assignment, Bytes::from_static(b"B"));
    assert_eq!(hb(&mut s, &a, 2, t0), 0);
    assert_eq!(hb(&mut s, &a, 1, t0), ErrorCode::IllegalGeneration.code());

    // B stops heartbeating: after its 10 s session it is removed, and A,
    // heartbeating, learns of the rebalance.
    let t1 = t0 + Duration::from_secs(6);
    assert_eq!(hb(&mut s, &a, 2, t1), 0);
    s.tick(t0 + Duration::from_secs(10));
    let (_, _, members) = (
        0,
        0,
        s.groups["g"].members.keys().cloned().collect::<Vec<_>>(),
    );
    assert_eq!(members, vec![a.clone()]);
    assert_eq!(
        hb(&mut s, &a, 2, t0 + Duration::from_secs(10)),
        ErrorCode::RebalanceInProgress.code()
    );
}

#[test]
fn a_member_that_does_not_rejoin_is_removed_after_the_rebalance_timeout() {
    let mut s = state(1);
    let t0 = Instant::now();
    let a = join_new(&mut s, 1, t0);
    s.tick(t0);
    assert_eq!(s.take_completed(1).len(), 1);
    let b = join_new(&mut s, 2, t0);
    // A never rejoins (heartbeats keep its session alive meanwhile).
    for sec in [5u64, 10, 15, 20, 25] {
        let r = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: a.clone(),
            ..Default::default()
        };
        s.handle((1, 9), 0, 4, "a", r.into(), t0 + Duration::from_secs(sec));
        s.tick(t0 + Duration::from_secs(sec));
        assert!(
            s.take_completed(2).is_empty(),
            "B's join held while A may rejoin"
        );
    }
    s.tick(t0 + Duration::from_secs(30));
    let done = s.take_completed(2);
    let ResponseBody::JoinGroup(j) = &done[0].1 else {
        panic!()
    };
    assert_eq!((j.generation_id, j.leader.as_str()), (2, b.as_str()));
    assert_eq!(s.groups["g"].members.len(), 1);
}

#[test]
fn the_rebalance_timeout_not_a_longer_session_bounds_the_join_phase() {
    let mut s = state(1);
    let t0 = Instant::now();
    // Session 45 s, rebalance timeout 20 s.
    let ResponseBody::JoinGroup(j) =
        now_reply(s.handle((1, 0), 0, 9, "a", join("", 45_000, 20_000), t0))
    else {
        panic!()
    };
    let a = j.member_id;
    assert!(matches!(
        s.handle((1, 1), 0, 9, "a", join(&a, 45_000, 20_000), t0),
        Reply::Held
    ));
    s.tick(t0);
    assert_eq!(s.take_completed(1).len(), 1);
    let ResponseBody::JoinGroup(j) =
        now_reply(s.handle((2, 0), 0, 9, "b", join("", 45_000, 20_000), t0))
    else {
        panic!()
    };
    assert!(matches!(
        s.handle((2, 1), 0, 9, "b", join(&j.member_id, 45_000, 20_000), t0),
        Reply::Held
    ));
    s.tick(t0 + Duration::from_millis(19_999));
    assert!(s.take_completed(2).is_empty());
    s.tick(t0 + Duration::from_secs(20));
    assert_eq!(
        s.take_completed(2).len(),
        1,
        "B's join ends at the 20 s rebalance timeout"
    );
    assert!(!s.groups["g"].members.contains_key(&a));
}

#[test]
fn offsets_commit_and_fetch_in_both_layouts() {
    use offset_commit::request::*;
    use offset_fetch::request::*;
    let mut s = state(1);
    let t0 = Instant::now();
    let commit = OffsetCommitRequest {
        group_id: "g".into(),
        generation_id_or_member_epoch: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 1,
                committed_offset: 42,
                committed_leader_epoch: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::OffsetCommit(r) = now_reply(s.handle((1, 0), 0, 8, "c", commit.into(), t0))
    else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let old = OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "t".into(),
            partition_indexes: vec![0, 1],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let ResponseBody::OffsetFetch(r) = now_reply(s.handle((1, 1), 0, 7, "c", old.into(), t0))
    else {
        panic!()
    };
    let offs: Vec<i64> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offs, vec![-1, 42]);
    let new = OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: "g".into(),
            topics: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::OffsetFetch(r) = now_reply(s.handle((1, 2), 0, 9, "c", new.into(), t0))
    else {
        panic!()
    };
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 42);
}

#[test]
fn faults_create_delete_and_a_dead_broker_in_metadata() {
    use create_topics::request::CreatableTopic;
    let mut s = state(2);
    let t0 = Instant::now();
    s.faults.push(crate::state::Fault {
        api: ApiKey::Metadata,
        broker: None,
        code: ErrorCode::NotController,
        remaining: 1,
    });
    let md = |s: &mut ClusterState| {
        let ResponseBody::Metadata(m) =
            now_reply(s.handle((1, 0), 0, 12, "c", MetadataRequest::default().into(), t0))
        else {
            panic!()
        };
        m
    };
    assert_eq!(md(&mut s).error_code, ErrorCode::NotController.code());
    assert_eq!(md(&mut s).error_code, 0);
    let create = CreateTopicsRequest {
        topics: vec![
            CreatableTopic {
                name: "new".into(),
                num_partitions: 3,
                replication_factor: 1,
                ..Default::default()
            },
            CreatableTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let ResponseBody::CreateTopics(r) = now_reply(s.handle((1, 1), 0, 7, "c", create.into(), t0))
    else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[1].error_code, ErrorCode::TopicAlreadyExists.code());
    let delete = DeleteTopicsRequest {
        topic_names: vec!["t".into()],
        ..Default::default()
    };
    let ResponseBody::DeleteTopics(r) = now_reply(s.handle((1, 2), 0, 5, "c", delete.into(), t0))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0);
    s.brokers.get_mut(&1).unwrap().alive = false;
    let m = md(&mut s);
    assert_eq!(m.brokers.len(), 1);
    let topic = m
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("new"))
        .unwrap();
    let dead = topic
        .partitions
        .iter()
        .find(|p| p.replica_nodes.contains(&1) && p.leader_id == -1);
    assert!(dead.is_some(), "{topic:?}");
    assert_eq!(
        dead.unwrap().error_code,
        ErrorCode::LeaderNotAvailable.code()
    );
}

mod client {
    use std::time::Duration;

    use prozess_network::{ClientEvent, ClientRequest, KafkaClient, NetworkError};
    use prozess_protocol::messages::*;
    use prozess_protocol::{ApiKey, ErrorCode, ResponseBody};

    use super::{batch, fetch, produce};
    use crate::MockCluster;

    fn responses(events: &[ClientEvent]) -> Vec<ApiKey> {
        events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Response(r) => Some(r.api_key),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_held_fetch_holds_its_connection_but_not_the_coordinators() {
        let cluster = MockCluster::new(1);
        cluster.create_topic("t", 2);
        let time = cluster.time();
        let mut c = cluster.client();
        assert!(c.ready(0, time.now()));
        // v12: the helper names the topic (v13+ would need its id).
        c.send_with_version(0, fetch(0, 0, 500, -1), 12, time.now())
            .unwrap();
        c.send(0, ApiVersionsRequest::default().into(), time.now())
            .unwrap();
        let coordinator = c.coordinator_node(0, "mock-broker", 9092);
        assert_ne!(coordinator, 0);
        assert!(c.ready(coordinator, time.now()));
        c.send(
            coordinator,
            ApiVersionsRequest::default().into(),
            time.now(),
        )
        .unwrap();
        // Only the coordinator connection answers now.
        let first = c.poll(Duration::ZERO, time.now());
        assert_eq!(responses(&first), vec![ApiKey::ApiVersions]);
        assert_eq!(first[0].node(), coordinator);
        assert_eq!(c.in_flight_count(0), 2);
        // An idle poll jumps the clock to the fetch's deadline: both answers
        // come, in order.
        let t0 = time.now();
        let next = c.poll(Duration::from_secs(10), time.now());
        assert_eq!(responses(&next), vec![ApiKey::Fetch, ApiKey::ApiVersions]);
        assert_eq!(time.now() - t0, Duration::from_millis(500));
    }

    #[test]
    fn acks_zero_is_sent_and_errors_are_injected_per_broker() {
        let cluster = MockCluster::new(2);
        cluster.create_topic("t", 2);
        let time = cluster.time();
        let mut c = cluster.client();
        let (leader, _) = cluster.leader("t", 0).unwrap();
        assert!(c.ready(leader, time.now()));
        c.send(leader, produce(0, 0, batch(2)), time.now()).unwrap();
        let events = c.poll(Duration::ZERO, time.now());
        assert!(matches!(
            events[..],
            [ClientEvent::Sent {
                api_key: ApiKey::Produce,
                ..
            }]
        ));
        assert_eq!(cluster.high_watermark("t", 0), Some(2));
        cluster.fail_next_on(leader, ApiKey::Produce, ErrorCode::NotEnoughReplicas, 1);
        c.send(leader, produce(1, 0, batch(1)), time.now()).unwrap();
        c.send(leader, produce(1, 0, batch(1)), time.now()).unwrap();
        let events = c.poll(Duration::ZERO, time.now());
        let codes: Vec<i16> = events
            .iter()
            .map(|e| match e {
                ClientEvent::Response(r) => match &r.body {
                    ResponseBody::Produce(p) => p.responses[0].partition_responses[0].error_code,
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(codes, vec![ErrorCode::NotEnoughReplicas.code(), 0]);
        assert_eq!(cluster.high_watermark("t", 0), Some(3));
    }

    #[test]
    fn killing_a_broker_disconnects_and_requests_time_out() {
        let cluster = MockCluster::new(2);
        cluster.create_topic("t", 2);
        let time = cluster.time();
        let mut c = cluster.client();
        assert!(c.ready(1, time.now()));
        c.send_with_version(1, fetch(1, 0, 5_000, -1), 12, time.now())
            .unwrap();
        assert!(c.poll(Duration::ZERO, time.now()).is_empty());
        cluster.kill_broker(1);
        let events = c.poll(Duration::ZERO, time.now());
        assert!(
            matches!(&events[..], [ClientEvent::Disconnected { node: 1, in_flight, cause: NetworkError::ConnectionClosed }] if in_flight.len() == 1),
            "{events:?}"
        );
        assert!(!c.ready(1, time.now()));
        assert!(c.connection_failed(1));
        assert_eq!(c.least_loaded_node(time.now()), Some(0));
        // Its partition went to broker 0 (epoch 1); give it back.
        assert_eq!(cluster.leader("t", 1), Some((0, 1)));
        cluster.revive_broker(1);
        assert!(cluster.move_leader("t", 1, 1));
        time.advance(Duration::from_millis(50));
        assert!(c.ready(1, time.now()));

        // A request whose own timeout is shorter than the broker's wait.
        let r = ClientRequest::new(fetch(1, 0, 5_000, -1))
            .with_version(12)
            .with_timeout(Duration::from_millis(100));
        c.send_request(1, r, time.now()).unwrap();
        let events = c.poll(Duration::from_secs(1), time.now());
        assert!(
            matches!(
                events[0],
                ClientEvent::Timeout {
                    node: 1,
                    api_key: ApiKey::Fetch,
                    ..
                }
            ),
            "{events:?}"
        );
    }
}
