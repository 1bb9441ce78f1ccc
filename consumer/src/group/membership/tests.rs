//! GroupMembership driven through a scripted client with hand-advanced time
//! (the cases of Java's ConsumerCoordinatorTest / AbstractCoordinatorTest).

use super::*;
use crate::group::assignor::assignor_by_name;
use crate::group::test_client::{FakeClient, SentRequest};
use bytes::Bytes;
use prozess_network::{coordinator_connection_id, InFlightInfo, NetworkError};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::FindCoordinatorResponse;
use std::collections::BTreeMap;

const GROUP: &str = "g";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition::new(t, p)
}

fn tps(spec: &[(&str, i32)]) -> Vec<TopicPartition> {
    spec.iter().map(|(t, p)| tp(t, *p)).collect()
}

fn config() -> MembershipConfig {
    MembershipConfig {
        session_timeout: ms(10_000),
        heartbeat_interval: ms(3_000),
        max_poll_interval: ms(300_000),
        retry_backoff: ms(100),
        ..MembershipConfig::new(GROUP)
    }
}

struct Harness {
    m: GroupMembership,
    c: FakeClient,
    now: Instant,
    topics: Vec<String>,
}

impl Harness {
    fn new(strategies: &[&str]) -> Harness {
        Harness::with_config(strategies, config())
    }

    fn with_config(strategies: &[&str], config: MembershipConfig) -> Harness {
        let now = Instant::now();
        let assignors = strategies
            .iter()
            .map(|s| assignor_by_name(s).expect("known assignor"))
            .collect();
        Harness {
            m: GroupMembership::new(config, assignors, now).unwrap(),
            c: FakeClient::new(&[("t", 4), ("u", 2)], now),
            now,
            topics: vec!["t".to_string()],
        }
    }

    fn poll(&mut self) -> Vec<GroupEvent> {
        self.m.poll(&mut self.c, self.now, &self.topics.clone())
    }

    /// A consumer poll: record_poll, then poll.
    fn user_poll(&mut self) -> Vec<GroupEvent> {
        self.m.record_poll(self.now);
        self.poll()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Takes the requests sent so far, checking there is exactly one and
    /// that it is of API `key`.
    fn take_one(&mut self, key: ApiKey) -> SentRequest {
        let sent = self.c.take_sent();
        assert_eq!(
            sent.len(),
            1,
            "expected one {key:?}, got {:?}",
            sent.iter()
                .map(|s| s.request.body.api_key())
                .collect::<Vec<_>>()
        );
        assert_eq!(sent[0].request.body.api_key(), key);
        sent.into_iter().next().unwrap()
    }

    fn assert_nothing_sent(&mut self) {
        let sent = self.c.take_sent();
        assert!(
            sent.is_empty(),
            "expected nothing sent, got {:?}",
            sent.iter()
                .map(|s| s.request.body.api_key())
                .collect::<Vec<_>>()
        );
    }

    fn respond(&mut self, sent: &SentRequest, body: ResponseBody) {
        let ev = FakeClient::response_to(sent, body);
        assert!(self.m.handle_event(&ev, self.now), "response not claimed");
    }

    fn find_coordinator(&mut self, node: NodeId) {
        assert!(self.poll().is_empty());
        let sent = self.take_one(ApiKey::FindCoordinator);
        self.respond(&sent, find_response(node, 0));
        // Group traffic goes over the coordinator's own connection.
        assert_eq!(self.m.coordinator(), Some(coordinator_connection_id(node)));
    }

    /// Polls, expects a JoinGroup, and returns it.
    fn expect_join(&mut self) -> (SentRequest, JoinGroupRequest) {
        let events = self.poll();
        assert!(events.is_empty(), "unexpected events {events:?}");
        let sent = self.take_one(ApiKey::JoinGroup);
        let RequestBody::JoinGroup(req) = sent.request.body.clone() else {
            unreachable!()
        };
        (sent, req)
    }

    fn expect_sync(&mut self) -> (SentRequest, SyncGroupRequest) {
        let events = self.poll();
        assert!(events.is_empty(), "unexpected events {events:?}");
        let sent = self.take_one(ApiKey::SyncGroup);
        let RequestBody::SyncGroup(req) = sent.request.body.clone() else {
            unreachable!()
        };
        (sent, req)
    }

    /// Finds coordinator 1, joins as a follower of `leader` in `generation`
    /// and receives `assignment`. Returns the events of the poll after sync.
    fn join_follower(
        &mut self,
        generation: i32,
        assignment: &[(&str, i32)],
        protocol: &str,
    ) -> Vec<GroupEvent> {
        if self.m.coordinator().is_none() {
            self.find_coordinator(1);
        }
        let (join, _) = self.expect_join();
        self.respond(
            &join,
            join_response(
                ErrorCode::None,
                generation,
                "m-1",
                "leader-0",
                protocol,
                vec![],
            ),
        );
        let (sync, req) = self.expect_sync();
        assert!(req.assignments.is_empty(), "followers send no assignment");
        self.respond(&sync, sync_response(0, assignment, protocol));
        self.poll()
    }
}

fn find_response(node: NodeId, error: i16) -> ResponseBody {
    ResponseBody::FindCoordinator(FindCoordinatorResponse {
        coordinators: vec![Coordinator {
            key: GROUP.to_string(),
            node_id: if error == 0 { node } else { -1 },
            host: "localhost".into(),
            port: 9092,
            error_code: error,
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn join_response(
    error: ErrorCode,
    generation: i32,
    member_id: &str,
    leader: &str,
    protocol: &str,
    members: Vec<JoinGroupResponseMember>,
) -> ResponseBody {
    ResponseBody::JoinGroup(JoinGroupResponse {
        error_code: error.code(),
        generation_id: generation,
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: Some(protocol.into()),
        leader: leader.into(),
        member_id: member_id.into(),
        members,
        ..Default::default()
    })
}

fn join_error(error: ErrorCode, member_id: &str) -> ResponseBody {
    join_response(error, -1, member_id, "", "", vec![])
}

fn sync_response(error: i16, assignment: &[(&str, i32)], protocol: &str) -> ResponseBody {
    let a = Assignment {
        partitions: tps(assignment).into(),
        user_data: None,
    };
    ResponseBody::SyncGroup(SyncGroupResponse {
        error_code: error,
        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
        protocol_name: Some(protocol.into()),
        assignment: if error == 0 {
            a.encode(3)
        } else {
            Bytes::new()
        },
        ..Default::default()
    })
}

fn heartbeat_response(error: ErrorCode) -> ResponseBody {
    ResponseBody::Heartbeat(HeartbeatResponse {
        error_code: error.code(),
        ..Default::default()
    })
}

fn member(id: &str, sub: &Subscription) -> JoinGroupResponseMember {
    JoinGroupResponseMember {
        member_id: id.into(),
        metadata: sub.encode(3),
        ..Default::default()
    }
}

fn subscription_of(req: &JoinGroupRequest, protocol: &str) -> Subscription {
    let p = req
        .protocols
        .iter()
        .find(|p| p.name == protocol)
        .expect("protocol offered");
    Subscription::decode(p.metadata.clone()).unwrap()
}

fn assigned(events: &[GroupEvent]) -> (Vec<TopicPartition>, Vec<TopicPartition>, Generation) {
    events
        .iter()
        .find_map(|e| match e {
            GroupEvent::Assigned {
                added,
                assignment,
                generation,
            } => Some((added.clone(), assignment.clone(), generation.clone())),
            _ => None,
        })
        .expect("an Assigned event")
}

// ----- join -----

#[test]
fn joins_as_follower() {
    let mut h = Harness::new(&["range", "roundrobin"]);
    h.find_coordinator(1);
    let (join, req) = h.expect_join();
    assert_eq!(join.node, coordinator_connection_id(1));
    assert_eq!(req.group_id, GROUP);
    assert_eq!(req.member_id, "");
    assert_eq!(req.protocol_type, "consumer");
    assert_eq!(req.session_timeout_ms, 10_000);
    assert_eq!(req.rebalance_timeout_ms, 300_000);
    assert_eq!(
        join.request.timeout,
        Some(ms(305_000)),
        "JoinGroup waits the rebalance timeout + 5 s"
    );
    let names: Vec<&str> = req.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["range", "roundrobin"]);
    let sub = subscription_of(&req, "range");
    assert_eq!(sub.topics, ["t"]);
    assert!(sub.owned_partitions.is_empty());
    assert_eq!(sub.generation_id, -1);
    assert_eq!(h.m.state(), MemberState::PreparingRebalance);
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();

    h.respond(
        &join,
        join_response(ErrorCode::None, 5, "m-1", "leader-0", "range", vec![]),
    );
    assert_eq!(h.m.state(), MemberState::CompletingRebalance);
    assert_eq!(h.m.next_deadline(h.now), Some(h.now), "sync is due at once");
    let (sync, req) = h.expect_sync();
    assert_eq!(req.generation_id, 5);
    assert_eq!(req.member_id, "m-1");
    assert_eq!(req.protocol_name.as_deref(), Some("range"));
    assert!(req.assignments.is_empty());
    h.respond(&sync, sync_response(0, &[("t", 1), ("t", 3)], "range"));
    assert_eq!(h.m.next_deadline(h.now), Some(h.now), "events are waiting");
    let events = h.poll();
    assert_eq!(
        events,
        vec![GroupEvent::Assigned {
            added: tps(&[("t", 1), ("t", 3)]),
            assignment: tps(&[("t", 1), ("t", 3)]),
            generation: Generation {
                generation_id: 5,
                member_id: "m-1".into()
            },
        }]
    );
    assert!(h.m.is_stable());
    assert_eq!(h.m.generation_if_stable().unwrap().generation_id, 5);
    assert!(!h.m.is_leader());
    assert_eq!(h.m.owned_partitions(), tps(&[("t", 1), ("t", 3)]));
}

#[test]
fn find_coordinator_fills_both_request_layouts_and_retries_after_backoff() {
    let mut h = Harness::new(&["range"]);
    assert!(h.poll().is_empty());
    let sent = h.take_one(ApiKey::FindCoordinator);
    let RequestBody::FindCoordinator(req) = &sent.request.body else {
        unreachable!()
    };
    assert_eq!(req.key, GROUP, "v0-v3 key");
    assert_eq!(req.coordinator_keys, [GROUP], "v4+ batch");
    assert_eq!(req.key_type, 0, "group");
    h.respond(
        &sent,
        find_response(-1, ErrorCode::CoordinatorNotAvailable.code()),
    );
    assert_eq!(h.m.coordinator(), None);
    h.advance(ms(50));
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
    assert_eq!(h.m.next_deadline(h.now), Some(h.now + ms(50)));
    h.advance(ms(50));
    h.poll();
    let sent = h.take_one(ApiKey::FindCoordinator);
    // A pre-v4 answer (top-level fields) works as well.
    h.respond(
        &sent,
        ResponseBody::FindCoordinator(FindCoordinatorResponse {
            node_id: 2,
            host: "localhost".into(),
            port: 9094,
            ..Default::default()
        }),
    );
    assert_eq!(h.m.coordinator(), Some(coordinator_connection_id(2)));
    let (join, _) = h.expect_join();
    assert_eq!(join.node, coordinator_connection_id(2));
}

#[test]
fn find_coordinator_authorization_failure_is_fatal() {
    let mut h = Harness::new(&["range"]);
    h.poll();
    let sent = h.take_one(ApiKey::FindCoordinator);
    h.respond(
        &sent,
        find_response(-1, ErrorCode::GroupAuthorizationFailed.code()),
    );
    assert_eq!(
        h.poll(),
        vec![GroupEvent::Fatal(GroupError::Coordinator {
            api: ApiKey::FindCoordinator,
            code: ErrorCode::GroupAuthorizationFailed
        })]
    );
    h.advance(ms(1_000));
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
}

#[test]
fn member_id_required_rejoins_at_once_with_the_given_id() {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    let (join, _) = h.expect_join();
    h.respond(&join, join_error(ErrorCode::MemberIdRequired, "m-given"));
    let (_, req) = h.expect_join();
    assert_eq!(req.member_id, "m-given");
}

#[test]
fn joins_as_leader_and_sends_the_assignment() {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    let (join, req) = h.expect_join();
    let mine = subscription_of(&req, "range");
    let other = Subscription {
        topics: vec!["t".into(), "u".into()],
        ..Default::default()
    };
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            1,
            "m-a",
            "m-a",
            "range",
            vec![member("m-a", &mine), member("m-b", &other)],
        ),
    );
    let (sync, req) = h.expect_sync();
    assert!(h.m.is_leader());
    let by_member: BTreeMap<String, Assignment> = req
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.clone(),
                Assignment::decode(a.assignment.clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(by_member.len(), 2);
    assert_eq!(by_member["m-a"].partitions, tps(&[("t", 0), ("t", 1)]));
    assert_eq!(
        by_member["m-b"].partitions,
        tps(&[("t", 2), ("t", 3), ("u", 0), ("u", 1)])
    );
    let expected_group: BTreeSet<String> = ["t", "u"].iter().map(|s| s.to_string()).collect();
    assert_eq!(h.m.group_subscription(), &expected_group);
    h.respond(&sync, sync_response(0, &[("t", 0), ("t", 1)], "range"));
    let (added, _, generation) = assigned(&h.poll());
    assert_eq!(added, tps(&[("t", 0), ("t", 1)]));
    assert_eq!(generation.member_id, "m-a");

    // Partition count change seen by the leader: rejoin.
    h.c.set_topics(&[("t", 6), ("u", 2)], h.now);
    let events = h.poll();
    assert_eq!(
        events,
        vec![GroupEvent::Revoke(tps(&[("t", 0), ("t", 1)]))],
        "eager: revoke before rejoining"
    );
    h.assert_nothing_sent();
    h.expect_join();
}

#[test]
fn leader_passes_instance_ids_to_the_assignor() {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    let (join, req) = h.expect_join();
    let mine = subscription_of(&req, "range");
    // Range puts static members (by instance id) before dynamic ones: the
    // static "m-z" gets the first partitions although "m-a" sorts first.
    let mut other = member("m-z", &mine);
    other.group_instance_id = Some("instance-1".into());
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            1,
            "m-a",
            "m-a",
            "range",
            vec![member("m-a", &mine), other],
        ),
    );
    let (_, req) = h.expect_sync();
    let by_member: BTreeMap<String, Vec<TopicPartition>> = req
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.clone(),
                Assignment::decode(a.assignment.clone())
                    .unwrap()
                    .partitions
                    .to_vec(),
            )
        })
        .collect();
    assert_eq!(by_member["m-z"], tps(&[("t", 0), ("t", 1)]));
    assert_eq!(by_member["m-a"], tps(&[("t", 2), ("t", 3)]));
}

#[test]
fn leader_fails_on_a_protocol_it_lacks() {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    let (join, req) = h.expect_join();
    let mine = subscription_of(&req, "range");
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            1,
            "m-a",
            "m-a",
            "roundrobin",
            vec![member("m-a", &mine)],
        ),
    );
    let events = h.poll();
    assert!(
        matches!(
            &events[..],
            [GroupEvent::Fatal(GroupError::InvalidGroupData(_))]
        ),
        "{events:?}"
    );
    h.assert_nothing_sent();
}

#[test]
fn join_errors_that_reset_the_member() {
    for (code, member_id_kept) in [
        (ErrorCode::UnknownMemberId, false),
        (ErrorCode::IllegalGeneration, true),
    ] {
        let mut h = Harness::new(&["range"]);
        h.find_coordinator(1);
        let (join, _) = h.expect_join();
        h.respond(&join, join_error(ErrorCode::MemberIdRequired, "m-1"));
        let (join, _) = h.expect_join();
        h.respond(&join, join_error(code, ""));
        let (_, req) = h.expect_join();
        assert_eq!(req.member_id == "m-1", member_id_kept, "{code}");
        assert_eq!(h.m.generation().generation_id, -1);
    }
}

#[test]
fn join_errors_retried_after_backoff() {
    for code in [
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::RebalanceInProgress,
    ] {
        let mut h = Harness::new(&["range"]);
        h.find_coordinator(1);
        let (join, _) = h.expect_join();
        h.respond(&join, join_error(code, ""));
        assert!(h.poll().is_empty());
        h.assert_nothing_sent();
        assert_eq!(h.m.next_deadline(h.now), Some(h.now + ms(100)), "{code}");
        h.advance(ms(100));
        h.expect_join();
    }
}

#[test]
fn join_coordinator_errors_rediscover() {
    for code in [
        ErrorCode::NotCoordinator,
        ErrorCode::CoordinatorNotAvailable,
    ] {
        let mut h = Harness::new(&["range"]);
        h.find_coordinator(1);
        let (join, _) = h.expect_join();
        h.respond(&join, join_error(code, ""));
        assert_eq!(h.m.coordinator(), None, "{code}");
        h.find_coordinator(2);
        let (join, _) = h.expect_join();
        assert_eq!(join.node, coordinator_connection_id(2));
    }
}

#[test]
fn fatal_join_errors_are_surfaced_once() {
    for code in [
        ErrorCode::FencedInstanceId,
        ErrorCode::InconsistentGroupProtocol,
        ErrorCode::InvalidSessionTimeout,
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::GroupMaxSizeReached,
        ErrorCode::InvalidGroupId,
        ErrorCode::UnsupportedVersion,
    ] {
        let mut h = Harness::new(&["range"]);
        h.find_coordinator(1);
        let (join, _) = h.expect_join();
        h.respond(&join, join_error(code, ""));
        assert_eq!(
            h.poll(),
            vec![GroupEvent::Fatal(GroupError::Coordinator {
                api: ApiKey::JoinGroup,
                code
            })],
            "{code}"
        );
        assert_eq!(h.m.failure().and_then(GroupError::code), Some(code));
        h.advance(ms(1_000));
        assert!(h.poll().is_empty());
        h.assert_nothing_sent();
        // The application may try again.
        h.m.request_rejoin("retry after fatal error");
        h.expect_join();
    }
}

#[test]
fn static_member_passes_its_instance_id_and_needs_join_group_v5() {
    let config = MembershipConfig {
        group_instance_id: Some("instance-1".into()),
        ..config()
    };
    let mut h = Harness::with_config(&["range"], config.clone());
    h.find_coordinator(1);
    let (_, req) = h.expect_join();
    assert_eq!(req.group_instance_id.as_deref(), Some("instance-1"));

    let mut h = Harness::with_config(&["range"], config);
    h.c.versions.insert(ApiKey::JoinGroup, 4);
    h.find_coordinator(1);
    let events = h.poll();
    assert!(
        matches!(
            &events[..],
            [GroupEvent::Fatal(GroupError::UnsupportedVersion(_))]
        ),
        "{events:?}"
    );
    h.assert_nothing_sent();
}

// ----- sync -----

fn harness_at_sync() -> (Harness, SentRequest) {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    let (join, _) = h.expect_join();
    h.respond(
        &join,
        join_response(ErrorCode::None, 3, "m-1", "leader-0", "range", vec![]),
    );
    let (sync, _) = h.expect_sync();
    (h, sync)
}

#[test]
fn sync_rebalance_in_progress_rejoins_with_the_same_member() {
    let (mut h, sync) = harness_at_sync();
    h.respond(
        &sync,
        sync_response(ErrorCode::RebalanceInProgress.code(), &[], "range"),
    );
    let (_, req) = h.expect_join();
    assert_eq!(req.member_id, "m-1");
    assert_eq!(subscription_of(&req, "range").generation_id, 3);
}

#[test]
fn sync_member_errors_reset_and_rejoin() {
    for (code, member_id_kept) in [
        (ErrorCode::UnknownMemberId, false),
        (ErrorCode::IllegalGeneration, true),
    ] {
        let (mut h, sync) = harness_at_sync();
        h.respond(&sync, sync_response(code.code(), &[], "range"));
        let (_, req) = h.expect_join();
        assert_eq!(req.member_id == "m-1", member_id_kept, "{code}");
        assert_eq!(subscription_of(&req, "range").generation_id, -1);
    }
}

#[test]
fn sync_coordinator_error_rediscovers_then_rejoins() {
    let (mut h, sync) = harness_at_sync();
    h.respond(
        &sync,
        sync_response(ErrorCode::NotCoordinator.code(), &[], "range"),
    );
    assert_eq!(h.m.coordinator(), None);
    h.find_coordinator(0);
    let (join, req) = h.expect_join();
    assert_eq!(join.node, coordinator_connection_id(0));
    assert_eq!(req.member_id, "m-1");
}

#[test]
fn fatal_sync_errors() {
    for code in [
        ErrorCode::FencedInstanceId,
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::InconsistentGroupProtocol,
    ] {
        let (mut h, sync) = harness_at_sync();
        h.respond(&sync, sync_response(code.code(), &[], "range"));
        assert_eq!(
            h.poll(),
            vec![GroupEvent::Fatal(GroupError::Coordinator {
                api: ApiKey::SyncGroup,
                code
            })]
        );
    }
    // A protocol name other than the one joined with.
    let (mut h, sync) = harness_at_sync();
    h.respond(&sync, sync_response(0, &[], "roundrobin"));
    assert!(matches!(&h.poll()[..], [GroupEvent::Fatal(_)]));
    // An assignment that does not decode.
    let (mut h, sync) = harness_at_sync();
    h.respond(
        &sync,
        ResponseBody::SyncGroup(SyncGroupResponse {
            assignment: Bytes::from_static(&[0, 0, 0, 0, 0, 5]),
            ..Default::default()
        }),
    );
    assert!(matches!(
        &h.poll()[..],
        [GroupEvent::Fatal(GroupError::InvalidGroupData(_))]
    ));
}

#[test]
fn assignment_outside_the_subscription_triggers_a_rejoin() {
    let (mut h, sync) = harness_at_sync();
    h.respond(&sync, sync_response(0, &[("u", 0)], "range"));
    assert!(h.poll().is_empty());
    h.take_one(ApiKey::JoinGroup);
}

// ----- heartbeat -----

fn stable_follower(strategies: &[&str], protocol: &str) -> Harness {
    let mut h = Harness::new(strategies);
    let events = h.join_follower(1, &[("t", 0), ("t", 1)], protocol);
    assert_eq!(assigned(&events).1, tps(&[("t", 0), ("t", 1)]));
    h
}

fn next_heartbeat(h: &mut Harness) -> SentRequest {
    assert!(h.poll().is_empty());
    let sent = h.take_one(ApiKey::Heartbeat);
    let RequestBody::Heartbeat(req) = &sent.request.body else {
        unreachable!()
    };
    assert_eq!(req.generation_id, h.m.generation().generation_id);
    assert_eq!(req.member_id, h.m.generation().member_id);
    sent
}

#[test]
fn heartbeats_every_interval_one_at_a_time() {
    let mut h = stable_follower(&["range"], "range");
    assert_eq!(h.m.next_deadline(h.now), Some(h.now + ms(3_000)));
    h.advance(ms(2_999));
    h.poll();
    h.assert_nothing_sent();
    h.advance(ms(1));
    let hb = next_heartbeat(&mut h);
    h.advance(ms(3_000));
    h.poll();
    h.assert_nothing_sent();
    h.respond(&hb, heartbeat_response(ErrorCode::None));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::None));
    h.advance(ms(2_000));
    h.poll();
    h.assert_nothing_sent();
    h.advance(ms(1_000));
    next_heartbeat(&mut h);
}

#[test]
fn session_timeout_without_heartbeat_response_marks_coordinator_unknown() {
    let mut h = stable_follower(&["range"], "range");
    h.advance(ms(3_000));
    let _unanswered = next_heartbeat(&mut h);
    h.advance(ms(6_999));
    h.poll();
    h.assert_nothing_sent();
    assert_eq!(h.m.coordinator(), Some(coordinator_connection_id(1)));
    h.advance(ms(1));
    assert!(h.poll().is_empty());
    assert_eq!(h.m.coordinator(), None);
    h.find_coordinator(2);
    // Still a member of the same generation: heartbeats resume, no rejoin.
    assert!(h.m.is_stable());
    let hb = next_heartbeat(&mut h);
    assert_eq!(hb.node, coordinator_connection_id(2));
}

#[test]
fn heartbeat_failure_retries_after_backoff_on_the_rediscovered_coordinator() {
    let mut h = stable_follower(&["range"], "range");
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::NotCoordinator));
    assert_eq!(h.m.coordinator(), None);
    h.find_coordinator(2);
    h.poll();
    h.assert_nothing_sent();
    h.advance(ms(100));
    let hb = next_heartbeat(&mut h);
    assert_eq!(hb.node, coordinator_connection_id(2));
}

#[test]
fn heartbeat_rebalance_in_progress_eager_revokes_all_before_joining() {
    let mut h = stable_follower(&["range"], "range");
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::RebalanceInProgress));
    assert_eq!(
        h.poll(),
        vec![GroupEvent::Revoke(tps(&[("t", 0), ("t", 1)]))]
    );
    h.assert_nothing_sent();
    assert_eq!(
        h.m.generation().generation_id,
        1,
        "commits still possible while revoking"
    );
    let (_, req) = h.expect_join();
    let sub = subscription_of(&req, "range");
    assert!(sub.owned_partitions.is_empty());
    assert_eq!(req.member_id, "m-1");
}

#[test]
fn heartbeat_rebalance_in_progress_cooperative_keeps_partitions() {
    let mut h = stable_follower(&["cooperative-sticky"], "cooperative-sticky");
    assert_eq!(h.m.rebalance_protocol(), RebalanceProtocol::Cooperative);
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::RebalanceInProgress));
    let (_, req) = h.expect_join();
    let sub = subscription_of(&req, "cooperative-sticky");
    assert_eq!(sub.owned_partitions, tps(&[("t", 0), ("t", 1)]));
    assert_eq!(sub.generation_id, 1);
    assert_eq!(h.m.owned_partitions(), tps(&[("t", 0), ("t", 1)]));
}

#[test]
fn auto_commit_stops_before_every_rejoin_that_keeps_partitions() {
    // Java's onJoinPrepare commits before every rejoin, also a cooperative
    // one that revokes nothing.
    let mut h = Harness::with_config(
        &["cooperative-sticky"],
        MembershipConfig {
            auto_commit: true,
            ..config()
        },
    );
    let events = h.join_follower(1, &[("t", 0), ("t", 1)], "cooperative-sticky");
    assert_eq!(assigned(&events).1, tps(&[("t", 0), ("t", 1)]));
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::RebalanceInProgress));
    assert_eq!(h.poll(), vec![GroupEvent::PrepareJoin]);
    h.assert_nothing_sent();
    assert_eq!(
        h.m.generation_if_stable().map(|g| g.generation_id),
        Some(1),
        "the commit goes out under the still valid generation"
    );
    let (_, req) = h.expect_join();
    let sub = subscription_of(&req, "cooperative-sticky");
    assert_eq!(sub.owned_partitions, tps(&[("t", 0), ("t", 1)]));
}

#[test]
fn auto_commit_with_a_revocation_stops_only_for_the_revocation() {
    let mut h = Harness::with_config(
        &["range"],
        MembershipConfig {
            auto_commit: true,
            ..config()
        },
    );
    let events = h.join_follower(1, &[("t", 0), ("t", 1)], "range");
    assert_eq!(assigned(&events).1, tps(&[("t", 0), ("t", 1)]));
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::RebalanceInProgress));
    // The consumer commits while handling Revoke: no second stop.
    assert_eq!(
        h.poll(),
        vec![GroupEvent::Revoke(tps(&[("t", 0), ("t", 1)]))]
    );
    h.expect_join();
}

#[test]
fn heartbeat_generation_errors_lose_the_partitions() {
    for (code, member_id_kept) in [
        (ErrorCode::IllegalGeneration, true),
        (ErrorCode::UnknownMemberId, false),
    ] {
        let mut h = stable_follower(&["cooperative-sticky"], "cooperative-sticky");
        h.advance(ms(3_000));
        let hb = next_heartbeat(&mut h);
        h.respond(&hb, heartbeat_response(code));
        assert_eq!(
            h.poll(),
            vec![GroupEvent::Lost(tps(&[("t", 0), ("t", 1)]))],
            "{code}"
        );
        h.assert_nothing_sent();
        let (_, req) = h.expect_join();
        assert_eq!(req.member_id == "m-1", member_id_kept, "{code}");
        let sub = subscription_of(&req, "cooperative-sticky");
        assert!(sub.owned_partitions.is_empty());
        assert_eq!(sub.generation_id, -1);
    }
}

#[test]
fn heartbeat_fenced_instance_loses_partitions_and_is_fatal() {
    let mut h = stable_follower(&["range"], "range");
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::FencedInstanceId));
    assert_eq!(
        h.poll(),
        vec![
            GroupEvent::Lost(tps(&[("t", 0), ("t", 1)])),
            GroupEvent::Fatal(GroupError::Coordinator {
                api: ApiKey::Heartbeat,
                code: ErrorCode::FencedInstanceId
            })
        ]
    );
    h.advance(ms(10_000));
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
}

#[test]
fn stale_heartbeat_error_of_an_older_generation_is_ignored() {
    let mut h = stable_follower(&["cooperative-sticky"], "cooperative-sticky");
    h.advance(ms(3_000));
    let old_hb = next_heartbeat(&mut h);
    h.m.request_rejoin("test");
    let (join, _) = h.expect_join();
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            2,
            "m-1",
            "leader-0",
            "cooperative-sticky",
            vec![],
        ),
    );
    h.respond(&old_hb, heartbeat_response(ErrorCode::IllegalGeneration));
    assert_eq!(h.m.generation().generation_id, 2);
    let (sync, _) = h.expect_sync();
    h.respond(
        &sync,
        sync_response(0, &[("t", 0), ("t", 1)], "cooperative-sticky"),
    );
    let events = h.poll();
    assert_eq!(assigned(&events).0, vec![], "nothing new");
}

// ----- coordinator loss -----

#[test]
fn disconnect_of_the_coordinator_rediscovers_it() {
    let mut h = stable_follower(&["range"], "range");
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    let ev = ClientEvent::Disconnected {
        node: coordinator_connection_id(1),
        in_flight: vec![InFlightInfo {
            correlation_id: hb.correlation_id,
            api_key: ApiKey::Heartbeat,
        }],
        cause: NetworkError::ConnectionClosed,
    };
    assert!(h.m.handle_event(&ev, h.now));
    assert_eq!(h.m.coordinator(), None);
    h.find_coordinator(2);
    h.advance(ms(100));
    assert_eq!(next_heartbeat(&mut h).node, coordinator_connection_id(2));
    assert!(h.m.is_stable());
}

#[test]
fn disconnect_of_the_brokers_ordinary_connection_keeps_the_coordinator() {
    // Broker 1 is the coordinator; its fetch connection (id 1) is not the
    // coordinator connection, so losing it changes nothing for the group.
    let mut h = stable_follower(&["range"], "range");
    let ev = ClientEvent::Disconnected {
        node: 1,
        in_flight: vec![],
        cause: NetworkError::ConnectionClosed,
    };
    assert!(!h.m.handle_event(&ev, h.now));
    assert_eq!(h.m.coordinator(), Some(coordinator_connection_id(1)));
    assert!(h.m.is_stable());
    h.advance(ms(3_000));
    assert_eq!(next_heartbeat(&mut h).node, coordinator_connection_id(1));
}

#[test]
fn join_request_timeout_rediscovers_and_rejoins() {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    let (join, _) = h.expect_join();
    let ev = ClientEvent::Timeout {
        node: coordinator_connection_id(1),
        correlation_id: join.correlation_id,
        api_key: ApiKey::JoinGroup,
    };
    assert!(h.m.handle_event(&ev, h.now));
    assert_eq!(h.m.coordinator(), None);
    assert_eq!(h.m.state(), MemberState::Unjoined);
    h.find_coordinator(1);
    h.expect_join();
    // The late answer of the timed-out JoinGroup is not ours any more.
    assert!(!h.m.handle_event(
        &FakeClient::response_to(&join, join_error(ErrorCode::None, "x")),
        h.now
    ));
}

#[test]
fn connection_failure_to_the_coordinator_rediscovers_it() {
    let mut h = stable_follower(&["range"], "range");
    h.c.failed.insert(coordinator_connection_id(1));
    // Failed but may reconnect at once: kept (Java's isUnavailable needs a
    // reconnect backoff too).
    h.poll();
    assert_eq!(h.m.coordinator(), Some(coordinator_connection_id(1)));
    h.assert_nothing_sent();
    h.c.delays.insert(coordinator_connection_id(1), ms(500));
    h.poll();
    assert_eq!(h.m.coordinator(), None);
    h.take_one(ApiKey::FindCoordinator);
    assert!(
        h.m.is_stable(),
        "the generation survives a coordinator move"
    );
}

#[test]
fn responses_from_a_former_coordinator_are_ignored() {
    let (mut h, sync) = harness_at_sync();
    h.m.mark_coordinator_unknown("test");
    assert_eq!(h.m.state(), MemberState::Unjoined);
    h.respond(&sync, sync_response(0, &[("t", 0)], "range"));
    assert!(h.m.owned_partitions().is_empty());
    h.find_coordinator(1);
    let (_, req) = h.expect_join();
    assert_eq!(req.member_id, "m-1");
}

// ----- cooperative -----

#[test]
fn cooperative_two_round_rebalance_revokes_only_moved_partitions() {
    let mut h = Harness::new(&["cooperative-sticky"]);
    h.find_coordinator(1);
    // Round 0: alone, the leader takes all four partitions.
    let (join, req) = h.expect_join();
    let sub = subscription_of(&req, "cooperative-sticky");
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            1,
            "m-a",
            "m-a",
            "cooperative-sticky",
            vec![member("m-a", &sub)],
        ),
    );
    let (sync, req) = h.expect_sync();
    let all = tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
    assert_eq!(
        Assignment::decode(req.assignments[0].assignment.clone())
            .unwrap()
            .partitions,
        all
    );
    h.respond(
        &sync,
        sync_response(
            0,
            &[("t", 0), ("t", 1), ("t", 2), ("t", 3)],
            "cooperative-sticky",
        ),
    );
    assert_eq!(assigned(&h.poll()).0, all);

    // m-b joins: the heartbeat learns of the rebalance; nothing is revoked
    // before joining and the owned partitions go into the subscription.
    h.advance(ms(3_000));
    let hb = next_heartbeat(&mut h);
    h.respond(&hb, heartbeat_response(ErrorCode::RebalanceInProgress));
    let (join, req) = h.expect_join();
    let sub_a = subscription_of(&req, "cooperative-sticky");
    assert_eq!(sub_a.owned_partitions, all);
    let sub_b = Subscription {
        topics: vec!["t".into()],
        ..Default::default()
    };
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            2,
            "m-a",
            "m-a",
            "cooperative-sticky",
            vec![member("m-a", &sub_a), member("m-b", &sub_b)],
        ),
    );
    // Round 1: the partitions moving to m-b are held back.
    let (sync, req) = h.expect_sync();
    let round1: BTreeMap<String, Vec<TopicPartition>> = req
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.clone(),
                Assignment::decode(a.assignment.clone())
                    .unwrap()
                    .partitions
                    .to_vec(),
            )
        })
        .collect();
    assert_eq!(
        round1["m-b"],
        vec![],
        "moved partitions are not handed over yet"
    );
    assert_eq!(round1["m-a"].len(), 2);
    let kept = round1["m-a"].clone();
    let moved: Vec<TopicPartition> = all.iter().filter(|p| !kept.contains(p)).cloned().collect();
    h.respond(
        &sync,
        ResponseBody::SyncGroup(SyncGroupResponse {
            protocol_type: Some("consumer".into()),
            protocol_name: Some("cooperative-sticky".into()),
            assignment: Assignment {
                partitions: kept.clone().into(),
                user_data: None,
            }
            .encode(3),
            ..Default::default()
        }),
    );
    let events = h.poll();
    assert_eq!(
        events,
        vec![
            GroupEvent::Revoke(moved.clone()),
            GroupEvent::Assigned {
                added: vec![],
                assignment: kept.clone(),
                generation: Generation {
                    generation_id: 2,
                    member_id: "m-a".into()
                }
            }
        ]
    );
    h.assert_nothing_sent();
    assert!(!h.m.is_stable(), "a follow-up rebalance is due");

    // Round 2: the follow-up join claims only what is kept; m-b gets the rest.
    let (join, req) = h.expect_join();
    let sub_a = subscription_of(&req, "cooperative-sticky");
    assert_eq!(sub_a.owned_partitions, kept);
    h.respond(
        &join,
        join_response(
            ErrorCode::None,
            3,
            "m-a",
            "m-a",
            "cooperative-sticky",
            vec![member("m-a", &sub_a), member("m-b", &sub_b)],
        ),
    );
    let (sync, req) = h.expect_sync();
    let round2: BTreeMap<String, Vec<TopicPartition>> = req
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.clone(),
                Assignment::decode(a.assignment.clone())
                    .unwrap()
                    .partitions
                    .to_vec(),
            )
        })
        .collect();
    assert_eq!(round2["m-a"], kept);
    assert_eq!(round2["m-b"], moved);
    h.respond(
        &sync,
        ResponseBody::SyncGroup(SyncGroupResponse {
            protocol_type: Some("consumer".into()),
            protocol_name: Some("cooperative-sticky".into()),
            assignment: Assignment {
                partitions: kept.clone().into(),
                user_data: None,
            }
            .encode(3),
            ..Default::default()
        }),
    );
    let events = h.poll();
    assert_eq!(events.len(), 1, "no revocation this time: {events:?}");
    assert_eq!(assigned(&events).0, vec![]);
    assert!(h.m.is_stable());
}

#[test]
fn cooperative_only_if_every_assignor_supports_it() {
    let h = Harness::new(&["cooperative-sticky", "range"]);
    assert_eq!(h.m.rebalance_protocol(), RebalanceProtocol::Eager);
    let h = Harness::new(&["cooperative-sticky"]);
    assert_eq!(h.m.rebalance_protocol(), RebalanceProtocol::Cooperative);
}

#[test]
fn cooperative_subscription_change_revokes_only_dropped_topics() {
    let mut h = Harness::new(&["cooperative-sticky"]);
    h.topics = vec!["t".into(), "u".into()];
    let events = h.join_follower(1, &[("t", 0), ("u", 1)], "cooperative-sticky");
    assert_eq!(assigned(&events).1, tps(&[("t", 0), ("u", 1)]));
    h.topics = vec!["t".into()];
    assert_eq!(h.poll(), vec![GroupEvent::Revoke(tps(&[("u", 1)]))]);
    h.assert_nothing_sent();
    let (_, req) = h.expect_join();
    let sub = subscription_of(&req, "cooperative-sticky");
    assert_eq!(sub.topics, ["t"]);
    assert_eq!(sub.owned_partitions, tps(&[("t", 0)]));
}

// ----- eager -----

#[test]
fn eager_rejoin_revokes_everything_first() {
    let mut h = stable_follower(&["range"], "range");
    h.m.request_rejoin("enforce_rebalance");
    assert!(!h.m.is_stable());
    assert_eq!(
        h.poll(),
        vec![GroupEvent::Revoke(tps(&[("t", 0), ("t", 1)]))]
    );
    h.assert_nothing_sent();
    let (join, req) = h.expect_join();
    assert_eq!(req.reason.as_deref(), Some("enforce_rebalance"));
    assert!(subscription_of(&req, "range").owned_partitions.is_empty());
    h.respond(
        &join,
        join_response(ErrorCode::None, 2, "m-1", "leader-0", "range", vec![]),
    );
    let (sync, _) = h.expect_sync();
    h.respond(&sync, sync_response(0, &[("t", 1), ("t", 2)], "range"));
    let (added, assignment, _) = assigned(&h.poll());
    assert_eq!(added, assignment, "eager: everything is new");
}

// ----- KIP-62 -----

/// Keeps the session alive (answers heartbeats) for `total` without any
/// consumer poll.
fn heartbeat_for(h: &mut Harness, total: Duration) {
    let end = h.now + total;
    while h.now + ms(3_000) <= end {
        h.advance(ms(3_000));
        let events = h.poll();
        assert!(events.is_empty(), "{events:?}");
        let sent = h.c.take_sent();
        for s in sent {
            if s.request.body.api_key() == ApiKey::Heartbeat {
                h.respond(&s, heartbeat_response(ErrorCode::None));
            } else {
                // Put it back for the caller to see.
                h.c.sent.push(s);
                return;
            }
        }
    }
    h.now = end;
}

#[test]
fn poll_interval_expiry_leaves_the_group_and_the_next_poll_rejoins() {
    let mut h = stable_follower(&["range"], "range");
    h.m.record_poll(h.now);
    let start = h.now;
    heartbeat_for(&mut h, ms(299_000));
    assert!(h.m.is_stable());
    assert_eq!(
        h.m.next_deadline(h.now).map(|d| d <= start + ms(300_000)),
        Some(true)
    );
    h.now = start + ms(300_000);
    // A background driver notices: LeaveGroup, generation reset, no rejoin.
    let events = h.poll();
    assert!(events.is_empty(), "{events:?}");
    let leave = h.take_one(ApiKey::LeaveGroup);
    let RequestBody::LeaveGroup(req) = &leave.request.body else {
        unreachable!()
    };
    assert_eq!(req.member_id, "m-1");
    assert_eq!(req.members[0].member_id, "m-1");
    assert_eq!(
        req.members[0].reason.as_deref(),
        Some(POLL_TIMEOUT_LEAVE_REASON)
    );
    assert_eq!(h.m.generation(), &Generation::none());
    h.respond(
        &leave,
        ResponseBody::LeaveGroup(LeaveGroupResponse::default()),
    );
    h.advance(ms(5_000));
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
    // The application polls again: partitions lost, then a fresh join.
    assert_eq!(
        h.user_poll(),
        vec![GroupEvent::Lost(tps(&[("t", 0), ("t", 1)]))]
    );
    h.assert_nothing_sent();
    let (_, req) = h.expect_join();
    assert_eq!(req.member_id, "");
    assert_eq!(req.reason.as_deref(), Some(POLL_TIMEOUT_LEAVE_REASON));
}

#[test]
fn poll_interval_expiry_noticed_by_the_consumer_poll_itself() {
    let mut h = stable_follower(&["range"], "range");
    h.m.record_poll(h.now);
    heartbeat_for(&mut h, ms(299_000));
    h.advance(ms(2_000));
    // No background driver ran: the consumer's own poll finds the timer
    // expired, leaves, and reports the loss before rejoining.
    assert_eq!(
        h.user_poll(),
        vec![GroupEvent::Lost(tps(&[("t", 0), ("t", 1)]))]
    );
    h.take_one(ApiKey::LeaveGroup);
    h.expect_join();
}

// ----- leave -----

#[test]
fn dynamic_member_sends_leave_group_on_close() {
    let mut h = stable_follower(&["range"], "range");
    let events =
        h.m.leave_group(&mut h.c, h.now, "the consumer is being closed");
    assert_eq!(events, vec![GroupEvent::Revoke(tps(&[("t", 0), ("t", 1)]))]);
    let leave = h.take_one(ApiKey::LeaveGroup);
    assert!(h.m.leave_in_flight());
    h.respond(
        &leave,
        ResponseBody::LeaveGroup(LeaveGroupResponse::default()),
    );
    assert!(!h.m.leave_in_flight());
    assert_eq!(h.m.state(), MemberState::Unjoined);
}

#[test]
fn static_member_does_not_send_leave_group_on_close() {
    let mut h = Harness::with_config(
        &["range"],
        MembershipConfig {
            group_instance_id: Some("instance-1".into()),
            ..config()
        },
    );
    let events = h.join_follower(1, &[("t", 0)], "range");
    assert_eq!(assigned(&events).1, tps(&[("t", 0)]));
    let events =
        h.m.leave_group(&mut h.c, h.now, "the consumer is being closed");
    assert_eq!(events, vec![GroupEvent::Revoke(tps(&[("t", 0)]))]);
    h.assert_nothing_sent();
    assert!(!h.m.leave_in_flight());
}

#[test]
fn unsubscribed_member_does_not_rejoin() {
    let mut h = stable_follower(&["range"], "range");
    let events =
        h.m.leave_group(&mut h.c, h.now, "the consumer unsubscribed from all topics");
    assert_eq!(events.len(), 1);
    h.take_one(ApiKey::LeaveGroup);
    h.topics.clear();
    h.advance(ms(10_000));
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
    assert_eq!(h.m.next_deadline(h.now), None);
}

// ----- misc -----

#[test]
fn coordinator_not_ready_waits_without_spinning() {
    let mut h = Harness::new(&["range"]);
    h.find_coordinator(1);
    h.c.not_ready.insert(coordinator_connection_id(1));
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
    let deadline = h.m.next_deadline(h.now).unwrap();
    assert!(deadline > h.now, "no busy loop while connecting");
    h.c.not_ready.clear();
    h.expect_join();
}

#[test]
fn subscription_change_triggers_a_rejoin() {
    let mut h = stable_follower(&["range"], "range");
    h.topics = vec!["t".into(), "u".into()];
    assert_eq!(
        h.poll(),
        vec![GroupEvent::Revoke(tps(&[("t", 0), ("t", 1)]))]
    );
    let (_, req) = h.expect_join();
    assert_eq!(subscription_of(&req, "range").topics, ["t", "u"]);
}

#[test]
fn rack_and_sticky_user_data_go_into_the_subscription() {
    let mut h = Harness::with_config(
        &["sticky"],
        MembershipConfig {
            rack_id: Some("rack-a".into()),
            ..config()
        },
    );
    let events = h.join_follower(1, &[("t", 0)], "sticky");
    assert_eq!(assigned(&events).1, tps(&[("t", 0)]));
    h.m.request_rejoin("test");
    h.poll();
    let (_, req) = h.expect_join();
    let sub = subscription_of(&req, "sticky");
    assert_eq!(sub.rack_id.as_deref(), Some("rack-a"));
    let (partitions, generation) =
        crate::group::assignor::decode_sticky_user_data(sub.user_data.unwrap()).unwrap();
    assert_eq!(partitions, tps(&[("t", 0)]));
    assert_eq!(generation, 1);
}
