//! The librdkafka peer works against the broker under test: kcat runs on the
//! wheel's librdkafka 2.16, lists metadata and round-trips records, and the
//! confluent-kafka Python API reads what kcat wrote.

use std::time::Duration;

use harness::peer;
use harness::process::run_with_timeout;
use prozess_integration_tests as harness;

#[test]
fn kcat_runs_on_librdkafka_2_16() {
    let v = peer::kcat_librdkafka_version().expect("kcat -V");
    assert!(v.starts_with("2.16"), "kcat uses librdkafka {v}");
}

#[test]
fn kcat_lists_a_created_topic() {
    let topic = harness::unique_topic("harness-kcat-list");
    harness::create_topic(&topic, 2);
    let out = run_with_timeout(
        peer::kcat().args(["-L", "-b", &harness::bootstrap(), "-t", &topic, "-m", "10"]),
        b"",
        Duration::from_secs(60),
    )
    .expect("kcat -L");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kcat -L failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("topic \"{topic}\" with 2 partitions")),
        "kcat -L output: {text}"
    );
}

#[test]
fn kcat_round_trip() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("harness-kcat-rt");
    harness::create_topic(&topic, 1);
    let records: Vec<(String, String)> = (0..50)
        .map(|i| (format!("key-{i}"), format!("value {i} äöü")))
        .collect();
    let refs: Vec<(&str, &str)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    peer::kcat_produce(&bootstrap, &topic, 0, &refs).expect("produce");
    let got = peer::kcat_consume(&bootstrap, &topic, 0).expect("consume");
    let expected: Vec<(String, String, i64)> = records
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| (k, v, i as i64))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn confluent_kafka_reads_what_kcat_wrote() {
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("harness-py");
    harness::create_topic(&topic, 1);
    peer::kcat_produce(&bootstrap, &topic, 0, &[("a", "1"), ("b", "2")]).expect("produce");
    let script = r#"
import sys, confluent_kafka
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "harness-py", "enable.auto.commit": False})
c.assign([TopicPartition(sys.argv[2], 0, confluent_kafka.OFFSET_BEGINNING)])
got = []
while len(got) < 2:
    m = c.poll(10.0)
    if m is None:
        sys.exit("timed out after %r" % got)
    if m.error():
        sys.exit(str(m.error()))
    got.append("%s=%s@%d" % (m.key().decode(), m.value().decode(), m.offset()))
c.close()
print(confluent_kafka.libversion()[0])
print(",".join(got))
"#;
    let out =
        peer::run_python(script, &[&bootstrap, &topic], Duration::from_secs(60)).expect("python");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("2.16"), "librdkafka {}", lines[0]);
    assert_eq!(lines[1], "a=1@0,b=2@1");
}

/// The Python peer carries what kcat cannot: null keys and values, binary
/// data, headers (duplicates and null values included), timestamps and
/// compression, and reads it back unchanged.
#[test]
fn python_peer_round_trips_every_record_feature() {
    use harness::peer_py::{self, PeerRecord};
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("harness-py-rt");
    harness::create_topic(&topic, 1);
    let records = vec![
        PeerRecord {
            partition: Some(0),
            key: Some(vec![0, 1, 2, 255]),
            value: Some(b"binary \x00 value".to_vec()),
            headers: vec![
                ("h".into(), Some(b"1".to_vec())),
                ("h".into(), Some(b"2".to_vec())),
                ("null".into(), None),
            ],
            timestamp: Some(1_600_000_000_000),
            ..PeerRecord::default()
        },
        PeerRecord {
            partition: Some(0),
            key: None,
            value: Some(b"null key".to_vec()),
            ..PeerRecord::default()
        },
        PeerRecord {
            partition: Some(0),
            key: Some(b"tombstone".to_vec()),
            value: None,
            ..PeerRecord::default()
        },
    ];
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let acks = peer_py::produce(&bootstrap, &topic, &records, &[("compression.type", codec)])
            .unwrap_or_else(|e| panic!("produce with {codec}: {e}"));
        assert_eq!(acks.len(), records.len());
    }
    let got = peer_py::consume(&bootstrap, &topic, 0, records.len() * 5, &[]).expect("consume");
    for (i, r) in got.iter().enumerate() {
        let want = &records[i % records.len()];
        assert_eq!(r.offset, Some(i as i64));
        assert_eq!(r.partition, Some(0));
        assert_eq!(
            (&r.key, &r.value, &r.headers),
            (&want.key, &want.value, &want.headers),
            "record {i}"
        );
        if want.timestamp.is_some() {
            assert_eq!(r.timestamp, want.timestamp);
        }
    }
}
