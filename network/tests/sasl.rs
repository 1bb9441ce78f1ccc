//! SASL (PLAIN, SCRAM) in the connection handshake, against a fake broker
//! that plays the server side.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prozess_network::sasl::test_server;
use std::time::{Duration, Instant, SystemTime};

use prozess_network::{
    ClientEvent, ClientRequest, KafkaClient, NetworkClient, NetworkError, OAuthBearerLogin,
    OAuthBearerToken, SaslConfig, SaslMechanism, SecurityProtocol,
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
    auth_with_lifetime(error_code, bytes, 0)
}

/// A SaslAuthenticate answer; a success carries `lifetime_ms` as the
/// session lifetime (KIP-368), as a broker with connections.max.reauth.ms.
fn auth_with_lifetime(error_code: i16, bytes: &[u8], lifetime_ms: i64) -> Action {
    Action::Respond(ResponseBody::SaslAuthenticate(SaslAuthenticateResponse {
        error_code,
        error_message: (error_code != 0).then(|| "Authentication failed".to_string()),
        auth_bytes: bytes.to_vec().into(),
        session_lifetime_ms: if error_code == 0 { lifetime_ms } else { 0 },
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
    sasl_broker_full(password, 0)
}

/// As [`sasl_broker_with`], giving every session `lifetime_ms` (KIP-368).
fn sasl_broker_full(password: Arc<Mutex<String>>, lifetime_ms: i64) -> FakeCluster {
    let auth = move |code: i16, bytes: &[u8]| auth_with_lifetime(code, bytes, lifetime_ms);
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

// ----- KIP-368 re-authentication -----

const LIFETIME: Duration = Duration::from_secs(10);

/// A clock running `skew` ahead of the real one: tests move time forward
/// without sleeping (the client reads the real clock only after a blocking
/// wait, and never goes back behind the `now` it is given).
struct Clock {
    skew: Duration,
}

impl Clock {
    fn now(&self) -> Instant {
        Instant::now() + self.skew
    }
}

fn poll_with(
    client: &mut NetworkClient,
    clock: &Clock,
    events: &mut Vec<ClientEvent>,
    mut done: impl FnMut(&mut NetworkClient, &[ClientEvent]) -> bool,
) {
    let start = Instant::now();
    while !done(client, events) {
        assert!(
            start.elapsed() < support::PATIENCE,
            "condition not reached; events: {events:#?}"
        );
        events.extend(client.poll(Duration::from_millis(20), clock.now()));
    }
}

/// The broker's number of the connection that carries the ListGroups
/// requests (the bootstrap connection is another one).
fn user_conn(cluster: &FakeCluster) -> usize {
    cluster
        .seen()
        .iter()
        .find(|s| s.api_key() == ApiKey::ListGroups)
        .map(|s| s.conn)
        .expect("a ListGroups request")
}

/// What the broker saw on the connection that carries the ListGroups
/// requests, by API.
fn conn1(cluster: &FakeCluster) -> Vec<ApiKey> {
    let conn = user_conn(cluster);
    cluster
        .seen()
        .iter()
        .filter(|s| s.conn == conn)
        .map(|s| s.api_key())
        .collect()
}

fn list_groups() -> ClientRequest {
    ClientRequest::new(RequestBody::ListGroups(Default::default()))
}

#[test]
fn reauthenticates_on_the_same_connection_after_in_flight_requests() {
    let cluster = sasl_broker_full(
        Arc::new(Mutex::new("secret".into())),
        LIFETIME.as_millis() as i64,
    );
    let mut client = sasl_client(&cluster, SaslMechanism::ScramSha256, "secret");
    let mut clock = Clock {
        skew: Duration::ZERO,
    };
    bootstrap(&mut client);
    support::connect(&mut client, 1);
    assert_eq!(
        cluster.count(ApiKey::SaslHandshake),
        2,
        "bootstrap and node 1"
    );

    // A request in flight when the session reaches 95 % of its lifetime.
    let first = client.send_request(1, list_groups(), clock.now()).unwrap();
    clock.skew = LIFETIME.mul_f64(0.951);
    assert!(!client.ready(1, clock.now()), "no new request once due");
    assert!(matches!(
        client.send_request(1, list_groups(), clock.now()),
        Err(NetworkError::NotReady(1))
    ));
    let mut events = Vec::new();
    poll_with(&mut client, &clock, &mut events, |c, _| {
        c.ready(1, clock.now())
    });
    // The request in flight was answered, nothing was dropped.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == first)),
        "{events:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ClientEvent::Disconnected { .. })),
        "{events:#?}"
    );
    // Requests flow again on the same connection.
    let second = client.send_request(1, list_groups(), clock.now()).unwrap();
    poll_with(&mut client, &clock, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == second))
    });
    let seen = conn1(&cluster);
    let handshakes: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, k)| **k == ApiKey::SaslHandshake)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(handshakes.len(), 2, "{seen:?}");
    let first_at = seen.iter().position(|k| *k == ApiKey::ListGroups).unwrap();
    let second_at = seen.iter().rposition(|k| *k == ApiKey::ListGroups).unwrap();
    assert!(
        first_at < handshakes[1] && handshakes[1] < second_at,
        "in flight, then re-authentication, then the next request: {seen:?}"
    );
    assert_eq!(
        seen[handshakes[1]..second_at],
        [
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate,
            ApiKey::SaslAuthenticate
        ],
        "{seen:?}"
    );
    // And the new session is renewed in turn, still on one connection.
    clock.skew += LIFETIME.mul_f64(0.951);
    poll_with(&mut client, &clock, &mut events, |_, _| {
        conn1(&cluster)
            .iter()
            .filter(|k| **k == ApiKey::SaslHandshake)
            .count()
            == 3
    });
    poll_with(&mut client, &clock, &mut events, |c, _| {
        c.ready(1, clock.now())
    });
    let conn = user_conn(&cluster);
    assert_eq!(
        cluster.seen().iter().filter(|s| s.conn > conn).count(),
        0,
        "no new connection to node 1"
    );
}

#[test]
fn no_reauthentication_before_85_percent_of_the_lifetime() {
    let cluster = sasl_broker_full(
        Arc::new(Mutex::new("secret".into())),
        LIFETIME.as_millis() as i64,
    );
    let mut client = sasl_client(&cluster, SaslMechanism::Plain, "secret");
    bootstrap(&mut client);
    support::connect(&mut client, 1);
    // 75 % of the lifetime after the login (and some real time more).
    let clock = Clock {
        skew: LIFETIME.mul_f64(0.75),
    };
    let mut events = Vec::new();
    for _ in 0..3 {
        let id = client.send_request(1, list_groups(), clock.now()).unwrap();
        poll_with(&mut client, &clock, &mut events, |_, ev| {
            ev.iter()
                .any(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == id))
        });
    }
    assert_eq!(
        conn1(&cluster)
            .iter()
            .filter(|k| **k == ApiKey::SaslHandshake)
            .count(),
        1
    );
}

#[test]
fn a_failed_reauthentication_is_the_fatal_authentication_error() {
    let password = Arc::new(Mutex::new("secret".to_string()));
    let cluster = sasl_broker_full(password.clone(), LIFETIME.as_millis() as i64);
    let mut client = sasl_client(&cluster, SaslMechanism::ScramSha256, "secret");
    let mut clock = Clock {
        skew: Duration::ZERO,
    };
    bootstrap(&mut client);
    support::connect(&mut client, 1);
    // The password is changed on the broker; the session must be renewed.
    *password.lock().unwrap() = "rotated".to_string();
    clock.skew = LIFETIME;
    let mut events = Vec::new();
    poll_with(&mut client, &clock, &mut events, |_, ev| !ev.is_empty());
    match &events[0] {
        ClientEvent::Disconnected {
            node: 1,
            in_flight,
            cause: cause @ NetworkError::Authentication(m),
        } => {
            assert!(in_flight.is_empty());
            assert!(cause.is_authentication_failure() && !cause.is_retriable());
            assert!(
                m.contains("SCRAM-SHA-256") && m.contains(&cluster.bootstrap()),
                "{m}"
            );
            assert!(m.contains("Authentication failed"), "{m}");
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    assert_eq!(cluster.count(ApiKey::SaslHandshake), 3);
    assert!(client.connection_delay(1, clock.now()) > Duration::from_millis(50));
}

// ----- OAUTHBEARER -----

/// A broker that takes the OAUTHBEARER token "good-token" (and answers any
/// other with RFC 7628's JSON error, then a failure).
fn oauth_broker() -> FakeCluster {
    let handler: Handler = Arc::new(|s| match &s.body {
        RequestBody::SaslHandshake(h) if h.mechanism == "OAUTHBEARER" => Some(vec![handshake_ok()]),
        RequestBody::SaslAuthenticate(a) => {
            let bytes = &a.auth_bytes[..];
            if bytes == b"\x01" {
                return Some(vec![Action::Respond(ResponseBody::SaslAuthenticate(
                    SaslAuthenticateResponse {
                        error_code: 58,
                        error_message: Some(
                            "Authentication failed during authentication due to invalid \
                             credentials with SASL mechanism OAUTHBEARER"
                                .into(),
                        ),
                        ..Default::default()
                    },
                ))]);
            }
            if bytes == b"n,,\x01auth=Bearer good-token\x01\x01" {
                Some(vec![auth(0, b"")])
            } else {
                Some(vec![auth(
                    0,
                    br#"{"status":"invalid_token","scope":"","openid-configuration":""}"#,
                )])
            }
        }
        _ => None,
    });
    FakeCluster::with_handler(1, handler)
}

fn oauth_client(cluster: &FakeCluster, token: &'static str) -> NetworkClient {
    let mut cfg = config(&cluster.bootstrap());
    cfg.security_protocol = SecurityProtocol::SaslPlaintext;
    let login = OAuthBearerLogin::new(Arc::new(move || {
        Ok(OAuthBearerToken {
            value: token.into(),
            principal_name: "svc".into(),
            start_time: None,
            expiry: SystemTime::now() + Duration::from_secs(3600),
        })
    }));
    cfg.sasl = Some(SaslConfig::oauthbearer(login));
    NetworkClient::new(cfg).unwrap()
}

#[test]
fn oauthbearer_token_from_the_provider_authenticates() {
    let cluster = oauth_broker();
    let mut client = oauth_client(&cluster, "good-token");
    bootstrap(&mut client);
    assert_eq!(cluster.count(ApiKey::SaslAuthenticate), 1);
}

#[test]
fn oauthbearer_refused_token_is_fatal_and_carries_the_brokers_json_error() {
    let cluster = oauth_broker();
    let mut client = oauth_client(&cluster, "expired-token");
    let m = expect_auth_failure(&mut client);
    assert!(m.contains("OAUTHBEARER"), "{m}");
    assert!(m.contains("invalid_token"), "{m}");
    assert!(m.contains("Authentication failed"), "{m}");
    assert!(!m.contains("expired-token"), "{m}");
    // Client initial response, then the %x01 answering the error.
    assert_eq!(cluster.count(ApiKey::SaslAuthenticate), 2);
}
