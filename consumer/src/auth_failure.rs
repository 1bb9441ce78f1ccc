//! Failed authentications (SASL, TLS handshake) reported by the network
//! client, held until the consumer's running call returns them, as the Java
//! consumer throws `AuthenticationException` from its next poll or commit.

use prozess_network::ClientEvent;

use crate::error::{Error, Result};

/// The first authentication failure not yet returned to the caller.
#[derive(Debug, Default)]
pub(crate) struct AuthenticationFailures {
    pending: Option<Error>,
}

impl AuthenticationFailures {
    /// Notes `event` if it is a failed authentication.
    pub(crate) fn record(&mut self, event: &ClientEvent) {
        if let Some(cause) = event.authentication_failure() {
            self.pending
                .get_or_insert_with(|| Error::Authentication(cause.to_string()));
        }
    }

    /// The failure, once: a later call tries the broker again.
    pub(crate) fn check(&mut self) -> Result<()> {
        match self.pending.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prozess_network::NetworkError;

    #[test]
    fn only_authentication_failures_are_held_and_returned_once() {
        let mut f = AuthenticationFailures::default();
        f.record(&ClientEvent::Disconnected {
            node: 1,
            in_flight: Vec::new(),
            cause: NetworkError::ConnectionClosed,
        });
        assert!(f.check().is_ok());
        f.record(&ClientEvent::Disconnected {
            node: 1,
            in_flight: Vec::new(),
            cause: NetworkError::Authentication("PLAIN with broker b:9092: bad".into()),
        });
        let e = f.check().unwrap_err();
        assert!(
            matches!(&e, Error::Authentication(m) if m.contains("b:9092")),
            "{e}"
        );
        assert!(!e.is_retriable());
        assert!(f.check().is_ok());
    }

    /// The consumer's calls return the failure (once), and work again after.
    mod consumer_calls {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        use prozess_network::mock::MockClient;
        use prozess_network::{NetworkError, TopicPartition};

        use crate::consumer::KafkaConsumer;
        use crate::deserializer::StringDeserializer;
        use crate::error::Error;
        use crate::ConsumerConfig;

        fn consumer(props: &[(&str, &str)]) -> KafkaConsumer<String, String, MockClient> {
            let mut all = vec![("bootstrap.servers", "localhost:9092")];
            all.extend_from_slice(props);
            let base = Instant::now();
            let ticks = Arc::new(AtomicU64::new(0));
            KafkaConsumer::with_client(
                ConsumerConfig::from_properties(all).unwrap(),
                MockClient::new_with_cluster(&[0], &[("t", 1)]),
                StringDeserializer,
                StringDeserializer,
                Box::new(move || {
                    base + Duration::from_millis(ticks.fetch_add(1, Ordering::SeqCst))
                }),
            )
        }

        fn failure() -> NetworkError {
            NetworkError::Authentication(
                "PLAIN with broker localhost:9092 (node 0, 127.0.0.1:9092): \
                 SASL_AUTHENTICATION_FAILED (58): Authentication failed: Invalid username or password"
                    .into(),
            )
        }

        #[test]
        fn poll_returns_the_authentication_failure_then_works_again() {
            let mut c = consumer(&[("auto.offset.reset", "earliest")]);
            c.assign([TopicPartition::new("t", 0)]).unwrap();
            c.client_mut().disconnect_with(0, failure());
            let e = c.poll(Duration::from_secs(30)).unwrap_err();
            assert!(
                matches!(&e, Error::Authentication(m) if m.contains("Invalid username or password")),
                "{e}"
            );
            assert!(!e.is_retriable());
            // Once: the next poll goes on (and times out without data).
            assert!(c.poll(Duration::from_millis(50)).is_ok());
        }

        #[test]
        fn commit_sync_returns_the_authentication_failure() {
            let mut c = consumer(&[("group.id", "g"), ("enable.auto.commit", "false")]);
            c.assign([TopicPartition::new("t", 0)]).unwrap();
            c.client_mut().disconnect_with(0, failure());
            let offsets = [(
                TopicPartition::new("t", 0),
                crate::offsets::OffsetAndMetadata::new(5),
            )]
            .into_iter()
            .collect();
            let e = c.commit_sync_offsets(offsets).unwrap_err();
            assert!(matches!(e, Error::Authentication(_)), "{e}");
        }
    }
}
