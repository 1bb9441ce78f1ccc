//! Consume-transform-produce with exactly-once semantics: reads a topic in
//! a consumer group (isolation.level=read_committed), upper-cases each
//! value, writes it to another topic and commits the consumed offsets in the
//! same producer transaction (KIP-447's `send_offsets_to_transaction` with
//! the consumer's `group_metadata()`).
//!
//! ```text
//! cargo run --example transactional_copy -- --bootstrap 127.0.0.1:9092 \
//!     --input IN --output OUT --group G --transactional-id copy-1 \
//!     [--exit-at-end] [--consumer-property key=value]... [--producer-property key=value]...
//! ```
//!
//! `--exit-at-end` stops (cleanly) once every assigned partition is copied
//! up to its end; `--consumer-property` / `--producer-property` set any
//! client property (as Java's console tools), e.g. `group.instance.id` so
//! that a restarted copy takes its predecessor's place in the group at once.
//!
//! Each poll's records form one transaction. If the transaction fails with
//! an abortable error it is aborted and the consumer goes back to the
//! group's committed offsets, so the records are copied again in a new
//! transaction; a fatal error (another instance with the same
//! transactional id fenced this one) ends the program. SIGINT/SIGTERM wake
//! the poll up; the copy finishes its current transaction (or aborts it),
//! then the consumer leaves the group and both close.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prozess::consumer::{
    BytesDeserializer, ConsumerConfig, Error as ConsumerError, KafkaConsumer,
    NoOpRebalanceListener, OffsetAndMetadata, TopicPartition, WakeupHandle,
};
use prozess::producer::{
    BytesSerializer, Error as ProducerError, KafkaProducer, ProducerConfig, ProducerRecord,
    TransactionState,
};

const TIMEOUT: Duration = Duration::from_secs(30);

struct Args {
    bootstrap: String,
    input: String,
    output: String,
    group: String,
    transactional_id: String,
    exit_at_end: bool,
    consumer_props: Vec<(String, String)>,
    producer_props: Vec<(String, String)>,
}

const USAGE: &str = "usage: transactional_copy --bootstrap HOST:PORT --input TOPIC --output TOPIC \
     --group GROUP --transactional-id ID [--exit-at-end] \
     [--consumer-property key=value]... [--producer-property key=value]...";

fn key_value(name: &str, kv: String) -> Result<(String, String), String> {
    kv.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or(format!("{name} expects key=value, got {kv}"))
}

/// The arguments; `Err("")` for `--help`.
fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut bootstrap, mut input, mut output, mut group, mut tid) = (None, None, None, None, None);
    let (mut exit_at_end, mut consumer_props, mut producer_props) = (false, vec![], vec![]);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--exit-at-end" => {
                exit_at_end = true;
                continue;
            }
            _ => {}
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--bootstrap" => bootstrap = Some(v),
            "--input" => input = Some(v),
            "--output" => output = Some(v),
            "--group" => group = Some(v),
            "--transactional-id" => tid = Some(v),
            "--consumer-property" => consumer_props.push(key_value(&a, v)?),
            "--producer-property" => producer_props.push(key_value(&a, v)?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let need = |o: Option<String>, name: &str| o.ok_or_else(|| format!("{name} is required"));
    Ok(Args {
        bootstrap: need(bootstrap, "--bootstrap")?,
        input: need(input, "--input")?,
        output: need(output, "--output")?,
        group: need(group, "--group")?,
        transactional_id: need(tid, "--transactional-id")?,
        exit_at_end,
        consumer_props,
        producer_props,
    })
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag; a watcher thread turns it into `wakeup()`.
fn wake_on_signals(wakeup: WakeupHandle) {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
    std::thread::spawn(move || loop {
        if STOP.load(Ordering::SeqCst) {
            wakeup.wakeup();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

type Consumer = KafkaConsumer<Bytes, Bytes>;
type Producer = KafkaProducer<Bytes, Bytes>;

/// Whether the producer can go on (an abortable error) or must stop.
fn is_fatal(producer: &Producer) -> bool {
    producer.transaction_state() == Some(TransactionState::FatalError)
}

/// Back to the group's committed offsets after an abort: the aborted
/// records are read (and copied) again.
fn rewind(consumer: &mut Consumer) -> Result<(), String> {
    let assigned = consumer.assignment();
    let committed = consumer.committed(&assigned).map_err(|e| e.to_string())?;
    for tp in &assigned {
        match committed.get(tp).cloned().flatten() {
            Some(o) => consumer.seek(tp, o.offset).map_err(|e| e.to_string())?,
            None => consumer
                .seek_to_beginning([tp])
                .map_err(|e| e.to_string())?,
        }
    }
    Ok(())
}

fn once_more_on_timeout(call: impl Fn() -> Result<(), ProducerError>) -> Result<(), ProducerError> {
    match call() {
        Err(ProducerError::Timeout(_)) => call(),
        other => other,
    }
}

/// One poll's records as one transaction.
fn copy_batch(consumer: &mut Consumer, producer: &Producer, output: &str) -> Result<usize, String> {
    let records = match consumer.poll(Duration::from_millis(500)) {
        Ok(r) => r,
        Err(ConsumerError::Wakeup) => return Ok(0),
        Err(e) => return Err(e.to_string()),
    };
    if records.is_empty() {
        return Ok(0);
    }
    producer.begin_transaction().map_err(|e| e.to_string())?;
    let mut next: HashMap<TopicPartition, OffsetAndMetadata> = HashMap::new();
    let mut count = 0;
    for r in &records {
        let value = r
            .value
            .as_ref()
            .map(|v| Bytes::from(v.to_ascii_uppercase()));
        let out = ProducerRecord {
            topic: output.to_string(),
            partition: None,
            key: r.key.clone(),
            value,
            headers: r.headers.clone(),
            timestamp: None,
        };
        // Failures show up in commit_transaction (the transaction becomes
        // abortable), so the futures need no checking here.
        producer.send(out);
        let mut o = OffsetAndMetadata::new(r.offset + 1);
        o.leader_epoch = r.leader_epoch;
        next.insert(TopicPartition::new(r.topic.to_string(), r.partition), o);
        count += 1;
    }
    let group = consumer.group_metadata().map_err(|e| e.to_string())?;
    // KIP-691: a call that timed out goes on; calling it again waits for it.
    let outcome = once_more_on_timeout(|| producer.send_offsets_to_transaction(&next, &group))
        .and_then(|()| once_more_on_timeout(|| producer.commit_transaction(TIMEOUT)));
    match outcome {
        Ok(()) => Ok(count),
        Err(e) if is_fatal(producer) => Err(format!("fatal: {e}")),
        Err(e @ ProducerError::Timeout(_)) => Err(format!("transaction: {e}")),
        Err(e) => {
            eprintln!("transaction failed ({e}); aborting and copying again");
            producer
                .abort_transaction(TIMEOUT)
                .map_err(|e| e.to_string())?;
            rewind(consumer)?;
            Ok(0)
        }
    }
}

/// Whether the consumer has partitions and has read each up to its end (the
/// last stable offset, with read_committed) — and, since every poll's
/// records are committed before the next poll, copied it.
fn at_end(consumer: &Consumer) -> bool {
    let assigned = consumer.assignment();
    !assigned.is_empty()
        && assigned
            .iter()
            .all(|tp| consumer.current_lag(tp) == Some(0))
}

fn run(args: Args) -> Result<(), String> {
    let mut consumer_props: Vec<(String, String)> = [
        ("bootstrap.servers", args.bootstrap.as_str()),
        ("group.id", args.group.as_str()),
        ("isolation.level", "read_committed"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    consumer_props.extend(args.consumer_props.iter().cloned());
    let consumer_config =
        ConsumerConfig::from_properties(consumer_props).map_err(|e| e.to_string())?;
    let mut consumer: Consumer =
        KafkaConsumer::new(consumer_config, BytesDeserializer, BytesDeserializer)
            .map_err(|e| e.to_string())?;
    let mut producer_props = vec![
        ("bootstrap.servers".to_string(), args.bootstrap.clone()),
        (
            "transactional.id".to_string(),
            args.transactional_id.clone(),
        ),
    ];
    producer_props.extend(args.producer_props.iter().cloned());
    let producer_config =
        ProducerConfig::from_properties(producer_props).map_err(|e| e.to_string())?;
    let producer: Producer = KafkaProducer::new(producer_config, BytesSerializer, BytesSerializer)
        .map_err(|e| e.to_string())?;
    // Fences an older instance with the same id and ends what it left open.
    producer
        .init_transactions(TIMEOUT)
        .map_err(|e| e.to_string())?;
    wake_on_signals(consumer.wakeup_handle());
    consumer
        .subscribe([&args.input], NoOpRebalanceListener)
        .map_err(|e| e.to_string())?;
    let mut copied = 0usize;
    let result = loop {
        if STOP.load(Ordering::SeqCst) {
            eprintln!("signal received: closing");
            break Ok(());
        }
        match copy_batch(&mut consumer, &producer, &args.output) {
            Ok(n) => copied += n,
            Err(e) => break Err(e),
        }
        if args.exit_at_end && at_end(&consumer) {
            eprintln!("every assigned partition is copied up to its end");
            break Ok(());
        }
    };
    eprintln!("copied {copied} records");
    let closed = consumer.close(TIMEOUT).map_err(|e| e.to_string());
    producer.close(TIMEOUT);
    result.and(closed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
