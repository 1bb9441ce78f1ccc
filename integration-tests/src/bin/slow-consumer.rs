//! A deliberately slow application for the memory test
//! (integration-tests/tests/consumer_memory.rs): it assigns one partition,
//! takes one record per poll (max.poll.records=1) and "works" 50 ms on each,
//! for the given number of seconds, while a fast producer keeps writing.
//! It prints one JSON line: records processed and the process's peak RSS
//! (VmHWM from /proc/self/status), so the test measures the consumer alone.
//!
//! usage: slow-consumer BOOTSTRAP TOPIC SECONDS [key=value ...]

use std::time::{Duration, Instant};

use prozess::consumer::{ConsumerConfig, KafkaConsumer, TopicPartition};

fn peak_rss_kib() -> u64 {
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: slow-consumer BOOTSTRAP TOPIC SECONDS [key=value ...]");
        std::process::exit(2);
    }
    let secs: u64 = args[2].parse().unwrap_or_else(|_| {
        eprintln!("SECONDS must be a number: {}", args[2]);
        std::process::exit(2)
    });
    let mut props = vec![
        ("bootstrap.servers".to_string(), args[0].clone()),
        ("auto.offset.reset".to_string(), "earliest".to_string()),
        ("max.poll.records".to_string(), "1".to_string()),
    ];
    for kv in &args[3..] {
        let (k, v) = kv.split_once('=').unwrap_or_else(|| {
            eprintln!("not key=value: {kv}");
            std::process::exit(2)
        });
        props.push((k.to_string(), v.to_string()));
    }
    let config = ConsumerConfig::from_properties(props).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let mut c = KafkaConsumer::new(
        config,
        prozess::consumer::BytesDeserializer,
        prozess::consumer::BytesDeserializer,
    )
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    c.assign([TopicPartition::new(args[1].as_str(), 0)])
        .expect("assign");
    let end = Instant::now() + Duration::from_secs(secs);
    let mut records = 0u64;
    while Instant::now() < end {
        match c.poll(Duration::from_millis(100)) {
            Ok(batch) => {
                for _ in &batch {
                    records += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "{{\"records\":{records},\"peak_rss_kib\":{}}}",
        peak_rss_kib()
    );
}
