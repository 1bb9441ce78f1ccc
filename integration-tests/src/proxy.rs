//! A fault-injecting TCP proxy between a client and a broker.
//!
//! Every accepted client connection gets its own connection to the upstream
//! broker and two forwarding threads. On command the proxy closes all current
//! connections ([`FaultProxy::drop_all`]), stops forwarding in both directions
//! ([`FaultProxy::stall`]), or forwards only the first half of the next
//! broker-to-client frame and then closes that connection
//! ([`FaultProxy::cut_next_response`]). For clients to go through the proxy
//! after bootstrap, the broker must advertise the proxy's address; see
//! [`crate::Broker::start_behind_proxy`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// How often a stalled forwarding thread re-checks whether its connection
/// was closed meanwhile.
const STALL_RECHECK: Duration = Duration::from_millis(20);
const COPY_CHUNK: usize = 64 * 1024;

struct Conn {
    id: u64,
    client: TcpStream,
    upstream: TcpStream,
    closed: Arc<AtomicBool>,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

#[derive(Default)]
struct Shared {
    conns: Mutex<Vec<Conn>>,
    stalled: Mutex<bool>,
    unstalled: Condvar,
    cut_armed: AtomicBool,
    cuts_done: AtomicU64,
    accepted: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    /// Blocks while the proxy is stalled; returns false if the connection was
    /// closed meanwhile (the caller must stop forwarding).
    fn wait_unstalled(&self, closed: &AtomicBool) -> bool {
        let mut stalled = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        while *stalled && !closed.load(Ordering::SeqCst) {
            stalled = self
                .unstalled
                .wait_timeout(stalled, STALL_RECHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        !closed.load(Ordering::SeqCst)
    }

    fn remove(&self, id: u64) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = conns.iter().position(|c| c.id == id) {
            let c = conns.swap_remove(pos);
            c.close();
        }
    }
}

/// A TCP proxy on 127.0.0.1 forwarding to one upstream address, with fault
/// injection. Stops (closing every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        Self::with_listener(TcpListener::bind("127.0.0.1:0")?, upstream)
    }

    /// Starts a proxy accepting on an already bound `listener`.
    pub fn with_listener(listener: TcpListener, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || accept_loop(listener, upstream, s))?;
        Ok(FaultProxy {
            addr,
            upstream,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker address connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Closes every current connection, both sides, at once. New connections
    /// are accepted as before.
    pub fn drop_all(&self) {
        let conns: Vec<Conn> = {
            let mut g = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
            g.drain(..).collect()
        };
        tracing::debug!(count = conns.len(), "proxy drops all connections");
        for c in &conns {
            c.close();
        }
    }

    /// Stops (`true`) or resumes (`false`) forwarding in both directions on
    /// every connection, current and new. Connections stay open; bytes wait
    /// in the proxy and the kernel's buffers.
    pub fn stall(&self, stalled: bool) {
        *self
            .shared
            .stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = stalled;
        self.shared.unstalled.notify_all();
    }

    /// Arms a one-shot fault: the next broker-to-client frame to start (on
    /// any connection) is forwarded only up to half of its bytes, then that
    /// connection is closed.
    pub fn cut_next_response(&self) {
        self.shared.cut_armed.store(true, Ordering::SeqCst);
    }

    /// How many responses were cut so far.
    pub fn cuts_done(&self) -> u64 {
        self.shared.cuts_done.load(Ordering::SeqCst)
    }

    /// Number of connections currently open through the proxy.
    pub fn connection_count(&self) -> usize {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Number of client connections accepted since the start.
    pub fn accepted_count(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        self.stall(false);
        self.drop_all();
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "proxy accept failed");
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let upstream_conn = match TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, %upstream, "proxy cannot reach upstream");
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = upstream_conn.set_nodelay(true);
        next_id += 1;
        if let Err(e) = start_connection(next_id, client, upstream_conn, &shared) {
            tracing::debug!(error = %e, "proxy cannot set up a connection");
        }
    }
}

fn start_connection(
    id: u64,
    client: TcpStream,
    upstream: TcpStream,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    let closed = Arc::new(AtomicBool::new(false));
    let conn = Conn {
        id,
        client: client.try_clone()?,
        upstream: upstream.try_clone()?,
        closed: closed.clone(),
    };
    shared
        .conns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(conn);

    let (s, c, u, cl) = (
        shared.clone(),
        client.try_clone()?,
        upstream.try_clone()?,
        closed.clone(),
    );
    thread::Builder::new()
        .name(format!("proxy-{id}-up"))
        .spawn(move || {
            pump_raw(c, u, &s, &cl);
            s.remove(id);
        })?;
    let s = shared.clone();
    thread::Builder::new()
        .name(format!("proxy-{id}-down"))
        .spawn(move || {
            pump_frames(upstream, client, &s, &closed);
            s.remove(id);
        })?;
    Ok(())
}

/// Client to broker: plain byte copy.
fn pump_raw(mut from: TcpStream, mut to: TcpStream, shared: &Shared, closed: &AtomicBool) {
    let mut buf = vec![0u8; COPY_CHUNK];
    loop {
        if !shared.wait_unstalled(closed) {
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !shared.wait_unstalled(closed) || to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Broker to client: frame by frame (4-byte size, then the body), so a frame
/// can be cut in half on command.
fn pump_frames(mut from: TcpStream, mut to: TcpStream, shared: &Shared, closed: &AtomicBool) {
    let mut buf = vec![0u8; COPY_CHUNK];
    loop {
        if !shared.wait_unstalled(closed) {
            return;
        }
        let mut size = [0u8; 4];
        if from.read_exact(&mut size).is_err() {
            return;
        }
        let len = i32::from_be_bytes(size).max(0) as usize;
        let cut = shared.cut_armed.swap(false, Ordering::SeqCst);
        // When cutting, send the size prefix and half of the body, so the
        // client sees a frame header promising more than ever arrives.
        let forward = if cut { len / 2 } else { len };
        if !shared.wait_unstalled(closed) || to.write_all(&size).is_err() {
            return;
        }
        let mut left = forward;
        while left > 0 {
            let want = left.min(buf.len());
            if from.read_exact(&mut buf[..want]).is_err() {
                return;
            }
            if !shared.wait_unstalled(closed) || to.write_all(&buf[..want]).is_err() {
                return;
            }
            left -= want;
        }
        if cut {
            let _ = to.flush();
            shared.cuts_done.fetch_add(1, Ordering::SeqCst);
            tracing::debug!(frame_len = len, sent = forward, "proxy cut a response");
            return;
        }
    }
}
