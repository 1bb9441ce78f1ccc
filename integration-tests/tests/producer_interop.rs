//! The producer against a real broker: data in every codec reads back
//! exactly with librdkafka (kcat); keyed records land where the Java client
//! would put them; acks=0 works; an oversized record fails clearly and the
//! producer goes on; connections cut mid-produce give neither duplicates nor
//! gaps with idempotence on.

use std::time::Duration;

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};
use prozess::producer::{
    partitioner::partition_for_key, Acks, CompressionType, Error, KafkaProducer, ProducerConfig,
    ProducerRecord, StringSerializer, SyncProducer,
};
use prozess_integration_tests as harness;

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("linger.ms", "5"),
        ("max.block.ms", "20000"),
        ("delivery.timeout.ms", "60000"),
        ("request.timeout.ms", "10000"),
    ];
    props.extend_from_slice(extra);
    let config = ProducerConfig::from_properties(props).expect("config");
    KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer")
}

fn records(n: usize, tag: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("k{i}"), format!("{tag}-value-{i}")))
        .collect()
}

#[test]
fn every_codec_reads_back_exactly_with_librdkafka_and_prozess() {
    let bootstrap = harness::bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = harness::unique_topic(&format!("producer-codec-{codec}"));
        harness::create_topic(&topic, 1);
        let p = producer(&bootstrap, &[("compression.type", codec)]);
        let want = records(200, codec);
        let futures: Vec<_> = want
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                p.send(
                    ProducerRecord::with_key(topic.clone(), k.clone(), v.clone())
                        .timestamp(1_700_000_000_000 + i as i64)
                        .header("codec", codec.to_string()),
                )
            })
            .collect();
        p.flush();
        let offsets: Vec<i64> = futures
            .iter()
            .map(|f| f.get().expect("delivered").offset)
            .collect();
        assert_eq!(offsets, (0..200).collect::<Vec<i64>>(), "{codec}");
        p.close(Duration::from_secs(10));
        let got = harness::peer::kcat_consume(&bootstrap, &topic, 0).expect("kcat consume");
        let got: Vec<(String, String)> = got.into_iter().map(|(k, v, _)| (k, v)).collect();
        assert_eq!(got, want, "{codec}");
        // And prozess's own consumer reads the same, headers and timestamps too.
        let config = ConsumerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()
            .expect("consumer config");
        let mut consumer: KafkaConsumer<String, String> =
            KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
        let tp = TopicPartition::new(topic.clone(), 0);
        consumer.assign([tp.clone()]).expect("assign");
        consumer.seek(&tp, 0).expect("seek");
        let mut read = Vec::new();
        for _ in 0..100 {
            for r in consumer.poll(Duration::from_millis(200)).expect("poll") {
                assert_eq!(r.timestamp, 1_700_000_000_000 + r.offset, "{codec}");
                assert_eq!(r.headers.len(), 1, "{codec}");
                assert_eq!(r.headers[0].key, "codec");
                assert_eq!(r.headers[0].value.as_deref(), Some(codec.as_bytes()));
                read.push((
                    r.key.clone().unwrap_or_default(),
                    r.value.clone().unwrap_or_default(),
                ));
            }
            if read.len() >= want.len() {
                break;
            }
        }
        assert_eq!(read, want, "{codec} via prozess");
    }
}

#[test]
fn keyed_records_land_on_the_java_partition() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("producer-murmur2");
    harness::create_topic(&topic, 6);
    let p = SyncProducer::new(producer(&bootstrap, &[]));
    for i in 0..60 {
        let key = format!("user-{i}");
        let md = p
            .send(ProducerRecord::with_key(
                topic.clone(),
                key.clone(),
                "v".to_string(),
            ))
            .expect("send");
        assert_eq!(md.partition, partition_for_key(key.as_bytes(), 6), "{key}");
    }
    // librdkafka's murmur2 partitioner (the Java-compatible one) agrees.
    let script = r#"
import sys, json
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "partitioner": "murmur2"})
got = {}
def cb(err, msg):
    if err is None:
        got[msg.key().decode()] = msg.partition()
for i in range(60):
    p.produce(sys.argv[2], key=("user-%d" % i).encode(), value=b"x", on_delivery=cb)
p.flush(30)
print(json.dumps(got))
"#;
    let out = harness::peer::run_python(script, &[&bootstrap, &topic], Duration::from_secs(120))
        .expect("librdkafka producer");
    let line = out.lines().last().unwrap_or_default();
    for i in 0..60 {
        let key = format!("user-{i}");
        let needle = format!("\"{key}\": {}", partition_for_key(key.as_bytes(), 6));
        assert!(
            line.contains(&needle),
            "librdkafka put {key} elsewhere: {line}"
        );
    }
    p.close(Duration::from_secs(10));
}

#[test]
fn acks_zero_delivers() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("producer-acks0");
    harness::create_topic(&topic, 1);
    let p = producer(&bootstrap, &[("acks", "0")]);
    let want = records(50, "acks0");
    let futures: Vec<_> = want
        .iter()
        .map(|(k, v)| {
            p.send(ProducerRecord::with_key(
                topic.clone(),
                k.clone(),
                v.clone(),
            ))
        })
        .collect();
    p.flush();
    for f in futures {
        let md = f.get().expect("written");
        assert_eq!(md.offset, -1, "acks=0 has no offsets");
    }
    p.close(Duration::from_secs(10));
    // Nothing acknowledged, so wait for the data to show up.
    let mut got = Vec::new();
    for _ in 0..50 {
        got = harness::peer::kcat_consume(&bootstrap, &topic, 0).expect("consume");
        if got.len() >= want.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let got: Vec<(String, String)> = got.into_iter().map(|(k, v, _)| (k, v)).collect();
    assert_eq!(got, want);
}

#[test]
fn oversized_record_fails_clearly_and_the_producer_goes_on() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("producer-too-large");
    harness::create_topic(&topic, 1);
    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap.clone())
        .max_request_size(10_000)
        .acks(Acks::All)
        .compression_type(CompressionType::Lz4)
        .build()
        .expect("config");
    let p = SyncProducer::new(
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer"),
    );
    let err = p
        .send(ProducerRecord::new(topic.clone(), "x".repeat(20_000)))
        .expect_err("too large");
    assert!(
        matches!(
            err,
            Error::RecordTooLarge {
                limit: "max.request.size",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max.request.size"), "{err}");
    let md = p
        .send(ProducerRecord::with_key(
            topic.clone(),
            "k".into(),
            "small".into(),
        ))
        .expect("the next record goes through");
    assert_eq!(md.offset, 0);
    p.close(Duration::from_secs(10));
}

#[test]
fn cut_connections_give_no_duplicates_and_no_gaps_with_idempotence() {
    if harness::skip_if_external("the fault proxy needs a broker of its own") {
        return;
    }
    let pb = harness::Broker::start_behind_proxy().expect("broker behind proxy");
    let bootstrap = pb.bootstrap();
    let topic = harness::unique_topic("producer-faults");
    harness::create_topic_on(&bootstrap, &topic, 1).expect("create topic");
    let p = producer(
        &bootstrap,
        &[("retry.backoff.ms", "20"), ("reconnect.backoff.ms", "20")],
    );
    assert!(p.config().idempotence());
    let n = 600;
    let mut futures = Vec::new();
    for i in 0..n {
        futures.push(p.send(ProducerRecord::with_key(
            topic.clone(),
            format!("k{i}"),
            format!("v{i}"),
        )));
        if i % 100 == 50 {
            // The broker writes the batch but its response is cut off: the
            // retry must not write it again.
            pb.proxy.cut_next_response();
        }
        if i % 200 == 150 {
            pb.proxy.drop_all();
        }
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    p.flush();
    for f in &futures {
        f.get().expect("delivered despite the faults");
    }
    assert!(
        pb.proxy.cuts_done() > 0,
        "no response was cut: the test proved nothing"
    );
    p.close(Duration::from_secs(10));
    let got = harness::peer::kcat_consume(&bootstrap, &topic, 0).expect("consume");
    let values: Vec<String> = got.iter().map(|(_, v, _)| v.clone()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    assert_eq!(values.len(), want.len(), "duplicates or gaps");
    assert_eq!(values, want);
}

#[test]
fn stalled_broker_times_out_requests_and_retries_without_duplicates() {
    if harness::skip_if_external("the fault proxy needs a broker of its own") {
        return;
    }
    let pb = harness::Broker::start_behind_proxy().expect("broker behind proxy");
    let bootstrap = pb.bootstrap();
    let topic = harness::unique_topic("producer-stall");
    harness::create_topic_on(&bootstrap, &topic, 1).expect("create topic");
    let p = producer(
        &bootstrap,
        &[
            ("request.timeout.ms", "800"),
            ("delivery.timeout.ms", "60000"),
            ("retry.backoff.ms", "50"),
            ("reconnect.backoff.ms", "50"),
        ],
    );
    let send = |range: std::ops::Range<usize>| -> Vec<_> {
        range
            .map(|i| p.send(ProducerRecord::new(topic.clone(), format!("v{i}"))))
            .collect()
    };
    let mut futures = send(0..100);
    p.flush();
    // Requests now get no answer until their timeout: the client closes the
    // connection and retries, while the broker may still get the old bytes.
    let connections_before = pb.proxy.accepted_count();
    pb.proxy.stall(true);
    futures.extend(send(100..200));
    std::thread::sleep(Duration::from_millis(2000));
    pb.proxy.stall(false);
    futures.extend(send(200..300));
    p.flush();
    for f in &futures {
        f.get().expect("delivered after the stall");
    }
    assert!(
        pb.proxy.accepted_count() > connections_before,
        "the timed-out connection was replaced"
    );
    p.close(Duration::from_secs(10));
    let got = harness::peer::kcat_consume(&bootstrap, &topic, 0).expect("consume");
    let values: Vec<String> = got.into_iter().map(|(_, v, _)| v).collect();
    let want: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    assert_eq!(values, want);
}

#[test]
fn sending_to_a_new_topic_waits_for_its_auto_creation() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("producer-autocreate");
    let p = SyncProducer::new(producer(&bootstrap, &[]));
    let md = p
        .send(ProducerRecord::with_key(
            topic.clone(),
            "k".into(),
            "v".into(),
        ))
        .expect("the broker creates the topic on first use");
    assert_eq!(md.offset, 0);
    assert!(!p
        .producer()
        .partitions_for(&topic)
        .expect("partitions")
        .is_empty());
    p.close(Duration::from_secs(10));
}
