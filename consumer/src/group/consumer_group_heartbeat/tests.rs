//! ConsumerGroupMembership driven through a scripted client with
//! hand-advanced time.

use super::*;
use crate::group::test_client::{FakeClient, SentRequest};
use prozess_network::{coordinator_connection_id, InFlightInfo, NetworkError};
use prozess_protocol::messages::consumer_group_heartbeat::response::{
    Assignment as ResponseAssignment, TopicPartitions as ResponseTopicPartitions,
};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::FindCoordinatorResponse;

const GROUP: &str = "g";
/// Topic ids `MetadataSnapshot::simple` gives "t" and "u".
const T: u128 = 0x1000;
const U: u128 = 0x1001;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn tps(spec: &[(&str, i32)]) -> Vec<TopicPartition> {
    spec.iter()
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect()
}

fn config() -> MembershipConfig {
    MembershipConfig {
        max_poll_interval: ms(300_000),
        retry_backoff: ms(100),
        rack_id: Some("rack-a".into()),
        ..MembershipConfig::new(GROUP)
    }
}

struct Harness {
    m: ConsumerGroupMembership,
    c: FakeClient,
    now: Instant,
    topics: Vec<String>,
}

impl Harness {
    fn new(config: MembershipConfig) -> Harness {
        let now = Instant::now();
        Harness {
            m: ConsumerGroupMembership::new(config, Some("uniform".into()), now),
            c: FakeClient::new(&[("t", 4), ("u", 2)], now),
            now,
            topics: vec!["t".into(), "u".into()],
        }
    }

    fn poll(&mut self) -> Vec<GroupEvent> {
        self.m.poll(&mut self.c, self.now, &self.topics.clone())
    }

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
        assert!(sent.is_empty(), "unexpected requests: {}", sent.len());
    }

    fn respond(&mut self, sent: &SentRequest, body: ResponseBody) {
        let ev = FakeClient::response_to(sent, body);
        assert!(self.m.handle_event(&ev, self.now));
    }

    fn find_coordinator(&mut self, node: NodeId) {
        assert!(self.poll().is_empty());
        let sent = self.take_one(ApiKey::FindCoordinator);
        self.respond(
            &sent,
            ResponseBody::FindCoordinator(FindCoordinatorResponse {
                coordinators: vec![Coordinator {
                    key: GROUP.into(),
                    node_id: node,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        );
    }

    /// Polls and expects a heartbeat; returns it and its request.
    fn expect_heartbeat(&mut self) -> (SentRequest, ConsumerGroupHeartbeatRequest) {
        let events = self.poll();
        assert!(events.is_empty(), "unexpected events {events:?}");
        let sent = self.take_one(ApiKey::ConsumerGroupHeartbeat);
        let RequestBody::ConsumerGroupHeartbeat(req) = sent.request.body.clone() else {
            unreachable!()
        };
        (sent, req)
    }

    /// Joins (coordinator 1) and receives `assignment` in epoch 1.
    fn join(&mut self, assignment: &[(u128, &[i32])]) -> Vec<GroupEvent> {
        self.find_coordinator(1);
        let (sent, _) = self.expect_heartbeat();
        self.respond(&sent, ok(1, Some(assignment)));
        self.poll()
    }
}

fn ok(epoch: i32, assignment: Option<&[(u128, &[i32])]>) -> ResponseBody {
    ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
        member_epoch: epoch,
        heartbeat_interval_ms: 5_000,
        assignment: assignment.map(|a| ResponseAssignment {
            topic_partitions: a
                .iter()
                .map(|(id, ps)| ResponseTopicPartitions {
                    topic_id: Uuid::from_u128(*id),
                    partitions: ps.to_vec(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn error(code: ErrorCode) -> ResponseBody {
    ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
        error_code: code.code(),
        member_epoch: -1,
        ..Default::default()
    })
}

fn acked(req: &ConsumerGroupHeartbeatRequest) -> Vec<(u128, Vec<i32>)> {
    req.topic_partitions
        .as_ref()
        .expect("owned partitions sent")
        .iter()
        .map(|t| (t.topic_id.as_u128(), t.partitions.clone()))
        .collect()
}

#[test]
fn member_ids_look_like_java_uuids() {
    let id = random_member_id();
    assert_eq!(id.len(), 22);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_ne!(random_member_id(), random_member_id());
}

#[test]
fn joins_with_a_full_heartbeat_and_acknowledges_the_assignment() {
    let mut h = Harness::new(config());
    h.find_coordinator(1);
    let (sent, req) = h.expect_heartbeat();
    // The coordinator's own connection, not broker 1's fetch connection.
    assert_eq!(sent.node, coordinator_connection_id(1));
    assert_eq!(req.group_id, GROUP);
    assert_eq!(req.member_id, h.m.member_id());
    assert_eq!(req.member_epoch, 0);
    assert_eq!(req.rack_id.as_deref(), Some("rack-a"));
    assert_eq!(req.rebalance_timeout_ms, 300_000);
    assert_eq!(
        req.subscribed_topic_names,
        Some(vec!["t".into(), "u".into()])
    );
    assert_eq!(req.server_assignor.as_deref(), Some("uniform"));
    assert_eq!(req.topic_partitions, Some(vec![]), "owns nothing yet");
    assert_eq!(h.m.state(), ConsumerMemberState::Joining);
    h.poll();
    h.assert_nothing_sent();

    h.respond(&sent, ok(1, Some(&[(T, &[0, 2]), (U, &[1])])));
    assert_eq!(h.m.member_epoch(), 1);
    let events = h.poll();
    assert_eq!(
        events,
        vec![GroupEvent::Assigned {
            added: tps(&[("t", 0), ("t", 2), ("u", 1)]),
            assignment: tps(&[("t", 0), ("t", 2), ("u", 1)]),
            generation: Generation {
                generation_id: 1,
                member_id: h.m.member_id().to_string()
            },
        }]
    );
    // The acknowledgement went out in the same poll (nothing was revoked).
    let sent = h.take_one(ApiKey::ConsumerGroupHeartbeat);
    let RequestBody::ConsumerGroupHeartbeat(req) = &sent.request.body else {
        unreachable!()
    };
    assert_eq!(req.member_epoch, 1);
    assert_eq!(acked(req), vec![(T, vec![0, 2]), (U, vec![1])]);
    assert_eq!(
        req.subscribed_topic_names, None,
        "unchanged fields are null"
    );
    assert_eq!(req.rack_id, None);
    h.respond(&sent, ok(1, None));
    assert!(h.m.is_stable());

    // Then every heartbeat.interval.ms (from the response), without the
    // owned partitions.
    assert_eq!(h.m.next_deadline(h.now), Some(h.now + ms(5_000)));
    h.now += ms(4_999);
    h.poll();
    h.assert_nothing_sent();
    h.now += ms(1);
    let (_, req) = h.expect_heartbeat();
    assert_eq!(req.topic_partitions, None);
}

#[test]
fn moved_partitions_are_revoked_before_the_acknowledgement() {
    let mut h = Harness::new(config());
    h.join(&[(T, &[0, 1, 2, 3])]);
    let (sent, _) = h.expect_heartbeat_after_join();
    h.respond(&sent, ok(1, None));
    h.now += ms(5_000);
    let (sent, _) = h.expect_heartbeat();
    h.respond(&sent, ok(2, Some(&[(T, &[0, 1])])));
    let events = h.poll();
    assert_eq!(
        events,
        vec![
            GroupEvent::Revoke(tps(&[("t", 2), ("t", 3)])),
            GroupEvent::Assigned {
                added: vec![],
                assignment: tps(&[("t", 0), ("t", 1)]),
                generation: Generation {
                    generation_id: 2,
                    member_id: h.m.member_id().to_string()
                },
            }
        ]
    );
    h.assert_nothing_sent();
    assert_eq!(h.m.next_deadline(h.now), Some(h.now), "ack due");
    let (_, req) = h.expect_heartbeat();
    assert_eq!(acked(&req), vec![(T, vec![0, 1])]);
}

impl Harness {
    /// The heartbeat a previous call already sent (the acknowledgement after
    /// `join`, a leave).
    fn expect_heartbeat_after_join(&mut self) -> (SentRequest, ConsumerGroupHeartbeatRequest) {
        let sent = self.take_one(ApiKey::ConsumerGroupHeartbeat);
        let RequestBody::ConsumerGroupHeartbeat(req) = sent.request.body.clone() else {
            unreachable!()
        };
        (sent, req)
    }
}

#[test]
fn assignment_waits_for_unknown_topic_ids() {
    let mut h = Harness::new(config());
    h.find_coordinator(1);
    let (sent, _) = h.expect_heartbeat();
    const V: u128 = 0x1002;
    h.respond(&sent, ok(1, Some(&[(V, &[0])])));
    assert!(h.poll().is_empty());
    assert!(h.c.metadata().update_requested());
    assert!(!h.m.is_stable());
    h.c.set_topics(&[("t", 4), ("u", 2), ("v", 1)], h.now);
    let events = h.poll();
    let GroupEvent::Assigned { assignment, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(assignment, &tps(&[("v", 0)]));
}

#[test]
fn fenced_member_loses_partitions_and_rejoins_with_epoch_zero() {
    for code in [ErrorCode::FencedMemberEpoch, ErrorCode::UnknownMemberId] {
        let mut h = Harness::new(config());
        h.join(&[(T, &[0])]);
        let (sent, _) = h.expect_heartbeat_after_join();
        h.respond(&sent, error(code));
        assert_eq!(h.poll(), vec![GroupEvent::Lost(tps(&[("t", 0)]))], "{code}");
        h.assert_nothing_sent();
        let (_, req) = h.expect_heartbeat();
        assert_eq!(req.member_epoch, 0);
        assert_eq!(req.member_id, h.m.member_id());
        assert_eq!(
            req.subscribed_topic_names,
            Some(vec!["t".into(), "u".into()])
        );
        assert_eq!(req.topic_partitions, Some(vec![]));
    }
}

#[test]
fn coordinator_errors_rediscover_and_resend_everything() {
    let mut h = Harness::new(config());
    h.join(&[(T, &[0])]);
    let (sent, _) = h.expect_heartbeat_after_join();
    h.respond(&sent, error(ErrorCode::NotCoordinator));
    assert_eq!(h.m.coordinator(), None);
    h.find_coordinator(2);
    let (sent, req) = h.expect_heartbeat();
    assert_eq!(sent.node, coordinator_connection_id(2));
    assert_eq!(req.member_epoch, 1, "still a member");
    assert!(req.subscribed_topic_names.is_some(), "full request");
    assert_eq!(acked(&req), vec![(T, vec![0])]);
}

#[test]
fn disconnect_and_load_in_progress_retry_after_backoff() {
    let mut h = Harness::new(config());
    h.join(&[(T, &[0])]);
    let (sent, _) = h.expect_heartbeat_after_join();
    h.respond(&sent, error(ErrorCode::CoordinatorLoadInProgress));
    h.poll();
    h.assert_nothing_sent();
    h.now += ms(100);
    let (sent, _) = h.expect_heartbeat();
    let ev = ClientEvent::Disconnected {
        node: coordinator_connection_id(1),
        in_flight: vec![InFlightInfo {
            correlation_id: sent.correlation_id,
            api_key: ApiKey::ConsumerGroupHeartbeat,
        }],
        cause: NetworkError::ConnectionClosed,
    };
    assert!(h.m.handle_event(&ev, h.now));
    assert_eq!(h.m.coordinator(), None);
    h.find_coordinator(1);
    h.poll();
    h.assert_nothing_sent();
    h.now += ms(100);
    h.expect_heartbeat();
}

#[test]
fn fatal_errors_are_surfaced() {
    for code in [
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnsupportedAssignor,
        ErrorCode::UnreleasedInstanceId,
        ErrorCode::GroupMaxSizeReached,
        ErrorCode::FencedInstanceId,
        ErrorCode::InvalidRequest,
    ] {
        let mut h = Harness::new(config());
        h.find_coordinator(1);
        let (sent, _) = h.expect_heartbeat();
        h.respond(&sent, error(code));
        assert_eq!(
            h.poll(),
            vec![GroupEvent::Fatal(GroupError::Coordinator {
                api: ApiKey::ConsumerGroupHeartbeat,
                code
            })]
        );
        h.now += ms(10_000);
        assert!(h.poll().is_empty());
        h.assert_nothing_sent();
    }
}

#[test]
fn subscription_change_is_sent_at_once() {
    let mut h = Harness::new(config());
    h.join(&[(T, &[0])]);
    let (sent, _) = h.expect_heartbeat_after_join();
    h.respond(&sent, ok(1, None));
    h.topics = vec!["t".into()];
    let (_, req) = h.expect_heartbeat();
    assert_eq!(req.subscribed_topic_names, Some(vec!["t".into()]));
}

#[test]
fn leaving_sends_epoch_minus_one_or_minus_two_for_static_members() {
    for (instance, epoch) in [
        (None, LEAVE_GROUP_MEMBER_EPOCH),
        (Some("i-1".to_string()), LEAVE_GROUP_STATIC_MEMBER_EPOCH),
    ] {
        let mut h = Harness::new(MembershipConfig {
            group_instance_id: instance.clone(),
            ..config()
        });
        h.join(&[(T, &[0])]);
        let (sent, _) = h.expect_heartbeat_after_join();
        h.respond(&sent, ok(1, None));
        let events = h.m.leave_group(&mut h.c, h.now, "closing");
        assert_eq!(events, vec![GroupEvent::Revoke(tps(&[("t", 0)]))]);
        let sent = h.take_one(ApiKey::ConsumerGroupHeartbeat);
        let RequestBody::ConsumerGroupHeartbeat(req) = &sent.request.body else {
            unreachable!()
        };
        assert_eq!(req.member_epoch, epoch);
        assert_eq!(req.instance_id, instance);
        h.respond(&sent, ok(-1, None));
        assert_eq!(h.m.state(), ConsumerMemberState::Unjoined);
        h.topics.clear();
        assert!(h.poll().is_empty());
        h.assert_nothing_sent();
    }
}

#[test]
fn poll_timeout_leaves_and_the_next_consumer_poll_rejoins() {
    let mut h = Harness::new(config());
    h.m.record_poll(h.now);
    h.join(&[(T, &[0])]);
    let (sent, _) = h.expect_heartbeat_after_join();
    h.respond(&sent, ok(1, None));
    let start = h.now;
    while h.now + ms(5_000) < start + ms(300_000) {
        h.now += ms(5_000);
        let (sent, _) = h.expect_heartbeat();
        h.respond(&sent, ok(1, None));
    }
    h.now = start + ms(300_000);
    assert_eq!(h.poll(), vec![GroupEvent::Lost(tps(&[("t", 0)]))]);
    let (sent, req) = h.expect_heartbeat_after_join();
    assert_eq!(req.member_epoch, LEAVE_GROUP_MEMBER_EPOCH);
    h.respond(&sent, ok(-1, None));
    h.now += ms(1_000);
    assert!(h.poll().is_empty());
    h.assert_nothing_sent();
    h.m.record_poll(h.now);
    let (_, req) = h.expect_heartbeat();
    assert_eq!(req.member_epoch, 0);
}
