//! `OffsetFetcher`: ListOffsets for position resets (`auto.offset.reset`,
//! `seek_to_beginning`/`seek_to_end`) and for `beginning_offsets`,
//! `end_offsets` and `offsets_for_times`.
//!
//! Resets run inside `poll` without blocking; look-ups are started here and
//! driven by the consumer's blocking call until every partition is answered.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use prozess_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::config::{IsolationLevel, OffsetResetStrategy};
use crate::subscription_state::{FetchPosition, SubscriptionState};

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
            InFlight::Reset(_) => false,
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
                    ResponseBody::ListOffsets(resp) => {
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
                            let pos = FetchPosition {
                                offset: d.offset,
                                offset_epoch: None,
                                current_leader_epoch: d.leader_epoch,
                            };
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
