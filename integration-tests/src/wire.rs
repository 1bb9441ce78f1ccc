//! A minimal blocking Kafka connection for the harness's own needs (broker
//! readiness, topic creation, metadata). It hand-encodes a few non-flexible
//! request versions that both Tansu and Apache Kafka 4.0 accept
//! (ApiVersions v0, Metadata v1, CreateTopics v4), using the protocol crate's
//! primitives, so the harness does not depend on the client under test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prozess_protocol::primitives::{
    read_array_len, read_bool, read_i16, read_i32, read_nullable_string, read_string,
    write_array_len, write_bool, write_i16, write_i32, write_nullable_string, write_string,
};
use prozess_protocol::DecodeError;

use crate::{HarnessError, Result};

/// API keys used by the harness.
pub const API_METADATA: i16 = 3;
/// CreateTopics.
pub const API_CREATE_TOPICS: i16 = 19;
/// ApiVersions.
pub const API_VERSIONS: i16 = 18;

const CLIENT_ID: &str = "prozess-harness";
/// Largest response the harness accepts (its responses are small).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

fn decode_err(what: &str, e: DecodeError) -> HarnessError {
    HarnessError::new(format!("malformed {what} response: {e}"))
}

/// One blocking connection speaking request header v1 / response header v0.
pub struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    next_correlation_id: i32,
}

impl Connection {
    /// Connects to `addr` (`host:port`), with `timeout` for the connect and
    /// for every later read and write.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Connection> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| HarnessError::new(format!("cannot resolve {addr}: {e}")))?
            .collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    stream.set_nodelay(true)?;
                    return Ok(Connection {
                        stream,
                        addr: a,
                        next_correlation_id: 1,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(HarnessError::new(format!(
            "cannot connect to {addr}: {}",
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "no address".into())
        )))
    }

    /// The address this connection is connected to.
    pub fn peer_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one request (`body` already encoded for `version`) and returns
    /// the response body, after checking the correlation id.
    pub fn request(&mut self, api_key: i16, version: i16, body: &[u8]) -> Result<Bytes> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut header = BytesMut::new();
        write_i16(&mut header, api_key);
        write_i16(&mut header, version);
        write_i32(&mut header, correlation_id);
        write_nullable_string(&mut header, false, Some(CLIENT_ID))
            .map_err(|e| HarnessError::new(e.to_string()))?;
        let mut frame = BytesMut::with_capacity(4 + header.len() + body.len());
        frame.put_i32((header.len() + body.len()) as i32);
        frame.extend_from_slice(&header);
        frame.extend_from_slice(body);
        self.stream.write_all(&frame).map_err(|e| {
            HarnessError::new(format!(
                "sending api {api_key} v{version} to {}: {e}",
                self.addr
            ))
        })?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(|e| {
            HarnessError::new(format!(
                "reading the response to api {api_key} v{version} from {}: {e}",
                self.addr
            ))
        })?;
        let size = i32::from_be_bytes(size);
        if size < 4 || size as usize > MAX_RESPONSE {
            return Err(HarnessError::new(format!(
                "response frame size {size} from {} is out of range",
                self.addr
            )));
        }
        let mut buf = vec![0u8; size as usize];
        self.stream.read_exact(&mut buf).map_err(|e| {
            HarnessError::new(format!(
                "reading a {size}-byte response from {}: {e}",
                self.addr
            ))
        })?;
        let mut buf = Bytes::from(buf);
        let got = buf.get_i32();
        if got != correlation_id {
            return Err(HarnessError::new(format!(
                "response correlation id {got} from {}, expected {correlation_id}",
                self.addr
            )));
        }
        Ok(buf)
    }

    /// ApiVersions v0: the (api_key, min, max) ranges the broker supports.
    pub fn api_versions(&mut self) -> Result<Vec<(i16, i16, i16)>> {
        let mut buf = self.request(API_VERSIONS, 0, &[])?;
        let error = read_i16(&mut buf).map_err(|e| decode_err("ApiVersions", e))?;
        if error != 0 {
            return Err(HarnessError::new(format!("ApiVersions error code {error}")));
        }
        let n = read_array_len(&mut buf, false, 6)
            .map_err(|e| decode_err("ApiVersions", e))?
            .unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let key = read_i16(&mut buf).map_err(|e| decode_err("ApiVersions", e))?;
            let min = read_i16(&mut buf).map_err(|e| decode_err("ApiVersions", e))?;
            let max = read_i16(&mut buf).map_err(|e| decode_err("ApiVersions", e))?;
            out.push((key, min, max));
        }
        Ok(out)
    }

    /// Metadata v1 for `topics` (`None`: all topics).
    pub fn metadata(&mut self, topics: Option<&[&str]>) -> Result<ClusterMetadata> {
        let mut body = BytesMut::new();
        let enc = |e: prozess_protocol::EncodeError| HarnessError::new(e.to_string());
        write_array_len(&mut body, false, topics.map(|t| t.len())).map_err(enc)?;
        for t in topics.unwrap_or(&[]) {
            write_string(&mut body, false, t).map_err(enc)?;
        }
        let buf = self.request(API_METADATA, 1, &body)?;
        ClusterMetadata::decode_v1(buf).map_err(|e| decode_err("Metadata", e))
    }

    /// CreateTopics v4 for one topic; replication factor -1 lets the broker
    /// choose its default (KIP-464), which suits both one and three nodes.
    /// Returns the topic's error code and message.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        timeout: Duration,
    ) -> Result<(i16, Option<String>)> {
        let enc = |e: prozess_protocol::EncodeError| HarnessError::new(e.to_string());
        let mut body = BytesMut::new();
        write_array_len(&mut body, false, Some(1)).map_err(enc)?;
        write_string(&mut body, false, name).map_err(enc)?;
        write_i32(&mut body, partitions);
        write_i16(&mut body, replication_factor);
        write_array_len(&mut body, false, Some(0)).map_err(enc)?; // assignments
        write_array_len(&mut body, false, Some(0)).map_err(enc)?; // configs
        write_i32(&mut body, timeout.as_millis().min(i32::MAX as u128) as i32);
        write_bool(&mut body, false); // validate_only
        let mut buf = self.request(API_CREATE_TOPICS, 4, &body)?;
        let d = |e| decode_err("CreateTopics", e);
        let _throttle = read_i32(&mut buf).map_err(d)?;
        let n = read_array_len(&mut buf, false, 6).map_err(d)?.unwrap_or(0);
        for _ in 0..n {
            let topic = read_string(&mut buf, false).map_err(d)?;
            let code = read_i16(&mut buf).map_err(d)?;
            let message = read_nullable_string(&mut buf, false).map_err(d)?;
            if topic == name {
                return Ok((code, message));
            }
        }
        Err(HarnessError::new(format!(
            "CreateTopics response does not mention topic {name}"
        )))
    }
}

/// A broker as listed in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if any.
    pub rack: Option<String>,
}

/// A partition as listed in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Error code of this partition.
    pub error_code: i16,
    /// Partition index.
    pub partition: i32,
    /// Leader node id (-1 when none).
    pub leader: i32,
}

/// A topic as listed in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Error code of this topic.
    pub error_code: i16,
    /// Topic name.
    pub name: String,
    /// Partitions, as the broker listed them.
    pub partitions: Vec<PartitionInfo>,
}

/// The parts of a Metadata v1 response the harness uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterMetadata {
    /// Brokers of the cluster.
    pub brokers: Vec<BrokerInfo>,
    /// Controller node id.
    pub controller_id: i32,
    /// Topics.
    pub topics: Vec<TopicInfo>,
}

impl ClusterMetadata {
    fn decode_v1(mut buf: Bytes) -> std::result::Result<ClusterMetadata, DecodeError> {
        let b = &mut buf;
        let mut md = ClusterMetadata::default();
        let n = read_array_len(b, false, 14)?.unwrap_or(0);
        for _ in 0..n {
            let node_id = read_i32(b)?;
            let host = read_string(b, false)?;
            let port = read_i32(b)?;
            let rack = read_nullable_string(b, false)?;
            md.brokers.push(BrokerInfo {
                node_id,
                host,
                port,
                rack,
            });
        }
        md.controller_id = read_i32(b)?;
        let n = read_array_len(b, false, 9)?.unwrap_or(0);
        for _ in 0..n {
            let error_code = read_i16(b)?;
            let name = read_string(b, false)?;
            let _internal = read_bool(b)?;
            let np = read_array_len(b, false, 18)?.unwrap_or(0);
            let mut partitions = Vec::with_capacity(np);
            for _ in 0..np {
                let error_code = read_i16(b)?;
                let partition = read_i32(b)?;
                let leader = read_i32(b)?;
                for _ in 0..2 {
                    // replicas, then isr: not needed, but must be skipped.
                    let k = read_array_len(b, false, 4)?.unwrap_or(0);
                    for _ in 0..k {
                        read_i32(b)?;
                    }
                }
                partitions.push(PartitionInfo {
                    error_code,
                    partition,
                    leader,
                });
            }
            md.topics.push(TopicInfo {
                error_code,
                name,
                partitions,
            });
        }
        Ok(md)
    }

    /// The topic named `name`, if listed.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|t| t.name == name)
    }
}

/// Connects to the first reachable address of a `host:port[,host:port]` list.
pub fn connect_any(bootstrap: &str, timeout: Duration) -> Result<Connection> {
    let mut errors = Vec::new();
    for addr in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match Connection::connect(addr, timeout) {
            Ok(c) => return Ok(c),
            Err(e) => errors.push(e.0),
        }
    }
    Err(HarnessError::new(format!(
        "no broker of {bootstrap:?} reachable: {}",
        errors.join("; ")
    )))
}
