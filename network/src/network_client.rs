//! `NetworkClient`: the mio-driven [`KafkaClient`] over real sockets.
//!
//! Single-threaded and driven by its caller: `send` queues, `poll` does the
//! I/O. One connection per node goes Connecting -> CheckingApiVersions ->
//! Ready; any error on the way (or later) closes that connection only and is
//! reported as [`ClientEvent::Disconnected`] with the node and the cause.
//!
//! Invariants:
//! - Every request the caller sent ends in exactly one event: `Response`,
//!   `Sent` (no response expected), `Timeout`, or an entry of a
//!   `Disconnected` event's `in_flight`.
//! - Responses on a connection come in request order; one with another
//!   correlation id than the oldest request's closes the connection.
//! - A request that times out closes its connection (a later response could
//!   not be matched otherwise).
//! - Metadata and ApiVersions requests are the client's own: their outcomes
//!   never reach the caller.
//! - Nothing is allocated for a response frame before its size prefix has
//!   been checked against `max_response_size`.
//! - A connection throttled by the broker (KIP-219, see [`crate::throttle`])
//!   takes no new request until the throttle ends; it stays open.
//! - A coordinator connection (`i32::MAX - broker`, see
//!   [`KafkaClient::coordinator_node`]) is never a least-loaded node and never
//!   carries metadata requests; its address comes from FindCoordinator.
//! - A SASL session the broker gave a lifetime (KIP-368) is renewed on the
//!   same connection from a random 85-95 % of it: the connection takes no
//!   new requests, the ones in flight are answered, SaslHandshake and
//!   SaslAuthenticate run again, then it is Ready again (its negotiated
//!   versions stay valid meanwhile). A failed renewal is the fatal
//!   authentication error of a failed login.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use prozess_protocol::frame::{decode_response_frame, encode_request_frame_segments};
use prozess_protocol::header::RequestHeader;
use prozess_protocol::messages::metadata::request::MetadataRequestTopic;
use prozess_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use prozess_protocol::{
    ApiKey, DecodeError, DecodeErrorKind, ErrorCode, RequestBody, ResponseBody,
};

use crate::backoff::{ExponentialBackoff, XorShiftRng};
use crate::client::{
    coordinator_connection_id, coordinators_in, expects_response, ClientEvent, ClientRequest,
    ClientResponse, InFlightInfo, KafkaClient,
};
use crate::connection::{Connection, ConnectionState, InFlightRequest, RequestOwner};
use crate::metadata::MetadataSnapshot;
use crate::sasl::{SaslClient, SaslStep};
use crate::{Metadata, NetworkConfig, NetworkError, NodeId, WakeupHandle};

const WAKER_TOKEN: Token = Token(usize::MAX);

/// What the client remembers about a node between connections.
#[derive(Debug, Default)]
struct NodeState {
    /// The last attempt failed, or the connection dropped, and no new one has
    /// started.
    disconnected: bool,
    /// Consecutive failures, for the reconnect backoff.
    failures: u32,
    /// No new connection before this.
    reconnect_at: Option<Instant>,
    /// Consecutive setup failures, for the growing setup timeout.
    setup_failures: u32,
    /// The address the node had when last resolved.
    host: Option<(String, u16)>,
    /// Resolved addresses, tried in turn.
    addresses: Vec<SocketAddr>,
    /// The next address to try in this round.
    next_address: usize,
    /// Why the last attempt failed, while none has succeeded since.
    last_error: Option<NetworkError>,
    /// A warning was logged for the failures since the last success.
    warned: bool,
}

/// The in-progress metadata refresh.
#[derive(Debug, Clone, Copy)]
struct MetadataFetch {
    node: NodeId,
    correlation_id: i32,
}

/// The network client: one per consumer or producer. See the module docs.
pub struct NetworkClient {
    config: NetworkConfig,
    poll: Poll,
    events: Events,
    wakeup: WakeupHandle,
    connections: HashMap<NodeId, Connection>,
    tokens: HashMap<Token, NodeId>,
    nodes: HashMap<NodeId, NodeState>,
    /// Dedicated coordinator connections: connection id -> (broker id, host,
    /// port from FindCoordinator). See [`KafkaClient::coordinator_node`].
    coordinators: HashMap<NodeId, (NodeId, String, u16)>,
    /// Finalized features (name -> max level) and their epoch, from the
    /// ApiVersions answer with the highest epoch.
    finalized_features: (i64, HashMap<String, i16>),
    metadata: Metadata,
    metadata_fetch: Option<MetadataFetch>,
    next_correlation_id: i32,
    next_token: usize,
    /// Events produced outside `poll` (by `close`), returned by the next poll.
    pending: Vec<ClientEvent>,
    rng: XorShiftRng,
    reconnect_backoff: ExponentialBackoff,
    setup_timeout: ExponentialBackoff,
    /// Built once from `config.tls` for SSL and SASL_SSL.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Per-node request/response figures.
    metrics: crate::NetworkMetrics,
}

impl std::fmt::Debug for NetworkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkClient")
            .field("client_id", &self.config.client_id)
            .field("connections", &self.connections.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl NetworkClient {
    /// A client for the configured cluster. Nothing connects until `ready`,
    /// `poll` (which refreshes metadata from a bootstrap server) or `send`.
    pub fn new(config: NetworkConfig) -> Result<Self, NetworkError> {
        let bootstrap = config.bootstrap_addresses()?;
        if config.security_protocol.uses_sasl() && config.sasl.is_none() {
            return Err(NetworkError::Config(format!(
                "security.protocol {} needs sasl.mechanism and credentials",
                config.security_protocol.name()
            )));
        }
        if config.max_in_flight_requests_per_connection == 0 {
            return Err(NetworkError::Config(
                "max.in.flight.requests.per.connection must be at least 1".to_string(),
            ));
        }
        let tls = if config.security_protocol.uses_tls() {
            Some(config.tls.clone().unwrap_or_default().client_config()?)
        } else {
            None
        };
        if config.security_protocol == crate::SecurityProtocol::SaslPlaintext
            && config
                .sasl
                .as_ref()
                .is_some_and(|s| s.mechanism == crate::sasl::SaslMechanism::Plain)
        {
            // Once per client: every connection would repeat it.
            tracing::warn!(
                client_id = %config.client_id,
                "SASL PLAIN over SASL_PLAINTEXT sends the password in clear text; \
                 use SASL_SSL, or SCRAM"
            );
        }
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let mut metadata = Metadata::from_config(&config);
        metadata.bootstrap(&bootstrap);
        Ok(NetworkClient {
            reconnect_backoff: ExponentialBackoff::standard(
                config.reconnect_backoff,
                config.reconnect_backoff_max,
            ),
            setup_timeout: ExponentialBackoff::standard(
                config.socket_connection_setup_timeout,
                config.socket_connection_setup_timeout_max,
            ),
            config,
            poll,
            events: Events::with_capacity(256),
            wakeup: WakeupHandle::new(waker),
            connections: HashMap::new(),
            tokens: HashMap::new(),
            nodes: HashMap::new(),
            coordinators: HashMap::new(),
            finalized_features: (-1, HashMap::new()),
            metadata,
            metadata_fetch: None,
            next_correlation_id: 0,
            next_token: 0,
            pending: Vec::new(),
            rng: XorShiftRng::from_time(),
            tls,
            metrics: crate::NetworkMetrics::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Whether a connection to `node` exists (in any state).
    pub fn is_connected(&self, node: NodeId) -> bool {
        self.connections.contains_key(&node)
    }

    /// The address of the current connection to `node`.
    pub fn connected_address(&self, node: NodeId) -> Option<SocketAddr> {
        self.connections.get(&node).map(|c| c.addr)
    }

    /// The negotiated versions of every API both sides support on `node`'s
    /// connection (empty before the handshake finished).
    pub fn api_versions(&self, node: NodeId) -> HashMap<ApiKey, i16> {
        self.connections
            .get(&node)
            .map(|c| c.api_versions.clone())
            .unwrap_or_default()
    }

    fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        // Wrap to 0 rather than going negative, as the Java client does.
        self.next_correlation_id = if id == i32::MAX { 0 } else { id + 1 };
        id
    }

    fn can_connect(&self, node: NodeId, now: Instant) -> bool {
        if self.connections.contains_key(&node) {
            return false;
        }
        match self.nodes.get(&node).and_then(|s| s.reconnect_at) {
            Some(at) => now >= at,
            None => true,
        }
    }

    fn node_ready(&self, node: NodeId, now: Instant) -> bool {
        self.connections.get(&node).is_some_and(|c| {
            c.state == ConnectionState::Ready
                && c.in_flight.len() < self.config.max_in_flight_requests_per_connection
                && !c.is_throttled(now)
                && !c.reauth_due(now)
        })
    }

    /// When the broker's throttle (KIP-219) on `node`'s connection ends, if
    /// it still holds at `now`.
    pub fn throttled_until(&self, node: NodeId, now: Instant) -> Option<Instant> {
        self.connections
            .get(&node)
            .and_then(|c| c.throttle_until)
            .filter(|&t| now < t)
    }

    /// The host and port to connect to for `node`.
    fn node_address(&self, node: NodeId) -> Option<(String, u16)> {
        // A coordinator connection goes where FindCoordinator said, whatever
        // the metadata knows (the coordinator may not be in it yet).
        if let Some((_, host, port)) = self.coordinators.get(&node) {
            return Some((host.clone(), *port));
        }
        if let Some(b) = self.metadata.broker(node) {
            return Some((b.host.clone(), b.port));
        }
        // A node no longer in the metadata keeps its last address, so requests
        // already addressed to it can still go out.
        self.nodes.get(&node).and_then(|s| s.host.clone())
    }

    // ----- connecting -----

    /// Starts a connection to `node`, trying its resolved addresses in turn.
    /// Failures are recorded (backoff) and reported in `out`.
    fn initiate_connect(&mut self, node: NodeId, now: Instant, out: &mut Vec<ClientEvent>) {
        let Some((host, port)) = self.node_address(node) else {
            tracing::warn!(node, "cannot connect: node is unknown");
            self.record_failure(node, now, false);
            out.push(ClientEvent::Disconnected {
                node,
                in_flight: Vec::new(),
                cause: NetworkError::UnknownNode(node),
            });
            return;
        };
        let state = self.nodes.entry(node).or_default();
        if state.host.as_ref() != Some(&(host.clone(), port)) {
            state.host = Some((host.clone(), port));
            state.addresses.clear();
            state.next_address = 0;
        }
        if state.next_address >= state.addresses.len() {
            // A new round: resolve again, the addresses may have changed.
            match (host.as_str(), port).to_socket_addrs() {
                Ok(addrs) => {
                    state.addresses = addrs.collect();
                    state.next_address = 0;
                }
                Err(e) => {
                    state.addresses.clear();
                    let cause = NetworkError::Dns {
                        host: host.clone(),
                        message: e.to_string(),
                    };
                    self.connect_failed(node, cause, now, out);
                    return;
                }
            }
            if state.addresses.is_empty() {
                let cause = NetworkError::Dns {
                    host: host.clone(),
                    message: "no addresses".to_string(),
                };
                self.connect_failed(node, cause, now, out);
                return;
            }
        }
        let mut last_error = None;
        loop {
            let state = self.nodes.entry(node).or_default();
            let Some(&addr) = state.addresses.get(state.next_address) else {
                break;
            };
            state.next_address += 1;
            let setup_failures = state.setup_failures;
            match self.open_socket(addr) {
                Ok(mut stream) => {
                    let token = Token(self.next_token);
                    self.next_token = self.next_token.wrapping_add(1) % (usize::MAX - 1);
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        last_error = Some(NetworkError::from(e));
                        continue;
                    }
                    let session = match &self.tls {
                        Some(config) => {
                            match crate::tls::server_name(&host).and_then(|name| {
                                rustls::ClientConnection::new(config.clone(), name)
                                    .map_err(|e| NetworkError::Tls(e.to_string()))
                            }) {
                                Ok(session) => Some(Box::new(session)),
                                Err(e) => {
                                    let _ = self.poll.registry().deregister(&mut stream);
                                    self.connect_failed(node, e, now, out);
                                    return;
                                }
                            }
                        }
                        None => None,
                    };
                    let timeout = self.setup_timeout.backoff(setup_failures, &mut self.rng);
                    tracing::debug!(node, %addr, host = %host, tls = session.is_some(), "connecting");
                    let mut conn = Connection::new(token, addr, stream, now, now + timeout);
                    conn.tls = session;
                    self.tokens.insert(token, node);
                    self.connections.insert(node, conn);
                    if let Some(s) = self.nodes.get_mut(&node) {
                        s.disconnected = false;
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(node, %addr, error = %e, "connect failed at once; trying the next address");
                    last_error = Some(NetworkError::from(e));
                }
            }
        }
        let cause = last_error.unwrap_or(NetworkError::ConnectionClosed);
        self.connect_failed(node, cause, now, out);
    }

    /// A non-blocking TCP socket with the configured options, connect started.
    fn open_socket(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        // Buffer sizes must be set before connect to affect the TCP window.
        if let Some(n) = self.config.send_buffer {
            socket.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.config.receive_buffer {
            socket.set_recv_buffer_size(n)?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(TcpStream::from_std(socket.into()))
    }

    /// A connection attempt failed before a connection existed (DNS, socket).
    fn connect_failed(
        &mut self,
        node: NodeId,
        cause: NetworkError,
        now: Instant,
        out: &mut Vec<ClientEvent>,
    ) {
        let addr = self.node_address(node);
        if self.note_connection_error(node, &cause) {
            tracing::warn!(node, address = ?addr, error = %cause, "connection could not be established; node may not be available");
        } else {
            tracing::debug!(node, address = ?addr, error = %cause, "connection could not be established");
        }
        self.record_failure(node, now, true);
        out.push(ClientEvent::Disconnected {
            node,
            in_flight: Vec::new(),
            cause,
        });
    }

    /// Remembers why connecting to `node` failed; true if this is the first
    /// failure since the node last worked (then it deserves a warning; the
    /// repeats every backoff do not).
    fn note_connection_error(&mut self, node: NodeId, cause: &NetworkError) -> bool {
        let state = self.nodes.entry(node).or_default();
        state.last_error = Some(cause.clone());
        !std::mem::replace(&mut state.warned, true)
    }

    /// The last connection error of each node that has not connected since,
    /// as (`host:port`, error), by node id (bootstrap servers first): what a
    /// caller's timeout should say when the cluster cannot be reached.
    pub fn connection_errors(&self) -> Vec<(String, NetworkError)> {
        let mut errors: Vec<(NodeId, String, NetworkError)> = self
            .nodes
            .iter()
            .filter_map(|(&node, s)| {
                let error = s.last_error.clone()?;
                let address = match s.host.clone().or_else(|| self.node_address(node)) {
                    Some((h, p)) => format!("{h}:{p}"),
                    None => format!("node {node}"),
                };
                Some((node, address, error))
            })
            .collect();
        errors.sort_by_key(|(node, _, _)| *node);
        errors.into_iter().map(|(_, a, e)| (a, e)).collect()
    }

    /// Backoff bookkeeping after a failed attempt or a dropped connection.
    fn record_failure(&mut self, node: NodeId, now: Instant, during_setup: bool) {
        let state = self.nodes.entry(node).or_default();
        let backoff = self
            .reconnect_backoff
            .backoff(state.failures, &mut self.rng);
        state.failures = state.failures.saturating_add(1);
        state.reconnect_at = Some(now + backoff);
        state.disconnected = true;
        if during_setup {
            state.setup_failures = state.setup_failures.saturating_add(1);
        } else {
            state.setup_failures = 0;
        }
    }

    /// TCP is up: start the ApiVersions exchange.
    fn on_connected(&mut self, node: NodeId, now: Instant) -> Result<(), NetworkError> {
        tracing::debug!(node, "TCP connected; sending ApiVersions");
        let version = ApiKey::ApiVersions.supported_versions().1;
        self.send_api_versions(node, version, now)
    }

    fn send_api_versions(
        &mut self,
        node: NodeId,
        version: i16,
        now: Instant,
    ) -> Result<(), NetworkError> {
        let body = RequestBody::ApiVersions(ApiVersionsRequest {
            client_software_name: self.config.client_software_name.clone(),
            client_software_version: self.config.client_software_version.clone(),
            ..Default::default()
        });
        let timeout = self.config.request_timeout;
        self.enqueue_request(node, body, version, timeout, RequestOwner::ApiVersions, now)?;
        if let Some(conn) = self.connections.get_mut(&node) {
            conn.state = ConnectionState::CheckingApiVersions { version };
        }
        Ok(())
    }

    /// Handles our ApiVersions response: retry with an older version if the
    /// broker asks for it, else negotiate and become Ready.
    fn on_api_versions(
        &mut self,
        node: NodeId,
        version: i16,
        response: ApiVersionsResponse,
        now: Instant,
    ) -> Result<(), NetworkError> {
        let error = ErrorCode::from_i16(response.error_code);
        if error == ErrorCode::UnsupportedVersion {
            let ours = ApiKey::ApiVersions.supported_versions();
            let broker_max = response
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions.code())
                .map(|k| k.max_version);
            let retry = broker_max.map_or(0, |m| m.min(ours.1));
            if retry < version && retry >= ours.0 {
                tracing::debug!(
                    node,
                    rejected = version,
                    retry,
                    "broker rejected the ApiVersions version; retrying"
                );
                return self.send_api_versions(node, retry, now);
            }
        }
        if error.is_error() {
            return Err(NetworkError::ApiVersions {
                error: format!("{} ({})", error.name(), error.code()),
            });
        }
        let broker: HashMap<i16, (i16, i16)> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        let negotiated: HashMap<ApiKey, i16> = ApiKey::ALL
            .iter()
            .filter_map(|&key| {
                let (their_min, their_max) = *broker.get(&key.code())?;
                let (our_min, our_max) = key.supported_versions();
                let v = their_max.min(our_max);
                (v >= their_min.max(our_min)).then_some((key, v))
            })
            .collect();
        if response.finalized_features_epoch >= 0
            && response.finalized_features_epoch >= self.finalized_features.0
        {
            self.finalized_features = (
                response.finalized_features_epoch,
                response
                    .finalized_features
                    .iter()
                    .map(|f| (f.name.clone(), f.max_version_level))
                    .collect(),
            );
        }
        let Some(conn) = self.connections.get_mut(&node) else {
            return Ok(());
        };
        tracing::debug!(node, addr = %conn.addr, apis = negotiated.len(), "ApiVersions negotiated");
        conn.api_versions = negotiated;
        if self.config.security_protocol.uses_sasl() {
            return self.start_sasl(node, now);
        }
        self.mark_ready(node, now);
        Ok(())
    }

    /// The handshake is complete: the connection takes requests.
    fn mark_ready(&mut self, node: NodeId, now: Instant) {
        let Some(conn) = self.connections.get_mut(&node) else {
            return;
        };
        self.metrics.record_connect(node, now);
        if std::mem::take(&mut conn.reauthenticating) {
            tracing::debug!(node, addr = %conn.addr, "re-authenticated (KIP-368); resuming requests");
        } else {
            tracing::debug!(node, addr = %conn.addr, "connection ready");
        }
        conn.state = ConnectionState::Ready;
        conn.setup_deadline = None;
        conn.sasl = None;
        let state = self.nodes.entry(node).or_default();
        state.failures = 0;
        state.setup_failures = 0;
        state.reconnect_at = None;
        state.disconnected = false;
        state.next_address = state.addresses.len();
        state.last_error = None;
        state.warned = false;
    }

    // ----- SASL -----

    /// Sends SaslHandshake v1 with the configured mechanism.
    fn start_sasl(&mut self, node: NodeId, now: Instant) -> Result<(), NetworkError> {
        let sasl = self
            .config
            .sasl
            .clone()
            .ok_or_else(|| NetworkError::Config("SASL needs sasl settings".to_string()))?;
        let version = self
            .connections
            .get(&node)
            .and_then(|c| c.api_versions.get(&ApiKey::SaslHandshake).copied())
            .filter(|&v| v >= 1)
            .ok_or_else(|| {
                NetworkError::Authentication(
                    "the broker does not support SaslHandshake v1 (KIP-152)".to_string(),
                )
            })?;
        let body = RequestBody::SaslHandshake(SaslHandshakeRequest {
            mechanism: sasl.mechanism.name().to_string(),
            ..Default::default()
        });
        let timeout = self.config.request_timeout;
        self.enqueue_request(
            node,
            body,
            version,
            timeout,
            RequestOwner::SaslHandshake,
            now,
        )?;
        if let Some(conn) = self.connections.get_mut(&node) {
            conn.state = ConnectionState::SaslHandshake;
            conn.sasl = Some(SaslClient::new(sasl));
        }
        Ok(())
    }

    fn on_sasl_handshake(
        &mut self,
        node: NodeId,
        response: SaslHandshakeResponse,
        now: Instant,
    ) -> Result<(), NetworkError> {
        let error = ErrorCode::from_i16(response.error_code);
        if error.is_error() {
            return Err(NetworkError::Authentication(format!(
                "SaslHandshake failed with {error}; the broker enables {:?}",
                response.mechanisms
            )));
        }
        let first = self
            .connections
            .get_mut(&node)
            .and_then(|c| c.sasl.as_mut())
            .ok_or(NetworkError::ConnectionClosed)?
            .start()?;
        self.send_sasl_bytes(node, first, now)
    }

    fn send_sasl_bytes(
        &mut self,
        node: NodeId,
        bytes: Vec<u8>,
        now: Instant,
    ) -> Result<(), NetworkError> {
        let version = self
            .connections
            .get(&node)
            .and_then(|c| c.api_versions.get(&ApiKey::SaslAuthenticate).copied())
            .ok_or_else(|| {
                NetworkError::Authentication(
                    "the broker does not support SaslAuthenticate".to_string(),
                )
            })?;
        let body = RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
            auth_bytes: bytes.into(),
            ..Default::default()
        });
        let timeout = self.config.request_timeout;
        self.enqueue_request(
            node,
            body,
            version,
            timeout,
            RequestOwner::SaslAuthenticate,
            now,
        )?;
        if let Some(conn) = self.connections.get_mut(&node) {
            conn.state = ConnectionState::SaslAuthenticating;
        }
        Ok(())
    }

    fn on_sasl_authenticate(
        &mut self,
        node: NodeId,
        response: SaslAuthenticateResponse,
        now: Instant,
    ) -> Result<(), NetworkError> {
        let error = ErrorCode::from_i16(response.error_code);
        if error.is_error() {
            // OAUTHBEARER: the broker's JSON error came in the step before.
            let server_error = self
                .connections
                .get(&node)
                .and_then(|c| c.sasl.as_ref())
                .and_then(|s| s.server_error())
                .map(|e| format!(" (the broker's error: {e})"))
                .unwrap_or_default();
            return Err(NetworkError::Authentication(format!(
                "{error}: {}{server_error}",
                response.error_message.unwrap_or_default()
            )));
        }
        let step = self
            .connections
            .get_mut(&node)
            .and_then(|c| c.sasl.as_mut())
            .ok_or(NetworkError::ConnectionClosed)?
            .step(&response.auth_bytes)?;
        match step {
            SaslStep::Send(bytes) => self.send_sasl_bytes(node, bytes, now),
            SaslStep::Done => {
                let lifetime = u64::try_from(response.session_lifetime_ms).unwrap_or(0);
                // KIP-368: re-authenticate at a random point between 85 %
                // and 95 % of the session's lifetime, as the Java client,
                // so that the connections of many clients do not all
                // re-authenticate at once.
                let reauth_at = (lifetime > 0).then(|| {
                    let share = 0.85 + 0.10 * self.rng.next_f64();
                    now + Duration::from_millis(lifetime).mul_f64(share)
                });
                tracing::debug!(
                    node,
                    session_lifetime_ms = lifetime,
                    "SASL authentication complete"
                );
                if let Some(conn) = self.connections.get_mut(&node) {
                    conn.reauth_at = reauth_at;
                }
                self.mark_ready(node, now);
                Ok(())
            }
        }
    }

    /// KIP-368: starts re-authenticating every Ready connection whose
    /// session is due and has no request in flight (a due connection takes
    /// no new requests, so those in flight drain first). The exchange is
    /// the first one's (SaslHandshake, SaslAuthenticate); the connection is
    /// Ready again when it succeeds, and its failure is the same fatal
    /// authentication error as a first login's.
    fn begin_due_reauthentications(&mut self, now: Instant, out: &mut Vec<ClientEvent>) {
        let due: Vec<NodeId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                c.state == ConnectionState::Ready
                    && c.reauth_due(now)
                    && c.in_flight.is_empty()
                    && !c.has_pending_writes()
            })
            .map(|(&n, _)| n)
            .collect();
        for node in due {
            if let Some(conn) = self.connections.get_mut(&node) {
                tracing::debug!(node, addr = %conn.addr, "re-authenticating (KIP-368): the SASL session is near its end");
                conn.reauth_at = None;
                conn.reauthenticating = true;
            }
            if let Err(e) = self.start_sasl(node, now) {
                self.close_connection(node, e, now, &[], true, out);
            }
        }
    }

    // ----- sending -----

    /// Encodes and queues a request on `node`'s connection.
    fn enqueue_request(
        &mut self,
        node: NodeId,
        body: RequestBody,
        version: i16,
        timeout: Duration,
        owner: RequestOwner,
        now: Instant,
    ) -> Result<i32, NetworkError> {
        let correlation_id = self.next_correlation_id();
        let api_key = body.api_key();
        let header = RequestHeader::new(
            api_key,
            version,
            correlation_id,
            Some(&self.config.client_id),
        );
        let pieces = encode_request_frame_segments(&header, &body)?;
        let conn = self
            .connections
            .get_mut(&node)
            .ok_or(NetworkError::NotReady(node))?;
        let expects = expects_response(&body);
        tracing::debug!(
            node,
            correlation_id,
            api = api_key.name(),
            version,
            bytes = pieces.iter().map(Bytes::len).sum::<usize>(),
            "sending request"
        );
        let bytes = pieces.iter().map(Bytes::len).sum::<usize>();
        conn.enqueue_pieces(pieces, (!expects).then_some(correlation_id));
        self.metrics.record_request(node, bytes, now);
        conn.in_flight.push_back(InFlightRequest {
            correlation_id,
            api_key,
            api_version: version,
            deadline: now + timeout,
            sent_at: now,
            owner,
            expects_response: expects,
        });
        Ok(correlation_id)
    }

    // ----- metadata upkeep -----

    /// Sends a metadata request when one is due. Returns how long until it
    /// needs looking at again.
    fn maybe_update_metadata(&mut self, now: Instant, out: &mut Vec<ClientEvent>) -> Duration {
        if self.metadata_fetch.is_some() {
            // The request's own timeout wakes the poll.
            return Duration::MAX;
        }
        let due = self.metadata.time_to_next_update(now);
        if !due.is_zero() {
            return due;
        }
        let Some(node) = self.least_loaded_node(now) else {
            tracing::debug!(
                "no node available for a metadata request; waiting for a reconnect backoff"
            );
            return self
                .earliest_reconnect(now)
                .unwrap_or(self.config.reconnect_backoff);
        };
        if self.node_ready(node, now) {
            let Some(version) = self
                .connections
                .get(&node)
                .and_then(|c| c.api_versions.get(&ApiKey::Metadata).copied())
            else {
                tracing::warn!(node, "node supports no Metadata version prozess speaks");
                self.metadata.failed_update(now);
                return self.metadata.time_to_next_update(now);
            };
            let spec = self.metadata.request_spec();
            let topics = match spec.topics {
                None if version >= 1 => None,
                // v0 has no null: an empty list means all topics there.
                None => Some(Vec::new()),
                Some(names) => Some(
                    names
                        .into_iter()
                        .map(|name| MetadataRequestTopic {
                            name: Some(name),
                            ..Default::default()
                        })
                        .collect(),
                ),
            };
            let body = RequestBody::Metadata(MetadataRequest {
                topics,
                allow_auto_topic_creation: self.config.allow_auto_create_topics,
                ..Default::default()
            });
            let owner = RequestOwner::Metadata {
                request_version: spec.request_version,
            };
            let timeout = self.config.request_timeout;
            match self.enqueue_request(node, body, version, timeout, owner, now) {
                Ok(correlation_id) => {
                    tracing::debug!(node, correlation_id, "metadata refresh sent");
                    self.metadata_fetch = Some(MetadataFetch {
                        node,
                        correlation_id,
                    });
                }
                Err(e) => {
                    tracing::warn!(node, error = %e, "metadata request could not be sent");
                    self.metadata.failed_update(now);
                }
            }
            return Duration::MAX;
        }
        if !self.connections.contains_key(&node) && self.can_connect(node, now) {
            tracing::debug!(node, "connecting for a metadata refresh");
            self.initiate_connect(node, now, out);
        }
        // Connection progress (or its setup timeout) wakes the poll.
        Duration::MAX
    }

    fn earliest_reconnect(&self, now: Instant) -> Option<Duration> {
        self.metadata
            .brokers()
            .keys()
            .filter_map(|n| self.nodes.get(n).and_then(|s| s.reconnect_at))
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    fn on_metadata_response(
        &mut self,
        node: NodeId,
        correlation_id: i32,
        version: i16,
        request_version: u64,
        body: ResponseBody,
        now: Instant,
    ) {
        if self
            .metadata_fetch
            .is_some_and(|f| f.node == node && f.correlation_id == correlation_id)
        {
            self.metadata_fetch = None;
        }
        let ResponseBody::Metadata(response) = body else {
            return;
        };
        let top = ErrorCode::from_i16(response.error_code);
        if top.is_error() {
            tracing::warn!(node, error = %top, "metadata response carries a top-level error");
        }
        let snapshot = MetadataSnapshot::from_response(&response, version);
        tracing::debug!(
            node,
            brokers = snapshot.brokers.len(),
            topics = snapshot.topics.len(),
            "metadata response"
        );
        self.metadata.update(request_version, snapshot, now);
    }

    // ----- receiving -----

    /// Handles one response frame on `node`. An error closes the connection.
    fn on_frame(
        &mut self,
        node: NodeId,
        frame: bytes::Bytes,
        now: Instant,
        out: &mut Vec<ClientEvent>,
    ) -> Result<(), NetworkError> {
        let conn = self
            .connections
            .get_mut(&node)
            .ok_or(NetworkError::ConnectionClosed)?;
        let Some(req) = conn.next_expected_response() else {
            return Err(NetworkError::Decode(DecodeError::new(
                "ResponseHeader.correlation_id",
                DecodeErrorKind::InvalidValue(
                    "a response arrived with no request in flight".to_string(),
                ),
            )));
        };
        let received = prozess_protocol::frame::peek_correlation_id(&frame)?;
        if received != req.correlation_id {
            return Err(NetworkError::CorrelationMismatch {
                expected: req.correlation_id,
                received,
            });
        }
        // Decode before taking the request off the queue, so a decode error
        // reports it with the connection's other in-flight requests.
        let frame_len = frame.len();
        let (_, body) = decode_response_frame(frame, req.api_key, req.api_version)?;
        let Some(req) = conn.pop_expected_response() else {
            return Ok(());
        };
        let latency = now.saturating_duration_since(req.sent_at);
        self.metrics.record_response(node, frame_len, latency, now);
        if let Some(throttle) =
            crate::throttle::client_throttle_time(req.api_key, req.api_version, &body)
        {
            // KIP-219: the broker answered at once and mutes the channel
            // for this long; sending more meanwhile would only queue there.
            tracing::debug!(
                node,
                api = req.api_key.name(),
                throttle_ms = throttle.as_millis() as u64,
                "throttled by the broker's quota; holding off requests on this connection"
            );
            conn.throttle(now + throttle);
            self.metrics.record_throttle(node, throttle, now);
        }
        tracing::debug!(
            node,
            correlation_id = req.correlation_id,
            api = req.api_key.name(),
            "response received"
        );
        match req.owner {
            RequestOwner::User => {
                if let ResponseBody::FindCoordinator(r) = &body {
                    // So that `coordinator_connection_id(node_id)` reaches
                    // the address this answer gives.
                    for (broker, host, port) in coordinators_in(r) {
                        self.coordinator_node(broker, &host, port);
                    }
                }
                out.push(ClientEvent::Response(ClientResponse {
                    node,
                    correlation_id: req.correlation_id,
                    api_key: req.api_key,
                    api_version: req.api_version,
                    body,
                }))
            }
            RequestOwner::ApiVersions => {
                if let ResponseBody::ApiVersions(r) = body {
                    self.on_api_versions(node, req.api_version, r, now)?;
                }
            }
            RequestOwner::SaslHandshake => {
                if let ResponseBody::SaslHandshake(r) = body {
                    self.on_sasl_handshake(node, r, now)?;
                }
            }
            RequestOwner::SaslAuthenticate => {
                if let ResponseBody::SaslAuthenticate(r) = body {
                    self.on_sasl_authenticate(node, r, now)?;
                }
            }
            RequestOwner::Metadata { request_version } => {
                self.on_metadata_response(
                    node,
                    req.correlation_id,
                    req.api_version,
                    request_version,
                    body,
                    now,
                );
            }
        }
        Ok(())
    }

    /// Closes `node`'s connection. In-flight user requests (except those in
    /// `already_reported`) are reported in a `Disconnected` event when
    /// `report` is set or any exist.
    fn close_connection(
        &mut self,
        node: NodeId,
        cause: NetworkError,
        now: Instant,
        already_reported: &[i32],
        backoff: bool,
        out: &mut Vec<ClientEvent>,
    ) {
        let Some(mut conn) = self.connections.remove(&node) else {
            return;
        };
        self.tokens.remove(&conn.token);
        if let Err(e) = self.poll.registry().deregister(&mut conn.stream) {
            tracing::debug!(node, error = %e, "deregistering a closed socket failed");
        }
        // A re-authentication (KIP-368) fails as a first login does, but the
        // connection had been set up.
        let authenticating = conn.state != ConnectionState::Ready;
        let during_setup = authenticating && !conn.reauthenticating;
        if !during_setup {
            self.metrics.record_disconnect(node, now);
        }
        let cause = self.with_broker_context(node, conn.addr, cause, authenticating);
        let mut in_flight = Vec::new();
        for r in conn.in_flight.drain(..) {
            if already_reported.contains(&r.correlation_id) {
                continue;
            }
            match r.owner {
                RequestOwner::User => in_flight.push(InFlightInfo {
                    correlation_id: r.correlation_id,
                    api_key: r.api_key,
                }),
                RequestOwner::Metadata { .. }
                | RequestOwner::ApiVersions
                | RequestOwner::SaslHandshake
                | RequestOwner::SaslAuthenticate => {}
            }
        }
        if self.metadata_fetch.is_some_and(|f| f.node == node) {
            self.metadata_fetch = None;
            tracing::warn!(node, error = %cause, "metadata refresh failed; will retry after backoff");
            self.metadata.failed_update(now);
        }
        if !backoff {
            // Closed on purpose: no failure to remember.
            self.nodes.remove(&node);
            if !in_flight.is_empty() {
                out.push(ClientEvent::Disconnected {
                    node,
                    in_flight,
                    cause,
                });
            }
            return;
        }
        // A TCP connect that failed moves on to the node's next address at
        // once; only when all failed does the node back off.
        let tcp_failed = conn.state == ConnectionState::Connecting;
        let more_addresses = self
            .nodes
            .get(&node)
            .is_some_and(|s| s.next_address < s.addresses.len());
        if tcp_failed && more_addresses {
            tracing::debug!(node, addr = %conn.addr, error = %cause, "connect failed; trying the next address");
            drop(conn);
            self.initiate_connect(node, now, out);
            return;
        }
        if cause.is_authentication_failure() {
            self.note_connection_error(node, &cause);
            tracing::error!(node, addr = %conn.addr, error = %cause, "authentication failed; not reconnecting before reconnect.backoff.max.ms");
        } else if during_setup {
            if self.note_connection_error(node, &cause) {
                tracing::warn!(node, addr = %conn.addr, error = %cause, "connection setup failed; node may not be available");
            } else {
                tracing::debug!(node, addr = %conn.addr, error = %cause, "connection setup failed");
            }
        } else if in_flight.is_empty() {
            tracing::debug!(node, addr = %conn.addr, error = %cause, "connection closed");
        } else {
            tracing::warn!(node, addr = %conn.addr, error = %cause, requests = in_flight.len(), "connection closed with requests in flight");
        }
        self.record_failure(node, now, during_setup);
        if cause.is_authentication_failure() {
            // Credentials do not fix themselves within milliseconds: as the
            // Java client, wait the longest backoff before trying again.
            let state = self.nodes.entry(node).or_default();
            let at = now + self.config.reconnect_backoff_max;
            state.reconnect_at = Some(state.reconnect_at.map_or(at, |t| t.max(at)));
        }
        // The cluster may have changed (broker gone, leaders moved): refresh,
        // as the Java client does after a disconnect.
        self.metadata.request_update();
        out.push(ClientEvent::Disconnected {
            node,
            in_flight,
            cause,
        });
    }

    /// The cause of a closed connection as the caller sees it: a failed
    /// authentication names the broker (host, port, node, address) and the
    /// SASL mechanism besides the broker's message; a TLS error after the
    /// handshake is an I/O error (retriable), not an authentication failure.
    fn with_broker_context(
        &self,
        node: NodeId,
        addr: SocketAddr,
        cause: NetworkError,
        during_setup: bool,
    ) -> NetworkError {
        let broker = || match self.node_address(node) {
            Some((host, port)) => format!("broker {host}:{port} (node {node}, {addr})"),
            None => format!("broker node {node} ({addr})"),
        };
        match cause {
            NetworkError::Authentication(m) if during_setup => {
                let mechanism = self
                    .config
                    .sasl
                    .as_ref()
                    .map_or("SASL", |s| s.mechanism.name());
                NetworkError::Authentication(format!("{mechanism} with {}: {m}", broker()))
            }
            NetworkError::Tls(m) if during_setup => {
                NetworkError::Tls(format!("with {}: {m}", broker()))
            }
            NetworkError::Tls(m) => NetworkError::from(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS session with {} failed: {m}", broker()),
            )),
            other => other,
        }
    }

    /// Handles readiness of one socket.
    fn on_socket_event(&mut self, node: NodeId, now: Instant, out: &mut Vec<ClientEvent>) {
        let Some(conn) = self.connections.get_mut(&node) else {
            return;
        };
        if conn.state == ConnectionState::Connecting {
            match conn.finish_connect() {
                Ok(true) => {
                    if let Err(e) = self.on_connected(node, now) {
                        self.close_connection(node, e, now, &[], true, out);
                        return;
                    }
                }
                Ok(false) => return,
                Err(e) => {
                    self.close_connection(node, e, now, &[], true, out);
                    return;
                }
            }
        }
        let max = self.config.max_response_size;
        let Some(conn) = self.connections.get_mut(&node) else {
            return;
        };
        let outcome = conn.read(max, now);
        for frame in outcome.frames {
            if let Err(e) = self.on_frame(node, frame, now, out) {
                tracing::warn!(node, error = %e, "closing the connection: bad response");
                self.close_connection(node, e, now, &[], true, out);
                return;
            }
        }
        if let Some(e) = outcome.error {
            self.close_connection(node, e, now, &[], true, out);
        }
    }

    /// Writes what the sockets take; reports requests that completed by
    /// being written (no response expected).
    fn flush_all(&mut self, now: Instant, out: &mut Vec<ClientEvent>) {
        let nodes: Vec<NodeId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.state != ConnectionState::Connecting && c.has_pending_writes())
            .map(|(&n, _)| n)
            .collect();
        for node in nodes {
            let Some(conn) = self.connections.get_mut(&node) else {
                continue;
            };
            match conn.flush(now) {
                Ok(done) => {
                    for r in done {
                        if r.owner == RequestOwner::User {
                            out.push(ClientEvent::Sent {
                                node,
                                correlation_id: r.correlation_id,
                                api_key: r.api_key,
                            });
                        }
                    }
                }
                Err(e) => self.close_connection(node, e, now, &[], true, out),
            }
        }
    }

    /// Expires requests and connection setups past their deadline, and closes
    /// idle connections and bootstrap connections no longer needed.
    fn handle_deadlines(&mut self, now: Instant, out: &mut Vec<ClientEvent>) {
        let nodes: Vec<NodeId> = self.connections.keys().copied().collect();
        for node in nodes {
            let Some(conn) = self.connections.get(&node) else {
                continue;
            };
            if conn.setup_deadline.is_some_and(|d| now >= d) {
                self.close_connection(
                    node,
                    NetworkError::ConnectionSetupTimeout,
                    now,
                    &[],
                    true,
                    out,
                );
                continue;
            }
            let expired: Vec<InFlightRequest> = conn
                .in_flight
                .iter()
                .filter(|r| now >= r.deadline)
                .cloned()
                .collect();
            if !expired.is_empty() {
                let mut reported = Vec::with_capacity(expired.len());
                for r in &expired {
                    tracing::warn!(
                        node,
                        correlation_id = r.correlation_id,
                        api = r.api_key.name(),
                        "request timed out; closing the connection"
                    );
                    if r.owner == RequestOwner::User {
                        out.push(ClientEvent::Timeout {
                            node,
                            correlation_id: r.correlation_id,
                            api_key: r.api_key,
                        });
                    }
                    reported.push(r.correlation_id);
                }
                self.close_connection(
                    node,
                    NetworkError::RequestTimeout,
                    now,
                    &reported,
                    true,
                    out,
                );
                continue;
            }
            let idle = conn.in_flight.is_empty() && !conn.has_pending_writes();
            let retired_bootstrap = node < 0 && !self.metadata.is_bootstrap();
            if idle
                && (retired_bootstrap
                    || now.saturating_duration_since(conn.last_activity)
                        >= self.config.connections_max_idle)
            {
                tracing::debug!(node, "closing an idle connection");
                self.close_connection(node, NetworkError::ClosedByClient, now, &[], false, out);
            }
        }
    }

    /// The earliest internal deadline (request timeouts, setup timeouts, idle closes).
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.connections
            .values()
            .flat_map(|c| {
                let idle = (c.in_flight.is_empty() && c.state == ConnectionState::Ready)
                    .then(|| c.last_activity + self.config.connections_max_idle);
                // A throttle's end wakes the poll, so the caller can send again.
                let throttle_end = c.throttle_until.filter(|&t| t > now);
                // So is the start of a re-authentication (once due, the
                // responses still in flight wake the poll).
                let reauth = c.reauth_at.filter(|&t| t > now);
                [
                    c.earliest_deadline(),
                    c.setup_deadline,
                    idle,
                    throttle_end,
                    reauth,
                ]
            })
            .flatten()
            .min()
    }
}

impl KafkaClient for NetworkClient {
    fn ready(&mut self, node: NodeId, now: Instant) -> bool {
        if self.node_ready(node, now) {
            return true;
        }
        if self.can_connect(node, now) {
            let mut out = Vec::new();
            self.initiate_connect(node, now, &mut out);
            self.pending.extend(out);
        }
        false
    }

    fn is_ready(&self, node: NodeId, now: Instant) -> bool {
        self.node_ready(node, now)
    }

    fn connection_failed(&self, node: NodeId) -> bool {
        !self.connections.contains_key(&node)
            && self.nodes.get(&node).is_some_and(|s| s.disconnected)
    }

    fn connection_delay(&self, node: NodeId, now: Instant) -> Duration {
        if let Some(conn) = self.connections.get(&node) {
            if let Some(t) = conn.throttle_until.filter(|&t| now < t) {
                // Throttled (KIP-219): ready again when the throttle ends.
                return t.saturating_duration_since(now);
            }
            // Connecting or connected: poll reports progress.
            return Duration::MAX;
        }
        self.nodes
            .get(&node)
            .and_then(|s| s.reconnect_at)
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    fn finalized_feature(&self, name: &str) -> Option<i16> {
        self.finalized_features.1.get(name).copied()
    }

    fn api_version(&self, node: NodeId, key: ApiKey) -> Option<i16> {
        let conn = self.connections.get(&node)?;
        // Versions negotiated stay valid while the connection re-authenticates.
        if conn.state != ConnectionState::Ready && !conn.reauthenticating {
            return None;
        }
        conn.api_versions.get(&key).copied()
    }

    fn send_request(
        &mut self,
        node: NodeId,
        request: ClientRequest,
        now: Instant,
    ) -> Result<i32, NetworkError> {
        if !self.node_ready(node, now) {
            return Err(NetworkError::NotReady(node));
        }
        let key = request.body.api_key();
        let version = match request.version {
            Some(v) => v,
            None => self
                .api_version(node, key)
                .ok_or(NetworkError::UnsupportedVersion {
                    api: key.name(),
                    node,
                })?,
        };
        let timeout = request.timeout.unwrap_or(self.config.request_timeout);
        self.enqueue_request(
            node,
            request.body,
            version,
            timeout,
            RequestOwner::User,
            now,
        )
    }

    fn in_flight_count(&self, node: NodeId) -> usize {
        self.connections.get(&node).map_or(0, |c| {
            c.in_flight
                .iter()
                .filter(|r| r.owner == RequestOwner::User)
                .count()
        })
    }

    fn has_in_flight(&self) -> bool {
        self.connections
            .values()
            .any(|c| c.in_flight.iter().any(|r| r.owner == RequestOwner::User))
    }

    fn poll(&mut self, timeout: Duration, now: Instant) -> Vec<ClientEvent> {
        let mut out = std::mem::take(&mut self.pending);
        self.begin_due_reauthentications(now, &mut out);
        let metadata_wait = self.maybe_update_metadata(now, &mut out);
        self.flush_all(now, &mut out);
        let mut wait = timeout.min(metadata_wait);
        if let Some(d) = self.next_deadline(now) {
            wait = wait.min(d.saturating_duration_since(now));
        }
        if !out.is_empty() {
            wait = Duration::ZERO;
        }
        if let Err(e) = self.poll.poll(&mut self.events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::warn!(error = %e, "mio poll failed");
            }
            self.events.clear();
        }
        // The only clock read: after blocking, the caller's `now` is stale.
        let now = if wait.is_zero() {
            now
        } else {
            Instant::now().max(now)
        };
        let ready: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
        for token in ready {
            if token == WAKER_TOKEN {
                continue;
            }
            if let Some(&node) = self.tokens.get(&token) {
                self.on_socket_event(node, now, &mut out);
            }
        }
        self.handle_deadlines(now, &mut out);
        self.begin_due_reauthentications(now, &mut out);
        // Send what the responses made possible (a metadata request on a
        // connection that just became ready) without waiting for the next poll.
        self.maybe_update_metadata(now, &mut out);
        self.flush_all(now, &mut out);
        out
    }

    fn least_loaded_node(&mut self, now: Instant) -> Option<NodeId> {
        let mut nodes: Vec<NodeId> = self.metadata.brokers().keys().copied().collect();
        if nodes.is_empty() {
            return None;
        }
        nodes.sort_unstable();
        let offset = self.rng.below(nodes.len());
        let mut best_ready: Option<(usize, NodeId)> = None;
        let mut connecting = None;
        let mut connectable = None;
        for i in 0..nodes.len() {
            let node = nodes[(offset + i) % nodes.len()];
            if self.node_ready(node, now) {
                let load = self.connections.get(&node).map_or(0, |c| c.in_flight.len());
                if load == 0 {
                    return Some(node);
                }
                if best_ready.is_none_or(|(l, _)| load < l) {
                    best_ready = Some((load, node));
                }
            } else if self
                .connections
                .get(&node)
                .is_some_and(|c| c.state != ConnectionState::Ready || c.reauth_due(now))
            {
                connecting.get_or_insert(node);
            } else if self.can_connect(node, now) {
                connectable.get_or_insert(node);
            }
        }
        best_ready.map(|(_, n)| n).or(connecting).or(connectable)
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
        let mut out = Vec::new();
        self.close_connection(
            node,
            NetworkError::ClosedByClient,
            Instant::now(),
            &[],
            false,
            &mut out,
        );
        self.nodes.remove(&node);
        self.pending.extend(out);
    }

    fn connection_errors(&self) -> Vec<(String, NetworkError)> {
        NetworkClient::connection_errors(self)
    }

    fn network_metrics(&self) -> Option<&crate::NetworkMetrics> {
        Some(&self.metrics)
    }

    fn coordinator_node(&mut self, broker: NodeId, host: &str, port: u16) -> NodeId {
        if broker < 0 {
            return broker;
        }
        let id = coordinator_connection_id(broker);
        let entry = (broker, host.to_string(), port);
        if self.coordinators.get(&id) != Some(&entry) {
            // An open connection stays where it is; a changed address is
            // used from the next connect on.
            tracing::debug!(
                broker,
                connection = id,
                host,
                port,
                "group coordinator gets a dedicated connection"
            );
            self.coordinators.insert(id, entry);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// receive.buffer.bytes: by default no SO_RCVBUF is set (the socket
    /// keeps the OS default, and with it Linux's auto-tuning); a size the
    /// user sets is applied (Linux reports it doubled), also below the OS
    /// default.
    #[test]
    fn socket_buffers_are_set_only_when_configured() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fresh = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        let os_default = (
            fresh.recv_buffer_size().unwrap(),
            fresh.send_buffer_size().unwrap(),
        );

        let mut config = NetworkConfig::new([addr.to_string()]);
        config.send_buffer = None;
        assert_eq!(config.receive_buffer, None, "the default");
        let client = NetworkClient::new(config).unwrap();
        let stream = client.open_socket(addr).unwrap();
        let sock = socket2::SockRef::from(&stream);
        // Unlocked buffers may only have grown since (the kernel expands
        // the send buffer once the connection is established).
        let (rcv, snd) = (
            sock.recv_buffer_size().unwrap(),
            sock.send_buffer_size().unwrap(),
        );
        assert!(rcv >= os_default.0, "SO_RCVBUF {rcv} < {}", os_default.0);
        assert!(snd >= os_default.1, "SO_SNDBUF {snd} < {}", os_default.1);

        let mut config = NetworkConfig::new([addr.to_string()]);
        config.receive_buffer = Some(16 * 1024);
        config.send_buffer = Some(24 * 1024);
        let client = NetworkClient::new(config).unwrap();
        let stream = client.open_socket(addr).unwrap();
        let sock = socket2::SockRef::from(&stream);
        let (rcv, snd) = (
            sock.recv_buffer_size().unwrap(),
            sock.send_buffer_size().unwrap(),
        );
        assert!((16 * 1024..=32 * 1024).contains(&rcv), "SO_RCVBUF {rcv}");
        assert!((24 * 1024..=48 * 1024).contains(&snd), "SO_SNDBUF {snd}");
    }

    #[test]
    fn tries_every_resolved_address_before_failing() {
        // The listener accepts in the kernel; the test only needs TCP to connect.
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_addr = open.local_addr().unwrap();
        let dead_addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut client = NetworkClient::new(NetworkConfig::new([format!(
            "localhost:{}",
            open_addr.port()
        )]))
        .unwrap();
        // As if "localhost" had resolved to a dead address first.
        let state = client.nodes.entry(-1).or_default();
        state.host = Some(("localhost".to_string(), open_addr.port()));
        state.addresses = vec![dead_addr, open_addr];
        state.next_address = 0;

        let start = Instant::now();
        let mut events = Vec::new();
        client.ready(-1, start);
        while client
            .connections
            .get(&-1)
            .is_none_or(|c| c.state == ConnectionState::Connecting)
        {
            assert!(start.elapsed() < Duration::from_secs(20), "{events:?}");
            events.extend(client.poll(Duration::from_millis(20), Instant::now()));
        }
        assert_eq!(client.connected_address(-1), Some(open_addr));
        assert!(
            events.is_empty(),
            "a failed address is not reported while others remain: {events:?}"
        );
        assert!(!client.connection_failed(-1));
    }

    /// Issue 10 item 7: a Ready connection that drops is no setup failure;
    /// the next connection gets the base setup timeout, not a longer one.
    #[test]
    fn a_dropped_ready_connection_is_not_a_setup_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = NetworkConfig::new([addr.to_string()]);
        config.socket_connection_setup_timeout = Duration::from_secs(10);
        config.socket_connection_setup_timeout_max = Duration::from_secs(300);
        let mut client = NetworkClient::new(config).unwrap();
        let now = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let (peer, _) = listener.accept().unwrap();
        let token = Token(7);
        client
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
            .unwrap();
        let mut conn = Connection::new(token, addr, stream, now, now);
        conn.state = ConnectionState::Ready;
        conn.setup_deadline = None;
        client.tokens.insert(token, -1);
        client.connections.insert(-1, conn);
        // Two earlier failed setups: a Ready connection resets the count.
        client.nodes.entry(-1).or_default().setup_failures = 2;
        drop(peer);
        let start = Instant::now();
        let mut events = Vec::new();
        while events.is_empty() {
            assert!(start.elapsed() < Duration::from_secs(20));
            events.extend(client.poll(Duration::from_millis(20), Instant::now()));
        }
        assert!(matches!(
            events[0],
            ClientEvent::Disconnected { node: -1, .. }
        ));
        let state = &client.nodes[&-1];
        assert_eq!(state.setup_failures, 0);
        assert_eq!(state.failures, 1);
        // The next setup timeout is the base one (with jitter), not grown.
        let timeout = client
            .setup_timeout
            .backoff(state.setup_failures, &mut client.rng);
        assert!(timeout <= Duration::from_secs(12), "{timeout:?}");
    }

    #[test]
    fn all_addresses_failing_is_one_reported_failure() {
        let dead: Vec<SocketAddr> = (0..3)
            .map(|_| {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
            })
            .collect();
        let mut client = NetworkClient::new(NetworkConfig::new([format!(
            "localhost:{}",
            dead[0].port()
        )]))
        .unwrap();
        let state = client.nodes.entry(-1).or_default();
        state.host = Some(("localhost".to_string(), dead[0].port()));
        state.addresses = dead.clone();
        state.next_address = 0;
        let start = Instant::now();
        let mut events = Vec::new();
        client.ready(-1, start);
        while events.is_empty() {
            assert!(start.elapsed() < Duration::from_secs(20));
            events.extend(client.poll(Duration::from_millis(20), Instant::now()));
        }
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(
            events[0],
            ClientEvent::Disconnected { node: -1, .. }
        ));
        assert!(client.connection_failed(-1));
        assert_eq!(client.nodes[&-1].failures, 1);
    }
}
