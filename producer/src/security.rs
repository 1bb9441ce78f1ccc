//! `security.protocol`, `sasl.*` and `ssl.*`: the producer's side of the
//! mapping shared with the consumer and the admin client,
//! [`prozess_network::security`] (its module docs list every accepted and
//! refused key). Here its errors become [`Error::Config`] naming the key.

use prozess_network::security::SecurityConfigError;
use prozess_network::{NetworkConfig, SecurityProtocol};

use crate::error::{Error, Result};

pub use prozess_network::security::{is_security_key, jaas_credentials, SECURITY_KEYS};

impl From<SecurityConfigError> for Error {
    fn from(e: SecurityConfigError) -> Self {
        Error::Config {
            key: e.key,
            message: e.message,
        }
    }
}

/// Parses a `security.protocol` value; the error names the key.
pub fn parse_security_protocol(value: &str) -> Result<SecurityProtocol> {
    Ok(prozess_network::security::parse_security_protocol(value)?)
}

/// Fills `security_protocol`, `sasl` and `tls` of `n` from the protocol and
/// the `sasl.*`/`ssl.*` properties (looked up through `get`).
pub fn apply_security<'a>(
    n: &mut NetworkConfig,
    protocol: SecurityProtocol,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<()> {
    Ok(prozess_network::security::apply_security(n, protocol, get)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The mapping itself is tested in prozess-network; this checks that its
    // refusals reach the producer's error naming the key.
    #[test]
    fn refusals_are_config_errors_naming_the_key() {
        let e = parse_security_protocol("TLS").unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "security.protocol"));
        let props = [("ssl.keystore.location", "/ks.p12")];
        let e = apply_security(&mut NetworkConfig::default(), SecurityProtocol::Ssl, |k| {
            props.iter().find(|(p, _)| *p == k).map(|(_, v)| *v)
        })
        .unwrap_err();
        assert!(matches!(&e, Error::Config { key, .. } if key == "ssl.keystore.location"));
    }
}
