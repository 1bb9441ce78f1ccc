//! `Fetcher`: sends Fetch requests and turns their responses into
//! `CompletedFetch`es in the `FetchBuffer`.
//!
//! One Fetch per node that leads (or is the preferred read replica of)
//! fetchable partitions and has no fetch in flight. A partition with one
//! response buffered is fetched ahead from the end of that response; with
//! two it is not fetched, so the buffer holds at most two responses' worth
//! of data per partition, however slowly the caller polls. Data fetched
//! ahead is checked like any other: it is used only if its fetch offset is
//! the position when its turn comes.
//! Sessions (KIP-227) are kept per node by `FetchSessionHandler`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::fetch::request::{FetchPartition, FetchTopic, ForgottenTopic};
use prozess_protocol::messages::{FetchRequest, FetchResponse};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};

use crate::completed_fetches::{CompletedFetch, FetchBuffer, FetchedPartition};
use crate::config::{ConsumerConfig, IsolationLevel};
use crate::fetch_session::{FetchRequestData, FetchSessionHandler, PartitionData};
use crate::subscription_state::SubscriptionState;

/// The Fetch settings of a consumer.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// fetch.min.bytes
    pub min_bytes: i32,
    /// fetch.max.bytes
    pub max_bytes: i32,
    /// fetch.max.wait.ms
    pub max_wait: Duration,
    /// max.partition.fetch.bytes
    pub max_partition_bytes: i32,
    /// isolation.level
    pub isolation_level: IsolationLevel,
    /// check.crcs
    pub check_crcs: bool,
    /// client.rack
    pub client_rack: String,
    /// Bound on one batch's decompressed size
    /// ([`ConsumerConfig::max_decompressed_batch_bytes`]).
    pub max_decompressed_size: usize,
}

impl FetchConfig {
    /// The fetch settings of a consumer configuration.
    pub fn from_config(c: &ConsumerConfig) -> Self {
        FetchConfig {
            min_bytes: c.fetch_min_bytes,
            max_bytes: c.fetch_max_bytes,
            max_wait: c.fetch_max_wait,
            max_partition_bytes: c.max_partition_fetch_bytes,
            isolation_level: c.isolation_level,
            check_crcs: c.check_crcs,
            client_rack: c.client_rack.clone(),
            max_decompressed_size: c.max_decompressed_batch_bytes(),
        }
    }
}

#[derive(Debug)]
struct InFlightFetch {
    correlation_id: i32,
    version: i16,
    data: FetchRequestData,
    /// When it was sent (for fetch-latency).
    sent_at: Instant,
}

/// First Fetch version with topic ids instead of names.
const TOPIC_ID_VERSION: i16 = 13;
/// First Fetch version with sessions.
const SESSION_VERSION: i16 = 7;

/// Sends fetches and buffers their results (Java's `Fetcher`).
#[derive(Debug)]
pub struct Fetcher {
    config: FetchConfig,
    sessions: HashMap<NodeId, FetchSessionHandler>,
    in_flight: HashMap<NodeId, InFlightFetch>,
    buffer: FetchBuffer,
}

impl Fetcher {
    /// A fetcher with no session and nothing buffered.
    pub fn new(config: FetchConfig) -> Self {
        Fetcher {
            config,
            sessions: HashMap::new(),
            in_flight: HashMap::new(),
            buffer: FetchBuffer::new(),
        }
    }

    /// The buffered completed fetches.
    pub fn buffer(&self) -> &FetchBuffer {
        &self.buffer
    }

    /// The buffered completed fetches, for the collector.
    pub fn buffer_mut(&mut self) -> &mut FetchBuffer {
        &mut self.buffer
    }

    /// Whether a fetch is in flight to `node`.
    pub fn has_fetch_in_flight(&self, node: NodeId) -> bool {
        self.in_flight.contains_key(&node)
    }

    /// Number of fetches in flight.
    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// Sends one Fetch to every node that has fetchable partitions without
    /// buffered data and no fetch in flight. Returns how many were sent.
    pub fn send_fetches<C: KafkaClient>(
        &mut self,
        client: &mut C,
        subs: &SubscriptionState,
        now: Instant,
    ) -> usize {
        let fetchable =
            subs.fetchable_partitions(|tp| self.buffer.fetch_ahead_position(tp).is_err());
        let mut by_node: BTreeMap<NodeId, Vec<(TopicPartition, PartitionData)>> = BTreeMap::new();
        let mut need_metadata = false;
        for (tp, position) in fetchable {
            let metadata = client.metadata();
            let leader = metadata.leader_and_epoch(&tp);
            let node = subs
                .preferred_read_replica(&tp, now)
                .filter(|n| metadata.broker(*n).is_some())
                .or(leader.leader);
            let Some(node) = node else {
                tracing::debug!(%tp, "no known leader: requesting a metadata update");
                need_metadata = true;
                continue;
            };
            if self.in_flight.contains_key(&node) {
                continue;
            }
            let topic_id = metadata.topic_id(&tp.topic).unwrap_or(Uuid::NIL);
            // Ahead of buffered data the fetch starts where that data ends,
            // with the epoch of its last batch: the position the caller will
            // have consumed up to. The position's epoch there would be stale
            // after a leader change and the broker would answer with a
            // diverging epoch that moves the position back (issue 10, item 0).
            let (fetch_offset, last_fetched_epoch) = self
                .buffer
                .fetch_ahead_position(&tp)
                .ok()
                .flatten()
                .unwrap_or((position.offset, position.offset_epoch));
            by_node.entry(node).or_default().push((
                tp,
                PartitionData {
                    topic_id,
                    fetch_offset,
                    log_start_offset: -1,
                    max_bytes: self.config.max_partition_bytes,
                    current_leader_epoch: leader.epoch.unwrap_or(-1),
                    last_fetched_epoch: last_fetched_epoch.unwrap_or(-1),
                },
            ));
        }
        if need_metadata {
            client.metadata_mut().request_update();
        }
        let mut sent = 0;
        for (node, parts) in by_node {
            if !client.ready(node, now) {
                continue;
            }
            let Some(max_version) = client.api_version(node, ApiKey::Fetch) else {
                continue;
            };
            let session = self
                .sessions
                .entry(node)
                .or_insert_with(|| FetchSessionHandler::new(node));
            session.set_supports_sessions(max_version >= SESSION_VERSION);
            let mut builder = session.new_builder();
            for (tp, data) in parts {
                builder.add(tp, data);
            }
            let data = builder.build();
            let version = if data.can_use_topic_ids {
                max_version
            } else {
                max_version.min(TOPIC_ID_VERSION - 1)
            };
            let request = self.build_request(&data, version);
            match client.send_with_version(node, RequestBody::Fetch(request), version, now) {
                Ok(correlation_id) => {
                    tracing::trace!(
                        node,
                        correlation_id,
                        epoch = data.metadata.epoch,
                        partitions = data.to_send.len(),
                        "sent fetch"
                    );
                    self.in_flight.insert(
                        node,
                        InFlightFetch {
                            correlation_id,
                            version,
                            data,
                            sent_at: now,
                        },
                    );
                    sent += 1;
                }
                Err(e) => {
                    tracing::debug!(node, error = %e, "fetch could not be sent");
                    if let Some(s) = self.sessions.get_mut(&node) {
                        s.handle_error();
                    }
                }
            }
        }
        sent
    }

    fn build_request(&self, data: &FetchRequestData, version: i16) -> FetchRequest {
        let use_ids = version >= TOPIC_ID_VERSION;
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (tp, d) in &data.to_send {
            let same = topics.last().map(|t| {
                if use_ids {
                    t.topic_id == d.topic_id
                } else {
                    t.topic == tp.topic
                }
            });
            if same != Some(true) {
                topics.push(FetchTopic {
                    topic: tp.topic.clone(),
                    topic_id: d.topic_id,
                    ..Default::default()
                });
            }
            let t = topics.last_mut().expect("pushed above");
            t.partitions.push(FetchPartition {
                partition: tp.partition,
                current_leader_epoch: d.current_leader_epoch,
                fetch_offset: d.fetch_offset,
                last_fetched_epoch: d.last_fetched_epoch,
                log_start_offset: d.log_start_offset,
                partition_max_bytes: d.max_bytes,
                ..Default::default()
            });
        }
        let mut forgotten: Vec<ForgottenTopic> = Vec::new();
        for (tp, id) in &data.to_forget {
            let same = forgotten.last().map(|t| {
                if use_ids {
                    t.topic_id == *id
                } else {
                    t.topic == tp.topic
                }
            });
            if same != Some(true) {
                forgotten.push(ForgottenTopic {
                    topic: tp.topic.clone(),
                    topic_id: *id,
                    ..Default::default()
                });
            }
            forgotten
                .last_mut()
                .expect("pushed above")
                .partitions
                .push(tp.partition);
        }
        FetchRequest {
            replica_id: -1,
            max_wait_ms: self.config.max_wait.as_millis().min(i32::MAX as u128) as i32,
            min_bytes: self.config.min_bytes,
            max_bytes: self.config.max_bytes,
            isolation_level: self.config.isolation_level.wire_value(),
            session_id: data.metadata.session_id,
            session_epoch: data.metadata.epoch,
            topics,
            forgotten_topics_data: forgotten,
            rack_id: self.config.client_rack.clone(),
            ..Default::default()
        }
    }

    /// If `event` answers a fetch in flight: when that fetch was sent.
    pub fn fetch_sent_at(&self, event: &ClientEvent) -> Option<Instant> {
        let ClientEvent::Response(r) = event else {
            return None;
        };
        self.in_flight
            .get(&r.node)
            .filter(|f| f.correlation_id == r.correlation_id)
            .map(|f| f.sent_at)
    }

    /// The name of topic `id` in the fetch in flight to `node`.
    pub fn in_flight_topic_name(&self, node: NodeId, id: &Uuid) -> Option<&str> {
        let f = self.in_flight.get(&node)?;
        f.data
            .session_partitions
            .iter()
            .find(|(_, d)| d.topic_id == *id)
            .map(|(tp, _)| tp.topic.as_str())
    }

    /// Handles a network event if it concerns a fetch. Returns true if it did.
    /// `metadata_update` is set when partition errors call for a refresh.
    pub fn handle_event(&mut self, event: &ClientEvent, metadata_update: &mut bool) -> bool {
        match event {
            ClientEvent::Response(r) => {
                let matches = self
                    .in_flight
                    .get(&r.node)
                    .map(|f| f.correlation_id == r.correlation_id)
                    .unwrap_or(false);
                if !matches {
                    return false;
                }
                let fetch = self.in_flight.remove(&r.node).expect("checked above");
                match &r.body {
                    ResponseBody::Fetch(resp) => {
                        self.handle_response(r.node, fetch, resp, metadata_update)
                    }
                    other => {
                        tracing::warn!(node = r.node, api = ?other.api_key(), "unexpected response to a fetch");
                        if let Some(s) = self.sessions.get_mut(&r.node) {
                            s.handle_error();
                        }
                    }
                }
                true
            }
            ClientEvent::Disconnected {
                node, in_flight, ..
            } => {
                let ours = self
                    .in_flight
                    .get(node)
                    .map(|f| {
                        in_flight
                            .iter()
                            .any(|i| i.correlation_id == f.correlation_id)
                    })
                    .unwrap_or(false);
                if ours {
                    tracing::debug!(
                        node,
                        "connection lost with a fetch in flight: it will be retried"
                    );
                    self.in_flight.remove(node);
                    if let Some(s) = self.sessions.get_mut(node) {
                        s.handle_error();
                    }
                    *metadata_update = true;
                }
                ours
            }
            ClientEvent::Timeout {
                node,
                correlation_id,
                ..
            } => {
                let ours = self
                    .in_flight
                    .get(node)
                    .map(|f| f.correlation_id == *correlation_id)
                    .unwrap_or(false);
                if ours {
                    tracing::debug!(node, "fetch timed out: it will be retried");
                    self.in_flight.remove(node);
                    if let Some(s) = self.sessions.get_mut(node) {
                        s.handle_error();
                    }
                }
                ours
            }
            _ => false,
        }
    }

    fn handle_response(
        &mut self,
        node: NodeId,
        fetch: InFlightFetch,
        resp: &FetchResponse,
        metadata_update: &mut bool,
    ) {
        let use_ids = fetch.version >= TOPIC_ID_VERSION;
        let offsets: HashMap<&TopicPartition, &PartitionData> = fetch
            .data
            .session_partitions
            .iter()
            .map(|(tp, d)| (tp, d))
            .collect();
        let id_names: HashMap<Uuid, &str> = fetch
            .data
            .session_partitions
            .iter()
            .map(|(tp, d)| (d.topic_id, tp.topic.as_str()))
            .collect();
        // Resolve names first: the session checks the partition list.
        let mut parts = Vec::new();
        for topic in &resp.responses {
            let name = if use_ids {
                match id_names.get(&topic.topic_id) {
                    Some(n) => n.to_string(),
                    None => {
                        tracing::warn!(node, topic_id = %topic.topic_id, "fetch response for an unknown topic id");
                        *metadata_update = true;
                        continue;
                    }
                }
            } else {
                topic.topic.clone()
            };
            for p in &topic.partitions {
                parts.push((TopicPartition::new(name.clone(), p.partition_index), p));
            }
        }
        let tps: Vec<TopicPartition> = parts.iter().map(|(tp, _)| tp.clone()).collect();
        let session = self
            .sessions
            .entry(node)
            .or_insert_with(|| FetchSessionHandler::new(node));
        let error = ErrorCode::from_i16(resp.error_code);
        if !session.handle_response(error, resp.session_id, &tps) {
            if !matches!(
                error,
                ErrorCode::None
                    | ErrorCode::FetchSessionIdNotFound
                    | ErrorCode::InvalidFetchSessionEpoch
                    | ErrorCode::FetchSessionTopicIdError
            ) {
                tracing::warn!(node, %error, "fetch failed");
            }
            if matches!(
                error,
                ErrorCode::UnknownTopicId | ErrorCode::FetchSessionTopicIdError
            ) {
                *metadata_update = true;
            }
            return;
        }
        let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
        for (tp, p) in parts {
            let Some(req) = offsets.get(&tp) else {
                continue;
            };
            let fetched = FetchedPartition {
                error: ErrorCode::from_i16(p.error_code),
                high_watermark: p.high_watermark,
                last_stable_offset: p.last_stable_offset,
                log_start_offset: p.log_start_offset,
                aborted_transactions: p
                    .aborted_transactions
                    .as_ref()
                    .map(|v| v.iter().map(|a| (a.producer_id, a.first_offset)).collect()),
                preferred_read_replica: p.preferred_read_replica,
                diverging_epoch: (p.diverging_epoch.epoch >= 0
                    && p.diverging_epoch.end_offset >= 0)
                    .then_some((p.diverging_epoch.epoch, p.diverging_epoch.end_offset)),
                records: p.records.clone(),
            };
            self.buffer.add(
                CompletedFetch::new(
                    tp,
                    req.fetch_offset,
                    fetched,
                    read_committed,
                    self.config.check_crcs,
                )
                .with_request_epoch(
                    (req.last_fetched_epoch >= 0).then_some(req.last_fetched_epoch),
                ),
            );
        }
    }

    /// Drops buffered data of partitions that are no longer assigned.
    pub fn clear_buffered_data_for_unassigned(&mut self, subs: &SubscriptionState) {
        self.buffer.retain(|tp| subs.is_assigned(tp));
    }
}
