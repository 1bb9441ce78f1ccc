//! The admin client's poll loop: send a batch of requests (each to a given
//! node or to any node), drive the network until each has an outcome or the
//! deadline passes, and the Metadata look-ups every operation starts with.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prozess_network::{
    ClientEvent, ClientRequest, ClientResponse, KafkaClient, MetadataSnapshot, NetworkError, NodeId,
};
use prozess_protocol::messages::metadata::request::MetadataRequestTopic;
use prozess_protocol::messages::MetadataRequest;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use super::{AdminClient, AdminError};

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// This broker.
    Node(NodeId),
    /// The least loaded broker (another one if its connection fails).
    Any,
}

/// Builds the request body for the version negotiated with the chosen node.
pub(super) type Build<'a> = Box<dyn Fn(i16) -> RequestBody + 'a>;

/// One request of a batch.
pub(super) struct Call<'a> {
    pub target: Target,
    pub api: ApiKey,
    pub build: Build<'a>,
}

impl<'a> Call<'a> {
    pub fn new(target: Target, api: ApiKey, build: impl Fn(i16) -> RequestBody + 'a) -> Self {
        Call {
            target,
            api,
            build: Box::new(build),
        }
    }
}

/// A call's progress inside [`AdminClient::execute`].
struct Slot<'a> {
    call: Call<'a>,
    node: Option<NodeId>,
    correlation_id: Option<i32>,
    outcome: Option<Result<ClientResponse, AdminError>>,
}

/// Which topics a Metadata request asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Topics<'a> {
    /// Brokers and controller only.
    None,
    /// Every topic.
    All,
    /// These topics.
    Some(&'a [String]),
}

/// The remaining time until `deadline`, saturating at zero.
pub(super) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Milliseconds until `deadline` for a request's `timeout_ms` field.
pub(super) fn remaining_ms(deadline: Instant) -> i32 {
    i32::try_from(remaining(deadline).as_millis())
        .unwrap_or(i32::MAX)
        .max(1)
}

impl<C: KafkaClient> AdminClient<C> {
    /// Sends every call and drives the network until each has a response or
    /// an error, or `deadline` passes (the rest then fail with a timeout
    /// error naming `operation`). Results come in the order of `calls`.
    /// Nothing is retried here: callers decide what a failure means.
    pub(super) fn execute(
        &mut self,
        operation: &'static str,
        calls: Vec<Call<'_>>,
        deadline: Instant,
        timeout: Duration,
    ) -> Vec<Result<ClientResponse, AdminError>> {
        let mut slots: Vec<Slot<'_>> = calls
            .into_iter()
            .map(|call| Slot {
                node: match call.target {
                    Target::Node(n) => Some(n),
                    Target::Any => None,
                },
                call,
                correlation_id: None,
                outcome: None,
            })
            .collect();
        let mut last_error: HashMap<NodeId, NetworkError> = HashMap::new();
        loop {
            let now = Instant::now();
            let mut wait = remaining(deadline);
            for slot in slots
                .iter_mut()
                .filter(|s| s.outcome.is_none() && s.correlation_id.is_none())
            {
                // A node picked for "any" is dropped for another when its
                // connection fails, or when it was a bootstrap pseudo-node
                // that the first metadata response replaced.
                if slot.call.target == Target::Any
                    && slot.node.is_some_and(|n| {
                        self.client.connection_failed(n)
                            || self.client.metadata().broker(n).is_none()
                    })
                {
                    slot.node = None;
                }
                let node = match slot.node {
                    Some(n) => n,
                    None => match self.client.least_loaded_node(now) {
                        Some(n) => {
                            slot.node = Some(n);
                            n
                        }
                        None => {
                            wait = wait.min(self.config.retry_backoff);
                            continue;
                        }
                    },
                };
                if self.client.metadata().broker(node).is_none() {
                    // A node named by our own Metadata response (a coordinator,
                    // a leader) that the network client has not heard of yet:
                    // its refresh brings the address.
                    self.client.metadata_mut().request_update();
                    wait = wait.min(self.config.retry_backoff);
                    continue;
                }
                if !self.client.ready(node, now) {
                    let delay = self.client.connection_delay(node, now);
                    if delay != Duration::MAX && !delay.is_zero() {
                        wait = wait.min(delay);
                    }
                    continue;
                }
                let Some(version) = self.client.api_version(node, slot.call.api) else {
                    slot.outcome = Some(Err(AdminError::unsupported(slot.call.api.name(), node)));
                    continue;
                };
                let body = (slot.call.build)(version);
                let request_timeout = self
                    .config
                    .request_timeout
                    .min(remaining(deadline))
                    .max(Duration::from_millis(1));
                let request = ClientRequest::new(body)
                    .with_version(version)
                    .with_timeout(request_timeout);
                match self.client.send_request(node, request, now) {
                    Ok(id) => slot.correlation_id = Some(id),
                    Err(NetworkError::NotReady(_)) => {}
                    Err(e) => slot.outcome = Some(Err(e.into())),
                }
            }
            if slots.iter().all(|s| s.outcome.is_some()) {
                break;
            }
            if Instant::now() >= deadline {
                for slot in slots.iter_mut().filter(|s| s.outcome.is_none()) {
                    let waiting_for = match (slot.node, slot.correlation_id) {
                        (Some(n), Some(_)) => {
                            format!("the {} response from node {n}", slot.call.api.name())
                        }
                        (Some(n), None) => match last_error.get(&n) {
                            Some(e) => format!(
                                "a connection to node {n} for {} (last error: {e})",
                                slot.call.api.name()
                            ),
                            None => {
                                format!("a connection to node {n} for {}", slot.call.api.name())
                            }
                        },
                        (None, _) => format!("any broker to send {} to", slot.call.api.name()),
                    };
                    slot.outcome = Some(Err(AdminError::Timeout {
                        operation,
                        timeout,
                        waiting_for,
                    }));
                }
                break;
            }
            let events = self.client.poll(wait, Instant::now());
            for event in events {
                match event {
                    ClientEvent::Response(r) => {
                        if let Some(slot) = find(&mut slots, r.node, r.correlation_id) {
                            slot.outcome = Some(Ok(r));
                        }
                    }
                    ClientEvent::Disconnected {
                        node,
                        in_flight,
                        cause,
                    } => {
                        for info in &in_flight {
                            if let Some(slot) = find(&mut slots, node, info.correlation_id) {
                                slot.outcome = Some(Err(AdminError::Network(cause.clone())));
                            }
                        }
                        if cause.is_authentication_failure() {
                            // Java's AuthenticationException: the calls
                            // waiting for this node (or for any node) fail
                            // now instead of retrying until the deadline.
                            for slot in slots.iter_mut().filter(|s| {
                                s.outcome.is_none()
                                    && s.correlation_id.is_none()
                                    && (s.call.target == Target::Any || s.node == Some(node))
                            }) {
                                slot.outcome = Some(Err(AdminError::Network(cause.clone())));
                            }
                        }
                        tracing::debug!(node, error = %cause, "admin: connection closed");
                        last_error.insert(node, cause);
                    }
                    ClientEvent::Timeout {
                        node,
                        correlation_id,
                        ..
                    } => {
                        if let Some(slot) = find(&mut slots, node, correlation_id) {
                            slot.outcome =
                                Some(Err(AdminError::Network(NetworkError::RequestTimeout)));
                        }
                    }
                    ClientEvent::Sent { .. } => {}
                }
            }
        }
        slots
            .into_iter()
            .map(|s| {
                s.outcome
                    .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())))
            })
            .collect()
    }

    /// Sends one request and waits for its outcome.
    pub(super) fn execute_one(
        &mut self,
        operation: &'static str,
        call: Call<'_>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<ClientResponse, AdminError> {
        self.execute(operation, vec![call], deadline, timeout)
            .pop()
            .unwrap_or_else(|| Err(AdminError::Protocol("no outcome".into())))
    }

    /// Waits `retry.backoff` (or until the deadline) while still doing the
    /// network's I/O.
    pub(super) fn backoff(&mut self, deadline: Instant) {
        let until = (Instant::now() + self.config.retry_backoff).min(deadline);
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            // Responses to requests of an operation that already gave up are
            // dropped here: nobody waits for them any more.
            let _ = self.client.poll(until - now, now);
        }
    }

    /// Ends a round of a retrying operation: when items are left to retry
    /// and the deadline has passed, each gets a timeout error saying what it
    /// waited for (`expired` gives its result key and that text) and
    /// `pending` is emptied; otherwise, if items are left, waits
    /// `retry.backoff` before the next round.
    pub(super) fn expire_or_back_off<P, K, T>(
        &mut self,
        operation: &'static str,
        timeout: Duration,
        deadline: Instant,
        pending: &mut Vec<P>,
        results: &mut impl Extend<(K, Result<T, AdminError>)>,
        expired: impl Fn(P) -> (K, String),
    ) {
        if pending.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            results.extend(pending.drain(..).map(|p| {
                let (key, waiting_for) = expired(p);
                let error = AdminError::Timeout {
                    operation,
                    timeout,
                    waiting_for,
                };
                (key, Err(error))
            }));
            return;
        }
        self.backoff(deadline);
    }

    /// Asks one broker for metadata (`allow_auto_topic_creation` off).
    pub(super) fn fetch_metadata(
        &mut self,
        operation: &'static str,
        target: Target,
        topics: Topics<'_>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<MetadataSnapshot, AdminError> {
        let call = metadata_call(target, topics);
        let response = self.execute_one(operation, call, deadline, timeout)?;
        snapshot_of(response)
    }

    /// Metadata from one broker, retrying retriable failures (with backoff)
    /// until the deadline.
    pub(super) fn fetch_metadata_retrying(
        &mut self,
        operation: &'static str,
        topics: Topics<'_>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<MetadataSnapshot, AdminError> {
        loop {
            match self.fetch_metadata(operation, Target::Any, topics, deadline, timeout) {
                Ok(s) => return Ok(s),
                Err(e) if e.is_retriable() && !e.is_timeout() && Instant::now() < deadline => {
                    tracing::debug!(error = %e, "admin: metadata request failed; retrying");
                    self.backoff(deadline);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A Metadata request for `topics`.
pub(super) fn metadata_call<'a>(target: Target, topics: Topics<'a>) -> Call<'a> {
    Call::new(target, ApiKey::Metadata, move |version| {
        let list = match topics {
            Topics::None => Some(Vec::new()),
            // v0 has no null list: there an empty one means all topics.
            Topics::All if version == 0 => Some(Vec::new()),
            Topics::All => None,
            Topics::Some(names) => Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        name: Some(n.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
        };
        RequestBody::Metadata(MetadataRequest {
            topics: list,
            allow_auto_topic_creation: false,
            ..Default::default()
        })
    })
}

/// The snapshot in a Metadata response (its top-level error, v13+, is an error).
pub(super) fn snapshot_of(response: ClientResponse) -> Result<MetadataSnapshot, AdminError> {
    let ResponseBody::Metadata(body) = &response.body else {
        return Err(unexpected(&response, "Metadata"));
    };
    let top = ErrorCode::from_i16(body.error_code);
    if top.is_error() {
        return Err(AdminError::kafka(
            top,
            None,
            format!("the Metadata request to node {}", response.node),
        ));
    }
    Ok(MetadataSnapshot::from_response(body, response.api_version))
}

/// The error for a response body of another API than the one sent.
pub(super) fn unexpected(response: &ClientResponse, expected: &str) -> AdminError {
    AdminError::Protocol(format!(
        "expected a {expected} response from node {}, got {}",
        response.node,
        response.api_key.name()
    ))
}

fn find<'s, 'a>(
    slots: &'s mut [Slot<'a>],
    node: NodeId,
    correlation_id: i32,
) -> Option<&'s mut Slot<'a>> {
    slots.iter_mut().find(|s| {
        s.outcome.is_none() && s.node == Some(node) && s.correlation_id == Some(correlation_id)
    })
}
