//! AdminClient unit tests for the consumer group offset calls and
//! remove_members_from_consumer_group, over prozess-network's scripted
//! [`MockClient`] (responses prepared per request, matched by group).

use std::time::Duration;

use prozess_network::mock::MockClient;
use prozess_network::{NodeId, OffsetAndMetadata, TopicPartition};
use prozess_protocol::messages::find_coordinator::response::Coordinator;
use prozess_protocol::messages::leave_group::response::MemberResponse;
use prozess_protocol::messages::offset_commit::response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use prozess_protocol::messages::offset_delete::response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use prozess_protocol::messages::offset_fetch::response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use prozess_protocol::messages::{
    FindCoordinatorResponse, LeaveGroupResponse, OffsetCommitResponse, OffsetDeleteResponse,
    OffsetFetchResponse,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody};

use super::*;

const T: Duration = Duration::from_secs(5);

fn admin(brokers: &[NodeId]) -> AdminClient<MockClient> {
    let mut mock = MockClient::new_with_cluster(brokers, &[]);
    for &node in brokers {
        for (api, max) in [
            (ApiKey::FindCoordinator, 6),
            (ApiKey::OffsetFetch, 9),
            (ApiKey::OffsetCommit, 9),
            (ApiKey::OffsetDelete, 0),
            (ApiKey::LeaveGroup, 5),
        ] {
            mock.set_api_version_range(node, api, 0, max);
        }
    }
    let config = AdminConfig {
        bootstrap_servers: vec!["localhost:9092".into()],
        retry_backoff: Duration::from_millis(1),
        default_api_timeout: T,
        ..AdminConfig::default()
    };
    AdminClient::with_client(mock, config)
}

/// The next FindCoordinator for `group` names `node`.
fn coordinator_is(admin: &mut AdminClient<MockClient>, group: &'static str, node: NodeId) {
    admin.client_mut().prepare_response(
        move |b| matches!(b, RequestBody::FindCoordinator(r) if r.coordinator_keys == [group]),
        FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: group.into(),
                node_id: node,
                host: "localhost".into(),
                port: 9092 + node,
                ..Default::default()
            }],
            ..Default::default()
        },
    );
}

fn fetch_of(group: &'static str) -> impl Fn(&RequestBody) -> bool + Send {
    move |b| matches!(b, RequestBody::OffsetFetch(r) if r.groups.len() == 1 && r.groups[0].group_id == group)
}

/// An OffsetFetch v8+ answer for one group: (topic, partition, offset, error).
fn fetched(
    group: &str,
    code: ErrorCode,
    parts: &[(&str, i32, i64, ErrorCode)],
) -> OffsetFetchResponse {
    OffsetFetchResponse {
        groups: vec![OffsetFetchResponseGroup {
            group_id: group.into(),
            error_code: code.code(),
            topics: parts
                .iter()
                .map(|&(t, p, offset, e)| OffsetFetchResponseTopics {
                    name: t.into(),
                    partitions: vec![OffsetFetchResponsePartitions {
                        partition_index: p,
                        committed_offset: offset,
                        committed_leader_epoch: if offset >= 0 { 4 } else { -1 },
                        metadata: Some("m".into()),
                        error_code: e.code(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition::new(t, p)
}

#[test]
fn list_offsets_of_several_groups_reports_per_group_and_partition() {
    let mut admin = admin(&[1, 2]);
    coordinator_is(&mut admin, "all", 1);
    coordinator_is(&mut admin, "some", 2);
    coordinator_is(&mut admin, "denied", 2);
    let m = admin.client_mut();
    m.prepare_response_from(
        1,
        fetch_of("all"),
        fetched(
            "all",
            ErrorCode::None,
            &[("a", 0, 10, ErrorCode::None), ("b", 1, 3, ErrorCode::None)],
        ),
    );
    // "a-1" was asked for but has no commit (-1); "b-0" is not authorized;
    // "c-0" is missing from the answer: no offset.
    m.prepare_response_from(
        2,
        fetch_of("some"),
        fetched(
            "some",
            ErrorCode::None,
            &[
                ("a", 0, 7, ErrorCode::None),
                ("a", 1, -1, ErrorCode::None),
                ("b", 0, -1, ErrorCode::TopicAuthorizationFailed),
            ],
        ),
    );
    m.prepare_response_from(
        2,
        fetch_of("denied"),
        fetched("denied", ErrorCode::GroupAuthorizationFailed, &[]),
    );
    let results = admin
        .list_consumer_group_offsets(
            &[
                ("all", ListConsumerGroupOffsetsSpec::all()),
                (
                    "some",
                    ListConsumerGroupOffsetsSpec::partitions([
                        tp("a", 0),
                        tp("a", 1),
                        tp("b", 0),
                        tp("c", 0),
                    ]),
                ),
                ("denied", ListConsumerGroupOffsetsSpec::all()),
            ],
            T,
        )
        .unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.group_id.as_str()).collect();
    assert_eq!(ids, ["all", "some", "denied"]);

    let all = results[0].result.as_ref().unwrap();
    assert_eq!(all.len(), 2);
    let a0 = all[&tp("a", 0)].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(
        (a0.offset, a0.leader_epoch, a0.metadata.as_str()),
        (10, Some(4), "m")
    );

    let some = results[1].result.as_ref().unwrap();
    assert_eq!(
        some[&tp("a", 0)].as_ref().unwrap().as_ref().unwrap().offset,
        7
    );
    assert!(some[&tp("a", 1)].as_ref().unwrap().is_none());
    assert!(some[&tp("c", 0)].as_ref().unwrap().is_none());
    let b0 = some[&tp("b", 0)].as_ref().unwrap_err();
    assert_eq!(b0.code(), Some(ErrorCode::TopicAuthorizationFailed));
    assert!(b0.to_string().contains("b-0"), "{b0}");

    let denied = results[2].result.as_ref().unwrap_err();
    assert_eq!(denied.code(), Some(ErrorCode::GroupAuthorizationFailed));

    // "some" asked for its partitions (sorted by topic); "all" for none (null).
    let fetches = admin.client().requests_of(ApiKey::OffsetFetch);
    assert_eq!(fetches.len(), 3);
    for f in fetches {
        let RequestBody::OffsetFetch(r) = &f.body else {
            unreachable!()
        };
        let g = &r.groups[0];
        match g.group_id.as_str() {
            "some" => {
                let topics = g.topics.as_ref().unwrap();
                let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
                assert_eq!(names, ["a", "b", "c"]);
                assert_eq!(topics[0].partition_indexes, vec![0, 1]);
                assert_eq!(f.node, 2);
            }
            _ => assert!(g.topics.is_none()),
        }
    }
}

#[test]
fn list_offsets_follows_a_moved_coordinator_and_waits_out_loading() {
    let mut admin = admin(&[1, 2]);
    coordinator_is(&mut admin, "g", 1);
    coordinator_is(&mut admin, "g", 2);
    coordinator_is(&mut admin, "g", 2);
    let m = admin.client_mut();
    m.prepare_response_from(
        1,
        fetch_of("g"),
        fetched("g", ErrorCode::NotCoordinator, &[]),
    );
    // Loading is reported per partition here (as older brokers do).
    m.prepare_response_from(
        2,
        fetch_of("g"),
        fetched(
            "g",
            ErrorCode::None,
            &[("a", 0, -1, ErrorCode::CoordinatorLoadInProgress)],
        ),
    );
    m.prepare_response_from(
        2,
        fetch_of("g"),
        fetched("g", ErrorCode::None, &[("a", 0, 5, ErrorCode::None)]),
    );
    let results = admin
        .list_consumer_group_offsets(&[("g", ListConsumerGroupOffsetsSpec::all())], T)
        .unwrap();
    let offsets = results[0].result.as_ref().unwrap();
    assert_eq!(
        offsets[&tp("a", 0)]
            .as_ref()
            .unwrap()
            .as_ref()
            .unwrap()
            .offset,
        5
    );
    let nodes: Vec<NodeId> = admin
        .client()
        .requests_of(ApiKey::OffsetFetch)
        .iter()
        .map(|r| r.node)
        .collect();
    assert_eq!(nodes, [1, 2, 2]);
    assert_eq!(admin.client().requests_of(ApiKey::FindCoordinator).len(), 3);
}

#[test]
fn a_coordinator_that_stays_loading_ends_in_the_calls_timeout() {
    let mut admin = admin(&[1]);
    for _ in 0..1000 {
        coordinator_is(&mut admin, "g", 1);
        admin.client_mut().prepare_response_from(
            1,
            fetch_of("g"),
            fetched("g", ErrorCode::CoordinatorLoadInProgress, &[]),
        );
    }
    let results = admin
        .list_consumer_group_offsets(
            &[("g", ListConsumerGroupOffsetsSpec::all())],
            Duration::from_millis(30),
        )
        .unwrap();
    let err = results[0].result.as_ref().unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn alter_offsets_commits_without_a_generation_and_reports_per_partition() {
    let mut admin = admin(&[1]);
    coordinator_is(&mut admin, "g", 1);
    coordinator_is(&mut admin, "g", 1);
    let answer = |codes: &[(i32, ErrorCode)]| OffsetCommitResponse {
        topics: vec![OffsetCommitResponseTopic {
            name: "a".into(),
            partitions: codes
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
    };
    let m = admin.client_mut();
    // First the coordinator is still loading the group (retried), then one
    // partition is refused and the other committed.
    m.prepare_response_for(answer(&[
        (0, ErrorCode::CoordinatorLoadInProgress),
        (1, ErrorCode::CoordinatorLoadInProgress),
    ]));
    m.prepare_response_for(answer(&[
        (0, ErrorCode::None),
        (1, ErrorCode::TopicAuthorizationFailed),
    ]));
    let r = admin
        .alter_consumer_group_offsets(
            "g",
            &[
                (tp("a", 0), OffsetAndMetadata::with_metadata(42, "why")),
                (tp("a", 1), OffsetAndMetadata::new(7)),
            ],
            T,
        )
        .unwrap();
    assert_eq!(r.group_id, "g");
    let parts = r.result.unwrap();
    assert!(parts[&tp("a", 0)].is_ok());
    assert_eq!(
        parts[&tp("a", 1)].as_ref().unwrap_err().code(),
        Some(ErrorCode::TopicAuthorizationFailed)
    );
    let commits = admin.client().requests_of(ApiKey::OffsetCommit);
    assert_eq!(commits.len(), 2);
    let RequestBody::OffsetCommit(req) = &commits[1].body else {
        unreachable!()
    };
    assert_eq!(req.group_id, "g");
    assert_eq!(req.generation_id_or_member_epoch, -1);
    assert_eq!(req.member_id, "");
    let p = &req.topics[0].partitions;
    assert_eq!(
        (p[0].committed_offset, p[0].committed_metadata.as_deref()),
        (42, Some("why"))
    );
    assert_eq!(p[1].committed_offset, 7);
}

#[test]
fn invalid_offset_requests_are_refused_before_sending() {
    let mut admin = admin(&[1]);
    let err = admin
        .alter_consumer_group_offsets("g", &[(tp("a", 0), OffsetAndMetadata::new(-1))], T)
        .unwrap_err();
    assert!(err.to_string().contains("negative offset"), "{err}");
    assert!(admin
        .delete_consumer_group_offsets("", &[tp("a", 0)], T)
        .is_err());
    assert!(admin
        .remove_members_from_consumer_group("g", &[], T)
        .is_err());
    assert!(admin.client().requests().is_empty());
}

#[test]
fn delete_offsets_reports_group_and_partition_errors() {
    let mut admin = admin(&[1]);
    coordinator_is(&mut admin, "g", 1);
    coordinator_is(&mut admin, "gone", 1);
    let m = admin.client_mut();
    m.prepare_response(
        |b| matches!(b, RequestBody::OffsetDelete(r) if r.group_id == "g"),
        OffsetDeleteResponse {
            topics: vec![OffsetDeleteResponseTopic {
                name: "a".into(),
                partitions: vec![
                    OffsetDeleteResponsePartition {
                        partition_index: 0,
                        error_code: ErrorCode::None.code(),
                        ..Default::default()
                    },
                    OffsetDeleteResponsePartition {
                        partition_index: 1,
                        error_code: ErrorCode::GroupSubscribedToTopic.code(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    m.prepare_response(
        |b| matches!(b, RequestBody::OffsetDelete(r) if r.group_id == "gone"),
        OffsetDeleteResponse {
            error_code: ErrorCode::GroupIdNotFound.code(),
            ..Default::default()
        },
    );
    let r = admin
        .delete_consumer_group_offsets("g", &[tp("a", 0), tp("a", 1)], T)
        .unwrap();
    let parts = r.result.unwrap();
    assert!(parts[&tp("a", 0)].is_ok());
    assert_eq!(
        parts[&tp("a", 1)].as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupSubscribedToTopic)
    );
    let gone = admin
        .delete_consumer_group_offsets("gone", &[tp("a", 0)], T)
        .unwrap();
    assert_eq!(
        gone.result.unwrap_err().code(),
        Some(ErrorCode::GroupIdNotFound)
    );
}

#[test]
fn remove_members_sends_instance_ids_and_reports_per_member() {
    let mut admin = admin(&[1]);
    coordinator_is(&mut admin, "g", 1);
    admin.client_mut().prepare_response_for(LeaveGroupResponse {
        members: vec![
            MemberResponse {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                error_code: 0,
                ..Default::default()
            },
            MemberResponse {
                member_id: "".into(),
                group_instance_id: Some("i-2".into()),
                error_code: ErrorCode::UnknownMemberId.code(),
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let r = admin
        .remove_members_from_consumer_group(
            "g",
            &[MemberToRemove::new("i-1"), MemberToRemove::new("i-2")],
            T,
        )
        .unwrap();
    let members = r.result.unwrap();
    assert!(members["i-1"].is_ok());
    let e = members["i-2"].as_ref().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownMemberId));
    assert!(e.to_string().contains("member 'i-2' of group 'g'"), "{e}");
    let leaves = admin.client().requests_of(ApiKey::LeaveGroup);
    assert_eq!(leaves[0].version, 5);
    let RequestBody::LeaveGroup(req) = &leaves[0].body else {
        unreachable!()
    };
    let ids: Vec<Option<&str>> = req
        .members
        .iter()
        .map(|m| m.group_instance_id.as_deref())
        .collect();
    assert_eq!(ids, [Some("i-1"), Some("i-2")]);
}

#[test]
fn list_groups_sends_state_and_type_filters() {
    use prozess_protocol::messages::list_groups::response::ListedGroup;
    use prozess_protocol::messages::metadata::response::MetadataResponseBroker;
    use prozess_protocol::messages::{ListGroupsResponse, MetadataResponse};
    let mut admin = admin(&[1]);
    admin
        .client_mut()
        .set_api_version_range(1, ApiKey::Metadata, 0, 12);
    admin
        .client_mut()
        .set_api_version_range(1, ApiKey::ListGroups, 0, 5);
    let metadata = MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: 1,
            host: "localhost".into(),
            port: 9093,
            ..Default::default()
        }],
        controller_id: 1,
        ..Default::default()
    };
    admin.client_mut().prepare_response_for(metadata.clone());
    admin.client_mut().prepare_response_for(ListGroupsResponse {
        groups: vec![ListedGroup {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            group_state: "Stable".into(),
            group_type: "consumer".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let options = ListGroupsOptions::for_consumer_groups().in_states(["Stable"]);
    let groups = admin.list_groups_with(&options).unwrap();
    assert_eq!(groups[0].group_type.as_deref(), Some("consumer"));
    let lists = admin.client().requests_of(ApiKey::ListGroups);
    let RequestBody::ListGroups(req) = &lists[0].body else {
        unreachable!()
    };
    assert_eq!(req.states_filter, ["Stable"]);
    assert_eq!(req.types_filter, ["classic", "consumer"]);

    // A broker without ListGroups v5 cannot filter by type: an error, not
    // every group.
    admin
        .client_mut()
        .set_api_version_range(1, ApiKey::ListGroups, 0, 4);
    admin.client_mut().prepare_response_for(metadata);
    admin
        .client_mut()
        .prepare_response_for(ListGroupsResponse::default());
    let err = admin.list_groups_with(&options).unwrap_err();
    assert!(err.to_string().contains("type (v5+)"), "{err}");
}

#[test]
fn describe_consumer_groups_decodes_kip_848_members() {
    use prozess_protocol::messages::consumer_group_describe::response::{
        Assignment, DescribedGroup, Member, TopicPartitions,
    };
    use prozess_protocol::messages::ConsumerGroupDescribeResponse;
    let mut admin = admin(&[1]);
    admin
        .client_mut()
        .set_api_version_range(1, ApiKey::ConsumerGroupDescribe, 0, 1);
    coordinator_is(&mut admin, "new", 1);
    coordinator_is(&mut admin, "classic", 1);
    let owned = |parts: &[i32]| Assignment {
        topic_partitions: vec![TopicPartitions {
            topic_name: "t".into(),
            partitions: parts.to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    };
    admin
        .client_mut()
        .prepare_response_for(ConsumerGroupDescribeResponse {
            groups: vec![
                DescribedGroup {
                    group_id: "new".into(),
                    group_state: "Reconciling".into(),
                    group_epoch: 3,
                    assignment_epoch: 3,
                    assignor_name: "uniform".into(),
                    members: vec![Member {
                        member_id: "m".into(),
                        member_epoch: 2,
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        subscribed_topic_names: vec!["t".into()],
                        assignment: owned(&[1, 0]),
                        target_assignment: owned(&[0]),
                        member_type: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                DescribedGroup {
                    group_id: "classic".into(),
                    error_code: ErrorCode::GroupIdNotFound.code(),
                    error_message: Some("Group classic is not a consumer group.".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
    let r = admin
        .describe_consumer_groups(&["new", "classic"], T)
        .unwrap();
    let g = r[0].result.as_ref().unwrap();
    assert_eq!(
        (g.state.as_str(), g.group_epoch, g.assignor.as_str()),
        ("Reconciling", 3, "uniform")
    );
    let m = &g.members[0];
    assert_eq!(m.assignment, [tp("t", 0), tp("t", 1)]);
    assert_eq!(m.target_assignment, [tp("t", 0)]);
    assert_eq!(m.member_type, 1);
    let e = r[1].result.as_ref().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::GroupIdNotFound));
    assert!(e.to_string().contains("not a consumer group"), "{e}");
    assert_eq!(
        admin
            .client()
            .requests_of(ApiKey::ConsumerGroupDescribe)
            .len(),
        1,
        "one request for the shared coordinator"
    );
}

#[test]
fn acl_calls_report_per_binding_and_per_filter() {
    use prozess_protocol::messages::create_acls::response::AclCreationResult;
    use prozess_protocol::messages::delete_acls::response::{
        DeleteAclsFilterResult, DeleteAclsMatchingAcl,
    };
    use prozess_protocol::messages::describe_acls::response::{
        AclDescription, DescribeAclsResource,
    };
    use prozess_protocol::messages::{
        CreateAclsResponse, DeleteAclsResponse, DescribeAclsResponse,
    };
    let mut admin = admin(&[1]);
    for (api, max) in [
        (ApiKey::CreateAcls, 3),
        (ApiKey::DescribeAcls, 3),
        (ApiKey::DeleteAcls, 3),
    ] {
        admin.client_mut().set_api_version_range(1, api, 1, max);
    }
    let binding = |name: &str, op| {
        AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, name, PatternType::Literal),
            AccessControlEntry::new("User:a", "*", op, AclPermissionType::Allow),
        )
    };
    let m = admin.client_mut();
    m.prepare_response_for(CreateAclsResponse {
        results: vec![
            AclCreationResult::default(),
            AclCreationResult {
                error_code: ErrorCode::InvalidRequest.code(),
                error_message: Some("bad".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    m.prepare_response_for(DescribeAclsResponse {
        resources: vec![DescribeAclsResource {
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 3,
            acls: vec![AclDescription {
                principal: "User:a".into(),
                host: "*".into(),
                operation: 4,
                permission_type: 3,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    m.prepare_response_for(DeleteAclsResponse {
        filter_results: vec![
            DeleteAclsFilterResult {
                matching_acls: vec![DeleteAclsMatchingAcl {
                    resource_type: 2,
                    resource_name: "t".into(),
                    pattern_type: 3,
                    principal: "User:a".into(),
                    host: "*".into(),
                    operation: 4,
                    permission_type: 3,
                    ..Default::default()
                }],
                ..Default::default()
            },
            DeleteAclsFilterResult {
                error_code: ErrorCode::SecurityDisabled.code(),
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let write = binding("t", AclOperation::Write);
    let r = admin
        .create_acls(&[write.clone(), binding("u", AclOperation::Any)], T)
        .unwrap();
    assert!(r[0].result.is_ok());
    let e = r[1].result.as_ref().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidRequest));
    assert!(e.to_string().contains("'u'"), "{e}");
    let RequestBody::CreateAcls(req) = &admin.client().requests_of(ApiKey::CreateAcls)[0].body
    else {
        unreachable!()
    };
    assert_eq!(
        (
            req.creations[0].operation,
            req.creations[0].resource_pattern_type
        ),
        (4, 3)
    );

    assert_eq!(
        admin.describe_acls(&AclBindingFilter::any(), T).unwrap(),
        std::slice::from_ref(&write)
    );
    let d = admin
        .delete_acls(
            &[AclBindingFilter::exactly(&write), AclBindingFilter::any()],
            T,
        )
        .unwrap();
    let first = d[0].result.as_ref().unwrap();
    assert_eq!(first[0].0, write);
    assert_eq!(
        d[1].result.as_ref().unwrap_err().code(),
        Some(ErrorCode::SecurityDisabled)
    );
    assert_eq!(AclOperation::from_code(99), AclOperation::Unknown(99));
}

#[test]
fn describe_transactions_asks_the_transaction_coordinator() {
    use prozess_protocol::messages::describe_transactions::response::{
        TopicData, TransactionState,
    };
    use prozess_protocol::messages::DescribeTransactionsResponse;
    let mut admin = admin(&[1, 2]);
    admin
        .client_mut()
        .set_api_version_range(2, ApiKey::DescribeTransactions, 0, 0);
    coordinator_is(&mut admin, "tx", 2);
    admin
        .client_mut()
        .prepare_response_for(DescribeTransactionsResponse {
            transaction_states: vec![TransactionState {
                transactional_id: "tx".into(),
                transaction_state: "Ongoing".into(),
                producer_id: 7,
                transaction_start_time_ms: 5,
                topics: vec![TopicData {
                    topic: "t".into(),
                    partitions: vec![1],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
    let r = admin.describe_transactions(&["tx"], T).unwrap();
    let d = r[0].1.as_ref().unwrap();
    assert_eq!(
        (d.coordinator, d.state.as_str(), d.producer_id),
        (2, "Ongoing", 7)
    );
    assert!(d.topic_partitions.contains(&tp("t", 1)));
    let RequestBody::FindCoordinator(find) =
        &admin.client().requests_of(ApiKey::FindCoordinator)[0].body
    else {
        unreachable!()
    };
    assert_eq!(find.key_type, 1, "a transaction coordinator");
}
