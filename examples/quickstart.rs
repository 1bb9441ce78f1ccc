//! The quickstart: create a topic, produce a few keyed records, consume them
//! back with the poll loop, commit, and show what the group committed.
//!
//! ```text
//! bash scripts/quickstart.sh                              # starts a local broker for you
//! PROZESS_BOOTSTRAP=host:9092 cargo run --example quickstart
//! ```
//!
//! With `PROZESS_BOOTSTRAP` unset, the example starts the project's local test
//! broker (Tansu, through the `prozess-broker` helper of `integration-tests`)
//! and stops it when it ends.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer};
use prozess::producer::{
    KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer, SyncProducer,
};
use prozess::{AdminClient, NewTopic, TopicPartition};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 9;

const USAGE: &str =
    "usage: quickstart   (no arguments; PROZESS_BOOTSTRAP=host:port uses that cluster, \
otherwise a local test broker is started)";

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings, and group
/// membership changes).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,prozess_consumer::group=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal, not in a redirected log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    if let Some(a) = std::env::args().nth(1) {
        if a == "-h" || a == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        eprintln!("error: unknown argument {a}");
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    init_logging();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    // A broker: the one named by PROZESS_BOOTSTRAP, or a local one we start.
    let (bootstrap, _local_broker) = match std::env::var("PROZESS_BOOTSTRAP") {
        Ok(b) if !b.trim().is_empty() => (b.trim().to_string(), None),
        _ => {
            let broker = LocalBroker::start()?;
            (broker.bootstrap.clone(), Some(broker))
        }
    };
    println!("bootstrap servers: {bootstrap}");

    // 1. A fresh topic.
    let suffix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let topic = format!("quickstart-{suffix}");
    let mut admin = AdminClient::from_bootstrap(&bootstrap)?;
    admin.ensure_topic(
        &NewTopic::new(topic.clone(), PARTITIONS),
        Duration::from_secs(30),
    )?;
    println!("created topic {topic} with {PARTITIONS} partitions");

    // 2. Produce keyed records and wait for each acknowledgement. Records with
    // the same key land in the same partition (murmur2, as the Java client).
    let producer_config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap.clone())
        .client_id("quickstart-producer")
        .build()?;
    let producer = SyncProducer::new(KafkaProducer::new(
        producer_config,
        StringSerializer,
        StringSerializer,
    )?);
    for i in 0..RECORDS {
        let key = format!("user-{}", i % 3);
        let value = format!("event {i}");
        let record = ProducerRecord::with_key(topic.clone(), key.clone(), value.clone())
            .header("source", "quickstart");
        let meta = producer.send(record)?;
        println!(
            "produced {key:>7} => {value:<8} to partition {} at offset {}",
            meta.partition, meta.offset
        );
    }
    producer.close(Duration::from_secs(10));

    // 3. Consume them back with the poll loop, as a member of a group that
    // commits its offsets by hand.
    let group = format!("quickstart-group-{suffix}");
    let consumer_config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .group_id(group.clone())
        .client_id("quickstart-consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .build()?;
    let mut consumer = KafkaConsumer::new(consumer_config, StringDeserializer, StringDeserializer)?;
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.clone(), p))
        .collect();
    consumer.assign(partitions.clone())?;

    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < RECORDS {
        if Instant::now() > deadline {
            return Err(format!("only {seen} of {RECORDS} records arrived within 60 s").into());
        }
        let records = consumer.poll(Duration::from_millis(500))?;
        for r in records.iter() {
            seen += 1;
            println!(
                "consumed partition {} offset {}: {} => {}",
                r.partition,
                r.offset,
                r.key.as_deref().unwrap_or("<null>"),
                r.value.as_deref().unwrap_or("<null>")
            );
        }
        if !records.is_empty() {
            // Commit what this poll returned before asking for more.
            consumer.commit_sync()?;
        }
    }

    // 4. What the group has committed now: the next offset to read, per partition.
    let committed = consumer.committed(partitions.iter())?;
    let committed: BTreeMap<i32, i64> = committed
        .into_iter()
        .filter_map(|(tp, om)| om.map(|om| (tp.partition, om.offset)))
        .collect();
    println!("group {group} committed: {committed:?}");
    consumer.close(Duration::from_secs(10))?;

    admin.delete_topics(&[topic.as_str()], Duration::from_secs(30))?;
    println!("done: {seen} records produced, consumed and committed; topic deleted");
    Ok(())
}

/// The project's local test broker, started through `cargo run -p
/// prozess-integration-tests --bin prozess-broker`. It prints its address
/// and runs until its stdin closes, which happens when this value drops.
struct LocalBroker {
    bootstrap: String,
    child: Child,
}

impl LocalBroker {
    fn start() -> Result<LocalBroker, Box<dyn Error>> {
        println!("PROZESS_BOOTSTRAP is not set: starting a local broker");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut child = Command::new(cargo)
            .args([
                "run",
                "-q",
                "-p",
                "prozess-integration-tests",
                "--bin",
                "prozess-broker",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout from prozess-broker")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let bootstrap = line.trim().to_string();
        if bootstrap.is_empty() {
            let _ = child.kill();
            return Err("the local broker did not start (see the messages above)".into());
        }
        Ok(LocalBroker { bootstrap, child })
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        // Closing stdin stops the broker; wait so it is gone when we exit.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
