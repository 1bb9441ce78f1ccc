//! The sender's metrics and statistics, checked against known work on a
//! MockClient with a MockTime clock (exact figures).

use std::sync::Mutex;

use super::*;
use crate::metrics::MetricsExchange;
use prozess_network::mock::{MockClient, MockTime};

/// A sender over a MockClient whose cluster has topic `t` (2 partitions,
/// both led by node 1), its metadata published.
fn sender(time: &MockTime) -> Sender<MockClient> {
    let client =
        MockClient::new_with_cluster_at(&[1], &[("t", 2)], time.now()).with_time(time.clone());
    let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
        batch_size: 16384,
        buffer_memory: 1 << 20,
        linger: Duration::ZERO,
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_secs(1),
        delivery_timeout: Duration::from_secs(120),
        max_in_flight_per_partition: 1,
        compression: Compression::None,
        compression_level: None,
    }));
    let mut s = Sender::new(
        client,
        acc,
        Arc::new(ProducerMetadata::new()),
        config(Acks::All, false),
    );
    assert!(s.metadata.register("t"));
    s.run_once(time.now());
    s
}

fn response(parts: &[(i32, ErrorCode)], throttle_ms: i32) -> ResponseBody {
    ResponseBody::Produce(ProduceResponse {
        throttle_time_ms: throttle_ms,
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            partition_responses: parts
                .iter()
                .map(|&(index, code)| PartitionProduceResponse {
                    index,
                    error_code: code.code(),
                    base_offset: 0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// The encoded batch sizes of the last ProduceRequest.
fn last_batch_sizes(s: &Sender<MockClient>) -> Vec<usize> {
    let p = s.client().requests_of(ApiKey::Produce);
    let RequestBody::Produce(p) = &p.last().expect("a ProduceRequest").body else {
        unreachable!()
    };
    p.topic_data[0]
        .partition_data
        .iter()
        .map(|d| d.records.as_ref().unwrap().len())
        .collect()
}

#[test]
fn send_error_and_latency_metrics_match_the_work_done() {
    let time = MockTime::new();
    let mut s = sender(&time);
    let acc = s.accumulator.clone();
    for i in 0..3 {
        append(&acc, 0, &format!("a{i}"), time.now());
    }
    for i in 0..2 {
        append(&acc, 1, &format!("b{i}"), time.now());
    }
    s.run_once(time.now());
    let sizes = last_batch_sizes(&s);
    assert_eq!(sizes.len(), 2, "both batches in one request");
    time.advance(Duration::from_millis(25));
    s.client_mut()
        .respond(response(&[(0, ErrorCode::None), (1, ErrorCode::None)], 0));
    s.run_once(time.now());

    // A batch of 4 the broker refuses for good.
    for i in 0..4 {
        append(&acc, 0, &format!("c{i}"), time.now());
    }
    s.run_once(time.now());
    let failed_size = last_batch_sizes(&s)[0];
    time.advance(Duration::from_millis(15));
    s.client_mut()
        .respond(response(&[(0, ErrorCode::TopicAuthorizationFailed)], 8));
    s.run_once(time.now());

    let m = s.metrics_snapshot(time.now());
    let g = "producer-metrics";
    let get = |name: &str| m.get(g, name).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(get("record-send-total"), 9.0);
    // 40 ms since the sender's first pass, padded to one full 30 s sample.
    assert_eq!(get("record-send-rate"), 9.0 / 30.04);
    assert_eq!(get("record-error-total"), 4.0);
    assert_eq!(get("record-error-rate"), 4.0 / 30.04);
    assert_eq!(get("record-retry-total"), 0.0);
    assert_eq!(get("records-per-request-avg"), 4.5);
    let all = (sizes[0] + sizes[1] + failed_size) as f64;
    assert_eq!(get("batch-size-avg"), all / 3.0);
    assert_eq!(
        get("batch-size-max"),
        *sizes.iter().chain([&failed_size]).max().unwrap() as f64
    );
    assert_eq!(get("produce-throttle-time-avg"), 4.0);
    assert_eq!(get("produce-throttle-time-max"), 8.0);
    assert_eq!(get("request-latency-avg"), 20.0);
    assert_eq!(get("request-latency-max"), 25.0);
    assert_eq!(get("buffer-total-bytes"), (1 << 20) as f64);
    assert_eq!(
        get("buffer-available-bytes"),
        (1 << 20) as f64,
        "all released"
    );
    let t = [("topic", "t")];
    assert_eq!(
        m.get_tagged("producer-topic-metrics", "record-send-total", &t),
        Some(9.0)
    );
    assert_eq!(
        m.get_tagged("producer-topic-metrics", "record-error-total", &t),
        Some(4.0)
    );
    assert_eq!(
        m.get_tagged(
            "producer-node-metrics",
            "request-latency-max",
            &[("node-id", "node-1")]
        ),
        Some(25.0)
    );
}

#[test]
fn retried_batches_count_as_retries() {
    let time = MockTime::new();
    let mut s = sender(&time);
    let acc = s.accumulator.clone();
    append(&acc, 0, "x", time.now());
    append(&acc, 0, "y", time.now());
    s.run_once(time.now());
    s.client_mut()
        .respond(response(&[(0, ErrorCode::NotLeaderOrFollower)], 0));
    s.run_once(time.now());
    let m = s.metrics_snapshot(time.now());
    assert_eq!(m.get("producer-metrics", "record-retry-total"), Some(2.0));
    assert_eq!(m.get("producer-metrics", "record-error-total"), Some(0.0));
}

#[test]
fn one_statistics_document_per_interval() {
    let time = MockTime::new();
    let mut s = sender(&time);
    let exchange = Arc::new(MetricsExchange::default());
    let docs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = docs.clone();
    *exchange.handler.lock().unwrap() = Some(Box::new(move |json: &str| {
        sink.lock().unwrap().push(json.to_string())
    }));
    s.set_metrics_exchange(exchange.clone(), "p1".into(), Duration::from_millis(1000));
    let acc = s.accumulator.clone();
    for i in 0..3 {
        append(&acc, 0, &format!("a{i}"), time.now());
    }
    s.run_once(time.now());
    let size = last_batch_sizes(&s)[0];
    s.client_mut().respond(response(&[(0, ErrorCode::None)], 0));
    s.run_once(time.now());
    append(&acc, 1, "waiting", time.now());
    assert!(docs.lock().unwrap().is_empty());
    time.advance(Duration::from_millis(1000));
    s.run_once(time.now());
    s.run_once(time.now());
    assert_eq!(docs.lock().unwrap().len(), 1, "exactly one per interval");

    let doc: serde_json::Value = serde_json::from_str(&docs.lock().unwrap()[0]).unwrap();
    assert_eq!(doc["type"], "producer");
    assert_eq!(doc["client_id"], "p1");
    // Microseconds since the sender's first pass (at t0).
    assert_eq!(doc["ts"], 1_000_000);
    assert_eq!(doc["txmsgs"], 3);
    assert_eq!(doc["txmsg_bytes"], size as u64);
    assert_eq!(doc["msg_cnt"], 1, "the record appended after the ack waits");
    let p0 = &doc["topics"]["t"]["partitions"]["0"];
    assert_eq!(p0["txmsgs"], 3);
    assert_eq!(p0["txbytes"], size as u64);
    assert_eq!(p0["leader"], 1);
    let b1 = doc["brokers"]
        .as_object()
        .unwrap()
        .values()
        .find(|b| b["nodeid"] == 1)
        .expect("broker 1");
    assert_eq!(b1["state"], "UP");
    assert_eq!(b1["tx"], 1);
    assert_eq!(b1["rx"], 1);

    // A metrics request is answered on the next pass.
    exchange.request();
    s.run_once(time.now());
    let m = exchange.wait(Duration::ZERO).expect("published");
    // The record that waited went out on the pass after the document.
    assert_eq!(m.get("producer-metrics", "record-send-total"), Some(4.0));
}
