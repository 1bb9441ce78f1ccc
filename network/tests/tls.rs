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

fn expect_tls_failure(client: &mut NetworkClient) -> String {
    let mut events = Vec::new();
    poll_until(client, &mut events, |_, ev| !ev.is_empty());
    match &events[0] {
        ClientEvent::Disconnected {
            node: -1,
            cause: cause @ NetworkError::Tls(m),
            ..
        } => {
            assert!(cause.is_authentication_failure());
            assert!(!cause.is_retriable());
            m.clone()
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn untrusted_certificate_fails_the_handshake() {
    let pki_server = pki(&["127.0.0.1"]);
    let other_ca = pki(&["127.0.0.1"]).ca_pem;
    let cluster = FakeCluster::with_tls(1, no_script(), pki_server.server.clone());
    let mut client = NetworkClient::new(tls_config(&cluster, &other_ca, true)).unwrap();
    let m = expect_tls_failure(&mut client);
    // Names the broker it was talking to.
    assert!(m.contains(&cluster.bootstrap()), "{m}");
}

#[test]
fn host_name_is_checked_unless_disabled() {
    // The certificate names only "kafka.example", not 127.0.0.1.
    let pki = pki(&["kafka.example"]);
    let cluster = FakeCluster::with_tls(1, no_script(), pki.server.clone());
    let mut client = NetworkClient::new(tls_config(&cluster, &pki.ca_pem, true)).unwrap();
    let m = expect_tls_failure(&mut client);
    // Names the host connected to, the broker, and what the certificate is for.
    assert!(m.contains(&cluster.bootstrap()), "{m}");
    assert!(m.contains("not valid for name"), "{m}");
    assert!(m.contains("kafka.example"), "{m}");
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
        oauthbearer: None,
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

/// A CA, a server certificate it signed (for 127.0.0.1), a client
/// certificate it signed, and a server that requires a client certificate
/// signed by `client_ca` (this CA unless another is given).
struct MutualPki {
    ca_pem: String,
    client_cert_pem: String,
    client_key_der: Vec<u8>,
    client_key_pem: String,
    client_cert_der: Vec<u8>,
}

fn ca() -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap(), key)
}

fn mutual_pki(client_signed_by_other_ca: bool) -> (MutualPki, Arc<rustls::ServerConfig>) {
    let (ca_cert, ca_key) = ca();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca_cert, &ca_key)
        .unwrap();
    let (other_cert, other_key) = ca();
    let client_key = KeyPair::generate().unwrap();
    let (signer, signer_key) = if client_signed_by_other_ca {
        (&other_cert, &other_key)
    } else {
        (&ca_cert, &ca_key)
    };
    let client_cert = CertificateParams::new(vec!["client.example".to_string()])
        .unwrap()
        .signed_by(&client_key, signer, signer_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(ca_cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(client_roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    (
        MutualPki {
            ca_pem: ca_cert.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_der: client_key.serialize_der(),
            client_key_pem: client_key.serialize_pem(),
            client_cert_der: client_cert.der().to_vec(),
        },
        Arc::new(server),
    )
}

/// A network config for `cluster` from Java/librdkafka property names.
fn from_properties(cluster: &FakeCluster, props: &[(&str, String)]) -> NetworkConfig {
    let mut cfg = config(&cluster.bootstrap());
    let map: std::collections::HashMap<&str, &str> =
        props.iter().map(|(k, v)| (*k, v.as_str())).collect();
    prozess_network::security::apply_security(&mut cfg, SecurityProtocol::Ssl, |k| {
        map.get(k).copied()
    })
    .unwrap();
    cfg
}

fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("prozess-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The client key as encrypted PKCS#8 PEM (PBES2, PBKDF2-SHA256, AES-256-CBC).
fn encrypted_key_pem(der: &[u8], password: &str) -> String {
    use pkcs8::der::EncodePem;
    let info = pkcs8::PrivateKeyInfo::try_from(der).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7u8; 16])
            .unwrap();
    let encrypted = info.encrypt_with_params(params, password).unwrap();
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(encrypted.as_bytes()).unwrap();
    encrypted.to_pem(pkcs8::LineEnding::LF).unwrap()
}

#[test]
fn mutual_tls_with_pem_files_and_an_encrypted_key() {
    let (pki, server) = mutual_pki(false);
    let cluster = FakeCluster::with_tls(1, no_script(), server);
    let ca = temp_file("ca.pem", pki.ca_pem.as_bytes());
    let cert = temp_file("client.pem", pki.client_cert_pem.as_bytes());
    let key = temp_file(
        "client.key",
        encrypted_key_pem(&pki.client_key_der, "key-secret").as_bytes(),
    );
    // librdkafka's names.
    let props = vec![
        ("ssl.ca.location", ca.display().to_string()),
        ("ssl.certificate.location", cert.display().to_string()),
        ("ssl.key.location", key.display().to_string()),
        ("ssl.key.password", "key-secret".to_string()),
    ];
    let mut client = NetworkClient::new(from_properties(&cluster, &props)).unwrap();
    bootstrap(&mut client);
    // Java's PEM names: the chain and the key as text, the CA from a PEM truststore.
    let props = vec![
        ("ssl.truststore.location", ca.display().to_string()),
        ("ssl.truststore.type", "PEM".to_string()),
        ("ssl.keystore.type", "PEM".to_string()),
        (
            "ssl.keystore.certificate.chain",
            pki.client_cert_pem.clone(),
        ),
        (
            "ssl.keystore.key",
            encrypted_key_pem(&pki.client_key_der, "k2"),
        ),
        ("ssl.key.password", "k2".to_string()),
    ];
    let mut client = NetworkClient::new(from_properties(&cluster, &props)).unwrap();
    bootstrap(&mut client);
    // The wrong key password is a configuration error naming the setting.
    let mut wrong = props.clone();
    wrong.last_mut().unwrap().1 = "nope".to_string();
    let e = NetworkClient::new(from_properties(&cluster, &wrong)).unwrap_err();
    assert!(
        matches!(&e, NetworkError::Config(m) if m.contains("ssl.key.password")),
        "{e}"
    );
    assert!(!e.to_string().contains("nope"), "{e}");
}

#[test]
fn mutual_tls_with_a_pkcs12_keystore() {
    let (pki, server) = mutual_pki(false);
    let cluster = FakeCluster::with_tls(1, no_script(), server);
    let key = p12_keystore::PrivateKey::from_der(&pki.client_key_der).unwrap();
    let cert = p12_keystore::Certificate::from_der(&pki.client_cert_der).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(b"k1".to_vec(), key, vec![cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "client",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    let p12 = temp_file("client.p12", &store.writer("store-secret").write().unwrap());
    // A PKCS#12 trust store holding the CA.
    let mut trust = p12_keystore::KeyStore::new();
    use rustls::pki_types::pem::PemObject;
    let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
    trust.add_entry(
        "ca",
        p12_keystore::KeyStoreEntry::Certificate(
            p12_keystore::Certificate::from_der(&ca_der).unwrap(),
        ),
    );
    let ts = temp_file("trust.p12", &trust.writer("trust-secret").write().unwrap());
    let props = vec![
        ("ssl.truststore.location", ts.display().to_string()),
        ("ssl.truststore.type", "PKCS12".to_string()),
        ("ssl.truststore.password", "trust-secret".to_string()),
        ("ssl.keystore.location", p12.display().to_string()),
        ("ssl.keystore.type", "PKCS12".to_string()),
        ("ssl.keystore.password", "store-secret".to_string()),
    ];
    let mut client = NetworkClient::new(from_properties(&cluster, &props)).unwrap();
    bootstrap(&mut client);
    // A wrong store password: a configuration error naming the file.
    let mut wrong = props.clone();
    wrong.last_mut().unwrap().1 = "nope".to_string();
    let e = NetworkClient::new(from_properties(&cluster, &wrong)).unwrap_err();
    assert!(
        matches!(&e, NetworkError::Config(m) if m.contains("ssl.keystore.location")),
        "{e}"
    );
}

#[test]
fn a_broker_requiring_a_client_certificate_refuses_none_or_one_of_another_ca() {
    let (pki, server) = mutual_pki(true);
    let cluster = FakeCluster::with_tls(1, no_script(), server);
    // No client certificate at all.
    let mut client = NetworkClient::new(tls_config(&cluster, &pki.ca_pem, true)).unwrap();
    let m = expect_tls_failure(&mut client);
    assert!(m.contains(&cluster.bootstrap()), "{m}");
    // A client certificate the broker's CA did not sign.
    let props = vec![
        ("ssl.ca.pem", pki.ca_pem.clone()),
        ("ssl.certificate.pem", pki.client_cert_pem.clone()),
        ("ssl.key.pem", pki.client_key_pem.clone()),
    ];
    let mut client = NetworkClient::new(from_properties(&cluster, &props)).unwrap();
    let m = expect_tls_failure(&mut client);
    assert!(m.contains(&cluster.bootstrap()), "{m}");
}
