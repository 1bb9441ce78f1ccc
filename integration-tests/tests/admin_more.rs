//! The AdminClient's delete_records, create_partitions and config calls
//! against the broker under test. Tansu 0.6 has no CreatePartitions and no
//! working DeleteRecords: those tests skip there (the Kafka stages run them).

use std::time::Duration;

use prozess::admin::{
    AdminClient, AlterConfigOp, ConfigResource, ConfigSource, NewPartitions, NewTopic, OffsetSpec,
};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess::TopicPartition;
use prozess_integration_tests as harness;

const TIMEOUT: Duration = Duration::from_secs(30);
const DELETE_RECORDS: i16 = 21;
const CREATE_PARTITIONS: i16 = 37;
const DESCRIBE_CONFIGS: i16 = 32;
const INCREMENTAL_ALTER_CONFIGS: i16 = 44;

fn admin() -> AdminClient {
    AdminClient::from_bootstrap(&harness::bootstrap()).expect("admin client")
}

/// Says why a test does not run here (counted in scripts/test.sh's summary).
fn skip(reason: &str) {
    harness::skip(&format!("{reason}; runs in the Apache Kafka stages"));
}

/// Writes `n` records to `tp`.
fn produce(tp: &TopicPartition, n: usize) {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", harness::bootstrap().as_str()),
        ("linger.ms", "0"),
    ])
    .expect("producer config");
    let p: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    for i in 0..n {
        let record = ProducerRecord::with_key(tp.topic.clone(), format!("k{i}"), format!("v{i}"))
            .partition(tp.partition);
        p.send(record).get().expect("delivered");
    }
    p.close(Duration::from_secs(10));
}

#[test]
fn delete_records_moves_the_log_start_offset() {
    // Tansu 0.6 advertises DeleteRecords v0-2, but its storage panics on it
    // ("not yet implemented") and the connection closes.
    if !harness::broker_supports(DELETE_RECORDS, 0) || harness::is_tansu() {
        return skip("the broker has no working DeleteRecords");
    }
    let mut admin = admin();
    let topic = harness::unique_topic("admin-delete-records");
    admin
        .create_topics(&[NewTopic::new(&topic, 2)], TIMEOUT)
        .expect("create_topics")[0]
        .result
        .as_ref()
        .expect("topic created");
    let p0 = TopicPartition::new(&topic, 0);
    let p1 = TopicPartition::new(&topic, 1);
    produce(&p0, 5);
    produce(&p1, 3);
    let missing = TopicPartition::new(harness::unique_topic("admin-no-such-topic"), 0);

    let results = admin
        .delete_records(
            &[(p0.clone(), 2), (missing.clone(), 1), (p1.clone(), -1)],
            TIMEOUT,
        )
        .expect("delete_records");
    assert_eq!(results[0].partition, p0);
    assert_eq!(*results[0].result.as_ref().expect("p0 deleted"), 2);
    let err = results[1].result.as_ref().unwrap_err();
    assert!(err.is_unknown_topic(), "{err}");
    assert_eq!(
        *results[2].result.as_ref().expect("p1 deleted"),
        3,
        "-1 is the high watermark"
    );

    let earliest = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Earliest)])
        .expect("list_offsets");
    assert_eq!(*earliest[0].result.as_ref().map(|o| &o.offset).unwrap(), 2);

    // Past the high watermark: OFFSET_OUT_OF_RANGE for that partition only.
    let results = admin
        .delete_records(&[(p0, 100), (p1, 3)], TIMEOUT)
        .expect("delete_records");
    let err = results[0].result.as_ref().unwrap_err();
    assert_eq!(
        err.code(),
        Some(prozess::ErrorCode::OffsetOutOfRange),
        "{err}"
    );
    assert_eq!(*results[1].result.as_ref().expect("p1 unchanged"), 3);
    let _ = admin.delete_topics(&[&topic], TIMEOUT);
}

#[test]
fn create_partitions_grows_a_topic() {
    if !harness::broker_supports(CREATE_PARTITIONS, 0) {
        return skip("the broker has no CreatePartitions");
    }
    let mut admin = admin();
    let topic = harness::unique_topic("admin-grow");
    admin
        .create_topics(&[NewTopic::new(&topic, 1)], TIMEOUT)
        .expect("create_topics")[0]
        .result
        .as_ref()
        .expect("topic created");
    let missing = harness::unique_topic("admin-no-such-topic");
    let results = admin
        .create_partitions(
            &[
                (topic.as_str(), NewPartitions::increase_to(3)),
                (missing.as_str(), NewPartitions::increase_to(2)),
            ],
            TIMEOUT,
        )
        .expect("create_partitions");
    if let Err(e) = &results[0].result {
        panic!("growing {topic}: {e}");
    }
    let err = results[1].result.as_ref().unwrap_err();
    assert!(err.is_unknown_topic(), "{err}");
    let described = admin.describe_topics(&[&topic]).expect("describe_topics");
    assert_eq!(described[0].partitions.len(), 3);

    // Not more than now: INVALID_PARTITIONS.
    let results = admin
        .create_partitions(&[(topic.as_str(), NewPartitions::increase_to(3))], TIMEOUT)
        .expect("create_partitions");
    let err = results[0].result.as_ref().unwrap_err();
    assert_eq!(
        err.code(),
        Some(prozess::ErrorCode::InvalidPartitions),
        "{err}"
    );
    let _ = admin.delete_topics(&[&topic], TIMEOUT);
}

#[test]
fn describe_and_alter_topic_configs() {
    if !harness::broker_supports(DESCRIBE_CONFIGS, 1)
        || !harness::broker_supports(INCREMENTAL_ALTER_CONFIGS, 0)
    {
        return skip("the broker has no DescribeConfigs or IncrementalAlterConfigs");
    }
    // Tansu 0.6 describes an unknown topic with no entries, gives every value
    // the source DEFAULT_CONFIG and lists no default after a delete.
    let check_all = !harness::skip_on(
        harness::is_tansu(),
        "unknown-topic errors, config sources and defaults after a delete not checked: Tansu describes none of them (runs in full on Apache Kafka)",
    );
    let mut admin = admin();
    let topic = harness::unique_topic("admin-configs");
    admin
        .create_topics(
            &[NewTopic::new(&topic, 1).config("retention.ms", "3600000")],
            TIMEOUT,
        )
        .expect("create_topics")[0]
        .result
        .as_ref()
        .expect("topic created");
    let resource = ConfigResource::topic(&topic);
    // retention.ms of the topic (None when not listed).
    let retention = |admin: &mut AdminClient| {
        let missing = ConfigResource::topic(harness::unique_topic("admin-no-such-topic"));
        let results = admin
            .describe_configs(&[resource.clone(), missing], TIMEOUT)
            .expect("describe_configs");
        if check_all {
            let err = results[1].result.as_ref().unwrap_err();
            assert!(err.is_unknown_topic(), "{err}");
        }
        let config = results[0].result.clone().expect("topic described");
        config
            .get("retention.ms")
            .map(|e| (e.value.clone().unwrap_or_default(), e.source))
    };
    let alter = |admin: &mut AdminClient, op: AlterConfigOp| {
        let results = admin
            .incremental_alter_configs(&[(resource.clone(), vec![op])], TIMEOUT)
            .expect("incremental_alter_configs");
        if let Err(e) = &results[0].result {
            panic!("altering {topic}: {e}");
        }
    };

    let (value, source) = retention(&mut admin).expect("retention.ms listed");
    assert_eq!(value, "3600000");
    if check_all {
        assert_eq!(source, ConfigSource::DynamicTopicConfig);
    }
    alter(&mut admin, AlterConfigOp::set("retention.ms", "7200000"));
    let (value, _) = retention(&mut admin).expect("retention.ms listed");
    assert_eq!(value, "7200000");
    alter(&mut admin, AlterConfigOp::delete("retention.ms"));
    // Kafka lists the default again, Tansu no entry.
    let after = retention(&mut admin);
    if check_all {
        let (value, source) = after.expect("retention.ms default listed");
        assert_ne!(value, "7200000", "override removed");
        assert_ne!(source, ConfigSource::DynamicTopicConfig);
    } else if let Some((value, _)) = after {
        assert_ne!(value, "7200000", "override removed");
    }
    let _ = admin.delete_topics(&[&topic], TIMEOUT);
}
