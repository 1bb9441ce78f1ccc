//! `AdminClient`: create, delete, list and describe topics; list, describe
//! and delete consumer groups; look up partition offsets.
//!
//! A blocking client over one [`NetworkClient`]: every operation drives the
//! network itself (its own poll loop, reading the clock) until it is done or
//! its timeout runs out, and returns per-item results where a request can
//! partly fail (one topic exists, another is created).
//!
//! How requests are routed, as in the Java `KafkaAdminClient`:
//! - CreateTopics/DeleteTopics/CreatePartitions go to the controller named by Metadata (any
//!   broker if none is named; KRaft brokers forward); NOT_CONTROLLER makes
//!   the client look the controller up again and retry.
//! - Created topics are waited for until every broker's metadata shows each
//!   partition with a leader, so a producer or consumer started right after
//!   finds them; deleted ones until no broker lists them.
//! - ListGroups goes to every broker (each lists the groups it coordinates);
//!   DescribeGroups/DeleteGroups to each group's coordinator (FindCoordinator
//!   first; NOT_COORDINATOR and friends make it look again).
//! - ListOffsets and DeleteRecords go to each partition's leader.
//! - DescribeConfigs/IncrementalAlterConfigs for one broker (or its
//!   loggers) go to that broker, for anything else to any broker.
//! - The admin client keeps its own view of topics from its own Metadata
//!   requests; the network client's metadata only supplies broker addresses.

mod acls;
mod cluster;
mod cluster_ops;
mod configs;
mod consumer_groups;
mod driver;
mod error;
mod group_offsets;
mod groups;
mod offsets;
mod partitions;
mod records;
mod topics;
mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_group_offsets;
#[cfg(test)]
mod tests_more;

use std::time::Duration;

use prozess_network::{KafkaClient, NetworkClient, NetworkConfig, SecurityConfig};

pub use acls::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
    CreateAclResult, DeleteAclsResult, DeletedAcls, PatternType, ResourcePattern, ResourceType,
};
pub use cluster_ops::{
    DescribeTransactionResult, ElectionType, LogDirDescription, ProducerState, ReplicaInfo,
    TransactionDescription, TransactionListing,
};
pub use configs::{
    AlterConfigOp, AlterConfigOpType, AlterConfigsResult, Config, ConfigEntry, ConfigResource,
    ConfigResourceType, ConfigSource, ConfigSynonym, DescribeConfigsResult,
};
pub use consumer_groups::{
    ConsumerGroupDescription, ConsumerGroupMemberDescription, DescribeConsumerGroupResult,
};
pub use error::AdminError;
pub use group_offsets::{
    GroupOffsetsResult, ListConsumerGroupOffsetsResult, ListConsumerGroupOffsetsSpec,
    MemberToRemove, PartitionResults, RemoveMembersFromConsumerGroupResult,
};
pub use groups::ListGroupsOptions;
pub use partitions::{CreatePartitionsResult, NewPartitions};
/// A consumer group member's decoded assignment: the consumer's own
/// `ConsumerProtocolAssignment` type, under the Java admin client's name.
pub use prozess_consumer::group::consumer_protocol::Assignment as MemberAssignment;
/// A consumer group member's decoded subscription: the consumer's own
/// `ConsumerProtocolSubscription` type.
pub use prozess_consumer::group::consumer_protocol::Subscription as MemberSubscription;
/// A committed offset (the consumer's type).
pub use prozess_network::OffsetAndMetadata;
pub use records::DeleteRecordsResult;
pub use types::{
    ClusterDescription, CreateTopicResult, DeleteGroupResult, DeleteTopicResult, GroupDescription,
    GroupListing, ListOffsetsResult, ListOffsetsResultInfo, MemberDescription, NewTopic,
    OffsetSpec, PartitionInfo, TopicDescription, TopicListing,
};

/// Settings of an [`AdminClient`] (the Java admin client's names in brackets).
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `host:port` of one or more brokers (`bootstrap.servers`); an entry may
    /// hold several, comma-separated.
    pub bootstrap_servers: Vec<String>,
    /// Sent with every request (`client.id`).
    pub client_id: String,
    /// How long one request may wait for its response (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// The timeout of operations that take none (`default.api.timeout.ms`).
    pub default_api_timeout: Duration,
    /// Pause before retrying after a retriable error (`retry.backoff.ms`).
    pub retry_backoff: Duration,
    /// `security.protocol` with the `sasl.*` and `ssl.*` properties, mapped
    /// as for the consumer and producer ([`prozess_network::security`] lists
    /// the keys). `Debug` hides passwords.
    pub security: SecurityConfig,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bootstrap_servers: Vec::new(),
            client_id: "prozess-admin".to_string(),
            request_timeout: Duration::from_millis(30_000),
            default_api_timeout: Duration::from_millis(60_000),
            retry_backoff: Duration::from_millis(100),
            security: SecurityConfig::default(),
        }
    }
}

impl AdminConfig {
    /// Defaults with the given bootstrap servers (`"host:port[,host:port]"`).
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        AdminConfig {
            bootstrap_servers: vec![bootstrap_servers.into()],
            ..AdminConfig::default()
        }
    }

    /// Builds a configuration from Java admin client property names
    /// (`bootstrap.servers`, `client.id`, `request.timeout.ms`,
    /// `default.api.timeout.ms`, `retry.backoff.ms`, and `security.protocol`
    /// with the `sasl.*`/`ssl.*` keys of [`prozess_network::security`]).
    /// Unknown keys, invalid values and security settings that cannot work
    /// give [`AdminError::Config`] naming the key.
    pub fn from_properties<I, K, V>(props: I) -> Result<AdminConfig, AdminError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = AdminConfig::default();
        for (k, v) in props {
            config.set(k.as_ref(), v.as_ref())?;
        }
        if config.bootstrap_servers.is_empty() {
            return Err(AdminError::Config(
                "bootstrap.servers is required".to_string(),
            ));
        }
        // Security settings that cannot work are refused now, not at the
        // first connect (an OAUTHBEARER token provider may still be set:
        // `network_config` refuses its absence).
        config.security.validate().map_err(security_error)?;
        Ok(config)
    }

    /// Sets one property by its Java name. Security combinations (SASL
    /// without credentials, ...) are checked by
    /// [`AdminConfig::network_config`], which `from_properties` calls.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), AdminError> {
        if self.security.set(key, value).map_err(security_error)? {
            return Ok(());
        }
        let millis = |min: u64| -> Result<Duration, AdminError> {
            match value.trim().parse::<u64>() {
                Ok(ms) if ms >= min => Ok(Duration::from_millis(ms)),
                _ => Err(AdminError::Config(format!(
                    "{key}: expected milliseconds >= {min}, got {value:?}"
                ))),
            }
        };
        match key {
            "bootstrap.servers" => {
                let servers: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                for s in &servers {
                    prozess_network::config::parse_host_port(s)
                        .map_err(|e| AdminError::Config(format!("bootstrap.servers: {e}")))?;
                }
                if servers.is_empty() {
                    return Err(AdminError::Config(
                        "bootstrap.servers: must list at least one host:port".to_string(),
                    ));
                }
                self.bootstrap_servers = servers;
            }
            "client.id" => self.client_id = value.to_string(),
            "request.timeout.ms" => self.request_timeout = millis(1)?,
            "default.api.timeout.ms" => self.default_api_timeout = millis(1)?,
            "retry.backoff.ms" => self.retry_backoff = millis(0)?,
            _ => {
                return Err(AdminError::Config(format!(
                    "unknown admin client property {key:?} (known: bootstrap.servers, client.id, \
                     request.timeout.ms, default.api.timeout.ms, retry.backoff.ms, \
                     security.protocol, sasl.*, ssl.*)"
                )))
            }
        }
        Ok(())
    }

    /// The network client configuration these settings give, or the
    /// security setting that cannot be used. The admin client never lets
    /// Metadata requests create topics.
    pub fn network_config(&self) -> Result<NetworkConfig, AdminError> {
        let mut n = NetworkConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            client_id: self.client_id.clone(),
            request_timeout: self.request_timeout,
            retry_backoff: self.retry_backoff,
            allow_auto_create_topics: false,
            ..NetworkConfig::default()
        };
        self.security.apply(&mut n).map_err(security_error)?;
        Ok(n)
    }
}

/// The admin client's form of a security property error (`key: message`).
fn security_error(e: prozess_network::SecurityConfigError) -> AdminError {
    AdminError::Config(e.to_string())
}

/// A blocking Kafka admin client.
///
/// ```no_run
/// use std::time::Duration;
/// use prozess_admin::{AdminClient, NewTopic, OffsetSpec};
/// use prozess_network::TopicPartition;
///
/// # fn main() -> Result<(), prozess_admin::AdminError> {
/// let mut admin = AdminClient::from_bootstrap("localhost:9092")?;
/// // Create a topic (or accept that it exists) and wait until it is usable.
/// admin.ensure_topic(
///     &NewTopic::new("orders", 3).config("retention.ms", "86400000"),
///     Duration::from_secs(30),
/// )?;
/// for topic in admin.list_topics(false)? {
///     println!("{} has {} partitions", topic.name, topic.partitions);
/// }
/// let offsets = admin.list_offsets(&[(TopicPartition::new("orders", 0), OffsetSpec::Latest)])?;
/// println!("end of orders-0: {:?}", offsets[0].result);
/// for group in admin.list_groups()? {
///     println!("group {} ({})", group.group_id, group.protocol_type);
/// }
/// # Ok(())
/// # }
/// ```
///
/// Generic over the network layer so unit tests can script it; applications
/// use the default, [`NetworkClient`].
pub struct AdminClient<C: KafkaClient = NetworkClient> {
    client: C,
    config: AdminConfig,
}

impl<C: KafkaClient> std::fmt::Debug for AdminClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AdminClient<NetworkClient> {
    /// An admin client for the configured cluster. Nothing connects until
    /// the first operation.
    pub fn new(config: AdminConfig) -> Result<Self, AdminError> {
        if config.request_timeout.is_zero() {
            return Err(AdminError::Config(
                "request.timeout.ms must be above 0".to_string(),
            ));
        }
        let client = NetworkClient::new(config.network_config()?)?;
        Ok(AdminClient { client, config })
    }

    /// An admin client with default settings for `"host:port[,host:port]"`.
    pub fn from_bootstrap(bootstrap_servers: &str) -> Result<Self, AdminError> {
        AdminClient::new(AdminConfig::new(bootstrap_servers))
    }
}

impl<C: KafkaClient> AdminClient<C> {
    /// An admin client over an existing network client (`config`'s network
    /// settings are not applied to it; its timeouts and backoff are used).
    pub fn with_client(client: C, config: AdminConfig) -> Self {
        AdminClient { client, config }
    }

    /// The settings.
    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// The network client.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The network client, mutably (tests use it to script responses).
    pub fn client_mut(&mut self) -> &mut C {
        &mut self.client
    }
}
