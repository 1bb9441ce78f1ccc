//! prozess-consumer: a Java-style `KafkaConsumer`.
//!
//! One thread calls `poll()`, and that call drives everything: network I/O,
//! fetching, decoding and offset commits. The pieces carry the Java client's
//! names: [`SubscriptionState`](subscription_state::SubscriptionState),
//! `Fetcher`, [`FetchSessionHandler`](fetch_session::FetchSessionHandler),
//! [`FetchBuffer`](completed_fetches::FetchBuffer),
//! [`FetchCollector`](fetch_collector::FetchCollector), `OffsetFetcher`,
//! `ConsumerCoordinator`.
//!
//! ```no_run
//! use std::time::Duration;
//! use prozess_consumer::{
//!     ConsumerConfig, ConsumerRebalanceListener, Error, KafkaConsumer, StringDeserializer,
//!     TopicPartition,
//! };
//!
//! /// Commits what was processed before partitions move to another member.
//! struct CommitOnRevoke;
//!
//! impl ConsumerRebalanceListener<String, String> for CommitOnRevoke {
//!     fn on_partitions_revoked(
//!         &mut self,
//!         consumer: &mut KafkaConsumer<String, String>,
//!         _partitions: &[TopicPartition],
//!     ) -> Result<(), Error> {
//!         consumer.commit_sync()
//!     }
//!
//!     fn on_partitions_assigned(
//!         &mut self,
//!         _consumer: &mut KafkaConsumer<String, String>,
//!         partitions: &[TopicPartition],
//!     ) -> Result<(), Error> {
//!         println!("assigned {partitions:?}");
//!         Ok(())
//!     }
//! }
//!
//! let config = ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "my-group"),
//!     ("enable.auto.commit", "false"),
//!     ("auto.offset.reset", "earliest"),
//! ])?;
//! let mut consumer: KafkaConsumer<String, String> =
//!     KafkaConsumer::new(config, StringDeserializer, StringDeserializer)?;
//! consumer.subscribe(["orders"], CommitOnRevoke)?;
//! loop {
//!     let records = match consumer.poll(Duration::from_millis(500)) {
//!         Ok(r) => r,
//!         Err(Error::Wakeup) => break, // wakeup() from another thread
//!         Err(e) => return Err(e),
//!     };
//!     for r in &records {
//!         println!("{} {} {:?}", r.partition, r.offset, r.value);
//!     }
//!     if !records.is_empty() {
//!         consumer.commit_sync()?;
//!     }
//! }
//! consumer.close(Duration::from_secs(10))?; // commits (auto-commit) and leaves the group
//! # Ok::<(), prozess_consumer::Error>(())
//! ```
//!
//! Invariants kept (see DESIGN.md; each has a unit test):
//! - A partition's position moves only when its records are handed to the caller.
//! - Completed fetches of a paused partition stay buffered; they are returned
//!   after resume, not dropped and not re-fetched.
//! - A completed fetch whose fetch offset no longer matches the position
//!   (after seek, reset or reassignment) is discarded.
//! - commit_sync blocks until acknowledged or timed out; commit_async
//!   callbacks run inside a later poll or commit call, in order.
//! - Only `wakeup()` (through a cloneable handle) may be called from another
//!   thread; it makes a blocked poll/commit return `Error::Wakeup`.
//! - Before partitions are given up in a rebalance, `on_partitions_revoked`
//!   runs (after, with auto-commit, their offsets are committed) while the
//!   generation is still valid; lost partitions (fenced, expired) are never
//!   committed.
//! - Commits carry the member's generation (or KIP-848 epoch) and member id;
//!   during a rebalance they fail with `RebalanceInProgress`, after the
//!   member fell out of the group with `CommitFailed`, never applied silently.
//! - Heartbeats keep a member alive between polls for up to
//!   `max.poll.interval.ms` (KIP-62); past that the member leaves the group
//!   and rejoins on its next poll.

mod auth_failure;
pub mod completed_fetches;
pub mod config;
pub mod consumer;
pub mod coordinator;
pub mod deserializer;
pub mod error;
pub mod fetch_collector;
pub mod fetch_session;
pub mod fetcher;
pub mod group;
pub mod metrics;
pub mod offset_fetcher;
pub mod offsets;
pub mod rebalance_listener;
pub mod record;
pub mod subscription_state;

pub use config::{ConsumerConfig, ConsumerConfigBuilder, IsolationLevel, OffsetResetStrategy};
pub use consumer::{ConsumerGroupMetadata, KafkaConsumer};
pub use coordinator::{OffsetCommitCallback, Offsets};
pub use deserializer::{
    BytesDeserializer, DeserializationError, Deserializer, I32Deserializer, I64Deserializer,
    JsonDeserializer, StringDeserializer, UnitDeserializer, VecDeserializer,
};
pub use error::{Error, Result};
pub use metrics::StatisticsHandler;
pub use offsets::{OffsetAndMetadata, OffsetAndTimestamp};
pub use prozess_network::{MetricName, Metrics};
pub use prozess_network::{TopicPartition, WakeupHandle};
pub use rebalance_listener::{ConsumerRebalanceListener, NoOpRebalanceListener};
pub use record::{ConsumerRecord, ConsumerRecords, Header, TimestampType};

#[cfg(test)]
mod tests;
