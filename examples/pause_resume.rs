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

use std::process::ExitCode;
use std::time::Duration;

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = arg("--bootstrap").ok_or("--bootstrap is required")?;
    let topic = arg("--topic").ok_or("--topic is required")?;
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
