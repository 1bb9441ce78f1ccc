//! KafkaConsumer with `subscribe`: the classic group driven from poll, the
//! rebalance listener, auto-commit before revocation and generation-checked
//! commits, over the scripted MockClient with a hand-driven clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prozess_network::mock::MockClient;
use prozess_network::{coordinator_connection_id, KafkaClient, TopicPartition};
use prozess_protocol::messages::join_group::response::JoinGroupResponseMember;
use prozess_protocol::messages::{
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, SyncGroupResponse,
};
use prozess_protocol::records::Compression;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::{
    batch, commit_response, fetch_from, fetch_response, find_coordinator_response, is,
    offset_fetch_response, part, tp, Consumer,
};
use crate::consumer::{Clock, KafkaConsumer};
use crate::deserializer::StringDeserializer;
use crate::error::{Error, Result};
use crate::group::consumer_protocol::{Assignment, Subscription, CONSUMER_PROTOCOL_TYPE};
use crate::rebalance_listener::ConsumerRebalanceListener;
use crate::ConsumerConfig;

/// A clock that moves 1 ms per read, and by hand with `advance`.
#[derive(Clone)]
struct TestClock {
    base: Instant,
    ms: Arc<AtomicU64>,
}

impl TestClock {
    fn new() -> Self {
        TestClock {
            base: Instant::now(),
            ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn clock(&self) -> Clock {
        let t = self.clone();
        Box::new(move || t.base + Duration::from_millis(t.ms.fetch_add(1, Ordering::SeqCst)))
    }

    fn advance(&self, d: Duration) {
        self.ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

type Log = Arc<Mutex<Vec<String>>>;

/// Logs each callback with the partitions and the number of OffsetCommit
/// requests sent so far; optionally commits (sync) on revocation.
struct Recorder {
    log: Log,
    commit_on_revoke: bool,
}

fn names(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl ConsumerRebalanceListener<String, String, MockClient> for Recorder {
    fn on_partitions_revoked(&mut self, c: &mut Consumer, tps: &[TopicPartition]) -> Result<()> {
        if self.commit_on_revoke {
            c.commit_sync()?;
        }
        let polled = matches!(c.poll(Duration::ZERO), Err(Error::IllegalState(_)));
        let commits = c.client().requests_of(ApiKey::OffsetCommit).len();
        self.log.lock().unwrap().push(format!(
            "revoked {} commits={commits} poll_refused={polled}",
            names(tps)
        ));
        Ok(())
    }

    fn on_partitions_assigned(&mut self, c: &mut Consumer, tps: &[TopicPartition]) -> Result<()> {
        let _ = c;
        self.log
            .lock()
            .unwrap()
            .push(format!("assigned {}", names(tps)));
        Ok(())
    }

    fn on_partitions_lost(&mut self, _c: &mut Consumer, tps: &[TopicPartition]) -> Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("lost {}", names(tps)));
        Ok(())
    }
}

fn group_consumer(props: &[(&str, &str)], clock: &TestClock) -> Consumer {
    let mut client = MockClient::new_with_cluster(&[0, 1], &[("t", 2)]);
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(1, ErrorCode::None),
    );
    let mut all = vec![
        ("bootstrap.servers", "localhost:9092"),
        ("group.id", "g"),
        ("partition.assignment.strategy", "range"),
    ];
    all.extend_from_slice(props);
    let config = ConsumerConfig::from_properties(all).unwrap();
    KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        clock.clock(),
    )
}

fn join_response(generation: i32, member: &str, leader: &str) -> ResponseBody {
    join_response_as(generation, member, leader, "range")
}

fn join_response_as(generation: i32, member: &str, leader: &str, protocol: &str) -> ResponseBody {
    let sub = Subscription {
        topics: vec!["t".into()],
        ..Default::default()
    };
    ResponseBody::JoinGroup(JoinGroupResponse {
        generation_id: generation,
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: Some(protocol.into()),
        leader: leader.into(),
        member_id: member.into(),
        members: if member == leader {
            vec![JoinGroupResponseMember {
                member_id: member.into(),
                metadata: sub.encode(3),
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    })
}

fn sync_response(partitions: &[i32]) -> ResponseBody {
    sync_response_as(partitions, "range")
}

fn sync_response_as(partitions: &[i32], protocol: &str) -> ResponseBody {
    let a = Assignment {
        partitions: partitions.iter().map(|p| tp(*p)).collect(),
        user_data: None,
    };
    ResponseBody::SyncGroup(SyncGroupResponse {
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: Some(protocol.into()),
        assignment: a.encode(3),
        ..Default::default()
    })
}

fn heartbeat(code: ErrorCode) -> ResponseBody {
    ResponseBody::Heartbeat(HeartbeatResponse {
        error_code: code.code(),
        ..Default::default()
    })
}

/// Polls (without blocking) until `done` holds, at most 50 times.
fn poll_until(c: &mut Consumer, mut done: impl FnMut(&mut Consumer) -> bool) {
    for _ in 0..50 {
        if done(c) {
            return;
        }
        c.poll(Duration::ZERO).unwrap();
    }
    assert!(done(c), "condition not reached within 50 polls");
}

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Subscribes with a recorder and completes the first join as the leader
/// of generation 1 owning t-0 and t-1, positions from committed 5 and 7.
fn joined(props: &[(&str, &str)], commit_on_revoke: bool) -> (Consumer, TestClock, Log) {
    let clock = TestClock::new();
    let mut c = group_consumer(props, &clock);
    let log: Log = Arc::default();
    c.subscribe(
        ["t"],
        Recorder {
            log: log.clone(),
            commit_on_revoke,
        },
    )
    .unwrap();
    let client = c.client_mut();
    client.prepare_response(is(ApiKey::JoinGroup), join_response(1, "m1", "m1"));
    client.prepare_response(is(ApiKey::SyncGroup), sync_response(&[0, 1]));
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 5, ""), (1, 7, "")]),
    );
    poll_until(&mut c, |c| {
        c.fetch_position(&tp(0)).is_some() && c.fetch_position(&tp(1)).is_some()
    });
    (c, clock, log)
}

#[test]
fn subscribe_joins_as_leader_assigns_and_starts_at_committed_offsets() {
    let (mut c, _clock, log) = joined(&[("enable.auto.commit", "false")], false);
    assert_eq!(c.subscription(), vec!["t".to_string()]);
    assert_eq!(c.assignment(), vec![tp(0), tp(1)]);
    assert_eq!(log_of(&log), vec!["assigned t-0,t-1"]);
    assert_eq!(c.fetch_position(&tp(0)).unwrap().offset, 5);
    assert_eq!(c.fetch_position(&tp(1)).unwrap().offset, 7);
    let client = c.client();
    assert_eq!(
        client.requests_of(ApiKey::FindCoordinator).len(),
        1,
        "one coordinator lookup serves the membership and the offsets"
    );
    let join = &client.requests_of(ApiKey::JoinGroup)[0];
    assert_eq!(join.node, coordinator_connection_id(1));
    let RequestBody::JoinGroup(j) = &join.body else {
        unreachable!()
    };
    assert_eq!(j.group_id, "g");
    assert_eq!(j.protocols[0].name, "range");
    let sub = Subscription::decode(j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.topics, vec!["t".to_string()]);
    let RequestBody::SyncGroup(s) = &client.requests_of(ApiKey::SyncGroup)[0].body else {
        unreachable!()
    };
    assert_eq!(s.assignments.len(), 1, "the leader assigns");
    let a = Assignment::decode(s.assignments[0].assignment.clone()).unwrap();
    assert_eq!(a.partitions, vec![tp(0), tp(1)]);
    assert_eq!(
        client.requests_of(ApiKey::OffsetFetch)[0].node,
        coordinator_connection_id(1)
    );
    let md = c.group_metadata().unwrap();
    assert_eq!((md.generation_id, md.member_id.as_str()), (1, "m1"));

    // Records flow for the assigned partitions.
    c.client_mut().prepare_response(
        fetch_from(0, 5),
        fetch_response(vec![part(0, batch(5, 3, Compression::None), 8)], 0),
    );
    let mut got = 0;
    for _ in 0..20 {
        got += c.poll(Duration::ZERO).unwrap().count();
        if got == 3 {
            break;
        }
    }
    assert_eq!(got, 3);
}

#[test]
fn rebalance_auto_commits_under_the_old_generation_before_the_listener_and_rejoin() {
    let (mut c, clock, log) = joined(&[("enable.auto.commit", "true")], false);
    c.seek(&tp(0), 20).unwrap();
    c.seek(&tp(1), 30).unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::Heartbeat),
        heartbeat(ErrorCode::RebalanceInProgress),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(is(ApiKey::JoinGroup), join_response(2, "m1", "m1"));
    client.prepare_response(is(ApiKey::SyncGroup), sync_response(&[1]));
    clock.advance(Duration::from_millis(3_100)); // past heartbeat.interval.ms
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::JoinGroup).len() == 2
    });
    poll_until(&mut c, |c| c.assignment() == vec![tp(1)]);

    let requests = c.client().requests();
    let commit_at = requests
        .iter()
        .position(|r| r.body.api_key() == ApiKey::OffsetCommit)
        .expect("auto-commit before revocation");
    let rejoin_at = requests
        .iter()
        .rposition(|r| r.body.api_key() == ApiKey::JoinGroup)
        .unwrap();
    assert!(commit_at < rejoin_at, "committed before rejoining");
    let RequestBody::OffsetCommit(oc) = &requests[commit_at].body else {
        unreachable!()
    };
    assert_eq!(oc.generation_id_or_member_epoch, 1);
    assert_eq!(oc.member_id, "m1");
    let mut offsets: Vec<(i32, i64)> = oc.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    offsets.sort();
    assert_eq!(offsets, vec![(0, 20), (1, 30)]);
    assert_eq!(
        log_of(&log),
        vec![
            "assigned t-0,t-1",
            "revoked t-0,t-1 commits=1 poll_refused=true",
            "assigned t-1",
        ],
        "eager: all revoked (after the commit), then the new assignment"
    );
    assert_eq!(c.group_metadata().unwrap().generation_id, 2);
}

#[test]
fn commit_of_an_expelled_member_fails_and_its_partitions_are_lost() {
    let (mut c, _clock, log) = joined(&[("enable.auto.commit", "false")], false);
    c.seek(&tp(0), 9).unwrap();
    // The coordinator no longer knows the member (e.g. max.poll.interval.ms
    // passed while the application processed).
    c.client_mut().prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[
            (0, ErrorCode::UnknownMemberId),
            (1, ErrorCode::UnknownMemberId),
        ]),
    );
    match c.commit_sync() {
        Err(Error::CommitFailed(m)) => assert!(m.contains("UNKNOWN_MEMBER_ID"), "{m}"),
        other => panic!("expected CommitFailed, got {other:?}"),
    }
    // No second attempt under a generation that is gone: refused locally,
    // and an async commit's callback (run by the next call) gets the error.
    let sent = c.client().requests_of(ApiKey::OffsetCommit).len();
    let async_failed = Arc::new(Mutex::new(None));
    let r = async_failed.clone();
    c.commit_async(Some(Box::new(move |_, res| {
        *r.lock().unwrap() = Some(res.is_err());
    })))
    .unwrap();
    assert!(matches!(c.commit_sync(), Err(Error::CommitFailed(_))));
    assert_eq!(*async_failed.lock().unwrap(), Some(true));
    assert_eq!(c.client().requests_of(ApiKey::OffsetCommit).len(), sent);

    // The next poll reports the loss (not a revocation) and rejoins with a
    // fresh member id.
    c.client_mut()
        .prepare_response(is(ApiKey::JoinGroup), join_response(5, "m2", "m2"));
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::JoinGroup).len() == 2
    });
    assert_eq!(log_of(&log), vec!["assigned t-0,t-1", "lost t-0,t-1"]);
    assert!(c.assignment().is_empty());
    let joins = c.client().requests_of(ApiKey::JoinGroup);
    let RequestBody::JoinGroup(j) = &joins[1].body else {
        unreachable!()
    };
    assert_eq!(j.member_id, "", "UNKNOWN_MEMBER_ID resets the member id");
}

#[test]
fn commit_during_a_rebalance_is_refused_with_rebalance_in_progress() {
    let (mut c, clock, _log) = joined(&[("enable.auto.commit", "false")], false);
    c.client_mut().prepare_response(
        is(ApiKey::Heartbeat),
        heartbeat(ErrorCode::RebalanceInProgress),
    );
    clock.advance(Duration::from_millis(3_100));
    // JoinGroup stays unanswered: the member is rebalancing.
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::JoinGroup).len() == 2
    });
    // Eager: everything was revoked, so there is nothing of its own to
    // commit (Ok, as Java); explicit offsets are refused until it rejoins.
    assert!(c.assignment().is_empty());
    c.commit_sync().unwrap();
    let offsets = [(tp(0), crate::OffsetAndMetadata::new(3))]
        .into_iter()
        .collect();
    assert!(matches!(
        c.commit_sync_offsets(offsets),
        Err(Error::RebalanceInProgress)
    ));
}

#[test]
fn close_runs_the_listener_which_commits_then_leaves_the_group() {
    let (mut c, _clock, log) = joined(&[("enable.auto.commit", "false")], true);
    c.seek(&tp(1), 11).unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(
        is(ApiKey::LeaveGroup),
        ResponseBody::LeaveGroup(LeaveGroupResponse::default()),
    );
    c.close(Duration::from_secs(5)).unwrap();
    assert_eq!(
        log_of(&log),
        vec![
            "assigned t-0,t-1",
            "revoked t-0,t-1 commits=1 poll_refused=true"
        ]
    );
    let requests = c.client().requests();
    let commit_at = requests
        .iter()
        .position(|r| r.body.api_key() == ApiKey::OffsetCommit)
        .unwrap();
    let leave_at = requests
        .iter()
        .position(|r| r.body.api_key() == ApiKey::LeaveGroup)
        .expect("LeaveGroup sent");
    assert!(commit_at < leave_at);
    let RequestBody::LeaveGroup(l) = &requests[leave_at].body else {
        unreachable!()
    };
    assert_eq!(l.members[0].member_id, "m1");
    let RequestBody::OffsetCommit(oc) = &requests[commit_at].body else {
        unreachable!()
    };
    assert_eq!(oc.generation_id_or_member_epoch, 1);
}

#[test]
fn subscribe_needs_a_group_id_and_excludes_assign() {
    let clock = TestClock::new();
    let config =
        ConsumerConfig::from_properties([("bootstrap.servers", "localhost:9092")]).unwrap();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        MockClient::new_with_cluster(&[0], &[("t", 1)]),
        StringDeserializer,
        StringDeserializer,
        clock.clock(),
    );
    assert!(matches!(
        c.subscribe(["t"], crate::NoOpRebalanceListener),
        Err(Error::InvalidGroupId)
    ));
    let mut c = group_consumer(&[], &clock);
    c.subscribe(["t"], crate::NoOpRebalanceListener).unwrap();
    assert!(matches!(c.assign([tp(0)]), Err(Error::IllegalState(_))));
    c.unsubscribe().unwrap();
    assert!(c.subscription().is_empty());
    c.assign([tp(0)]).unwrap();
    assert!(matches!(
        c.subscribe(["t"], crate::NoOpRebalanceListener),
        Err(Error::IllegalState(_))
    ));
}

/// A consumer on the real clock with the heartbeat thread, joined (leader,
/// generation 1, t-0 and t-1).
fn joined_with_thread(props: &[(&str, &str)]) -> (Consumer, Log) {
    let mut client = MockClient::new_with_cluster(&[0, 1], &[("t", 2)]);
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(1, ErrorCode::None),
    );
    client.prepare_response(is(ApiKey::JoinGroup), join_response(1, "m1", "m1"));
    client.prepare_response(is(ApiKey::SyncGroup), sync_response(&[0, 1]));
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 5, ""), (1, 7, "")]),
    );
    for _ in 0..200 {
        client.prepare_response(is(ApiKey::Heartbeat), heartbeat(ErrorCode::None));
    }
    let mut all = vec![
        ("bootstrap.servers", "localhost:9092"),
        ("group.id", "g"),
        ("partition.assignment.strategy", "range"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "1000"),
        ("heartbeat.interval.ms", "20"),
    ];
    all.extend_from_slice(props);
    let config = ConsumerConfig::from_properties(all).unwrap();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        Box::new(Instant::now),
    );
    c.start_heartbeat_thread();
    let log: Log = Arc::default();
    c.subscribe(
        ["t"],
        Recorder {
            log: log.clone(),
            commit_on_revoke: false,
        },
    )
    .unwrap();
    for _ in 0..100 {
        c.poll(Duration::from_millis(5)).unwrap();
        if c.fetch_position(&tp(1)).is_some() {
            break;
        }
    }
    assert_eq!(c.assignment(), vec![tp(0), tp(1)]);
    (c, log)
}

#[test]
fn heartbeat_thread_keeps_the_member_alive_between_polls() {
    let (mut c, log) = joined_with_thread(&[]);
    let before = c.client().requests_of(ApiKey::Heartbeat).len();
    // (A call takes the client back from the thread and hands it over
    // again when it returns: here a seek.)
    c.seek(&tp(0), 5).unwrap();
    // The application "processes" without polling for many heartbeat
    // intervals (well under max.poll.interval.ms).
    std::thread::sleep(Duration::from_millis(300));
    let during = c.client().requests_of(ApiKey::Heartbeat).len() - before;
    assert!(during >= 2, "heartbeats sent while not polling: {during}");
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(c.assignment(), vec![tp(0), tp(1)], "partitions kept");
    assert_eq!(log_of(&log), vec!["assigned t-0,t-1"]);
    assert!(c.client().requests_of(ApiKey::LeaveGroup).is_empty());
}

#[test]
fn poll_interval_expiry_leaves_from_the_thread_and_commits_then_fail() {
    let (mut c, log) = joined_with_thread(&[("max.poll.interval.ms", "150")]);
    c.client_mut().prepare_response(
        is(ApiKey::LeaveGroup),
        ResponseBody::LeaveGroup(LeaveGroupResponse::default()),
    );
    c.poll(Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let leaves = c.client().requests_of(ApiKey::LeaveGroup);
    assert_eq!(leaves.len(), 1, "the thread left the group");
    let RequestBody::LeaveGroup(l) = &leaves[0].body else {
        unreachable!()
    };
    assert_eq!(l.members[0].member_id, "m1");
    assert_eq!(
        l.members[0].reason.as_deref(),
        Some(crate::group::membership::POLL_TIMEOUT_LEAVE_REASON)
    );
    let commits = c.client().requests_of(ApiKey::OffsetCommit).len();
    assert!(matches!(c.commit_sync(), Err(Error::CommitFailed(_))));
    assert_eq!(
        c.client().requests_of(ApiKey::OffsetCommit).len(),
        commits,
        "nothing committed for the old generation"
    );
    // The next poll reports the loss and rejoins.
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(log_of(&log), vec!["assigned t-0,t-1", "lost t-0,t-1"]);
    assert_eq!(c.client().requests_of(ApiKey::JoinGroup).len(), 2);
}

#[test]
fn pattern_subscription_follows_new_matching_topics() {
    let clock = TestClock::new();
    let mut client = MockClient::new_with_cluster(&[0, 1], &[("a1", 1), ("a2", 1), ("b", 1)]);
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(1, ErrorCode::None),
    );
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", "localhost:9092"),
        ("group.id", "g"),
        ("partition.assignment.strategy", "range"),
        ("enable.auto.commit", "false"),
    ])
    .unwrap();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        clock.clock(),
    );
    assert!(matches!(
        c.subscribe_pattern("a(", crate::NoOpRebalanceListener),
        Err(Error::IllegalState(_))
    ));
    c.subscribe_pattern("a.", crate::NoOpRebalanceListener)
        .unwrap();
    assert_eq!(c.subscription(), vec!["a1".to_string(), "a2".to_string()]);
    assert!(
        c.client().metadata().all_topics(),
        "needs every topic's metadata"
    );
    let sub = |c: &mut Consumer, i: usize| {
        let joins = c.client().requests_of(ApiKey::JoinGroup);
        let RequestBody::JoinGroup(j) = &joins[i].body else {
            unreachable!()
        };
        Subscription::decode(j.protocols[0].metadata.clone())
            .unwrap()
            .topics
    };
    poll_until(&mut c, |c| {
        !c.client().requests_of(ApiKey::JoinGroup).is_empty()
    });
    assert_eq!(sub(&mut c, 0), vec!["a1".to_string(), "a2".to_string()]);
    let joined = ResponseBody::JoinGroup(JoinGroupResponse {
        generation_id: 1,
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: Some("range".into()),
        leader: "other".into(),
        member_id: "m1".into(),
        ..Default::default()
    });
    c.client_mut()
        .respond_to(coordinator_connection_id(1), joined);
    let assignment = Assignment {
        partitions: vec![TopicPartition::new("a1", 0), TopicPartition::new("a2", 0)].into(),
        user_data: None,
    };
    c.client_mut().prepare_response(
        is(ApiKey::SyncGroup),
        ResponseBody::SyncGroup(SyncGroupResponse {
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
            protocol_name: Some("range".into()),
            assignment: assignment.encode(3),
            ..Default::default()
        }),
    );
    poll_until(&mut c, |c| c.assignment().len() == 2);

    // A new matching topic appears (and a non-matching one): rejoin with it.
    let now = Instant::now();
    c.client_mut().set_metadata(
        &[0, 1],
        &[("a1", 1), ("a2", 1), ("a3", 1), ("b", 1), ("bb", 1)],
        now,
    );
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::JoinGroup).len() == 2
    });
    assert_eq!(
        c.subscription(),
        vec!["a1".to_string(), "a2".to_string(), "a3".to_string()]
    );
    assert_eq!(
        sub(&mut c, 1),
        vec!["a1".to_string(), "a2".to_string(), "a3".to_string()]
    );
    c.unsubscribe().unwrap();
    assert!(!c.client().metadata().all_topics());
}

fn cgh_response(epoch: i32, partitions: Option<&[i32]>) -> ResponseBody {
    use prozess_protocol::messages::consumer_group_heartbeat::response::{
        Assignment as TargetAssignment, TopicPartitions,
    };
    use prozess_protocol::messages::ConsumerGroupHeartbeatResponse;
    ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
        member_epoch: epoch,
        heartbeat_interval_ms: 5_000,
        assignment: partitions.map(|ps| TargetAssignment {
            topic_partitions: vec![TopicPartitions {
                topic_id: prozess_protocol::Uuid::from_u128(super::TOPIC_ID),
                partitions: ps.to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[test]
fn consumer_protocol_member_gets_its_assignment_commits_under_its_epoch_and_leaves() {
    let clock = TestClock::new();
    let mut c = group_consumer(
        &[
            ("group.protocol", "consumer"),
            ("enable.auto.commit", "false"),
        ],
        &clock,
    );
    let log: Log = Arc::default();
    c.subscribe(
        ["t"],
        Recorder {
            log: log.clone(),
            commit_on_revoke: true,
        },
    )
    .unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::ConsumerGroupHeartbeat),
        cgh_response(3, Some(&[0, 1])),
    );
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 5, ""), (1, 7, "")]),
    );
    poll_until(&mut c, |c| c.fetch_position(&tp(1)).is_some());
    assert_eq!(c.assignment(), vec![tp(0), tp(1)]);
    assert_eq!(log_of(&log), vec!["assigned t-0,t-1"]);
    assert!(c.client().requests_of(ApiKey::JoinGroup).is_empty());
    let md = c.group_metadata().unwrap();
    assert_eq!(md.generation_id, 3, "the member epoch");

    // The acknowledging heartbeat is answered (epoch unchanged).
    c.client_mut()
        .prepare_response(is(ApiKey::ConsumerGroupHeartbeat), cgh_response(3, None));
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::ConsumerGroupHeartbeat).len() >= 2
            && !c.client().has_pending_responses()
    });
    c.seek(&tp(0), 9).unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(is(ApiKey::ConsumerGroupHeartbeat), cgh_response(-1, None));
    c.close(Duration::from_secs(5)).unwrap();
    let commits = c.client().requests_of(ApiKey::OffsetCommit);
    let RequestBody::OffsetCommit(oc) = &commits[0].body else {
        unreachable!()
    };
    assert_eq!(oc.generation_id_or_member_epoch, 3);
    assert_eq!(oc.member_id, md.member_id);
    let hb = c.client().requests_of(ApiKey::ConsumerGroupHeartbeat);
    let RequestBody::ConsumerGroupHeartbeat(leave) = &hb.last().unwrap().body else {
        unreachable!()
    };
    assert_eq!(leave.member_epoch, -1, "leaving heartbeat");
    assert_eq!(
        log_of(&log),
        vec![
            "assigned t-0,t-1",
            "revoked t-0,t-1 commits=1 poll_refused=true"
        ]
    );
}

#[test]
fn consumer_protocol_without_broker_support_is_a_clear_error() {
    let clock = TestClock::new();
    let mut c = group_consumer(&[("group.protocol", "consumer")], &clock);
    c.client_mut()
        .set_unsupported(1, ApiKey::ConsumerGroupHeartbeat);
    c.subscribe(["t"], crate::NoOpRebalanceListener).unwrap();
    let mut error = None;
    for _ in 0..20 {
        if let Err(e) = c.poll(Duration::ZERO) {
            error = Some(e);
            break;
        }
    }
    match error {
        Some(Error::Group(e)) => assert!(e.to_string().contains("group.protocol=classic"), "{e}"),
        other => panic!("expected a group error, got {other:?}"),
    }
    assert!(
        matches!(c.poll(Duration::ZERO), Err(Error::Group(_))),
        "the error stays until the application acts"
    );
}

#[test]
fn static_member_sends_its_instance_id_and_closes_without_leave_group() {
    let (mut c, _clock, log) = joined(
        &[
            ("enable.auto.commit", "false"),
            ("group.instance.id", "instance-1"),
        ],
        false,
    );
    let joins = c.client().requests_of(ApiKey::JoinGroup);
    let RequestBody::JoinGroup(j) = &joins[0].body else {
        unreachable!()
    };
    assert_eq!(j.group_instance_id.as_deref(), Some("instance-1"));
    assert_eq!(
        c.group_metadata().unwrap().group_instance_id.as_deref(),
        Some("instance-1")
    );

    // enforce_rebalance: the next poll revokes (eager) and rejoins.
    c.enforce_rebalance(Some("testing")).unwrap();
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::JoinGroup).len() == 2
    });
    let joins = c.client().requests_of(ApiKey::JoinGroup);
    let RequestBody::JoinGroup(j) = &joins[1].body else {
        unreachable!()
    };
    assert_eq!(j.member_id, "m1", "rejoins with its member id");
    assert_eq!(j.reason.as_deref(), Some("testing"));
    assert_eq!(
        log_of(&log),
        vec![
            "assigned t-0,t-1",
            "revoked t-0,t-1 commits=0 poll_refused=true"
        ]
    );
    let client = c.client_mut();
    client.prepare_response(is(ApiKey::JoinGroup), join_response(2, "m1", "m1"));
    client.prepare_response(is(ApiKey::SyncGroup), sync_response(&[0, 1]));
    poll_until(&mut c, |c| c.assignment().len() == 2);
    c.seek(&tp(0), 4).unwrap();
    c.client_mut().prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    c.commit_sync().unwrap();
    let commits = c.client().requests_of(ApiKey::OffsetCommit);
    let RequestBody::OffsetCommit(oc) = &commits[0].body else {
        unreachable!()
    };
    assert_eq!(oc.group_instance_id.as_deref(), Some("instance-1"));
    assert_eq!(oc.generation_id_or_member_epoch, 2);

    // A static member keeps its place until session.timeout.ms: no LeaveGroup.
    c.close(Duration::from_secs(5)).unwrap();
    assert!(c.client().requests_of(ApiKey::LeaveGroup).is_empty());
}

#[test]
fn auto_commit_in_poll_uses_the_generation() {
    let (mut c, clock, _log) = joined(
        &[
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "1000"),
        ],
        false,
    );
    c.seek(&tp(1), 12).unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(is(ApiKey::Heartbeat), heartbeat(ErrorCode::None));
    clock.advance(Duration::from_millis(1_100));
    poll_until(&mut c, |c| {
        !c.client().requests_of(ApiKey::OffsetCommit).is_empty()
    });
    let commits = c.client().requests_of(ApiKey::OffsetCommit);
    let RequestBody::OffsetCommit(oc) = &commits[0].body else {
        unreachable!()
    };
    assert_eq!(
        (oc.generation_id_or_member_epoch, oc.member_id.as_str()),
        (1, "m1")
    );
    assert_eq!(
        commits[0].node,
        coordinator_connection_id(1),
        "to the group coordinator"
    );
}

#[test]
fn coordinator_loss_is_rediscovered_once_for_membership_and_commits() {
    let (mut c, _clock, _log) = joined(&[("enable.auto.commit", "false")], false);
    c.seek(&tp(0), 3).unwrap();
    let client = c.client_mut();
    client.disconnect(coordinator_connection_id(1));
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(0, ErrorCode::None),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    c.poll(Duration::ZERO).unwrap();
    c.commit_sync().unwrap();
    let client = c.client();
    assert_eq!(
        client.requests_of(ApiKey::FindCoordinator).len(),
        2,
        "one lookup at start, one after the loss"
    );
    let commits = client.requests_of(ApiKey::OffsetCommit);
    assert_eq!(commits.len(), 1);
    assert_eq!(
        commits[0].node,
        coordinator_connection_id(0),
        "the new coordinator"
    );
}

#[test]
fn unsubscribe_with_auto_commit_and_the_heartbeat_thread_commits_and_leaves() {
    let (mut c, log) = joined_with_thread(&[("enable.auto.commit", "true")]);
    c.seek(&tp(0), 8).unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(
        is(ApiKey::LeaveGroup),
        ResponseBody::LeaveGroup(LeaveGroupResponse::default()),
    );
    c.unsubscribe().unwrap();
    assert!(c.assignment().is_empty());
    assert!(c.subscription().is_empty());
    assert_eq!(c.client().requests_of(ApiKey::OffsetCommit).len(), 1);
    assert_eq!(c.client().requests_of(ApiKey::LeaveGroup).len(), 1);
    assert_eq!(
        log_of(&log),
        vec![
            "assigned t-0,t-1",
            "revoked t-0,t-1 commits=1 poll_refused=true"
        ]
    );
    c.close(Duration::from_secs(1)).unwrap();
}

#[test]
fn fetches_and_group_traffic_use_separate_connections() {
    let (mut c, clock, _log) = joined(&[("enable.auto.commit", "false")], false);
    // One request per connection: were the coordinator's traffic on broker
    // 1's ordinary connection, the unanswered fetch there would hold the
    // heartbeat back (as a long-polling fetch would hold back JoinGroup).
    c.client_mut().set_max_in_flight(1);
    poll_until(&mut c, |c| {
        c.client()
            .in_flight_requests()
            .iter()
            .any(|(node, _, body)| *node == 1 && body.api_key() == ApiKey::Fetch)
    });
    clock.advance(Duration::from_secs(3));
    poll_until(&mut c, |c| {
        !c.client().requests_of(ApiKey::Heartbeat).is_empty()
    });
    let client = c.client();
    let coordinator = coordinator_connection_id(1);
    for key in [
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::OffsetFetch,
        ApiKey::Heartbeat,
    ] {
        let sent = client.requests_of(key);
        assert!(!sent.is_empty(), "{key:?} sent");
        assert!(
            sent.iter().all(|r| r.node == coordinator),
            "{key:?} to the coordinator connection"
        );
    }
    let fetch_nodes: Vec<_> = client
        .requests_of(ApiKey::Fetch)
        .iter()
        .map(|r| r.node)
        .collect();
    assert!(
        fetch_nodes.iter().all(|n| *n == 0 || *n == 1),
        "fetches to the brokers' ordinary connections: {fetch_nodes:?}"
    );
    assert!(
        client
            .in_flight_requests()
            .iter()
            .any(|(node, _, body)| *node == 1 && body.api_key() == ApiKey::Fetch),
        "the fetch to broker 1 is still waiting"
    );
}

#[test]
fn auto_commit_before_a_cooperative_rejoin_that_revokes_nothing() {
    // Java's onJoinPrepare auto-commits before every rejoin, not only before
    // a revocation.
    let clock = TestClock::new();
    let mut c = group_consumer(
        &[
            ("enable.auto.commit", "true"),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ],
        &clock,
    );
    let log: Log = Arc::default();
    c.subscribe(
        ["t"],
        Recorder {
            log: log.clone(),
            commit_on_revoke: false,
        },
    )
    .unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::JoinGroup),
        join_response_as(1, "m1", "m1", "cooperative-sticky"),
    );
    client.prepare_response(
        is(ApiKey::SyncGroup),
        sync_response_as(&[0, 1], "cooperative-sticky"),
    );
    client.prepare_response(
        is(ApiKey::OffsetFetch),
        offset_fetch_response(&[(0, 5, ""), (1, 7, "")]),
    );
    poll_until(&mut c, |c| {
        c.fetch_position(&tp(0)).is_some() && c.fetch_position(&tp(1)).is_some()
    });
    c.seek(&tp(0), 20).unwrap();
    c.seek(&tp(1), 30).unwrap();
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::Heartbeat),
        heartbeat(ErrorCode::RebalanceInProgress),
    );
    client.prepare_response(
        is(ApiKey::OffsetCommit),
        commit_response(&[(0, ErrorCode::None), (1, ErrorCode::None)]),
    );
    client.prepare_response(
        is(ApiKey::JoinGroup),
        join_response_as(2, "m1", "m1", "cooperative-sticky"),
    );
    client.prepare_response(
        is(ApiKey::SyncGroup),
        sync_response_as(&[0, 1], "cooperative-sticky"),
    );
    clock.advance(Duration::from_millis(3_100)); // past heartbeat.interval.ms
    poll_until(&mut c, |c| {
        c.client().requests_of(ApiKey::SyncGroup).len() == 2
    });
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(c.group_metadata().unwrap().generation_id, 2);
    let requests = c.client().requests();
    let commit_at = requests
        .iter()
        .position(|r| r.body.api_key() == ApiKey::OffsetCommit)
        .expect("auto-commit before the rejoin");
    let rejoin_at = requests
        .iter()
        .rposition(|r| r.body.api_key() == ApiKey::JoinGroup)
        .unwrap();
    assert!(commit_at < rejoin_at, "committed before rejoining");
    let RequestBody::OffsetCommit(oc) = &requests[commit_at].body else {
        unreachable!()
    };
    assert_eq!(oc.generation_id_or_member_epoch, 1, "the old generation");
    let mut offsets: Vec<(i32, i64)> = oc.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    offsets.sort();
    assert_eq!(offsets, vec![(0, 20), (1, 30)]);
    assert_eq!(
        log_of(&log),
        vec!["assigned t-0,t-1", "assigned "],
        "cooperative: nothing revoked, nothing new"
    );
    assert_eq!(c.assignment(), vec![tp(0), tp(1)]);
}

#[test]
fn every_call_hands_the_client_back_to_the_heartbeat_thread() {
    // Each public call takes the client back on entry and parks it again on
    // return, whatever path it returns by: a call that forgot would leave
    // the member without heartbeats while the application processes.
    let (mut c, _log) = joined_with_thread(&[]);
    c.poll(Duration::ZERO).unwrap();
    assert!(c.is_parked(), "after poll");
    c.enforce_rebalance(None).unwrap();
    assert!(c.is_parked(), "after enforce_rebalance");
    c.commit_sync_offsets(Default::default()).unwrap();
    assert!(c.is_parked(), "after a commit with nothing to commit");
    assert!(c.assign([tp(0)]).is_err(), "assign while subscribed");
    assert!(c.is_parked(), "after a refused assign");
    assert!(c.seek(&tp(0), -1).is_err());
    assert!(c.is_parked(), "after a refused seek");
    c.close(Duration::ZERO).ok();
    assert!(!c.is_parked(), "closed: nothing is parked");
}

#[test]
fn rebalances_are_counted_in_metrics_and_statistics() {
    let (mut c, clock, _log) = joined(
        &[
            ("enable.auto.commit", "false"),
            ("statistics.interval.ms", "1000"),
        ],
        false,
    );
    let g = "consumer-coordinator-metrics";
    let m = c.metrics();
    assert_eq!(m.get(g, "rebalance-total"), Some(1.0));
    assert_eq!(m.get(g, "failed-rebalance-total"), Some(0.0));
    assert_eq!(m.get(g, "assigned-partitions"), Some(2.0));
    let docs: Log = Arc::default();
    let sink = docs.clone();
    c.set_statistics_handler(move |json| sink.lock().unwrap().push(json.to_string()));
    let client = c.client_mut();
    client.prepare_response(
        is(ApiKey::Heartbeat),
        heartbeat(ErrorCode::RebalanceInProgress),
    );
    client.prepare_response(is(ApiKey::JoinGroup), join_response(2, "m1", "m1"));
    client.prepare_response(is(ApiKey::SyncGroup), sync_response(&[1]));
    clock.advance(Duration::from_millis(3_100)); // past heartbeat.interval.ms
    poll_until(&mut c, |c| c.assignment() == vec![tp(1)]);
    let m = c.metrics();
    assert_eq!(m.get(g, "rebalance-total"), Some(2.0));
    assert_eq!(m.get(g, "assigned-partitions"), Some(1.0));
    assert!(m.get(g, "rebalance-latency-max").is_some_and(|v| v >= 0.0));

    // The next document (the 3.1 s advance passed three intervals: one
    // document for them) shows the group.
    clock.advance(Duration::from_millis(1_000));
    poll_until(&mut c, |_| docs.lock().unwrap().len() >= 2);
    let docs = docs.lock().unwrap();
    let doc: serde_json::Value = serde_json::from_str(docs.last().unwrap()).unwrap();
    assert_eq!(doc["cgrp"]["rebalance_cnt"], 2);
    assert_eq!(doc["cgrp"]["assignment_size"], 1);
    assert_eq!(doc["cgrp"]["state"], "up");
    assert!(doc["topics"]["t"]["partitions"].get("1").is_some());
}

#[test]
fn heartbeats_are_counted_in_metrics() {
    let (mut c, clock, _log) = joined(&[("enable.auto.commit", "false")], false);
    let g = "consumer-coordinator-metrics";
    let m = c.metrics();
    assert_eq!(m.get(g, "heartbeat-total"), Some(0.0));
    assert!(m
        .get(g, "last-heartbeat-seconds-ago")
        .is_some_and(f64::is_nan));
    c.client_mut()
        .prepare_response(is(ApiKey::Heartbeat), heartbeat(ErrorCode::None));
    clock.advance(Duration::from_millis(3_100)); // past heartbeat.interval.ms
    poll_until(&mut c, |c| {
        c.metrics().get(g, "heartbeat-total") == Some(1.0)
    });
    let before = c.metrics().get(g, "last-heartbeat-seconds-ago").unwrap();
    assert!((0.0..1.0).contains(&before), "{before}");
    clock.advance(Duration::from_millis(2_000));
    let m = c.metrics();
    // (Each read of the mock clock may move it on by a millisecond.)
    let after = m.get(g, "last-heartbeat-seconds-ago").unwrap();
    assert!(
        (before + 2.0..before + 2.01).contains(&after),
        "{before} -> {after}"
    );
    // MockClient answers at once (the mock clock's ticks aside).
    let rt = m.get(g, "heartbeat-response-time-max").unwrap();
    assert!((0.0..10.0).contains(&rt), "{rt}");
    // One heartbeat over the sampled time (at least the 30 s window).
    let rate = m.get(g, "heartbeat-rate").unwrap();
    assert!(rate > 0.0 && rate <= 1.0 / 30.0, "{rate}");
}
