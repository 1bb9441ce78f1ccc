//! The cluster served on 127.0.0.1 sockets, used by prozess's own
//! NetworkClient, producer and consumer (real threads, real time).

use std::time::{Duration, Instant};

use prozess_consumer::{ConsumerConfig, KafkaConsumer, NoOpRebalanceListener, StringDeserializer};
use prozess_mock::{ClusterConfig, MockCluster, MockTime};
use prozess_network::{ClientEvent, KafkaClient, NetworkClient, NetworkConfig};
use prozess_producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_protocol::messages::ApiVersionsRequest;
use prozess_protocol::ResponseBody;

#[test]
fn network_client_negotiates_and_gets_metadata() {
    let cluster = MockCluster::new(3);
    cluster.create_topic("t", 3);
    let served = cluster.bootstrap().unwrap();
    let mut client = NetworkClient::new(NetworkConfig::new([served.bootstrap_servers()])).unwrap();
    client.metadata_mut().add_topics(["t"]);
    client.metadata_mut().request_update();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .metadata()
        .partitions_for("t")
        .is_none_or(|p| p.len() != 3)
    {
        assert!(Instant::now() < deadline, "no metadata for t");
        client.poll(Duration::from_millis(50), Instant::now());
    }
    assert_eq!(client.metadata().brokers().len(), 3);
    let leader = client
        .metadata()
        .leader_for(&prozess_network::TopicPartition::new("t", 1))
        .unwrap();
    while !client.ready(leader, Instant::now()) {
        assert!(Instant::now() < deadline, "broker {leader} never ready");
        client.poll(Duration::from_millis(50), Instant::now());
    }
    client
        .send(leader, ApiVersionsRequest::default().into(), Instant::now())
        .unwrap();
    let answered = loop {
        assert!(Instant::now() < deadline, "no ApiVersions answer");
        let events = client.poll(Duration::from_millis(50), Instant::now());
        if let Some(ClientEvent::Response(r)) = events
            .into_iter()
            .find(|e| matches!(e, ClientEvent::Response(_)))
        {
            break r;
        }
    };
    let ResponseBody::ApiVersions(v) = answered.body else {
        panic!("{answered:?}")
    };
    assert!(v.api_keys.len() >= 10);
}

#[test]
fn producer_and_group_consumer_over_sockets() {
    let config = ClusterConfig {
        group_initial_rebalance_delay: Duration::ZERO,
        ..ClusterConfig::default()
    };
    let cluster = MockCluster::with_config(2, config, MockTime::new());
    cluster.create_topic("events", 2);
    let served = cluster.bootstrap().unwrap();
    let servers = served.bootstrap_servers();
    let producer = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", servers.as_str()),
            ("linger.ms", "0"),
        ])
        .unwrap(),
        StringSerializer,
        StringSerializer,
    )
    .unwrap();
    for i in 0..20 {
        producer
            .send(ProducerRecord::with_key(
                "events",
                format!("k{i}"),
                format!("v{i}"),
            ))
            .get()
            .unwrap();
    }
    producer.close(Duration::from_secs(5));
    assert_eq!(
        cluster.high_watermark("events", 0).unwrap() + cluster.high_watermark("events", 1).unwrap(),
        20
    );

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", servers.as_str()),
        ("group.id", "sockets"),
        ("auto.offset.reset", "earliest"),
    ])
    .unwrap();
    let mut consumer: KafkaConsumer<String, String, NetworkClient> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).unwrap();
    consumer
        .subscribe(["events"], NoOpRebalanceListener)
        .unwrap();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while n < 20 && Instant::now() < deadline {
        n += consumer.poll(Duration::from_millis(100)).unwrap().count();
    }
    assert_eq!(n, 20);
    consumer.commit_sync().unwrap();
    assert_eq!(
        cluster.committed("sockets", "events", 0).unwrap()
            + cluster.committed("sockets", "events", 1).unwrap(),
        20
    );
    consumer.close(Duration::from_secs(5)).unwrap();
}
