//! SASL/OAUTHBEARER (KIP-255, RFC 7628): the token comes from a provider the
//! application supplies ([`OAuthBearerTokenProvider`]; prozess fetches no
//! token over HTTP itself), is cached and refreshed before it expires (Java's
//! `sasl.login.refresh.*` rules, [`RefreshConfig`]), and is sent in the
//! client's initial response `n,,\x01auth=Bearer <token>\x01[ext=value\x01]\x01`.
//!
//! For tests, [`UnsecuredJwsProvider`] makes the unsecured tokens Kafka's
//! own unsecured login module makes (`alg: none`, no signature), configured
//! as Java's `unsecuredLogin*` JAAS options or librdkafka's
//! `sasl.oauthbearer.config`.
//!
//! Token values are held as [`Password`]s: never printed, zeroed on drop.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::Password;
use crate::NetworkError;

/// An OAuth 2 bearer token, as a provider returns it.
#[derive(Clone)]
pub struct OAuthBearerToken {
    /// The token itself (compact serialization); never printed.
    pub value: Password,
    /// The principal the token names (for logs; the broker reads the token).
    pub principal_name: String,
    /// When it was issued; `None`: when the provider returned it.
    pub start_time: Option<SystemTime>,
    /// When it expires.
    pub expiry: SystemTime,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &self.value)
            .field("principal_name", &self.principal_name)
            .field("start_time", &self.start_time)
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// Supplies OAUTHBEARER tokens (Java's login callback handler). Called from
/// inside `poll` when a connection authenticates and no cached token is
/// valid, so it should answer quickly (fetch tokens ahead of time if that
/// takes a network round trip). Its error message is shown to the caller
/// in the authentication failure and must not contain secrets.
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// A token valid now.
    fn token(&self) -> Result<OAuthBearerToken, String>;
}

impl<F> OAuthBearerTokenProvider for F
where
    F: Fn() -> Result<OAuthBearerToken, String> + Send + Sync,
{
    fn token(&self) -> Result<OAuthBearerToken, String> {
        self()
    }
}

/// When a token is replaced: Java's `sasl.login.refresh.window.factor`
/// (0.8), `.window.jitter` (0.05), `.min.period.seconds` (60) and
/// `.buffer.seconds` (300).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshConfig {
    /// Refresh after this share of the token's lifetime (0.5-1.0).
    pub window_factor: f64,
    /// Plus a random share of the lifetime up to this (0-0.25).
    pub window_jitter: f64,
    /// Not sooner than this after the token was issued (0-900 s).
    pub min_period: Duration,
    /// At least this long before it expires, where the two rules allow
    /// (0-3600 s).
    pub buffer: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            window_factor: 0.8,
            window_jitter: 0.05,
            min_period: Duration::from_secs(60),
            buffer: Duration::from_secs(300),
        }
    }
}

impl RefreshConfig {
    /// When a token issued at `start` and expiring at `expiry` is replaced,
    /// with `random` in [0, 1) for the jitter. As Java's
    /// `ExpiringCredentialRefreshingLogin`: after factor (+ jitter) of the
    /// lifetime; moved earlier to keep `buffer` before expiry, but never
    /// before `min_period`; a lifetime shorter than `min_period + buffer`
    /// keeps the factor's time.
    pub fn refresh_time(&self, start: SystemTime, expiry: SystemTime, random: f64) -> SystemTime {
        let lifetime = expiry.duration_since(start).unwrap_or(Duration::ZERO);
        let share = self.window_factor + self.window_jitter * random.clamp(0.0, 1.0);
        let mut at = start + lifetime.mul_f64(share.clamp(0.0, 1.0));
        if lifetime >= self.min_period + self.buffer {
            let latest = expiry - self.buffer;
            let earliest = start + self.min_period;
            if at > latest {
                at = latest;
            }
            if at < earliest {
                at = earliest;
            }
        }
        at
    }
}

struct Cached {
    token: OAuthBearerToken,
    refresh_at: SystemTime,
}

/// The OAUTHBEARER login of one client: the provider, the SASL extensions
/// to send, and the token it gave last (shared by every connection and by
/// clones of the configuration).
#[derive(Clone)]
pub struct OAuthBearerLogin {
    provider: Arc<dyn OAuthBearerTokenProvider>,
    refresh: RefreshConfig,
    extensions: Vec<(String, String)>,
    cache: Arc<Mutex<Option<Cached>>>,
}

impl OAuthBearerLogin {
    /// A login that asks `provider` for tokens.
    pub fn new(provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        OAuthBearerLogin {
            provider,
            refresh: RefreshConfig::default(),
            extensions: Vec::new(),
            cache: Arc::default(),
        }
    }

    /// With these refresh rules.
    pub fn with_refresh(mut self, refresh: RefreshConfig) -> Self {
        self.refresh = refresh;
        self
    }

    /// With these SASL extensions (KIP-342), checked as RFC 7628 requires:
    /// names of letters only and not `auth`, values of printable ASCII,
    /// blank, tab, CR and LF.
    pub fn with_extensions(mut self, extensions: Vec<(String, String)>) -> Result<Self, String> {
        for (name, value) in &extensions {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) || name == "auth" {
                return Err(format!(
                    "SASL extension name {name:?} is not letters only, or is the reserved `auth`"
                ));
            }
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Err(format!(
                    "SASL extension {name}'s value is empty or not printable ASCII"
                ));
            }
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// The refresh rules.
    pub fn refresh(&self) -> RefreshConfig {
        self.refresh
    }

    /// The SASL extensions sent with the token.
    pub fn extensions(&self) -> &[(String, String)] {
        &self.extensions
    }

    /// A token to send at `now`: the cached one until its refresh time,
    /// else a new one from the provider. A token that expired (or expires
    /// before it could be used) is an authentication error.
    pub fn token(&self, now: SystemTime) -> Result<OAuthBearerToken, NetworkError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let token = self.provider.token().map_err(|e| {
            NetworkError::Authentication(format!("the OAUTHBEARER token provider failed: {e}"))
        })?;
        if token.expiry <= now {
            return Err(NetworkError::Authentication(format!(
                "the OAUTHBEARER token provider returned a token for {:?} that has expired",
                token.principal_name
            )));
        }
        let start = token.start_time.unwrap_or(now).min(now);
        let mut random = [0u8; 4];
        // Without randomness the jitter is just left out.
        let _ = getrandom::fill(&mut random);
        let random = f64::from(u32::from_le_bytes(random)) / (f64::from(u32::MAX) + 1.0);
        let refresh_at = self.refresh.refresh_time(start, token.expiry, random);
        tracing::debug!(
            principal = %token.principal_name,
            lifetime_s = token.expiry.duration_since(start).unwrap_or_default().as_secs(),
            refresh_in_s = refresh_at.duration_since(now).unwrap_or_default().as_secs(),
            "new OAUTHBEARER token"
        );
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }
}

impl PartialEq for OAuthBearerLogin {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.provider, &other.provider)
            && self.refresh == other.refresh
            && self.extensions == other.extensions
    }
}

impl Eq for OAuthBearerLogin {}

impl fmt::Debug for OAuthBearerLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerLogin")
            .field("refresh", &self.refresh)
            .field(
                "extensions",
                &self.extensions.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The client's initial response (RFC 7628 section 3.1, as Kafka's
/// `OAuthBearerClientInitialResponse`): GS2 header without authzid, then
/// `auth=Bearer <token>` and the extensions, each ended by `\x01`, and a
/// final `\x01`. Zeroed on drop: it holds the token.
pub fn client_initial_response(token: &str, extensions: &[(String, String)]) -> Zeroizing<Vec<u8>> {
    let mut msg = Zeroizing::new(Vec::with_capacity(32 + token.len()));
    msg.extend_from_slice(b"n,,\x01auth=Bearer ");
    msg.extend_from_slice(token.as_bytes());
    for (name, value) in extensions {
        msg.push(1);
        msg.extend_from_slice(name.as_bytes());
        msg.push(b'=');
        msg.extend_from_slice(value.as_bytes());
    }
    msg.extend_from_slice(b"\x01\x01");
    msg
}

/// A claim of an unsecured token.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A JSON string.
    String(String),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON array of strings.
    List(Vec<String>),
}

/// Unsecured tokens (JWS with `{"alg":"none"}` and an empty signature), as
/// Java's `OAuthBearerUnsecuredLoginCallbackHandler` makes them for tests
/// and development. Brokers accept them only with their unsecured
/// validator, never in production.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsecuredJwsProvider {
    /// The claim naming the principal (`unsecuredLoginPrincipalClaimName`,
    /// default `sub`).
    pub principal_claim_name: String,
    /// The claim holding the scope (`unsecuredLoginScopeClaimName`, default
    /// `scope`).
    pub scope_claim_name: String,
    /// `exp - iat` (`unsecuredLoginLifetimeSeconds`, default 3600 s).
    pub lifetime: Duration,
    /// Further claims, in order (`unsecuredLogin{String,Number,List}Claim_<name>`).
    pub claims: Vec<(String, Claim)>,
    /// SASL extensions (`unsecuredLoginExtension_<name>`).
    pub extensions: Vec<(String, String)>,
}

impl UnsecuredJwsProvider {
    /// A provider whose tokens name `principal` in the `sub` claim.
    pub fn new(principal: &str) -> Self {
        UnsecuredJwsProvider {
            principal_claim_name: "sub".to_string(),
            scope_claim_name: "scope".to_string(),
            lifetime: Duration::from_secs(3600),
            claims: vec![("sub".to_string(), Claim::String(principal.to_string()))],
            extensions: Vec::new(),
        }
    }

    /// From the options of Java's `OAuthBearerLoginModule` in
    /// `sasl.jaas.config`: `unsecuredLoginStringClaim_<name>`,
    /// `unsecuredLoginNumberClaim_<name>`, `unsecuredLoginListClaim_<name>`
    /// (the value's first character separates the items),
    /// `unsecuredLoginExtension_<name>`, `unsecuredLoginPrincipalClaimName`,
    /// `unsecuredLoginScopeClaimName`, `unsecuredLoginLifetimeSeconds`.
    /// Other options are ignored; the principal claim must be given.
    pub fn from_jaas_options(options: &[(String, String)]) -> Result<Self, String> {
        let mut p = UnsecuredJwsProvider::new("");
        p.claims.clear();
        for (key, value) in options {
            let claim = |prefix: &str| key.strip_prefix(prefix).map(str::to_string);
            if let Some(name) = claim("unsecuredLoginStringClaim_") {
                p.claims.push((name, Claim::String(value.clone())));
            } else if let Some(name) = claim("unsecuredLoginNumberClaim_") {
                let n: serde_json::Number = value.trim().parse().map_err(|_| {
                    format!("unsecuredLoginNumberClaim_{name}: {value:?} is not a number")
                })?;
                p.claims.push((name, Claim::Number(n)));
            } else if let Some(name) = claim("unsecuredLoginListClaim_") {
                let mut chars = value.chars();
                let items = match chars.next() {
                    Some(sep) => chars
                        .as_str()
                        .split(sep)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    None => Vec::new(),
                };
                p.claims.push((name, Claim::List(items)));
            } else if let Some(name) = claim("unsecuredLoginExtension_") {
                p.extensions.push((name, value.clone()));
            } else if key == "unsecuredLoginPrincipalClaimName" {
                p.principal_claim_name = value.trim().to_string();
            } else if key == "unsecuredLoginScopeClaimName" {
                p.scope_claim_name = value.trim().to_string();
            } else if key == "unsecuredLoginLifetimeSeconds" {
                let s: u64 = value.trim().parse().map_err(|_| {
                    format!("unsecuredLoginLifetimeSeconds: {value:?} is not a whole number")
                })?;
                p.lifetime = Duration::from_secs(s);
            }
        }
        p.check()?;
        Ok(p)
    }

    /// From librdkafka's `sasl.oauthbearer.config` (with
    /// `enable.sasl.oauthbearer.unsecure.jwt=true`): blank-separated
    /// `principal=`, `principalClaimName=`, `scopeClaimName=`, `scope=`
    /// (comma-separated), `lifeSeconds=` and `extension_<name>=`.
    pub fn from_librdkafka_config(config: &str) -> Result<Self, String> {
        let mut p = UnsecuredJwsProvider::new("");
        p.claims.clear();
        let mut principal = None;
        let mut scope = None;
        for item in config.split_whitespace() {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not key=value"))?;
            match key {
                "principal" => principal = Some(value.to_string()),
                "principalClaimName" => p.principal_claim_name = value.to_string(),
                "scopeClaimName" => p.scope_claim_name = value.to_string(),
                "scope" => {
                    scope = Some(
                        value
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                    )
                }
                "lifeSeconds" => {
                    let s: u64 = value
                        .parse()
                        .map_err(|_| format!("lifeSeconds={value:?} is not a whole number"))?;
                    p.lifetime = Duration::from_secs(s);
                }
                k => match k.strip_prefix("extension_") {
                    Some(name) => p.extensions.push((name.to_string(), value.to_string())),
                    None => return Err(format!("unknown key {k:?}")),
                },
            }
        }
        let principal = principal.ok_or("principal=<name> is missing")?;
        p.claims
            .push((p.principal_claim_name.clone(), Claim::String(principal)));
        if let Some(scope) = scope {
            p.claims
                .push((p.scope_claim_name.clone(), Claim::List(scope)));
        }
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<(), String> {
        for (name, _) in &self.claims {
            if name == "iat" || name == "exp" {
                return Err(format!(
                    "the {name} claim is set from the time and unsecuredLoginLifetimeSeconds"
                ));
            }
        }
        match self.claim(&self.principal_claim_name) {
            Some(Claim::String(s)) if !s.trim().is_empty() => {}
            _ => {
                return Err(format!(
                    "the principal claim {:?} (a non-empty string claim, e.g. \
                     unsecuredLoginStringClaim_sub) is missing",
                    self.principal_claim_name
                ))
            }
        }
        if self.lifetime.is_zero() {
            return Err("the token lifetime is 0".to_string());
        }
        Ok(())
    }

    fn claim(&self, name: &str) -> Option<&Claim> {
        self.claims.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// The token as of `now`: `base64url({"alg":"none"}) . base64url(claims) .`
    /// with `iat` = `now` and `exp` = `now + lifetime`, in whole seconds.
    pub fn token_at(&self, now: SystemTime) -> Result<OAuthBearerToken, String> {
        self.check()?;
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_string())?
            .as_secs();
        let exp = iat.saturating_add(self.lifetime.as_secs());
        let mut claims = serde_json::Map::new();
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        for (name, claim) in &self.claims {
            let v = match claim {
                Claim::String(s) => serde_json::Value::String(s.clone()),
                Claim::Number(n) => serde_json::Value::Number(n.clone()),
                Claim::List(l) => l.clone().into(),
            };
            claims.insert(name.clone(), v);
        }
        let header = BASE64URL.encode(br#"{"alg":"none"}"#);
        let payload = BASE64URL.encode(serde_json::Value::Object(claims).to_string());
        let principal = match self.claim(&self.principal_claim_name) {
            Some(Claim::String(s)) => s.clone(),
            _ => String::new(),
        };
        Ok(OAuthBearerToken {
            value: format!("{header}.{payload}.").into(),
            principal_name: principal,
            start_time: Some(UNIX_EPOCH + Duration::from_secs(iat)),
            expiry: UNIX_EPOCH + Duration::from_secs(exp),
        })
    }

    /// A login with this provider and its extensions.
    pub fn into_login(self) -> Result<OAuthBearerLogin, String> {
        let extensions = self.extensions.clone();
        OAuthBearerLogin::new(Arc::new(self)).with_extensions(extensions)
    }
}

impl OAuthBearerTokenProvider for UnsecuredJwsProvider {
    fn token(&self) -> Result<OAuthBearerToken, String> {
        self.token_at(SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&BASE64URL.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn initial_response_is_rfc7628() {
        assert_eq!(
            &client_initial_response("abc.def.", &[])[..],
            b"n,,\x01auth=Bearer abc.def.\x01\x01"
        );
        let ext = vec![
            ("traceId".to_string(), "123".to_string()),
            ("logicalCluster".to_string(), "lkc-1".to_string()),
        ];
        assert_eq!(
            &client_initial_response("t", &ext)[..],
            b"n,,\x01auth=Bearer t\x01traceId=123\x01logicalCluster=lkc-1\x01\x01"
        );
    }

    #[test]
    fn unsecured_token_has_alg_none_claims_and_an_empty_signature() {
        let p = UnsecuredJwsProvider::from_jaas_options(&opts(&[
            ("unsecuredLoginStringClaim_sub", "alice"),
            ("unsecuredLoginListClaim_scope", ",read,write"),
            ("unsecuredLoginNumberClaim_level", "3"),
            ("unsecuredLoginLifetimeSeconds", "600"),
            ("unsecuredLoginExtension_traceId", "t1"),
        ]))
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        let t = p.token_at(now).unwrap();
        let parts: Vec<&str> = t.value.as_str().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "empty signature");
        assert_eq!(decode(parts[0]), serde_json::json!({"alg": "none"}));
        assert_eq!(
            decode(parts[1]),
            serde_json::json!({
                "iat": 1_700_000_000u64, "exp": 1_700_000_600u64,
                "sub": "alice", "scope": ["read", "write"], "level": 3
            })
        );
        assert!(
            !parts[0].contains('=') && !parts[1].contains('='),
            "no padding"
        );
        assert_eq!(t.principal_name, "alice");
        assert_eq!(t.expiry, UNIX_EPOCH + Duration::from_secs(1_700_000_600));
        assert_eq!(p.extensions, opts(&[("traceId", "t1")]));
        // The token never shows in Debug.
        assert!(!format!("{t:?}").contains(parts[1]));
    }

    #[test]
    fn unsecured_options_are_checked() {
        for (bad, why) in [
            (opts(&[]), "principal claim"),
            (opts(&[("unsecuredLoginStringClaim_exp", "1")]), "exp"),
            (
                opts(&[
                    ("unsecuredLoginStringClaim_sub", "a"),
                    ("unsecuredLoginNumberClaim_n", "x"),
                ]),
                "not a number",
            ),
            (
                opts(&[
                    ("unsecuredLoginStringClaim_sub", "a"),
                    ("unsecuredLoginLifetimeSeconds", "soon"),
                ]),
                "LifetimeSeconds",
            ),
            (
                opts(&[
                    ("unsecuredLoginStringClaim_user", "a"),
                    ("unsecuredLoginPrincipalClaimName", "name"),
                ]),
                "\"name\"",
            ),
        ] {
            let e = UnsecuredJwsProvider::from_jaas_options(&bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let p = UnsecuredJwsProvider::from_jaas_options(&opts(&[
            ("unsecuredLoginStringClaim_user", "a"),
            ("unsecuredLoginPrincipalClaimName", "user"),
        ]))
        .unwrap();
        assert_eq!(p.token_at(SystemTime::now()).unwrap().principal_name, "a");
    }

    #[test]
    fn librdkafka_unsecured_config() {
        let p = UnsecuredJwsProvider::from_librdkafka_config(
            "principal=bob scope=a,b lifeSeconds=60 extension_traceId=x",
        )
        .unwrap();
        let t = p.token_at(UNIX_EPOCH + Duration::from_secs(1000)).unwrap();
        let payload = decode(t.value.as_str().split('.').nth(1).unwrap());
        assert_eq!(
            payload,
            serde_json::json!({"iat": 1000, "exp": 1060, "sub": "bob", "scope": ["a", "b"]})
        );
        assert_eq!(p.extensions, opts(&[("traceId", "x")]));
        assert!(UnsecuredJwsProvider::from_librdkafka_config("scope=a").is_err());
        assert!(UnsecuredJwsProvider::from_librdkafka_config("principal=a nonsense").is_err());
    }

    #[test]
    fn refresh_time_follows_javas_rules() {
        let r = RefreshConfig::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        // One hour: 80 % (+ up to 5 % jitter) is before the 5 min buffer.
        assert_eq!(r.refresh_time(t0, s(3600), 0.0), s(2880));
        assert_eq!(r.refresh_time(t0, s(3600), 0.5), s(2970));
        // 20 min: 80 % = 16 min leaves less than 5 min: moved to 15 min.
        assert_eq!(r.refresh_time(t0, s(1200), 0.0), s(900));
        // 6 min: the buffer would mean 1 min, which the minimum period allows.
        assert_eq!(r.refresh_time(t0, s(360), 0.0), s(60));
        // 2 min: shorter than min period + buffer: 80 % of it.
        assert_eq!(r.refresh_time(t0, s(120), 0.0), s(96));
    }

    #[test]
    fn login_caches_until_the_refresh_time_and_refuses_expired_tokens() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let login = OAuthBearerLogin::new(Arc::new(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Ok(OAuthBearerToken {
                value: format!("token-{n}").into(),
                principal_name: "p".into(),
                start_time: Some(t0),
                expiry: t0 + Duration::from_secs(3600),
            })
        }));
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(login.token(at(0)).unwrap().value.as_str(), "token-0");
        assert_eq!(login.token(at(2000)).unwrap().value.as_str(), "token-0");
        // Past 80-85 % of the hour: a new token.
        assert_eq!(login.token(at(3100)).unwrap().value.as_str(), "token-1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // The provider's token has expired by then: refused, not sent.
        let e = login.token(at(4000)).unwrap_err();
        assert!(
            e.is_authentication_failure() && e.to_string().contains("expired"),
            "{e}"
        );

        let failing = OAuthBearerLogin::new(Arc::new(|| Err("no token service".to_string())));
        let e = failing.token(at(0)).unwrap_err().to_string();
        assert!(e.contains("no token service"), "{e}");
    }

    #[test]
    fn extensions_are_checked() {
        let login = OAuthBearerLogin::new(Arc::new(UnsecuredJwsProvider::new("a")));
        assert!(login
            .clone()
            .with_extensions(opts(&[("auth", "x")]))
            .is_err());
        assert!(login.clone().with_extensions(opts(&[("a1", "x")])).is_err());
        assert!(login
            .clone()
            .with_extensions(opts(&[("a", "\u{1}")]))
            .is_err());
        assert!(login.with_extensions(opts(&[("traceId", "a b")])).is_ok());
    }
}
