//! Cluster operations through the AdminClient on Apache Kafka: an open
//! transaction seen by list_transactions, describe_transactions and
//! describe_producers; describe_log_dirs; elect_leaders. Tansu lacks these
//! APIs (DescribeLogDirs, ElectLeaders, DescribeProducers, ListTransactions,
//! DescribeTransactions).

use std::time::Duration;

use prozess::admin::{AdminClient, ElectionType};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess::{ErrorCode, TopicPartition};
use prozess_integration_tests as harness;

const T: Duration = Duration::from_secs(30);

#[test]
fn transactions_producers_log_dirs_and_elections() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no DescribeLogDirs, ElectLeaders, DescribeProducers, ListTransactions or \
         DescribeTransactions; runs in the Apache Kafka stages",
    ) {
        return;
    }
    harness::init_logging();
    let topic = harness::unique_topic("admin-cluster");
    harness::create_topic(&topic, 2);
    let tp0 = TopicPartition::new(&*topic, 0);
    let tp1 = TopicPartition::new(&*topic, 1);
    let txn_id = harness::unique_topic("admin-cluster-txn");
    let bootstrap = harness::bootstrap();
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("transactional.id", txn_id.as_str()),
    ])
    .expect("producer config");
    let producer: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    producer.init_transactions(T).expect("init_transactions");
    producer.begin_transaction().expect("begin");
    let mut record = ProducerRecord::with_key(topic.clone(), "k".to_string(), "v".to_string());
    record.partition = Some(0);
    producer
        .send(record)
        .get()
        .expect("send in the transaction");

    let mut admin = AdminClient::from_bootstrap(&bootstrap).expect("admin client");
    let listed = admin
        .list_transactions(&["Ongoing"], T)
        .expect("list_transactions");
    let mine = listed
        .iter()
        .find(|t| t.transactional_id == txn_id)
        .unwrap_or_else(|| panic!("{txn_id} not in {listed:?}"));
    assert_eq!(mine.state, "Ongoing");

    let described = admin
        .describe_transactions(&[txn_id.as_str(), "admin-cluster-no-such-txn"], T)
        .expect("describe_transactions");
    let d = described[0].1.as_ref().expect("the open transaction");
    assert_eq!(d.state, "Ongoing");
    assert_eq!(d.producer_id, mine.producer_id);
    assert!(d.topic_partitions.contains(&tp0), "{d:?}");
    assert_eq!(
        described[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::TransactionalIdNotFound)
    );

    let producers = admin
        .describe_producers(&[tp0.clone(), tp1.clone()], T)
        .expect("describe_producers");
    let on0 = producers[&tp0].as_ref().expect("partition 0");
    let p = on0
        .iter()
        .find(|p| p.producer_id == mine.producer_id)
        .unwrap_or_else(|| panic!("{on0:?}"));
    assert_eq!(p.current_transaction_start_offset, Some(0));
    assert!(producers[&tp1].as_ref().expect("partition 1").is_empty());
    producer.commit_transaction(T).expect("commit");
    producer.close(Duration::from_secs(10));

    let cluster = admin.describe_cluster().expect("describe_cluster");
    let ids: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
    let dirs = admin.describe_log_dirs(&ids, T);
    let replicas: Vec<&TopicPartition> = dirs
        .iter()
        .flat_map(|(_, r)| r.as_ref().expect("log dirs").iter())
        .flat_map(|d| d.replicas.keys())
        .filter(|tp| tp.topic == topic)
        .collect();
    assert!(
        replicas.contains(&&tp0) && replicas.contains(&&tp1),
        "{dirs:?}"
    );

    let elected = admin
        .elect_leaders(ElectionType::Preferred, Some(std::slice::from_ref(&tp0)), T)
        .expect("elect_leaders");
    // The preferred leader leads already.
    assert_eq!(
        elected[&tp0].as_ref().unwrap_err().code(),
        Some(ErrorCode::ElectionNotNeeded),
        "{elected:?}"
    );
}
