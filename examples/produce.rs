//! Produces lines from stdin to a topic.
//!
//! ```text
//! cargo run --example produce -- --bootstrap 127.0.0.1:9092 --topic T \
//!     [--acks 0|1|all] [--compression none|gzip|snappy|lz4|zstd] [--sync|--async] \
//!     [-X key=value]...
//! ```
//!
//! Each line is `key<TAB>value`, or just a value (no key). With `--sync`
//! every record is sent and waited for, and its partition and offset are
//! printed (`partition<TAB>offset`). With `--async` (the default) records
//! are batched; failures go to stderr and a summary is printed at the end.
//! `-X` sets any producer property by its Java name (e.g. `-X linger.ms=20`).

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use prozess::producer::{
    AsyncProducer, KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer, SyncProducer,
};

struct Args {
    props: Vec<(String, String)>,
    topic: String,
    sync: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut props = Vec::new();
    let mut topic = None;
    let mut sync = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bootstrap" => props.push(("bootstrap.servers".into(), value("--bootstrap")?)),
            "--topic" => topic = Some(value("--topic")?),
            "--acks" => props.push(("acks".into(), value("--acks")?)),
            "--compression" => props.push(("compression.type".into(), value("--compression")?)),
            "--sync" => sync = true,
            "--async" => sync = false,
            "-X" => {
                let kv = value("-X")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("-X expects key=value, got {kv}"))?;
                props.push((k.to_string(), v.to_string()));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let topic = topic.ok_or("--topic is required")?;
    Ok(Args { props, topic, sync })
}

fn record(topic: &str, line: &str) -> ProducerRecord<String, String> {
    match line.split_once('\t') {
        Some((k, v)) => ProducerRecord::with_key(topic, k.to_string(), v.to_string()),
        None => ProducerRecord::new(topic, line.to_string()),
    }
}

const USAGE: &str = "usage: produce --bootstrap B --topic T [--acks 0|1|all] [--compression C] \
    [--sync|--async] [-X key=value]...";

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
    let args = match parse_args() {
        Ok(a) => a,
        // An empty error is -h/--help.
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // A bad -X key or value is an argument error too.
    let config = match ProducerConfig::from_properties(args.props.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    let producer = match KafkaProducer::new(config, StringSerializer, StringSerializer) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let mut failed = 0u64;
    if args.sync {
        let producer = SyncProducer::new(producer);
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            match producer.send(record(&args.topic, &line)) {
                Ok(md) => println!("{}\t{}", md.partition, md.offset),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed += 1;
                }
            }
        }
        producer.close(Duration::from_secs(30));
    } else {
        let producer: AsyncProducer<String, String, u64> = AsyncProducer::new(producer);
        for (n, line) in stdin.lock().lines().enumerate() {
            let Ok(line) = line else { break };
            producer.send(record(&args.topic, &line), n as u64);
            while let Ok(err) = producer.errors().try_recv() {
                eprintln!("error: line {}: {}", err.user_metadata + 1, err.error);
                failed += 1;
            }
        }
        producer.flush();
        producer.close(Duration::from_secs(30));
        while let Ok(err) = producer.errors().try_recv() {
            eprintln!("error: line {}: {}", err.user_metadata + 1, err.error);
            failed += 1;
        }
        let delivered = producer.successes().try_iter().count();
        eprintln!("{delivered} delivered, {failed} failed");
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
