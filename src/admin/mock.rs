//! A scripted `KafkaClient` for the admin client's unit tests: every node
//! is connected, and a handler closure (usually a small fake cluster) answers
//! each request as it is sent; the answer comes out of the next `poll`.
//!
//! A local seam: prozess-network has no `MockClient` yet.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prozess_network::{
    ClientEvent, ClientRequest, ClientResponse, InFlightInfo, KafkaClient, Metadata,
    MetadataSnapshot, NetworkError, NodeId, WakeupHandle,
};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

/// A request the admin client sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub node: NodeId,
    pub version: i16,
    pub body: RequestBody,
}

/// What the handler does with a request.
pub enum Reply {
    Respond(ResponseBody),
    /// The connection drops with the request in flight.
    Disconnect,
    /// No answer (the request times out in the driver).
    Silence,
}

type Handler = Box<dyn FnMut(&Sent) -> Reply>;

pub struct MockClient {
    metadata: Metadata,
    versions: HashMap<ApiKey, i16>,
    pub sent: Vec<Sent>,
    pending: Vec<ClientEvent>,
    handler: Handler,
    next_correlation_id: i32,
    down: HashSet<NodeId>,
}

impl MockClient {
    /// Brokers `brokers`, answered by `handler`, with Kafka 4.0's newest
    /// versions of the admin APIs.
    pub fn new(brokers: &[NodeId], handler: impl FnMut(&Sent) -> Reply + 'static) -> Self {
        let mut metadata = Metadata::new(
            Duration::from_millis(0),
            Duration::from_millis(0),
            Duration::from_secs(300),
        );
        metadata.update(0, MetadataSnapshot::simple(brokers, &[]), Instant::now());
        let versions = [
            (ApiKey::Metadata, 12),
            (ApiKey::CreateTopics, 7),
            (ApiKey::DeleteTopics, 6),
            (ApiKey::ListGroups, 5),
            (ApiKey::DescribeGroups, 5),
            (ApiKey::FindCoordinator, 6),
            (ApiKey::DeleteGroups, 2),
            (ApiKey::ListOffsets, 9),
        ]
        .into_iter()
        .collect();
        MockClient {
            metadata,
            versions,
            sent: Vec::new(),
            pending: Vec::new(),
            handler: Box::new(handler),
            next_correlation_id: 0,
            down: HashSet::new(),
        }
    }

    /// Negotiates `version` of `api` (`None`: the API is not supported).
    pub fn set_version(&mut self, api: ApiKey, version: Option<i16>) {
        match version {
            Some(v) => self.versions.insert(api, v),
            None => self.versions.remove(&api),
        };
    }

    /// The requests of one API.
    pub fn sent_of(&self, api: ApiKey) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|s| s.body.api_key() == api)
            .collect()
    }
}

impl KafkaClient for MockClient {
    fn ready(&mut self, node: NodeId, _now: Instant) -> bool {
        !self.down.contains(&node)
    }

    fn is_ready(&self, node: NodeId, _now: Instant) -> bool {
        !self.down.contains(&node)
    }

    fn connection_failed(&self, node: NodeId) -> bool {
        self.down.contains(&node)
    }

    fn connection_delay(&self, _node: NodeId, _now: Instant) -> Duration {
        Duration::ZERO
    }

    fn api_version(&self, _node: NodeId, key: ApiKey) -> Option<i16> {
        self.versions.get(&key).copied()
    }

    fn send_request(
        &mut self,
        node: NodeId,
        request: ClientRequest,
        _now: Instant,
    ) -> Result<i32, NetworkError> {
        let api_key = request.body.api_key();
        let version = request
            .version
            .or_else(|| self.versions.get(&api_key).copied())
            .ok_or(NetworkError::UnsupportedVersion {
                api: api_key.name(),
                node,
            })?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let sent = Sent {
            node,
            version,
            body: request.body,
        };
        match (self.handler)(&sent) {
            Reply::Respond(body) => self.pending.push(ClientEvent::Response(ClientResponse {
                node,
                correlation_id,
                api_key,
                api_version: version,
                body,
            })),
            Reply::Disconnect => self.pending.push(ClientEvent::Disconnected {
                node,
                in_flight: vec![InFlightInfo {
                    correlation_id,
                    api_key,
                }],
                cause: NetworkError::ConnectionClosed,
            }),
            Reply::Silence => {}
        }
        self.sent.push(sent);
        Ok(correlation_id)
    }

    fn in_flight_count(&self, _node: NodeId) -> usize {
        self.pending.len()
    }

    fn has_in_flight(&self) -> bool {
        !self.pending.is_empty()
    }

    fn poll(&mut self, timeout: Duration, _now: Instant) -> Vec<ClientEvent> {
        if self.pending.is_empty() {
            // Nothing can happen: wait a little of the timeout, as a socket
            // poll would, so waiting loops do not spin.
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
        }
        std::mem::take(&mut self.pending)
    }

    fn least_loaded_node(&mut self, _now: Instant) -> Option<NodeId> {
        let mut nodes: Vec<NodeId> = self.metadata.brokers().keys().copied().collect();
        nodes.sort_unstable();
        nodes.into_iter().find(|n| !self.down.contains(n))
    }

    fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    fn wakeup_handle(&self) -> WakeupHandle {
        WakeupHandle::flag_only()
    }

    fn close(&mut self, _node: NodeId) {}
}
