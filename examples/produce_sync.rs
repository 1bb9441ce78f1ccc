//! The smallest synchronous producer: send a few records and wait for each
//! one's partition and offset (sarama's SyncProducer).
//!
//! ```text
//! cargo run --example produce_sync -- 127.0.0.1:9092 my-topic
//! ```

use std::process::ExitCode;
use std::time::Duration;

use prozess::producer::{
    KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer, SyncProducer,
};

const USAGE: &str =
    "usage: produce_sync [BOOTSTRAP [TOPIC]]   (defaults: 127.0.0.1:9092 prozess-example)";

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

/// The positional arguments; `Ok(None)` for `-h`/`--help`.
fn parse_args() -> Result<Option<(String, String)>, String> {
    let mut positional = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            s if s.starts_with('-') => return Err(format!("unknown argument {s}")),
            _ => positional.push(a),
        }
    }
    if let Some(extra) = positional.get(2) {
        return Err(format!("unexpected argument {extra}"));
    }
    let mut it = positional.into_iter();
    let bootstrap = it.next().unwrap_or_else(|| "127.0.0.1:9092".to_string());
    let topic = it.next().unwrap_or_else(|| "prozess-example".to_string());
    Ok(Some((bootstrap, topic)))
}

fn main() -> ExitCode {
    let (bootstrap, topic) = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    match run(bootstrap, topic) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(bootstrap: String, topic: String) -> Result<(), Box<dyn std::error::Error>> {
    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .client_id("produce-sync-example")
        .build()?;
    let producer = SyncProducer::new(KafkaProducer::new(
        config,
        StringSerializer,
        StringSerializer,
    )?);

    for i in 0..10 {
        let record =
            ProducerRecord::with_key(topic.clone(), format!("key-{i}"), format!("hello {i}"))
                .header("source", "produce_sync");
        let md = producer.send(record)?;
        println!(
            "{}-{} offset {} timestamp {}",
            md.topic, md.partition, md.offset, md.timestamp
        );
    }
    producer.close(Duration::from_secs(10));
    Ok(())
}
