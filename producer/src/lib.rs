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

pub mod accumulator;
pub mod config;
pub mod delivery;
pub mod error;
pub mod metadata;
pub mod partitioner;
pub mod producer;
pub mod record;
pub mod sender;
pub mod serializer;
pub mod transaction_manager;

pub use config::{Acks, CompressionType, PartitionerKind, ProducerConfig, ProducerConfigBuilder};
pub use delivery::{Callback, DeliveryFuture};
pub use error::{Error, Result};
pub use partitioner::{
    murmur2, to_positive, DefaultPartitioner, ManualPartitioner, Partitioner, RandomPartitioner,
    RoundRobinPartitioner, TopicPartitions,
};
pub use producer::{
    AsyncProducer, DeliveryReport, KafkaProducer, ProducerError, ProducerMessage, SyncProducer,
};
pub use record::{Header, ProducerRecord, RecordMetadata};
pub use serializer::{
    ByteArraySerializer, BytesSerializer, IntegerSerializer, LongSerializer, Serializer,
    StringSerializer, VoidSerializer,
};
