//! AdminClient unit tests for delete_records, create_partitions and the
//! config calls, over prozess-network's scripted [`MockClient`] (as in
//! `tests.rs`: the responses are prepared in the order the client asks).

use std::time::Duration;

use prozess_network::mock::MockClient;
use prozess_network::{NodeId, TopicPartition};
use prozess_protocol::messages::delete_records::response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use prozess_protocol::messages::metadata::response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use prozess_protocol::messages::{DeleteRecordsResponse, MetadataResponse};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody};

use super::*;

const T: Duration = Duration::from_secs(5);

/// An admin client over a mock cluster of `brokers` negotiating Kafka 4.0's
/// newest versions of the APIs these tests use.
fn admin(brokers: &[NodeId]) -> AdminClient<MockClient> {
    let mut mock = MockClient::new_with_cluster(brokers, &[]);
    for &node in brokers {
        for (api, max) in [
            (ApiKey::Metadata, 12),
            (ApiKey::DeleteRecords, 2),
            (ApiKey::CreatePartitions, 3),
            (ApiKey::DescribeConfigs, 4),
            (ApiKey::IncrementalAlterConfigs, 1),
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

/// A topic of a prepared Metadata response: its name and each partition's
/// leader (-1: none, LEADER_NOT_AVAILABLE), or `None` for an unknown topic.
type TopicSpec<'a> = (&'a str, Option<&'a [NodeId]>);

fn metadata(brokers: &[NodeId], controller: NodeId, topics: &[TopicSpec<'_>]) -> MetadataResponse {
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
        topics: topics
            .iter()
            .map(|&(name, leaders)| match leaders {
                None => MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                    name: Some(name.into()),
                    ..Default::default()
                },
                Some(leaders) => MetadataResponseTopic {
                    name: Some(name.into()),
                    partitions: leaders
                        .iter()
                        .enumerate()
                        .map(|(p, &leader)| MetadataResponsePartition {
                            partition_index: p as i32,
                            leader_id: leader,
                            error_code: if leader < 0 {
                                ErrorCode::LeaderNotAvailable.code()
                            } else {
                                0
                            },
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
            })
            .collect(),
        ..Default::default()
    }
}

fn is_api(api: ApiKey) -> impl Fn(&RequestBody) -> bool + Send {
    move |body| body.api_key() == api
}

fn is_metadata(body: &RequestBody) -> bool {
    matches!(body, RequestBody::Metadata(_))
}

/// A DeleteRecords response: (topic, partition, error, low watermark).
fn deleted(partitions: &[(&str, i32, ErrorCode, i64)]) -> DeleteRecordsResponse {
    let mut topics: Vec<DeleteRecordsTopicResult> = Vec::new();
    for &(topic, partition, code, low) in partitions {
        let result = DeleteRecordsPartitionResult {
            partition_index: partition,
            low_watermark: low,
            error_code: code.code(),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == topic) {
            Some(t) => t.partitions.push(result),
            None => topics.push(DeleteRecordsTopicResult {
                name: topic.into(),
                partitions: vec![result],
                ..Default::default()
            }),
        }
    }
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}

#[test]
fn delete_records_goes_to_each_leader_and_reports_per_partition() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = admin.client_mut();
    m.prepare_response(
        is_metadata,
        metadata(&brokers, 1, &[("t", Some(&[1, 2, 1])), ("gone", None)]),
    );
    m.prepare_response_from(
        1,
        is_api(ApiKey::DeleteRecords),
        deleted(&[
            ("t", 0, ErrorCode::None, 10),
            ("t", 2, ErrorCode::OffsetOutOfRange, -1),
        ]),
    );
    m.prepare_response_from(
        2,
        is_api(ApiKey::DeleteRecords),
        deleted(&[("t", 1, ErrorCode::None, 77)]),
    );
    let input = [
        (TopicPartition::new("t", 2), 1_000_000),
        (TopicPartition::new("gone", 0), 5),
        (TopicPartition::new("t", 0), 10),
        (TopicPartition::new("t", 1), -1),
        (TopicPartition::new("t", 7), 3),
    ];
    let results = admin.delete_records(&input, T).unwrap();
    let got: Vec<&TopicPartition> = results.iter().map(|r| &r.partition).collect();
    let want: Vec<&TopicPartition> = input.iter().map(|(tp, _)| tp).collect();
    assert_eq!(got, want, "one result per input partition, in input order");
    let err = results[0].result.as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OffsetOutOfRange), "{err}");
    assert!(err.to_string().contains("t-2"), "{err}");
    for i in [1, 4] {
        let err = results[i].result.as_ref().unwrap_err();
        assert!(err.is_unknown_topic(), "{err}");
    }
    assert_eq!(results[2].result.as_ref().unwrap(), &10);
    assert_eq!(results[3].result.as_ref().unwrap(), &77);
    assert_eq!(admin.client().prepared_count(), 0);

    let requests = admin.client().requests_of(ApiKey::DeleteRecords);
    assert_eq!(requests.len(), 2, "one request per leader");
    for s in requests {
        assert_eq!(s.version, 2);
        let RequestBody::DeleteRecords(r) = &s.body else {
            unreachable!()
        };
        assert!(r.timeout_ms > 0 && r.timeout_ms <= 5000);
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].name, "t");
        let sent: Vec<(i32, i64)> = r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.offset))
            .collect();
        match s.node {
            1 => assert_eq!(sent, vec![(2, 1_000_000), (0, 10)]),
            2 => assert_eq!(sent, vec![(1, -1)], "-1 is sent as is"),
            n => panic!("sent to node {n}"),
        }
    }
}

#[test]
fn delete_records_retries_not_leader_after_a_metadata_refresh() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = admin.client_mut();
    // First look-up: the leader of t-0 is 1, t-1 has none yet.
    m.prepare_response(is_metadata, metadata(&brokers, 1, &[("t", Some(&[1, -1]))]));
    m.prepare_response_from(
        1,
        is_api(ApiKey::DeleteRecords),
        deleted(&[("t", 0, ErrorCode::NotLeaderOrFollower, -1)]),
    );
    // Second: both partitions now led by 2, which answers t-0 and gives
    // LEADER_NOT_AVAILABLE for t-1 once.
    m.prepare_response(is_metadata, metadata(&brokers, 1, &[("t", Some(&[2, 2]))]));
    m.prepare_response_from(
        2,
        is_api(ApiKey::DeleteRecords),
        deleted(&[
            ("t", 0, ErrorCode::None, 4),
            ("t", 1, ErrorCode::LeaderNotAvailable, -1),
        ]),
    );
    m.prepare_response(is_metadata, metadata(&brokers, 1, &[("t", Some(&[2, 2]))]));
    m.prepare_response_from(
        2,
        is_api(ApiKey::DeleteRecords),
        deleted(&[("t", 1, ErrorCode::None, 9)]),
    );
    let results = admin
        .delete_records(
            &[
                (TopicPartition::new("t", 0), 4),
                (TopicPartition::new("t", 1), 9),
            ],
            T,
        )
        .unwrap();
    assert_eq!(results[0].result.as_ref().unwrap(), &4);
    assert_eq!(results[1].result.as_ref().unwrap(), &9);
    assert_eq!(admin.client().prepared_count(), 0);
    let nodes: Vec<NodeId> = admin
        .client()
        .requests_of(ApiKey::DeleteRecords)
        .iter()
        .map(|r| r.node)
        .collect();
    assert_eq!(nodes, vec![1, 2, 2]);
    assert_eq!(admin.client().requests_of(ApiKey::Metadata).len(), 3);
}

#[test]
fn delete_records_times_out_per_partition_when_a_leader_never_appears() {
    let brokers = [1];
    let mut admin = admin(&brokers);
    let m = admin.client_mut();
    for _ in 0..1000 {
        m.prepare_response(is_metadata, metadata(&brokers, 1, &[("t", Some(&[-1, 1]))]));
    }
    m.prepare_response_from(
        1,
        is_api(ApiKey::DeleteRecords),
        deleted(&[("t", 1, ErrorCode::None, 3)]),
    );
    let results = admin
        .delete_records(
            &[
                (TopicPartition::new("t", 0), 1),
                (TopicPartition::new("t", 1), 3),
            ],
            Duration::from_millis(30),
        )
        .unwrap();
    let err = results[0].result.as_ref().unwrap_err();
    // The deadline passes either between rounds (the error names t-0) or
    // during a round's metadata look-up (it names that request).
    assert!(err.is_timeout(), "{err}");
    assert_eq!(
        results[1].result.as_ref().unwrap(),
        &3,
        "t-1 is not held up"
    );
}

#[test]
fn delete_records_refuses_duplicates_and_bad_offsets_before_sending() {
    let mut admin = admin(&[1]);
    let tp = TopicPartition::new("t", 0);
    let err = admin
        .delete_records(&[(tp.clone(), 1), (tp.clone(), 2)], T)
        .unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
    let err = admin.delete_records(&[(tp, -2)], T).unwrap_err();
    assert!(err.to_string().contains("-2"), "{err}");
    assert!(admin.client().requests().is_empty());
    assert!(admin.delete_records(&[], T).unwrap().is_empty());
}

fn partitions_created(
    topics: &[(&str, ErrorCode)],
) -> prozess_protocol::messages::CreatePartitionsResponse {
    use prozess_protocol::messages::create_partitions::response::CreatePartitionsTopicResult;
    prozess_protocol::messages::CreatePartitionsResponse {
        results: topics
            .iter()
            .map(|&(name, code)| CreatePartitionsTopicResult {
                name: name.into(),
                error_code: code.code(),
                error_message: code
                    .is_error()
                    .then(|| format!("{} for {name}", code.name())),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn brokers_only(body: &RequestBody) -> bool {
    matches!(body, RequestBody::Metadata(r) if r.topics.as_ref().is_some_and(|t| t.is_empty()))
}

fn topics_only(body: &RequestBody) -> bool {
    matches!(body, RequestBody::Metadata(r) if r.topics.as_ref().is_some_and(|t| !t.is_empty()))
}

#[test]
fn create_partitions_goes_to_the_controller_retries_not_controller_and_waits_for_leaders() {
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let m = admin.client_mut();
    m.prepare_response(brokers_only, metadata(&brokers, 1, &[]));
    m.prepare_response_from(
        1,
        is_api(ApiKey::CreatePartitions),
        partitions_created(&[
            ("grow", ErrorCode::NotController),
            ("same", ErrorCode::InvalidPartitions),
            ("gone", ErrorCode::UnknownTopicOrPartition),
        ]),
    );
    // The controller moved to 2; only "grow" is asked again.
    m.prepare_response(brokers_only, metadata(&brokers, 2, &[]));
    m.prepare_response_from(
        2,
        is_api(ApiKey::CreatePartitions),
        partitions_created(&[("grow", ErrorCode::None)]),
    );
    // Waiting: the first round (one broker, then each of both) still sees 2
    // partitions on broker 2; the second sees 4 everywhere.
    let two: &[NodeId] = &[1, 2];
    let four: &[NodeId] = &[1, 2, 1, 2];
    for leaders in [four, four, two, four, four, four] {
        m.prepare_response(
            topics_only,
            metadata(&brokers, 2, &[("grow", Some(leaders))]),
        );
    }
    let input = [
        ("grow", NewPartitions::increase_to(4)),
        ("same", NewPartitions::increase_to(1)),
        (
            "gone",
            NewPartitions::increase_to_with(3, vec![vec![1, 2], vec![2]]),
        ),
    ];
    let results = admin.create_partitions(&input, T).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["grow", "same", "gone"]);
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    let err = results[1].result.as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidPartitions), "{err}");
    assert!(err.to_string().contains("topic 'same'"), "{err}");
    assert!(results[2].result.as_ref().unwrap_err().is_unknown_topic());
    assert_eq!(
        admin.client().prepared_count(),
        0,
        "waited for the new leaders"
    );

    let sent = admin.client().requests_of(ApiKey::CreatePartitions);
    let nodes: Vec<NodeId> = sent.iter().map(|r| r.node).collect();
    assert_eq!(nodes, vec![1, 2], "to the controller, then to the new one");
    assert_eq!(sent[0].version, 3);
    let RequestBody::CreatePartitions(first) = &sent[0].body else {
        unreachable!()
    };
    assert_eq!(first.topics.len(), 3);
    assert_eq!(first.topics[0].count, 4);
    assert_eq!(
        first.topics[0].assignments, None,
        "null: the controller places them"
    );
    let assigned: Vec<Vec<i32>> = first.topics[2]
        .assignments
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.broker_ids.clone())
        .collect();
    assert_eq!(assigned, vec![vec![1, 2], vec![2]]);
    assert!(first.timeout_ms > 0 && first.timeout_ms <= 5000);
    assert!(!first.validate_only);
    let RequestBody::CreatePartitions(second) = &sent[1].body else {
        unreachable!()
    };
    let retried: Vec<&str> = second.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(retried, vec!["grow"]);
}

#[test]
fn create_partitions_refuses_bad_input_before_sending() {
    let mut admin = admin(&[1]);
    let twice = [
        ("a", NewPartitions::increase_to(2)),
        ("a", NewPartitions::increase_to(3)),
    ];
    let err = admin.create_partitions(&twice, T).unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
    let zero = [("a", NewPartitions::increase_to(0))];
    let err = admin.create_partitions(&zero, T).unwrap_err();
    assert!(err.to_string().contains("0 partitions"), "{err}");
    assert!(admin.client().requests().is_empty());
}

fn described(
    results: Vec<prozess_protocol::messages::describe_configs::response::DescribeConfigsResult>,
) -> prozess_protocol::messages::DescribeConfigsResponse {
    prozess_protocol::messages::DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

fn described_resource(
    resource_type: i8,
    name: &str,
    code: ErrorCode,
    configs: Vec<
        prozess_protocol::messages::describe_configs::response::DescribeConfigsResourceResult,
    >,
) -> prozess_protocol::messages::describe_configs::response::DescribeConfigsResult {
    prozess_protocol::messages::describe_configs::response::DescribeConfigsResult {
        error_code: code.code(),
        error_message: code
            .is_error()
            .then(|| format!("{} for {name}", code.name())),
        resource_type,
        resource_name: name.into(),
        configs,
        ..Default::default()
    }
}

#[test]
fn describe_configs_routes_broker_resources_and_reads_synonyms_and_sources() {
    use prozess_protocol::messages::describe_configs::response::{
        DescribeConfigsResourceResult, DescribeConfigsSynonym,
    };
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let retention = DescribeConfigsResourceResult {
        name: "retention.ms".into(),
        value: Some("1000".into()),
        read_only: false,
        config_source: 1,
        is_sensitive: false,
        synonyms: vec![
            DescribeConfigsSynonym {
                name: "retention.ms".into(),
                value: Some("1000".into()),
                source: 1,
                ..Default::default()
            },
            DescribeConfigsSynonym {
                name: "log.retention.hours".into(),
                value: Some("168".into()),
                source: 5,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let password = DescribeConfigsResourceResult {
        name: "ssl.key.password".into(),
        value: None,
        read_only: true,
        config_source: 4,
        is_sensitive: true,
        ..Default::default()
    };
    let m = admin.client_mut();
    m.prepare_response_from(
        2,
        is_api(ApiKey::DescribeConfigs),
        described(vec![
            described_resource(4, "2", ErrorCode::None, vec![password]),
            described_resource(8, "2", ErrorCode::None, vec![]),
        ]),
    );
    // The topics go to any broker: the first answer gives "busy" a
    // retriable error, the second (only "busy" asked) succeeds.
    m.prepare_response(
        is_api(ApiKey::DescribeConfigs),
        described(vec![
            described_resource(2, "t", ErrorCode::None, vec![retention.clone()]),
            described_resource(2, "gone", ErrorCode::UnknownTopicOrPartition, vec![]),
            described_resource(2, "busy", ErrorCode::RequestTimedOut, vec![]),
        ]),
    );
    m.prepare_response(
        is_api(ApiKey::DescribeConfigs),
        described(vec![described_resource(
            2,
            "busy",
            ErrorCode::None,
            vec![retention],
        )]),
    );
    let input = [
        ConfigResource::topic("t"),
        ConfigResource::broker(2),
        ConfigResource::topic("gone"),
        ConfigResource::broker_logger(2),
        ConfigResource::topic("busy"),
    ];
    let results = admin.describe_configs(&input, T).unwrap();
    let got: Vec<&ConfigResource> = results.iter().map(|r| &r.resource).collect();
    assert_eq!(got, input.iter().collect::<Vec<_>>(), "input order");
    let topic = results[0].result.as_ref().unwrap();
    let e = topic.get("retention.ms").unwrap();
    assert_eq!(e.value.as_deref(), Some("1000"));
    assert_eq!(e.source, ConfigSource::DynamicTopicConfig);
    assert!(!e.is_sensitive && !e.is_read_only);
    let synonyms: Vec<(&str, ConfigSource)> = e
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        vec![
            ("retention.ms", ConfigSource::DynamicTopicConfig),
            ("log.retention.hours", ConfigSource::DefaultConfig)
        ]
    );
    let broker = results[1].result.as_ref().unwrap();
    let p = broker.get("ssl.key.password").unwrap();
    assert!(p.is_sensitive && p.is_read_only && p.value.is_none());
    assert_eq!(p.source, ConfigSource::StaticBrokerConfig);
    let err = results[2].result.as_ref().unwrap_err();
    assert!(err.is_unknown_topic(), "{err}");
    assert!(err.to_string().contains("topic 'gone'"), "{err}");
    assert!(results[3].result.as_ref().unwrap().entries.is_empty());
    assert!(results[4].result.is_ok(), "{:?}", results[4].result);
    assert_eq!(admin.client().prepared_count(), 0);

    let sent = admin.client().requests_of(ApiKey::DescribeConfigs);
    assert_eq!(sent.len(), 3);
    let names = |i: usize| -> Vec<(i8, String)> {
        let RequestBody::DescribeConfigs(r) = &sent[i].body else {
            unreachable!()
        };
        assert!(r.include_synonyms);
        r.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.clone()))
            .collect()
    };
    assert_eq!(sent[0].node, 2, "broker resources go to their broker");
    assert_eq!(names(0), vec![(4, "2".to_string()), (8, "2".to_string())]);
    assert_eq!(
        names(1),
        vec![(2, "t".into()), (2, "gone".into()), (2, "busy".into())]
    );
    assert_eq!(
        names(2),
        vec![(2, "busy".to_string())],
        "only the retriable one again"
    );
}

#[test]
fn incremental_alter_configs_sends_each_op_and_reports_per_resource() {
    use prozess_protocol::messages::incremental_alter_configs::response::AlterConfigsResourceResponse;
    use prozess_protocol::messages::IncrementalAlterConfigsResponse;
    let brokers = [1, 2];
    let mut admin = admin(&brokers);
    let answer = |items: &[(i8, &str, ErrorCode)]| IncrementalAlterConfigsResponse {
        responses: items
            .iter()
            .map(|&(t, name, code)| AlterConfigsResourceResponse {
                error_code: code.code(),
                error_message: code.is_error().then(|| "bad value".to_string()),
                resource_type: t,
                resource_name: name.into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let m = admin.client_mut();
    m.prepare_response_from(
        1,
        is_api(ApiKey::IncrementalAlterConfigs),
        answer(&[(8, "1", ErrorCode::None)]),
    );
    m.prepare_disconnect(is_api(ApiKey::IncrementalAlterConfigs));
    m.prepare_response(
        is_api(ApiKey::IncrementalAlterConfigs),
        answer(&[
            (2, "t", ErrorCode::None),
            (2, "u", ErrorCode::InvalidConfig),
        ]),
    );
    let input = vec![
        (
            ConfigResource::topic("t"),
            vec![
                AlterConfigOp::set("retention.ms", "1000"),
                AlterConfigOp::delete("max.message.bytes"),
                AlterConfigOp::append("cleanup.policy", "compact"),
                AlterConfigOp::subtract("cleanup.policy", "delete"),
            ],
        ),
        (
            ConfigResource::broker_logger(1),
            vec![AlterConfigOp::set("kafka.server", "DEBUG")],
        ),
        (
            ConfigResource::topic("u"),
            vec![AlterConfigOp::set("retention.ms", "soon")],
        ),
    ];
    let results = admin.incremental_alter_configs(&input, T).unwrap();
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    assert!(results[1].result.is_ok(), "{:?}", results[1].result);
    let err = results[2].result.as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidConfig), "{err}");
    assert!(err.to_string().contains("topic 'u': bad value"), "{err}");
    assert_eq!(admin.client().prepared_count(), 0);

    let sent = admin.client().requests_of(ApiKey::IncrementalAlterConfigs);
    assert_eq!(sent.len(), 3, "the disconnected request was sent again");
    assert_eq!(sent[0].node, 1, "a broker's loggers go to that broker");
    assert_eq!(sent[0].version, 1);
    let RequestBody::IncrementalAlterConfigs(last) = &sent[2].body else {
        unreachable!()
    };
    assert!(!last.validate_only);
    let ops: Vec<(&str, i8, Option<&str>)> = last.resources[0]
        .configs
        .iter()
        .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("retention.ms", 0, Some("1000")),
            ("max.message.bytes", 1, None),
            ("cleanup.policy", 2, Some("compact")),
            ("cleanup.policy", 3, Some("delete")),
        ]
    );
    assert_eq!(last.resources[1].resource_name, "u");
}

#[test]
fn config_calls_refuse_duplicates_and_bad_broker_names_before_sending() {
    let mut admin = admin(&[1]);
    let t = ConfigResource::topic("t");
    let err = admin
        .describe_configs(&[t.clone(), t.clone()], T)
        .unwrap_err();
    assert!(
        err.to_string().contains("topic 't' is named twice"),
        "{err}"
    );
    let bad = ConfigResource::new(ConfigResourceType::Broker, "one");
    let err = admin
        .describe_configs(std::slice::from_ref(&bad), T)
        .unwrap_err();
    assert!(err.to_string().contains("broker id"), "{err}");
    let err = admin
        .incremental_alter_configs(&[(bad, vec![AlterConfigOp::delete("x")])], T)
        .unwrap_err();
    assert!(err.to_string().contains("broker id"), "{err}");
    assert!(admin.client().requests().is_empty());
    assert_eq!(ConfigResourceType::from_id(32), ConfigResourceType::Group);
    assert_eq!(ConfigResourceType::from_id(99).id(), 99);
}
