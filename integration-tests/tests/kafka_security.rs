//! Security against Apache Kafka's own listeners (the harness's cluster,
//! integration-tests/src/kafka.rs): SASL_PLAINTEXT with SCRAM-SHA-256,
//! SCRAM-SHA-512 and PLAIN, SSL with the server certificate checked against
//! the harness's CA (and its host name), mutual TLS, SASL_SSL, and the
//! failures a user must see reported rather than retried forever: a wrong
//! password, an unknown CA, a certificate for another host, a missing or
//! foreign client certificate.
//!
//! OAUTHBEARER with unsecured tokens (KIP-255) and a token the broker
//! refuses, and KIP-368 re-authentication on the REAUTH listener
//! (connections.max.reauth.ms) during 30 s of producing and consuming.
//!
//! Tansu has neither SASL users nor TLS (BROKERS.md): on it these tests are
//! skipped (counted in scripts/test.sh's summary); they run in the Kafka stages.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prozess::admin::{AdminClient, AdminConfig, NewTopic};
use prozess::consumer::{
    ConsumerConfig, KafkaConsumer, NoOpRebalanceListener, OffsetAndMetadata, StringDeserializer,
    TopicPartition,
};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess_integration_tests as harness;
use prozess_integration_tests::kafka::{ClusterInfo, REAUTH_MS, SASL_PASSWORD, SASL_USER};
use prozess_integration_tests::Listener;

const T: Duration = Duration::from_secs(30);
/// How long a refused login or handshake may take to be reported: one
/// connection attempt, with generous room for a loaded 2-core machine.
const REPORTED_WITHIN: Duration = Duration::from_secs(20);

/// The cluster, or a counted skip on brokers without these listeners.
fn cluster() -> Option<&'static ClusterInfo> {
    match harness::kafka_cluster() {
        Some(k) => Some(k.info()),
        None => {
            harness::skip(
                "needs the harness's Apache Kafka cluster (SASL and SSL listeners); runs in the \
                 Kafka stages of scripts/test.sh",
            );
            None
        }
    }
}

type Props = Vec<(String, String)>;

fn props(pairs: &[(&str, &str)]) -> Props {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

fn admin(bootstrap: &str, security: &Props) -> AdminClient {
    let mut all = props(&[
        ("bootstrap.servers", bootstrap),
        ("default.api.timeout.ms", "30000"),
    ]);
    all.extend(security.iter().cloned());
    AdminClient::new(AdminConfig::from_properties(all).expect("admin config")).expect("admin")
}

fn producer(bootstrap: &str, security: &Props) -> KafkaProducer<String, String> {
    let mut all = props(&[
        ("bootstrap.servers", bootstrap),
        ("linger.ms", "5"),
        ("max.block.ms", "30000"),
        ("delivery.timeout.ms", "30000"),
        ("request.timeout.ms", "20000"),
    ]);
    all.extend(security.iter().cloned());
    let config = ProducerConfig::from_properties(all).expect("producer config");
    KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer")
}

fn consumer(bootstrap: &str, group: &str, security: &Props) -> KafkaConsumer<String, String> {
    let session = harness::group_session_timeout().as_millis().to_string();
    let heartbeat = harness::group_heartbeat_interval().as_millis().to_string();
    let mut all = props(&[
        ("bootstrap.servers", bootstrap),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
        ("session.timeout.ms", &session),
        ("heartbeat.interval.ms", &heartbeat),
    ]);
    all.extend(security.iter().cloned());
    let config = ConsumerConfig::from_properties(all).expect("consumer config");
    KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer")
}

/// Through `bootstrap` with `security`: the admin client describes the
/// cluster and creates a topic, the producer writes 10 records, a group
/// member reads them and commits, and the committed offset reads back.
fn round_trip(bootstrap: &str, security: &Props, what: &str) {
    harness::init_logging();
    let mut a = admin(bootstrap, security);
    let cluster = a
        .describe_cluster()
        .unwrap_or_else(|e| panic!("{what}: describe_cluster: {e}"));
    assert!(!cluster.nodes.is_empty(), "{what}: {cluster:?}");
    let topic = harness::unique_topic(&format!("sec-{what}"));
    let created = a
        .create_topics(&[NewTopic::new(&topic, 2)], T)
        .unwrap_or_else(|e| panic!("{what}: create_topics: {e}"));
    created[0]
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("{what}: create {topic}: {e}"));

    let p = producer(bootstrap, security);
    let futures: Vec<_> = (0..10)
        .map(|i| {
            p.send(ProducerRecord::with_key(
                topic.clone(),
                format!("k{i}"),
                format!("v{i}"),
            ))
        })
        .collect();
    for f in futures {
        f.get()
            .unwrap_or_else(|e| panic!("{what}: delivery failed: {e}"));
    }
    p.close(Duration::from_secs(10));

    let group = harness::unique_topic(&format!("g-sec-{what}"));
    let mut c = consumer(bootstrap, &group, security);
    c.subscribe([topic.as_str()], NoOpRebalanceListener)
        .unwrap_or_else(|e| panic!("{what}: subscribe: {e}"));
    let start = Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: only {} of 10 records within 60 s",
            seen.len()
        );
        let records = c
            .poll(Duration::from_millis(200))
            .unwrap_or_else(|e| panic!("{what}: poll: {e}"));
        for r in &records {
            seen.push(r.value.clone().unwrap_or_default());
        }
    }
    seen.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(seen, want, "{what}");
    c.commit_sync()
        .unwrap_or_else(|e| panic!("{what}: commit_sync: {e}"));
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    let committed: HashMap<TopicPartition, Option<OffsetAndMetadata>> = c
        .committed(tps.iter())
        .unwrap_or_else(|e| panic!("{what}: committed: {e}"));
    let total: i64 = committed
        .values()
        .map(|o| o.as_ref().map_or(0, |o| o.offset))
        .sum();
    assert_eq!(total, 10, "{what}: committed {committed:?}");
    c.close(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what}: close: {e}"));
    a.delete_topics(&[&topic], T)
        .unwrap_or_else(|e| panic!("{what}: delete_topics: {e}"));
}

fn sasl(mechanism: &str, protocol: &str) -> Props {
    props(&[
        ("security.protocol", protocol),
        ("sasl.mechanism", mechanism),
        ("sasl.username", SASL_USER),
        ("sasl.password", SASL_PASSWORD),
    ])
}

#[test]
fn sasl_scram_sha_256_produce_consume_commit_admin() {
    let Some(k) = cluster() else { return };
    round_trip(
        &k.bootstrap(Listener::SaslPlaintext),
        &sasl("SCRAM-SHA-256", "SASL_PLAINTEXT"),
        "scram256",
    );
}

#[test]
fn sasl_scram_sha_512_produce_consume_commit_admin() {
    let Some(k) = cluster() else { return };
    // Java's form of the credentials this time.
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{SASL_USER}\" password=\"{SASL_PASSWORD}\";"
    );
    round_trip(
        &k.bootstrap(Listener::SaslPlaintext),
        &props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.jaas.config", &jaas),
        ]),
        "scram512",
    );
}

#[test]
fn sasl_plain_produce_consume_commit_admin() {
    let Some(k) = cluster() else { return };
    round_trip(
        &k.bootstrap(Listener::SaslPlaintext),
        &sasl("PLAIN", "SASL_PLAINTEXT"),
        "plain",
    );
}

#[test]
fn ssl_with_the_clusters_ca_produce_consume_commit_admin() {
    let Some(k) = cluster() else { return };
    round_trip(
        &k.bootstrap(Listener::Ssl),
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &path(&k.tls.ca)),
        ]),
        "ssl",
    );
}

#[test]
fn sasl_ssl_scram_produce_consume_commit_admin() {
    let Some(k) = cluster() else { return };
    let mut security = sasl("SCRAM-SHA-256", "SASL_SSL");
    // librdkafka's name for the CA file this time.
    security.push(("ssl.ca.location".into(), path(&k.tls.ca)));
    round_trip(&k.bootstrap(Listener::SaslSsl), &security, "sasl-ssl");
}

/// Runs an admin call that must fail; returns its error text, and checks it
/// came within [`REPORTED_WITHIN`] (one attempt, not a retry loop ending in
/// a timeout).
fn admin_failure(bootstrap: &str, security: &Props, what: &str) -> String {
    let mut a = admin(bootstrap, security);
    let start = Instant::now();
    let err = match a.describe_cluster() {
        Ok(c) => panic!("{what}: describe_cluster succeeded: {c:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        start.elapsed() < REPORTED_WITHIN,
        "{what}: the failure took {:?} to be reported: {err}",
        start.elapsed()
    );
    err
}

#[test]
fn ssl_with_an_unknown_ca_is_refused_with_a_clear_error() {
    let Some(k) = cluster() else { return };
    let err = admin_failure(
        &k.bootstrap(Listener::Ssl),
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &path(&k.tls.other_ca)),
        ]),
        "unknown CA",
    );
    let lower = err.to_lowercase();
    assert!(
        lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl"),
        "the error names the TLS failure: {err}"
    );
}

#[test]
fn ssl_certificate_for_another_host_is_refused() {
    let Some(k) = cluster() else { return };
    let err = admin_failure(
        &k.bootstrap(Listener::BadHost),
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &path(&k.tls.ca)),
        ]),
        "certificate for another host",
    );
    let lower = err.to_lowercase();
    assert!(
        lower.contains("certificate") && (lower.contains("name") || lower.contains("host")),
        "the error says the certificate is for another name: {err}"
    );
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    let Some(k) = cluster() else { return };
    // librdkafka's names.
    round_trip(
        &k.bootstrap(Listener::Mtls),
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", &path(&k.tls.ca)),
            ("ssl.certificate.location", &path(&k.tls.client_cert)),
            ("ssl.key.location", &path(&k.tls.client_key)),
        ]),
        "mtls",
    );
    // Java's PEM strings.
    let chain = std::fs::read_to_string(&k.tls.client_cert).expect("client cert");
    let key = std::fs::read_to_string(&k.tls.client_key).expect("client key");
    let ca = std::fs::read_to_string(&k.tls.ca).expect("ca");
    round_trip(
        &k.bootstrap(Listener::Mtls),
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.certificates", &ca),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.certificate.chain", &chain),
            ("ssl.keystore.key", &key),
        ]),
        "mtls-pem",
    );
}

#[test]
fn mutual_tls_refuses_a_missing_or_foreign_client_certificate() {
    let Some(k) = cluster() else { return };
    let bootstrap = k.bootstrap(Listener::Mtls);
    let ca = path(&k.tls.ca);
    let missing = admin_failure(
        &bootstrap,
        &props(&[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]),
        "no client certificate",
    );
    let foreign = admin_failure(
        &bootstrap,
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", &ca),
            ("ssl.certificate.location", &path(&k.tls.other_client_cert)),
            ("ssl.key.location", &path(&k.tls.other_client_key)),
        ]),
        "client certificate of another CA",
    );
    for err in [missing, foreign] {
        let lower = err.to_lowercase();
        assert!(
            lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate"),
            "the error names the TLS failure: {err}"
        );
    }
}

/// A wrong password: every client reports the broker's "Authentication
/// failed" within one connection attempt, naming the mechanism, and never
/// echoes the password.
#[test]
fn sasl_wrong_password_is_reported_by_admin_producer_and_consumer() {
    let Some(k) = cluster() else { return };
    harness::init_logging();
    let bootstrap = k.bootstrap(Listener::SaslPlaintext);
    const WRONG: &str = "not-the-password-4711";
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let security = props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", mechanism),
            ("sasl.username", SASL_USER),
            ("sasl.password", WRONG),
        ]);
        let check = |err: &str, who: &str| {
            assert!(
                err.contains("Authentication failed"),
                "{who} with {mechanism}: the broker's message: {err}"
            );
            assert!(
                err.contains(mechanism),
                "{who} with {mechanism}: names the mechanism: {err}"
            );
            assert!(!err.contains(WRONG), "{who}: the password leaked: {err}");
        };
        let err = admin_failure(&bootstrap, &security, mechanism);
        check(&err, "admin");

        let p = producer(&bootstrap, &security);
        let start = Instant::now();
        let topic = harness::unique_topic("sec-wrong");
        let err = match p.send(ProducerRecord::new(topic, "v".to_string())).get() {
            Ok(m) => panic!("producer with {mechanism}: delivered with a wrong password: {m:?}"),
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < REPORTED_WITHIN,
            "producer with {mechanism}: took {:?}: {err}",
            start.elapsed()
        );
        check(&err, "producer");
        p.close(Duration::from_secs(5));

        let group = harness::unique_topic("g-sec-wrong");
        let mut c = consumer(&bootstrap, &group, &security);
        c.subscribe(["sec-wrong-topic"], NoOpRebalanceListener)
            .expect("subscribe");
        let start = Instant::now();
        let err = loop {
            match c.poll(Duration::from_millis(500)) {
                Err(e) => break e.to_string(),
                Ok(r) => assert!(r.is_empty()),
            }
            assert!(
                start.elapsed() < REPORTED_WITHIN,
                "consumer with {mechanism}: poll reported nothing for {:?}",
                start.elapsed()
            );
        };
        check(&err, "consumer");
        drop(c);
    }
}

// ----- OAUTHBEARER (KIP-255) -----

#[test]
fn oauthbearer_unsecured_token_produce_consume_commit_admin() {
    if harness::skip_on(harness::is_tansu(), "Tansu has no OAUTHBEARER") {
        return;
    }
    let Some(k) = cluster() else { return };
    // Java's form: the unsecured login module's options.
    round_trip(
        &k.bootstrap(Listener::SaslPlaintext),
        &props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 unsecuredLoginStringClaim_sub=\"alice\";",
            ),
        ]),
        "oauth",
    );
    // librdkafka's form.
    let mut a = admin(
        &k.bootstrap(Listener::SaslPlaintext),
        &props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "OAUTHBEARER"),
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", "principal=alice scope=test"),
        ]),
    );
    let described = a
        .describe_cluster()
        .expect("describe_cluster (librdkafka form)");
    assert!(!described.nodes.is_empty());
}

#[test]
fn oauthbearer_refused_token_fails_fast_with_the_brokers_error() {
    if harness::skip_on(harness::is_tansu(), "Tansu has no OAUTHBEARER") {
        return;
    }
    let Some(k) = cluster() else { return };
    harness::init_logging();
    const TOKEN: &str = "not-a-jws-token-4711";
    let bootstrap = k.bootstrap(Listener::SaslPlaintext);
    let provider = std::sync::Arc::new(|| {
        Ok(prozess_network::OAuthBearerToken {
            value: TOKEN.into(),
            principal_name: "alice".into(),
            start_time: None,
            expiry: std::time::SystemTime::now() + Duration::from_secs(600),
        })
    });
    let security = props(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
    ]);
    let check = |err: &str, who: &str| {
        assert!(
            err.contains("OAUTHBEARER"),
            "{who}: names the mechanism: {err}"
        );
        assert!(
            err.contains("invalid_token"),
            "{who}: the broker's JSON error: {err}"
        );
        assert!(!err.contains(TOKEN), "{who}: the token leaked: {err}");
    };

    let mut all = props(&[
        ("bootstrap.servers", &bootstrap),
        ("default.api.timeout.ms", "30000"),
    ]);
    all.extend(security.iter().cloned());
    let mut config = AdminConfig::from_properties(all).expect("admin config");
    config
        .security
        .set_oauthbearer_token_provider(provider.clone());
    let mut a = AdminClient::new(config).expect("admin");
    let start = Instant::now();
    let err = match a.describe_cluster() {
        Ok(c) => panic!("describe_cluster succeeded with a refused token: {c:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        start.elapsed() < REPORTED_WITHIN,
        "admin: took {:?}: {err}",
        start.elapsed()
    );
    check(&err, "admin");

    let session = harness::group_session_timeout().as_millis().to_string();
    let heartbeat = harness::group_heartbeat_interval().as_millis().to_string();
    let group = harness::unique_topic("g-oauth-bad");
    let mut all = props(&[
        ("bootstrap.servers", &bootstrap),
        ("group.id", &group),
        ("session.timeout.ms", &session),
        ("heartbeat.interval.ms", &heartbeat),
    ]);
    all.extend(security.iter().cloned());
    let mut config = ConsumerConfig::from_properties(all).expect("consumer config");
    config.security.set_oauthbearer_token_provider(provider);
    let mut c: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).expect("consumer");
    c.subscribe(["oauth-bad-topic"], NoOpRebalanceListener)
        .expect("subscribe");
    let start = Instant::now();
    let err = loop {
        match c.poll(Duration::from_millis(500)) {
            Err(e) => break e.to_string(),
            Ok(r) => assert!(r.is_empty()),
        }
        assert!(
            start.elapsed() < REPORTED_WITHIN,
            "consumer: poll reported nothing for {:?}",
            start.elapsed()
        );
    };
    check(&err, "consumer");
}

// ----- KIP-368 re-authentication -----

/// The local addresses of this machine's established TCP connections to
/// `port` on 127.0.0.1 (from /proc/net/tcp: the client side of each
/// connection to the broker's listener).
fn connections_to(port: u16) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state) = (f.get(1)?, f.get(2)?, f.get(3)?);
            let remote_port = u16::from_str_radix(remote.rsplit_once(':')?.1, 16).ok()?;
            // 01: ESTABLISHED.
            (remote_port == port && *state == "01").then(|| local.to_string())
        })
        .collect()
}

/// 30 s of producing and consuming (with commits) over a listener whose
/// SASL sessions last 10 s (connections.max.reauth.ms): every record
/// arrives once and in order, and the connections open after the first
/// records are still the same connections at the end, 3 session lifetimes
/// later. Kafka closes a connection whose session expired on its next
/// request, so they must have re-authenticated in place (KIP-368); without
/// re-authentication this test fails (commits time out, connections are
/// made again).
#[test]
fn reauthentication_keeps_a_30_s_produce_and_consume_going() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no connections.max.reauth.ms",
    ) {
        return;
    }
    let Some(k) = cluster() else { return };
    harness::init_logging();
    let bootstrap = k.bootstrap(Listener::Reauth);
    let port = k.nodes[0].port(Listener::Reauth);
    let security = sasl("SCRAM-SHA-256", "SASL_PLAINTEXT");

    let mut a = admin(&bootstrap, &security);
    let topic = harness::unique_topic("sec-reauth");
    a.create_topics(&[NewTopic::new(&topic, 1)], T)
        .expect("create_topics")[0]
        .result
        .as_ref()
        .expect("create topic");
    let p = producer(&bootstrap, &security);
    let group = harness::unique_topic("g-sec-reauth");
    let mut c = consumer(&bootstrap, &group, &security);
    c.subscribe([topic.as_str()], NoOpRebalanceListener)
        .expect("subscribe");

    let run = Duration::from_millis(3 * REAUTH_MS);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut pending = Vec::new();
    let mut received: Vec<String> = Vec::new();
    let mut polls = 0u64;
    let mut early: Option<(Duration, std::collections::BTreeSet<String>)> = None;
    while start.elapsed() < run {
        for _ in 0..5 {
            pending.push(p.send(ProducerRecord::new(topic.clone(), format!("{sent}"))));
            sent += 1;
        }
        for r in c.poll(Duration::from_millis(100)).expect("poll") {
            received.push(r.value.clone().unwrap_or_default());
        }
        if early.is_none() && !received.is_empty() {
            early = Some((start.elapsed(), connections_to(port)));
        }
        polls += 1;
        if polls.is_multiple_of(20) {
            c.commit_sync().expect("commit_sync");
        }
    }
    for f in pending {
        f.get().expect("delivery");
    }
    let drain = Instant::now();
    while (received.len() as u64) < sent {
        assert!(
            drain.elapsed() < Duration::from_secs(60),
            "{} of {sent} records received",
            received.len()
        );
        for r in c.poll(Duration::from_millis(200)).expect("poll") {
            received.push(r.value.clone().unwrap_or_default());
        }
    }
    c.commit_sync().expect("final commit_sync");
    let late = connections_to(port);
    let want: Vec<String> = (0..sent).map(|i| i.to_string()).collect();
    assert!(
        received == want,
        "records lost, duplicated or out of order: {} received, {sent} sent",
        received.len()
    );
    c.close(Duration::from_secs(10)).expect("close");
    p.close(Duration::from_secs(10));
    a.delete_topics(&[&topic], T).expect("delete_topics");

    let (at, early) = early.expect("records were received");
    assert!(
        !early.is_empty(),
        "no connection to the REAUTH listener seen"
    );
    let lost: Vec<&String> = early.difference(&late).collect();
    assert!(
        lost.is_empty(),
        "connections open {at:?} into the run were gone {:?} later: {lost:?} \
         (early {early:?}, late {late:?})",
        start.elapsed().saturating_sub(at)
    );
}
