//! `range`: per topic, consecutive ranges of partitions to members in order.

use std::collections::BTreeMap;

use super::{empty_assignments, sorted_members, ConsumerPartitionAssignor, PartitionsPerTopic};
use crate::group::consumer_protocol::{Assignment, Subscription};

/// The Java client's default first choice: for each topic, the members that
/// subscribe to it (in member order) get consecutive ranges; the first
/// `partitions % members` members get one extra.
#[derive(Debug, Default, Clone, Copy)]
pub struct RangeAssignor;

impl ConsumerPartitionAssignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &PartitionsPerTopic,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let mut out = empty_assignments(subscriptions);
        let members = sorted_members(subscriptions);
        for (topic, &count) in partitions_per_topic {
            let subscribers: Vec<&String> = members
                .iter()
                .copied()
                .filter(|m| subscriptions[*m].topics.contains(topic))
                .collect();
            if subscribers.is_empty() || count <= 0 {
                continue;
            }
            let n = subscribers.len() as i32;
            let per = count / n;
            let extra = count % n;
            for (i, m) in subscribers.iter().enumerate() {
                let i = i as i32;
                let start = per * i + i.min(extra);
                let len = per + if i < extra { 1 } else { 0 };
                let a = out.get_mut(*m).expect("member has an entry");
                for p in start..start + len {
                    a.partitions.push(topic, p);
                }
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
    fn splits_like_java() {
        let t = topics(&[("t0", 3), ("t1", 3)]);
        let s = members(&[("c0", &["t0", "t1"]), ("c1", &["t0", "t1"])]);
        let out = RangeAssignor.assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert_eq!(
            out["c0"].partitions,
            tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)])
        );
        assert_eq!(out["c1"].partitions, tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn only_subscribers_get_a_topic() {
        let t = topics(&[("a", 2), ("b", 4)]);
        let s = members(&[("m1", &["a"]), ("m2", &["a", "b"]), ("m3", &["b"])]);
        let out = RangeAssignor.assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert_eq!(out["m1"].partitions, tps(&[("a", 0)]));
        assert_eq!(out["m2"].partitions, tps(&[("a", 1), ("b", 0), ("b", 1)]));
        assert_eq!(out["m3"].partitions, tps(&[("b", 2), ("b", 3)]));
    }

    #[test]
    fn more_members_than_partitions_and_static_order() {
        let t = topics(&[("t", 2)]);
        let mut s = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        // A static member sorts before dynamic ones, whatever its member id.
        s.get_mut("c").unwrap().group_instance_id = Some("static-1".into());
        let out = RangeAssignor.assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert_eq!(out["c"].partitions, tps(&[("t", 0)]));
        assert_eq!(out["a"].partitions, tps(&[("t", 1)]));
        assert!(out["b"].partitions.is_empty());
    }
}
