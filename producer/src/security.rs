//! `security.protocol`, `sasl.*` and `ssl.*`: the Java (and librdkafka)
//! security properties turned into prozess-network's settings.
//!
//! The mapping is the consumer's (`consumer::network_config`): SASL
//! credentials come from `sasl.username`/`sasl.password` (librdkafka) or
//! from a Java `sasl.jaas.config`; TLS trusts `ssl.ca.location` (or a PEM
//! `ssl.truststore.location`/`ssl.truststore.certificates`) and checks host
//! names unless `ssl.endpoint.identification.algorithm` is empty/`none`.
//! Settings prozess-network cannot honour (client certificates, turning
//! certificate verification off, JKS/PKCS12 stores) are refused with an
//! error naming the key instead of failing later at connect time.

use prozess_network::{NetworkConfig, SaslConfig, SaslMechanism, SecurityProtocol, TlsConfig};

use crate::error::{Error, Result};

/// The `sasl.*`/`ssl.*` keys the producer accepts.
pub const SECURITY_KEYS: &[&str] = &[
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.type",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.protocol",
    "ssl.enabled.protocols",
];

/// Keys that would need a TLS client certificate, which prozess-network
/// does not send.
const CLIENT_CERT_KEYS: &[&str] = &[
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
];

/// Parses a `security.protocol` value; the error names the key.
pub fn parse_security_protocol(value: &str) -> Result<SecurityProtocol> {
    SecurityProtocol::from_name(value.trim())
        .map_err(|e| Error::config("security.protocol", network_message(e)))
}

fn network_message(e: prozess_network::NetworkError) -> String {
    match e {
        prozess_network::NetworkError::Config(m) => m,
        other => other.to_string(),
    }
}

/// Fills `security_protocol`, `sasl` and `tls` of `n` from the protocol and
/// the `sasl.*`/`ssl.*` properties (looked up through `get`).
pub fn apply_security<'a>(
    n: &mut NetworkConfig,
    protocol: SecurityProtocol,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<()> {
    n.security_protocol = protocol;
    n.sasl = None;
    n.tls = None;
    for key in CLIENT_CERT_KEYS {
        if get(key).is_some_and(|v| !v.trim().is_empty()) {
            return Err(Error::config(
                key,
                "TLS client certificates are not supported by prozess-network; \
                 authenticate with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) instead",
            ));
        }
    }
    if protocol.uses_sasl() {
        n.sasl = Some(sasl_config(&get)?);
    }
    if protocol.uses_tls() {
        n.tls = Some(tls_config(&get)?);
    }
    Ok(())
}

fn sasl_config<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<SaslConfig> {
    // Java's default mechanism is GSSAPI, which prozess does not speak: the
    // error then says which ones it does.
    let (key, name) = match (get("sasl.mechanism"), get("sasl.mechanisms")) {
        (Some(m), _) => ("sasl.mechanism", m),
        (None, Some(m)) => ("sasl.mechanisms", m),
        (None, None) => ("sasl.mechanism", "GSSAPI"),
    };
    let mechanism = SaslMechanism::from_name(name.trim())
        .map_err(|e| Error::config(key, network_message(e)))?;
    let (username, password) = match (get("sasl.username"), get("sasl.password")) {
        (Some(u), Some(p)) => (u.to_string(), p.to_string()),
        (Some(_), None) => {
            return Err(Error::config(
                "sasl.password",
                "missing (sasl.username is set)",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::config(
                "sasl.username",
                "missing (sasl.password is set)",
            ))
        }
        (None, None) => match get("sasl.jaas.config") {
            Some(jaas) => jaas_credentials(jaas).ok_or_else(|| {
                Error::config(
                    "sasl.jaas.config",
                    "no username=\"..\" password=\"..\" options found",
                )
            })?,
            None => {
                return Err(Error::config(
                    "sasl.jaas.config",
                    "SASL needs credentials: sasl.username and sasl.password, or a \
                     sasl.jaas.config with username=\"..\" password=\"..\"",
                ))
            }
        },
    };
    Ok(SaslConfig {
        mechanism,
        username,
        password,
    })
}

fn tls_config<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<TlsConfig> {
    let mut tls = TlsConfig::default();
    if let Some(ca) = get("ssl.ca.location") {
        tls.ca_file = Some(ca.trim().into());
    } else if let Some(ca) = get("ssl.truststore.location") {
        let kind = get("ssl.truststore.type").unwrap_or("JKS").trim();
        if !kind.eq_ignore_ascii_case("PEM") {
            return Err(Error::config(
                "ssl.truststore.type",
                format!(
                    "`{kind}` trust stores are not supported: set ssl.truststore.type=PEM \
                     with a PEM file, or use ssl.ca.location"
                ),
            ));
        }
        tls.ca_file = Some(ca.trim().into());
    }
    if let Some(pem) = get("ssl.ca.pem").or(get("ssl.truststore.certificates")) {
        tls.ca_pem = Some(pem.to_string());
    }
    if let Some(alg) = get("ssl.endpoint.identification.algorithm") {
        tls.verify_hostname = match alg.trim().to_ascii_lowercase().as_str() {
            "https" => true,
            "" | "none" => false,
            other => {
                return Err(Error::config(
                    "ssl.endpoint.identification.algorithm",
                    format!("`{other}` is not one of https, none or an empty string"),
                ))
            }
        };
    }
    if let Some(v) = get("enable.ssl.certificate.verification") {
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => {}
            "false" => {
                return Err(Error::config(
                    "enable.ssl.certificate.verification",
                    "certificate chains are always verified; trust a private CA with \
                     ssl.ca.location instead",
                ))
            }
            _ => {
                return Err(Error::config(
                    "enable.ssl.certificate.verification",
                    format!("`{v}` is not true or false"),
                ))
            }
        }
    }
    Ok(tls)
}

/// `username` and `password` of a Java `sasl.jaas.config` value such as
/// `org.apache.kafka.common.security.plain.PlainLoginModule required
/// username="u" password="p";`. Values are double-quoted; `\"` and `\\`
/// inside them are escapes.
pub fn jaas_credentials(jaas: &str) -> Option<(String, String)> {
    let mut username = None;
    let mut password = None;
    let mut rest = jaas;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace() || c == ';')
            .next()
            .unwrap_or("");
        let after = rest[eq + 1..].trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        match name {
            "username" => username = Some(value),
            "password" => password = Some(value),
            _ => {}
        }
        rest = tail;
    }
    Some((username?, password?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn map(protocol: &str, props: &[(&str, &str)]) -> Result<NetworkConfig> {
        let props: HashMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut n = NetworkConfig::default();
        apply_security(&mut n, parse_security_protocol(protocol)?, |k| {
            props.get(k).map(String::as_str)
        })?;
        Ok(n)
    }

    fn key_of(e: Error) -> String {
        match e {
            Error::Config { key, .. } => key,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn plaintext_has_neither_sasl_nor_tls() {
        let n = map("plaintext", &[("sasl.mechanism", "PLAIN")]).unwrap();
        assert_eq!(n.security_protocol, SecurityProtocol::Plaintext);
        assert!(n.sasl.is_none() && n.tls.is_none());
        assert_eq!(key_of(map("TLS", &[]).unwrap_err()), "security.protocol");
    }

    #[test]
    fn sasl_ssl_with_librdkafka_names() {
        let n = map(
            "SASL_SSL",
            &[
                ("sasl.mechanisms", "SCRAM-SHA-512"),
                ("sasl.username", "alice"),
                ("sasl.password", "s3cret"),
                ("ssl.ca.location", "/etc/ca.pem"),
                ("ssl.endpoint.identification.algorithm", "none"),
            ],
        )
        .unwrap();
        assert_eq!(n.security_protocol, SecurityProtocol::SaslSsl);
        let sasl = n.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(
            (sasl.username.as_str(), sasl.password.as_str()),
            ("alice", "s3cret")
        );
        let tls = n.tls.unwrap();
        assert_eq!(
            tls.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert!(!tls.verify_hostname);
    }

    #[test]
    fn sasl_plaintext_with_a_java_jaas_config() {
        let n = map(
            "SASL_PLAINTEXT",
            &[
                ("sasl.mechanism", "SCRAM-SHA-256"),
                (
                    "sasl.jaas.config",
                    r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="bob" password="p=\"q\";";"#,
                ),
            ],
        )
        .unwrap();
        assert!(n.tls.is_none());
        let sasl = n.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha256);
        assert_eq!(sasl.username, "bob");
        assert_eq!(sasl.password, "p=\"q\";");
    }

    #[test]
    fn ssl_defaults_verify_host_names_against_the_default_roots() {
        let n = map("SSL", &[]).unwrap();
        assert!(n.sasl.is_none());
        let tls = n.tls.unwrap();
        assert!(tls.verify_hostname && tls.ca_file.is_none() && tls.ca_pem.is_none());
        let n = map(
            "ssl",
            &[
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", "/ca.pem"),
                ("ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"),
                ("ssl.endpoint.identification.algorithm", "https"),
            ],
        )
        .unwrap();
        let tls = n.tls.unwrap();
        assert_eq!(
            tls.ca_file.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert!(tls.ca_pem.is_some() && tls.verify_hostname);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_naming_the_key() {
        let sasl = |extra: &[(&str, &str)]| {
            let mut p = vec![("sasl.username", "u"), ("sasl.password", "p")];
            p.extend_from_slice(extra);
            key_of(map("SASL_PLAINTEXT", &p).unwrap_err())
        };
        // Java's default mechanism, GSSAPI, is not implemented.
        assert_eq!(sasl(&[]), "sasl.mechanism");
        assert_eq!(sasl(&[("sasl.mechanism", "OAUTHBEARER")]), "sasl.mechanism");
        assert_eq!(
            key_of(map("SASL_SSL", &[("sasl.mechanism", "PLAIN")]).unwrap_err()),
            "sasl.jaas.config"
        );
        assert_eq!(
            key_of(
                map(
                    "SASL_SSL",
                    &[("sasl.mechanism", "PLAIN"), ("sasl.username", "u")]
                )
                .unwrap_err()
            ),
            "sasl.password"
        );
        assert_eq!(
            key_of(map("SSL", &[("ssl.truststore.location", "/ts.jks")]).unwrap_err()),
            "ssl.truststore.type"
        );
        assert_eq!(
            key_of(map("SSL", &[("ssl.keystore.location", "/ks.p12")]).unwrap_err()),
            "ssl.keystore.location"
        );
        assert_eq!(
            key_of(map("SSL", &[("enable.ssl.certificate.verification", "false")]).unwrap_err()),
            "enable.ssl.certificate.verification"
        );
        assert_eq!(
            key_of(map("SSL", &[("ssl.endpoint.identification.algorithm", "x")]).unwrap_err()),
            "ssl.endpoint.identification.algorithm"
        );
    }

    #[test]
    fn jaas_values_may_be_unquoted_and_in_any_order() {
        assert_eq!(
            jaas_credentials("PlainLoginModule required password=pw username=\"u\";"),
            Some(("u".to_string(), "pw".to_string()))
        );
        assert_eq!(
            jaas_credentials("PlainLoginModule required username=\"u\";"),
            None
        );
        assert_eq!(jaas_credentials("username=\"unterminated"), None);
    }
}
