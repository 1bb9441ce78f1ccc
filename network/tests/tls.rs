//! TLS (SSL, SASL_SSL) against fake brokers behind rustls, with a test CA
//! made by rcgen.

mod support;

use std::sync::Arc;
use std::time::Instant;

use prozess_network::{
    ClientEvent, KafkaClient, NetworkClient, NetworkConfig, NetworkError, SaslConfig,
    SaslMechanism, SecurityProtocol, TlsConfig,
};
use prozess_protocol::messages::{
    ListGroupsRequest, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use prozess_protocol::{ApiKey, RequestBody, ResponseBody};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{bootstrap, config, connect, poll_until, Action, FakeCluster, Handler};

struct TestPki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

/// A CA and a server certificate it signed for `names`.
fn pki(names: &[&str]) -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    TestPki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

fn tls_config(cluster: &FakeCluster, ca_pem: &str, verify_hostname: bool) -> NetworkConfig {
    let mut cfg = config(&cluster.bootstrap());
    cfg.security_protocol = SecurityProtocol::Ssl;
    cfg.tls = Some(TlsConfig {
        ca_pem: Some(ca_pem.to_string()),
        verify_hostname,
        ..Default::default()
    });
    cfg
}

fn no_script() -> Handler {
    Arc::new(|_| None)
}

#[test]
fn requests_flow_over_tls() {
    let pki = pki(&["127.0.0.1", "localhost"]);
    let cluster = FakeCluster::with_tls(2, no_script(), pki.server.clone());
    let mut client = NetworkClient::new(tls_config(&cluster, &pki.ca_pem, true)).unwrap();
    client.metadata_mut().set_topics(["topic-a"]);
    bootstrap(&mut client);
    assert_eq!(
        client.metadata().topic("topic-a").unwrap().partitions.len(),
        2
    );
    connect(&mut client, 2);
    let now = Instant::now();
    let ids: Vec<i32> = (0..3)
        .map(|_| {
            client
                .send(
                    2,
                    RequestBody::ListGroups(ListGroupsRequest::default()),
                    now,
                )
                .unwrap()
        })
        .collect();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .filter(|e| matches!(e, ClientEvent::Response(_)))
            .count()
            == 3
    });
    let got: Vec<i32> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Response(r) => Some(r.correlation_id),
            _ => None,
        })
        .collect();
    assert_eq!(got, ids);
}

fn expect_tls_failure(client: &mut NetworkClient) {
    let mut events = Vec::new();
    poll_until(client, &mut events, |_, ev| !ev.is_empty());
    match &events[0] {
        ClientEvent::Disconnected {
            node: -1,
            cause: NetworkError::Tls(m),
            ..
        } => assert!(!m.is_empty()),
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn untrusted_certificate_fails_the_handshake() {
    let pki_server = pki(&["127.0.0.1"]);
    let other_ca = pki(&["127.0.0.1"]).ca_pem;
    let cluster = FakeCluster::with_tls(1, no_script(), pki_server.server.clone());
    let mut client = NetworkClient::new(tls_config(&cluster, &other_ca, true)).unwrap();
    expect_tls_failure(&mut client);
}

#[test]
fn host_name_is_checked_unless_disabled() {
    // The certificate names only "kafka.example", not 127.0.0.1.
    let pki = pki(&["kafka.example"]);
    let cluster = FakeCluster::with_tls(1, no_script(), pki.server.clone());
    let mut client = NetworkClient::new(tls_config(&cluster, &pki.ca_pem, true)).unwrap();
    expect_tls_failure(&mut client);
    // ssl.endpoint.identification.algorithm="": the chain still counts, the name not.
    let mut client = NetworkClient::new(tls_config(&cluster, &pki.ca_pem, false)).unwrap();
    bootstrap(&mut client);
}

#[test]
fn sasl_over_tls() {
    let handler: Handler = Arc::new(|s| match &s.body {
        RequestBody::SaslHandshake(_) => Some(vec![Action::Respond(ResponseBody::SaslHandshake(
            SaslHandshakeResponse {
                mechanisms: vec!["PLAIN".into()],
                ..Default::default()
            },
        ))]),
        RequestBody::SaslAuthenticate(a) => {
            let ok = &a.auth_bytes[..] == b"\0bob\0pw";
            Some(vec![Action::Respond(ResponseBody::SaslAuthenticate(
                SaslAuthenticateResponse {
                    error_code: if ok { 0 } else { 58 },
                    ..Default::default()
                },
            ))])
        }
        _ => None,
    });
    let pki = pki(&["127.0.0.1"]);
    let cluster = FakeCluster::with_tls(1, handler, pki.server.clone());
    let mut cfg = tls_config(&cluster, &pki.ca_pem, true);
    cfg.security_protocol = SecurityProtocol::SaslSsl;
    cfg.sasl = Some(SaslConfig {
        mechanism: SaslMechanism::Plain,
        username: "bob".into(),
        password: "pw".into(),
    });
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    assert!(cluster.count(ApiKey::SaslAuthenticate) >= 1);
}

#[test]
fn large_request_over_tls_survives_partial_writes() {
    use bytes::Bytes;
    use prozess_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
    use prozess_protocol::messages::ProduceRequest;
    let pki = pki(&["127.0.0.1"]);
    let cluster = FakeCluster::with_tls(1, no_script(), pki.server.clone());
    let mut cfg = tls_config(&cluster, &pki.ca_pem, true);
    cfg.send_buffer = Some(16 * 1024);
    let mut client = NetworkClient::new(cfg).unwrap();
    bootstrap(&mut client);
    connect(&mut client, 1);
    let payload = Bytes::from(
        (0..3 * 1024 * 1024u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<u8>>(),
    );
    let produce = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "topic-a".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(payload.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let corr = client
        .send(1, RequestBody::Produce(produce), Instant::now())
        .unwrap();
    let mut events = Vec::new();
    poll_until(&mut client, &mut events, |_, ev| {
        ev.iter()
            .any(|e| matches!(e, ClientEvent::Response(r) if r.correlation_id == corr))
    });
    let seen = cluster.seen();
    let got = seen
        .iter()
        .find(|s| s.api_key() == ApiKey::Produce)
        .unwrap();
    let RequestBody::Produce(p) = &got.body else {
        unreachable!()
    };
    assert_eq!(
        p.topic_data[0].partition_data[0].records.as_ref(),
        Some(&payload)
    );
}
