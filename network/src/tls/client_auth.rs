//! The client's own certificate for mutual TLS (`ssl.keystore.*`,
//! `ssl.certificate.location` / `ssl.key.location`), and PKCS#12 trust
//! stores. PEM goes through rustls-pki-types, encrypted PKCS#8 keys through
//! the `pkcs8` crate, PKCS#12 files through `p12-keystore`: no parser here.

use std::fmt;
use std::path::{Path, PathBuf};

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use pkcs8::der::SecretDocument;
use pkcs8::EncryptedPrivateKeyInfo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::sasl::Password;
use crate::NetworkError;

/// Where PEM text comes from: a file, or the text itself (kept as a secret
/// since it may hold a private key).
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A PEM file.
    File(PathBuf),
    /// PEM text given in the configuration.
    Inline(Password),
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => f.debug_tuple("File").field(p).finish(),
            PemSource::Inline(_) => f.write_str("Inline([hidden])"),
        }
    }
}

/// The certificate chain and private key the client presents when the
/// broker asks for one (`ssl.client.auth=required` on the broker).
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCertificate {
    /// A PEM certificate chain (leaf first) and a PEM private key: PKCS#8
    /// (`PRIVATE KEY`), PKCS#8 encrypted with `key_password`
    /// (`ENCRYPTED PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`). Both may be the same file.
    Pem {
        /// `ssl.keystore.certificate.chain`, `ssl.certificate.location`.
        certificate_chain: PemSource,
        /// `ssl.keystore.key`, `ssl.key.location`.
        private_key: PemSource,
        /// `ssl.key.password`: decrypts an encrypted PKCS#8 key.
        key_password: Option<Password>,
    },
    /// A PKCS#12 keystore (`ssl.keystore.location`, `ssl.keystore.password`)
    /// holding one private key with its chain.
    Pkcs12 {
        /// The keystore file.
        path: PathBuf,
        /// Its password (also the key's).
        password: Password,
    },
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCertificate::Pem {
                certificate_chain,
                private_key,
                key_password,
            } => f
                .debug_struct("Pem")
                .field("certificate_chain", certificate_chain)
                .field("private_key", private_key)
                .field("key_password", &key_password.as_ref().map(|_| "[hidden]"))
                .finish(),
            ClientCertificate::Pkcs12 { path, .. } => f
                .debug_struct("Pkcs12")
                .field("path", path)
                .field("password", &"[hidden]")
                .finish(),
        }
    }
}

fn config_error(message: String) -> NetworkError {
    NetworkError::Config(message)
}

/// The bytes of `source`; `key` names the setting in errors.
fn read_pem(source: &PemSource, key: &str) -> Result<Zeroizing<Vec<u8>>, NetworkError> {
    match source {
        PemSource::File(path) => std::fs::read(path)
            .map(Zeroizing::new)
            .map_err(|e| config_error(format!("{key} {}: {e}", path.display()))),
        PemSource::Inline(text) => Ok(Zeroizing::new(text.as_str().as_bytes().to_vec())),
    }
}

fn describe(source: &PemSource, key: &str) -> String {
    match source {
        PemSource::File(path) => format!("{key} {}", path.display()),
        PemSource::Inline(_) => key.to_string(),
    }
}

impl ClientCertificate {
    /// Loads the chain and key, or a configuration error naming the setting
    /// and the file (never a password or key material).
    pub fn load(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), NetworkError> {
        match self {
            ClientCertificate::Pem {
                certificate_chain,
                private_key,
                key_password,
            } => {
                let chain_key = "ssl.keystore.certificate.chain / ssl.certificate.location";
                let what = describe(certificate_chain, chain_key);
                let pem = read_pem(certificate_chain, chain_key)?;
                let chain = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| config_error(format!("{what}: {e}")))?;
                if chain.is_empty() {
                    return Err(config_error(format!("{what}: no CERTIFICATE found")));
                }
                let key_key = "ssl.keystore.key / ssl.key.location";
                let key = pem_private_key(
                    &read_pem(private_key, key_key)?,
                    key_password.as_ref(),
                    &describe(private_key, key_key),
                )?;
                Ok((chain, key))
            }
            ClientCertificate::Pkcs12 { path, password } => {
                let what = format!("ssl.keystore.location {}", path.display());
                let store = read_pkcs12(path, password, &what)?;
                let (_, entry) = store.private_key_chain().ok_or_else(|| {
                    config_error(format!(
                        "{what}: no private key with its certificate chain in the keystore"
                    ))
                })?;
                let chain: Vec<CertificateDer<'static>> = entry
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect();
                if chain.is_empty() {
                    return Err(config_error(format!(
                        "{what}: the private key has no certificate"
                    )));
                }
                let key =
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().as_der().to_vec()));
                Ok((chain, key))
            }
        }
    }
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key in `pem` (which may also hold certificates).
fn pem_private_key(
    pem: &[u8],
    password: Option<&Password>,
    what: &str,
) -> Result<PrivateKeyDer<'static>, NetworkError> {
    let text = String::from_utf8_lossy(pem);
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let end = text[start..]
            .find(ENCRYPTED_END)
            .map(|e| start + e + ENCRYPTED_END.len())
            .ok_or_else(|| config_error(format!("{what}: unterminated {ENCRYPTED_BEGIN}")))?;
        let password = password.ok_or_else(|| {
            config_error(format!(
                "{what}: the private key is encrypted; set ssl.key.password"
            ))
        })?;
        let (_, document) = SecretDocument::from_pem(&text[start..end])
            .map_err(|e| config_error(format!("{what}: encrypted private key: {e}")))?;
        let info = EncryptedPrivateKeyInfo::try_from(document.as_bytes())
            .map_err(|e| config_error(format!("{what}: encrypted private key: {e}")))?;
        let key = info.decrypt(password.as_str()).map_err(|e| {
            config_error(format!(
                "{what}: cannot decrypt the private key with ssl.key.password ({e})"
            ))
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(config_error(format!(
            "{what}: legacy OpenSSL-encrypted keys are not supported; convert the key to \
             encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)"
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        config_error(format!(
            "{what}: no usable private key (PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY \
             or EC PRIVATE KEY): {e}"
        ))
    })
}

/// A PKCS#12 file opened with `password`.
fn read_pkcs12(path: &Path, password: &Password, what: &str) -> Result<KeyStore, NetworkError> {
    let data = std::fs::read(path).map_err(|e| config_error(format!("{what}: {e}")))?;
    KeyStore::from_pkcs12(&data, password.as_str(), Pkcs12ImportPolicy::Relaxed).map_err(|e| {
        config_error(format!(
            "{what}: not a PKCS#12 keystore that this password opens ({e}); JKS keystores are \
             not supported: convert with keytool -importkeystore -deststoretype PKCS12"
        ))
    })
}

/// The certificates of a PKCS#12 trust store (`ssl.truststore.location`
/// with `ssl.truststore.type=PKCS12`).
pub(crate) fn pkcs12_trusted_certificates(
    path: &Path,
    password: &Password,
) -> Result<Vec<CertificateDer<'static>>, NetworkError> {
    let what = format!("ssl.truststore.location {}", path.display());
    let store = read_pkcs12(path, password, &what)?;
    let mut certs = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            KeyStoreEntry::Certificate(c) => certs.push(CertificateDer::from(c.as_der().to_vec())),
            KeyStoreEntry::PrivateKeyChain(chain) => certs.extend(
                chain
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec())),
            ),
            KeyStoreEntry::Secret(_) => {}
        }
    }
    if certs.is_empty() {
        return Err(config_error(format!(
            "{what}: no certificate in the trust store"
        )));
    }
    Ok(certs)
}
