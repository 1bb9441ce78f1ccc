//! `GroupMember`: the consumer's group membership under either protocol —
//! the classic one ([`GroupMembership`]) or KIP-848's
//! ([`ConsumerGroupMembership`], `group.protocol=consumer`) — behind the
//! one seam the consumer drives.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId};
use prozess_protocol::ErrorCode;

use crate::group::consumer_group_heartbeat::ConsumerGroupMembership;
use crate::group::membership::{Generation, GroupError, GroupEvent, GroupMembership};

/// A group membership under the classic or the consumer (KIP-848) protocol.
#[derive(Debug)]
pub enum GroupMember {
    /// JoinGroup/SyncGroup/Heartbeat, client-side assignment.
    Classic(GroupMembership),
    /// ConsumerGroupHeartbeat, server-side assignment.
    Consumer(ConsumerGroupMembership),
}

macro_rules! each {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            GroupMember::Classic($m) => $e,
            GroupMember::Consumer($m) => $e,
        }
    };
}

impl GroupMember {
    /// Records a consumer poll (the `max.poll.interval.ms` timer).
    pub fn record_poll(&mut self, now: Instant) {
        each!(self, m => m.record_poll(now))
    }

    /// Drives the membership; returns what the consumer must do, in order.
    pub fn poll<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
        subscribed_topics: &[String],
    ) -> Vec<GroupEvent> {
        each!(self, m => m.poll(client, now, subscribed_topics))
    }

    /// Handles a network event if it is the membership's.
    pub fn handle_event(&mut self, event: &ClientEvent, now: Instant) -> bool {
        each!(self, m => m.handle_event(event, now))
    }

    /// When `poll` must run next.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        each!(self, m => m.next_deadline(now))
    }

    /// Queued events and the revocation of what is owned (before leaving).
    pub fn prepare_leave(&mut self) -> Vec<GroupEvent> {
        each!(self, m => m.prepare_leave())
    }

    /// Leaves the group (LeaveGroup, or a leaving heartbeat).
    pub fn leave_group<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
        reason: &str,
    ) -> Vec<GroupEvent> {
        each!(self, m => m.leave_group(client, now, reason))
    }

    /// Whether the leave request is still in flight.
    pub fn leave_in_flight(&self) -> bool {
        each!(self, m => m.leave_in_flight())
    }

    /// Asks for a rebalance (classic only: under KIP-848 the broker decides,
    /// and Java ignores the request too).
    pub fn request_rejoin(&mut self, reason: &str) {
        match self {
            GroupMember::Classic(m) => m.request_rejoin(reason),
            GroupMember::Consumer(_) => {
                tracing::info!(
                    reason,
                    "rebalance request ignored: group.protocol=consumer assigns on the broker"
                )
            }
        }
    }

    /// Forgets the coordinator.
    pub fn mark_coordinator_unknown(&mut self, reason: &str) {
        each!(self, m => m.mark_coordinator_unknown(reason))
    }

    /// Looks the coordinator up if unknown.
    pub fn find_coordinator<C: KafkaClient>(
        &mut self,
        client: &mut C,
        now: Instant,
    ) -> Option<NodeId> {
        each!(self, m => m.find_coordinator(client, now))
    }

    /// The coordinator, if known.
    pub fn coordinator(&self) -> Option<NodeId> {
        each!(self, m => m.coordinator())
    }

    /// Generation (classic) or member epoch (KIP-848) and member id.
    pub fn generation(&self) -> Generation {
        match self {
            GroupMember::Classic(m) => m.generation().clone(),
            GroupMember::Consumer(m) => m.generation(),
        }
    }

    /// The generation while stable: what commits are made under.
    pub fn generation_if_stable(&self) -> Option<Generation> {
        match self {
            GroupMember::Classic(m) => m.generation_if_stable().cloned(),
            GroupMember::Consumer(m) => m.generation_if_stable(),
        }
    }

    /// The member's heartbeats, for metrics.
    pub fn heartbeat_stats(&self) -> &crate::metrics::HeartbeatStats {
        each!(self, m => m.heartbeat_stats())
    }

    /// Whether a rebalance is under way (commits get REBALANCE_IN_PROGRESS).
    pub fn rebalance_in_progress(&self) -> bool {
        each!(self, m => m.rebalance_in_progress())
    }

    /// Leader (classic): every topic of the group, for metadata.
    pub fn group_subscription(&self) -> BTreeSet<String> {
        match self {
            GroupMember::Classic(m) => m.group_subscription().clone(),
            GroupMember::Consumer(_) => BTreeSet::new(),
        }
    }

    /// A commit under `sent_under` failed with a group error.
    pub fn on_commit_error(&mut self, code: ErrorCode, sent_under: &Generation) {
        each!(self, m => m.on_commit_error(code, sent_under))
    }

    /// The fatal error the membership stopped on, if any.
    pub fn failure(&self) -> Option<GroupError> {
        each!(self, m => m.failure().cloned())
    }

    /// The heartbeat thread's work between polls.
    pub fn poll_background<C: KafkaClient>(&mut self, client: &mut C, now: Instant) {
        each!(self, m => m.poll_background(client, now))
    }

    /// When `poll_background` has work next.
    pub fn next_background_deadline(&self, now: Instant) -> Option<Instant> {
        each!(self, m => m.next_background_deadline(now))
    }

    /// Whether a connection the membership needs (to its coordinator, or to
    /// the node it looks the coordinator up on) is being set up: TCP
    /// connect, ApiVersions and SASL progress only inside the client's
    /// `poll`, and the connection setup timeout is enforced there too, so
    /// whoever drives the membership must keep polling until it is ready.
    /// A connection under way reports an unbounded `connection_delay`.
    pub fn awaiting_connection<C: KafkaClient>(&self, client: &C, now: Instant) -> bool {
        each!(self, m => m.awaited_node()).is_some_and(|node| {
            !client.is_ready(node, now) && client.connection_delay(node, now) == Duration::MAX
        })
    }
}
