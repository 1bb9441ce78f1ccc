//! `KafkaConsumer::metrics()` and the statistics documents, checked against
//! known work on a MockClient with a MockTime clock (exact figures).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// A consumer on a MockTime clock, `t-0` assigned at offset 0.
fn timed_consumer(props: &[(&str, &str)], client: MockClient, time: &MockTime) -> Consumer {
    let mut all = vec![("bootstrap.servers", "localhost:9092"), ("client.id", "c1")];
    all.extend_from_slice(props);
    let config = ConsumerConfig::from_properties(all).unwrap();
    let clock_time = time.clone();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        client,
        StringDeserializer,
        StringDeserializer,
        Box::new(move || clock_time.now()),
    );
    c.assign([tp(0)]).unwrap();
    c.seek(&tp(0), 0).unwrap();
    c
}

fn last_fetch(c: &mut Consumer) -> i32 {
    c.client()
        .requests_of(ApiKey::Fetch)
        .last()
        .expect("a fetch was sent")
        .correlation_id
}

#[test]
fn fetch_metrics_count_records_bytes_and_latency() {
    let time = MockTime::new();
    let t0 = time.now();
    let client = MockClient::new_with_cluster_at(&[0], &[("t", 1)], t0).with_time(time.clone());
    let mut c = timed_consumer(&[], client, &time);
    let (b1, b2) = (
        batch(0, 3, Compression::None),
        batch(3, 4, Compression::None),
    );
    c.poll(Duration::ZERO).unwrap(); // fetch 1 leaves at t0
    time.advance(Duration::from_millis(20));
    let id = last_fetch(&mut c);
    c.client_mut()
        .respond_to_request(id, fetch_response(vec![part(0, b1.clone(), 7)], 0));
    assert_eq!(c.poll(Duration::ZERO).unwrap().count(), 3); // fetch 2 leaves at t0+20
    time.advance(Duration::from_millis(40));
    let id = last_fetch(&mut c);
    c.client_mut()
        .respond_to_request(id, fetch_response(vec![part(0, b2.clone(), 7)], 0));
    assert_eq!(c.poll(Duration::ZERO).unwrap().count(), 4);

    let m = c.metrics();
    let f = "consumer-fetch-manager-metrics";
    let get = |name: &str| m.get(f, name).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(get("records-consumed-total"), 7.0);
    assert_eq!(get("fetch-total"), 2.0);
    // Java's window: 60 ms elapsed, padded to one full 30 s sample.
    assert_eq!(get("records-consumed-rate"), 7.0 / 30.06);
    assert_eq!(get("fetch-rate"), 2.0 / 30.06);
    assert_eq!(get("fetch-latency-avg"), 30.0);
    assert_eq!(get("fetch-latency-max"), 40.0);
    let bytes = (b1.len() + b2.len()) as f64;
    assert_eq!(get("bytes-consumed-total"), bytes);
    assert_eq!(get("fetch-size-avg"), bytes / 2.0);
    assert_eq!(get("fetch-size-max"), b2.len().max(b1.len()) as f64);
    assert_eq!(get("records-per-request-avg"), 3.5);
    assert_eq!(get("records-lag-max"), 0.0);
    assert_eq!(get("records-lead-min"), 7.0);
    let t = [("topic", "t")];
    assert_eq!(m.get_tagged(f, "records-consumed-total", &t), Some(7.0));
    let tp0 = [("topic", "t"), ("partition", "0")];
    assert_eq!(m.get_tagged(f, "records-lag", &tp0), Some(0.0));
    // Polls at 0, 20 and 60 ms, each returning at once.
    let g = "consumer-metrics";
    assert_eq!(m.get(g, "time-between-poll-avg"), Some(20.0));
    assert_eq!(m.get(g, "time-between-poll-max"), Some(40.0));
    assert_eq!(m.get(g, "poll-idle-ratio-avg"), Some(0.0));
    assert_eq!(m.get(g, "last-poll-seconds-ago"), Some(0.0));
    // The network layer's own count: two answered fetches, a third in flight.
    assert_eq!(m.get(g, "response-total"), Some(2.0));
    assert_eq!(m.get(g, "request-total"), Some(3.0));
    assert_eq!(m.get(g, "request-latency-max"), Some(40.0));
    assert_eq!(
        m.get_tagged(
            "consumer-node-metrics",
            "response-total",
            &[("node-id", "node-0")]
        ),
        Some(2.0)
    );
    assert!(m.iter().all(|(n, _)| n.tags["client-id"] == "c1"));
}

#[test]
fn commit_latency_and_committed_offsets() {
    let time = MockTime::new();
    let mut client =
        MockClient::new_with_cluster_at(&[0, 1], &[("t", 2)], time.now()).with_time(time.clone());
    client.prepare_response(
        is(ApiKey::FindCoordinator),
        find_coordinator_response(1, ErrorCode::None),
    );
    let mut c = timed_consumer(
        &[("group.id", "g"), ("enable.auto.commit", "false")],
        client,
        &time,
    );
    c.seek(&tp(0), 4).unwrap();
    c.commit_async(None).unwrap();
    for _ in 0..10 {
        if !c.client().requests_of(ApiKey::OffsetCommit).is_empty() {
            break;
        }
        c.poll(Duration::ZERO).unwrap();
    }
    let sent = c.client().requests_of(ApiKey::OffsetCommit)[0].correlation_id;
    time.advance(Duration::from_millis(15));
    c.client_mut()
        .respond_to_request(sent, commit_response(&[(0, ErrorCode::None)]));
    c.poll(Duration::ZERO).unwrap();
    let m = c.metrics();
    let g = "consumer-coordinator-metrics";
    assert_eq!(m.get(g, "commit-total"), Some(1.0));
    assert_eq!(m.get(g, "commit-latency-avg"), Some(15.0));
    assert_eq!(m.get(g, "commit-latency-max"), Some(15.0));
    assert_eq!(m.get(g, "assigned-partitions"), Some(1.0));
    assert_eq!(
        m.get(g, "rebalance-total"),
        Some(0.0),
        "assign() is no rebalance"
    );
}

#[test]
fn one_statistics_document_per_interval_with_librdkafka_names() {
    let time = MockTime::new();
    let t0 = time.now();
    let mut client = MockClient::new_with_cluster_at(&[0], &[("t", 1)], t0).with_time(time.clone());
    let b = batch(0, 3, Compression::None);
    client.prepare_response(
        fetch_from(0, 0),
        fetch_response(vec![part(0, b.clone(), 10)], 0),
    );
    let mut c = timed_consumer(&[("statistics.interval.ms", "1000")], client, &time);
    let docs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = docs.clone();
    c.set_statistics_handler(move |json| sink.lock().unwrap().push(json.to_string()));
    assert_eq!(poll_until(&mut c, 3).len(), 3);
    assert!(
        docs.lock().unwrap().is_empty(),
        "none before the first interval"
    );
    time.advance(Duration::from_millis(1000));
    c.poll(Duration::ZERO).unwrap();
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(docs.lock().unwrap().len(), 1, "exactly one per interval");
    time.advance(Duration::from_millis(2500));
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(
        docs.lock().unwrap().len(),
        2,
        "one for the intervals passed unseen"
    );

    let doc: serde_json::Value = serde_json::from_str(&docs.lock().unwrap()[0]).unwrap();
    assert_eq!(doc["type"], "consumer");
    assert_eq!(doc["client_id"], "c1");
    assert_eq!(
        doc["ts"], 1_000_000,
        "microseconds since the consumer started"
    );
    assert_eq!(doc["rxmsgs"], 3);
    let p = &doc["topics"]["t"]["partitions"]["0"];
    assert_eq!(p["partition"], 0);
    assert_eq!(p["leader"], 0);
    assert_eq!(p["fetch_state"], "active");
    assert_eq!(p["msgs"], 3);
    assert_eq!(p["rxbytes"], b.len() as u64);
    assert_eq!(p["app_offset"], 3);
    assert_eq!(p["hi_offset"], 10);
    assert_eq!(p["lo_offset"], 0);
    assert_eq!(p["consumer_lag"], 7);
    assert_eq!(p["committed_offset"], -1001);
    let brokers = doc["brokers"].as_object().unwrap();
    let b0 = brokers
        .values()
        .find(|b| b["nodeid"] == 0)
        .expect("broker 0 listed");
    assert_eq!(b0["state"], "UP");
    assert_eq!(b0["connects"], 1);
    assert_eq!(b0["rx"], 1, "one answered fetch");
    assert_eq!(b0["tx"], 2, "and the next one in flight");
    assert_eq!(b0["waitresp_cnt"], 1);
    assert_eq!(b0["rtt"]["cnt"], 1);
    assert!(doc.get("cgrp").is_none(), "no group: no cgrp");
}
