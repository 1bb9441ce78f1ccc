//! The consumer's metrics (Java's `FetchManagerMetrics`,
//! `ConsumerCoordinatorMetrics`, `KafkaConsumerMetrics`) and its
//! librdkafka-style statistics document.
//!
//! Everything here is recorded per poll, per fetch response or per commit,
//! with the `now` the caller already has: never per record, never under a
//! lock. [`ConsumerMetrics::snapshot`] turns the counters into a
//! [`Metrics`] with Java's group and metric names.

use std::collections::HashMap;
use std::time::Instant;

use prozess_network::metrics::{brokers_statistics, statistics_times, StatisticsTimer};
use prozess_network::{ClientEvent, KafkaClient, Metrics, TopicPartition, WindowedStat};
use prozess_protocol::ResponseBody;
use serde_json::{json, Map, Value};

use crate::coordinator::ConsumerCoordinator;
use crate::subscription_state::{FetchState, SubscriptionState};

/// Java's group names.
pub const FETCH_MANAGER_GROUP: &str = "consumer-fetch-manager-metrics";
/// Java's group names.
pub const COORDINATOR_GROUP: &str = "consumer-coordinator-metrics";
/// Java's group names.
pub const CONSUMER_GROUP: &str = "consumer-metrics";

/// Called with each statistics document (JSON text).
pub type StatisticsHandler = Box<dyn FnMut(&str) + Send>;

/// Counts of one partition, for the per-partition metrics and statistics.
#[derive(Debug, Clone, Copy, Default)]
struct PartitionCounts {
    records: u64,
    bytes: u64,
}

/// The consumer's counters. See the module docs.
#[derive(Debug, Clone)]
pub struct ConsumerMetrics {
    created: Instant,
    /// Records handed to the application, one event per non-empty poll.
    records: WindowedStat,
    /// Record bytes per fetch response.
    fetch_bytes: WindowedStat,
    /// Fetch request latency (ms).
    fetch_latency: WindowedStat,
    /// Per topic, per partition (looked up by `&str` without allocating).
    partitions: HashMap<String, HashMap<i32, PartitionCounts>>,
    topic_records: HashMap<String, WindowedStat>,
    /// Rebalance latency (ms), one event per completed rebalance.
    rebalance_latency: WindowedStat,
    rebalance_started: Option<Instant>,
    failed_rebalances: u64,
    /// Time between poll starts (ms).
    time_between_poll: WindowedStat,
    /// Share of poll-to-poll time spent inside poll.
    poll_idle_ratio: WindowedStat,
    last_poll_start: Option<Instant>,
    since_last_poll_ms: f64,
    last_seen: Option<Instant>,
}

/// A duration in (fractional) milliseconds, the unit of Java's latencies.
pub fn millis(d: std::time::Duration) -> f64 {
    // From nanoseconds: whole milliseconds stay exact.
    d.as_nanos() as f64 / 1e6
}

impl ConsumerMetrics {
    /// Empty counters; windows start at `now`.
    pub fn new(now: Instant) -> Self {
        ConsumerMetrics {
            created: now,
            records: WindowedStat::new(now),
            fetch_bytes: WindowedStat::new(now),
            fetch_latency: WindowedStat::new(now),
            partitions: HashMap::new(),
            topic_records: HashMap::new(),
            rebalance_latency: WindowedStat::new(now),
            rebalance_started: None,
            failed_rebalances: 0,
            time_between_poll: WindowedStat::new(now),
            poll_idle_ratio: WindowedStat::new(now),
            last_poll_start: None,
            since_last_poll_ms: 0.0,
            last_seen: None,
        }
    }

    /// A poll starts (Java's `recordPollStart`).
    pub fn record_poll_start(&mut self, now: Instant) {
        self.since_last_poll_ms = self
            .last_poll_start
            .map_or(0.0, |t| millis(now.saturating_duration_since(t)));
        self.time_between_poll.record(self.since_last_poll_ms, now);
        self.last_poll_start = Some(now);
    }

    /// The poll loop's latest `now` (the end time of the poll, without a
    /// clock read of its own).
    pub fn note_time(&mut self, now: Instant) {
        self.last_seen = Some(now);
    }

    /// A poll ends at the last noted time (Java's `recordPollEnd`: the idle ratio is the time in
    /// poll over the time in poll plus the time since the previous poll).
    pub fn record_poll_end(&mut self) {
        let (Some(start), Some(now)) = (self.last_poll_start, self.last_seen) else {
            return;
        };
        let in_poll = millis(now.saturating_duration_since(start));
        let whole = in_poll + self.since_last_poll_ms;
        let ratio = if whole > 0.0 { in_poll / whole } else { 0.0 };
        self.poll_idle_ratio.record(ratio, now);
    }

    /// Records handed to the application by one poll: per partition, never
    /// per record.
    pub fn record_consumed<'a>(
        &mut self,
        per_partition: impl Iterator<Item = (&'a TopicPartition, usize)>,
        now: Instant,
    ) {
        let mut total = 0usize;
        for (tp, n) in per_partition {
            total += n;
            self.counts(&tp.topic, tp.partition).records += n as u64;
            match self.topic_records.get_mut(&tp.topic) {
                Some(s) => s.record(n as f64, now),
                None => {
                    let mut s = WindowedStat::new(now);
                    s.record(n as f64, now);
                    self.topic_records.insert(tp.topic.clone(), s);
                }
            }
        }
        if total > 0 {
            self.records.record(total as f64, now);
        }
    }

    /// A fetch response arrived (`event`), `sent` being when its request was
    /// sent: latency, and record bytes per response and per partition.
    pub fn record_fetch<'a>(
        &mut self,
        event: &ClientEvent,
        sent: Instant,
        names: impl Fn(&prozess_protocol::Uuid) -> Option<&'a str>,
        now: Instant,
    ) {
        let ClientEvent::Response(r) = event else {
            return;
        };
        let ResponseBody::Fetch(resp) = &r.body else {
            return;
        };
        let mut bytes = 0usize;
        for t in &resp.responses {
            let topic = if t.topic.is_empty() {
                names(&t.topic_id)
            } else {
                Some(t.topic.as_str())
            };
            for p in &t.partitions {
                let n = p.records.as_ref().map_or(0, |b| b.len());
                bytes += n;
                if let (Some(topic), true) = (topic, n > 0) {
                    self.counts(topic, p.partition_index).bytes += n as u64;
                }
            }
        }
        self.fetch_bytes.record(bytes as f64, now);
        self.fetch_latency
            .record(millis(now.saturating_duration_since(sent)), now);
    }

    /// The counts of `topic`-`partition`, created on first use (the only
    /// allocation, once per partition).
    fn counts(&mut self, topic: &str, partition: i32) -> &mut PartitionCounts {
        if !self.partitions.contains_key(topic) {
            self.partitions.insert(topic.to_string(), HashMap::new());
        }
        let t = self.partitions.get_mut(topic).expect("inserted above");
        t.entry(partition).or_default()
    }

    fn partition_counts(&self, tp: &TopicPartition) -> PartitionCounts {
        self.partitions
            .get(&tp.topic)
            .and_then(|t| t.get(&tp.partition))
            .copied()
            .unwrap_or_default()
    }

    /// Observes the membership after a group step: a rebalance under way
    /// starts the rebalance clock; `assigned` (a rebalance completed) or
    /// `failed` (a fatal group error) ends it.
    pub fn record_group_step(
        &mut self,
        in_progress: bool,
        assigned: bool,
        failed: bool,
        now: Instant,
    ) {
        if in_progress && self.rebalance_started.is_none() {
            self.rebalance_started = Some(now);
        }
        if assigned {
            let started = self.rebalance_started.take().unwrap_or(now);
            self.rebalance_latency
                .record(millis(now.saturating_duration_since(started)), now);
        } else if failed {
            self.rebalance_started = None;
            self.failed_rebalances += 1;
        }
    }

    /// Java's metrics at `now`: fetch manager, coordinator and consumer
    /// groups, per topic and per partition where Java has them, and the
    /// client's per-node request metrics.
    pub fn snapshot<C: KafkaClient + ?Sized>(&self, src: &Sources<'_, C>, now: Instant) -> Metrics {
        let Sources {
            client_id,
            subs,
            read_committed,
            coordinator,
            client,
            ..
        } = *src;
        let commit_latency = coordinator.commit_latency();
        let mut m = Metrics::new(client_id);
        let f = FETCH_MANAGER_GROUP;
        m.add(f, "records-consumed-total", self.records.total());
        m.add(f, "records-consumed-rate", self.records.rate(now));
        m.add(f, "bytes-consumed-total", self.fetch_bytes.total());
        m.add(f, "bytes-consumed-rate", self.fetch_bytes.rate(now));
        m.add(f, "fetch-total", self.fetch_latency.total_count() as f64);
        m.add(f, "fetch-rate", self.fetch_latency.count_rate(now));
        m.add(f, "fetch-latency-avg", self.fetch_latency.avg(now));
        m.add(f, "fetch-latency-max", self.fetch_latency.max(now));
        m.add(f, "fetch-size-avg", self.fetch_bytes.avg(now));
        m.add(f, "fetch-size-max", self.fetch_bytes.max(now));
        // Records of the window over fetches of the window: the records of
        // a response are handed out by the polls that follow it.
        let fetches = self.fetch_bytes.window_count(now);
        let per_request = if fetches == 0 {
            f64::NAN
        } else {
            self.records.window_sum(now) / fetches as f64
        };
        m.add(f, "records-per-request-avg", per_request);
        for (topic, s) in &self.topic_records {
            let tags = [("topic", topic.as_str())];
            m.add_tagged(f, "records-consumed-total", &tags, s.total());
            m.add_tagged(f, "records-consumed-rate", &tags, s.rate(now));
        }
        let (mut lag_max, mut lead_min) = (f64::NAN, f64::NAN);
        for tp in subs.assigned_partitions() {
            let partition = tp.partition.to_string();
            let tags = [
                ("topic", tp.topic.as_str()),
                ("partition", partition.as_str()),
            ];
            if let Some(lag) = subs.partition_lag(&tp, read_committed) {
                m.add_tagged(f, "records-lag", &tags, lag as f64);
                lag_max = lag_max.max(lag as f64);
            }
            let state = subs.state(&tp);
            let lead = state.and_then(|s| Some(s.position.as_ref()?.offset - s.log_start_offset?));
            if let Some(lead) = lead {
                m.add_tagged(f, "records-lead", &tags, lead as f64);
                lead_min = lead_min.min(lead as f64);
            }
        }
        m.add(f, "records-lag-max", lag_max);
        m.add(f, "records-lead-min", lead_min);

        let c = COORDINATOR_GROUP;
        m.add(c, "commit-latency-avg", commit_latency.avg(now));
        m.add(c, "commit-latency-max", commit_latency.max(now));
        m.add(c, "commit-rate", commit_latency.count_rate(now));
        m.add(c, "commit-total", commit_latency.total_count() as f64);
        m.add(c, "rebalance-latency-avg", self.rebalance_latency.avg(now));
        m.add(c, "rebalance-latency-max", self.rebalance_latency.max(now));
        m.add(c, "rebalance-latency-total", self.rebalance_latency.total());
        m.add(
            c,
            "rebalance-total",
            self.rebalance_latency.total_count() as f64,
        );
        m.add(c, "failed-rebalance-total", self.failed_rebalances as f64);
        m.add(c, "assigned-partitions", subs.num_assigned() as f64);
        if let Some(h) = src.heartbeats {
            h.add_to(&mut m, now);
        }

        let g = CONSUMER_GROUP;
        m.add(g, "time-between-poll-avg", self.time_between_poll.avg(now));
        m.add(g, "time-between-poll-max", self.time_between_poll.max(now));
        m.add(g, "poll-idle-ratio-avg", self.poll_idle_ratio.avg(now));
        let ago = self
            .last_poll_start
            .map_or(-1.0, |t| now.saturating_duration_since(t).as_secs_f64());
        m.add(g, "last-poll-seconds-ago", ago);
        if let Some(n) = client.network_metrics() {
            n.add_to(&mut m, "consumer", now);
        }
        m
    }

    /// The librdkafka-style statistics document (STATISTICS.md names).
    pub fn statistics<C: KafkaClient + ?Sized>(&self, src: &Sources<'_, C>, now: Instant) -> Value {
        let Sources {
            client_id,
            subs,
            read_committed,
            coordinator,
            group_state,
            client,
            heartbeats: _,
        } = *src;
        let (ts, time) = statistics_times(self.created, now);
        let mut top = Map::new();
        top.insert("name".into(), format!("{client_id}#consumer").into());
        top.insert("client_id".into(), client_id.into());
        top.insert("type".into(), "consumer".into());
        top.insert("ts".into(), ts.into());
        top.insert("time".into(), time.into());
        let brokers = brokers_statistics(client, now, &mut top);
        top.insert("brokers".into(), brokers);
        let all = || self.partitions.values().flat_map(|t| t.values());
        let total: u64 = all().map(|c| c.records).sum();
        let total_bytes: u64 = all().map(|c| c.bytes).sum();
        top.insert("rxmsgs".into(), total.into());
        top.insert("rxmsg_bytes".into(), total_bytes.into());
        let mut topics: Map<String, Value> = Map::new();
        for tp in subs.assigned_partitions() {
            let s = subs.state(&tp);
            let counts = self.partition_counts(&tp);
            let leader = client.metadata().leader_for(&tp).unwrap_or(-1);
            let position = s
                .and_then(|s| s.position.as_ref())
                .map_or(-1001, |p| p.offset);
            let fetch_state = match s {
                Some(s) if s.paused => "stopped",
                Some(s) => match s.fetch_state {
                    FetchState::Fetching => "active",
                    FetchState::Initializing => "offset-query",
                    FetchState::AwaitReset(_) => "offset-query",
                    FetchState::AwaitValidation => "offset-wait",
                },
                None => "none",
            };
            let lag = subs.partition_lag(&tp, read_committed).unwrap_or(-1);
            let partition = json!({
                "partition": tp.partition,
                "leader": leader,
                "fetch_state": fetch_state,
                "next_offset": position,
                "app_offset": position,
                "committed_offset": coordinator.last_committed(&tp).unwrap_or(-1001),
                "lo_offset": s.and_then(|s| s.log_start_offset).unwrap_or(-1001),
                "hi_offset": s.and_then(|s| s.high_watermark).unwrap_or(-1001),
                "consumer_lag": lag,
                "msgs": counts.records,
                "rxmsgs": counts.records,
                "rxbytes": counts.bytes,
            });
            let topic = topics
                .entry(tp.topic.clone())
                .or_insert_with(|| json!({ "topic": tp.topic, "partitions": {} }));
            topic["partitions"][tp.partition.to_string()] = partition;
        }
        top.insert("topics".into(), Value::Object(topics));
        if let Some(state) = group_state {
            top.insert(
                "cgrp".into(),
                json!({
                    "state": state,
                    "rebalance_cnt": self.rebalance_latency.total_count(),
                    "assignment_size": subs.num_assigned(),
                }),
            );
        }
        Value::Object(top)
    }
}

/// What the metrics are read from besides the counters.
pub struct Sources<'a, C: ?Sized> {
    pub client_id: &'a str,
    pub subs: &'a SubscriptionState,
    pub read_committed: bool,
    pub coordinator: &'a ConsumerCoordinator,
    /// The group membership's state (librdkafka's `cgrp.state`), if a
    /// group member.
    pub group_state: Option<&'a str>,
    /// The group member's heartbeats (None: no group).
    pub heartbeats: Option<&'a HeartbeatStats>,
    pub client: &'a C,
}

impl<C: ?Sized> Clone for Sources<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: ?Sized> Copy for Sources<'_, C> {}

/// The statistics handler and its timer.
pub(crate) struct Statistics {
    pub(crate) timer: StatisticsTimer,
    pub(crate) handler: Option<StatisticsHandler>,
}

impl Statistics {
    pub(crate) fn new(interval: std::time::Duration, now: Instant) -> Self {
        Statistics {
            timer: StatisticsTimer::new(interval, now),
            handler: None,
        }
    }

    /// When the poll loop must wake for the next document.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.handler.as_ref().and(self.timer.deadline())
    }
}

/// Heartbeats of a group member, for Java's heartbeat metrics
/// (consumer-coordinator-metrics heartbeat-rate, heartbeat-total,
/// heartbeat-response-time-max, last-heartbeat-seconds-ago). At most one
/// heartbeat is in flight, so the last send time is the answered one's.
#[derive(Debug, Clone)]
pub struct HeartbeatStats {
    /// Response times (ms), one event per answered heartbeat.
    responses: WindowedStat,
    last_sent: Option<Instant>,
}

impl HeartbeatStats {
    /// No heartbeat yet.
    pub fn new(now: Instant) -> Self {
        HeartbeatStats {
            responses: WindowedStat::new(now),
            last_sent: None,
        }
    }

    /// A heartbeat went out.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
    }

    /// The coordinator answered the heartbeat sent last.
    pub fn received(&mut self, now: Instant) {
        if let Some(sent) = self.last_sent {
            self.responses
                .record(millis(now.saturating_duration_since(sent)), now);
        }
    }

    /// Adds the heartbeat metrics to `m` (Java's names and meanings: the
    /// seconds count from the last heartbeat sent; NaN before the first).
    pub fn add_to(&self, m: &mut Metrics, now: Instant) {
        let c = COORDINATOR_GROUP;
        m.add(c, "heartbeat-rate", self.responses.count_rate(now));
        m.add(c, "heartbeat-total", self.responses.total_count() as f64);
        m.add(c, "heartbeat-response-time-max", self.responses.max(now));
        let ago = self
            .last_sent
            .map_or(f64::NAN, |t| now.saturating_duration_since(t).as_secs_f64());
        m.add(c, "last-heartbeat-seconds-ago", ago);
    }
}
