//! TLS settings and the rustls client configuration built from them.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::sasl::Password;
use crate::NetworkError;

mod client_auth;

pub use client_auth::{ClientCertificate, PemSource};

/// TLS settings (`ssl.*`).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// `ssl.ca.location`: a PEM file of CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// CA certificates in PEM, given inline.
    pub ca_pem: Option<String>,
    /// `ssl.endpoint.identification.algorithm=https`: check that the
    /// certificate names the host connected to (default). The chain is always
    /// verified.
    pub verify_hostname: bool,
    /// `ssl.truststore.location` with `ssl.truststore.type=PKCS12` and
    /// `ssl.truststore.password`: trust the certificates of this store.
    pub truststore_pkcs12: Option<(PathBuf, Password)>,
    /// Mutual TLS: the certificate and key to present (`ssl.keystore.*`,
    /// `ssl.certificate.location` + `ssl.key.location`).
    pub client_certificate: Option<ClientCertificate>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_file: None,
            ca_pem: None,
            verify_hostname: true,
            truststore_pkcs12: None,
            client_certificate: None,
        }
    }
}

fn tls_config_error(message: impl Into<String>) -> NetworkError {
    NetworkError::Config(message.into())
}

impl TlsConfig {
    /// The rustls client configuration: the given CAs (or, with none given,
    /// the Mozilla root set), TLS 1.2 and 1.3, and the client certificate
    /// if one is configured. Files are read here: errors name the setting.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, NetworkError> {
        let mut roots = RootCertStore::empty();
        let mut custom = false;
        if let Some(path) = &self.ca_file {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| tls_config_error(format!("ssl.ca.location {}: {e}", path.display())))?
            {
                let cert = cert.map_err(|e| {
                    tls_config_error(format!("ssl.ca.location {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    tls_config_error(format!("ssl.ca.location {}: {e}", path.display()))
                })?;
                custom = true;
            }
        }
        if let Some(pem) = &self.ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| tls_config_error(format!("CA PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| tls_config_error(format!("CA PEM: {e}")))?;
                custom = true;
            }
        }
        if let Some((path, password)) = &self.truststore_pkcs12 {
            for cert in client_auth::pkcs12_trusted_certificates(path, password)? {
                roots.add(cert).map_err(|e| {
                    tls_config_error(format!("ssl.truststore.location {}: {e}", path.display()))
                })?;
                custom = true;
            }
        }
        if !custom {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if roots.is_empty() {
            return Err(tls_config_error("no CA certificate found to trust"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_config_error(format!("TLS: {e}")))?;
        let roots = Arc::new(roots);
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| tls_config_error(format!("TLS: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostnameVerifier(inner)))
        };
        let config = match &self.client_certificate {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = identity.load()?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    tls_config_error(format!(
                        "the client certificate and its private key cannot be used: {e}"
                    ))
                })?
            }
        };
        Ok(Arc::new(config))
    }
}

/// The server name to present and verify for `host`.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, NetworkError> {
    ServerName::try_from(host.to_string())
        .map_err(|e| tls_config_error(format!("TLS server name {host:?}: {e}")))
}

/// Verifies the chain but not the host name
/// (`ssl.endpoint.identification.algorithm=""`).
#[derive(Debug)]
struct NoHostnameVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_and_bad_ca_files() {
        assert!(TlsConfig::default().client_config().is_ok());
        let bad = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(matches!(bad.client_config(), Err(NetworkError::Config(_))));
        let garbage = TlsConfig {
            ca_pem: Some(
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            ),
            ..Default::default()
        };
        assert!(garbage.client_config().is_err());
        assert!(server_name("localhost").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
    }
}
