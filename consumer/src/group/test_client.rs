//! A scripted [`KafkaClient`] for the group state machines' unit tests: it
//! records what is sent and lets the test decide which nodes are ready and
//! which API versions they speak. Responses are fed straight to the state
//! machine's `handle_event`, so the client never has to match them.
//!
//! Every node id is ready unless listed in `not_ready`/`failed`, including
//! the coordinator connections (`coordinator_connection_id(broker)`, i.e.
//! `i32::MAX - broker`) the state machines use once FindCoordinator answered:
//! tests name those ids when they make the coordinator fail.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prozess_network::{
    ClientEvent, ClientRequest, ClientResponse, KafkaClient, Metadata, MetadataSnapshot,
    NetworkError, NodeId, WakeupHandle,
};
use prozess_protocol::{ApiKey, ResponseBody};

/// One request the code under test sent.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub node: NodeId,
    pub correlation_id: i32,
    pub request: ClientRequest,
}

/// The fake client.
pub struct FakeClient {
    metadata: Metadata,
    pub sent: Vec<SentRequest>,
    next_correlation_id: i32,
    /// Nodes that are not ready (everything else is).
    pub not_ready: HashSet<NodeId>,
    /// Nodes whose last connection attempt failed.
    pub failed: HashSet<NodeId>,
    /// Negotiated versions by API (absent: the highest prozess supports).
    pub versions: HashMap<ApiKey, i16>,
    pub least_loaded: Option<NodeId>,
    /// Reconnect backoff remaining per node (absent: none).
    pub delays: HashMap<NodeId, Duration>,
    wakeup: WakeupHandle,
}

impl FakeClient {
    /// Brokers 0, 1 and 2 and the given topics.
    pub fn new(topics: &[(&str, i32)], now: Instant) -> FakeClient {
        let mut metadata = Metadata::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        metadata.add_topics(topics.iter().map(|(t, _)| t.to_string()));
        let spec = metadata.request_spec();
        metadata.update(
            spec.request_version,
            MetadataSnapshot::simple(&[0, 1, 2], topics),
            now,
        );
        FakeClient {
            metadata,
            sent: Vec::new(),
            next_correlation_id: 100,
            not_ready: HashSet::new(),
            failed: HashSet::new(),
            versions: HashMap::new(),
            least_loaded: Some(0),
            delays: HashMap::new(),
            wakeup: WakeupHandle::flag_only(),
        }
    }

    /// Replaces the cluster's topics (a metadata update).
    pub fn set_topics(&mut self, topics: &[(&str, i32)], now: Instant) {
        self.metadata
            .add_topics(topics.iter().map(|(t, _)| t.to_string()));
        let spec = self.metadata.request_spec();
        self.metadata.update(
            spec.request_version,
            MetadataSnapshot::simple(&[0, 1, 2], topics),
            now,
        );
    }

    /// Removes and returns everything sent so far.
    pub fn take_sent(&mut self) -> Vec<SentRequest> {
        std::mem::take(&mut self.sent)
    }

    /// A response event for a sent request.
    pub fn response_to(sent: &SentRequest, body: ResponseBody) -> ClientEvent {
        ClientEvent::Response(ClientResponse {
            node: sent.node,
            correlation_id: sent.correlation_id,
            api_key: sent.request.body.api_key(),
            api_version: sent
                .request
                .version
                .unwrap_or_else(|| sent.request.body.api_key().supported_versions().1),
            body,
        })
    }
}

impl KafkaClient for FakeClient {
    fn ready(&mut self, node: NodeId, now: Instant) -> bool {
        self.is_ready(node, now)
    }

    fn is_ready(&self, node: NodeId, _now: Instant) -> bool {
        !self.not_ready.contains(&node) && !self.failed.contains(&node)
    }

    fn connection_failed(&self, node: NodeId) -> bool {
        self.failed.contains(&node)
    }

    fn connection_delay(&self, node: NodeId, _now: Instant) -> Duration {
        self.delays.get(&node).copied().unwrap_or_default()
    }

    fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16> {
        if self.not_ready.contains(&node) {
            return None;
        }
        Some(
            self.versions
                .get(&key)
                .copied()
                .unwrap_or_else(|| key.supported_versions().1),
        )
    }

    fn send_request(
        &mut self,
        node: NodeId,
        mut request: ClientRequest,
        now: Instant,
    ) -> Result<i32, NetworkError> {
        if !self.is_ready(node, now) {
            return Err(NetworkError::NotReady(node));
        }
        if request.version.is_none() {
            request.version = self.api_version(node, request.body.api_key());
        }
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        self.sent.push(SentRequest {
            node,
            correlation_id,
            request,
        });
        Ok(correlation_id)
    }

    fn in_flight_count(&self, _node: NodeId) -> usize {
        0
    }

    fn has_in_flight(&self) -> bool {
        false
    }

    fn poll(&mut self, _timeout: Duration, _now: Instant) -> Vec<ClientEvent> {
        Vec::new()
    }

    fn least_loaded_node(&mut self, _now: Instant) -> Option<NodeId> {
        self.least_loaded
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
