//! ACLs through the AdminClient on an Apache Kafka cluster with
//! StandardAuthorizer (started by this test: the shared cluster has no
//! authorizer): a SASL user's produce is denied with
//! TOPIC_AUTHORIZATION_FAILED until create_acls allows it (without Describe
//! the metadata refuses the topic; with Describe only, Produce itself is
//! refused); describe_acls
//! and delete_acls round-trip. Kafka only.

use std::time::Duration;

use prozess::admin::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
    NewTopic, PatternType, ResourcePattern, ResourceType,
};
use prozess::producer::{KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};
use prozess::ErrorCode;
use prozess_integration_tests as harness;
use prozess_integration_tests::kafka::{SASL_PASSWORD, SASL_USER};
use prozess_integration_tests::{ClusterOptions, KafkaCluster, Listener};

const T: Duration = Duration::from_secs(30);

/// A non-idempotent producer for the SASL user (an idempotent one would
/// first need IdempotentWrite for InitProducerId, a cluster permission).
fn producer(bootstrap: &str) -> KafkaProducer<String, String> {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", SASL_USER),
        ("sasl.password", SASL_PASSWORD),
        ("enable.idempotence", "false"),
        ("acks", "all"),
        ("max.block.ms", "5000"),
        ("delivery.timeout.ms", "15000"),
        ("request.timeout.ms", "10000"),
    ])
    .expect("producer config");
    KafkaProducer::new(config, StringSerializer, StringSerializer).expect("producer")
}

/// Produces one record with a new producer until `done` accepts the
/// outcome: ACLs reach the broker's authorizer through the metadata log, a
/// moment after create_acls returns.
fn produce_until<T>(
    bootstrap: &str,
    topic: &str,
    done: impl Fn(&prozess::producer::Result<prozess::producer::RecordMetadata>) -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        let p = producer(bootstrap);
        let sent = p
            .send(ProducerRecord::with_key(
                topic.to_string(),
                "k".to_string(),
                "v".to_string(),
            ))
            .get();
        p.close(Duration::from_secs(5));
        if let Some(t) = done(&sent) {
            return t;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "still {sent:?}");
    }
}

#[test]
fn acls_decide_whether_a_sasl_user_may_produce() {
    if harness::skip_on(
        harness::is_tansu(),
        "Tansu has no authorizer nor ACL APIs; runs in the Apache Kafka stages",
    ) {
        return;
    }
    let Some(shared) = harness::kafka_cluster() else {
        harness::skip(
            "needs a Kafka distribution (the harness's Kafka cluster) to start a cluster with \
             StandardAuthorizer",
        );
        return;
    };
    harness::init_logging();
    let options = ClusterOptions {
        authorizer: true,
        kafka_home: Some(shared.info().kafka_home.clone()),
    };
    let cluster =
        KafkaCluster::start_with(1, &harness::cache_dir().join("kafka-clusters"), &options)
            .expect("start a Kafka cluster with StandardAuthorizer");
    // PLAINTEXT is User:ANONYMOUS, a super user: the admin client may do
    // anything; the SASL user may do nothing without ACLs.
    let mut admin = AdminClient::from_bootstrap(&cluster.bootstrap()).expect("admin client");
    let topic = harness::unique_topic("acl");
    admin
        .create_topics(&[NewTopic::new(&topic, 1)], T)
        .expect("create_topics")[0]
        .result
        .as_ref()
        .expect("create the topic");
    let sasl_bootstrap = cluster.listener_bootstrap(Listener::SaslPlaintext);

    let principal = format!("User:{SASL_USER}");
    let acl = |operation| {
        AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, &topic, PatternType::Literal),
            AccessControlEntry::new(&principal, "*", operation, AclPermissionType::Allow),
        )
    };
    // No ACL: the cluster will not even describe the topic to the user;
    // the send fails with that at once, naming the topic (Java's
    // TopicAuthorizationException), not after max.block.ms.
    let p = producer(&sasl_bootstrap);
    let denied = p
        .send(ProducerRecord::with_key(
            topic.clone(),
            "k".to_string(),
            "v".to_string(),
        ))
        .get();
    p.close(Duration::from_secs(5));
    match denied {
        Err(e @ prozess::producer::Error::TopicAuthorization { .. }) => {
            assert!(e.to_string().contains(&topic), "{e}")
        }
        other => panic!("a send without Describe on {topic}: {other:?}"),
    }

    let bindings = vec![acl(AclOperation::Describe), acl(AclOperation::Write)];
    // Describe only: the producer sees the topic, and the broker refuses
    // the produce itself.
    let created = admin.create_acls(&bindings[..1], T).expect("create_acls");
    created[0].result.as_ref().expect("ACL created");
    // Once the user may describe the topic (the ACL reaches the authorizer
    // a moment after create_acls returns), the refusal comes from Produce.
    let start = std::time::Instant::now();
    let p = producer(&sasl_bootstrap);
    while p.partitions_for(&topic).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Describe never granted"
        );
    }
    let text = match p
        .send(ProducerRecord::with_key(
            topic.clone(),
            "k".to_string(),
            "v".to_string(),
        ))
        .get()
    {
        Err(e @ prozess::producer::Error::TopicAuthorization { .. }) => e.to_string(),
        other => panic!("a send with Describe only on {topic}: {other:?}"),
    };
    p.close(Duration::from_secs(5));
    assert!(text.contains(&topic), "{text}");
    eprintln!("denied produce: {text}");

    let created = admin.create_acls(&bindings[1..], T).expect("create_acls");
    created[0].result.as_ref().expect("ACL created");
    // A binding that cannot be granted (operation ANY) gets its own error.
    let bad = AclBinding::new(
        ResourcePattern::new(ResourceType::Topic, &topic, PatternType::Literal),
        AccessControlEntry::new(&principal, "*", AclOperation::Any, AclPermissionType::Allow),
    );
    let r = admin.create_acls(&[bad], T).expect("create_acls");
    let e = r[0].result.as_ref().expect_err("operation ANY");
    eprintln!("create_acls of operation ANY: {e}");

    let partition = produce_until(&sasl_bootstrap, &topic, |r| {
        r.as_ref().ok().map(|m| m.partition)
    });
    assert_eq!(partition, 0);

    let filter = AclBindingFilter {
        resource_type: ResourceType::Topic,
        name: Some(topic.clone()),
        pattern_type: PatternType::Literal,
        ..AclBindingFilter::any()
    };
    let mut expected = bindings.clone();
    expected.sort();
    assert_eq!(
        admin.describe_acls(&filter, T).expect("describe_acls"),
        expected
    );

    let deleted = admin
        .delete_acls(
            &[AclBindingFilter::exactly(&bindings[0]), filter.clone()],
            T,
        )
        .expect("delete_acls");
    let first = deleted[0].result.as_ref().expect("filter 1");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, bindings[0]);
    assert!(first[0].1.is_ok());
    // The second filter matches what the first did not delete (the
    // deletions of one request are applied together: either may list it).
    let all: Vec<&AclBinding> = deleted
        .iter()
        .flat_map(|d| d.result.as_ref().unwrap().iter().map(|(b, _)| b))
        .collect();
    assert!(all.contains(&&bindings[1]), "{deleted:?}");
    assert!(admin
        .describe_acls(&filter, T)
        .expect("describe_acls")
        .is_empty());

    // Without an authorizer (the shared cluster) the ACL calls say so.
    let mut plain = AdminClient::from_bootstrap(&shared.bootstrap()).expect("admin client");
    let err = plain
        .describe_acls(&AclBindingFilter::any(), T)
        .expect_err("describe_acls without an authorizer");
    assert_eq!(err.code(), Some(ErrorCode::SecurityDisabled), "{err}");
}
