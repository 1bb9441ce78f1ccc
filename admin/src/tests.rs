//! AdminClient unit tests over prozess-network's scripted [`MockClient`]:
//! each test prepares the responses the cluster would give, in the order the
//! client asks, and then checks what was sent where.

use std::time::Duration;

use bytes::Bytes;
use prozess_network::mock::MockClient;
use prozess_network::{NetworkError, NodeId, SecurityProtocol, TopicPartition};
use prozess_protocol::messages::create_topics::response::CreatableTopicResult;
use prozess_protocol::messages::delete_groups::response::DeletableGroupResult;
use prozess_protocol::messages::delete_topics::response::DeletableTopicResult;
use prozess_protocol::messages::describe_groups::response::{DescribedGroup, DescribedGroupMember};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::list_groups::response::ListedGroup;
use prozess_protocol::messages::list_offsets::response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use prozess_protocol::messages::metadata::response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use prozess_protocol::messages::{
    CreateTopicsResponse, DeleteGroupsResponse, DeleteTopicsResponse, DescribeGroupsResponse,
    FindCoordinatorResponse, ListGroupsResponse, ListOffsetsResponse, MetadataResponse,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, Uuid};

use super::*;

const T: Duration = Duration::from_secs(5);

fn config() -> AdminConfig {
    AdminConfig {
        bootstrap_servers: vec!["localhost:9092".into()],
        retry_backoff: Duration::from_millis(1),
        default_api_timeout: T,
        ..AdminConfig::default()
    }
}

/// An admin client over a mock cluster of `brokers` that negotiates Kafka
/// 4.0's newest versions of the admin APIs.
fn admin(brokers: &[NodeId]) -> AdminClient<MockClient> {
    let mut mock = MockClient::new_with_cluster(brokers, &[]);
    for &node in brokers {
        for (api, max) in [
            (ApiKey::Metadata, 12),
            (ApiKey::CreateTopics, 7),
            (ApiKey::DeleteTopics, 6),
            (ApiKey::ListGroups, 5),
            (ApiKey::DescribeGroups, 5),
            (ApiKey::FindCoordinator, 6),
            (ApiKey::DeleteGroups, 2),
            (ApiKey::ListOffsets, 9),
        ] {
            mock.set_api_version_range(node, api, 0, max);
        }
    }
    AdminClient::with_client(mock, config())
}

fn mock(admin: &mut AdminClient<MockClient>) -> &mut MockClient {
    admin.client_mut()
}

/// The leader of a partition in the mock clusters: spread over the brokers.
fn leader(brokers: &[NodeId], topic: &str, partition: i32) -> NodeId {
    brokers[(topic.len() + partition as usize) % brokers.len()]
}

/// A topic of a prepared Metadata response.
#[derive(Clone, Copy)]
enum Topic<'a> {
    /// Name and partition count; every partition has its leader.
    Led(&'a str, i32),
    /// Name and partition count; no partition has a leader yet.
    Leaderless(&'a str, i32),
    /// UNKNOWN_TOPIC_OR_PARTITION.
    Unknown(&'a str),
}

fn metadata(brokers: &[NodeId], controller: NodeId, topics: &[Topic<'_>]) -> MetadataResponse {
    let topic = |t: &Topic<'_>| {
        let (name, n, led) = match *t {
            Topic::Led(name, n) => (name, n, true),
            Topic::Leaderless(name, n) => (name, n, false),
            Topic::Unknown(name) => {
                return MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                    name: Some(name.into()),
                    ..Default::default()
                }
            }
        };
        MetadataResponseTopic {
            name: Some(name.into()),
            is_internal: name.starts_with("__"),
            partitions: (0..n)
                .map(|p| MetadataResponsePartition {
                    partition_index: p,
                    leader_id: if led { leader(brokers, name, p) } else { -1 },
                    error_code: if led {
                        0
                    } else {
                        ErrorCode::LeaderNotAvailable.code()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    };
    MetadataResponse {
        brokers: brokers
            .iter()
            .map(|&id| MetadataResponseBroker {
                node_id: id,
                host: "localhost".into(),
                port: 9092 + id,
                ..Default::default()
            })
            .collect(),
        controller_id: controller,
        topics: topics.iter().map(topic).collect(),
        ..Default::default()
    }
}

/// Matches Metadata requests for brokers only (the controller look-up).
fn for_brokers_only(body: &RequestBody) -> bool {
    matches!(body, RequestBody::Metadata(r) if r.topics.as_ref().is_some_and(|t| t.is_empty()))
}

/// Matches Metadata requests for every topic.
fn for_all_topics(body: &RequestBody) -> bool {
    matches!(body, RequestBody::Metadata(r) if r.topics.is_none())
}

/// Matches Metadata requests for exactly these topics.
fn for_topics(names: &'static [&'static str]) -> impl Fn(&RequestBody) -> bool + Send {
    move |body| match body {
        RequestBody::Metadata(r) => r.topics.as_ref().is_some_and(|t| {
            t.iter()
                .map(|t| t.name.as_deref())
                .eq(names.iter().map(|n| Some(*n)))
        }),
        _ => false,
    }
}

fn is_api(api: ApiKey) -> impl Fn(&RequestBody) -> bool + Send {
    move |body| body.api_key() == api
}

fn created(names: &[(&str, ErrorCode)]) -> CreateTopicsResponse {
    CreateTopicsResponse {
        topics: names
            .iter()
            .map(|&(name, code)| CreatableTopicResult {
                name: name.into(),
                topic_id: Uuid::from_u128(7),
                error_code: code.code(),
                error_message: (code == ErrorCode::TopicAlreadyExists)
                    .then(|| format!("Topic '{name}' already exists.")),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A member's assignment as a consumer group leader writes it (v1).
fn assignment(partitions: &[(&str, i32)]) -> Bytes {
    MemberAssignment {
        partitions: partitions
            .iter()
            .map(|&(t, p)| TopicPartition::new(t, p))
            .collect(),
        user_data: None,
    }
    .encode(1)
}

#[test]
fn create_topics_goes_to_the_controller_and_waits_for_leaders_on_every_broker() {
    let brokers = [1, 2, 3];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(for_brokers_only, metadata(&brokers, 2, &[]));
    m.prepare_response_from(
        2,
        is_api(ApiKey::CreateTopics),
        created(&[("orders", ErrorCode::None)]),
    );
    // A round asks one broker, then each of the three. The first round sees
    // leaders missing on three of them; only the second is complete.
    for led in [false, false, false, true, true, true, true, true] {
        let t = if led {
            Topic::Led("orders", 3)
        } else {
            Topic::Leaderless("orders", 3)
        };
        m.prepare_response(for_topics(&["orders"]), metadata(&brokers, 2, &[t]));
    }
    let topic = NewTopic::new("orders", 3).config("cleanup.policy", "compact");
    let results = admin.create_topics(&[topic], T).unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    assert_eq!(results[0].topic_id, Some(Uuid::from_u128(7)));
    assert_eq!(
        admin.client().prepared_count(),
        0,
        "kept asking for leaders"
    );

    let creates = admin.client().requests_of(ApiKey::CreateTopics);
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].node, 2, "sent to the controller");
    assert_eq!(creates[0].version, 7);
    let RequestBody::CreateTopics(req) = &creates[0].body else {
        unreachable!()
    };
    assert_eq!(req.topics[0].name, "orders");
    assert_eq!(req.topics[0].num_partitions, 3);
    assert_eq!(req.topics[0].replication_factor, -1);
    assert_eq!(req.topics[0].configs.len(), 1);
    assert_eq!(req.topics[0].configs[0].name, "cleanup.policy");
    assert_eq!(req.topics[0].configs[0].value.as_deref(), Some("compact"));
    assert!(req.timeout_ms > 0 && req.timeout_ms <= 5000);
    assert!(!req.validate_only);

    // In its last round the client asked every broker.
    let metadata = admin.client().requests_of(ApiKey::Metadata);
    let mut asked: Vec<NodeId> = metadata.iter().rev().take(3).map(|s| s.node).collect();
    asked.sort();
    assert_eq!(asked, vec![1, 2, 3]);
    for m in &metadata {
        let RequestBody::Metadata(r) = &m.body else {
            unreachable!()
        };
        assert!(!r.allow_auto_topic_creation);
    }
}

/// Prepares the second half of a CreateTopics of topic "a" (one
/// partition) whose first attempt went to node 1: `lookups` controller
/// look-ups that name node 2, node 2 creating it, and every broker then
/// showing it with a leader.
fn controller_moves_to_2_and_creates_a(m: &mut MockClient, brokers: &[NodeId], lookups: usize) {
    for _ in 0..lookups {
        m.prepare_response(for_brokers_only, metadata(brokers, 2, &[]));
    }
    m.prepare_response_from(
        2,
        is_api(ApiKey::CreateTopics),
        created(&[("a", ErrorCode::None)]),
    );
    for _ in 0..=brokers.len() {
        m.prepare_response(
            for_topics(&["a"]),
            metadata(brokers, 2, &[Topic::Led("a", 1)]),
        );
    }
}

/// The nodes CreateTopics requests went to, in order.
fn create_topics_nodes(admin: &AdminClient<MockClient>) -> Vec<NodeId> {
    admin
        .client()
        .requests_of(ApiKey::CreateTopics)
        .iter()
        .map(|s| s.node)
        .collect()
}

#[test]
fn not_controller_makes_the_client_find_the_controller_again() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(for_brokers_only, metadata(&brokers, 1, &[]));
    m.prepare_response(
        is_api(ApiKey::CreateTopics),
        created(&[("a", ErrorCode::NotController)]),
    );
    controller_moves_to_2_and_creates_a(m, &brokers, 1);
    let results = admin.create_topics(&[NewTopic::new("a", 1)], T).unwrap();
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    assert_eq!(create_topics_nodes(&admin), vec![1, 2]);
    assert_eq!(admin.client().prepared_count(), 0);
}

#[test]
fn topic_already_exists_is_reported_per_topic_and_ensure_topic_accepts_it() {
    let brokers = [1];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    for _ in 0..3 {
        m.prepare_response(for_brokers_only, metadata(&brokers, 1, &[]));
    }
    m.prepare_response_for(created(&[
        ("old", ErrorCode::TopicAlreadyExists),
        ("new", ErrorCode::None),
    ]));
    m.prepare_response_for(created(&[("old", ErrorCode::TopicAlreadyExists)]));
    m.prepare_response_for(created(&[("fresh", ErrorCode::None)]));
    for (names, topic) in [
        (&["new"], Topic::Led("new", 4)),
        (&["old"], Topic::Led("old", 2)),
        (&["fresh"], Topic::Led("fresh", 1)),
    ] {
        m.prepare_response(for_topics(names), metadata(&brokers, 1, &[topic]));
    }

    let results = admin
        .create_topics(&[NewTopic::new("old", 2), NewTopic::new("new", 4)], T)
        .unwrap();
    assert_eq!(results[0].name, "old");
    let err = results[0].result.as_ref().unwrap_err();
    assert!(err.is_topic_already_exists());
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists));
    assert_eq!(
        err.to_string(),
        "TOPIC_ALREADY_EXISTS (36) for topic 'old': Topic 'old' already exists."
    );
    assert_eq!(results[1].name, "new");
    assert!(results[1].result.is_ok());

    admin.ensure_topic(&NewTopic::new("old", 2), T).unwrap();
    admin.ensure_topic(&NewTopic::new("fresh", 1), T).unwrap();
    assert_eq!(admin.client().prepared_count(), 0);
    let asked: Vec<Vec<(String, i32)>> = admin
        .client()
        .requests_of(ApiKey::CreateTopics)
        .iter()
        .map(|s| match &s.body {
            RequestBody::CreateTopics(r) => r
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.num_partitions))
                .collect(),
            _ => unreachable!(),
        })
        .collect();
    let topics = |l: &[(&str, i32)]| -> Vec<(String, i32)> {
        l.iter().map(|&(n, p)| (n.to_string(), p)).collect()
    };
    assert_eq!(
        asked,
        vec![
            topics(&[("old", 2), ("new", 4)]),
            topics(&[("old", 2)]),
            topics(&[("fresh", 1)])
        ]
    );
}

#[test]
fn invalid_new_topics_are_refused_before_sending() {
    let mut admin = admin(&[1]);
    for topics in [
        vec![NewTopic::new("", 1)],
        vec![NewTopic::new("a", 0)],
        vec![NewTopic::new("a", 1).replication_factor(0)],
        vec![NewTopic::new("a", 1), NewTopic::new("a", 2)],
    ] {
        let err = admin.create_topics(&topics, T).unwrap_err();
        assert!(matches!(err, AdminError::Config(_)), "{err}");
    }
    assert!(admin.client().requests().is_empty());
}

#[test]
fn delete_topics_uses_the_version_layout_and_waits_until_gone() {
    for version in [5, 6] {
        let brokers = [1, 2];
        let mut admin = admin(&brokers);
        let m = mock(&mut admin);
        for &node in &brokers {
            m.set_api_version_range(node, ApiKey::DeleteTopics, 0, version);
        }
        m.prepare_response(for_brokers_only, metadata(&brokers, 1, &[]));
        m.prepare_response_for(DeleteTopicsResponse {
            responses: [
                ("x", ErrorCode::None),
                ("missing", ErrorCode::UnknownTopicOrPartition),
            ]
            .into_iter()
            .map(|(name, code)| DeletableTopicResult {
                name: Some(name.into()),
                error_code: code.code(),
                ..Default::default()
            })
            .collect(),
            ..Default::default()
        });
        // One broker, then each of the two: none lists "x" any more.
        for _ in 0..3 {
            m.prepare_response(
                for_topics(&["x"]),
                metadata(&brokers, 1, &[Topic::Unknown("x")]),
            );
        }
        let results = admin.delete_topics(&["x", "missing"], T).unwrap();
        assert!(results[0].result.is_ok(), "{:?}", results[0].result);
        let err = results[1].result.as_ref().unwrap_err();
        assert!(err.is_unknown_topic(), "{err}");
        assert_eq!(admin.client().prepared_count(), 0, "waited on every broker");
        let deletes = admin.client().requests_of(ApiKey::DeleteTopics);
        assert_eq!(deletes.len(), 1, "UNKNOWN_TOPIC_OR_PARTITION is final here");
        assert_eq!(deletes[0].version, version);
        let RequestBody::DeleteTopics(req) = &deletes[0].body else {
            unreachable!()
        };
        if version >= 6 {
            assert!(req.topic_names.is_empty());
            assert_eq!(req.topics.len(), 2);
            assert_eq!(req.topics[0].name.as_deref(), Some("x"));
        } else {
            assert_eq!(
                req.topic_names,
                vec!["x".to_string(), "missing".to_string()]
            );
        }
    }
}

#[test]
fn list_and_describe_topics() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    let all = metadata(
        &brokers,
        1,
        &[
            Topic::Led("b", 2),
            Topic::Led("a", 5),
            Topic::Led("__consumer_offsets", 50),
        ],
    );
    m.prepare_response(for_all_topics, all.clone());
    m.prepare_response(for_all_topics, all);
    m.prepare_response(
        for_topics(&["b"]),
        metadata(&brokers, 1, &[Topic::Led("b", 2)]),
    );
    m.prepare_response(
        for_topics(&["b", "nope"]),
        metadata(&brokers, 1, &[Topic::Led("b", 2), Topic::Unknown("nope")]),
    );
    let names = |l: &[TopicListing]| l.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let listed = admin.list_topics(false).unwrap();
    assert_eq!(names(&listed), vec!["a", "b"]);
    assert_eq!(listed[0].partitions, 5);
    let all = admin.list_topics(true).unwrap();
    assert_eq!(names(&all), vec!["__consumer_offsets", "a", "b"]);
    assert!(all[0].is_internal);

    let d = admin.describe_topics(&["b"]).unwrap();
    assert_eq!(d[0].name, "b");
    assert_eq!(d[0].partitions.len(), 2);
    assert_eq!(d[0].partitions[1].leader, Some(leader(&brokers, "b", 1)));
    let err = admin.describe_topics(&["b", "nope"]).unwrap_err();
    assert!(err.is_unknown_topic());
    assert!(err.to_string().contains("topic 'nope'"), "{err}");
    assert_eq!(admin.client().prepared_count(), 0);
}

#[test]
fn describe_cluster_lists_brokers_controller_and_id() {
    let brokers = [2, 1];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(
        for_brokers_only,
        MetadataResponse {
            cluster_id: Some("c-1".into()),
            ..metadata(&brokers, 2, &[])
        },
    );
    let c = admin.describe_cluster().unwrap();
    assert_eq!(c.cluster_id.as_deref(), Some("c-1"));
    assert_eq!(c.controller, Some(2));
    let nodes: Vec<(NodeId, u16)> = c.nodes.iter().map(|b| (b.id, b.port)).collect();
    assert_eq!(nodes, vec![(1, 9093), (2, 9094)]);
}

#[test]
fn wait_for_topics_asks_every_broker_until_all_show_leaders() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    // Round one: broker 2 does not know the leaders yet; round two: all do.
    for led in [true, true, false, true, true, true] {
        let t = if led {
            Topic::Led("w", 2)
        } else {
            Topic::Leaderless("w", 2)
        };
        m.prepare_response(for_topics(&["w"]), metadata(&brokers, 1, &[t]));
    }
    admin.wait_for_topics(&[("w", 2)], T).unwrap();
    assert_eq!(admin.client().prepared_count(), 0);

    // Nobody answers: the timeout names the topic.
    let err = admin
        .wait_for_topics(&[("never", 1)], Duration::from_millis(30))
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("never"), "{err}");
}

#[test]
fn list_offsets_asks_each_leader_and_retries_not_leader() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(
        for_topics(&["gone", "t"]),
        metadata(&brokers, 1, &[Topic::Led("t", 3), Topic::Unknown("gone")]),
    );
    m.prepare_response(
        for_topics(&["t"]),
        metadata(&brokers, 1, &[Topic::Led("t", 3)]),
    );
    let offsets = |partitions: &[(i32, ErrorCode, i64, i64)]| ListOffsetsResponse {
        topics: vec![ListOffsetsTopicResponse {
            name: "t".into(),
            partitions: partitions
                .iter()
                .map(
                    |&(p, code, offset, timestamp)| ListOffsetsPartitionResponse {
                        partition_index: p,
                        error_code: code.code(),
                        offset,
                        timestamp,
                        leader_epoch: 3,
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let is_list_offsets = is_api(ApiKey::ListOffsets);
    // t-1's leader (1) answers NOT_LEADER_OR_FOLLOWER once.
    m.prepare_response_from(
        1,
        is_api(ApiKey::ListOffsets),
        offsets(&[(1, ErrorCode::NotLeaderOrFollower, -1, -1)]),
    );
    m.prepare_response_from(
        1,
        is_api(ApiKey::ListOffsets),
        offsets(&[(1, ErrorCode::None, 42, -1)]),
    );
    m.prepare_response_from(
        2,
        is_list_offsets,
        offsets(&[(0, ErrorCode::None, 0, -1), (2, ErrorCode::None, 5, 5000)]),
    );
    let specs = [
        (TopicPartition::new("t", 1), OffsetSpec::Latest),
        (TopicPartition::new("t", 0), OffsetSpec::Earliest),
        (TopicPartition::new("t", 2), OffsetSpec::Timestamp(5000)),
        (TopicPartition::new("t", 9), OffsetSpec::Earliest),
        (TopicPartition::new("gone", 0), OffsetSpec::Earliest),
    ];
    let results = admin.list_offsets(&specs).unwrap();
    let got: Vec<&TopicPartition> = results.iter().map(|r| &r.partition).collect();
    let want: Vec<&TopicPartition> = specs.iter().map(|(tp, _)| tp).collect();
    assert_eq!(got, want, "input order");
    let ok = |i: usize| *results[i].result.as_ref().unwrap();
    assert_eq!(ok(0).offset, 42);
    assert_eq!(ok(1).offset, 0);
    assert_eq!(ok(2).offset, 5);
    assert_eq!(ok(2).timestamp, 5000);
    assert_eq!(ok(2).leader_epoch, Some(3));
    for i in [3, 4] {
        let err = results[i].result.as_ref().unwrap_err();
        assert!(err.is_unknown_topic(), "{err}");
    }
    assert_eq!(admin.client().prepared_count(), 0);
    let requests = admin.client().requests_of(ApiKey::ListOffsets);
    assert_eq!(requests.len(), 3);
    for s in requests {
        let RequestBody::ListOffsets(r) = &s.body else {
            unreachable!()
        };
        assert_eq!(r.replica_id, -1);
        for t in &r.topics {
            for p in &t.partitions {
                assert_eq!(
                    leader(&brokers, &t.name, p.partition_index),
                    s.node,
                    "sent to the leader"
                );
                let expected = match p.partition_index {
                    0 => -2,
                    1 => -1,
                    _ => 5000,
                };
                assert_eq!(p.timestamp, expected);
            }
        }
    }
}

fn listed(group: &str) -> ListGroupsResponse {
    ListGroupsResponse {
        groups: vec![ListedGroup {
            group_id: group.into(),
            protocol_type: "consumer".into(),
            group_state: "Stable".into(),
            group_type: "classic".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn list_groups_merges_every_broker() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(for_brokers_only, metadata(&brokers, 1, &[]));
    m.prepare_response_from(2, is_api(ApiKey::ListGroups), listed("g2"));
    m.prepare_response_from(1, is_api(ApiKey::ListGroups), listed("g1"));
    let groups = admin.list_groups().unwrap();
    let ids: Vec<(&str, NodeId)> = groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.coordinator))
        .collect();
    assert_eq!(ids, vec![("g1", 1), ("g2", 2)]);
    assert_eq!(groups[0].state.as_deref(), Some("Stable"));
    assert_eq!(groups[0].group_type.as_deref(), Some("classic"));
}

/// A FindCoordinator answer for `group` in the layout of `version`.
fn coordinator(
    version: i16,
    group: &str,
    node: NodeId,
    code: ErrorCode,
) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        resp.coordinators = vec![Coordinator {
            key: group.into(),
            node_id: node,
            host: "localhost".into(),
            port: 9092 + node,
            error_code: code.code(),
            ..Default::default()
        }];
    } else {
        resp.error_code = code.code();
        resp.node_id = node;
    }
    resp
}

#[test]
fn describe_groups_finds_the_coordinator_and_decodes_assignments() {
    for find_version in [3, 6] {
        let brokers = [1, 2];
        let mut admin = admin(&brokers);
        let m = mock(&mut admin);
        for &node in &brokers {
            m.set_api_version_range(node, ApiKey::FindCoordinator, 0, find_version);
        }
        m.prepare_response_for(coordinator(
            find_version,
            "g",
            -1,
            ErrorCode::CoordinatorNotAvailable,
        ));
        m.prepare_response_for(coordinator(find_version, "g", 2, ErrorCode::None));
        m.prepare_response_for(coordinator(find_version, "unknown", 1, ErrorCode::None));
        m.prepare_response_from(
            2,
            is_api(ApiKey::DescribeGroups),
            DescribeGroupsResponse {
                groups: vec![DescribedGroup {
                    group_id: "g".into(),
                    group_state: "Stable".into(),
                    protocol_type: "consumer".into(),
                    protocol_data: "range".into(),
                    members: vec![DescribedGroupMember {
                        member_id: "m-1".into(),
                        group_instance_id: Some("static-1".into()),
                        client_id: "client-a".into(),
                        client_host: "/127.0.0.1".into(),
                        member_assignment: assignment(&[("t", 0), ("t", 1), ("u", 3)]),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        m.prepare_response_from(
            1,
            is_api(ApiKey::DescribeGroups),
            DescribeGroupsResponse {
                groups: vec![DescribedGroup {
                    group_id: "unknown".into(),
                    error_code: ErrorCode::GroupIdNotFound.code(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        let d = admin.describe_groups(&["g"]).unwrap();
        assert_eq!(d.len(), 1);
        let g = &d[0];
        assert_eq!(g.coordinator, 2);
        assert_eq!(g.state, "Stable");
        assert_eq!(g.protocol, "range");
        let m = &g.members[0];
        assert_eq!(m.member_id, "m-1");
        assert_eq!(m.group_instance_id.as_deref(), Some("static-1"));
        assert_eq!(m.client_id, "client-a");
        assert_eq!(m.host, "/127.0.0.1");
        assert_eq!(
            m.assignment.as_ref().unwrap().partitions,
            vec![
                TopicPartition::new("t", 0),
                TopicPartition::new("t", 1),
                TopicPartition::new("u", 3)
            ]
        );
        assert!(m.subscription.is_none(), "empty metadata is not decoded");
        let finds = admin.client().requests_of(ApiKey::FindCoordinator);
        assert_eq!(
            finds.len(),
            2,
            "looked up again after COORDINATOR_NOT_AVAILABLE"
        );
        let RequestBody::FindCoordinator(r) = &finds[0].body else {
            unreachable!()
        };
        if find_version >= 4 {
            assert_eq!(r.coordinator_keys, vec!["g".to_string()]);
        } else {
            assert_eq!(r.key, "g");
        }

        let err = admin.describe_groups(&["unknown"]).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::GroupIdNotFound));
        assert_eq!(admin.client().prepared_count(), 0);
    }
}

#[test]
fn delete_groups_reports_per_group() {
    let mut admin = admin(&[1]);
    let m = mock(&mut admin);
    for group in ["empty", "busy"] {
        m.prepare_response(
            move |b| matches!(b, RequestBody::FindCoordinator(r) if r.coordinator_keys == [group]),
            coordinator(6, group, 1, ErrorCode::None),
        );
    }
    m.prepare_response_for(DeleteGroupsResponse {
        results: [
            ("empty", ErrorCode::None),
            ("busy", ErrorCode::NonEmptyGroup),
        ]
        .into_iter()
        .map(|(id, code)| DeletableGroupResult {
            group_id: id.into(),
            error_code: code.code(),
            ..Default::default()
        })
        .collect(),
        ..Default::default()
    });
    let r = admin.delete_groups(&["empty", "busy"]).unwrap();
    assert_eq!(r[0].group_id, "empty");
    assert!(r[0].result.is_ok());
    assert_eq!(
        r[1].result.as_ref().unwrap_err().code(),
        Some(ErrorCode::NonEmptyGroup)
    );
    let deletes = admin.client().requests_of(ApiKey::DeleteGroups);
    assert_eq!(deletes.len(), 1, "one request to the shared coordinator");
    let RequestBody::DeleteGroups(req) = &deletes[0].body else {
        unreachable!()
    };
    assert_eq!(
        req.groups_names,
        vec!["empty".to_string(), "busy".to_string()]
    );
}

#[test]
fn an_unreachable_controller_ends_in_a_timeout_naming_what_was_outstanding() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(for_brokers_only, metadata(&brokers, 2, &[]));
    m.set_unready(2);
    let results = admin
        .create_topics(&[NewTopic::new("a", 1)], Duration::from_millis(30))
        .unwrap();
    let err = results[0].result.as_ref().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        err.to_string()
            .contains("a connection to node 2 for CreateTopics"),
        "{err}"
    );
    let nodes: Vec<NodeId> = admin.client().requests().iter().map(|r| r.node).collect();
    assert_eq!(nodes, vec![1], "only the metadata request went out");
}

#[test]
fn an_unready_broker_is_passed_over_for_requests_to_any_broker() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.set_unready(1);
    m.prepare_response(for_all_topics, metadata(&brokers, 2, &[]));
    assert!(admin.list_topics(false).unwrap().is_empty());
    assert_eq!(admin.client().requests()[0].node, 2);
}

#[test]
fn a_silent_controller_ends_in_a_timeout() {
    let mut admin = admin(&[1]);
    let m = mock(&mut admin);
    m.prepare_response(for_brokers_only, metadata(&[1], 1, &[]));
    let results = admin
        .create_topics(&[NewTopic::new("a", 1)], Duration::from_millis(30))
        .unwrap();
    let err = results[0].result.as_ref().unwrap_err();
    // Whether the operation's deadline or the request's own timeout (clipped
    // to it) comes first, the outcome is the operation's timeout.
    assert!(err.is_timeout(), "{err}");
    assert_eq!(admin.client().requests_of(ApiKey::CreateTopics)[0].node, 1);
}

#[test]
fn disconnects_are_retried_and_missing_apis_are_reported() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = mock(&mut admin);
    m.prepare_response(for_brokers_only, metadata(&brokers, 1, &[]));
    m.prepare_disconnect(is_api(ApiKey::CreateTopics));
    // After the disconnect the client looks the controller up again; it has
    // moved. (The answer is prepared for node 2 only: MockClient would also
    // give a response prepared for any node to the request it is about to
    // disconnect, as it matches prepared responses again before the
    // disconnect takes effect.)
    controller_moves_to_2_and_creates_a(m, &brokers, 2);
    let results = admin.create_topics(&[NewTopic::new("a", 1)], T).unwrap();
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    assert_eq!(create_topics_nodes(&admin), vec![1, 2]);

    admin.client_mut().set_unsupported(1, ApiKey::ListGroups);
    admin.client_mut().set_unsupported(2, ApiKey::ListGroups);
    let err = admin.list_groups().unwrap_err();
    assert!(
        matches!(
            err,
            AdminError::Network(NetworkError::UnsupportedVersion {
                api: "ListGroups",
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn config_from_java_properties() {
    let c = AdminConfig::from_properties([
        ("bootstrap.servers", "a:1, b:2"),
        ("client.id", "ops"),
        ("request.timeout.ms", "1500"),
        ("default.api.timeout.ms", "9000"),
        ("retry.backoff.ms", "0"),
    ])
    .unwrap();
    assert_eq!(
        c.bootstrap_servers,
        vec!["a:1".to_string(), "b:2".to_string()]
    );
    assert_eq!(c.client_id, "ops");
    assert_eq!(c.request_timeout, Duration::from_millis(1500));
    assert_eq!(c.default_api_timeout, Duration::from_millis(9000));
    assert_eq!(c.retry_backoff, Duration::ZERO);
    let net = c.network_config().unwrap();
    assert!(!net.allow_auto_create_topics);
    assert_eq!(net.security_protocol, SecurityProtocol::Plaintext);
    assert_eq!(net.client_id, "ops");

    for (props, key) in [
        (
            vec![("bootstrap.servers", "a:1"), ("bogus.key", "1")],
            "bogus.key",
        ),
        (vec![("bootstrap.servers", "nohost")], "bootstrap.servers"),
        (
            vec![("bootstrap.servers", "a:1"), ("request.timeout.ms", "0")],
            "request.timeout.ms",
        ),
        (vec![("client.id", "x")], "bootstrap.servers"),
        (
            vec![("bootstrap.servers", "a:1"), ("security.protocol", "TLS")],
            "security.protocol",
        ),
        (
            vec![
                ("bootstrap.servers", "a:1"),
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "PLAIN"),
            ],
            "sasl.jaas.config",
        ),
        (
            vec![
                ("bootstrap.servers", "a:1"),
                ("security.protocol", "SSL"),
                ("ssl.keystore.location", "/ks.p12"),
            ],
            "ssl.keystore.location",
        ),
    ] {
        let err = AdminConfig::from_properties(props).unwrap_err();
        assert!(matches!(err, AdminError::Config(_)), "{err}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

/// DescribeGroups v6 responses Apache Kafka 4.0 sent for live groups of the
/// Java consumer and of librdkafka (kcat): the members' embedded
/// subscriptions and assignments decode to what those clients wrote.
#[test]
fn describes_kafka_4_0_captured_groups() {
    use prozess_protocol::messages::DescribeGroupsResponse;
    let captures = [
        (
            &include_bytes!(
                "../../protocol/tests/data/captures/kafka-4.0/groups-admin/0026-DescribeGroups-v6-response.bin"
            )[..],
            "live-classic-group",
            "java-live-classic",
            3,
        ),
        (
            &include_bytes!(
                "../../protocol/tests/data/captures/kafka-4.0/groups-admin/0032-DescribeGroups-v6-response.bin"
            )[..],
            "live-kcat-group",
            "kcat-live",
            0,
        ),
    ];
    for (frame, group, client, assignment_version) in captures {
        // Response header v1: correlation id and an empty tagged-field section.
        let mut body = Bytes::copy_from_slice(&frame[5..]);
        let response = DescribeGroupsResponse::decode(&mut body, 6).unwrap();
        let d = super::groups::describe(&response.groups[0], 1);
        assert_eq!(d.group_id, group);
        assert_eq!(d.state, "Stable");
        assert_eq!(d.protocol, "range");
        assert_eq!(d.members.len(), 1);
        let m = &d.members[0];
        assert_eq!(m.client_id, client);
        assert_eq!(m.host, "/127.0.0.1");
        let version = |b: &Bytes| i16::from_be_bytes([b[0], b[1]]);
        assert_eq!(version(&m.metadata), 3);
        let sub = m.subscription.as_ref().expect("subscription decodes");
        assert_eq!(sub.topics, vec!["group-topic".to_string()]);
        assert_eq!(sub.generation_id, -1);
        assert_eq!(version(&m.assignment_bytes), assignment_version);
        let a = m.assignment.as_ref().expect("assignment decodes");
        let expected: Vec<TopicPartition> = (0..4)
            .map(|p| TopicPartition::new("group-topic", p))
            .collect();
        assert_eq!(a.partitions, expected);
    }
}

#[test]
fn security_properties_reach_the_network_config() {
    let c = AdminConfig::from_properties([
        ("bootstrap.servers", "a:1"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "SCRAM-SHA-256"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"hunter2\";",
        ),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", "/ca.pem"),
        ("ssl.endpoint.identification.algorithm", ""),
        ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256"),
    ])
    .unwrap();
    let net = c.network_config().unwrap();
    assert_eq!(net.security_protocol, SecurityProtocol::SaslSsl);
    let sasl = net.sasl.unwrap();
    assert_eq!(sasl.mechanism, prozess_network::SaslMechanism::ScramSha256);
    assert_eq!(
        (sasl.username.as_str(), sasl.password.as_str()),
        ("u", "hunter2")
    );
    let tls = net.tls.unwrap();
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/ca.pem"))
    );
    assert!(!tls.verify_hostname);
    // The password is not in the client's debug output.
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn an_authentication_failure_fails_the_call_at_once() {
    let mut admin = admin(&[1]);
    let m = mock(&mut admin);
    m.set_unready(1);
    m.disconnect_with(
        1,
        NetworkError::Authentication(
            "SCRAM-SHA-256 with broker b1:9092 (node 1, 127.0.0.1:9092): \
             SASL_AUTHENTICATION_FAILED (58): Authentication failed"
                .into(),
        ),
    );
    let started = std::time::Instant::now();
    let e = admin.list_topics(false).unwrap_err();
    assert!(e.is_authentication_failure(), "{e}");
    assert!(!e.is_retriable());
    assert!(e.to_string().contains("b1:9092"), "{e}");
    // Not after default.api.timeout.ms (a guard, not a timing measurement).
    assert!(started.elapsed() < T, "{e}");
}
