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

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = arg("--bootstrap").ok_or("--bootstrap is required")?;
    let topic = arg("--topic").ok_or("--topic is required")?;
    let group = arg("--group").ok_or("--group is required")?;
    let partition: i32 = arg("--partition").unwrap_or_else(|| "0".into()).parse()?;
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
    println!("committed before: {:?}", consumer.committed([&tp])?[&tp]);
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
            println!("processing offset {}: {:?}", r.offset, r.value);
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
                Some(Box::new(move |_, result| {
                    println!("async commit of {next} finished: {result:?}")
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
