//! A minimal blocking Kafka connection for the broker readiness probe: it
//! sends ApiVersions v0 (which every Kafka-compatible broker answers) with
//! hand-encoded bytes. It stays independent of the client under test on
//! purpose: it is what decides that a broker is up before prozess's own
//! client is trusted with it, so a bug in prozess's network code shows as a
//! failing test, not as a broker that "never started". Everything else the
//! harness needs (topics, metadata) goes through prozess's AdminClient.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prozess_protocol::primitives::{
    read_array_len, read_i16, write_i16, write_i32, write_nullable_string,
};
use prozess_protocol::DecodeError;

use crate::{HarnessError, Result};

/// The ApiVersions API key.
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
