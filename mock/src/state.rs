//! The cluster as a sans-IO state machine: requests in (with the broker they
//! were sent to, their version and the cluster's `now`), responses out, some
//! of them later (a Fetch waiting for data, a JoinGroup waiting for the
//! group). No sockets and no clock of its own.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prozess_protocol::messages::*;
use prozess_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};

use crate::group::{Completions, Group};
use crate::log::PartitionLog;

/// Topics and their partitions, as OffsetFetch lists them.
type TopicList = Vec<(String, Vec<i32>)>;

/// Identifies a request held by the cluster: (connection, correlation id).
pub type RequestId = (u64, i32);

/// What the cluster does with a request.
#[derive(Debug)]
pub enum Reply {
    /// The response, now.
    Now(ResponseBody),
    /// Held; it comes out of [`ClusterState::take_completed`] later.
    Held,
    /// No response at all (Produce with acks=0).
    NoResponse,
}

/// The APIs the mock cluster answers, with the version range it advertises.
pub(crate) const SUPPORTED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::InitProducerId,
    ApiKey::OffsetForLeaderEpoch,
];

#[derive(Debug, Clone)]
pub(crate) struct BrokerInfo {
    pub host: String,
    pub port: u16,
    pub alive: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub id: Uuid,
    pub partitions: Vec<PartitionLog>,
}

/// An injected error: the next `remaining` requests of `api` (to `broker`,
/// if set) are answered with `code`.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub api: ApiKey,
    pub broker: Option<i32>,
    pub code: ErrorCode,
    pub remaining: usize,
}

#[derive(Debug)]
struct HeldFetch {
    id: RequestId,
    broker: i32,
    version: i16,
    request: FetchRequest,
    deadline: Instant,
}

/// Broker settings the mock follows (Apache Kafka's names and defaults).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `auto.create.topics.enable` (default true).
    pub auto_create_topics: bool,
    /// `num.partitions` for auto-created topics (default 1).
    pub default_partitions: i32,
    /// `group.initial.rebalance.delay.ms` (default 3 s).
    pub group_initial_rebalance_delay: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            auto_create_topics: true,
            default_partitions: 1,
            group_initial_rebalance_delay: Duration::from_millis(3000),
        }
    }
}

/// The whole cluster's state. See the module docs.
#[derive(Debug)]
pub struct ClusterState {
    pub(crate) config: ClusterConfig,
    pub(crate) brokers: BTreeMap<i32, BrokerInfo>,
    pub(crate) topics: BTreeMap<String, Topic>,
    pub(crate) groups: HashMap<String, Group>,
    pub(crate) faults: Vec<Fault>,
    held_fetches: Vec<HeldFetch>,
    completed: VecDeque<(RequestId, ResponseBody)>,
    next_topic_id: u128,
    next_producer_id: i64,
    /// Requests handled, per API (for assertions).
    pub(crate) request_counts: HashMap<ApiKey, usize>,
}

impl ClusterState {
    /// A cluster of `brokers` brokers (ids 0.., at least one), no topics.
    pub fn new(brokers: i32, config: ClusterConfig) -> Self {
        let brokers = (0..brokers.max(1))
            .map(|id| {
                (
                    id,
                    BrokerInfo {
                        host: "mock-broker".to_string(),
                        port: 9092 + id as u16,
                        alive: true,
                    },
                )
            })
            .collect();
        ClusterState {
            config,
            brokers,
            topics: BTreeMap::new(),
            groups: HashMap::new(),
            faults: Vec::new(),
            held_fetches: Vec::new(),
            completed: VecDeque::new(),
            next_topic_id: 1,
            next_producer_id: 1000,
            request_counts: HashMap::new(),
        }
    }

    pub(crate) fn is_alive(&self, broker: i32) -> bool {
        self.brokers.get(&broker).is_some_and(|b| b.alive)
    }

    fn alive_brokers(&self) -> Vec<i32> {
        self.brokers
            .iter()
            .filter(|(_, b)| b.alive)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Creates a topic; leaders round robin over the brokers. False if it exists.
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> bool {
        if self.topics.contains_key(name) {
            return false;
        }
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let offset = self.topics.len();
        let partitions = (0..partitions.max(1) as usize)
            .map(|p| {
                let leader = ids[(p + offset) % ids.len()];
                PartitionLog::new(leader, ids.clone())
            })
            .collect();
        let id = Uuid::from_u128(0x6d6f_636b_0000_0000_0000_0000_0000_0000 | self.next_topic_id);
        self.next_topic_id += 1;
        self.topics
            .insert(name.to_string(), Topic { id, partitions });
        true
    }

    pub(crate) fn partition_mut(&mut self, topic: &str, p: i32) -> Option<&mut PartitionLog> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(usize::try_from(p).ok()?)
    }

    pub(crate) fn partition(&self, topic: &str, p: i32) -> Option<&PartitionLog> {
        self.topics
            .get(topic)?
            .partitions
            .get(usize::try_from(p).ok()?)
    }

    fn topic_name_by_id(&self, id: Uuid) -> Option<String> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| n.clone())
    }

    /// The coordinator of a group: a hash of its id over the live brokers.
    pub(crate) fn coordinator_for(&self, key: &str) -> Option<i32> {
        let alive = self.alive_brokers();
        if alive.is_empty() {
            return None;
        }
        // Stable over runs: a fixed FNV-1a hash, not the std RandomState.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let all: Vec<i32> = self.brokers.keys().copied().collect();
        let preferred = all[(h % all.len() as u64) as usize];
        if self.is_alive(preferred) {
            Some(preferred)
        } else {
            Some(alive[(h % alive.len() as u64) as usize])
        }
    }

    fn take_fault(&mut self, api: ApiKey, broker: i32) -> Option<ErrorCode> {
        let i = self.faults.iter().position(|f| {
            f.api == api && f.broker.is_none_or(|b| b == broker) && f.remaining > 0
        })?;
        let f = &mut self.faults[i];
        f.remaining -= 1;
        let code = f.code;
        if f.remaining == 0 {
            self.faults.remove(i);
        }
        Some(code)
    }

    /// Handles one request sent to `broker` in `version` at the cluster's
    /// `now`. `id` names the request if it is held (a Fetch waiting for
    /// data, a JoinGroup or SyncGroup waiting for the group): its response
    /// comes later from [`take_completed`](Self::take_completed)`(id.0)`,
    /// after [`tick`](Self::tick) or other requests moved things on.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use prozess_mock::{ClusterConfig, ClusterState, Reply};
    /// use prozess_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
    /// use prozess_protocol::messages::FetchRequest;
    ///
    /// let mut cluster = ClusterState::new(1, ClusterConfig::default());
    /// cluster.create_topic("t", 1);
    /// let fetch = FetchRequest {
    ///     max_wait_ms: 500,
    ///     min_bytes: 1,
    ///     max_bytes: 1 << 20,
    ///     topics: vec![FetchTopic {
    ///         topic: "t".into(),
    ///         partitions: vec![FetchPartition {
    ///             partition_max_bytes: 1 << 20,
    ///             current_leader_epoch: -1,
    ///             last_fetched_epoch: -1,
    ///             ..Default::default()
    ///         }],
    ///         ..Default::default()
    ///     }],
    ///     ..Default::default()
    /// };
    /// let t0 = Instant::now();
    /// // An empty partition: the fetch waits up to max_wait_ms.
    /// let reply = cluster.handle((1, 7), 0, 12, "test", fetch.into(), t0);
    /// assert!(matches!(reply, Reply::Held));
    /// cluster.tick(t0 + Duration::from_millis(500));
    /// let done = cluster.take_completed(1);
    /// assert_eq!(done[0].0, (1, 7));
    /// ```
    pub fn handle(
        &mut self,
        id: RequestId,
        broker: i32,
        version: i16,
        client_id: &str,
        body: RequestBody,
        now: Instant,
    ) -> Reply {
        let api = body.api_key();
        *self.request_counts.entry(api).or_default() += 1;
        tracing::debug!(broker, api = api.name(), version, "mock cluster: request");
        if let Some(code) = self.take_fault(api, broker) {
            return Reply::Now(crate::faults::error_response(&body, code));
        }
        let acks_zero = matches!(&body, RequestBody::Produce(p) if p.acks == 0);
        let reply: Option<ResponseBody> = match body {
            RequestBody::ApiVersions(_) => Some(self.api_versions().into()),
            RequestBody::Metadata(r) => Some(self.metadata(&r, version).into()),
            RequestBody::Produce(r) => Some(self.produce(broker, &r, now).into()),
            RequestBody::Fetch(r) => return self.fetch(id, broker, version, r, now),
            RequestBody::ListOffsets(r) => Some(self.list_offsets(broker, &r).into()),
            RequestBody::OffsetForLeaderEpoch(r) => {
                Some(self.offset_for_leader_epoch(broker, &r).into())
            }
            RequestBody::FindCoordinator(r) => Some(self.find_coordinator(&r, version).into()),
            RequestBody::InitProducerId(_) => {
                self.next_producer_id += 1;
                Some(
                    InitProducerIdResponse {
                        producer_id: self.next_producer_id,
                        producer_epoch: 0,
                        ..Default::default()
                    }
                    .into(),
                )
            }
            RequestBody::CreateTopics(r) => Some(self.create_topics(&r).into()),
            RequestBody::DeleteTopics(r) => Some(self.delete_topics(&r).into()),
            RequestBody::OffsetCommit(r) => Some(self.offset_commit(broker, &r).into()),
            RequestBody::OffsetFetch(r) => Some(self.offset_fetch(broker, &r, version).into()),
            RequestBody::JoinGroup(r) => {
                if let Some(code) = self.not_coordinator(broker, &r.group_id) {
                    Some(
                        JoinGroupResponse {
                            error_code: code.code(),
                            generation_id: -1,
                            ..Default::default()
                        }
                        .into(),
                    )
                } else {
                    let delay = self.config.group_initial_rebalance_delay;
                    let mut out = Vec::new();
                    let g = self
                        .groups
                        .entry(r.group_id.clone())
                        .or_insert_with(Group::new);
                    let reply = g.join(id, version, &r, client_id, now, delay, &mut out);
                    self.completed.extend(out);
                    reply.map(Into::into)
                }
            }
            RequestBody::SyncGroup(r) => {
                if let Some(code) = self.not_coordinator(broker, &r.group_id) {
                    Some(
                        SyncGroupResponse {
                            error_code: code.code(),
                            ..Default::default()
                        }
                        .into(),
                    )
                } else {
                    let mut out = Vec::new();
                    let reply = match self.groups.get_mut(&r.group_id) {
                        Some(g) => g.sync(id, &r, now, &mut out),
                        None => Some(SyncGroupResponse {
                            error_code: ErrorCode::UnknownMemberId.code(),
                            ..Default::default()
                        }),
                    };
                    self.completed.extend(out);
                    reply.map(Into::into)
                }
            }
            RequestBody::Heartbeat(r) => {
                let code = self.not_coordinator(broker, &r.group_id);
                Some(
                    match (code, self.groups.get_mut(&r.group_id)) {
                        (Some(code), _) => HeartbeatResponse {
                            error_code: code.code(),
                            ..Default::default()
                        },
                        (None, Some(g)) => g.heartbeat(&r, now),
                        (None, None) => HeartbeatResponse {
                            error_code: ErrorCode::UnknownMemberId.code(),
                            ..Default::default()
                        },
                    }
                    .into(),
                )
            }
            RequestBody::LeaveGroup(r) => Some(self.leave_group(broker, &r, now).into()),
            other => {
                tracing::warn!(
                    api = other.api_key().name(),
                    "mock cluster: API not modelled"
                );
                Some(crate::faults::error_response(
                    &other,
                    ErrorCode::UnsupportedVersion,
                ))
            }
        };
        match reply {
            _ if acks_zero => Reply::NoResponse,
            Some(r) => Reply::Now(r),
            None => Reply::Held,
        }
    }

    fn not_coordinator(&self, broker: i32, group: &str) -> Option<ErrorCode> {
        match self.coordinator_for(group) {
            Some(c) if c == broker => None,
            Some(_) => Some(ErrorCode::NotCoordinator),
            None => Some(ErrorCode::CoordinatorNotAvailable),
        }
    }

    fn api_versions(&self) -> ApiVersionsResponse {
        ApiVersionsResponse {
            api_keys: SUPPORTED
                .iter()
                .map(|k| {
                    let (min, max) = k.supported_versions();
                    api_versions::response::ApiVersion {
                        api_key: k.code(),
                        min_version: min,
                        max_version: max,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        }
    }

    fn metadata(&mut self, r: &MetadataRequest, _version: i16) -> MetadataResponse {
        use metadata::response::*;
        let names: Vec<String> = match &r.topics {
            None => self.topics.keys().cloned().collect(),
            Some(ts) => ts
                .iter()
                .filter_map(|t| t.name.clone().or_else(|| self.topic_name_by_id(t.topic_id)))
                .collect(),
        };
        let mut topics = Vec::new();
        for name in names {
            if !self.topics.contains_key(&name)
                && r.allow_auto_topic_creation
                && self.config.auto_create_topics
                && valid_topic_name(&name)
            {
                let n = self.config.default_partitions;
                self.create_topic(&name, n);
                // As Kafka: the first answer after auto-creation has no leader yet.
                topics.push(MetadataResponseTopic {
                    error_code: ErrorCode::LeaderNotAvailable.code(),
                    name: Some(name.clone()),
                    topic_id: self.topics[&name].id,
                    ..Default::default()
                });
                continue;
            }
            let Some(t) = self.topics.get(&name) else {
                topics.push(MetadataResponseTopic {
                    error_code: if valid_topic_name(&name) {
                        ErrorCode::UnknownTopicOrPartition.code()
                    } else {
                        ErrorCode::InvalidTopicException.code()
                    },
                    name: Some(name),
                    ..Default::default()
                });
                continue;
            };
            let partitions = t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let alive = self.is_alive(p.leader);
                    let isr: Vec<i32> = p
                        .replicas
                        .iter()
                        .copied()
                        .filter(|&b| self.is_alive(b))
                        .collect();
                    MetadataResponsePartition {
                        error_code: if alive {
                            0
                        } else {
                            ErrorCode::LeaderNotAvailable.code()
                        },
                        partition_index: i as i32,
                        leader_id: if alive { p.leader } else { -1 },
                        leader_epoch: p.leader_epoch,
                        replica_nodes: p.replicas.clone(),
                        offline_replicas: p
                            .replicas
                            .iter()
                            .copied()
                            .filter(|&b| !self.is_alive(b))
                            .collect(),
                        isr_nodes: isr,
                        ..Default::default()
                    }
                })
                .collect();
            topics.push(MetadataResponseTopic {
                name: Some(name.clone()),
                topic_id: t.id,
                partitions,
                ..Default::default()
            });
        }
        MetadataResponse {
            brokers: self
                .brokers
                .iter()
                .filter(|(_, b)| b.alive)
                .map(|(&id, b)| MetadataResponseBroker {
                    node_id: id,
                    host: b.host.clone(),
                    port: i32::from(b.port),
                    ..Default::default()
                })
                .collect(),
            cluster_id: Some("prozess-mock-cluster".to_string()),
            controller_id: self.alive_brokers().first().copied().unwrap_or(-1),
            topics,
            ..Default::default()
        }
    }

    /// Leader and epoch checks shared by Produce, Fetch and ListOffsets.
    fn check_leader(
        &self,
        broker: i32,
        topic: &str,
        p: i32,
        current_epoch: i32,
    ) -> Result<(), ErrorCode> {
        let Some(log) = self.partition(topic, p) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        if log.leader != broker {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if current_epoch >= 0 && current_epoch < log.leader_epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if current_epoch > log.leader_epoch {
            return Err(ErrorCode::UnknownLeaderEpoch);
        }
        Ok(())
    }

    fn produce(&mut self, broker: i32, r: &ProduceRequest, _now: Instant) -> ProduceResponse {
        use produce::response::*;
        let mut responses = Vec::new();
        for t in &r.topic_data {
            let mut parts = Vec::new();
            for p in &t.partition_data {
                let mut resp = PartitionProduceResponse {
                    index: p.index,
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    ..Default::default()
                };
                let result = self
                    .check_leader(broker, &t.name, p.index, -1)
                    .and_then(|()| {
                        let records = p.records.clone().unwrap_or_default();
                        let log = self
                            .partition_mut(&t.name, p.index)
                            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
                        let a = log.append(&records)?;
                        Ok((a.base_offset, log.log_start))
                    });
                match result {
                    Ok((base, start)) => {
                        resp.base_offset = base;
                        resp.log_start_offset = start;
                    }
                    Err(code) => resp.error_code = code.code(),
                }
                if let Some(log) = self.partition(&t.name, p.index) {
                    resp.current_leader = LeaderIdAndEpoch {
                        leader_id: log.leader,
                        leader_epoch: log.leader_epoch,
                        ..Default::default()
                    };
                }
                parts.push(resp);
            }
            responses.push(TopicProduceResponse {
                name: t.name.clone(),
                partition_responses: parts,
                ..Default::default()
            });
        }
        // New data may complete fetches waiting for it.
        self.poll_fetches(_now, false);
        ProduceResponse {
            responses,
            ..Default::default()
        }
    }

    fn fetch(
        &mut self,
        id: RequestId,
        broker: i32,
        version: i16,
        r: FetchRequest,
        now: Instant,
    ) -> Reply {
        let (resp, bytes, any_error) = self.read_fetch(broker, version, &r);
        let enough = bytes >= r.min_bytes.max(0) as usize;
        if enough || any_error || r.max_wait_ms <= 0 {
            return Reply::Now(resp.into());
        }
        self.held_fetches.push(HeldFetch {
            id,
            broker,
            version,
            deadline: now + Duration::from_millis(r.max_wait_ms as u64),
            request: r,
        });
        Reply::Held
    }

    /// Builds a fetch response: (response, record bytes, whether any
    /// partition has an error).
    fn read_fetch(
        &self,
        broker: i32,
        version: i16,
        r: &FetchRequest,
    ) -> (FetchResponse, usize, bool) {
        use fetch::response::*;
        let mut total = 0usize;
        let max_bytes = if r.max_bytes <= 0 {
            usize::MAX
        } else {
            r.max_bytes as usize
        };
        let mut any_error = false;
        let mut responses = Vec::new();
        for t in &r.topics {
            let name = if version >= 13 {
                self.topic_name_by_id(t.topic_id)
            } else {
                Some(t.topic.clone())
            };
            let mut parts = Vec::new();
            for p in &t.partitions {
                let mut d = PartitionData {
                    partition_index: p.partition,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    preferred_read_replica: -1,
                    ..Default::default()
                };
                d.diverging_epoch.epoch = -1;
                d.diverging_epoch.end_offset = -1;
                d.current_leader.leader_id = -1;
                d.current_leader.leader_epoch = -1;
                d.snapshot_id.epoch = -1;
                d.snapshot_id.end_offset = -1;
                let Some(name) = name.as_deref() else {
                    d.error_code = ErrorCode::UnknownTopicId.code();
                    any_error = true;
                    parts.push(d);
                    continue;
                };
                if let Err(code) =
                    self.check_leader(broker, name, p.partition, p.current_leader_epoch)
                {
                    d.error_code = code.code();
                    if let Some(log) = self.partition(name, p.partition) {
                        d.current_leader.leader_id = log.leader;
                        d.current_leader.leader_epoch = log.leader_epoch;
                    }
                    any_error = true;
                    parts.push(d);
                    continue;
                }
                let log = self.partition(name, p.partition).expect("checked above");
                d.high_watermark = log.high_watermark();
                d.last_stable_offset = log.high_watermark();
                d.log_start_offset = log.log_start;
                // KIP-320: a fetch from an epoch whose log diverged from ours.
                if p.last_fetched_epoch >= 0 && version >= 12 {
                    let (epoch, end) = log.end_offset_for_epoch(p.last_fetched_epoch);
                    if epoch < p.last_fetched_epoch || end < p.fetch_offset {
                        d.diverging_epoch.epoch = epoch;
                        d.diverging_epoch.end_offset = end;
                        parts.push(d);
                        continue;
                    }
                }
                if p.fetch_offset < log.log_start || p.fetch_offset > log.high_watermark() {
                    d.error_code = ErrorCode::OffsetOutOfRange.code();
                    any_error = true;
                    parts.push(d);
                    continue;
                }
                let part_max =
                    (p.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
                let data = log.read(p.fetch_offset, part_max, total == 0);
                total += data.len();
                d.records = Some(data);
                parts.push(d);
            }
            responses.push(FetchableTopicResponse {
                topic: name.unwrap_or_else(|| t.topic.clone()),
                topic_id: t.topic_id,
                partitions: parts,
                ..Default::default()
            });
        }
        (
            FetchResponse {
                responses,
                ..Default::default()
            },
            total,
            any_error,
        )
    }

    /// Answers held fetches that have data now, or whose wait ended.
    fn poll_fetches(&mut self, now: Instant, force: bool) {
        let held = std::mem::take(&mut self.held_fetches);
        for h in held {
            let alive = self.is_alive(h.broker);
            let (resp, bytes, any_error) = self.read_fetch(h.broker, h.version, &h.request);
            if !alive {
                // Its connection is closed by the transport.
                continue;
            }
            if force
                || now >= h.deadline
                || any_error
                || bytes >= h.request.min_bytes.max(0) as usize
            {
                self.completed.push_back((h.id, resp.into()));
            } else {
                self.held_fetches.push(h);
            }
        }
    }

    fn list_offsets(&self, broker: i32, r: &ListOffsetsRequest) -> ListOffsetsResponse {
        use list_offsets::response::*;
        let topics = r
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut out = ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            timestamp: -1,
                            offset: -1,
                            leader_epoch: -1,
                            ..Default::default()
                        };
                        match self.check_leader(
                            broker,
                            &t.name,
                            p.partition_index,
                            p.current_leader_epoch,
                        ) {
                            Err(code) => out.error_code = code.code(),
                            Ok(()) => {
                                let log =
                                    self.partition(&t.name, p.partition_index).expect("checked");
                                out.leader_epoch = log.leader_epoch;
                                match p.timestamp {
                                    -2 => out.offset = log.log_start,
                                    // Latest, and (not modelled apart) max timestamp.
                                    -1 | -3 => out.offset = log.high_watermark(),
                                    ts => match log.offset_for_timestamp(ts) {
                                        Some((o, t, e)) => {
                                            out.offset = o;
                                            out.timestamp = t;
                                            out.leader_epoch = e;
                                        }
                                        None => out.leader_epoch = -1,
                                    },
                                }
                            }
                        }
                        out
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        ListOffsetsResponse {
            topics,
            ..Default::default()
        }
    }

    fn offset_for_leader_epoch(
        &self,
        broker: i32,
        r: &OffsetForLeaderEpochRequest,
    ) -> OffsetForLeaderEpochResponse {
        use offset_for_leader_epoch::response::*;
        let topics = r
            .topics
            .iter()
            .map(|t| OffsetForLeaderTopicResult {
                topic: t.topic.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut out = EpochEndOffset {
                            partition: p.partition,
                            leader_epoch: -1,
                            end_offset: -1,
                            ..Default::default()
                        };
                        match self.check_leader(
                            broker,
                            &t.topic,
                            p.partition,
                            p.current_leader_epoch,
                        ) {
                            Err(code) => out.error_code = code.code(),
                            Ok(()) => {
                                let log = self.partition(&t.topic, p.partition).expect("checked");
                                let (e, end) = log.end_offset_for_epoch(p.leader_epoch);
                                out.leader_epoch = e;
                                out.end_offset = end;
                            }
                        }
                        out
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        OffsetForLeaderEpochResponse {
            topics,
            ..Default::default()
        }
    }

    fn find_coordinator(
        &self,
        r: &FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        use find_coordinator::response::Coordinator;
        let lookup = |key: &str| match self.coordinator_for(key) {
            Some(id) => {
                let b = &self.brokers[&id];
                (0, id, b.host.clone(), i32::from(b.port))
            }
            None => (
                ErrorCode::CoordinatorNotAvailable.code(),
                -1,
                String::new(),
                -1,
            ),
        };
        if version >= 4 {
            FindCoordinatorResponse {
                coordinators: r
                    .coordinator_keys
                    .iter()
                    .map(|k| {
                        let (error_code, node_id, host, port) = lookup(k);
                        Coordinator {
                            key: k.clone(),
                            node_id,
                            host,
                            port,
                            error_code,
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }
        } else {
            let (error_code, node_id, host, port) = lookup(&r.key);
            FindCoordinatorResponse {
                error_code,
                node_id,
                host,
                port,
                ..Default::default()
            }
        }
    }

    fn create_topics(&mut self, r: &CreateTopicsRequest) -> CreateTopicsResponse {
        use create_topics::response::CreatableTopicResult;
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let mut out = CreatableTopicResult {
                    name: t.name.clone(),
                    num_partitions: -1,
                    replication_factor: -1,
                    ..Default::default()
                };
                let partitions = if t.num_partitions < 0 {
                    self.config.default_partitions
                } else {
                    t.num_partitions
                };
                if !valid_topic_name(&t.name) {
                    out.error_code = ErrorCode::InvalidTopicException.code();
                } else if self.topics.contains_key(&t.name) {
                    out.error_code = ErrorCode::TopicAlreadyExists.code();
                } else if partitions == 0 {
                    out.error_code = ErrorCode::InvalidPartitions.code();
                } else if i32::from(t.replication_factor) > self.brokers.len() as i32 {
                    out.error_code = ErrorCode::InvalidReplicationFactor.code();
                } else {
                    if !r.validate_only {
                        self.create_topic(&t.name, partitions);
                        out.topic_id = self.topics[&t.name].id;
                    }
                    out.num_partitions = partitions;
                    out.replication_factor = t.replication_factor.max(1);
                }
                out
            })
            .collect();
        CreateTopicsResponse {
            topics,
            ..Default::default()
        }
    }

    fn delete_topics(&mut self, r: &DeleteTopicsRequest) -> DeleteTopicsResponse {
        use delete_topics::response::DeletableTopicResult;
        let mut targets: Vec<(Option<String>, Uuid)> = r
            .topic_names
            .iter()
            .map(|n| (Some(n.clone()), Uuid::NIL))
            .collect();
        targets.extend(r.topics.iter().map(|t| (t.name.clone(), t.topic_id)));
        let responses = targets
            .into_iter()
            .map(|(name, id)| {
                let name = name.or_else(|| self.topic_name_by_id(id));
                let mut out = DeletableTopicResult {
                    name: name.clone(),
                    topic_id: id,
                    ..Default::default()
                };
                match name.and_then(|n| self.topics.remove(&n).map(|t| (n, t))) {
                    Some((_, t)) => out.topic_id = t.id,
                    None => {
                        out.error_code = if id.is_nil() {
                            ErrorCode::UnknownTopicOrPartition.code()
                        } else {
                            ErrorCode::UnknownTopicId.code()
                        }
                    }
                }
                out
            })
            .collect();
        DeleteTopicsResponse {
            responses,
            ..Default::default()
        }
    }

    fn offset_commit(&mut self, broker: i32, r: &OffsetCommitRequest) -> OffsetCommitResponse {
        use offset_commit::response::*;
        let code = self
            .not_coordinator(broker, &r.group_id)
            .unwrap_or_else(|| {
                let g = self
                    .groups
                    .entry(r.group_id.clone())
                    .or_insert_with(Group::new);
                g.validate_commit(
                    &r.member_id,
                    r.generation_id_or_member_epoch,
                    r.group_instance_id.as_ref(),
                )
            });
        let known: Vec<bool> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| self.partition(&t.name, p.partition_index).is_some())
            })
            .collect();
        let mut known = known.into_iter();
        let topics = r
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let exists = known.next().unwrap_or(false);
                        let mut c = code;
                        if !c.is_error() && !exists {
                            c = ErrorCode::UnknownTopicOrPartition;
                        }
                        if !c.is_error() {
                            if let Some(g) = self.groups.get_mut(&r.group_id) {
                                g.offsets.insert(
                                    (t.name.clone(), p.partition_index),
                                    (
                                        p.committed_offset,
                                        p.committed_leader_epoch,
                                        p.committed_metadata.clone(),
                                    ),
                                );
                            }
                        }
                        OffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code: c.code(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        OffsetCommitResponse {
            topics,
            ..Default::default()
        }
    }

    fn offset_fetch(
        &self,
        broker: i32,
        r: &OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        use offset_fetch::response::*;
        // (group, requested topics) in either layout.
        let requests: Vec<(String, Option<TopicList>)> = if version >= 8 {
            r.groups
                .iter()
                .map(|g| {
                    (
                        g.group_id.clone(),
                        g.topics.as_ref().map(|ts| {
                            ts.iter()
                                .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                                .collect()
                        }),
                    )
                })
                .collect()
        } else {
            vec![(
                r.group_id.clone(),
                r.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect()
                }),
            )]
        };
        let mut groups = Vec::new();
        for (group, topics) in requests {
            let code = self
                .not_coordinator(broker, &group)
                .unwrap_or(ErrorCode::None);
            let offsets = self.groups.get(&group).map(|g| &g.offsets);
            let wanted: Vec<(String, Vec<i32>)> = match topics {
                Some(t) => t,
                None => {
                    let mut m: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (t, p) in offsets.into_iter().flat_map(|o| o.keys()) {
                        m.entry(t.clone()).or_default().push(*p);
                    }
                    m.into_iter().collect()
                }
            };
            let topics: Vec<OffsetFetchResponseTopics> = if code.is_error() {
                Vec::new()
            } else {
                wanted
                    .into_iter()
                    .map(|(t, ps)| OffsetFetchResponseTopics {
                        partitions: ps
                            .into_iter()
                            .map(|p| {
                                let c = offsets.and_then(|o| o.get(&(t.clone(), p)));
                                OffsetFetchResponsePartitions {
                                    partition_index: p,
                                    committed_offset: c.map_or(-1, |c| c.0),
                                    committed_leader_epoch: c.map_or(-1, |c| c.1),
                                    metadata: c.and_then(|c| c.2.clone()).or(Some(String::new())),
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        name: t,
                        ..Default::default()
                    })
                    .collect()
            };
            groups.push(OffsetFetchResponseGroup {
                group_id: group,
                topics,
                error_code: code.code(),
                ..Default::default()
            });
        }
        if version >= 8 {
            OffsetFetchResponse {
                groups,
                ..Default::default()
            }
        } else {
            let g = groups.pop().unwrap_or_default();
            OffsetFetchResponse {
                error_code: g.error_code,
                topics: g
                    .topics
                    .into_iter()
                    .map(|t| OffsetFetchResponseTopic {
                        name: t.name,
                        partitions: t
                            .partitions
                            .into_iter()
                            .map(|p| OffsetFetchResponsePartition {
                                partition_index: p.partition_index,
                                committed_offset: p.committed_offset,
                                committed_leader_epoch: p.committed_leader_epoch,
                                metadata: p.metadata,
                                error_code: p.error_code,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        }
    }

    fn leave_group(
        &mut self,
        broker: i32,
        r: &LeaveGroupRequest,
        now: Instant,
    ) -> LeaveGroupResponse {
        use leave_group::response::MemberResponse;
        if let Some(code) = self.not_coordinator(broker, &r.group_id) {
            return LeaveGroupResponse {
                error_code: code.code(),
                ..Default::default()
            };
        }
        let mut ids: Vec<(String, Option<String>)> = r
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
            .collect();
        let v0 = ids.is_empty();
        if v0 {
            ids.push((r.member_id.clone(), None));
        }
        let mut out = Vec::new();
        let mut members = Vec::new();
        let mut top = ErrorCode::None;
        for (member, instance) in ids {
            let g = self.groups.get_mut(&r.group_id);
            let member_id = match (&instance, &g) {
                (Some(inst), Some(g)) if member.is_empty() => g
                    .members
                    .iter()
                    .find(|(_, m)| m.instance_id.as_ref() == Some(inst))
                    .map(|(k, _)| k.clone())
                    .unwrap_or_default(),
                _ => member.clone(),
            };
            let removed = g.is_some_and(|g| g.remove_member(&member_id, now, &mut out));
            let code = if removed {
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
            if v0 {
                top = code;
            }
            members.push(MemberResponse {
                member_id: member,
                group_instance_id: instance,
                error_code: code.code(),
                ..Default::default()
            });
        }
        self.completed.extend(out);
        LeaveGroupResponse {
            error_code: top.code(),
            members: if v0 { Vec::new() } else { members },
            ..Default::default()
        }
    }

    /// Advances the cluster to `now`: session expiry, join deadlines, fetch
    /// waits.
    pub fn tick(&mut self, now: Instant) {
        let mut out: Completions = Vec::new();
        for g in self.groups.values_mut() {
            g.tick(now, &mut out);
        }
        self.completed.extend(out);
        self.poll_fetches(now, false);
    }

    /// Responses to held requests of connection `conn` that are ready.
    pub fn take_completed(&mut self, conn: u64) -> Vec<(RequestId, ResponseBody)> {
        let (mine, rest): (VecDeque<_>, VecDeque<_>) =
            self.completed.drain(..).partition(|(id, _)| id.0 == conn);
        self.completed = rest;
        mine.into_iter().collect()
    }

    /// Forgets the held requests of a connection (it closed).
    pub fn drop_connection(&mut self, conn: u64) {
        self.held_fetches.retain(|h| h.id.0 != conn);
        self.completed.retain(|(id, _)| id.0 != conn);
        for g in self.groups.values_mut() {
            for m in g.members.values_mut() {
                if m.awaiting_join.is_some_and(|(id, _)| id.0 == conn) {
                    m.awaiting_join = None;
                }
                if m.awaiting_sync.is_some_and(|id| id.0 == conn) {
                    m.awaiting_sync = None;
                }
            }
        }
    }

    /// The earliest instant at which [`tick`](Self::tick) has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let fetches = self.held_fetches.iter().map(|h| h.deadline);
        let groups = self.groups.values().filter_map(Group::next_deadline);
        fetches.chain(groups).min()
    }

    /// Appends records to a partition directly (test set-up).
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: i32,
        records: Bytes,
        now: Instant,
    ) -> Result<i64, ErrorCode> {
        let log = self
            .partition_mut(topic, partition)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        let base = log.append(&records)?.base_offset;
        self.poll_fetches(now, false);
        Ok(base)
    }
}

/// Kafka's legal topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}
