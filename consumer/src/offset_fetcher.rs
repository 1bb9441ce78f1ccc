//! `OffsetFetcher`: ListOffsets for position resets (`auto.offset.reset`,
//! `seek_to_beginning`/`seek_to_end`) and for `beginning_offsets`,
//! `end_offsets` and `offsets_for_times`; OffsetForLeaderEpoch for position
//! validation after a leader change (KIP-320, Java's `validatePositionsIfNeeded`
//! and `OffsetsForLeaderEpochUtils`).
//!
//! Resets and validations run inside `poll` without blocking; look-ups are
//! started here and driven by the consumer's blocking call until every
//! partition is answered.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use prozess_protocol::messages::offset_for_leader_epoch::request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use prozess_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::config::{IsolationLevel, OffsetResetStrategy};
use crate::error::Error;
use crate::subscription_state::{FetchPosition, LogTruncation, SubscriptionState};

/// First OffsetForLeaderEpoch version a consumer may use (v3 carries
/// `replica_id`, Kafka 2.3): older brokers are not asked, as in Java's
/// `hasUsableOffsetForLeaderEpochVersion`.
pub const MIN_VALIDATION_VERSION: i16 = 3;

/// ListOffsets timestamp for the log end offset.
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;

/// The timestamp a reset strategy asks ListOffsets for.
pub fn reset_timestamp(strategy: OffsetResetStrategy) -> Option<i64> {
    match strategy {
        OffsetResetStrategy::Earliest => Some(EARLIEST_TIMESTAMP),
        OffsetResetStrategy::Latest => Some(LATEST_TIMESTAMP),
        OffsetResetStrategy::None => None,
    }
}

/// One partition's ListOffsets answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetData {
    /// The offset (-1 if none, e.g. no record at or after the timestamp).
    pub offset: i64,
    /// The record's timestamp (-1 if none).
    pub timestamp: i64,
    /// Leader epoch (None if unknown).
    pub leader_epoch: Option<i32>,
}

/// The outcome of a look-up for one partition.
pub type LookupResult = Result<ListOffsetData, ErrorCode>;

#[derive(Debug)]
enum InFlight {
    Reset(Vec<(TopicPartition, OffsetResetStrategy)>),
    Lookup(u64, Vec<TopicPartition>),
    /// OffsetForLeaderEpoch for these positions (as they were when sent).
    Validate(Vec<(TopicPartition, FetchPosition)>),
}

/// Partitions [`OffsetFetcher::send`] could not send.
struct Unsent<T> {
    /// No leader, a failed connection, a send error: retry after the backoff.
    failed: Vec<(TopicPartition, i64, T)>,
    /// The leader's connection is not ready yet (connecting, throttled, at
    /// its in-flight limit): retry as soon as it is, without backoff.
    waiting: Vec<(TopicPartition, i64, T)>,
}

impl<T> Unsent<T> {
    fn all(self) -> impl Iterator<Item = (TopicPartition, i64, T)> {
        self.failed.into_iter().chain(self.waiting)
    }
}

/// ListOffsets requests (Java's `OffsetFetcher`).
#[derive(Debug)]
pub struct OffsetFetcher {
    isolation_level: IsolationLevel,
    retry_backoff: Duration,
    in_flight: HashMap<(NodeId, i32), InFlight>,
    lookup_results: Vec<(u64, TopicPartition, LookupResult)>,
    /// An error a validation answer produced (truncation with
    /// `auto.offset.reset=none`, authorization): raised by the next
    /// [`OffsetFetcher::validate_positions_if_needed`], as Java caches it.
    validation_error: Option<Error>,
}

fn is_retriable_offsets_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::RequestTimedOut
            | ErrorCode::NetworkException
    )
}

impl OffsetFetcher {
    /// A fetcher for the given isolation level (read_committed asks for the LSO).
    pub fn new(isolation_level: IsolationLevel, retry_backoff: Duration) -> Self {
        OffsetFetcher {
            isolation_level,
            retry_backoff,
            in_flight: HashMap::new(),
            lookup_results: Vec::new(),
            validation_error: None,
        }
    }

    /// KIP-320 position validation (Java's `validatePositionsIfNeeded`):
    /// positions whose leader epoch changed in the metadata wait for
    /// validation; an OffsetForLeaderEpoch per leader asks where the epoch
    /// of each position's last record ends in the leader's log. A leader
    /// without OffsetForLeaderEpoch v3+ (Tansu, brokers before 2.3) is not
    /// asked: its positions are used as they are. Raises the error an
    /// earlier answer produced (LogTruncation with `auto.offset.reset=none`).
    pub fn validate_positions_if_needed<C: KafkaClient>(
        &mut self,
        client: &mut C,
        subs: &mut SubscriptionState,
        now: Instant,
    ) -> Result<(), Error> {
        if let Some(e) = self.validation_error.take() {
            return Err(e);
        }
        for tp in subs.assigned_partitions() {
            let leader = client.metadata().leader_and_epoch(&tp);
            // Until the leader's versions are known, assume it can validate.
            let supported = leader
                .leader
                .filter(|n| client.is_ready(*n, now))
                .map(|n| supports_validation(client, n))
                .unwrap_or(true);
            subs.maybe_validate_position_for_current_leader(&tp, leader, supported);
        }
        let needed = subs.partitions_needing_validation(now);
        if needed.is_empty() {
            return Ok(());
        }
        let mut by_node: BTreeMap<NodeId, Vec<(TopicPartition, FetchPosition)>> = BTreeMap::new();
        let mut no_leader = false;
        for (tp, position) in needed {
            match client.metadata().leader_for(&tp) {
                Some(node) => by_node.entry(node).or_default().push((tp, position)),
                None => no_leader = true,
            }
        }
        if no_leader {
            client.metadata_mut().request_update();
        }
        for (node, parts) in by_node {
            if !client.ready(node, now) {
                if client.connection_failed(node) {
                    for (tp, _) in &parts {
                        subs.validation_failed(tp, now + self.retry_backoff);
                    }
                }
                // Otherwise retried as soon as the connection is ready.
                continue;
            }
            if !supports_validation(client, node) {
                tracing::debug!(node, partitions = parts.len(), "skipping position validation: the leader does not support OffsetForLeaderEpoch v3+");
                for (tp, _) in &parts {
                    subs.complete_validation(tp);
                }
                continue;
            }
            let request = build_validation_request(&parts);
            match client.send(node, RequestBody::OffsetForLeaderEpoch(request), now) {
                Ok(corr) => {
                    tracing::debug!(
                        node,
                        partitions = parts.len(),
                        "sent OffsetForLeaderEpoch to validate positions"
                    );
                    for (tp, _) in &parts {
                        subs.set_reset_in_flight(tp);
                    }
                    self.in_flight
                        .insert((node, corr), InFlight::Validate(parts));
                }
                Err(e) => {
                    tracing::debug!(node, error = %e, "OffsetForLeaderEpoch could not be sent");
                    for (tp, _) in &parts {
                        subs.validation_failed(tp, now + self.retry_backoff);
                    }
                }
            }
        }
        Ok(())
    }

    fn handle_validation_response(
        &mut self,
        parts: Vec<(TopicPartition, FetchPosition)>,
        resp: &OffsetForLeaderEpochResponse,
        subs: &mut SubscriptionState,
        metadata_update: &mut bool,
        now: Instant,
    ) {
        let mut answers: HashMap<TopicPartition, (ErrorCode, i32, i64)> = HashMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                answers.insert(
                    TopicPartition::new(t.topic.clone(), p.partition),
                    (
                        ErrorCode::from_i16(p.error_code),
                        p.leader_epoch,
                        p.end_offset,
                    ),
                );
            }
        }
        let mut truncations: Vec<LogTruncation> = Vec::new();
        for (tp, position) in parts {
            match answers.remove(&tp) {
                Some((ErrorCode::None, epoch, end_offset)) => {
                    if let Some(t) =
                        subs.maybe_complete_validation(&tp, position, (epoch, end_offset))
                    {
                        truncations.push(t);
                    }
                }
                Some((code, _, _)) if is_retriable_offsets_error(code) => {
                    tracing::debug!(%tp, error = %code, "position validation failed: retrying after a metadata update");
                    *metadata_update = true;
                    subs.validation_failed(&tp, now + self.retry_backoff);
                }
                Some((code, _, _)) => {
                    tracing::warn!(%tp, error = %code, "position validation failed");
                    subs.validation_failed(&tp, now + self.retry_backoff);
                    if self.validation_error.is_none() {
                        self.validation_error = Some(Error::PartitionError { tp, code });
                    }
                }
                None => {
                    tracing::debug!(%tp, "OffsetForLeaderEpoch answer left the partition out: retrying");
                    subs.validation_failed(&tp, now + self.retry_backoff);
                }
            }
        }
        if !truncations.is_empty() {
            self.validation_error = Some(Error::LogTruncation { truncations });
        }
    }

    fn build_request(&self, parts: &[(TopicPartition, i64, i32)]) -> ListOffsetsRequest {
        let mut topics: Vec<ListOffsetsTopic> = Vec::new();
        for (tp, timestamp, epoch) in parts {
            if topics.last().map(|t| t.name != tp.topic).unwrap_or(true) {
                topics.push(ListOffsetsTopic {
                    name: tp.topic.clone(),
                    ..Default::default()
                });
            }
            topics
                .last_mut()
                .expect("pushed above")
                .partitions
                .push(ListOffsetsPartition {
                    partition_index: tp.partition,
                    current_leader_epoch: *epoch,
                    timestamp: *timestamp,
                    ..Default::default()
                });
        }
        ListOffsetsRequest {
            replica_id: -1,
            isolation_level: self.isolation_level.wire_value(),
            topics,
            timeout_ms: 30_000,
            ..Default::default()
        }
    }

    /// Groups partitions by leader and sends one ListOffsets per ready node.
    /// Returns the partitions that could not be sent.
    fn send<C: KafkaClient, T: Clone>(
        &mut self,
        client: &mut C,
        parts: Vec<(TopicPartition, i64, T)>,
        now: Instant,
        make: impl Fn(Vec<(TopicPartition, T)>) -> InFlight,
    ) -> Unsent<T> {
        let mut by_node: BTreeMap<NodeId, Vec<(TopicPartition, i64, T)>> = BTreeMap::new();
        let mut unsent = Vec::new();
        let mut waiting = Vec::new();
        for (tp, ts, extra) in parts {
            let leader = client.metadata().leader_and_epoch(&tp);
            match leader.leader {
                Some(node) => by_node.entry(node).or_default().push((tp, ts, extra)),
                None => unsent.push((tp, ts, extra)),
            }
        }
        if !unsent.is_empty() {
            client.metadata_mut().request_update();
        }
        for (node, mut parts) in by_node {
            if !client.ready(node, now) {
                // Connecting (or throttled, or at its in-flight limit) is no
                // failure: the network poll wakes us when the node can take
                // the request, which then goes out at once, as Java queues it
                // until the connection is ready. Only a failed connection
                // earns the retry backoff.
                if client.connection_failed(node) {
                    unsent.append(&mut parts);
                } else {
                    waiting.append(&mut parts);
                }
                continue;
            }
            if client.api_version(node, ApiKey::ListOffsets).is_none() {
                unsent.append(&mut parts);
                continue;
            }
            parts.sort_by(|a, b| a.0.cmp(&b.0));
            let req_parts: Vec<(TopicPartition, i64, i32)> = parts
                .iter()
                .map(|(tp, ts, _)| {
                    let epoch = client.metadata().leader_and_epoch(tp).epoch.unwrap_or(-1);
                    (tp.clone(), *ts, epoch)
                })
                .collect();
            let request = self.build_request(&req_parts);
            match client.send(node, RequestBody::ListOffsets(request), now) {
                Ok(corr) => {
                    let items = parts.into_iter().map(|(tp, _, e)| (tp, e)).collect();
                    self.in_flight.insert((node, corr), make(items));
                }
                Err(e) => {
                    tracing::debug!(node, error = %e, "ListOffsets could not be sent");
                    unsent.append(&mut parts);
                }
            }
        }
        Unsent {
            failed: unsent,
            waiting,
        }
    }

    /// Sends ListOffsets for every partition awaiting a reset whose backoff
    /// has passed (Java's `resetPositionsIfNeeded`, without blocking).
    pub fn reset_positions_if_needed<C: KafkaClient>(
        &mut self,
        client: &mut C,
        subs: &mut SubscriptionState,
        now: Instant,
    ) {
        let needed = subs.partitions_needing_reset(now);
        if needed.is_empty() {
            return;
        }
        let mut parts = Vec::new();
        for (tp, strategy) in needed {
            if let Some(ts) = reset_timestamp(strategy) {
                subs.set_reset_in_flight(&tp);
                parts.push((tp, ts, strategy));
            }
        }
        let unsent = self.send(client, parts, now, InFlight::Reset);
        for (tp, _, _) in unsent.failed {
            subs.reset_failed(&tp, now + self.retry_backoff);
        }
        for (tp, _, _) in unsent.waiting {
            subs.reset_not_sent(&tp);
        }
    }

    /// Starts a look-up of offsets by timestamp (-2 earliest, -1 latest).
    /// Partitions that could not be sent are returned; retry them later.
    pub fn send_lookup<C: KafkaClient>(
        &mut self,
        client: &mut C,
        lookup_id: u64,
        wanted: &[(TopicPartition, i64)],
        now: Instant,
    ) -> Vec<TopicPartition> {
        let parts = wanted
            .iter()
            .filter(|(tp, _)| !self.lookup_in_flight(tp))
            .map(|(tp, ts)| (tp.clone(), *ts, ()))
            .collect();
        self.send(client, parts, now, |v| {
            InFlight::Lookup(lookup_id, v.into_iter().map(|(tp, _)| tp).collect())
        })
        .all()
        .map(|(tp, _, _)| tp)
        .collect()
    }

    /// Whether a look-up of `tp` is in flight.
    pub fn lookup_in_flight(&self, tp: &TopicPartition) -> bool {
        self.in_flight.values().any(|f| match f {
            InFlight::Lookup(_, v) => v.contains(tp),
            InFlight::Reset(_) | InFlight::Validate(_) => false,
        })
    }

    /// Answers of look-ups received so far (drained), with their look-up id.
    pub fn take_lookup_results(&mut self) -> Vec<(u64, TopicPartition, LookupResult)> {
        std::mem::take(&mut self.lookup_results)
    }

    /// Handles a network event if it concerns a ListOffsets of ours.
    pub fn handle_event(
        &mut self,
        event: &ClientEvent,
        subs: &mut SubscriptionState,
        metadata_update: &mut bool,
        now: Instant,
    ) -> bool {
        match event {
            ClientEvent::Response(r) => {
                let Some(req) = self.in_flight.remove(&(r.node, r.correlation_id)) else {
                    return false;
                };
                match &r.body {
                    ResponseBody::OffsetForLeaderEpoch(resp) => match req {
                        InFlight::Validate(parts) => {
                            self.handle_validation_response(parts, resp, subs, metadata_update, now)
                        }
                        other => self.fail(other, ErrorCode::UnknownServerError, subs, now),
                    },
                    ResponseBody::ListOffsets(resp) if !matches!(req, InFlight::Validate(_)) => {
                        self.handle_response(req, resp, subs, metadata_update, now)
                    }
                    _ => self.fail(req, ErrorCode::UnknownServerError, subs, now),
                }
                true
            }
            ClientEvent::Disconnected {
                node, in_flight, ..
            } => {
                let mut ours = false;
                for info in in_flight {
                    if let Some(req) = self.in_flight.remove(&(*node, info.correlation_id)) {
                        ours = true;
                        self.fail(req, ErrorCode::NetworkException, subs, now);
                    }
                }
                if ours {
                    *metadata_update = true;
                }
                ours
            }
            ClientEvent::Timeout {
                node,
                correlation_id,
                ..
            } => match self.in_flight.remove(&(*node, *correlation_id)) {
                Some(req) => {
                    self.fail(req, ErrorCode::RequestTimedOut, subs, now);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    fn fail(&mut self, req: InFlight, code: ErrorCode, subs: &mut SubscriptionState, now: Instant) {
        match req {
            InFlight::Reset(parts) => {
                for (tp, _) in parts {
                    subs.reset_failed(&tp, now + self.retry_backoff);
                }
            }
            InFlight::Lookup(id, tps) => {
                for tp in tps {
                    self.lookup_results.push((id, tp, Err(code)));
                }
            }
            InFlight::Validate(parts) => {
                for (tp, _) in parts {
                    subs.validation_failed(&tp, now + self.retry_backoff);
                }
            }
        }
    }

    fn handle_response(
        &mut self,
        req: InFlight,
        resp: &ListOffsetsResponse,
        subs: &mut SubscriptionState,
        metadata_update: &mut bool,
        now: Instant,
    ) {
        let mut answers: HashMap<TopicPartition, LookupResult> = HashMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                let code = ErrorCode::from_i16(p.error_code);
                let result = if code == ErrorCode::None {
                    Ok(ListOffsetData {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    })
                } else {
                    if is_retriable_offsets_error(code) {
                        *metadata_update = true;
                    }
                    Err(code)
                };
                answers.insert(tp, result);
            }
        }
        match req {
            InFlight::Reset(parts) => {
                for (tp, strategy) in parts {
                    match answers.remove(&tp) {
                        Some(Ok(d)) if d.offset >= 0 => {
                            // No epoch: a reset position needs no validation
                            // (Java's resetPositionIfNeeded); the current
                            // leader epoch is taken from the metadata.
                            let pos = FetchPosition::at(d.offset);
                            if subs.maybe_complete_reset(&tp, strategy, pos) {
                                tracing::info!(%tp, offset = d.offset, strategy = strategy.as_str(), "reset position");
                            }
                        }
                        other => {
                            tracing::debug!(%tp, answer = ?other, "offset reset failed: retrying after backoff");
                            subs.reset_failed(&tp, now + self.retry_backoff);
                        }
                    }
                }
            }
            InFlight::Validate(parts) => {
                // Not a ListOffsets request: handle_event never routes it here.
                for (tp, _) in parts {
                    subs.validation_failed(&tp, now + self.retry_backoff);
                }
            }
            InFlight::Lookup(id, tps) => {
                for tp in tps {
                    let r = answers
                        .remove(&tp)
                        .unwrap_or(Err(ErrorCode::UnknownTopicOrPartition));
                    self.lookup_results.push((id, tp, r));
                }
            }
        }
    }

    /// Whether a look-up error is worth retrying (after a metadata refresh).
    pub fn is_retriable(code: ErrorCode) -> bool {
        is_retriable_offsets_error(code)
    }
}

/// Whether `node` (connected) can answer a consumer's OffsetForLeaderEpoch.
fn supports_validation<C: KafkaClient>(client: &C, node: NodeId) -> bool {
    client
        .api_version(node, ApiKey::OffsetForLeaderEpoch)
        .is_some_and(|v| v >= MIN_VALIDATION_VERSION)
}

/// One OffsetForLeaderEpoch for these positions: the epoch of each position's
/// last record, fenced by the leader epoch the position was moved to.
fn build_validation_request(
    parts: &[(TopicPartition, FetchPosition)],
) -> OffsetForLeaderEpochRequest {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for (tp, position) in parts {
        if topics.last().map(|t| t.topic != tp.topic).unwrap_or(true) {
            topics.push(OffsetForLeaderTopic {
                topic: tp.topic.clone(),
                ..Default::default()
            });
        }
        topics
            .last_mut()
            .expect("pushed above")
            .partitions
            .push(OffsetForLeaderPartition {
                partition: tp.partition,
                current_leader_epoch: position.current_leader_epoch.unwrap_or(-1),
                leader_epoch: position.offset_epoch.unwrap_or(-1),
                ..Default::default()
            });
    }
    OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics,
        ..Default::default()
    }
}
