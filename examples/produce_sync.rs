//! The smallest synchronous producer: send a few records and wait for each
//! one's partition and offset (sarama's SyncProducer).
//!
//! ```text
//! cargo run --example produce_sync -- 127.0.0.1:9092 my-topic
//! ```

use std::time::Duration;

use prozess::producer::{
    KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer, SyncProducer,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_string());
    let topic = args.next().unwrap_or_else(|| "prozess-example".to_string());

    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .client_id("produce-sync-example")
        .build()?;
    let producer = SyncProducer::new(KafkaProducer::new(
        config,
        StringSerializer,
        StringSerializer,
    )?);

    for i in 0..10 {
        let record =
            ProducerRecord::with_key(topic.clone(), format!("key-{i}"), format!("hello {i}"))
                .header("source", "produce_sync");
        let md = producer.send(record)?;
        println!(
            "{}-{} offset {} timestamp {}",
            md.topic, md.partition, md.offset, md.timestamp
        );
    }
    producer.close(Duration::from_secs(10));
    Ok(())
}
