//! One broker connection: a non-blocking mio socket, a read buffer that
//! accumulates partial frames, a write queue that survives partial writes,
//! and the requests in flight on it.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mio::net::TcpStream;
use mio::Token;
use prozess_protocol::ApiKey;

use crate::NetworkError;

/// Where a connection is in its life. Sending user requests is allowed only
/// in `Ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionState {
    /// TCP connect under way.
    Connecting,
    /// Connected; our ApiVersions request (of this version) is out.
    CheckingApiVersions { version: i16 },
    /// Our SaslHandshake request is out.
    SaslHandshake,
    /// SaslAuthenticate exchanges under way.
    SaslAuthenticating,
    /// Handshake done.
    Ready,
}

/// Who is waiting for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestOwner {
    /// The caller: the outcome becomes a [`ClientEvent`](crate::ClientEvent).
    User,
    /// The connection handshake.
    ApiVersions,
    /// SASL mechanism negotiation.
    SaslHandshake,
    /// A SASL authentication step.
    SaslAuthenticate,
    /// The client's own metadata refresh, built from this request version.
    Metadata { request_version: u64 },
}

/// A request sent and not yet answered.
#[derive(Debug, Clone)]
pub(crate) struct InFlightRequest {
    pub correlation_id: i32,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub deadline: Instant,
    /// When it was queued (for the request-latency metrics).
    pub sent_at: Instant,
    pub owner: RequestOwner,
    /// False for Produce acks=0: done once written.
    pub expects_response: bool,
}

/// A frame, or a piece of one, waiting to be written; `done_without_response`
/// (on a frame's last piece) names the request that completes when the frame
/// is fully written.
struct OutgoingFrame {
    bytes: Bytes,
    done_without_response: Option<i32>,
}

/// The outcome of reading.
pub(crate) struct ReadOutcome {
    /// Complete frames (without size prefix), in order.
    pub frames: Vec<Bytes>,
    /// Set when the connection must close (EOF, socket error, bad frame).
    pub error: Option<NetworkError>,
}

/// Room the read buffer keeps free at least when no frame size asks for
/// more. Reads go into uninitialised spare capacity (nothing is zero-filled),
/// so a read costs what it receives, not what it offers; large frames get
/// room for their whole length from their size prefix.
const READ_CHUNK: usize = 4 * 1024;
/// The most one read call asks for.
const MAX_READ: usize = 1024 * 1024;
/// At most this many buffers go into one vectored write.
const MAX_IOVECS: usize = 64;

pub(crate) struct Connection {
    pub token: Token,
    pub addr: SocketAddr,
    pub stream: TcpStream,
    pub state: ConnectionState,
    /// Deadline of the whole setup (TCP connect + ApiVersions).
    pub setup_deadline: Option<Instant>,
    pub last_activity: Instant,
    /// Negotiated versions: highest version both sides support.
    pub api_versions: HashMap<ApiKey, i16>,
    pub in_flight: VecDeque<InFlightRequest>,
    /// The SASL exchange, while authenticating.
    pub sasl: Option<crate::sasl::SaslClient>,
    /// KIP-368: when the broker gave the SASL session a lifetime, the
    /// instant (85-95 % of it) from which the connection takes no new
    /// requests and re-authenticates once those in flight are answered.
    pub reauth_at: Option<Instant>,
    /// A re-authentication (KIP-368) of a connection that was Ready is under
    /// way: its negotiated versions stay valid.
    pub reauthenticating: bool,
    /// The TLS session, for SSL and SASL_SSL.
    pub tls: Option<Box<rustls::ClientConnection>>,
    /// KIP-219: the broker throttled us; no new request before this.
    pub throttle_until: Option<Instant>,
    read_buf: BytesMut,
    write_queue: VecDeque<OutgoingFrame>,
    /// Bytes of the front frame already written.
    write_pos: usize,
}

impl Connection {
    pub fn new(
        token: Token,
        addr: SocketAddr,
        stream: TcpStream,
        now: Instant,
        setup_deadline: Instant,
    ) -> Self {
        Connection {
            token,
            addr,
            stream,
            state: ConnectionState::Connecting,
            setup_deadline: Some(setup_deadline),
            last_activity: now,
            api_versions: HashMap::new(),
            in_flight: VecDeque::new(),
            sasl: None,
            reauth_at: None,
            reauthenticating: false,
            tls: None,
            throttle_until: None,
            read_buf: BytesMut::new(),
            write_queue: VecDeque::new(),
            write_pos: 0,
        }
    }

    /// Whether TCP connect finished. `Ok(false)`: still under way.
    pub fn finish_connect(&mut self) -> Result<bool, NetworkError> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e.into());
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Queues a frame (size prefix included) for writing.
    pub fn enqueue(&mut self, frame: Bytes, done_without_response: Option<i32>) {
        self.write_queue.push_back(OutgoingFrame {
            bytes: frame,
            done_without_response,
        });
    }

    /// Queues a frame given as consecutive pieces (size prefix in the
    /// first), written back to back by the vectored writes: a produce
    /// request's record batches go out without being copied into one buffer.
    pub fn enqueue_pieces(&mut self, pieces: Vec<Bytes>, done_without_response: Option<i32>) {
        // An empty piece would make a vectored write of nothing look like a
        // closed socket.
        let mut pieces: Vec<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        let Some(last) = pieces.pop() else {
            return;
        };
        for bytes in pieces {
            self.write_queue.push_back(OutgoingFrame {
                bytes,
                done_without_response: None,
            });
        }
        self.enqueue(last, done_without_response);
    }

    /// Whether bytes are waiting to be written (frames, or TLS records).
    pub fn has_pending_writes(&self) -> bool {
        !self.write_queue.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes as much of the queue as the socket takes (through the TLS
    /// session, if any). Returns the requests without response whose frames
    /// are now fully written (they are removed from `in_flight`).
    pub fn flush(&mut self, now: Instant) -> Result<Vec<InFlightRequest>, NetworkError> {
        let mut completed = Vec::new();
        loop {
            // TLS: push encrypted records (handshake included) out first.
            let mut socket_blocked = false;
            if let Some(tls) = &mut self.tls {
                while tls.wants_write() {
                    match tls.write_tls(&mut self.stream) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "socket accepted no bytes",
                            )
                            .into())
                        }
                        Ok(_) => self.last_activity = now,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            socket_blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if self.write_queue.is_empty() {
                break;
            }
            let written = {
                let mut slices: Vec<IoSlice<'_>> =
                    Vec::with_capacity(self.write_queue.len().min(MAX_IOVECS));
                for (i, f) in self.write_queue.iter().take(MAX_IOVECS).enumerate() {
                    let start = if i == 0 { self.write_pos } else { 0 };
                    slices.push(IoSlice::new(&f.bytes[start..]));
                }
                let result = match &mut self.tls {
                    // Plaintext into the session's buffer (bounded): it
                    // takes nothing when full, until records go out.
                    Some(tls) => match tls.writer().write_vectored(&slices) {
                        Ok(0) if socket_blocked || tls.wants_write() => break,
                        other => other,
                    },
                    None => self.stream.write_vectored(&slices),
                };
                match result {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "socket accepted no bytes",
                        )
                        .into())
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            self.last_activity = now;
            let mut left = written;
            while left > 0 {
                let Some(front) = self.write_queue.front() else {
                    break;
                };
                let remaining = front.bytes.len() - self.write_pos;
                if left >= remaining {
                    left -= remaining;
                    self.write_pos = 0;
                    let done = self
                        .write_queue
                        .pop_front()
                        .and_then(|f| f.done_without_response);
                    if let Some(corr) = done {
                        if let Some(i) =
                            self.in_flight.iter().position(|r| r.correlation_id == corr)
                        {
                            if let Some(r) = self.in_flight.remove(i) {
                                completed.push(r);
                            }
                        }
                    }
                } else {
                    self.write_pos += left;
                    left = 0;
                }
            }
        }
        Ok(completed)
    }

    /// Reads everything the socket has (until it would block) and splits out
    /// complete frames. A size prefix over `max_frame` stops reading with an
    /// error before anything is allocated for that frame.
    pub fn read(&mut self, max_frame: usize, now: Instant) -> ReadOutcome {
        let mut frames = Vec::new();
        let error = self.read_into_buffer(max_frame, now, &mut frames).err();
        ReadOutcome { frames, error }
    }

    fn read_into_buffer(
        &mut self,
        max_frame: usize,
        now: Instant,
        frames: &mut Vec<Bytes>,
    ) -> Result<(), NetworkError> {
        loop {
            let mut drained = false;
            if let Some(tls) = &mut self.tls {
                // Encrypted bytes in, then whatever plaintext they held.
                match tls.read_tls(&mut self.stream) {
                    Ok(0) => return Err(NetworkError::ConnectionClosed),
                    Ok(_) => self.last_activity = now,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => drained = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
                let state = tls
                    .process_new_packets()
                    .map_err(|e| NetworkError::Tls(e.to_string()))?;
                let mut want = state.plaintext_bytes_to_read();
                let peer_closed = state.peer_has_closed();
                while want > 0 {
                    let len = self.read_buf.len();
                    self.read_buf.resize(len + want, 0);
                    match tls.reader().read(&mut self.read_buf[len..]) {
                        Ok(0) => {
                            self.read_buf.truncate(len);
                            break;
                        }
                        Ok(n) => {
                            self.read_buf.truncate(len + n);
                            want = want.saturating_sub(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.read_buf.truncate(len);
                            break;
                        }
                        Err(e) => {
                            self.read_buf.truncate(len);
                            return Err(e.into());
                        }
                    }
                }
                if peer_closed {
                    while let Some(frame) =
                        prozess_protocol::frame::split_frame(&mut self.read_buf, max_frame)?
                    {
                        frames.push(frame);
                    }
                    return Err(NetworkError::ConnectionClosed);
                }
            } else {
                // Reserve room for the whole frame being read once its size
                // is known, so a large frame lands in one allocation, and
                // read straight into the spare capacity: nothing is
                // zero-filled first (that was a 1 MiB memset per ~85 KB
                // read of a large fetch response, a third of the consumer's
                // CPU with 1 KB records).
                let remaining = self.current_frame_remaining(max_frame);
                let chunk = READ_CHUNK.max(remaining.min(MAX_READ));
                let len = self.read_buf.len();
                if self.read_buf.capacity() - len < chunk {
                    self.read_buf.reserve(remaining.max(chunk));
                }
                let spare = self.read_buf.spare_capacity_mut();
                let offer = spare.len().min(MAX_READ);
                match socket2::SockRef::from(&self.stream).recv(&mut spare[..offer]) {
                    Ok(0) => return Err(NetworkError::ConnectionClosed),
                    Ok(n) => {
                        // SAFETY: recv(2) wrote the first `n` bytes of the
                        // spare capacity (socket2's `recv` takes
                        // `MaybeUninit` for this reason and returns how many
                        // bytes it initialised), and `n <= offer <=` the
                        // spare capacity, so `len + n` bytes are initialised
                        // and within the allocation.
                        unsafe { self.read_buf.set_len(len + n) };
                        self.last_activity = now;
                    }
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => drained = true,
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(e.into()),
                    },
                }
            }
            while let Some(frame) =
                prozess_protocol::frame::split_frame(&mut self.read_buf, max_frame)?
            {
                frames.push(frame);
            }
            if drained {
                return Ok(());
            }
        }
    }

    /// Bytes still missing of the frame at the head of the read buffer, when
    /// its size prefix is in and within the limit (the splitter reports an
    /// oversize prefix; this is only a capacity hint).
    fn current_frame_remaining(&self, max_frame: usize) -> usize {
        if self.read_buf.len() < 4 {
            return 0;
        }
        let size = i32::from_be_bytes([
            self.read_buf[0],
            self.read_buf[1],
            self.read_buf[2],
            self.read_buf[3],
        ]);
        match usize::try_from(size) {
            Ok(size) if size <= max_frame => (4 + size).saturating_sub(self.read_buf.len()),
            _ => 0,
        }
    }

    /// The oldest request that waits for a response.
    pub fn next_expected_response(&self) -> Option<&InFlightRequest> {
        self.in_flight.iter().find(|r| r.expects_response)
    }

    /// Removes and returns the oldest request that waits for a response.
    pub fn pop_expected_response(&mut self) -> Option<InFlightRequest> {
        let i = self.in_flight.iter().position(|r| r.expects_response)?;
        self.in_flight.remove(i)
    }

    /// Whether the broker's throttle (KIP-219) still holds at `now`.
    pub fn is_throttled(&self, now: Instant) -> bool {
        self.throttle_until.is_some_and(|t| now < t)
    }

    /// Holds new requests back until `until` (a later throttle wins).
    pub fn throttle(&mut self, until: Instant) {
        if self.throttle_until.is_none_or(|t| t < until) {
            self.throttle_until = Some(until);
        }
    }

    /// Whether the SASL session is due for re-authentication (KIP-368): no
    /// new requests go out on it until that is done.
    pub fn reauth_due(&self, now: Instant) -> bool {
        self.reauth_at.is_some_and(|t| now >= t)
    }

    /// The earliest request deadline on this connection.
    pub fn earliest_deadline(&self) -> Option<Instant> {
        self.in_flight.iter().map(|r| r.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    /// A frame queued as pieces goes out whole and in order, through
    /// partial writes (the reader is slower than the pieces are large), and
    /// its request completes (acks=0) only once its last piece is written.
    #[test]
    fn pieces_are_written_in_order_and_complete_the_request_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let now = Instant::now();
        let mut conn = Connection::new(Token(0), addr, stream, now, now);

        let piece = |len: usize, seed: u8| {
            Bytes::from(
                (0..len)
                    .map(|i| (i as u8).wrapping_mul(seed))
                    .collect::<Vec<_>>(),
            )
        };
        let pieces = vec![
            piece(4, 3),
            piece(3 * 1024 * 1024, 7),
            Bytes::new(), // skipped, not written as a zero-length write
            piece(100, 11),
            piece(2 * 1024 * 1024, 13),
        ];
        let expected: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        conn.in_flight.push_back(InFlightRequest {
            correlation_id: 5,
            api_key: ApiKey::Produce,
            api_version: 9,
            deadline: now,
            sent_at: now,
            owner: RequestOwner::User,
            expects_response: false,
        });
        conn.enqueue_pieces(pieces, Some(5));

        let total = expected.len();
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; total];
            server.read_exact(&mut got).unwrap();
            got
        });
        let mut completed = Vec::new();
        while conn.has_pending_writes() {
            let done = conn.flush(now).unwrap();
            if conn.has_pending_writes() {
                assert!(done.is_empty(), "completed before its last piece");
                std::thread::sleep(Duration::from_millis(1));
            }
            completed.extend(done);
        }
        assert_eq!(
            completed
                .iter()
                .map(|r| r.correlation_id)
                .collect::<Vec<_>>(),
            vec![5]
        );
        assert!(conn.in_flight.is_empty());
        assert!(reader.join().unwrap() == expected, "bytes differ");
    }

    /// Reads until the connection has buffered `buffered` bytes of an
    /// incomplete frame or returned frames; the socket is non-blocking, so
    /// a read may find nothing yet (a deadline guards against a hang, it
    /// is not what the test measures).
    fn read_until(
        conn: &mut Connection,
        frames: &mut Vec<Bytes>,
        want_frames: usize,
        buffered: usize,
    ) {
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            let out = conn.read(64 * 1024 * 1024, Instant::now());
            assert!(out.error.is_none(), "read failed: {:?}", out.error);
            frames.extend(out.frames);
            if frames.len() >= want_frames && conn.read_buf.len() == buffered {
                return;
            }
            assert!(Instant::now() < give_up, "bytes never arrived");
            std::thread::yield_now();
        }
    }

    /// Frames split anywhere across reads (inside the size prefix, inside
    /// the body, several frames in one read, a frame much larger than one
    /// read) come out whole, in order, with their exact bytes.
    #[test]
    fn frames_split_across_reads_come_out_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let now = Instant::now();
        let mut conn = Connection::new(Token(0), addr, stream, now, now);

        let body = |len: usize, seed: u8| -> Vec<u8> {
            (0..len)
                .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
                .collect()
        };
        let framed = |b: &[u8]| -> Vec<u8> {
            let mut v = (b.len() as i32).to_be_bytes().to_vec();
            v.extend_from_slice(b);
            v
        };
        let small = body(10, 3);
        let big = body(3 * 1024 * 1024 + 17, 5);
        let empty = body(0, 1);
        let tail = body(100, 7);
        let (f_small, f_big, f_empty, f_tail) =
            (framed(&small), framed(&big), framed(&empty), framed(&tail));
        let mut frames = Vec::new();

        // Two bytes of a size prefix, then the rest of the small frame.
        server.write_all(&f_small[..2]).unwrap();
        read_until(&mut conn, &mut frames, 0, 2);
        assert!(frames.is_empty());
        server.write_all(&f_small[2..]).unwrap();
        read_until(&mut conn, &mut frames, 1, 0);

        // The big frame in uneven pieces: its prefix and a few bytes, then
        // most of it, then its last byte together with the whole empty frame
        // and the first half of the next.
        server.write_all(&f_big[..7]).unwrap();
        read_until(&mut conn, &mut frames, 1, 7);
        let most = f_big.len() - 1;
        let writer = {
            let chunk = f_big[7..most].to_vec();
            let mut server = server.try_clone().unwrap();
            std::thread::spawn(move || server.write_all(&chunk).unwrap())
        };
        read_until(&mut conn, &mut frames, 1, most);
        writer.join().unwrap();
        let mut rest = f_big[most..].to_vec();
        rest.extend_from_slice(&f_empty);
        rest.extend_from_slice(&f_tail[..50]);
        server.write_all(&rest).unwrap();
        read_until(&mut conn, &mut frames, 3, 50);
        server.write_all(&f_tail[50..]).unwrap();
        read_until(&mut conn, &mut frames, 4, 0);

        let got: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        assert_eq!(got.len(), 4);
        assert!(got[0] == small, "first frame differs");
        assert!(got[1] == big, "big frame differs");
        assert!(got[2] == empty, "empty frame differs");
        assert!(got[3] == tail, "last frame differs");
    }

    /// EOF after part of a frame closes the connection.
    #[test]
    fn eof_inside_a_frame_is_connection_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let now = Instant::now();
        let mut conn = Connection::new(Token(0), addr, stream, now, now);
        server.write_all(&[0, 0, 0, 9, 1, 2]).unwrap();
        drop(server);
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            let out = conn.read(1024, Instant::now());
            assert!(out.frames.is_empty());
            if let Some(e) = out.error {
                assert!(matches!(e, NetworkError::ConnectionClosed), "{e:?}");
                break;
            }
            assert!(Instant::now() < give_up, "EOF never seen");
            std::thread::yield_now();
        }
    }
}
