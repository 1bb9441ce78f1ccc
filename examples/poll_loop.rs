//! The canonical consumer-group loop: subscribe with a rebalance listener,
//! poll, process, commit_sync; on Ctrl-C (SIGINT) or SIGTERM the poll is
//! woken up, the offsets are committed and the consumer closes (leaving the
//! group, so the others take over its partitions at once).
//!
//! ```text
//! cargo run --example poll_loop -- --bootstrap 127.0.0.1:9092 --topic T[,T2...] \
//!     --group G [-X key=value]...
//! ```
//!
//! Each record is printed as `partition offset value`. At-least-once: offsets
//! are committed after the records of a poll are processed, and in
//! `on_partitions_revoked` before partitions move to another member.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prozess::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, Error, KafkaConsumer, StringDeserializer,
    TopicPartition, WakeupHandle,
};

type Consumer = KafkaConsumer<String, String>;

/// Commits what was processed before partitions are taken away.
struct CommitOnRevoke;

impl ConsumerRebalanceListener<String, String> for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        eprintln!("revoked: {}", list(partitions));
        // The generation is still valid here: this commit is accepted.
        consumer.commit_sync()
    }

    fn on_partitions_assigned(
        &mut self,
        _consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        eprintln!("assigned: {}", list(partitions));
        Ok(())
    }

    fn on_partitions_lost(
        &mut self,
        _consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        // Another member may own them already: do not commit.
        eprintln!("lost: {}", list(partitions));
        Ok(())
    }
}

fn list(tps: &[TopicPartition]) -> String {
    let v: Vec<String> = tps.iter().map(|t| t.to_string()).collect();
    format!("[{}]", v.join(", "))
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

fn run(props: Vec<(String, String)>, topics: Vec<String>) -> Result<(), Error> {
    let config = ConsumerConfig::from_properties(props.iter().map(|(k, v)| (k, v)))?;
    let mut consumer: Consumer =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer)?;
    wake_on_signals(consumer.wakeup_handle());
    consumer.subscribe(&topics, CommitOnRevoke)?;
    let result = loop {
        let records = match consumer.poll(Duration::from_millis(500)) {
            Ok(r) => r,
            Err(Error::Wakeup) => break Ok(()),
            Err(e) => break Err(e),
        };
        for r in &records {
            println!(
                "{} {} {}",
                r.partition,
                r.offset,
                r.value.as_deref().unwrap_or("")
            );
        }
        if !records.is_empty() {
            match consumer.commit_sync() {
                Ok(()) => {}
                Err(Error::Wakeup) => break Ok(()),
                // The group moved on (rebalance, or processing took longer
                // than max.poll.interval.ms): the records are redelivered.
                Err(e @ (Error::CommitFailed(_) | Error::RebalanceInProgress)) => {
                    eprintln!("commit failed, continuing: {e}")
                }
                Err(e) => break Err(e),
            }
        }
    };
    eprintln!("shutting down");
    // Commit what was processed, then leave the group.
    if let Err(e) = consumer.commit_sync() {
        eprintln!("final commit failed: {e}");
    }
    consumer.close(Duration::from_secs(10))?;
    result
}

const USAGE: &str =
    "usage: poll_loop --bootstrap HOST:PORT --topic T[,T2] --group G [-X key=value]...";

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

/// An error in the arguments: says what, shows the usage, exit code 2.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut props: Vec<(String, String)> = vec![
        ("enable.auto.commit".into(), "false".into()),
        ("auto.offset.reset".into(), "earliest".into()),
    ];
    let mut topics = Vec::new();
    let mut group = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        if !["--bootstrap", "--topic", "--group", "-X"].contains(&arg.as_str()) {
            return usage_error(&format!("unknown argument {arg}"));
        }
        let Some(v) = it.next() else {
            return usage_error(&format!("{arg} needs a value"));
        };
        match arg.as_str() {
            "--bootstrap" => props.push(("bootstrap.servers".into(), v)),
            "--topic" => topics.extend(v.split(',').map(|t| t.trim().to_string())),
            "--group" => {
                props.push(("group.id".into(), v));
                group = true;
            }
            "-X" => match v.split_once('=') {
                Some((k, x)) => props.push((k.into(), x.into())),
                None => return usage_error(&format!("-X expects key=value, got {v}")),
            },
            other => return usage_error(&format!("unknown argument {other}")),
        }
    }
    if topics.is_empty() || !group {
        return usage_error("--topic and --group are required");
    }
    init_logging();
    match run(props, topics) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
