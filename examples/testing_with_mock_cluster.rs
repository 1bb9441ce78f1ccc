//! Testing a poll loop against an in-process Kafka cluster, with time under
//! the test's control.
//!
//! The application code below (a poll loop that processes a batch and then
//! commits) is tested for what happens when processing one batch takes
//! longer than `max.poll.interval.ms` while another member joins: the
//! broker waits for the slow member to rejoin for at most its rebalance
//! timeout (= `max.poll.interval.ms`), then removes it; the other member
//! gets all partitions, the slow member's commit fails, and the records it
//! did not commit are delivered to the other member (at-least-once). The
//! slow member then rejoins on its next poll and its listener hears that
//! its partitions were lost.
//!
//! Time is the cluster's `MockTime`: the minute of "processing" passes in
//! microseconds of real time, and the run is the same every time.
//!
//! ```text
//! cargo run --example testing_with_mock_cluster
//! ```
//!
//! In a test of your own, the same code goes in a `#[test]` function; see
//! also `mock/tests/clients.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prozess::consumer::{
    ConsumerConfig, ConsumerRebalanceListener, KafkaConsumer, Result, StringDeserializer,
    TopicPartition,
};
use prozess::mock::{ClusterConfig, MockCluster, MockClusterClient, MockTime};

type Consumer = KafkaConsumer<String, String, MockClusterClient>;

/// Records what the group did to this member.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl ConsumerRebalanceListener<String, String, MockClusterClient> for Events {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, tps: &[TopicPartition]) -> Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {}", tps.len()));
        Ok(())
    }
    fn on_partitions_assigned(&mut self, _: &mut Consumer, tps: &[TopicPartition]) -> Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {}", tps.len()));
        Ok(())
    }
    fn on_partitions_lost(&mut self, _: &mut Consumer, tps: &[TopicPartition]) -> Result<()> {
        self.0.lock().unwrap().push(format!("lost {}", tps.len()));
        Ok(())
    }
}

/// One pass of the application's loop: poll, process (`work` stands for
/// the processing), commit. Returns the values processed and whether the
/// commit succeeded.
fn poll_process_commit(c: &mut Consumer, mut work: impl FnMut()) -> (Vec<String>, bool) {
    let records = c.poll(Duration::from_millis(500)).expect("poll");
    let values: Vec<String> = records.iter().filter_map(|r| r.value.clone()).collect();
    if values.is_empty() {
        return (values, true);
    }
    work();
    // A commit after the member was removed fails; the application carries
    // on, and the records go to whoever owns the partitions now.
    match c.commit_sync() {
        Ok(()) => (values, true),
        Err(e) => {
            println!("  commit failed: {e}");
            (values, false)
        }
    }
}

fn member(cluster: &MockCluster, events: &Events) -> Consumer {
    let clock = cluster.time();
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", "mock:9092"),
        ("group.id", "payments-app"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("max.poll.interval.ms", "60000"),
        // Longer than the slow batch, so that what ends the membership is
        // the rebalance timeout (max.poll.interval.ms), not the session.
        ("session.timeout.ms", "300000"),
    ])
    .unwrap();
    let mut c: Consumer = KafkaConsumer::with_client(
        config,
        cluster.client(),
        StringDeserializer,
        StringDeserializer,
        Box::new(move || clock.now()),
    );
    c.subscribe(["payments"], events.clone()).unwrap();
    c
}

fn main() {
    let started = Instant::now();
    let cluster = MockCluster::with_config(
        3,
        ClusterConfig {
            group_initial_rebalance_delay: Duration::ZERO,
            ..ClusterConfig::default()
        },
        MockTime::new(),
    );
    cluster.create_topic("payments", 2);
    let pay = |i: i32| {
        let v = format!("payment-{i}");
        cluster
            .produce("payments", i % 2, &[(None, v.as_bytes())])
            .unwrap();
    };
    (0..4).for_each(pay);
    let time = cluster.time();
    let mock_start = time.now();

    // Member A alone, processing fast: everything once, committed.
    let a_events = Events::default();
    let mut a = member(&cluster, &a_events);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.extend(poll_process_commit(&mut a, || time.advance(Duration::from_secs(1))).0);
    }
    assert_eq!(cluster.committed("payments-app", "payments", 0), Some(2));
    println!("A processed {seen:?}");

    // Two more records. A's batch takes long; meanwhile B joins and polls.
    (4..6).for_each(pay);
    let b_events = Events::default();
    let mut b = member(&cluster, &b_events);
    let mut b_got = Vec::new();
    let (slow, committed) = loop {
        let (values, ok) = poll_process_commit(&mut a, || {
            // The "work": B polls on (each idle poll moves the mock clock)
            // until the broker gave up waiting for A, 60 s on.
            while b.assignment().len() < 2 {
                b_got.extend(poll_process_commit(&mut b, || {}).0);
            }
        });
        if !values.is_empty() {
            break (values, ok);
        }
    };
    println!("A's slow batch {slow:?}, committed: {committed}");
    assert!(!committed, "A was removed before it committed");
    // Ended by the rebalance timeout (max.poll.interval.ms, 60 s), not by
    // the 300 s session timeout.
    let slow_phase = time.now() - mock_start;
    assert!(slow_phase >= Duration::from_secs(60) && slow_phase < Duration::from_secs(90));

    // B, now owning both partitions, gets the records A did not commit.
    for _ in 0..20 {
        if b_got.len() >= slow.len() {
            break;
        }
        b_got.extend(poll_process_commit(&mut b, || {}).0);
    }
    let (mut s1, mut s2) = (slow.clone(), b_got.clone());
    s1.sort();
    s2.sort();
    assert_eq!(s1, s2, "the uncommitted batch is delivered again, to B");
    assert_eq!(cluster.committed("payments-app", "payments", 0), Some(3));

    // A's next poll: its partitions are lost, and it rejoins.
    for _ in 0..50 {
        poll_process_commit(&mut a, || {});
        poll_process_commit(&mut b, || {});
        if a.assignment().len() == 1 && b.assignment().len() == 1 {
            break;
        }
    }
    let log = a_events.0.lock().unwrap().clone();
    println!("A's listener: {log:?}");
    assert!(log.iter().any(|e| e.starts_with("lost")), "{log:?}");
    assert_eq!((a.assignment().len(), b.assignment().len()), (1, 1));
    println!(
        "ok: {:?} of mock time in {:?} of real time",
        time.now() - mock_start,
        started.elapsed()
    );
}
