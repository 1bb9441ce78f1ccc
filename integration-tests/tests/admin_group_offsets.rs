//! The AdminClient's consumer group offset calls (list for several groups,
//! alter, delete) and remove_members_from_consumer_group against the broker
//! under test.

use std::time::{Duration, Instant};

use prozess::admin::{AdminClient, ListConsumerGroupOffsetsSpec, MemberToRemove};
use prozess::consumer::{ConsumerConfig, KafkaConsumer, OffsetAndMetadata, StringDeserializer};
use prozess::{ErrorCode, TopicPartition};
use prozess_integration_tests as harness;

const TIMEOUT: Duration = Duration::from_secs(30);

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

/// The committed offset of `tp` in a group's listing (`None`: none).
fn committed(
    listing: &prozess::admin::PartitionResults<Option<OffsetAndMetadata>>,
    tp: &TopicPartition,
) -> Option<i64> {
    match listing.get(tp) {
        None => None,
        Some(Ok(o)) => o.as_ref().map(|o| o.offset),
        Some(Err(e)) => panic!("{tp}: {e}"),
    }
}

/// alter_consumer_group_offsets commits for two empty groups, one
/// list_consumer_group_offsets call reads both back (one group with all
/// partitions, the other with named ones), and delete_consumer_group_offsets
/// removes one partition's offset.
#[test]
fn alter_list_and_delete_group_offsets() {
    harness::init_logging();
    let topic = harness::unique_topic("admin-goffsets");
    harness::create_topic(&topic, 2);
    let g1 = harness::unique_topic("admin-goffsets-g1");
    let g2 = harness::unique_topic("admin-goffsets-g2");
    let mut admin = AdminClient::from_bootstrap(&harness::bootstrap()).expect("admin client");

    let r = admin
        .alter_consumer_group_offsets(
            &g1,
            &[
                (tp(&topic, 0), OffsetAndMetadata::with_metadata(5, "five")),
                (tp(&topic, 1), OffsetAndMetadata::new(7)),
            ],
            TIMEOUT,
        )
        .expect("alter g1");
    let parts = r.result.expect("g1");
    assert!(parts.values().all(|p| p.is_ok()), "{parts:?}");
    let r = admin
        .alter_consumer_group_offsets(&g2, &[(tp(&topic, 0), OffsetAndMetadata::new(1))], TIMEOUT)
        .expect("alter g2");
    assert!(r.result.expect("g2").values().all(|p| p.is_ok()));

    let listed = admin
        .list_consumer_group_offsets(
            &[
                (g1.as_str(), ListConsumerGroupOffsetsSpec::all()),
                (
                    g2.as_str(),
                    ListConsumerGroupOffsetsSpec::partitions([tp(&topic, 0), tp(&topic, 1)]),
                ),
            ],
            TIMEOUT,
        )
        .expect("list");
    assert_eq!(listed[0].group_id, g1);
    let l1 = listed[0].result.as_ref().expect("g1 offsets");
    assert_eq!(committed(l1, &tp(&topic, 0)), Some(5));
    assert_eq!(committed(l1, &tp(&topic, 1)), Some(7));
    if !harness::skip_on(
        harness::is_tansu(),
        "the committed metadata string not checked: Tansu returns it as \"\" (BROKERS.md)",
    ) {
        let o = l1[&tp(&topic, 0)].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(o.metadata, "five");
    }
    let l2 = listed[1].result.as_ref().expect("g2 offsets");
    assert_eq!(committed(l2, &tp(&topic, 0)), Some(1));
    assert_eq!(committed(l2, &tp(&topic, 1)), None, "{l2:?}");

    if harness::skip_on(
        !harness::broker_supports(47, 0),
        "Tansu does not offer OffsetDelete (API 47): delete_consumer_group_offsets is checked in the Apache Kafka stages",
    ) {
        return;
    }
    let r = admin
        .delete_consumer_group_offsets(&g1, &[tp(&topic, 0)], TIMEOUT)
        .expect("delete");
    let parts = r.result.expect("g1 delete");
    assert!(parts[&tp(&topic, 0)].is_ok(), "{parts:?}");
    let listed = admin
        .list_consumer_group_offsets(
            &[(g1.as_str(), ListConsumerGroupOffsetsSpec::all())],
            TIMEOUT,
        )
        .expect("list after delete");
    let l1 = listed[0].result.as_ref().expect("g1 offsets");
    assert_eq!(committed(l1, &tp(&topic, 0)), None, "{l1:?}");
    assert_eq!(committed(l1, &tp(&topic, 1)), Some(7));

    // A group that never existed: the whole group fails, not a partition.
    let nobody = harness::unique_topic("admin-goffsets-none");
    let r = admin
        .delete_consumer_group_offsets(&nobody, &[tp(&topic, 0)], TIMEOUT)
        .expect("delete for an unknown group");
    assert_eq!(
        r.result.as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupIdNotFound),
        "{:?}",
        r.result
    );
}

/// A static member (group.instance.id) of a live group: offsets cannot be
/// altered while it is a member and its subscribed topic's offsets cannot
/// be deleted; remove_members_from_consumer_group takes it out at once (an
/// unknown instance id fails on its own), after which the group is empty.
#[test]
fn remove_a_static_member_from_a_live_group() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no static-membership semantics (BROKERS.md); runs in the Apache Kafka stages",
    ) {
        return;
    }
    harness::init_logging();
    let topic = harness::unique_topic("admin-static");
    harness::create_topic(&topic, 2);
    let group = harness::unique_topic("admin-static-g");
    let instance = "admin-static-instance";
    let session = harness::group_session_timeout().as_millis().to_string();
    let heartbeat = (harness::group_session_timeout().as_millis() / 4).to_string();
    let bootstrap = harness::bootstrap();
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("group.instance.id", instance),
        ("session.timeout.ms", session.as_str()),
        ("heartbeat.interval.ms", heartbeat.as_str()),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])
    .expect("config");
    let mut consumer =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
    consumer
        .subscribe([&topic], prozess::consumer::NoOpRebalanceListener)
        .expect("subscribe");
    let start = Instant::now();
    while consumer.assignment().is_empty() {
        consumer.poll(Duration::from_millis(100)).expect("poll");
        assert!(start.elapsed() < Duration::from_secs(60), "no assignment");
    }
    consumer
        .commit_sync_offsets(
            [(tp(&topic, 0), OffsetAndMetadata::new(0))]
                .into_iter()
                .collect(),
        )
        .expect("commit");

    let mut admin = AdminClient::from_bootstrap(&bootstrap).expect("admin client");
    let r = admin
        .alter_consumer_group_offsets(
            &group,
            &[(tp(&topic, 0), OffsetAndMetadata::new(3))],
            TIMEOUT,
        )
        .expect("alter");
    let refused = match &r.result {
        Ok(parts) => parts[&tp(&topic, 0)]
            .clone()
            .expect_err("alter of a live group"),
        Err(e) => e.clone(),
    };
    eprintln!("alter of a live group: {refused}");
    let r = admin
        .delete_consumer_group_offsets(&group, &[tp(&topic, 0)], TIMEOUT)
        .expect("delete");
    let parts = r.result.expect("delete of a subscribed topic");
    assert_eq!(
        parts[&tp(&topic, 0)].as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupSubscribedToTopic)
    );

    let r = admin
        .remove_members_from_consumer_group(
            &group,
            &[
                MemberToRemove::new(instance),
                MemberToRemove::new("admin-static-nobody"),
            ],
            TIMEOUT,
        )
        .expect("remove members");
    let members = r.result.expect("remove members of the group");
    assert!(members[instance].is_ok(), "{members:?}");
    assert_eq!(
        members["admin-static-nobody"].as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownMemberId)
    );
    let description = admin
        .describe_groups(&[&group])
        .expect("describe")
        .remove(0);
    assert!(description.members.is_empty(), "{description:?}");
    assert_eq!(description.state, "Empty");
    // The removed member's own next heartbeat learns it is out; it is not
    // polled again, only closed.
    drop(consumer);
}
