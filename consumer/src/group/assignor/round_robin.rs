//! `roundrobin`: all partitions, sorted, dealt to members in turn.

use std::collections::BTreeMap;

use super::{empty_assignments, sorted_members, ConsumerPartitionAssignor, PartitionsPerTopic};
use crate::group::consumer_protocol::{Assignment, Subscription};

/// Deals every partition (topics in name order, partitions in index order) to
/// the next member in a circle that subscribes to the partition's topic.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundRobinAssignor;

impl ConsumerPartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &PartitionsPerTopic,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let mut out = empty_assignments(subscriptions);
        let members = sorted_members(subscriptions);
        if members.is_empty() {
            return out;
        }
        let mut next = 0usize;
        for (topic, &count) in partitions_per_topic {
            if !members
                .iter()
                .any(|m| subscriptions[*m].topics.contains(topic))
            {
                continue;
            }
            for p in 0..count.max(0) {
                // Some member subscribes to the topic, so this finds one.
                while !subscriptions[members[next % members.len()]]
                    .topics
                    .contains(topic)
                {
                    next += 1;
                }
                let m = members[next % members.len()];
                next += 1;
                out.get_mut(m)
                    .expect("member has an entry")
                    .partitions
                    .push(topic, p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn deals_in_turn_like_java() {
        let t = topics(&[("t0", 3), ("t1", 3)]);
        let s = members(&[("c0", &["t0", "t1"]), ("c1", &["t0", "t1"])]);
        let out = RoundRobinAssignor.assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert_eq!(
            out["c0"].partitions,
            tps(&[("t0", 0), ("t0", 2), ("t1", 1)])
        );
        assert_eq!(
            out["c1"].partitions,
            tps(&[("t0", 1), ("t1", 0), ("t1", 2)])
        );
    }

    #[test]
    fn skips_members_not_subscribed() {
        let t = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let s = members(&[
            ("c0", &["t0"]),
            ("c1", &["t0", "t1"]),
            ("c2", &["t0", "t1", "t2"]),
        ]);
        let out = RoundRobinAssignor.assign(&t, &s);
        assert_valid(&t, &s, &out);
        // The circle moves past members that don't subscribe to a topic.
        assert_eq!(out["c0"].partitions, tps(&[("t0", 0)]));
        assert_eq!(out["c1"].partitions, tps(&[("t1", 0)]));
        assert_eq!(
            out["c2"].partitions,
            tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)])
        );
    }
}
