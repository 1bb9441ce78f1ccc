//! Manual assignment and positioning: offsets of a partition, seeks by
//! offset, to the beginning/end and by timestamp.
//!
//! ```text
//! cargo run --example assign_seek -- --bootstrap 127.0.0.1:9092 --topic T [--partition 0] [--offset N]
//! ```
//!
//! Prints the partition's beginning and end offsets, reads up to 5 records
//! from `--offset` (default: the middle), then seeks to the beginning and to
//! the end and prints the positions, and finally looks up the offset of the
//! first record written at or after the first record's timestamp.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};

const USAGE: &str =
    "usage: assign_seek --bootstrap HOST:PORT --topic T [--partition 0] [--offset N]";

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
    partition: i32,
    offset: Option<i64>,
}

fn args(mut m: HashMap<String, String>) -> Result<Args, String> {
    Ok(Args {
        bootstrap: m.remove("--bootstrap").ok_or("--bootstrap is required")?,
        topic: m.remove("--topic").ok_or("--topic is required")?,
        partition: match m.remove("--partition") {
            Some(v) => v
                .parse()
                .map_err(|_| format!("--partition expects a number, got {v}"))?,
            None => 0,
        },
        offset: match m.remove("--offset") {
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("--offset expects a number, got {v}"))?,
            None => None,
        },
    })
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        bootstrap,
        topic,
        partition,
        offset,
    } = args;
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .build()?;
    let mut consumer: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer)?;
    let tp = TopicPartition::new(topic, partition);
    consumer.assign([tp.clone()])?;

    let timeout = Duration::from_secs(10);
    let begin = consumer.beginning_offsets([&tp], timeout)?[&tp];
    let end = consumer.end_offsets([&tp], timeout)?[&tp];
    println!("{tp}: beginning {begin}, end {end}");

    let start = offset.unwrap_or(begin + (end - begin) / 2);
    consumer.seek(&tp, start)?;
    let mut first_timestamp = None;
    let mut read = 0;
    for _ in 0..20 {
        for r in consumer.poll(Duration::from_millis(500))? {
            first_timestamp.get_or_insert(r.timestamp);
            println!(
                "offset {} timestamp {} key {:?} value {:?}",
                r.offset, r.timestamp, r.key, r.value
            );
            read += 1;
            if read == 5 {
                break;
            }
        }
        if read >= 5 || consumer.position(&tp)? >= end {
            break;
        }
    }
    println!("position after reading: {}", consumer.position(&tp)?);

    consumer.seek_to_beginning([&tp])?;
    println!("after seek_to_beginning: {}", consumer.position(&tp)?);
    consumer.seek_to_end([&tp])?;
    println!("after seek_to_end: {}", consumer.position(&tp)?);

    if let Some(ts) = first_timestamp {
        let times: HashMap<TopicPartition, i64> = [(tp.clone(), ts)].into_iter().collect();
        match consumer.offsets_for_times(&times, timeout)?[&tp] {
            Some(found) => println!("first offset at or after timestamp {ts}: {}", found.offset),
            None => println!("no record at or after timestamp {ts}"),
        }
    }
    consumer.close(Duration::from_secs(5))?;
    Ok(())
}

fn main() -> ExitCode {
    let parsed = parse_pairs(&["--bootstrap", "--topic", "--partition", "--offset"]).and_then(
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
