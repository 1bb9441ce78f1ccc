//! Test harness for prozess's integration tests.
//!
//! It gives every test binary one real broker to talk to:
//! - when `PROZESS_BOOTSTRAP=host:port[,host:port]` is set, that cluster (for
//!   example Apache Kafka) is used and nothing is started;
//! - otherwise a Tansu broker (an Apache-Kafka-compatible broker, see
//!   `../shared/BROKERS.md`) is started on first use on a free loopback port,
//!   shared by all tests of the binary, and dies with the test process.
//!
//! Tests create their own topics with [`unique_topic`] + [`create_topic`], so
//! they can run in parallel against the one broker. [`peer`] gives the
//! independent librdkafka client (kcat and confluent-kafka) for interop tests,
//! and [`proxy::FaultProxy`] injects network faults between a client and a
//! broker.

pub mod admin;
pub mod broker;
pub mod kafka;
pub mod peer;
pub mod peer_py;
pub mod process;
pub mod proxy;
pub mod wire;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use admin::{create_topic, create_topic_on, wait_for_topic};
pub use broker::{Broker, ProxiedBroker};
pub use kafka::{ClusterOptions, KafkaCluster, Listener};
pub use proxy::FaultProxy;

/// Environment variable naming an existing cluster to test against.
pub const BOOTSTRAP_ENV: &str = "PROZESS_BOOTSTRAP";

/// An error of the harness itself (setting up brokers, peers, topics). It
/// carries a message meant for a human reading a failed test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError(pub String);

impl HarnessError {
    /// Builds an error from anything printable.
    pub fn new(msg: impl Into<String>) -> Self {
        HarnessError(msg.into())
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<std::io::Error> for HarnessError {
    fn from(e: std::io::Error) -> Self {
        HarnessError(e.to_string())
    }
}

/// Sends the client's `tracing` output to the test's captured output
/// (shown only when a test fails), filtered by `RUST_LOG`, or when that is
/// unset by warnings plus group membership changes, so that a failed group
/// test in CI carries its own story. Later calls do nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,prozess_consumer::group=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Result type of the harness.
pub type Result<T> = std::result::Result<T, HarnessError>;

/// The cluster named by `PROZESS_BOOTSTRAP`, if set and not empty.
pub fn external_bootstrap() -> Option<String> {
    std::env::var(BOOTSTRAP_ENV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Environment variable that makes a test process start an Apache Kafka
/// cluster of its own (`PROZESS_BROKER=kafka`, from `PROZESS_KAFKA_HOME`)
/// instead of Tansu, when no cluster is named otherwise.
pub const BROKER_ENV: &str = "PROZESS_BROKER";
/// Number of nodes of that cluster (default 1).
pub const KAFKA_NODES_ENV: &str = "PROZESS_KAFKA_NODES";

/// The Apache Kafka cluster under test, when there is one the harness knows
/// the inside of (listeners, certificates, node processes): attached through
/// `PROZESS_KAFKA_CLUSTER` (what `scripts/test.sh` sets), or started by this
/// process when `PROZESS_BROKER=kafka`. `None` with `PROZESS_BOOTSTRAP` or
/// on Tansu. Panics if the cluster named cannot be attached or started.
pub fn kafka_cluster() -> Option<&'static KafkaCluster> {
    static CLUSTER: OnceLock<Option<KafkaCluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            if external_bootstrap().is_some() {
                return None;
            }
            if let Some(path) = std::env::var_os(kafka::CLUSTER_ENV).filter(|p| !p.is_empty()) {
                return Some(
                    KafkaCluster::attach(std::path::Path::new(&path))
                        .unwrap_or_else(|e| panic!("attaching the Kafka cluster: {e}")),
                );
            }
            if std::env::var(BROKER_ENV).is_ok_and(|b| b.eq_ignore_ascii_case("kafka")) {
                let nodes = std::env::var(KAFKA_NODES_ENV)
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                return Some(
                    KafkaCluster::start(nodes, &cache_dir().join("kafka-clusters"))
                        .unwrap_or_else(|e| panic!("starting a {nodes}-node Kafka cluster: {e}")),
                );
            }
            None
        })
        .as_ref()
}

/// The cache folder of the scripts (`PROZESS_CACHE_DIR`, default
/// `<workspace>/target/prozess-cache`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("PROZESS_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("prozess-cache"))
}

/// True when the tests do not run against the harness's own Tansu broker:
/// with `PROZESS_BOOTSTRAP`, or on an Apache Kafka cluster.
pub fn is_external() -> bool {
    external_bootstrap().is_some() || kafka_cluster().is_some()
}

/// The bootstrap servers (`host:port[,host:port]`) of the cluster under test:
/// `PROZESS_BOOTSTRAP` when set, else the Kafka cluster's PLAINTEXT listeners
/// ([`kafka_cluster`]), else the shared Tansu broker of this test process
/// (started on first call). Panics with the reason if the broker cannot be
/// started: tests cannot do anything useful without it.
pub fn bootstrap() -> String {
    if let Some(b) = external_bootstrap() {
        return b;
    }
    if let Some(k) = kafka_cluster() {
        return k.bootstrap();
    }
    shared_broker().bootstrap()
}

/// A name for the broker under test, for skip messages.
pub fn broker_name() -> String {
    if let Some(b) = external_bootstrap() {
        format!("{BOOTSTRAP_ENV}={b}")
    } else if let Some(k) = kafka_cluster() {
        format!("Apache Kafka ({} nodes)", k.node_ids().len())
    } else {
        "Tansu".to_string()
    }
}

/// Environment variable naming a file where skipped tests are counted (one
/// line each); `scripts/test.sh` sets it and prints the count and reasons in
/// its summary, so a skipped test never shows as passed.
pub const SKIP_LOG_ENV: &str = "PROZESS_SKIP_LOG";

/// Records that the current test is skipped, and why: prints the reason and
/// appends a line to `$PROZESS_SKIP_LOG`. Use as
/// `if harness::skip_on(cond, "reason") { return; }` or call it and return.
pub fn skip(reason: &str) {
    let name = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .map(|f| f.rsplit_once('-').map(|(n, _)| n.to_string()).unwrap_or(f))
        .unwrap_or_default();
    let line = format!("{exe}::{name} on {}: {reason}", broker_name());
    eprintln!("SKIPPED {line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV).filter(|p| !p.is_empty()) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write: lines of tests skipped at the same time stay whole.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// [`skip`] when `cond` holds; returns `cond`.
pub fn skip_on(cond: bool, reason: &str) -> bool {
    if cond {
        skip(reason);
    }
    cond
}

/// The Tansu broker shared by every test in this process, started on first
/// use (only when no other cluster is under test, see [`bootstrap`]). It is never dropped (statics are not): it dies with the process,
/// because its supervisor watches a pipe only this process holds. Panics if it
/// cannot be started, or if `PROZESS_BOOTSTRAP` is set (then there is no
/// local broker: use [`bootstrap`]).
pub fn shared_broker() -> &'static Broker {
    assert!(
        !is_external(),
        "shared_broker() is only available without {BOOTSTRAP_ENV}; use harness::bootstrap()"
    );
    static SHARED: OnceLock<std::result::Result<Broker, HarnessError>> = OnceLock::new();
    match SHARED.get_or_init(Broker::start) {
        Ok(b) => b,
        Err(e) => panic!("could not start the test broker: {e}"),
    }
}

/// A topic name unique to this call (process id, a counter and the time), so
/// tests running in parallel, and repeated runs against one long-lived
/// external cluster, never share a topic. Only `[A-Za-z0-9._-]` is used.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}-{}-{n}-{nanos}", std::process::id())
}

/// The workspace root (where the top-level Cargo.toml and `scripts/` are).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Directory for broker logs: `$CARGO_TARGET_DIR/prozess-logs` or
/// `<workspace>/target/prozess-logs`.
pub fn log_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("prozess-logs")
}

/// Skips (counted, see [`skip`]) and returns true when the tests do not run
/// on the harness's own Tansu broker; use as
/// `if harness::skip_if_external("reason") { return; }` in tests that need
/// it (e.g. behind a [`FaultProxy`]). They run in the Tansu stage.
pub fn skip_if_external(reason: &str) -> bool {
    skip_on(is_external(), reason)
}

/// session.timeout.ms for group tests: Tansu takes short sessions (its join
/// rounds last about session.timeout.ms / 2, see BROKERS.md), Apache Kafka
/// refuses anything below group.min.session.timeout.ms (6 s by default).
/// Use [`group_heartbeat_interval`] with it.
pub fn group_session_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(if is_tansu() { 2_000 } else { 6_000 })
}

/// heartbeat.interval.ms to go with [`group_session_timeout`] (a quarter).
pub fn group_heartbeat_interval() -> std::time::Duration {
    group_session_timeout() / 4
}

/// The (api_key, min_version, max_version) ranges the cluster under test
/// advertises in ApiVersions, asked once per process. Panics if the broker
/// cannot be reached.
pub fn broker_api_versions() -> &'static [(i16, i16, i16)] {
    static VERSIONS: OnceLock<Vec<(i16, i16, i16)>> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        let bootstrap = bootstrap();
        wire::connect_any(&bootstrap, std::time::Duration::from_secs(10))
            .and_then(|mut c| c.api_versions())
            .unwrap_or_else(|e| panic!("ApiVersions from {bootstrap}: {e}"))
    })
}

/// Whether the cluster under test supports `version` of API `api_key`; for
/// tests that need an API some brokers lack (e.g. Tansu has no
/// OffsetForLeaderEpoch), to skip with a reason instead of failing.
pub fn broker_supports(api_key: i16, version: i16) -> bool {
    broker_api_versions()
        .iter()
        .any(|&(k, min, max)| k == api_key && min <= version && version <= max)
}

/// True when the cluster under test is Tansu: always for the harness's own
/// broker; for `PROZESS_BOOTSTRAP`, guessed from what it advertises (Tansu
/// 0.6 has no OffsetForLeaderEpoch, API 23, which every Apache Kafka since
/// 0.11 has). Tests that rely on Apache Kafka behaviour Tansu lacks (see
/// BROKERS.md) use this to skip, saying why.
pub fn is_tansu() -> bool {
    const OFFSET_FOR_LEADER_EPOCH: i16 = 23;
    if kafka_cluster().is_some() {
        return false;
    }
    !is_external()
        || !broker_api_versions()
            .iter()
            .any(|&(k, _, _)| k == OFFSET_FOR_LEADER_EPOCH)
}
