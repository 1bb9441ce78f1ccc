//! Network-level configuration, with the Java client's defaults.

use std::time::Duration;

/// How the client talks to brokers (`security.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication.
    #[default]
    Plaintext,
    /// TCP with SASL authentication (`sasl` must be set).
    SaslPlaintext,
    /// TLS (settings in `tls`, defaults if `None`).
    Ssl,
    /// TLS with SASL authentication.
    SaslSsl,
}

impl SecurityProtocol {
    /// The Java property value (`PLAINTEXT`).
    pub fn name(&self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Parses a `security.protocol` value.
    pub fn from_name(name: &str) -> Result<SecurityProtocol, crate::NetworkError> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(crate::NetworkError::Config(format!(
                "security.protocol {name:?} is not one of PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL"
            ))),
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(&self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(&self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// Settings of a [`NetworkClient`](crate::NetworkClient). Field names follow the
/// Java properties (`request.timeout.ms` is `request_timeout`); the
/// consumer's and producer's configs fill this in from their own.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// `bootstrap.servers`: `host:port` entries (`[::1]:9092` for IPv6).
    pub bootstrap_servers: Vec<String>,
    /// `client.id`, sent in every request header.
    pub client_id: String,
    /// `security.protocol`.
    pub security_protocol: SecurityProtocol,
    /// SASL mechanism and credentials, used with `SaslPlaintext`/`SaslSsl`.
    pub sasl: Option<crate::sasl::SaslConfig>,
    /// TLS settings, used with `Ssl`/`SaslSsl` (`None`: defaults).
    pub tls: Option<crate::tls::TlsConfig>,
    /// `request.timeout.ms`: how long a request may wait for its response.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`: the first connect (TCP and the
    /// ApiVersions exchange) may take this long.
    pub socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`: the setup timeout grows up to
    /// this after repeated failures.
    pub socket_connection_setup_timeout_max: Duration,
    /// `reconnect.backoff.ms`: wait before reconnecting to a node.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`: the reconnect wait grows up to this.
    pub reconnect_backoff_max: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight_requests_per_connection: usize,
    /// `metadata.max.age.ms`: refresh metadata at least this often.
    pub metadata_max_age: Duration,
    /// `retry.backoff.ms`: the minimum time between metadata refreshes.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the refresh wait grows up to this after failures.
    pub retry_backoff_max: Duration,
    /// The largest response frame accepted; a larger size prefix is an error
    /// on that connection (nothing is allocated for it).
    pub max_response_size: usize,
    /// `send.buffer.bytes` (SO_SNDBUF); `None` keeps the OS default.
    pub send_buffer: Option<usize>,
    /// `receive.buffer.bytes` (SO_RCVBUF); `None` keeps the OS default.
    pub receive_buffer: Option<usize>,
    /// `connections.max.idle.ms`: close connections idle this long.
    pub connections_max_idle: Duration,
    /// Whether Metadata requests let the broker auto-create the topics they
    /// name (`allow.auto.create.topics`).
    pub allow_auto_create_topics: bool,
    /// Sent in ApiVersions v3+ (KIP-511).
    pub client_software_name: String,
    /// Sent in ApiVersions v3+ (KIP-511).
    pub client_software_version: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            request_timeout: Duration::from_millis(30_000),
            socket_connection_setup_timeout: Duration::from_millis(10_000),
            socket_connection_setup_timeout_max: Duration::from_millis(30_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1_000),
            max_in_flight_requests_per_connection: 5,
            metadata_max_age: Duration::from_millis(300_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            // librdkafka's receive.message.max.bytes default.
            max_response_size: 100_000_000,
            send_buffer: Some(128 * 1024),
            // None, not Java's 64 KiB: a fixed SO_RCVBUF turns off the
            // kernel's receive-buffer auto-tuning (README, Configuration).
            receive_buffer: None,
            connections_max_idle: Duration::from_millis(540_000),
            allow_auto_create_topics: true,
            client_software_name: "prozess".to_string(),
            client_software_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

impl NetworkConfig {
    /// Defaults with the given bootstrap servers.
    pub fn new<S: Into<String>>(bootstrap_servers: impl IntoIterator<Item = S>) -> Self {
        NetworkConfig {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            ..NetworkConfig::default()
        }
    }

    /// Parses `bootstrap_servers` into `(host, port)` pairs.
    pub fn bootstrap_addresses(&self) -> Result<Vec<(String, u16)>, crate::NetworkError> {
        if self.bootstrap_servers.is_empty() {
            return Err(crate::NetworkError::Config(
                "bootstrap.servers is empty: give at least one host:port".to_string(),
            ));
        }
        self.bootstrap_servers
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_host_port)
            .collect()
    }
}

/// Parses `host:port` or `[v6addr]:port`. A bare IPv6 address followed by a
/// port is refused as ambiguous: write it in brackets.
pub fn parse_host_port(s: &str) -> Result<(String, u16), crate::NetworkError> {
    let bad = |why: &str| {
        crate::NetworkError::Config(format!(
            "invalid bootstrap server {s:?}: {why} (expected host:port)"
        ))
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or_else(|| bad("missing ']'"))?;
        let host = &rest[..end];
        let port = rest[end + 1..]
            .strip_prefix(':')
            .ok_or_else(|| bad("missing port"))?;
        (host, port)
    } else {
        let idx = s.rfind(':').ok_or_else(|| bad("missing port"))?;
        let host = &s[..idx];
        if host.contains(':') {
            return Err(bad("IPv6 addresses must be written in brackets"));
        }
        (host, &s[idx + 1..])
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad("port is not a number in 0-65535"))?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_forms() {
        assert_eq!(
            parse_host_port("localhost:9092").unwrap(),
            ("localhost".to_string(), 9092)
        );
        assert_eq!(
            parse_host_port("[::1]:19092").unwrap(),
            ("::1".to_string(), 19092)
        );
        assert!(parse_host_port("localhost").is_err());
        assert!(parse_host_port("::1:9092").is_err());
        assert!(parse_host_port(":9092").is_err());
        assert!(parse_host_port("h:99999").is_err());
    }

    #[test]
    fn bootstrap_list_splits_commas() {
        let c = NetworkConfig::new(["a:1,b:2", " c:3 "]);
        let addrs = c.bootstrap_addresses().unwrap();
        assert_eq!(
            addrs,
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 2),
                ("c".to_string(), 3)
            ]
        );
        assert!(NetworkConfig::default().bootstrap_addresses().is_err());
    }
}
