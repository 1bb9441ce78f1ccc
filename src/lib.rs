//! prozess: a pure-Rust Apache Kafka client.
//!
//! This facade re-exports the workspace crates so applications depend on one
//! package; [`admin`] is the [`AdminClient`] crate. [`mock`] is a Kafka cluster for
//! tests (in-process on a mock clock, or on 127.0.0.1 sockets); see
//! `examples/testing_with_mock_cluster.rs`.

pub use prozess_admin as admin;
pub use prozess_consumer as consumer;
pub use prozess_mock as mock;
pub use prozess_network as network;
pub use prozess_producer as producer;
pub use prozess_protocol as protocol;

pub use admin::{AdminClient, AdminConfig, AdminError, NewTopic, OffsetSpec};
pub use prozess_network::{NodeId, TopicPartition};
pub use prozess_protocol::ErrorCode;
