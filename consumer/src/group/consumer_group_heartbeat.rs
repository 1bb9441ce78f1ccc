//! `ConsumerGroupMembership`: the KIP-848 consumer group protocol
//! (`group.protocol=consumer`) as a sans-IO state machine — Java's
//! `ConsumerMembershipManager` plus `ConsumerHeartbeatRequestManager`.
//!
//! One API does everything: ConsumerGroupHeartbeat joins (member epoch 0),
//! keeps the member alive, carries the subscription and, in its response,
//! the target assignment the broker computed. The member reconciles towards
//! that target — revokes what it must give up, takes what is new — and
//! acknowledges by reporting what it owns in its next heartbeat.
//!
//! It speaks the same seam as the classic [`GroupMembership`](crate::group::membership::GroupMembership):
//! `record_poll`, `poll` (returns [`GroupEvent`]s), `handle_event`,
//! `next_deadline`, `leave_group`. Its "generation" is the member epoch, which
//! is what OffsetCommit v9+ takes as `generation_id_or_member_epoch`.
//!
//! Invariants:
//! - A `poll` that returns `Revoke` or `Lost` sends no heartbeat; the
//!   acknowledgement goes out with the next `poll`, after the consumer ran
//!   the listener and committed.
//! - A target assignment is reconciled only when the metadata resolves all of
//!   its topic ids (a metadata update is requested until then).
//! - At most one heartbeat is in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId, TopicPartition, XorShiftRng};
use prozess_protocol::messages::consumer_group_heartbeat::request::TopicPartitions as RequestTopicPartitions;
use prozess_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};
use tracing::{debug, info, warn};

use crate::group::coordinator_lookup::{network_wait_until, CoordinatorLookup, LookupEvent};
use crate::group::membership::{
    Generation, GroupError, GroupEvent, MembershipConfig, POLL_TIMEOUT_LEAVE_REASON,
};

/// Member epoch that asks to join.
pub const JOIN_GROUP_MEMBER_EPOCH: i32 = 0;
/// Member epoch that leaves the group for good.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// Member epoch a static member leaves with (it may come back).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Where the member is in the KIP-848 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerMemberState {
    /// Not in the group.
    Unjoined,
    /// The epoch-0 heartbeat is out or about to be.
    Joining,
    /// Has an epoch; heartbeating and reconciling.
    Stable,
    /// Fenced (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID): partitions are lost,
    /// the member rejoins with epoch 0.
    Fenced,
}

/// A heartbeat in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    node: NodeId,
    correlation_id: i32,
    coordinator_epoch: u64,
    leaving: bool,
    /// The request acknowledged the owned partitions.
    carried_ack: bool,
}

/// The KIP-848 membership of one consumer.
pub struct ConsumerGroupMembership {
    config: MembershipConfig,
    server_assignor: Option<String>,
    lookup: CoordinatorLookup,
    coordinator_epoch: u64,
    member_id: String,
    member_epoch: i32,
    state: ConsumerMemberState,
    in_flight: Option<InFlight>,
    heartbeat_interval: Duration,
    next_heartbeat: Option<Instant>,
    backoff_until: Option<Instant>,
    network_wait_until: Option<Instant>,
    /// The next heartbeat carries every field (join, after errors).
    send_full: bool,
    sent_subscription: Option<Vec<String>>,
    subscription: Vec<String>,
    owned: BTreeSet<TopicPartition>,
    /// The latest target assignment not yet reconciled, by topic id.
    target: Option<BTreeMap<Uuid, Vec<i32>>>,
    /// The owned partitions by topic id, as acknowledged in heartbeats.
    owned_ids: BTreeMap<Uuid, Vec<i32>>,
    ack_needed: bool,
    /// An assignment was reconciled since the member (re)joined: the first
    /// one is reported even if empty (as Java calls onPartitionsAssigned).
    reconciled_once: bool,
    last_poll: Instant,
    poll_expired: bool,
    awaiting_user_poll: bool,
    pending_events: Vec<GroupEvent>,
    failed: Option<GroupError>,
    heartbeat_stats: crate::metrics::HeartbeatStats,
}

impl fmt::Debug for ConsumerGroupMembership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerGroupMembership")
            .field("group_id", &self.config.group_id)
            .field("member_id", &self.member_id)
            .field("member_epoch", &self.member_epoch)
            .field("state", &self.state)
            .field("owned", &self.owned.len())
            .finish()
    }
}

/// A member id the way Java makes one (KIP-1082: the client picks it): 16
/// random bytes in URL-safe base64 without padding.
fn random_member_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = XorShiftRng::from_time();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

impl ConsumerGroupMembership {
    /// A member of `config.group_id` (the session and heartbeat timings are
    /// the broker's in this protocol; `max_poll_interval` is the rebalance
    /// timeout). `server_assignor` is `group.remote.assignor` (None: the
    /// broker's default).
    pub fn new(config: MembershipConfig, server_assignor: Option<String>, now: Instant) -> Self {
        let lookup = CoordinatorLookup::new(config.group_id.clone(), config.retry_backoff);
        ConsumerGroupMembership {
            heartbeat_stats: crate::metrics::HeartbeatStats::new(now),
            heartbeat_interval: config.heartbeat_interval,
            config,
            server_assignor,
            lookup,
            coordinator_epoch: 0,
            member_id: random_member_id(),
            member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            state: ConsumerMemberState::Unjoined,
            in_flight: None,
            next_heartbeat: None,
            backoff_until: None,
            network_wait_until: None,
            send_full: true,
            sent_subscription: None,
            subscription: Vec::new(),
            owned: BTreeSet::new(),
            target: None,
            owned_ids: BTreeMap::new(),
            ack_needed: false,
            reconciled_once: false,
            last_poll: now,
            poll_expired: false,
            awaiting_user_poll: false,
            pending_events: Vec::new(),
            failed: None,
        }
    }

    /// The member id (chosen by the client).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The member epoch (0: joining or out of the group).
    pub fn member_epoch(&self) -> i32 {
        self.member_epoch
    }

    /// Member id and epoch, for OffsetCommit (`generation_id_or_member_epoch`).
    pub fn generation(&self) -> Generation {
        Generation {
            generation_id: self.member_epoch,
            member_id: self.member_id.clone(),
        }
    }

    /// The state.
    pub fn state(&self) -> ConsumerMemberState {
        self.state
    }

    /// Stable with nothing left to reconcile or acknowledge.
    pub fn is_stable(&self) -> bool {
        self.state == ConsumerMemberState::Stable && self.target.is_none() && !self.ack_needed
    }

    /// The coordinator, if known.
    pub fn coordinator(&self) -> Option<NodeId> {
        self.lookup.coordinator()
    }

    /// The partitions this member owns.
    pub fn owned_partitions(&self) -> Vec<TopicPartition> {
        self.owned.iter().cloned().collect()
    }

    /// The fatal error the membership stopped on, if any.
    pub fn failure(&self) -> Option<&GroupError> {
        self.failed.as_ref()
    }

    /// Records a consumer poll (the `max.poll.interval.ms` timer).
    pub fn record_poll(&mut self, now: Instant) {
        if self.in_group() && now >= self.last_poll + self.config.max_poll_interval {
            self.poll_expired = true;
        }
        self.awaiting_user_poll = false;
        self.last_poll = now;
    }

    /// Forgets the coordinator; it is looked up again by the next poll.
    pub fn mark_coordinator_unknown(&mut self, reason: &str) {
        if let Some(node) = self.lookup.mark_unknown() {
            info!(group = %self.config.group_id, node, reason, "group coordinator marked unknown; will rediscover");
            self.coordinator_epoch += 1;
            self.in_flight = None;
            self.send_full = true;
        }
    }

    /// Leaves the group (close, unsubscribe): returns the revocation (or loss)
    /// of what is owned and sends a leaving heartbeat (epoch -1, or -2 for a
    /// static member). Commit before calling this.
    pub fn leave_group<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
        reason: &str,
    ) -> Vec<GroupEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        if !self.owned.is_empty() {
            let owned = self.owned_partitions();
            if self.state == ConsumerMemberState::Fenced {
                events.push(GroupEvent::Lost(owned));
            } else {
                events.push(GroupEvent::Revoke(owned));
            }
        }
        self.leave(client, now, reason);
        events
    }

    fn in_group(&self) -> bool {
        self.member_epoch > 0
    }

    fn leave<C: KafkaClient>(&mut self, client: &mut C, now: Instant, reason: &str) {
        if self.in_group() || self.state == ConsumerMemberState::Joining {
            let epoch = if self.config.group_instance_id.is_some() {
                LEAVE_GROUP_STATIC_MEMBER_EPOCH
            } else {
                LEAVE_GROUP_MEMBER_EPOCH
            };
            match self.lookup.coordinator() {
                Some(node) if client.ready(node, now) => {
                    let request = ConsumerGroupHeartbeatRequest {
                        group_id: self.config.group_id.clone(),
                        member_id: self.member_id.clone(),
                        member_epoch: epoch,
                        instance_id: self.config.group_instance_id.clone(),
                        ..Default::default()
                    };
                    match client.send(node, RequestBody::ConsumerGroupHeartbeat(request), now) {
                        Ok(corr) => {
                            info!(group = %self.config.group_id, member_id = %self.member_id, epoch, reason, "member leaving the group");
                            self.in_flight = Some(InFlight {
                                node,
                                correlation_id: corr,
                                coordinator_epoch: self.coordinator_epoch,
                                leaving: true,
                                carried_ack: false,
                            });
                        }
                        Err(e) => {
                            warn!(group = %self.config.group_id, error = %e, "leave heartbeat could not be sent")
                        }
                    }
                }
                _ => {
                    debug!(group = %self.config.group_id, "coordinator not ready: leaving without a heartbeat")
                }
            }
        }
        self.owned.clear();
        self.owned_ids.clear();
        self.target = None;
        self.ack_needed = false;
        self.reconciled_once = false;
        self.member_epoch = JOIN_GROUP_MEMBER_EPOCH;
        self.state = ConsumerMemberState::Unjoined;
        self.send_full = true;
        self.sent_subscription = None;
        self.next_heartbeat = None;
    }

    /// The first half of [`Self::leave_group`]: queued events and the
    /// revocation (or loss) of what is owned, with the epoch still valid, so
    /// the consumer can run the listener and commit first.
    pub fn prepare_leave(&mut self) -> Vec<GroupEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        if !self.owned.is_empty() {
            let owned = self.owned_partitions();
            self.owned.clear();
            if self.state == ConsumerMemberState::Fenced {
                events.push(GroupEvent::Lost(owned));
            } else {
                events.push(GroupEvent::Revoke(owned));
            }
        }
        events
    }

    /// Whether the leaving heartbeat is still in flight.
    pub fn leave_in_flight(&self) -> bool {
        self.in_flight.is_some_and(|f| f.leaving)
    }

    /// Looks the coordinator up if unknown (commits share it).
    pub fn find_coordinator<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
    ) -> Option<NodeId> {
        if self.lookup.coordinator_unavailable(client, now) {
            self.mark_coordinator_unknown("coordinator unavailable (connection failed)");
        }
        self.lookup.ensure(client, now)
    }

    /// The member id and epoch if the member is in the group and stable
    /// (what commits are made under).
    pub fn generation_if_stable(&self) -> Option<Generation> {
        (self.in_group() && self.state == ConsumerMemberState::Stable).then(|| self.generation())
    }

    /// The member's heartbeats (ConsumerGroupHeartbeat), for metrics.
    pub fn heartbeat_stats(&self) -> &crate::metrics::HeartbeatStats {
        &self.heartbeat_stats
    }

    /// Joining (or rejoining after a fence): commits wait.
    pub fn rebalance_in_progress(&self) -> bool {
        matches!(
            self.state,
            ConsumerMemberState::Joining | ConsumerMemberState::Fenced
        )
    }

    /// An OffsetCommit sent under `sent_under` failed with `code`:
    /// UNKNOWN_MEMBER_ID / FENCED_MEMBER_EPOCH fence the member (as a
    /// heartbeat answer would); others wait for the next heartbeat.
    pub fn on_commit_error(&mut self, code: ErrorCode, sent_under: &Generation) {
        if *sent_under != self.generation() {
            return;
        }
        if matches!(
            code,
            ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch
        ) {
            self.fence(code);
        }
    }

    /// The heartbeat thread's work between consumer polls: notices
    /// `max.poll.interval.ms` expiring (reports the partitions lost at the
    /// next poll and leaves), rediscovers the coordinator and sends due
    /// heartbeats. Reconciliation waits for the consumer's poll.
    pub fn poll_background<C: KafkaClient>(&mut self, client: &mut C, now: Instant) {
        if self.failed.is_some() || !self.in_group() || self.awaiting_user_poll {
            return;
        }
        if now >= self.last_poll + self.config.max_poll_interval {
            warn!(group = %self.config.group_id, "consumer poll timeout has expired: the time between polls exceeded max.poll.interval.ms; leaving the group");
            if !self.owned.is_empty() {
                self.pending_events
                    .push(GroupEvent::Lost(self.owned_partitions()));
            }
            self.leave(client, now, POLL_TIMEOUT_LEAVE_REASON);
            self.awaiting_user_poll = true;
            return;
        }
        if !self.pending_events.is_empty() {
            return;
        }
        let Some(node) = self.find_coordinator(client, now) else {
            return;
        };
        self.maybe_heartbeat(client, node, now);
    }

    /// The node whose connection the membership waits for (the coordinator,
    /// or the node of the coordinator lookup).
    pub fn awaited_node(&self) -> Option<NodeId> {
        self.lookup.awaited_node()
    }

    /// When [`Self::poll_background`] has work next.
    pub fn next_background_deadline(&self, now: Instant) -> Option<Instant> {
        if self.failed.is_some() || !self.in_group() || self.awaiting_user_poll {
            return None;
        }
        let poll_deadline = self.last_poll + self.config.max_poll_interval;
        let heartbeat = if self.in_flight.is_some() {
            None
        } else {
            Some(
                self.next_heartbeat
                    .unwrap_or(now)
                    .max(self.backoff_until.unwrap_or(now)),
            )
        };
        Some(heartbeat.map_or(poll_deadline, |h| h.min(poll_deadline)))
    }

    /// Drives the membership; see the module docs. Partition names are
    /// resolved from topic ids through `client.metadata()`.
    pub fn poll<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
        subscribed_topics: &[String],
    ) -> Vec<GroupEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        if self.failed.is_none() {
            self.poll_inner(client, now, subscribed_topics, &mut events);
        }
        events.append(&mut self.pending_events);
        events
    }

    fn poll_inner<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
        subscribed_topics: &[String],
        events: &mut Vec<GroupEvent>,
    ) {
        let mut subscription = subscribed_topics.to_vec();
        subscription.sort();
        subscription.dedup();
        self.subscription = subscription;

        let expired_in_background =
            self.in_group() && now >= self.last_poll + self.config.max_poll_interval;
        if std::mem::take(&mut self.poll_expired) || expired_in_background {
            warn!(group = %self.config.group_id, "consumer poll timeout has expired: the time between polls exceeded max.poll.interval.ms; leaving the group");
            if !self.owned.is_empty() {
                events.push(GroupEvent::Lost(self.owned_partitions()));
            }
            self.leave(client, now, POLL_TIMEOUT_LEAVE_REASON);
            self.awaiting_user_poll = expired_in_background;
        }
        if self.state == ConsumerMemberState::Fenced {
            // The loss was reported when the fence was seen; join again.
            self.state = ConsumerMemberState::Unjoined;
        }
        if events
            .iter()
            .any(|e| matches!(e, GroupEvent::Revoke(_) | GroupEvent::Lost(_)))
        {
            return;
        }
        if self.awaiting_user_poll
            || (self.subscription.is_empty() && self.state == ConsumerMemberState::Unjoined)
        {
            return;
        }
        if self.lookup.coordinator_unavailable(client, now) {
            self.mark_coordinator_unknown("coordinator unavailable (connection failed)");
        }
        let Some(node) = self.lookup.ensure(client, now) else {
            return;
        };

        let reconciled = self.reconcile(client);
        let revoked = reconciled
            .iter()
            .any(|e| matches!(e, GroupEvent::Revoke(_)));
        events.extend(reconciled);
        if revoked {
            return;
        }
        self.maybe_heartbeat(client, node, now);
    }

    /// Moves the owned partitions to the target assignment, if its topics
    /// resolve: revocations first, then additions.
    fn reconcile<C: KafkaClient>(&mut self, client: &mut C) -> Vec<GroupEvent> {
        let Some(target) = &self.target else {
            return Vec::new();
        };
        let mut assigned = BTreeSet::new();
        for (id, partitions) in target {
            let Some(name) = client.metadata().topic_name(*id) else {
                debug!(group = %self.config.group_id, topic_id = ?id, "assigned topic id not in the metadata yet; waiting for an update");
                client.metadata_mut().request_update();
                return Vec::new();
            };
            for p in partitions {
                assigned.insert(TopicPartition::new(name, *p));
            }
        }
        let target = self.target.take().unwrap_or_default();
        let mut events = Vec::new();
        let revoked: Vec<TopicPartition> = self.owned.difference(&assigned).cloned().collect();
        let added: Vec<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        if revoked.is_empty() && added.is_empty() && self.reconciled_once {
            self.owned_ids = target;
            return events;
        }
        self.reconciled_once = true;
        if !revoked.is_empty() {
            info!(group = %self.config.group_id, partitions = ?revoked, "revoking partitions the new target assignment moved away");
            events.push(GroupEvent::Revoke(revoked));
        }
        info!(group = %self.config.group_id, epoch = self.member_epoch, added = ?added, "reconciled the target assignment");
        self.owned = assigned;
        self.owned_ids = target;
        events.push(GroupEvent::Assigned {
            added,
            assignment: self.owned_partitions(),
            generation: self.generation(),
        });
        self.ack_needed = true;
        events
    }

    fn maybe_heartbeat<C: KafkaClient>(&mut self, client: &mut C, node: NodeId, now: Instant) {
        if self.in_flight.is_some() || self.backoff_until.is_some_and(|t| now < t) {
            return;
        }
        let subscription_changed = self.sent_subscription.as_ref() != Some(&self.subscription);
        let due = self.state != ConsumerMemberState::Stable
            || self.ack_needed
            || subscription_changed
            || self.send_full
            || self.next_heartbeat.is_none_or(|t| now >= t);
        if !due {
            return;
        }
        if !client.ready(node, now) {
            self.network_wait_until = Some(network_wait_until(
                client.connection_delay(node, now),
                self.config.retry_backoff,
                now,
            ));
            return;
        }
        if client
            .api_version(node, ApiKey::ConsumerGroupHeartbeat)
            .is_none()
        {
            self.fail(GroupError::UnsupportedVersion(
                "group.protocol=consumer needs ConsumerGroupHeartbeat (KIP-848), which the group \
                 coordinator does not support: use group.protocol=classic"
                    .into(),
            ));
            return;
        }
        let full = self.send_full || self.state != ConsumerMemberState::Stable;
        let carry_ack = full || self.ack_needed;
        let request = ConsumerGroupHeartbeatRequest {
            group_id: self.config.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.member_epoch,
            instance_id: self.config.group_instance_id.clone(),
            rack_id: if full {
                self.config.rack_id.clone()
            } else {
                None
            },
            rebalance_timeout_ms: if full {
                self.config
                    .max_poll_interval
                    .as_millis()
                    .min(i32::MAX as u128) as i32
            } else {
                -1
            },
            subscribed_topic_names: (full || subscription_changed)
                .then(|| self.subscription.clone()),
            server_assignor: if full {
                self.server_assignor.clone()
            } else {
                None
            },
            topic_partitions: carry_ack.then(|| {
                self.owned_ids
                    .iter()
                    .map(|(id, partitions)| RequestTopicPartitions {
                        topic_id: *id,
                        partitions: partitions.clone(),
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        };
        match client.send(node, RequestBody::ConsumerGroupHeartbeat(request), now) {
            Ok(corr) => {
                debug!(group = %self.config.group_id, epoch = self.member_epoch, full, ack = carry_ack, "sending ConsumerGroupHeartbeat");
                self.heartbeat_stats.sent(now);
                if self.state == ConsumerMemberState::Unjoined {
                    info!(group = %self.config.group_id, member_id = %self.member_id, "joining the group (consumer protocol)");
                    self.state = ConsumerMemberState::Joining;
                }
                self.in_flight = Some(InFlight {
                    node,
                    correlation_id: corr,
                    coordinator_epoch: self.coordinator_epoch,
                    leaving: false,
                    carried_ack: carry_ack,
                });
                self.sent_subscription = Some(self.subscription.clone());
                self.send_full = false;
                self.network_wait_until = None;
            }
            Err(e) => {
                debug!(group = %self.config.group_id, error = %e, "ConsumerGroupHeartbeat could not be sent");
                self.backoff_until = Some(now + self.config.retry_backoff);
            }
        }
    }

    /// Handles a network event if it is this membership's; true if it was.
    /// Offer `Disconnected` events whatever other components said.
    pub fn handle_event(&mut self, event: &ClientEvent, now: Instant) -> bool {
        let lookup_claimed = match self.lookup.handle_event(event, now) {
            LookupEvent::NotOurs => false,
            LookupEvent::Found(_) => {
                self.network_wait_until = None;
                true
            }
            LookupEvent::Retrying => true,
            LookupEvent::Fatal(code) => {
                self.fail(GroupError::Coordinator {
                    api: ApiKey::FindCoordinator,
                    code,
                });
                true
            }
        };
        if lookup_claimed && !matches!(event, ClientEvent::Disconnected { .. }) {
            return true;
        }
        let Some(req) = self.in_flight else {
            if let ClientEvent::Disconnected { node, .. } = event {
                if self.lookup.coordinator() == Some(*node) {
                    self.mark_coordinator_unknown("coordinator disconnected");
                }
            }
            return lookup_claimed;
        };
        let current = req.coordinator_epoch == self.coordinator_epoch;
        match event {
            ClientEvent::Response(r)
                if r.node == req.node && r.correlation_id == req.correlation_id =>
            {
                self.in_flight = None;
                match &r.body {
                    ResponseBody::ConsumerGroupHeartbeat(resp) if current && !req.leaving => {
                        self.handle_response(resp, req, now)
                    }
                    ResponseBody::ConsumerGroupHeartbeat(resp) => {
                        debug!(group = %self.config.group_id, code = resp.error_code, leaving = req.leaving, "heartbeat response not acted on");
                    }
                    _ => self.request_failed("unexpected response type", now),
                }
                true
            }
            ClientEvent::Disconnected {
                node, in_flight, ..
            } => {
                let ours = *node == req.node
                    && in_flight
                        .iter()
                        .any(|i| i.correlation_id == req.correlation_id);
                if ours {
                    self.in_flight = None;
                    if current && !req.leaving {
                        self.request_failed("disconnected", now);
                    }
                }
                if self.lookup.coordinator() == Some(*node) {
                    self.mark_coordinator_unknown("coordinator disconnected");
                }
                ours || lookup_claimed
            }
            ClientEvent::Timeout {
                node,
                correlation_id,
                ..
            } if *node == req.node && *correlation_id == req.correlation_id => {
                self.in_flight = None;
                if current && !req.leaving {
                    self.request_failed("request timed out", now);
                }
                true
            }
            _ => lookup_claimed,
        }
    }

    fn request_failed(&mut self, why: &str, now: Instant) {
        warn!(group = %self.config.group_id, why, "ConsumerGroupHeartbeat failed; retrying after coordinator rediscovery");
        self.send_full = true;
        self.backoff_until = Some(now + self.config.retry_backoff);
        self.mark_coordinator_unknown(why);
    }

    fn handle_response(
        &mut self,
        resp: &ConsumerGroupHeartbeatResponse,
        req: InFlight,
        now: Instant,
    ) {
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => {
                self.heartbeat_stats.received(now);
                if let Some(id) = &resp.member_id {
                    if !id.is_empty() && *id != self.member_id {
                        debug!(group = %self.config.group_id, member_id = %id, "the coordinator assigned a member id");
                        self.member_id = id.clone();
                    }
                }
                if self.member_epoch != resp.member_epoch {
                    info!(group = %self.config.group_id, epoch = resp.member_epoch, "member epoch changed");
                }
                self.member_epoch = resp.member_epoch;
                self.state = ConsumerMemberState::Stable;
                if resp.heartbeat_interval_ms > 0 {
                    self.heartbeat_interval =
                        Duration::from_millis(resp.heartbeat_interval_ms as u64);
                }
                self.next_heartbeat = Some(now + self.heartbeat_interval);
                self.backoff_until = None;
                if req.carried_ack && self.target.is_none() {
                    self.ack_needed = false;
                }
                if let Some(a) = &resp.assignment {
                    let target: BTreeMap<Uuid, Vec<i32>> = a
                        .topic_partitions
                        .iter()
                        .map(|t| {
                            let mut p = t.partitions.clone();
                            p.sort_unstable();
                            (t.topic_id, p)
                        })
                        .collect();
                    debug!(group = %self.config.group_id, topics = target.len(), "new target assignment");
                    self.target = Some(target);
                }
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.send_full = true;
                self.mark_coordinator_unknown(code.name());
            }
            ErrorCode::CoordinatorLoadInProgress => {
                warn!(group = %self.config.group_id, %code, "heartbeat failed; retrying after backoff");
                self.backoff_until = Some(now + self.config.retry_backoff);
            }
            ErrorCode::FencedMemberEpoch | ErrorCode::UnknownMemberId => self.fence(code),
            code => {
                if let Some(m) = &resp.error_message {
                    warn!(group = %self.config.group_id, %code, message = %m, "ConsumerGroupHeartbeat failed");
                }
                self.fail(GroupError::Coordinator {
                    api: ApiKey::ConsumerGroupHeartbeat,
                    code,
                });
            }
        }
    }

    /// FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID: what is owned is lost and
    /// the member rejoins with epoch 0.
    fn fence(&mut self, code: ErrorCode) {
        warn!(group = %self.config.group_id, %code, epoch = self.member_epoch, "member fenced; its partitions are lost and it rejoins");
        if !self.owned.is_empty() {
            self.pending_events
                .push(GroupEvent::Lost(self.owned_partitions()));
        }
        self.owned.clear();
        self.owned_ids.clear();
        self.target = None;
        self.ack_needed = false;
        self.reconciled_once = false;
        self.member_epoch = JOIN_GROUP_MEMBER_EPOCH;
        self.state = ConsumerMemberState::Fenced;
        self.send_full = true;
    }

    fn fail(&mut self, error: GroupError) {
        warn!(group = %self.config.group_id, %error, "fatal group membership error");
        self.state = ConsumerMemberState::Unjoined;
        self.pending_events.push(GroupEvent::Fatal(error.clone()));
        self.failed = Some(error);
    }

    /// The latest time [`Self::poll`] must run again.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.pending_events.is_empty() || self.poll_expired {
            return Some(now);
        }
        if self.failed.is_some() || self.awaiting_user_poll {
            return None;
        }
        if self.subscription.is_empty() && self.state == ConsumerMemberState::Unjoined {
            return None;
        }
        let poll_deadline = self
            .in_group()
            .then(|| self.last_poll + self.config.max_poll_interval);
        if self.lookup.coordinator().is_none() {
            return [self.lookup.next_deadline(now), poll_deadline]
                .into_iter()
                .flatten()
                .min();
        }
        let heartbeat = if self.in_flight.is_some() {
            None
        } else {
            // A target waiting for metadata is not urgent: the metadata
            // update arrives through the network poll.
            let urgent = self.state != ConsumerMemberState::Stable
                || self.ack_needed
                || self.send_full
                || self.sent_subscription.as_ref() != Some(&self.subscription);
            let t = if urgent {
                now
            } else {
                self.next_heartbeat.unwrap_or(now)
            };
            let t = t.max(self.backoff_until.unwrap_or(now));
            Some(self.network_wait_until.map_or(t, |w| w.max(t)))
        };
        [heartbeat, poll_deadline].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests;
