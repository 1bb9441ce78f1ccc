//! KIP-848 consumer groups through the AdminClient: list_groups with type
//! and state filters (ListGroups v5) and describe_consumer_groups
//! (ConsumerGroupDescribe), next to a classic group. Apache Kafka only:
//! Tansu has no ConsumerGroupHeartbeat (BROKERS.md).

use std::time::{Duration, Instant};

use prozess::admin::{AdminClient, ListGroupsOptions};
use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer};
use prozess::{ErrorCode, TopicPartition};
use prozess_integration_tests as harness;

const TIMEOUT: Duration = Duration::from_secs(30);

type Consumer = KafkaConsumer<String, String>;

fn member(group: &str, topic: &str, protocol: &str) -> Consumer {
    let bootstrap = harness::bootstrap();
    let session = harness::group_session_timeout().as_millis().to_string();
    let heartbeat = (harness::group_session_timeout().as_millis() / 4).to_string();
    let mut props = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group),
        ("group.protocol", protocol),
        ("client.id", "admin-kip848-test"),
        ("enable.auto.commit", "false"),
    ];
    if protocol == "classic" {
        props.push(("session.timeout.ms", session.as_str()));
        props.push(("heartbeat.interval.ms", heartbeat.as_str()));
    }
    let config = ConsumerConfig::from_properties(props).expect("config");
    let mut c =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
    c.subscribe([topic], prozess::consumer::NoOpRebalanceListener)
        .expect("subscribe");
    c
}

/// Polls every consumer until each has `partitions` partitions.
fn settle(consumers: &mut [&mut Consumer], partitions: usize) {
    let start = Instant::now();
    while consumers.iter().any(|c| c.assignment().len() != partitions) {
        for c in consumers.iter_mut() {
            c.poll(Duration::from_millis(50)).expect("poll");
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the groups did not settle"
        );
    }
}

// Ignored (counted as skipped): in 2 of 4 CI runs on a freshly started
// Kafka, ConsumerGroupDescribe answered GROUP_ID_NOT_FOUND for 30 s for a
// KIP-848 group whose member held its assignment and which ListGroups
// listed; it passed in the other runs and on dev clusters. Not understood
// yet; run it with `--include-ignored` on a Kafka cluster.
#[test]
#[ignore = "flaky on a fresh Kafka: ConsumerGroupDescribe says GROUP_ID_NOT_FOUND for a live KIP-848 group (under investigation)"]
fn list_and_describe_kip_848_groups() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no ConsumerGroupHeartbeat/ConsumerGroupDescribe (KIP-848) nor ListGroups \
         type filters; runs in the Apache Kafka stages",
    ) {
        return;
    }
    harness::init_logging();
    let topic = harness::unique_topic("admin-kip848");
    harness::create_topic(&topic, 2);
    let new_group = harness::unique_topic("admin-kip848-new");
    let classic_group = harness::unique_topic("admin-kip848-classic");
    let mut new_member = member(&new_group, &topic, "consumer");
    let mut classic_member = member(&classic_group, &topic, "classic");
    settle(&mut [&mut new_member, &mut classic_member], 2);

    let mut admin = AdminClient::from_bootstrap(&harness::bootstrap()).expect("admin client");
    let ids = |options: &ListGroupsOptions, admin: &mut AdminClient| -> Vec<String> {
        admin
            .list_groups_with(options)
            .expect("list_groups")
            .into_iter()
            .map(|g| g.group_id)
            .filter(|g| *g == new_group || *g == classic_group)
            .collect()
    };
    let consumer_type = ListGroupsOptions::default().with_types(["consumer"]);
    assert_eq!(
        ids(&consumer_type, &mut admin),
        std::slice::from_ref(&new_group)
    );
    let classic_type = ListGroupsOptions::default().with_types(["classic"]);
    assert_eq!(
        ids(&classic_type, &mut admin),
        std::slice::from_ref(&classic_group)
    );
    let both = ListGroupsOptions::for_consumer_groups().timeout(TIMEOUT);
    assert_eq!(ids(&both, &mut admin).len(), 2);
    // Nothing is "Dead" while both have a member.
    let dead = ListGroupsOptions::for_consumer_groups().in_states(["Dead"]);
    assert!(ids(&dead, &mut admin).is_empty());
    let listing = admin
        .list_groups_with(&consumer_type)
        .expect("list")
        .into_iter()
        .find(|g| g.group_id == new_group)
        .expect("the KIP-848 group is listed");
    assert_eq!(listing.group_type.as_deref(), Some("consumer"));
    let state = listing.state.clone().expect("a state from ListGroups v4+");
    let in_state = ListGroupsOptions::default()
        .with_types(["consumer"])
        .in_states([state.clone()]);
    assert_eq!(
        ids(&in_state, &mut admin),
        std::slice::from_ref(&new_group),
        "state {state}"
    );

    // ConsumerGroupDescribe reads the coordinator's committed state, which
    // may lag the member's first heartbeats a moment (GROUP_ID_NOT_FOUND
    // while the group's records commit, seen on a freshly loaded
    // coordinator): ask again until the group is there.
    let start = Instant::now();
    let described = loop {
        let described = admin
            .describe_consumer_groups(&[&new_group, &classic_group], TIMEOUT)
            .expect("describe_consumer_groups");
        let not_yet =
            matches!(&described[0].result, Err(e) if e.code() == Some(ErrorCode::GroupIdNotFound));
        if !not_yet || start.elapsed() > Duration::from_secs(30) {
            break described;
        }
        for m in [&mut new_member, &mut classic_member] {
            let _ = m.poll(Duration::from_millis(100));
        }
    };
    let g = described[0].result.as_ref().expect("the KIP-848 group");
    assert_eq!(g.group_id, new_group);
    assert_eq!(g.members.len(), 1, "{g:?}");
    let m = &g.members[0];
    assert_eq!(m.client_id, "admin-kip848-test");
    assert_eq!(m.subscribed_topic_names, std::slice::from_ref(&topic));
    let all = vec![
        TopicPartition::new(&*topic, 0),
        TopicPartition::new(&*topic, 1),
    ];
    assert_eq!(m.target_assignment, all, "{g:?}");
    assert!(g.group_epoch >= 1);
    assert!(!g.assignor.is_empty());
    let classic = described[1].result.as_ref().unwrap_err();
    assert_eq!(
        classic.code(),
        Some(ErrorCode::GroupIdNotFound),
        "{classic}"
    );

    new_member.close(Duration::from_secs(10)).expect("close");
    classic_member
        .close(Duration::from_secs(10))
        .expect("close");
}
