//! The group side of `KafkaConsumer`: subscribe/unsubscribe, driving the
//! [`GroupMember`] (classic or KIP-848 protocol) from poll, running the rebalance listener and
//! choosing the generation commits are made under.
//!
//! Rules kept here (from the membership's contract):
//! - every `GroupEvent::Revoke`/`Lost` is handled (auto-commit, listener,
//!   assignment change) before the membership is polled again;
//! - every network event is offered to the membership (see `dispatch`);
//! - the topics of `group_subscription()` stay in the metadata's topics of
//!   interest (the leader needs their partition counts);
//! - commits and committed-offset look-ups use the membership's coordinator:
//!   one FindCoordinator path per consumer.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use prozess_network::{KafkaClient, TopicPartition};

use super::{unparked, KafkaConsumer};
use crate::config::GroupProtocol;
use crate::coordinator::{CoordinatorFeedback, Generation};
use crate::error::{Error, Result};
use crate::group::assignor::{assignor_by_name, ConsumerPartitionAssignor};
use crate::group::consumer_group_heartbeat::ConsumerGroupMembership;
use crate::group::member::GroupMember;
use crate::group::membership::{GroupEvent, GroupMembership, MembershipConfig};
use crate::rebalance_listener::ConsumerRebalanceListener;
use crate::subscription_state::SubscriptionType;

/// Java's `ConsumerGroupMetadata`, defined in the network crate so that
/// the producer (`send_offsets_to_transaction`) can take it too.
pub use prozess_network::ConsumerGroupMetadata;

/// Reason sent with LeaveGroup.
const UNSUBSCRIBE_REASON: &str = "the consumer unsubscribed from all topics";
const CLOSE_REASON: &str = "the consumer is being closed";

/// A boxed listener for consumer `KafkaConsumer<K, V, C>`.
pub(crate) type BoxedListener<K, V, C> = Box<dyn ConsumerRebalanceListener<K, V, C>>;

impl<K, V, C: KafkaClient> KafkaConsumer<K, V, C> {
    /// Subscribes to `topics` (replacing any earlier subscription): the group
    /// (`group.id` is required) assigns their partitions among its members.
    /// `listener` runs inside `poll` whenever partitions are revoked,
    /// assigned or lost. Nothing is sent before the next `poll`.
    pub fn subscribe<T: AsRef<str>>(
        &mut self,
        topics: impl IntoIterator<Item = T>,
        listener: impl ConsumerRebalanceListener<K, V, C> + 'static,
    ) -> Result<()> {
        self.call(|c| {
            let topics: BTreeSet<String> = topics
                .into_iter()
                .map(|t| t.as_ref().trim().to_string())
                .collect();
            if topics.iter().any(|t| t.is_empty()) {
                return Err(Error::IllegalState(
                    "subscribe: topic names must not be empty".into(),
                ));
            }
            if topics.is_empty() {
                return c.unsubscribe();
            }
            if c.subscriptions.subscription_type() == SubscriptionType::UserAssigned {
                return Err(Error::IllegalState(
                    "subscribe after assign: call unsubscribe first (Java forbids mixing them)"
                        .into(),
                ));
            }
            c.ensure_membership()?;
            c.retry_after_failure();
            c.subscriptions
                .set_subscription_type(SubscriptionType::AutoTopics);
            tracing::info!(topics = ?topics, "subscribed to topic(s)");
            c.subscribed_topics = topics;
            c.listener = Some(Box::new(listener));
            if c.pattern.take().is_some() {
                c.net().metadata_mut().set_all_topics(false);
            }
            c.update_topics_of_interest();
            Ok(())
        })
    }

    /// Subscribes to every topic whose whole name matches the regular
    /// expression `pattern` (Java's `subscribe(Pattern)`; internal topics
    /// only if `exclude.internal.topics=false`). The pattern is evaluated
    /// against the cluster's topics at every metadata refresh: topics created
    /// later that match join the subscription (and the group rebalances).
    pub fn subscribe_pattern(
        &mut self,
        pattern: &str,
        listener: impl ConsumerRebalanceListener<K, V, C> + 'static,
    ) -> Result<()> {
        self.call(|c| {
            let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                Error::IllegalState(format!(
                    "subscribe_pattern: invalid pattern {pattern:?}: {e}"
                ))
            })?;
            if c.subscriptions.subscription_type() == SubscriptionType::UserAssigned {
                return Err(Error::IllegalState(
                    "subscribe after assign: call unsubscribe first (Java forbids mixing them)"
                        .into(),
                ));
            }
            c.ensure_membership()?;
            c.retry_after_failure();
            c.subscriptions
                .set_subscription_type(SubscriptionType::AutoPattern);
            tracing::info!(pattern, "subscribed to pattern");
            c.pattern = Some(regex);
            c.listener = Some(Box::new(listener));
            let metadata = c.net().metadata_mut();
            metadata.set_all_topics(true);
            metadata.request_update();
            c.update_pattern_subscription();
            Ok(())
        })
    }

    /// Re-evaluates the pattern against the topics in the metadata (Java's
    /// `updatePatternSubscription`); a change makes the membership rejoin.
    pub(crate) fn update_pattern_subscription(&mut self) {
        let Some(regex) = &self.pattern else {
            return;
        };
        let exclude_internal = self.config.exclude_internal_topics;
        let matched: BTreeSet<String> = unparked(&mut self.client)
            .metadata()
            .topics()
            .filter(|t| !(exclude_internal && t.is_internal) && regex.is_match(&t.name))
            .map(|t| t.name.clone())
            .collect();
        if matched != self.subscribed_topics {
            tracing::info!(topics = ?matched, "pattern subscription now matches");
            self.subscribed_topics = matched;
        }
    }

    /// The subscribed topics, sorted (empty when not subscribed).
    pub fn subscription(&self) -> Vec<String> {
        self.subscribed_topics.iter().cloned().collect()
    }

    /// Asks the group for a rebalance at the next poll (Java's
    /// `enforceRebalance`). Ignored when not subscribed.
    pub fn enforce_rebalance(&mut self, reason: Option<&str>) -> Result<()> {
        self.call(|c| {
            let group = c.group_mode();
            if let Some(m) = c.membership.as_mut().filter(|_| group) {
                m.request_rejoin(reason.unwrap_or("rebalance enforced by the user"));
            }
            Ok(())
        })
    }

    /// Group id, generation and member id (Java's `groupMetadata`).
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata> {
        let group_id = self.config.group_id.clone().ok_or(Error::InvalidGroupId)?;
        let generation = match (&self.membership, &self.background) {
            (Some(m), _) => m.generation(),
            (None, Some(bg)) => bg
                .lock()
                .parked
                .as_ref()
                .and_then(|p| p.membership.as_ref())
                .map(|m| m.generation())
                .unwrap_or_else(Generation::none),
            (None, None) => Generation::none(),
        };
        Ok(ConsumerGroupMetadata {
            group_id,
            generation_id: generation.generation_id,
            member_id: generation.member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        })
    }

    /// A new subscription after a fatal group error tries to join again.
    fn retry_after_failure(&mut self) {
        if let Some(m) = self.membership.as_mut() {
            if m.failure().is_some() {
                m.request_rejoin("subscribed again after a fatal group error");
            }
        }
    }

    /// Whether partitions come from the group (subscribe) rather than `assign`.
    pub(crate) fn group_mode(&self) -> bool {
        matches!(
            self.subscriptions.subscription_type(),
            SubscriptionType::AutoTopics | SubscriptionType::AutoPattern
        )
    }

    fn ensure_membership(&mut self) -> Result<()> {
        if self.membership.is_some() {
            return Ok(());
        }
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(Error::InvalidGroupId);
        };
        let config = MembershipConfig {
            group_id,
            group_instance_id: self.config.group_instance_id.clone(),
            session_timeout: self.config.session_timeout,
            heartbeat_interval: self.config.heartbeat_interval,
            max_poll_interval: self.config.max_poll_interval,
            retry_backoff: self.config.retry_backoff,
            rack_id: (!self.config.client_rack.is_empty()).then(|| self.config.client_rack.clone()),
            auto_commit: self.config.auto_commit_enabled(),
        };
        let now = (self.clock)();
        let member = match self.config.group_protocol {
            GroupProtocol::Classic => {
                let mut assignors: Vec<Box<dyn ConsumerPartitionAssignor>> = Vec::new();
                for name in &self.config.partition_assignment_strategy {
                    match assignor_by_name(name) {
                        Some(a) => assignors.push(a),
                        None => {
                            return Err(Error::Config {
                                key: "partition.assignment.strategy".into(),
                                message: format!(
                                    "unknown assignor {name:?}: expected range, roundrobin, \
                                     sticky or cooperative-sticky (or their Java class names)"
                                ),
                            })
                        }
                    }
                }
                GroupMember::Classic(
                    GroupMembership::new(config, assignors, now).map_err(Error::Group)?,
                )
            }
            GroupProtocol::Consumer => {
                let assignor = self.config.group_remote_assignor.clone();
                GroupMember::Consumer(ConsumerGroupMembership::new(config, assignor, now))
            }
        };
        self.membership = Some(member);
        Ok(())
    }

    /// Subscribed topics plus (leader) the whole group's topics.
    pub(crate) fn update_topics_of_interest(&mut self) {
        let mut topics: HashSet<String> = self.subscribed_topics.iter().cloned().collect();
        if let Some(m) = &self.membership {
            topics.extend(m.group_subscription());
        }
        if self.net().metadata_mut().set_topics(topics) {
            self.net().metadata_mut().request_update();
        }
    }

    /// The generation a commit is made under now: none (-1) for manual
    /// assignment; the stable generation in a group; an error while the
    /// group rebalances or after the member fell out of it (Java's
    /// `generationIfStable` check), so nothing is committed for a
    /// generation that is gone.
    pub(crate) fn commit_generation(&self) -> Result<Generation> {
        let Some(m) = self.membership.as_ref().filter(|_| self.group_mode()) else {
            return Ok(Generation::none());
        };
        if let Some(g) = m.generation_if_stable() {
            return Ok(g);
        }
        if m.rebalance_in_progress() {
            return Err(Error::RebalanceInProgress);
        }
        Err(Error::CommitFailed(
            "the consumer is not part of an active group generation (it left the group, was \
             fenced, or the time between polls exceeded max.poll.interval.ms); its partitions \
             may already belong to another member"
                .into(),
        ))
    }

    /// Gives the membership's coordinator to the commit path, looking it
    /// up if needed; applies what commit responses taught.
    pub(crate) fn sync_group_coordinator(&mut self, now: Instant) {
        let group = self.group_mode();
        let Some(m) = self.membership.as_mut() else {
            return;
        };
        for f in self.coordinator.take_feedback() {
            match f {
                CoordinatorFeedback::CoordinatorLost(why) => m.mark_coordinator_unknown(&why),
                // Manual assignment commits carry no generation to correct.
                CoordinatorFeedback::CommitError { code, generation } if group => {
                    m.on_commit_error(code, &generation)
                }
                CoordinatorFeedback::CommitError { .. } => {}
            }
        }
        if group {
            let node = m.find_coordinator(unparked(&mut self.client), now);
            self.coordinator.use_group_coordinator(node);
        } else {
            self.coordinator.use_own_lookup();
        }
    }

    /// One step of the group: drives the membership and handles what it
    /// returns (listener, auto-commit of revoked partitions, assignment).
    pub(crate) fn group_poll(&mut self, now: Instant) -> Result<()> {
        if !self.group_mode() {
            return Ok(());
        }
        self.sync_group_coordinator(now);
        self.update_pattern_subscription();
        let topics: Vec<String> = self.subscribed_topics.iter().cloned().collect();
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        let events = m.poll(unparked(&mut self.client), now, &topics);
        let reported = events.iter().any(|e| matches!(e, GroupEvent::Fatal(_)));
        let assigned = events
            .iter()
            .any(|e| matches!(e, GroupEvent::Assigned { .. }));
        self.metrics
            .record_group_step(m.rebalance_in_progress(), assigned, reported, now);
        self.update_topics_of_interest();
        let result = self.handle_group_events(events);
        let now = (self.clock)();
        self.sync_group_coordinator(now);
        // A fatal group error stays the answer of every poll until the
        // application subscribes again or enforces a rebalance.
        if let (Ok(()), false) = (&result, reported) {
            if let Some(e) = self.membership.as_ref().and_then(|m| m.failure()) {
                return Err(Error::Group(e));
            }
        }
        result
    }

    /// Applies membership events in order; returns the first error (of a
    /// listener or a fatal group error) after applying all of them.
    pub(crate) fn handle_group_events(&mut self, events: Vec<GroupEvent>) -> Result<()> {
        let mut first_error = None;
        for event in events {
            let r = match event {
                GroupEvent::Revoke(tps) => self.revoke(&tps),
                GroupEvent::PrepareJoin => {
                    self.auto_commit_before("rejoining");
                    Ok(())
                }
                GroupEvent::Lost(tps) => {
                    tracing::info!(partitions = ?tps, "partitions lost");
                    let r = self.run_listener(|l, c| l.on_partitions_lost(c, &tps));
                    self.drop_partitions(&tps);
                    r
                }
                GroupEvent::Assigned {
                    added, assignment, ..
                } => {
                    self.subscriptions.assign_from_subscribed(assignment);
                    self.fetcher
                        .clear_buffered_data_for_unassigned(&self.subscriptions);
                    self.pending_committed = None;
                    self.run_listener(|l, c| l.on_partitions_assigned(c, &added))
                }
                GroupEvent::Fatal(e) => Err(Error::Group(e)),
            };
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Java's revocation: auto-commit (sync, all consumed offsets) while the
    /// generation is still valid, then the listener, then the partitions go.
    fn revoke(&mut self, tps: &[TopicPartition]) -> Result<()> {
        tracing::info!(partitions = ?tps, "revoking partitions");
        self.auto_commit_before("revocation");
        let r = self.run_listener(|l, c| l.on_partitions_revoked(c, tps));
        self.drop_partitions(tps);
        r
    }

    /// With auto-commit: commits all consumed offsets (sync) under the
    /// generation that is still valid. A failure is only logged: the
    /// rebalance goes on, as in Java.
    fn auto_commit_before(&mut self, what: &str) {
        if !self.config.auto_commit_enabled() {
            return;
        }
        let offsets = self.subscriptions.all_consumed();
        if offsets.is_empty() {
            return;
        }
        let timeout = self.config.default_api_timeout;
        if let Err(e) = self.commit_sync_offsets_with_timeout(offsets, timeout) {
            tracing::warn!(error = %e, "auto-commit before {what} failed");
        }
    }

    fn drop_partitions(&mut self, tps: &[TopicPartition]) {
        let gone: HashSet<&TopicPartition> = tps.iter().collect();
        let keep: Vec<TopicPartition> = self
            .subscriptions
            .assigned_partitions()
            .into_iter()
            .filter(|tp| !gone.contains(tp))
            .collect();
        self.subscriptions.assign_from_subscribed(keep);
        self.fetcher
            .clear_buffered_data_for_unassigned(&self.subscriptions);
        self.pending_committed = None;
    }

    /// Runs a listener callback with the consumer (the listener is taken out
    /// for the call; `poll` from inside it fails).
    fn run_listener(
        &mut self,
        call: impl FnOnce(&mut BoxedListener<K, V, C>, &mut Self) -> Result<()>,
    ) -> Result<()> {
        let Some(mut listener) = self.listener.take() else {
            return Ok(());
        };
        self.in_listener = true;
        let r = call(&mut listener, self);
        self.in_listener = false;
        // A listener that subscribed again installed its own successor.
        if self.listener.is_none() {
            self.listener = Some(listener);
        }
        if let Err(e) = &r {
            tracing::warn!(error = %e, "rebalance listener failed");
        }
        r
    }

    /// Leaves the group (unsubscribe, close): the listener gets the
    /// revocation with the generation still valid, then LeaveGroup goes out.
    /// Waits for LeaveGroup up to `deadline`.
    pub(crate) fn leave_group(&mut self, reason: &str, deadline: Instant) -> Result<()> {
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        let events = m.prepare_leave();
        let r = self.handle_group_events(events);
        let now = (self.clock)();
        if let Some(m) = self.membership.as_mut() {
            let late = m.leave_group(unparked(&mut self.client), now, reason);
            if !late.is_empty() {
                // Nothing owned any more: only queued non-partition events.
                tracing::debug!(events = ?late, "events after leaving the group");
            }
        }
        if self
            .membership
            .as_ref()
            .is_some_and(|m| m.leave_in_flight())
        {
            let _ = self.drive(deadline, "LeaveGroup", |c, _| {
                (!c.membership.as_ref().is_some_and(|m| m.leave_in_flight())).then_some(Ok(()))
            });
        }
        r
    }

    /// Unsubscribes: revokes (listener), leaves the group and unassigns
    /// everything. Also undoes a manual assignment.
    pub fn unsubscribe(&mut self) -> Result<()> {
        // Commits made while leaving do not hand the client to the heartbeat
        // thread half-way (`call` parks only on return).
        self.call(|c| {
            let mut r = Ok(());
            if c.group_mode() {
                let deadline =
                    (c.clock)() + c.config.default_api_timeout.min(Duration::from_secs(5));
                r = c.leave_group(UNSUBSCRIBE_REASON, deadline);
            }
            c.subscribed_topics.clear();
            if c.pattern.take().is_some() {
                c.net().metadata_mut().set_all_topics(false);
            }
            c.listener = None;
            c.subscriptions.assign_from_user(Vec::new());
            c.fetcher
                .clear_buffered_data_for_unassigned(&c.subscriptions);
            c.pending_committed = None;
            c.coordinator.use_own_lookup();
            c.net().metadata_mut().set_topics(Vec::<String>::new());
            r
        })
    }

    /// Close's group part: commit (auto-commit), listener, LeaveGroup.
    pub(crate) fn close_group(&mut self, deadline: Instant) -> Result<()> {
        if !self.group_mode() {
            return Ok(());
        }
        let mut result = Ok(());
        if self.config.auto_commit_enabled() {
            let offsets = self.subscriptions.all_consumed();
            if !offsets.is_empty() && self.commit_generation().is_ok() {
                let remaining = deadline.saturating_duration_since((self.clock)());
                if let Err(e) = self.commit_sync_offsets_with_timeout(offsets, remaining) {
                    tracing::warn!(error = %e, "auto-commit on close failed");
                    result = Err(e);
                }
            }
        }
        let r = self.leave_group(CLOSE_REASON, deadline);
        self.subscriptions.assign_from_user(Vec::new());
        result.and(r)
    }
}
