//! `security.protocol`, `sasl.*` and `ssl.*`: the Java client's security
//! properties (and the librdkafka aliases) turned into [`NetworkConfig`]'s
//! `security_protocol`, `sasl` and `tls`, once for the consumer, the
//! producer and the admin client.
//!
//! Accepted keys and what they do:
//!
//! | key | meaning |
//! |---|---|
//! | `security.protocol` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` (any case) |
//! | `sasl.mechanism` (Java), `sasl.mechanisms` (librdkafka) | `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`; the Java name wins if both are set. Default `GSSAPI`, which is refused |
//! | `sasl.username`, `sasl.password` (librdkafka) | SASL credentials; both or neither |
//! | `sasl.jaas.config` (Java) | credentials from its `username="…" password="…"` options, used when `sasl.username`/`sasl.password` are not set; with OAUTHBEARER and no token provider, unsecured test tokens from its `unsecuredLogin*` options (Java's `OAuthBearerLoginModule` without a callback handler) |
//! | [`SecurityConfig::set_oauthbearer_token_provider`] (Java: `sasl.login.callback.handler.class`) | OAUTHBEARER tokens from the application |
//! | `enable.sasl.oauthbearer.unsecure.jwt=true` + `sasl.oauthbearer.config` (librdkafka) | OAUTHBEARER with unsecured test tokens: `principal=… [scope=a,b] [lifeSeconds=…] [extension_<name>=…]` |
//! | `sasl.login.refresh.window.factor`, `.window.jitter`, `.min.period.seconds`, `.buffer.seconds` (Java) | when an OAUTHBEARER token is replaced (0.8, 0.05, 60, 300) |
//! | `ssl.ca.location` (librdkafka) | PEM file of the CA certificates to trust |
//! | `ssl.truststore.location` + `ssl.truststore.type=PEM` (Java) | the same; used when `ssl.ca.location` is not set |
//! | `ssl.truststore.location` + `ssl.truststore.type` `PKCS12` (or `JKS`, the default, for a PKCS#12 file) + `ssl.truststore.password` | the certificates of a PKCS#12 trust store |
//! | `ssl.ca.pem` (librdkafka), `ssl.truststore.certificates` (Java) | PEM text of CA certificates to trust |
//! | `ssl.keystore.certificate.chain` + `ssl.keystore.key` (Java), `ssl.certificate.pem` + `ssl.key.pem` (librdkafka) | mutual TLS: chain and key as PEM text |
//! | `ssl.certificate.location` + `ssl.key.location` (librdkafka) | mutual TLS: chain and key as PEM files |
//! | `ssl.keystore.location` + `ssl.keystore.password` (`ssl.keystore.type` `PKCS12`, or `JKS` for a PKCS#12 file) | mutual TLS: a PKCS#12 keystore |
//! | `ssl.keystore.location` + `ssl.keystore.type=PEM` | mutual TLS: one PEM file with chain and key |
//! | `ssl.key.password` | decrypts an encrypted PKCS#8 PEM key |
//! | `ssl.endpoint.identification.algorithm` | `https` (default): check the broker's host name; empty or `none`: do not |
//! | `enable.ssl.certificate.verification` (librdkafka) | `true` only; `false` is refused |
//!
//! With no CA given, TLS trusts the Mozilla root certificates. Files are read
//! when the network client is built; their errors name the setting.
//!
//! Refused, with an error naming the key: turning certificate verification
//! off, other trust/key store types, half a certificate/key pair, a PKCS#12
//! keystore without its password, SASL mechanisms other than the four
//! above, SASL without credentials, `sasl.oauthbearer.token.endpoint.url`
//! (prozess fetches no tokens over HTTP: supply a token provider).
//!
//! KIP-368 re-authentication needs no setting: when the broker gives the
//! session a lifetime (`connections.max.reauth.ms`), every connection
//! re-authenticates before it ends.
//!
//! Every other `sasl.*`, `ssl.*` and `security.*` key of the Java client and
//! librdkafka (`ssl.protocol`, `ssl.enabled.protocols`, `ssl.cipher.suites`,
//! `sasl.login.*`, `security.providers`, ...) is accepted and has no effect, as the keys of
//! the protocol not in use are in Java (`ssl.*` with `SASL_PLAINTEXT`).
//!
//! Two ways in: configs that keep the properties in a map call
//! [`is_security_key`] when a key is set and [`apply_security`] when the
//! network config is built; others hold a [`SecurityConfig`] and delegate
//! with [`SecurityConfig::set`] and [`SecurityConfig::apply`]. Errors are
//! [`SecurityConfigError`] `{ key, message }`, for the caller's own error
//! type.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::{NetworkConfig, SecurityProtocol};
use crate::error::NetworkError;
use crate::sasl::{
    OAuthBearerLogin, OAuthBearerTokenProvider, Password, RefreshConfig, SaslConfig, SaslMechanism,
    UnsecuredJwsProvider,
};
use crate::tls::{ClientCertificate, PemSource, TlsConfig};

/// The `sasl.*`/`ssl.*` keys this module reads (or refuses).
pub const SECURITY_KEYS: &[&str] = &[
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter",
    "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
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
    "ssl.certificate.pem",
    "ssl.key.pem",
    "ssl.protocol",
    "ssl.enabled.protocols",
];

/// Values never shown by `Debug`.
const SECRET_KEYS: &[&str] = &[
    "sasl.password",
    "sasl.jaas.config",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "ssl.keystore.key",
    "ssl.key.pem",
];

/// A security property that cannot be used; `key` is the property to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfigError {
    /// The property name, e.g. `sasl.mechanism`.
    pub key: String,
    /// What is wrong with it (never contains a secret).
    pub message: String,
}

impl SecurityConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        SecurityConfigError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SecurityConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for SecurityConfigError {}

impl From<SecurityConfigError> for NetworkError {
    fn from(e: SecurityConfigError) -> Self {
        NetworkError::Config(e.to_string())
    }
}

/// Whether `key` belongs to this module: `security.protocol`, one of
/// [`SECURITY_KEYS`], or another `ssl.*`/`sasl.*`/`security.*` key (accepted
/// without effect).
pub fn is_security_key(key: &str) -> bool {
    key == "security.protocol"
        || SECURITY_KEYS.contains(&key)
        || key.starts_with("ssl.")
        || key.starts_with("sasl.")
        || key.starts_with("security.")
}

/// Parses a `security.protocol` value (any case, surrounding blanks ignored).
pub fn parse_security_protocol(value: &str) -> Result<SecurityProtocol, SecurityConfigError> {
    SecurityProtocol::from_name(value.trim())
        .map_err(|e| SecurityConfigError::new("security.protocol", network_message(e)))
}

fn network_message(e: NetworkError) -> String {
    match e {
        NetworkError::Config(m) => m,
        other => other.to_string(),
    }
}

/// Sets `security_protocol`, `sasl` and `tls` of `n` from `protocol` and the
/// `sasl.*`/`ssl.*` properties looked up through `get`. Keys of the part not
/// in use (`ssl.*` with `SASL_PLAINTEXT`) are not looked at, as in Java.
pub fn apply_security<'a>(
    n: &mut NetworkConfig,
    protocol: SecurityProtocol,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<(), SecurityConfigError> {
    apply_security_with(n, protocol, get, None)
}

/// [`apply_security`] with the application's OAUTHBEARER token provider.
fn apply_security_with<'a>(
    n: &mut NetworkConfig,
    protocol: SecurityProtocol,
    get: impl Fn(&str) -> Option<&'a str>,
    login: Option<&OAuthBearerLogin>,
) -> Result<(), SecurityConfigError> {
    let sasl = if protocol.uses_sasl() {
        Some(sasl_config(&get, login)?)
    } else {
        None
    };
    let tls = if protocol.uses_tls() {
        Some(tls_config(&get)?)
    } else {
        None
    };
    n.security_protocol = protocol;
    n.sasl = sasl;
    n.tls = tls;
    Ok(())
}

fn sasl_config<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    login: Option<&OAuthBearerLogin>,
) -> Result<SaslConfig, SecurityConfigError> {
    // Java's default mechanism is GSSAPI, which prozess does not speak: the
    // error then says which ones it does.
    let (key, name) = match (get("sasl.mechanism"), get("sasl.mechanisms")) {
        (Some(m), _) => ("sasl.mechanism", m),
        (None, Some(m)) => ("sasl.mechanisms", m),
        (None, None) => ("sasl.mechanism", "GSSAPI"),
    };
    let mechanism = SaslMechanism::from_name(name.trim())
        .map_err(|e| SecurityConfigError::new(key, network_message(e)))?;
    if mechanism == SaslMechanism::OAuthBearer {
        return oauthbearer_login(get, login).map(SaslConfig::oauthbearer);
    }
    // Credentials are taken as given: blanks may be part of a password.
    let (username, password) = match (get("sasl.username"), get("sasl.password")) {
        (Some(u), Some(p)) => (u.to_string(), p.to_string()),
        (Some(_), None) => {
            return Err(SecurityConfigError::new(
                "sasl.password",
                "missing (sasl.username is set)",
            ))
        }
        (None, Some(_)) => {
            return Err(SecurityConfigError::new(
                "sasl.username",
                "missing (sasl.password is set)",
            ))
        }
        (None, None) => match get("sasl.jaas.config") {
            Some(jaas) => jaas_credentials(jaas).ok_or_else(|| {
                SecurityConfigError::new(
                    "sasl.jaas.config",
                    "no username=\"..\" password=\"..\" options found",
                )
            })?,
            None => {
                return Err(SecurityConfigError::new(
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
        password: password.into(),
        oauthbearer: None,
    })
}

/// Where OAUTHBEARER tokens come from: the application's provider; else
/// unsecured tokens from `sasl.jaas.config`'s `unsecuredLogin*` options
/// (Java's default login callback handler); else librdkafka's
/// `enable.sasl.oauthbearer.unsecure.jwt` with `sasl.oauthbearer.config`.
fn oauthbearer_login<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    login: Option<&OAuthBearerLogin>,
) -> Result<OAuthBearerLogin, SecurityConfigError> {
    let refresh = refresh_config(get)?;
    if let Some(login) = login {
        return Ok(login.clone().with_refresh(refresh));
    }
    if get("sasl.oauthbearer.token.endpoint.url").is_some_and(|u| !u.trim().is_empty()) {
        return Err(SecurityConfigError::new(
            "sasl.oauthbearer.token.endpoint.url",
            "prozess fetches no OAUTHBEARER tokens over HTTP: supply a token provider \
             (SecurityConfig::set_oauthbearer_token_provider)",
        ));
    }
    let unsecured = |key: &str, p: Result<UnsecuredJwsProvider, String>| {
        p.and_then(UnsecuredJwsProvider::into_login)
            .map(|l| l.with_refresh(refresh))
            .map_err(|m| SecurityConfigError::new(key, m))
    };
    if let Some(jaas) = get("sasl.jaas.config") {
        let options = jaas_options(jaas).ok_or_else(|| {
            SecurityConfigError::new("sasl.jaas.config", "a quoted value is not closed")
        })?;
        return unsecured(
            "sasl.jaas.config",
            UnsecuredJwsProvider::from_jaas_options(&options).map_err(|m| {
                format!(
                    "{m}; without a token provider (SecurityConfig::\
                     set_oauthbearer_token_provider) OAUTHBEARER uses unsecured test tokens \
                     configured by unsecuredLoginStringClaim_sub=\"<principal>\""
                )
            }),
        );
    }
    match get("enable.sasl.oauthbearer.unsecure.jwt")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("true") => {
            let config = get("sasl.oauthbearer.config").ok_or_else(|| {
                SecurityConfigError::new(
                    "sasl.oauthbearer.config",
                    "missing (enable.sasl.oauthbearer.unsecure.jwt=true needs principal=<name>)",
                )
            })?;
            return unsecured(
                "sasl.oauthbearer.config",
                UnsecuredJwsProvider::from_librdkafka_config(config),
            );
        }
        None | Some("false") => {}
        Some(other) => {
            return Err(SecurityConfigError::new(
                "enable.sasl.oauthbearer.unsecure.jwt",
                format!("`{other}` is not true or false"),
            ))
        }
    }
    Err(SecurityConfigError::new(
        "sasl.jaas.config",
        NO_TOKEN_SOURCE,
    ))
}

/// The refusal of OAUTHBEARER without any source of tokens.
const NO_TOKEN_SOURCE: &str = "OAUTHBEARER needs tokens: a token provider (SecurityConfig::\
         set_oauthbearer_token_provider), or unsecured test tokens from a sasl.jaas.config with \
         unsecuredLoginStringClaim_sub=\"<principal>\" (or librdkafka's \
         enable.sasl.oauthbearer.unsecure.jwt=true with sasl.oauthbearer.config)";

/// Java's `sasl.login.refresh.*` settings, checked against Java's ranges.
fn refresh_config<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<RefreshConfig, SecurityConfigError> {
    let mut r = RefreshConfig::default();
    let number = |key: &str, lo: f64, hi: f64| -> Result<Option<f64>, SecurityConfigError> {
        let Some(v) = get(key) else { return Ok(None) };
        match v.trim().parse::<f64>() {
            Ok(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            _ => Err(SecurityConfigError::new(
                key,
                format!("`{}` is not a number in {lo}..={hi}", v.trim()),
            )),
        }
    };
    if let Some(x) = number("sasl.login.refresh.window.factor", 0.5, 1.0)? {
        r.window_factor = x;
    }
    if let Some(x) = number("sasl.login.refresh.window.jitter", 0.0, 0.25)? {
        r.window_jitter = x;
    }
    if let Some(x) = number("sasl.login.refresh.min.period.seconds", 0.0, 900.0)? {
        r.min_period = std::time::Duration::from_secs(x as u64);
    }
    if let Some(x) = number("sasl.login.refresh.buffer.seconds", 0.0, 3600.0)? {
        r.buffer = std::time::Duration::from_secs(x as u64);
    }
    Ok(r)
}

fn tls_config<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<TlsConfig, SecurityConfigError> {
    // An empty location means "not set", as an empty Java property does.
    let set = |key: &str| get(key).map(str::trim).filter(|v| !v.is_empty());
    let mut tls = TlsConfig::default();
    if let Some(ca) = set("ssl.ca.location") {
        tls.ca_file = Some(ca.into());
    } else if let Some(ca) = set("ssl.truststore.location") {
        let kind = set("ssl.truststore.type")
            .unwrap_or("JKS")
            .to_ascii_uppercase();
        match kind.as_str() {
            "PEM" => tls.ca_file = Some(ca.into()),
            // Java's JKS default reads PKCS#12 files too (keytool's default
            // format since Java 9); a real JKS file is refused when loaded.
            "PKCS12" | "JKS" => {
                let password = get("ssl.truststore.password").unwrap_or("");
                tls.truststore_pkcs12 = Some((ca.into(), password.into()));
            }
            other => {
                return Err(SecurityConfigError::new(
                    "ssl.truststore.type",
                    format!("`{other}` is not one of PEM, PKCS12 (or JKS for a PKCS#12 file)"),
                ))
            }
        }
    }
    tls.client_certificate = client_certificate(&set, get)?;
    if let Some(pem) = set("ssl.ca.pem").or_else(|| set("ssl.truststore.certificates")) {
        tls.ca_pem = Some(pem.to_string());
    }
    if let Some(alg) = get("ssl.endpoint.identification.algorithm") {
        tls.verify_hostname = match alg.trim().to_ascii_lowercase().as_str() {
            "https" => true,
            "" | "none" => false,
            other => {
                return Err(SecurityConfigError::new(
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
                return Err(SecurityConfigError::new(
                    "enable.ssl.certificate.verification",
                    "certificate chains are always verified; trust a private CA with \
                     ssl.ca.location instead",
                ))
            }
            _ => {
                return Err(SecurityConfigError::new(
                    "enable.ssl.certificate.verification",
                    format!("`{}` is not true or false", v.trim()),
                ))
            }
        }
    }
    Ok(tls)
}

/// The client certificate for mutual TLS, from (first match wins):
/// `ssl.keystore.certificate.chain` + `ssl.keystore.key` (Java, PEM text);
/// `ssl.certificate.location` + `ssl.key.location` (librdkafka, PEM files);
/// `ssl.certificate.pem` + `ssl.key.pem` (librdkafka, PEM text);
/// `ssl.keystore.location` with `ssl.keystore.type` PKCS12 (or JKS, the
/// default, for a PKCS#12 file) and `ssl.keystore.password`, or with
/// `ssl.keystore.type=PEM` (one PEM file holding chain and key). A PEM key
/// may be encrypted PKCS#8, decrypted with `ssl.key.password`.
fn client_certificate<'a>(
    set: &impl Fn(&str) -> Option<&'a str>,
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<ClientCertificate>, SecurityConfigError> {
    let key_password = get("ssl.key.password").map(Password::from);
    let pair = |cert_key: &str, key_key: &str, file: bool| {
        let Some(cert) = set(cert_key) else {
            return Ok(None);
        };
        let key = set(key_key).ok_or_else(|| {
            SecurityConfigError::new(key_key, format!("missing ({cert_key} is set)"))
        })?;
        let source = |v: &str| {
            if file {
                PemSource::File(v.into())
            } else {
                PemSource::Inline(v.into())
            }
        };
        Ok(Some(ClientCertificate::Pem {
            certificate_chain: source(cert),
            private_key: source(key),
            key_password: key_password.clone(),
        }))
    };
    for (cert_key, key_key, file) in [
        ("ssl.keystore.certificate.chain", "ssl.keystore.key", false),
        ("ssl.certificate.location", "ssl.key.location", true),
        ("ssl.certificate.pem", "ssl.key.pem", false),
    ] {
        if let Some(c) = pair(cert_key, key_key, file)? {
            return Ok(Some(c));
        }
        if set(cert_key).is_none() && set(key_key).is_some() {
            return Err(SecurityConfigError::new(
                cert_key,
                format!("missing ({key_key} is set)"),
            ));
        }
    }
    let Some(location) = set("ssl.keystore.location") else {
        return Ok(None);
    };
    match set("ssl.keystore.type")
        .unwrap_or("JKS")
        .to_ascii_uppercase()
        .as_str()
    {
        "PEM" => Ok(Some(ClientCertificate::Pem {
            certificate_chain: PemSource::File(location.into()),
            private_key: PemSource::File(location.into()),
            key_password,
        })),
        "PKCS12" | "JKS" => {
            let password = get("ssl.keystore.password").ok_or_else(|| {
                SecurityConfigError::new(
                    "ssl.keystore.password",
                    "missing (ssl.keystore.location is a PKCS#12 keystore)",
                )
            })?;
            Ok(Some(ClientCertificate::Pkcs12 {
                path: location.into(),
                password: password.into(),
            }))
        }
        other => Err(SecurityConfigError::new(
            "ssl.keystore.type",
            format!("`{other}` is not one of PKCS12, PEM (or JKS for a PKCS#12 file)"),
        )),
    }
}

/// `username` and `password` of a Java `sasl.jaas.config` value such as
/// `org.apache.kafka.common.security.plain.PlainLoginModule required
/// username="u" password="p";`. Values are double-quoted (`\"` and `\\`
/// inside are escapes) or bare up to a blank or `;`; `None` if either is
/// missing or a quote is not closed.
pub fn jaas_credentials(jaas: &str) -> Option<(String, String)> {
    let options = jaas_options(jaas)?;
    let find = |name: &str| {
        options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some((find("username")?, find("password")?))
}

/// The `name=value` options of a Java `sasl.jaas.config` value, in order.
/// Values are double-quoted (`\"` and `\\` inside are escapes) or bare up
/// to a blank or `;`; `None` if a quote is not closed.
pub fn jaas_options(jaas: &str) -> Option<Vec<(String, String)>> {
    let mut options = Vec::new();
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
        options.push((name.to_string(), value));
        rest = tail;
    }
    Some(options)
}

/// `security.protocol` and the `sasl.*`/`ssl.*` properties of a client
/// config, for configs that set their properties one by one.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    properties: BTreeMap<String, String>,
    /// The application's OAUTHBEARER token provider.
    oauthbearer: Option<OAuthBearerLogin>,
}

impl SecurityConfig {
    /// Takes `key` if it is a security property ([`is_security_key`]):
    /// `Ok(true)` when taken, `Ok(false)` when the key is not one (the
    /// caller handles it), an error for an invalid `security.protocol`.
    /// Combinations are checked by [`SecurityConfig::apply`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, SecurityConfigError> {
        if key == "security.protocol" {
            self.protocol = parse_security_protocol(value)?;
            return Ok(true);
        }
        if !is_security_key(key) {
            return Ok(false);
        }
        self.properties.insert(key.to_string(), value.to_string());
        Ok(true)
    }

    /// The value set for a `sasl.*`/`ssl.*` key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// OAUTHBEARER (`sasl.mechanism=OAUTHBEARER`) takes its tokens from
    /// `provider` (Java's `sasl.login.callback.handler.class`). Tokens are
    /// cached and replaced before they expire (`sasl.login.refresh.*`).
    pub fn set_oauthbearer_token_provider(
        &mut self,
        provider: std::sync::Arc<dyn OAuthBearerTokenProvider>,
    ) {
        self.oauthbearer = Some(OAuthBearerLogin::new(provider));
    }

    /// As [`SecurityConfig::set_oauthbearer_token_provider`], with SASL
    /// extensions (KIP-342) sent with every token.
    pub fn set_oauthbearer_login(&mut self, login: OAuthBearerLogin) {
        self.oauthbearer = Some(login);
    }

    /// Fills `security_protocol`, `sasl` and `tls` of `n`
    /// ([`apply_security`]).
    pub fn apply(&self, n: &mut NetworkConfig) -> Result<(), SecurityConfigError> {
        apply_security_with(n, self.protocol, |k| self.get(k), self.oauthbearer.as_ref())
    }

    /// Checks that the settings can be used, without a network config. An
    /// OAUTHBEARER token provider may still be set after this (properties
    /// first, then [`SecurityConfig::set_oauthbearer_token_provider`]): its
    /// absence is refused by [`SecurityConfig::apply`], when the client is
    /// built.
    pub fn validate(&self) -> Result<(), SecurityConfigError> {
        match self.apply(&mut NetworkConfig::default()) {
            Err(e) if e.message == NO_TOKEN_SOURCE && self.oauthbearer.is_none() => Ok(()),
            other => other,
        }
    }
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let v = if SECRET_KEYS.contains(&k.as_str()) {
                    "[hidden]"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("SecurityConfig")
            .field("protocol", &self.protocol)
            .field("properties", &shown)
            .field("oauthbearer", &self.oauthbearer)
            .finish()
    }
}

#[cfg(test)]
mod tests;
