//! Client metrics as plain values, after the Java client's `Metrics`: a
//! [`Metrics`] snapshot keyed by Java's (group, name, tags), the windowed
//! statistic behind its rates, averages and maxima ([`WindowedStat`]), and the
//! per-node request/response figures the network layer keeps
//! ([`NetworkMetrics`]).
//!
//! Recording is plain arithmetic on owned counters: no locks, no allocation,
//! and no clock read (the caller passes the `now` it already has). Time is
//! the client's clock, so a `MockTime` makes every rate exact in tests.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::NodeId;

/// Java's default `metrics.sample.window.ms`.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(30);
/// Java's default `metrics.num.samples`.
pub const NUM_SAMPLES: usize = 2;

/// One sample of a [`WindowedStat`].
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// When the sample started (Java's `lastWindowMs`).
    start: Instant,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    fn new(start: Instant) -> Self {
        Sample {
            start,
            count: 0,
            sum: 0.0,
            max: f64::NEG_INFINITY,
        }
    }
}

/// A value recorded over time, measured as Java measures its sampled stats:
/// [`NUM_SAMPLES`] samples of [`SAMPLE_WINDOW`] each; a sample older than
/// all of them together no longer counts. Also keeps the all-time count and
/// sum (Java's `CumulativeCount`/`CumulativeSum`).
#[derive(Debug, Clone)]
pub struct WindowedStat {
    samples: [Sample; NUM_SAMPLES],
    current: usize,
    window: Duration,
    total_count: u64,
    total_sum: f64,
}

impl WindowedStat {
    /// An empty stat whose first sample starts at `now`.
    pub fn new(now: Instant) -> Self {
        Self::with_window(SAMPLE_WINDOW, now)
    }

    /// An empty stat with samples of `window` each.
    pub fn with_window(window: Duration, now: Instant) -> Self {
        WindowedStat {
            samples: [Sample::new(now); NUM_SAMPLES],
            current: 0,
            window,
            total_count: 0,
            total_sum: 0.0,
        }
    }

    /// Records one event of `value` at `now` (Java's `Sensor.record`).
    pub fn record(&mut self, value: f64, now: Instant) {
        let sample = &self.samples[self.current];
        if now.saturating_duration_since(sample.start) >= self.window {
            self.current = (self.current + 1) % NUM_SAMPLES;
            self.samples[self.current] = Sample::new(now);
        }
        let s = &mut self.samples[self.current];
        s.count += 1;
        s.sum += value;
        if value > s.max {
            s.max = value;
        }
        self.total_count += 1;
        self.total_sum += value;
    }

    /// The samples still inside the window at `now` (Java purges the others).
    fn live(&self, now: Instant) -> impl Iterator<Item = &Sample> {
        let expire = self.window * NUM_SAMPLES as u32;
        self.samples
            .iter()
            .filter(move |s| now.saturating_duration_since(s.start) < expire)
    }

    /// Java's `Rate.windowSize`: from the oldest live sample's start to
    /// `now`, but at least `NUM_SAMPLES - 1` full windows.
    fn window_size(&self, now: Instant) -> Duration {
        let oldest = self.live(now).map(|s| s.start).min().unwrap_or(now);
        let mut elapsed = now.saturating_duration_since(oldest);
        let full = (elapsed.as_nanos() / self.window.as_nanos().max(1)) as u32;
        let min_full = (NUM_SAMPLES - 1) as u32;
        if full < min_full {
            elapsed += self.window * (min_full - full);
        }
        elapsed
    }

    /// The sum of values per second over the window (Java's `Rate` of a
    /// `WindowedSum`: `records-consumed-rate`, `bytes-consumed-rate`).
    pub fn rate(&self, now: Instant) -> f64 {
        let sum: f64 = self.live(now).map(|s| s.sum).sum();
        per_second(sum, self.window_size(now))
    }

    /// Events per second over the window (Java's `Rate` of a
    /// `WindowedCount`: `fetch-rate`, `commit-rate`).
    pub fn count_rate(&self, now: Instant) -> f64 {
        let count: u64 = self.live(now).map(|s| s.count).sum();
        per_second(count as f64, self.window_size(now))
    }

    /// The mean value in the window; NaN without events (as Java's `Avg`).
    pub fn avg(&self, now: Instant) -> f64 {
        let (count, sum) = self
            .live(now)
            .fold((0u64, 0.0), |(c, s), x| (c + x.count, s + x.sum));
        if count == 0 {
            f64::NAN
        } else {
            sum / count as f64
        }
    }

    /// The largest value in the window; NaN without events (as Java's `Max`).
    pub fn max(&self, now: Instant) -> f64 {
        self.live(now)
            .filter(|s| s.count > 0)
            .map(|s| s.max)
            .fold(f64::NAN, f64::max)
    }

    /// The smallest value in the window is not kept; the number of events in
    /// it is (Java's `WindowedCount`).
    pub fn window_count(&self, now: Instant) -> u64 {
        self.live(now).map(|s| s.count).sum()
    }

    /// The sum of values in the window (Java's `WindowedSum`).
    pub fn window_sum(&self, now: Instant) -> f64 {
        self.live(now).map(|s| s.sum).sum()
    }

    /// Events recorded since creation (Java's `CumulativeCount`).
    pub fn total_count(&self) -> u64 {
        self.total_count
    }

    /// Sum of all values recorded since creation (Java's `CumulativeSum`).
    pub fn total(&self) -> f64 {
        self.total_sum
    }
}

fn per_second(value: f64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        value / secs
    }
}

/// A metric's identity, as Java's `MetricName`: group, name and tags (at
/// least `client-id`; `node-id`, `topic`, `partition` where Java has them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricName {
    pub group: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

impl std::fmt::Display for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.group, self.name)?;
        for (k, v) in &self.tags {
            write!(f, ",{k}={v}")?;
        }
        Ok(())
    }
}

/// A snapshot of a client's metrics (what `KafkaConsumer::metrics()` and
/// `KafkaProducer::metrics()` return): plain values keyed by Java's names.
/// Averages and maxima without events in the window are NaN, as in Java.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    client_id: String,
    values: BTreeMap<MetricName, f64>,
}

impl Metrics {
    /// An empty snapshot for `client_id` (every metric gets that tag).
    pub fn new(client_id: impl Into<String>) -> Self {
        Metrics {
            client_id: client_id.into(),
            values: BTreeMap::new(),
        }
    }

    /// Adds a client-level metric (tag `client-id` only).
    pub fn add(&mut self, group: &str, name: &str, value: f64) {
        self.add_tagged(group, name, &[], value);
    }

    /// Adds a metric with tags besides `client-id`.
    pub fn add_tagged(&mut self, group: &str, name: &str, tags: &[(&str, &str)], value: f64) {
        let mut t = BTreeMap::new();
        t.insert("client-id".to_string(), self.client_id.clone());
        for (k, v) in tags {
            t.insert((*k).to_string(), (*v).to_string());
        }
        self.values.insert(
            MetricName {
                group: group.to_string(),
                name: name.to_string(),
                tags: t,
            },
            value,
        );
    }

    /// The client-level metric `group`/`name` (tagged with `client-id` only).
    pub fn get(&self, group: &str, name: &str) -> Option<f64> {
        self.get_tagged(group, name, &[])
    }

    /// The metric `group`/`name` whose tags besides `client-id` are exactly
    /// `tags` (for example `[("topic", "t"), ("partition", "0")]`).
    pub fn get_tagged(&self, group: &str, name: &str, tags: &[(&str, &str)]) -> Option<f64> {
        self.values
            .iter()
            .find(|(m, _)| {
                m.group == group
                    && m.name == name
                    && m.tags.len() == tags.len() + 1
                    && tags
                        .iter()
                        .all(|(k, v)| m.tags.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
    }

    /// Every metric, ordered by group, name and tags.
    pub fn iter(&self) -> impl Iterator<Item = (&MetricName, f64)> {
        self.values.iter().map(|(k, v)| (k, *v))
    }

    /// How many metrics the snapshot holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the snapshot holds none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// How many round-trip times per node are kept for the p99 of the
/// statistics document.
const RTT_KEEP: usize = 128;

/// Request/response figures of one node's connection.
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    /// Request bytes, one event per request.
    pub requests: WindowedStat,
    /// Response bytes, one event per response.
    pub responses: WindowedStat,
    /// Milliseconds from queuing a request to its response.
    pub latency: WindowedStat,
    /// Throttle times (ms) the broker reported.
    pub throttle: WindowedStat,
    /// Connections made ready.
    pub connects: u64,
    /// Connections closed or failed.
    pub disconnects: u64,
    /// Whether the connection is ready now.
    pub up: bool,
    recent_rtt: Vec<f64>,
    next_rtt: usize,
}

impl NodeMetrics {
    fn new(now: Instant) -> Self {
        NodeMetrics {
            requests: WindowedStat::new(now),
            responses: WindowedStat::new(now),
            latency: WindowedStat::new(now),
            throttle: WindowedStat::new(now),
            connects: 0,
            disconnects: 0,
            up: false,
            recent_rtt: Vec::new(),
            next_rtt: 0,
        }
    }

    /// The 99th percentile of the last round-trip times (ms); 0 without any.
    pub fn rtt_p99(&self) -> f64 {
        if self.recent_rtt.is_empty() {
            return 0.0;
        }
        let mut v = self.recent_rtt.clone();
        v.sort_by(f64::total_cmp);
        let idx = ((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1;
        v[idx]
    }
}

/// The network layer's own figures, per node (Java's `*-node-metrics` and
/// the request/response rates of `consumer-metrics`/`producer-metrics`).
/// Kept by [`NetworkClient`](crate::NetworkClient) and
/// [`MockClient`](crate::mock::MockClient).
#[derive(Debug, Clone, Default)]
pub struct NetworkMetrics {
    nodes: HashMap<NodeId, NodeMetrics>,
}

impl NetworkMetrics {
    fn node(&mut self, node: NodeId, now: Instant) -> &mut NodeMetrics {
        self.nodes
            .entry(node)
            .or_insert_with(|| NodeMetrics::new(now))
    }

    /// A request of `bytes` was queued for `node`.
    pub fn record_request(&mut self, node: NodeId, bytes: usize, now: Instant) {
        self.node(node, now).requests.record(bytes as f64, now);
    }

    /// A response of `bytes` arrived from `node`, `latency` after its
    /// request was queued.
    pub fn record_response(&mut self, node: NodeId, bytes: usize, latency: Duration, now: Instant) {
        let n = self.node(node, now);
        n.responses.record(bytes as f64, now);
        let ms = latency.as_nanos() as f64 / 1e6;
        n.latency.record(ms, now);
        if n.recent_rtt.len() < RTT_KEEP {
            n.recent_rtt.push(ms);
        } else {
            n.recent_rtt[n.next_rtt] = ms;
        }
        n.next_rtt = (n.next_rtt + 1) % RTT_KEEP;
    }

    /// The broker reported a throttle time for `node`'s connection.
    pub fn record_throttle(&mut self, node: NodeId, throttle: Duration, now: Instant) {
        self.node(node, now)
            .throttle
            .record(throttle.as_millis() as f64, now);
    }

    /// `node`'s connection became ready.
    pub fn record_connect(&mut self, node: NodeId, now: Instant) {
        let n = self.node(node, now);
        n.connects += 1;
        n.up = true;
    }

    /// `node`'s connection closed (or failed while connecting).
    pub fn record_disconnect(&mut self, node: NodeId, now: Instant) {
        let n = self.node(node, now);
        n.disconnects += 1;
        n.up = false;
    }

    /// The figures of every node seen so far.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &NodeMetrics)> {
        self.nodes.iter().map(|(id, n)| (*id, n))
    }

    /// Adds the client-level request/response metrics to `out` under
    /// `prefix-metrics` (Java's `consumer-metrics`, `producer-metrics`) and
    /// the per-node ones under `prefix-node-metrics` (tag `node-id` as
    /// `node-<id>`).
    pub fn add_to(&self, out: &mut Metrics, prefix: &str, now: Instant) {
        let group = format!("{prefix}-metrics");
        let node_group = format!("{prefix}-node-metrics");
        let mut totals = [0.0f64; 8];
        let mut latency_max = f64::NAN;
        let (mut lat_sum, mut lat_count) = (0.0, 0u64);
        for (id, n) in &self.nodes {
            let tag = format!("node-{id}");
            let tags = [("node-id", tag.as_str())];
            let figures = [
                ("request-rate", n.requests.count_rate(now)),
                ("request-total", n.requests.total_count() as f64),
                ("response-rate", n.responses.count_rate(now)),
                ("response-total", n.responses.total_count() as f64),
                ("outgoing-byte-rate", n.requests.rate(now)),
                ("outgoing-byte-total", n.requests.total()),
                ("incoming-byte-rate", n.responses.rate(now)),
                ("incoming-byte-total", n.responses.total()),
            ];
            for (i, (name, v)) in figures.iter().enumerate() {
                out.add_tagged(&node_group, name, &tags, *v);
                totals[i] += v;
            }
            out.add_tagged(
                &node_group,
                "request-latency-avg",
                &tags,
                n.latency.avg(now),
            );
            out.add_tagged(
                &node_group,
                "request-latency-max",
                &tags,
                n.latency.max(now),
            );
            lat_sum += n.latency.window_sum(now);
            lat_count += n.latency.window_count(now);
            latency_max = latency_max.max(n.latency.max(now));
        }
        for (i, name) in [
            "request-rate",
            "request-total",
            "response-rate",
            "response-total",
            "outgoing-byte-rate",
            "outgoing-byte-total",
            "incoming-byte-rate",
            "incoming-byte-total",
        ]
        .iter()
        .enumerate()
        {
            out.add(&group, name, totals[i]);
        }
        let connections = self.nodes.values().filter(|n| n.up).count();
        out.add(&group, "connection-count", connections as f64);
        let creations: u64 = self.nodes.values().map(|n| n.connects).sum();
        let closes: u64 = self.nodes.values().map(|n| n.disconnects).sum();
        out.add(&group, "connection-creation-total", creations as f64);
        out.add(&group, "connection-close-total", closes as f64);
        let avg = if lat_count == 0 {
            f64::NAN
        } else {
            lat_sum / lat_count as f64
        };
        out.add(&group, "request-latency-avg", avg);
        out.add(&group, "request-latency-max", latency_max);
    }
}

/// The `brokers` object of a librdkafka-style statistics document (its
/// STATISTICS.md names: `name`, `nodeid`, `nodename`, `state`,
/// `waitresp_cnt`, `tx`, `txbytes`, `rx`, `rxbytes`, `connects`,
/// `disconnects`, `rtt` in microseconds and `throttle` in milliseconds as
/// window stats with `min`-less `max`/`avg`/`p99`/`cnt`), and the top-level
/// `tx`, `txbytes`, `rx`, `rxbytes` totals added to `top`.
pub fn brokers_statistics<C: crate::KafkaClient + ?Sized>(
    client: &C,
    now: Instant,
    top: &mut serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut brokers = Map::new();
    let Some(metrics) = client.network_metrics() else {
        return Value::Object(brokers);
    };
    let brokers_md = client.metadata().brokers();
    let mut ids: Vec<NodeId> = brokers_md.keys().copied().collect();
    ids.extend(metrics.nodes.keys().copied());
    ids.sort_unstable();
    ids.dedup();
    let (mut tx, mut txb, mut rx, mut rxb) = (0u64, 0f64, 0u64, 0f64);
    for id in ids {
        let node = metrics.nodes.get(&id);
        let nodename = match brokers_md.get(&id) {
            Some(b) => format!("{}:{}", b.host, b.port),
            None if id < 0 => "bootstrap".to_string(),
            // A dedicated group coordinator connection (`i32::MAX - broker`).
            None if id > NodeId::MAX / 2 => match brokers_md.get(&(NodeId::MAX - id)) {
                Some(b) => format!("GroupCoordinator@{}:{}", b.host, b.port),
                None => "GroupCoordinator".to_string(),
            },
            None => "unknown".to_string(),
        };
        let name = format!("{nodename}/{id}");
        let window = |s: Option<&WindowedStat>, scale: f64, p99: f64| {
            let (avg, max, cnt) = match s {
                Some(s) => (s.avg(now), s.max(now), s.window_count(now)),
                None => (f64::NAN, f64::NAN, 0),
            };
            let int = |v: f64| {
                if v.is_nan() {
                    0
                } else {
                    (v * scale).round() as i64
                }
            };
            json!({ "avg": int(avg), "max": int(max), "p99": int(p99), "cnt": cnt })
        };
        let requests = node.map_or(0, |n| n.requests.total_count());
        let responses = node.map_or(0, |n| n.responses.total_count());
        let req_bytes = node.map_or(0.0, |n| n.requests.total());
        let resp_bytes = node.map_or(0.0, |n| n.responses.total());
        tx += requests;
        rx += responses;
        txb += req_bytes;
        rxb += resp_bytes;
        let up = node.is_some_and(|n| n.up);
        brokers.insert(
            name.clone(),
            json!({
                "name": name,
                "nodeid": id,
                "nodename": nodename,
                "state": if up { "UP" } else { "DOWN" },
                "waitresp_cnt": client.in_flight_count(id),
                "tx": requests,
                "txbytes": req_bytes as u64,
                "rx": responses,
                "rxbytes": resp_bytes as u64,
                "connects": node.map_or(0, |n| n.connects),
                "disconnects": node.map_or(0, |n| n.disconnects),
                "rtt": window(node.map(|n| &n.latency), 1000.0, node.map_or(0.0, |n| n.rtt_p99())),
                "throttle": window(node.map(|n| &n.throttle), 1.0, 0.0),
            }),
        );
    }
    top.insert("tx".into(), tx.into());
    top.insert("txbytes".into(), (txb as u64).into());
    top.insert("rx".into(), rx.into());
    top.insert("rxbytes".into(), (rxb as u64).into());
    Value::Object(brokers)
}

/// Microseconds since `start` (the `ts` of a statistics document: a
/// monotonic clock, as librdkafka's) and wall-clock seconds (`time`).
pub fn statistics_times(start: Instant, now: Instant) -> (u64, u64) {
    let ts = now.saturating_duration_since(start).as_micros() as u64;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (ts, time)
}

/// When the next statistics document is due: one per `interval` (0: never),
/// counted from the client's start, skipping intervals that passed unseen.
#[derive(Debug, Clone, Copy)]
pub struct StatisticsTimer {
    interval: Duration,
    next: Option<Instant>,
}

impl StatisticsTimer {
    /// A timer for `statistics.interval.ms` starting at `now`.
    pub fn new(interval: Duration, now: Instant) -> Self {
        StatisticsTimer {
            interval,
            next: (!interval.is_zero()).then(|| now + interval),
        }
    }

    /// When the next document is due (`None`: statistics are off).
    pub fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// True (once) when a document is due at `now`; moves to the next
    /// interval after `now`.
    pub fn due(&mut self, now: Instant) -> bool {
        let Some(next) = self.next else {
            return false;
        };
        if now < next {
            return false;
        }
        let behind = now.saturating_duration_since(next).as_nanos() / self.interval.as_nanos();
        self.next = Some(next + self.interval * (behind as u32 + 1));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rate_divides_by_at_least_one_full_window_as_java() {
        let t0 = Instant::now();
        let mut s = WindowedStat::new(t0);
        s.record(300.0, t0);
        // 10 s after start: elapsed 10 s, padded by one 30 s window.
        assert_eq!(s.rate(t0 + secs(10)), 300.0 / 40.0);
        assert_eq!(s.count_rate(t0 + secs(10)), 1.0 / 40.0);
        s.record(100.0, t0 + secs(35)); // starts the second sample
        assert_eq!(s.rate(t0 + secs(40)), 400.0 / 40.0);
        assert_eq!(s.avg(t0 + secs(40)), 200.0);
        assert_eq!(s.max(t0 + secs(40)), 300.0);
        // At 60 s the first sample (started at 0) expires.
        assert_eq!(s.rate(t0 + secs(61)), 100.0 / 56.0);
        assert_eq!(s.max(t0 + secs(61)), 100.0);
        assert_eq!(s.total(), 400.0);
        assert_eq!(s.total_count(), 2);
    }

    #[test]
    fn empty_window_avg_and_max_are_nan_and_rate_zero() {
        let t0 = Instant::now();
        let mut s = WindowedStat::new(t0);
        assert!(s.avg(t0).is_nan());
        assert!(s.max(t0).is_nan());
        assert_eq!(s.rate(t0), 0.0);
        s.record(5.0, t0);
        assert!(s.avg(t0 + secs(200)).is_nan());
        assert_eq!(s.total(), 5.0);
    }

    #[test]
    fn lookup_by_group_name_and_tags() {
        let mut m = Metrics::new("c1");
        m.add("g", "a", 1.0);
        m.add_tagged("g", "a", &[("topic", "t")], 2.0);
        assert_eq!(m.get("g", "a"), Some(1.0));
        assert_eq!(m.get_tagged("g", "a", &[("topic", "t")]), Some(2.0));
        assert_eq!(m.get_tagged("g", "a", &[("topic", "u")]), None);
        assert_eq!(m.get("g", "b"), None);
        assert_eq!(m.len(), 2);
        let first = m.iter().next().unwrap().0;
        assert_eq!(first.tags["client-id"], "c1");
        assert_eq!(first.to_string(), "g:a,client-id=c1");
    }

    #[test]
    fn node_figures_and_p99() {
        let t0 = Instant::now();
        let mut n = NetworkMetrics::default();
        for i in 1..=100u64 {
            n.record_request(1, 10, t0);
            n.record_response(1, 20, Duration::from_millis(i), t0);
        }
        n.record_connect(1, t0);
        let mut m = Metrics::new("c");
        n.add_to(&mut m, "consumer", t0 + secs(30));
        assert_eq!(m.get("consumer-metrics", "request-total"), Some(100.0));
        assert_eq!(
            m.get("consumer-metrics", "incoming-byte-total"),
            Some(2000.0)
        );
        assert_eq!(m.get("consumer-metrics", "connection-count"), Some(1.0));
        assert_eq!(
            m.get("consumer-metrics", "request-latency-max"),
            Some(100.0)
        );
        assert_eq!(
            m.get_tagged(
                "consumer-node-metrics",
                "request-latency-avg",
                &[("node-id", "node-1")]
            ),
            Some(50.5)
        );
        assert_eq!(n.nodes().next().unwrap().1.rtt_p99(), 99.0);
    }

    #[test]
    fn statistics_timer_fires_once_per_interval() {
        let t0 = Instant::now();
        let mut t = StatisticsTimer::new(secs(1), t0);
        assert!(!t.due(t0));
        assert!(t.due(t0 + secs(1)));
        assert!(!t.due(t0 + secs(1)));
        // Two and a half intervals later: one document, the next at 4 s.
        assert!(t.due(t0 + Duration::from_millis(3500)));
        assert_eq!(t.deadline(), Some(t0 + secs(4)));
        let mut off = StatisticsTimer::new(Duration::ZERO, t0);
        assert!(!off.due(t0 + secs(100)));
        assert_eq!(off.deadline(), None);
    }
}
