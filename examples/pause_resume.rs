//! Flow control with pause/resume: reads two partitions, pauses the first
//! after a few records, drains the second, then resumes the first.
//!
//! ```text
//! cargo run --example pause_resume -- --bootstrap 127.0.0.1:9092 --topic T
//! ```
//!
//! The topic needs at least two partitions with data. Records already
//! fetched for a paused partition stay buffered in the consumer and come
//! back after `resume`, without being fetched again.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};

const USAGE: &str = "usage: pause_resume --bootstrap HOST:PORT --topic T";

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

/// What the command line asked for.
enum Cli {
    /// `--name value` pairs.
    Run(HashMap<String, String>),
    /// `-h`/`--help`.
    Help,
}

/// Reads `--name value` pairs, accepting only the `known` names.
fn parse_pairs(known: &[&str]) -> Result<Cli, String> {
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            return Ok(Cli::Help);
        }
        if !known.contains(&a.as_str()) {
            return Err(format!("unknown argument {a}"));
        }
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        out.insert(a, v);
    }
    Ok(Cli::Run(out))
}

struct Args {
    bootstrap: String,
    topic: String,
}

fn args(mut m: HashMap<String, String>) -> Result<Args, String> {
    Ok(Args {
        bootstrap: m.remove("--bootstrap").ok_or("--bootstrap is required")?,
        topic: m.remove("--topic").ok_or("--topic is required")?,
    })
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let Args { bootstrap, topic } = args;
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .auto_offset_reset(prozess::consumer::OffsetResetStrategy::Earliest)
        .max_poll_records(10)
        .build()?;
    let mut consumer: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer)?;
    let (a, b) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    consumer.assign([a.clone(), b.clone()])?;

    let mut from_a = 0;
    let mut paused_at = None;
    for round in 0..40 {
        let records = consumer.poll(Duration::from_millis(300))?;
        for r in &records {
            println!(
                "round {round}: {}-{} offset {}",
                r.topic(),
                r.partition,
                r.offset
            );
            if r.partition == 0 {
                from_a += 1;
            }
        }
        if paused_at.is_none() && from_a >= 5 {
            consumer.pause([&a])?;
            println!("paused {a} at position {}", consumer.position(&a)?);
            paused_at = Some(round);
        }
        if let Some(p) = paused_at {
            if round == p + 5 {
                consumer.resume([&a])?;
                println!("resumed {a}; paused now: {:?}", consumer.paused());
            }
        }
        let lag_a = consumer.current_lag(&a);
        let lag_b = consumer.current_lag(&b);
        if records.is_empty()
            && lag_a == Some(0)
            && lag_b == Some(0)
            && consumer.paused().is_empty()
        {
            break;
        }
    }
    println!(
        "positions: {a} {}, {b} {}",
        consumer.position(&a)?,
        consumer.position(&b)?
    );
    consumer.close(Duration::from_secs(5))?;
    Ok(())
}

fn main() -> ExitCode {
    let parsed = parse_pairs(&["--bootstrap", "--topic"]).and_then(|cli| match cli {
        Cli::Help => Ok(None),
        Cli::Run(m) => args(m).map(Some),
    });
    let args = match parsed {
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
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
