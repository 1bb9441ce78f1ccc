//! prozess's own consumer and producer against the in-process cluster.

use std::time::Duration;

use prozess_consumer::{
    ConsumerConfig, KafkaConsumer, NoOpRebalanceListener, StringDeserializer, TopicPartition,
};
use prozess_mock::{ClusterConfig, MockCluster, MockClusterClient, MockTime};
use prozess_producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_protocol::{ApiKey, ErrorCode};

type Consumer = KafkaConsumer<String, String, MockClusterClient>;

fn cluster(brokers: i32) -> MockCluster {
    let config = ClusterConfig {
        group_initial_rebalance_delay: Duration::ZERO,
        ..ClusterConfig::default()
    };
    MockCluster::with_config(brokers, config, MockTime::new())
}

fn consumer(cluster: &MockCluster, props: &[(&str, &str)]) -> Consumer {
    let mut all = vec![("bootstrap.servers", "mock:9092")];
    all.extend_from_slice(props);
    let config = ConsumerConfig::from_properties(all).unwrap();
    let time = cluster.time();
    KafkaConsumer::with_client(
        config,
        cluster.client(),
        StringDeserializer,
        StringDeserializer,
        Box::new(move || time.now()),
    )
}

fn fill(cluster: &MockCluster, topic: &str, partition: i32, n: usize) {
    for i in 0..n {
        let v = format!("{topic}-{partition}-{i}");
        cluster
            .produce(topic, partition, &[(None, v.as_bytes())])
            .unwrap();
    }
}

#[test]
fn assigned_consumer_reads_everything_then_waits_in_mock_time() {
    let cluster = cluster(3);
    cluster.create_topic("t", 3);
    for p in 0..3 {
        fill(&cluster, "t", p, 5);
    }
    let mut c = consumer(&cluster, &[("auto.offset.reset", "earliest")]);
    c.assign((0..3).map(|p| TopicPartition::new("t", p)))
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let records = c.poll(Duration::from_millis(100)).unwrap();
        seen.extend(records.iter().map(|r| r.value.clone().unwrap()));
        if seen.len() == 15 {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen.len(), 15, "{seen:?}");
    assert_eq!(seen[0], "t-0-0");
    // Nothing more: a poll waits its whole timeout in mock time, not real time.
    let before = cluster.time().now();
    let records = c.poll(Duration::from_secs(60)).unwrap();
    assert!(records.is_empty());
    assert!(cluster.time().now() - before >= Duration::from_secs(60));
    assert_eq!(c.position(&TopicPartition::new("t", 1)).unwrap(), 5);
}

#[test]
fn out_of_range_fetch_resets_as_configured() {
    let cluster = cluster(1);
    cluster.create_topic("t", 1);
    fill(&cluster, "t", 0, 10);
    assert!(cluster.delete_records_before("t", 0, 4));
    let mut c = consumer(&cluster, &[("auto.offset.reset", "earliest")]);
    let tp = TopicPartition::new("t", 0);
    c.assign([tp.clone()]).unwrap();
    c.seek(&tp, 1).unwrap();
    let mut first = None;
    for _ in 0..10 {
        let records = c.poll(Duration::from_millis(100)).unwrap();
        first = records.iter().next().map(|r| r.offset);
        if first.is_some() {
            break;
        }
    }
    // OFFSET_OUT_OF_RANGE below the log start; the reset goes to it.
    assert_eq!(first, Some(4));
}

#[test]
fn producer_on_its_thread_and_consumer_on_the_test_thread() {
    let cluster = cluster(2);
    cluster.create_topic("orders", 2);
    let config =
        ProducerConfig::from_properties([("bootstrap.servers", "mock:9092"), ("linger.ms", "0")])
            .unwrap();
    let producer = KafkaProducer::with_client(
        config,
        StringSerializer,
        StringSerializer,
        cluster.client_for_thread(),
    )
    .unwrap();
    let mut offsets = Vec::new();
    for i in 0..10 {
        let md = producer
            .send(ProducerRecord::with_key(
                "orders",
                format!("k{}", i % 2),
                format!("v{i}"),
            ))
            .get()
            .unwrap();
        offsets.push((md.partition, md.offset));
    }
    producer.close(Duration::from_secs(5));
    let total: i64 = (0..2)
        .map(|p| cluster.high_watermark("orders", p).unwrap())
        .sum();
    assert_eq!(total, 10);
    // Idempotent producer (the default): a producer id was taken.
    assert!(cluster.request_count(ApiKey::InitProducerId) >= 1);

    let mut c = consumer(
        &cluster,
        &[
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
    );
    c.subscribe(["orders"], NoOpRebalanceListener).unwrap();
    let mut values = Vec::new();
    for _ in 0..50 {
        let records = c.poll(Duration::from_millis(200)).unwrap();
        values.extend(records.iter().map(|r| r.value.clone().unwrap()));
        if values.len() == 10 {
            break;
        }
    }
    assert_eq!(values.len(), 10, "{values:?}");
    c.commit_sync().unwrap();
    let committed: i64 = (0..2)
        .map(|p| cluster.committed("g", "orders", p).unwrap_or(0))
        .sum();
    assert_eq!(committed, 10);
}

#[test]
fn two_consumers_split_the_partitions() {
    let cluster = cluster(3);
    cluster.create_topic("t", 4);
    let props = [("group.id", "split"), ("auto.offset.reset", "earliest")];
    let mut a = consumer(&cluster, &props);
    let mut b = consumer(&cluster, &props);
    a.subscribe(["t"], NoOpRebalanceListener).unwrap();
    b.subscribe(["t"], NoOpRebalanceListener).unwrap();
    for _ in 0..200 {
        a.poll(Duration::from_millis(50)).unwrap();
        b.poll(Duration::from_millis(50)).unwrap();
        if a.assignment().len() == 2 && b.assignment().len() == 2 {
            break;
        }
    }
    let mut all: Vec<TopicPartition> = a.assignment().into_iter().chain(b.assignment()).collect();
    all.sort();
    assert_eq!(
        all,
        (0..4)
            .map(|p| TopicPartition::new("t", p))
            .collect::<Vec<_>>()
    );
    let (_, generation, members) = cluster.group("split").unwrap();
    assert_eq!(members.len(), 2);
    assert!(generation >= 1);

    // One leaves: the other gets everything.
    a.close(Duration::from_secs(5)).unwrap();
    for _ in 0..200 {
        b.poll(Duration::from_millis(50)).unwrap();
        if b.assignment().len() == 4 {
            break;
        }
    }
    assert_eq!(b.assignment().len(), 4);
}

#[test]
fn injected_errors_and_a_leader_move_are_survived() {
    let cluster = cluster(2);
    cluster.create_topic("t", 1);
    fill(&cluster, "t", 0, 3);
    let mut c = consumer(&cluster, &[("auto.offset.reset", "earliest")]);
    let tp = TopicPartition::new("t", 0);
    c.assign([tp.clone()]).unwrap();
    cluster.fail_next(ApiKey::Fetch, ErrorCode::NotLeaderOrFollower, 2);
    let (leader, _) = cluster.leader("t", 0).unwrap();
    cluster.move_leader("t", 0, 1 - leader);
    let mut n = 0;
    for _ in 0..50 {
        n += c.poll(Duration::from_millis(100)).unwrap().count();
        if n == 3 {
            break;
        }
    }
    assert_eq!(n, 3);
    // The broker that lost the lead answers no more fetches for it.
    fill(&cluster, "t", 0, 2);
    cluster.kill_broker(leader);
    for _ in 0..50 {
        n += c.poll(Duration::from_millis(100)).unwrap().count();
        if n == 5 {
            break;
        }
    }
    assert_eq!(n, 5);
}

#[test]
fn idempotent_producer_retries_injected_errors_without_duplicates() {
    let cluster = cluster(2);
    cluster.create_topic("t", 1);
    cluster.fail_next(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 2);
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", "mock:9092"),
        ("linger.ms", "0"),
        ("retry.backoff.ms", "1"),
    ])
    .unwrap();
    let producer = KafkaProducer::with_client(
        config,
        StringSerializer,
        StringSerializer,
        cluster.client_for_thread(),
    )
    .unwrap();
    let offsets: Vec<i64> = (0..5)
        .map(|i| {
            producer
                .send(ProducerRecord::new("t", format!("v{i}")))
                .get()
                .unwrap()
                .offset
        })
        .collect();
    producer.close(Duration::from_secs(5));
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    assert_eq!(cluster.high_watermark("t", 0), Some(5));
    assert!(cluster.request_count(ApiKey::Produce) >= 7);
}

#[test]
fn group_survives_its_coordinator_dying() {
    let cluster = cluster(3);
    cluster.create_topic("t", 2);
    fill(&cluster, "t", 0, 2);
    fill(&cluster, "t", 1, 2);
    let mut c = consumer(
        &cluster,
        &[
            ("group.id", "g2"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
    );
    c.subscribe(["t"], NoOpRebalanceListener).unwrap();
    let mut n = 0;
    for _ in 0..50 {
        n += c.poll(Duration::from_millis(100)).unwrap().count();
        if n == 4 {
            break;
        }
    }
    assert_eq!(n, 4);
    c.commit_sync().unwrap();
    // Kill the coordinator; the group (with its offsets) moves to another
    // broker, which the consumer finds again.
    let before = cluster.request_count(ApiKey::FindCoordinator);
    let coordinator = coordinator_of(&cluster, "g2");
    cluster.kill_broker(coordinator);
    fill(&cluster, "t", 0, 1);
    fill(&cluster, "t", 1, 1);
    for _ in 0..100 {
        n += c.poll(Duration::from_millis(100)).unwrap().count();
        if n == 6 {
            break;
        }
    }
    assert_eq!(n, 6);
    c.commit_sync().unwrap();
    assert!(cluster.request_count(ApiKey::FindCoordinator) > before);
    assert_eq!(cluster.committed("g2", "t", 0), Some(3));
    assert_eq!(cluster.committed("g2", "t", 1), Some(3));
}

/// The broker FindCoordinator names for `group` now.
fn coordinator_of(cluster: &MockCluster, group: &str) -> i32 {
    use prozess_network::KafkaClient;
    use prozess_protocol::messages::FindCoordinatorRequest;
    use prozess_protocol::ResponseBody;
    let time = cluster.time();
    let mut client = cluster.client();
    let node = client.least_loaded_node(time.now()).unwrap();
    assert!(client.ready(node, time.now()));
    let r = FindCoordinatorRequest {
        key: group.to_string(),
        ..Default::default()
    };
    client
        .send_with_version(node, r.into(), 3, time.now())
        .unwrap();
    for e in client.poll(Duration::ZERO, time.now()) {
        if let prozess_network::ClientEvent::Response(r) = e {
            if let ResponseBody::FindCoordinator(f) = r.body {
                return f.node_id;
            }
        }
    }
    panic!("no FindCoordinator answer");
}

#[test]
fn a_member_that_stops_polling_is_expired_by_its_session_on_mock_time() {
    let cluster = cluster(1);
    cluster.create_topic("t", 2);
    let props = [
        ("group.id", "expiry"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
    ];
    let mut a = consumer(&cluster, &props);
    let mut b = consumer(&cluster, &props);
    a.subscribe(["t"], NoOpRebalanceListener).unwrap();
    b.subscribe(["t"], NoOpRebalanceListener).unwrap();
    for _ in 0..200 {
        a.poll(Duration::from_millis(50)).unwrap();
        b.poll(Duration::from_millis(50)).unwrap();
        if a.assignment().len() == 1 && b.assignment().len() == 1 {
            break;
        }
    }
    assert_eq!((a.assignment().len(), b.assignment().len()), (1, 1));
    // A stops polling (no heartbeat thread with with_client); B polls on.
    let start = cluster.time().now();
    for _ in 0..400 {
        b.poll(Duration::from_millis(100)).unwrap();
        if b.assignment().len() == 2 {
            break;
        }
    }
    assert_eq!(b.assignment().len(), 2);
    let waited = cluster.time().now() - start;
    assert!(
        waited >= Duration::from_secs(10),
        "expired after {waited:?}"
    );
    let (_, _, members) = cluster.group("expiry").unwrap();
    assert_eq!(members.len(), 1);
}
