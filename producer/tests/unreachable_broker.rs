//! A broker that cannot be reached: the metadata timeout names each
//! bootstrap address and why it failed (issue 10, item 8).

use std::net::TcpListener;

use prozess_producer::{Error, KafkaProducer, ProducerConfig, ProducerRecord, StringSerializer};

#[test]
fn metadata_timeout_names_the_address_and_the_connection_error() {
    // A port nothing listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", address.as_str()),
        ("max.block.ms", "1500"),
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "50"),
    ])
    .unwrap();
    let producer = KafkaProducer::new(config, StringSerializer, StringSerializer).unwrap();
    let e = producer
        .send(ProducerRecord::new("demo", "v".to_string()))
        .get()
        .unwrap_err();
    let Error::MetadataTimeout {
        ref connection_errors,
        ..
    } = e
    else {
        panic!("expected a metadata timeout, got {e}");
    };
    assert!(connection_errors.contains(&address), "{e}");
    assert!(e.to_string().contains(&format!("{address}: ")), "{e}");
    assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
}
