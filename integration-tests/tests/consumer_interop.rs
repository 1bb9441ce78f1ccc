//! Records written by librdkafka (confluent-kafka, the independent peer) in
//! every compression codec, with keys, null keys and values, headers and
//! timestamps, read back exactly by the prozess consumer; and kcat's line
//! format read back by the `consume` example's kind of loop.

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::peer_py::PeerRecord;
use prozess::consumer::{BytesDeserializer, ConsumerConfig, KafkaConsumer, TopicPartition};
use prozess_integration_tests as harness;

fn consumer(extra: &[(&str, &str)]) -> KafkaConsumer<Bytes, Bytes> {
    let bootstrap = harness::bootstrap();
    let mut props = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
    ];
    props.extend_from_slice(extra);
    let config = ConsumerConfig::from_properties(props).expect("config");
    KafkaConsumer::new(config, BytesDeserializer, BytesDeserializer).expect("consumer")
}

fn read_all(tp: &TopicPartition, n: usize, extra: &[(&str, &str)]) -> Vec<PeerRecord> {
    let mut c = consumer(extra);
    c.assign([tp.clone()]).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < Duration::from_secs(60) {
        for r in c.poll(Duration::from_millis(200)).expect("poll") {
            out.push(PeerRecord {
                partition: Some(r.partition),
                offset: Some(r.offset),
                key: r.key.map(|k| k.to_vec()),
                value: r.value.map(|v| v.to_vec()),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
                    .collect(),
                timestamp: Some(r.timestamp),
            });
        }
    }
    // Nothing more than what was written.
    assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
    out
}

fn records(codec: &str) -> Vec<PeerRecord> {
    (0..300)
        .map(|i| {
            let mut r = PeerRecord::new(
                format!("key-{i}"),
                format!("{codec}-value-{i}-{}", "x".repeat(i % 50)),
            );
            match i % 10 {
                0 => r.key = None,
                1 => r.value = None,
                2 => r.headers = vec![("h1".into(), Some(b"a".to_vec())), ("h1".into(), None)],
                3 => r.value = Some(vec![0, 159, 146, 150, 255]),
                _ => r.headers = vec![("trace".into(), Some(format!("t{i}").into_bytes()))],
            }
            r.timestamp = Some(1_700_000_000_000 + i as i64);
            r.partition = Some(0);
            r
        })
        .collect()
}

#[test]
fn librdkafka_data_in_every_codec_reads_back_exactly() {
    let bootstrap = harness::bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = harness::unique_topic(&format!("consumer-codec-{codec}"));
        harness::create_topic(&topic, 1);
        let want = records(codec);
        let acks = harness::peer_py::produce(
            &bootstrap,
            &topic,
            &want,
            &[("compression.type", codec), ("linger.ms", "20")],
        )
        .expect("peer produce");
        assert_eq!(acks.len(), want.len());
        let tp = TopicPartition::new(&topic, 0);
        for extra in [
            &[][..],
            &[
                ("max.poll.records", "7"),
                ("max.partition.fetch.bytes", "2000"),
            ][..],
        ] {
            let got = read_all(&tp, want.len(), extra);
            assert_eq!(got.len(), want.len(), "{codec} {extra:?}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.offset, Some(i as i64), "{codec}");
                assert_eq!(g.key, w.key, "{codec} record {i}");
                assert_eq!(g.value, w.value, "{codec} record {i}");
                assert_eq!(g.headers, w.headers, "{codec} record {i}");
                assert_eq!(g.timestamp, w.timestamp, "{codec} record {i}");
            }
        }
    }
}

#[test]
fn kcat_lines_read_back() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("consumer-kcat");
    harness::create_topic(&topic, 1);
    let lines: Vec<(String, String)> = (0..50)
        .map(|i| (format!("k{i}"), format!("line {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = lines
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    harness::peer::kcat_produce(&bootstrap, &topic, 0, &refs).expect("kcat produce");
    let got = read_all(&TopicPartition::new(&topic, 0), 50, &[]);
    let got: Vec<(String, String)> = got
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.key.unwrap()).unwrap(),
                String::from_utf8(r.value.unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, lines);
}
