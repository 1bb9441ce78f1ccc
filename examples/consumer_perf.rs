//! Reads N records of a topic from the beginning as fast as it can and prints
//! one JSON summary line.
//!
//! ```text
//! cargo run --release --example consumer_perf -- --bootstrap 127.0.0.1:9092 \
//!     --topic T --messages 1000000 [--group G [--subscribe]] [-X key=value]...
//! ```
//!
//! Every partition of the topic is assigned and read from its beginning.
//! With `--subscribe` the consumer joins group G instead (the heartbeat
//! thread runs between polls) and reads from the committed offsets, else
//! from the beginning; the clock then starts at the first records, so that
//! the join itself is not measured.
//! Keys and values are taken as zero-copy `Bytes` (no deserialization cost);
//! `bytes` counts key plus value sizes. The last line is
//! `{"messages":N,"bytes":B,"elapsed_ms":E,"msgs_per_sec":X,"mb_per_sec":Y,"peak_rss_kb":R}`.
//! Every second, unless `--quiet`, a progress line goes to stderr (records
//! read, rate over the last second).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess::consumer::{
    BytesDeserializer, ConsumerConfig, KafkaConsumer, NoOpRebalanceListener, TopicPartition,
};

struct Args {
    props: Vec<(String, String)>,
    topic: String,
    messages: u64,
    subscribe: bool,
    quiet: bool,
}

const USAGE: &str = "usage: consumer_perf --bootstrap HOST:PORT --topic T --messages N \
    [--group G [--subscribe]] [--quiet] [-X key=value]...";

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

fn parse_args() -> Result<Args, String> {
    let mut props = vec![
        ("auto.offset.reset".to_string(), "earliest".to_string()),
        ("enable.auto.commit".to_string(), "false".to_string()),
    ];
    let mut topic = None;
    let mut messages = None;
    let mut subscribe = false;
    let mut quiet = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bootstrap" => props.push(("bootstrap.servers".into(), value("--bootstrap")?)),
            "--topic" => topic = Some(value("--topic")?),
            "--messages" => {
                let v = value("--messages")?;
                messages = Some(v.parse().map_err(|_| format!("bad --messages {v}"))?);
            }
            "--group" => props.push(("group.id".into(), value("--group")?)),
            "--subscribe" => subscribe = true,
            "--quiet" => quiet = true,
            "-X" => {
                let kv = value("-X")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("-X expects key=value, got {kv}"))?;
                props.push((k.to_string(), v.to_string()));
            }
            // An empty error: the caller prints the usage and exits 0.
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if subscribe && !props.iter().any(|(k, _)| k == "group.id") {
        return Err("--subscribe needs --group".into());
    }
    Ok(Args {
        props,
        topic: topic.ok_or("--topic is required")?,
        messages: messages.ok_or("--messages is required")?,
        subscribe,
        quiet,
    })
}

/// Peak resident set size of this process (Linux `VmHWM`), 0 if unknown.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn run(args: Args, config: ConsumerConfig) -> Result<String, String> {
    let mut consumer: KafkaConsumer<Bytes, Bytes> =
        KafkaConsumer::new(config, BytesDeserializer, BytesDeserializer)
            .map_err(|e| e.to_string())?;
    let partitions: Vec<TopicPartition> = consumer
        .partitions_for(&args.topic)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|p| TopicPartition::new(args.topic.clone(), p.partition))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {} does not exist", args.topic));
    }
    if args.subscribe {
        consumer
            .subscribe([args.topic.as_str()], NoOpRebalanceListener)
            .map_err(|e| e.to_string())?;
    } else {
        consumer.assign(partitions).map_err(|e| e.to_string())?;
        consumer
            .seek_to_beginning(consumer.assignment())
            .map_err(|e| e.to_string())?;
    }
    let mut start = Instant::now();
    let mut started = !args.subscribe;
    let mut messages = 0u64;
    let mut bytes = 0u64;
    let mut idle_since: Option<Instant> = None;
    // Progress: one clock read per poll, a line per second.
    let mut last_report = (Instant::now(), 0u64);
    while messages < args.messages {
        let records = consumer
            .poll(Duration::from_millis(200))
            .map_err(|e| e.to_string())?;
        if !args.quiet {
            let now = Instant::now();
            let since = now.duration_since(last_report.0);
            if since >= Duration::from_secs(1) {
                let rate = (messages - last_report.1) as f64 / since.as_secs_f64();
                eprintln!(
                    "{messages} of {} records read, {rate:.0} records/s",
                    args.messages
                );
                last_report = (now, messages);
            }
        }
        if records.is_empty() {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "only {messages} of {} records arrived (nothing for 30 s)",
                    args.messages
                ));
            }
            continue;
        }
        idle_since = None;
        if !started {
            // Subscribed: the group is joined, measure from here.
            start = Instant::now();
            started = true;
        }
        for r in &records {
            bytes += r.key.as_ref().map(|k| k.len()).unwrap_or(0) as u64
                + r.value.as_ref().map(|v| v.len()).unwrap_or(0) as u64;
        }
        messages += records.count() as u64;
    }
    let elapsed = start.elapsed();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let summary = serde_json::json!({
        "messages": messages,
        "bytes": bytes,
        "elapsed_ms": elapsed.as_millis() as u64,
        "msgs_per_sec": (messages as f64 / secs).round(),
        "mb_per_sec": ((bytes as f64 / (1024.0 * 1024.0)) / secs * 100.0).round() / 100.0,
        "peak_rss_kb": peak_rss_kb(),
    });
    let _ = consumer.close(Duration::from_secs(5));
    Ok(summary.to_string())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
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
    let config = match ConsumerConfig::from_properties(args.props.iter().map(|(k, v)| (k, v))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    match run(args, config) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
