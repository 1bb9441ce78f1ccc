//! The AdminClient against the broker under test: topics (create, list,
//! describe, delete), TOPIC_ALREADY_EXISTS, and ListOffsets on an empty topic.
//! Every assertion holds on Tansu and on Apache Kafka.

use std::time::Duration;

use prozess::admin::{AdminClient, NewTopic, OffsetSpec};
use prozess::TopicPartition;
use prozess_integration_tests as harness;

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin() -> AdminClient {
    AdminClient::from_bootstrap(&harness::bootstrap()).expect("admin client")
}

#[test]
fn create_list_describe_delete_topic() {
    let mut admin = admin();
    let topic = harness::unique_topic("admin-create");
    let results = admin
        .create_topics(&[NewTopic::new(&topic, 3)], TIMEOUT)
        .expect("create_topics request");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].name, topic);
    if let Err(e) = &results[0].result {
        panic!("creating {topic}: {e}");
    }

    let listed = admin.list_topics(false).expect("list_topics");
    let listing = listed
        .iter()
        .find(|t| t.name == topic)
        .unwrap_or_else(|| panic!("{topic} not in {listed:?}"));
    assert_eq!(listing.partitions, 3);
    assert!(!listing.is_internal);
    assert!(listed.windows(2).all(|w| w[0].name < w[1].name), "sorted");

    let described = admin.describe_topics(&[&topic]).expect("describe_topics");
    assert_eq!(described.len(), 1);
    let d = &described[0];
    assert_eq!(d.name, topic);
    let indexes: Vec<i32> = d.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(indexes, vec![0, 1, 2]);
    for p in &d.partitions {
        let leader = p
            .leader
            .expect("every partition has a leader after create_topics");
        assert!(
            p.replicas.is_empty() || p.replicas.contains(&leader),
            "leader {leader} among replicas {:?}",
            p.replicas
        );
    }

    let deleted = admin
        .delete_topics(&[&topic], TIMEOUT)
        .expect("delete_topics request");
    assert_eq!(deleted.len(), 1);
    if let Err(e) = &deleted[0].result {
        panic!("deleting {topic}: {e}");
    }
    let listed = admin.list_topics(false).expect("list_topics");
    assert!(
        listed.iter().all(|t| t.name != topic),
        "{topic} still listed after delete"
    );
    let err = admin
        .describe_topics(&[&topic])
        .expect_err("describing a deleted topic fails");
    assert!(err.is_unknown_topic(), "{err}");
}

#[test]
fn creating_an_existing_topic_reports_topic_already_exists() {
    let mut admin = admin();
    let topic = harness::unique_topic("admin-exists");
    let first = admin
        .create_topics(&[NewTopic::new(&topic, 1)], TIMEOUT)
        .expect("create_topics");
    assert!(first[0].result.is_ok(), "{:?}", first[0].result);

    let other = harness::unique_topic("admin-exists-other");
    let second = admin
        .create_topics(
            &[NewTopic::new(&topic, 1), NewTopic::new(&other, 2)],
            TIMEOUT,
        )
        .expect("create_topics");
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].name, topic);
    let err = second[0].result.as_ref().expect_err("topic exists");
    assert!(err.is_topic_already_exists(), "{err}");
    assert!(err.to_string().contains("TOPIC_ALREADY_EXISTS"), "{err}");
    assert!(second[1].result.is_ok(), "{:?}", second[1].result);

    // ensure_topic treats an existing topic as success.
    admin
        .ensure_topic(&NewTopic::new(&topic, 1), TIMEOUT)
        .expect("ensure_topic on an existing topic");
    admin
        .delete_topics(&[&topic, &other], TIMEOUT)
        .expect("delete_topics");
}

#[test]
fn create_topic_with_configs_and_broker_default_replication() {
    let mut admin = admin();
    let topic = harness::unique_topic("admin-configs");
    let new = NewTopic::new(&topic, 2)
        .replication_factor(-1)
        .config("cleanup.policy", "delete")
        .config("retention.ms", "3600000");
    let results = admin.create_topics(&[new], TIMEOUT).expect("create_topics");
    assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    let d = admin.describe_topics(&[&topic]).expect("describe");
    assert_eq!(d[0].partitions.len(), 2);
    admin.delete_topics(&[&topic], TIMEOUT).expect("delete");
}

#[test]
fn list_offsets_earliest_on_an_empty_topic_is_zero() {
    let mut admin = admin();
    let topic = harness::unique_topic("admin-offsets");
    admin
        .ensure_topic(&NewTopic::new(&topic, 2), TIMEOUT)
        .expect("ensure_topic");
    let specs = [
        (TopicPartition::new(&topic, 0), OffsetSpec::Earliest),
        (TopicPartition::new(&topic, 1), OffsetSpec::Earliest),
    ];
    let results = admin.list_offsets(&specs).expect("list_offsets");
    assert_eq!(results.len(), 2);
    for (r, (tp, _)) in results.iter().zip(&specs) {
        assert_eq!(&r.partition, tp);
        let info = r.result.as_ref().unwrap_or_else(|e| panic!("{tp}: {e}"));
        assert_eq!(info.offset, 0, "{tp}");
    }
    // Latest of an empty partition is 0 on Kafka; Tansu computes "latest"
    // from the last batch (BROKERS.md), which for an empty log is also 0 or
    // not an error: only require an answer without an error there.
    let latest = admin
        .list_offsets(&[(TopicPartition::new(&topic, 0), OffsetSpec::Latest)])
        .expect("list_offsets latest");
    let info = latest[0].result.as_ref().expect("latest offset");
    if !harness::skip_on(
        harness::is_tansu(),
        "the latest offset of an empty log not checked: Tansu answers it from its last batch (BROKERS.md)",
    ) {
        assert_eq!(info.offset, 0);
    }
    admin.delete_topics(&[&topic], TIMEOUT).expect("delete");
}

#[test]
fn list_offsets_of_an_unknown_topic_fails_per_partition() {
    let mut admin = admin();
    let topic = harness::unique_topic("admin-missing");
    let results = admin
        .list_offsets(&[(TopicPartition::new(&topic, 0), OffsetSpec::Earliest)])
        .expect("list_offsets");
    let err = results[0].result.as_ref().expect_err("unknown topic");
    assert!(err.is_unknown_topic(), "{err}");
}

#[test]
fn deleting_an_unknown_topic_reports_unknown_topic() {
    let mut admin = admin();
    let topic = harness::unique_topic("admin-nodelete");
    let results = admin
        .delete_topics(&[&topic], TIMEOUT)
        .expect("delete_topics");
    let err = results[0].result.as_ref().expect_err("unknown topic");
    assert!(err.is_unknown_topic(), "{err}");
}
