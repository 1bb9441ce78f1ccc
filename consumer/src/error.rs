//! The consumer's error type.

use std::fmt;

use prozess_network::TopicPartition;
use prozess_protocol::ErrorCode;

use crate::group::membership::GroupError;
use crate::subscription_state::LogTruncation;

/// Everything a consumer call can fail with. Retriable broker errors are
/// retried inside the consumer; what reaches the caller is what it must decide on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// A broker error code the caller must act on (see [`Error::is_retriable`]).
    Kafka(ErrorCode),
    /// A broker error code for one partition.
    PartitionError {
        /// The partition.
        tp: TopicPartition,
        /// The broker's error code.
        code: ErrorCode,
    },
    /// A partition has no committed offset and `auto.offset.reset` is `none`.
    NoOffsetForPartition(Vec<TopicPartition>),
    /// The position is out of range and `auto.offset.reset` is `none`.
    OffsetOutOfRange {
        /// Each partition with the offset that was out of range.
        offsets: Vec<(TopicPartition, i64)>,
    },
    /// The leader's log no longer holds the position (it was truncated after
    /// a leader change, KIP-320) and `auto.offset.reset` is `none` (Java's
    /// `LogTruncationException`). Each entry names the partition, the
    /// position and where the leader's log diverges; seek to continue.
    LogTruncation {
        /// The truncated partitions.
        truncations: Vec<LogTruncation>,
    },
    /// A configuration key is unknown or its value invalid.
    Config {
        /// The Java property name.
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A record's key or value could not be deserialized. The position stays at
    /// `offset`: the next poll fails again unless the caller seeks past it.
    Deserialization {
        /// The partition.
        tp: TopicPartition,
        /// The record's offset.
        offset: i64,
        /// Whether the key (true) or the value failed.
        is_key: bool,
        /// The deserializer's message.
        message: String,
    },
    /// A record batch failed its CRC or could not be decoded. The position stays
    /// at `offset`: the consumer never skips data silently.
    CorruptRecord {
        /// The partition.
        tp: TopicPartition,
        /// The offset at which decoding failed.
        offset: i64,
        /// What was wrong.
        message: String,
    },
    /// A compressed record batch inflates past the consumer's bound on one
    /// batch's decompressed size (see
    /// [`ConsumerConfig::max_decompressed_batch_bytes`](crate::ConsumerConfig::max_decompressed_batch_bytes)).
    /// The position stays at `offset`; raise `fetch.max.bytes` to read it.
    DecompressedBatchTooLarge {
        /// The partition.
        tp: TopicPartition,
        /// The offset at which reading stopped.
        offset: i64,
        /// The bound in bytes.
        limit: usize,
    },
    /// A partition named in a call is not assigned to this consumer.
    NotAssigned(TopicPartition),
    /// The operation did not finish within its timeout.
    Timeout(String),
    /// [`crate::WakeupHandle::wakeup`] interrupted a blocking call.
    Wakeup,
    /// A network failure that could not be retried within the call.
    Network(String),
    /// An offset commit failed for good.
    CommitFailed(String),
    /// A commit was refused because the group is rebalancing (Java's
    /// `RebalanceInProgressException`): poll (which completes the
    /// rebalance) and commit again.
    RebalanceInProgress,
    /// The group membership stopped on an error it cannot get past
    /// (FENCED_INSTANCE_ID, GROUP_AUTHORIZATION_FAILED, an unknown assignor...).
    Group(GroupError),
    /// `commit`/`committed` without a `group.id`.
    InvalidGroupId,
    /// A call that is illegal in the current state (e.g. after close).
    IllegalState(String),
    /// A response could not be decoded or did not fit the request.
    Protocol(String),
    /// SASL authentication or the TLS handshake with a broker failed (Java's
    /// `SaslAuthenticationException` / `SslAuthenticationException`). Not
    /// retriable: fix the credentials or certificates. The message names the
    /// broker, the mechanism and the broker's message; a later call tries
    /// again (after `reconnect.backoff.max.ms`).
    Authentication(String),
}

impl Error {
    /// Whether the same call may succeed if repeated.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka(code) | Error::PartitionError { code, .. } => code.is_retriable(),
            Error::Timeout(_) | Error::Network(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kafka(code) => write!(f, "broker error {code}"),
            Error::PartitionError { tp, code } => write!(f, "broker error {code} for {tp}"),
            Error::NoOffsetForPartition(tps) => {
                write!(
                    f,
                    "no committed offset and auto.offset.reset=none for partitions: "
                )?;
                write_list(f, tps.iter())
            }
            Error::OffsetOutOfRange { offsets } => {
                write!(
                    f,
                    "offset out of range and auto.offset.reset=none for partitions: "
                )?;
                write_list(f, offsets.iter().map(|(tp, o)| format!("{tp}@{o}")))
            }
            Error::LogTruncation { truncations } => {
                write!(
                    f,
                    "log truncation detected and auto.offset.reset=none (seek to continue): "
                )?;
                write_list(f, truncations.iter())
            }
            Error::Config { key, message } => write!(f, "configuration {key}: {message}"),
            Error::Deserialization {
                tp,
                offset,
                is_key,
                message,
            } => write!(
                f,
                "cannot deserialize the {} of the record at {tp} offset {offset}: {message}",
                if *is_key { "key" } else { "value" }
            ),
            Error::CorruptRecord {
                tp,
                offset,
                message,
            } => write!(f, "corrupt record at {tp} offset {offset}: {message}"),
            Error::DecompressedBatchTooLarge { tp, offset, limit } => write!(
                f,
                "record batch at {tp} offset {offset} decompresses to more than {limit} bytes \
                 (the limit is {factor} x the larger of fetch.max.bytes and \
                 max.partition.fetch.bytes, at least {floor} bytes): raise fetch.max.bytes to read it",
                factor = crate::config::DECOMPRESSED_BATCH_FACTOR,
                floor = crate::config::MIN_MAX_DECOMPRESSED_BATCH_BYTES,
            ),
            Error::NotAssigned(tp) => write!(f, "partition {tp} is not assigned"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Wakeup => write!(f, "woken up"),
            Error::Network(m) => write!(f, "network error: {m}"),
            Error::CommitFailed(m) => write!(f, "offset commit failed: {m}"),
            Error::RebalanceInProgress => write!(
                f,
                "offset commit refused: the group is rebalancing; poll to complete the rebalance, then commit again"
            ),
            Error::Group(e) => write!(f, "consumer group: {e}"),
            Error::InvalidGroupId => write!(f, "this call needs a group.id"),
            Error::IllegalState(m) => write!(f, "illegal state: {m}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Authentication(m) => f.write_str(m),
        }
    }
}

fn write_list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl std::error::Error for Error {}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
