//! `Metadata`: what the client knows about the cluster (brokers, topics,
//! partitions, leaders and leader epochs) and when it must refresh it.
//!
//! Sans-IO: every method that depends on time takes `now`, and
//! [`Metadata::time_to_next_update`] says when the next refresh is due. The
//! [`NetworkClient`](crate::NetworkClient) sends the Metadata requests and feeds
//! the responses back through [`Metadata::update`].
//!
//! Invariants (kept from the Java client):
//! - A response never replaces a partition's leader epoch with an older one:
//!   the cached partition (leader, replicas, epoch) is kept instead.
//! - Epochs are only trusted from Metadata v9+ responses (older brokers did
//!   not propagate them reliably during reassignment).
//! - A response to a request built before the topics of interest changed does
//!   not clear the "update needed" flag.
//! - Refreshes are at least `retry.backoff.ms` apart (growing after failures up
//!   to `retry.backoff.max.ms`) and at most `metadata.max.age.ms` apart.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use prozess_protocol::messages::MetadataResponse;
use prozess_protocol::{ErrorCode, Uuid};

use crate::backoff::{ExponentialBackoff, XorShiftRng};
use crate::{NodeId, TopicPartition};

/// Kafka's limit on topic name length (in bytes).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A broker as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub id: NodeId,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// The leader, `None` while there is none (leader id -1).
    pub leader: Option<NodeId>,
    /// The leader epoch, -1 when unknown (or not reliable: responses before v9).
    pub leader_epoch: i32,
    pub replicas: Vec<NodeId>,
    pub isr: Vec<NodeId>,
    pub offline: Vec<NodeId>,
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// Nil when the broker did not send one (Metadata before v10).
    pub topic_id: Uuid,
    pub is_internal: bool,
    pub error: ErrorCode,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// The partition with this index.
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .map(|i| &self.partitions[i])
    }
}

/// A partition's leader and its epoch, as the Fetch and ListOffsets requests
/// carry them (`current_leader_epoch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderAndEpoch {
    pub leader: Option<NodeId>,
    /// `None` when unknown.
    pub epoch: Option<i32>,
}

/// A cluster description taken from one Metadata response, independent of the
/// wire version. [`Metadata::update`] consumes it; the MockClient builds it
/// directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    pub cluster_id: Option<String>,
    pub controller_id: Option<NodeId>,
    pub brokers: Vec<Broker>,
    pub topics: Vec<TopicMetadata>,
    /// Whether the leader epochs can be trusted (responses v9+).
    pub reliable_leader_epochs: bool,
}

impl MetadataSnapshot {
    /// The snapshot of a decoded response of the given version. Topics the
    /// broker returned without a name (unknown ids) and brokers with a port
    /// outside 0-65535 are left out.
    pub fn from_response(response: &MetadataResponse, version: i16) -> MetadataSnapshot {
        let brokers = response
            .brokers
            .iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok()?;
                Some(Broker {
                    id: b.node_id,
                    host: b.host.clone(),
                    port,
                    rack: b.rack.clone(),
                })
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.clone()?;
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: (p.leader_id >= 0).then_some(p.leader_id),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        offline: p.offline_replicas.clone(),
                        error: ErrorCode::from_i16(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                partitions.dedup_by_key(|p| p.partition);
                Some(TopicMetadata {
                    name,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    error: ErrorCode::from_i16(t.error_code),
                    partitions,
                })
            })
            .collect();
        MetadataSnapshot {
            cluster_id: response.cluster_id.clone(),
            controller_id: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
            topics,
            reliable_leader_epochs: version >= 9,
        }
    }

    /// A snapshot of `brokers` and `topics` (name, partition count) with
    /// leaders spread round robin over the brokers, leader epoch 0 and one
    /// replica each: the quick cluster a unit test needs.
    pub fn simple(brokers: &[NodeId], topics: &[(&str, i32)]) -> MetadataSnapshot {
        let broker_list: Vec<Broker> = brokers
            .iter()
            .map(|&id| Broker {
                id,
                host: "localhost".to_string(),
                port: 9092u16.wrapping_add(id as u16),
                rack: None,
            })
            .collect();
        let mut next = 0usize;
        let topics = topics
            .iter()
            .enumerate()
            .map(|(i, (name, count))| TopicMetadata {
                name: name.to_string(),
                topic_id: Uuid::from_u128(0x1000 + i as u128),
                is_internal: false,
                error: ErrorCode::None,
                partitions: (0..*count)
                    .map(|p| {
                        let leader = if brokers.is_empty() {
                            None
                        } else {
                            let l = brokers[next % brokers.len()];
                            next += 1;
                            Some(l)
                        };
                        PartitionMetadata {
                            partition: p,
                            leader,
                            leader_epoch: 0,
                            replicas: leader.into_iter().collect(),
                            isr: leader.into_iter().collect(),
                            offline: Vec::new(),
                            error: ErrorCode::None,
                        }
                    })
                    .collect(),
            })
            .collect();
        MetadataSnapshot {
            cluster_id: Some("mock-cluster".to_string()),
            controller_id: brokers.first().copied(),
            brokers: broker_list,
            topics,
            reliable_leader_epochs: true,
        }
    }
}

/// What to ask for in the next Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequestSpec {
    /// `None`: all topics; otherwise these (possibly none: brokers only).
    pub topics: Option<Vec<String>>,
    /// Pass back to [`Metadata::update`]: tells whether the topics of
    /// interest changed while the request was out.
    pub request_version: u64,
}

/// The client's view of the cluster, and the refresh schedule.
#[derive(Debug)]
pub struct Metadata {
    cluster_id: Option<String>,
    controller_id: Option<NodeId>,
    brokers: HashMap<NodeId, Broker>,
    topics: HashMap<String, TopicMetadata>,
    topic_names: HashMap<Uuid, String>,
    bootstrap: bool,
    last_seen_leader_epochs: HashMap<TopicPartition, i32>,

    interest: BTreeSet<String>,
    all_topics: bool,
    request_version: u64,
    update_requested: bool,

    max_age: Duration,
    refresh_backoff: ExponentialBackoff,
    rng: XorShiftRng,
    failed_attempts: u32,
    last_successful_refresh: Option<Instant>,
    /// No refresh before this (backoff after the last attempt).
    next_allowed_refresh: Option<Instant>,
    update_version: u64,
}

impl Metadata {
    /// Empty metadata: refreshes at most every `refresh_backoff` (growing to
    /// `refresh_backoff_max` after failures), at least every `max_age`.
    pub fn new(
        refresh_backoff: Duration,
        refresh_backoff_max: Duration,
        max_age: Duration,
    ) -> Self {
        Metadata {
            cluster_id: None,
            controller_id: None,
            brokers: HashMap::new(),
            topics: HashMap::new(),
            topic_names: HashMap::new(),
            bootstrap: false,
            last_seen_leader_epochs: HashMap::new(),
            interest: BTreeSet::new(),
            all_topics: false,
            request_version: 0,
            update_requested: false,
            max_age,
            refresh_backoff: ExponentialBackoff::standard(refresh_backoff, refresh_backoff_max),
            rng: XorShiftRng::from_time(),
            failed_attempts: 0,
            last_successful_refresh: None,
            next_allowed_refresh: None,
            update_version: 0,
        }
    }

    /// Metadata with the timings of a [`NetworkConfig`](crate::NetworkConfig).
    pub fn from_config(config: &crate::NetworkConfig) -> Self {
        Metadata::new(
            config.retry_backoff,
            config.retry_backoff_max,
            config.metadata_max_age,
        )
    }

    /// Seeds the broker list with the bootstrap servers as pseudo-nodes -1,
    /// -2, ... (in order), until the first response names the real brokers.
    pub fn bootstrap(&mut self, addresses: &[(String, u16)]) {
        self.brokers = addresses
            .iter()
            .enumerate()
            .map(|(i, (host, port))| {
                let id = -(i as NodeId) - 1;
                (
                    id,
                    Broker {
                        id,
                        host: host.clone(),
                        port: *port,
                        rack: None,
                    },
                )
            })
            .collect();
        self.bootstrap = true;
        self.update_requested = true;
    }

    /// Whether the broker list is still the bootstrap servers.
    pub fn is_bootstrap(&self) -> bool {
        self.bootstrap
    }

    /// The cluster id (Metadata v2+).
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The active controller, if known.
    pub fn controller_id(&self) -> Option<NodeId> {
        self.controller_id
    }

    /// The brokers (the bootstrap pseudo-nodes before the first response).
    pub fn brokers(&self) -> &HashMap<NodeId, Broker> {
        &self.brokers
    }

    /// One broker.
    pub fn broker(&self, node: NodeId) -> Option<&Broker> {
        self.brokers.get(&node)
    }

    /// A topic, if the last response described it.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// All described topics.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMetadata> {
        self.topics.values()
    }

    /// The partitions of a topic, sorted by index.
    pub fn partitions_for(&self, topic: &str) -> Option<&[PartitionMetadata]> {
        self.topics.get(topic).map(|t| t.partitions.as_slice())
    }

    /// One partition.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionMetadata> {
        self.topics.get(&tp.topic)?.partition(tp.partition)
    }

    /// The partition's leader, if known.
    pub fn leader_for(&self, tp: &TopicPartition) -> Option<NodeId> {
        self.partition(tp)?.leader
    }

    /// The partition's leader and leader epoch.
    pub fn leader_and_epoch(&self, tp: &TopicPartition) -> LeaderAndEpoch {
        match self.partition(tp) {
            Some(p) => LeaderAndEpoch {
                leader: p.leader,
                epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
            },
            None => LeaderAndEpoch {
                leader: None,
                epoch: None,
            },
        }
    }

    /// A topic's id (nil ids count as unknown).
    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.topics
            .get(topic)
            .map(|t| t.topic_id)
            .filter(|id| !id.is_nil())
    }

    /// The name of the topic with this id.
    pub fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.topic_names.get(&id).map(String::as_str)
    }

    /// The newest leader epoch seen for the partition (from metadata or from
    /// [`update_last_seen_epoch_if_newer`](Self::update_last_seen_epoch_if_newer)).
    pub fn last_seen_leader_epoch(&self, tp: &TopicPartition) -> Option<i32> {
        self.last_seen_leader_epochs.get(tp).copied()
    }

    /// Records a leader epoch seen elsewhere (e.g. a fetch response). If it is
    /// newer than the one known, a refresh is requested and `true` returned.
    pub fn update_last_seen_epoch_if_newer(&mut self, tp: &TopicPartition, epoch: i32) -> bool {
        if epoch < 0 {
            return false;
        }
        let newer = match self.last_seen_leader_epochs.get(tp) {
            Some(&old) => epoch > old,
            None => true,
        };
        if newer {
            self.last_seen_leader_epochs.insert(tp.clone(), epoch);
            self.update_requested = true;
        }
        newer
    }

    /// Applies a leader hint from a Fetch or Produce response (KIP-951's
    /// `current_leader` and `node_endpoints`): taken only when its epoch is
    /// newer than every epoch seen for the partition, and only for a
    /// partition the metadata describes. Returns whether it was taken.
    pub fn update_partition_leader(
        &mut self,
        tp: &TopicPartition,
        leader: NodeId,
        epoch: i32,
        endpoint: Option<Broker>,
    ) -> bool {
        if leader < 0 || epoch < 0 {
            return false;
        }
        if self
            .last_seen_leader_epochs
            .get(tp)
            .is_some_and(|&seen| epoch <= seen)
        {
            return false;
        }
        let Some(partition) = self.topics.get_mut(&tp.topic).and_then(|t| {
            t.partitions
                .iter_mut()
                .find(|p| p.partition == tp.partition)
        }) else {
            return false;
        };
        partition.leader = Some(leader);
        partition.leader_epoch = epoch;
        self.last_seen_leader_epochs.insert(tp.clone(), epoch);
        if let Some(b) = endpoint.filter(|b| b.id == leader) {
            self.brokers.insert(b.id, b);
        }
        tracing::debug!(partition = %tp, leader, epoch, "leader updated from a response hint");
        self.update_version += 1;
        true
    }

    /// Incremented by every successful update: callers cache against it.
    pub fn update_version(&self) -> u64 {
        self.update_version
    }

    // ----- topics of interest -----

    /// Replaces the topics to fetch metadata for. Returns whether the set
    /// changed; new topics make a refresh due at once (subject to backoff).
    pub fn set_topics<S: Into<String>>(&mut self, topics: impl IntoIterator<Item = S>) -> bool {
        let new: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if new == self.interest {
            return false;
        }
        let added = new.iter().any(|t| !self.interest.contains(t));
        self.interest = new;
        self.request_version += 1;
        if added && !self.all_topics {
            self.update_requested = true;
        }
        true
    }

    /// Adds topics of interest; returns whether any was new.
    pub fn add_topics<S: Into<String>>(&mut self, topics: impl IntoIterator<Item = S>) -> bool {
        let mut added = false;
        for t in topics {
            added |= self.interest.insert(t.into());
        }
        if added {
            self.request_version += 1;
            if !self.all_topics {
                self.update_requested = true;
            }
        }
        added
    }

    /// Drops topics from the topics of interest and forgets what is cached
    /// about them (the producer's `metadata.max.idle.ms`: Java's
    /// `ProducerMetadata.retainTopic`). Returns whether anything changed.
    ///
    /// No refresh is requested, and the request version stays: a response
    /// to a request that still named them only puts them back in the cache
    /// until the next refresh, which no longer asks for them.
    pub fn remove_topics<S: AsRef<str>>(&mut self, topics: impl IntoIterator<Item = S>) -> bool {
        let mut changed = false;
        for t in topics {
            let t = t.as_ref();
            changed |= self.interest.remove(t);
            if let Some(old) = self.topics.remove(t) {
                changed = true;
                if !old.topic_id.is_nil() {
                    self.topic_names.remove(&old.topic_id);
                }
                self.last_seen_leader_epochs.retain(|tp, _| tp.topic != t);
            }
        }
        if changed {
            self.update_version += 1;
        }
        changed
    }

    /// The topics of interest.
    pub fn topics_of_interest(&self) -> &BTreeSet<String> {
        &self.interest
    }

    /// Ask for all topics (pattern subscriptions, `list_topics`).
    pub fn set_all_topics(&mut self, all: bool) {
        if all != self.all_topics {
            self.all_topics = all;
            self.request_version += 1;
            if all {
                self.update_requested = true;
            }
        }
    }

    /// Whether requests ask for all topics.
    pub fn all_topics(&self) -> bool {
        self.all_topics
    }

    // ----- refresh schedule -----

    /// Asks for a refresh as soon as the backoff allows.
    pub fn request_update(&mut self) {
        self.update_requested = true;
    }

    /// Whether a refresh has been asked for and not yet done.
    pub fn update_requested(&self) -> bool {
        self.update_requested
    }

    /// How long until a refresh is due: zero when one should be sent now.
    pub fn time_to_next_update(&self, now: Instant) -> Duration {
        let expire = match self.last_successful_refresh {
            Some(t) if !self.update_requested => (t + self.max_age).saturating_duration_since(now),
            _ => Duration::ZERO,
        };
        let allow = self
            .next_allowed_refresh
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        expire.max(allow)
    }

    /// The topics for the next request.
    pub fn request_spec(&self) -> MetadataRequestSpec {
        MetadataRequestSpec {
            topics: if self.all_topics {
                None
            } else {
                Some(self.interest.iter().cloned().collect())
            },
            request_version: self.request_version,
        }
    }

    /// A refresh failed (no node, disconnect, timeout): back off, growing.
    pub fn failed_update(&mut self, now: Instant) {
        let backoff = self
            .refresh_backoff
            .backoff(self.failed_attempts, &mut self.rng);
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        self.next_allowed_refresh = Some(now + backoff);
    }

    /// Applies a response. `request_version` is the one of the
    /// [`MetadataRequestSpec`] the request was built from.
    pub fn update(&mut self, request_version: u64, snapshot: MetadataSnapshot, now: Instant) {
        if snapshot.brokers.is_empty() {
            // A broker that is starting up may answer with no brokers; Java
            // ignores such a response too.
            tracing::warn!("ignoring a metadata response that lists no brokers");
            self.failed_update(now);
            return;
        }
        self.update_requested = request_version < self.request_version;

        let mut old_topics = std::mem::take(&mut self.topics);
        let mut topics = HashMap::with_capacity(snapshot.topics.len());
        for mut topic in snapshot.topics {
            if topic.name.len() > MAX_TOPIC_NAME_LEN {
                // Kafka never creates such a name; per-partition keys copy the
                // name, so a hostile one would multiply memory use.
                tracing::warn!(
                    length = topic.name.len(),
                    "ignoring a metadata topic whose name is longer than Kafka allows"
                );
                continue;
            }
            let old = old_topics.remove(&topic.name);
            let id_changed = match &old {
                Some(o) => {
                    !o.topic_id.is_nil() && !topic.topic_id.is_nil() && o.topic_id != topic.topic_id
                }
                None => false,
            };
            if id_changed {
                // Deleted and re-created: the old epochs mean nothing now.
                tracing::debug!(topic = %topic.name, "topic id changed; resetting its leader epochs");
                self.last_seen_leader_epochs
                    .retain(|tp, _| tp.topic != topic.name);
            }
            if topic.error.is_error() && topic.error.is_retriable() {
                tracing::debug!(topic = %topic.name, error = %topic.error, "metadata refresh needed for topic");
                self.update_requested = true;
            }
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in std::mem::take(&mut topic.partitions) {
                let tp = TopicPartition::new(topic.name.clone(), p.partition);
                let kept =
                    self.apply_epoch_rule(&tp, p, old.as_ref(), snapshot.reliable_leader_epochs);
                if let Some(p) = kept {
                    if p.leader.is_none() || (p.error.is_error() && p.error.is_retriable()) {
                        tracing::debug!(partition = %tp, error = %p.error, "metadata refresh needed for partition without leader");
                        self.update_requested = true;
                    }
                    partitions.push(p);
                }
            }
            partitions.sort_by_key(|p| p.partition);
            topic.partitions = partitions;
            topics.insert(topic.name.clone(), topic);
        }
        self.topic_names = topics
            .values()
            .filter(|t| !t.topic_id.is_nil())
            .map(|t| (t.topic_id, t.name.clone()))
            .collect();
        self.topics = topics;
        let mut brokers: HashMap<NodeId, Broker> =
            snapshot.brokers.into_iter().map(|b| (b.id, b)).collect();
        // A kept (newer-epoch) partition may name a leader this response does
        // not list: keep that broker's address so it stays reachable.
        if !self.bootstrap {
            for leader in self
                .topics
                .values()
                .flat_map(|t| t.partitions.iter().filter_map(|p| p.leader))
            {
                if let (std::collections::hash_map::Entry::Vacant(slot), Some(b)) =
                    (brokers.entry(leader), self.brokers.get(&leader))
                {
                    slot.insert(b.clone());
                }
            }
        }
        self.brokers = brokers;
        self.cluster_id = snapshot.cluster_id;
        self.controller_id = snapshot.controller_id;
        self.bootstrap = false;
        self.failed_attempts = 0;
        self.last_successful_refresh = Some(now);
        self.next_allowed_refresh = Some(now + self.refresh_backoff.backoff(0, &mut self.rng));
        self.update_version += 1;
    }

    /// The epoch rule: a partition whose new epoch is older than the last seen
    /// keeps its cached metadata (or is left out if none is cached).
    fn apply_epoch_rule(
        &mut self,
        tp: &TopicPartition,
        mut new: PartitionMetadata,
        old_topic: Option<&TopicMetadata>,
        reliable: bool,
    ) -> Option<PartitionMetadata> {
        if !reliable || new.leader_epoch < 0 {
            new.leader_epoch = -1;
            self.last_seen_leader_epochs.remove(tp);
            return Some(new);
        }
        match self.last_seen_leader_epochs.get(tp).copied() {
            Some(current) if new.leader_epoch < current => {
                tracing::debug!(
                    partition = %tp,
                    current,
                    received = new.leader_epoch,
                    "not replacing a newer leader epoch with an older one"
                );
                let cached = old_topic.and_then(|t| t.partition(tp.partition)).cloned();
                if cached.is_none() {
                    // The epoch we know came from elsewhere (a fetch); the
                    // metadata is behind it, so ask again.
                    self.update_requested = true;
                }
                cached
            }
            _ => {
                self.last_seen_leader_epochs
                    .insert(tp.clone(), new.leader_epoch);
                Some(new)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md() -> Metadata {
        Metadata::new(
            Duration::from_millis(100),
            Duration::from_millis(1000),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn topics_with_names_longer_than_kafka_allows_are_ignored() {
        let long = "x".repeat(MAX_TOPIC_NAME_LEN + 1);
        let fine = "y".repeat(MAX_TOPIC_NAME_LEN);
        let mut md = md();
        let now = Instant::now();
        md.update(
            0,
            MetadataSnapshot::simple(&[1], &[(long.as_str(), 3), (fine.as_str(), 2)]),
            now,
        );
        assert!(md.topic(&long).is_none());
        assert_eq!(md.partitions_for(&fine).map(|p| p.len()), Some(2));
    }

    fn snapshot_with_epoch(epoch: i32, leader: NodeId) -> MetadataSnapshot {
        let mut s = MetadataSnapshot::simple(&[1, 2], &[("t", 1)]);
        s.topics[0].partitions[0].leader_epoch = epoch;
        s.topics[0].partitions[0].leader = Some(leader);
        s
    }

    #[test]
    fn older_epoch_never_replaces_newer() {
        let now = Instant::now();
        let mut m = md();
        let tp = TopicPartition::new("t", 0);
        m.update(0, snapshot_with_epoch(5, 1), now);
        assert_eq!(m.leader_for(&tp), Some(1));
        assert_eq!(m.last_seen_leader_epoch(&tp), Some(5));
        // A lagging broker answers with epoch 4 and another leader: ignored.
        m.update(0, snapshot_with_epoch(4, 2), now);
        assert_eq!(m.leader_for(&tp), Some(1));
        assert_eq!(
            m.leader_and_epoch(&tp),
            LeaderAndEpoch {
                leader: Some(1),
                epoch: Some(5)
            }
        );
        // Same or newer epoch is taken.
        m.update(0, snapshot_with_epoch(6, 2), now);
        assert_eq!(m.leader_for(&tp), Some(2));
        assert_eq!(m.last_seen_leader_epoch(&tp), Some(6));
        assert_eq!(m.update_version(), 3);
    }

    #[test]
    fn epoch_from_fetch_guards_metadata() {
        let now = Instant::now();
        let mut m = md();
        let tp = TopicPartition::new("t", 0);
        assert!(m.update_last_seen_epoch_if_newer(&tp, 7));
        assert!(!m.update_last_seen_epoch_if_newer(&tp, 7));
        assert!(m.update_requested());
        // Metadata behind the fetch's epoch, nothing cached: the partition is
        // left out and another refresh is asked for.
        m.update(0, snapshot_with_epoch(3, 1), now);
        assert!(m.partition(&tp).is_none());
        assert!(m.update_requested());
        m.update(0, snapshot_with_epoch(7, 2), now);
        assert_eq!(m.leader_for(&tp), Some(2));
        assert!(!m.update_requested());
    }

    #[test]
    fn epochs_before_v9_are_not_trusted() {
        let now = Instant::now();
        let mut m = md();
        let tp = TopicPartition::new("t", 0);
        m.update(0, snapshot_with_epoch(5, 1), now);
        let mut old = snapshot_with_epoch(2, 2);
        old.reliable_leader_epochs = false;
        m.update(0, old, now);
        assert_eq!(m.leader_for(&tp), Some(2));
        assert_eq!(m.leader_and_epoch(&tp).epoch, None);
        assert_eq!(m.last_seen_leader_epoch(&tp), None);
    }

    #[test]
    fn leader_hints_apply_only_when_newer() {
        let now = Instant::now();
        let mut m = md();
        let tp = TopicPartition::new("t", 0);
        m.update(0, snapshot_with_epoch(5, 1), now);
        let v = m.update_version();
        assert!(!m.update_partition_leader(&tp, 2, 5, None), "same epoch");
        assert!(!m.update_partition_leader(&tp, 2, 4, None), "older epoch");
        assert!(!m.update_partition_leader(&TopicPartition::new("other", 0), 2, 9, None));
        let endpoint = Broker {
            id: 3,
            host: "b3".into(),
            port: 9095,
            rack: None,
        };
        assert!(m.update_partition_leader(&tp, 3, 6, Some(endpoint.clone())));
        assert_eq!(
            m.leader_and_epoch(&tp),
            LeaderAndEpoch {
                leader: Some(3),
                epoch: Some(6)
            }
        );
        assert_eq!(m.broker(3), Some(&endpoint));
        assert!(m.update_version() > v);
        // A later metadata response with the older epoch does not undo it.
        m.update(0, snapshot_with_epoch(5, 1), now);
        assert_eq!(m.leader_for(&tp), Some(3));
        assert_eq!(
            m.broker(3),
            Some(&endpoint),
            "the kept leader stays reachable"
        );
    }

    #[test]
    fn recreated_topic_resets_epochs() {
        let now = Instant::now();
        let mut m = md();
        let tp = TopicPartition::new("t", 0);
        m.update(0, snapshot_with_epoch(9, 1), now);
        let mut recreated = snapshot_with_epoch(0, 2);
        recreated.topics[0].topic_id = Uuid::from_u128(77);
        m.update(0, recreated, now);
        assert_eq!(m.leader_for(&tp), Some(2));
        assert_eq!(m.topic_id("t"), Some(Uuid::from_u128(77)));
        assert_eq!(m.topic_name(Uuid::from_u128(77)), Some("t"));
    }

    #[test]
    fn schedule_backoff_and_max_age() {
        let t0 = Instant::now();
        let mut m = Metadata::new(
            Duration::from_millis(100),
            Duration::from_millis(1000),
            Duration::from_secs(60),
        );
        m.bootstrap(&[("localhost".to_string(), 9092)]);
        assert!(m.is_bootstrap());
        assert_eq!(m.brokers()[&-1].port, 9092);
        assert_eq!(m.time_to_next_update(t0), Duration::ZERO);

        // Failures back off, growing.
        m.failed_update(t0);
        let d1 = m.time_to_next_update(t0);
        assert!(d1 >= Duration::from_millis(80) && d1 <= Duration::from_millis(120));
        m.failed_update(t0);
        m.failed_update(t0);
        let d3 = m.time_to_next_update(t0);
        assert!(d3 >= Duration::from_millis(320), "{d3:?}");

        m.update(0, MetadataSnapshot::simple(&[1], &[]), t0);
        assert!(!m.is_bootstrap());
        assert!(m.brokers().contains_key(&1));
        assert!(!m.brokers().contains_key(&-1));
        assert_eq!(m.time_to_next_update(t0), Duration::from_secs(60));
        assert_eq!(
            m.time_to_next_update(t0 + Duration::from_secs(60)),
            Duration::ZERO
        );
        // Requested: due once the post-success backoff passed.
        m.request_update();
        let d = m.time_to_next_update(t0);
        assert!(
            d > Duration::ZERO && d <= Duration::from_millis(120),
            "{d:?}"
        );
        assert_eq!(
            m.time_to_next_update(t0 + Duration::from_millis(200)),
            Duration::ZERO
        );
    }

    #[test]
    fn topics_changed_during_request_keep_update_needed() {
        let t0 = Instant::now();
        let mut m = md();
        assert!(m.set_topics(["a"]));
        assert!(!m.set_topics(["a"]));
        assert!(m.update_requested());
        let spec = m.request_spec();
        assert_eq!(spec.topics, Some(vec!["a".to_string()]));
        m.add_topics(["b"]);
        m.update(
            spec.request_version,
            MetadataSnapshot::simple(&[1], &[("a", 1)]),
            t0,
        );
        assert!(
            m.update_requested(),
            "b was added after the request was built"
        );
        let spec = m.request_spec();
        m.update(
            spec.request_version,
            MetadataSnapshot::simple(&[1], &[("a", 1), ("b", 2)]),
            t0,
        );
        assert!(!m.update_requested());
        assert_eq!(m.partitions_for("b").unwrap().len(), 2);
        m.set_all_topics(true);
        assert_eq!(m.request_spec().topics, None);
    }

    #[test]
    fn errors_and_missing_leaders_request_refresh() {
        let t0 = Instant::now();
        let mut m = md();
        let mut s = MetadataSnapshot::simple(&[1], &[("t", 2)]);
        s.topics[0].partitions[1].leader = None;
        s.topics[0].partitions[1].error = ErrorCode::LeaderNotAvailable;
        m.update(0, s, t0);
        assert!(m.update_requested());
        let mut s = MetadataSnapshot::simple(&[1], &[("u", 0)]);
        s.topics[0].error = ErrorCode::UnknownTopicOrPartition;
        m.update(0, s, t0);
        assert!(m.update_requested());
        assert_eq!(
            m.topic("u").unwrap().error,
            ErrorCode::UnknownTopicOrPartition
        );
        // A response with no brokers is ignored and counts as a failure.
        let v = m.update_version();
        m.update(0, MetadataSnapshot::default(), t0);
        assert_eq!(m.update_version(), v);
    }

    #[test]
    fn removed_topics_leave_the_request_and_the_cache() {
        let mut m = md();
        let now = Instant::now();
        m.add_topics(["a", "b"]);
        let spec = m.request_spec();
        m.update(
            spec.request_version,
            MetadataSnapshot::simple(&[1], &[("a", 2), ("b", 1)]),
            now,
        );
        assert!(!m.update_requested());
        let version = m.update_version();
        assert!(m.remove_topics(["a"]));
        assert!(!m.remove_topics(["a", "never-added"]));
        assert_eq!(m.request_spec().topics, Some(vec!["b".to_string()]));
        assert!(m.partitions_for("a").is_none());
        assert!(m
            .last_seen_leader_epoch(&TopicPartition::new("a", 0))
            .is_none());
        assert!(m.partitions_for("b").is_some());
        // Cached views keyed on the version see the change; nothing is
        // re-requested for a removal.
        assert!(m.update_version() > version);
        assert!(!m.update_requested());
        // Adding it again asks for it again.
        assert!(m.add_topics(["a"]));
        assert!(m.update_requested());
    }
}
