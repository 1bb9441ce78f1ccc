//! A transactional producer that is killed mid-transaction, for the crash
//! test (integration-tests/tests/transactions.rs): it initializes
//! transactions, begins one, writes COUNT records "crash-0".. to partition 0
//! of TOPIC, waits until the broker acknowledged them all, prints `written`
//! on stdout and then waits, with the transaction open, to be killed
//! (SIGKILL: no abort, no close).
//!
//! usage: txn-crash-producer BOOTSTRAP TOPIC TRANSACTIONAL_ID COUNT [key=value ...]

use std::io::Write;
use std::time::Duration;

use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};

const TIMEOUT: Duration = Duration::from_secs(60);

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("error: {what}: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!(
            "usage: txn-crash-producer BOOTSTRAP TOPIC TRANSACTIONAL_ID COUNT [key=value ...]"
        );
        std::process::exit(2);
    }
    let count: usize = args[3].parse().unwrap_or_else(|_| {
        eprintln!("COUNT must be a number: {}", args[3]);
        std::process::exit(2)
    });
    let mut props = vec![
        ("bootstrap.servers".to_string(), args[0].clone()),
        ("transactional.id".to_string(), args[2].clone()),
    ];
    for kv in &args[4..] {
        let (k, v) = kv.split_once('=').unwrap_or_else(|| {
            eprintln!("not key=value: {kv}");
            std::process::exit(2)
        });
        props.push((k.to_string(), v.to_string()));
    }
    let config = ProducerConfig::from_properties(props).unwrap_or_else(|e| fail("config", e));
    let producer: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer)
            .unwrap_or_else(|e| fail("producer", e));
    producer
        .init_transactions(TIMEOUT)
        .unwrap_or_else(|e| fail("init_transactions", e));
    producer
        .begin_transaction()
        .unwrap_or_else(|e| fail("begin_transaction", e));
    let futures: Vec<_> = (0..count)
        .map(|i| {
            producer.send(ProducerRecord::new(args[1].clone(), format!("crash-{i}")).partition(0))
        })
        .collect();
    for f in futures {
        f.get().unwrap_or_else(|e| fail("send", e));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "written");
    let _ = out.flush();
    drop(out);
    // The transaction stays open until the test kills this process.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
