//! A scripted `KafkaClient` for the consumer's unit tests (in the manner of
//! the Java client's `MockClient`): responses are prepared with a matcher and
//! answer the first matching request, sent before or after; requests without
//! a prepared answer stay in flight (like a long-polling Fetch). Metadata
//! comes from a `MetadataSnapshot` applied whenever an update is requested.
//!
//! A local seam: prozess-network's own `MockClient` was not available when
//! these tests were written.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use prozess_network::{
    ClientEvent, ClientRequest, ClientResponse, InFlightInfo, KafkaClient, Metadata,
    MetadataSnapshot, NetworkError, NodeId, WakeupHandle,
};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

type Matcher = Box<dyn Fn(&RequestBody) -> bool + Send>;

/// A request the consumer sent.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub node: NodeId,
    pub correlation_id: i32,
    pub version: i16,
    pub body: RequestBody,
}

enum Answer {
    Respond(ResponseBody),
    Disconnect,
}

#[allow(dead_code)] // a test toolkit: not every helper is used by every test
pub struct MockClient {
    metadata: Metadata,
    cluster: MetadataSnapshot,
    versions: HashMap<ApiKey, i16>,
    sent: Vec<SentRequest>,
    unanswered: Vec<SentRequest>,
    prepared: VecDeque<(Option<NodeId>, Matcher, Answer)>,
    next_corr: i32,
    not_ready: HashSet<NodeId>,
    wakeup: WakeupHandle,
    pub polls: usize,
}

#[allow(dead_code)]
impl MockClient {
    /// A cluster of `brokers` with `topics` (name, partition count).
    pub fn new(brokers: &[NodeId], topics: &[(&str, i32)]) -> Self {
        let cluster = MetadataSnapshot::simple(brokers, topics);
        let mut metadata = Metadata::new(
            Duration::from_millis(0),
            Duration::from_millis(0),
            Duration::from_secs(300),
        );
        metadata.update(0, cluster.clone(), Instant::now());
        let versions = [
            (ApiKey::Fetch, 17),
            (ApiKey::ListOffsets, 10),
            (ApiKey::OffsetCommit, 9),
            (ApiKey::OffsetFetch, 9),
            (ApiKey::FindCoordinator, 6),
            (ApiKey::Metadata, 13),
        ]
        .into_iter()
        .collect();
        MockClient {
            metadata,
            cluster,
            versions,
            sent: Vec::new(),
            unanswered: Vec::new(),
            prepared: VecDeque::new(),
            next_corr: 1,
            not_ready: HashSet::new(),
            wakeup: WakeupHandle::flag_only(),
            polls: 0,
        }
    }

    /// Sets the version negotiated for `key` on every node.
    pub fn set_version(&mut self, key: ApiKey, version: i16) {
        self.versions.insert(key, version);
    }

    /// Replaces the cluster the next metadata update reports.
    pub fn set_cluster(&mut self, cluster: MetadataSnapshot) {
        self.cluster = cluster;
    }

    /// Answers the first request (sent or to come) that `matcher` accepts.
    pub fn prepare(
        &mut self,
        matcher: impl Fn(&RequestBody) -> bool + Send + 'static,
        response: impl Into<ResponseBody>,
    ) {
        self.prepared
            .push_back((None, Box::new(matcher), Answer::Respond(response.into())));
    }

    /// Closes the connection of the first matching request instead of answering.
    pub fn prepare_disconnect(&mut self, matcher: impl Fn(&RequestBody) -> bool + Send + 'static) {
        self.prepared
            .push_back((None, Box::new(matcher), Answer::Disconnect));
    }

    /// Every request sent so far.
    pub fn requests(&self) -> &[SentRequest] {
        &self.sent
    }

    /// Requests of one API.
    pub fn requests_of(&self, key: ApiKey) -> Vec<SentRequest> {
        self.sent
            .iter()
            .filter(|r| r.body.api_key() == key)
            .cloned()
            .collect()
    }

    /// Requests still waiting for an answer.
    pub fn unanswered(&self) -> &[SentRequest] {
        &self.unanswered
    }

    /// Makes `node` refuse requests (not connected).
    pub fn set_ready(&mut self, node: NodeId, ready: bool) {
        if ready {
            self.not_ready.remove(&node);
        } else {
            self.not_ready.insert(node);
        }
    }
}

impl KafkaClient for MockClient {
    fn ready(&mut self, node: NodeId, _now: Instant) -> bool {
        !self.not_ready.contains(&node)
    }

    fn is_ready(&self, node: NodeId, _now: Instant) -> bool {
        !self.not_ready.contains(&node)
    }

    fn connection_failed(&self, _node: NodeId) -> bool {
        false
    }

    fn connection_delay(&self, _node: NodeId, _now: Instant) -> Duration {
        Duration::ZERO
    }

    fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16> {
        if self.not_ready.contains(&node) {
            return None;
        }
        self.versions.get(&key).copied()
    }

    fn send_request(
        &mut self,
        node: NodeId,
        request: ClientRequest,
        _now: Instant,
    ) -> Result<i32, NetworkError> {
        assert!(
            !self.not_ready.contains(&node),
            "the consumer sent to a node that is not ready"
        );
        let key = request.body.api_key();
        let version = request
            .version
            .or_else(|| self.versions.get(&key).copied())
            .unwrap_or(0);
        let correlation_id = self.next_corr;
        self.next_corr += 1;
        // Encode to check the request is valid in that version.
        let mut buf = bytes::BytesMut::new();
        request
            .body
            .encode(version, &mut buf)
            .expect("request encodes in its version");
        let sent = SentRequest {
            node,
            correlation_id,
            version,
            body: request.body,
        };
        self.sent.push(sent.clone());
        self.unanswered.push(sent);
        Ok(correlation_id)
    }

    fn in_flight_count(&self, node: NodeId) -> usize {
        self.unanswered.iter().filter(|r| r.node == node).count()
    }

    fn has_in_flight(&self) -> bool {
        !self.unanswered.is_empty()
    }

    fn poll(&mut self, _timeout: Duration, now: Instant) -> Vec<ClientEvent> {
        self.polls += 1;
        if self.metadata.update_requested() {
            let spec = self.metadata.request_spec();
            self.metadata
                .update(spec.request_version, self.cluster.clone(), now);
        }
        let mut events = Vec::new();
        let mut i = 0;
        while i < self.unanswered.len() {
            let pos = self.prepared.iter().position(|(node, m, _)| {
                node.map(|n| n == self.unanswered[i].node).unwrap_or(true)
                    && m(&self.unanswered[i].body)
            });
            let Some(pos) = pos else {
                i += 1;
                continue;
            };
            let (_, _, answer) = self.prepared.remove(pos).expect("found above");
            let req = self.unanswered.remove(i);
            match answer {
                Answer::Respond(body) => {
                    // Round-trip through the wire format of the request's version.
                    let mut buf = bytes::BytesMut::new();
                    body.encode(req.version, &mut buf)
                        .expect("response encodes in the request's version");
                    let mut bytes = buf.freeze();
                    let body = ResponseBody::decode(body.api_key(), req.version, &mut bytes)
                        .expect("response decodes");
                    events.push(ClientEvent::Response(ClientResponse {
                        node: req.node,
                        correlation_id: req.correlation_id,
                        api_key: body.api_key(),
                        api_version: req.version,
                        body,
                    }));
                }
                Answer::Disconnect => {
                    let node = req.node;
                    let mut in_flight = vec![InFlightInfo {
                        correlation_id: req.correlation_id,
                        api_key: req.body.api_key(),
                    }];
                    let mut j = 0;
                    while j < self.unanswered.len() {
                        if self.unanswered[j].node == node {
                            let r = self.unanswered.remove(j);
                            in_flight.push(InFlightInfo {
                                correlation_id: r.correlation_id,
                                api_key: r.body.api_key(),
                            });
                        } else {
                            j += 1;
                        }
                    }
                    events.push(ClientEvent::Disconnected {
                        node,
                        in_flight,
                        cause: NetworkError::ConnectionClosed,
                    });
                }
            }
        }
        events
    }

    fn least_loaded_node(&mut self, _now: Instant) -> Option<NodeId> {
        let mut ids: Vec<NodeId> = self.metadata.brokers().keys().copied().collect();
        ids.sort();
        ids.into_iter().find(|n| !self.not_ready.contains(n))
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

    fn close(&mut self, _node: NodeId) {}
}
