//! An asynchronous producer with delivery reports (sarama's AsyncProducer):
//! records go in, successes and errors come out on two channels, each
//! carrying the metadata given with the record.
//!
//! ```text
//! cargo run --example produce_async -- 127.0.0.1:9092 my-topic
//! ```

use std::process::ExitCode;
use std::time::Duration;

use prozess::producer::{
    AsyncProducer, KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer,
};

const USAGE: &str =
    "usage: produce_async [BOOTSTRAP [TOPIC]]   (defaults: 127.0.0.1:9092 prozess-example)";

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
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "10"),
        ("compression.type", "lz4"),
    ])?;
    let producer = KafkaProducer::new(config, StringSerializer, StringSerializer)?;
    // The third type parameter is the user metadata handed back in reports.
    let producer: AsyncProducer<String, String, usize> = AsyncProducer::new(producer);

    let n = 1000;
    for i in 0..n {
        producer.send(
            ProducerRecord::new(topic.clone(), format!("message {i}")),
            i,
        );
    }
    let (mut ok, mut failed) = (0, 0);
    while ok + failed < n {
        if let Ok(report) = producer.successes().recv_timeout(Duration::from_millis(10)) {
            if report.user_metadata % 100 == 0 {
                println!(
                    "message {} -> partition {} offset {}",
                    report.user_metadata, report.metadata.partition, report.metadata.offset
                );
            }
            ok += 1;
        }
        while let Ok(err) = producer.errors().try_recv() {
            eprintln!("message {} failed: {}", err.user_metadata, err.error);
            failed += 1;
        }
    }
    println!("{ok} delivered, {failed} failed");
    producer.close(Duration::from_secs(10));
    Ok(())
}
