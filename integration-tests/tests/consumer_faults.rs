//! The consumer fetching through the fault proxy: connections dropped and
//! responses cut mid-stream lose and duplicate nothing.

use std::time::{Duration, Instant};

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;

#[test]
fn dropped_connections_and_cut_responses_lose_and_duplicate_nothing() {
    if harness::skip_if_external("the fault proxy needs a broker of its own that advertises it") {
        return;
    }
    let pb = harness::Broker::start_behind_proxy().expect("broker behind proxy");
    let bootstrap = pb.bootstrap();
    let topic = harness::unique_topic("consumer-faults");
    harness::create_topic_on(&bootstrap, &topic, 2).expect("create topic");

    const N: usize = 3000;
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "5"),
        ("batch.size", "2000"),
    ])
    .expect("producer config");
    let p: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    let futures: Vec<_> = (0..N)
        .map(|i| {
            p.send(
                ProducerRecord::with_key(topic.clone(), format!("k{i}"), format!("v{i}"))
                    .partition((i % 2) as i32),
            )
        })
        .collect();
    p.flush();
    for f in &futures {
        f.get().expect("delivered");
    }
    p.close(Duration::from_secs(10));

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", "50"),
        ("max.partition.fetch.bytes", "4000"),
        ("fetch.max.wait.ms", "100"),
        ("reconnect.backoff.ms", "10"),
        ("request.timeout.ms", "5000"),
    ])
    .expect("consumer config");
    let mut c: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
    let tps = [
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    ];
    c.assign(tps.clone()).unwrap();

    let mut seen: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    let mut next_offset = [0i64, 0];
    let start = Instant::now();
    let mut polls = 0;
    while seen.iter().map(Vec::len).sum::<usize>() < N {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "stalled after {} records",
            seen.iter().map(Vec::len).sum::<usize>()
        );
        polls += 1;
        match polls % 7 {
            3 => pb.proxy.drop_all(),
            5 => pb.proxy.cut_next_response(),
            _ => {}
        }
        for r in c.poll(Duration::from_millis(200)).expect("poll") {
            let p = r.partition as usize;
            assert_eq!(
                r.offset, next_offset[p],
                "no gap, no duplicate on partition {p}"
            );
            next_offset[p] += 1;
            seen[p].push(r.value.unwrap_or_default());
        }
    }
    for (p, got) in seen.iter().enumerate() {
        let want: Vec<String> = (0..N)
            .filter(|i| i % 2 == p)
            .map(|i| format!("v{i}"))
            .collect();
        assert_eq!(*got, want, "partition {p}");
    }
    assert!(
        pb.proxy.accepted_count() > 2,
        "the faults really reconnected"
    );
    // Nothing more arrives.
    assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
}
