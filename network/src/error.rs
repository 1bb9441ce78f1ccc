//! `NetworkError`: why a connection closed or a request could not be sent.

use std::fmt;
use std::io;
use std::sync::Arc;

use prozess_protocol::{DecodeError, EncodeError};

use crate::NodeId;

/// Errors of the network layer. `Clone` (I/O errors are shared behind an
/// `Arc`) because one cause is reported with every request it failed.
#[derive(Debug, Clone)]
pub enum NetworkError {
    /// The configuration cannot work (message names the setting).
    Config(String),
    /// A host name could not be resolved, or resolved to no address.
    Dns { host: String, message: String },
    /// A socket operation failed.
    Io(Arc<io::Error>),
    /// The broker closed the connection.
    ConnectionClosed,
    /// The TCP connect plus the ApiVersions exchange took longer than
    /// `socket.connection.setup.timeout.ms`.
    ConnectionSetupTimeout,
    /// A request got no response within its timeout; the connection was closed
    /// because responses arrive in order and that one never came.
    RequestTimeout,
    /// The broker sent bytes that do not decode (or a frame over the size limit).
    Decode(DecodeError),
    /// A request could not be encoded in the chosen version.
    Encode(EncodeError),
    /// A response's correlation id is not the one of the oldest request in flight.
    CorrelationMismatch { expected: i32, received: i32 },
    /// The broker answered ApiVersions with an error.
    ApiVersions { error: String },
    /// Broker and client have no version of this API in common (or the broker
    /// does not support it at all).
    UnsupportedVersion { api: &'static str, node: NodeId },
    /// A request was sent to a node that is not ready (not connected, still
    /// connecting, or at `max.in.flight.requests.per.connection`).
    NotReady(NodeId),
    /// The node id is not in the metadata and not a bootstrap server.
    UnknownNode(NodeId),
    /// The caller closed the connection (`close(node)`) with requests in flight.
    ClosedByClient,
    /// SASL authentication failed (bad credentials, unsupported mechanism, or
    /// a server that could not prove it knows the password): Java's
    /// `SaslAuthenticationException`. Fatal: the client reports it to the
    /// caller instead of retrying. The message names the broker, the
    /// mechanism and the broker's own message.
    Authentication(String),
    /// The TLS handshake failed (certificate not trusted, wrong host name,
    /// client certificate refused): Java's `SslAuthenticationException`.
    /// Fatal, like `Authentication`. A TLS error on an established
    /// connection is reported as `Io` instead (retriable).
    Tls(String),
}

impl NetworkError {
    /// Whether a retry (after backoff, maybe on another node) can succeed.
    /// Decode errors are retriable too: the connection is gone, the next one
    /// may behave.
    pub fn is_retriable(&self) -> bool {
        !matches!(
            self,
            NetworkError::Config(_)
                | NetworkError::Encode(_)
                | NetworkError::UnsupportedVersion { .. }
                | NetworkError::Authentication(_)
                | NetworkError::Tls(_)
        )
    }
}

impl NetworkError {
    /// Whether this is a failed authentication (SASL or the TLS handshake),
    /// which the consumer, producer and admin client surface to the caller
    /// (Java's `AuthenticationException`) rather than retry.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, NetworkError::Authentication(_) | NetworkError::Tls(_))
    }
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::Config(m) => write!(f, "configuration error: {m}"),
            NetworkError::Dns { host, message } => {
                write!(f, "cannot resolve host {host:?}: {message}")
            }
            NetworkError::Io(e) => write!(f, "I/O error: {e}"),
            NetworkError::ConnectionClosed => write!(f, "connection closed by the broker"),
            NetworkError::ConnectionSetupTimeout => write!(f, "connection setup timed out"),
            NetworkError::RequestTimeout => write!(f, "request timed out"),
            NetworkError::Decode(e) => write!(f, "{e}"),
            NetworkError::Encode(e) => write!(f, "{e}"),
            NetworkError::CorrelationMismatch { expected, received } => write!(
                f,
                "response correlation id {received} does not match the oldest request in flight ({expected})"
            ),
            NetworkError::ApiVersions { error } => {
                write!(f, "ApiVersions request failed: {error}")
            }
            NetworkError::UnsupportedVersion { api, node } => write!(
                f,
                "node {node} supports no version of {api} that prozess speaks"
            ),
            NetworkError::NotReady(node) => write!(f, "node {node} is not ready for requests"),
            NetworkError::UnknownNode(node) => write!(f, "node {node} is not known"),
            NetworkError::ClosedByClient => write!(f, "connection closed by the client"),
            NetworkError::Authentication(m) => write!(f, "SASL authentication failed: {m}"),
            NetworkError::Tls(m) => write!(f, "TLS handshake failed: {m}"),
        }
    }
}

impl std::error::Error for NetworkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NetworkError::Io(e) => Some(e.as_ref()),
            NetworkError::Decode(e) => Some(e),
            NetworkError::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for NetworkError {
    fn from(e: io::Error) -> Self {
        NetworkError::Io(Arc::new(e))
    }
}

impl From<DecodeError> for NetworkError {
    fn from(e: DecodeError) -> Self {
        NetworkError::Decode(e)
    }
}

impl From<EncodeError> for NetworkError {
    fn from(e: EncodeError) -> Self {
        NetworkError::Encode(e)
    }
}
