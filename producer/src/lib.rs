//! prozess-producer: a Kafka producer in the shape of the Java client's
//! `KafkaProducer`, with the sync and async facades of the Go client sarama.
//!
//! - [`KafkaProducer`]: `send` returns a [`DeliveryFuture`]; `flush`, `close`,
//!   `partitions_for`.
//! - [`SyncProducer`] (send and wait) and [`AsyncProducer`] (delivery reports
//!   on channels).
//! - [`RecordAccumulator`](accumulator::RecordAccumulator) batches per
//!   partition; the [`Sender`](sender::Sender) drains batches to the leaders
//!   on its own thread with its own network client.
//! - Partitioners: murmur2 on the key exactly as the Java client, uniform
//!   sticky for records without key, round robin, random, manual, your own.
//! - Idempotence (on by default): producer id, epoch and per-partition
//!   sequence numbers, so retries neither duplicate nor reorder records.
//! - Transactions (`transactional.id`): `init_transactions`,
//!   `begin_transaction`, `send_offsets_to_transaction`,
//!   `commit_transaction`, `abort_transaction`, with the Java client's
//!   states and error classes ([`transactions`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use prozess_producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
//!
//! let config = ProducerConfig::from_properties([
//!     ("bootstrap.servers", "127.0.0.1:9092"),
//!     ("linger.ms", "10"),
//!     ("compression.type", "zstd"),
//! ])?;
//! let producer = KafkaProducer::new(config, StringSerializer, StringSerializer)?;
//! let delivery = producer.send(ProducerRecord::with_key("orders", "k1".to_string(), "v1".to_string()));
//! producer.send_with_callback(ProducerRecord::new("orders", "v2".to_string()), |result| {
//!     if let Err(e) = result {
//!         eprintln!("not delivered: {e}");
//!     }
//! });
//! let md = delivery.get()?; // blocks until acknowledged
//! println!("{}-{} @ {}", md.topic, md.partition, md.offset);
//! producer.close(Duration::from_secs(10));
//! # Ok::<(), prozess_producer::Error>(())
//! ```

pub mod accumulator;
pub mod config;
pub mod delivery;
pub mod error;
pub mod metadata;
pub mod metrics;
pub mod partitioner;
pub mod producer;
pub mod record;
pub mod security;
pub mod sender;
pub mod serializer;
pub mod transaction_manager;
pub mod transactions;

pub use config::{Acks, CompressionType, PartitionerKind, ProducerConfig, ProducerConfigBuilder};
pub use delivery::{Callback, DeliveryFuture};
pub use error::{Error, Result};
pub use metrics::StatisticsHandler;
pub use partitioner::{
    murmur2, to_positive, DefaultPartitioner, ManualPartitioner, PartitionLoad, Partitioner,
    RandomPartitioner, RoundRobinPartitioner, TopicPartitions,
};
pub use producer::{
    AsyncProducer, DeliveryReport, KafkaProducer, ProducerError, ProducerMessage, SyncProducer,
};
pub use prozess_network::{
    ConsumerGroupMetadata, OffsetAndMetadata, SaslMechanism, SecurityProtocol,
};
pub use record::{Header, ProducerRecord, RecordMetadata};
pub use serializer::{
    ByteArraySerializer, BytesSerializer, IntegerSerializer, LongSerializer, Serializer,
    StringSerializer, VoidSerializer,
};
pub use transactions::TransactionState;
