//! `sticky` and `cooperative-sticky`: balanced assignments that move as few
//! partitions as possible between rebalances.
//!
//! Both share [`sticky_assign`]. The eager `sticky` assignor learns what members
//! owned from its user data (eager members give everything up before joining);
//! `cooperative-sticky` reads the owned partitions of the subscription and, as
//! KIP-429 requires, leaves out of this round every partition that changes
//! owner, so its owner revokes it first and a follow-up rebalance assigns it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{BufMut, Bytes, BytesMut};
use prozess_network::TopicPartition;
use prozess_protocol::primitives::read_i32;
use tracing::warn;

use super::{empty_assignments, ConsumerPartitionAssignor, PartitionsPerTopic, RebalanceProtocol};
use crate::group::consumer_protocol::{
    read_topic_partitions, write_topic_partitions, Assignment, Subscription, TopicPartitionList,
};

/// The eager sticky assignor (Java's `StickyAssignor`).
#[derive(Debug, Default, Clone)]
pub struct StickyAssignor {
    /// What this member was given last, and in which generation: sent back in
    /// the next subscription's user data.
    last: Option<(TopicPartitionList, i32)>,
}

/// The cooperative sticky assignor (Java's `CooperativeStickyAssignor`).
#[derive(Debug, Default, Clone, Copy)]
pub struct CooperativeStickyAssignor;

/// Encodes the sticky assignor's user data (v1: previous assignment + generation).
pub fn encode_sticky_user_data(partitions: &TopicPartitionList, generation: i32) -> Bytes {
    let mut buf = BytesMut::new();
    write_topic_partitions(&mut buf, partitions);
    buf.put_i32(generation);
    buf.freeze()
}

/// Decodes sticky user data, v1 or v0 (v0 has no generation).
pub fn decode_sticky_user_data(mut data: Bytes) -> Option<(TopicPartitionList, i32)> {
    let partitions = read_topic_partitions(&mut data).ok()?;
    let generation = if data.is_empty() {
        -1
    } else {
        read_i32(&mut data).ok()?
    };
    Some((partitions, generation))
}

impl ConsumerPartitionAssignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        self.last
            .as_ref()
            .map(|(partitions, generation)| encode_sticky_user_data(partitions, *generation))
    }

    fn assign(
        &self,
        partitions_per_topic: &PartitionsPerTopic,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let previous = previous_owners(partitions_per_topic, subscriptions, true);
        to_assignments(
            subscriptions,
            sticky_assign(partitions_per_topic, subscriptions, &previous),
        )
    }

    fn on_assignment(&mut self, assignment: &Assignment, generation: i32) {
        self.last = Some((assignment.partitions.clone(), generation));
    }
}

impl ConsumerPartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &PartitionsPerTopic,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let previous = previous_owners(partitions_per_topic, subscriptions, false);
        let mut target = sticky_assign(partitions_per_topic, subscriptions, &previous);
        // Hold back partitions that change owner: the current owner revokes
        // them after this round, and the follow-up rebalance hands them over.
        let owner: HashMap<&TopicPartition, &String> = previous
            .iter()
            .flat_map(|(m, ps)| ps.iter().map(move |p| (p, m)))
            .collect();
        for (member, partitions) in target.iter_mut() {
            partitions.retain(|p| owner.get(p).is_none_or(|o| *o == member));
        }
        to_assignments(subscriptions, target)
    }
}

fn to_assignments(
    subscriptions: &BTreeMap<String, Subscription>,
    target: BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Assignment> {
    let mut out = empty_assignments(subscriptions);
    for (m, mut partitions) in target {
        partitions.sort();
        if let Some(a) = out.get_mut(&m) {
            a.partitions = partitions.into();
        }
    }
    out
}

/// What each member owns now, as far as it can be trusted: only members of
/// the highest generation reported keep their claims (older claims may be
/// stale), and a partition claimed by two members of that generation is
/// taken from both. Claims of partitions that do not exist (a topic nobody
/// subscribes to, a partition beyond the topic's count) are dropped before
/// anything is built per partition: what a member claims cannot make the
/// leader's work larger than the group's real partitions.
fn previous_owners(
    partitions_per_topic: &PartitionsPerTopic,
    subscriptions: &BTreeMap<String, Subscription>,
    use_user_data: bool,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let claims: BTreeMap<&String, (TopicPartitionList, i32)> = subscriptions
        .iter()
        .map(|(m, s)| {
            let claim = if !s.owned_partitions.is_empty() || !use_user_data {
                (s.owned_partitions.clone(), s.generation_id)
            } else {
                s.user_data
                    .clone()
                    .and_then(decode_sticky_user_data)
                    .unwrap_or((TopicPartitionList::new(), -1))
            };
            (m, (existing(partitions_per_topic, &claim.0), claim.1))
        })
        .collect();
    let max_generation = claims
        .values()
        .filter(|(p, _)| !p.is_empty())
        .map(|(_, g)| *g)
        .max()
        .unwrap_or(-1);
    let mut owner: HashMap<TopicPartition, Option<&String>> = HashMap::new();
    for (m, (partitions, generation)) in &claims {
        if *generation != max_generation {
            continue;
        }
        for p in partitions {
            owner
                .entry(p.clone())
                .and_modify(|o| {
                    warn!(partition = %p, "partition claimed by two members of one generation; reassigning it");
                    *o = None;
                })
                .or_insert(Some(*m));
        }
    }
    let mut out: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    for (p, o) in owner {
        if let Some(m) = o {
            out.entry(m.clone()).or_default().push(p);
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The partitions of `claimed` that exist in `partitions_per_topic`.
fn existing(
    partitions_per_topic: &PartitionsPerTopic,
    claimed: &TopicPartitionList,
) -> TopicPartitionList {
    let mut out = TopicPartitionList::new();
    for (topic, partitions) in claimed.topics() {
        let count = partitions_per_topic.get(topic).copied().unwrap_or(0);
        for &p in partitions.iter().filter(|p| (0..count).contains(*p)) {
            out.push(topic, p);
        }
    }
    out
}

/// The balanced, sticky target assignment (before any cooperative hold-back).
pub(crate) fn sticky_assign(
    partitions_per_topic: &PartitionsPerTopic,
    subscriptions: &BTreeMap<String, Subscription>,
    previous: &BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let topics_of: BTreeMap<&String, BTreeSet<&String>> = subscriptions
        .iter()
        .map(|(m, s)| {
            (
                m,
                s.topics
                    .iter()
                    .filter(|t| partitions_per_topic.contains_key(*t))
                    .collect(),
            )
        })
        .collect();
    let all: Vec<TopicPartition> = partitions_per_topic
        .iter()
        .filter(|(t, _)| topics_of.values().any(|ts| ts.contains(t)))
        .flat_map(|(t, n)| (0..(*n).max(0)).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect();
    let exists: BTreeSet<&TopicPartition> = all.iter().collect();

    // Keep only claims that are still valid: the partition exists and the
    // member still subscribes to its topic.
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> = subscriptions
        .keys()
        .map(|m| (m.clone(), Vec::new()))
        .collect();
    for (m, owned) in previous {
        if let (Some(topics), Some(a)) = (topics_of.get(m), assignment.get_mut(m)) {
            a.extend(
                owned
                    .iter()
                    .filter(|p| exists.contains(p) && topics.contains(&p.topic))
                    .cloned(),
            );
        }
    }

    let first_topics = topics_of.values().next();
    let all_equal = topics_of.values().all(|t| Some(t) == first_topics);
    if all_equal && !subscriptions.is_empty() {
        constrained(&all, &mut assignment);
    } else {
        general(&all, &topics_of, &mut assignment);
    }
    assignment
}

/// Everyone subscribes to the same topics: each member ends with `floor(P/C)`
/// or `ceil(P/C)` partitions, keeping as many of its own as the quota allows.
fn constrained(all: &[TopicPartition], assignment: &mut BTreeMap<String, Vec<TopicPartition>>) {
    let members = assignment.len();
    let min = all.len() / members;
    let max = all.len().div_ceil(members);
    let mut over_min_left = if max > min { all.len() % members } else { 0 };
    // Members keeping the most of their own partitions go first, so trimming
    // moves as little as possible.
    let mut order: Vec<String> = assignment.keys().cloned().collect();
    order.sort_by_key(|m| std::cmp::Reverse(assignment[m].len()));
    for m in &order {
        let owned = assignment.get_mut(m).expect("member");
        owned.sort();
        let keep = if owned.len() > min && over_min_left > 0 {
            over_min_left -= 1;
            owned.len().min(max)
        } else {
            owned.len().min(min)
        };
        owned.truncate(keep);
    }
    let taken: BTreeSet<TopicPartition> = assignment.values().flatten().cloned().collect();
    let mut unassigned = all.iter().filter(|p| !taken.contains(*p)).cloned();
    for m in &order {
        let a = assignment.get_mut(m).expect("member");
        while a.len() < min {
            match unassigned.next() {
                Some(p) => a.push(p),
                None => break,
            }
        }
    }
    for m in &order {
        if over_min_left == 0 {
            break;
        }
        let a = assignment.get_mut(m).expect("member");
        if a.len() == min {
            if let Some(p) = unassigned.next() {
                a.push(p);
                over_min_left -= 1;
            }
        }
    }
    debug_assert!(
        unassigned.next().is_none(),
        "constrained assignment left partitions unassigned"
    );
}

/// Members subscribe to different topics: hand each free partition to the
/// least loaded member that can take it (partitions with fewest candidates
/// first), then move partitions from the most to the least loaded eligible
/// members until no move narrows the gap.
fn general(
    all: &[TopicPartition],
    topics_of: &BTreeMap<&String, BTreeSet<&String>>,
    assignment: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    let eligible = |p: &TopicPartition| -> Vec<&String> {
        topics_of
            .iter()
            .filter(|(_, ts)| ts.contains(&p.topic))
            .map(|(m, _)| *m)
            .collect()
    };
    let taken: BTreeSet<TopicPartition> = assignment.values().flatten().cloned().collect();
    let mut free: Vec<(usize, &TopicPartition)> = all
        .iter()
        .filter(|p| !taken.contains(*p))
        .map(|p| (eligible(p).len(), p))
        .collect();
    free.sort();
    for (_, p) in free {
        let best = eligible(p)
            .into_iter()
            .min_by_key(|m| assignment[*m].len())
            .cloned();
        if let Some(m) = best {
            assignment.get_mut(&m).expect("member").push(p.clone());
        }
    }
    // Each move lowers the sum of squared loads, so this ends.
    loop {
        let mut moved = false;
        let mut by_load: Vec<String> = assignment.keys().cloned().collect();
        by_load.sort_by_key(|m| std::cmp::Reverse(assignment[m].len()));
        'outer: for from in &by_load {
            let from_len = assignment[from].len();
            for i in (0..from_len).rev() {
                let p = assignment[from][i].clone();
                let target = eligible(&p)
                    .into_iter()
                    .filter(|m| assignment[*m].len() + 1 < from_len)
                    .min_by_key(|m| assignment[*m].len())
                    .cloned();
                if let Some(to) = target {
                    assignment.get_mut(from).expect("member").remove(i);
                    assignment.get_mut(&to).expect("member").push(p);
                    moved = true;
                    break 'outer;
                }
            }
        }
        if !moved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn owned(
        s: &mut BTreeMap<String, Subscription>,
        m: &str,
        parts: &[(&str, i32)],
        generation: i32,
    ) {
        let sub = s.get_mut(m).unwrap();
        sub.owned_partitions = tps(parts).into();
        sub.generation_id = generation;
    }

    fn moved(before: &BTreeMap<String, Assignment>, after: &BTreeMap<String, Assignment>) -> usize {
        let mut n = 0;
        for (m, a) in after {
            for p in &a.partitions {
                if before.get(m).is_none_or(|b| !b.partitions.contains(&p)) {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn balanced_and_sticky_when_a_member_joins() {
        let t = topics(&[("t", 6)]);
        let mut s = members(&[("a", &["t"]), ("b", &["t"])]);
        let first = CooperativeStickyAssignor.assign(&t, &s);
        assert_valid(&t, &s, &first);
        assert_eq!(counts(&first), vec![3, 3]);

        owned(&mut s, "a", &[("t", 0), ("t", 1), ("t", 2)], 1);
        owned(&mut s, "b", &[("t", 3), ("t", 4), ("t", 5)], 1);
        s.insert("c".into(), sub(&["t"]));
        let target = sticky_assign(&t, &s, &previous_owners(&t, &s, false));
        let lens: Vec<usize> = target.values().map(Vec::len).collect();
        assert_eq!(lens, vec![2, 2, 2]);
        // a and b each keep two of their three.
        assert!(target["a"].iter().all(|p| p.partition <= 2));
        assert!(target["b"].iter().all(|p| p.partition >= 3));

        // Cooperative: c gets nothing yet; the moving partitions are held back.
        let round1 = CooperativeStickyAssignor.assign(&t, &s);
        assert!(round1["c"].partitions.is_empty());
        assert_eq!(counts(&round1), vec![2, 2, 0]);

        // Follow-up round: a and b now own two each; c gets the two free ones.
        owned(&mut s, "a", &[("t", 0), ("t", 1)], 2);
        owned(&mut s, "b", &[("t", 3), ("t", 4)], 2);
        let round2 = CooperativeStickyAssignor.assign(&t, &s);
        assert_valid(&t, &s, &round2);
        assert_eq!(round2["c"].partitions, tps(&[("t", 2), ("t", 5)]));
        assert_eq!(
            moved(&round1, &round2),
            2,
            "only the two free partitions move"
        );
    }

    #[test]
    fn member_leaving_moves_only_its_partitions() {
        let t = topics(&[("t", 4), ("u", 2)]);
        let mut s = members(&[("a", &["t", "u"]), ("b", &["t", "u"]), ("c", &["t", "u"])]);
        owned(&mut s, "a", &[("t", 0), ("u", 0)], 3);
        owned(&mut s, "b", &[("t", 1), ("u", 1)], 3);
        owned(&mut s, "c", &[("t", 2), ("t", 3)], 3);
        s.remove("c");
        let out = CooperativeStickyAssignor.assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert_eq!(counts(&out), vec![3, 3]);
        assert!(out["a"].partitions.contains(&TopicPartition::new("t", 0)));
        assert!(out["a"].partitions.contains(&TopicPartition::new("u", 0)));
        assert!(out["b"].partitions.contains(&TopicPartition::new("t", 1)));
        assert!(out["b"].partitions.contains(&TopicPartition::new("u", 1)));
    }

    #[test]
    fn claims_of_partitions_that_do_not_exist_are_dropped() {
        // A member claiming a huge made-up assignment (in owned partitions
        // or in its user data) cannot make the leader build per-partition
        // state for it, nor outrank real claims with its generation.
        let t = topics(&[("t", 2)]);
        let mut s = members(&[("a", &["t"]), ("b", &["t"])]);
        owned(&mut s, "a", &[("t", 0)], 3);
        let bogus: Vec<(&str, i32)> = (2..100_000)
            .map(|p| ("t", p))
            .chain([("nope", 0)])
            .collect();
        owned(&mut s, "b", &bogus, 9);
        let prev = previous_owners(&t, &s, false);
        assert_eq!(prev.len(), 1, "{prev:?}");
        assert_eq!(prev["a"], vec![TopicPartition::new("t", 0)]);
        let out = StickyAssignor::default().assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert!(out["a"].partitions.contains(&TopicPartition::new("t", 0)));
    }

    #[test]
    fn stale_generation_and_double_claims_are_not_trusted() {
        let t = topics(&[("t", 2)]);
        let mut s = members(&[("a", &["t"]), ("b", &["t"]), ("z", &["t"])]);
        owned(&mut s, "a", &[("t", 0)], 5);
        owned(&mut s, "b", &[("t", 0)], 5); // same generation: conflict
        owned(&mut s, "z", &[("t", 1)], 2); // zombie from an old generation
        let prev = previous_owners(&t, &s, false);
        assert!(prev.is_empty(), "{prev:?}");
        let out = StickyAssignor::default().assign(&t, &s);
        assert_valid(&t, &s, &out);
    }

    #[test]
    fn unequal_subscriptions_are_balanced_where_possible() {
        let t = topics(&[("a", 3), ("b", 3)]);
        let s = members(&[("m1", &["a"]), ("m2", &["a", "b"]), ("m3", &["b"])]);
        let out = StickyAssignor::default().assign(&t, &s);
        assert_valid(&t, &s, &out);
        assert_eq!(counts(&out), vec![2, 2, 2]);
    }

    #[test]
    fn eager_sticky_uses_its_user_data() {
        let t = topics(&[("t", 4)]);
        let mut me = StickyAssignor::default();
        me.on_assignment(
            &Assignment {
                partitions: tps(&[("t", 1), ("t", 3)]).into(),
                user_data: None,
            },
            4,
        );
        let ud = me.subscription_user_data(&["t".into()]).unwrap();
        assert_eq!(
            decode_sticky_user_data(ud.clone()),
            Some((tps(&[("t", 1), ("t", 3)]).into(), 4))
        );
        let mut s = members(&[("a", &["t"]), ("b", &["t"])]);
        s.get_mut("a").unwrap().user_data = Some(ud);
        let out = me.assign(&t, &s);
        assert_eq!(out["a"].partitions, tps(&[("t", 1), ("t", 3)]));
        assert_eq!(out["b"].partitions, tps(&[("t", 0), ("t", 2)]));
    }

    #[test]
    fn many_random_rounds_stay_valid_and_balanced() {
        // A deterministic pseudo-random walk of joins and leaves.
        let t = topics(&[("x", 7), ("y", 5)]);
        let mut s: BTreeMap<String, Subscription> = BTreeMap::new();
        let mut seed = 0x2545_f491_u64;
        let mut generation = 0;
        for round in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let name = format!("m{}", seed % 6);
            if s.contains_key(&name) && s.len() > 1 {
                s.remove(&name);
            } else {
                s.insert(name, sub(&["x", "y"]));
            }
            generation += 1;
            let out = CooperativeStickyAssignor.assign(&t, &s);
            // Apply the (held back) assignment, then the follow-up round.
            for (m, a) in &out {
                owned(&mut s, m, &[], generation);
                s.get_mut(m).unwrap().owned_partitions = a.partitions.clone();
            }
            generation += 1;
            let follow = CooperativeStickyAssignor.assign(&t, &s);
            assert_valid(&t, &s, &follow);
            let c = counts(&follow);
            let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(hi - lo <= 1, "round {round}: unbalanced {c:?}");
            for (m, a) in &follow {
                owned(&mut s, m, &[], generation);
                s.get_mut(m).unwrap().owned_partitions = a.partitions.clone();
            }
        }
    }
}
