//! `CoordinatorLookup`: finding a group's coordinator with FindCoordinator
//! (key type group), shared by the classic membership and the KIP-848
//! heartbeat machine. Sans-IO: time comes in, events come in, requests go
//! out through the [`KafkaClient`].

use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId};
use prozess_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use prozess_protocol::{ErrorCode, RequestBody, ResponseBody};
use tracing::{debug, info, warn};

/// What a network event meant for the lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupEvent {
    /// The event was not about the lookup's request.
    NotOurs,
    /// The coordinator is known now: the id of its dedicated connection
    /// ([`prozess_network::coordinator_connection_id`]).
    Found(NodeId),
    /// The lookup failed in a way worth retrying; it is, after the backoff.
    Retrying,
    /// The lookup failed for good (GROUP_AUTHORIZATION_FAILED, ...).
    Fatal(ErrorCode),
}

/// When to look at a node that is not ready again: after its reconnect
/// backoff, at least `retry_backoff` from now. A connection under way reports
/// an unbounded delay (`Duration::MAX`, as Java's `Long.MAX_VALUE`): the
/// network poll wakes the caller when it progresses, `retry_backoff` is only
/// the fallback.
pub(crate) fn network_wait_until(
    delay: Duration,
    retry_backoff: Duration,
    now: Instant,
) -> Instant {
    now.checked_add(delay.max(retry_backoff))
        .unwrap_or(now + retry_backoff)
}

/// Finds and remembers a group coordinator.
#[derive(Debug, Clone)]
pub struct CoordinatorLookup {
    group_id: String,
    retry_backoff: Duration,
    coordinator: Option<NodeId>,
    in_flight: Option<(NodeId, i32)>,
    backoff_until: Option<Instant>,
    /// No node could take the request: try again no later than this.
    network_wait_until: Option<Instant>,
    /// The node whose connection was asked for to send FindCoordinator
    /// (`ready()` said not yet): someone must poll the client for it.
    connecting: Option<NodeId>,
}

impl CoordinatorLookup {
    /// A lookup for `group_id`, retrying every `retry_backoff`.
    pub fn new(group_id: impl Into<String>, retry_backoff: Duration) -> Self {
        CoordinatorLookup {
            group_id: group_id.into(),
            retry_backoff,
            coordinator: None,
            in_flight: None,
            backoff_until: None,
            network_wait_until: None,
            connecting: None,
        }
    }

    /// The known coordinator, as the id of its dedicated connection
    /// ([`prozess_network::coordinator_connection_id`] of the broker).
    pub fn coordinator(&self) -> Option<NodeId> {
        self.coordinator
    }

    /// The node whose connection the lookup waits for: the coordinator once
    /// known, else the node FindCoordinator is to go to while its connection
    /// is being set up (`None` while FindCoordinator is in flight).
    pub fn awaited_node(&self) -> Option<NodeId> {
        match self.coordinator {
            Some(c) => Some(c),
            None if self.in_flight.is_none() => self.connecting,
            None => None,
        }
    }

    /// Forgets the coordinator; returns it if one was known.
    pub fn mark_unknown(&mut self) -> Option<NodeId> {
        self.coordinator.take()
    }

    /// Whether the coordinator's connection failed and may not be retried
    /// yet (Java's `isUnavailable`): the caller should mark it unknown.
    pub fn coordinator_unavailable<C: KafkaClient>(&self, client: &C, now: Instant) -> bool {
        self.coordinator.is_some_and(|node| {
            client.connection_failed(node) && !client.connection_delay(node, now).is_zero()
        })
    }

    /// The coordinator if known; otherwise sends FindCoordinator (to the
    /// least loaded node) unless one is in flight or backing off.
    pub fn ensure<C: KafkaClient>(&mut self, client: &mut C, now: Instant) -> Option<NodeId> {
        if self.coordinator.is_some() {
            return self.coordinator;
        }
        if self.in_flight.is_some() || self.backoff_until.is_some_and(|t| now < t) {
            return None;
        }
        let Some(node) = client.least_loaded_node(now) else {
            debug!(group = %self.group_id, "no node available to find the coordinator");
            self.network_wait_until = Some(now + self.retry_backoff);
            return None;
        };
        if !client.ready(node, now) {
            self.connecting = Some(node);
            self.network_wait_until = Some(network_wait_until(
                client.connection_delay(node, now),
                self.retry_backoff,
                now,
            ));
            return None;
        }
        self.connecting = None;
        // Both layouts are filled: the encoder writes `key` up to v3 and
        // `coordinator_keys` (the v4+ batch form) from v4 on.
        let request = FindCoordinatorRequest {
            key: self.group_id.clone(),
            key_type: 0,
            coordinator_keys: vec![self.group_id.clone()],
            ..Default::default()
        };
        match client.send(node, RequestBody::FindCoordinator(request), now) {
            Ok(corr) => {
                debug!(group = %self.group_id, node, "sending FindCoordinator");
                self.in_flight = Some((node, corr));
                self.network_wait_until = None;
            }
            Err(e) => {
                debug!(group = %self.group_id, error = %e, "FindCoordinator could not be sent");
                self.backoff_until = Some(now + self.retry_backoff);
            }
        }
        None
    }

    /// When the lookup next needs a poll while the coordinator is unknown
    /// (`None`: known, or a request is in flight).
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.coordinator.is_some() || self.in_flight.is_some() {
            return None;
        }
        let t = self.backoff_until.unwrap_or(now).max(now);
        Some(self.network_wait_until.map_or(t, |w| w.max(t)))
    }

    /// Handles a network event if it concerns the lookup's request.
    pub fn handle_event(&mut self, event: &ClientEvent, now: Instant) -> LookupEvent {
        let Some((node, corr)) = self.in_flight else {
            return LookupEvent::NotOurs;
        };
        match event {
            ClientEvent::Response(r) if r.node == node && r.correlation_id == corr => {
                self.in_flight = None;
                match &r.body {
                    ResponseBody::FindCoordinator(resp) => self.handle_response(resp, now),
                    _ => self.retry(node, "unexpected response type", now),
                }
            }
            ClientEvent::Disconnected {
                node: n, in_flight, ..
            } if *n == node && in_flight.iter().any(|i| i.correlation_id == corr) => {
                self.in_flight = None;
                self.retry(node, "disconnected", now)
            }
            ClientEvent::Timeout {
                node: n,
                correlation_id,
                ..
            } if *n == node && *correlation_id == corr => {
                self.in_flight = None;
                self.retry(node, "request timed out", now)
            }
            _ => LookupEvent::NotOurs,
        }
    }

    fn retry(&mut self, node: NodeId, why: &str, now: Instant) -> LookupEvent {
        warn!(group = %self.group_id, node, why, "FindCoordinator failed; retrying after backoff");
        self.backoff_until = Some(now + self.retry_backoff);
        LookupEvent::Retrying
    }

    fn handle_response(&mut self, resp: &FindCoordinatorResponse, now: Instant) -> LookupEvent {
        let (code, node) = match resp
            .coordinators
            .iter()
            .find(|c| c.key == self.group_id)
            .or(resp.coordinators.first())
        {
            Some(c) => (ErrorCode::from_i16(c.error_code), c.node_id),
            None => (ErrorCode::from_i16(resp.error_code), resp.node_id),
        };
        match code {
            ErrorCode::None if node >= 0 => {
                // The coordinator gets a connection of its own (as Java's
                // `Integer.MAX_VALUE - id`): JoinGroup, held by the broker up
                // to the rebalance timeout, and heartbeats must not queue
                // behind fetch long-polls to the same broker. The network
                // client learned its address from this very response.
                let connection = prozess_network::coordinator_connection_id(node);
                info!(group = %self.group_id, node, connection, "discovered group coordinator");
                self.coordinator = Some(connection);
                self.backoff_until = None;
                self.network_wait_until = None;
                LookupEvent::Found(connection)
            }
            ErrorCode::GroupAuthorizationFailed => LookupEvent::Fatal(code),
            code if code == ErrorCode::None || code.is_retriable() => {
                warn!(group = %self.group_id, %code, "FindCoordinator failed; retrying after backoff");
                self.backoff_until = Some(now + self.retry_backoff);
                LookupEvent::Retrying
            }
            code => LookupEvent::Fatal(code),
        }
    }
}
