//! Prints the records of a topic, one line each, like
//! `kcat -C -f '%p\t%o\t%k\t%s\n'`.
//!
//! ```text
//! cargo run --example consume -- --bootstrap 127.0.0.1:9092 --topic T \
//!     [--partitions 0,1] [--group G] [--from-beginning] [--max-messages N] \
//!     [--commit sync|async|none] [--exit-at-end] [-X key=value]...
//! ```
//!
//! With `--group G` (and no `--partitions`) the consumer subscribes: the
//! group assigns the partitions, consumed offsets are committed after each
//! poll and in `on_partitions_revoked` (`--commit sync`, the default, or
//! `async`), and SIGINT/SIGTERM wake the poll up, commit and close (leaving
//! the group). Otherwise partitions are assigned manually (all of the
//! topic's unless `--partitions`); with `--group` they start at the group's
//! committed offset. Without a committed offset the start is the end of the
//! partition, or its beginning with `--from-beginning`. `--exit-at-end` stops
//! once every (assigned) partition has been read up to its end. A null key
//! prints as an empty field; keys and values are written as they are (bytes).
//!
//! Only what was printed is committed: the offset after the last printed
//! record of each partition (with `--max-messages` a poll may return more
//! records than are printed; their positions are not committed).
//! Logs go to stderr, filtered by `RUST_LOG` (default: warnings, and group
//! membership changes).

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prozess::consumer::{
    BytesDeserializer, ConsumerConfig, ConsumerRebalanceListener, Error, KafkaConsumer,
    OffsetAndMetadata, TopicPartition, WakeupHandle,
};

type Consumer = KafkaConsumer<Bytes, Bytes>;

const USAGE: &str =
    "usage: consume --bootstrap HOST:PORT --topic T [--partitions 0,1] [--group G] \
    [--from-beginning] [--max-messages N] [--commit sync|async|none] [--exit-at-end] \
    [-X key=value]...";

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings, and group
/// membership changes, so a user sees why a join waits).
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

/// Per partition, the offset after the last printed record that is not
/// committed yet (shared with the rebalance listener).
type Printed = Arc<Mutex<HashMap<TopicPartition, OffsetAndMetadata>>>;

/// Commits exactly what was printed since the last commit (never the
/// consumer's positions: a poll may have returned records not printed).
fn commit_printed(consumer: &mut Consumer, printed: &Printed, commit: Commit) -> Result<(), Error> {
    let offsets = std::mem::take(&mut *printed.lock().unwrap_or_else(|e| e.into_inner()));
    if offsets.is_empty() {
        return Ok(());
    }
    match commit {
        Commit::Sync => consumer.commit_sync_offsets(offsets),
        Commit::Async => consumer.commit_async_offsets(
            offsets,
            Some(Box::new(|_, result| {
                if let Err(e) = result {
                    eprintln!("async commit failed: {e}");
                }
            })),
        ),
        Commit::None => Ok(()),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Commit {
    Sync,
    Async,
    None,
}

struct Args {
    props: Vec<(String, String)>,
    topic: String,
    partitions: Option<Vec<i32>>,
    group: bool,
    max_messages: Option<u64>,
    commit: Option<Commit>,
    exit_at_end: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        props: Vec::new(),
        topic: String::new(),
        partitions: None,
        group: false,
        max_messages: None,
        commit: None,
        exit_at_end: false,
    };
    let mut from_beginning = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--bootstrap" => a
                .props
                .push(("bootstrap.servers".into(), value("--bootstrap")?)),
            "--topic" => a.topic = value("--topic")?,
            "--partitions" => {
                let v = value("--partitions")?;
                let parts = v
                    .split(',')
                    .map(|p| p.trim().parse::<i32>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| format!("--partitions expects numbers like 0,1, got {v}"))?;
                a.partitions = Some(parts);
            }
            "--group" => {
                a.props.push(("group.id".into(), value("--group")?));
                a.group = true;
            }
            "--from-beginning" => from_beginning = true,
            "--max-messages" => {
                let v = value("--max-messages")?;
                a.max_messages = Some(v.parse().map_err(|_| format!("bad --max-messages {v}"))?);
            }
            "--commit" => {
                a.commit = Some(match value("--commit")?.as_str() {
                    "sync" => Commit::Sync,
                    "async" => Commit::Async,
                    "none" => Commit::None,
                    other => {
                        return Err(format!("--commit expects sync, async or none, got {other}"))
                    }
                })
            }
            "--exit-at-end" => a.exit_at_end = true,
            "-X" => {
                let kv = value("-X")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("-X expects key=value, got {kv}"))?;
                a.props.push((k.to_string(), v.to_string()));
            }
            // An empty error: the caller prints the usage and exits 0.
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.topic.is_empty() {
        return Err("--topic is required".into());
    }
    if a.commit.is_some_and(|c| c != Commit::None) && !a.group {
        return Err("--commit needs --group".into());
    }
    let reset = if from_beginning { "earliest" } else { "latest" };
    a.props
        .insert(0, ("auto.offset.reset".into(), reset.into()));
    // Commits are explicit here (after each poll), never automatic.
    a.props
        .insert(0, ("enable.auto.commit".into(), "false".into()));
    Ok(a)
}

/// Commits what was printed before partitions move to another member.
struct CommitOnRevoke(Commit, Printed);

impl ConsumerRebalanceListener<Bytes, Bytes> for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        eprintln!("revoked: {}", list(partitions));
        commit_printed(consumer, &self.1, self.0)
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

fn run(args: Args, config: ConsumerConfig) -> Result<(), String> {
    let mut consumer: Consumer = KafkaConsumer::new(config, BytesDeserializer, BytesDeserializer)
        .map_err(|e| e.to_string())?;
    let commit = match args.commit {
        Some(c) => c,
        None if args.group => Commit::Sync,
        None => Commit::None,
    };
    wake_on_signals(consumer.wakeup_handle());
    let subscribed = args.group && args.partitions.is_none();
    let printed = Printed::default();
    let mut partitions: Vec<TopicPartition> = Vec::new();
    if subscribed {
        consumer
            .subscribe([&args.topic], CommitOnRevoke(commit, printed.clone()))
            .map_err(|e| e.to_string())?;
    } else {
        partitions = match &args.partitions {
            Some(p) => p
                .iter()
                .map(|&p| TopicPartition::new(args.topic.clone(), p))
                .collect(),
            None => {
                let meta = consumer
                    .partitions_for(&args.topic)
                    .map_err(|e| e.to_string())?;
                if meta.is_empty() {
                    return Err(format!("topic {} does not exist", args.topic));
                }
                meta.iter()
                    .map(|p| TopicPartition::new(args.topic.clone(), p.partition))
                    .collect()
            }
        };
        consumer
            .assign(partitions.clone())
            .map_err(|e| e.to_string())?;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = consume(
        &mut consumer,
        &args,
        commit,
        &printed,
        &partitions,
        &mut out,
    );
    out.flush().map_err(|e| e.to_string())?;
    if STOP.load(Ordering::SeqCst) {
        eprintln!("signal received: committing and closing");
    }
    // Commit what was printed (async commits are settled by close), leave
    // the group and close.
    let last = match commit {
        Commit::None => Ok(()),
        _ => match commit_printed(&mut consumer, &printed, Commit::Sync) {
            Err(e @ (Error::CommitFailed(_) | Error::RebalanceInProgress)) => {
                eprintln!("final commit failed: {e}");
                Ok(())
            }
            r => r.map_err(|e| e.to_string()),
        },
    };
    let closed = consumer
        .close(Duration::from_secs(10))
        .map_err(|e| e.to_string());
    result.and(last).and(closed)
}

/// The poll loop; returns when done, or on a signal (wakeup).
fn consume(
    consumer: &mut Consumer,
    args: &Args,
    commit: Commit,
    printed: &Printed,
    partitions: &[TopicPartition],
    out: &mut impl Write,
) -> Result<(), String> {
    let mut count = 0u64;
    loop {
        let records = match consumer.poll(Duration::from_millis(500)) {
            Ok(r) => r,
            Err(Error::Wakeup) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        for r in &records {
            let key = r.key.as_deref().unwrap_or(&[]);
            let value = r.value.as_deref().unwrap_or(&[]);
            write!(out, "{}\t{}\t", r.partition, r.offset).map_err(|e| e.to_string())?;
            out.write_all(key).map_err(|e| e.to_string())?;
            out.write_all(b"\t").map_err(|e| e.to_string())?;
            out.write_all(value).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
            if commit != Commit::None {
                let next = OffsetAndMetadata {
                    offset: r.offset + 1,
                    leader_epoch: r.leader_epoch,
                    metadata: String::new(),
                };
                printed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(TopicPartition::new(&*r.topic, r.partition), next);
            }
            count += 1;
            if args.max_messages == Some(count) {
                break;
            }
        }
        if !records.is_empty() {
            // Out before the commit: what is committed has been written.
            out.flush().map_err(|e| e.to_string())?;
            match commit_printed(consumer, printed, commit) {
                Ok(()) => {}
                Err(Error::Wakeup) => return Ok(()),
                // The group rebalanced under us: the records come again.
                Err(e @ (Error::CommitFailed(_) | Error::RebalanceInProgress)) => {
                    eprintln!("commit failed: {e}")
                }
                Err(e) => return Err(e.to_string()),
            }
        } else {
            out.flush().map_err(|e| e.to_string())?;
        }
        if args.max_messages.is_some_and(|m| count >= m) {
            return Ok(());
        }
        if args.exit_at_end && records.is_empty() {
            let assigned = if partitions.is_empty() {
                consumer.assignment()
            } else {
                partitions.to_vec()
            };
            if !assigned.is_empty()
                && assigned
                    .iter()
                    .all(|tp| consumer.current_lag(tp).is_some_and(|lag| lag <= 0))
            {
                return Ok(());
            }
        }
    }
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
