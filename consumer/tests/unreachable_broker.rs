//! A broker that cannot be reached: the timeout of a blocking call names
//! each bootstrap address and why it failed (issue 10, item 8).

use std::net::TcpListener;

use prozess_consumer::{ConsumerConfig, Error, KafkaConsumer, StringDeserializer};

#[test]
fn metadata_timeout_names_the_address_and_the_connection_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", address.as_str()),
        ("default.api.timeout.ms", "1500"),
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "50"),
    ])
    .unwrap();
    let mut consumer: KafkaConsumer<String, String> =
        KafkaConsumer::new(config, StringDeserializer, StringDeserializer).unwrap();
    let e = consumer.partitions_for("demo").unwrap_err();
    let Error::Timeout(ref m) = e else {
        panic!("expected a timeout, got {e}");
    };
    assert!(m.contains(&format!("{address}: ")), "{e}");
    assert!(m.to_lowercase().contains("refused"), "{e}");
}
