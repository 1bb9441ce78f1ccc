//! The producer's error type.
//!
//! One [`Error`] for the whole public surface. It is `Clone` because one
//! failed batch completes the delivery future of every record in it.

use std::fmt;
use std::time::Duration;

/// Everything that can go wrong while producing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A configuration key had an invalid value, or is not known.
    Config {
        /// The Java property name, e.g. `acks`.
        key: String,
        /// What was wrong and which values are accepted.
        message: String,
    },
    /// The serialized record is larger than `max.request.size` or
    /// `buffer.memory` allows.
    RecordTooLarge {
        /// Estimated size of the record in a batch, in bytes.
        size: usize,
        /// The limit it exceeded.
        max: usize,
        /// Which setting the limit comes from.
        limit: &'static str,
    },
    /// `send` could not get buffer memory within `max.block.ms`.
    BufferExhausted {
        /// How long `send` waited.
        waited: Duration,
        /// The configured `buffer.memory`.
        buffer_memory: usize,
    },
    /// The topic's metadata did not arrive within `max.block.ms`.
    MetadataTimeout {
        /// The topic being produced to.
        topic: String,
        /// How long `send` waited.
        waited: Duration,
        /// The last connection error of each broker that could not be
        /// reached, as `"; last connection errors: host:port: error, ..."`
        /// (empty if none).
        connection_errors: String,
    },
    /// The record names a partition the topic does not have.
    InvalidPartition {
        /// The topic.
        topic: String,
        /// The partition the record asked for.
        partition: i32,
        /// The number of partitions the topic has.
        partitions: i32,
    },
    /// A serializer failed.
    Serialization(String),
    /// The partitioner failed (e.g. the manual partitioner got a record
    /// without a partition).
    Partitioner(String),
    /// The record was not acknowledged within `delivery.timeout.ms`.
    DeliveryTimeout {
        /// `topic-partition` of the batch that expired.
        partition: String,
        /// How long the record was in the producer.
        elapsed: Duration,
        /// The last error seen for the batch, if any.
        last_error: Option<String>,
    },
    /// The broker answered with a Kafka error code that is not retried (or
    /// whose retries were exhausted).
    Kafka {
        /// The error code's name, e.g. `MESSAGE_TOO_LARGE`.
        name: String,
        /// The numeric code.
        code: i16,
        /// Whether Kafka classifies it as retriable.
        retriable: bool,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// A network failure that was not retried.
    Network(String),
    /// The producer is closed (or closing) and accepts no more records.
    Closed,
    /// The producer hit a fatal error (e.g. InitProducerId failed for good).
    Fatal(String),
    /// A wait for a result (e.g. `DeliveryFuture::wait_timeout`) timed out.
    Timeout(Duration),
    /// A transactional call in a state that does not allow it (Java's
    /// `IllegalStateException`); the message names the state.
    IllegalState(String),
    /// SASL authentication or the TLS handshake with a broker failed (Java's
    /// `SaslAuthenticationException` / `SslAuthenticationException`): the
    /// records waiting to be sent and the `send` calls waiting for metadata
    /// fail with it. Not retriable; the message names the broker, the
    /// mechanism and the broker's message. Later sends try again.
    Authentication(String),
    /// The cluster refused this principal the topic (TOPIC_AUTHORIZATION_FAILED,
    /// Java's `TopicAuthorizationException`): in the metadata (no Describe;
    /// waiting sends fail at once) or for the Produce itself (no Write). Not
    /// retriable; a later send asks again (after an ACL is granted it
    /// succeeds).
    TopicAuthorization {
        /// The topic.
        topic: String,
    },
}

impl Error {
    /// Whether retrying the same operation could succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { retriable, .. } => *retriable,
            Error::Network(_) | Error::Timeout(_) | Error::DeliveryTimeout { .. } => true,
            Error::BufferExhausted { .. } | Error::MetadataTimeout { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn config(key: &str, message: impl Into<String>) -> Error {
        Error::Config {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { key, message } => write!(f, "invalid configuration `{key}`: {message}"),
            Error::RecordTooLarge { size, max, limit } => write!(
                f,
                "the record is {size} bytes when serialized, which is larger than {limit} ({max})"
            ),
            Error::BufferExhausted {
                waited,
                buffer_memory,
            } => write!(
                f,
                "failed to allocate memory within the configured max blocking time {} ms \
                 (buffer.memory = {buffer_memory})",
                waited.as_millis()
            ),
            Error::MetadataTimeout {
                topic,
                waited,
                connection_errors,
            } => write!(
                f,
                "topic {topic} not present in metadata after {} ms{connection_errors}",
                waited.as_millis()
            ),
            Error::InvalidPartition {
                topic,
                partition,
                partitions,
            } => write!(
                f,
                "invalid partition {partition} for topic {topic}: it has {partitions} partitions"
            ),
            Error::Serialization(m) => write!(f, "serialization failed: {m}"),
            Error::Partitioner(m) => write!(f, "partitioner failed: {m}"),
            Error::DeliveryTimeout {
                partition,
                elapsed,
                last_error,
            } => {
                write!(
                    f,
                    "expiring record(s) for {partition}: {} ms has passed since batch creation \
                     (delivery.timeout.ms)",
                    elapsed.as_millis()
                )?;
                if let Some(e) = last_error {
                    write!(f, "; last error: {e}")?;
                }
                Ok(())
            }
            Error::Kafka {
                name,
                code,
                message,
                ..
            } => {
                write!(f, "broker error {name} ({code})")?;
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
            Error::Network(m) => write!(f, "network error: {m}"),
            Error::Closed => write!(f, "the producer is closed"),
            Error::Fatal(m) => write!(f, "fatal producer error: {m}"),
            Error::Timeout(d) => write!(f, "timed out after {} ms", d.as_millis()),
            Error::IllegalState(m) => write!(f, "illegal state: {m}"),
            Error::Authentication(m) => f.write_str(m),
            Error::TopicAuthorization { topic } => write!(
                f,
                "not authorized to access topic {topic} (TOPIC_AUTHORIZATION_FAILED)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
