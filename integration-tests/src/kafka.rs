//! Starting Apache Kafka KRaft clusters (1 or 3 nodes) for the integration
//! tests, from a Kafka distribution directory (`PROZESS_KAFKA_HOME`, which
//! `scripts/install-kafka.sh` unpacks from `../shared/kafka` when it is there).
//!
//! Every node is a combined broker + controller on 127.0.0.1 with one free
//! port per listener (see [`Listener`]): PLAINTEXT, CONTROLLER, SASL_PLAINTEXT
//! and SASL_SSL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN and OAUTHBEARER with
//! unsecured tokens; the user [`SASL_USER`] is created at format time), SSL
//! (server certificate only), MTLS (SSL requiring a client certificate) and
//! BADHOST (SSL with a certificate for another host name), and REAUTH
//! (SASL_PLAINTEXT with connections.max.reauth.ms, KIP-368). The harness makes
//! the certificates itself with rcgen: a CA, the brokers' certificate for
//! 127.0.0.1/localhost, a client certificate, and a second CA with a client
//! certificate of its own (which the brokers must refuse).
//!
//! A cluster is described by a [`ClusterInfo`] written to `cluster.json` in
//! its directory. A process that starts a cluster (the test process itself, or
//! `prozess-broker --kafka` for a whole `scripts/test.sh` stage) holds the
//! stdin of a small `sh` janitor: when that pipe closes (drop, exit, panic or
//! SIGKILL of the owner) the janitor kills every node (SIGKILL) and removes the
//! cluster's directory. Other processes attach to a running cluster through
//! `PROZESS_KAFKA_CLUSTER=<path of cluster.json>` and may kill and restart its
//! nodes: restarts write the new process id where the janitor looks.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use prozess_protocol::primitives::{read_i32, read_nullable_string};
use serde::{Deserialize, Serialize};

use crate::wire::Connection;
use crate::{HarnessError, Result};

/// Environment variable naming a Kafka distribution directory (the one with
/// `bin/kafka-server-start.sh`).
pub const KAFKA_HOME_ENV: &str = "PROZESS_KAFKA_HOME";
/// Environment variable naming the `cluster.json` of a running cluster to
/// attach to (set by `scripts/test.sh` for its Kafka stages).
pub const CLUSTER_ENV: &str = "PROZESS_KAFKA_CLUSTER";

/// The SASL user every cluster has (SCRAM credentials for both SCRAM
/// mechanisms, and a PLAIN user).
pub const SASL_USER: &str = "alice";
/// [`SASL_USER`]'s password.
pub const SASL_PASSWORD: &str = "alice-secret";

/// How long a cluster may take to answer metadata with all its brokers.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// Java heap per node.
const HEAP_OPTS: &str = "-Xmx512m -Xms128m";

/// The listeners every node has, by the name used in its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Listener {
    /// Plain TCP, no authentication; also used between brokers.
    Plaintext,
    /// The KRaft controller listener (not advertised to clients).
    Controller,
    /// SASL over plain TCP: SCRAM-SHA-256/512, PLAIN, OAUTHBEARER.
    SaslPlaintext,
    /// TLS, server certificate only.
    Ssl,
    /// TLS requiring a client certificate signed by the harness's CA.
    Mtls,
    /// SASL over TLS (server certificate only).
    SaslSsl,
    /// TLS with a certificate for `other.invalid`, not for 127.0.0.1: a
    /// client that checks host names must refuse it.
    BadHost,
    /// SASL_PLAINTEXT whose sessions last at most [`REAUTH_MS`]
    /// (connections.max.reauth.ms, KIP-368): a client must re-authenticate
    /// on the same connection before that, or the broker closes it.
    Reauth,
}

/// The session lifetime of the [`Listener::Reauth`] listener, in ms.
pub const REAUTH_MS: u64 = 10_000;

impl Listener {
    /// Every listener, in the order of the configuration.
    pub const ALL: [Listener; 8] = [
        Listener::Plaintext,
        Listener::Controller,
        Listener::SaslPlaintext,
        Listener::Ssl,
        Listener::Mtls,
        Listener::SaslSsl,
        Listener::BadHost,
        Listener::Reauth,
    ];

    /// The listener's name in the broker configuration.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Plaintext => "PLAINTEXT",
            Listener::Controller => "CONTROLLER",
            Listener::SaslPlaintext => "SASL_PLAINTEXT",
            Listener::Ssl => "SSL",
            Listener::Mtls => "MTLS",
            Listener::SaslSsl => "SASL_SSL",
            Listener::BadHost => "BADHOST",
            Listener::Reauth => "REAUTH",
        }
    }

    /// The listener's security protocol.
    pub fn protocol(self) -> &'static str {
        match self {
            Listener::Plaintext | Listener::Controller => "PLAINTEXT",
            Listener::SaslPlaintext | Listener::Reauth => "SASL_PLAINTEXT",
            Listener::Ssl | Listener::Mtls | Listener::BadHost => "SSL",
            Listener::SaslSsl => "SASL_SSL",
        }
    }
}

/// One node of a cluster: its id, ports and files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// node.id (also the broker id clients see in metadata).
    pub id: i32,
    /// Port of each listener, in [`Listener::ALL`] order.
    pub ports: Vec<(Listener, u16)>,
    /// The node's server.properties.
    pub config: PathBuf,
    /// Where the running node's process id is written.
    pub pid_file: PathBuf,
    /// The node's stdout/stderr.
    pub log: PathBuf,
}

impl NodeInfo {
    /// The port of `listener`.
    pub fn port(&self, listener: Listener) -> u16 {
        self.ports
            .iter()
            .find(|(l, _)| *l == listener)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("node {} has no {} listener", self.id, listener.name()))
    }

    /// `127.0.0.1:<port>` of `listener`.
    pub fn addr(&self, listener: Listener) -> String {
        format!("127.0.0.1:{}", self.port(listener))
    }
}

/// The PEM files the harness made for TLS tests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The CA that signed the brokers' and the client's certificates.
    pub ca: PathBuf,
    /// A client certificate signed by [`TlsFiles::ca`] (for MTLS).
    pub client_cert: PathBuf,
    /// Its private key (PKCS#8, unencrypted).
    pub client_key: PathBuf,
    /// Another CA, unknown to the brokers.
    pub other_ca: PathBuf,
    /// A client certificate signed by [`TlsFiles::other_ca`]: MTLS refuses it.
    pub other_client_cert: PathBuf,
    /// Its private key.
    pub other_client_key: PathBuf,
}

/// Everything a test needs to know about a running cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The Kafka distribution the nodes run from.
    pub kafka_home: PathBuf,
    /// The cluster's directory (configs, data, logs, certificates).
    pub dir: PathBuf,
    /// The nodes, by id.
    pub nodes: Vec<NodeInfo>,
    /// Certificates for the TLS listeners.
    pub tls: TlsFiles,
}

impl ClusterInfo {
    /// `host:port,...` of every node's `listener`.
    pub fn bootstrap(&self, listener: Listener) -> String {
        self.nodes
            .iter()
            .map(|n| n.addr(listener))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node with id `id`.
    pub fn node(&self, id: i32) -> Result<&NodeInfo> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| HarnessError::new(format!("the cluster has no node {id}")))
    }
}

/// A KRaft cluster, started by this process or attached to.
pub struct KafkaCluster {
    info: ClusterInfo,
    /// The janitor's stdin when this process owns the cluster.
    janitor: Option<(ChildStdin, Child)>,
    /// Node processes this process started (reaped on kill).
    children: Mutex<Vec<(i32, Child)>>,
}

impl std::fmt::Debug for KafkaCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCluster")
            .field("info", &self.info)
            .field("owned", &self.janitor.is_some())
            .finish()
    }
}

/// The Kafka distribution to run: `$PROZESS_KAFKA_HOME`, checked for
/// `bin/kafka-server-start.sh`.
pub fn kafka_home() -> Result<PathBuf> {
    let home = std::env::var_os(KAFKA_HOME_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| HarnessError::new(format!("{KAFKA_HOME_ENV} is not set")))?;
    if !home.join("bin/kafka-server-start.sh").is_file() {
        return Err(HarnessError::new(format!(
            "{KAFKA_HOME_ENV}={} has no bin/kafka-server-start.sh",
            home.display()
        )));
    }
    Ok(home)
}

/// The janitor: waits for EOF on stdin (fd 3 after the dup, as background jobs
/// get /dev/null), then kills every node whose pid file is in the cluster
/// directory and removes the directory.
const JANITOR: &str = r#"dir="$0"
read -r _
for f in "$dir"/node-*/pid; do
  [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
done
sleep 0.5
rm -rf "$dir"
"#;

/// Starts one node: writes the shell's pid (which `exec` hands on to java),
/// then runs the broker.
const NODE: &str = r#"echo $$ > "$0"
exec "$1/bin/kafka-server-start.sh" "$2"
"#;

/// Choices for [`KafkaCluster::start_with`] beyond the node count.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Run StandardAuthorizer with `allow.everyone.if.no.acl.found=false`:
    /// only the super users User:ANONYMOUS (the PLAINTEXT, controller and
    /// inter-broker listeners) and User:admin (OAUTHBEARER with subject
    /// "admin") may do anything without ACLs; [`SASL_USER`] needs them.
    pub authorizer: bool,
    /// The Kafka distribution; `None`: [`kafka_home`].
    pub kafka_home: Option<PathBuf>,
}

impl KafkaCluster {
    /// Starts a cluster of `nodes` nodes under `parent` (a directory of its
    /// own is made there) and waits until it answers metadata with all its
    /// brokers.
    pub fn start(nodes: usize, parent: &Path) -> Result<KafkaCluster> {
        KafkaCluster::start_with(nodes, parent, &ClusterOptions::default())
    }

    /// [`KafkaCluster::start`] with `options`.
    pub fn start_with(
        nodes: usize,
        parent: &Path,
        options: &ClusterOptions,
    ) -> Result<KafkaCluster> {
        let home = match &options.kafka_home {
            Some(h) => h.clone(),
            None => kafka_home()?,
        };
        if which("java").is_none() {
            return Err(HarnessError::new(
                "java is not on PATH (Debian: apt-get install openjdk-17-jre-headless)",
            ));
        }
        fs::create_dir_all(parent)?;
        let dir = parent.join(format!(
            "kafka-{}-{}",
            std::process::id(),
            crate::unique_topic("c")
        ));
        fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        // The janitor first: from here on the directory is removed whatever
        // happens to this process.
        let mut janitor = Command::new("sh")
            .arg("-c")
            .arg(JANITOR)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::new(format!("cannot run sh: {e}")))?;
        let stdin = janitor.stdin.take().expect("piped stdin");
        let tls = make_tls_files(&dir)?;
        let mut infos = Vec::new();
        // All ports at once, each held until all are chosen: ports probed one
        // after another can repeat.
        let mut ports_left = free_ports(nodes * Listener::ALL.len())?.into_iter();
        for i in 0..nodes {
            let id = i as i32 + 1;
            let ndir = dir.join(format!("node-{id}"));
            fs::create_dir_all(ndir.join("data"))?;
            fs::create_dir_all(ndir.join("logs"))?;
            let mut ports = Vec::new();
            for l in Listener::ALL {
                ports.push((l, ports_left.next().expect("enough ports")));
            }
            infos.push(NodeInfo {
                id,
                ports,
                config: ndir.join("server.properties"),
                pid_file: ndir.join("pid"),
                log: ndir.join("logs/stdout.log"),
            });
        }
        let info = ClusterInfo {
            kafka_home: home,
            dir: dir.clone(),
            nodes: infos,
            tls,
        };
        for n in &info.nodes {
            fs::write(&n.config, node_config(&info, n, options))?;
        }
        let cluster = KafkaCluster {
            info,
            janitor: Some((stdin, janitor)),
            children: Mutex::new(Vec::new()),
        };
        cluster.format()?;
        for n in &cluster.info.nodes {
            cluster.spawn_node(n)?;
        }
        cluster.wait_ready(READY_TIMEOUT)?;
        let json = serde_json::to_string_pretty(&cluster.info)
            .map_err(|e| HarnessError::new(format!("cluster.json: {e}")))?;
        fs::write(cluster.info_path(), json)?;
        tracing::info!(nodes, dir = %dir.display(), bootstrap = %cluster.bootstrap(), "Kafka cluster started");
        Ok(cluster)
    }

    /// Attaches to a cluster another process started, from its
    /// `cluster.json`. Dropping it leaves the cluster running.
    pub fn attach(info_path: &Path) -> Result<KafkaCluster> {
        let text = fs::read_to_string(info_path).map_err(|e| {
            HarnessError::new(format!(
                "cannot read the cluster description {}: {e}",
                info_path.display()
            ))
        })?;
        let info: ClusterInfo = serde_json::from_str(&text).map_err(|e| {
            HarnessError::new(format!(
                "bad cluster description {}: {e}",
                info_path.display()
            ))
        })?;
        Ok(KafkaCluster {
            info,
            janitor: None,
            children: Mutex::new(Vec::new()),
        })
    }

    /// The cluster's description.
    pub fn info(&self) -> &ClusterInfo {
        &self.info
    }

    /// Where the cluster's description is written.
    pub fn info_path(&self) -> PathBuf {
        self.info.dir.join("cluster.json")
    }

    /// `host:port,...` of every node's PLAINTEXT listener.
    pub fn bootstrap(&self) -> String {
        self.info.bootstrap(Listener::Plaintext)
    }

    /// `host:port,...` of every node's `listener`.
    pub fn listener_bootstrap(&self, listener: Listener) -> String {
        self.info.bootstrap(listener)
    }

    /// The node ids.
    pub fn node_ids(&self) -> Vec<i32> {
        self.info.nodes.iter().map(|n| n.id).collect()
    }

    fn format(&self) -> Result<()> {
        let id = random_cluster_id()?;
        let scram = format!("name={SASL_USER},password={SASL_PASSWORD}");
        // One JVM per node: run them side by side.
        let mut running = Vec::new();
        for n in &self.info.nodes {
            let log = File::create(n.log.with_file_name("format.log"))?;
            let child = Command::new(self.info.kafka_home.join("bin/kafka-storage.sh"))
                .arg("format")
                .arg("-t")
                .arg(&id)
                .arg("-c")
                .arg(&n.config)
                .arg("--add-scram")
                .arg(format!("SCRAM-SHA-256=[{scram}]"))
                .arg("--add-scram")
                .arg(format!("SCRAM-SHA-512=[{scram}]"))
                .env("KAFKA_HEAP_OPTS", "-Xmx256m")
                .env("LOG_DIR", n.log.parent().unwrap_or(&self.info.dir))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|e| HarnessError::new(format!("cannot run kafka-storage.sh: {e}")))?;
            running.push((n, child));
        }
        for (n, mut child) in running {
            let status = child.wait()?;
            if !status.success() {
                let log = read_tail(&n.log.with_file_name("format.log"));
                return Err(HarnessError::new(format!(
                    "kafka-storage.sh format for node {} failed ({status}):\n{log}",
                    n.id
                )));
            }
        }
        Ok(())
    }

    fn spawn_node(&self, n: &NodeInfo) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(NODE)
            .arg(&n.pid_file)
            .arg(&self.info.kafka_home)
            .arg(&n.config)
            .env("KAFKA_HEAP_OPTS", HEAP_OPTS)
            .env("LOG_DIR", n.log.parent().unwrap_or(&self.info.dir))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| HarnessError::new(format!("cannot start node {}: {e}", n.id)))?;
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((n.id, child));
        Ok(())
    }

    /// Waits until every node answers metadata listing all the cluster's
    /// brokers and a controller.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let want = self.info.nodes.len();
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            let mut all = true;
            last = String::new();
            for n in &self.info.nodes {
                match metadata_brokers(&n.addr(Listener::Plaintext)) {
                    Ok(brokers) if brokers.len() == want => {}
                    Ok(brokers) => {
                        all = false;
                        last = format!("node {} lists brokers {brokers:?}", n.id);
                    }
                    Err(e) => {
                        all = false;
                        last = format!("node {}: {e}", n.id);
                    }
                }
                if !all {
                    break;
                }
            }
            if all {
                return Ok(());
            }
            if let Some(dead) = self.dead_node() {
                return Err(HarnessError::new(format!(
                    "Kafka node {dead} exited before the cluster was ready; its log:\n{}",
                    self.info
                        .node(dead)
                        .map(|n| read_tail(&n.log))
                        .unwrap_or_default()
                )));
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .info
                    .nodes
                    .iter()
                    .map(|n| {
                        format!(
                            "node {} ({}):\n{}",
                            n.id,
                            n.log.display(),
                            read_tail(&n.log)
                        )
                    })
                    .collect();
                return Err(HarnessError::new(format!(
                    "the Kafka cluster was not ready within {timeout:?} (last: {last}); logs:\n{}",
                    logs.join("\n")
                )));
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// A node this process started that has exited, if any.
    fn dead_node(&self) -> Option<i32> {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children
            .iter_mut()
            .find_map(|(id, c)| matches!(c.try_wait(), Ok(Some(_))).then_some(*id))
    }

    /// Kills node `id` with SIGKILL (no controlled shutdown: a crash) and
    /// waits until its process is gone.
    pub fn kill_node(&self, id: i32) -> Result<()> {
        let n = self.info.node(id)?;
        let pid = fs::read_to_string(&n.pid_file)?.trim().to_string();
        let status = Command::new("kill").arg("-9").arg(&pid).status()?;
        if !status.success() {
            return Err(HarnessError::new(format!(
                "kill -9 {pid} (node {id}) failed: {status}"
            )));
        }
        // A node this process started is reaped here (and forgotten, so
        // that a later readiness check does not take it for a node that
        // died); one started by another process is reaped by its parent.
        {
            let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
            for (_, c) in children.iter_mut().filter(|(cid, _)| *cid == id) {
                let _ = c.wait();
            }
            children.retain(|(cid, _)| *cid != id);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(&pid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(node = id, pid, "Kafka node killed");
        Ok(())
    }

    /// Starts node `id` again (after [`KafkaCluster::kill_node`]) and waits
    /// until the whole cluster lists it again.
    pub fn restart_node(&self, id: i32) -> Result<()> {
        let n = self.info.node(id)?.clone();
        self.spawn_node(&n)?;
        self.wait_ready(READY_TIMEOUT)?;
        tracing::info!(node = id, "Kafka node restarted");
        Ok(())
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if let Some((stdin, mut janitor)) = self.janitor.take() {
            drop(stdin);
            let _ = janitor.wait();
            let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
            for (_, c) in children.iter_mut() {
                let _ = c.wait();
            }
        }
    }
}

/// Metadata v1 (no topics) from `addr`: the broker ids it lists, once a
/// controller is known. Hand-encoded like the ApiVersions probe, so that the
/// readiness check does not depend on the client under test.
pub fn metadata_brokers(addr: &str) -> Result<Vec<i32>> {
    const METADATA: i16 = 3;
    let mut c = Connection::connect(addr, Duration::from_secs(2))?;
    let mut body = BytesMut::new();
    body.put_i32(0); // an empty topic array: brokers only
    let mut buf = c.request(METADATA, 1, &body)?;
    let bad = |e: prozess_protocol::DecodeError| {
        HarnessError::new(format!("malformed Metadata response from {addr}: {e}"))
    };
    let n = read_i32(&mut buf).map_err(bad)?;
    if !(0..=1000).contains(&n) {
        return Err(HarnessError::new(format!(
            "Metadata from {addr} lists {n} brokers"
        )));
    }
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(read_i32(&mut buf).map_err(bad)?);
        read_nullable_string(&mut buf, false).map_err(bad)?; // host
        read_i32(&mut buf).map_err(bad)?; // port
        read_nullable_string(&mut buf, false).map_err(bad)?; // rack
    }
    let controller = read_i32(&mut buf).map_err(bad)?;
    if controller < 0 {
        return Err(HarnessError::new(format!("{addr} knows no controller yet")));
    }
    ids.sort_unstable();
    Ok(ids)
}

fn node_config(info: &ClusterInfo, n: &NodeInfo, options: &ClusterOptions) -> String {
    let count = info.nodes.len();
    let rf = count.min(3);
    let voters: Vec<String> = info
        .nodes
        .iter()
        .map(|m| format!("{}@127.0.0.1:{}", m.id, m.port(Listener::Controller)))
        .collect();
    let listeners: Vec<String> = Listener::ALL
        .iter()
        .map(|&l| format!("{}://127.0.0.1:{}", l.name(), n.port(l)))
        .collect();
    let advertised: Vec<String> = Listener::ALL
        .iter()
        .filter(|&&l| l != Listener::Controller)
        .map(|&l| format!("{}://127.0.0.1:{}", l.name(), n.port(l)))
        .collect();
    let map: Vec<String> = Listener::ALL
        .iter()
        .map(|&l| format!("{}:{}", l.name(), l.protocol()))
        .collect();
    let data = n.config.with_file_name("data");
    let dir = &info.dir;
    let mut c = format!(
        "# Written by prozess's test harness (integration-tests/src/kafka.rs).
process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners={listeners}
advertised.listeners={advertised}
listener.security.protocol.map={map}
log.dirs={data}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
# Failover tests: notice a dead broker and shrink the ISR within seconds.
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=10000
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN,OAUTHBEARER
ssl.keystore.type=PEM
ssl.keystore.location={dir}/server.pem
ssl.truststore.type=PEM
ssl.truststore.location={dir}/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
listener.name.badhost.ssl.keystore.location={dir}/badhost.pem
",
        id = n.id,
        voters = voters.join(","),
        listeners = listeners.join(","),
        advertised = advertised.join(","),
        map = map.join(","),
        data = data.display(),
        min_isr = rf.min(2),
        dir = dir.display(),
    );
    for mechanism in ["scram-sha-256", "scram-sha-512", "plain", "oauthbearer"] {
        c.push_str(&format!(
            "listener.name.reauth.{mechanism}.connections.max.reauth.ms={REAUTH_MS}\n"
        ));
    }
    for l in ["sasl_plaintext", "sasl_ssl", "reauth"] {
        c.push_str(&format!(
            "listener.name.{l}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.{l}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.{l}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{SASL_USER}=\"{SASL_PASSWORD}\";
listener.name.{l}.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";
"
        ));
    }
    if options.authorizer {
        c.push_str(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
allow.everyone.if.no.acl.found=false
",
        );
    }
    c
}

fn make_tls_files(dir: &Path) -> Result<TlsFiles> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let err = |what: &str, e: rcgen::Error| HarnessError::new(format!("rcgen {what}: {e}"));
    let ca = |name: &str| -> Result<(rcgen::Certificate, KeyPair)> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().map_err(|e| err("CA key", e))?;
        let cert = params.self_signed(&key).map_err(|e| err("CA cert", e))?;
        Ok((cert, key))
    };
    let leaf = |names: &[&str],
                cn: &str,
                issuer: &(rcgen::Certificate, KeyPair)|
     -> Result<(rcgen::Certificate, KeyPair)> {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(|e| err("leaf", e))?;
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().map_err(|e| err("leaf key", e))?;
        let cert = params
            .signed_by(&key, &issuer.0, &issuer.1)
            .map_err(|e| err("leaf cert", e))?;
        Ok((cert, key))
    };
    let main_ca = ca("prozess test CA")?;
    let other_ca = ca("prozess other CA")?;
    let server = leaf(&["127.0.0.1", "localhost"], "localhost", &main_ca)?;
    let badhost = leaf(&["other.invalid"], "other.invalid", &main_ca)?;
    let client = leaf(&["client.prozess.test"], "client", &main_ca)?;
    let other_client = leaf(&["client.prozess.test"], "client", &other_ca)?;

    let write = |name: &str, text: String| -> Result<PathBuf> {
        let p = dir.join(name);
        fs::write(&p, text)?;
        Ok(p)
    };
    // Kafka's PEM key store file: the private key, then the chain.
    write(
        "server.pem",
        format!("{}{}", server.1.serialize_pem(), server.0.pem()),
    )?;
    write(
        "badhost.pem",
        format!("{}{}", badhost.1.serialize_pem(), badhost.0.pem()),
    )?;
    Ok(TlsFiles {
        ca: write("ca.pem", main_ca.0.pem())?,
        client_cert: write("client-cert.pem", client.0.pem())?,
        client_key: write("client-key.pem", client.1.serialize_pem())?,
        other_ca: write("other-ca.pem", other_ca.0.pem())?,
        other_client_cert: write("other-client-cert.pem", other_client.0.pem())?,
        other_client_key: write("other-client-key.pem", other_client.1.serialize_pem())?,
    })
}

/// `n` distinct free ports on 127.0.0.1, each held until all are chosen.
/// They are taken below the kernel's ephemeral range (where port 0 binds
/// and outgoing connections get their local ports): a port probed there and
/// released can be taken by any client connection before the broker binds
/// it, which on a busy machine happens.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let low = ephemeral_low().unwrap_or(32768).clamp(2048, 65535) as u32;
    let (start, end) = (low.saturating_sub(22000).max(1024), low);
    let mut seed = {
        let mut b = [0u8; 4];
        File::open("/dev/urandom")?.read_exact(&mut b)?;
        u32::from_le_bytes(b)
    };
    let mut held = Vec::new();
    let mut tries = 0;
    while held.len() < n {
        tries += 1;
        if tries > 10_000 {
            return Err(HarnessError::new(format!(
                "no {n} free ports in {start}..{end}"
            )));
        }
        // xorshift: cheap, good enough to spread the picks.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let port = (start + seed % (end - start)) as u16;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_low() -> Option<u16> {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A Kafka cluster id: 16 random bytes, base64url without padding.
fn random_cluster_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    // kafka-storage.sh takes an id starting with '-' for an option ("--cluster-id:
    // expected one argument"); Kafka's own Uuid.randomUuid avoids those too.
    if out.starts_with('-') {
        out.replace_range(..1, "A");
    }
    Ok(out)
}

/// Whether process `pid` runs (a zombie, killed but not yet reaped by its
/// parent, does not).
fn process_alive(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) state ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

fn read_tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let start = s.len().saturating_sub(6000);
    let start = (start..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_never_start_with_a_dash() {
        // One id in 64 did before: kafka-storage.sh format then failed.
        for _ in 0..2000 {
            let id = random_cluster_id().unwrap();
            assert!(!id.starts_with('-'), "{id}");
            assert_eq!(id.len(), 22, "{id}");
        }
    }
}
