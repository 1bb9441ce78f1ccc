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

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = arg("--bootstrap").ok_or("--bootstrap is required")?;
    let topic = arg("--topic").ok_or("--topic is required")?;
    let partition: i32 = arg("--partition").unwrap_or_else(|| "0".into()).parse()?;
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

    let start = match arg("--offset") {
        Some(o) => o.parse()?,
        None => begin + (end - begin) / 2,
    };
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
