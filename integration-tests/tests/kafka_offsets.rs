//! OFFSET_OUT_OF_RANGE for real: records are deleted from the log start
//! (DeleteRecords through the admin client) under a group's committed
//! offset, and a consumer of the group starts there with auto.offset.reset
//! earliest, latest and none (none: the error names the partition and the
//! offset).
//!
//! Tansu neither has DeleteRecords nor answers OFFSET_OUT_OF_RANGE
//! (BROKERS.md): there these tests are skipped (counted); they run in the
//! Kafka stages of scripts/test.sh.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prozess::admin::AdminClient;
use prozess::consumer::{
    ConsumerConfig, Error, KafkaConsumer, OffsetAndMetadata, StringDeserializer, TopicPartition,
};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;

const T: Duration = Duration::from_secs(30);
const DELETE_RECORDS: i16 = 21;

/// A topic of one partition with 10 records, the group's committed offset
/// at 2, and the records before offset 6 deleted. Returns (partition,
/// group), or None (skipped) on a broker without DeleteRecords.
fn truncated_partition(prefix: &str) -> Option<(TopicPartition, String)> {
    if harness::skip_on(
        harness::is_tansu() || !harness::broker_supports(DELETE_RECORDS, 0),
        "needs DeleteRecords and OFFSET_OUT_OF_RANGE answers (Apache Kafka; Tansu has \
         neither): runs in the Kafka stages",
    ) {
        return None;
    }
    harness::init_logging();
    let topic = harness::unique_topic(prefix);
    harness::create_topic(&topic, 1);
    let tp = TopicPartition::new(&topic, 0);
    let p: KafkaProducer<String, String> = KafkaProducer::new(
        ProducerConfig::from_properties([
            ("bootstrap.servers", harness::bootstrap().as_str()),
            ("linger.ms", "0"),
        ])
        .expect("producer config"),
        StringSerializer,
        StringSerializer,
    )
    .expect("producer");
    // One record per request: one batch each, so deletion can cut anywhere.
    for i in 0..10 {
        p.send(ProducerRecord::new(topic.clone(), format!("v{i}")).partition(0))
            .get()
            .expect("delivered");
    }
    p.close(Duration::from_secs(10));

    let group = harness::unique_topic("g-oor");
    let mut c = consumer(&group, "earliest");
    c.commit_sync_offsets(HashMap::from([(tp.clone(), OffsetAndMetadata::new(2))]))
        .expect("commit 2");
    c.close(T).expect("close");

    let mut admin = AdminClient::from_bootstrap(&harness::bootstrap()).expect("admin");
    let deleted = admin
        .delete_records(&[(tp.clone(), 6)], T)
        .expect("delete_records");
    let low = deleted[0]
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("delete_records {tp}: {e}"));
    assert_eq!(*low, 6, "the new log start offset");
    Some((tp, group))
}

fn consumer(group: &str, reset: &str) -> KafkaConsumer<String, String> {
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", harness::bootstrap().as_str()),
        ("group.id", group),
        ("auto.offset.reset", reset),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
    ])
    .expect("consumer config");
    KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer")
}

/// Polls until a record arrives: (offset, value).
fn first_record(c: &mut KafkaConsumer<String, String>) -> (i64, String) {
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < T, "no record within {T:?}");
        if let Some(r) = c
            .poll(Duration::from_millis(200))
            .expect("poll")
            .into_iter()
            .next()
        {
            return (r.offset, r.value.unwrap_or_default());
        }
    }
}

#[test]
fn committed_offset_below_the_log_start_resets_to_earliest() {
    let Some((tp, group)) = truncated_partition("oor-earliest") else {
        return;
    };
    let mut c = consumer(&group, "earliest");
    c.assign([tp.clone()]).expect("assign");
    assert_eq!(first_record(&mut c), (6, "v6".to_string()));
    c.close(T).expect("close");
}

#[test]
fn committed_offset_below_the_log_start_resets_to_latest() {
    let Some((tp, group)) = truncated_partition("oor-latest") else {
        return;
    };
    let mut c = consumer(&group, "latest");
    c.assign([tp.clone()]).expect("assign");
    // The position settles at the log end (10), then a new record arrives.
    let start = Instant::now();
    while c.position(&tp).ok() != Some(10) {
        assert!(start.elapsed() < T, "position: {:?}", c.position(&tp));
        assert!(c.poll(Duration::from_millis(200)).expect("poll").is_empty());
    }
    let p: KafkaProducer<String, String> = KafkaProducer::new(
        ProducerConfig::from_properties([("bootstrap.servers", harness::bootstrap().as_str())])
            .expect("producer config"),
        StringSerializer,
        StringSerializer,
    )
    .expect("producer");
    p.send(ProducerRecord::new(tp.topic.clone(), "after".to_string()).partition(0))
        .get()
        .expect("delivered");
    p.close(Duration::from_secs(10));
    assert_eq!(first_record(&mut c), (10, "after".to_string()));
    c.close(T).expect("close");
}

#[test]
fn committed_offset_below_the_log_start_with_reset_none_names_the_partition() {
    let Some((tp, group)) = truncated_partition("oor-none") else {
        return;
    };
    let mut c = consumer(&group, "none");
    c.assign([tp.clone()]).expect("assign");
    let start = Instant::now();
    let err = loop {
        assert!(start.elapsed() < T, "no error within {T:?}");
        match c.poll(Duration::from_millis(200)) {
            Ok(r) => assert!(r.is_empty(), "records despite the out-of-range position"),
            Err(e) => break e,
        }
    };
    match &err {
        Error::OffsetOutOfRange { offsets } => {
            assert_eq!(offsets, &vec![(tp.clone(), 2)], "{err}");
        }
        other => panic!("expected OffsetOutOfRange, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&tp.to_string()) && text.contains('2'),
        "{text}"
    );
    // A seek clears it.
    c.seek(&tp, 7).expect("seek");
    assert_eq!(first_record(&mut c), (7, "v7".to_string()));
    c.close(T).expect("close");
}
