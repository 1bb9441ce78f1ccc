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

use prozess_network::{LeaderAndEpoch, NodeId, TopicPartition};

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
    /// Has a position whose leader epoch must be checked against the current
    /// leader (KIP-320, OffsetForLeaderEpoch) before it is fetched from.
    AwaitValidation,
}

/// A position the leader's log does not hold (Java's
/// `SubscriptionState.LogTruncation`): found by position validation or a
/// Fetch's diverging epoch when `auto.offset.reset` is `none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTruncation {
    /// The partition.
    pub tp: TopicPartition,
    /// The position that was checked.
    pub offset: i64,
    /// The leader epoch of the record before `offset`.
    pub offset_epoch: Option<i32>,
    /// Where the leader's log of the last common epoch ends: (offset, epoch).
    /// `None` when the leader knows no epoch at or below ours.
    pub divergent_offset: Option<(i64, i32)>,
}

impl std::fmt::Display for LogTruncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.tp, self.offset)?;
        if let Some(e) = self.offset_epoch {
            write!(f, " (leader epoch {e})")?;
        }
        match self.divergent_offset {
            Some((o, e)) => write!(
                f,
                ": the leader's log diverges from offset {o} (end of leader epoch {e})"
            ),
            None => write!(f, ": the leader knows no epoch at or before ours"),
        }
    }
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
    /// A reset or validation backing off: not before this time.
    pub next_reset_allowed: Option<Instant>,
    /// A ListOffsets for the reset (or an OffsetForLeaderEpoch for the
    /// validation) is in flight.
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

    /// `seek` to a position with the leader epoch of the record before it
    /// (a committed offset, `seek` with an epoch): the position is validated
    /// against the current leader before it is fetched from (Java's
    /// `seekUnvalidated`). Without an epoch it is used at once.
    pub fn seek_unvalidated(&mut self, tp: &TopicPartition, position: FetchPosition) -> bool {
        match self.state_mut(tp) {
            Some(s) => {
                s.position = Some(position);
                s.fetch_state = if position.offset_epoch.is_some() {
                    FetchState::AwaitValidation
                } else {
                    FetchState::Fetching
                };
                s.next_reset_allowed = None;
                s.reset_in_flight = false;
                true
            }
            None => false,
        }
    }

    /// Checks a position against the partition's leader and epoch in the
    /// metadata (Java's `maybeValidatePositionForCurrentLeader`). When the
    /// epoch changed, the position takes the new one and, if it knows the
    /// epoch of its last record and `validation_supported`, waits for
    /// validation: it is not fetched until the leader confirmed it. Without
    /// support (the leader lacks OffsetForLeaderEpoch v3+) it is used as is.
    /// Returns whether `tp` awaits validation.
    pub fn maybe_validate_position_for_current_leader(
        &mut self,
        tp: &TopicPartition,
        leader: LeaderAndEpoch,
        validation_supported: bool,
    ) -> bool {
        let Some(s) = self.state_mut(tp) else {
            return false;
        };
        let (Some(_), Some(epoch)) = (leader.leader, leader.epoch) else {
            return s.fetch_state == FetchState::AwaitValidation;
        };
        if !matches!(
            s.fetch_state,
            FetchState::Fetching | FetchState::AwaitValidation
        ) {
            return false;
        }
        let Some(position) = s.position.as_mut() else {
            return false;
        };
        if position.current_leader_epoch != Some(epoch) {
            let first = position.current_leader_epoch.is_none();
            position.current_leader_epoch = Some(epoch);
            if position.offset_epoch.is_some() && validation_supported {
                // A position set without a leader epoch (seek, reset) takes
                // the current one and needs no validation, unless it waits
                // for one already (a committed offset with its epoch).
                if !first || s.fetch_state == FetchState::AwaitValidation {
                    tracing::debug!(%tp, offset = position.offset, offset_epoch = ?position.offset_epoch, leader_epoch = epoch, "leader epoch changed: validating the position");
                    s.fetch_state = FetchState::AwaitValidation;
                    s.next_reset_allowed = None;
                    s.reset_in_flight = false;
                    s.preferred_read_replica = None;
                }
            } else if s.fetch_state == FetchState::AwaitValidation {
                s.fetch_state = FetchState::Fetching;
            }
        }
        s.fetch_state == FetchState::AwaitValidation
    }

    /// Partitions whose validation may be sent now, with their positions.
    pub fn partitions_needing_validation(
        &self,
        now: Instant,
    ) -> Vec<(TopicPartition, FetchPosition)> {
        self.assignment
            .iter()
            .filter(|(_, s)| {
                s.fetch_state == FetchState::AwaitValidation
                    && !s.reset_in_flight
                    && s.next_reset_allowed.map(|t| now >= t).unwrap_or(true)
            })
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect()
    }

    /// Ends a validation without asking the leader (it does not support
    /// OffsetForLeaderEpoch): the position is used as it is.
    pub fn complete_validation(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.state_mut(tp) {
            if s.fetch_state == FetchState::AwaitValidation {
                s.fetch_state = FetchState::Fetching;
                s.reset_in_flight = false;
                s.next_reset_allowed = None;
            }
        }
    }

    /// The leader's answer to a validation of `request_position` (Java's
    /// `maybeCompleteValidation`): `epoch_end` is the largest epoch the
    /// leader knows at or below the position's epoch and where it ends.
    /// Ignored unless `tp` still awaits validation at that very position.
    /// See [`Self::apply_epoch_end_offset`] for the outcome.
    pub fn maybe_complete_validation(
        &mut self,
        tp: &TopicPartition,
        request_position: FetchPosition,
        epoch_end: (i32, i64),
    ) -> Option<LogTruncation> {
        match self.state(tp) {
            Some(s)
                if s.fetch_state == FetchState::AwaitValidation
                    && s.position == Some(request_position) => {}
            _ => {
                tracing::debug!(%tp, "ignoring a validation answer: the position changed or needs none any more");
                return None;
            }
        }
        self.apply_epoch_end_offset(tp, epoch_end)
    }

    /// A Fetch answered with a diverging epoch for `request_position`: as a
    /// validation answer, if the partition is still fetched from that very
    /// position (offset and epoch) and otherwise ignored.
    pub fn handle_diverging_epoch(
        &mut self,
        tp: &TopicPartition,
        request_position: (i64, Option<i32>),
        epoch_end: (i32, i64),
    ) -> Option<LogTruncation> {
        match self.position(tp) {
            Some(p) if (p.offset, p.offset_epoch) == request_position => {}
            _ => {
                tracing::debug!(%tp, "ignoring a diverging epoch: the position changed since the fetch was sent");
                return None;
            }
        }
        self.apply_epoch_end_offset(tp, epoch_end)
    }

    /// Applies the leader's end offset of the last common epoch to the
    /// position. The leader's log ends before the position (truncation):
    /// with a reset policy the position moves to that end offset, once;
    /// with `auto.offset.reset=none` it stays and a [`LogTruncation`] is
    /// returned. An undefined answer (no common epoch) resets the position
    /// by the policy, or is a truncation under `none`. Otherwise the
    /// position stays, taking the leader's epoch, and is fetched from.
    fn apply_epoch_end_offset(
        &mut self,
        tp: &TopicPartition,
        (epoch, end_offset): (i32, i64),
    ) -> Option<LogTruncation> {
        let strategy = self.default_reset_strategy;
        let s = self.state_mut(tp)?;
        let position = s.position?;
        s.reset_in_flight = false;
        s.next_reset_allowed = None;
        if epoch < 0 || end_offset < 0 {
            if strategy == OffsetResetStrategy::None {
                tracing::warn!(%tp, offset = position.offset, "log truncation detected, but auto.offset.reset=none");
                return Some(LogTruncation {
                    tp: tp.clone(),
                    offset: position.offset,
                    offset_epoch: position.offset_epoch,
                    divergent_offset: None,
                });
            }
            tracing::info!(%tp, offset = position.offset, strategy = strategy.as_str(), "log truncation detected (no common epoch): resetting the offset");
            s.fetch_state = FetchState::AwaitReset(strategy);
            return None;
        }
        if end_offset < position.offset {
            if strategy == OffsetResetStrategy::None {
                tracing::warn!(%tp, offset = position.offset, end_offset, epoch, "log truncation detected, but auto.offset.reset=none");
                return Some(LogTruncation {
                    tp: tp.clone(),
                    offset: position.offset,
                    offset_epoch: position.offset_epoch,
                    divergent_offset: Some((end_offset, epoch)),
                });
            }
            tracing::info!(%tp, offset = position.offset, end_offset, epoch, "log truncation detected: continuing at the end offset of the last common epoch");
            s.position = Some(FetchPosition {
                offset: end_offset,
                offset_epoch: Some(epoch),
                current_leader_epoch: position.current_leader_epoch,
            });
        } else if let Some(p) = s.position.as_mut() {
            // The leader's log holds the position. Its epoch becomes ours, so
            // the next Fetch's last_fetched_epoch is one the leader knows.
            p.offset_epoch = Some(epoch);
        }
        s.fetch_state = FetchState::Fetching;
        None
    }

    /// A validation could not be sent or failed: retry after `retry_at`.
    pub fn validation_failed(&mut self, tp: &TopicPartition, retry_at: Instant) {
        if let Some(s) = self.state_mut(tp) {
            if s.fetch_state == FetchState::AwaitValidation {
                s.reset_in_flight = false;
                s.next_reset_allowed = Some(retry_at);
            }
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

    /// Earliest time a backing-off reset or validation may be retried.
    pub fn next_reset_deadline(&self) -> Option<Instant> {
        self.assignment
            .values()
            .filter(|s| {
                matches!(
                    s.fetch_state,
                    FetchState::AwaitReset(_) | FetchState::AwaitValidation
                ) && !s.reset_in_flight
            })
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

    /// Uses a committed offset as the starting position of an initializing
    /// partition. With a leader epoch it is validated first (KIP-320).
    pub fn seek_to_committed(&mut self, tp: &TopicPartition, committed: &OffsetAndMetadata) {
        if self.state(tp).map(|s| s.fetch_state) == Some(FetchState::Initializing) {
            self.seek_unvalidated(
                tp,
                FetchPosition {
                    offset: committed.offset,
                    offset_epoch: committed.leader_epoch,
                    current_leader_epoch: None,
                },
            );
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
        // The committed offset carries an epoch: it is validated first.
        assert_eq!(
            s.state(&tp(1)).unwrap().fetch_state,
            FetchState::AwaitValidation
        );
        assert!(!s.has_all_fetch_positions());
        s.complete_validation(&tp(1));
        assert!(s.has_all_fetch_positions());
        let consumed = s.all_consumed();
        assert_eq!(consumed[&tp(0)].offset, 42);
        assert_eq!(consumed[&tp(1)].offset, 9);
        assert_eq!(consumed[&tp(1)].leader_epoch, Some(2));
    }

    #[test]
    fn leader_epoch_change_puts_positions_with_an_epoch_into_validation() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Earliest);
        s.assign_from_user([tp(0), tp(1)]);
        let at = |offset, epoch| FetchPosition {
            offset,
            offset_epoch: epoch,
            current_leader_epoch: None,
        };
        s.seek(&tp(0), at(5, Some(3)));
        s.seek(&tp(1), at(7, None));
        let leader = |epoch| LeaderAndEpoch {
            leader: Some(0),
            epoch: Some(epoch),
        };
        // The first epoch a position sees is taken as it is.
        assert!(!s.maybe_validate_position_for_current_leader(&tp(0), leader(4), true));
        assert!(!s.maybe_validate_position_for_current_leader(&tp(1), leader(4), true));
        assert_eq!(s.position(&tp(0)).unwrap().current_leader_epoch, Some(4));
        // A change: only the position that knows its epoch is validated.
        assert!(s.maybe_validate_position_for_current_leader(&tp(0), leader(5), true));
        assert!(!s.maybe_validate_position_for_current_leader(&tp(1), leader(5), true));
        assert!(!s.is_fetchable(&tp(0)));
        assert!(s.is_fetchable(&tp(1)));
        let request = s.partitions_needing_validation(Instant::now());
        assert_eq!(request.len(), 1);
        // An answer for another position is ignored; the right one completes.
        assert_eq!(
            s.maybe_complete_validation(&tp(0), at(4, Some(3)), (3, 2)),
            None
        );
        assert!(!s.is_fetchable(&tp(0)));
        assert_eq!(
            s.maybe_complete_validation(&tp(0), request[0].1, (3, 9)),
            None
        );
        assert_eq!(s.position(&tp(0)).unwrap().offset, 5);
        // Without support for validation the new epoch is simply taken.
        assert!(!s.maybe_validate_position_for_current_leader(&tp(0), leader(6), false));
        assert!(s.is_fetchable(&tp(0)));
        assert_eq!(s.position(&tp(0)).unwrap().current_leader_epoch, Some(6));
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
