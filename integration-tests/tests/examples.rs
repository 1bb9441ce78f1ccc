//! The examples as a user runs them: built with cargo, started as programs.
//!
//! - `consume --group --max-messages N` commits exactly what it printed (the
//!   offset after the last printed record of each partition), not every
//!   position the poll moved.
//! - Every example answers `--help`/`-h` with its usage and exit code 0, and
//!   an unknown argument with the usage on stderr and exit code 2.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;
use prozess_integration_tests::process::run_with_timeout;

/// Every example and perf tool in `examples/`.
const EXAMPLES: &[&str] = &[
    "assign_seek",
    "consume",
    "consumer_perf",
    "group_members",
    "manual_commit",
    "pause_resume",
    "poll_loop",
    "produce",
    "produce_async",
    "produce_sync",
    "producer_perf",
    "quickstart",
    "transactional_copy",
];

fn example(name: &str) -> Command {
    Command::new(harness::process::example_executable(name))
}

#[test]
fn every_example_answers_help_and_rejects_unknown_arguments() {
    for name in EXAMPLES {
        for help in ["--help", "-h"] {
            let out = run_with_timeout(example(name).arg(help), b"", Duration::from_secs(30))
                .expect("run");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name} {help}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains("usage:"),
                "{name} {help} printed no usage: {stdout}"
            );
        }
        let out = run_with_timeout(
            example(name).arg("--no-such-argument"),
            b"",
            Duration::from_secs(30),
        )
        .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name} --no-such-argument: {stderr}"
        );
        assert!(stderr.contains("usage:"), "{name}: {stderr}");
        assert!(stderr.contains("--no-such-argument"), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// The reproduction: 3 records on partition 0 and 3 on partition 1,
/// `consume --group g --from-beginning --max-messages 3`. The group's
/// committed offsets must be exactly the printed ones (last printed offset
/// + 1 per partition), nothing for a partition it printed nothing of.
#[test]
fn consume_with_max_messages_commits_only_what_it_printed() {
    harness::init_logging();
    let bootstrap = harness::bootstrap();
    let topic = harness::unique_topic("examples-consume");
    harness::create_topic(&topic, 2);
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "0"),
    ])
    .expect("producer config");
    let producer: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    for partition in 0..2 {
        for i in 0..3 {
            let record = ProducerRecord::with_key(
                topic.clone(),
                format!("k{partition}-{i}"),
                format!("v{partition}-{i}"),
            )
            .partition(partition);
            producer.send(record).get().expect("delivered");
        }
    }
    producer.close(Duration::from_secs(10));

    let group = harness::unique_topic("examples-consume-group");
    let out = run_with_timeout(
        example("consume").args([
            "--bootstrap",
            &bootstrap,
            "--topic",
            &topic,
            "--group",
            &group,
            "--from-beginning",
            "--max-messages",
            "3",
            // Quick joins on the test brokers (Kafka's minimum session).
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=1000",
            "-X",
            "fetch.max.wait.ms=100",
        ]),
        b"",
        Duration::from_secs(120),
    )
    .expect("run consume");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "consume failed: {stderr}");

    // partition \t offset \t key \t value
    let mut printed: BTreeMap<i32, i64> = BTreeMap::new();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "printed: {stdout}\nstderr: {stderr}");
    for line in &lines {
        let mut fields = line.split('\t');
        let partition: i32 = fields.next().unwrap().parse().expect(line);
        let offset: i64 = fields.next().unwrap().parse().expect(line);
        let next = printed.entry(partition).or_insert(0);
        *next = (*next).max(offset + 1);
    }

    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
    ])
    .expect("consumer config");
    let mut reader: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    let committed: BTreeMap<i32, i64> = reader
        .committed(tps.iter())
        .expect("committed offsets")
        .into_iter()
        .filter_map(|(tp, om)| om.map(|om| (tp.partition, om.offset)))
        .collect();
    reader.close(Duration::from_secs(5)).expect("close");
    assert_eq!(
        committed, printed,
        "committed offsets differ from the printed records\nprinted: {stdout}\nstderr: {stderr}"
    );
}
