//! The cluster on sockets: one 127.0.0.1 listener per broker, a thread per
//! listener and per connection. Each connection handles one request at a
//! time and answers in order, as a Kafka broker does.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prozess_protocol::frame::{decode_request_frame_lenient, encode_response_frame};
use prozess_protocol::messages::ApiVersionsResponse;
use prozess_protocol::{ApiKey, ErrorCode, ResponseBody, ResponseHeader};

use crate::cluster::MockCluster;
use crate::state::Reply;

/// How often idle threads look at the stop flag and held requests.
const TICK: Duration = Duration::from_millis(5);

/// Largest request frame accepted (Kafka's socket.request.max.bytes).
const MAX_FRAME: usize = 104_857_600;

/// A [`MockCluster`] served on sockets; stops serving when dropped.
///
/// ```no_run
/// use prozess_mock::MockCluster;
///
/// let cluster = MockCluster::new(3);
/// cluster.create_topic("events", 3);
/// let served = cluster.bootstrap().unwrap();
/// // e.g. "127.0.0.1:40001,127.0.0.1:40002,127.0.0.1:40003"
/// println!("bootstrap.servers={}", served.bootstrap_servers());
/// ```
#[derive(Debug)]
pub struct ServedCluster {
    addresses: Vec<(i32, SocketAddr)>,
    stop: Arc<AtomicBool>,
    real_time: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ServedCluster {
    /// The brokers' addresses, by broker id.
    pub fn addresses(&self) -> &[(i32, SocketAddr)] {
        &self.addresses
    }

    /// All addresses as a `bootstrap.servers` value.
    pub fn bootstrap_servers(&self) -> String {
        self.addresses
            .iter()
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether the cluster's [`MockTime`](crate::MockTime) follows the wall
    /// clock while served (default true: clients over sockets expect fetch
    /// waits and session timeouts to pass). Off: only the test moves it.
    pub fn set_real_time(&self, on: bool) {
        self.real_time.store(on, Ordering::SeqCst);
    }
}

impl Drop for ServedCluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Moves the mock clock along with the wall clock (when enabled).
#[derive(Debug)]
struct Clock {
    real_time: Arc<AtomicBool>,
    last: Mutex<Instant>,
}

impl Clock {
    fn sync(&self, cluster: &MockCluster) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if self.real_time.load(Ordering::SeqCst) {
            cluster.time.advance(now - *last);
        }
        *last = now;
    }
}

pub(crate) fn serve(cluster: MockCluster) -> std::io::Result<ServedCluster> {
    let stop = Arc::new(AtomicBool::new(false));
    let real_time = Arc::new(AtomicBool::new(true));
    let clock = Arc::new(Clock {
        real_time: real_time.clone(),
        last: Mutex::new(Instant::now()),
    });
    let ids: Vec<i32> = cluster.lock().brokers.keys().copied().collect();
    let mut listeners = Vec::new();
    for id in ids {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.set_nonblocking(true)?;
        let addr = l.local_addr()?;
        if let Some(b) = cluster.lock().brokers.get_mut(&id) {
            b.host = addr.ip().to_string();
            b.port = addr.port();
        }
        listeners.push((id, addr, l));
    }
    let mut threads = Vec::new();
    let mut addresses = Vec::new();
    for (id, addr, listener) in listeners {
        addresses.push((id, addr));
        let (cluster, stop, clock) = (cluster.clone(), stop.clone(), clock.clone());
        let t = std::thread::Builder::new()
            .name(format!("prozess-mock-broker-{id}"))
            .spawn(move || accept_loop(id, listener, cluster, stop, clock))?;
        threads.push(t);
    }
    Ok(ServedCluster {
        addresses,
        stop,
        real_time,
        threads,
    })
}

fn accept_loop(
    broker: i32,
    listener: TcpListener,
    cluster: MockCluster,
    stop: Arc<AtomicBool>,
    clock: Arc<Clock>,
) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if !cluster.is_alive(broker) {
                    // A dead broker refuses (closes at once).
                    continue;
                }
                let (cluster, stop, clock) = (cluster.clone(), stop.clone(), clock.clone());
                if let Ok(t) = std::thread::Builder::new()
                    .name(format!("prozess-mock-broker-{broker}-conn"))
                    .spawn(move || {
                        if let Err(e) = connection(broker, stream, &cluster, &stop, &clock) {
                            tracing::info!(broker, error = %e, "mock broker: connection closed");
                        }
                    })
                {
                    conns.push(t);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(e) => {
                tracing::warn!(broker, error = %e, "mock broker: accept failed");
                std::thread::sleep(TICK);
            }
        }
        conns.retain(|t| !t.is_finished());
    }
    for t in conns {
        let _ = t.join();
    }
}

fn connection(
    broker: i32,
    mut stream: TcpStream,
    cluster: &MockCluster,
    stop: &AtomicBool,
    clock: &Clock,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_nodelay(true)?;
    let conn_id = cluster.next_connection();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 64 * 1024];
    let result = (|| loop {
        if stop.load(Ordering::SeqCst) || !cluster.is_alive(broker) {
            return Ok(());
        }
        match next_frame(&mut buf)? {
            Some(frame) => {
                let response = handle_frame(broker, conn_id, frame, cluster, stop, clock)?;
                if let Some(bytes) = response {
                    stream.write_all(&bytes)?;
                }
            }
            None => match stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            },
        }
    })();
    cluster.lock().drop_connection(conn_id);
    result
}

fn next_frame(buf: &mut BytesMut) -> std::io::Result<Option<Bytes>> {
    prozess_protocol::frame::split_frame(buf, MAX_FRAME)
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e.to_string()))
}

/// Handles one request frame; the encoded response frame, if it has one.
fn handle_frame(
    broker: i32,
    conn_id: u64,
    frame: Bytes,
    cluster: &MockCluster,
    stop: &AtomicBool,
    clock: &Clock,
) -> std::io::Result<Option<Bytes>> {
    let invalid = |m: String| std::io::Error::new(ErrorKind::InvalidData, m);
    // An ApiVersions request of a version we do not know is answered in v0
    // with UNSUPPORTED_VERSION and our range, as Kafka does (KIP-511).
    if frame.len() >= 8 {
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let (_, max) = ApiKey::ApiVersions.supported_versions();
        if key == ApiKey::ApiVersions.code() && version > max {
            let mut state = cluster.lock();
            let Reply::Now(ResponseBody::ApiVersions(mut r)) = state.handle(
                (conn_id, correlation_id),
                broker,
                0,
                "",
                prozess_protocol::messages::ApiVersionsRequest::default().into(),
                cluster.time.now(),
            ) else {
                return Err(invalid("ApiVersions was not answered".into()));
            };
            r.error_code = ErrorCode::UnsupportedVersion.code();
            let r: ApiVersionsResponse = r;
            return encode(correlation_id, 0, &r.into()).map(Some);
        }
    }
    let (header, body, _) =
        decode_request_frame_lenient(frame).map_err(|e| invalid(e.to_string()))?;
    let version = header.request_api_version;
    let id = (conn_id, header.correlation_id);
    let client_id = header.client_id.clone().unwrap_or_default();
    let reply = {
        clock.sync(cluster);
        let mut state = cluster.lock();
        state.tick(cluster.time.now());
        state.handle(id, broker, version, &client_id, body, cluster.time.now())
    };
    let response = match reply {
        Reply::Now(r) => r,
        Reply::NoResponse => return Ok(None),
        Reply::Held => loop {
            if stop.load(Ordering::SeqCst) || !cluster.is_alive(broker) {
                return Err(std::io::Error::new(
                    ErrorKind::ConnectionAborted,
                    "broker stopped",
                ));
            }
            clock.sync(cluster);
            let mut state = cluster.lock();
            state.tick(cluster.time.now());
            if let Some((_, r)) = state
                .take_completed(conn_id)
                .into_iter()
                .find(|(i, _)| *i == id)
            {
                break r;
            }
            drop(state);
            std::thread::sleep(TICK);
        },
    };
    encode(header.correlation_id, version, &response).map(Some)
}

/// Fields the state machine leaves null that older versions cannot carry
/// (JoinGroup's protocol name is nullable only from v7).
fn fit_to_version(body: &mut ResponseBody, version: i16) {
    if let ResponseBody::JoinGroup(j) = body {
        if version < 7 && j.protocol_name.is_none() {
            j.protocol_name = Some(String::new());
        }
    }
}

fn encode(correlation_id: i32, version: i16, body: &ResponseBody) -> std::io::Result<Bytes> {
    let mut body = body.clone();
    fit_to_version(&mut body, version);
    let body = &body;
    let mut out = BytesMut::new();
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    encode_response_frame(&header, version, body, &mut out)
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e.to_string()))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prozess_protocol::messages::JoinGroupResponse;

    #[test]
    fn join_group_errors_encode_in_every_version() {
        let body: ResponseBody = JoinGroupResponse {
            error_code: ErrorCode::MemberIdRequired.code(),
            member_id: "m".into(),
            ..Default::default()
        }
        .into();
        let (min, max) = ApiKey::JoinGroup.supported_versions();
        for v in min..=max {
            assert!(encode(1, v, &body).is_ok(), "JoinGroup v{v}");
        }
    }
}
