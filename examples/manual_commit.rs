//! At-least-once processing with manual offset commits and a group id, but
//! no group membership (manually assigned partitions).
//!
//! ```text
//! cargo run --example manual_commit -- --bootstrap 127.0.0.1:9092 --topic T --group G [--partition 0]
//! ```
//!
//! Starts at the group's committed offset (or the beginning), processes
//! records in batches, and after each batch commits the offset after the
//! last processed record with a metadata string, synchronously. Async
//! commits are shown too: their callbacks run inside a later poll or commit.
//! Run it twice: the second run continues where the first stopped.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use prozess::consumer::{
    ConsumerConfig, KafkaConsumer, OffsetAndMetadata, StringDeserializer, TopicPartition,
};

const USAGE: &str =
    "usage: manual_commit --bootstrap HOST:PORT --topic T --group G [--partition 0]";

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
    group: String,
    partition: i32,
}

fn args(mut m: HashMap<String, String>) -> Result<Args, String> {
    Ok(Args {
        bootstrap: m.remove("--bootstrap").ok_or("--bootstrap is required")?,
        topic: m.remove("--topic").ok_or("--topic is required")?,
        group: m.remove("--group").ok_or("--group is required")?,
        partition: match m.remove("--partition") {
            Some(v) => v
                .parse()
                .map_err(|_| format!("--partition expects a number, got {v}"))?,
            None => 0,
        },
    })
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        bootstrap,
        topic,
        group,
        partition,
    } = args;
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .group_id(group)
        .enable_auto_commit(false)
        .auto_offset_reset(prozess::consumer::OffsetResetStrategy::Earliest)
        .max_poll_records(20)
        .build()?;
    let mut consumer: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer)?;
    let tp = TopicPartition::new(topic, partition);
    consumer.assign([tp.clone()])?;
    match &consumer.committed([&tp])?[&tp] {
        Some(c) => println!("committed before: {} ({:?})", c.offset, c.metadata),
        None => println!("committed before: nothing"),
    }
    println!("starting at {}", consumer.position(&tp)?);

    let mut batches = 0;
    let mut empty = 0;
    while batches < 5 && empty < 5 {
        let records = consumer.poll(Duration::from_millis(500))?;
        let Some(last) = records.iter().last() else {
            empty += 1;
            continue;
        };
        for r in &records {
            println!(
                "processing offset {}: {}",
                r.offset,
                r.value.as_deref().unwrap_or("<null>")
            );
        }
        let next = last.offset + 1;
        let mut offsets = HashMap::new();
        offsets.insert(
            tp.clone(),
            OffsetAndMetadata::with_metadata(next, format!("batch {batches}")),
        );
        if batches % 2 == 0 {
            consumer.commit_sync_offsets(offsets)?;
            println!("committed {next} (sync)");
        } else {
            consumer.commit_async_offsets(
                offsets,
                Some(Box::new(move |_, result| match result {
                    Ok(()) => println!("async commit of {next} finished"),
                    Err(e) => println!("async commit of {next} failed: {e}"),
                })),
            )?;
        }
        batches += 1;
    }
    // close() waits for the async commits and runs their callbacks.
    consumer.close(Duration::from_secs(10))?;
    Ok(())
}

fn main() -> ExitCode {
    let parsed = parse_pairs(&["--bootstrap", "--topic", "--group", "--partition"]).and_then(
        |cli| match cli {
            Cli::Help => Ok(None),
            Cli::Run(m) => args(m).map(Some),
        },
    );
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
