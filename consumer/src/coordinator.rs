//! `ConsumerCoordinator`: the group coordinator connection, offset commits
//! (OffsetCommit) and committed-offset look-ups (OffsetFetch).
//!
//! With manual assignment, commits carry generation -1 and no member id
//! and the coordinator is looked up here. With `subscribe`, the consumer
//! gives it the group membership's coordinator
//! ([`ConsumerCoordinator::use_group_coordinator`]: one lookup per consumer)
//! and the generation each commit is made under (captured when the commit is
//! queued); group errors of commit responses come back to the membership
//! through [`ConsumerCoordinator::take_feedback`].
//!
//! Commit callbacks never run from the network layer: completed async commits
//! are queued and run, in order, by [`ConsumerCoordinator::invoke_completed_offset_commit_callbacks`]
//! inside the consumer's next `poll`/commit call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use prozess_network::{ClientEvent, KafkaClient, NodeId, TopicPartition};
use prozess_protocol::messages::offset_commit::request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use prozess_protocol::messages::offset_fetch::request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use prozess_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::error::Error;
use crate::offsets::OffsetAndMetadata;

/// Offsets to commit, by partition.
pub type Offsets = HashMap<TopicPartition, OffsetAndMetadata>;

/// Called with the offsets and the outcome of an async commit.
pub type OffsetCommitCallback = Box<dyn FnOnce(&Offsets, Result<(), Error>) + Send>;

/// Committed offsets by partition (`None`: nothing committed).
pub type CommittedOffsets = HashMap<TopicPartition, Option<OffsetAndMetadata>>;

pub use crate::group::membership::Generation;

/// What a coordinator response taught that the group membership must know
/// (the consumer passes it on: one coordinator and one generation per consumer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorFeedback {
    /// The coordinator must be looked up again.
    CoordinatorLost(String),
    /// A commit sent under `generation` failed with a group error.
    CommitError {
        /// The error code.
        code: ErrorCode,
        /// The generation the commit carried.
        generation: Generation,
    },
}

/// Identifies a commit or committed look-up started with this coordinator.
pub type RequestId = u64;

struct PendingCommit {
    id: RequestId,
    offsets: Offsets,
    generation: Generation,
    callback: Option<OffsetCommitCallback>,
    /// When its OffsetCommit was sent (for commit-latency).
    sent_at: Option<Instant>,
}

enum InFlight {
    FindCoordinator,
    Commit(PendingCommit),
    OffsetFetch {
        id: RequestId,
        partitions: Vec<TopicPartition>,
    },
}

/// Group coordinator client for offsets (Java's `ConsumerCoordinator`, commit part).
pub struct ConsumerCoordinator {
    group_id: Option<String>,
    group_instance_id: Option<String>,
    retry_backoff: Duration,
    coordinator: Option<NodeId>,
    find_backoff_until: Option<Instant>,
    generation: Generation,
    next_id: RequestId,
    /// Commits waiting for a coordinator, in order.
    pending_commits: VecDeque<PendingCommit>,
    /// Look-ups waiting for a coordinator.
    pending_fetches: VecDeque<(RequestId, Vec<TopicPartition>)>,
    in_flight: HashMap<(NodeId, i32), InFlight>,
    /// Finished async commits whose callbacks have yet to run, in order.
    completed_callbacks: VecDeque<(OffsetCommitCallback, Offsets, Result<(), Error>)>,
    /// Results of commits without a callback (sync), by id.
    commit_results: HashMap<RequestId, Result<(), Error>>,
    fetch_results: HashMap<RequestId, Result<CommittedOffsets, Error>>,
    auto_commit_interval: Option<Duration>,
    next_auto_commit: Option<Instant>,
    /// The group membership finds the coordinator (set with
    /// [`ConsumerCoordinator::use_group_coordinator`]): no lookups of our own.
    external_lookup: bool,
    feedback: Vec<CoordinatorFeedback>,
    /// OffsetCommit latency (ms), Java's commit sensor.
    commit_latency: prozess_network::WindowedStat,
    /// The last offset acknowledged per partition.
    last_committed: HashMap<TopicPartition, i64>,
}

impl std::fmt::Debug for ConsumerCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerCoordinator")
            .field("group_id", &self.group_id)
            .field("coordinator", &self.coordinator)
            .field("pending_commits", &self.pending_commits.len())
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

fn is_coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator
    )
}

impl ConsumerCoordinator {
    /// A coordinator client for `group_id` (None: commits fail with
    /// [`Error::InvalidGroupId`]). `auto_commit_interval` is set when
    /// auto-commit is on.
    pub fn new(
        group_id: Option<String>,
        group_instance_id: Option<String>,
        retry_backoff: Duration,
        auto_commit_interval: Option<Duration>,
        now: Instant,
    ) -> Self {
        ConsumerCoordinator {
            group_id,
            group_instance_id,
            retry_backoff,
            coordinator: None,
            find_backoff_until: None,
            generation: Generation::none(),
            next_id: 1,
            pending_commits: VecDeque::new(),
            pending_fetches: VecDeque::new(),
            in_flight: HashMap::new(),
            completed_callbacks: VecDeque::new(),
            commit_results: HashMap::new(),
            fetch_results: HashMap::new(),
            next_auto_commit: auto_commit_interval.map(|i| now + i),
            auto_commit_interval,
            external_lookup: false,
            feedback: Vec::new(),
            commit_latency: prozess_network::WindowedStat::new(now),
            last_committed: HashMap::new(),
        }
    }

    /// OffsetCommit latencies (ms), one event per response.
    pub fn commit_latency(&self) -> &prozess_network::WindowedStat {
        &self.commit_latency
    }

    /// The last offset of `tp` the coordinator acknowledged.
    pub fn last_committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.last_committed.get(tp).copied()
    }

    /// The group id.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }

    /// The known coordinator node.
    pub fn coordinator(&self) -> Option<NodeId> {
        self.coordinator
    }

    /// The generation commits are sent under (seam for group membership).
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Sets the generation (for the group membership code).
    pub fn set_generation(&mut self, generation: Generation) {
        self.generation = generation;
    }

    /// Forgets the coordinator (after NOT_COORDINATOR, disconnect, ...).
    pub fn mark_coordinator_unknown(&mut self, why: &str) {
        if let Some(node) = self.coordinator.take() {
            tracing::info!(node, why, "group coordinator marked unknown");
            if self.external_lookup {
                self.feedback
                    .push(CoordinatorFeedback::CoordinatorLost(why.to_string()));
            }
        }
    }

    /// Uses the coordinator the group membership found (`None`: not known
    /// yet; commits wait) instead of looking it up here.
    pub fn use_group_coordinator(&mut self, node: Option<NodeId>) {
        self.external_lookup = true;
        self.coordinator = node;
    }

    /// Back to looking the coordinator up here (manual assignment).
    pub fn use_own_lookup(&mut self) {
        self.external_lookup = false;
    }

    /// What the group membership must learn from commit responses.
    pub fn take_feedback(&mut self) -> Vec<CoordinatorFeedback> {
        std::mem::take(&mut self.feedback)
    }

    /// Restarts the auto-commit interval (after a commit that covered it).
    pub fn reset_auto_commit_timer(&mut self, now: Instant) {
        if let Some(i) = self.auto_commit_interval {
            self.next_auto_commit = Some(now + i);
        }
    }

    fn next_request_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn find_in_flight(&self) -> bool {
        self.in_flight
            .values()
            .any(|f| matches!(f, InFlight::FindCoordinator))
    }

    /// Queues an async commit; `callback` runs in a later poll/commit call.
    pub fn commit_async(&mut self, offsets: Offsets, callback: Option<OffsetCommitCallback>) {
        let id = self.next_request_id();
        let callback = callback.or_else(|| {
            Some(Box::new(|_: &Offsets, r: Result<(), Error>| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "async offset commit failed");
                }
            }))
        });
        self.enqueue_commit(id, offsets, callback);
    }

    /// An async commit that could not be sent (no valid generation): its
    /// callback gets `error` in a later poll/commit call, in order.
    pub fn fail_async(
        &mut self,
        offsets: Offsets,
        callback: Option<OffsetCommitCallback>,
        error: Error,
    ) {
        let id = self.next_request_id();
        let callback = callback.unwrap_or_else(|| {
            Box::new(|_: &Offsets, r: Result<(), Error>| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "async offset commit failed");
                }
            })
        });
        let commit = PendingCommit {
            id,
            offsets,
            generation: self.generation.clone(),
            callback: Some(callback),
            sent_at: None,
        };
        self.complete_commit(commit, Err(error));
    }

    /// Queues a commit whose result is fetched with [`Self::take_commit_result`].
    pub fn start_commit(&mut self, offsets: Offsets) -> RequestId {
        let id = self.next_request_id();
        self.enqueue_commit(id, offsets, None);
        id
    }

    fn enqueue_commit(
        &mut self,
        id: RequestId,
        offsets: Offsets,
        callback: Option<OffsetCommitCallback>,
    ) {
        let commit = PendingCommit {
            id,
            offsets,
            generation: self.generation.clone(),
            callback,
            sent_at: None,
        };
        if self.group_id.is_none() {
            self.complete_commit(commit, Err(Error::InvalidGroupId));
            return;
        }
        if commit.offsets.is_empty() {
            self.complete_commit(commit, Ok(()));
            return;
        }
        self.pending_commits.push_back(commit);
    }

    fn complete_commit(&mut self, commit: PendingCommit, result: Result<(), Error>) {
        if result.is_ok() {
            for (tp, om) in &commit.offsets {
                self.last_committed.insert(tp.clone(), om.offset);
            }
        }
        match commit.callback {
            Some(cb) => self
                .completed_callbacks
                .push_back((cb, commit.offsets, result)),
            None => {
                self.commit_results.insert(commit.id, result);
            }
        }
    }

    /// The result of a commit started with [`Self::start_commit`], once known.
    pub fn take_commit_result(&mut self, id: RequestId) -> Option<Result<(), Error>> {
        self.commit_results.remove(&id)
    }

    /// Starts an OffsetFetch for `partitions`.
    pub fn start_fetch_committed(&mut self, partitions: Vec<TopicPartition>) -> RequestId {
        let id = self.next_request_id();
        if self.group_id.is_none() {
            self.fetch_results.insert(id, Err(Error::InvalidGroupId));
        } else {
            self.pending_fetches.push_back((id, partitions));
        }
        id
    }

    /// The result of a look-up started with [`Self::start_fetch_committed`].
    pub fn take_fetch_result(&mut self, id: RequestId) -> Option<Result<CommittedOffsets, Error>> {
        self.fetch_results.remove(&id)
    }

    /// Whether a look-up is still pending or in flight.
    pub fn fetch_pending(&self, id: RequestId) -> bool {
        self.pending_fetches.iter().any(|(i, _)| *i == id)
            || self
                .in_flight
                .values()
                .any(|f| matches!(f, InFlight::OffsetFetch { id: i, .. } if *i == id))
    }

    /// Whether commits are queued or in flight.
    pub fn has_pending_commits(&self) -> bool {
        !self.pending_commits.is_empty()
            || self
                .in_flight
                .values()
                .any(|f| matches!(f, InFlight::Commit(_)))
    }

    /// Runs the callbacks of finished async commits, in the order the commits
    /// were made.
    pub fn invoke_completed_offset_commit_callbacks(&mut self) {
        while let Some((cb, offsets, result)) = self.completed_callbacks.pop_front() {
            cb(&offsets, result);
        }
    }

    /// The time the next auto-commit is due, if auto-commit is on.
    pub fn next_deadline(&self) -> Option<Instant> {
        let find = if self.coordinator.is_none()
            && (!self.pending_commits.is_empty() || !self.pending_fetches.is_empty())
        {
            self.find_backoff_until
        } else {
            None
        };
        [self.next_auto_commit, find].into_iter().flatten().min()
    }

    /// Auto-commit: commits `consumed()` asynchronously when the interval has passed.
    pub fn maybe_auto_commit(&mut self, now: Instant, consumed: impl FnOnce() -> Offsets) {
        let (Some(interval), Some(due)) = (self.auto_commit_interval, self.next_auto_commit) else {
            return;
        };
        if now < due {
            return;
        }
        self.next_auto_commit = Some(now + interval);
        let offsets = consumed();
        if offsets.is_empty() {
            return;
        }
        tracing::debug!(partitions = offsets.len(), "auto-committing offsets");
        self.commit_async(
            offsets,
            Some(Box::new(|offsets: &Offsets, r: Result<(), Error>| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, partitions = offsets.len(), "auto-commit failed");
                }
            })),
        );
    }

    /// Drives the coordinator: looks it up when work waits for it and sends
    /// queued commits and look-ups once it is known and ready.
    pub fn poll<C: KafkaClient>(&mut self, client: &mut C, now: Instant) {
        if self.group_id.is_none() {
            return;
        }
        let work = !self.pending_commits.is_empty() || !self.pending_fetches.is_empty();
        if !work {
            return;
        }
        match self.coordinator {
            None if self.external_lookup => {}
            None => self.lookup_coordinator(client, now),
            Some(node) => {
                if client.connection_failed(node) {
                    self.mark_coordinator_unknown("connection failed");
                    if !self.external_lookup {
                        self.lookup_coordinator(client, now);
                    }
                    return;
                }
                if !client.ready(node, now) {
                    return;
                }
                self.send_pending(client, node, now);
            }
        }
    }

    fn lookup_coordinator<C: KafkaClient>(&mut self, client: &mut C, now: Instant) {
        if self.find_in_flight() {
            return;
        }
        if let Some(t) = self.find_backoff_until {
            if now < t {
                return;
            }
        }
        let Some(node) = client.least_loaded_node(now) else {
            return;
        };
        if !client.ready(node, now) {
            return;
        }
        let Some(version) = client.api_version(node, ApiKey::FindCoordinator) else {
            return;
        };
        let group = self.group_id.clone().unwrap_or_default();
        let request = if version >= 4 {
            FindCoordinatorRequest {
                key_type: 0,
                coordinator_keys: vec![group],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key: group,
                key_type: 0,
                ..Default::default()
            }
        };
        match client.send(node, RequestBody::FindCoordinator(request), now) {
            Ok(corr) => {
                self.in_flight
                    .insert((node, corr), InFlight::FindCoordinator);
            }
            Err(e) => {
                tracing::debug!(error = %e, "FindCoordinator could not be sent");
                self.find_backoff_until = Some(now + self.retry_backoff);
            }
        }
    }

    fn send_pending<C: KafkaClient>(&mut self, client: &mut C, node: NodeId, now: Instant) {
        let group = self.group_id.clone().unwrap_or_default();
        while let Some(mut commit) = self.pending_commits.pop_front() {
            commit.sent_at = Some(now);
            let request = self.commit_request(&group, &commit.offsets, &commit.generation);
            match client.send(node, RequestBody::OffsetCommit(request), now) {
                Ok(corr) => {
                    self.in_flight
                        .insert((node, corr), InFlight::Commit(commit));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "OffsetCommit could not be sent");
                    self.pending_commits.push_front(commit);
                    return;
                }
            }
        }
        while let Some((id, partitions)) = self.pending_fetches.pop_front() {
            let version = client.api_version(node, ApiKey::OffsetFetch).unwrap_or(1);
            let request = fetch_request(&group, &partitions, version);
            match client.send(node, RequestBody::OffsetFetch(request), now) {
                Ok(corr) => {
                    self.in_flight
                        .insert((node, corr), InFlight::OffsetFetch { id, partitions });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "OffsetFetch could not be sent");
                    self.pending_fetches.push_front((id, partitions));
                    return;
                }
            }
        }
    }

    fn commit_request(
        &self,
        group: &str,
        offsets: &Offsets,
        generation: &Generation,
    ) -> OffsetCommitRequest {
        let mut by_topic: BTreeMap<&str, Vec<(&TopicPartition, &OffsetAndMetadata)>> =
            BTreeMap::new();
        for (tp, om) in offsets {
            by_topic
                .entry(tp.topic.as_str())
                .or_default()
                .push((tp, om));
        }
        let topics = by_topic
            .into_iter()
            .map(|(name, mut parts)| {
                parts.sort_by_key(|(tp, _)| tp.partition);
                OffsetCommitRequestTopic {
                    name: name.to_string(),
                    partitions: parts
                        .into_iter()
                        .map(|(tp, om)| OffsetCommitRequestPartition {
                            partition_index: tp.partition,
                            committed_offset: om.offset,
                            committed_leader_epoch: om.leader_epoch.unwrap_or(-1),
                            committed_metadata: Some(om.metadata.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }
            })
            .collect();
        OffsetCommitRequest {
            group_id: group.to_string(),
            generation_id_or_member_epoch: generation.generation_id,
            member_id: generation.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            retention_time_ms: -1,
            topics,
            ..Default::default()
        }
    }

    /// Handles a network event if it concerns the coordinator. Returns true if it did.
    pub fn handle_event(&mut self, event: &ClientEvent, now: Instant) -> bool {
        match event {
            ClientEvent::Response(r) => {
                let Some(req) = self.in_flight.remove(&(r.node, r.correlation_id)) else {
                    return false;
                };
                match (req, &r.body) {
                    (InFlight::FindCoordinator, ResponseBody::FindCoordinator(resp)) => {
                        self.handle_find_coordinator(resp, now)
                    }
                    (InFlight::Commit(c), ResponseBody::OffsetCommit(resp)) => {
                        let sent = c.sent_at.unwrap_or(now);
                        self.commit_latency.record(
                            crate::metrics::millis(now.saturating_duration_since(sent)),
                            now,
                        );
                        self.handle_commit(c, resp)
                    }
                    (InFlight::OffsetFetch { id, partitions }, ResponseBody::OffsetFetch(resp)) => {
                        self.handle_offset_fetch(id, partitions, resp)
                    }
                    (req, _) => {
                        self.fail(req, Error::Protocol("unexpected response type".into()), now)
                    }
                }
                true
            }
            ClientEvent::Disconnected {
                node,
                in_flight,
                cause,
            } => {
                let mut ours = false;
                for info in in_flight {
                    if let Some(req) = self.in_flight.remove(&(*node, info.correlation_id)) {
                        ours = true;
                        self.fail(req, Error::Network(cause.to_string()), now);
                    }
                }
                if self.coordinator == Some(*node) {
                    self.mark_coordinator_unknown("disconnected");
                }
                ours
            }
            ClientEvent::Timeout {
                node,
                correlation_id,
                ..
            } => match self.in_flight.remove(&(*node, *correlation_id)) {
                Some(req) => {
                    if self.coordinator == Some(*node) {
                        self.mark_coordinator_unknown("request timed out");
                    }
                    self.fail(req, Error::Timeout("coordinator request".into()), now);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    fn fail(&mut self, req: InFlight, error: Error, now: Instant) {
        match req {
            InFlight::FindCoordinator => {
                self.find_backoff_until = Some(now + self.retry_backoff);
            }
            InFlight::Commit(c) => self.complete_commit(c, Err(error)),
            InFlight::OffsetFetch { id, .. } => {
                self.fetch_results.insert(id, Err(error));
            }
        }
    }

    fn handle_find_coordinator(&mut self, resp: &FindCoordinatorResponse, now: Instant) {
        let (code, node) = match resp.coordinators.first() {
            Some(c) => (ErrorCode::from_i16(c.error_code), c.node_id),
            None => (ErrorCode::from_i16(resp.error_code), resp.node_id),
        };
        if code == ErrorCode::None && node >= 0 {
            // Its own connection, as the group members' (see
            // `CoordinatorLookup`): commits never wait behind fetches.
            let connection = prozess_network::coordinator_connection_id(node);
            tracing::debug!(node, connection, "found group coordinator");
            self.coordinator = Some(connection);
            self.find_backoff_until = None;
        } else {
            tracing::debug!(%code, "FindCoordinator failed: retrying after backoff");
            self.find_backoff_until = Some(now + self.retry_backoff);
            if !code.is_retriable() && code != ErrorCode::None {
                let err = Error::Kafka(code);
                while let Some(c) = self.pending_commits.pop_front() {
                    self.complete_commit(c, Err(err.clone()));
                }
                while let Some((id, _)) = self.pending_fetches.pop_front() {
                    self.fetch_results.insert(id, Err(err.clone()));
                }
            }
        }
    }

    fn handle_commit(&mut self, commit: PendingCommit, resp: &OffsetCommitResponse) {
        let mut first_error = None;
        for t in &resp.topics {
            for p in &t.partitions {
                let code = ErrorCode::from_i16(p.error_code);
                if code != ErrorCode::None && first_error.is_none() {
                    first_error =
                        Some((TopicPartition::new(t.name.clone(), p.partition_index), code));
                }
            }
        }
        let result = match first_error {
            None => Ok(()),
            Some((tp, code)) => {
                if is_coordinator_error(code) || code == ErrorCode::RequestTimedOut {
                    self.mark_coordinator_unknown(code.name());
                }
                tracing::debug!(%tp, %code, "offset commit failed");
                commit_error(self, &commit.generation, tp, code)
            }
        };
        self.complete_commit(commit, result);
    }

    fn handle_offset_fetch(
        &mut self,
        id: RequestId,
        partitions: Vec<TopicPartition>,
        resp: &OffsetFetchResponse,
    ) {
        // v8+: per group; v2-7: top level.
        let mut out: CommittedOffsets = partitions.iter().map(|tp| (tp.clone(), None)).collect();
        let mut error = None;
        let mut record = |tp: TopicPartition,
                          code: i16,
                          offset: i64,
                          epoch: i32,
                          metadata: &Option<String>,
                          error: &mut Option<ErrorCode>| {
            let code = ErrorCode::from_i16(code);
            if code != ErrorCode::None {
                error.get_or_insert(code);
                return;
            }
            if offset >= 0 {
                out.insert(
                    tp,
                    Some(OffsetAndMetadata {
                        offset,
                        leader_epoch: (epoch >= 0).then_some(epoch),
                        metadata: metadata.clone().unwrap_or_default(),
                    }),
                );
            }
        };
        if let Some(g) = resp.groups.first() {
            let code = ErrorCode::from_i16(g.error_code);
            if code != ErrorCode::None {
                error = Some(code);
            }
            for t in &g.topics {
                for p in &t.partitions {
                    record(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        p.error_code,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        &p.metadata,
                        &mut error,
                    );
                }
            }
        } else {
            let code = ErrorCode::from_i16(resp.error_code);
            if code != ErrorCode::None {
                error = Some(code);
            }
            for t in &resp.topics {
                for p in &t.partitions {
                    record(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        p.error_code,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        &p.metadata,
                        &mut error,
                    );
                }
            }
        }
        let result = match error {
            None => Ok(out),
            Some(code) => {
                if is_coordinator_error(code) {
                    self.mark_coordinator_unknown(code.name());
                }
                Err(Error::Kafka(code))
            }
        };
        self.fetch_results.insert(id, result);
    }
}

/// Java's mapping of OffsetCommit errors: group errors become
/// `CommitFailed`/`RebalanceInProgress` (and feedback for the membership);
/// retriable ones stay retriable.
fn commit_error(
    c: &mut ConsumerCoordinator,
    generation: &Generation,
    tp: TopicPartition,
    code: ErrorCode,
) -> Result<(), Error> {
    match code {
        ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId | ErrorCode::FencedInstanceId => {
            c.feedback.push(CoordinatorFeedback::CommitError {
                code,
                generation: generation.clone(),
            });
            Err(Error::CommitFailed(format!(
                "{code}: the commit (generation {}, member {:?}) cannot be completed since the \
                 consumer is not part of an active group for auto partition assignment; it is \
                 likely that the consumer was kicked out of the group (e.g. max.poll.interval.ms \
                 exceeded)",
                generation.generation_id, generation.member_id
            )))
        }
        ErrorCode::RebalanceInProgress => {
            c.feedback.push(CoordinatorFeedback::CommitError {
                code,
                generation: generation.clone(),
            });
            Err(Error::RebalanceInProgress)
        }
        code if code.is_retriable() => Err(Error::PartitionError { tp, code }),
        code => Err(Error::CommitFailed(format!("{code} for {tp}"))),
    }
}

fn fetch_request(group: &str, partitions: &[TopicPartition], version: i16) -> OffsetFetchRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    if version >= 8 {
        OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.to_string(),
                topics: Some(
                    by_topic
                        .into_iter()
                        .map(|(name, parts)| OffsetFetchRequestTopics {
                            name: name.to_string(),
                            partition_indexes: parts,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }],
            require_stable: true,
            ..Default::default()
        }
    } else {
        OffsetFetchRequest {
            group_id: group.to_string(),
            topics: Some(
                by_topic
                    .into_iter()
                    .map(|(name, parts)| OffsetFetchRequestTopic {
                        name: name.to_string(),
                        partition_indexes: parts,
                        ..Default::default()
                    })
                    .collect(),
            ),
            require_stable: version >= 7,
            ..Default::default()
        }
    }
}
