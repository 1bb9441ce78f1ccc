//! The membership's public value types: configuration, generation, errors
//! and the events the consumer acts on.

use std::fmt;
use std::time::Duration;

use prozess_network::TopicPartition;
use prozess_protocol::{ApiKey, ErrorCode};

/// Group settings the membership needs (the consumer builds it from
/// `ConsumerConfig`).
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id`: static membership (KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`; also the rebalance timeout sent in JoinGroup.
    pub max_poll_interval: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `client.rack`, sent in the subscription (v3) for rack-aware assignors.
    pub rack_id: Option<String>,
    /// `enable.auto.commit`: before every rejoin that keeps partitions, the
    /// consumer commits (Java's `onJoinPrepare`), so the membership stops
    /// with [`GroupEvent::PrepareJoin`] before JoinGroup.
    pub auto_commit: bool,
}

impl MembershipConfig {
    /// The Java client's defaults for `group_id`.
    pub fn new(group_id: impl Into<String>) -> Self {
        MembershipConfig {
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            retry_backoff: Duration::from_millis(100),
            rack_id: None,
            auto_commit: false,
        }
    }
}

/// A member's generation: what commits and heartbeats are sent under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Generation id (-1: none).
    pub generation_id: i32,
    /// Member id ("": none yet).
    pub member_id: String,
}

impl Generation {
    /// No generation and no member id.
    pub fn none() -> Self {
        Generation {
            generation_id: -1,
            member_id: String::new(),
        }
    }

    /// Whether the coordinator gave this member an id.
    pub fn has_member_id(&self) -> bool {
        !self.member_id.is_empty()
    }

    pub(crate) fn is_reset(&self) -> bool {
        self.generation_id < 0 || self.member_id.is_empty()
    }
}

/// A group error the member cannot get past by retrying: the consumer
/// surfaces it to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// The coordinator answered `api` with `code` (FENCED_INSTANCE_ID,
    /// GROUP_AUTHORIZATION_FAILED, INCONSISTENT_GROUP_PROTOCOL, ...).
    Coordinator {
        /// The request that failed.
        api: ApiKey,
        /// The error code.
        code: ErrorCode,
    },
    /// The group's protocol data made no sense (an assignment that does not
    /// decode, a protocol no configured assignor implements).
    InvalidGroupData(String),
    /// The broker lacks something the configuration needs (static
    /// membership needs JoinGroup v5).
    UnsupportedVersion(String),
}

impl GroupError {
    /// The Kafka error code, if the error came from the coordinator.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            GroupError::Coordinator { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Coordinator { api, code } => {
                write!(f, "{} failed: {}", api.name(), code.name())
            }
            GroupError::InvalidGroupData(m) => write!(f, "invalid group data: {m}"),
            GroupError::UnsupportedVersion(m) => write!(f, "unsupported version: {m}"),
        }
    }
}

impl std::error::Error for GroupError {}

/// What the consumer must do, returned by [`GroupMembership::poll`](super::GroupMembership::poll) and
/// [`GroupMembership::leave_group`](super::GroupMembership::leave_group) in the order it must be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    /// Give these partitions up: run `on_partitions_revoked` (after committing
    /// their offsets, with auto-commit) and drop them from the assignment.
    /// The generation is still valid while this is handled.
    Revoke(Vec<TopicPartition>),
    /// The member is about to rejoin keeping (some of) its partitions, and
    /// nothing is revoked first (cooperative protocol): commit the consumed
    /// offsets now, with the generation still valid (Java's `onJoinPrepare`
    /// auto-commit). Only with [`MembershipConfig::auto_commit`]. The
    /// assignment does not change.
    PrepareJoin,
    /// These partitions were lost (the member was fenced or expired): run
    /// `on_partitions_lost` and drop them without committing.
    Lost(Vec<TopicPartition>),
    /// A rebalance completed: the whole assignment is now `assignment`
    /// (`SubscriptionState::assign_from_subscribed`); run
    /// `on_partitions_assigned` with `added`.
    Assigned {
        /// Partitions new to this member.
        added: Vec<TopicPartition>,
        /// The full assignment.
        assignment: Vec<TopicPartition>,
        /// The generation it belongs to.
        generation: Generation,
    },
    /// The membership cannot continue; surface the error to the application.
    /// The member stays out of the group until [`GroupMembership::request_rejoin`](super::GroupMembership::request_rejoin).
    Fatal(GroupError),
}

/// Java's `MemberState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not in the group (or joining after a failure, not yet sent).
    Unjoined,
    /// JoinGroup in flight.
    PreparingRebalance,
    /// Joined; SyncGroup to be sent or in flight.
    CompletingRebalance,
    /// Has a generation and an assignment; heartbeating.
    Stable,
}
