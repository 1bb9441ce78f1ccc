//! SASL client mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
//! OAUTHBEARER) as sans-IO state machines: each step takes the server's
//! bytes and returns the next client message. The connection carries them
//! in SaslAuthenticate requests (KIP-152) after a SaslHandshake v1, at
//! connect and again before the session's lifetime ends (KIP-368).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::NetworkError;

#[path = "sasl_oauthbearer.rs"]
pub mod oauthbearer;

pub use oauthbearer::{
    OAuthBearerLogin, OAuthBearerToken, OAuthBearerTokenProvider, RefreshConfig,
    UnsecuredJwsProvider,
};

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    /// KIP-255: an OAuth 2 bearer token from [`SaslConfig::oauthbearer`].
    OAuthBearer,
}

impl SaslMechanism {
    /// The mechanism's name as sent in SaslHandshake.
    pub fn name(&self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a `sasl.mechanism` value.
    pub fn from_name(name: &str) -> Result<SaslMechanism, NetworkError> {
        match name {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Ok(SaslMechanism::OAuthBearer),
            other => Err(NetworkError::Config(format!(
                "sasl.mechanism {other:?} is not supported (accepted: PLAIN, SCRAM-SHA-256, \
                 SCRAM-SHA-512, OAUTHBEARER)"
            ))),
        }
    }
}

/// A secret (a password): its memory is zeroed when dropped, and neither
/// `Debug` nor anything else prints it. Built from a `&str` or `String`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// The secret itself, for the few places that must use it.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password(Zeroizing::new(s))
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password(Zeroizing::new(s.to_string()))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[hidden]")
    }
}

/// SASL credentials (`sasl.mechanism`, and the username/password that
/// `sasl.jaas.config` would carry in Java, or the OAUTHBEARER login).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    /// PLAIN and SCRAM (empty for OAUTHBEARER).
    pub username: String,
    /// PLAIN and SCRAM. Never printed; zeroed on drop.
    pub password: Password,
    /// OAUTHBEARER: where tokens come from (required with that mechanism).
    pub oauthbearer: Option<OAuthBearerLogin>,
}

impl SaslConfig {
    /// PLAIN or SCRAM with a username and password.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        SaslConfig {
            mechanism,
            username: username.into(),
            password: password.into(),
            oauthbearer: None,
        }
    }

    /// OAUTHBEARER with tokens from `login`.
    pub fn oauthbearer(login: OAuthBearerLogin) -> Self {
        SaslConfig {
            mechanism: SaslMechanism::OAuthBearer,
            username: String::new(),
            password: Password::default(),
            oauthbearer: Some(login),
        }
    }
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("oauthbearer", &self.oauthbearer)
            .finish_non_exhaustive()
    }
}

/// What the client does next.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// Send these bytes in a SaslAuthenticate request.
    Send(Vec<u8>),
    /// Authentication is complete.
    Done,
}

#[derive(Debug)]
enum State {
    /// Nothing sent yet.
    Start,
    /// PLAIN sent; the server's (empty) answer completes it.
    PlainSent,
    /// client-first sent.
    ScramFirstSent {
        client_first_bare: String,
        nonce: String,
    },
    /// client-final sent; the server signature to expect.
    ScramFinalSent {
        server_signature: Vec<u8>,
    },
    /// OAUTHBEARER initial response sent: an empty answer completes it.
    OAuthSent,
    /// The server refused the token with this JSON error (RFC 7628 3.2.2);
    /// the client answered `\x01` and the server's failure follows.
    OAuthRefused {
        error: String,
    },
    Done,
}

/// One client-side authentication exchange.
#[derive(Debug)]
pub struct SaslClient {
    config: SaslConfig,
    state: State,
    nonce: Option<String>,
}

fn auth_error(message: impl Into<String>) -> NetworkError {
    NetworkError::Authentication(message.into())
}

/// The smallest iteration count accepted from a server (Kafka's minimum).
const MIN_ITERATIONS: u32 = 4096;
/// The largest iteration count accepted (Kafka's maximum): PBKDF2 runs inside
/// `poll`, so a hostile server must not be able to make it run for hours.
const MAX_ITERATIONS: u32 = 16384;

impl SaslClient {
    /// A client with a random nonce (SCRAM).
    pub fn new(config: SaslConfig) -> Self {
        SaslClient {
            config,
            state: State::Start,
            nonce: None,
        }
    }

    /// A client with a fixed nonce (tests against published vectors).
    pub fn with_nonce(config: SaslConfig, nonce: &str) -> Self {
        SaslClient {
            config,
            state: State::Start,
            nonce: Some(nonce.to_string()),
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.config.mechanism
    }

    /// The error the server described before failing the exchange
    /// (OAUTHBEARER's JSON error), for the authentication failure.
    pub fn server_error(&self) -> Option<&str> {
        match &self.state {
            State::OAuthRefused { error } => Some(error),
            _ => None,
        }
    }

    /// The first client message.
    pub fn start(&mut self) -> Result<Vec<u8>, NetworkError> {
        match self.config.mechanism {
            SaslMechanism::Plain => {
                // authzid NUL authcid NUL passwd (RFC 4616), empty authzid.
                let password = self.config.password.as_str();
                let mut msg = Vec::with_capacity(2 + self.config.username.len() + password.len());
                msg.push(0);
                msg.extend_from_slice(self.config.username.as_bytes());
                msg.push(0);
                msg.extend_from_slice(password.as_bytes());
                self.state = State::PlainSent;
                Ok(msg)
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let username = prepared(&self.config.username, "sasl.username")?;
                prepared(self.config.password.as_str(), "sasl.password")?;
                let nonce = match self.nonce.take() {
                    Some(n) => n,
                    None => random_nonce()?,
                };
                let client_first_bare = format!("n={},r={nonce}", escape_username(username));
                let msg = format!("n,,{client_first_bare}").into_bytes();
                self.state = State::ScramFirstSent {
                    client_first_bare,
                    nonce,
                };
                Ok(msg)
            }
            SaslMechanism::OAuthBearer => {
                let login = self.config.oauthbearer.as_ref().ok_or_else(|| {
                    NetworkError::Config("OAUTHBEARER needs a token provider".to_string())
                })?;
                // Token expiry is wall-clock time: the one clock read here.
                let token = login.token(std::time::SystemTime::now())?;
                let msg =
                    oauthbearer::client_initial_response(token.value.as_str(), login.extensions());
                self.state = State::OAuthSent;
                Ok(msg.to_vec())
            }
        }
    }

    /// Handles the server's bytes from a SaslAuthenticate response.
    pub fn step(&mut self, server: &[u8]) -> Result<SaslStep, NetworkError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::PlainSent => Ok(SaslStep::Done),
            State::ScramFirstSent {
                client_first_bare,
                nonce,
            } => {
                let server_first = std::str::from_utf8(server)
                    .map_err(|_| auth_error("SCRAM server-first message is not UTF-8"))?;
                if server_first.starts_with("m=") {
                    // RFC 5802 5.1: an extension the client must understand;
                    // none is defined, so none is understood.
                    return Err(auth_error(
                        "SCRAM server-first message carries a mandatory extension (m=), \
                         which this client does not support",
                    ));
                }
                let attrs = parse_attributes(server_first)?;
                if let Some(e) = attrs.get("e") {
                    return Err(auth_error(format!("SCRAM server error: {e}")));
                }
                let server_nonce = attrs
                    .get("r")
                    .ok_or_else(|| auth_error("SCRAM server-first lacks r="))?;
                if !server_nonce.starts_with(nonce.as_str()) || server_nonce.len() == nonce.len() {
                    return Err(auth_error(
                        "SCRAM server nonce does not extend the client nonce",
                    ));
                }
                let salt = BASE64
                    .decode(
                        attrs
                            .get("s")
                            .ok_or_else(|| auth_error("SCRAM server-first lacks s="))?,
                    )
                    .map_err(|_| auth_error("SCRAM salt is not base64"))?;
                let iterations: u32 = attrs
                    .get("i")
                    .ok_or_else(|| auth_error("SCRAM server-first lacks i="))?
                    .parse()
                    .map_err(|_| auth_error("SCRAM iteration count is not a number"))?;
                if iterations < MIN_ITERATIONS {
                    return Err(auth_error(format!(
                        "SCRAM iteration count {iterations} is below the minimum {MIN_ITERATIONS}"
                    )));
                }
                if iterations > MAX_ITERATIONS {
                    return Err(auth_error(format!(
                        "SCRAM iteration count {iterations} is above the maximum {MAX_ITERATIONS}"
                    )));
                }
                let alg = self.config.mechanism;
                let password = prepared(self.config.password.as_str(), "sasl.password")?;
                let salted = pbkdf2_hmac(alg, password.as_bytes(), &salt, iterations);
                let client_key = Zeroizing::new(hmac(alg, &salted, b"Client Key"));
                let stored_key = Zeroizing::new(hash(alg, &client_key));
                // "biws" = base64("n,,"): no channel binding, no authzid.
                let without_proof = format!("c=biws,r={server_nonce}");
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let client_signature = hmac(alg, &stored_key, auth_message.as_bytes());
                let proof: Vec<u8> = client_key
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                let server_key = hmac(alg, &salted, b"Server Key");
                let server_signature = hmac(alg, &server_key, auth_message.as_bytes());
                self.state = State::ScramFinalSent { server_signature };
                Ok(SaslStep::Send(
                    format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
                ))
            }
            State::ScramFinalSent { server_signature } => {
                let server_final = std::str::from_utf8(server)
                    .map_err(|_| auth_error("SCRAM server-final message is not UTF-8"))?;
                let attrs = parse_attributes(server_final)?;
                if let Some(e) = attrs.get("e") {
                    return Err(auth_error(format!("SCRAM server error: {e}")));
                }
                let v = BASE64
                    .decode(
                        attrs
                            .get("v")
                            .ok_or_else(|| auth_error("SCRAM server-final lacks v="))?,
                    )
                    .map_err(|_| auth_error("SCRAM server signature is not base64"))?;
                // Constant time: how much of a forged signature matches
                // must not show in the time taken.
                if !bool::from(v.ct_eq(&server_signature)) {
                    return Err(auth_error("SCRAM server signature does not match: the server does not know the password"));
                }
                Ok(SaslStep::Done)
            }
            State::OAuthSent if server.is_empty() => Ok(SaslStep::Done),
            State::OAuthSent => {
                // RFC 7628 3.2.2: the server's error JSON; the client's
                // answer is a single %x01, after which the server fails.
                let error = String::from_utf8_lossy(server).into_owned();
                self.state = State::OAuthRefused { error };
                Ok(SaslStep::Send(vec![1]))
            }
            State::OAuthRefused { error } => Err(auth_error(format!(
                "the broker refused the OAUTHBEARER token: {error}"
            ))),
            State::Start => Err(auth_error("SASL step before start")),
            State::Done => Err(auth_error("SASL step after completion")),
        }
    }
}

/// `value` as SCRAM sends it: RFC 5802 asks for SASLprep (RFC 4013), and
/// Kafka's brokers derive their keys from the bytes as given, without it. A
/// value that SASLprep leaves as it is (every printable ASCII string, most
/// others) satisfies both; one it would change or prohibits (control
/// characters, unnormalized Unicode, unassigned code points) is refused
/// with an error naming `key`, never showing the value.
fn prepared<'a>(value: &'a str, key: &str) -> Result<&'a str, NetworkError> {
    match stringprep::saslprep(value) {
        Ok(p) if p == value => Ok(value),
        Ok(_) => Err(auth_error(format!(
            "{key} is not in SASLprep form (RFC 4013: it would be normalized or mapped); \
             use its normalized form (NFKC, no non-ASCII spaces or soft hyphens)"
        ))),
        Err(e) => Err(auth_error(format!(
            "{key} cannot be used with SCRAM: SASLprep (RFC 4013) refuses it ({e})"
        ))),
    }
}

fn random_nonce() -> Result<String, NetworkError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| auth_error(format!("no randomness for a SCRAM nonce: {e}")))?;
    // base64 without ',' (which SCRAM reserves).
    Ok(BASE64.encode(bytes))
}

/// `=` and `,` are escaped in SCRAM user names (RFC 5802 5.1).
fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn parse_attributes(msg: &str) -> Result<std::collections::HashMap<&str, &str>, NetworkError> {
    msg.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .ok_or_else(|| auth_error(format!("malformed SCRAM attribute {p:?}")))
        })
        .collect()
}

fn hmac(alg: SaslMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    match alg {
        SaslMechanism::ScramSha512 => {
            let mut m =
                <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m =
                <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn hash(alg: SaslMechanism, data: &[u8]) -> Vec<u8> {
    match alg {
        SaslMechanism::ScramSha512 => Sha512::digest(data).to_vec(),
        _ => Sha256::digest(data).to_vec(),
    }
}

/// The salted password: as good as the password itself, so zeroed on drop.
fn pbkdf2_hmac(
    alg: SaslMechanism,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<Vec<u8>> {
    match alg {
        SaslMechanism::ScramSha512 => {
            let mut out = Zeroizing::new(vec![0u8; 64]);
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
            out
        }
        _ => {
            let mut out = Zeroizing::new(vec![0u8; 32]);
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            out
        }
    }
}

/// The server side of SCRAM for one user, for tests (fake brokers).
#[doc(hidden)]
pub mod test_server {
    use super::*;

    /// Answers a client-first message; returns the server-first message and
    /// the state needed to check the client-final one.
    pub fn server_first(
        client_first: &[u8],
        server_nonce_suffix: &str,
        salt: &[u8],
        iterations: u32,
    ) -> (String, String, String) {
        let text = String::from_utf8_lossy(client_first).to_string();
        let bare = text.strip_prefix("n,,").unwrap_or(&text).to_string();
        let attrs = parse_attributes(&bare).unwrap_or_default();
        let nonce = format!(
            "{}{server_nonce_suffix}",
            attrs.get("r").copied().unwrap_or("")
        );
        let first = format!("r={nonce},s={},i={iterations}", BASE64.encode(salt));
        (first, bare, nonce)
    }

    /// Checks a client-final message; `Ok(server-final)` if the proof is right.
    pub fn server_final(
        alg: SaslMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
        client_first_bare: &str,
        server_first: &str,
        client_final: &[u8],
    ) -> Result<String, String> {
        let text = String::from_utf8_lossy(client_final).to_string();
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or("no proof")?;
        let proof = BASE64.decode(proof).map_err(|_| "proof not base64")?;
        let salted = pbkdf2_hmac(alg, password.as_bytes(), salt, iterations);
        let client_key = hmac(alg, &salted, b"Client Key");
        let stored_key = hash(alg, &client_key);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(alg, &stored_key, auth_message.as_bytes());
        let expected: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        if proof != expected {
            return Err("e=invalid-proof".to_string());
        }
        let server_key = hmac(alg, &salted, b"Server Key");
        Ok(format!(
            "v={}",
            BASE64.encode(hmac(alg, &server_key, auth_message.as_bytes()))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram256(user: &str, password: &str) -> SaslConfig {
        SaslConfig {
            mechanism: SaslMechanism::ScramSha256,
            username: user.to_string(),
            password: password.into(),
            oauthbearer: None,
        }
    }

    /// The SCRAM-SHA-256 example exchange of RFC 7677, section 3.
    #[test]
    fn scram_sha256_matches_rfc7677() {
        let mut c = SaslClient::with_nonce(scram256("user", "pencil"), "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            c.start().unwrap(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec()
        );
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let SaslStep::Send(client_final) = c.step(server_first).unwrap() else {
            panic!("expected a client-final message")
        };
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            c.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            SaslStep::Done
        );
    }

    #[test]
    fn scram_rejects_a_wrong_server_signature_and_bad_first_messages() {
        let mut c = SaslClient::with_nonce(scram256("user", "pencil"), "rOprNGfwEbeRWgbNEkqO");
        c.start().unwrap();
        c.step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert!(matches!(
            c.step(b"v=AAAA"),
            Err(NetworkError::Authentication(_))
        ));

        for bad in [
            &b"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"[..],
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10",
            // Above Kafka's maximum: refused before any hashing.
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16385",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967295",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096",
            b"e=unknown-user",
            b"garbage",
        ] {
            let mut c = SaslClient::with_nonce(scram256("user", "pencil"), "rOprNGfwEbeRWgbNEkqO");
            c.start().unwrap();
            assert!(
                matches!(c.step(bad), Err(NetworkError::Authentication(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn scram_refuses_a_mandatory_extension() {
        let mut c = SaslClient::with_nonce(scram256("user", "pencil"), "rOprNGfwEbeRWgbNEkqO");
        c.start().unwrap();
        let e = c
            .step(b"m=future-ext,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap_err();
        assert!(e.to_string().contains("mandatory extension"), "{e}");
        // Optional extensions after i= (Kafka's own, KIP-84) are fine.
        let mut c = SaslClient::with_nonce(scram256("user", "pencil"), "rOprNGfwEbeRWgbNEkqO");
        c.start().unwrap();
        assert!(c
            .step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,tokenauth=true")
            .is_ok());
    }

    #[test]
    fn scram_refuses_a_signature_of_another_length_or_one_bit_off() {
        for v in [
            // The RFC 7677 signature with its last byte changed.
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G0=",
            // A prefix of it.
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5n",
        ] {
            let mut c = SaslClient::with_nonce(scram256("user", "pencil"), "rOprNGfwEbeRWgbNEkqO");
            c.start().unwrap();
            c.step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
                .unwrap();
            assert!(c.step(v.as_bytes()).is_err(), "{v}");
        }
    }

    #[test]
    fn saslprep_form_is_required_and_the_value_never_shown() {
        // Printable ASCII and normalized Unicode are sent as they are.
        for (user, password) in [
            ("user", "pencil"),
            ("jürgen", "pässwörd"),
            ("u", "I\u{00AD}X"),
        ] {
            let mut c = SaslClient::new(scram256(user, password));
            let r = c.start();
            if password.contains('\u{00AD}') {
                // A soft hyphen is mapped to nothing by SASLprep: refused
                // rather than sent in a form the broker may not have stored.
                let e = r.unwrap_err().to_string();
                assert!(e.contains("sasl.password") && e.contains("SASLprep"), "{e}");
                assert!(!e.contains(password), "{e}");
            } else {
                assert!(r.is_ok(), "{user}");
            }
        }
        // Control characters are prohibited (RFC 4013 section 2.3).
        let e = SaslClient::new(scram256("user", "pen\u{0007}cil"))
            .start()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sasl.password"), "{e}");
        // NFKC: a ligature is not in normalized form.
        let e = SaslClient::new(scram256("\u{FB01}le", "pw"))
            .start()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sasl.username"), "{e}");
    }

    #[test]
    fn passwords_are_hidden_and_zeroizing() {
        let p = Password::from("hunter2");
        assert_eq!(format!("{p:?}"), "[hidden]");
        assert_eq!(p.as_str(), "hunter2");
        let c = SaslClient::new(scram256("u", "hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn scram_sha512_round_trip_with_test_server() {
        let cfg = SaslConfig {
            mechanism: SaslMechanism::ScramSha512,
            username: "a=b,c".to_string(),
            password: "secret".into(),
            oauthbearer: None,
        };
        let mut c = SaslClient::new(cfg);
        let first = c.start().unwrap();
        assert!(String::from_utf8_lossy(&first).starts_with("n,,n=a=3Db=2Cc,r="));
        let salt = b"0123456789abcdef";
        let (server_first, bare, _) = test_server::server_first(&first, "srv", salt, 4096);
        let SaslStep::Send(client_final) = c.step(server_first.as_bytes()).unwrap() else {
            panic!()
        };
        let server_final = test_server::server_final(
            SaslMechanism::ScramSha512,
            "secret",
            salt,
            4096,
            &bare,
            &server_first,
            &client_final,
        )
        .unwrap();
        assert_eq!(c.step(server_final.as_bytes()).unwrap(), SaslStep::Done);
        // The wrong password fails the server's check.
        assert!(test_server::server_final(
            SaslMechanism::ScramSha512,
            "other",
            salt,
            4096,
            &bare,
            &server_first,
            &client_final
        )
        .is_err());
    }

    fn oauth_client() -> SaslClient {
        let login = UnsecuredJwsProvider::new("alice")
            .into_login()
            .unwrap()
            .with_extensions(vec![("traceId".into(), "t-1".into())])
            .unwrap();
        SaslClient::new(SaslConfig::oauthbearer(login))
    }

    #[test]
    fn oauthbearer_sends_the_token_and_an_empty_answer_completes() {
        let mut c = oauth_client();
        let first = c.start().unwrap();
        let text = String::from_utf8(first).unwrap();
        let token = text
            .strip_prefix("n,,\x01auth=Bearer ")
            .and_then(|t| t.strip_suffix("\x01traceId=t-1\x01\x01"))
            .unwrap_or_else(|| panic!("not RFC 7628: {text:?}"));
        assert!(
            token.starts_with("eyJhbGciOiJub25lIn0.") && token.ends_with('.'),
            "{token}"
        );
        assert_eq!(c.step(b"").unwrap(), SaslStep::Done);
        assert_eq!(c.server_error(), None);
        assert!(!format!("{c:?}").contains(token));
    }

    #[test]
    fn oauthbearer_refusal_answers_kvsep_and_keeps_the_servers_error() {
        let mut c = oauth_client();
        c.start().unwrap();
        let json = br#"{"status":"invalid_token"}"#;
        // RFC 7628 3.2.3: the client answers a failure with a single %x01.
        assert_eq!(c.step(json).unwrap(), SaslStep::Send(vec![1]));
        assert_eq!(c.server_error(), Some(r#"{"status":"invalid_token"}"#));
        // Should the server answer that with success: still a failure.
        let e = c.step(b"").unwrap_err().to_string();
        assert!(e.contains("invalid_token"), "{e}");
        // Without a token provider: a configuration error, nothing sent.
        let mut c = SaslClient::new(SaslConfig {
            oauthbearer: None,
            ..SaslConfig::oauthbearer(UnsecuredJwsProvider::new("a").into_login().unwrap())
        });
        assert!(matches!(c.start(), Err(NetworkError::Config(_))));
    }

    #[test]
    fn plain_message_and_names() {
        let mut c = SaslClient::new(SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: "alice".into(),
            password: "pw".into(),
            oauthbearer: None,
        });
        assert_eq!(c.start().unwrap(), b"\0alice\0pw".to_vec());
        assert_eq!(c.step(b"").unwrap(), SaslStep::Done);
        assert!(c.step(b"").is_err());
        for m in [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OAuthBearer,
        ] {
            assert_eq!(SaslMechanism::from_name(m.name()).unwrap(), m);
        }
        assert!(SaslMechanism::from_name("GSSAPI").is_err());
        let dbg = format!("{:?}", scram256("u", "hunter2"));
        assert!(!dbg.contains("hunter2"));
    }
}
