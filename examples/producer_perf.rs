//! Producer throughput: sends N records of S bytes as fast as the producer
//! takes them and prints one JSON summary line at the end.
//!
//! ```text
//! cargo run --release --example producer_perf -- --bootstrap B --topic T \
//!     --messages N --size S [--acks A] [--compression C] [-X key=value]...
//! ```
//!
//! Last line: `{"messages":N,"bytes":B,"elapsed_ms":E,"msgs_per_sec":X,"mb_per_sec":Y}`
//! (elapsed from the first send until every record is acknowledged).
//! Every second, unless `--quiet`, a progress line goes to stderr (records
//! acknowledged, rate over the last second).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess::producer::{
    BytesSerializer, KafkaProducer, ProducerConfig, ProducerRecord, VoidSerializer,
};

struct Args {
    props: Vec<(String, String)>,
    topic: String,
    messages: u64,
    size: usize,
    quiet: bool,
}

const USAGE: &str = "usage: producer_perf --bootstrap B --topic T --messages N [--size S] \
    [--acks A] [--compression C] [--quiet] [-X key=value]...";

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

/// Prints, every second until `done`, how many of `total` records are
/// acknowledged and the rate over the last second.
fn report_progress(acked: Arc<AtomicU64>, total: u64, done: Arc<AtomicBool>) {
    let mut last = (Instant::now(), 0u64);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        let since = now.duration_since(last.0);
        if since >= Duration::from_secs(1) {
            let n = acked.load(Ordering::Relaxed);
            let rate = (n - last.1) as f64 / since.as_secs_f64();
            eprintln!("{n} of {total} records acknowledged, {rate:.0} records/s");
            last = (now, n);
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut props = Vec::new();
    let (mut topic, mut messages, mut size) = (None, None, 100usize);
    let mut quiet = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bootstrap" => props.push(("bootstrap.servers".into(), value("--bootstrap")?)),
            "--topic" => topic = Some(value("--topic")?),
            "--messages" => {
                messages = Some(value("--messages")?.parse().map_err(|_| "bad --messages")?)
            }
            "--size" => size = value("--size")?.parse().map_err(|_| "bad --size")?,
            "--acks" => props.push(("acks".into(), value("--acks")?)),
            "--compression" => props.push(("compression.type".into(), value("--compression")?)),
            "-X" => {
                let kv = value("-X")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("-X expects key=value, got {kv}"))?;
                props.push((k.to_string(), v.to_string()));
            }
            "--quiet" => quiet = true,
            // An empty error: the caller prints the usage and exits 0.
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        props,
        topic: topic.ok_or("--topic is required")?,
        messages: messages.ok_or("--messages is required")?,
        size,
        quiet,
    })
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
    let config = match ProducerConfig::from_properties(args.props.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    let producer = match KafkaProducer::new(config, VoidSerializer, BytesSerializer) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Warm up: metadata and the producer id before the clock starts.
    if let Err(e) = producer.partitions_for(&args.topic) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    // Varied (but cheap) payload bytes, so compression is not trivially perfect.
    let payload: Vec<u8> = (0..args.size).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let payload = Bytes::from(payload);
    let failed = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let progress = (!args.quiet).then(|| {
        let (acked, done, total) = (acked.clone(), done.clone(), args.messages);
        std::thread::spawn(move || report_progress(acked, total, done))
    });
    let first_error = Arc::new(std::sync::Mutex::new(None));
    let start = Instant::now();
    for _ in 0..args.messages {
        let f = failed.clone();
        let fe = first_error.clone();
        let a = acked.clone();
        producer.send_with_callback(
            ProducerRecord::new(args.topic.clone(), payload.clone()),
            move |r| {
                a.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = r {
                    f.fetch_add(1, Ordering::Relaxed);
                    fe.lock().unwrap().get_or_insert_with(|| e.to_string());
                }
            },
        );
    }
    let queued = start.elapsed();
    producer.flush();
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
    }
    eprintln!(
        "queued in {} ms, acknowledged after {} ms",
        queued.as_millis(),
        elapsed.as_millis()
    );
    producer.close(Duration::from_secs(30));
    let failed = failed.load(Ordering::Relaxed);
    if let Some(e) = first_error.lock().unwrap().as_ref() {
        eprintln!("{failed} records failed; first error: {e}");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    let bytes = args.messages * args.size as u64;
    println!(
        "{{\"messages\":{},\"bytes\":{},\"elapsed_ms\":{},\"msgs_per_sec\":{:.1},\"mb_per_sec\":{:.3}}}",
        args.messages,
        bytes,
        elapsed.as_millis(),
        args.messages as f64 / secs,
        bytes as f64 / secs / 1_048_576.0
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
