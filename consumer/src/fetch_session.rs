//! `FetchSessionHandler`: incremental fetch sessions (KIP-227), one per node.
//!
//! The first Fetch to a node is a full fetch (session id 0, epoch 0) listing
//! every fetchable partition; a broker that supports sessions answers with a
//! session id. Later fetches carry that id and the next epoch and list only the
//! partitions that were added or whose fetch parameters changed, plus the
//! partitions to forget. Any session error falls back to a full fetch.
//! A broker that answers with session id 0 (Tansu) keeps us on full fetches.

use std::collections::{BTreeMap, HashMap};

use prozess_network::TopicPartition;
use prozess_protocol::{ErrorCode, Uuid};

/// Epoch of a request that opens a session (or a full fetch without one).
pub const INITIAL_EPOCH: i32 = 0;
/// Epoch of a request that closes the session.
pub const FINAL_EPOCH: i32 = -1;
/// "No session".
pub const INVALID_SESSION_ID: i32 = 0;

/// The session id and epoch the next request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchMetadata {
    /// Session id (0 = none).
    pub session_id: i32,
    /// Epoch: 0 opens, -1 closes, else the incremental sequence number.
    pub epoch: i32,
}

impl FetchMetadata {
    /// No session: the next request is a full fetch that asks for a session.
    pub const INITIAL: FetchMetadata = FetchMetadata {
        session_id: INVALID_SESSION_ID,
        epoch: INITIAL_EPOCH,
    };

    /// Whether a request with this metadata lists every partition.
    pub fn is_full(&self) -> bool {
        self.epoch == INITIAL_EPOCH || self.epoch == FINAL_EPOCH
    }

    /// Close the current session and open a new one with a full fetch.
    fn next_close_existing_attempt_new(self) -> FetchMetadata {
        FetchMetadata {
            session_id: self.session_id,
            epoch: INITIAL_EPOCH,
        }
    }

    fn next_incremental(self) -> FetchMetadata {
        let epoch = if self.epoch == i32::MAX {
            1
        } else {
            self.epoch + 1
        };
        FetchMetadata {
            session_id: self.session_id,
            epoch,
        }
    }
}

/// The fetch parameters of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionData {
    /// Topic id (nil when unknown: the request then uses topic names).
    pub topic_id: Uuid,
    /// Offset to fetch from.
    pub fetch_offset: i64,
    /// Our log start offset (-1 for a consumer).
    pub log_start_offset: i64,
    /// max.partition.fetch.bytes.
    pub max_bytes: i32,
    /// Leader epoch known from metadata (-1 if unknown).
    pub current_leader_epoch: i32,
    /// Epoch of the last fetched record (-1 if unknown).
    pub last_fetched_epoch: i32,
}

/// What the next Fetch request to a node carries.
#[derive(Debug, Clone)]
pub struct FetchRequestData {
    /// Partitions to list in the request, in order.
    pub to_send: Vec<(TopicPartition, PartitionData)>,
    /// Partitions to remove from the session (incremental requests only).
    pub to_forget: Vec<(TopicPartition, Uuid)>,
    /// Every partition of the session after this request: what the fetch is for.
    pub session_partitions: Vec<(TopicPartition, PartitionData)>,
    /// Session id and epoch.
    pub metadata: FetchMetadata,
    /// Whether every partition has a topic id (Fetch v13+ may be used).
    pub can_use_topic_ids: bool,
}

/// Builds the next request of a session.
pub struct Builder<'a> {
    handler: &'a mut FetchSessionHandler,
    next: Vec<(TopicPartition, PartitionData)>,
}

impl Builder<'_> {
    /// Adds a fetchable partition.
    pub fn add(&mut self, tp: TopicPartition, data: PartitionData) {
        self.next.push((tp, data));
    }

    /// Computes the request and updates the session's partitions.
    pub fn build(self) -> FetchRequestData {
        let handler = self.handler;
        let can_use_topic_ids = self.next.iter().all(|(_, d)| !d.topic_id.is_nil());
        if !handler.supports_sessions {
            handler.next_metadata = FetchMetadata::INITIAL;
        }
        // A change between topic ids and names cannot be expressed
        // incrementally: start a new session.
        if handler.next_metadata.epoch != INITIAL_EPOCH
            && handler.session_uses_topic_ids != can_use_topic_ids
        {
            handler.next_metadata = handler.next_metadata.next_close_existing_attempt_new();
        }
        handler.session_uses_topic_ids = can_use_topic_ids;
        let metadata = handler.next_metadata;
        if metadata.is_full() {
            handler.session_partitions = self.next.iter().cloned().collect();
            handler.order = self.next.iter().map(|(tp, _)| tp.clone()).collect();
            return FetchRequestData {
                to_send: self.next.clone(),
                to_forget: Vec::new(),
                session_partitions: self.next,
                metadata,
                can_use_topic_ids,
            };
        }
        let mut to_send = Vec::new();
        let mut next_map: HashMap<TopicPartition, PartitionData> = HashMap::new();
        for (tp, data) in &self.next {
            match handler.session_partitions.get(tp) {
                Some(prev) if prev == data => {}
                _ => to_send.push((tp.clone(), *data)),
            }
            next_map.insert(tp.clone(), *data);
        }
        let mut to_forget = Vec::new();
        for (tp, prev) in &handler.session_partitions {
            match next_map.get(tp) {
                None => to_forget.push((tp.clone(), prev.topic_id)),
                // Same partition under a new topic id (topic re-created):
                // forget the old one, the new one is in `to_send`.
                Some(d) if d.topic_id != prev.topic_id => {
                    to_forget.push((tp.clone(), prev.topic_id))
                }
                _ => {}
            }
        }
        handler.session_partitions = self.next.iter().cloned().collect();
        handler.order = self.next.iter().map(|(tp, _)| tp.clone()).collect();
        FetchRequestData {
            to_send,
            to_forget,
            session_partitions: self.next,
            metadata,
            can_use_topic_ids,
        }
    }
}

/// Session state for one node.
#[derive(Debug)]
pub struct FetchSessionHandler {
    node: i32,
    next_metadata: FetchMetadata,
    session_partitions: BTreeMap<TopicPartition, PartitionData>,
    order: Vec<TopicPartition>,
    session_uses_topic_ids: bool,
    supports_sessions: bool,
}

impl FetchSessionHandler {
    /// A handler for `node`, starting without a session.
    pub fn new(node: i32) -> Self {
        FetchSessionHandler {
            node,
            next_metadata: FetchMetadata::INITIAL,
            session_partitions: BTreeMap::new(),
            order: Vec::new(),
            session_uses_topic_ids: false,
            supports_sessions: true,
        }
    }

    /// Whether the negotiated Fetch version has sessions (v7+); without them
    /// every request is a full one.
    pub fn set_supports_sessions(&mut self, yes: bool) {
        self.supports_sessions = yes;
    }

    /// The node this session is with.
    pub fn node(&self) -> i32 {
        self.node
    }

    /// Session id and epoch of the next request.
    pub fn next_metadata(&self) -> FetchMetadata {
        self.next_metadata
    }

    /// Starts building the next request.
    pub fn new_builder(&mut self) -> Builder<'_> {
        Builder {
            handler: self,
            next: Vec::new(),
        }
    }

    /// Handles a response's top-level error and session id. Returns whether
    /// the response's partition data may be used.
    ///
    /// `response_partitions` are the partitions in the response; in a full
    /// response they must all be in the request, in an incremental one all in
    /// the session.
    pub fn handle_response(
        &mut self,
        error: ErrorCode,
        session_id: i32,
        response_partitions: &[TopicPartition],
    ) -> bool {
        if error != ErrorCode::None {
            tracing::info!(node = self.node, %error, "fetch session error; next fetch is a full fetch");
            self.next_metadata = if error == ErrorCode::FetchSessionIdNotFound {
                FetchMetadata::INITIAL
            } else {
                self.next_metadata.next_close_existing_attempt_new()
            };
            return false;
        }
        let unexpected = response_partitions
            .iter()
            .find(|tp| !self.session_partitions.contains_key(*tp));
        if let Some(tp) = unexpected {
            tracing::warn!(node = self.node, %tp, "fetch response names a partition that is not in the session");
            self.next_metadata = self.next_metadata.next_close_existing_attempt_new();
            return false;
        }
        if !self.supports_sessions || session_id == INVALID_SESSION_ID {
            // No session (or the broker closed it): keep doing full fetches.
            self.next_metadata = FetchMetadata::INITIAL;
        } else if self.next_metadata.is_full() {
            self.next_metadata = FetchMetadata {
                session_id,
                epoch: 1,
            };
        } else {
            self.next_metadata = self.next_metadata.next_incremental();
        }
        true
    }

    /// A request failed (disconnect, timeout): the session may be gone;
    /// the next request closes it and opens a new one.
    pub fn handle_error(&mut self) {
        self.next_metadata = self.next_metadata.next_close_existing_attempt_new();
    }

    /// The session's partitions in request order.
    pub fn session_partitions(&self) -> &[TopicPartition] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn data(offset: i64) -> PartitionData {
        PartitionData {
            topic_id: Uuid::from_u128(7),
            fetch_offset: offset,
            log_start_offset: -1,
            max_bytes: 1024,
            current_leader_epoch: 0,
            last_fetched_epoch: -1,
        }
    }

    fn build(h: &mut FetchSessionHandler, parts: &[(i32, i64)]) -> FetchRequestData {
        let mut b = h.new_builder();
        for (p, o) in parts {
            b.add(tp(*p), data(*o));
        }
        b.build()
    }

    #[test]
    fn opens_session_then_sends_only_changes() {
        // Modelled on captures/kafka-4.0/fetch-session: sessionId 0/epoch 0,
        // then the broker's session id with epochs 1, 2, ...
        let mut h = FetchSessionHandler::new(1);
        let r = build(&mut h, &[(0, 0), (1, 0), (2, 0), (3, 0)]);
        assert_eq!(r.metadata, FetchMetadata::INITIAL);
        assert_eq!(r.to_send.len(), 4);
        assert!(r.can_use_topic_ids);
        assert!(h.handle_response(ErrorCode::None, 55, &[]));
        assert_eq!(
            h.next_metadata(),
            FetchMetadata {
                session_id: 55,
                epoch: 1
            }
        );
        // Partition 3 advanced, the others did not.
        let r = build(&mut h, &[(0, 0), (1, 0), (2, 0), (3, 1)]);
        assert_eq!(r.metadata.epoch, 1);
        assert_eq!(r.to_send, vec![(tp(3), data(1))]);
        assert!(r.to_forget.is_empty());
        assert_eq!(r.session_partitions.len(), 4);
        assert!(h.handle_response(ErrorCode::None, 55, &[tp(3)]));
        // Partition 1 paused: forgotten.
        let r = build(&mut h, &[(0, 0), (2, 0), (3, 1)]);
        assert_eq!(r.metadata.epoch, 2);
        assert!(r.to_send.is_empty());
        assert_eq!(r.to_forget, vec![(tp(1), Uuid::from_u128(7))]);
        assert!(h.handle_response(ErrorCode::None, 55, &[]));
        // Resumed: added again.
        let r = build(&mut h, &[(0, 0), (1, 0), (2, 0), (3, 1)]);
        assert_eq!(r.metadata.epoch, 3);
        assert_eq!(r.to_send, vec![(tp(1), data(0))]);
    }

    #[test]
    fn session_errors_fall_back_to_full_fetch() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(0, 0), (1, 0)]);
        h.handle_response(ErrorCode::None, 9, &[]);
        build(&mut h, &[(0, 1), (1, 0)]);
        assert!(!h.handle_response(ErrorCode::InvalidFetchSessionEpoch, 0, &[]));
        let r = build(&mut h, &[(0, 1), (1, 0)]);
        assert_eq!(
            r.metadata,
            FetchMetadata {
                session_id: 9,
                epoch: 0
            }
        );
        assert_eq!(r.to_send.len(), 2, "a full fetch lists every partition");
        assert!(!h.handle_response(ErrorCode::FetchSessionIdNotFound, 0, &[]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);
        // Disconnect: close and reopen.
        build(&mut h, &[(0, 1)]);
        h.handle_response(ErrorCode::None, 10, &[]);
        h.handle_error();
        assert_eq!(
            h.next_metadata(),
            FetchMetadata {
                session_id: 10,
                epoch: 0
            }
        );
    }

    #[test]
    fn unexpected_partition_in_response_resets_session() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(0, 0)]);
        assert!(!h.handle_response(ErrorCode::None, 3, &[tp(5)]));
        assert!(h.next_metadata().is_full());
    }

    #[test]
    fn broker_without_sessions_keeps_full_fetches() {
        // Tansu answers every fetch with session id 0.
        let mut h = FetchSessionHandler::new(1);
        for offset in 0..3 {
            let r = build(&mut h, &[(0, offset), (1, 0)]);
            assert_eq!(r.metadata, FetchMetadata::INITIAL);
            assert_eq!(r.to_send.len(), 2);
            assert!(h.handle_response(ErrorCode::None, 0, &[tp(0)]));
        }
        let mut h = FetchSessionHandler::new(2);
        h.set_supports_sessions(false);
        build(&mut h, &[(0, 0)]);
        assert!(h.handle_response(ErrorCode::None, 77, &[]));
        assert_eq!(h.next_metadata(), FetchMetadata::INITIAL);
    }

    #[test]
    fn topic_id_change_is_forgotten_and_resent() {
        let mut h = FetchSessionHandler::new(1);
        build(&mut h, &[(0, 0)]);
        h.handle_response(ErrorCode::None, 4, &[]);
        let mut b = h.new_builder();
        let mut d = data(0);
        d.topic_id = Uuid::from_u128(8);
        b.add(tp(0), d);
        let r = b.build();
        assert_eq!(r.to_send, vec![(tp(0), d)]);
        assert_eq!(r.to_forget, vec![(tp(0), Uuid::from_u128(7))]);
    }
}
