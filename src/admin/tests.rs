//! AdminClient unit tests over the scripted [`MockClient`], answered by a
//! small fake cluster.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use prozess_network::{NetworkError, NodeId, TopicPartition};
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
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};

use super::mock::{MockClient, Reply, Sent};
use super::*;

const T: Duration = Duration::from_secs(5);

/// A group member: (member id, client id, assignment bytes).
type FakeMember = (String, String, Bytes);

/// A cluster the handler answers from.
#[derive(Default)]
struct Cluster {
    brokers: Vec<NodeId>,
    controller: NodeId,
    /// name -> (partitions, internal)
    topics: BTreeMap<String, (i32, bool)>,
    /// Metadata answers that still show a new topic without leaders.
    leaderless_answers: u32,
    /// CreateTopics/DeleteTopics answers NOT_CONTROLLER (and the controller
    /// moves to the next broker) this many times.
    not_controller: u32,
    /// ListOffsets answers NOT_LEADER_OR_FOLLOWER this many times.
    not_leader: u32,
    /// FindCoordinator v4+ / DescribeGroups NOT_COORDINATOR this many times.
    not_coordinator: u32,
    /// group -> (coordinator, members: (member id, client id, assignment))
    groups: BTreeMap<String, (NodeId, Vec<FakeMember>)>,
    /// Log end offsets per partition.
    end_offsets: BTreeMap<TopicPartition, i64>,
}

impl Cluster {
    fn new(brokers: &[NodeId]) -> Rc<RefCell<Cluster>> {
        Rc::new(RefCell::new(Cluster {
            brokers: brokers.to_vec(),
            controller: brokers[0],
            ..Cluster::default()
        }))
    }

    fn leader(&self, topic: &str, partition: i32) -> NodeId {
        let i = (topic.len() + partition as usize) % self.brokers.len();
        self.brokers[i]
    }

    fn answer(&mut self, sent: &Sent) -> Reply {
        let body = match &sent.body {
            RequestBody::Metadata(r) => {
                let names: Vec<String> = match &r.topics {
                    None => self.topics.keys().cloned().collect(),
                    Some(list) => list.iter().filter_map(|t| t.name.clone()).collect(),
                };
                let leaderless = self.leaderless_answers > 0 && !names.is_empty();
                if leaderless {
                    self.leaderless_answers -= 1;
                }
                let topics = names
                    .iter()
                    .map(|name| match self.topics.get(name) {
                        Some(&(n, internal)) => MetadataResponseTopic {
                            error_code: 0,
                            name: Some(name.clone()),
                            is_internal: internal,
                            partitions: (0..n)
                                .map(|p| MetadataResponsePartition {
                                    partition_index: p,
                                    leader_id: if leaderless { -1 } else { self.leader(name, p) },
                                    error_code: if leaderless {
                                        ErrorCode::LeaderNotAvailable.code()
                                    } else {
                                        0
                                    },
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        },
                        None => MetadataResponseTopic {
                            error_code: ErrorCode::UnknownTopicOrPartition.code(),
                            name: Some(name.clone()),
                            ..Default::default()
                        },
                    })
                    .collect();
                ResponseBody::Metadata(MetadataResponse {
                    brokers: self
                        .brokers
                        .iter()
                        .map(|&id| MetadataResponseBroker {
                            node_id: id,
                            host: "localhost".into(),
                            port: 9092 + id,
                            ..Default::default()
                        })
                        .collect(),
                    controller_id: self.controller,
                    topics,
                    ..Default::default()
                })
            }
            RequestBody::CreateTopics(r) => {
                let moved = self.check_controller(sent.node);
                let topics = r
                    .topics
                    .iter()
                    .map(|t| {
                        let code = if moved {
                            ErrorCode::NotController
                        } else if self.topics.contains_key(&t.name) {
                            ErrorCode::TopicAlreadyExists
                        } else {
                            self.topics
                                .insert(t.name.clone(), (t.num_partitions, false));
                            ErrorCode::None
                        };
                        CreatableTopicResult {
                            name: t.name.clone(),
                            topic_id: Uuid::from_u128(7),
                            error_code: code.code(),
                            error_message: (code == ErrorCode::TopicAlreadyExists)
                                .then(|| format!("Topic '{}' already exists.", t.name)),
                            ..Default::default()
                        }
                    })
                    .collect();
                ResponseBody::CreateTopics(CreateTopicsResponse {
                    topics,
                    ..Default::default()
                })
            }
            RequestBody::DeleteTopics(r) => {
                let moved = self.check_controller(sent.node);
                let names: Vec<String> = if sent.version >= 6 {
                    r.topics.iter().filter_map(|t| t.name.clone()).collect()
                } else {
                    r.topic_names.clone()
                };
                let responses = names
                    .into_iter()
                    .map(|name| {
                        let code = if moved {
                            ErrorCode::NotController
                        } else if self.topics.remove(&name).is_some() {
                            ErrorCode::None
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        DeletableTopicResult {
                            name: Some(name),
                            error_code: code.code(),
                            ..Default::default()
                        }
                    })
                    .collect();
                ResponseBody::DeleteTopics(DeleteTopicsResponse {
                    responses,
                    ..Default::default()
                })
            }
            RequestBody::ListOffsets(r) => {
                let refuse = self.not_leader > 0;
                if refuse {
                    self.not_leader -= 1;
                }
                let topics = r
                    .topics
                    .iter()
                    .map(|t| ListOffsetsTopicResponse {
                        name: t.name.clone(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| {
                                let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                                let wrong = self.leader(&t.name, p.partition_index) != sent.node;
                                let end = self.end_offsets.get(&tp).copied().unwrap_or(0);
                                let (offset, timestamp) = match p.timestamp {
                                    -2 => (0, -1),
                                    -1 => (end, -1),
                                    ts => (ts / 1000, ts),
                                };
                                ListOffsetsPartitionResponse {
                                    partition_index: p.partition_index,
                                    error_code: if refuse || wrong {
                                        ErrorCode::NotLeaderOrFollower.code()
                                    } else {
                                        0
                                    },
                                    offset,
                                    timestamp,
                                    leader_epoch: 3,
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect();
                ResponseBody::ListOffsets(ListOffsetsResponse {
                    topics,
                    ..Default::default()
                })
            }
            RequestBody::ListGroups(_) => ResponseBody::ListGroups(ListGroupsResponse {
                groups: self
                    .groups
                    .iter()
                    .filter(|(_, (c, _))| *c == sent.node)
                    .map(|(id, _)| ListedGroup {
                        group_id: id.clone(),
                        protocol_type: "consumer".into(),
                        group_state: "Stable".into(),
                        group_type: "classic".into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            RequestBody::FindCoordinator(r) => {
                let key = if sent.version >= 4 {
                    r.coordinator_keys.first().cloned().unwrap_or_default()
                } else {
                    r.key.clone()
                };
                let (code, node) = match self.groups.get(&key) {
                    _ if self.not_coordinator > 0 => {
                        self.not_coordinator -= 1;
                        (ErrorCode::CoordinatorNotAvailable, -1)
                    }
                    Some((c, _)) => (ErrorCode::None, *c),
                    None => (ErrorCode::None, self.brokers[0]),
                };
                let mut resp = FindCoordinatorResponse::default();
                if sent.version >= 4 {
                    resp.coordinators = vec![Coordinator {
                        key,
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
                ResponseBody::FindCoordinator(resp)
            }
            RequestBody::DescribeGroups(r) => {
                ResponseBody::DescribeGroups(DescribeGroupsResponse {
                    groups: r
                        .groups
                        .iter()
                        .map(|id| match self.groups.get(id) {
                            Some((c, _)) if *c != sent.node => DescribedGroup {
                                group_id: id.clone(),
                                error_code: ErrorCode::NotCoordinator.code(),
                                ..Default::default()
                            },
                            Some((_, members)) => DescribedGroup {
                                group_id: id.clone(),
                                group_state: "Stable".into(),
                                protocol_type: "consumer".into(),
                                protocol_data: "range".into(),
                                members: members
                                    .iter()
                                    .map(|(m, c, a)| DescribedGroupMember {
                                        member_id: m.clone(),
                                        client_id: c.clone(),
                                        client_host: "/127.0.0.1".into(),
                                        member_assignment: a.clone(),
                                        ..Default::default()
                                    })
                                    .collect(),
                                ..Default::default()
                            },
                            None => DescribedGroup {
                                group_id: id.clone(),
                                error_code: ErrorCode::GroupIdNotFound.code(),
                                ..Default::default()
                            },
                        })
                        .collect(),
                    ..Default::default()
                })
            }
            RequestBody::DeleteGroups(r) => ResponseBody::DeleteGroups(DeleteGroupsResponse {
                results: r
                    .groups_names
                    .iter()
                    .map(|id| DeletableGroupResult {
                        group_id: id.clone(),
                        error_code: match self.groups.get(id) {
                            Some((_, m)) if !m.is_empty() => ErrorCode::NonEmptyGroup.code(),
                            Some(_) => {
                                self.groups.remove(id);
                                0
                            }
                            None => ErrorCode::GroupIdNotFound.code(),
                        },
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            other => panic!("the fake cluster does not answer {:?}", other.api_key()),
        };
        Reply::Respond(body)
    }

    /// True (and the controller moves on) while NOT_CONTROLLER is scripted
    /// or the request went to a broker that is not the controller.
    fn check_controller(&mut self, node: NodeId) -> bool {
        if self.not_controller > 0 {
            self.not_controller -= 1;
            let i = self
                .brokers
                .iter()
                .position(|&b| b == self.controller)
                .unwrap_or(0);
            self.controller = self.brokers[(i + 1) % self.brokers.len()];
            return true;
        }
        node != self.controller
    }
}

fn config() -> AdminConfig {
    AdminConfig {
        bootstrap_servers: vec!["localhost:9092".into()],
        retry_backoff: Duration::from_millis(1),
        default_api_timeout: T,
        ..AdminConfig::default()
    }
}

fn admin(cluster: &Rc<RefCell<Cluster>>) -> AdminClient<MockClient> {
    let brokers = cluster.borrow().brokers.clone();
    let c = Rc::clone(cluster);
    let mock = MockClient::new(&brokers, move |sent| c.borrow_mut().answer(sent));
    AdminClient::with_client(mock, config())
}

fn assignment(topics: &[(&str, &[i32])]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    b.put_i32(topics.len() as i32);
    for (t, ps) in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
        b.put_i32(ps.len() as i32);
        for p in *ps {
            b.put_i32(*p);
        }
    }
    b.put_i32(-1);
    b.freeze()
}

#[test]
fn create_topics_goes_to_the_controller_and_waits_for_leaders_on_every_broker() {
    let cluster = Cluster::new(&[1, 2, 3]);
    cluster.borrow_mut().controller = 2;
    cluster.borrow_mut().leaderless_answers = 3;
    let mut admin = admin(&cluster);
    let topic = NewTopic::new("orders", 3).config("cleanup.policy", "compact");
    let results = admin.create_topics(&[topic], T).unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    assert_eq!(results[0].topic_id, Some(Uuid::from_u128(7)));

    let creates = admin.client().sent_of(ApiKey::CreateTopics);
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

    // Leaders were missing in the first answers: the client kept asking,
    // and in its last round asked every broker.
    let metadata = admin.client().sent_of(ApiKey::Metadata);
    let mut asked: Vec<NodeId> = metadata.iter().rev().take(3).map(|s| s.node).collect();
    asked.sort();
    assert_eq!(asked, vec![1, 2, 3]);
    assert_eq!(cluster.borrow().leaderless_answers, 0);
    for m in &metadata {
        let RequestBody::Metadata(r) = &m.body else {
            unreachable!()
        };
        assert!(!r.allow_auto_topic_creation);
    }
}

#[test]
fn not_controller_makes_the_client_find_the_controller_again() {
    let cluster = Cluster::new(&[1, 2]);
    cluster.borrow_mut().not_controller = 1;
    let mut admin = admin(&cluster);
    let results = admin.create_topics(&[NewTopic::new("a", 1)], T).unwrap();
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    let nodes: Vec<NodeId> = admin
        .client()
        .sent_of(ApiKey::CreateTopics)
        .iter()
        .map(|s| s.node)
        .collect();
    assert_eq!(nodes, vec![1, 2]);
}

#[test]
fn topic_already_exists_is_reported_per_topic_and_ensure_topic_accepts_it() {
    let cluster = Cluster::new(&[1]);
    cluster.borrow_mut().topics.insert("old".into(), (2, false));
    let mut admin = admin(&cluster);
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
    assert_eq!(cluster.borrow().topics.get("new"), Some(&(4, false)));

    admin.ensure_topic(&NewTopic::new("old", 2), T).unwrap();
    admin.ensure_topic(&NewTopic::new("fresh", 1), T).unwrap();
    assert!(cluster.borrow().topics.contains_key("fresh"));
}

#[test]
fn invalid_new_topics_are_refused_before_sending() {
    let cluster = Cluster::new(&[1]);
    let mut admin = admin(&cluster);
    for topics in [
        vec![NewTopic::new("", 1)],
        vec![NewTopic::new("a", 0)],
        vec![NewTopic::new("a", 1).replication_factor(0)],
        vec![NewTopic::new("a", 1), NewTopic::new("a", 2)],
    ] {
        let err = admin.create_topics(&topics, T).unwrap_err();
        assert!(matches!(err, AdminError::Config(_)), "{err}");
    }
    assert!(admin.client().sent.is_empty());
}

#[test]
fn delete_topics_uses_the_version_layout_and_waits_until_gone() {
    for version in [5, 6] {
        let cluster = Cluster::new(&[1, 2]);
        cluster.borrow_mut().topics.insert("x".into(), (1, false));
        let mut admin = admin(&cluster);
        admin
            .client_mut()
            .set_version(ApiKey::DeleteTopics, Some(version));
        let results = admin.delete_topics(&["x", "missing"], T).unwrap();
        assert!(results[0].result.is_ok(), "{:?}", results[0].result);
        let err = results[1].result.as_ref().unwrap_err();
        assert!(err.is_unknown_topic(), "{err}");
        let deletes = admin.client().sent_of(ApiKey::DeleteTopics);
        assert_eq!(deletes.len(), 1, "UNKNOWN_TOPIC_OR_PARTITION is final here");
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
        assert!(cluster.borrow().topics.is_empty());
    }
}

#[test]
fn list_and_describe_topics() {
    let cluster = Cluster::new(&[1, 2]);
    {
        let mut c = cluster.borrow_mut();
        c.topics.insert("b".into(), (2, false));
        c.topics.insert("a".into(), (5, false));
        c.topics.insert("__consumer_offsets".into(), (50, true));
    }
    let mut admin = admin(&cluster);
    let names = |l: &[TopicListing]| l.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let listed = admin.list_topics(false).unwrap();
    assert_eq!(names(&listed), vec!["a", "b"]);
    assert_eq!(listed[0].partitions, 5);
    let all = admin.list_topics(true).unwrap();
    assert_eq!(names(&all), vec!["__consumer_offsets", "a", "b"]);
    assert!(all[0].is_internal);
    let RequestBody::Metadata(req) = &admin.client().sent_of(ApiKey::Metadata)[0].body else {
        unreachable!()
    };
    assert!(req.topics.is_none(), "all topics");

    let d = admin.describe_topics(&["b"]).unwrap();
    assert_eq!(d[0].name, "b");
    assert_eq!(d[0].partitions.len(), 2);
    assert_eq!(
        d[0].partitions[1].leader,
        Some(cluster.borrow().leader("b", 1))
    );
    let err = admin.describe_topics(&["b", "nope"]).unwrap_err();
    assert!(err.is_unknown_topic());
    assert!(err.to_string().contains("topic 'nope'"), "{err}");
}

#[test]
fn list_offsets_asks_each_leader_and_retries_not_leader() {
    let cluster = Cluster::new(&[1, 2]);
    {
        let mut c = cluster.borrow_mut();
        c.topics.insert("t".into(), (3, false));
        c.end_offsets.insert(TopicPartition::new("t", 1), 42);
        c.not_leader = 1;
    }
    let mut admin = admin(&cluster);
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
    let c = cluster.borrow();
    for s in admin.client().sent_of(ApiKey::ListOffsets) {
        let RequestBody::ListOffsets(r) = &s.body else {
            unreachable!()
        };
        assert_eq!(r.replica_id, -1);
        for t in &r.topics {
            for p in &t.partitions {
                assert_eq!(
                    c.leader(&t.name, p.partition_index),
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

#[test]
fn list_groups_merges_every_broker() {
    let cluster = Cluster::new(&[1, 2]);
    {
        let mut c = cluster.borrow_mut();
        c.groups.insert("g1".into(), (1, Vec::new()));
        c.groups.insert("g2".into(), (2, Vec::new()));
    }
    let mut admin = admin(&cluster);
    let groups = admin.list_groups().unwrap();
    let ids: Vec<(&str, NodeId)> = groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.coordinator))
        .collect();
    assert_eq!(ids, vec![("g1", 1), ("g2", 2)]);
    assert_eq!(groups[0].state.as_deref(), Some("Stable"));
    assert_eq!(groups[0].group_type.as_deref(), Some("classic"));
}

#[test]
fn describe_groups_finds_the_coordinator_and_decodes_assignments() {
    for find_version in [3, 6] {
        let cluster = Cluster::new(&[1, 2]);
        {
            let mut c = cluster.borrow_mut();
            c.not_coordinator = 1;
            c.groups.insert(
                "g".into(),
                (
                    2,
                    vec![(
                        "m-1".into(),
                        "client-a".into(),
                        assignment(&[("t", &[0, 1]), ("u", &[3])]),
                    )],
                ),
            );
        }
        let mut admin = admin(&cluster);
        admin
            .client_mut()
            .set_version(ApiKey::FindCoordinator, Some(find_version));
        let d = admin.describe_groups(&["g"]).unwrap();
        assert_eq!(d.len(), 1);
        let g = &d[0];
        assert_eq!(g.coordinator, 2);
        assert_eq!(g.state, "Stable");
        assert_eq!(g.protocol, "range");
        let m = &g.members[0];
        assert_eq!(m.member_id, "m-1");
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
        let finds = admin.client().sent_of(ApiKey::FindCoordinator);
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
        assert!(admin
            .client()
            .sent_of(ApiKey::DescribeGroups)
            .iter()
            .all(|s| s.node == 2));

        let err = admin.describe_groups(&["unknown"]).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::GroupIdNotFound));
    }
}

#[test]
fn delete_groups_reports_per_group() {
    let cluster = Cluster::new(&[1]);
    {
        let mut c = cluster.borrow_mut();
        c.groups.insert("empty".into(), (1, Vec::new()));
        c.groups.insert(
            "busy".into(),
            (1, vec![("m".into(), "c".into(), Bytes::new())]),
        );
    }
    let mut admin = admin(&cluster);
    let r = admin.delete_groups(&["empty", "busy"]).unwrap();
    assert_eq!(r[0].group_id, "empty");
    assert!(r[0].result.is_ok());
    assert_eq!(
        r[1].result.as_ref().unwrap_err().code(),
        Some(ErrorCode::NonEmptyGroup)
    );
    assert!(!cluster.borrow().groups.contains_key("empty"));
}

#[test]
fn a_silent_controller_ends_in_a_timeout_naming_what_was_outstanding() {
    let mut mock = MockClient::new(&[1], |sent| match sent.body {
        RequestBody::CreateTopics(_) => Reply::Silence,
        _ => Cluster::new(&[1]).borrow_mut().answer(sent),
    });
    mock.set_version(ApiKey::CreateTopics, Some(4));
    let mut admin = AdminClient::with_client(mock, config());
    let timeout = Duration::from_millis(50);
    let results = admin
        .create_topics(&[NewTopic::new("a", 1)], timeout)
        .unwrap();
    let err = results[0].result.as_ref().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("CreateTopics"), "{err}");
}

#[test]
fn disconnects_are_retried_and_missing_apis_are_reported() {
    let cluster = Cluster::new(&[1]);
    let c = Rc::clone(&cluster);
    let mut dropped = false;
    let mock = MockClient::new(&[1], move |sent| {
        if matches!(sent.body, RequestBody::CreateTopics(_)) && !dropped {
            dropped = true;
            return Reply::Disconnect;
        }
        c.borrow_mut().answer(sent)
    });
    let mut admin = AdminClient::with_client(mock, config());
    let results = admin.create_topics(&[NewTopic::new("a", 1)], T).unwrap();
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    assert_eq!(admin.client().sent_of(ApiKey::CreateTopics).len(), 2);

    admin.client_mut().set_version(ApiKey::ListGroups, None);
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
    let net = c.network_config();
    assert!(!net.allow_auto_create_topics);
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
