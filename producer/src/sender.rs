//! `Sender`: drains ready batches to partition leaders and handles the
//! responses. Sans-IO: it is generic over [`KafkaClient`] and takes `now`;
//! the producer's I/O thread calls [`Sender::run_once`] in a loop, unit tests
//! drive it with the MockClient and a manual clock.
//!
//! One pass (`run_once`), as the Java client's `Sender.runOnce`:
//! 1. register topics `send` asked for; publish partitions to `send`;
//! 2. fail batches older than `delivery.timeout.ms`;
//! 3. idempotence: get a producer id (or a bumped epoch) before sending;
//! 4. ask the accumulator which leaders are ready, drain their batches (one
//!    per partition), give them sequences, send one ProduceRequest per node;
//! 5. poll the client until the next deadline and handle what it reports:
//!    responses, acks=0 writes, timeouts and disconnects.
//!
//! Retries: a retriable error or a lost connection puts the batch back at
//! the front of its partition (same sequence), after `retry.backoff.ms`,
//! while attempts stay within `retries` and the batch within
//! `delivery.timeout.ms`. Leadership errors also request a metadata update.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NetworkError, NodeId, TopicPartition};
use prozess_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use prozess_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use prozess_protocol::records::Compression;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::accumulator::{ProducerBatch, RecordAccumulator};
use crate::config::{Acks, CompressionType, ProducerConfig};
use crate::delivery::deadline_after;
use crate::error::Error;
use crate::metadata::ProducerMetadata;
use crate::transaction_manager::{IdState, TransactionManager};
use crate::transactions::{Destination, SharedTransactions, TxnEvent};

/// The settings the sender uses.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// `acks`.
    pub acks: Acks,
    /// `request.timeout.ms` (also the ProduceRequest's `timeout_ms`).
    pub request_timeout: Duration,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// `retries`.
    pub retries: u32,
    /// `compression.type`.
    pub compression: Compression,
    /// `compression.*.level`.
    pub compression_level: Option<i32>,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms` (InitProducerId retries).
    pub retry_backoff: Duration,
    /// `enable.idempotence` after validation.
    pub idempotence: bool,
}

impl SenderConfig {
    /// From a validated producer config.
    pub fn from_config(c: &ProducerConfig) -> SenderConfig {
        SenderConfig {
            acks: c.acks,
            request_timeout: c.request_timeout,
            max_request_size: c.max_request_size,
            retries: c.retries,
            compression: compression_of(c.compression_type),
            compression_level: c.compression_level,
            delivery_timeout: c.delivery_timeout,
            retry_backoff: c.retry_backoff,
            idempotence: c.idempotence(),
        }
    }
}

/// The protocol crate's codec for a `compression.type`.
pub fn compression_of(c: CompressionType) -> Compression {
    match c {
        CompressionType::None => Compression::None,
        CompressionType::Gzip => Compression::Gzip,
        CompressionType::Snappy => Compression::Snappy,
        CompressionType::Lz4 => Compression::Lz4,
        CompressionType::Zstd => Compression::Zstd,
    }
}

/// Errors after which the Java client refreshes metadata
/// (`InvalidMetadataException` and its kin).
fn is_invalid_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::KafkaStorageError
    )
}

fn kafka_error(code: ErrorCode, message: Option<String>) -> Error {
    Error::Kafka {
        name: code.name().to_string(),
        code: code.code(),
        retriable: code.is_retriable(),
        message,
    }
}

struct InFlight {
    batches: HashMap<TopicPartition, ProducerBatch>,
}

/// Drains the accumulator to the brokers.
pub struct Sender<C: KafkaClient> {
    client: C,
    accumulator: Arc<RecordAccumulator>,
    metadata: Arc<ProducerMetadata>,
    config: SenderConfig,
    txn: Option<TransactionManager>,
    in_flight: HashMap<i32, InFlight>,
    init_request: Option<i32>,
    init_not_before: Option<Instant>,
    /// `transactional.id` set: the transaction state and the correlation
    /// id of its request in flight.
    transactions: Option<SharedTransactions>,
    txn_request: Option<i32>,
    /// When to look for topics idle past `metadata.max.idle.ms` next.
    next_idle_sweep: Option<Instant>,
    /// Java's producer metrics, from the first pass on.
    metrics: Option<crate::metrics::SenderMetrics>,
    /// Snapshots for `KafkaProducer::metrics`, the statistics handler and
    /// its timer, and the client id they are tagged with.
    exchange: Option<(Arc<crate::metrics::MetricsExchange>, String)>,
    statistics: Option<prozess_network::metrics::StatisticsTimer>,
    statistics_interval: Duration,
    /// The `now` of the current pass (for counters recorded where no
    /// `now` is passed).
    pass_now: Option<Instant>,
}

impl<C: KafkaClient> Sender<C> {
    /// A sender over `client`.
    pub fn new(
        client: C,
        accumulator: Arc<RecordAccumulator>,
        metadata: Arc<ProducerMetadata>,
        config: SenderConfig,
    ) -> Sender<C> {
        let txn = config.idempotence.then(TransactionManager::new);
        Sender {
            client,
            accumulator,
            metadata,
            config,
            txn,
            in_flight: HashMap::new(),
            init_request: None,
            init_not_before: None,
            transactions: None,
            txn_request: None,
            next_idle_sweep: None,
            metrics: None,
            exchange: None,
            statistics: None,
            statistics_interval: Duration::ZERO,
            pass_now: None,
        }
    }

    /// Publishes metrics snapshots through `exchange` and calls its
    /// statistics handler every `statistics_interval` (0: never).
    pub fn set_metrics_exchange(
        &mut self,
        exchange: Arc<crate::metrics::MetricsExchange>,
        client_id: String,
        statistics_interval: Duration,
    ) {
        self.exchange = Some((exchange, client_id));
        self.statistics_interval = statistics_interval;
    }

    /// The counters, created with windows starting at the first `now`.
    fn stats(&mut self, now: Instant) -> &mut crate::metrics::SenderMetrics {
        self.metrics
            .get_or_insert_with(|| crate::metrics::SenderMetrics::new(now))
    }

    /// Java's producer metrics at `now`.
    pub fn metrics_snapshot(&mut self, now: Instant) -> prozess_network::Metrics {
        let client_id = self
            .exchange
            .as_ref()
            .map_or("", |(_, id)| id.as_str())
            .to_string();
        let buffer = (
            self.accumulator.config().buffer_memory,
            self.accumulator.used_memory(),
        );
        self.stats(now);
        let m = self.metrics.as_ref().expect("created above");
        m.snapshot(&client_id, buffer, &self.client, now)
    }

    /// The statistics document at `now` (librdkafka's names).
    pub fn statistics_document(&mut self, now: Instant) -> serde_json::Value {
        let client_id = self
            .exchange
            .as_ref()
            .map_or("", |(_, id)| id.as_str())
            .to_string();
        let in_flight: usize = self
            .in_flight
            .values()
            .flat_map(|f| f.batches.values())
            .map(|b| b.record_count())
            .sum();
        let queued = (
            self.accumulator.queued_records() + in_flight,
            self.accumulator.used_memory(),
            self.accumulator.config().buffer_memory,
        );
        self.stats(now);
        let m = self.metrics.as_ref().expect("created above");
        m.statistics(&client_id, queued, &self.client, now)
    }

    /// Leaves a final snapshot for `KafkaProducer::metrics` after close.
    pub fn leave_last_metrics(&mut self, now: Instant) {
        if let Some((exchange, _)) = self.exchange.clone() {
            let m = self.metrics_snapshot(now);
            *exchange.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
        }
    }

    /// Answers a metrics request and calls the statistics handler when due.
    fn serve_metrics(&mut self, now: Instant) {
        let Some((exchange, _)) = self.exchange.clone() else {
            return;
        };
        if exchange.take_wanted() {
            let m = self.metrics_snapshot(now);
            exchange.publish(m);
        }
        let interval = self.statistics_interval;
        let timer = self
            .statistics
            .get_or_insert_with(|| prozess_network::metrics::StatisticsTimer::new(interval, now));
        if timer.due(now) {
            let doc = self.statistics_document(now).to_string();
            let mut handler = exchange.handler.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(h) = handler.as_mut() {
                h(&doc);
            }
        }
    }

    /// Makes this the sender of a transactional producer: producer id and
    /// epoch come from `transactions` (InitProducerId with the
    /// transactional id), batches go out only for partitions added to the
    /// transaction, and failures feed its state.
    pub fn set_transactions(&mut self, transactions: SharedTransactions) {
        if self.txn.is_none() {
            self.txn = Some(TransactionManager::new());
        }
        self.transactions = Some(transactions);
    }

    /// The network client.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The network client, mutably (tests script the MockClient through it).
    pub fn client_mut(&mut self) -> &mut C {
        &mut self.client
    }

    /// The idempotence state, if idempotence is on.
    pub fn transaction_manager(&self) -> Option<&TransactionManager> {
        self.txn.as_ref()
    }

    /// Whether batches are waiting or in flight.
    pub fn has_pending(&self) -> bool {
        !self.in_flight.is_empty() || self.accumulator.has_incomplete()
    }

    /// One pass: send what is ready, poll the client, handle its events.
    pub fn run_once(&mut self, now: Instant) {
        // Before the batches are looked at: an append after that look must
        // wake the poll below.
        self.accumulator.set_sender_polling(true);
        self.pass_now = Some(now);
        self.serve_metrics(now);
        let mut timeout = self.send_producer_data(now);
        if let Some(at) = self.statistics.and_then(|t| t.deadline()) {
            timeout = timeout.min(at.saturating_duration_since(now));
        }
        let events = self.client.poll(timeout, now);
        self.accumulator.set_sender_polling(false);
        self.handle_events(events, now);
        self.metadata.publish(self.client.metadata());
        if self.metadata.has_missing_topics() {
            // A send waits for metadata: its timeout says why, if brokers
            // cannot be reached.
            let errors = self.client.connection_errors();
            self.metadata
                .set_connection_errors(prozess_network::describe_connection_errors(&errors));
        }
    }

    /// Sends what is ready; returns how long the client may then block.
    pub fn send_producer_data(&mut self, now: Instant) -> Duration {
        let new_topics = self.metadata.take_new_topics();
        if !new_topics.is_empty() {
            self.client.metadata_mut().add_topics(new_topics);
            self.client.metadata_mut().request_update();
        }
        let sweep = self.next_idle_sweep.is_none_or(|t| now >= t);
        if sweep {
            // Idle topics expire within a second of metadata.max.idle.ms.
            let every = self.metadata.max_idle().min(Duration::from_secs(1));
            self.next_idle_sweep = Some(now + every);
        }
        let dropped = self.metadata.take_dropped_topics(now, sweep);
        if !dropped.is_empty() {
            self.client.metadata_mut().remove_topics(dropped);
        }
        self.metadata.publish(self.client.metadata());
        if self.metadata.has_missing_topics() && !self.client.metadata().update_requested() {
            // As the Java client's waitOnMetadata: keep refreshing (the
            // metadata's own backoff paces it) while `send` waits.
            self.client.metadata_mut().request_update();
        }

        if let Some(IdState::Fatal(e)) = self.txn.as_ref().map(|t| t.state().clone()) {
            for b in self.accumulator.take_all() {
                self.accumulator.complete_batch(b, Err(e.clone()));
            }
            return Duration::from_millis(100);
        }

        for batch in self.accumulator.expired_batches(now) {
            let elapsed = now.saturating_duration_since(batch.created);
            let err = Error::DeliveryTimeout {
                partition: batch.tp.to_string(),
                elapsed,
                last_error: batch.last_error.as_ref().map(|e| e.to_string()),
            };
            self.fail_batch(batch, err);
        }

        let mut timeout = Duration::from_secs(60);
        if let Some(next) = self.accumulator.next_expiry() {
            timeout = timeout.min(next.saturating_duration_since(now));
        }
        let txn_partitions = match self.transactions.clone() {
            Some(t) => {
                let allowed = self.drive_transactions(&t, now);
                // A transactional request waiting out a retry backoff is
                // woken by no response: wake for it.
                let retry_at = t.lock().unwrap_or_else(|e| e.into_inner()).retry_at(now);
                if let Some(at) = retry_at {
                    timeout = timeout.min(at.saturating_duration_since(now));
                }
                match allowed {
                    Some(allowed) => Some(allowed),
                    None => return timeout.min(self.config.retry_backoff),
                }
            }
            None => {
                if self.txn.is_some() && !self.maybe_init_producer_id(now) {
                    return timeout.min(self.config.retry_backoff);
                }
                None
            }
        };

        let ready = {
            let md = self.client.metadata();
            self.accumulator.ready(now, &|tp| md.leader_for(tp))
        };
        if !ready.unknown_leader_topics.is_empty() {
            let topics: Vec<String> = ready.unknown_leader_topics.iter().cloned().collect();
            tracing::debug!(
                ?topics,
                "partitions without known leader; updating metadata"
            );
            self.client.metadata_mut().add_topics(topics);
            self.client.metadata_mut().request_update();
        }
        timeout = timeout.min(ready.next_ready_check_delay);
        let mut nodes: Vec<NodeId> = ready.ready_nodes.into_iter().collect();
        nodes.sort_unstable();
        let (mut drained, mut waiting_for_txn) = (false, false);
        for node in nodes {
            let can_drain = self.client.ready(node, now);
            // How long a leader has data it cannot take decides whether the
            // partitioner still picks its partitions (KIP-794).
            self.accumulator
                .update_node_latency_stats(node, now, can_drain);
            if !can_drain {
                let delay = self.client.connection_delay(node, now);
                if !delay.is_zero() {
                    timeout = timeout.min(delay);
                }
                continue;
            }
            let batches = {
                let md = self.client.metadata();
                // In a transaction, only partitions the coordinator added.
                let allowed = txn_partitions.as_ref();
                self.accumulator
                    .drain_node(node, self.config.max_request_size, now, &|tp| {
                        if allowed.is_some_and(|a| !a.contains(tp)) {
                            return None;
                        }
                        md.leader_for(tp)
                    })
            };
            if batches.is_empty() && txn_partitions.is_some() {
                waiting_for_txn = true;
            }
            if !batches.is_empty() {
                drained = true;
                self.send_produce_request(node, batches, now);
                // More may be sendable right away (the next batch of a
                // partition, up to the in-flight limit): come back without
                // blocking instead of waiting for a response.
                timeout = Duration::ZERO;
            }
        }
        if waiting_for_txn && !drained {
            // Ready batches wait for AddPartitionsToTxn, whose response
            // wakes the poll: no busy loop on their ready check meanwhile.
            timeout = timeout.max(self.config.retry_backoff.min(Duration::from_millis(100)));
        }
        timeout
    }

    /// Idempotence: true when produce requests may go out.
    fn maybe_init_producer_id(&mut self, now: Instant) -> bool {
        let Some(txn) = self.txn.as_mut() else {
            return true;
        };
        if txn.has_producer_id() {
            return true;
        }
        if !txn.needs_init() || self.init_request.is_some() {
            return false;
        }
        // A bump must wait for requests sent with the old epoch.
        if !self.in_flight.is_empty() {
            return false;
        }
        if self.init_not_before.is_some_and(|t| now < t) {
            return false;
        }
        let Some(node) = self.client.least_loaded_node(now) else {
            return false;
        };
        if !self.client.ready(node, now) {
            return false;
        }
        let Some(init_version) = self.client.api_version(node, ApiKey::InitProducerId) else {
            // Connected, but the broker has no InitProducerId: idempotence
            // cannot work there, and waiting will not change that.
            txn.init_failed_fatal(Error::Fatal(format!(
                "broker {node} does not support InitProducerId, which idempotence needs; \
                 set enable.idempotence=false"
            )));
            return false;
        };
        let supports_bump = init_version >= 3;
        let (producer_id, producer_epoch) = txn.init_request_ids(supports_bump);
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id,
            producer_epoch,
            ..Default::default()
        };
        match self
            .client
            .send(node, RequestBody::InitProducerId(req), now)
        {
            Ok(corr) => {
                txn.init_sent();
                self.init_request = Some(corr);
            }
            Err(e) if !e.is_retriable() => {
                txn.init_failed_fatal(Error::Fatal(format!("InitProducerId: {e}")));
            }
            Err(e) => {
                tracing::debug!(node, error = %e, "could not send InitProducerId");
                self.init_not_before = Some(deadline_after(now, self.config.retry_backoff));
            }
        }
        false
    }

    fn send_produce_request(&mut self, node: NodeId, batches: Vec<ProducerBatch>, now: Instant) {
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut by_tp = HashMap::new();
        for mut batch in batches {
            if let Some(txn) = self.txn.as_mut() {
                txn.assign(&mut batch);
            }
            batch.transactional = self.transactions.is_some();
            match batch.encoded() {
                Ok(records) => {
                    let encoded_len = records.len();
                    topics
                        .entry(batch.tp.topic.clone())
                        .or_default()
                        .push(PartitionProduceData {
                            index: batch.tp.partition,
                            records: Some(records),
                            ..Default::default()
                        });
                    batch.attempts += 1;
                    batch.last_attempt = Some(now);
                    let (n, size) = (batch.record_count(), batch.estimated_size());
                    self.stats(now)
                        .record_batch(&batch.tp, n, encoded_len, size, now);
                    by_tp.insert(batch.tp.clone(), batch);
                }
                Err(e) => {
                    tracing::warn!(tp = %batch.tp, error = %e, "could not encode a batch");
                    self.fail_in_flight(batch, e);
                }
            }
        }
        if by_tp.is_empty() {
            return;
        }
        let request = ProduceRequest {
            transactional_id: self.transactional_id(),
            acks: self.config.acks.as_i16(),
            timeout_ms: self
                .config
                .request_timeout
                .as_millis()
                .min(i32::MAX as u128) as i32,
            topic_data: topics
                .into_iter()
                .map(|(name, partition_data)| TopicProduceData {
                    name,
                    partition_data,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        tracing::trace!(node, partitions = by_tp.len(), "sending ProduceRequest");
        let sent = match self.client.api_version(node, ApiKey::Produce) {
            Some(v) if self.transactions.is_some() => {
                let v2 = self.transactions.as_ref().is_some_and(|t| {
                    t.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_transaction_v2()
                });
                let v = crate::transactions::transaction_version_for(ApiKey::Produce, v, v2);
                self.client
                    .send_with_version(node, RequestBody::Produce(request), v, now)
            }
            _ => self.client.send(node, RequestBody::Produce(request), now),
        };
        match sent {
            Ok(corr) => {
                let records = by_tp.values().map(ProducerBatch::record_count).sum();
                self.stats(now).record_request(records, now);
                self.in_flight.insert(corr, InFlight { batches: by_tp });
            }
            Err(e) => {
                let err = Error::Network(e.to_string());
                for (_, b) in by_tp {
                    self.retry_or_fail(b, err.clone(), now);
                }
            }
        }
    }

    /// Handles what the client's poll reported.
    pub fn handle_events(&mut self, events: Vec<ClientEvent>, now: Instant) {
        self.pass_now = Some(now);
        for event in events {
            match event {
                ClientEvent::Response(resp) => {
                    if self.txn_request.is_some() && self.txn_request == Some(resp.correlation_id) {
                        self.txn_request = None;
                        self.handle_txn_response(resp.body, now);
                    } else if self.init_request == Some(resp.correlation_id) {
                        self.init_request = None;
                        self.handle_init_response(resp.body, now);
                    } else if let Some(inflight) = self.in_flight.remove(&resp.correlation_id) {
                        match resp.body {
                            ResponseBody::Produce(p) => {
                                self.handle_produce_response(inflight, p, now)
                            }
                            other => {
                                let err = Error::Network(format!(
                                    "unexpected {:?} response to a ProduceRequest",
                                    other.api_key()
                                ));
                                for (_, b) in inflight.batches {
                                    self.retry_or_fail(b, err.clone(), now);
                                }
                            }
                        }
                    }
                }
                ClientEvent::Sent { correlation_id, .. } => {
                    // acks=0: written in full is all we will ever know.
                    if let Some(inflight) = self.in_flight.remove(&correlation_id) {
                        for (_, b) in inflight.batches {
                            self.complete_in_flight(b, -1, -1);
                        }
                    }
                }
                ClientEvent::Timeout {
                    node,
                    correlation_id,
                    ..
                } => {
                    self.request_failed(node, correlation_id, NetworkError::RequestTimeout, now);
                }
                ClientEvent::Disconnected { ref cause, .. }
                    if cause.is_authentication_failure() =>
                {
                    self.authentication_failed(Error::Authentication(cause.to_string()));
                }
                ClientEvent::Disconnected {
                    node,
                    in_flight,
                    cause,
                } => {
                    for info in in_flight {
                        self.request_failed(node, info.correlation_id, cause.clone(), now);
                    }
                    self.client.metadata_mut().request_update();
                }
            }
        }
    }

    fn request_failed(
        &mut self,
        node: NodeId,
        correlation_id: i32,
        cause: NetworkError,
        now: Instant,
    ) {
        if self.txn_request.is_some() && self.txn_request == Some(correlation_id) {
            tracing::warn!(node, error = %cause, "transactional request failed; retrying");
            self.txn_request = None;
            if let Some(t) = &self.transactions {
                t.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .request_failed(now);
            }
            return;
        }
        if self.init_request == Some(correlation_id) {
            self.init_request = None;
            if let Some(t) = self.txn.as_mut() {
                t.init_failed_retriable();
            }
            self.init_not_before = Some(deadline_after(now, self.config.retry_backoff));
            return;
        }
        if let Some(inflight) = self.in_flight.remove(&correlation_id) {
            tracing::debug!(node, error = %cause, "produce request failed; retrying its batches");
            let err = Error::Network(format!("node {node}: {cause}"));
            for (_, b) in inflight.batches {
                self.retry_or_fail(b, err.clone(), now);
            }
        }
    }

    fn handle_init_response(&mut self, body: ResponseBody, now: Instant) {
        let Some(txn) = self.txn.as_mut() else { return };
        let ResponseBody::InitProducerId(resp) = body else {
            txn.init_failed_retriable();
            return;
        };
        let code = ErrorCode::from_i16(resp.error_code);
        if code == ErrorCode::None {
            txn.init_succeeded(resp.producer_id, resp.producer_epoch);
        } else if code.is_retriable()
            || matches!(
                code,
                ErrorCode::CoordinatorLoadInProgress | ErrorCode::NotCoordinator
            )
        {
            tracing::debug!(error = code.name(), "InitProducerId failed; retrying");
            txn.init_failed_retriable();
            self.init_not_before = Some(deadline_after(now, self.config.retry_backoff));
        } else if matches!(
            code,
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced
        ) && txn.producer_id() >= 0
        {
            // The bump was refused: start over with a new producer id.
            tracing::info!(
                error = code.name(),
                "epoch bump refused; getting a new producer id"
            );
            *txn = TransactionManager::new();
        } else {
            tracing::error!(error = code.name(), "InitProducerId failed");
            txn.init_failed_fatal(kafka_error(code, None));
        }
    }

    fn handle_produce_response(
        &mut self,
        mut inflight: InFlight,
        resp: ProduceResponse,
        now: Instant,
    ) {
        self.stats(now).record_throttle(resp.throttle_time_ms, now);
        for topic in resp.responses {
            for p in topic.partition_responses {
                let tp = TopicPartition::new(topic.name.clone(), p.index);
                let Some(batch) = inflight.batches.remove(&tp) else {
                    continue;
                };
                let code = ErrorCode::from_i16(p.error_code);
                self.handle_partition_result(
                    batch,
                    code,
                    p.base_offset,
                    p.log_append_time_ms,
                    p.error_message,
                    now,
                );
            }
        }
        for (_, b) in inflight.batches {
            let err = Error::Network(format!("the ProduceResponse did not mention {}", b.tp));
            self.retry_or_fail(b, err, now);
        }
    }

    fn handle_partition_result(
        &mut self,
        batch: ProducerBatch,
        code: ErrorCode,
        base_offset: i64,
        log_append_time: i64,
        message: Option<String>,
        now: Instant,
    ) {
        match code {
            // A transactional producer is fenced or not allowed: fatal,
            // no epoch bump of its own (the transaction state decides).
            c if self.transactions.is_some() && crate::transactions::is_fatal_code(c) => {
                tracing::error!(tp = %batch.tp, error = c.name(), "transactional produce failed");
                self.fail_in_flight(batch, kafka_error(c, message));
            }
            ErrorCode::None => self.complete_in_flight(batch, base_offset, log_append_time),
            // The broker already has this batch: it was written by an
            // earlier attempt whose response got lost.
            ErrorCode::DuplicateSequenceNumber => {
                self.complete_in_flight(batch, base_offset, log_append_time)
            }
            ErrorCode::OutOfOrderSequenceNumber
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch
                if self.txn.is_some() =>
            {
                let txn = self.txn.as_mut().expect("checked above");
                let earlier_pending =
                    code == ErrorCode::OutOfOrderSequenceNumber && !txn.is_next_in_line(&batch);
                if !txn.is_stale(&batch) && !earlier_pending {
                    txn.request_epoch_bump(code.name());
                }
                // Not written: resend with the new epoch and fresh sequences.
                self.retry_or_fail(batch, kafka_error(code, message), now);
            }
            ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge if batch.can_split() => {
                if let Some(txn) = self.txn.as_mut() {
                    if batch.base_sequence >= 0 && !txn.is_stale(&batch) {
                        txn.request_epoch_bump("a batch was split");
                    }
                }
                tracing::info!(tp = %batch.tp, records = batch.record_count(), error = code.name(),
                    "the broker refused a batch as too large; splitting it");
                if let Err(batch) = self.accumulator.split_and_reenqueue(batch, now) {
                    self.fail_in_flight(*batch, kafka_error(code, message));
                }
            }
            c if c.is_retriable() => {
                if is_invalid_metadata(c) {
                    self.client.metadata_mut().request_update();
                }
                tracing::debug!(tp = %batch.tp, error = c.name(), "retriable produce error");
                self.retry_or_fail(batch, kafka_error(c, message), now);
            }
            // Java's TopicAuthorizationException: the error names the topic.
            ErrorCode::TopicAuthorizationFailed => {
                tracing::warn!(tp = %batch.tp, "produce refused: not authorized to write to the topic");
                let topic = batch.tp.topic.to_string();
                self.fail_in_flight(batch, Error::TopicAuthorization { topic });
            }
            c => {
                tracing::warn!(tp = %batch.tp, error = c.name(), "produce failed");
                self.fail_in_flight(batch, kafka_error(c, message));
            }
        }
    }

    fn retry_or_fail(&mut self, mut batch: ProducerBatch, err: Error, now: Instant) {
        let age = now.saturating_duration_since(batch.created);
        if age >= self.config.delivery_timeout {
            let e = Error::DeliveryTimeout {
                partition: batch.tp.to_string(),
                elapsed: age,
                last_error: Some(err.to_string()),
            };
            self.fail_in_flight(batch, e);
        } else if batch.attempts > self.config.retries {
            self.fail_in_flight(batch, err);
        } else {
            self.stats(now)
                .record_retries(&batch.tp, batch.record_count(), now);
            batch.last_error = Some(err);
            self.accumulator.reenqueue(batch, now);
        }
    }

    fn complete_in_flight(&mut self, batch: ProducerBatch, base_offset: i64, log_append_time: i64) {
        if let Some(txn) = self.txn.as_mut() {
            txn.on_batch_acked(&batch);
        }
        self.accumulator.in_flight_done(&batch.tp);
        self.accumulator
            .complete_batch(batch, Ok((base_offset, log_append_time)));
    }

    fn fail_in_flight(&mut self, batch: ProducerBatch, err: Error) {
        self.accumulator.in_flight_done(&batch.tp);
        self.fail_batch(batch, err);
    }

    /// Fails a batch. With idempotence, a batch that got a sequence leaves a
    /// gap (or may even have been written): later batches of its partition
    /// would be out of order, so the epoch is bumped and sequences restart.
    fn fail_batch(&mut self, batch: ProducerBatch, err: Error) {
        let now = self
            .pass_now
            .unwrap_or_else(|| batch.last_attempt.unwrap_or(batch.created));
        self.stats(now)
            .record_errors(&batch.tp, batch.record_count(), now);
        if let Some(t) = &self.transactions {
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .batch_failed(&err);
        }
        if let Some(txn) = self.txn.as_mut() {
            if batch.base_sequence >= 0 && !txn.is_stale(&batch) {
                txn.request_epoch_bump("a batch with a sequence number failed");
            }
        }
        self.accumulator.complete_batch(batch, Err(err));
    }

    /// A broker refused the credentials or the TLS handshake: as the Java
    /// producer, fail what waits (records in the accumulator, and `send`
    /// calls waiting for metadata) with the error rather than let
    /// them wait for delivery.timeout.ms or max.block.ms. Later records are
    /// tried again (the client reconnects after reconnect.backoff.max.ms).
    fn authentication_failed(&mut self, err: Error) {
        tracing::error!(error = %err, "failing the records waiting to be sent");
        // Requests in flight went out on connections that did authenticate:
        // their answers still count.
        for b in self.accumulator.take_all() {
            self.fail_batch(b, err.clone());
        }
        self.metadata.fail_waiters(err);
    }

    /// Fails everything waiting or in flight (forced close).
    pub fn abort_all(&mut self, err: Error) {
        for (_, inflight) in std::mem::take(&mut self.in_flight) {
            for (_, b) in inflight.batches {
                self.accumulator.in_flight_done(&b.tp);
                self.accumulator.complete_batch(b, Err(err.clone()));
            }
        }
        for b in self.accumulator.take_all() {
            self.accumulator.complete_batch(b, Err(err.clone()));
        }
    }
}

impl<C: KafkaClient> Sender<C> {
    fn transactional_id(&self) -> Option<String> {
        self.transactions.as_ref().map(|t| {
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .transactional_id()
                .to_string()
        })
    }

    /// One step of the transaction: drops batches that may not be sent any
    /// more, sends the next transactional request. Returns the partitions
    /// whose batches may be drained, or `None` while nothing may be
    /// produced (no producer id yet).
    fn drive_transactions(
        &mut self,
        t: &SharedTransactions,
        now: Instant,
    ) -> Option<std::collections::HashSet<TopicPartition>> {
        let mut m = t.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(err) = m.unsent_batch_error() {
            for b in self.accumulator.take_all() {
                // A dropped retry leaves a gap in its partition's
                // sequences: the abort ends with a new epoch (KIP-360).
                if let Some(x) = self.txn.as_mut() {
                    if b.base_sequence >= 0 && !x.is_stale(&b) {
                        x.request_epoch_bump("a batch with a sequence number was dropped");
                    }
                }
                self.accumulator.complete_batch(b, Err(err.clone()));
            }
        }
        if self.txn.as_ref().is_some_and(|x| x.bump_requested()) {
            m.request_epoch_bump();
        }
        // KIP-890: decided from the features the brokers finalize.
        m.set_transaction_v2_available(
            self.client
                .finalized_feature("transaction.version")
                .is_some_and(|v| v >= 2),
        );
        if self.txn_request.is_none() {
            let pending = self.has_pending();
            let version = 3;
            if let Some((dest, body)) = m.next_request(now, pending, version) {
                let node = match dest {
                    Destination::Node(n) => Some(n),
                    Destination::AnyNode => self.client.least_loaded_node(now),
                };
                if let Some(node) = node.filter(|&n| self.client.ready(n, now)) {
                    let api = body.api_key();
                    let sent = match self.client.api_version(node, api) {
                        Some(v) => {
                            let v = crate::transactions::transaction_version_for(
                                api,
                                v,
                                m.is_transaction_v2(),
                            );
                            self.client.send_with_version(node, body, v, now)
                        }
                        None => self.client.send(node, body, now),
                    };
                    match sent {
                        Ok(corr) => {
                            tracing::debug!(node, ?api, "sent transactional request");
                            m.request_sent();
                            self.txn_request = Some(corr);
                        }
                        Err(e) => {
                            tracing::warn!(node, ?api, error = %e, "could not send a transactional request");
                            m.request_sent();
                            m.request_failed(now);
                        }
                    }
                }
            }
        }
        let ready = self.txn.as_ref().is_some_and(|x| x.has_producer_id());
        ready.then(|| m.partitions_in_transaction().clone())
    }

    fn handle_txn_response(&mut self, body: ResponseBody, now: Instant) {
        let Some(t) = self.transactions.clone() else {
            return;
        };
        let mut m = t.lock().unwrap_or_else(|e| e.into_inner());
        match m.handle_response(body, now) {
            TxnEvent::None => {}
            TxnEvent::CoordinatorFound {
                kind,
                broker,
                host,
                port,
            } => {
                let node = self.client.coordinator_node(broker, &host, port);
                tracing::info!(?kind, broker, node, "transaction coordinator found");
                m.set_coordinator(kind, node);
            }
            TxnEvent::ProducerId {
                producer_id,
                producer_epoch,
            } => {
                if let Some(x) = self.txn.as_mut() {
                    x.init_succeeded(producer_id, producer_epoch);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::{AccumulatorConfig, StoredRecord, Thunk};
    use crate::delivery::DeliveryFuture;
    use prozess_network::{
        ClientRequest, ClientResponse, InFlightInfo, Metadata, MetadataSnapshot, WakeupHandle,
    };
    use prozess_protocol::messages::produce::response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use prozess_protocol::messages::InitProducerIdResponse;
    use prozess_protocol::records::RecordBatches;

    /// A scripted client: records what is sent, answers with the events the
    /// test queues for the next poll. (The crate-wide MockClient drives the
    /// same trait; this one is the minimum these tests need.)
    struct TestClient {
        metadata: Metadata,
        sent: Vec<(NodeId, i32, RequestBody)>,
        next_events: Vec<ClientEvent>,
        next_corr: i32,
        wakeup: WakeupHandle,
        init_supported: bool,
    }

    impl TestClient {
        fn new(partitions: i32) -> TestClient {
            let mut metadata = Metadata::new(
                Duration::from_millis(100),
                Duration::from_secs(1),
                Duration::from_secs(300),
            );
            metadata.add_topics(["t"]);
            let spec = metadata.request_spec();
            metadata.update(
                spec.request_version,
                MetadataSnapshot::simple(&[1], &[("t", partitions)]),
                Instant::now(),
            );
            TestClient {
                metadata,
                sent: Vec::new(),
                next_events: Vec::new(),
                next_corr: 0,
                wakeup: WakeupHandle::flag_only(),
                init_supported: true,
            }
        }

        fn respond(&mut self, corr: i32, body: ResponseBody) {
            self.next_events.push(ClientEvent::Response(ClientResponse {
                node: 1,
                correlation_id: corr,
                api_key: match &body {
                    ResponseBody::Produce(_) => ApiKey::Produce,
                    _ => ApiKey::InitProducerId,
                },
                api_version: 9,
                body,
            }));
        }
    }

    impl KafkaClient for TestClient {
        fn ready(&mut self, _node: NodeId, _now: Instant) -> bool {
            true
        }
        fn is_ready(&self, _node: NodeId, _now: Instant) -> bool {
            true
        }
        fn connection_failed(&self, _node: NodeId) -> bool {
            false
        }
        fn connection_delay(&self, _node: NodeId, _now: Instant) -> Duration {
            Duration::ZERO
        }
        fn api_version(&self, _node: NodeId, key: ApiKey) -> Option<i16> {
            (key != ApiKey::InitProducerId || self.init_supported).then_some(4)
        }
        fn send_request(
            &mut self,
            node: NodeId,
            request: ClientRequest,
            _now: Instant,
        ) -> Result<i32, NetworkError> {
            let corr = self.next_corr;
            self.next_corr += 1;
            self.sent.push((node, corr, request.body));
            Ok(corr)
        }
        fn in_flight_count(&self, _node: NodeId) -> usize {
            0
        }
        fn has_in_flight(&self) -> bool {
            false
        }
        fn poll(&mut self, _timeout: Duration, _now: Instant) -> Vec<ClientEvent> {
            std::mem::take(&mut self.next_events)
        }
        fn least_loaded_node(&mut self, _now: Instant) -> Option<NodeId> {
            Some(1)
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

    fn config(acks: Acks, idempotence: bool) -> SenderConfig {
        SenderConfig {
            acks,
            request_timeout: Duration::from_secs(30),
            max_request_size: 1 << 20,
            retries: u32::MAX,
            compression: Compression::None,
            compression_level: None,
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: Duration::from_millis(100),
            idempotence,
        }
    }

    fn setup(acks: Acks, idempotence: bool) -> (Sender<TestClient>, Arc<RecordAccumulator>) {
        setup_with(acks, idempotence, 1)
    }

    fn setup_with(
        acks: Acks,
        idempotence: bool,
        max_in_flight: usize,
    ) -> (Sender<TestClient>, Arc<RecordAccumulator>) {
        let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
            batch_size: 16384,
            buffer_memory: 1 << 20,
            linger: Duration::ZERO,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(120),
            max_in_flight_per_partition: max_in_flight,
            compression: Compression::None,
            compression_level: None,
        }));
        let sender = Sender::new(
            TestClient::new(2),
            acc.clone(),
            Arc::new(ProducerMetadata::new()),
            config(acks, idempotence),
        );
        (sender, acc)
    }

    fn append(
        acc: &RecordAccumulator,
        partition: i32,
        value: &str,
        now: Instant,
    ) -> DeliveryFuture {
        let f = DeliveryFuture::new();
        acc.append(
            &TopicPartition::new("t", partition),
            StoredRecord {
                timestamp: 1_000,
                key: None,
                value: Some(bytes::Bytes::copy_from_slice(value.as_bytes())),
                headers: vec![],
            },
            Thunk::new(f.clone(), None),
            Duration::ZERO,
            now,
        )
        .unwrap();
        f
    }

    /// The (producer id, epoch, base sequence, values) of each partition's
    /// batch in a ProduceRequest.
    fn produce_batches(body: &RequestBody) -> Vec<(i32, i64, i16, i32, Vec<String>)> {
        let RequestBody::Produce(p) = body else {
            panic!("expected Produce, got {:?}", body.api_key())
        };
        let mut out = Vec::new();
        for t in &p.topic_data {
            for pd in &t.partition_data {
                let batch = RecordBatches::new(pd.records.clone().unwrap())
                    .next()
                    .unwrap()
                    .unwrap();
                let values = batch
                    .records()
                    .unwrap()
                    .map(|r| String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap())
                    .collect();
                out.push((
                    pd.index,
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence(),
                    values,
                ));
            }
        }
        out
    }

    fn produce_response(partition: i32, code: ErrorCode, base_offset: i64) -> ResponseBody {
        ResponseBody::Produce(ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    index: partition,
                    error_code: code.code(),
                    base_offset,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn init_response(pid: i64, epoch: i16) -> ResponseBody {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: 0,
            producer_id: pid,
            producer_epoch: epoch,
            ..Default::default()
        })
    }

    /// Runs the sender until the init request is answered.
    fn init(sender: &mut Sender<TestClient>, now: Instant, pid: i64, epoch: i16) {
        sender.run_once(now);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert!(matches!(body, RequestBody::InitProducerId(_)));
        sender.client_mut().respond(corr, init_response(pid, epoch));
        sender.run_once(now);
    }

    #[test]
    fn idempotent_produce_gets_id_then_sequences_and_offsets() {
        let (mut sender, acc) = setup(Acks::All, true);
        let now = Instant::now();
        let f1 = append(&acc, 0, "a", now);
        let f2 = append(&acc, 0, "b", now);
        init(&mut sender, now, 42, 0);
        assert_eq!(
            sender.client().sent.len(),
            1,
            "nothing produced before the id"
        );
        sender.run_once(now);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert_eq!(
            produce_batches(&body),
            vec![(0, 42, 0, 0, vec!["a".to_string(), "b".to_string()])]
        );
        let RequestBody::Produce(p) = &body else {
            unreachable!()
        };
        assert_eq!(p.acks, -1);
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::None, 100));
        sender.run_once(now);
        assert_eq!(f1.get().unwrap().offset, 100);
        assert_eq!(f2.get().unwrap().offset, 101);
        assert!(!sender.has_pending());
        // The next batch continues the sequence.
        let f3 = append(&acc, 0, "c", now);
        sender.run_once(now);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert_eq!(produce_batches(&body)[0].3, 2);
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::None, 102));
        sender.run_once(now);
        assert_eq!(f3.get().unwrap().offset, 102);
    }

    #[test]
    fn a_dropped_connection_resends_the_same_sequence_in_order() {
        let (mut sender, acc) = setup(Acks::All, true);
        let now = Instant::now();
        init(&mut sender, now, 7, 3);
        let f1 = append(&acc, 0, "first", now);
        sender.run_once(now);
        let (_, corr, first) = sender.client().sent.last().cloned().unwrap();
        // More records arrive while the first batch is in flight.
        let f2 = append(&acc, 0, "second", now);
        sender.run_once(now);
        assert_eq!(
            sender.client().sent.len(),
            2,
            "one batch per partition in flight"
        );
        sender
            .client_mut()
            .next_events
            .push(ClientEvent::Disconnected {
                node: 1,
                in_flight: vec![InFlightInfo {
                    correlation_id: corr,
                    api_key: ApiKey::Produce,
                }],
                cause: NetworkError::ConnectionClosed,
            });
        sender.run_once(now);
        assert!(!f1.is_done());
        // Backing off: nothing is resent yet.
        sender.run_once(now + Duration::from_millis(50));
        assert_eq!(sender.client().sent.len(), 2);
        let later = now + Duration::from_millis(100);
        sender.run_once(later);
        let (_, corr, again) = sender.client().sent.last().cloned().unwrap();
        assert_eq!(produce_batches(&again), produce_batches(&first));
        // The broker had written it: it reports the duplicate.
        sender.client_mut().respond(
            corr,
            produce_response(0, ErrorCode::DuplicateSequenceNumber, -1),
        );
        sender.run_once(later);
        assert!(f1.get().is_ok());
        sender.run_once(later);
        let (_, corr, second) = sender.client().sent.last().cloned().unwrap();
        assert_eq!(
            produce_batches(&second),
            vec![(0, 7, 3, 1, vec!["second".to_string()])]
        );
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::None, 1));
        sender.run_once(later);
        assert_eq!(f2.get().unwrap().offset, 1);
    }

    #[test]
    fn an_authentication_failure_fails_waiting_records_and_metadata_waiters() {
        let (mut sender, acc) = setup(Acks::All, false);
        let now = Instant::now();
        let f = append(&acc, 0, "x", now);
        // A send waiting for an unknown topic's metadata.
        let metadata = sender.metadata.clone();
        let waiter = std::thread::spawn(move || {
            metadata.wait_for_partitions("unknown", Duration::from_secs(600), &|| {})
        });
        while !sender.metadata.has_missing_topics() {
            std::thread::yield_now();
        }
        let message = "SCRAM-SHA-512 with broker b:9092 (node -1, 127.0.0.1:9092): \
                       SASL_AUTHENTICATION_FAILED (58): Authentication failed";
        sender.handle_events(
            vec![ClientEvent::Disconnected {
                node: -1,
                in_flight: Vec::new(),
                cause: NetworkError::Authentication(message.into()),
            }],
            now,
        );
        let e = f.get().unwrap_err();
        assert!(
            matches!(&e, Error::Authentication(m) if m.contains(message)),
            "{e}"
        );
        assert!(!e.is_retriable());
        let e = waiter.join().unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::Authentication(m) if m.contains(message)),
            "{e}"
        );
        // Later records are tried again.
        let g = append(&acc, 0, "y", now);
        sender.run_once(now);
        assert!(!g.is_done());
        assert!(matches!(
            sender.client().sent.last(),
            Some((_, _, RequestBody::Produce(_)))
        ));
    }

    #[test]
    fn acks_zero_completes_when_written() {
        let (mut sender, acc) = setup(Acks::None, false);
        let now = Instant::now();
        let f = append(&acc, 1, "x", now);
        sender.run_once(now);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        let RequestBody::Produce(p) = &body else {
            panic!()
        };
        assert_eq!(p.acks, 0);
        assert_eq!(
            produce_batches(&body)[0].1,
            -1,
            "no producer id without idempotence"
        );
        sender.client_mut().next_events.push(ClientEvent::Sent {
            node: 1,
            correlation_id: corr,
            api_key: ApiKey::Produce,
        });
        sender.run_once(now);
        let md = f.get().unwrap();
        assert_eq!((md.partition, md.offset), (1, -1));
    }

    #[test]
    fn leader_errors_refresh_metadata_and_retry() {
        let (mut sender, acc) = setup(Acks::Leader, false);
        let now = Instant::now();
        let f = append(&acc, 0, "x", now);
        sender.run_once(now);
        let (_, corr, _) = sender.client().sent.last().cloned().unwrap();
        sender.client_mut().respond(
            corr,
            produce_response(0, ErrorCode::NotLeaderOrFollower, -1),
        );
        sender.run_once(now);
        assert!(sender.client().metadata().update_requested());
        assert!(!f.is_done());
        let later = now + Duration::from_millis(100);
        sender.run_once(later);
        let (_, corr, _) = sender.client().sent.last().cloned().unwrap();
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::None, 5));
        sender.run_once(later);
        assert_eq!(f.get().unwrap().offset, 5);
    }

    #[test]
    fn fatal_errors_fail_the_batch_and_the_producer_goes_on() {
        let (mut sender, acc) = setup(Acks::All, true);
        let now = Instant::now();
        init(&mut sender, now, 9, 0);
        let f = append(&acc, 0, "big", now);
        sender.run_once(now);
        let (_, corr, _) = sender.client().sent.last().cloned().unwrap();
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::MessageTooLarge, -1));
        sender.run_once(now);
        let e = f.get().unwrap_err();
        assert!(
            matches!(&e, Error::Kafka { name, .. } if name == "MESSAGE_TOO_LARGE"),
            "{e}"
        );
        // The failed batch left a sequence gap: the epoch is bumped first.
        let f2 = append(&acc, 0, "next", now);
        sender.run_once(now);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        let RequestBody::InitProducerId(req) = &body else {
            panic!("expected an epoch bump, got {:?}", body.api_key())
        };
        assert_eq!((req.producer_id, req.producer_epoch), (9, 0));
        sender.client_mut().respond(corr, init_response(9, 1));
        sender.run_once(now);
        sender.run_once(now);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert_eq!(
            produce_batches(&body),
            vec![(0, 9, 1, 0, vec!["next".to_string()])]
        );
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::None, 1));
        sender.run_once(now);
        assert_eq!(f2.get().unwrap().offset, 1);
    }

    #[test]
    fn out_of_order_sequence_bumps_epoch_and_resends() {
        let (mut sender, acc) = setup(Acks::All, true);
        let now = Instant::now();
        init(&mut sender, now, 5, 0);
        let f = append(&acc, 0, "x", now);
        sender.run_once(now);
        let (_, corr, _) = sender.client().sent.last().cloned().unwrap();
        sender.client_mut().respond(
            corr,
            produce_response(0, ErrorCode::OutOfOrderSequenceNumber, -1),
        );
        sender.run_once(now);
        let later = now + Duration::from_millis(100);
        sender.run_once(later);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert!(matches!(body, RequestBody::InitProducerId(_)));
        sender.client_mut().respond(corr, init_response(5, 1));
        sender.run_once(later);
        sender.run_once(later);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert_eq!(
            produce_batches(&body),
            vec![(0, 5, 1, 0, vec!["x".to_string()])]
        );
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::None, 0));
        sender.run_once(later);
        assert!(f.get().is_ok());
    }

    #[test]
    fn batches_expire_after_delivery_timeout() {
        let (mut sender, acc) = setup(Acks::Leader, false);
        let now = Instant::now();
        // No leader known: the batch waits, then expires.
        sender.client_mut().metadata = Metadata::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let f = append(&acc, 0, "x", now);
        sender.run_once(now);
        assert!(sender.client().sent.is_empty());
        sender.run_once(now + Duration::from_secs(120));
        let e = f.get().unwrap_err();
        assert!(matches!(e, Error::DeliveryTimeout { .. }), "{e}");
    }

    #[test]
    fn every_codec_round_trips_and_a_restamped_batch_keeps_its_records() {
        for codec in Compression::ALL {
            let acc = RecordAccumulator::new(AccumulatorConfig {
                batch_size: 1 << 20,
                buffer_memory: 1 << 22,
                linger: Duration::ZERO,
                retry_backoff: Duration::ZERO,
                retry_backoff_max: Duration::ZERO,
                delivery_timeout: Duration::from_secs(1),
                max_in_flight_per_partition: 1,
                compression: codec,
                compression_level: None,
            });
            let now = Instant::now();
            for i in 0..50 {
                append(&acc, 0, &format!("value-{i}"), now);
            }
            let mut batch = acc.drain_node(1, 1 << 22, now, &|_| Some(1)).remove(0);
            batch.producer_id = 7;
            batch.producer_epoch = 1;
            batch.base_sequence = 100;
            let first = batch.encoded().unwrap();
            // A resend with the same producer state is the same bytes.
            assert_eq!(batch.encoded().unwrap().as_ptr(), first.as_ptr());
            // After an epoch bump only the header changes.
            batch.producer_epoch = 2;
            batch.base_sequence = 0;
            let second = batch.encoded().unwrap();
            for (bytes, epoch, seq) in [(first, 1, 100), (second, 2, 0)] {
                // Decoding checks the CRC.
                let b = RecordBatches::new(bytes).next().unwrap().unwrap();
                assert_eq!(b.compression(), codec);
                assert_eq!(
                    (b.producer_id(), b.producer_epoch(), b.base_sequence()),
                    (7, epoch, seq)
                );
                let values: Vec<String> = b
                    .records()
                    .unwrap()
                    .map(|r| String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap())
                    .collect();
                assert_eq!(values.len(), 50);
                assert_eq!(values[49], "value-49");
            }
        }
    }

    #[test]
    fn pipelined_batches_come_back_in_order_after_a_lost_connection() {
        let (mut sender, acc) = setup_with(Acks::All, true, 5);
        let now = Instant::now();
        init(&mut sender, now, 3, 0);
        let mut futures = Vec::new();
        let mut corrs = Vec::new();
        for v in ["a", "b", "c"] {
            futures.push(append(&acc, 0, v, now));
            sender.run_once(now);
            corrs.push(sender.client().sent.last().unwrap().1);
        }
        let seqs: Vec<i32> = sender.client().sent[1..]
            .iter()
            .map(|(_, _, b)| produce_batches(b)[0].3)
            .collect();
        assert_eq!(
            seqs,
            vec![0, 1, 2],
            "three batches of one partition in flight"
        );
        // The connection drops with all three in flight (reported in any order).
        sender
            .client_mut()
            .next_events
            .push(ClientEvent::Disconnected {
                node: 1,
                in_flight: corrs
                    .iter()
                    .rev()
                    .map(|&c| InFlightInfo {
                        correlation_id: c,
                        api_key: ApiKey::Produce,
                    })
                    .collect(),
                cause: NetworkError::ConnectionClosed,
            });
        sender.run_once(now);
        let mut t = now + Duration::from_millis(100);
        let mut resent = Vec::new();
        for offset in 0..3 {
            sender.run_once(t);
            let before = sender.client().sent.len();
            // Retries go one at a time, in sequence order.
            sender.run_once(t);
            assert_eq!(sender.client().sent.len(), before, "one retry in flight");
            let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
            let b = produce_batches(&body);
            resent.push((b[0].3, b[0].4[0].clone()));
            sender
                .client_mut()
                .respond(corr, produce_response(0, ErrorCode::None, offset));
            sender.run_once(t);
            t += Duration::from_millis(100);
        }
        assert_eq!(
            resent,
            vec![
                (0, "a".to_string()),
                (1, "b".to_string()),
                (2, "c".to_string())
            ]
        );
        let offsets: Vec<i64> = futures.iter().map(|f| f.get().unwrap().offset).collect();
        assert_eq!(offsets, vec![0, 1, 2]);
        assert_eq!(
            sender.transaction_manager().unwrap().producer_epoch(),
            0,
            "no bump"
        );
    }

    #[test]
    fn out_of_order_behind_a_retried_batch_is_retried_without_bump() {
        let (mut sender, acc) = setup_with(Acks::All, true, 5);
        let now = Instant::now();
        init(&mut sender, now, 3, 0);
        let fa = append(&acc, 0, "a", now);
        sender.run_once(now);
        let ca = sender.client().sent.last().unwrap().1;
        let fb = append(&acc, 0, "b", now);
        sender.run_once(now);
        let cb = sender.client().sent.last().unwrap().1;
        // "a" hits a leader change; "b" then is out of order at the broker.
        sender
            .client_mut()
            .respond(ca, produce_response(0, ErrorCode::NotLeaderOrFollower, -1));
        sender.client_mut().respond(
            cb,
            produce_response(0, ErrorCode::OutOfOrderSequenceNumber, -1),
        );
        sender.run_once(now);
        assert!(!sender.transaction_manager().unwrap().bump_requested());
        let mut t = now + Duration::from_millis(100);
        for offset in 0..2 {
            sender.run_once(t);
            let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
            assert_eq!(produce_batches(&body)[0].3, offset as i32);
            sender
                .client_mut()
                .respond(corr, produce_response(0, ErrorCode::None, offset));
            sender.run_once(t);
            t += Duration::from_millis(200);
        }
        assert_eq!(fa.get().unwrap().offset, 0);
        assert_eq!(fb.get().unwrap().offset, 1);
    }

    #[test]
    fn a_broker_without_init_producer_id_fails_records_clearly() {
        let (mut sender, acc) = setup(Acks::All, true);
        sender.client_mut().init_supported = false;
        let now = Instant::now();
        let f = append(&acc, 0, "x", now);
        sender.run_once(now);
        sender.run_once(now);
        let e = f.get().unwrap_err();
        assert!(e.to_string().contains("enable.idempotence=false"), "{e}");
        assert!(sender.client().sent.is_empty());
    }

    #[test]
    fn a_batch_refused_as_too_large_is_split_and_stays_in_order() {
        let (mut sender, acc) = setup(Acks::All, true);
        let now = Instant::now();
        init(&mut sender, now, 4, 0);
        let futures: Vec<DeliveryFuture> = ["a", "b", "c"]
            .iter()
            .map(|v| append(&acc, 0, v, now))
            .collect();
        sender.run_once(now);
        let (_, corr, _) = sender.client().sent.last().cloned().unwrap();
        sender
            .client_mut()
            .respond(corr, produce_response(0, ErrorCode::MessageTooLarge, -1));
        sender.run_once(now);
        // The sequence gap is closed by an epoch bump first.
        let mut t = now + Duration::from_millis(100);
        sender.run_once(t);
        let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
        assert!(matches!(body, RequestBody::InitProducerId(_)));
        sender.client_mut().respond(corr, init_response(4, 1));
        sender.run_once(t);
        let mut got = Vec::new();
        let mut offset = 0;
        for _ in 0..2 {
            sender.run_once(t);
            let (_, corr, body) = sender.client().sent.last().cloned().unwrap();
            let b = produce_batches(&body);
            got.push((b[0].2, b[0].3, b[0].4.clone()));
            sender
                .client_mut()
                .respond(corr, produce_response(0, ErrorCode::None, offset));
            offset += b[0].4.len() as i64;
            sender.run_once(t);
            t += Duration::from_millis(200);
        }
        assert_eq!(
            got,
            vec![
                (1, 0, vec!["a".to_string()]),
                (1, 1, vec!["b".to_string(), "c".to_string()])
            ]
        );
        let offsets: Vec<i64> = futures.iter().map(|f| f.get().unwrap().offset).collect();
        assert_eq!(offsets, vec![0, 1, 2]);
        assert!(!acc.has_incomplete());
        assert_eq!(acc.used_memory(), 0);
    }

    mod metadata_topics {
        use super::*;
        use prozess_network::mock::{MockClient, MockTime};

        /// A sender over a MockClient whose cluster has topic `t` (2
        /// partitions), with Java's refresh backoff (100 ms .. 1 s) and the
        /// given `metadata.max.idle.ms`.
        fn sender(max_idle: Duration, time: &MockTime) -> Sender<MockClient> {
            let mut client = MockClient::new_with_cluster_at(&[1], &[("t", 2)], time.now())
                .with_time(time.clone());
            let mut md = Metadata::new(
                Duration::from_millis(100),
                Duration::from_secs(1),
                Duration::from_secs(300),
            );
            let spec = md.request_spec();
            md.update(spec.request_version, client.cluster().clone(), time.now());
            *client.metadata_mut() = md;
            let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
                batch_size: 16384,
                buffer_memory: 1 << 20,
                linger: Duration::ZERO,
                retry_backoff: Duration::from_millis(100),
                retry_backoff_max: Duration::from_secs(1),
                delivery_timeout: Duration::from_secs(120),
                max_in_flight_per_partition: 1,
                compression: Compression::None,
                compression_level: None,
            }));
            Sender::new(
                client,
                acc,
                Arc::new(ProducerMetadata::with_max_idle(max_idle)),
                config(Acks::All, false),
            )
        }

        /// Passes every 10 ms (far more often than a real sender wakes
        /// while idle), so only the metadata's own pacing limits requests.
        fn run_until(sender: &mut Sender<MockClient>, time: &MockTime, until: Instant) {
            while time.now() < until {
                sender.run_once(time.now());
                time.advance(Duration::from_millis(10));
            }
        }

        fn interest(sender: &Sender<MockClient>) -> Vec<String> {
            sender
                .client()
                .metadata()
                .topics_of_interest()
                .iter()
                .cloned()
                .collect()
        }

        #[test]
        fn topics_idle_for_metadata_max_idle_leave_the_requests() {
            let time = MockTime::new();
            let start = time.now();
            let mut sender = sender(Duration::from_secs(10), &time);
            let pm = sender.metadata.clone();
            assert!(pm.register("t"));
            sender.run_once(time.now());
            assert_eq!(interest(&sender), vec!["t"]);
            assert!(pm.try_partitions("t").is_some(), "published");

            // Used again at 4 s: kept past 10 s after the first use.
            run_until(&mut sender, &time, start + Duration::from_secs(4));
            assert!(pm.try_partitions("t").is_some());
            run_until(&mut sender, &time, start + Duration::from_secs(12));
            assert_eq!(interest(&sender), vec!["t"]);

            // 10 s (+ at most a sweep interval) after the last use: gone.
            run_until(&mut sender, &time, start + Duration::from_secs(16));
            assert!(interest(&sender).is_empty(), "{:?}", interest(&sender));
            assert_eq!(
                sender.client().metadata().request_spec().topics,
                Some(vec![])
            );
            assert!(pm.try_partitions("t").is_none());
            assert!(sender.client().metadata().partitions_for("t").is_none());

            // A later send asks for it again.
            assert!(pm.register("t"));
            sender.run_once(time.now());
            assert_eq!(interest(&sender), vec!["t"]);
            assert!(pm.try_partitions("t").is_some());
        }

        #[test]
        fn a_missing_topic_is_asked_for_with_backoff_then_given_up() {
            let time = MockTime::new();
            let start = time.now();
            let mut sender = sender(Duration::from_secs(300), &time);
            let pm = sender.metadata.clone();
            let before = sender.client().metadata_refreshes();
            pm.register("missing");
            // `send` would block for max.block.ms (60 s): the sender keeps
            // asking, paced by retry.backoff.ms (100 ms), not on every pass.
            run_until(&mut sender, &time, start + Duration::from_secs(60));
            let refreshes = sender.client().metadata_refreshes() - before;
            assert!(
                (60..=602).contains(&refreshes),
                "{refreshes} metadata refreshes in 60 s over 6000 sender passes"
            );
            assert_eq!(interest(&sender), vec!["missing"]);

            // The waiting send gives up (max.block.ms), naming the topic.
            let err = pm
                .wait_for_partitions("missing", Duration::ZERO, &|| {})
                .unwrap_err();
            assert!(
                matches!(&err, Error::MetadataTimeout { topic, .. } if topic == "missing"),
                "{err}"
            );
            assert!(err.to_string().contains("missing"), "{err}");
            // ... and the sender stops asking about it.
            sender.run_once(time.now());
            assert!(interest(&sender).is_empty(), "{:?}", interest(&sender));
            let refreshes = sender.client().metadata_refreshes();
            run_until(&mut sender, &time, time.now() + Duration::from_secs(60));
            assert!(
                sender.client().metadata_refreshes() - refreshes <= 1,
                "no more refreshes once nothing is missing"
            );
        }
    }

    mod metrics_tests;
}
