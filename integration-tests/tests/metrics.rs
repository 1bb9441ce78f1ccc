//! `metrics()` and the statistics documents of the consumer and producer
//! against a real broker: totals after a known number of records.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prozess::consumer::{ConsumerConfig, KafkaConsumer, StringDeserializer, TopicPartition};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;

const T: Duration = Duration::from_secs(30);
const N: usize = 250;

fn new_topic(prefix: &str) -> String {
    let topic = harness::unique_topic(prefix);
    harness::create_topic(&topic, 1);
    topic
}

/// Produces `N` records to partition 0 of `topic` and returns the
/// producer's metrics after the last acknowledgement, with the statistics
/// documents it emitted.
fn produce(topic: &str) -> (prozess::network::Metrics, Vec<serde_json::Value>) {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", harness::bootstrap().as_str()),
        ("client.id", "metrics-it-producer"),
        ("linger.ms", "5"),
        ("statistics.interval.ms", "100"),
    ])
    .expect("producer config");
    let p: KafkaProducer<String, String> =
        KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer");
    let docs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = docs.clone();
    p.set_statistics_handler(move |json| sink.lock().unwrap().push(json.to_string()));
    let futures: Vec<_> = (0..N)
        .map(|i| p.send(ProducerRecord::new(topic.to_string(), format!("v{i}")).partition(0)))
        .collect();
    for f in futures {
        f.get().expect("delivered");
    }
    let m = p.metrics();
    // Wait (bounded) for a document written after the last acknowledgement.
    let start = Instant::now();
    while start.elapsed() < T {
        let last = docs.lock().unwrap().last().cloned();
        if let Some(doc) = last {
            let doc: serde_json::Value = serde_json::from_str(&doc).expect("JSON");
            if doc["txmsgs"] == N as u64 && doc["msg_cnt"] == 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    p.close(Duration::from_secs(10));
    let docs = docs
        .lock()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_str(d).expect("JSON"))
        .collect();
    (m, docs)
}

#[test]
fn producer_metrics_count_what_was_sent() {
    harness::init_logging();
    let topic = new_topic("metrics-produce");
    let (m, docs) = produce(&topic);
    let g = "producer-metrics";
    assert_eq!(m.get(g, "record-send-total"), Some(N as f64));
    assert_eq!(m.get(g, "record-error-total"), Some(0.0));
    assert_eq!(m.get(g, "record-retry-total"), Some(0.0));
    assert_eq!(
        m.get_tagged(
            "producer-topic-metrics",
            "record-send-total",
            &[("topic", &topic)]
        ),
        Some(N as f64)
    );
    assert!(m.get(g, "batch-size-avg").is_some_and(|v| v > 0.0));
    assert!(m.get(g, "request-total").is_some_and(|v| v >= 1.0));
    assert!(m.get(g, "request-latency-max").is_some_and(|v| v >= 0.0));
    let last = docs.last().expect("statistics documents");
    assert_eq!(last["type"], "producer");
    assert_eq!(last["client_id"], "metrics-it-producer");
    assert_eq!(last["txmsgs"], N as u64);
    assert_eq!(last["msg_cnt"], 0);
    assert_eq!(
        last["topics"][&topic]["partitions"]["0"]["txmsgs"],
        N as u64
    );
    let up = last["brokers"]
        .as_object()
        .unwrap()
        .values()
        .any(|b| b["state"] == "UP" && b["rx"].as_u64().unwrap_or(0) > 0);
    assert!(up, "a broker that answered: {}", last["brokers"]);
}

#[test]
fn consumer_metrics_count_what_was_consumed() {
    harness::init_logging();
    let topic = new_topic("metrics-consume");
    produce(&topic);
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", harness::bootstrap().as_str()),
        ("client.id", "metrics-it-consumer"),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
        ("max.poll.records", "100"),
        ("statistics.interval.ms", "100"),
    ])
    .expect("config");
    let mut c: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
    let docs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = docs.clone();
    c.set_statistics_handler(move |json| sink.lock().unwrap().push(json.to_string()));
    let tp = TopicPartition::new(&topic, 0);
    c.assign([tp.clone()]).unwrap();
    let start = Instant::now();
    let mut got = 0;
    while got < N && start.elapsed() < T {
        got += c.poll(Duration::from_millis(200)).expect("poll").count();
    }
    assert_eq!(got, N);
    let m = c.metrics();
    let f = "consumer-fetch-manager-metrics";
    assert_eq!(m.get(f, "records-consumed-total"), Some(N as f64));
    assert_eq!(
        m.get_tagged(f, "records-consumed-total", &[("topic", &topic)]),
        Some(N as f64)
    );
    assert!(m.get(f, "fetch-total").is_some_and(|v| v >= 1.0));
    assert!(m.get(f, "bytes-consumed-total").is_some_and(|v| v > 0.0));
    assert_eq!(m.get(f, "records-lag-max"), Some(0.0));
    let p0 = [("topic", topic.as_str()), ("partition", "0")];
    assert_eq!(m.get_tagged(f, "records-lag", &p0), Some(0.0));
    assert!(m
        .get("consumer-metrics", "response-total")
        .is_some_and(|v| v >= 1.0));
    // A document written after the last record was handed out.
    let start = Instant::now();
    let mut last = serde_json::Value::Null;
    while start.elapsed() < T {
        c.poll(Duration::from_millis(150)).expect("poll");
        if let Some(d) = docs.lock().unwrap().last() {
            last = serde_json::from_str(d).expect("JSON");
        }
        if last["rxmsgs"] == N as u64 {
            break;
        }
    }
    assert_eq!(last["type"], "consumer");
    assert_eq!(last["rxmsgs"], N as u64);
    let p = &last["topics"][&topic]["partitions"]["0"];
    assert_eq!(p["msgs"], N as u64);
    assert_eq!(p["hi_offset"], N as u64);
    assert_eq!(p["app_offset"], N as u64);
    assert_eq!(p["consumer_lag"], 0);
    assert_eq!(p["fetch_state"], "active");
}
