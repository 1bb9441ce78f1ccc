//! `MockClient`: a scripted [`KafkaClient`] for unit tests of the consumer
//! and producer, after the Java client's `MockClient`.
//!
//! - Nodes connect at once on `ready()` unless made unready or blacked out,
//!   or unless connection setup is made to take several polls
//!   ([`MockClient::set_connection_setup_polls`]), as the real client's
//!   `ready()` only starts a connect that later polls complete.
//! - Responses are prepared in advance (`prepare_response`, optionally for
//!   one node) and consumed in order by the first request they match; or
//!   given later to a request in flight (`respond_to`). Either way they are
//!   delivered by the next `poll`, in request order.
//! - Metadata is simulated: when a refresh is due, `poll` applies the next
//!   prepared update (`prepare_metadata_update`) or the current cluster again.
//!   No Metadata requests appear in `requests()`.
//! - Time is whatever `now` the caller passes; a shared [`MockTime`] can be
//!   advanced by the test, and optionally by `poll` itself (as a blocking poll
//!   would take that long) with [`MockClient::set_advance_time_on_poll`].
//!
//! Unlike the real client, nothing here is random: `least_loaded_node` breaks
//! ties by the lowest node id.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

use crate::client::{
    expects_response, ClientEvent, ClientRequest, ClientResponse, InFlightInfo, KafkaClient,
};
use crate::metadata::MetadataSnapshot;
use crate::{Metadata, NetworkConfig, NetworkError, NodeId, WakeupHandle};

/// A manual clock shared by a test and the code under test.
#[derive(Clone, Debug)]
pub struct MockTime {
    now: Arc<Mutex<Instant>>,
}

impl MockTime {
    /// A clock starting at the real current instant.
    pub fn new() -> Self {
        MockTime {
            now: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// The current mock instant.
    pub fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += d;
    }

    /// Same as [`advance`](Self::advance) (Java's `MockTime.sleep`).
    pub fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

impl Default for MockTime {
    fn default() -> Self {
        MockTime::new()
    }
}

/// Decides whether a prepared response answers a request.
pub type RequestMatcher = Box<dyn Fn(&RequestBody) -> bool + Send>;

/// A request sent through the mock.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub node: NodeId,
    pub correlation_id: i32,
    pub api_key: ApiKey,
    pub version: i16,
    pub body: RequestBody,
    pub sent_at: Instant,
    pub timeout: Duration,
}

enum Outcome {
    Respond(ResponseBody),
    Disconnect,
}

struct Prepared {
    node: Option<NodeId>,
    matcher: RequestMatcher,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
struct InFlight {
    node: NodeId,
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: RequestBody,
    deadline: Instant,
}

#[derive(Debug, Default, Clone)]
struct NodeStatus {
    connected: bool,
    /// Made unready by the test until `set_ready`.
    blocked: bool,
    /// Ready only from this instant on (`delay_ready`).
    ready_at: Option<Instant>,
    /// Backing off until this instant (`blackout`).
    blackout_until: Option<Instant>,
    failed: bool,
    /// A connection started by `ready()`: the polls it still needs to
    /// become ready (`set_connection_setup_polls`).
    connecting: Option<usize>,
}

/// The scripted client. See the module docs.
pub struct MockClient {
    metadata: Metadata,
    cluster: MetadataSnapshot,
    metadata_updates: VecDeque<MetadataSnapshot>,
    metadata_refreshes: usize,
    nodes: HashMap<NodeId, NodeStatus>,
    api_versions: HashMap<NodeId, HashMap<ApiKey, (i16, i16)>>,
    unsupported: HashMap<NodeId, HashSet<ApiKey>>,
    /// Dedicated coordinator connections: connection id -> broker id.
    coordinators: HashMap<NodeId, NodeId>,
    /// Finalized features as ApiVersions would report them.
    finalized_features: HashMap<String, i16>,
    /// KIP-219: no request on the node's connection before this.
    throttled_until: HashMap<NodeId, Instant>,
    in_flight: Vec<InFlight>,
    prepared: VecDeque<Prepared>,
    /// Events for the next poll, in order.
    ready_events: Vec<ClientEvent>,
    /// Nodes to disconnect at the next poll, with the cause.
    pending_disconnects: Vec<(NodeId, NetworkError)>,
    requests: Vec<SentRequest>,
    next_correlation_id: i32,
    max_in_flight: usize,
    request_timeout: Duration,
    wakeup: WakeupHandle,
    time: Option<MockTime>,
    advance_on_poll: bool,
    polls: usize,
    /// Polls a connection started by `ready()` needs (0: ready at once).
    setup_polls: usize,
    /// Request counts and latencies (no bytes: nothing is encoded).
    metrics: crate::NetworkMetrics,
}

impl fmt::Debug for MockClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockClient")
            .field("in_flight", &self.in_flight.len())
            .field("prepared", &self.prepared.len())
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl Default for MockClient {
    fn default() -> Self {
        MockClient::new()
    }
}

impl MockClient {
    /// A mock with no brokers (metadata empty); the Java defaults for
    /// `max.in.flight.requests.per.connection`, `request.timeout.ms` and
    /// `metadata.max.age.ms`, and no metadata refresh backoff.
    pub fn new() -> Self {
        let config = NetworkConfig::default();
        MockClient {
            // No refresh backoff: a requested update is applied by the very
            // next poll, whatever clock the test uses.
            metadata: Metadata::new(Duration::ZERO, Duration::ZERO, config.metadata_max_age),
            cluster: MetadataSnapshot::default(),
            metadata_updates: VecDeque::new(),
            metadata_refreshes: 0,
            nodes: HashMap::new(),
            api_versions: HashMap::new(),
            unsupported: HashMap::new(),
            coordinators: HashMap::new(),
            finalized_features: HashMap::new(),
            throttled_until: HashMap::new(),
            in_flight: Vec::new(),
            prepared: VecDeque::new(),
            ready_events: Vec::new(),
            pending_disconnects: Vec::new(),
            requests: Vec::new(),
            next_correlation_id: 0,
            max_in_flight: config.max_in_flight_requests_per_connection,
            request_timeout: config.request_timeout,
            wakeup: WakeupHandle::flag_only(),
            time: None,
            advance_on_poll: false,
            polls: 0,
            setup_polls: 0,
            metrics: crate::NetworkMetrics::default(),
        }
    }

    /// A mock whose metadata already describes `nodes` and `topics` (name,
    /// partition count; leaders round robin, epoch 0), refreshed now.
    pub fn new_with_cluster(nodes: &[NodeId], topics: &[(&str, i32)]) -> Self {
        MockClient::new_with_cluster_at(nodes, topics, Instant::now())
    }

    /// Like [`new_with_cluster`](Self::new_with_cluster), refreshed at `now`
    /// (a [`MockTime`] instant).
    pub fn new_with_cluster_at(nodes: &[NodeId], topics: &[(&str, i32)], now: Instant) -> Self {
        let mut m = MockClient::new();
        m.update_metadata(MetadataSnapshot::simple(nodes, topics), now);
        m
    }

    /// Uses a shared clock (see [`set_advance_time_on_poll`](Self::set_advance_time_on_poll)).
    pub fn with_time(mut self, time: MockTime) -> Self {
        self.time = Some(time);
        self
    }

    /// When set (and a [`MockTime`] is attached), a poll with nothing to
    /// deliver advances the clock by its timeout, capped at the next request
    /// deadline: as long as a real blocking poll would have taken.
    pub fn set_advance_time_on_poll(&mut self, advance: bool) {
        self.advance_on_poll = advance;
    }

    /// Connection setup takes `polls` polls: `ready()` on a node that is not
    /// connected only starts a connect (returning false, with
    /// `connection_delay` unbounded as a real connection under way reports),
    /// and the node becomes ready at the `polls`-th `poll` after that, as
    /// TCP connect, ApiVersions and SASL need several rounds of I/O in the
    /// real client. Default 0: ready at once.
    pub fn set_connection_setup_polls(&mut self, polls: usize) {
        self.setup_polls = polls;
    }

    /// Whether a connection to `node` is being set up (see
    /// [`set_connection_setup_polls`](Self::set_connection_setup_polls)).
    pub fn is_connecting(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|s| s.connecting.is_some())
    }

    /// `max.in.flight.requests.per.connection` (default 5).
    pub fn set_max_in_flight(&mut self, max: usize) {
        self.max_in_flight = max.max(1);
    }

    /// Makes the cluster report finalized feature `name` at `level` (e.g.
    /// `transaction.version` 2 for KIP-890).
    pub fn set_finalized_feature(&mut self, name: &str, level: i16) {
        self.finalized_features.insert(name.to_string(), level);
    }

    /// `request.timeout.ms` for requests without their own timeout.
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    // ----- metadata -----

    /// Applies a cluster description now; it also becomes what later
    /// automatic refreshes return.
    pub fn update_metadata(&mut self, snapshot: MetadataSnapshot, now: Instant) {
        self.cluster = snapshot.clone();
        let version = self.metadata.request_spec().request_version;
        self.metadata.update(version, snapshot, now);
        self.metadata_refreshes += 1;
    }

    /// Same as `update_metadata` with [`MetadataSnapshot::simple`].
    pub fn set_metadata(&mut self, nodes: &[NodeId], topics: &[(&str, i32)], now: Instant) {
        self.update_metadata(MetadataSnapshot::simple(nodes, topics), now);
    }

    /// Queues a description for the next refresh that falls due in `poll`.
    pub fn prepare_metadata_update(&mut self, snapshot: MetadataSnapshot) {
        self.metadata_updates.push_back(snapshot);
    }

    /// How many metadata refreshes happened (explicit and in `poll`).
    pub fn metadata_refreshes(&self) -> usize {
        self.metadata_refreshes
    }

    /// The cluster description automatic refreshes return.
    pub fn cluster(&self) -> &MetadataSnapshot {
        &self.cluster
    }

    // ----- nodes -----

    fn status(&mut self, node: NodeId) -> &mut NodeStatus {
        self.nodes.entry(node).or_default()
    }

    fn can_connect(&self, node: NodeId, now: Instant) -> bool {
        match self.nodes.get(&node) {
            None => true,
            Some(s) => {
                !s.blocked
                    && s.ready_at.is_none_or(|t| now >= t)
                    && s.blackout_until.is_none_or(|t| now >= t)
            }
        }
    }

    fn is_throttled(&self, node: NodeId, now: Instant) -> bool {
        self.throttled_until.get(&node).is_some_and(|&t| now < t)
    }

    /// When the throttle (KIP-219) on `node`'s connection ends, if it still
    /// holds at `now`. Responses delivered by `poll` with a positive
    /// `throttle_time_ms` in a KIP-219 version throttle their connection, as
    /// in the real client.
    pub fn throttled_until(&self, node: NodeId, now: Instant) -> Option<Instant> {
        self.throttled_until
            .get(&node)
            .copied()
            .filter(|&t| now < t)
    }

    /// The broker behind a coordinator connection id returned by
    /// [`KafkaClient::coordinator_node`] (`None` for other ids).
    pub fn coordinator_broker(&self, connection: NodeId) -> Option<NodeId> {
        self.coordinators.get(&connection).copied()
    }

    /// What delivering responses does to the client, as in the real one:
    /// throttles (KIP-219), and coordinator addresses from FindCoordinator
    /// (making `coordinator_connection_id(node_id)` a connection).
    fn on_delivered(&mut self, events: &[ClientEvent], now: Instant) {
        for e in events {
            let ClientEvent::Response(r) = e else {
                continue;
            };
            if let ResponseBody::FindCoordinator(found) = &r.body {
                for (broker, host, port) in crate::client::coordinators_in(found) {
                    self.coordinator_node(broker, &host, port);
                }
            }
            if let Some(d) =
                crate::throttle::client_throttle_time(r.api_key, r.api_version, &r.body)
            {
                let until = now + d;
                let t = self.throttled_until.entry(r.node).or_insert(until);
                if *t < until {
                    *t = until;
                }
            }
        }
    }

    fn node_in_flight(&self, node: NodeId) -> usize {
        self.in_flight.iter().filter(|r| r.node == node).count()
    }

    /// Makes `node` not ready (and not connectable) until `set_ready`.
    pub fn set_unready(&mut self, node: NodeId) {
        let s = self.status(node);
        s.blocked = true;
        s.connected = false;
        s.connecting = None;
    }

    /// Undoes `set_unready`; the node connects on the next `ready()`.
    pub fn set_ready(&mut self, node: NodeId) {
        self.status(node).blocked = false;
    }

    /// The node connects only from `now + delay` on.
    pub fn delay_ready(&mut self, node: NodeId, delay: Duration, now: Instant) {
        let s = self.status(node);
        s.ready_at = Some(now + delay);
        s.connected = false;
        s.connecting = None;
    }

    /// The node's connection fails and it backs off for `duration`
    /// (`connection_failed` is true meanwhile).
    pub fn blackout(&mut self, node: NodeId, duration: Duration, now: Instant) {
        let s = self.status(node);
        s.blackout_until = Some(now + duration);
        s.connected = false;
        s.connecting = None;
        s.failed = true;
    }

    /// Drops the connection: requests in flight on it are reported as
    /// `Disconnected` (cause `ConnectionClosed`) by the next poll.
    pub fn disconnect(&mut self, node: NodeId) {
        self.disconnect_with(node, NetworkError::ConnectionClosed);
    }

    /// Like `disconnect`, with a given cause.
    pub fn disconnect_with(&mut self, node: NodeId, cause: NetworkError) {
        let s = self.status(node);
        s.connected = false;
        s.connecting = None;
        s.failed = true;
        self.pending_disconnects.push((node, cause));
    }

    /// The version range `node` advertises for `key` (default: all that
    /// prozess supports). The negotiated version is the highest common one.
    pub fn set_api_version_range(&mut self, node: NodeId, key: ApiKey, min: i16, max: i16) {
        self.api_versions
            .entry(node)
            .or_default()
            .insert(key, (min, max));
    }

    /// `node` does not support `key` at all.
    pub fn set_unsupported(&mut self, node: NodeId, key: ApiKey) {
        self.unsupported.entry(node).or_default().insert(key);
    }

    // ----- responses -----

    /// The next request (to any node) that `matcher` accepts gets `body`.
    pub fn prepare_response(
        &mut self,
        matcher: impl Fn(&RequestBody) -> bool + Send + 'static,
        body: impl Into<ResponseBody>,
    ) {
        self.prepared.push_back(Prepared {
            node: None,
            matcher: Box::new(matcher),
            outcome: Outcome::Respond(body.into()),
        });
    }

    /// The next request to `node` that `matcher` accepts gets `body`.
    pub fn prepare_response_from(
        &mut self,
        node: NodeId,
        matcher: impl Fn(&RequestBody) -> bool + Send + 'static,
        body: impl Into<ResponseBody>,
    ) {
        self.prepared.push_back(Prepared {
            node: Some(node),
            matcher: Box::new(matcher),
            outcome: Outcome::Respond(body.into()),
        });
    }

    /// The next request of the body's API (any node) gets `body`.
    pub fn prepare_response_for(&mut self, body: impl Into<ResponseBody>) {
        let body = body.into();
        let key = body.api_key();
        self.prepared.push_back(Prepared {
            node: None,
            matcher: Box::new(move |r| r.api_key() == key),
            outcome: Outcome::Respond(body),
        });
    }

    /// The next request `matcher` accepts disconnects its node instead of
    /// being answered.
    pub fn prepare_disconnect(&mut self, matcher: impl Fn(&RequestBody) -> bool + Send + 'static) {
        self.prepared.push_back(Prepared {
            node: None,
            matcher: Box::new(matcher),
            outcome: Outcome::Disconnect,
        });
    }

    /// Prepared responses not used yet.
    pub fn prepared_count(&self) -> usize {
        self.prepared.len()
    }

    /// Answers the oldest request in flight on `node` of the body's API.
    /// Panics if there is none (a mistake in the test).
    pub fn respond_to(&mut self, node: NodeId, body: impl Into<ResponseBody>) {
        let body = body.into();
        let key = body.api_key();
        let Some(i) = self
            .in_flight
            .iter()
            .position(|r| r.node == node && r.api_key == key)
        else {
            panic!(
                "respond_to: no {} request in flight on node {node}",
                key.name()
            );
        };
        let r = self.in_flight.remove(i);
        self.queue_response(r, body);
    }

    /// Answers the oldest request in flight (any node) of the body's API.
    /// Panics if there is none.
    pub fn respond(&mut self, body: impl Into<ResponseBody>) {
        let body = body.into();
        let key = body.api_key();
        let Some(i) = self.in_flight.iter().position(|r| r.api_key == key) else {
            panic!("respond: no {} request in flight", key.name());
        };
        let r = self.in_flight.remove(i);
        self.queue_response(r, body);
    }

    /// Answers the request with this correlation id. Panics if it is not in flight.
    pub fn respond_to_request(&mut self, correlation_id: i32, body: impl Into<ResponseBody>) {
        let Some(i) = self
            .in_flight
            .iter()
            .position(|r| r.correlation_id == correlation_id)
        else {
            panic!("respond_to_request: request {correlation_id} is not in flight");
        };
        let r = self.in_flight.remove(i);
        self.queue_response(r, body.into());
    }

    fn queue_response(&mut self, r: InFlight, body: ResponseBody) {
        assert_eq!(
            body.api_key(),
            r.api_key,
            "prepared {} response given to a {} request",
            body.api_key().name(),
            r.api_key.name()
        );
        self.ready_events
            .push(ClientEvent::Response(ClientResponse {
                node: r.node,
                correlation_id: r.correlation_id,
                api_key: r.api_key,
                api_version: r.version,
                body,
            }));
    }

    /// Applies prepared responses to requests in flight, oldest first.
    fn match_prepared(&mut self) {
        let mut i = 0;
        while i < self.in_flight.len() {
            let r = &self.in_flight[i];
            // A node about to be disconnected answers nothing more: its
            // requests end in the Disconnected event, not in a response.
            if self.pending_disconnects.iter().any(|(n, _)| *n == r.node) {
                i += 1;
                continue;
            }
            let pos = self
                .prepared
                .iter()
                .position(|p| p.node.is_none_or(|n| n == r.node) && (p.matcher)(&r.body));
            match pos.and_then(|p| self.prepared.remove(p)) {
                Some(p) => {
                    let r = self.in_flight.remove(i);
                    match p.outcome {
                        Outcome::Respond(body) => self.queue_response(r, body),
                        Outcome::Disconnect => {
                            let node = r.node;
                            // Back in flight, so the disconnect reports it.
                            self.in_flight.insert(i, r);
                            self.disconnect(node);
                            i += 1;
                        }
                    }
                }
                None => i += 1,
            }
        }
    }

    // ----- inspection -----

    /// Every request sent, oldest first (metadata refreshes are not requests here).
    pub fn requests(&self) -> &[SentRequest] {
        &self.requests
    }

    /// Takes the requests recorded so far.
    pub fn take_requests(&mut self) -> Vec<SentRequest> {
        std::mem::take(&mut self.requests)
    }

    /// The requests of one API.
    pub fn requests_of(&self, key: ApiKey) -> Vec<&SentRequest> {
        self.requests.iter().filter(|r| r.api_key == key).collect()
    }

    /// The last request sent.
    pub fn last_request(&self) -> Option<&SentRequest> {
        self.requests.last()
    }

    /// Bodies of the requests in flight (not answered, not timed out).
    pub fn in_flight_requests(&self) -> Vec<(NodeId, i32, &RequestBody)> {
        self.in_flight
            .iter()
            .map(|r| (r.node, r.correlation_id, &r.body))
            .collect()
    }

    /// Whether responses wait for the next poll.
    pub fn has_pending_responses(&self) -> bool {
        !self.ready_events.is_empty()
    }

    /// How many times `poll` ran.
    pub fn poll_count(&self) -> usize {
        self.polls
    }

    fn expire(&mut self, now: Instant, out: &mut Vec<ClientEvent>) {
        let timed_out_nodes: Vec<NodeId> = {
            let mut nodes: Vec<NodeId> = self
                .in_flight
                .iter()
                .filter(|r| now >= r.deadline)
                .map(|r| r.node)
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            nodes
        };
        for node in timed_out_nodes {
            let (expired, rest): (Vec<InFlight>, Vec<InFlight>) = self
                .in_flight
                .drain(..)
                .partition(|r| r.node == node && now >= r.deadline);
            self.in_flight = rest;
            for r in expired {
                out.push(ClientEvent::Timeout {
                    node,
                    correlation_id: r.correlation_id,
                    api_key: r.api_key,
                });
            }
            // As the real client: the connection closes with the timeout.
            self.close_node(node, NetworkError::RequestTimeout, true, out);
        }
    }

    /// Removes `node`'s in-flight requests and reports them.
    fn close_node(
        &mut self,
        node: NodeId,
        cause: NetworkError,
        always_report: bool,
        out: &mut Vec<ClientEvent>,
    ) {
        let (gone, rest): (Vec<InFlight>, Vec<InFlight>) =
            self.in_flight.drain(..).partition(|r| r.node == node);
        self.in_flight = rest;
        // The throttle belonged to that connection.
        self.throttled_until.remove(&node);
        let s = self.status(node);
        s.connected = false;
        if always_report || !gone.is_empty() {
            out.push(ClientEvent::Disconnected {
                node,
                in_flight: gone
                    .iter()
                    .map(|r| InFlightInfo {
                        correlation_id: r.correlation_id,
                        api_key: r.api_key,
                    })
                    .collect(),
                cause,
            });
        }
    }

    fn maybe_refresh_metadata(&mut self, now: Instant) {
        if !self.metadata.time_to_next_update(now).is_zero() {
            return;
        }
        // As the Java mock: no refresh while every node is unavailable.
        let any_available = self
            .cluster
            .brokers
            .iter()
            .any(|b| self.can_connect(b.id, now));
        if !any_available {
            return;
        }
        let snapshot = match self.metadata_updates.pop_front() {
            Some(s) => {
                self.cluster = s.clone();
                s
            }
            None => self.cluster.clone(),
        };
        if snapshot.brokers.is_empty() {
            return;
        }
        let version = self.metadata.request_spec().request_version;
        self.metadata.update(version, snapshot, now);
        self.metadata_refreshes += 1;
    }
}

impl KafkaClient for MockClient {
    fn ready(&mut self, node: NodeId, now: Instant) -> bool {
        if !self.can_connect(node, now) {
            return false;
        }
        let setup_polls = self.setup_polls;
        let s = self.status(node);
        if !s.connected && setup_polls > 0 {
            // Started now, completed by later polls.
            if s.connecting.is_none() {
                s.connecting = Some(setup_polls);
                s.failed = false;
            }
            return false;
        }
        if !s.connected {
            self.metrics.record_connect(node, now);
        }
        let s = self.status(node);
        s.connected = true;
        s.failed = false;
        self.is_ready(node, now)
    }

    fn is_ready(&self, node: NodeId, now: Instant) -> bool {
        self.nodes.get(&node).is_some_and(|s| s.connected)
            && self.can_connect(node, now)
            && self.node_in_flight(node) < self.max_in_flight
            && !self.is_throttled(node, now)
    }

    fn connection_failed(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|s| s.failed && !s.connected)
    }

    fn connection_delay(&self, node: NodeId, now: Instant) -> Duration {
        match self.nodes.get(&node) {
            // Under way: `poll` reports progress.
            Some(s) if s.connecting.is_some() => Duration::MAX,
            Some(s) if s.connected => match self.throttled_until(node, now) {
                // Throttled (KIP-219): ready again when the throttle ends.
                Some(t) => t.saturating_duration_since(now),
                None => Duration::MAX,
            },
            Some(s) => {
                let until = [s.blackout_until, s.ready_at].into_iter().flatten().max();
                until.map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
            }
            None => Duration::ZERO,
        }
    }

    fn finalized_feature(&self, name: &str) -> Option<i16> {
        self.finalized_features.get(name).copied()
    }

    fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16> {
        // A coordinator connection speaks what its broker speaks, unless the
        // test set its own ranges.
        let broker = self.coordinators.get(&node).copied();
        let unsupported = |n: NodeId| self.unsupported.get(&n).is_some_and(|u| u.contains(&key));
        if unsupported(node) || broker.is_some_and(unsupported) {
            return None;
        }
        let (our_min, our_max) = key.supported_versions();
        let range = |n: NodeId| self.api_versions.get(&n).and_then(|m| m.get(&key).copied());
        let (their_min, their_max) = range(node)
            .or_else(|| broker.and_then(range))
            .unwrap_or((our_min, our_max));
        let v = our_max.min(their_max);
        (v >= our_min.max(their_min)).then_some(v)
    }

    fn send_request(
        &mut self,
        node: NodeId,
        request: ClientRequest,
        now: Instant,
    ) -> Result<i32, NetworkError> {
        if !self.is_ready(node, now) {
            return Err(NetworkError::NotReady(node));
        }
        let api_key = request.body.api_key();
        let version = match request.version {
            Some(v) => v,
            None => self
                .api_version(node, api_key)
                .ok_or(NetworkError::UnsupportedVersion {
                    api: api_key.name(),
                    node,
                })?,
        };
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(0);
        let timeout = request.timeout.unwrap_or(self.request_timeout);
        self.metrics.record_request(node, 0, now);
        self.requests.push(SentRequest {
            node,
            correlation_id,
            api_key,
            version,
            body: request.body.clone(),
            sent_at: now,
            timeout,
        });
        if !expects_response(&request.body) {
            self.ready_events.push(ClientEvent::Sent {
                node,
                correlation_id,
                api_key,
            });
            return Ok(correlation_id);
        }
        self.in_flight.push(InFlight {
            node,
            correlation_id,
            api_key,
            version,
            body: request.body,
            deadline: now + timeout,
        });
        self.match_prepared();
        Ok(correlation_id)
    }

    fn in_flight_count(&self, node: NodeId) -> usize {
        self.node_in_flight(node)
    }

    fn has_in_flight(&self) -> bool {
        // As in the real client, a request stays in flight until `poll`
        // delivers its response (an answered one only waits for that poll).
        !self.in_flight.is_empty()
            || self
                .ready_events
                .iter()
                .any(|e| matches!(e, ClientEvent::Response(_)))
    }

    fn poll(&mut self, timeout: Duration, now: Instant) -> Vec<ClientEvent> {
        self.polls += 1;
        self.match_prepared();
        let mut now = now;
        if self.advance_on_poll
            && self.ready_events.is_empty()
            && self.pending_disconnects.is_empty()
        {
            if let Some(time) = &self.time {
                let mut wait = timeout;
                if let Some(d) = self.in_flight.iter().map(|r| r.deadline).min() {
                    wait = wait.min(d.saturating_duration_since(now));
                }
                // As the real poll, wake when a throttle ends.
                if let Some(t) = self.throttled_until.values().filter(|&&t| t > now).min() {
                    wait = wait.min(t.saturating_duration_since(now));
                }
                let md = self.metadata.time_to_next_update(now);
                wait = wait.min(md);
                if wait != Duration::MAX {
                    time.advance(wait);
                }
                now = time.now().max(now);
            }
        }
        self.maybe_refresh_metadata(now);
        for s in self.nodes.values_mut() {
            if let Some(left) = s.connecting {
                if left <= 1 {
                    s.connecting = None;
                    s.connected = true;
                } else {
                    s.connecting = Some(left - 1);
                }
            }
        }
        let mut out = std::mem::take(&mut self.ready_events);
        self.on_delivered(&out, now);
        for e in &out {
            if let ClientEvent::Response(r) = e {
                let sent = self
                    .requests
                    .iter()
                    .rev()
                    .find(|q| q.node == r.node && q.correlation_id == r.correlation_id)
                    .map_or(now, |q| q.sent_at);
                let latency = now.saturating_duration_since(sent);
                self.metrics.record_response(r.node, 0, latency, now);
            }
        }
        for (node, cause) in std::mem::take(&mut self.pending_disconnects) {
            self.close_node(node, cause, true, &mut out);
        }
        self.expire(now, &mut out);
        out
    }

    fn least_loaded_node(&mut self, now: Instant) -> Option<NodeId> {
        let mut nodes: Vec<NodeId> = self.metadata.brokers().keys().copied().collect();
        nodes.sort_unstable();
        nodes
            .into_iter()
            .filter(|&n| self.can_connect(n, now))
            .min_by_key(|&n| self.node_in_flight(n))
    }

    fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    fn wakeup_handle(&self) -> WakeupHandle {
        self.wakeup.clone()
    }

    fn network_metrics(&self) -> Option<&crate::NetworkMetrics> {
        Some(&self.metrics)
    }

    fn close(&mut self, node: NodeId) {
        let mut out = Vec::new();
        self.close_node(node, NetworkError::ClosedByClient, false, &mut out);
        self.nodes.remove(&node);
        self.ready_events.extend(out);
    }

    fn coordinator_node(&mut self, broker: NodeId, host: &str, port: u16) -> NodeId {
        let _ = (host, port);
        if broker < 0 {
            return broker;
        }
        let id = crate::client::coordinator_connection_id(broker);
        self.coordinators.insert(id, broker);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TopicPartition;
    use prozess_protocol::messages::{
        FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
        ListOffsetsRequest, ListOffsetsResponse,
    };

    fn find_coordinator() -> RequestBody {
        RequestBody::FindCoordinator(FindCoordinatorRequest::default())
    }

    fn heartbeat() -> RequestBody {
        RequestBody::Heartbeat(HeartbeatRequest::default())
    }

    #[test]
    fn a_prepared_disconnect_is_not_answered_by_a_later_prepared_response() {
        let mut m = MockClient::new_with_cluster(&[1], &[("a", 1)]);
        let now = Instant::now();
        assert!(m.ready(1, now));
        let first = m.send(1, heartbeat(), now).unwrap();
        let second = m.send(1, find_coordinator(), now).unwrap();
        m.prepare_disconnect(|b| matches!(b, RequestBody::Heartbeat(_)));
        // Meant for a retry on a new connection, not for the dropped requests.
        m.prepare_response(
            |b| matches!(b, RequestBody::FindCoordinator(_)),
            FindCoordinatorResponse::default(),
        );
        let events = m.poll(Duration::ZERO, now);
        assert_eq!(events.len(), 1, "{events:?}");
        match &events[0] {
            ClientEvent::Disconnected {
                node, in_flight, ..
            } => {
                assert_eq!(*node, 1);
                let ids: Vec<i32> = in_flight.iter().map(|r| r.correlation_id).collect();
                assert_eq!(ids, vec![first, second]);
            }
            other => panic!("expected a disconnect, got {other:?}"),
        }
        assert_eq!(m.prepared_count(), 1, "the response stays prepared");
    }

    #[test]
    fn cluster_metadata_is_ready_at_once() {
        let m = MockClient::new_with_cluster(&[1, 2], &[("a", 3), ("b", 1)]);
        let md = m.metadata();
        assert_eq!(md.brokers().len(), 2);
        assert_eq!(md.partitions_for("a").unwrap().len(), 3);
        assert_eq!(md.leader_for(&TopicPartition::new("a", 0)), Some(1));
        assert_eq!(md.leader_for(&TopicPartition::new("a", 1)), Some(2));
        assert!(md.topic_id("b").is_some());
    }

    #[test]
    fn prepared_responses_answer_matching_requests_in_order() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        m.prepare_response(
            |b| matches!(b, RequestBody::FindCoordinator(_)),
            FindCoordinatorResponse {
                node_id: 7,
                ..Default::default()
            },
        );
        m.prepare_response_for(HeartbeatResponse::default());
        assert!(m.ready(1, now));
        let hb = m.send(1, heartbeat(), now).unwrap();
        let fc = m.send(1, find_coordinator(), now).unwrap();
        let events = m.poll(Duration::ZERO, now);
        let ids: Vec<i32> = events
            .iter()
            .map(|e| match e {
                ClientEvent::Response(r) => r.correlation_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![hb, fc]);
        let ClientEvent::Response(r) = &events[1] else {
            unreachable!()
        };
        let ResponseBody::FindCoordinator(f) = &r.body else {
            panic!()
        };
        assert_eq!(f.node_id, 7);
        assert_eq!(
            r.api_version,
            ApiKey::FindCoordinator.supported_versions().1
        );
        assert_eq!(m.prepared_count(), 0);
        assert_eq!(m.requests().len(), 2);
        assert_eq!(m.requests_of(ApiKey::Heartbeat).len(), 1);
        assert!(!m.has_in_flight());
    }

    #[test]
    fn unanswered_requests_wait_for_respond_or_timeout() {
        let time = MockTime::new();
        let mut m =
            MockClient::new_with_cluster_at(&[1, 2], &[], time.now()).with_time(time.clone());
        m.set_request_timeout(Duration::from_secs(30));
        assert!(m.ready(1, time.now()));
        assert!(m.ready(2, time.now()));
        let a = m.send(1, heartbeat(), time.now()).unwrap();
        let b = m.send(2, heartbeat(), time.now()).unwrap();
        assert!(m.poll(Duration::ZERO, time.now()).is_empty());
        m.respond_to(2, HeartbeatResponse::default());
        let events = m.poll(Duration::ZERO, time.now());
        assert!(matches!(&events[..], [ClientEvent::Response(r)] if r.correlation_id == b));
        time.advance(Duration::from_secs(31));
        let events = m.poll(Duration::ZERO, time.now());
        assert!(
            matches!(&events[0], ClientEvent::Timeout { node: 1, correlation_id, .. } if *correlation_id == a)
        );
        assert!(matches!(
            &events[1],
            ClientEvent::Disconnected {
                node: 1,
                cause: NetworkError::RequestTimeout,
                ..
            }
        ));
        assert!(!m.is_ready(1, time.now()));
        assert!(m.ready(1, time.now()));
    }

    #[test]
    fn late_prepared_response_answers_request_in_flight() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        m.ready(1, now);
        let a = m.send(1, heartbeat(), now).unwrap();
        m.prepare_response_from(1, |_| true, HeartbeatResponse::default());
        let events = m.poll(Duration::ZERO, now);
        assert!(matches!(&events[..], [ClientEvent::Response(r)] if r.correlation_id == a));
    }

    #[test]
    fn prepared_for_other_node_does_not_match() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1, 2], &[], now);
        m.prepare_response_from(2, |_| true, HeartbeatResponse::default());
        m.ready(1, now);
        m.send(1, heartbeat(), now).unwrap();
        assert!(m.poll(Duration::ZERO, now).is_empty());
        assert_eq!(m.prepared_count(), 1);
    }

    #[test]
    fn disconnect_reports_in_flight_and_node_must_reconnect() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        m.ready(1, now);
        let a = m.send(1, heartbeat(), now).unwrap();
        m.disconnect(1);
        assert!(m.connection_failed(1));
        let events = m.poll(Duration::ZERO, now);
        match &events[..] {
            [ClientEvent::Disconnected {
                node: 1,
                in_flight,
                cause: NetworkError::ConnectionClosed,
            }] => {
                assert_eq!(in_flight[0].correlation_id, a)
            }
            other => panic!("{other:?}"),
        }
        assert!(!m.is_ready(1, now));
        assert!(m.ready(1, now));
        assert!(!m.connection_failed(1));
    }

    #[test]
    fn prepared_disconnect() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        m.prepare_disconnect(|b| matches!(b, RequestBody::Heartbeat(_)));
        m.ready(1, now);
        let a = m.send(1, heartbeat(), now).unwrap();
        let events = m.poll(Duration::ZERO, now);
        assert!(
            matches!(&events[..], [ClientEvent::Disconnected { node: 1, in_flight, .. }] if in_flight[0].correlation_id == a),
            "{events:?}"
        );
    }

    #[test]
    fn connection_setup_can_take_several_polls() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[0], &[("t", 1)], now);
        m.set_connection_setup_polls(2);
        assert!(!m.ready(0, now), "ready() only starts the connect");
        assert!(m.is_connecting(0));
        assert_eq!(m.connection_delay(0, now), Duration::MAX);
        assert!(!m.ready(0, now), "asking again does not restart it");
        m.poll(Duration::ZERO, now);
        assert!(!m.is_ready(0, now), "one poll is not enough");
        m.poll(Duration::ZERO, now);
        assert!(m.is_ready(0, now) && !m.is_connecting(0));
        m.send(0, heartbeat(), now).unwrap();
        m.disconnect(0);
        m.poll(Duration::ZERO, now);
        assert!(!m.ready(0, now), "a dropped connection is set up again");
        m.poll(Duration::ZERO, now);
        m.poll(Duration::ZERO, now);
        assert!(m.ready(0, now));
    }

    #[test]
    fn readiness_controls() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1, 2], &[], now);
        m.set_unready(1);
        assert!(!m.ready(1, now));
        assert!(matches!(
            m.send(1, heartbeat(), now),
            Err(NetworkError::NotReady(1))
        ));
        m.set_ready(1);
        assert!(m.ready(1, now));

        m.delay_ready(2, Duration::from_secs(1), now);
        assert!(!m.ready(2, now));
        assert_eq!(m.connection_delay(2, now), Duration::from_secs(1));
        assert!(m.ready(2, now + Duration::from_secs(1)));

        m.blackout(1, Duration::from_secs(5), now);
        assert!(m.connection_failed(1));
        assert!(!m.ready(1, now));
        assert_eq!(
            m.least_loaded_node(now),
            None,
            "1 blacked out, 2 not ready yet"
        );
        assert_eq!(m.least_loaded_node(now + Duration::from_secs(1)), Some(2));

        m.set_max_in_flight(1);
        let later = now + Duration::from_secs(2);
        m.send(2, heartbeat(), later).unwrap();
        assert!(!m.is_ready(2, later));
    }

    #[test]
    fn negotiated_versions_follow_node_ranges() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        assert_eq!(
            m.api_version(1, ApiKey::Fetch),
            Some(ApiKey::Fetch.supported_versions().1)
        );
        m.set_api_version_range(1, ApiKey::Fetch, 4, 12);
        assert_eq!(m.api_version(1, ApiKey::Fetch), Some(12));
        m.set_api_version_range(1, ApiKey::ListOffsets, 20, 30);
        assert_eq!(m.api_version(1, ApiKey::ListOffsets), None);
        m.set_unsupported(1, ApiKey::Heartbeat);
        m.ready(1, now);
        assert!(matches!(
            m.send(1, heartbeat(), now),
            Err(NetworkError::UnsupportedVersion { .. })
        ));
        let v = m.send_with_version(
            1,
            RequestBody::ListOffsets(ListOffsetsRequest::default()),
            5,
            now,
        );
        assert!(v.is_ok());
        assert_eq!(m.last_request().unwrap().version, 5);
        m.respond(ListOffsetsResponse::default());
        assert_eq!(m.poll(Duration::ZERO, now).len(), 1);
    }

    #[test]
    fn metadata_refreshes_when_due() {
        let time = MockTime::new();
        let mut m = MockClient::new_with_cluster_at(&[1], &[("a", 1)], time.now());
        let before = m.metadata_refreshes();
        let mut next = MetadataSnapshot::simple(&[1, 2], &[("a", 2)]);
        next.topics[0].partitions[0].leader_epoch = 1;
        m.prepare_metadata_update(next);
        // Not due yet: nothing changes.
        m.poll(Duration::ZERO, time.now());
        assert_eq!(m.metadata_refreshes(), before);
        m.metadata_mut().request_update();
        m.poll(Duration::ZERO, time.now());
        assert_eq!(m.metadata_refreshes(), before + 1);
        assert_eq!(m.metadata().partitions_for("a").unwrap().len(), 2);
        // Later refreshes return the same cluster again; so does max age.
        time.advance(Duration::from_secs(301));
        m.poll(Duration::ZERO, time.now());
        assert_eq!(m.metadata_refreshes(), before + 2);
        assert_eq!(m.metadata().brokers().len(), 2);
    }

    #[test]
    fn poll_advances_mock_time_when_asked() {
        let time = MockTime::new();
        let start = time.now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], start).with_time(time.clone());
        m.set_advance_time_on_poll(true);
        m.set_request_timeout(Duration::from_secs(3));
        m.ready(1, start);
        m.send(1, heartbeat(), start).unwrap();
        // The poll "blocks" until the request deadline, not the full timeout.
        let events = m.poll(Duration::from_secs(10), start);
        assert_eq!(time.now(), start + Duration::from_secs(3));
        assert!(matches!(events[0], ClientEvent::Timeout { .. }));
    }

    #[test]
    fn acks_zero_is_sent_without_response() {
        use prozess_protocol::messages::ProduceRequest;
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        m.ready(1, now);
        let body = RequestBody::Produce(ProduceRequest {
            acks: 0,
            ..Default::default()
        });
        let c = m.send(1, body, now).unwrap();
        assert!(!m.has_in_flight());
        let events = m.poll(Duration::ZERO, now);
        assert!(
            matches!(&events[..], [ClientEvent::Sent { correlation_id, .. }] if *correlation_id == c)
        );
    }

    #[test]
    fn close_reports_in_flight() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        m.ready(1, now);
        let a = m.send(1, heartbeat(), now).unwrap();
        m.close(1);
        assert!(!m.connection_failed(1));
        let events = m.poll(Duration::ZERO, now);
        assert!(
            matches!(&events[..], [ClientEvent::Disconnected { in_flight, cause: NetworkError::ClosedByClient, .. }] if in_flight[0].correlation_id == a)
        );
        let wake = m.wakeup_handle();
        wake.wakeup();
        assert!(m.wakeup_handle().take());
    }

    #[test]
    fn coordinator_gets_its_own_connection() {
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1, 2], &[("a", 2)], now);
        m.set_max_in_flight(1);
        m.set_api_version_range(1, ApiKey::Heartbeat, 0, 2);
        let c = m.coordinator_node(1, "broker-1", 9092);
        assert_eq!(c, i32::MAX - 1);
        assert_eq!(m.coordinator_node(1, "broker-1", 9092), c, "stable id");
        assert_eq!(m.coordinator_broker(c), Some(1));
        assert_eq!(m.coordinator_node(-1, "x", 1), -1);

        // Its own readiness and in-flight count: a request on the broker's
        // connection does not hold the coordinator's back.
        assert!(m.ready(1, now));
        let fetch_like = m.send(1, find_coordinator(), now).unwrap();
        assert!(!m.is_ready(1, now));
        assert!(m.ready(c, now));
        assert_eq!(
            m.api_version(c, ApiKey::Heartbeat),
            Some(2),
            "the broker's versions"
        );
        let hb = m.send(c, heartbeat(), now).unwrap();
        assert_eq!(m.in_flight_count(1), 1);
        assert_eq!(m.in_flight_count(c), 1);
        assert_eq!(m.last_request().unwrap().node, c);
        assert_eq!(m.last_request().unwrap().version, 2);

        // Never a least-loaded node.
        for _ in 0..3 {
            assert_ne!(m.least_loaded_node(now), Some(c));
        }

        m.prepare_response_from(
            c,
            |b| b.api_key() == ApiKey::Heartbeat,
            HeartbeatResponse::default(),
        );
        let events = m.poll(Duration::ZERO, now);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            matches!(&events[0], ClientEvent::Response(r) if r.node == c && r.correlation_id == hb)
        );

        // Dropping one connection leaves the other alone.
        m.disconnect(c);
        let events = m.poll(Duration::ZERO, now);
        assert!(
            matches!(&events[..], [ClientEvent::Disconnected { node, in_flight, .. }] if *node == c && in_flight.is_empty())
        );
        assert_eq!(m.in_flight_count(1), 1);
        m.respond_to_request(fetch_like, FindCoordinatorResponse::default());
        let events = m.poll(Duration::ZERO, now);
        assert!(matches!(&events[..], [ClientEvent::Response(r)] if r.node == 1));
    }

    #[test]
    fn throttled_response_holds_the_connection_back() {
        use prozess_protocol::messages::{FetchRequest, FetchResponse};
        let time = MockTime::new();
        let start = time.now();
        let mut m = MockClient::new_with_cluster_at(&[1, 2], &[], start).with_time(time.clone());
        let throttle = Duration::from_millis(400);
        assert!(m.ready(1, start));
        m.send(1, RequestBody::Fetch(FetchRequest::default()), start)
            .unwrap();
        m.prepare_response_for(FetchResponse {
            throttle_time_ms: throttle.as_millis() as i32,
            ..Default::default()
        });
        let events = m.poll(Duration::ZERO, start);
        assert_eq!(events.len(), 1);
        assert!(!m.is_ready(1, start));
        assert!(!m.ready(1, start));
        assert_eq!(m.connection_delay(1, start), throttle);
        assert_eq!(m.throttled_until(1, start), Some(start + throttle));
        assert!(matches!(
            m.send(1, heartbeat(), start),
            Err(NetworkError::NotReady(1))
        ));
        // Other connections are not affected.
        assert!(m.ready(2, start));

        // A poll with nothing to do wakes when the throttle ends.
        m.set_advance_time_on_poll(true);
        m.poll(Duration::from_secs(10), start);
        assert_eq!(time.now(), start + throttle);
        assert!(m.is_ready(1, time.now()));
        assert_eq!(m.connection_delay(1, time.now()), Duration::MAX);
    }

    #[test]
    fn pre_kip_219_versions_do_not_throttle_the_client() {
        use prozess_protocol::messages::{FetchRequest, FetchResponse};
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1], &[], now);
        // Fetch v7: the broker delayed the response itself.
        m.set_api_version_range(1, ApiKey::Fetch, 0, 7);
        m.ready(1, now);
        m.send(1, RequestBody::Fetch(FetchRequest::default()), now)
            .unwrap();
        m.prepare_response_for(FetchResponse {
            throttle_time_ms: 1000,
            ..Default::default()
        });
        assert_eq!(m.poll(Duration::ZERO, now).len(), 1);
        assert!(m.is_ready(1, now));
        assert_eq!(m.throttled_until(1, now), None);
    }

    #[test]
    fn find_coordinator_answers_make_coordinator_connections() {
        use crate::client::coordinator_connection_id;
        use prozess_protocol::messages::find_coordinator::response::Coordinator;
        let now = Instant::now();
        let mut m = MockClient::new_with_cluster_at(&[1, 2], &[], now);
        m.ready(1, now);
        m.send(1, find_coordinator(), now).unwrap();
        m.prepare_response_for(FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: "g".to_string(),
                node_id: 2,
                host: "broker-2".to_string(),
                port: 9092,
                ..Default::default()
            }],
            ..Default::default()
        });
        let c = coordinator_connection_id(2);
        assert_eq!(m.coordinator_broker(c), None);
        assert_eq!(m.poll(Duration::ZERO, now).len(), 1);
        assert_eq!(m.coordinator_broker(c), Some(2));
        m.set_unsupported(2, ApiKey::Heartbeat);
        assert!(m.ready(c, now));
        assert_eq!(
            m.api_version(c, ApiKey::Heartbeat),
            None,
            "the broker's versions"
        );
    }
}
