//! SASL (PLAIN, SCRAM) in the connection handshake, against a fake broker
//! that plays the server side.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prozess_network::sasl::test_server;
use prozess_network::{
    ClientEvent, KafkaClient, NetworkClient, NetworkError, SaslConfig, SaslMechanism,
    SecurityProtocol,
};
use prozess_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};
use support::{bootstrap, config, poll_until, Action, FakeCluster, Handler};

const SALT: &[u8] = b"fake-broker-salt";
const ITERATIONS: u32 = 4096;

fn handshake_ok() -> Action {
    Action::Respond(ResponseBody::SaslHandshake(SaslHandshakeResponse {
        error_code: 0,
        mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
        ..Default::default()
    }))
}

fn auth(error_code: i16, bytes: &[u8]) -> Action {
    Action::Respond(ResponseBody::SaslAuthenticate(SaslAuthenticateResponse {
        error_code,
        error_message: (error_code != 0).then(|| "Authentication failed".to_string()),
        auth_bytes: bytes.to_vec().into(),
        ..Default::default()
    }))
}

/// Per (broker, connection): the client-first-bare and server-first messages.
type ScramSessions = HashMap<(i32, usize), (String, String)>;

/// A broker that knows user "alice" with password "secret", over PLAIN and
/// SCRAM-SHA-256.
fn sasl_broker() -> FakeCluster {
    sasl_broker_with(Arc::new(Mutex::new("secret".to_string())))
}

/// As [`sasl_broker`], with a password the test may change.
fn sasl_broker_with(password: Arc<Mutex<String>>) -> FakeCluster {
    let scram: Arc<Mutex<ScramSessions>> = Arc::default();
    let handler: Handler = Arc::new(move |s| match &s.body {
        RequestBody::SaslHandshake(h) => {
            if h.mechanism == "PLAIN" || h.mechanism == "SCRAM-SHA-256" {
                Some(vec![handshake_ok()])
            } else {
                Some(vec![Action::Respond(ResponseBody::SaslHandshake(
                    SaslHandshakeResponse {
                        error_code: 33, // UNSUPPORTED_SASL_MECHANISM
                        mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
                        ..Default::default()
                    },
                ))])
            }
        }
        RequestBody::SaslAuthenticate(a) => {
            let bytes = &a.auth_bytes[..];
            let secret = password.lock().unwrap().clone();
            if bytes.first() == Some(&0) {
                let ok = bytes == format!("\0alice\0{secret}").as_bytes();
                return Some(vec![auth(if ok { 0 } else { 58 }, b"")]);
            }
            let key = (s.broker, s.conn);
            let mut scram = scram.lock().unwrap();
            match scram.remove(&key) {
                None => {
                    let (first, bare, _) =
                        test_server::server_first(bytes, "fake", SALT, ITERATIONS);
                    scram.insert(key, (bare, first.clone()));
                    Some(vec![auth(0, first.as_bytes())])
                }
                Some((bare, first)) => {
                    match test_server::server_final(
                        SaslMechanism::ScramSha256,
                        &secret,
                        SALT,
                        ITERATIONS,
                        &bare,
                        &first,
                        bytes,
                    ) {
                        Ok(fin) => Some(vec![auth(0, fin.as_bytes())]),
                        Err(_) => Some(vec![auth(58, b"")]),
                    }
                }
            }
        }
        _ => None,
    });
    FakeCluster::with_handler(1, handler)
}

fn sasl_client(cluster: &FakeCluster, mechanism: SaslMechanism, password: &str) -> NetworkClient {
    let mut cfg = config(&cluster.bootstrap());
    cfg.security_protocol = SecurityProtocol::SaslPlaintext;
    cfg.sasl = Some(SaslConfig {
        mechanism,
        username: "alice".into(),
        password: password.into(),
        oauthbearer: None,
    });
    NetworkClient::new(cfg).unwrap()
}

fn handshake_order(cluster: &FakeCluster) -> Vec<ApiKey> {
    cluster
        .seen()
        .iter()
        .filter(|s| s.conn == 1)
        .map(|s| s.api_key())
        .take(3)
        .collect()
}

#[test]
fn plain_authenticates_before_any_request() {
    let cluster = sasl_broker();
    let mut client = sasl_client(&cluster, SaslMechanism::Plain, "secret");
    bootstrap(&mut client);
    assert_eq!(
        handshake_order(&cluster),
        vec![
            ApiKey::ApiVersions,
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate
        ]
    );
}

#[test]
fn scram_sha256_authenticates() {
    let cluster = sasl_broker();
    let mut client = sasl_client(&cluster, SaslMechanism::ScramSha256, "secret");
    bootstrap(&mut client);
    assert_eq!(
        cluster.count(ApiKey::SaslAuthenticate),
        2 * cluster.count(ApiKey::SaslHandshake)
    );
}

fn expect_auth_failure(client: &mut NetworkClient) -> String {
    let mut events = Vec::new();
    poll_until(client, &mut events, |_, ev| !ev.is_empty());
    match &events[0] {
        ClientEvent::Disconnected {
            node: -1,
            in_flight,
            cause: NetworkError::Authentication(m),
        } => {
            assert!(in_flight.is_empty());
            assert!(!NetworkError::Authentication(m.clone()).is_retriable());
            m.clone()
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}

#[test]
fn wrong_password_is_an_authentication_error() {
    let cluster = sasl_broker();
    let mut client = sasl_client(&cluster, SaslMechanism::Plain, "wrong");
    let m = expect_auth_failure(&mut client);
    assert!(m.contains("Authentication failed"), "{m}");
    assert!(client.connection_failed(-1));

    let mut client = sasl_client(&cluster, SaslMechanism::ScramSha256, "wrong");
    expect_auth_failure(&mut client);
}

#[test]
fn unsupported_mechanism_names_the_enabled_ones() {
    let cluster = sasl_broker();
    let mut client = sasl_client(&cluster, SaslMechanism::ScramSha512, "secret");
    let m = expect_auth_failure(&mut client);
    assert!(m.contains("SCRAM-SHA-256"), "{m}");
}

#[test]
fn sasl_protocol_without_credentials_is_a_config_error() {
    let mut cfg = config("127.0.0.1:9092");
    cfg.security_protocol = SecurityProtocol::SaslPlaintext;
    assert!(matches!(
        NetworkClient::new(cfg),
        Err(NetworkError::Config(_))
    ));
}

#[test]
fn authentication_failure_names_broker_and_mechanism_and_backs_off_to_the_max() {
    let password = Arc::new(Mutex::new("secret".to_string()));
    let cluster = sasl_broker_with(password.clone());
    let mut cfg = support::config(&cluster.bootstrap());
    cfg.security_protocol = SecurityProtocol::SaslPlaintext;
    cfg.reconnect_backoff = std::time::Duration::from_millis(1);
    cfg.reconnect_backoff_max = std::time::Duration::from_millis(300);
    cfg.sasl = Some(SaslConfig {
        mechanism: SaslMechanism::ScramSha256,
        username: "alice".into(),
        password: "changed".into(),
        oauthbearer: None,
    });
    let mut client = NetworkClient::new(cfg).unwrap();
    let m = expect_auth_failure(&mut client);
    // Broker (host:port and node), mechanism and the broker's message.
    let addr = cluster.bootstrap();
    assert!(m.contains(&addr), "{m}");
    assert!(m.contains("node -1"), "{m}");
    assert!(m.contains("SCRAM-SHA-256"), "{m}");
    assert!(m.contains("Authentication failed"), "{m}");
    // One connection attempt, then the longest backoff (not 1 ms).
    assert_eq!(cluster.count(ApiKey::SaslHandshake), 1);
    let delay = client.connection_delay(-1, std::time::Instant::now());
    assert!(
        delay > std::time::Duration::from_millis(200),
        "reconnects after {delay:?}"
    );
    // The credentials become valid (the user is created): the next attempt
    // after the backoff succeeds.
    *password.lock().unwrap() = "changed".to_string();
    bootstrap(&mut client);
    assert_eq!(cluster.count(ApiKey::SaslHandshake), 2);
}
