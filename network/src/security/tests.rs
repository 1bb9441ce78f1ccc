use super::*;
use std::collections::HashMap;
use std::path::Path;

fn map(protocol: &str, props: &[(&str, &str)]) -> Result<NetworkConfig, SecurityConfigError> {
    let props: HashMap<&str, &str> = props.iter().copied().collect();
    let mut n = NetworkConfig::default();
    apply_security(&mut n, parse_security_protocol(protocol)?, |k| {
        props.get(k).copied()
    })?;
    Ok(n)
}

fn key_of(protocol: &str, props: &[(&str, &str)]) -> String {
    match map(protocol, props) {
        Ok(n) => panic!("accepted: {:?}", n.security_protocol),
        Err(e) => e.key,
    }
}

const CREDS: [(&str, &str); 3] = [
    ("sasl.mechanism", "PLAIN"),
    ("sasl.username", "u"),
    ("sasl.password", "p"),
];

fn sasl_with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut p = extra.to_vec();
    p.extend_from_slice(&CREDS);
    p
}

#[test]
fn security_protocol_names_in_any_case() {
    for (name, p) in [
        ("PLAINTEXT", SecurityProtocol::Plaintext),
        ("ssl", SecurityProtocol::Ssl),
        (" Sasl_Plaintext ", SecurityProtocol::SaslPlaintext),
        ("SASL_SSL", SecurityProtocol::SaslSsl),
    ] {
        assert_eq!(parse_security_protocol(name), Ok(p));
    }
    let e = parse_security_protocol("TLS").unwrap_err();
    assert_eq!(e.key, "security.protocol");
    assert!(e.message.contains("SASL_SSL"), "{e}");
}

#[test]
fn plaintext_looks_at_no_sasl_or_ssl_key() {
    // Java ignores the keys of the protocols not in use, refusable or not.
    let n = map(
        "plaintext",
        &[
            ("sasl.mechanism", "GSSAPI"),
            ("ssl.keystore.location", "/ks.jks"),
            ("enable.ssl.certificate.verification", "false"),
        ],
    )
    .unwrap();
    assert_eq!(n.security_protocol, SecurityProtocol::Plaintext);
    assert!(n.sasl.is_none() && n.tls.is_none());
    // SASL_PLAINTEXT does not look at ssl.* either.
    let n = map(
        "SASL_PLAINTEXT",
        &sasl_with(&[("ssl.truststore.location", "/ts.jks")]),
    )
    .unwrap();
    assert!(n.tls.is_none() && n.sasl.is_some());
}

#[test]
fn sasl_mechanisms_java_and_librdkafka_names() {
    for (key, value, want) in [
        ("sasl.mechanism", "PLAIN", SaslMechanism::Plain),
        (
            "sasl.mechanism",
            "SCRAM-SHA-256",
            SaslMechanism::ScramSha256,
        ),
        (
            "sasl.mechanisms",
            "SCRAM-SHA-512",
            SaslMechanism::ScramSha512,
        ),
    ] {
        let n = map(
            "SASL_PLAINTEXT",
            &[(key, value), ("sasl.username", "u"), ("sasl.password", "p")],
        )
        .unwrap();
        assert_eq!(n.sasl.unwrap().mechanism, want, "{key}={value}");
    }
    // Both set: the Java name wins.
    let n = map(
        "SASL_PLAINTEXT",
        &[
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ],
    )
    .unwrap();
    assert_eq!(n.sasl.unwrap().mechanism, SaslMechanism::ScramSha256);
}

#[test]
fn sasl_username_and_password_are_taken_as_given() {
    let n = map(
        "SASL_SSL",
        &[
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", " alice"),
            ("sasl.password", "s3cret "),
        ],
    )
    .unwrap();
    assert_eq!(n.security_protocol, SecurityProtocol::SaslSsl);
    let sasl = n.sasl.unwrap();
    assert_eq!(
        (sasl.username.as_str(), sasl.password.as_str()),
        (" alice", "s3cret ")
    );
    assert!(n.tls.is_some());
}

#[test]
fn sasl_jaas_config_gives_the_credentials() {
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
    assert_eq!(sasl.password.as_str(), "p=\"q\";");
    // sasl.username/sasl.password take precedence over the JAAS options.
    let n = map(
        "SASL_PLAINTEXT",
        &sasl_with(&[(
            "sasl.jaas.config",
            "PlainLoginModule required username=\"x\" password=\"y\";",
        )]),
    )
    .unwrap();
    assert_eq!(n.sasl.unwrap().username, "u");
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
    assert_eq!(jaas_credentials(""), None);
}

#[test]
fn ssl_defaults_check_host_names_against_the_default_roots() {
    let n = map("SSL", &[]).unwrap();
    assert!(n.sasl.is_none());
    let tls = n.tls.unwrap();
    assert!(tls.verify_hostname && tls.ca_file.is_none() && tls.ca_pem.is_none());
}

#[test]
fn ssl_ca_location_and_pem_truststore() {
    let tls = map("SSL", &[("ssl.ca.location", " /etc/ca.pem ")])
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
    let tls = map(
        "SSL",
        &[
            ("ssl.truststore.type", "pem"),
            ("ssl.truststore.location", "/ts.pem"),
            ("ssl.truststore.password", "ignored"),
        ],
    )
    .unwrap()
    .tls
    .unwrap();
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/ts.pem")));
    // ssl.ca.location wins; the truststore (even a JKS one) is then unused.
    let tls = map(
        "SSL",
        &[
            ("ssl.ca.location", "/ca.pem"),
            ("ssl.truststore.location", "/ts.jks"),
        ],
    )
    .unwrap()
    .tls
    .unwrap();
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/ca.pem")));
    // An empty location is no location.
    let tls = map("SSL", &[("ssl.truststore.location", "")])
        .unwrap()
        .tls
        .unwrap();
    assert!(tls.ca_file.is_none());
}

#[test]
fn ssl_ca_pem_and_truststore_certificates() {
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    for key in ["ssl.ca.pem", "ssl.truststore.certificates"] {
        let tls = map("SASL_SSL", &sasl_with(&[(key, PEM)]))
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls.ca_pem.as_deref(), Some(PEM), "{key}");
    }
}

#[test]
fn ssl_endpoint_identification_algorithm() {
    for (value, verify) in [
        ("https", true),
        ("HTTPS", true),
        ("", false),
        ("none", false),
    ] {
        let tls = map("SSL", &[("ssl.endpoint.identification.algorithm", value)])
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls.verify_hostname, verify, "{value:?}");
    }
    assert_eq!(
        key_of("SSL", &[("ssl.endpoint.identification.algorithm", "x")]),
        "ssl.endpoint.identification.algorithm"
    );
}

#[test]
fn enable_ssl_certificate_verification_only_true() {
    let n = map("SSL", &[("enable.ssl.certificate.verification", "True")]).unwrap();
    assert!(n.tls.is_some());
    for value in ["false", "maybe"] {
        assert_eq!(
            key_of("SSL", &[("enable.ssl.certificate.verification", value)]),
            "enable.ssl.certificate.verification"
        );
    }
}

fn client_cert(protocol: &str, props: &[(&str, &str)]) -> Option<ClientCertificate> {
    map(protocol, props)
        .unwrap()
        .tls
        .unwrap()
        .client_certificate
}

#[test]
fn client_certificates_java_and_librdkafka_names() {
    let pem = |chain: PemSource, key: PemSource, pw: Option<&str>| ClientCertificate::Pem {
        certificate_chain: chain,
        private_key: key,
        key_password: pw.map(Password::from),
    };
    let file = |p: &str| PemSource::File(p.into());
    let inline = |p: &str| PemSource::Inline(p.into());
    // librdkafka: PEM files.
    assert_eq!(
        client_cert(
            "SSL",
            &[
                ("ssl.certificate.location", "/c.pem"),
                ("ssl.key.location", "/k.pem"),
                ("ssl.key.password", "kp"),
            ]
        ),
        Some(pem(file("/c.pem"), file("/k.pem"), Some("kp")))
    );
    // Java: PEM text.
    assert_eq!(
        client_cert(
            "SASL_SSL",
            &sasl_with(&[
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.certificate.chain", "CHAIN"),
                ("ssl.keystore.key", "KEY"),
            ])
        ),
        Some(pem(inline("CHAIN"), inline("KEY"), None))
    );
    // librdkafka: PEM text.
    assert_eq!(
        client_cert("SSL", &[("ssl.certificate.pem", "C"), ("ssl.key.pem", "K")]),
        Some(pem(inline("C"), inline("K"), None))
    );
    // Java: a PEM keystore file holding both.
    assert_eq!(
        client_cert(
            "SSL",
            &[
                ("ssl.keystore.type", "pem"),
                ("ssl.keystore.location", "/ks.pem"),
            ]
        ),
        Some(pem(file("/ks.pem"), file("/ks.pem"), None))
    );
    // Java and librdkafka: PKCS#12 (JKS, Java's default type, for a PKCS#12 file).
    for kind in [None, Some("PKCS12"), Some("JKS")] {
        let mut props = vec![
            ("ssl.keystore.location", "/ks.p12"),
            ("ssl.keystore.password", "sp"),
        ];
        if let Some(kind) = kind {
            props.push(("ssl.keystore.type", kind));
        }
        assert_eq!(
            client_cert("SSL", &props),
            Some(ClientCertificate::Pkcs12 {
                path: "/ks.p12".into(),
                password: "sp".into()
            })
        );
    }
    // Their passwords and types alone are harmless.
    assert_eq!(
        client_cert(
            "SSL",
            &[
                ("ssl.key.password", "k"),
                ("ssl.keystore.password", "k"),
                ("ssl.keystore.type", "PKCS12"),
                ("ssl.keystore.location", " "),
            ],
        ),
        None
    );
    // Not looked at without TLS.
    assert!(map(
        "SASL_PLAINTEXT",
        &sasl_with(&[("ssl.keystore.location", "/x")])
    )
    .is_ok());
}

#[test]
fn incomplete_client_certificates_name_the_missing_key() {
    assert_eq!(
        key_of("SSL", &[("ssl.certificate.location", "/c")]),
        "ssl.key.location"
    );
    assert_eq!(
        key_of("SSL", &[("ssl.key.location", "/k")]),
        "ssl.certificate.location"
    );
    assert_eq!(
        key_of("SSL", &[("ssl.keystore.certificate.chain", "C")]),
        "ssl.keystore.key"
    );
    assert_eq!(
        key_of("SSL", &[("ssl.keystore.location", "/ks")]),
        "ssl.keystore.password"
    );
    assert_eq!(
        key_of(
            "SSL",
            &[
                ("ssl.keystore.location", "/ks"),
                ("ssl.keystore.type", "BKS")
            ]
        ),
        "ssl.keystore.type"
    );
    // Debug never shows key material or passwords.
    let shown = format!(
        "{:?}",
        map(
            "SSL",
            &[
                ("ssl.keystore.certificate.chain", "C"),
                ("ssl.keystore.key", "SECRET-KEY"),
                ("ssl.key.password", "SECRET-PW"),
            ]
        )
        .unwrap()
    );
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[test]
fn pem_and_pkcs12_truststores() {
    let tls = map(
        "SSL",
        &[
            ("ssl.truststore.location", "/ts.pem"),
            ("ssl.truststore.type", "PEM"),
        ],
    )
    .unwrap()
    .tls
    .unwrap();
    assert_eq!(tls.ca_file, Some("/ts.pem".into()));
    for kind in [None, Some("JKS"), Some("PKCS12")] {
        let mut props = vec![
            ("ssl.truststore.location", "/ts"),
            ("ssl.truststore.password", "tp"),
        ];
        if let Some(kind) = kind {
            props.push(("ssl.truststore.type", kind));
        }
        let tls = map("SSL", &props).unwrap().tls.unwrap();
        assert_eq!(tls.truststore_pkcs12, Some(("/ts".into(), "tp".into())));
    }
    assert_eq!(
        key_of(
            "SSL",
            &[
                ("ssl.truststore.location", "/ts"),
                ("ssl.truststore.type", "BCFKS")
            ]
        ),
        "ssl.truststore.type"
    );
}

#[test]
fn unusable_sasl_settings_are_refused_naming_the_key() {
    let creds = [("sasl.username", "u"), ("sasl.password", "p")];
    // Java's default mechanism, GSSAPI, is not implemented.
    assert_eq!(key_of("SASL_PLAINTEXT", &creds), "sasl.mechanism");
    // OAUTHBEARER with a username and password but no token source.
    let mut p = creds.to_vec();
    p.push(("sasl.mechanism", "OAUTHBEARER"));
    assert_eq!(key_of("SASL_PLAINTEXT", &p), "sasl.jaas.config");
    let mut p = creds.to_vec();
    p.push(("sasl.mechanisms", "GSSAPI"));
    assert_eq!(key_of("SASL_PLAINTEXT", &p), "sasl.mechanisms");
    // No credentials, half of them, or a JAAS config without them.
    let plain = ("sasl.mechanism", "PLAIN");
    assert_eq!(key_of("SASL_SSL", &[plain]), "sasl.jaas.config");
    assert_eq!(
        key_of("SASL_SSL", &[plain, ("sasl.username", "u")]),
        "sasl.password"
    );
    assert_eq!(
        key_of("SASL_SSL", &[plain, ("sasl.password", "p")]),
        "sasl.username"
    );
    let e = map(
        "SASL_SSL",
        &[
            plain,
            (
                "sasl.jaas.config",
                "PlainLoginModule required password=\"hunter2\";",
            ),
        ],
    )
    .unwrap_err();
    assert_eq!(e.key, "sasl.jaas.config");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn a_refusal_leaves_the_network_config_alone() {
    let mut n = NetworkConfig::default();
    let err = apply_security(&mut n, SecurityProtocol::SaslSsl, |_| None).unwrap_err();
    assert_eq!(err.key, "sasl.mechanism");
    assert_eq!(n.security_protocol, SecurityProtocol::Plaintext);
}

#[test]
fn which_keys_are_security_keys() {
    for key in SECURITY_KEYS {
        assert!(is_security_key(key), "{key}");
    }
    for key in [
        "security.protocol",
        "ssl.cipher.suites",
        "sasl.login.refresh.window.factor",
        "security.providers",
    ] {
        assert!(is_security_key(key), "{key}");
    }
    for key in ["bootstrap.servers", "enable.ssl", "client.id"] {
        assert!(!is_security_key(key), "{key}");
    }
}

#[test]
fn security_config_set_apply_and_hidden_secrets() {
    let mut c = SecurityConfig::default();
    assert_eq!(c.set("security.protocol", "sasl_ssl"), Ok(true));
    assert_eq!(c.set("sasl.mechanism", "SCRAM-SHA-512"), Ok(true));
    assert_eq!(c.set("sasl.username", "u"), Ok(true));
    assert_eq!(c.set("sasl.password", "hunter2"), Ok(true));
    assert_eq!(c.set("ssl.ca.location", "/ca.pem"), Ok(true));
    assert_eq!(c.set("ssl.cipher.suites", "X"), Ok(true));
    assert_eq!(c.set("client.id", "x"), Ok(false));
    assert_eq!(c.get("client.id"), None);
    assert_eq!(
        c.set("security.protocol", "TLS").unwrap_err().key,
        "security.protocol"
    );
    assert_eq!(c.protocol, SecurityProtocol::SaslSsl);
    c.validate().unwrap();
    let mut n = NetworkConfig::default();
    c.apply(&mut n).unwrap();
    assert_eq!(n.security_protocol, SecurityProtocol::SaslSsl);
    assert_eq!(n.sasl.unwrap().mechanism, SaslMechanism::ScramSha512);
    assert_eq!(
        n.tls.unwrap().ca_file.as_deref(),
        Some(Path::new("/ca.pem"))
    );
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("hunter2") && debug.contains("[hidden]"),
        "{debug}"
    );

    c.set("ssl.keystore.location", "/ks.p12").unwrap();
    assert_eq!(c.validate().unwrap_err().key, "ssl.keystore.password");
    let err: NetworkError = c.validate().unwrap_err().into();
    assert!(err.to_string().contains("ssl.keystore.password"), "{err}");
}

fn oauth_token_of(props: &[(&str, &str)]) -> serde_json::Value {
    use base64::Engine as _;
    let n = map("SASL_PLAINTEXT", props).unwrap();
    let sasl = n.sasl.unwrap();
    assert_eq!(sasl.mechanism, SaslMechanism::OAuthBearer);
    let token = sasl
        .oauthbearer
        .unwrap()
        .token(std::time::SystemTime::now())
        .unwrap();
    let payload = token.value.as_str().split('.').nth(1).unwrap().to_string();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn oauthbearer_unsecured_tokens_from_java_and_librdkafka_settings() {
    let claims = oauth_token_of(&[
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"admin\" unsecuredLoginLifetimeSeconds=\"120\";",
        ),
    ]);
    assert_eq!(claims["sub"], "admin");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    let claims = oauth_token_of(&[
        ("sasl.mechanisms", "OAUTHBEARER"),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        ("sasl.oauthbearer.config", "principal=bob scope=s1"),
    ]);
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["scope"], serde_json::json!(["s1"]));
}

#[test]
fn oauthbearer_settings_that_cannot_work_name_the_key() {
    let m = ("sasl.mechanism", "OAUTHBEARER");
    for (props, key) in [
        (vec![m], "sasl.jaas.config"),
        (
            vec![m, ("sasl.jaas.config", "OAuthBearerLoginModule required;")],
            "sasl.jaas.config",
        ),
        (
            vec![
                m,
                ("sasl.oauthbearer.token.endpoint.url", "https://idp/token"),
            ],
            "sasl.oauthbearer.token.endpoint.url",
        ),
        (
            vec![m, ("enable.sasl.oauthbearer.unsecure.jwt", "true")],
            "sasl.oauthbearer.config",
        ),
        (
            vec![m, ("enable.sasl.oauthbearer.unsecure.jwt", "yes")],
            "enable.sasl.oauthbearer.unsecure.jwt",
        ),
        (
            vec![
                m,
                ("sasl.oauthbearer.config", "principal=a"),
                ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
                ("sasl.login.refresh.window.factor", "0.2"),
            ],
            "sasl.login.refresh.window.factor",
        ),
    ] {
        assert_eq!(key_of("SASL_SSL", &props), key, "{props:?}");
    }
}

#[test]
fn oauthbearer_token_provider_of_the_application() {
    use crate::sasl::{OAuthBearerToken, RefreshConfig};
    use std::time::{Duration, SystemTime};
    let mut c = SecurityConfig::default();
    c.set("security.protocol", "SASL_SSL").unwrap();
    c.set("sasl.mechanism", "OAUTHBEARER").unwrap();
    c.set("sasl.login.refresh.window.factor", "0.9").unwrap();
    // The provider wins over the unsecured options and the endpoint URL.
    // Without a provider yet: validation (of properties set one by one)
    // leaves room for it; building the network config refuses.
    c.validate().unwrap();
    assert_eq!(
        c.apply(&mut NetworkConfig::default()).unwrap_err().key,
        "sasl.jaas.config"
    );
    c.set("sasl.oauthbearer.token.endpoint.url", "https://idp/token")
        .unwrap();
    c.set_oauthbearer_token_provider(std::sync::Arc::new(|| {
        Ok(OAuthBearerToken {
            value: "opaque-token-value".into(),
            principal_name: "svc".into(),
            start_time: None,
            expiry: SystemTime::now() + Duration::from_secs(600),
        })
    }));
    let mut n = NetworkConfig::default();
    c.apply(&mut n).unwrap();
    let login = n.sasl.unwrap().oauthbearer.unwrap();
    assert_eq!(login.refresh().window_factor, 0.9);
    assert_eq!(
        login.refresh().buffer,
        RefreshConfig::default().buffer,
        "defaults kept"
    );
    let token = login.token(SystemTime::now()).unwrap();
    assert_eq!(token.value.as_str(), "opaque-token-value");
    assert!(!format!("{c:?}").contains("opaque-token-value"));
    assert!(!format!("{token:?}").contains("opaque-token-value"));
}
