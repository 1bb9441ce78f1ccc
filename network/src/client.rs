//! The `KafkaClient` trait (what the consumer and producer drive) and the
//! events its `poll` returns.

use std::time::{Duration, Instant};

use prozess_protocol::messages::FindCoordinatorResponse;
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};

use crate::{Metadata, NetworkError, NodeId, WakeupHandle};

/// A response to a request the caller sent.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub node: NodeId,
    pub correlation_id: i32,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub body: ResponseBody,
}

/// A request that was in flight when its connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightInfo {
    pub correlation_id: i32,
    pub api_key: ApiKey,
}

/// What [`KafkaClient::poll`] reports. Every request the caller sent ends in
/// exactly one `Response`, `Sent`, `Timeout`, or entry of a `Disconnected`'s
/// `in_flight` list.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// A request completed.
    Response(ClientResponse),
    /// A connection closed (or failed while connecting: then `in_flight` is
    /// empty). The listed requests got no response and never will.
    Disconnected {
        node: NodeId,
        in_flight: Vec<InFlightInfo>,
        cause: NetworkError,
    },
    /// The request got no response within its timeout. Its connection was
    /// closed (responses come in order); that connection's other requests are
    /// reported in a `Disconnected` event of the same poll.
    Timeout {
        node: NodeId,
        correlation_id: i32,
        api_key: ApiKey,
    },
    /// A request that has no response (Produce with acks=0) was written to
    /// the socket in full.
    Sent {
        node: NodeId,
        correlation_id: i32,
        api_key: ApiKey,
    },
}

impl ClientEvent {
    /// The cause of a `Disconnected` event that is a failed authentication
    /// (SASL, or the TLS handshake): the consumer, producer and admin client
    /// fail their pending calls with it instead of retrying, as the Java
    /// client throws `AuthenticationException`.
    pub fn authentication_failure(&self) -> Option<&NetworkError> {
        match self {
            ClientEvent::Disconnected { cause, .. } if cause.is_authentication_failure() => {
                Some(cause)
            }
            _ => None,
        }
    }

    /// The node the event is about.
    pub fn node(&self) -> NodeId {
        match self {
            ClientEvent::Response(r) => r.node,
            ClientEvent::Disconnected { node, .. }
            | ClientEvent::Timeout { node, .. }
            | ClientEvent::Sent { node, .. } => *node,
        }
    }
}

/// A request with its options; [`KafkaClient::send`] is the short form.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    pub body: RequestBody,
    /// `None`: the highest version both sides support.
    pub version: Option<i16>,
    /// `None`: `request.timeout.ms`. JoinGroup, for one, needs longer
    /// (the rebalance timeout plus a margin, as the Java consumer does).
    pub timeout: Option<Duration>,
}

impl ClientRequest {
    /// A request with the default version and timeout.
    pub fn new(body: impl Into<RequestBody>) -> Self {
        ClientRequest {
            body: body.into(),
            version: None,
            timeout: None,
        }
    }

    /// Sends this exact version.
    pub fn with_version(mut self, version: i16) -> Self {
        self.version = Some(version);
        self
    }

    /// Waits this long for the response instead of `request.timeout.ms`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Whether the broker answers this request at all: Produce with acks=0 gets
/// no response.
pub fn expects_response(body: &RequestBody) -> bool {
    !matches!(body, RequestBody::Produce(p) if p.acks == 0)
}

/// The network layer as the consumer and producer see it: implemented by
/// [`NetworkClient`](crate::NetworkClient) over sockets and by
/// [`MockClient`](crate::mock::MockClient) for unit tests.
///
/// Time is passed in (`now`); only `poll` may block, for at most `timeout`.
pub trait KafkaClient {
    /// Starts connecting to `node` if it is neither connected nor backing off.
    /// True if a request can be sent to it now.
    fn ready(&mut self, node: NodeId, now: Instant) -> bool;

    /// True if a request can be sent to `node` now (connected, handshake done,
    /// below `max.in.flight.requests.per.connection`).
    fn is_ready(&self, node: NodeId, now: Instant) -> bool;

    /// True if the last connection attempt to `node` failed and no new one
    /// has started.
    fn connection_failed(&self, node: NodeId) -> bool;

    /// How long until a connection to `node` may be attempted (reconnect
    /// backoff); zero if it may be now, or if it is connected or connecting
    /// (then `poll` reports progress).
    fn connection_delay(&self, node: NodeId, now: Instant) -> Duration;

    /// The negotiated (highest common) version of `key` on `node`'s
    /// connection; `None` if not connected or not supported by both sides.
    fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16>;

    /// The cluster-wide finalized (max) level of feature `name` (e.g.
    /// `transaction.version`), from the newest ApiVersions v3+ answer seen
    /// (highest finalized-features epoch); `None` when no broker reported it.
    fn finalized_feature(&self, name: &str) -> Option<i16> {
        let _ = name;
        None
    }

    /// Queues a request with all options. Returns its correlation id; the
    /// outcome comes back from `poll`.
    fn send_request(
        &mut self,
        node: NodeId,
        request: ClientRequest,
        now: Instant,
    ) -> Result<i32, NetworkError>;

    /// Queues a request in the negotiated version with the default timeout.
    fn send(&mut self, node: NodeId, body: RequestBody, now: Instant) -> Result<i32, NetworkError> {
        self.send_request(node, ClientRequest::new(body), now)
    }

    /// Queues a request in a given version.
    fn send_with_version(
        &mut self,
        node: NodeId,
        body: RequestBody,
        version: i16,
        now: Instant,
    ) -> Result<i32, NetworkError> {
        self.send_request(node, ClientRequest::new(body).with_version(version), now)
    }

    /// Requests sent to `node` and not yet answered (or written, for those
    /// without a response).
    fn in_flight_count(&self, node: NodeId) -> usize;

    /// Whether any request is in flight on any node.
    fn has_in_flight(&self) -> bool;

    /// Does the I/O: writes queued requests, reads responses, connects,
    /// refreshes metadata, expires requests. Blocks at most `timeout` (less if
    /// an internal deadline comes first, or on `wakeup()`).
    fn poll(&mut self, timeout: Duration, now: Instant) -> Vec<ClientEvent>;

    /// The node with the fewest requests in flight, preferring connected ones
    /// and then ones that may be connected now; `None` if every node is
    /// backing off.
    fn least_loaded_node(&mut self, now: Instant) -> Option<NodeId>;

    /// The cluster metadata.
    fn metadata(&self) -> &Metadata;

    /// The cluster metadata, to add topics of interest or request an update.
    fn metadata_mut(&mut self) -> &mut Metadata;

    /// A handle another thread can use to interrupt `poll`.
    fn wakeup_handle(&self) -> WakeupHandle;

    /// Closes the connection to `node`. Requests in flight on it are reported
    /// as `Disconnected` (cause `ClosedByClient`) by the next `poll`.
    fn close(&mut self, node: NodeId);

    /// The last connection error of each broker (or bootstrap server) that
    /// has not connected since, as (`host:port`, error): for timeouts to
    /// say why the cluster could not be reached. Empty by default.
    fn connection_errors(&self) -> Vec<(String, NetworkError)> {
        Vec::new()
    }

    /// The per-node request/response figures (counts, bytes, latency,
    /// throttle, connects); `None` for clients that keep none.
    fn network_metrics(&self) -> Option<&crate::NetworkMetrics> {
        None
    }

    /// The node id under which to talk to group coordinator `broker`, whose
    /// address FindCoordinator gave as `host:port`.
    ///
    /// As in the Java client, the coordinator gets a connection of its own
    /// (id [`coordinator_connection_id`]`(broker)`, i.e. `i32::MAX - broker`),
    /// so that JoinGroup (held by the broker for up to the rebalance timeout),
    /// SyncGroup, heartbeats and commits never wait behind fetch long-polls on
    /// the broker's ordinary connection, nor the reverse. Use the returned id
    /// for everything sent to the coordinator (`ready`, `send`,
    /// `connection_failed`, `close`, ...); events about that connection carry
    /// it. The connection goes to `host:port` even if the broker is not in the
    /// metadata (yet), negotiates its own API versions, has its own in-flight
    /// limit, and is never chosen by `least_loaded_node` nor used for metadata.
    /// Calling again (after a new lookup) updates the address; the id stays.
    ///
    /// The default (for test clients) shares the broker's connection: it
    /// returns `broker` itself. A negative `broker` (not a valid node) is
    /// returned as it is.
    fn coordinator_node(&mut self, broker: NodeId, host: &str, port: u16) -> NodeId {
        let _ = (host, port);
        broker
    }
}

/// `errors` ([`KafkaClient::connection_errors`]) as a sentence to append to
/// a timeout message: `"; last connection errors: 127.0.0.1:1: I/O error:
/// Connection refused (os error 111)"`, or empty when there are none.
pub fn describe_connection_errors(errors: &[(String, NetworkError)]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let list: Vec<String> = errors.iter().map(|(a, e)| format!("{a}: {e}")).collect();
    format!("; last connection errors: {}", list.join(", "))
}

/// The connection id of the dedicated connection to coordinator `broker`
/// (Java: `Integer.MAX_VALUE - node.id()`); `broker` itself if negative.
///
/// [`NetworkClient`](crate::NetworkClient) and
/// [`MockClient`](crate::mock::MockClient) learn the address for this id from
/// every FindCoordinator response they deliver, so code without the client at
/// hand may use this id directly once it has seen the response (the same as
/// calling [`KafkaClient::coordinator_node`] with the response's host and port).
pub fn coordinator_connection_id(broker: NodeId) -> NodeId {
    if broker < 0 {
        broker
    } else {
        NodeId::MAX - broker
    }
}

/// The coordinators a FindCoordinator response names without error, as
/// (broker id, host, port): the v0-v3 top-level fields or the v4+ list.
pub fn coordinators_in(response: &FindCoordinatorResponse) -> Vec<(NodeId, String, u16)> {
    let found = |error: i16, node: i32, host: &str, port: i32| {
        let port = u16::try_from(port).ok().filter(|&p| p > 0)?;
        (error == 0 && node >= 0 && !host.is_empty()).then(|| (node, host.to_string(), port))
    };
    let mut out: Vec<(NodeId, String, u16)> = response
        .coordinators
        .iter()
        .filter_map(|c| found(c.error_code, c.node_id, &c.host, c.port))
        .collect();
    out.extend(found(
        response.error_code,
        response.node_id,
        &response.host,
        response.port,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prozess_protocol::messages::find_coordinator::response::Coordinator;

    #[test]
    fn coordinator_ids_as_java() {
        assert_eq!(coordinator_connection_id(0), i32::MAX);
        assert_eq!(coordinator_connection_id(3), i32::MAX - 3);
        assert_eq!(coordinator_connection_id(-1), -1);
    }

    #[test]
    fn coordinators_from_both_response_layouts() {
        // v0-v3: top-level fields.
        let old = FindCoordinatorResponse {
            node_id: 3,
            host: "b3".to_string(),
            port: 9093,
            ..Default::default()
        };
        assert_eq!(coordinators_in(&old), vec![(3, "b3".to_string(), 9093)]);
        let failed = FindCoordinatorResponse {
            error_code: 15,
            node_id: -1,
            port: -1,
            ..Default::default()
        };
        assert!(coordinators_in(&failed).is_empty());
        // v4+: one entry per key; errors and bad ports are skipped.
        let batch = FindCoordinatorResponse {
            coordinators: vec![
                Coordinator {
                    key: "a".to_string(),
                    node_id: 1,
                    host: "b1".to_string(),
                    port: 9091,
                    ..Default::default()
                },
                Coordinator {
                    key: "b".to_string(),
                    error_code: 15,
                    node_id: -1,
                    ..Default::default()
                },
                Coordinator {
                    key: "c".to_string(),
                    node_id: 2,
                    host: "b2".to_string(),
                    port: 70_000,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(coordinators_in(&batch), vec![(1, "b1".to_string(), 9091)]);
    }
}
