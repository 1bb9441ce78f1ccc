//! [`MockCluster`]: the handle tests hold, shared by the clients it makes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use prozess_network::mock::MockTime;
use prozess_protocol::records::{Compression, MemoryRecordsBuilder};
use prozess_protocol::{ApiKey, ErrorCode};

use crate::client::MockClusterClient;
use crate::group::GroupState;
use crate::state::{ClusterConfig, ClusterState, Fault};

/// An in-process Kafka cluster. Cloning gives another handle to the same
/// cluster.
///
/// ```
/// use std::time::Duration;
/// use prozess_mock::MockCluster;
/// use prozess_protocol::{ApiKey, ErrorCode};
///
/// let cluster = MockCluster::new(2);
/// cluster.create_topic("orders", 2);
/// let offset = cluster.produce("orders", 0, &[(None, b"first".as_slice())]).unwrap();
/// assert_eq!(offset, 0);
/// assert_eq!(cluster.high_watermark("orders", 0), Some(1));
///
/// // Faults: the next Fetch gets NOT_LEADER_OR_FOLLOWER; the leader moves.
/// cluster.fail_next(ApiKey::Fetch, ErrorCode::NotLeaderOrFollower, 1);
/// let (leader, epoch) = cluster.leader("orders", 0).unwrap();
/// cluster.move_leader("orders", 0, (leader + 1) % 2);
/// assert_eq!(cluster.leader("orders", 0), Some(((leader + 1) % 2, epoch + 1)));
///
/// // Time is the cluster's MockTime: nothing happens until a test moves it.
/// cluster.advance(Duration::from_secs(1));
/// ```
#[derive(Clone, Debug)]
pub struct MockCluster {
    pub(crate) state: Arc<Mutex<ClusterState>>,
    pub(crate) time: MockTime,
    next_conn: Arc<AtomicU64>,
}

impl MockCluster {
    /// A cluster of `brokers` brokers (ids 0..brokers, at least one) with
    /// Apache Kafka's defaults and a fresh [`MockTime`].
    pub fn new(brokers: i32) -> Self {
        MockCluster::with_config(brokers, ClusterConfig::default(), MockTime::new())
    }

    /// A cluster with the given broker settings and clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use prozess_mock::{ClusterConfig, MockCluster, MockTime};
    ///
    /// let config = ClusterConfig {
    ///     auto_create_topics: false,
    ///     group_initial_rebalance_delay: Duration::ZERO,
    ///     ..ClusterConfig::default()
    /// };
    /// let cluster = MockCluster::with_config(1, config, MockTime::new());
    /// assert_eq!(cluster.partition_count("nope"), None);
    /// ```
    pub fn with_config(brokers: i32, config: ClusterConfig, time: MockTime) -> Self {
        MockCluster {
            state: Arc::new(Mutex::new(ClusterState::new(brokers, config))),
            time,
            next_conn: Arc::new(AtomicU64::new(1)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_connection(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The cluster's clock, shared with its clients.
    pub fn time(&self) -> MockTime {
        self.time.clone()
    }

    /// Moves the clock forward and lets the cluster act on it (sessions
    /// expire, join phases end, fetch waits end).
    pub fn advance(&self, d: Duration) {
        self.time.advance(d);
        self.lock().tick(self.time.now());
    }

    /// An in-process client on this cluster and its clock: see
    /// [`MockClusterClient`]. A poll with nothing to deliver moves the clock
    /// to its next deadline (as long as a real blocking poll would wait).
    pub fn client(&self) -> MockClusterClient {
        MockClusterClient::new(self.clone(), true)
    }

    /// A client for code that runs on a thread of its own with the real
    /// clock (the producer's I/O thread): it never moves the [`MockTime`],
    /// and a poll with nothing to deliver waits (for real) until woken, or
    /// for at most its timeout.
    pub fn client_for_thread(&self) -> MockClusterClient {
        MockClusterClient::new(self.clone(), false)
    }

    /// Creates a topic with `partitions` partitions, leaders round robin
    /// over the brokers, epoch 0. False if it already exists.
    pub fn create_topic(&self, name: &str, partitions: i32) -> bool {
        self.lock().create_topic(name, partitions)
    }

    /// The number of partitions of `topic`.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.lock().topics.get(topic).map(|t| t.partitions.len())
    }

    /// The high watermark (log end offset; every replica is in sync here).
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.lock()
            .partition(topic, partition)
            .map(|p| p.high_watermark())
    }

    /// The log start offset.
    pub fn log_start_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.lock().partition(topic, partition).map(|p| p.log_start)
    }

    /// Moves the log start offset forward (as DeleteRecords or retention
    /// would), so fetches below it get OFFSET_OUT_OF_RANGE.
    pub fn delete_records_before(&self, topic: &str, partition: i32, offset: i64) -> bool {
        let mut s = self.lock();
        match s.partition_mut(topic, partition) {
            Some(p) if offset <= p.high_watermark() => {
                p.log_start = p.log_start.max(offset);
                true
            }
            _ => false,
        }
    }

    /// Appends a record batch (v2 bytes, any base offset) as a producer
    /// would; returns the base offset it got.
    pub fn append_batch(
        &self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<i64, ErrorCode> {
        let now = self.time.now();
        self.lock().append(topic, partition, batch, now)
    }

    /// Appends records (key, value) as one uncompressed batch timestamped
    /// with the wall clock; returns the first record's offset.
    pub fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[(Option<&[u8]>, &[u8])],
    ) -> Result<i64, ErrorCode> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut b = MemoryRecordsBuilder::new(0, Compression::None);
        for (k, v) in records {
            b.append(now_ms, *k, Some(v), &[])
                .map_err(|_| ErrorCode::CorruptMessage)?;
        }
        let batch = b.build().map_err(|_| ErrorCode::CorruptMessage)?;
        self.append_batch(topic, partition, batch)
    }

    /// The leader of a partition and its epoch.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        self.lock()
            .partition(topic, partition)
            .map(|p| (p.leader, p.leader_epoch))
    }

    /// Makes `broker` the partition's leader and bumps the leader epoch:
    /// requests to the old leader get NOT_LEADER_OR_FOLLOWER, requests with
    /// the old epoch FENCED_LEADER_EPOCH.
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) -> bool {
        let mut s = self.lock();
        if !s.brokers.contains_key(&broker) {
            return false;
        }
        match s.partition_mut(topic, partition) {
            Some(p) => {
                p.leader = broker;
                p.leader_epoch += 1;
                tracing::info!(
                    topic,
                    partition,
                    broker,
                    epoch = p.leader_epoch,
                    "mock cluster: leader moved"
                );
                true
            }
            None => false,
        }
    }

    /// Moves the leader as [`move_leader`](Self::move_leader) and drops the
    /// records from `offset` on, as an unclean leader election loses them
    /// (for tests of KIP-320 truncation detection).
    pub fn move_leader_truncating(
        &self,
        topic: &str,
        partition: i32,
        broker: i32,
        offset: i64,
    ) -> bool {
        if !self.move_leader(topic, partition, broker) {
            return false;
        }
        if let Some(p) = self.lock().partition_mut(topic, partition) {
            p.truncate_to(offset);
        }
        true
    }

    /// The next `count` requests of `api` (to any broker) are answered with
    /// `code` instead of being handled.
    pub fn fail_next(&self, api: ApiKey, code: ErrorCode, count: usize) {
        self.push_fault(api, None, code, count);
    }

    /// Like [`fail_next`](Self::fail_next), for requests to one broker.
    pub fn fail_next_on(&self, broker: i32, api: ApiKey, code: ErrorCode, count: usize) {
        self.push_fault(api, Some(broker), code, count);
    }

    fn push_fault(&self, api: ApiKey, broker: Option<i32>, code: ErrorCode, count: usize) {
        if count > 0 {
            self.lock().faults.push(Fault {
                api,
                broker,
                code,
                remaining: count,
            });
        }
    }

    /// Stops a broker: its connections close, it leaves the metadata, the
    /// partitions it led get a new leader among the live replicas (epoch
    /// bumped; with none left, no leader: LEADER_NOT_AVAILABLE) and groups
    /// it coordinated move to another broker (state and offsets kept), until
    /// [`revive_broker`](Self::revive_broker).
    pub fn kill_broker(&self, broker: i32) -> bool {
        let mut s = self.lock();
        match s.brokers.get_mut(&broker) {
            Some(b) => b.alive = false,
            None => return false,
        }
        tracing::info!(broker, "mock cluster: broker killed");
        // The controller elects new leaders from the (always in-sync)
        // replicas that are up, bumping the epochs.
        let alive: Vec<i32> = s
            .brokers
            .iter()
            .filter(|(_, b)| b.alive)
            .map(|(&id, _)| id)
            .collect();
        for t in s.topics.values_mut() {
            for p in t.partitions.iter_mut().filter(|p| p.leader == broker) {
                if let Some(&next) = p.replicas.iter().find(|r| alive.contains(r)) {
                    p.leader = next;
                    p.leader_epoch += 1;
                }
            }
        }
        true
    }

    /// Starts a killed broker again.
    pub fn revive_broker(&self, broker: i32) -> bool {
        match self.lock().brokers.get_mut(&broker) {
            Some(b) => {
                b.alive = true;
                tracing::info!(broker, "mock cluster: broker revived");
                true
            }
            None => false,
        }
    }

    /// Whether `broker` is up.
    pub fn is_alive(&self, broker: i32) -> bool {
        self.lock().is_alive(broker)
    }

    /// The offset group `group` committed for a partition.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.lock()
            .groups
            .get(group)?
            .offsets
            .get(&(topic.to_string(), partition))
            .map(|c| c.0)
    }

    /// A group's state, generation and member ids.
    pub fn group(&self, group: &str) -> Option<(GroupState, i32, Vec<String>)> {
        self.lock()
            .groups
            .get(group)
            .map(|g| (g.state, g.generation, g.members.keys().cloned().collect()))
    }

    /// How many requests of `api` the cluster handled.
    pub fn request_count(&self, api: ApiKey) -> usize {
        self.lock().request_counts.get(&api).copied().unwrap_or(0)
    }

    /// Serves the cluster on 127.0.0.1: one listener (and thread) per
    /// broker, on ports the OS picks; the brokers' advertised addresses
    /// become those. The cluster's clock still decides group timeouts and
    /// fetch waits: with sockets, advance it from the test (or keep
    /// [`ServedCluster::set_real_time`] on, the default, so a thread moves it
    /// along with the wall clock).
    pub fn bootstrap(&self) -> std::io::Result<ServedCluster> {
        crate::server::serve(self.clone())
    }
}

pub use crate::server::ServedCluster;
