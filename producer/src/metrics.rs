//! The producer's metrics (Java's `SenderMetricsRegistry`:
//! `producer-metrics`, `producer-topic-metrics`, `producer-node-metrics`) and
//! its librdkafka-style statistics document.
//!
//! The sender records per batch and per request, with the `now` of its
//! pass: never per record, never under a lock. [`KafkaProducer::metrics`]
//! (crate::KafkaProducer::metrics) asks the I/O thread for a snapshot
//! through a [`MetricsExchange`]; the statistics handler runs on the I/O
//! thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use prozess_network::metrics::{brokers_statistics, statistics_times};
use prozess_network::{KafkaClient, Metrics, TopicPartition, WindowedStat};
use serde_json::{json, Map, Value};

/// Java's group name of the client-level metrics.
pub const PRODUCER_GROUP: &str = "producer-metrics";
/// Java's group name of the per-topic metrics.
pub const TOPIC_GROUP: &str = "producer-topic-metrics";

/// Called with each statistics document (JSON text).
pub type StatisticsHandler = Box<dyn FnMut(&str) + Send>;

#[derive(Debug, Clone)]
struct TopicStats {
    records: WindowedStat,
    bytes: WindowedStat,
    errors: WindowedStat,
    retries: WindowedStat,
}

impl TopicStats {
    fn new(now: Instant) -> Self {
        TopicStats {
            records: WindowedStat::new(now),
            bytes: WindowedStat::new(now),
            errors: WindowedStat::new(now),
            retries: WindowedStat::new(now),
        }
    }
}

/// The sender's counters. See the module docs.
#[derive(Debug, Clone)]
pub struct SenderMetrics {
    created: Instant,
    /// Records per batch sent (record-send-*).
    records: WindowedStat,
    /// Encoded bytes per batch sent (batch-size-*).
    batch_size: WindowedStat,
    /// Encoded over estimated uncompressed size, per batch.
    compression: WindowedStat,
    /// Records per ProduceRequest.
    per_request: WindowedStat,
    /// Records of failed batches, one event per batch.
    errors: WindowedStat,
    /// Records of batches put back for a retry.
    retries: WindowedStat,
    /// Throttle time (ms) per ProduceResponse.
    throttle: WindowedStat,
    topics: HashMap<String, TopicStats>,
    /// Records and bytes sent per partition (statistics).
    partitions: HashMap<TopicPartition, (u64, u64)>,
}

impl SenderMetrics {
    /// Empty counters; windows start at `now`.
    pub fn new(now: Instant) -> Self {
        SenderMetrics {
            created: now,
            records: WindowedStat::new(now),
            batch_size: WindowedStat::new(now),
            compression: WindowedStat::new(now),
            per_request: WindowedStat::new(now),
            errors: WindowedStat::new(now),
            retries: WindowedStat::new(now),
            throttle: WindowedStat::new(now),
            topics: HashMap::new(),
            partitions: HashMap::new(),
        }
    }

    fn topic(&mut self, topic: &str, now: Instant) -> &mut TopicStats {
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_string(), TopicStats::new(now));
        }
        self.topics.get_mut(topic).expect("inserted above")
    }

    /// A batch of `records` records, `bytes` encoded (from an estimated
    /// `uncompressed`), goes out (first send or a retry, as Java counts).
    pub fn record_batch(
        &mut self,
        tp: &TopicPartition,
        records: usize,
        bytes: usize,
        uncompressed: usize,
        now: Instant,
    ) {
        self.records.record(records as f64, now);
        self.batch_size.record(bytes as f64, now);
        if uncompressed > 0 {
            self.compression
                .record(bytes as f64 / uncompressed as f64, now);
        }
        let t = self.topic(&tp.topic, now);
        t.records.record(records as f64, now);
        t.bytes.record(bytes as f64, now);
        match self.partitions.get_mut(tp) {
            Some(c) => {
                c.0 += records as u64;
                c.1 += bytes as u64;
            }
            None => {
                self.partitions
                    .insert(tp.clone(), (records as u64, bytes as u64));
            }
        }
    }

    /// A ProduceRequest with `records` records in all was sent.
    pub fn record_request(&mut self, records: usize, now: Instant) {
        self.per_request.record(records as f64, now);
    }

    /// A batch of `records` records failed for good.
    pub fn record_errors(&mut self, tp: &TopicPartition, records: usize, now: Instant) {
        self.errors.record(records as f64, now);
        self.topic(&tp.topic, now)
            .errors
            .record(records as f64, now);
    }

    /// A batch of `records` records goes back for a retry.
    pub fn record_retries(&mut self, tp: &TopicPartition, records: usize, now: Instant) {
        self.retries.record(records as f64, now);
        self.topic(&tp.topic, now)
            .retries
            .record(records as f64, now);
    }

    /// A ProduceResponse reported this throttle time.
    pub fn record_throttle(&mut self, throttle_ms: i32, now: Instant) {
        self.throttle.record(f64::from(throttle_ms.max(0)), now);
    }

    /// Java's metrics at `now`. `buffer` is (`buffer.memory`, bytes of it
    /// in use).
    pub fn snapshot<C: KafkaClient + ?Sized>(
        &self,
        client_id: &str,
        buffer: (usize, usize),
        client: &C,
        now: Instant,
    ) -> Metrics {
        let mut m = Metrics::new(client_id);
        let g = PRODUCER_GROUP;
        m.add(g, "record-send-total", self.records.total());
        m.add(g, "record-send-rate", self.records.rate(now));
        m.add(g, "record-error-total", self.errors.total());
        m.add(g, "record-error-rate", self.errors.rate(now));
        m.add(g, "record-retry-total", self.retries.total());
        m.add(g, "record-retry-rate", self.retries.rate(now));
        m.add(g, "batch-size-avg", self.batch_size.avg(now));
        m.add(g, "batch-size-max", self.batch_size.max(now));
        m.add(g, "compression-rate-avg", self.compression.avg(now));
        m.add(g, "records-per-request-avg", self.per_request.avg(now));
        m.add(g, "produce-throttle-time-avg", self.throttle.avg(now));
        m.add(g, "produce-throttle-time-max", self.throttle.max(now));
        m.add(g, "buffer-total-bytes", buffer.0 as f64);
        m.add(
            g,
            "buffer-available-bytes",
            buffer.0.saturating_sub(buffer.1) as f64,
        );
        for (topic, t) in &self.topics {
            let tags = [("topic", topic.as_str())];
            m.add_tagged(TOPIC_GROUP, "record-send-total", &tags, t.records.total());
            m.add_tagged(TOPIC_GROUP, "record-send-rate", &tags, t.records.rate(now));
            m.add_tagged(TOPIC_GROUP, "byte-total", &tags, t.bytes.total());
            m.add_tagged(TOPIC_GROUP, "byte-rate", &tags, t.bytes.rate(now));
            m.add_tagged(TOPIC_GROUP, "record-error-total", &tags, t.errors.total());
            m.add_tagged(TOPIC_GROUP, "record-error-rate", &tags, t.errors.rate(now));
            m.add_tagged(TOPIC_GROUP, "record-retry-total", &tags, t.retries.total());
            m.add_tagged(TOPIC_GROUP, "record-retry-rate", &tags, t.retries.rate(now));
        }
        if let Some(n) = client.network_metrics() {
            n.add_to(&mut m, "producer", now);
        }
        m
    }

    /// The librdkafka-style statistics document (STATISTICS.md names).
    /// `queued` is (records not yet acknowledged, their bytes in
    /// `buffer.memory`, `buffer.memory`).
    pub fn statistics<C: KafkaClient + ?Sized>(
        &self,
        client_id: &str,
        queued: (usize, usize, usize),
        client: &C,
        now: Instant,
    ) -> Value {
        let (ts, time) = statistics_times(self.created, now);
        let mut top = Map::new();
        top.insert("name".into(), format!("{client_id}#producer").into());
        top.insert("client_id".into(), client_id.into());
        top.insert("type".into(), "producer".into());
        top.insert("ts".into(), ts.into());
        top.insert("time".into(), time.into());
        top.insert("msg_cnt".into(), queued.0.into());
        top.insert("msg_size".into(), queued.1.into());
        top.insert("msg_size_max".into(), queued.2.into());
        let brokers = brokers_statistics(client, now, &mut top);
        top.insert("brokers".into(), brokers);
        top.insert("txmsgs".into(), (self.records.total() as u64).into());
        top.insert(
            "txmsg_bytes".into(),
            (self.batch_size.total() as u64).into(),
        );
        let mut topics: Map<String, Value> = Map::new();
        let mut tps: Vec<_> = self.partitions.iter().collect();
        tps.sort_by(|a, b| a.0.cmp(b.0));
        for (tp, (records, bytes)) in tps {
            let leader = client.metadata().leader_for(tp).unwrap_or(-1);
            let topic = topics
                .entry(tp.topic.clone())
                .or_insert_with(|| json!({ "topic": tp.topic, "partitions": {} }));
            topic["partitions"][tp.partition.to_string()] = json!({
                "partition": tp.partition,
                "leader": leader,
                "txmsgs": records,
                "txbytes": bytes,
            });
        }
        top.insert("topics".into(), Value::Object(topics));
        Value::Object(top)
    }
}

/// How [`KafkaProducer::metrics`](crate::KafkaProducer::metrics) gets a
/// snapshot from the I/O thread: it raises `wanted` and wakes the thread,
/// which publishes one at the top of its next pass.
#[derive(Default)]
pub struct MetricsExchange {
    wanted: AtomicBool,
    slot: Mutex<Option<Metrics>>,
    ready: Condvar,
    /// The statistics handler, set by the application.
    pub(crate) handler: Mutex<Option<StatisticsHandler>>,
    /// The snapshot the I/O thread left when it finished.
    pub(crate) last: Mutex<Option<Metrics>>,
}

impl MetricsExchange {
    /// Asks for a snapshot (the caller then wakes the I/O thread).
    pub(crate) fn request(&self) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.wanted.store(true, Ordering::Release);
    }

    /// Whether a snapshot was asked for (reset by this call).
    pub(crate) fn take_wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed) && self.wanted.swap(false, Ordering::AcqRel)
    }

    /// The I/O thread's answer.
    pub(crate) fn publish(&self, m: Metrics) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
        self.ready.notify_all();
    }

    /// Waits up to `timeout` for the answer.
    pub(crate) fn wait(&self, timeout: Duration) -> Option<Metrics> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(m) = slot.take() {
                return Some(m);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slot = self
                .ready
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl std::fmt::Debug for MetricsExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsExchange").finish_non_exhaustive()
    }
}
