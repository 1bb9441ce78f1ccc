//! `security.protocol`, `sasl.*` and `ssl.*`: the producer's side of the
//! mapping shared with the consumer and the admin client,
//! [`prozess_network::security`] (its module docs list every accepted and
//! refused key). Here its errors become [`Error::Config`] naming the key.

use prozess_network::security::SecurityConfigError;

use crate::error::Error;

pub use prozess_network::security::{is_security_key, jaas_credentials, SECURITY_KEYS};

impl From<SecurityConfigError> for Error {
    fn from(e: SecurityConfigError) -> Self {
        Error::Config {
            key: e.key,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The mapping itself is tested in prozess-network; this checks that its
    // refusals reach the producer's error naming the key.
    #[test]
    fn refusals_are_config_errors_naming_the_key() {
        use crate::config::ProducerConfig;
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "b:9092"),
            ("security.protocol", "TLS"),
        ])
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "security.protocol"));
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "b:9092"),
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", "/ks.p12"),
        ])
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "ssl.keystore.password"));
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let c = crate::config::ProducerConfig::from_properties([
            ("bootstrap.servers", "b:9092"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "hunter2"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
