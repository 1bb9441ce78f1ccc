//! `ProducerConfig`: the producer's settings, with the Java client's names
//! and defaults (Apache Kafka 4.0).
//!
//! Build one with [`ProducerConfig::builder`] or from Java property names
//! with [`ProducerConfig::from_properties`]. Unknown keys and invalid values
//! give an [`Error::Config`] naming the key and the accepted values.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prozess_network::{SecurityConfig, SecurityProtocol};

use crate::error::{Error, Result};
use crate::partitioner::Partitioner;

/// How many replicas must acknowledge a write (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: fire and forget; the broker sends no response.
    None,
    /// `acks=1`: the leader has written the record.
    Leader,
    /// `acks=all` (`-1`): all in-sync replicas have it.
    All,
}

impl Acks {
    /// The value sent in ProduceRequest.acks.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// Parses the Java values `0`, `1`, `all`, `-1`.
    pub fn parse(s: &str) -> Result<Acks> {
        match s.trim().to_ascii_lowercase().as_str() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            other => Err(Error::config(
                "acks",
                format!("`{other}` is not one of 0, 1, all, -1"),
            )),
        }
    }
}

/// `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionType {
    /// No compression.
    #[default]
    None,
    /// gzip (deflate).
    Gzip,
    /// snappy.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// zstd.
    Zstd,
}

impl CompressionType {
    /// Parses `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    pub fn parse(s: &str) -> Result<CompressionType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(CompressionType::None),
            "gzip" => Ok(CompressionType::Gzip),
            "snappy" => Ok(CompressionType::Snappy),
            "lz4" => Ok(CompressionType::Lz4),
            "zstd" => Ok(CompressionType::Zstd),
            other => Err(Error::config(
                "compression.type",
                format!("`{other}` is not one of none, gzip, snappy, lz4, zstd"),
            )),
        }
    }

    /// The Java name.
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::None => "none",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }
}

/// Which partitioner picks the partition of records without one
/// (`partitioner.class`).
#[derive(Clone, Default)]
pub enum PartitionerKind {
    /// The Java client's default: murmur2 of the key, uniform sticky for
    /// records without key (KIP-480/794).
    #[default]
    Default,
    /// Round robin over the available partitions
    /// (`org.apache.kafka.clients.producer.RoundRobinPartitioner`).
    RoundRobin,
    /// A uniformly random partition per record (sarama's random partitioner).
    Random,
    /// The record must name its partition (sarama's manual partitioner).
    Manual,
    /// The user's own.
    Custom(Arc<dyn Partitioner>),
}

impl fmt::Debug for PartitionerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionerKind::Default => write!(f, "Default"),
            PartitionerKind::RoundRobin => write!(f, "RoundRobin"),
            PartitionerKind::Random => write!(f, "Random"),
            PartitionerKind::Manual => write!(f, "Manual"),
            PartitionerKind::Custom(_) => write!(f, "Custom(..)"),
        }
    }
}

impl PartitionerKind {
    /// Parses a Java class name or a short name.
    pub fn parse(s: &str) -> Result<PartitionerKind> {
        let short = s
            .trim()
            .rsplit('.')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match short.as_str() {
            ""
            | "default"
            | "defaultpartitioner"
            | "murmur2"
            | "builtinpartitioner"
            | "uniformstickypartitioner"
            | "sticky" => Ok(PartitionerKind::Default),
            "roundrobin" | "round_robin" | "round-robin" | "roundrobinpartitioner" => {
                Ok(PartitionerKind::RoundRobin)
            }
            "random" | "randompartitioner" => Ok(PartitionerKind::Random),
            "manual" | "manualpartitioner" => Ok(PartitionerKind::Manual),
            _ => Err(Error::config(
                "partitioner.class",
                format!(
                    "`{s}` is not one of default, round_robin, random, manual \
                     (or org.apache.kafka.clients.producer.RoundRobinPartitioner); \
                     use ProducerConfigBuilder::partitioner for your own"
                ),
            )),
        }
    }
}

/// The producer's configuration. Fields carry the Java defaults.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers` (host:port list). Required.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `acks` (default `all`).
    pub acks: Acks,
    /// `linger.ms` (default 5 ms, as in Kafka 4.0).
    pub linger: Duration,
    /// `batch.size` in bytes (default 16384).
    pub batch_size: usize,
    /// `buffer.memory` in bytes (default 32 MiB).
    pub buffer_memory: usize,
    /// `max.block.ms` (default 60 s): how long `send` may block for metadata
    /// or buffer memory.
    pub max_block: Duration,
    /// `max.request.size` in bytes (default 1 MiB).
    pub max_request_size: usize,
    /// `compression.type` (default none).
    pub compression_type: CompressionType,
    /// `retries` (default i32::MAX).
    pub retries: u32,
    /// `retry.backoff.ms` (default 100 ms).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1000 ms).
    pub retry_backoff_max: Duration,
    /// `delivery.timeout.ms` (default 120 s).
    pub delivery_timeout: Duration,
    /// `request.timeout.ms` (default 30 s).
    pub request_timeout: Duration,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `transactional.id` (default none). Set, the producer is
    /// transactional (and therefore idempotent): see
    /// [`KafkaProducer::init_transactions`](crate::KafkaProducer::init_transactions).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60 s): how long the transaction
    /// coordinator lets a transaction stay open before it aborts it.
    pub transaction_timeout: Duration,
    /// `max.in.flight.requests.per.connection` (default 5).
    pub max_in_flight_requests_per_connection: usize,
    /// `metadata.max.age.ms` (default 5 min).
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms` (default 5 min, at least 5 s): a topic not
    /// sent to for this long leaves the metadata requests.
    pub metadata_max_idle: Duration,
    /// `reconnect.backoff.ms` (default 50 ms).
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1 s).
    pub reconnect_backoff_max: Duration,
    /// `connections.max.idle.ms` (default 9 min).
    pub connections_max_idle: Duration,
    /// `statistics.interval.ms` (librdkafka's; default 0 = no statistics):
    /// how often the statistics handler gets a JSON document.
    pub statistics_interval: Duration,
    /// `send.buffer.bytes` (default -1: the OS default, which keeps Linux's
    /// send-buffer auto-tuning; Java's 131072 turns it off and costs ten
    /// times the writes with 1 MB batches).
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (default 32 KiB).
    pub receive_buffer_bytes: i32,
    /// `partitioner.class` (default: the built-in one).
    pub partitioner: PartitionerKind,
    /// `partitioner.ignore.keys` (default false): keyed records are spread
    /// like records without key.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable` (default true): the sticky
    /// partitioner prefers partitions whose leaders have less queued.
    pub partitioner_adaptive_partitioning: bool,
    /// `partitioner.availability.timeout.ms` (default 0: off). With
    /// adaptive partitioning, a leader that had batches waiting this long
    /// without taking them has its partitions left out of the sticky
    /// choices (KIP-794) while other partitions remain.
    pub partitioner_availability_timeout: Duration,
    /// `compression.gzip.level`, `compression.zstd.level` etc. (None: codec default).
    pub compression_level: Option<i32>,
    /// `security.protocol` (default PLAINTEXT) and the `sasl.*`/`ssl.*`
    /// settings, mapped and checked by `prozess_network::security` (shared
    /// with the consumer and the admin client; `Debug` hides secrets).
    pub security: SecurityConfig,
    /// Whether `enable.idempotence` was set explicitly (then conflicting
    /// settings are an error rather than turning idempotence off).
    idempotence_explicit: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16384,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_millis(60_000),
            max_request_size: 1024 * 1024,
            compression_type: CompressionType::None,
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            delivery_timeout: Duration::from_millis(120_000),
            request_timeout: Duration::from_millis(30_000),
            enable_idempotence: true,
            transactional_id: None,
            transaction_timeout: Duration::from_millis(60_000),
            max_in_flight_requests_per_connection: 5,
            metadata_max_age: Duration::from_millis(300_000),
            metadata_max_idle: Duration::from_millis(300_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1000),
            connections_max_idle: Duration::from_millis(540_000),
            statistics_interval: Duration::ZERO,
            // Not Java's 131072: a fixed SO_SNDBUF disables the kernel's
            // auto-tuning (README, Configuration).
            send_buffer_bytes: -1,
            receive_buffer_bytes: 32_768,
            partitioner: PartitionerKind::Default,
            partitioner_ignore_keys: false,
            partitioner_adaptive_partitioning: true,
            partitioner_availability_timeout: Duration::ZERO,
            compression_level: None,
            security: SecurityConfig::default(),
            idempotence_explicit: false,
        }
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T> {
    v.trim()
        .parse::<T>()
        .map_err(|_| Error::config(key, format!("`{v}` is not a valid number")))
}

/// A socket buffer size: bytes, or -1 for the OS default (Java's range).
fn parse_buffer_size(key: &str, v: &str) -> Result<i32> {
    let n: i32 = parse_num(key, v)?;
    if n < -1 {
        return Err(Error::config(
            key,
            format!("`{v}` must be >= -1 (-1: the OS default)"),
        ));
    }
    Ok(n)
}

fn parse_ms(key: &str, v: &str) -> Result<Duration> {
    let ms: i64 = parse_num(key, v)?;
    if ms < 0 {
        return Err(Error::config(key, format!("`{v}` must be >= 0")));
    }
    Ok(Duration::from_millis(ms as u64))
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::config(key, format!("`{v}` is not true or false"))),
    }
}

impl ProducerConfig {
    /// A builder starting from the Java defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: ProducerConfig::default(),
        }
    }

    /// Builds a config from Java property names (`bootstrap.servers`,
    /// `acks`, `linger.ms`, ...). Unknown keys are an error naming the key.
    pub fn from_properties<I, K, V>(props: I) -> Result<ProducerConfig>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut b = ProducerConfig::builder();
        for (k, v) in props {
            b = b.set(k.as_ref(), v.as_ref())?;
        }
        b.build()
    }

    /// Whether idempotence is on after validation.
    pub fn idempotence(&self) -> bool {
        self.enable_idempotence
    }

    /// Checks the settings against each other, as the Java client does.
    /// Idempotence needs acks=all, retries > 0 and at most 5 in flight: when
    /// `enable.idempotence` was not set explicitly, a conflicting setting
    /// turns it off; when it was, the conflict is an error.
    pub fn validate(mut self) -> Result<ProducerConfig> {
        if self.bootstrap_servers.is_empty() {
            return Err(Error::config(
                "bootstrap.servers",
                "must name at least one host:port",
            ));
        }
        // Security settings that cannot work are refused now, not at the
        // first connect.
        self.security.validate()?;
        if self.batch_size == 0 {
            // Java accepts 0 (no batching); keep one record per batch then.
            self.batch_size = 1;
        }
        if self.metadata_max_idle < Duration::from_millis(5000) {
            // As the Java client: shorter would drop topics between sends.
            return Err(Error::config(
                "metadata.max.idle.ms",
                "must be at least 5000 ms",
            ));
        }
        if self.max_in_flight_requests_per_connection == 0 {
            return Err(Error::config(
                "max.in.flight.requests.per.connection",
                "must be at least 1",
            ));
        }
        if self.delivery_timeout < self.linger + self.request_timeout {
            return Err(Error::config(
                "delivery.timeout.ms",
                format!(
                    "must be at least linger.ms + request.timeout.ms ({} ms)",
                    (self.linger + self.request_timeout).as_millis()
                ),
            ));
        }
        if self.transactional_id.is_some() {
            // As the Java client: a transactional producer is idempotent.
            if self.idempotence_explicit && !self.enable_idempotence {
                return Err(Error::config(
                    "enable.idempotence",
                    "must be true when transactional.id is set (a transactional producer is idempotent)",
                ));
            }
            self.enable_idempotence = true;
            self.idempotence_explicit = true;
            if self.transaction_timeout.is_zero()
                || self.transaction_timeout.as_millis() > i32::MAX as u128
            {
                return Err(Error::config(
                    "transaction.timeout.ms",
                    "must be between 1 and 2147483647",
                ));
            }
        }
        if self.enable_idempotence {
            let conflict = if self.acks != Acks::All {
                Some(("acks", "must be all (-1) when idempotence is enabled"))
            } else if self.retries == 0 {
                Some((
                    "retries",
                    "must be greater than 0 when idempotence is enabled",
                ))
            } else if self.max_in_flight_requests_per_connection > 5 {
                Some((
                    "max.in.flight.requests.per.connection",
                    "must be at most 5 when idempotence is enabled",
                ))
            } else {
                None
            };
            if let Some((key, msg)) = conflict {
                if self.idempotence_explicit {
                    return Err(Error::config(key, msg));
                }
                tracing::info!(key, "idempotence disabled because of a conflicting setting");
                self.enable_idempotence = false;
            }
        }
        Ok(self)
    }
}

/// Builder for [`ProducerConfig`].
#[derive(Debug, Clone)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

impl ProducerConfigBuilder {
    /// Sets one Java property by name.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        let c = &mut self.config;
        match key {
            "bootstrap.servers" => {
                c.bootstrap_servers = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "client.id" => c.client_id = value.to_string(),
            "acks" => c.acks = Acks::parse(value)?,
            "linger.ms" => c.linger = parse_ms(key, value)?,
            "batch.size" => c.batch_size = parse_num(key, value)?,
            "buffer.memory" => c.buffer_memory = parse_num(key, value)?,
            "max.block.ms" => c.max_block = parse_ms(key, value)?,
            "max.request.size" => c.max_request_size = parse_num(key, value)?,
            "compression.type" => c.compression_type = CompressionType::parse(value)?,
            "compression.gzip.level" | "compression.lz4.level" | "compression.zstd.level" => {
                c.compression_level = Some(parse_num(key, value)?)
            }
            "retries" => {
                let r: i64 = parse_num(key, value)?;
                if r < 0 {
                    return Err(Error::config(key, "must be >= 0"));
                }
                c.retries = r.min(i32::MAX as i64) as u32;
            }
            "retry.backoff.ms" => c.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => c.retry_backoff_max = parse_ms(key, value)?,
            "delivery.timeout.ms" => c.delivery_timeout = parse_ms(key, value)?,
            "request.timeout.ms" => c.request_timeout = parse_ms(key, value)?,
            "enable.idempotence" => {
                c.enable_idempotence = parse_bool(key, value)?;
                c.idempotence_explicit = true;
            }
            "max.in.flight.requests.per.connection" => {
                c.max_in_flight_requests_per_connection = parse_num(key, value)?
            }
            "metadata.max.age.ms" => c.metadata_max_age = parse_ms(key, value)?,
            "metadata.max.idle.ms" => c.metadata_max_idle = parse_ms(key, value)?,
            "reconnect.backoff.ms" => c.reconnect_backoff = parse_ms(key, value)?,
            "reconnect.backoff.max.ms" => c.reconnect_backoff_max = parse_ms(key, value)?,
            "connections.max.idle.ms" => c.connections_max_idle = parse_ms(key, value)?,
            "statistics.interval.ms" => c.statistics_interval = parse_ms(key, value)?,
            "send.buffer.bytes" => c.send_buffer_bytes = parse_buffer_size(key, value)?,
            "receive.buffer.bytes" => c.receive_buffer_bytes = parse_buffer_size(key, value)?,
            "partitioner.class" => c.partitioner = PartitionerKind::parse(value)?,
            "partitioner.ignore.keys" => c.partitioner_ignore_keys = parse_bool(key, value)?,
            "partitioner.adaptive.partitioning.enable" => {
                c.partitioner_adaptive_partitioning = parse_bool(key, value)?
            }
            "partitioner.availability.timeout.ms" => {
                c.partitioner_availability_timeout = parse_ms(key, value)?
            }
            // Accepted for compatibility; prozess has no use for them.
            "key.serializer"
            | "value.serializer"
            | "interceptor.classes"
            | "metric.reporters"
            | "client.dns.lookup" => {}
            // The known ones are mapped (and checked) by validate(); other
            // `ssl.*`/`sasl.*` tuning keys of the Java client and librdkafka
            // (cipher suites, login refresh, ...) are kept and have no effect.
            k if k == "security.protocol" || crate::security::is_security_key(k) => {
                c.security.set(k, value)?;
            }
            "transactional.id" => {
                let id = value.trim();
                c.transactional_id = (!id.is_empty()).then(|| id.to_string());
            }
            "transaction.timeout.ms" => c.transaction_timeout = parse_ms(key, value)?,
            _ => {
                return Err(Error::config(
                    key,
                    "unknown producer configuration key (see ProducerConfig for the accepted keys)",
                ))
            }
        }
        Ok(self)
    }

    /// `bootstrap.servers`.
    pub fn bootstrap_servers(mut self, servers: impl Into<String>) -> Self {
        self.config.bootstrap_servers = servers
            .into()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        self
    }
    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }
    /// `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }
    /// `statistics.interval.ms` (0: off).
    pub fn statistics_interval(mut self, d: Duration) -> Self {
        self.config.statistics_interval = d;
        self
    }
    /// `linger.ms`.
    pub fn linger(mut self, d: Duration) -> Self {
        self.config.linger = d;
        self
    }
    /// `batch.size`.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n;
        self
    }
    /// `buffer.memory`.
    pub fn buffer_memory(mut self, n: usize) -> Self {
        self.config.buffer_memory = n;
        self
    }
    /// `max.block.ms`.
    pub fn max_block(mut self, d: Duration) -> Self {
        self.config.max_block = d;
        self
    }
    /// `max.request.size`.
    pub fn max_request_size(mut self, n: usize) -> Self {
        self.config.max_request_size = n;
        self
    }
    /// `compression.type`.
    pub fn compression_type(mut self, c: CompressionType) -> Self {
        self.config.compression_type = c;
        self
    }
    /// `retries`.
    pub fn retries(mut self, n: u32) -> Self {
        self.config.retries = n;
        self
    }
    /// `retry.backoff.ms`.
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.config.retry_backoff = d;
        self
    }
    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.config.delivery_timeout = d;
        self
    }
    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }
    /// `transactional.id`: makes the producer transactional.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.config.transactional_id = Some(id.into());
        self
    }
    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(mut self, d: Duration) -> Self {
        self.config.transaction_timeout = d;
        self
    }
    /// `enable.idempotence` (explicit: conflicts become errors).
    pub fn enable_idempotence(mut self, on: bool) -> Self {
        self.config.enable_idempotence = on;
        self.config.idempotence_explicit = true;
        self
    }
    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight_requests_per_connection(mut self, n: usize) -> Self {
        self.config.max_in_flight_requests_per_connection = n;
        self
    }
    /// `partitioner.class` as one of the built-in kinds.
    pub fn partitioner_kind(mut self, kind: PartitionerKind) -> Self {
        self.config.partitioner = kind;
        self
    }
    /// The user's own partitioner.
    pub fn partitioner(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.config.partitioner = PartitionerKind::Custom(p);
        self
    }
    /// `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(mut self, on: bool) -> Self {
        self.config.partitioner_ignore_keys = on;
        self
    }
    /// `security.protocol`.
    pub fn security_protocol(mut self, p: SecurityProtocol) -> Self {
        self.config.security.protocol = p;
        self
    }
    /// SASL credentials (`sasl.mechanism`, `sasl.username`, `sasl.password`).
    pub fn sasl(
        mut self,
        mechanism: prozess_network::SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let s = &mut self.config.security;
        for (key, value) in [
            ("sasl.mechanism", mechanism.name().to_string()),
            ("sasl.username", username.into()),
            ("sasl.password", password.into()),
        ] {
            // Only `security.protocol` values can be refused by `set`.
            let taken = s.set(key, &value);
            debug_assert!(matches!(taken, Ok(true)), "{key}: {taken:?}");
        }
        self
    }
    /// `sasl.mechanism=OAUTHBEARER` with tokens from `provider` (Java's
    /// `sasl.login.callback.handler.class`).
    pub fn oauthbearer_token_provider(
        mut self,
        provider: Arc<dyn prozess_network::OAuthBearerTokenProvider>,
    ) -> Self {
        let s = &mut self.config.security;
        let taken = s.set("sasl.mechanism", "OAUTHBEARER");
        debug_assert!(matches!(taken, Ok(true)), "{taken:?}");
        s.set_oauthbearer_token_provider(provider);
        self
    }
    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(mut self, d: Duration) -> Self {
        self.config.metadata_max_age = d;
        self
    }

    /// `metadata.max.idle.ms`.
    pub fn metadata_max_idle(mut self, d: Duration) -> Self {
        self.config.metadata_max_idle = d;
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<ProducerConfig> {
        self.config.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_javas() {
        let c = ProducerConfig::default();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.batch_size, 16384);
        assert_eq!(c.buffer_memory, 33_554_432);
        assert_eq!(c.max_request_size, 1_048_576);
        assert_eq!(c.delivery_timeout, Duration::from_secs(120));
        assert!(c.enable_idempotence);
        assert_eq!(c.max_in_flight_requests_per_connection, 5);
        assert_eq!(c.metadata_max_idle, Duration::from_secs(300));
    }

    /// send.buffer.bytes defaults to the OS default (no SO_SNDBUF: Linux
    /// auto-tunes it); a value the user sets reaches the socket settings.
    #[test]
    fn socket_buffers_default_to_the_os_and_honour_what_is_set() {
        let c = ProducerConfig::default();
        let n = crate::producer::network_config(&c).unwrap();
        assert_eq!(n.send_buffer, None, "send.buffer.bytes default");
        assert_eq!(
            n.receive_buffer,
            Some(32_768),
            "receive.buffer.bytes default"
        );
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "b:9092"),
            ("send.buffer.bytes", "131072"),
            ("receive.buffer.bytes", "-1"),
        ])
        .unwrap();
        let n = crate::producer::network_config(&c).unwrap();
        assert_eq!(n.send_buffer, Some(131_072));
        assert_eq!(n.receive_buffer, None);
        for key in ["send.buffer.bytes", "receive.buffer.bytes"] {
            let e = ProducerConfig::from_properties([("bootstrap.servers", "b:9092"), (key, "-2")]);
            assert!(e.is_err(), "{key} below -1 is refused");
        }
    }

    #[test]
    fn metadata_max_idle_is_parsed_and_checked() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("metadata.max.idle.ms", "60000"),
        ])
        .unwrap();
        assert_eq!(c.metadata_max_idle, Duration::from_secs(60));
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("metadata.max.idle.ms", "100"),
        ])
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "metadata.max.idle.ms"));
    }

    #[test]
    fn from_properties_parses_java_names() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:9092, b:9093"),
            ("acks", "1"),
            ("linger.ms", "20"),
            ("compression.type", "zstd"),
            ("partitioner.availability.timeout.ms", "250"),
            (
                "partitioner.class",
                "org.apache.kafka.clients.producer.RoundRobinPartitioner",
            ),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:9092", "b:9093"]);
        assert_eq!(c.acks, Acks::Leader);
        assert_eq!(c.linger, Duration::from_millis(20));
        assert_eq!(c.compression_type, CompressionType::Zstd);
        assert!(matches!(c.partitioner, PartitionerKind::RoundRobin));
        assert_eq!(
            c.partitioner_availability_timeout,
            Duration::from_millis(250)
        );
        // acks=1 with implicit idempotence turns idempotence off, as in Java.
        assert!(!c.idempotence());
    }

    #[test]
    fn errors_name_the_key() {
        let e = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("acks", "2")])
            .unwrap_err();
        assert!(
            matches!(&e, Error::Config { key, .. } if key == "acks"),
            "{e}"
        );
        assert!(e.to_string().contains("0, 1, all"));
        let e = ProducerConfig::from_properties([("bootstrap.servers", "a:1"), ("lingr.ms", "2")])
            .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "lingr.ms"));
        let e = ProducerConfig::from_properties([("linger.ms", "x")]).unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "linger.ms"));
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_TLS"),
        ])
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "security.protocol"));
        // SASL without credentials is refused by from_properties already.
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
        ])
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "sasl.jaas.config"));
        let e = ProducerConfig::from_properties([("acks", "1")]).unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "bootstrap.servers"));
    }

    #[test]
    fn explicit_idempotence_conflict_is_an_error() {
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("enable.idempotence", "true"),
            ("acks", "0"),
        ])
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "acks"));
    }

    #[test]
    fn oauthbearer_token_provider_through_the_builder_or_after_the_properties() {
        let provider = Arc::new(|| {
            Ok(prozess_network::OAuthBearerToken {
                value: "t".into(),
                principal_name: "svc".into(),
                start_time: None,
                expiry: std::time::SystemTime::now() + Duration::from_secs(60),
            })
        });
        let c = ProducerConfig::builder()
            .bootstrap_servers("a:1")
            .security_protocol(SecurityProtocol::SaslSsl)
            .oauthbearer_token_provider(provider.clone())
            .build()
            .unwrap();
        let n = crate::producer::network_config(&c).unwrap();
        let sasl = n.sasl.unwrap();
        assert_eq!(sasl.mechanism, prozess_network::SaslMechanism::OAuthBearer);
        assert!(sasl.oauthbearer.is_some());
        // Properties first (validation leaves room for the provider), then
        // the provider; without one the network config is refused.
        let mut c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ])
        .unwrap();
        assert!(crate::producer::network_config(&c).is_err());
        c.security.set_oauthbearer_token_provider(provider);
        assert!(crate::producer::network_config(&c).is_ok());
    }

    #[test]
    fn transactional_id_makes_the_producer_idempotent() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("transactional.id", "tx-1"),
        ])
        .unwrap();
        assert_eq!(c.transactional_id.as_deref(), Some("tx-1"));
        assert_eq!(c.transaction_timeout, Duration::from_secs(60));
        assert!(c.idempotence());
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("transactional.id", "tx-1"),
            ("transaction.timeout.ms", "15000"),
        ])
        .unwrap();
        assert_eq!(c.transaction_timeout, Duration::from_secs(15));
        // Conflicts are errors, not a silent switch-off of idempotence.
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("transactional.id", "tx-1"),
            ("enable.idempotence", "false"),
        ])
        .unwrap_err();
        assert!(
            matches!(&e, Error::Config { key, .. } if key == "enable.idempotence"),
            "{e}"
        );
        assert!(e.to_string().contains("transactional.id"), "{e}");
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("transactional.id", "tx-1"),
            ("acks", "1"),
        ])
        .unwrap_err();
        assert!(
            matches!(&e, Error::Config { key, .. } if key == "acks"),
            "{e}"
        );
    }
}
