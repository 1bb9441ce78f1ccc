//! Starts N consumers (one thread each) in one group and prints who owns
//! which partition after each rebalance; then stops them one by one (each
//! leaves the group, the others take its partitions over).
//!
//! ```text
//! cargo run --example group_members -- --bootstrap 127.0.0.1:9092 --topic T \
//!     --group G [--members 3] [--seconds 20] [--stagger-ms 2000] [-X key=value]...
//! ```
//!
//! `partition.assignment.strategy` (e.g. `-X partition.assignment.strategy=cooperative-sticky`)
//! chooses the assignor; with cooperative-sticky only moved partitions are
//! revoked.
//!
//! Joins are made quick by default (`session.timeout.ms=6000`, Kafka's
//! smallest by default, and `heartbeat.interval.ms=1000`): a test broker such
//! as Tansu takes about half the session timeout per join round, so with the
//! Java default of 45 s no split would show within the default 20 s. `-X`
//! overrides them.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prozess::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, Error, KafkaConsumer, StringDeserializer,
    TopicPartition, WakeupHandle,
};

type Consumer = KafkaConsumer<String, String>;

struct Printer {
    name: String,
    start: Instant,
}

impl Printer {
    fn print(&self, what: &str, tps: &[TopicPartition], owns: &[TopicPartition]) {
        println!(
            "{:>7.1}s {}: {what} {} -> owns {}",
            self.start.elapsed().as_secs_f64(),
            self.name,
            list(tps),
            list(owns)
        );
    }
}

impl ConsumerRebalanceListener<String, String> for Printer {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        let owns: Vec<TopicPartition> = consumer
            .assignment()
            .into_iter()
            .filter(|tp| !partitions.contains(tp))
            .collect();
        self.print("revoked", partitions, &owns);
        consumer.commit_sync()
    }

    fn on_partitions_assigned(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        self.print("assigned", partitions, &consumer.assignment());
        Ok(())
    }

    fn on_partitions_lost(
        &mut self,
        _consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<(), Error> {
        self.print("lost", partitions, &[]);
        Ok(())
    }
}

fn list(tps: &[TopicPartition]) -> String {
    let v: Vec<String> = tps.iter().map(|t| t.to_string()).collect();
    format!("[{}]", v.join(", "))
}

struct Member {
    stop: Arc<AtomicBool>,
    wakeup: WakeupHandle,
    thread: JoinHandle<Result<u64, Error>>,
}

fn start_member(
    name: String,
    props: &[(String, String)],
    topic: &str,
    start: Instant,
) -> Result<Member, Error> {
    let mut props = props.to_vec();
    props.push(("client.id".into(), name.clone()));
    let config = ConsumerConfig::from_properties(props.iter().map(|(k, v)| (k, v)))?;
    let mut consumer: Consumer =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer)?;
    consumer.subscribe([topic], Printer { name, start })?;
    let stop = Arc::new(AtomicBool::new(false));
    let wakeup = consumer.wakeup_handle();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut count = 0u64;
        while !flag.load(Ordering::SeqCst) {
            match consumer.poll(Duration::from_millis(500)) {
                Ok(records) => {
                    count += records.count() as u64;
                    if count > 0 {
                        match consumer.commit_sync() {
                            Ok(()) | Err(Error::CommitFailed(_) | Error::RebalanceInProgress) => {}
                            Err(Error::Wakeup) => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(Error::Wakeup) => break,
                Err(e) => return Err(e),
            }
        }
        consumer.close(Duration::from_secs(10))?;
        Ok(count)
    });
    Ok(Member {
        stop,
        wakeup,
        thread,
    })
}

const USAGE: &str = "usage: group_members --bootstrap HOST:PORT --topic T --group G [--members N] \
    [--seconds S] [--stagger-ms MS] [-X key=value]...";

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
        ("session.timeout.ms".into(), "6000".into()),
        ("heartbeat.interval.ms".into(), "1000".into()),
    ];
    let (mut topic, mut members, mut seconds, mut stagger) =
        (String::new(), 3usize, 20u64, 2000u64);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        if ![
            "--bootstrap",
            "--topic",
            "--group",
            "--members",
            "--seconds",
            "--stagger-ms",
            "-X",
        ]
        .contains(&arg.as_str())
        {
            return usage_error(&format!("unknown argument {arg}"));
        }
        let Some(v) = it.next() else {
            return usage_error(&format!("{arg} needs a value"));
        };
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{arg}: bad number {v}"))
        };
        let r = match arg.as_str() {
            "--bootstrap" => {
                props.push(("bootstrap.servers".into(), v));
                Ok(())
            }
            "--topic" => {
                topic = v;
                Ok(())
            }
            "--group" => {
                props.push(("group.id".into(), v));
                Ok(())
            }
            "--members" => num(&v).map(|n| members = n.max(1) as usize),
            "--seconds" => num(&v).map(|n| seconds = n),
            "--stagger-ms" => num(&v).map(|n| stagger = n),
            "-X" => match v.split_once('=') {
                Some((k, x)) => {
                    props.push((k.into(), x.into()));
                    Ok(())
                }
                None => Err(format!("-X expects key=value, got {v}")),
            },
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(e) = r {
            return usage_error(&e);
        }
    }
    if topic.is_empty() || !props.iter().any(|(k, _)| k == "group.id") {
        return usage_error("--topic and --group are required");
    }
    init_logging();
    let start = Instant::now();
    let mut running = Vec::new();
    for i in 0..members {
        match start_member(format!("member-{i}"), &props, &topic, start) {
            Ok(m) => running.push(m),
            Err(e) => {
                eprintln!("member-{i}: {e}");
                return ExitCode::FAILURE;
            }
        }
        std::thread::sleep(Duration::from_millis(stagger));
    }
    let until = start + Duration::from_secs(seconds);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    let mut ok = true;
    // Stop them one by one: each departure is a rebalance for the rest.
    while let Some(m) = running.pop() {
        m.stop.store(true, Ordering::SeqCst);
        m.wakeup.wakeup();
        match m.thread.join() {
            Ok(Ok(n)) => println!("member-{} stopped after {n} records", running.len()),
            Ok(Err(e)) => {
                eprintln!("member-{}: {e}", running.len());
                ok = false;
            }
            Err(_) => ok = false,
        }
        std::thread::sleep(Duration::from_millis(stagger));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
