//! A slow application against a fast producer: one record per poll and
//! 50 ms of work each, for 60 s, while the producer writes 1 KB records far
//! faster than that. The consumer (its own process, `slow-consumer`) must
//! keep its memory within its fetch limits: it buffers at most what
//! fetch.max.bytes / max.partition.fetch.bytes allow, and leaves the rest on
//! the broker. The test prints the peak RSS it measured.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;

const SECONDS: u64 = 60;
/// fetch.max.bytes for the slow consumer.
const FETCH_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// What the process needs besides its buffers (code, allocator, a debug
/// build's runtime): generous, measured at about 10 MB.
const BASELINE: u64 = 32 * 1024 * 1024;

#[test]
fn slow_application_keeps_memory_within_fetch_limits() {
    harness::init_logging();
    let topic = harness::unique_topic("slow-app");
    harness::create_topic(&topic, 1);
    let bootstrap = harness::bootstrap();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let producer = {
        let (stop, written, topic, bootstrap) = (
            stop.clone(),
            written.clone(),
            topic.clone(),
            bootstrap.clone(),
        );
        std::thread::spawn(move || {
            let p: KafkaProducer<String, String> = KafkaProducer::new(
                ProducerConfig::from_properties([
                    ("bootstrap.servers", bootstrap.as_str()),
                    ("linger.ms", "10"),
                ])
                .expect("producer config"),
                StringSerializer,
                StringSerializer,
            )
            .expect("producer");
            let value = "x".repeat(1000);
            // About 2 MB/s: 100 times what the application can take, and a
            // bounded amount of data for a broker that keeps it in memory.
            let start = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(n / 2);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let _ = p.send(ProducerRecord::new(topic.clone(), value.clone()).partition(0));
                n += 1;
                if n.is_multiple_of(1000) {
                    p.flush();
                    written.store(n, Ordering::Relaxed);
                }
            }
            p.flush();
            written.store(n, Ordering::Relaxed);
            p.close(Duration::from_secs(10));
        })
    };
    let fetch_max = format!("fetch.max.bytes={FETCH_MAX_BYTES}");
    let out = Command::new(env!("CARGO_BIN_EXE_slow-consumer"))
        .args([
            bootstrap.as_str(),
            topic.as_str(),
            &SECONDS.to_string(),
            &fetch_max,
            "max.partition.fetch.bytes=1048576",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run slow-consumer");
    stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer thread");
    assert!(out.status.success(), "slow-consumer failed: {}", out.status);
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    let records = v["records"].as_u64().expect("records");
    let peak = v["peak_rss_kib"].as_u64().expect("peak_rss_kib") * 1024;
    let written = written.load(Ordering::Relaxed);
    eprintln!(
        "slow application: {records} records processed of {written} written ({} MB) in {SECONDS} s; \
         consumer peak RSS {:.1} MB (fetch.max.bytes {} MB, allowed {} MB)",
        written / 1000,
        peak as f64 / 1e6,
        FETCH_MAX_BYTES / 1_000_000,
        (BASELINE + 2 * FETCH_MAX_BYTES) / 1_000_000
    );
    assert!(records > 100, "the application made progress: {records}");
    assert!(
        written > 20 * records,
        "the producer outpaced it: {written} vs {records}"
    );
    assert!(
        peak < BASELINE + 2 * FETCH_MAX_BYTES,
        "peak RSS {peak} bytes is beyond the fetch limits"
    );
}
