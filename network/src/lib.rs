//! prozess-network: one mio-driven `NetworkClient` per consumer or producer,
//! with connections, in-flight tracking, metadata and a scripted `MockClient`.
//!
//! Nothing here calls into user code: [`KafkaClient::poll`] returns events and
//! the caller acts on them.
//!
//! - [`client`]: the [`KafkaClient`] trait and its events.
//! - [`network_client`]: [`NetworkClient`], the real thing over mio sockets
//!   (connection states Connecting -> (TLS) -> ApiVersions -> (SaslHandshake ->
//!   SaslAuthenticate) -> Ready; its module docs list the invariants).
//! - [`metadata`]: [`Metadata`], sans-IO: brokers, topics, leaders and epochs,
//!   and when to refresh.
//! - [`mock`]: [`mock::MockClient`] for unit tests of the layers above.
//! - [`metrics`]: [`Metrics`] snapshots keyed by Java's metric names, the
//!   windowed stat behind rates, and per-node request figures.
//! - [`config`], [`backoff`], [`wakeup`], [`sasl`], [`tls`], [`error`].
//! - [`security`]: the Java/librdkafka `security.protocol`, `sasl.*` and
//!   `ssl.*` properties mapped onto [`NetworkConfig`], shared by the
//!   consumer, producer and admin client.
//!
//! - [`throttle`]: client-side quota throttling (KIP-219): after a response
//!   with `throttle_time_ms` from a version where the broker answers before
//!   throttling, the connection takes no requests until that time has passed.
//!
//! Group coordinators get a dedicated connection
//! ([`KafkaClient::coordinator_node`]), as in the Java client.
//!
//! SASL sessions with a lifetime are re-authenticated on the same connection
//! (KIP-368); OAUTHBEARER (KIP-255) takes tokens from the application.
//!
//! Not done: GSSAPI (Kerberos).

pub mod backoff;
pub mod client;
pub mod config;
mod connection;
pub mod error;
pub mod group_metadata;
pub mod metadata;
pub mod metrics;
pub mod mock;
pub mod network_client;
pub mod sasl;
pub mod security;
pub mod throttle;
pub mod tls;
pub mod topic_partition;
pub mod wakeup;

pub use backoff::{ExponentialBackoff, XorShiftRng};
pub use client::{
    coordinator_connection_id, coordinators_in, describe_connection_errors, expects_response,
    ClientEvent, ClientRequest, ClientResponse, InFlightInfo, KafkaClient,
};
pub use config::{NetworkConfig, SecurityProtocol};
pub use error::NetworkError;
pub use group_metadata::{ConsumerGroupMetadata, OffsetAndMetadata};
pub use metadata::{
    Broker, LeaderAndEpoch, Metadata, MetadataRequestSpec, MetadataSnapshot, PartitionMetadata,
    TopicMetadata, MAX_TOPIC_NAME_LEN,
};
pub use metrics::{MetricName, Metrics, NetworkMetrics, WindowedStat};
pub use network_client::NetworkClient;
pub use sasl::{
    OAuthBearerLogin, OAuthBearerToken, OAuthBearerTokenProvider, Password, RefreshConfig,
    SaslConfig, SaslMechanism, UnsecuredJwsProvider,
};
pub use security::{apply_security, SecurityConfig, SecurityConfigError};
pub use tls::{ClientCertificate, PemSource, TlsConfig};
pub use topic_partition::TopicPartition;
pub use wakeup::WakeupHandle;

/// A broker's node id. Bootstrap servers, before the first metadata response,
/// are pseudo-nodes with negative ids (-1, -2, ...), as in the Java client.
pub type NodeId = i32;
