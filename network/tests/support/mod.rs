//! A fake broker for loopback tests: TCP listeners on 127.0.0.1 whose
//! connection threads decode request frames with prozess-protocol and answer
//! as a test script says (default: ApiVersions with every version prozess
//! speaks, Metadata describing the fake cluster).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prozess_network::{ClientEvent, KafkaClient, NetworkClient, NetworkConfig};
use prozess_protocol::frame::{decode_request_frame, encode_response_frame};
use prozess_protocol::header::{RequestHeader, ResponseHeader};
use prozess_protocol::messages::api_versions::response::ApiVersion;
use prozess_protocol::messages::metadata::response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use prozess_protocol::messages::{ApiVersionsResponse, MetadataResponse};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody, Uuid};

/// A request as the fake broker saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub broker: i32,
    pub conn: usize,
    pub header: RequestHeader,
    pub body: RequestBody,
}

impl Seen {
    pub fn api_key(&self) -> ApiKey {
        self.body.api_key()
    }
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// What the broker does with a request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer in the request's version.
    Respond(ResponseBody),
    /// Answer with a body encoded in another version (header still follows
    /// the request's version).
    RespondAs(i16, ResponseBody),
    /// Answer, writing one byte at a time.
    Trickle(ResponseBody),
    /// Write these bytes as they are.
    Raw(Vec<u8>),
    /// Wait before the next action.
    Sleep(Duration),
    /// Close the connection.
    Close,
    /// The default answer.
    Default,
}

/// The script: `None` means the default answer, `Some(vec![])` means no answer.
pub type Handler = Arc<dyn Fn(&Seen) -> Option<Vec<Action>> + Send + Sync>;

#[derive(Default)]
pub struct ClusterView {
    pub brokers: Vec<(i32, SocketAddr)>,
    pub topics: Vec<(String, i32)>,
    /// Advertised version ranges (default: prozess's own).
    pub api_versions: Option<Vec<(ApiKey, i16, i16)>>,
}

pub struct FakeCluster {
    pub view: Arc<Mutex<ClusterView>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addrs: Vec<SocketAddr>,
}

impl FakeCluster {
    /// `n` brokers with node ids 1..=n, answering with the default script.
    pub fn start(n: usize) -> FakeCluster {
        FakeCluster::with_handler(n, Arc::new(|_| None))
    }

    pub fn with_handler(n: usize, handler: Handler) -> FakeCluster {
        FakeCluster::build(n, handler, None)
    }

    /// Brokers that speak TLS with this server configuration.
    pub fn with_tls(n: usize, handler: Handler, tls: Arc<rustls::ServerConfig>) -> FakeCluster {
        FakeCluster::build(n, handler, Some(tls))
    }

    fn build(n: usize, handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> FakeCluster {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let view = Arc::new(Mutex::new(ClusterView {
            brokers: addrs
                .iter()
                .enumerate()
                .map(|(i, a)| (i as i32 + 1, *a))
                .collect(),
            topics: vec![("topic-a".to_string(), 2)],
            api_versions: None,
        }));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        for (i, listener) in listeners.into_iter().enumerate() {
            let node = i as i32 + 1;
            let (view, seen, stop, handler, accepted, tls) = (
                view.clone(),
                seen.clone(),
                stop.clone(),
                handler.clone(),
                accepted.clone(),
                tls.clone(),
            );
            thread::spawn(move || {
                let mut conn_id = 0;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    conn_id += 1;
                    let (view, seen, stop, handler) =
                        (view.clone(), seen.clone(), stop.clone(), handler.clone());
                    let c = conn_id;
                    stream.set_nodelay(true).ok();
                    let tls = tls.clone();
                    thread::spawn(move || match tls {
                        None => serve(node, c, stream, view, seen, stop, handler),
                        Some(cfg) => {
                            let Ok(session) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let stream = rustls::StreamOwned::new(session, stream);
                            serve(node, c, stream, view, seen, stop, handler)
                        }
                    });
                }
            });
        }
        FakeCluster {
            view,
            seen,
            accepted,
            stop,
            addrs,
        }
    }

    pub fn addr(&self, node: i32) -> SocketAddr {
        self.addrs[(node - 1) as usize]
    }

    pub fn bootstrap(&self) -> String {
        self.addrs[0].to_string()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self, key: ApiKey) -> usize {
        self.seen().iter().filter(|s| s.api_key() == key).count()
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for a in &self.addrs {
            // Unblock the accept loops.
            let _ = TcpStream::connect(a);
        }
    }
}

fn serve<S: Read + Write>(
    node: i32,
    conn: usize,
    mut stream: S,
    view: Arc<Mutex<ClusterView>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    handler: Handler,
) {
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).is_err() {
            return;
        }
        let size = i32::from_be_bytes(size) as usize;
        let mut frame = vec![0u8; size];
        if stream.read_exact(&mut frame).is_err() {
            return;
        }
        let Ok((header, body)) = decode_request_frame(Bytes::from(frame)) else {
            return;
        };
        let s = Seen {
            broker: node,
            conn,
            header,
            body,
        };
        seen.lock().unwrap().push(s.clone());
        let actions = handler(&s).unwrap_or_else(|| vec![Action::Default]);
        for action in actions {
            let ok = match action {
                Action::Default => match default_response(&s, &view.lock().unwrap()) {
                    Some(body) => write_response(&mut stream, &s, s.version(), &body, false),
                    None => true,
                },
                Action::Respond(body) => write_response(&mut stream, &s, s.version(), &body, false),
                Action::RespondAs(v, body) => write_response(&mut stream, &s, v, &body, false),
                Action::Trickle(body) => write_response(&mut stream, &s, s.version(), &body, true),
                Action::Raw(bytes) => stream.write_all(&bytes).is_ok(),
                Action::Sleep(d) => {
                    thread::sleep(d);
                    true
                }
                // Dropping the stream closes the connection.
                Action::Close => return,
            };
            if !ok {
                return;
            }
        }
    }
}

fn write_response(
    stream: &mut impl Write,
    s: &Seen,
    version: i16,
    body: &ResponseBody,
    trickle: bool,
) -> bool {
    let header = ResponseHeader {
        correlation_id: s.header.correlation_id,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    if version != s.version() {
        // Header in the request's version, body in another one.
        let mut body_buf = BytesMut::new();
        body.encode(version, &mut body_buf).expect("encode body");
        let mut head = BytesMut::new();
        header
            .encode(s.api_key().response_header_version(s.version()), &mut head)
            .unwrap();
        buf.extend_from_slice(&((head.len() + body_buf.len()) as i32).to_be_bytes());
        buf.extend_from_slice(&head);
        buf.extend_from_slice(&body_buf);
    } else {
        encode_response_frame(&header, version, body, &mut buf).expect("encode response");
    }
    if trickle {
        for b in buf.iter() {
            if stream.write_all(&[*b]).is_err() {
                return false;
            }
            stream.flush().ok();
            thread::sleep(Duration::from_micros(200));
        }
        true
    } else {
        stream.write_all(&buf).is_ok()
    }
}

/// A correct answer to ApiVersions and Metadata; an empty (default) body for
/// the APIs tests use as plain requests.
pub fn default_response(s: &Seen, view: &ClusterView) -> Option<ResponseBody> {
    match &s.body {
        RequestBody::ApiVersions(_) => {
            let ranges: Vec<(ApiKey, i16, i16)> = view.api_versions.clone().unwrap_or_else(|| {
                ApiKey::ALL
                    .iter()
                    .map(|k| {
                        let (lo, hi) = k.supported_versions();
                        (*k, lo, hi)
                    })
                    .collect()
            });
            Some(ResponseBody::ApiVersions(ApiVersionsResponse {
                error_code: 0,
                api_keys: ranges
                    .into_iter()
                    .map(|(k, lo, hi)| ApiVersion {
                        api_key: k.code(),
                        min_version: lo,
                        max_version: hi,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }))
        }
        RequestBody::Metadata(req) => Some(ResponseBody::Metadata(metadata_response(
            view,
            req.topics
                .as_ref()
                .map(|ts| ts.iter().filter_map(|t| t.name.clone()).collect::<Vec<_>>()),
        ))),
        RequestBody::ListGroups(_) => Some(ResponseBody::ListGroups(Default::default())),
        RequestBody::DescribeGroups(_) => Some(ResponseBody::DescribeGroups(Default::default())),
        RequestBody::Produce(p) if p.acks == 0 => None,
        RequestBody::Produce(_) => Some(ResponseBody::Produce(Default::default())),
        _ => None,
    }
}

pub fn metadata_response(view: &ClusterView, topics: Option<Vec<String>>) -> MetadataResponse {
    let known: HashMap<&str, i32> = view.topics.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let names: Vec<String> = match topics {
        Some(t) => t,
        None => view.topics.iter().map(|(n, _)| n.clone()).collect(),
    };
    let leaders: Vec<i32> = view.brokers.iter().map(|(id, _)| *id).collect();
    MetadataResponse {
        brokers: view
            .brokers
            .iter()
            .map(|(id, addr)| MetadataResponseBroker {
                node_id: *id,
                host: addr.ip().to_string(),
                port: addr.port() as i32,
                ..Default::default()
            })
            .collect(),
        cluster_id: Some("fake-cluster".to_string()),
        controller_id: leaders.first().copied().unwrap_or(-1),
        topics: names
            .iter()
            .enumerate()
            .map(|(ti, name)| match known.get(name.as_str()) {
                Some(&count) => MetadataResponseTopic {
                    name: Some(name.clone()),
                    topic_id: Uuid::from_u128(0xabc0 + ti as u128),
                    partitions: (0..count)
                        .map(|p| {
                            let leader = leaders[p as usize % leaders.len()];
                            MetadataResponsePartition {
                                partition_index: p,
                                leader_id: leader,
                                leader_epoch: 3,
                                replica_nodes: vec![leader],
                                isr_nodes: vec![leader],
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                },
                None => MetadataResponseTopic {
                    name: Some(name.clone()),
                    error_code: 3,
                    ..Default::default()
                },
            })
            .collect(),
        ..Default::default()
    }
}

/// A client config for the fake cluster with fast backoffs.
pub fn config(bootstrap: &str) -> NetworkConfig {
    let mut c = NetworkConfig::new([bootstrap]);
    c.client_id = "loopback-test".to_string();
    c.reconnect_backoff = Duration::from_millis(20);
    c.reconnect_backoff_max = Duration::from_millis(100);
    c.retry_backoff = Duration::from_millis(20);
    c.retry_backoff_max = Duration::from_millis(100);
    c
}

/// Upper bound on how long a test waits for a condition before failing (a
/// guard against hangs, not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls until `done` says so, collecting every event.
pub fn poll_until(
    client: &mut NetworkClient,
    events: &mut Vec<ClientEvent>,
    mut done: impl FnMut(&mut NetworkClient, &[ClientEvent]) -> bool,
) {
    let start = Instant::now();
    loop {
        if done(client, events) {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "condition not reached; events so far: {events:#?}"
        );
        let now = Instant::now();
        let new = client.poll(Duration::from_millis(20), now);
        events.extend(new);
    }
}

/// Polls until the metadata names the real brokers.
pub fn bootstrap(client: &mut NetworkClient) {
    let mut events = Vec::new();
    poll_until(client, &mut events, |c, _| !c.metadata().is_bootstrap());
}

/// Connects to `node` and polls until it is ready.
pub fn connect(client: &mut NetworkClient, node: i32) {
    let mut events = Vec::new();
    poll_until(client, &mut events, |c, _| c.ready(node, Instant::now()));
}
