//! [`MockClusterClient`]: a [`KafkaClient`] whose brokers are a
//! [`MockCluster`] in the same process.
//!
//! As on a real connection, a broker handles one request of a connection at
//! a time and answers in order: a Fetch held for `fetch.max.wait.ms` holds
//! the requests behind it. Group coordinators get connections of their own
//! ([`KafkaClient::coordinator_node`]), as in the real client.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use prozess_network::{
    coordinator_connection_id, coordinators_in, expects_response, ClientEvent, ClientRequest,
    ClientResponse, InFlightInfo, KafkaClient, Metadata, MetadataSnapshot, NetworkError, NodeId,
    WakeupHandle,
};
use prozess_protocol::messages::metadata::request::MetadataRequestTopic;
use prozess_protocol::messages::MetadataRequest;
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

use crate::cluster::MockCluster;
use crate::state::{ClusterState, Reply, SUPPORTED};

/// The connection id metadata requests are handled under (never held).
const METADATA_CONNECTION: u64 = 0;

/// How long a connection to a dead broker backs off before `ready` tries
/// again (reconnect.backoff.ms).
const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);

/// Longest real wait of an idle poll of a thread client, so that it notices
/// what other clients did to the cluster.
const THREAD_POLL_SLICE: Duration = Duration::from_millis(5);

#[derive(Debug)]
struct Pending {
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: Option<RequestBody>,
    submitted: bool,
    response: Option<ResponseBody>,
    deadline: Instant,
}

#[derive(Debug)]
struct Conn {
    broker: NodeId,
    id: u64,
    queue: VecDeque<Pending>,
}

/// A [`KafkaClient`] over a [`MockCluster`]. Made by
/// [`MockCluster::client`] (for code driven by the test's thread and the
/// cluster's [`MockTime`](crate::MockTime)) and
/// [`MockCluster::client_for_thread`] (for code on a thread of its own).
///
/// ```
/// use std::time::Duration;
/// use prozess_mock::MockCluster;
/// use prozess_network::KafkaClient;
/// use prozess_protocol::messages::ApiVersionsRequest;
///
/// let cluster = MockCluster::new(1);
/// let time = cluster.time();
/// let mut client = cluster.client();
/// assert!(client.ready(0, time.now()));
/// client.send(0, ApiVersionsRequest::default().into(), time.now()).unwrap();
/// let events = client.poll(Duration::from_secs(1), time.now());
/// assert_eq!(events.len(), 1);
/// ```
pub struct MockClusterClient {
    cluster: MockCluster,
    advance_time: bool,
    metadata: Metadata,
    conns: HashMap<NodeId, Conn>,
    /// Dedicated coordinator connections: connection id -> broker.
    coordinators: HashMap<NodeId, NodeId>,
    failed: HashMap<NodeId, Instant>,
    ready_events: Vec<ClientEvent>,
    next_correlation_id: i32,
    max_in_flight: usize,
    request_timeout: Duration,
    client_id: String,
    wakeup: WakeupHandle,
    poll: Option<mio::Poll>,
}

impl std::fmt::Debug for MockClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockClusterClient")
            .field("connections", &self.conns.len())
            .field("advance_time", &self.advance_time)
            .finish_non_exhaustive()
    }
}

impl MockClusterClient {
    pub(crate) fn new(cluster: MockCluster, advance_time: bool) -> Self {
        let mut poll = None;
        let wakeup = if advance_time {
            WakeupHandle::flag_only()
        } else {
            match mio::Poll::new().and_then(|p| {
                let w = mio::Waker::new(p.registry(), mio::Token(0))?;
                Ok((p, w))
            }) {
                Ok((p, w)) => {
                    poll = Some(p);
                    WakeupHandle::new(w)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mock client: no waker, polls will not block");
                    WakeupHandle::flag_only()
                }
            }
        };
        let now = cluster.time.now();
        let mut metadata = Metadata::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        // The brokers are known from the start (as after a bootstrap).
        let snapshot = {
            let mut s = cluster.lock();
            let r = MetadataRequest {
                topics: Some(Vec::new()),
                ..Default::default()
            };
            match s.handle((METADATA_CONNECTION, 0), 0, 12, "", r.into(), now) {
                Reply::Now(ResponseBody::Metadata(m)) => {
                    Some(MetadataSnapshot::from_response(&m, 12))
                }
                _ => None,
            }
        };
        if let Some(snapshot) = snapshot {
            metadata.update(0, snapshot, now);
        }
        MockClusterClient {
            cluster,
            advance_time,
            metadata,
            conns: HashMap::new(),
            coordinators: HashMap::new(),
            failed: HashMap::new(),
            ready_events: Vec::new(),
            next_correlation_id: 0,
            max_in_flight: 5,
            request_timeout: Duration::from_secs(30),
            client_id: "prozess-mock-client".to_string(),
            wakeup,
            poll,
        }
    }

    /// The client id the cluster sees (member ids start with it).
    pub fn with_client_id(mut self, client_id: &str) -> Self {
        self.client_id = client_id.to_string();
        self
    }

    /// `request.timeout.ms` for requests without their own (default 30 s).
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// The cluster this client talks to.
    pub fn cluster(&self) -> &MockCluster {
        &self.cluster
    }

    fn broker_of(&self, node: NodeId) -> NodeId {
        self.coordinators.get(&node).copied().unwrap_or(node)
    }

    fn in_flight_of(&self, node: NodeId) -> usize {
        self.conns.get(&node).map_or(0, |c| c.queue.len())
    }

    fn close_conn(
        &mut self,
        node: NodeId,
        cause: NetworkError,
        state: &mut ClusterState,
        out: &mut Vec<ClientEvent>,
        always: bool,
    ) {
        if let Some(conn) = self.conns.remove(&node) {
            state.drop_connection(conn.id);
            if always || !conn.queue.is_empty() {
                out.push(ClientEvent::Disconnected {
                    node,
                    in_flight: conn
                        .queue
                        .iter()
                        .map(|p| InFlightInfo {
                            correlation_id: p.correlation_id,
                            api_key: p.api_key,
                        })
                        .collect(),
                    cause,
                });
            }
        }
    }

    /// Hands queued requests to the cluster (one at a time per connection,
    /// as a broker reads them) and collects what it answered.
    fn pump(&mut self, state: &mut ClusterState, out: &mut Vec<ClientEvent>) {
        let cluster_now = self.cluster.time.now();
        let client_id = self.client_id.clone();
        let mut nodes: Vec<NodeId> = self.conns.keys().copied().collect();
        nodes.sort_unstable();
        for node in nodes {
            let Some(conn) = self.conns.get_mut(&node) else {
                continue;
            };
            for (id, body) in state.take_completed(conn.id) {
                if let Some(p) = conn.queue.iter_mut().find(|p| p.correlation_id == id.1) {
                    p.response = Some(body);
                }
            }
            let mut i = 0;
            while i < conn.queue.len() {
                let p = &mut conn.queue[i];
                if !p.submitted {
                    p.submitted = true;
                    let body = p.body.take().expect("unsubmitted requests keep their body");
                    match state.handle(
                        (conn.id, p.correlation_id),
                        conn.broker,
                        p.version,
                        &client_id,
                        body,
                        cluster_now,
                    ) {
                        Reply::Now(r) => p.response = Some(r),
                        Reply::NoResponse => {
                            out.push(ClientEvent::Sent {
                                node,
                                correlation_id: p.correlation_id,
                                api_key: p.api_key,
                            });
                            conn.queue.remove(i);
                            continue;
                        }
                        Reply::Held => {}
                    }
                    for (id, body) in state.take_completed(conn.id) {
                        if let Some(q) = conn.queue.iter_mut().find(|q| q.correlation_id == id.1) {
                            q.response = Some(body);
                        }
                    }
                }
                if conn.queue[i].response.is_none() {
                    break;
                }
                i += 1;
            }
            while conn.queue.front().is_some_and(|p| p.response.is_some()) {
                let p = conn.queue.pop_front().expect("checked");
                let body = p.response.expect("checked");
                out.push(ClientEvent::Response(ClientResponse {
                    node,
                    correlation_id: p.correlation_id,
                    api_key: p.api_key,
                    api_version: p.version,
                    body,
                }));
            }
        }
    }

    fn refresh_metadata(&mut self, state: &mut ClusterState, now: Instant) {
        if !self.metadata.time_to_next_update(now).is_zero() {
            return;
        }
        let Some(broker) = state
            .brokers
            .iter()
            .find(|(_, b)| b.alive)
            .map(|(&id, _)| id)
        else {
            self.metadata.failed_update(now);
            return;
        };
        let spec = self.metadata.request_spec();
        let request = MetadataRequest {
            topics: spec.topics.map(|ts| {
                ts.into_iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name),
                        ..Default::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: true,
            ..Default::default()
        };
        let version = ApiKey::Metadata.supported_versions().1;
        let cluster_now = self.cluster.time.now();
        match state.handle(
            (METADATA_CONNECTION, 0),
            broker,
            version,
            &self.client_id,
            request.into(),
            cluster_now,
        ) {
            Reply::Now(ResponseBody::Metadata(m)) => {
                let snapshot = MetadataSnapshot::from_response(&m, version);
                self.metadata.update(spec.request_version, snapshot, now);
            }
            _ => self.metadata.failed_update(now),
        }
    }

    /// One round: the cluster catches up with its clock, requests go in,
    /// answers come out; dead brokers and timeouts close connections.
    fn collect(&mut self, now: Instant) -> Vec<ClientEvent> {
        let cluster = self.cluster.clone();
        let mut state = cluster.lock();
        state.tick(cluster.time.now());
        let mut out = std::mem::take(&mut self.ready_events);
        let dead: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|(_, c)| !state.is_alive(c.broker))
            .map(|(&n, _)| n)
            .collect();
        for node in dead {
            self.close_conn(
                node,
                NetworkError::ConnectionClosed,
                &mut state,
                &mut out,
                true,
            );
            self.failed.insert(node, now + RECONNECT_BACKOFF);
        }
        self.pump(&mut state, &mut out);
        let expired: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.queue
                    .iter()
                    .any(|p| p.response.is_none() && now >= p.deadline)
            })
            .map(|(&n, _)| n)
            .collect();
        for node in expired {
            if let Some(conn) = self.conns.get_mut(&node) {
                let (gone, rest): (VecDeque<Pending>, VecDeque<Pending>) =
                    conn.queue.drain(..).partition(|p| now >= p.deadline);
                conn.queue = rest;
                for p in gone {
                    out.push(ClientEvent::Timeout {
                        node,
                        correlation_id: p.correlation_id,
                        api_key: p.api_key,
                    });
                }
            }
            self.close_conn(
                node,
                NetworkError::RequestTimeout,
                &mut state,
                &mut out,
                true,
            );
        }
        self.refresh_metadata(&mut state, now);
        drop(state);
        for e in &out {
            if let ClientEvent::Response(r) = e {
                if let ResponseBody::FindCoordinator(f) = &r.body {
                    for (broker, host, port) in coordinators_in(f) {
                        self.coordinator_node(broker, &host, port);
                    }
                }
            }
        }
        out
    }

    /// How long an idle poll waits: its timeout, cut at the next request
    /// deadline, cluster deadline and metadata refresh.
    fn idle_wait(&self, timeout: Duration, now: Instant) -> Duration {
        let mut wait = timeout.min(self.metadata.time_to_next_update(now));
        for c in self.conns.values() {
            for p in &c.queue {
                wait = wait.min(p.deadline.saturating_duration_since(now));
            }
        }
        let cluster_now = self.cluster.time.now();
        if let Some(d) = self.cluster.lock().next_deadline() {
            wait = wait.min(d.saturating_duration_since(cluster_now));
        }
        for &t in self.failed.values() {
            if t > now {
                wait = wait.min(t - now);
            }
        }
        wait
    }
}

impl KafkaClient for MockClusterClient {
    fn ready(&mut self, node: NodeId, now: Instant) -> bool {
        let broker = self.broker_of(node);
        if !self.cluster.is_alive(broker) {
            self.failed.entry(node).or_insert(now + RECONNECT_BACKOFF);
            return false;
        }
        if self.failed.get(&node).is_some_and(|&t| now < t) {
            return false;
        }
        self.failed.remove(&node);
        if !self.conns.contains_key(&node) {
            let id = self.cluster.next_connection();
            self.conns.insert(
                node,
                Conn {
                    broker,
                    id,
                    queue: VecDeque::new(),
                },
            );
        }
        self.is_ready(node, now)
    }

    fn is_ready(&self, node: NodeId, _now: Instant) -> bool {
        self.conns.contains_key(&node)
            && self.cluster.is_alive(self.broker_of(node))
            && self.in_flight_of(node) < self.max_in_flight
    }

    fn connection_failed(&self, node: NodeId) -> bool {
        self.failed.contains_key(&node) && !self.conns.contains_key(&node)
    }

    fn connection_delay(&self, node: NodeId, now: Instant) -> Duration {
        if self.conns.contains_key(&node) {
            return Duration::MAX;
        }
        self.failed
            .get(&node)
            .map_or(Duration::ZERO, |&t| t.saturating_duration_since(now))
    }

    fn api_version(&self, _node: NodeId, key: ApiKey) -> Option<i16> {
        SUPPORTED.contains(&key).then(|| key.supported_versions().1)
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
        let _ = expects_response(&request.body);
        let conn = self.conns.get_mut(&node).expect("ready checked");
        conn.queue.push_back(Pending {
            correlation_id,
            api_key,
            version,
            body: Some(request.body),
            submitted: false,
            response: None,
            deadline: now + timeout,
        });
        Ok(correlation_id)
    }

    fn in_flight_count(&self, node: NodeId) -> usize {
        self.in_flight_of(node)
    }

    fn has_in_flight(&self) -> bool {
        self.conns.values().any(|c| !c.queue.is_empty())
    }

    fn poll(&mut self, timeout: Duration, now: Instant) -> Vec<ClientEvent> {
        let out = self.collect(now);
        if !out.is_empty() || timeout.is_zero() {
            return out;
        }
        let wait = self.idle_wait(timeout, now);
        if wait.is_zero() || wait == Duration::MAX {
            return out;
        }
        if self.advance_time {
            // As long as a blocking poll would have waited, in no real time.
            self.cluster.time.advance(wait);
            self.collect(now + wait)
        } else {
            let started = Instant::now();
            if let Some(p) = self.poll.as_mut() {
                let mut events = mio::Events::with_capacity(2);
                let _ = p.poll(&mut events, Some(wait.min(THREAD_POLL_SLICE)));
            }
            self.collect(now + started.elapsed())
        }
    }

    fn least_loaded_node(&mut self, now: Instant) -> Option<NodeId> {
        let mut nodes: Vec<NodeId> = self.metadata.brokers().keys().copied().collect();
        nodes.sort_unstable();
        nodes
            .into_iter()
            .filter(|&n| self.cluster.is_alive(n) && self.failed.get(&n).is_none_or(|&t| now >= t))
            .min_by_key(|&n| self.in_flight_of(n))
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

    fn close(&mut self, node: NodeId) {
        let cluster = self.cluster.clone();
        let mut state = cluster.lock();
        let mut out = Vec::new();
        self.close_conn(
            node,
            NetworkError::ClosedByClient,
            &mut state,
            &mut out,
            false,
        );
        self.ready_events.extend(out);
    }

    fn coordinator_node(&mut self, broker: NodeId, _host: &str, _port: u16) -> NodeId {
        let id = coordinator_connection_id(broker);
        if id != broker {
            self.coordinators.insert(id, broker);
        }
        id
    }
}
