//! `ConsumerConfig`: the Java consumer's settings, with its defaults.
//!
//! Built with [`ConsumerConfig::builder`] or from the Java property names with
//! [`ConsumerConfig::from_properties`]. Unknown keys and invalid values are
//! rejected with an [`Error::Config`] that names the key and what is accepted.

use std::time::Duration;

use crate::error::Error;

/// What to do when a partition has no committed offset, or its position is out
/// of range (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetResetStrategy {
    /// Start from the log start offset.
    Earliest,
    /// Start from the log end offset (only new records).
    Latest,
    /// Raise [`Error::NoOffsetForPartition`] / [`Error::OffsetOutOfRange`].
    None,
}

impl OffsetResetStrategy {
    /// The property value (`earliest`, `latest`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetResetStrategy::Earliest => "earliest",
            OffsetResetStrategy::Latest => "latest",
            OffsetResetStrategy::None => "none",
        }
    }
}

/// `isolation.level`: whether transactional records are read before they commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// Every record, including open and aborted transactions (Java default).
    #[default]
    ReadUncommitted,
    /// Only committed records, up to the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value of the Fetch/ListOffsets `isolation_level` field.
    pub fn wire_value(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// `group.protocol`: the classic group protocol or KIP-848's consumer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup/Heartbeat (Java default).
    #[default]
    Classic,
    /// ConsumerGroupHeartbeat (KIP-848).
    Consumer,
}

/// `security.protocol` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
pub use prozess_network::{SecurityConfig, SecurityProtocol};

/// The consumer configuration. Field names follow the Java property names.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    /// `bootstrap.servers` (required): `host:port` list.
    pub bootstrap_servers: Vec<String>,
    /// `client.id` (default "").
    pub client_id: String,
    /// `client.rack` (default ""): sent in Fetch for follower fetching (KIP-392).
    pub client_rack: String,
    /// `group.id` (default none). Needed for committing offsets.
    pub group_id: Option<String>,
    /// `group.instance.id` (default none): static membership.
    pub group_instance_id: Option<String>,
    /// `group.protocol` (default classic).
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor` (group.protocol=consumer; default: the broker's).
    pub group_remote_assignor: Option<String>,
    /// `session.timeout.ms` (default 45000).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3000).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 300000).
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy` (default `range, cooperative-sticky`).
    /// Java class names are accepted and mapped to the short names.
    pub partition_assignment_strategy: Vec<String>,
    /// `enable.auto.commit` (default true; only effective with a `group.id`).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5000).
    pub auto_commit_interval: Duration,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: OffsetResetStrategy,
    /// `max.poll.records` (default 500).
    pub max_poll_records: usize,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes` (default 52428800).
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms` (default 500).
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes` (default 1048576).
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level` (default read_uncommitted).
    pub isolation_level: IsolationLevel,
    /// `check.crcs` (default true).
    pub check_crcs: bool,
    /// `exclude.internal.topics` (default true).
    pub exclude_internal_topics: bool,
    /// `allow.auto.create.topics` (default true).
    pub allow_auto_create_topics: bool,
    /// `request.timeout.ms` (default 30000).
    pub request_timeout: Duration,
    /// `default.api.timeout.ms` (default 60000): timeout of blocking calls
    /// without an explicit one (`commit_sync`, `committed`, `position`, ...).
    pub default_api_timeout: Duration,
    /// `retry.backoff.ms` (default 100).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1000).
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms` (default 50).
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1000).
    pub reconnect_backoff_max: Duration,
    /// `metadata.max.age.ms` (default 300000).
    pub metadata_max_age: Duration,
    /// `connections.max.idle.ms` (default 540000).
    pub connections_max_idle: Duration,
    /// `send.buffer.bytes` (default 131072; -1 = OS default).
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (default -1: the OS default, which keeps
    /// Linux's receive-buffer auto-tuning; Java's 65536 turns it off and
    /// costs large fetches about six times the reads).
    pub receive_buffer_bytes: i32,
    /// `statistics.interval.ms` (librdkafka's; default 0 = no statistics):
    /// how often the statistics handler gets a JSON document.
    pub statistics_interval: Duration,
    /// `security.protocol` (default PLAINTEXT) and the `sasl.*`/`ssl.*`
    /// settings, mapped and checked by `prozess_network::security` (shared
    /// with the producer and the admin client; `Debug` hides secrets).
    pub security: SecurityConfig,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            client_rack: String::new(),
            group_id: None,
            group_instance_id: None,
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
            auto_offset_reset: OffsetResetStrategy::Latest,
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1_048_576,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            exclude_internal_topics: true,
            allow_auto_create_topics: true,
            request_timeout: Duration::from_millis(30_000),
            default_api_timeout: Duration::from_millis(60_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1_000),
            metadata_max_age: Duration::from_millis(300_000),
            connections_max_idle: Duration::from_millis(540_000),
            send_buffer_bytes: 131_072,
            // Not Java's 65536: a fixed SO_RCVBUF disables the kernel's
            // auto-tuning (README, Configuration).
            receive_buffer_bytes: -1,
            statistics_interval: Duration::ZERO,
            security: SecurityConfig::default(),
        }
    }
}

/// Keys a Java properties file carries that have no meaning here because the
/// deserializers are passed as values; accepted and ignored.
const IGNORED_KEYS: &[&str] = &["key.deserializer", "value.deserializer"];

fn config_err(key: &str, message: impl Into<String>) -> Error {
    Error::Config {
        key: key.to_string(),
        message: message.into(),
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, Error> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(config_err(
            key,
            format!("invalid value {v:?}: expected true or false"),
        )),
    }
}

fn parse_int(key: &str, v: &str, min: i64, max: i64) -> Result<i64, Error> {
    let n: i64 = v.trim().parse().map_err(|_| {
        config_err(
            key,
            format!("invalid value {v:?}: expected an integer in {min}..={max}"),
        )
    })?;
    if n < min || n > max {
        return Err(config_err(
            key,
            format!("invalid value {n}: expected an integer in {min}..={max}"),
        ));
    }
    Ok(n)
}

fn parse_ms(key: &str, v: &str, min: i64) -> Result<Duration, Error> {
    let n = parse_int(key, v, min, i32::MAX as i64)?;
    Ok(Duration::from_millis(n as u64))
}

fn parse_i32(key: &str, v: &str, min: i32) -> Result<i32, Error> {
    Ok(parse_int(key, v, min as i64, i32::MAX as i64)? as i32)
}

fn parse_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_strategy(key: &str, v: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for s in parse_list(v) {
        let short = match s.as_str() {
            "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => "range",
            "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => "roundrobin",
            "sticky" | "org.apache.kafka.clients.consumer.StickyAssignor" => "sticky",
            "cooperative-sticky" | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
                "cooperative-sticky"
            }
            other => {
                return Err(config_err(
                    key,
                    format!(
                        "unknown assignor {other:?}: expected range, roundrobin, sticky, cooperative-sticky (or their Java class names)"
                    ),
                ))
            }
        };
        out.push(short.to_string());
    }
    if out.is_empty() {
        return Err(config_err(key, "must name at least one assignor"));
    }
    Ok(out)
}

/// How many times the larger fetch size one batch may inflate to (see
/// [`ConsumerConfig::max_decompressed_batch_bytes`]).
pub const DECOMPRESSED_BATCH_FACTOR: usize = 2;

/// The floor of [`ConsumerConfig::max_decompressed_batch_bytes`]: 64 MiB.
pub const MIN_MAX_DECOMPRESSED_BATCH_BYTES: usize = 64 * 1024 * 1024;

impl ConsumerConfig {
    /// A builder starting from the Java defaults.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: ConsumerConfig::default(),
            error: None,
        }
    }

    /// Builds a configuration from Java property names and string values.
    /// Unknown keys and invalid values give [`Error::Config`] naming the key.
    pub fn from_properties<I, K, V>(props: I) -> Result<ConsumerConfig, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = ConsumerConfig::default();
        for (k, v) in props {
            config.set(k.as_ref(), v.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets one property by its Java name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let v = value;
        match key {
            "bootstrap.servers" => {
                let servers = parse_list(v);
                if servers.is_empty() {
                    return Err(config_err(key, "must list at least one host:port"));
                }
                for s in &servers {
                    let ok = s
                        .rsplit_once(':')
                        .map(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                        .unwrap_or(false);
                    if !ok {
                        return Err(config_err(
                            key,
                            format!("invalid address {s:?}: expected host:port"),
                        ));
                    }
                }
                self.bootstrap_servers = servers;
            }
            "client.id" => self.client_id = v.to_string(),
            "client.rack" => self.client_rack = v.to_string(),
            "group.id" => {
                self.group_id = if v.is_empty() {
                    None
                } else {
                    Some(v.to_string())
                }
            }
            "group.instance.id" => {
                self.group_instance_id = if v.is_empty() {
                    None
                } else {
                    Some(v.to_string())
                }
            }
            "group.remote.assignor" => {
                let v = v.trim();
                self.group_remote_assignor = (!v.is_empty()).then(|| v.to_string());
            }
            "group.protocol" => {
                self.group_protocol = match v.trim().to_ascii_lowercase().as_str() {
                    "classic" => GroupProtocol::Classic,
                    "consumer" => GroupProtocol::Consumer,
                    _ => {
                        return Err(config_err(
                            key,
                            format!("invalid value {v:?}: expected classic or consumer"),
                        ))
                    }
                }
            }
            "session.timeout.ms" => self.session_timeout = parse_ms(key, v, 1)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = parse_ms(key, v, 1)?,
            "max.poll.interval.ms" => self.max_poll_interval = parse_ms(key, v, 1)?,
            "partition.assignment.strategy" => {
                self.partition_assignment_strategy = parse_strategy(key, v)?
            }
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, v)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = parse_ms(key, v, 0)?,
            "auto.offset.reset" => {
                self.auto_offset_reset = match v.trim().to_ascii_lowercase().as_str() {
                    "earliest" => OffsetResetStrategy::Earliest,
                    "latest" => OffsetResetStrategy::Latest,
                    "none" => OffsetResetStrategy::None,
                    _ => {
                        return Err(config_err(
                            key,
                            format!("invalid value {v:?}: expected earliest, latest or none"),
                        ))
                    }
                }
            }
            "max.poll.records" => self.max_poll_records = parse_i32(key, v, 1)? as usize,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_i32(key, v, 0)?,
            "fetch.max.bytes" => self.fetch_max_bytes = parse_i32(key, v, 0)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, v, 0)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = parse_i32(key, v, 0)?,
            "isolation.level" => {
                self.isolation_level = match v.trim().to_ascii_lowercase().as_str() {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(config_err(
                            key,
                            format!(
                                "invalid value {v:?}: expected read_uncommitted or read_committed"
                            ),
                        ))
                    }
                }
            }
            "check.crcs" => self.check_crcs = parse_bool(key, v)?,
            "exclude.internal.topics" => self.exclude_internal_topics = parse_bool(key, v)?,
            "allow.auto.create.topics" => self.allow_auto_create_topics = parse_bool(key, v)?,
            "request.timeout.ms" => self.request_timeout = parse_ms(key, v, 0)?,
            "default.api.timeout.ms" => self.default_api_timeout = parse_ms(key, v, 0)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, v, 0)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, v, 0)?,
            "reconnect.backoff.ms" => self.reconnect_backoff = parse_ms(key, v, 0)?,
            "reconnect.backoff.max.ms" => self.reconnect_backoff_max = parse_ms(key, v, 0)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, v, 0)?,
            "connections.max.idle.ms" => self.connections_max_idle = parse_ms(key, v, 0)?,
            "send.buffer.bytes" => self.send_buffer_bytes = parse_i32(key, v, -1)?,
            "receive.buffer.bytes" => self.receive_buffer_bytes = parse_i32(key, v, -1)?,
            "statistics.interval.ms" => self.statistics_interval = parse_ms(key, v, 0)?,
            // See prozess_network::security for the keys; combinations are
            // checked by validate().
            k if k == "security.protocol" || prozess_network::security::is_security_key(k) => {
                self.security
                    .set(k, v)
                    .map_err(|e| config_err(&e.key, e.message))?;
            }
            k if IGNORED_KEYS.contains(&k) => {
                tracing::debug!(
                    key = k,
                    "ignored: deserializers are passed to KafkaConsumer::new"
                );
            }
            _ => return Err(config_err(
                key,
                "unknown consumer configuration key (see ConsumerConfig for the accepted names)",
            )),
        }
        Ok(())
    }

    /// Checks the relations between settings, as the Java client does.
    pub fn validate(&self) -> Result<(), Error> {
        if self.bootstrap_servers.is_empty() {
            return Err(config_err(
                "bootstrap.servers",
                "is required: a list of host:port",
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(config_err(
                "heartbeat.interval.ms",
                "must be lower than session.timeout.ms",
            ));
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return Err(config_err(
                "group.instance.id",
                "needs a group.id (static membership is a group feature)",
            ));
        }
        if self.max_poll_records == 0 {
            return Err(config_err("max.poll.records", "must be at least 1"));
        }
        if self.retry_backoff_max < self.retry_backoff {
            return Err(config_err(
                "retry.backoff.max.ms",
                "must not be lower than retry.backoff.ms",
            ));
        }
        self.security
            .validate()
            .map_err(|e| config_err(&e.key, e.message))?;
        Ok(())
    }

    /// The bound on one record batch's decompressed size: twice the larger
    /// of `fetch.max.bytes` and `max.partition.fetch.bytes`, and at least
    /// [`MIN_MAX_DECOMPRESSED_BATCH_BYTES`] (64 MiB). With the defaults
    /// (`fetch.max.bytes` 50 MiB) it is 100 MiB. A compressed batch that
    /// inflates past it is refused (`Error::DecompressedBatchTooLarge`)
    /// instead of allocating without bound; raise `fetch.max.bytes` to read it.
    pub fn max_decompressed_batch_bytes(&self) -> usize {
        let largest = self
            .fetch_max_bytes
            .max(self.max_partition_fetch_bytes)
            .max(0) as usize;
        largest
            .saturating_mul(DECOMPRESSED_BATCH_FACTOR)
            .max(MIN_MAX_DECOMPRESSED_BATCH_BYTES)
    }
    /// Whether offsets are committed automatically: needs both a group id
    /// and `enable.auto.commit` (the Java client turns it off without a group).
    pub fn auto_commit_enabled(&self) -> bool {
        self.enable_auto_commit && self.group_id.is_some()
    }
}

/// Builder for [`ConsumerConfig`]; starts from the Java defaults.
#[derive(Debug, Clone)]
pub struct ConsumerConfigBuilder {
    config: ConsumerConfig,
    error: Option<Error>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.config.$field = v;
            self
        }
    };
}

impl ConsumerConfigBuilder {
    /// `bootstrap.servers` as `host:port` strings.
    pub fn bootstrap_servers(self, servers: &str) -> Self {
        self.set("bootstrap.servers", servers)
    }

    /// `group.id`.
    pub fn group_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_id = Some(id.into());
        self
    }

    /// `group.instance.id`.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_instance_id = Some(id.into());
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }

    setter!(
        /// `auto.offset.reset`.
        auto_offset_reset, auto_offset_reset, OffsetResetStrategy);
    setter!(
        /// `enable.auto.commit`.
        enable_auto_commit, enable_auto_commit, bool);
    setter!(
        /// `auto.commit.interval.ms`.
        auto_commit_interval, auto_commit_interval, Duration);
    setter!(
        /// `max.poll.records`.
        max_poll_records, max_poll_records, usize);
    setter!(
        /// `fetch.min.bytes`.
        fetch_min_bytes, fetch_min_bytes, i32);
    setter!(
        /// `fetch.max.bytes`.
        fetch_max_bytes, fetch_max_bytes, i32);
    setter!(
        /// `fetch.max.wait.ms`.
        fetch_max_wait, fetch_max_wait, Duration);
    setter!(
        /// `max.partition.fetch.bytes`.
        max_partition_fetch_bytes, max_partition_fetch_bytes, i32);
    setter!(
        /// `isolation.level`.
        isolation_level, isolation_level, IsolationLevel);
    setter!(
        /// `session.timeout.ms`.
        session_timeout, session_timeout, Duration);
    setter!(
        /// `heartbeat.interval.ms`.
        heartbeat_interval, heartbeat_interval, Duration);
    setter!(
        /// `max.poll.interval.ms`.
        max_poll_interval, max_poll_interval, Duration);
    setter!(
        /// `request.timeout.ms`.
        request_timeout, request_timeout, Duration);
    setter!(
        /// `default.api.timeout.ms`.
        default_api_timeout, default_api_timeout, Duration);
    setter!(
        /// `retry.backoff.ms`.
        retry_backoff, retry_backoff, Duration);
    setter!(
        /// `check.crcs`.
        check_crcs, check_crcs, bool);
    setter!(
        /// `statistics.interval.ms` (0: off).
        statistics_interval, statistics_interval, Duration);

    /// Sets any property by its Java name; an error is reported by `build`.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none() {
            if let Err(e) = self.config.set(key, value) {
                self.error = Some(e);
            }
        }
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<ConsumerConfig, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(e: Error) -> String {
        match e {
            Error::Config { key, .. } => key,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn decompression_limit_follows_the_fetch_sizes() {
        let c = ConsumerConfig::default();
        assert_eq!(c.max_decompressed_batch_bytes(), 2 * 52_428_800);
        let small = ConsumerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("fetch.max.bytes", "1000"),
            ("max.partition.fetch.bytes", "2000"),
        ])
        .unwrap();
        assert_eq!(small.max_decompressed_batch_bytes(), 64 << 20, "the floor");
        let big = ConsumerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("fetch.max.bytes", "1000"),
            ("max.partition.fetch.bytes", "209715200"),
        ])
        .unwrap();
        assert_eq!(big.max_decompressed_batch_bytes(), 2 * 209_715_200);
        let f = crate::fetcher::FetchConfig::from_config(&big);
        assert_eq!(f.max_decompressed_size, 2 * 209_715_200);
    }

    #[test]
    fn java_defaults() {
        let c = ConsumerConfig::default();
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.fetch_min_bytes, 1);
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.session_timeout, Duration::from_secs(45));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.max_poll_interval, Duration::from_secs(300));
        assert_eq!(c.auto_offset_reset, OffsetResetStrategy::Latest);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(c.enable_auto_commit);
        assert_eq!(c.auto_commit_interval, Duration::from_secs(5));
        assert_eq!(c.default_api_timeout, Duration::from_secs(60));
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(
            c.partition_assignment_strategy,
            vec!["range".to_string(), "cooperative-sticky".to_string()]
        );
    }

    #[test]
    fn from_properties_reads_java_names() {
        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:9092, b:9093"),
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "7"),
            ("isolation.level", "read_committed"),
            ("enable.auto.commit", "false"),
            ("fetch.max.wait.ms", "10"),
            (
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor,sticky",
            ),
            (
                "key.deserializer",
                "org.apache.kafka.common.serialization.StringDeserializer",
            ),
            ("sasl.mechanism", "PLAIN"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:9092", "b:9093"]);
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.auto_offset_reset, OffsetResetStrategy::Earliest);
        assert_eq!(c.max_poll_records, 7);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert!(!c.enable_auto_commit);
        assert!(!c.auto_commit_enabled());
        assert_eq!(c.fetch_max_wait, Duration::from_millis(10));
        assert_eq!(
            c.partition_assignment_strategy,
            vec!["roundrobin", "sticky"]
        );
        assert_eq!(c.security.get("sasl.mechanism"), Some("PLAIN"));
    }

    #[test]
    fn unknown_and_invalid_keys_are_named() {
        let e = ConsumerConfig::from_properties([("bootstrap.servers", "a:1"), ("no.such", "1")])
            .unwrap_err();
        assert_eq!(key_of(e), "no.such");
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("auto.offset.reset", "smallest"),
        ])
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("auto.offset.reset") && msg.contains("earliest"),
            "{msg}"
        );
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("max.poll.records", "0"),
        ])
        .unwrap_err();
        assert_eq!(key_of(e), "max.poll.records");
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("fetch.min.bytes", "lots"),
        ])
        .unwrap_err();
        assert_eq!(key_of(e), "fetch.min.bytes");
        let e = ConsumerConfig::from_properties([("bootstrap.servers", "nohost")]).unwrap_err();
        assert_eq!(key_of(e), "bootstrap.servers");
        let e = ConsumerConfig::from_properties([("group.id", "g")]).unwrap_err();
        assert_eq!(key_of(e), "bootstrap.servers");
    }

    #[test]
    fn builder_validates_relations() {
        let e = ConsumerConfig::builder()
            .bootstrap_servers("localhost:9092")
            .session_timeout(Duration::from_millis(1000))
            .heartbeat_interval(Duration::from_millis(1000))
            .build()
            .unwrap_err();
        assert_eq!(key_of(e), "heartbeat.interval.ms");
        let e = ConsumerConfig::builder()
            .bootstrap_servers("localhost:9092")
            .set("isolation.level", "serializable")
            .build()
            .unwrap_err();
        assert_eq!(key_of(e), "isolation.level");
        let c = ConsumerConfig::builder()
            .bootstrap_servers("localhost:9092")
            .group_id("g")
            .max_poll_records(3)
            .build()
            .unwrap();
        assert!(c.auto_commit_enabled());
        assert_eq!(c.max_poll_records, 3);
    }
}
