//! An asynchronous producer with delivery reports (sarama's AsyncProducer):
//! records go in, successes and errors come out on two channels, each
//! carrying the metadata given with the record.
//!
//! ```text
//! cargo run --example produce_async -- 127.0.0.1:9092 my-topic
//! ```

use std::time::Duration;

use prozess::producer::{
    AsyncProducer, KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_string());
    let topic = args.next().unwrap_or_else(|| "prozess-example".to_string());

    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "10"),
        ("compression.type", "lz4"),
    ])?;
    let producer = KafkaProducer::new(config, StringSerializer, StringSerializer)?;
    // The third type parameter is the user metadata handed back in reports.
    let producer: AsyncProducer<String, String, usize> = AsyncProducer::new(producer);

    let n = 1000;
    for i in 0..n {
        producer.send(
            ProducerRecord::new(topic.clone(), format!("message {i}")),
            i,
        );
    }
    let (mut ok, mut failed) = (0, 0);
    while ok + failed < n {
        if let Ok(report) = producer.successes().recv_timeout(Duration::from_millis(10)) {
            if report.user_metadata % 100 == 0 {
                println!(
                    "message {} -> partition {} offset {}",
                    report.user_metadata, report.metadata.partition, report.metadata.offset
                );
            }
            ok += 1;
        }
        while let Ok(err) = producer.errors().try_recv() {
            eprintln!("message {} failed: {}", err.user_metadata, err.error);
            failed += 1;
        }
    }
    println!("{ok} delivered, {failed} failed");
    producer.close(Duration::from_secs(10));
    Ok(())
}
