//! What the logs say (every level, captured by the global `tracing`
//! subscriber this binary installs): credentials never appear in errors,
//! `Debug` output or logs; an unreachable broker is warned about once.

mod support;

use std::sync::{Arc, Mutex};

use prozess_network::{
    ClientEvent, KafkaClient, NetworkClient, NetworkError, OAuthBearerLogin, OAuthBearerToken,
    SaslConfig, SaslMechanism, SecurityConfig, SecurityProtocol,
};
use prozess_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
use prozess_protocol::{RequestBody, ResponseBody};
use support::{bootstrap, config, poll_until, Action, FakeCluster, Handler};

/// Log lines written by `tracing`.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A PLAIN broker that accepts alice/secret.
fn plain_broker() -> FakeCluster {
    let handler: Handler = Arc::new(|s| match &s.body {
        RequestBody::SaslHandshake(_) => Some(vec![Action::Respond(ResponseBody::SaslHandshake(
            SaslHandshakeResponse {
                mechanisms: vec!["PLAIN".into()],
                ..Default::default()
            },
        ))]),
        RequestBody::SaslAuthenticate(a) => {
            let ok = &a.auth_bytes[..] == b"\0alice\0secret";
            Some(vec![Action::Respond(ResponseBody::SaslAuthenticate(
                SaslAuthenticateResponse {
                    error_code: if ok { 0 } else { 58 },
                    error_message: (!ok)
                        .then(|| "Authentication failed: Invalid username or password".into()),
                    ..Default::default()
                },
            ))])
        }
        _ => None,
    });
    FakeCluster::with_handler(1, handler)
}

fn client(cluster: &FakeCluster, password: &str) -> NetworkClient {
    let mut cfg = config(&cluster.bootstrap());
    cfg.security_protocol = SecurityProtocol::SaslPlaintext;
    cfg.sasl = Some(SaslConfig {
        mechanism: SaslMechanism::Plain,
        username: "alice".into(),
        password: password.into(),
        oauthbearer: None,
    });
    NetworkClient::new(cfg).unwrap()
}

/// The log lines of this test binary so far.
fn logs() -> &'static CapturedLogs {
    static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).to_string()
}

#[test]
fn an_unreachable_broker_is_warned_about_once_and_its_error_kept() {
    logs();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut client = NetworkClient::new(config(&address)).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .filter(|e| matches!(e, ClientEvent::Disconnected { node: -1, .. }))
            .count()
            >= 3
    });
    let errors = client.connection_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, address);
    assert!(matches!(errors[0].1, NetworkError::Io(_)), "{errors:?}");
    let described = prozess_network::describe_connection_errors(&errors);
    assert!(described.contains(&format!("{address}: ")), "{described}");
    let warnings = log_text()
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains(&format!("{port}")))
        .count();
    assert_eq!(warnings, 1, "{}", log_text());
}

#[test]
fn a_password_never_shows_in_errors_debug_or_logs() {
    logs();
    let secret = "hunter2-do-not-print";
    let cluster = plain_broker();
    let mut bad = client(&cluster, secret);
    let mut events = Vec::new();
    poll_until(&mut bad, &mut events, |_, ev| !ev.is_empty());
    let Some(ClientEvent::Disconnected {
        cause: cause @ NetworkError::Authentication(m),
        ..
    }) = events.first()
    else {
        panic!("expected an authentication failure: {events:?}");
    };
    assert!(m.contains("Invalid username or password"), "{m}");
    for shown in [
        cause.to_string(),
        format!("{cause:?}"),
        format!("{bad:?}"),
        format!("{:?}", bad.config()),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    // A successful login logs nothing secret either.
    let mut good = client(&cluster, "secret");
    bootstrap(&mut good);
    assert!(!good.metadata().is_bootstrap());

    let text = log_text();
    assert!(text.contains("authentication failed"), "logs: {text}");
    // One warning per client about PLAIN in clear text.
    assert_eq!(
        text.matches("sends the password in clear text").count(),
        2,
        "{text}"
    );
    assert!(!text.contains(secret), "logs: {text}");
    assert!(!text.contains("\\0secret"), "logs: {text}");
}

/// A broker that refuses every OAUTHBEARER token with RFC 7628's JSON error.
fn oauth_refusing_broker() -> FakeCluster {
    let handler: Handler = Arc::new(|s| match &s.body {
        RequestBody::SaslHandshake(_) => Some(vec![Action::Respond(ResponseBody::SaslHandshake(
            SaslHandshakeResponse {
                mechanisms: vec!["OAUTHBEARER".into()],
                ..Default::default()
            },
        ))]),
        RequestBody::SaslAuthenticate(a) => {
            let refused = &a.auth_bytes[..] == b"\x01";
            Some(vec![Action::Respond(ResponseBody::SaslAuthenticate(
                SaslAuthenticateResponse {
                    error_code: if refused { 58 } else { 0 },
                    error_message: refused.then(|| "Authentication failed".into()),
                    auth_bytes: if refused {
                        Default::default()
                    } else {
                        br#"{"status":"invalid_token"}"#.to_vec().into()
                    },
                    ..Default::default()
                },
            ))])
        }
        _ => None,
    });
    FakeCluster::with_handler(1, handler)
}

#[test]
fn an_oauthbearer_token_never_shows_in_errors_debug_or_logs() {
    logs();
    const TOKEN: &str = "eyJ-secret-bearer-token-do-not-print";
    let provider = Arc::new(|| {
        Ok(OAuthBearerToken {
            value: TOKEN.into(),
            principal_name: "svc".into(),
            start_time: None,
            expiry: std::time::SystemTime::now() + std::time::Duration::from_secs(600),
        })
    });
    let cluster = oauth_refusing_broker();
    let mut cfg = config(&cluster.bootstrap());
    cfg.security_protocol = SecurityProtocol::SaslPlaintext;
    cfg.sasl = Some(SaslConfig::oauthbearer(OAuthBearerLogin::new(
        provider.clone(),
    )));
    let mut client = NetworkClient::new(cfg).unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| !ev.is_empty());
    let Some(ClientEvent::Disconnected {
        cause: cause @ NetworkError::Authentication(m),
        ..
    }) = events.first()
    else {
        panic!("expected an authentication failure: {events:?}");
    };
    assert!(m.contains("invalid_token"), "{m}");
    let mut security = SecurityConfig::default();
    security.set("sasl.mechanism", "OAUTHBEARER").unwrap();
    security.set_oauthbearer_token_provider(provider);
    for shown in [
        cause.to_string(),
        format!("{cause:?}"),
        format!("{client:?}"),
        format!("{:?}", client.config()),
        format!("{security:?}"),
    ] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    let text = log_text();
    assert!(text.contains("OAUTHBEARER"), "logs: {text}");
    assert!(!text.contains(TOKEN), "logs: {text}");
}
