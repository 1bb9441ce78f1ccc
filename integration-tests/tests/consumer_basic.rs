//! The consumer against a real broker (the harness's Tansu, or the cluster in
//! PROZESS_BOOTSTRAP): positions, seek, pause/resume, commits and committed
//! offsets, offsets by time, a restart with the same group id resuming at the
//! committed offset, and wakeup from another thread.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prozess::consumer::{
    ConsumerConfig, Error, KafkaConsumer, OffsetAndMetadata, StringDeserializer, TopicPartition,
};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;

const T: Duration = Duration::from_secs(30);

fn consumer(extra: &[(&str, &str)]) -> KafkaConsumer<String, String> {
    let bootstrap = harness::bootstrap();
    let mut props = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
        ("enable.auto.commit", "false"),
    ];
    props.extend_from_slice(extra);
    let config = ConsumerConfig::from_properties(props).expect("config");
    KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer")
}

/// Writes `n` records to `tp`, one request each (one record per batch, so
/// every broker reports the same end offset), with timestamps 1000 ms apart
/// starting at `base_ts`.
fn produce(tp: &TopicPartition, n: usize, base_ts: i64) {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", harness::bootstrap().as_str()),
        ("linger.ms", "0"),
    ])
    .expect("producer config");
    let p: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    for i in 0..n {
        let record = ProducerRecord::with_key(tp.topic.clone(), format!("k{i}"), format!("v{i}"))
            .partition(tp.partition)
            .timestamp(base_ts + 1000 * i as i64);
        p.send(record).get().expect("delivered");
    }
    p.close(Duration::from_secs(10));
}

fn new_topic(prefix: &str, partitions: i32) -> String {
    let topic = harness::unique_topic(prefix);
    harness::create_topic(&topic, partitions);
    topic
}

/// Polls until `n` records arrived (or 30 s passed) and returns (partition, offset, value).
fn read(c: &mut KafkaConsumer<String, String>, n: usize) -> Vec<(i32, i64, String)> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < T {
        for r in c.poll(Duration::from_millis(200)).expect("poll") {
            out.push((r.partition, r.offset, r.value.unwrap_or_default()));
        }
    }
    out
}

#[test]
fn reads_everything_in_order_and_positions_follow() {
    let topic = new_topic("consumer-read", 2);
    let (a, b) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    produce(&a, 20, 1_700_000_000_000);
    produce(&b, 10, 1_700_000_000_000);
    let mut c = consumer(&[("max.poll.records", "7")]);
    c.assign([a.clone(), b.clone()]).unwrap();
    let got = read(&mut c, 30);
    assert_eq!(got.len(), 30);
    for p in [0, 1] {
        let offsets: Vec<i64> = got.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        let n = if p == 0 { 20 } else { 10 };
        assert_eq!(offsets, (0..n).collect::<Vec<i64>>(), "partition {p}");
    }
    assert_eq!(c.position(&a).unwrap(), 20);
    assert_eq!(c.position(&b).unwrap(), 10);
    let end = c.end_offsets([&a, &b], T).unwrap();
    assert_eq!((end[&a], end[&b]), (20, 10));
    let begin = c.beginning_offsets([&a, &b], T).unwrap();
    assert_eq!((begin[&a], begin[&b]), (0, 0));
    assert_eq!(c.current_lag(&a), Some(0));
    c.close(T).unwrap();
}

#[test]
fn seek_pause_resume() {
    let topic = new_topic("consumer-seek", 2);
    let (a, b) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    produce(&a, 10, 1_700_000_000_000);
    produce(&b, 10, 1_700_000_000_000);
    let mut c = consumer(&[]);
    c.assign([a.clone(), b.clone()]).unwrap();
    c.seek(&a, 7).unwrap();
    c.pause([&b]).unwrap();
    assert_eq!(c.paused(), vec![b.clone()]);
    let got = read(&mut c, 3);
    assert_eq!(
        got.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(0, 7), (0, 8), (0, 9)]
    );
    // Nothing from the paused partition, however long we poll.
    for _ in 0..3 {
        assert!(c.poll(Duration::from_millis(200)).unwrap().is_empty());
    }
    c.resume([&b]).unwrap();
    let got = read(&mut c, 10);
    assert_eq!(got.iter().filter(|r| r.0 == 1).count(), 10);
    c.seek_to_beginning([&a]).unwrap();
    assert_eq!(c.position(&a).unwrap(), 0);
    c.seek_to_end([&a]).unwrap();
    assert_eq!(c.position(&a).unwrap(), 10);
    c.close(T).unwrap();
}

/// The metadata string of a commit comes back from `committed`.
#[test]
fn committed_metadata_round_trips() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu returns committed offset metadata as an empty string",
    ) {
        return;
    }
    let topic = new_topic("consumer-commit-meta", 1);
    let tp = TopicPartition::new(&topic, 0);
    produce(&tp, 3, 1_700_000_000_000);
    let group = harness::unique_topic("group");
    let mut c = consumer(&[("group.id", &group)]);
    c.assign([tp.clone()]).unwrap();
    let mut offsets = HashMap::new();
    offsets.insert(tp.clone(), OffsetAndMetadata::with_metadata(2, "batch-1"));
    c.commit_sync_offsets(offsets).unwrap();
    let committed = c.committed([&tp]).unwrap()[&tp].clone().expect("committed");
    assert_eq!(
        (committed.offset, committed.metadata.as_str()),
        (2, "batch-1")
    );
    c.close(T).unwrap();
}

#[test]
fn commit_committed_and_restart_resumes_at_committed_offset() {
    let topic = new_topic("consumer-commit", 1);
    let tp = TopicPartition::new(&topic, 0);
    produce(&tp, 12, 1_700_000_000_000);
    let group = harness::unique_topic("group");
    let mut c = consumer(&[("group.id", &group), ("max.poll.records", "5")]);
    c.assign([tp.clone()]).unwrap();
    assert_eq!(c.committed([&tp]).unwrap()[&tp], None);
    let got = read(&mut c, 5);
    assert_eq!(got.len(), 5);
    c.commit_sync().unwrap();
    let committed = c.committed([&tp]).unwrap()[&tp].clone().expect("committed");
    assert_eq!(committed.offset, 5);
    // Explicit offsets (their metadata string: committed_metadata_round_trips).
    let mut offsets = HashMap::new();
    offsets.insert(tp.clone(), OffsetAndMetadata::with_metadata(4, "batch-1"));
    c.commit_sync_offsets(offsets).unwrap();
    let committed = c.committed([&tp]).unwrap()[&tp].clone().expect("committed");
    assert_eq!(committed.offset, 4);
    // Async commit: its callback runs inside a later call.
    let done = std::sync::Arc::new(std::sync::Mutex::new(None));
    let d = done.clone();
    c.seek(&tp, 6).unwrap();
    c.commit_async(Some(Box::new(move |_, r| {
        *d.lock().unwrap() = Some(r.is_ok())
    })))
    .unwrap();
    c.close(T).unwrap();
    assert_eq!(
        *done.lock().unwrap(),
        Some(true),
        "close completes async commits"
    );

    // A new consumer with the same group id starts at the committed offset.
    let mut again = consumer(&[("group.id", &group)]);
    again.assign([tp.clone()]).unwrap();
    assert_eq!(again.position(&tp).unwrap(), 6);
    let got = read(&mut again, 6);
    assert_eq!(got.first().map(|r| r.1), Some(6));
    assert_eq!(got.last().map(|r| r.1), Some(11));
    again.close(T).unwrap();
}

#[test]
fn reset_none_without_commit_is_an_error() {
    let topic = new_topic("consumer-reset-none", 1);
    let tp = TopicPartition::new(&topic, 0);
    let group = harness::unique_topic("group-none");
    let mut c = consumer(&[("group.id", &group), ("auto.offset.reset", "none")]);
    c.assign([tp.clone()]).unwrap();
    let start = Instant::now();
    loop {
        match c.poll(Duration::from_millis(200)) {
            Err(Error::NoOffsetForPartition(tps)) => {
                assert_eq!(tps, vec![tp.clone()]);
                break;
            }
            Ok(_) if start.elapsed() < T => continue,
            other => panic!(
                "expected NoOffsetForPartition, got {:?}",
                other.map(|r| r.count())
            ),
        }
    }
}

#[test]
fn offsets_for_times() {
    let topic = new_topic("consumer-times", 1);
    let tp = TopicPartition::new(&topic, 0);
    let base = 1_700_000_000_000;
    produce(&tp, 5, base);
    let mut c = consumer(&[]);
    let times: HashMap<TopicPartition, i64> = [(tp.clone(), base + 2500)].into_iter().collect();
    let found = c.offsets_for_times(&times, T).unwrap();
    if harness::skip_on(
        harness::is_tansu(),
        "offsets_for_times results not checked: Tansu searches by its append time, not the \
         record timestamps (BROKERS.md); checked in the Apache Kafka stages",
    ) {
        return;
    }
    let hit = found[&tp].expect("an offset");
    assert_eq!((hit.offset, hit.timestamp), (3, base + 3000));
    let times: HashMap<TopicPartition, i64> = [(tp.clone(), base + 60_000)].into_iter().collect();
    assert_eq!(c.offsets_for_times(&times, T).unwrap()[&tp], None);
}

#[test]
fn wakeup_from_another_thread_interrupts_a_blocked_poll() {
    let topic = new_topic("consumer-wakeup", 1);
    let tp = TopicPartition::new(&topic, 0);
    let mut c = consumer(&[]);
    c.assign([tp.clone()]).unwrap();
    // Get a position first so the poll below blocks in the network wait.
    c.position(&tp).unwrap();
    let handle = c.wakeup_handle();
    let waker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.wakeup();
    });
    let start = Instant::now();
    let r = c.poll(Duration::from_secs(60));
    waker.join().unwrap();
    assert!(
        matches!(r, Err(Error::Wakeup)),
        "{:?}",
        r.map(|r| r.count())
    );
    assert!(
        start.elapsed() < Duration::from_secs(50),
        "woken, not timed out"
    );
    // The consumer works normally afterwards.
    assert!(c.poll(Duration::from_millis(100)).is_ok());
}

#[test]
fn partitions_for_and_list_topics() {
    let topic = new_topic("consumer-meta", 3);
    let mut c = consumer(&[]);
    assert_eq!(c.partitions_for(&topic).unwrap().len(), 3);
    let topics = c.list_topics().unwrap();
    assert_eq!(topics.get(&topic).map(|p| p.len()), Some(3));
}
