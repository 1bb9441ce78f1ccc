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

use bytes::Bytes;
use prozess_network::{ClientEvent, KafkaClient, NetworkError, NodeId, TopicPartition};
use prozess_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use prozess_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use prozess_protocol::records::{Compression, MemoryRecordsBuilder};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::accumulator::{ProducerBatch, RecordAccumulator};
use crate::config::{Acks, CompressionType, ProducerConfig};
use crate::error::Error;
use crate::metadata::ProducerMetadata;
use crate::transaction_manager::{IdState, TransactionManager};

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

/// Encodes a batch as one record batch (magic 2) with its producer state.
pub fn encode_batch(
    batch: &ProducerBatch,
    compression: Compression,
    level: Option<i32>,
) -> Result<Bytes, Error> {
    let mut builder = MemoryRecordsBuilder::new(0, compression)
        .compression_level(level)
        .with_capacity(batch.estimated_size());
    if batch.producer_id >= 0 {
        builder.set_producer_state(batch.producer_id, batch.producer_epoch, batch.base_sequence);
    }
    for r in batch.records() {
        builder
            .append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &r.headers)
            .map_err(|e| Error::Serialization(e.to_string()))?;
    }
    builder
        .build()
        .map_err(|e| Error::Serialization(e.to_string()))
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
        }
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
        let timeout = self.send_producer_data(now);
        let events = self.client.poll(timeout, now);
        self.handle_events(events, now);
        self.metadata.publish(self.client.metadata());
    }

    /// Sends what is ready; returns how long the client may then block.
    pub fn send_producer_data(&mut self, now: Instant) -> Duration {
        let new_topics = self.metadata.take_new_topics();
        if !new_topics.is_empty() {
            self.client.metadata_mut().add_topics(new_topics);
            self.client.metadata_mut().request_update();
        }
        self.metadata.publish(self.client.metadata());

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
        if self.txn.is_some() && !self.maybe_init_producer_id(now) {
            return timeout.min(self.config.retry_backoff);
        }

        let ready = {
            let md = self.client.metadata();
            self.accumulator.ready(now, &|tp| md.leader_for(tp))
        };
        if !ready.unknown_leader_topics.is_empty() {
            let topics: Vec<String> = ready.unknown_leader_topics.iter().cloned().collect();
            tracing::debug!(?topics, "partitions without known leader; updating metadata");
            self.client.metadata_mut().add_topics(topics);
            self.client.metadata_mut().request_update();
        }
        timeout = timeout.min(ready.next_ready_check_delay);
        let mut nodes: Vec<NodeId> = ready.ready_nodes.into_iter().collect();
        nodes.sort_unstable();
        for node in nodes {
            if !self.client.ready(node, now) {
                let delay = self.client.connection_delay(node, now);
                if !delay.is_zero() {
                    timeout = timeout.min(delay);
                }
                continue;
            }
            let batches = {
                let md = self.client.metadata();
                self.accumulator.drain_node(
                    node,
                    self.config.max_request_size,
                    now,
                    &|tp| md.leader_for(tp),
                )
            };
            if !batches.is_empty() {
                self.send_produce_request(node, batches, now);
            }
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
        let supports_bump = self
            .client
            .api_version(node, ApiKey::InitProducerId)
            .is_some_and(|v| v >= 3);
        let (producer_id, producer_epoch) = txn.init_request_ids(supports_bump);
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id,
            producer_epoch,
            ..Default::default()
        };
        match self.client.send(node, RequestBody::InitProducerId(req), now) {
            Ok(corr) => {
                txn.init_sent();
                self.init_request = Some(corr);
            }
            Err(e) => {
                tracing::debug!(node, error = %e, "could not send InitProducerId");
                self.init_not_before = Some(now + self.config.retry_backoff);
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
            match encode_batch(&batch, self.config.compression, self.config.compression_level) {
                Ok(records) => {
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
            transactional_id: None,
            acks: self.config.acks.as_i16(),
            timeout_ms: self.config.request_timeout.as_millis().min(i32::MAX as u128) as i32,
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
        match self.client.send(node, RequestBody::Produce(request), now) {
            Ok(corr) => {
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
        for event in events {
            match event {
                ClientEvent::Response(resp) => {
                    if self.init_request == Some(resp.correlation_id) {
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

    fn request_failed(&mut self, node: NodeId, correlation_id: i32, cause: NetworkError, now: Instant) {
        if self.init_request == Some(correlation_id) {
            self.init_request = None;
            if let Some(t) = self.txn.as_mut() {
                t.init_failed_retriable();
            }
            self.init_not_before = Some(now + self.config.retry_backoff);
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
            self.init_not_before = Some(now + self.config.retry_backoff);
        } else if matches!(
            code,
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced
        ) && txn.producer_id() >= 0
        {
            // The bump was refused: start over with a new producer id.
            tracing::info!(error = code.name(), "epoch bump refused; getting a new producer id");
            *txn = TransactionManager::new();
        } else {
            tracing::error!(error = code.name(), "InitProducerId failed");
            txn.init_failed_fatal(kafka_error(code, None));
        }
    }

    fn handle_produce_response(&mut self, mut inflight: InFlight, resp: ProduceResponse, now: Instant) {
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
                if !txn.is_stale(&batch) {
                    txn.request_epoch_bump(code.name());
                }
                // Not written: resend with the new epoch and fresh sequences.
                self.retry_or_fail(batch, kafka_error(code, message), now);
            }
            c if c.is_retriable() => {
                if is_invalid_metadata(c) {
                    self.client.metadata_mut().request_update();
                }
                tracing::debug!(tp = %batch.tp, error = c.name(), "retriable produce error");
                self.retry_or_fail(batch, kafka_error(c, message), now);
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
            batch.last_error = Some(err);
            self.accumulator.reenqueue(batch, now);
        }
    }

    fn complete_in_flight(&mut self, batch: ProducerBatch, base_offset: i64, log_append_time: i64) {
        self.accumulator.unmute(&batch.tp);
        self.accumulator
            .complete_batch(batch, Ok((base_offset, log_append_time)));
    }

    fn fail_in_flight(&mut self, batch: ProducerBatch, err: Error) {
        self.accumulator.unmute(&batch.tp);
        self.fail_batch(batch, err);
    }

    /// Fails a batch. With idempotence, a batch that got a sequence leaves a
    /// gap (or may even have been written): later batches of its partition
    /// would be out of order, so the epoch is bumped and sequences restart.
    fn fail_batch(&mut self, batch: ProducerBatch, err: Error) {
        if let Some(txn) = self.txn.as_mut() {
            if batch.base_sequence >= 0 && !txn.is_stale(&batch) {
                txn.request_epoch_bump("a batch with a sequence number failed");
            }
        }
        self.accumulator.complete_batch(batch, Err(err));
    }

    /// Fails everything waiting or in flight (forced close).
    pub fn abort_all(&mut self, err: Error) {
        for (_, inflight) in std::mem::take(&mut self.in_flight) {
            for (_, b) in inflight.batches {
                self.accumulator.unmute(&b.tp);
                self.accumulator.complete_batch(b, Err(err.clone()));
            }
        }
        for b in self.accumulator.take_all() {
            self.accumulator.complete_batch(b, Err(err.clone()));
        }
    }
}
