//! The values admin operations take and return.

use std::collections::BTreeMap;

use bytes::Bytes;
use prozess_network::{Broker, NodeId, TopicPartition};
use prozess_protocol::Uuid;

use super::{AdminError, MemberAssignment, MemberSubscription};

/// The cluster as `describe_cluster` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id (Metadata v2+), if the broker sent one.
    pub cluster_id: Option<String>,
    /// The controller the broker named, if any (KRaft brokers may name a
    /// random broker or none).
    pub controller: Option<NodeId>,
    /// The brokers with the addresses they advertise, sorted by id.
    pub nodes: Vec<Broker>,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic name.
    pub name: String,
    /// Number of partitions; -1 for the broker default (`num.partitions`).
    pub num_partitions: i32,
    /// Replication factor; -1 for the broker default
    /// (`default.replication.factor`).
    pub replication_factor: i16,
    /// Topic configuration overrides, e.g. `cleanup.policy=compact`.
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `num_partitions` partitions and the broker's default
    /// replication factor.
    pub fn new(name: impl Into<String>, num_partitions: i32) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
        }
    }

    /// Sets the replication factor.
    pub fn replication_factor(mut self, replication_factor: i16) -> Self {
        self.replication_factor = replication_factor;
        self
    }

    /// Adds a configuration override.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// The outcome of creating one topic.
#[derive(Debug, Clone)]
pub struct CreateTopicResult {
    /// The topic name.
    pub name: String,
    /// The new topic's id (CreateTopics v7+), when the broker sent one.
    pub topic_id: Option<Uuid>,
    /// `Ok` once the topic exists and every partition has a leader on every
    /// broker. `Err` with TOPIC_ALREADY_EXISTS
    /// ([`AdminError::is_topic_already_exists`]) if it existed before.
    pub result: Result<(), AdminError>,
}

/// The outcome of deleting one topic.
#[derive(Debug, Clone)]
pub struct DeleteTopicResult {
    /// The topic name.
    pub name: String,
    /// `Ok` once no broker lists the topic any more.
    pub result: Result<(), AdminError>,
}

/// A topic as `list_topics` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// The topic name.
    pub name: String,
    /// The topic id (nil before Metadata v10).
    pub topic_id: Uuid,
    /// Whether it is an internal topic (`__consumer_offsets`, ...).
    pub is_internal: bool,
    /// Its number of partitions.
    pub partitions: usize,
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader, if there is one.
    pub leader: Option<NodeId>,
    /// The leader epoch (-1 when unknown).
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<NodeId>,
    /// The in-sync replicas.
    pub isr: Vec<NodeId>,
    /// Replicas that are offline.
    pub offline_replicas: Vec<NodeId>,
}

/// A topic as `describe_topics` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic name.
    pub name: String,
    /// The topic id (nil before Metadata v10).
    pub topic_id: Uuid,
    /// Whether it is an internal topic.
    pub is_internal: bool,
    /// The partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A consumer group as `list_groups` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type ("consumer" for consumer groups; empty for groups
    /// that only have committed offsets).
    pub protocol_type: String,
    /// The group state (ListGroups v4+), e.g. "Stable", "Empty".
    pub state: Option<String>,
    /// The group type (ListGroups v5+), e.g. "classic", "consumer".
    pub group_type: Option<String>,
    /// The broker that listed it (its coordinator).
    pub coordinator: NodeId,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave.
    pub member_id: String,
    /// The static member id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub host: String,
    /// The raw JoinGroup metadata.
    pub metadata: Bytes,
    /// The raw SyncGroup assignment.
    pub assignment_bytes: Bytes,
    /// The subscription, decoded when the group's protocol type is
    /// "consumer" and the metadata decodes (its `group_instance_id` is the
    /// member's).
    pub subscription: Option<MemberSubscription>,
    /// The assignment, decoded when the group's protocol type is "consumer"
    /// and the bytes are not empty and decode.
    pub assignment: Option<MemberAssignment>,
}

/// A group as `describe_groups` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state ("Stable", "PreparingRebalance", "Empty", "Dead", ...).
    pub state: String,
    /// The protocol type ("consumer" for consumer groups).
    pub protocol_type: String,
    /// The chosen protocol (for consumer groups: the assignor, e.g. "range").
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// The coordinator that answered.
    pub coordinator: NodeId,
}

/// The outcome of deleting one group.
#[derive(Debug, Clone)]
pub struct DeleteGroupResult {
    /// The group id.
    pub group_id: String,
    /// `Ok` if the group was deleted.
    pub result: Result<(), AdminError>,
}

/// Which offset `list_offsets` looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the offset the next record will get).
    Latest,
    /// The earliest offset whose timestamp is at or after this many
    /// milliseconds since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The timestamp ListOffsets encodes this as.
    pub fn wire_timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// A partition's answer to `list_offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsResultInfo {
    /// The offset; -1 if no record matches a timestamp lookup.
    pub offset: i64,
    /// The timestamp of the record at `offset` (-1 for earliest/latest).
    pub timestamp: i64,
    /// The leader epoch of that record, if the broker knows it.
    pub leader_epoch: Option<i32>,
}

/// The outcome of `list_offsets` for one partition.
#[derive(Debug, Clone)]
pub struct ListOffsetsResult {
    /// The partition.
    pub partition: TopicPartition,
    /// The offset, or why there is none.
    pub result: Result<ListOffsetsResultInfo, AdminError>,
}
