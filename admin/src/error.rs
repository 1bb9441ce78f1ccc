//! The admin client's error type.

use std::fmt;
use std::time::Duration;

use prozess_network::{NetworkError, NodeId};
use prozess_protocol::{DecodeError, ErrorCode};

/// Why an admin operation (or one topic, group or partition of it) failed.
#[derive(Debug, Clone)]
pub enum AdminError {
    /// The request or the configuration cannot work (the message says why).
    Config(String),
    /// The operation did not finish within its timeout. `waiting_for` says
    /// what was still outstanding.
    Timeout {
        /// The operation, e.g. "create_topics".
        operation: &'static str,
        /// The timeout that ran out.
        timeout: Duration,
        /// What had not happened yet, e.g. "partition leaders of topic 'a'".
        waiting_for: String,
    },
    /// The broker answered with a Kafka error code.
    Kafka {
        /// The error code (its `name()` is Kafka's, e.g. "TOPIC_ALREADY_EXISTS").
        code: ErrorCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
        /// What the error is about, e.g. "topic 'orders'" or "group 'g1'".
        resource: String,
    },
    /// The network layer failed (connection lost, request timed out, ...).
    Network(NetworkError),
    /// The broker's answer did not make sense (a requested item missing from
    /// the response, an undecodable embedded structure).
    Protocol(String),
}

impl AdminError {
    /// A Kafka error about `resource`.
    pub fn kafka(code: ErrorCode, message: Option<String>, resource: impl Into<String>) -> Self {
        AdminError::Kafka {
            code,
            message: message.filter(|m| !m.is_empty()),
            resource: resource.into(),
        }
    }

    /// The Kafka error code, if this is a broker error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AdminError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for TOPIC_ALREADY_EXISTS (creating a topic that exists).
    pub fn is_topic_already_exists(&self) -> bool {
        self.code() == Some(ErrorCode::TopicAlreadyExists)
    }

    /// True for UNKNOWN_TOPIC_OR_PARTITION.
    pub fn is_unknown_topic(&self) -> bool {
        self.code() == Some(ErrorCode::UnknownTopicOrPartition)
    }

    /// True if a broker refused the credentials or the TLS handshake
    /// ([`NetworkError::Authentication`] or [`NetworkError::Tls`] inside
    /// `Network`; Java's `AuthenticationException`). Not retriable.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, AdminError::Network(e) if e.is_authentication_failure())
    }

    /// True if this is a timeout of the admin operation.
    pub fn is_timeout(&self) -> bool {
        matches!(self, AdminError::Timeout { .. })
    }

    /// Whether trying the same operation again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            AdminError::Config(_) | AdminError::Protocol(_) => false,
            AdminError::Timeout { .. } => true,
            AdminError::Kafka { code, .. } => code.is_retriable(),
            AdminError::Network(e) => e.is_retriable(),
        }
    }

    pub(crate) fn unsupported(api: &'static str, node: NodeId) -> Self {
        AdminError::Network(NetworkError::UnsupportedVersion { api, node })
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Config(m) => write!(f, "invalid admin request or configuration: {m}"),
            AdminError::Timeout {
                operation,
                timeout,
                waiting_for,
            } => write!(
                f,
                "{operation} timed out after {timeout:?} waiting for {waiting_for}"
            ),
            AdminError::Kafka {
                code,
                message,
                resource,
            } => {
                write!(f, "{} ({}) for {resource}", code.name(), code.code())?;
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
            AdminError::Network(e) => write!(f, "network error: {e}"),
            AdminError::Protocol(m) => write!(f, "unexpected broker response: {m}"),
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdminError::Network(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NetworkError> for AdminError {
    fn from(e: NetworkError) -> Self {
        AdminError::Network(e)
    }
}

impl From<DecodeError> for AdminError {
    fn from(e: DecodeError) -> Self {
        AdminError::Protocol(e.to_string())
    }
}
