//! The leader's part of a rebalance: decode the members' subscriptions, run
//! the assignor the group chose, check the cooperative rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prozess_network::{KafkaClient, Metadata, TopicPartition};
use prozess_protocol::messages::sync_group::request::SyncGroupRequestAssignment;
use prozess_protocol::ErrorCode;
use tracing::{debug, info, warn};

use super::{GroupError, GroupMembership, JoinedGroup};
use crate::group::assignor::{PartitionsPerTopic, RebalanceProtocol};
use crate::group::consumer_protocol::{Assignment, Subscription, CONSUMER_PROTOCOL_VERSION};

/// Partition counts from the metadata for `topics` (topics the metadata does
/// not know, or knows with an error, are left out).
pub fn partitions_per_topic<'a>(
    metadata: &Metadata,
    topics: impl IntoIterator<Item = &'a String>,
) -> PartitionsPerTopic {
    topics
        .into_iter()
        .filter_map(|t| {
            let m = metadata.topic(t)?;
            (m.error == ErrorCode::None && !m.partitions.is_empty())
                .then(|| (t.clone(), m.partitions.len() as i32))
        })
        .collect()
}

impl GroupMembership {
    /// Runs the assignor on the leader: decodes the members' subscriptions and
    /// assigns the partitions the metadata knows of.
    pub(super) fn perform_assignment<C: KafkaClient>(
        &mut self,
        client: &mut C,
        joined: &JoinedGroup,
    ) -> Result<Vec<SyncGroupRequestAssignment>, GroupError> {
        let Some(index) = self
            .assignors
            .iter()
            .position(|a| a.name() == joined.protocol_name)
        else {
            return Err(GroupError::InvalidGroupData(format!(
                "the group chose assignor {:?}, which this member does not have",
                joined.protocol_name
            )));
        };
        let mut subscriptions: BTreeMap<String, Subscription> = BTreeMap::new();
        for member in &joined.members {
            let mut sub = match Subscription::decode(member.metadata.clone()) {
                Ok(s) => s,
                Err(e) => {
                    warn!(group = %self.config.group_id, member = %member.member_id, error = %e, "member subscription does not decode; assigning it nothing");
                    Subscription::default()
                }
            };
            sub.group_instance_id = member.group_instance_id.clone();
            subscriptions.insert(member.member_id.clone(), sub);
        }
        let all_topics: BTreeSet<String> = subscriptions
            .values()
            .flat_map(|s| s.topics.iter().cloned())
            .collect();
        if client.metadata_mut().add_topics(all_topics.iter().cloned()) {
            debug!(group = %self.config.group_id, "leader added other members' topics to the metadata");
        }
        self.group_subscription = all_topics;
        if joined.skip_assignment {
            // KIP-814: a static leader rejoining without a change; the
            // broker keeps the current assignment.
            debug!(group = %self.config.group_id, "leader skips the assignment (skip_assignment)");
            return Ok(Vec::new());
        }
        let counts = partitions_per_topic(client.metadata(), &self.group_subscription);
        let assignor = &self.assignors[index];
        let result = assignor.assign(&counts, &subscriptions);
        if self.protocol == RebalanceProtocol::Cooperative {
            validate_cooperative(&subscriptions, &result);
        }
        info!(
            group = %self.config.group_id,
            assignor = assignor.name(),
            members = subscriptions.len(),
            "leader computed the assignment"
        );
        for (member, a) in &result {
            debug!(group = %self.config.group_id, %member, partitions = ?a.partitions, "assignment");
        }
        self.assignment_snapshot = Some(counts);
        Ok(result
            .into_iter()
            .map(|(member_id, a)| SyncGroupRequestAssignment {
                member_id,
                assignment: a.encode(CONSUMER_PROTOCOL_VERSION),
                ..Default::default()
            })
            .collect())
    }
}

/// KIP-429's rule for the leader: in one cooperative round no partition goes
/// straight from one owner to another (it must be revoked first). A
/// violation means the assignor is wrong; it is logged (Java throws).
fn validate_cooperative(
    subscriptions: &BTreeMap<String, Subscription>,
    result: &BTreeMap<String, Assignment>,
) {
    // Keyed by what the leader assigned (real partitions only): the members'
    // claims are checked against it without building anything per claim.
    let mut assigned_to: HashMap<(&str, i32), &String> = HashMap::new();
    for (m, a) in result {
        for (topic, partitions) in a.partitions.topics() {
            for &p in partitions {
                assigned_to.insert((topic, p), m);
            }
        }
    }
    for (prev, s) in subscriptions {
        for (topic, partitions) in s.owned_partitions.topics() {
            for &p in partitions {
                if let Some(m) = assigned_to.get(&(topic, p)) {
                    if *m != prev {
                        warn!(partition = %TopicPartition::new(topic, p), from = %prev, to = %m, "cooperative assignment moves a partition without revoking it first");
                    }
                }
            }
        }
    }
}
