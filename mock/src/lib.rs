//! prozess-mock: a Kafka cluster inside a test.
//!
//! [`MockCluster`] is an in-process cluster of N brokers, written as a
//! sans-IO state machine ([`ClusterState`]) over the protocol crate's
//! request and response types. Tests reach it two ways:
//!
//! - [`MockCluster::client`]: a [`KafkaClient`](prozess_network::KafkaClient)
//!   backed by the cluster and a shared [`MockTime`]: no sockets, no threads;
//!   time moves only when the test advances it, or when a poll would block
//!   (then the clock jumps to the poll's next deadline).
//! - [`MockCluster::bootstrap`]: the cluster served on 127.0.0.1 sockets, one
//!   listener per broker, so any Kafka client can talk to it.
//!
//! Faults: [`MockCluster::fail_next`] (error codes for the next N requests of
//! an API), [`MockCluster::move_leader`], [`MockCluster::kill_broker`] /
//! [`MockCluster::revive_broker`].
//!
//! ```
//! use prozess_mock::MockCluster;
//!
//! let cluster = MockCluster::new(3);
//! cluster.create_topic("events", 6);
//! assert_eq!(cluster.partition_count("events"), Some(6));
//! assert_eq!(cluster.high_watermark("events", 0), Some(0));
//! ```
//!
//! What it does not model is listed in the crate's README.

mod client;
mod cluster;
mod faults;
mod group;
mod log;
mod server;
pub mod state;

pub use client::MockClusterClient;
pub use cluster::{MockCluster, ServedCluster};
pub use group::GroupState;
pub use prozess_network::mock::MockTime;
pub use state::{ClusterConfig, ClusterState, Reply, RequestId};

#[cfg(test)]
mod tests;
