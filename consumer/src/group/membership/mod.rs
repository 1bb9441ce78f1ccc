//! `GroupMembership`: the classic consumer-group membership state machine
//! (Java's `AbstractCoordinator` plus the group part of `ConsumerCoordinator`),
//! sans-IO.
//!
//! It finds the group coordinator (FindCoordinator), joins the group
//! (JoinGroup), runs the assignor when it is the leader and distributes or
//! receives the assignment (SyncGroup), keeps the membership alive
//! (Heartbeat), leaves (LeaveGroup) and tells the consumer what to do with its
//! partitions. It never reads the clock (every call takes `now`) and never
//! calls into user code: the consumer drives it and acts on the returned
//! [`GroupEvent`]s (rebalance listener, `SubscriptionState`, commits).
//!
//! # Driving it
//! - [`GroupMembership::record_poll`] at the start of every consumer `poll`
//!   (the KIP-62 liveness timer);
//! - [`GroupMembership::poll`] from the consumer's poll loop (and from a
//!   heartbeat driver between polls, if the consumer has one): sends what is
//!   due and returns events;
//! - [`GroupMembership::handle_event`] for every [`ClientEvent`] the network
//!   client returns (true if it was this machine's);
//! - [`GroupMembership::next_deadline`] to know how long the network poll may
//!   sleep.
//!
//! # Invariants
//! - A `poll` that returns [`GroupEvent::Revoke`], [`GroupEvent::Lost`] or
//!   [`GroupEvent::PrepareJoin`] sends no JoinGroup: the consumer runs the
//!   listener (and commits, with the generation still valid) before its next
//!   `poll`, which joins. With auto-commit, every rejoin of a member that
//!   owns partitions is preceded by a commit (Java's `onJoinPrepare`): by
//!   `Revoke` if something is revoked, else by `PrepareJoin`.
//! - Events queued by `handle_event` come out of the next `poll` (and
//!   `next_deadline` is then `now`), in the order they happened.
//! - Eager protocol: everything owned is revoked before JoinGroup.
//!   Cooperative (KIP-429): only partitions of topics no longer subscribed are
//!   revoked before JoinGroup; after SyncGroup the partitions not in the new
//!   assignment are revoked and a follow-up rebalance is requested.
//! - A member whose generation was reset (fenced, expired, left after the
//!   poll timeout) reports its partitions as lost, not revoked: they may
//!   already belong to someone else, so they must not be committed.
//! - Responses to requests sent to a coordinator that has since been marked
//!   unknown are consumed and ignored.

mod heartbeat;
mod leader;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, ClientRequest, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::join_group::request::JoinGroupRequestProtocol;
use prozess_protocol::messages::join_group::response::JoinGroupResponseMember;
use prozess_protocol::messages::leave_group::request::MemberIdentity;
use prozess_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tracing::{debug, info, warn};

use crate::group::assignor::{ConsumerPartitionAssignor, PartitionsPerTopic, RebalanceProtocol};
use crate::group::consumer_protocol::{
    Assignment, Subscription, CONSUMER_PROTOCOL_TYPE, CONSUMER_PROTOCOL_VERSION,
};
use crate::group::coordinator_lookup::{network_wait_until, CoordinatorLookup, LookupEvent};
use heartbeat::Heartbeat;
pub use leader::partitions_per_topic;
pub use types::{Generation, GroupError, GroupEvent, MemberState, MembershipConfig};

/// The Java client's margin on top of the rebalance timeout for the JoinGroup
/// request timeout: the broker may hold the request for the whole rebalance.
pub const JOIN_GROUP_TIMEOUT_LAPSE: Duration = Duration::from_secs(5);

/// Reason sent in LeaveGroup when `max.poll.interval.ms` expired (as Java).
pub const POLL_TIMEOUT_LEAVE_REASON: &str = "consumer poll timeout has expired";

#[derive(Debug, Clone)]
enum Pending {
    Join,
    Sync { generation: Generation },
    Heartbeat { generation: Generation },
    Leave,
}

#[derive(Debug, Clone)]
struct InFlight {
    kind: Pending,
    /// The coordinator epoch it was sent under; answers from an older one
    /// are ignored.
    epoch: u64,
}

/// A successful JoinGroup whose SyncGroup has yet to be sent.
#[derive(Debug, Clone)]
struct JoinedGroup {
    is_leader: bool,
    protocol_name: String,
    members: Vec<JoinGroupResponseMember>,
    skip_assignment: bool,
}

/// The classic group membership of one consumer.
pub struct GroupMembership {
    config: MembershipConfig,
    assignors: Vec<Box<dyn ConsumerPartitionAssignor>>,
    protocol: RebalanceProtocol,
    state: MemberState,
    generation: Generation,
    protocol_name: Option<String>,
    is_leader: bool,
    lookup: CoordinatorLookup,
    coordinator_epoch: u64,
    in_flight: HashMap<(NodeId, i32), InFlight>,
    heartbeat: Heartbeat,
    rejoin_needed: bool,
    rejoin_reason: String,
    needs_join_prepare: bool,
    join_backoff_until: Option<Instant>,
    /// When poll last found the coordinator (or lookup node) not ready.
    network_wait_until: Option<Instant>,
    owned: BTreeSet<TopicPartition>,
    subscription: Vec<String>,
    joined_subscription: Vec<String>,
    group_subscription: BTreeSet<String>,
    /// Leader only: partition counts the last assignment was computed with.
    assignment_snapshot: Option<PartitionsPerTopic>,
    pending_sync: Option<JoinedGroup>,
    /// `record_poll` found `max.poll.interval.ms` expired.
    poll_expired: bool,
    /// Left after a poll timeout noticed outside a consumer poll: rejoin
    /// only once the application polls again.
    awaiting_user_poll: bool,
    pending_events: Vec<GroupEvent>,
    failed: Option<GroupError>,
}

impl fmt::Debug for GroupMembership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupMembership")
            .field("group_id", &self.config.group_id)
            .field("state", &self.state)
            .field("generation", &self.generation)
            .field("coordinator", &self.lookup.coordinator())
            .field("protocol", &self.protocol)
            .field("owned", &self.owned.len())
            .finish()
    }
}

/// The rebalance protocol Java picks: the newest one every assignor supports.
fn common_protocol(assignors: &[Box<dyn ConsumerPartitionAssignor>]) -> RebalanceProtocol {
    if !assignors.is_empty()
        && assignors.iter().all(|a| {
            a.supported_protocols()
                .contains(&RebalanceProtocol::Cooperative)
        })
    {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

fn sorted_vec(set: &BTreeSet<TopicPartition>) -> Vec<TopicPartition> {
    set.iter().cloned().collect()
}

impl GroupMembership {
    /// A member of `config.group_id` using `assignors` (in preference order,
    /// as `partition.assignment.strategy`). Fails if `assignors` is empty.
    pub fn new(
        config: MembershipConfig,
        assignors: Vec<Box<dyn ConsumerPartitionAssignor>>,
        now: Instant,
    ) -> Result<Self, GroupError> {
        if assignors.is_empty() {
            return Err(GroupError::InvalidGroupData(
                "partition.assignment.strategy names no assignor".into(),
            ));
        }
        let protocol = common_protocol(&assignors);
        let heartbeat = Heartbeat::new(
            config.session_timeout,
            config.heartbeat_interval,
            config.max_poll_interval,
            config.retry_backoff,
            now,
        );
        let lookup = CoordinatorLookup::new(config.group_id.clone(), config.retry_backoff);
        Ok(GroupMembership {
            config,
            assignors,
            protocol,
            state: MemberState::Unjoined,
            generation: Generation::none(),
            protocol_name: None,
            is_leader: false,
            lookup,
            coordinator_epoch: 0,
            in_flight: HashMap::new(),
            heartbeat,
            rejoin_needed: true,
            rejoin_reason: "initial join".to_string(),
            needs_join_prepare: true,
            join_backoff_until: None,
            network_wait_until: None,
            owned: BTreeSet::new(),
            subscription: Vec::new(),
            joined_subscription: Vec::new(),
            group_subscription: BTreeSet::new(),
            assignment_snapshot: None,
            pending_sync: None,
            poll_expired: false,
            awaiting_user_poll: false,
            pending_events: Vec::new(),
            failed: None,
        })
    }

    // ----- accessors -----

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    /// The rebalance protocol in use (cooperative only if every assignor supports it).
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// The member state.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The current generation and member id (generation -1 when not in a
    /// generation). Commits of group-assigned partitions should use
    /// [`Self::generation_if_stable`].
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The generation if the member is stable (Java's `generationIfStable`):
    /// `None` during a rebalance or outside the group.
    pub fn generation_if_stable(&self) -> Option<&Generation> {
        (self.state == MemberState::Stable).then_some(&self.generation)
    }

    /// Stable: in a generation, with its assignment, no rebalance under way.
    pub fn is_stable(&self) -> bool {
        self.state == MemberState::Stable && !self.rejoin_needed
    }

    /// The member's heartbeats, for metrics.
    pub fn heartbeat_stats(&self) -> &crate::metrics::HeartbeatStats {
        &self.heartbeat.stats
    }

    /// Whether a rebalance is under way or due (commits then fail with
    /// REBALANCE_IN_PROGRESS, as in Java).
    pub fn rebalance_in_progress(&self) -> bool {
        matches!(
            self.state,
            MemberState::PreparingRebalance | MemberState::CompletingRebalance
        )
    }

    /// Whether this member is the group leader of the current generation.
    pub fn is_leader(&self) -> bool {
        self.is_leader && self.state != MemberState::Unjoined
    }

    /// The group coordinator, if known.
    pub fn coordinator(&self) -> Option<NodeId> {
        self.lookup.coordinator()
    }

    /// The partitions this member owns (as far as the group is concerned).
    pub fn owned_partitions(&self) -> Vec<TopicPartition> {
        sorted_vec(&self.owned)
    }

    /// Leader only: every topic some member subscribes to. The consumer
    /// should keep these in the metadata's topics of interest (the leader
    /// needs their partition counts).
    pub fn group_subscription(&self) -> &BTreeSet<String> {
        &self.group_subscription
    }

    /// The fatal error the membership stopped on, if any.
    pub fn failure(&self) -> Option<&GroupError> {
        self.failed.as_ref()
    }

    /// Whether a LeaveGroup is still in flight (close may wait for it).
    pub fn leave_in_flight(&self) -> bool {
        self.in_flight
            .values()
            .any(|f| matches!(f.kind, Pending::Leave))
    }

    // ----- requests from the consumer -----

    /// Records a consumer poll (KIP-62). Call at the start of every
    /// `KafkaConsumer::poll`, before [`Self::poll`].
    pub fn record_poll(&mut self, now: Instant) {
        if self.heartbeating() && self.heartbeat.poll_timeout_expired(now) {
            self.poll_expired = true;
        }
        self.awaiting_user_poll = false;
        self.heartbeat.poll(now);
    }

    /// Asks for a rebalance (Java's `enforceRebalance`/`requestRejoin`). After
    /// a fatal error this also lets the member try to join again.
    pub fn request_rejoin(&mut self, reason: &str) {
        if let Some(e) = self.failed.take() {
            info!(group = %self.config.group_id, error = %e, "rejoin requested after a fatal group error");
            self.needs_join_prepare = true;
        }
        if !self.rejoin_needed {
            info!(group = %self.config.group_id, reason, "request joining group");
        }
        self.rejoin_needed = true;
        self.rejoin_reason = reason.to_string();
    }

    /// Forgets the coordinator (disconnect, NOT_COORDINATOR, a timeout); it is
    /// looked up again by the next poll. A join or sync under way is retried.
    pub fn mark_coordinator_unknown(&mut self, reason: &str) {
        if let Some(node) = self.lookup.mark_unknown() {
            info!(group = %self.config.group_id, node, reason, "group coordinator marked unknown; will rediscover");
            self.coordinator_epoch += 1;
            self.heartbeat.in_flight = false;
            if matches!(
                self.state,
                MemberState::PreparingRebalance | MemberState::CompletingRebalance
            ) {
                self.state = MemberState::Unjoined;
                self.pending_sync = None;
                self.rejoin_needed = true;
                self.rejoin_reason = format!("coordinator lost during rebalance ({reason})");
            }
        }
    }

    /// Leaves the group (close, unsubscribe): returns the revocation (or loss)
    /// of everything owned for the consumer to run, and sends LeaveGroup
    /// unless the member is static (static members keep their place until
    /// `session.timeout.ms`, as in Java). Commit offsets *before* calling this:
    /// after it the member no longer has a generation.
    pub fn leave_group<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
        reason: &str,
    ) -> Vec<GroupEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        if !self.owned.is_empty() {
            let owned = sorted_vec(&self.owned);
            self.owned.clear();
            if self.generation.is_reset() {
                events.push(GroupEvent::Lost(owned));
            } else {
                events.push(GroupEvent::Revoke(owned));
            }
        }
        self.maybe_leave_group(client, now, reason);
        events
    }

    /// The first half of [`Self::leave_group`] (Java's `onLeavePrepare`):
    /// returns queued events and the revocation (or loss) of everything
    /// owned, with the generation still valid, so the consumer can run the
    /// listener and commit before [`Self::leave_group`] sends LeaveGroup.
    pub fn prepare_leave(&mut self) -> Vec<GroupEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        if !self.owned.is_empty() {
            let owned = sorted_vec(&self.owned);
            self.owned.clear();
            if self.generation.is_reset() {
                events.push(GroupEvent::Lost(owned));
            } else {
                events.push(GroupEvent::Revoke(owned));
            }
        }
        events
    }

    /// Looks the coordinator up if it is unknown (without joining or
    /// heartbeating): offset commits and look-ups share the membership's
    /// coordinator. Returns it once known.
    pub fn find_coordinator<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
    ) -> Option<NodeId> {
        if self.failed.is_some() {
            return self.lookup.coordinator();
        }
        self.ensure_coordinator(client, now)
    }

    /// An OffsetCommit sent under `sent_under` failed with `code`: the group
    /// errors among them change the membership as in Java's
    /// `ConsumerCoordinator` (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID reset
    /// the generation, REBALANCE_IN_PROGRESS asks for a rejoin). Errors of a
    /// generation that is no longer current are ignored.
    pub fn on_commit_error(&mut self, code: ErrorCode, sent_under: &Generation) {
        if *sent_under != self.generation {
            return;
        }
        match code {
            ErrorCode::IllegalGeneration => {
                warn!(group = %self.config.group_id, "offset commit: ILLEGAL_GENERATION; resetting the generation and rejoining");
                self.reset_generation(false, "OffsetCommit: ILLEGAL_GENERATION");
            }
            ErrorCode::UnknownMemberId => {
                warn!(group = %self.config.group_id, "offset commit: UNKNOWN_MEMBER_ID; resetting the member id and rejoining");
                self.reset_generation(true, "OffsetCommit: UNKNOWN_MEMBER_ID");
            }
            ErrorCode::RebalanceInProgress => {
                self.request_rejoin("offset commit: the group is rebalancing");
            }
            ErrorCode::FencedInstanceId => {
                if !self.owned.is_empty() {
                    let lost = sorted_vec(&self.owned);
                    self.owned.clear();
                    self.pending_events.push(GroupEvent::Lost(lost));
                }
                self.generation = Generation::none();
                self.fail(GroupError::Coordinator {
                    api: ApiKey::OffsetCommit,
                    code,
                });
            }
            _ => {}
        }
    }

    // ----- the driver -----

    /// Drives the membership: finds the coordinator, (re)joins when needed,
    /// sends SyncGroup and heartbeats, and returns what the consumer must do.
    /// `subscribed_topics` is the current topic subscription (empty: not
    /// subscribed, nothing is joined). Partition counts are read from
    /// `client.metadata()`.
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
        // What this poll itself produced (a fatal error found while sending).
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

        if std::mem::take(&mut self.poll_expired) {
            warn!(group = %self.config.group_id, "consumer poll timeout has expired: the time between polls exceeded max.poll.interval.ms; leaving the group");
            self.maybe_leave_group(client, now, POLL_TIMEOUT_LEAVE_REASON);
        } else if self.heartbeating() && self.heartbeat.poll_timeout_expired(now) {
            warn!(group = %self.config.group_id, "consumer poll timeout has expired: the time between polls exceeded max.poll.interval.ms; leaving the group");
            self.maybe_leave_group(client, now, POLL_TIMEOUT_LEAVE_REASON);
            self.awaiting_user_poll = true;
        }

        if events.iter().any(|e| {
            matches!(
                e,
                GroupEvent::Revoke(_) | GroupEvent::Lost(_) | GroupEvent::PrepareJoin
            )
        }) {
            // Let the consumer run the listener (and commit) first.
            return;
        }
        if self.subscription.is_empty() && self.state == MemberState::Unjoined {
            return;
        }

        let Some(node) = self.ensure_coordinator(client, now) else {
            return;
        };

        if self.state == MemberState::Stable && !self.rejoin_needed {
            self.check_rejoin_conditions(client);
        }

        let state = self.state;
        match state {
            MemberState::Unjoined | MemberState::Stable if self.rejoin_needed => {
                if self.awaiting_user_poll || self.subscription.is_empty() {
                    return;
                }
                if self.needs_join_prepare {
                    self.needs_join_prepare = false;
                    let prepared = self.on_join_prepare();
                    if !prepared.is_empty() {
                        events.extend(prepared);
                        return;
                    }
                }
                if self.join_backoff_until.is_some_and(|t| now < t) {
                    return;
                }
                if !self.coordinator_ready(client, node, now) {
                    return;
                }
                self.send_join(client, node, now);
            }
            MemberState::CompletingRebalance
                if self.pending_sync.is_some() && self.coordinator_ready(client, node, now) =>
            {
                self.send_sync(client, node, now);
            }
            _ => {}
        }

        if self.heartbeating() {
            self.maybe_heartbeat(client, node, now);
        }
    }

    /// What a heartbeat thread does between consumer polls (Java's
    /// `HeartbeatThread`, KIP-62): notices `max.poll.interval.ms` expiring
    /// (then leaves the group; it rejoins only at the next consumer poll),
    /// rediscovers a lost coordinator and sends due heartbeats. It never
    /// joins, syncs or returns events: those wait for the consumer's poll.
    pub fn poll_background<C: KafkaClient>(&mut self, client: &mut C, now: Instant) {
        if self.failed.is_some() || !self.heartbeating() {
            return;
        }
        if self.heartbeat.poll_timeout_expired(now) {
            warn!(group = %self.config.group_id, "consumer poll timeout has expired: the time between polls exceeded max.poll.interval.ms; leaving the group (processing took too long: raise max.poll.interval.ms or lower max.poll.records)");
            self.maybe_leave_group(client, now, POLL_TIMEOUT_LEAVE_REASON);
            self.awaiting_user_poll = true;
            return;
        }
        let Some(node) = self.ensure_coordinator(client, now) else {
            return;
        };
        self.maybe_heartbeat(client, node, now);
    }

    /// When [`Self::poll_background`] has work next (`None`: nothing until
    /// a network event or a consumer poll).
    pub fn next_background_deadline(&self, now: Instant) -> Option<Instant> {
        if self.failed.is_some() || !self.heartbeating() {
            return None;
        }
        let mut heartbeat = self.heartbeat.next_deadline();
        if let Some(w) = self.network_wait_until.filter(|w| *w > now) {
            // The coordinator's connection is not ready: the network poll
            // reports its progress; look again no later than this.
            heartbeat = heartbeat.max(w);
        }
        let mut t = self.heartbeat.poll_deadline();
        if self.lookup.coordinator().is_none() {
            // No heartbeat without a coordinator: only the lookup is due
            // (nothing while FindCoordinator is in flight: its answer comes
            // through the network poll).
            if let Some(l) = self.lookup.next_deadline(now) {
                t = t.min(l);
            }
        } else {
            t = t.min(heartbeat);
        }
        Some(t)
    }

    /// The node whose connection the membership waits for (the coordinator,
    /// or the node of the coordinator lookup).
    pub fn awaited_node(&self) -> Option<NodeId> {
        self.lookup.awaited_node()
    }

    /// Handles a network event if it belongs to this membership (matched by
    /// node and correlation id). Returns true if it did. Resulting events come
    /// out of the next [`Self::poll`].
    ///
    /// A `Disconnected` event can concern several components (it lists every
    /// request of the connection, and the loss of the coordinator's
    /// connection matters even with nothing in flight): offer it to this
    /// machine whatever other components said.
    pub fn handle_event(&mut self, event: &ClientEvent, now: Instant) -> bool {
        let lookup_claimed = match self.lookup.handle_event(event, now) {
            LookupEvent::NotOurs => false,
            LookupEvent::Found(_) => {
                self.heartbeat.reset_session(now);
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
        let ours = match event {
            ClientEvent::Response(r) => {
                let Some(req) = self.in_flight.remove(&(r.node, r.correlation_id)) else {
                    return false;
                };
                let current = req.epoch == self.coordinator_epoch;
                match (req.kind, &r.body) {
                    (Pending::Leave, ResponseBody::LeaveGroup(resp)) => self.handle_leave(resp),
                    (_, _) if !current => {
                        debug!(group = %self.config.group_id, api = r.api_key.name(), "ignoring a response from a former coordinator");
                    }
                    (Pending::Join, ResponseBody::JoinGroup(resp)) => {
                        self.handle_join(resp, r.api_version, now)
                    }
                    (Pending::Sync { generation }, ResponseBody::SyncGroup(resp)) => {
                        self.handle_sync(resp, generation, r.api_version, now)
                    }
                    (Pending::Heartbeat { generation }, ResponseBody::Heartbeat(resp)) => {
                        self.handle_heartbeat(resp, generation, now)
                    }
                    (kind, _) => {
                        warn!(group = %self.config.group_id, api = r.api_key.name(), "response of an unexpected type; treating the request as failed");
                        self.request_failed(kind, r.node, "unexpected response type", now);
                    }
                }
                true
            }
            ClientEvent::Disconnected {
                node, in_flight, ..
            } => {
                let mut ours = false;
                for info in in_flight {
                    if let Some(req) = self.in_flight.remove(&(*node, info.correlation_id)) {
                        ours = true;
                        if req.epoch == self.coordinator_epoch {
                            self.request_failed(req.kind, *node, "disconnected", now);
                        }
                    }
                }
                if self.lookup.coordinator() == Some(*node) {
                    self.mark_coordinator_unknown("coordinator disconnected");
                }
                ours
            }
            ClientEvent::Timeout {
                node,
                correlation_id,
                ..
            } => match self.in_flight.remove(&(*node, *correlation_id)) {
                Some(req) => {
                    if req.epoch == self.coordinator_epoch {
                        self.request_failed(req.kind, *node, "request timed out", now);
                    }
                    true
                }
                None => false,
            },
            _ => false,
        };
        ours || lookup_claimed
    }

    /// The latest time [`Self::poll`] must run again (`now` if it has work
    /// right away); `None` if only network events can make progress.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.pending_events.is_empty() || self.poll_expired {
            return Some(now);
        }
        if self.failed.is_some() {
            return None;
        }
        let mut deadlines: Vec<Instant> = Vec::new();
        let wants_group = !self.subscription.is_empty() || self.state != MemberState::Unjoined;
        if self.heartbeating() {
            deadlines.push(self.heartbeat.next_deadline());
            deadlines.push(self.heartbeat.poll_deadline());
        }
        if wants_group {
            let network_wait = self.network_wait_until.filter(|t| *t > now);
            if self.lookup.coordinator().is_none() {
                deadlines.extend(self.lookup.next_deadline(now));
            } else {
                let join_due = self.rejoin_needed
                    && matches!(self.state, MemberState::Unjoined | MemberState::Stable)
                    && !self.awaiting_user_poll
                    && !self.subscription.is_empty();
                let sync_due =
                    self.state == MemberState::CompletingRebalance && self.pending_sync.is_some();
                if join_due || sync_due {
                    let t = if join_due {
                        self.join_backoff_until.unwrap_or(now).max(now)
                    } else {
                        now
                    };
                    deadlines.push(network_wait.map_or(t, |w| w.max(t)));
                }
            }
        }
        deadlines.into_iter().min()
    }

    // ----- coordinator discovery -----

    fn ensure_coordinator<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
    ) -> Option<NodeId> {
        if self.lookup.coordinator_unavailable(client, now) {
            self.mark_coordinator_unknown("coordinator unavailable (connection failed)");
        }
        self.lookup.ensure(client, now)
    }

    fn coordinator_ready<C: KafkaClient>(
        &mut self,
        client: &mut C,
        node: NodeId,
        now: Instant,
    ) -> bool {
        if client.ready(node, now) {
            self.network_wait_until = None;
            true
        } else {
            self.network_wait_until = Some(network_wait_until(
                client.connection_delay(node, now),
                self.config.retry_backoff,
                now,
            ));
            false
        }
    }

    fn request_failed(&mut self, kind: Pending, node: NodeId, why: &str, now: Instant) {
        match kind {
            Pending::Join | Pending::Sync { .. } => {
                warn!(group = %self.config.group_id, node, why, "rebalance request failed; rejoining after coordinator rediscovery");
                self.state = MemberState::Unjoined;
                self.pending_sync = None;
                self.rejoin_needed = true;
                self.mark_coordinator_unknown(why);
            }
            Pending::Heartbeat { .. } => {
                warn!(group = %self.config.group_id, node, why, "heartbeat failed");
                self.heartbeat.failed(now);
                self.mark_coordinator_unknown(why);
            }
            Pending::Leave => {
                debug!(group = %self.config.group_id, node, why, "LeaveGroup got no answer");
            }
        }
    }

    // ----- join -----

    /// While joined (sync pending/in flight, or stable) the member heartbeats
    /// and its poll timer counts.
    fn heartbeating(&self) -> bool {
        matches!(
            self.state,
            MemberState::CompletingRebalance | MemberState::Stable
        )
    }

    /// Subscription changes since the join, and (leader) partition count
    /// changes since the assignment, need a new rebalance.
    fn check_rejoin_conditions<C: KafkaClient>(&mut self, client: &C) {
        if self.subscription != self.joined_subscription {
            self.request_rejoin("subscription changed since the last join");
            return;
        }
        if let Some(snapshot) = &self.assignment_snapshot {
            let current = partitions_per_topic(client.metadata(), &self.group_subscription);
            if &current != snapshot {
                info!(group = %self.config.group_id, "partition counts of subscribed topics changed since the assignment");
                self.request_rejoin("cached metadata has changed");
            }
        }
    }

    /// Java's `onJoinPrepare`: what the consumer gives up before joining.
    fn on_join_prepare(&mut self) -> Vec<GroupEvent> {
        self.assignment_snapshot = None;
        // Only a leader needs the other members' topics; it learns them again.
        self.group_subscription.clear();
        if self.owned.is_empty() {
            return Vec::new();
        }
        if self.generation.is_reset() {
            let lost = sorted_vec(&self.owned);
            self.owned.clear();
            info!(group = %self.config.group_id, partitions = ?lost, "partitions lost: the member's generation is gone");
            return vec![GroupEvent::Lost(lost)];
        }
        let revoke: Vec<TopicPartition> = match self.protocol {
            RebalanceProtocol::Eager => sorted_vec(&self.owned),
            RebalanceProtocol::Cooperative => self
                .owned
                .iter()
                .filter(|tp| self.subscription.binary_search(&tp.topic).is_err())
                .cloned()
                .collect(),
        };
        if revoke.is_empty() {
            // Java commits before every rejoin, not only before revoking:
            // the offsets are then safe whatever the new round decides.
            if self.config.auto_commit {
                debug!(group = %self.config.group_id, "committing before rejoining");
                return vec![GroupEvent::PrepareJoin];
            }
            return Vec::new();
        }
        for tp in &revoke {
            self.owned.remove(tp);
        }
        info!(group = %self.config.group_id, partitions = ?revoke, protocol = ?self.protocol, "revoking partitions before joining");
        vec![GroupEvent::Revoke(revoke)]
    }

    fn join_protocols(&self) -> Vec<JoinGroupRequestProtocol> {
        let owned = sorted_vec(&self.owned);
        self.assignors
            .iter()
            .map(|a| {
                let subscription = Subscription {
                    topics: self.subscription.clone(),
                    user_data: a.subscription_user_data(&self.subscription),
                    owned_partitions: owned.iter().collect(),
                    generation_id: self.generation.generation_id,
                    rack_id: self.config.rack_id.clone(),
                    group_instance_id: None,
                };
                JoinGroupRequestProtocol {
                    name: a.name().to_string(),
                    metadata: subscription.encode(CONSUMER_PROTOCOL_VERSION),
                    ..Default::default()
                }
            })
            .collect()
    }

    fn send_join<C: KafkaClient>(&mut self, client: &mut C, node: NodeId, now: Instant) {
        if self.config.group_instance_id.is_some() {
            if let Some(v) = client.api_version(node, ApiKey::JoinGroup) {
                if v < 5 {
                    self.fail(GroupError::UnsupportedVersion(format!(
                        "static membership (group.instance.id) needs JoinGroup v5+, the coordinator speaks v{v}"
                    )));
                    return;
                }
            }
        }
        let request = JoinGroupRequest {
            group_id: self.config.group_id.clone(),
            session_timeout_ms: duration_ms(self.config.session_timeout),
            rebalance_timeout_ms: duration_ms(self.config.max_poll_interval),
            member_id: self.generation.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
            protocols: self.join_protocols(),
            reason: Some(self.rejoin_reason.clone()),
            ..Default::default()
        };
        let timeout = self.config.max_poll_interval + JOIN_GROUP_TIMEOUT_LAPSE;
        let request = ClientRequest::new(RequestBody::JoinGroup(request)).with_timeout(timeout);
        match client.send_request(node, request, now) {
            Ok(corr) => {
                info!(group = %self.config.group_id, member_id = %self.generation.member_id, reason = %self.rejoin_reason, "(re-)joining group");
                self.in_flight.insert(
                    (node, corr),
                    InFlight {
                        kind: Pending::Join,
                        epoch: self.coordinator_epoch,
                    },
                );
                self.state = MemberState::PreparingRebalance;
                self.joined_subscription = self.subscription.clone();
                self.rejoin_needed = false;
                self.is_leader = false;
            }
            Err(e) => {
                warn!(group = %self.config.group_id, error = %e, "JoinGroup could not be sent; retrying after backoff");
                self.join_backoff_until = Some(now + self.config.retry_backoff);
            }
        }
    }

    fn handle_join(&mut self, resp: &JoinGroupResponse, version: i16, now: Instant) {
        if self.state != MemberState::PreparingRebalance {
            debug!(group = %self.config.group_id, state = ?self.state, "ignoring a JoinGroup response: no longer joining");
            return;
        }
        let code = ErrorCode::from_i16(resp.error_code);
        self.state = MemberState::Unjoined;
        match code {
            ErrorCode::None => {
                if resp
                    .protocol_type
                    .as_deref()
                    .is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
                {
                    self.fail(GroupError::Coordinator {
                        api: ApiKey::JoinGroup,
                        code: ErrorCode::InconsistentGroupProtocol,
                    });
                    return;
                }
                let Some(protocol_name) = resp.protocol_name.clone() else {
                    self.fail(GroupError::InvalidGroupData(
                        "JoinGroup response names no protocol".into(),
                    ));
                    return;
                };
                self.generation = Generation {
                    generation_id: resp.generation_id,
                    member_id: resp.member_id.clone(),
                };
                self.protocol_name = Some(protocol_name.clone());
                self.is_leader = resp.leader == resp.member_id;
                self.state = MemberState::CompletingRebalance;
                self.join_backoff_until = None;
                self.heartbeat.reset_timeouts(now);
                info!(
                    group = %self.config.group_id,
                    generation = resp.generation_id,
                    member_id = %resp.member_id,
                    protocol = %protocol_name,
                    leader = self.is_leader,
                    "successfully joined group"
                );
                debug!(group = %self.config.group_id, members = resp.members.len(), version, "JoinGroup response");
                self.pending_sync = Some(JoinedGroup {
                    is_leader: self.is_leader,
                    protocol_name,
                    members: resp.members.clone(),
                    skip_assignment: resp.skip_assignment,
                });
            }
            ErrorCode::MemberIdRequired => {
                info!(group = %self.config.group_id, member_id = %resp.member_id, "JoinGroup needs a member id; rejoining with the one given");
                self.generation.member_id = resp.member_id.clone();
                self.rejoin_needed = true;
            }
            ErrorCode::UnknownMemberId => {
                warn!(group = %self.config.group_id, member_id = %self.generation.member_id, "JoinGroup failed: UNKNOWN_MEMBER_ID; resetting the member id and rejoining");
                self.reset_generation(true, "JoinGroup: UNKNOWN_MEMBER_ID");
            }
            ErrorCode::IllegalGeneration => {
                warn!(group = %self.config.group_id, generation = self.generation.generation_id, "JoinGroup failed: ILLEGAL_GENERATION; resetting the generation and rejoining");
                self.reset_generation(false, "JoinGroup: ILLEGAL_GENERATION");
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.rejoin_needed = true;
                self.mark_coordinator_unknown(code.name());
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::RebalanceInProgress => {
                warn!(group = %self.config.group_id, %code, "JoinGroup failed; retrying after backoff");
                self.rejoin_needed = true;
                self.join_backoff_until = Some(now + self.config.retry_backoff);
            }
            code => self.fail(GroupError::Coordinator {
                api: ApiKey::JoinGroup,
                code,
            }),
        }
    }

    // ----- sync -----

    fn send_sync<C: KafkaClient>(&mut self, client: &mut C, node: NodeId, now: Instant) {
        let Some(joined) = self.pending_sync.take() else {
            return;
        };
        let assignments = if joined.is_leader {
            match self.perform_assignment(client, &joined) {
                Ok(a) => a,
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        } else {
            Vec::new()
        };
        let request = SyncGroupRequest {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation.generation_id,
            member_id: self.generation.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol_name: Some(joined.protocol_name.clone()),
            assignments,
            ..Default::default()
        };
        match client.send(node, RequestBody::SyncGroup(request), now) {
            Ok(corr) => {
                debug!(group = %self.config.group_id, generation = self.generation.generation_id, leader = joined.is_leader, "sending SyncGroup");
                self.in_flight.insert(
                    (node, corr),
                    InFlight {
                        kind: Pending::Sync {
                            generation: self.generation.clone(),
                        },
                        epoch: self.coordinator_epoch,
                    },
                );
            }
            Err(e) => {
                warn!(group = %self.config.group_id, error = %e, "SyncGroup could not be sent; will retry");
                self.pending_sync = Some(joined);
                self.network_wait_until = Some(now + self.config.retry_backoff);
            }
        }
    }

    fn handle_sync(
        &mut self,
        resp: &SyncGroupResponse,
        sent_under: Generation,
        version: i16,
        now: Instant,
    ) {
        if self.state != MemberState::CompletingRebalance || sent_under != self.generation {
            debug!(group = %self.config.group_id, "ignoring a SyncGroup response of a rebalance no longer under way");
            return;
        }
        let code = ErrorCode::from_i16(resp.error_code);
        self.state = MemberState::Unjoined;
        match code {
            ErrorCode::None => {
                let protocol_mismatch = resp
                    .protocol_type
                    .as_deref()
                    .is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
                    || resp
                        .protocol_name
                        .as_deref()
                        .is_some_and(|n| Some(n) != self.protocol_name.as_deref());
                if protocol_mismatch {
                    self.fail(GroupError::Coordinator {
                        api: ApiKey::SyncGroup,
                        code: ErrorCode::InconsistentGroupProtocol,
                    });
                    return;
                }
                let assignment = match Assignment::decode(resp.assignment.clone()) {
                    Ok(a) => a,
                    Err(e) => {
                        self.fail(GroupError::InvalidGroupData(format!(
                            "assignment does not decode: {e}"
                        )));
                        return;
                    }
                };
                debug!(group = %self.config.group_id, version, "SyncGroup response");
                self.state = MemberState::Stable;
                self.needs_join_prepare = true;
                self.heartbeat.reset_timeouts(now);
                self.on_join_complete(assignment);
            }
            ErrorCode::RebalanceInProgress => {
                info!(group = %self.config.group_id, "SyncGroup failed: the group began another rebalance; rejoining");
                self.request_rejoin("group is rebalancing (SyncGroup: REBALANCE_IN_PROGRESS)");
            }
            ErrorCode::UnknownMemberId => {
                warn!(group = %self.config.group_id, "SyncGroup failed: UNKNOWN_MEMBER_ID; resetting the member id and rejoining");
                self.reset_generation(true, "SyncGroup: UNKNOWN_MEMBER_ID");
            }
            ErrorCode::IllegalGeneration => {
                warn!(group = %self.config.group_id, "SyncGroup failed: ILLEGAL_GENERATION; resetting the generation and rejoining");
                self.reset_generation(false, "SyncGroup: ILLEGAL_GENERATION");
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.rejoin_needed = true;
                self.mark_coordinator_unknown(code.name());
            }
            code => self.fail(GroupError::Coordinator {
                api: ApiKey::SyncGroup,
                code,
            }),
        }
    }

    /// Java's `onJoinComplete`: applies the assignment.
    fn on_join_complete(&mut self, assignment: Assignment) {
        // Checked per topic before anything is built per partition.
        if let Some((topic, _)) = assignment.partitions.topics().find(|(t, _)| {
            self.joined_subscription
                .binary_search_by(|s| s.as_str().cmp(t))
                .is_err()
        }) {
            // The leader worked from a different subscription (stale or
            // racing): ask for a new round rather than take it.
            warn!(group = %self.config.group_id, topic, "assignment has a partition of a topic this member does not subscribe to; rejoining");
            self.request_rejoin("assignment does not match the subscription");
            return;
        }
        let assigned: BTreeSet<TopicPartition> = assignment.partitions.iter().collect();
        if let Some(name) = &self.protocol_name {
            if let Some(a) = self.assignors.iter_mut().find(|a| a.name() == name) {
                a.on_assignment(&assignment, self.generation.generation_id);
            }
        }
        if self.protocol == RebalanceProtocol::Cooperative {
            let revoked: Vec<TopicPartition> = self.owned.difference(&assigned).cloned().collect();
            if !revoked.is_empty() {
                info!(group = %self.config.group_id, partitions = ?revoked, "revoking partitions the new assignment moved elsewhere; a follow-up rebalance will follow");
                self.pending_events.push(GroupEvent::Revoke(revoked));
                self.request_rejoin("need to revoke partitions and re-join");
            }
        }
        let added: Vec<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        self.owned = assigned;
        info!(
            group = %self.config.group_id,
            generation = self.generation.generation_id,
            assignment = ?assignment.partitions,
            added = ?added,
            "adding newly assigned partitions"
        );
        self.pending_events.push(GroupEvent::Assigned {
            added,
            assignment: sorted_vec(&self.owned),
            generation: self.generation.clone(),
        });
    }

    // ----- heartbeat -----

    fn maybe_heartbeat<C: KafkaClient>(&mut self, client: &mut C, node: NodeId, now: Instant) {
        if self.heartbeat.session_expired(now) {
            warn!(group = %self.config.group_id, "session timed out without a successful heartbeat response");
            self.mark_coordinator_unknown(
                "session timed out without receiving a heartbeat response",
            );
            return;
        }
        // A coordinator not ready is waited for (`network_wait_until`), not
        // asked again at once: its connection may be under way.
        if !self.heartbeat.should_heartbeat(now) || !self.coordinator_ready(client, node, now) {
            return;
        }
        let request = HeartbeatRequest {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation.generation_id,
            member_id: self.generation.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            ..Default::default()
        };
        match client.send(node, RequestBody::Heartbeat(request), now) {
            Ok(corr) => {
                debug!(group = %self.config.group_id, generation = self.generation.generation_id, "sending Heartbeat");
                self.heartbeat.sent(now);
                self.in_flight.insert(
                    (node, corr),
                    InFlight {
                        kind: Pending::Heartbeat {
                            generation: self.generation.clone(),
                        },
                        epoch: self.coordinator_epoch,
                    },
                );
            }
            Err(e) => {
                debug!(group = %self.config.group_id, error = %e, "Heartbeat could not be sent");
                self.heartbeat.failed(now);
            }
        }
    }

    fn handle_heartbeat(&mut self, resp: &HeartbeatResponse, sent_under: Generation, now: Instant) {
        let code = ErrorCode::from_i16(resp.error_code);
        let current = sent_under == self.generation && self.heartbeating();
        match code {
            ErrorCode::None => {
                debug!(group = %self.config.group_id, "heartbeat succeeded");
                self.heartbeat.received(now);
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.heartbeat.failed(now);
                self.mark_coordinator_unknown(code.name());
            }
            ErrorCode::RebalanceInProgress => {
                self.heartbeat.received(now);
                if self.state == MemberState::Stable && current {
                    info!(group = %self.config.group_id, "heartbeat: the group is rebalancing; rejoining");
                    self.request_rejoin("group is already rebalancing");
                }
            }
            ErrorCode::IllegalGeneration
            | ErrorCode::UnknownMemberId
            | ErrorCode::FencedInstanceId
                if !current =>
            {
                debug!(group = %self.config.group_id, %code, "ignoring a heartbeat error of an older generation");
                self.heartbeat.in_flight = false;
            }
            ErrorCode::IllegalGeneration => {
                warn!(group = %self.config.group_id, "heartbeat: ILLEGAL_GENERATION; the member's partitions are lost");
                self.heartbeat.in_flight = false;
                self.reset_generation(false, "heartbeat: ILLEGAL_GENERATION");
            }
            ErrorCode::UnknownMemberId => {
                warn!(group = %self.config.group_id, "heartbeat: UNKNOWN_MEMBER_ID; the member's partitions are lost");
                self.heartbeat.in_flight = false;
                self.reset_generation(true, "heartbeat: UNKNOWN_MEMBER_ID");
            }
            ErrorCode::FencedInstanceId => {
                self.heartbeat.in_flight = false;
                if !self.owned.is_empty() {
                    let lost = sorted_vec(&self.owned);
                    self.owned.clear();
                    self.pending_events.push(GroupEvent::Lost(lost));
                }
                self.generation = Generation::none();
                self.fail(GroupError::Coordinator {
                    api: ApiKey::Heartbeat,
                    code,
                });
            }
            code if code.is_retriable() => {
                warn!(group = %self.config.group_id, %code, "heartbeat failed; retrying after backoff");
                self.heartbeat.failed(now);
            }
            code => {
                self.heartbeat.in_flight = false;
                self.fail(GroupError::Coordinator {
                    api: ApiKey::Heartbeat,
                    code,
                });
            }
        }
    }

    // ----- leave -----

    fn handle_leave(&mut self, resp: &LeaveGroupResponse) {
        let code = ErrorCode::from_i16(resp.error_code);
        let member_code = resp
            .members
            .iter()
            .map(|m| ErrorCode::from_i16(m.error_code))
            .find(|c| *c != ErrorCode::None);
        match member_code.unwrap_or(code) {
            ErrorCode::None => debug!(group = %self.config.group_id, "left the group"),
            code => {
                warn!(group = %self.config.group_id, %code, "LeaveGroup failed (the member is gone anyway)")
            }
        }
    }

    /// Java's `maybeLeaveGroup`: sends LeaveGroup for a dynamic member that
    /// is in (or joining) the group, then forgets the generation.
    fn maybe_leave_group<C: KafkaClient>(&mut self, client: &mut C, now: Instant, reason: &str) {
        let dynamic = self.config.group_instance_id.is_none();
        if dynamic && self.state != MemberState::Unjoined && self.generation.has_member_id() {
            if let Some(node) = self.lookup.coordinator() {
                if client.ready(node, now) {
                    let request = LeaveGroupRequest {
                        group_id: self.config.group_id.clone(),
                        member_id: self.generation.member_id.clone(),
                        members: vec![MemberIdentity {
                            member_id: self.generation.member_id.clone(),
                            group_instance_id: None,
                            reason: Some(reason.to_string()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    match client.send(node, RequestBody::LeaveGroup(request), now) {
                        Ok(corr) => {
                            info!(group = %self.config.group_id, member_id = %self.generation.member_id, reason, "member sending LeaveGroup");
                            self.in_flight.insert(
                                (node, corr),
                                InFlight {
                                    kind: Pending::Leave,
                                    epoch: self.coordinator_epoch,
                                },
                            );
                        }
                        Err(e) => {
                            warn!(group = %self.config.group_id, error = %e, "LeaveGroup could not be sent")
                        }
                    }
                } else {
                    debug!(group = %self.config.group_id, "coordinator not ready: leaving without LeaveGroup");
                }
            }
        } else if !dynamic && self.state != MemberState::Unjoined {
            info!(group = %self.config.group_id, "static member leaves without LeaveGroup; the coordinator keeps its place until the session times out");
        }
        // Java's resetGenerationOnLeaveGroup.
        self.generation = Generation::none();
        self.state = MemberState::Unjoined;
        self.pending_sync = None;
        self.assignment_snapshot = None;
        self.heartbeat.in_flight = false;
        self.coordinator_epoch += 1;
        self.rejoin_needed = true;
        self.rejoin_reason = reason.to_string();
        self.needs_join_prepare = true;
    }

    // ----- helpers -----

    /// After UNKNOWN_MEMBER_ID (`reset_member_id`) or ILLEGAL_GENERATION:
    /// the generation is gone, what the member owns is lost, rejoin at once.
    fn reset_generation(&mut self, reset_member_id: bool, reason: &str) {
        self.generation.generation_id = -1;
        if reset_member_id {
            self.generation.member_id.clear();
        }
        self.state = MemberState::Unjoined;
        self.pending_sync = None;
        self.assignment_snapshot = None;
        self.needs_join_prepare = true;
        self.rejoin_needed = true;
        self.rejoin_reason = reason.to_string();
    }

    fn fail(&mut self, error: GroupError) {
        warn!(group = %self.config.group_id, %error, "fatal group membership error");
        self.state = MemberState::Unjoined;
        self.pending_sync = None;
        self.pending_events.push(GroupEvent::Fatal(error.clone()));
        self.failed = Some(error);
    }
}

fn duration_ms(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}
