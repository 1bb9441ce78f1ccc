//! Partition assignors: how the group leader splits partitions among members.
//!
//! The names and the choices match the Java client's assignors (`range`,
//! `roundrobin`, `sticky`, `cooperative-sticky`) so a mixed group of prozess,
//! Java and librdkafka members agrees on one strategy and on what it means.

mod range;
mod round_robin;
mod sticky;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{
    decode_sticky_user_data, encode_sticky_user_data, CooperativeStickyAssignor, StickyAssignor,
};

use crate::group::consumer_protocol::{Assignment, Subscription};

/// How partitions change hands in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member gives up everything before the new assignment (stop the world).
    Eager,
    /// KIP-429: members keep what they keep; moved partitions are revoked first
    /// and assigned in a follow-up rebalance.
    Cooperative,
}

/// Topic name -> partition count, for the topics any member subscribes to.
pub type PartitionsPerTopic = BTreeMap<String, i32>;

/// A strategy the group leader runs to assign partitions.
///
/// ```
/// # use prozess_consumer::group::assignor::*;
/// # use prozess_consumer::group::consumer_protocol::Subscription;
/// let mut topics = PartitionsPerTopic::new();
/// topics.insert("t".to_string(), 4);
/// let mut members = std::collections::BTreeMap::new();
/// for m in ["m1", "m2"] {
///     members.insert(m.to_string(), Subscription { topics: vec!["t".into()], ..Default::default() });
/// }
/// let out = RangeAssignor.assign(&topics, &members);
/// assert_eq!(out["m1"].partitions.len(), 2);
/// ```
pub trait ConsumerPartitionAssignor: Send {
    /// The protocol name sent in JoinGroup (`"range"`, ...).
    fn name(&self) -> &'static str;

    /// Rebalance protocols this assignor supports, preferred first.
    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// Assignor data to put into this member's subscription.
    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        None
    }

    /// Runs on the leader: member id -> subscription in, member id -> assignment
    /// out. Every member gets an entry, possibly empty.
    fn assign(
        &self,
        partitions_per_topic: &PartitionsPerTopic,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment>;

    /// Called on every member with its new assignment.
    fn on_assignment(&mut self, _assignment: &Assignment, _generation: i32) {}
}

/// Builds the assignor named by a `partition.assignment.strategy` entry. Java
/// class names are accepted as aliases so Java property files work as they are.
pub fn assignor_by_name(name: &str) -> Option<Box<dyn ConsumerPartitionAssignor>> {
    let short = name.rsplit('.').next().unwrap_or(name);
    match short {
        "range" | "RangeAssignor" => Some(Box::new(RangeAssignor)),
        "roundrobin" | "RoundRobinAssignor" => Some(Box::new(RoundRobinAssignor)),
        "sticky" | "StickyAssignor" => Some(Box::new(StickyAssignor::default())),
        "cooperative-sticky" | "CooperativeStickyAssignor" => {
            Some(Box::new(CooperativeStickyAssignor))
        }
        _ => None,
    }
}

/// Members in the order the Java client uses: static members (by instance id)
/// first, then dynamic members by member id.
pub(crate) fn sorted_members(subscriptions: &BTreeMap<String, Subscription>) -> Vec<&String> {
    let mut members: Vec<&String> = subscriptions.keys().collect();
    members.sort_by(|a, b| {
        let ia = subscriptions[*a].group_instance_id.as_ref();
        let ib = subscriptions[*b].group_instance_id.as_ref();
        match (ia, ib) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.cmp(b),
        }
    });
    members
}

/// An empty assignment for every member, to fill in.
pub(crate) fn empty_assignments(
    subscriptions: &BTreeMap<String, Subscription>,
) -> BTreeMap<String, Assignment> {
    subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::default()))
        .collect()
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use prozess_network::TopicPartition;
    use std::collections::BTreeSet;

    pub fn topics(spec: &[(&str, i32)]) -> PartitionsPerTopic {
        spec.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    pub fn sub(topics: &[&str]) -> Subscription {
        Subscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn members(spec: &[(&str, &[&str])]) -> BTreeMap<String, Subscription> {
        spec.iter().map(|(m, t)| (m.to_string(), sub(t))).collect()
    }

    pub fn tps(spec: &[(&str, i32)]) -> Vec<TopicPartition> {
        spec.iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    }

    /// Every partition of a subscribed topic is assigned to exactly one member
    /// that subscribes to its topic.
    pub fn assert_valid(
        topics: &PartitionsPerTopic,
        subs: &BTreeMap<String, Subscription>,
        out: &BTreeMap<String, Assignment>,
    ) {
        assert_eq!(out.len(), subs.len(), "every member gets an assignment");
        let mut seen = BTreeSet::new();
        for (m, a) in out {
            for tp in &a.partitions {
                assert!(
                    subs[m].topics.contains(&tp.topic),
                    "{m} got {tp} it does not subscribe to"
                );
                assert!(tp.partition < topics[&tp.topic], "{tp} does not exist");
                assert!(seen.insert(tp.clone()), "{tp} assigned twice");
            }
        }
        for (t, n) in topics {
            if subs.values().any(|s| s.topics.contains(t)) {
                for p in 0..*n {
                    assert!(
                        seen.contains(&TopicPartition::new(t.clone(), p)),
                        "{t}-{p} unassigned"
                    );
                }
            }
        }
    }

    pub fn counts(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
        out.values().map(|a| a.partitions.len()).collect()
    }
}
