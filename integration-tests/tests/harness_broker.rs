//! The harness's broker: it starts (or PROZESS_BOOTSTRAP is used), answers
//! ApiVersions, creates topics, and dies with the process that started it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::wire::{connect_any, Connection};
use prozess_integration_tests as harness;

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn broker_answers_api_versions() {
    let mut conn = connect_any(&harness::bootstrap(), TIMEOUT).expect("connect");
    let versions = conn.api_versions().expect("ApiVersions");
    // Every Kafka-compatible broker the suite targets has Produce (0),
    // Fetch (1), Metadata (3) and ApiVersions (18).
    for key in [0i16, 1, 3, 18] {
        assert!(
            versions.iter().any(|(k, min, max)| *k == key && min <= max),
            "api {key} missing from {versions:?}"
        );
    }
    assert!(harness::broker_supports(18, 0));
    assert!(!harness::broker_supports(18, i16::MAX));
    if !harness::is_external() {
        assert!(harness::is_tansu());
    }
}

#[test]
fn created_topic_is_listed_with_leaders() {
    let topic = harness::unique_topic("harness-create");
    harness::create_topic(&topic, 3);
    let mut admin = prozess::AdminClient::from_bootstrap(&harness::bootstrap()).expect("admin");
    let d = admin.describe_topics(&[&topic]).expect("describe");
    let parts: Vec<i32> = d[0].partitions.iter().map(|p| p.partition).collect();
    assert_eq!(parts, vec![0, 1, 2]);
    assert!(d[0].partitions.iter().all(|p| p.leader.is_some()));
    assert!(!admin.describe_cluster().expect("cluster").nodes.is_empty());
    harness::wait_for_topic(&harness::bootstrap(), &topic, 3, TIMEOUT).expect("still ready");
}

#[test]
fn creating_an_existing_topic_fails() {
    let topic = harness::unique_topic("harness-dup");
    harness::create_topic(&topic, 1);
    let err = harness::create_topic_on(&harness::bootstrap(), &topic, 1).unwrap_err();
    assert!(err.0.contains("TOPIC_ALREADY_EXISTS"), "{err}");
}

#[test]
fn unique_topics_differ_and_are_legal_names() {
    let a = harness::unique_topic("x y/z");
    let b = harness::unique_topic("x y/z");
    assert_ne!(a, b);
    assert!(a
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'));
    assert!(a.len() < 249);
}

#[test]
fn separate_broker_starts_and_stops_on_drop() {
    if harness::skip_if_external("starts its own Tansu broker") {
        return;
    }
    let mut broker = harness::Broker::start().expect("start");
    let addr = broker.addr();
    assert!(broker.is_running());
    Connection::connect(&addr.to_string(), TIMEOUT)
        .and_then(|mut c| c.api_versions())
        .expect("ApiVersions");
    drop(broker);
    // Drop waits for the supervisor, which exits only after Tansu did.
    assert!(Connection::connect(&addr.to_string(), Duration::from_secs(1)).is_err());
}

/// A broker must not outlive the process that started it, even when that
/// process is killed without any chance to clean up.
#[test]
fn broker_dies_when_its_starter_is_killed() {
    if harness::skip_if_external("starts its own Tansu broker") {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_prozess-broker"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run prozess-broker");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("address line");
    let addr = line.trim().to_string();
    Connection::connect(&addr, TIMEOUT)
        .and_then(|mut c| c.api_versions())
        .expect("the started broker answers");
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // Not a timing assertion: we only give the supervisor ample time to act.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if Connection::connect(&addr, Duration::from_secs(1)).is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Tansu on {addr} outlived its starter"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An Apache Kafka cluster must not outlive the process that started it
/// either: when `prozess-broker --kafka` is killed (SIGKILL), the janitor
/// kills the nodes and removes the cluster's directory.
#[test]
fn kafka_cluster_dies_and_is_removed_when_its_starter_is_killed() {
    if harness::skip_on(
        std::env::var_os(harness::kafka::KAFKA_HOME_ENV).is_none(),
        "needs a Kafka distribution (PROZESS_KAFKA_HOME; set in the Kafka stages)",
    ) {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_prozess-broker"))
        .args(["--kafka", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run prozess-broker --kafka 1");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut info) = (String::new(), String::new());
    out.read_line(&mut addr).expect("address line");
    out.read_line(&mut info).expect("cluster.json line");
    let (addr, info) = (addr.trim().to_string(), info.trim().to_string());
    let cluster = harness::KafkaCluster::attach(std::path::Path::new(&info)).expect("attach");
    let dir = cluster.info().dir.clone();
    let pid_file = cluster.info().nodes[0].pid_file.clone();
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(
        harness::kafka::metadata_brokers(&addr).expect("the cluster answers"),
        vec![1]
    );
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // Not a timing assertion: the janitor gets ample time to act.
    let deadline = Instant::now() + Duration::from_secs(30);
    while dir.exists() || std::path::Path::new(&format!("/proc/{}", pid.trim())).exists() {
        assert!(
            Instant::now() < deadline,
            "the Kafka node (pid {}) or {} outlived its starter",
            pid.trim(),
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Connection::connect(&addr, Duration::from_secs(1)).is_err());
}
