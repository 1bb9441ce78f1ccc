//! `SubscriptionState`: which partitions this consumer reads and where.
//!
//! Holds the assignment, each partition's fetch state and position (with the
//! leader epoch of the last consumed record), pause flags, pending offset
//! resets and the preferred read replica. It is pure state: no I/O, no clock
//! of its own (times are passed in).
//!
//! The subscription type is recorded so that topic/pattern subscriptions with
//! group assignment can be added next to manual `assign` without changing
//! the callers: the group coordinator will call `assign_from_subscribed`.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use prozess_network::{NodeId, TopicPartition};

use crate::config::OffsetResetStrategy;
use crate::offsets::OffsetAndMetadata;

/// How partitions came to be assigned (Java's `SubscriptionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionType {
    /// Nothing assigned or subscribed yet.
    None,
    /// `subscribe(topics)`: the group assigns partitions.
    AutoTopics,
    /// `subscribe(pattern)`: the group assigns partitions of matching topics.
    AutoPattern,
    /// `assign(partitions)`: the user chose.
    UserAssigned,
}

/// Where the next fetch of a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    /// The next offset to hand to the caller.
    pub offset: i64,
    /// Leader epoch of the last record before `offset`, if known.
    pub offset_epoch: Option<i32>,
    /// The leader epoch known from metadata when the position was set.
    pub current_leader_epoch: Option<i32>,
}

impl FetchPosition {
    /// A position with no epoch information (after `seek`).
    pub fn at(offset: i64) -> Self {
        FetchPosition {
            offset,
            offset_epoch: None,
            current_leader_epoch: None,
        }
    }
}

/// The fetch state of an assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchState {
    /// Assigned, no position yet: the committed offset is looked up (or reset).
    Initializing,
    /// Has a valid position and can be fetched.
    Fetching,
    /// Waiting for a ListOffsets reset with this strategy.
    AwaitReset(OffsetResetStrategy),
}

/// State of one assigned partition.
#[derive(Debug, Clone)]
pub struct TopicPartitionState {
    /// Fetch state.
    pub fetch_state: FetchState,
    /// Current position (None before it is initialized).
    pub position: Option<FetchPosition>,
    /// Paused by the user.
    pub paused: bool,
    /// Last high watermark seen in a fetch response.
    pub high_watermark: Option<i64>,
    /// Last log start offset seen.
    pub log_start_offset: Option<i64>,
    /// Last stable offset seen (read_committed).
    pub last_stable_offset: Option<i64>,
    /// Preferred read replica (KIP-392) and until when it is used.
    pub preferred_read_replica: Option<(NodeId, Instant)>,
    /// A reset in flight or backing off: not before this time.
    pub next_reset_allowed: Option<Instant>,
    /// A ListOffsets for the reset is in flight.
    pub reset_in_flight: bool,
}

impl TopicPartitionState {
    fn new() -> Self {
        TopicPartitionState {
            fetch_state: FetchState::Initializing,
            position: None,
            paused: false,
            high_watermark: None,
            log_start_offset: None,
            last_stable_offset: None,
            preferred_read_replica: None,
            next_reset_allowed: None,
            reset_in_flight: false,
        }
    }

    fn has_valid_position(&self) -> bool {
        self.fetch_state == FetchState::Fetching && self.position.is_some()
    }
}

/// The consumer's assignment and positions.
#[derive(Debug)]
pub struct SubscriptionState {
    subscription_type: SubscriptionType,
    /// BTreeMap: deterministic iteration order (fetch request contents, tests).
    assignment: BTreeMap<TopicPartition, TopicPartitionState>,
    default_reset_strategy: OffsetResetStrategy,
    /// Bumped on every change of the assignment; fetches sent under an older
    /// epoch are checked against the positions anyway.
    assignment_id: u64,
}

impl SubscriptionState {
    /// Empty state with the `auto.offset.reset` strategy.
    pub fn new(default_reset_strategy: OffsetResetStrategy) -> Self {
        SubscriptionState {
            subscription_type: SubscriptionType::None,
            assignment: BTreeMap::new(),
            default_reset_strategy,
            assignment_id: 0,
        }
    }

    /// The subscription type.
    pub fn subscription_type(&self) -> SubscriptionType {
        self.subscription_type
    }

    /// The `auto.offset.reset` strategy.
    pub fn default_reset_strategy(&self) -> OffsetResetStrategy {
        self.default_reset_strategy
    }

    /// Manual assignment: replaces the assignment. Partitions kept keep their
    /// state (position, pause); new ones start `Initializing`. An empty set
    /// unassigns everything (Java's `unsubscribe` for manual assignment).
    /// Returns whether the assignment changed.
    pub fn assign_from_user(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> bool {
        let wanted: Vec<TopicPartition> = partitions.into_iter().collect();
        self.subscription_type = if wanted.is_empty() {
            SubscriptionType::None
        } else {
            SubscriptionType::UserAssigned
        };
        self.set_assignment(wanted)
    }

    /// Seam for the group coordinator: the assignment it received.
    pub fn assign_from_subscribed(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> bool {
        self.set_assignment(partitions.into_iter().collect())
    }

    /// Records a topic/pattern subscription type (for the group coordinator).
    pub fn set_subscription_type(&mut self, t: SubscriptionType) {
        self.subscription_type = t;
    }

    fn set_assignment(&mut self, wanted: Vec<TopicPartition>) -> bool {
        let old: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
        let mut next = BTreeMap::new();
        for tp in wanted {
            let state = self
                .assignment
                .remove(&tp)
                .unwrap_or_else(TopicPartitionState::new);
            next.insert(tp, state);
        }
        let changed = next.keys().ne(old.iter());
        self.assignment = next;
        if changed {
            self.assignment_id += 1;
        }
        changed
    }

    /// Bumped on every assignment change.
    pub fn assignment_id(&self) -> u64 {
        self.assignment_id
    }

    /// The assigned partitions, sorted.
    pub fn assigned_partitions(&self) -> Vec<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    /// Number of assigned partitions.
    pub fn num_assigned(&self) -> usize {
        self.assignment.len()
    }

    /// Whether `tp` is assigned.
    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.assignment.contains_key(tp)
    }

    /// The state of an assigned partition.
    pub fn state(&self, tp: &TopicPartition) -> Option<&TopicPartitionState> {
        self.assignment.get(tp)
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Option<&mut TopicPartitionState> {
        self.assignment.get_mut(tp)
    }

    /// `seek`: a new position; pending resets are cancelled. Returns false if
    /// `tp` is not assigned.
    pub fn seek(&mut self, tp: &TopicPartition, position: FetchPosition) -> bool {
        match self.state_mut(tp) {
            Some(s) => {
                s.position = Some(position);
                s.fetch_state = FetchState::Fetching;
                s.next_reset_allowed = None;
                s.reset_in_flight = false;
                true
            }
            None => false,
        }
    }

    /// Moves the position forward after records were handed to the caller.
    /// Only called by the fetch collector.
    pub(crate) fn advance(&mut self, tp: &TopicPartition, position: FetchPosition) {
        if let Some(s) = self.state_mut(tp) {
            if s.fetch_state == FetchState::Fetching {
                s.position = Some(position);
            }
        }
    }

    /// The position of `tp`, if it has a valid one.
    pub fn position(&self, tp: &TopicPartition) -> Option<FetchPosition> {
        self.assignment
            .get(tp)
            .filter(|s| s.has_valid_position())
            .and_then(|s| s.position)
    }

    /// Whether `tp` has a valid position.
    pub fn has_valid_position(&self, tp: &TopicPartition) -> bool {
        self.assignment
            .get(tp)
            .map(TopicPartitionState::has_valid_position)
            .unwrap_or(false)
    }

    /// Whether every assigned partition has a valid position.
    pub fn has_all_fetch_positions(&self) -> bool {
        self.assignment.values().all(|s| s.has_valid_position())
    }

    /// Partitions still waiting for a committed offset or a reset decision.
    pub fn initializing_partitions(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.fetch_state == FetchState::Initializing)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Asks for a reset of `tp` with `strategy` (ListOffsets).
    pub fn request_offset_reset(&mut self, tp: &TopicPartition, strategy: OffsetResetStrategy) {
        if let Some(s) = self.state_mut(tp) {
            s.fetch_state = FetchState::AwaitReset(strategy);
            s.next_reset_allowed = None;
            s.reset_in_flight = false;
        }
    }

    /// Puts every initializing partition into reset with the default strategy.
    /// Returns the partitions that cannot be reset (`auto.offset.reset=none`).
    pub fn reset_initializing_positions(&mut self) -> Vec<TopicPartition> {
        self.reset_initializing_positions_where(|_| true)
    }

    /// Like [`Self::reset_initializing_positions`], for the partitions `which` selects.
    pub fn reset_initializing_positions_where(
        &mut self,
        mut which: impl FnMut(&TopicPartition) -> bool,
    ) -> Vec<TopicPartition> {
        let strategy = self.default_reset_strategy;
        let mut undefined = Vec::new();
        for (tp, s) in self.assignment.iter_mut() {
            if s.fetch_state == FetchState::Initializing && which(tp) {
                if strategy == OffsetResetStrategy::None {
                    undefined.push(tp.clone());
                } else {
                    s.fetch_state = FetchState::AwaitReset(strategy);
                }
            }
        }
        undefined
    }

    /// Partitions whose reset may be sent now, with their strategy.
    pub fn partitions_needing_reset(
        &self,
        now: Instant,
    ) -> Vec<(TopicPartition, OffsetResetStrategy)> {
        self.assignment
            .iter()
            .filter_map(|(tp, s)| match s.fetch_state {
                FetchState::AwaitReset(strategy)
                    if strategy != OffsetResetStrategy::None
                        && !s.reset_in_flight
                        && s.next_reset_allowed.map(|t| now >= t).unwrap_or(true) =>
                {
                    Some((tp.clone(), strategy))
                }
                _ => None,
            })
            .collect()
    }

    /// Earliest time a backing-off reset may be retried.
    pub fn next_reset_deadline(&self) -> Option<Instant> {
        self.assignment
            .values()
            .filter(|s| matches!(s.fetch_state, FetchState::AwaitReset(_)) && !s.reset_in_flight)
            .filter_map(|s| s.next_reset_allowed)
            .min()
    }

    /// Marks a reset ListOffsets as sent.
    pub fn set_reset_in_flight(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.state_mut(tp) {
            s.reset_in_flight = true;
        }
    }

    /// A reset's request could not go out because the leader's connection
    /// is not ready yet: retry as soon as it is (at the next poll the network
    /// wakes), with no backoff and no deadline of its own.
    pub fn reset_not_sent(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.state_mut(tp) {
            s.reset_in_flight = false;
            s.next_reset_allowed = None;
        }
    }

    /// A reset failed: retry it after `retry_at`.
    pub fn reset_failed(&mut self, tp: &TopicPartition, retry_at: Instant) {
        if let Some(s) = self.state_mut(tp) {
            s.reset_in_flight = false;
            s.next_reset_allowed = Some(retry_at);
        }
    }

    /// A reset's ListOffsets answered: take the position if the partition is
    /// still awaiting that very reset (a seek in between wins).
    pub fn maybe_complete_reset(
        &mut self,
        tp: &TopicPartition,
        strategy: OffsetResetStrategy,
        position: FetchPosition,
    ) -> bool {
        match self.state_mut(tp) {
            Some(s) if s.fetch_state == FetchState::AwaitReset(strategy) => {
                s.position = Some(position);
                s.fetch_state = FetchState::Fetching;
                s.reset_in_flight = false;
                s.next_reset_allowed = None;
                true
            }
            _ => false,
        }
    }

    /// Uses a committed offset as the starting position of an initializing partition.
    pub fn seek_to_committed(&mut self, tp: &TopicPartition, committed: &OffsetAndMetadata) {
        if let Some(s) = self.state_mut(tp) {
            if s.fetch_state == FetchState::Initializing {
                s.position = Some(FetchPosition {
                    offset: committed.offset,
                    offset_epoch: committed.leader_epoch,
                    current_leader_epoch: None,
                });
                s.fetch_state = FetchState::Fetching;
            }
        }
    }

    /// Pauses fetching from these partitions (assigned ones only).
    pub fn pause(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.state_mut(tp) {
            s.paused = true;
        }
    }

    /// Resumes fetching.
    pub fn resume(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.state_mut(tp) {
            s.paused = false;
        }
    }

    /// Whether `tp` is paused.
    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.assignment.get(tp).map(|s| s.paused).unwrap_or(false)
    }

    /// The paused partitions.
    pub fn paused_partitions(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Whether records of `tp` may be handed to the caller now.
    pub fn is_fetchable(&self, tp: &TopicPartition) -> bool {
        self.assignment
            .get(tp)
            .map(|s| !s.paused && s.has_valid_position())
            .unwrap_or(false)
    }

    /// Partitions to include in fetch requests: assigned, not paused, with a
    /// valid position, and not excluded by `skip` (e.g. data already buffered).
    pub fn fetchable_partitions(
        &self,
        mut skip: impl FnMut(&TopicPartition) -> bool,
    ) -> Vec<(TopicPartition, FetchPosition)> {
        self.assignment
            .iter()
            .filter(|(tp, s)| !s.paused && s.has_valid_position() && !skip(tp))
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect()
    }

    /// Updates the high watermark, log start and last stable offsets from a fetch.
    pub fn update_offsets(
        &mut self,
        tp: &TopicPartition,
        high_watermark: i64,
        log_start_offset: i64,
        last_stable_offset: i64,
    ) {
        if let Some(s) = self.state_mut(tp) {
            if high_watermark >= 0 {
                s.high_watermark = Some(high_watermark);
            }
            if log_start_offset >= 0 {
                s.log_start_offset = Some(log_start_offset);
            }
            if last_stable_offset >= 0 {
                s.last_stable_offset = Some(last_stable_offset);
            }
        }
    }

    /// Lag of `tp`: high watermark (or LSO under read_committed) minus position.
    pub fn partition_lag(&self, tp: &TopicPartition, read_committed: bool) -> Option<i64> {
        let s = self.assignment.get(tp)?;
        let pos = s.position.filter(|_| s.has_valid_position())?;
        let end = if read_committed {
            s.last_stable_offset?
        } else {
            s.high_watermark?
        };
        Some(end - pos.offset)
    }

    /// Sets the preferred read replica until `expires`.
    pub fn set_preferred_read_replica(
        &mut self,
        tp: &TopicPartition,
        node: NodeId,
        expires: Instant,
    ) {
        if let Some(s) = self.state_mut(tp) {
            s.preferred_read_replica = Some((node, expires));
        }
    }

    /// The preferred read replica, if set and not expired.
    pub fn preferred_read_replica(&self, tp: &TopicPartition, now: Instant) -> Option<NodeId> {
        self.assignment
            .get(tp)
            .and_then(|s| s.preferred_read_replica)
            .filter(|(_, exp)| now < *exp)
            .map(|(n, _)| n)
    }

    /// Forgets the preferred read replica (falls back to the leader).
    pub fn clear_preferred_read_replica(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.state_mut(tp) {
            s.preferred_read_replica = None;
        }
    }

    /// Positions of every partition with a valid position, as offsets to commit.
    pub fn all_consumed(&self) -> HashMap<TopicPartition, OffsetAndMetadata> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.has_valid_position())
            .filter_map(|(tp, s)| {
                s.position.map(|p| {
                    (
                        tp.clone(),
                        OffsetAndMetadata {
                            offset: p.offset,
                            leader_epoch: p.offset_epoch,
                            metadata: String::new(),
                        },
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition {
            topic: "t".into(),
            partition: p,
        }
    }

    #[test]
    fn assignment_keeps_state_of_retained_partitions() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Earliest);
        assert!(s.assign_from_user([tp(0), tp(1)]));
        assert_eq!(s.subscription_type(), SubscriptionType::UserAssigned);
        s.seek(&tp(0), FetchPosition::at(5));
        s.pause(&tp(0));
        assert!(!s.assign_from_user([tp(0), tp(1)]), "same set is no change");
        assert!(s.assign_from_user([tp(0), tp(2)]));
        assert_eq!(s.position(&tp(0)).unwrap().offset, 5);
        assert!(s.is_paused(&tp(0)));
        assert!(!s.is_assigned(&tp(1)));
        assert_eq!(s.initializing_partitions(), vec![tp(2)]);
        assert!(s.assign_from_user([]));
        assert_eq!(s.subscription_type(), SubscriptionType::None);
        assert_eq!(s.num_assigned(), 0);
    }

    #[test]
    fn seek_requires_assignment_and_cancels_reset() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        assert!(!s.seek(&tp(0), FetchPosition::at(1)));
        s.assign_from_user([tp(0)]);
        s.request_offset_reset(&tp(0), OffsetResetStrategy::Earliest);
        assert!(!s.has_valid_position(&tp(0)));
        assert!(s.seek(&tp(0), FetchPosition::at(3)));
        assert!(s.partitions_needing_reset(Instant::now()).is_empty());
        // A late reset answer must not overwrite the seek.
        assert!(!s.maybe_complete_reset(
            &tp(0),
            OffsetResetStrategy::Earliest,
            FetchPosition::at(0)
        ));
        assert_eq!(s.position(&tp(0)).unwrap().offset, 3);
    }

    #[test]
    fn reset_flow_and_backoff() {
        let now = Instant::now();
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp(0), tp(1)]);
        s.seek_to_committed(
            &tp(1),
            &OffsetAndMetadata {
                offset: 9,
                leader_epoch: Some(2),
                metadata: String::new(),
            },
        );
        assert!(s.reset_initializing_positions().is_empty());
        let need = s.partitions_needing_reset(now);
        assert_eq!(need, vec![(tp(0), OffsetResetStrategy::Latest)]);
        s.set_reset_in_flight(&tp(0));
        assert!(s.partitions_needing_reset(now).is_empty());
        s.reset_failed(&tp(0), now + Duration::from_millis(100));
        assert!(s.partitions_needing_reset(now).is_empty());
        assert_eq!(
            s.next_reset_deadline(),
            Some(now + Duration::from_millis(100))
        );
        assert_eq!(
            s.partitions_needing_reset(now + Duration::from_millis(100))
                .len(),
            1
        );
        assert!(s.maybe_complete_reset(&tp(0), OffsetResetStrategy::Latest, FetchPosition::at(42)));
        assert!(s.has_all_fetch_positions());
        let consumed = s.all_consumed();
        assert_eq!(consumed[&tp(0)].offset, 42);
        assert_eq!(consumed[&tp(1)].offset, 9);
        assert_eq!(consumed[&tp(1)].leader_epoch, Some(2));
    }

    #[test]
    fn reset_none_reports_undefined_partitions() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::None);
        s.assign_from_user([tp(0)]);
        assert_eq!(s.reset_initializing_positions(), vec![tp(0)]);
        assert!(s.partitions_needing_reset(Instant::now()).is_empty());
    }

    #[test]
    fn fetchable_excludes_paused_and_positionless() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp(0), tp(1), tp(2)]);
        s.seek(&tp(0), FetchPosition::at(1));
        s.seek(&tp(1), FetchPosition::at(1));
        s.pause(&tp(1));
        let f: Vec<_> = s
            .fetchable_partitions(|_| false)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(f, vec![tp(0)]);
        assert!(s.fetchable_partitions(|t| *t == tp(0)).is_empty());
        assert_eq!(s.paused_partitions(), vec![tp(1)]);
        s.resume(&tp(1));
        assert!(s.is_fetchable(&tp(1)));
    }

    #[test]
    fn lag_and_read_replica() {
        let now = Instant::now();
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp(0)]);
        assert_eq!(s.partition_lag(&tp(0), false), None);
        s.seek(&tp(0), FetchPosition::at(4));
        s.update_offsets(&tp(0), 10, 0, 8);
        assert_eq!(s.partition_lag(&tp(0), false), Some(6));
        assert_eq!(s.partition_lag(&tp(0), true), Some(4));
        s.set_preferred_read_replica(&tp(0), 3, now + Duration::from_secs(1));
        assert_eq!(s.preferred_read_replica(&tp(0), now), Some(3));
        assert_eq!(
            s.preferred_read_replica(&tp(0), now + Duration::from_secs(1)),
            None
        );
        s.clear_preferred_read_replica(&tp(0));
        assert_eq!(s.preferred_read_replica(&tp(0), now), None);
    }
}
