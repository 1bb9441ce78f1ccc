//! `describe_configs` and `incremental_alter_configs`: read and change the
//! configuration of topics, brokers, broker loggers and groups.
//!
//! Routing as in the Java admin client: a resource of one broker (BROKER or
//! BROKER_LOGGER with a broker id as its name) goes to that broker; every
//! other resource (topics, groups, the cluster-wide broker default named "")
//! to any broker, which answers or forwards to the controller.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use prozess_network::{ClientResponse, KafkaClient, NodeId};
use prozess_protocol::messages::describe_configs::request::DescribeConfigsResource;
use prozess_protocol::messages::incremental_alter_configs::request::{
    AlterConfigsResource, AlterableConfig,
};
use prozess_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::driver::{unexpected, Call, Target};
use super::{AdminClient, AdminError};

/// The kind of a [`ConfigResource`] (Java's `ConfigResource.Type`, with its
/// wire ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResourceType {
    /// A topic (2).
    Topic,
    /// A broker (4): its id as the name, or "" for the cluster-wide default.
    Broker,
    /// A broker's log4j loggers (8): the broker id as the name.
    BrokerLogger,
    /// A client metrics subscription (16).
    ClientMetrics,
    /// A consumer group (32, KIP-848 group configs).
    Group,
    /// Any other id a broker sent.
    Unknown(i8),
}

impl ConfigResourceType {
    /// The wire id.
    pub fn id(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
            ConfigResourceType::BrokerLogger => 8,
            ConfigResourceType::ClientMetrics => 16,
            ConfigResourceType::Group => 32,
            ConfigResourceType::Unknown(id) => id,
        }
    }

    /// The type with this wire id.
    pub fn from_id(id: i8) -> Self {
        match id {
            2 => ConfigResourceType::Topic,
            4 => ConfigResourceType::Broker,
            8 => ConfigResourceType::BrokerLogger,
            16 => ConfigResourceType::ClientMetrics,
            32 => ConfigResourceType::Group,
            other => ConfigResourceType::Unknown(other),
        }
    }
}

/// What `describe_configs` / `incremental_alter_configs` act on (Java's
/// `ConfigResource`).
///
/// ```
/// use prozess_admin::ConfigResource;
///
/// let topic = ConfigResource::topic("orders");
/// let broker = ConfigResource::broker(1);
/// let loggers = ConfigResource::broker_logger(1);
/// let cluster_default = ConfigResource::broker_default();
/// assert_eq!(broker.name, "1");
/// assert_eq!(cluster_default.name, "");
/// # let _ = (topic, loggers);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    /// The kind of resource.
    pub resource_type: ConfigResourceType,
    /// Its name: the topic or group name, or the broker id.
    pub name: String,
}

impl ConfigResource {
    /// A resource of any type.
    pub fn new(resource_type: ConfigResourceType, name: impl Into<String>) -> Self {
        ConfigResource {
            resource_type,
            name: name.into(),
        }
    }

    /// A topic.
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource::new(ConfigResourceType::Topic, name)
    }

    /// One broker's configuration.
    pub fn broker(id: NodeId) -> Self {
        ConfigResource::new(ConfigResourceType::Broker, id.to_string())
    }

    /// The cluster-wide default broker configuration.
    pub fn broker_default() -> Self {
        ConfigResource::new(ConfigResourceType::Broker, "")
    }

    /// One broker's loggers and their levels.
    pub fn broker_logger(id: NodeId) -> Self {
        ConfigResource::new(ConfigResourceType::BrokerLogger, id.to_string())
    }

    /// A consumer group's configuration.
    pub fn group(name: impl Into<String>) -> Self {
        ConfigResource::new(ConfigResourceType::Group, name)
    }

    /// The broker a request about this resource must go to, or `None` for
    /// any broker.
    fn broker_id(&self) -> Result<Option<NodeId>, AdminError> {
        let per_broker = matches!(
            self.resource_type,
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger
        );
        if !per_broker || self.name.is_empty() {
            return Ok(None);
        }
        self.name.parse::<NodeId>().map(Some).map_err(|_| {
            AdminError::Config(format!(
                "{self}: a broker resource's name must be a broker id (or \"\" for the default)"
            ))
        })
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.resource_type {
            ConfigResourceType::Topic => "topic",
            ConfigResourceType::Broker => "broker",
            ConfigResourceType::BrokerLogger => "broker logger",
            ConfigResourceType::ClientMetrics => "client metrics",
            ConfigResourceType::Group => "group",
            ConfigResourceType::Unknown(_) => "resource",
        };
        write!(f, "{kind} '{}'", self.name)
    }
}

/// Where a configuration value comes from (Java's `ConfigEntry.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// A topic's own override (1).
    DynamicTopicConfig,
    /// A dynamic setting of this broker (2).
    DynamicBrokerConfig,
    /// A dynamic cluster-wide default for all brokers (3).
    DynamicDefaultBrokerConfig,
    /// The broker's properties file (4).
    StaticBrokerConfig,
    /// Kafka's built-in default (5).
    DefaultConfig,
    /// A dynamic broker logger level (6).
    DynamicBrokerLoggerConfig,
    /// A client metrics subscription setting (7).
    DynamicClientMetricsConfig,
    /// A group's own override (8).
    DynamicGroupConfig,
    /// Not known (0, or an id this client does not know).
    Unknown,
}

impl ConfigSource {
    /// The source with this wire id.
    pub fn from_id(id: i8) -> Self {
        match id {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            7 => ConfigSource::DynamicClientMetricsConfig,
            8 => ConfigSource::DynamicGroupConfig,
            _ => ConfigSource::Unknown,
        }
    }
}

/// One value a configuration key has at one level (Java's `ConfigSynonym`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The key at that level (e.g. `log.retention.ms` for a topic's
    /// `retention.ms`).
    pub name: String,
    /// The value at that level (`None` when sensitive).
    pub value: Option<String>,
    /// The level.
    pub source: ConfigSource,
}

/// One configuration key of a described resource (Java's `ConfigEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key.
    pub name: String,
    /// The value in effect (`None` when sensitive or unset).
    pub value: Option<String>,
    /// Where the value in effect comes from.
    pub source: ConfigSource,
    /// Whether the value is hidden (passwords).
    pub is_sensitive: bool,
    /// Whether it cannot be changed dynamically.
    pub is_read_only: bool,
    /// The values at every level, the one in effect first.
    pub synonyms: Vec<ConfigSynonym>,
}

/// A described resource's configuration (Java's `Config`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The entries, in the broker's order.
    pub entries: Vec<ConfigEntry>,
}

impl Config {
    /// The entry of this key.
    pub fn get(&self, name: &str) -> Option<&ConfigEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// The outcome of `describe_configs` for one resource.
#[derive(Debug, Clone)]
pub struct DescribeConfigsResult {
    /// The resource.
    pub resource: ConfigResource,
    /// Its configuration, or why there is none (UNKNOWN_TOPIC_OR_PARTITION,
    /// ...).
    pub result: Result<Config, AdminError>,
}

/// What an [`AlterConfigOp`] does (Java's `AlterConfigOp.OpType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlterConfigOpType {
    /// Set the key to the value (0).
    Set,
    /// Remove the override: the next level's value applies again (1).
    Delete,
    /// Add the value to a list-valued key (2).
    Append,
    /// Remove the value from a list-valued key (3).
    Subtract,
}

impl AlterConfigOpType {
    /// The wire id.
    pub fn id(self) -> i8 {
        match self {
            AlterConfigOpType::Set => 0,
            AlterConfigOpType::Delete => 1,
            AlterConfigOpType::Append => 2,
            AlterConfigOpType::Subtract => 3,
        }
    }
}

/// One change of `incremental_alter_configs` (Java's `AlterConfigOp`).
///
/// ```
/// use prozess_admin::AlterConfigOp;
///
/// let ops = [
///     AlterConfigOp::set("retention.ms", "3600000"),
///     AlterConfigOp::delete("max.message.bytes"),
///     AlterConfigOp::append("cleanup.policy", "compact"),
///     AlterConfigOp::subtract("cleanup.policy", "delete"),
/// ];
/// # let _ = ops;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// The key.
    pub name: String,
    /// The value (`None` for delete).
    pub value: Option<String>,
    /// The operation.
    pub op: AlterConfigOpType,
}

impl AlterConfigOp {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: Some(value.into()),
            op: AlterConfigOpType::Set,
        }
    }

    /// Removes the override of `name`.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: None,
            op: AlterConfigOpType::Delete,
        }
    }

    /// Adds `value` to the list `name`.
    pub fn append(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: Some(value.into()),
            op: AlterConfigOpType::Append,
        }
    }

    /// Removes `value` from the list `name`.
    pub fn subtract(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: Some(value.into()),
            op: AlterConfigOpType::Subtract,
        }
    }
}

/// The outcome of `incremental_alter_configs` for one resource.
#[derive(Debug, Clone)]
pub struct AlterConfigsResult {
    /// The resource.
    pub resource: ConfigResource,
    /// `Ok` if every operation on it was applied (they are applied together
    /// or not at all).
    pub result: Result<(), AdminError>,
}

/// Whether a per-resource or per-request failure is worth another try.
/// UNKNOWN_TOPIC_OR_PARTITION is retriable for produce and fetch (metadata
/// may lag) but here means the topic is not there.
fn retry_worthy(e: &AdminError) -> bool {
    e.is_retriable() && !e.is_timeout() && !e.is_unknown_topic()
}

/// The routing of a batch of resources: one request per target, listing
/// indexes into the caller's resources.
fn group_by_target(
    resources: &[ConfigResource],
    pending: &[usize],
) -> Result<Vec<(Target, Vec<usize>)>, AdminError> {
    let mut by_broker: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
    let mut any = Vec::new();
    for &i in pending {
        match resources[i].broker_id()? {
            Some(b) => by_broker.entry(b).or_default().push(i),
            None => any.push(i),
        }
    }
    let mut out: Vec<(Target, Vec<usize>)> = by_broker
        .into_iter()
        .map(|(b, idx)| (Target::Node(b), idx))
        .collect();
    if !any.is_empty() {
        out.push((Target::Any, any));
    }
    Ok(out)
}

fn refuse_duplicates(resources: &[&ConfigResource], op: &str) -> Result<(), AdminError> {
    let mut seen = HashSet::new();
    for r in resources {
        if !seen.insert(*r) {
            return Err(AdminError::Config(format!("{op}: {r} is named twice")));
        }
        r.broker_id()?;
    }
    Ok(())
}

impl<C: KafkaClient> AdminClient<C> {
    /// Sends `build(indexes)` for each group of pending resources to its
    /// broker (see the module doc), reads each resource's outcome with
    /// `read`, and retries retriable failures until the deadline. One
    /// outcome per resource, in `resources` order.
    fn per_resource<T>(
        &mut self,
        operation: &'static str,
        api: ApiKey,
        resources: &[ConfigResource],
        timeout: Duration,
        build: impl Fn(&[usize]) -> RequestBody,
        read: impl Fn(&ClientResponse, &ConfigResource) -> Result<Result<T, AdminError>, AdminError>,
    ) -> Result<Vec<Result<T, AdminError>>, AdminError> {
        let deadline = Instant::now() + timeout;
        let mut results: HashMap<usize, Result<T, AdminError>> = HashMap::new();
        let mut pending: Vec<usize> = (0..resources.len()).collect();
        while !pending.is_empty() {
            let batches = group_by_target(resources, &pending)?;
            pending.clear();
            let calls = batches
                .iter()
                .map(|(target, idx)| {
                    let build = &build;
                    Call::new(*target, api, move |_version| build(idx))
                })
                .collect();
            let responses = self.execute(operation, calls, deadline, timeout);
            for ((_, idx), response) in batches.into_iter().zip(responses) {
                match response {
                    Ok(r) => {
                        for i in idx {
                            match read(&r, &resources[i])? {
                                Err(e) if retry_worthy(&e) => {
                                    tracing::warn!(resource = %resources[i], error = %e, "admin: retriable {} error; retrying", api.name());
                                    pending.push(i);
                                }
                                outcome => {
                                    results.insert(i, outcome);
                                }
                            }
                        }
                    }
                    Err(e) if retry_worthy(&e) => {
                        tracing::warn!(error = %e, "admin: {} failed; retrying", api.name());
                        pending.extend(idx);
                    }
                    Err(e) => {
                        for i in idx {
                            results.insert(i, Err(e.clone()));
                        }
                    }
                }
            }
            pending.sort_unstable();
            self.expire_or_back_off(
                operation,
                timeout,
                deadline,
                &mut pending,
                &mut results,
                |i| {
                    let waiting_for = format!("the {} answer about {}", api.name(), resources[i]);
                    (i, waiting_for)
                },
            );
        }
        Ok((0..resources.len())
            .map(|i| {
                results
                    .remove(&i)
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())))
            })
            .collect())
    }

    /// Describes the configuration of topics, brokers, broker loggers or
    /// groups, with each key's synonyms (its value at every level) and
    /// sources, as Java's `Admin.describeConfigs` with `includeSynonyms`.
    /// One result per resource, in input order; one failed resource (an
    /// unknown topic, ...) does not fail the others. Retriable errors are
    /// retried until `timeout`. The outer `Err` is for a request that
    /// cannot be sent: a resource named twice, a broker resource whose name
    /// is not a broker id.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use prozess_admin::{AdminClient, ConfigResource};
    ///
    /// # fn main() -> Result<(), prozess_admin::AdminError> {
    /// let mut admin = AdminClient::from_bootstrap("localhost:9092")?;
    /// let results = admin.describe_configs(
    ///     &[ConfigResource::topic("orders"), ConfigResource::broker(1)],
    ///     Duration::from_secs(30),
    /// )?;
    /// let topic = results[0].result.as_ref().map_err(Clone::clone)?;
    /// if let Some(e) = topic.get("retention.ms") {
    ///     println!("retention.ms = {:?} from {:?}", e.value, e.source);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn describe_configs(
        &mut self,
        resources: &[ConfigResource],
        timeout: Duration,
    ) -> Result<Vec<DescribeConfigsResult>, AdminError> {
        const OP: &str = "describe_configs";
        refuse_duplicates(&resources.iter().collect::<Vec<_>>(), OP)?;
        let outcomes = self.per_resource(
            OP,
            ApiKey::DescribeConfigs,
            resources,
            timeout,
            |idx| {
                RequestBody::DescribeConfigs(DescribeConfigsRequest {
                    resources: idx
                        .iter()
                        .map(|&i| DescribeConfigsResource {
                            resource_type: resources[i].resource_type.id(),
                            resource_name: resources[i].name.clone(),
                            configuration_keys: None,
                            ..Default::default()
                        })
                        .collect(),
                    include_synonyms: true,
                    include_documentation: false,
                    ..Default::default()
                })
            },
            read_described,
        )?;
        Ok(resources
            .iter()
            .cloned()
            .zip(outcomes)
            .map(|(resource, result)| DescribeConfigsResult { resource, result })
            .collect())
    }

    /// Changes configuration keys of topics, brokers, broker loggers or
    /// groups, each by set, delete, append or subtract, as Java's
    /// `Admin.incrementalAlterConfigs`. The operations on one resource are
    /// applied together or not at all. One result per resource, in input
    /// order; one failed resource does not fail the others. Retriable errors
    /// are retried until `timeout`. The outer `Err` is for a request that
    /// cannot be sent: a resource named twice, a broker resource whose name
    /// is not a broker id.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use prozess_admin::{AdminClient, AlterConfigOp, ConfigResource};
    ///
    /// # fn main() -> Result<(), prozess_admin::AdminError> {
    /// let mut admin = AdminClient::from_bootstrap("localhost:9092")?;
    /// let results = admin.incremental_alter_configs(
    ///     &[(
    ///         ConfigResource::topic("orders"),
    ///         vec![
    ///             AlterConfigOp::set("retention.ms", "3600000"),
    ///             AlterConfigOp::delete("max.message.bytes"),
    ///         ],
    ///     )],
    ///     Duration::from_secs(30),
    /// )?;
    /// if let Err(e) = &results[0].result {
    ///     eprintln!("{e}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn incremental_alter_configs(
        &mut self,
        alterations: &[(ConfigResource, Vec<AlterConfigOp>)],
        timeout: Duration,
    ) -> Result<Vec<AlterConfigsResult>, AdminError> {
        const OP: &str = "incremental_alter_configs";
        refuse_duplicates(&alterations.iter().map(|(r, _)| r).collect::<Vec<_>>(), OP)?;
        let resources: Vec<ConfigResource> = alterations.iter().map(|(r, _)| r.clone()).collect();
        let outcomes = self.per_resource(
            OP,
            ApiKey::IncrementalAlterConfigs,
            &resources,
            timeout,
            |idx| {
                RequestBody::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
                    resources: idx
                        .iter()
                        .map(|&i| {
                            let (resource, ops) = &alterations[i];
                            AlterConfigsResource {
                                resource_type: resource.resource_type.id(),
                                resource_name: resource.name.clone(),
                                configs: ops
                                    .iter()
                                    .map(|op| AlterableConfig {
                                        name: op.name.clone(),
                                        config_operation: op.op.id(),
                                        value: op.value.clone(),
                                        ..Default::default()
                                    })
                                    .collect(),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    validate_only: false,
                    ..Default::default()
                })
            },
            read_altered,
        )?;
        Ok(resources
            .into_iter()
            .zip(outcomes)
            .map(|(resource, result)| AlterConfigsResult { resource, result })
            .collect())
    }
}

/// The configuration of `resource` in a DescribeConfigs response (the
/// outer `Err`: the response is of another API).
fn read_described(
    response: &ClientResponse,
    resource: &ConfigResource,
) -> Result<Result<Config, AdminError>, AdminError> {
    let ResponseBody::DescribeConfigs(body) = &response.body else {
        return Err(unexpected(response, "DescribeConfigs"));
    };
    let Some(r) = body.results.iter().find(|r| {
        r.resource_type == resource.resource_type.id() && r.resource_name == resource.name
    }) else {
        return Ok(Err(AdminError::Protocol(format!(
            "node {}'s DescribeConfigs response does not mention {resource}",
            response.node
        ))));
    };
    let code = ErrorCode::from_i16(r.error_code);
    if code.is_error() {
        return Ok(Err(AdminError::kafka(
            code,
            r.error_message.clone(),
            resource.to_string(),
        )));
    }
    let entries = r
        .configs
        .iter()
        .map(|c| ConfigEntry {
            name: c.name.clone(),
            value: c.value.clone(),
            source: ConfigSource::from_id(c.config_source),
            is_sensitive: c.is_sensitive,
            is_read_only: c.read_only,
            synonyms: c
                .synonyms
                .iter()
                .map(|s| ConfigSynonym {
                    name: s.name.clone(),
                    value: s.value.clone(),
                    source: ConfigSource::from_id(s.source),
                })
                .collect(),
        })
        .collect();
    Ok(Ok(Config { entries }))
}

/// The outcome for `resource` in an IncrementalAlterConfigs response.
fn read_altered(
    response: &ClientResponse,
    resource: &ConfigResource,
) -> Result<Result<(), AdminError>, AdminError> {
    let ResponseBody::IncrementalAlterConfigs(body) = &response.body else {
        return Err(unexpected(response, "IncrementalAlterConfigs"));
    };
    let Some(r) = body.responses.iter().find(|r| {
        r.resource_type == resource.resource_type.id() && r.resource_name == resource.name
    }) else {
        return Ok(Err(AdminError::Protocol(format!(
            "node {}'s IncrementalAlterConfigs response does not mention {resource}",
            response.node
        ))));
    };
    let code = ErrorCode::from_i16(r.error_code);
    if code.is_error() {
        return Ok(Err(AdminError::kafka(
            code,
            r.error_message.clone(),
            resource.to_string(),
        )));
    }
    Ok(Ok(()))
}
