//! TLS for broker connections: rustls with a pure-Rust crypto provider.
//!
//! The provider is, in order: one the application passes ([`TlsConfig::crypto_provider`]), the
//! process-wide default the application installed with rustls'
//! `CryptoProvider::install_default`, else [rustls-graviola] (pure Rust with assembly, on x86_64
//! and aarch64). graviola needs AES, carry-less multiply and AVX2 (x86_64, about 2013 on) or
//! AES, PMULL and SHA2 (aarch64); on other CPUs kafkit fails with a configuration error naming
//! the way out (pass a provider) instead of letting graviola panic at first use. An application can
//! also pass a complete `rustls::ClientConfig` ([`TlsConfig::client_config_override`]).
//!
//! Trust comes from `ssl.ca.location` (PEM) or else the Mozilla roots in `webpki-roots`; client
//! certificates and keys are PEM (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with
//! `ssl.key.password`).
//!
//! [rustls-graviola]: https://crates.io/crates/rustls-graviola

mod errors;
mod pem;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;

pub(crate) use errors::{handshake_error, tls_io_error};

use super::security::Secret;
use crate::error::{Error, ErrorKind, Result};

/// TLS settings (`ssl.*`). Cheap to clone; the rustls configuration is built once, on first use
/// (or by [`super::SecurityConfig::validate`]).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// `ssl.ca.location`: a PEM file (or a directory of them) with the CA certificates to trust
    /// instead of the built-in Mozilla roots.
    pub ca_location: Option<PathBuf>,
    /// `ssl.ca.pem`: CA certificates as PEM text.
    pub ca_pem: Option<String>,
    /// `ssl.certificate.location`: the client certificate chain (PEM), for mutual TLS.
    pub certificate_location: Option<PathBuf>,
    /// `ssl.certificate.pem`: the client certificate chain as PEM text.
    pub certificate_pem: Option<String>,
    /// `ssl.key.location`: the client's private key (PEM).
    pub key_location: Option<PathBuf>,
    /// `ssl.key.pem`: the client's private key as PEM text.
    pub key_pem: Option<Secret>,
    /// `ssl.key.password`: decrypts an encrypted PKCS#8 key.
    pub key_password: Option<Secret>,
    /// `ssl.endpoint.identification.algorithm`: `true` (`https`, the default) checks that the
    /// broker's certificate names the host connected to; `false` (`none`) checks the chain only.
    pub verify_hostname: Option<bool>,
    /// A crypto provider to use instead of the built-in one.
    pub provider: Option<Arc<CryptoProvider>>,
    /// A complete rustls configuration to use as is (every other TLS setting is then ignored).
    pub client_config: Option<Arc<ClientConfig>>,
    built: Arc<OnceLock<std::result::Result<Arc<ClientConfig>, Error>>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_location", &self.ca_location)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("certificate_location", &self.certificate_location)
            .field("certificate_pem", &self.certificate_pem.as_ref().map(|_| "<pem>"))
            .field("key_location", &self.key_location)
            .field("key_pem", &self.key_pem)
            .field("key_password", &self.key_password)
            .field("verify_hostname", &self.verify_hostname)
            .field("provider", &self.provider.as_ref().map(|_| "<custom>"))
            .field("client_config", &self.client_config.as_ref().map(|_| "<custom>"))
            .finish()
    }
}

impl TlsConfig {
    /// Trust the CA certificates in this PEM file (or directory of PEM files) — `ssl.ca.location`.
    pub fn ca_location(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_location = Some(path.into());
        self.changed()
    }

    /// Present this client certificate chain and key (PEM files) — `ssl.certificate.location`,
    /// `ssl.key.location`.
    pub fn client_certificate(mut self, certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.certificate_location = Some(certificate.into());
        self.key_location = Some(key.into());
        self.changed()
    }

    /// The password of an encrypted PKCS#8 private key — `ssl.key.password`.
    pub fn key_password(mut self, password: impl Into<Secret>) -> Self {
        self.key_password = Some(password.into());
        self.changed()
    }

    /// Whether to check that the broker's certificate names the host connected to —
    /// `ssl.endpoint.identification.algorithm` (`https`: yes, the default; `none`: no).
    pub fn verify_hostname(mut self, verify: bool) -> Self {
        self.verify_hostname = Some(verify);
        self.changed()
    }

    /// Use `provider` (e.g. rustls' ring or aws-lc-rs provider, or a FIPS one) instead of the
    /// built-in pure-Rust provider.
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self.changed()
    }

    /// Use this rustls configuration as is; every other TLS setting is ignored.
    pub fn client_config_override(mut self, config: Arc<ClientConfig>) -> Self {
        self.client_config = Some(config);
        self.changed()
    }

    /// Forgets a configuration built from older settings.
    pub(crate) fn changed(mut self) -> Self {
        self.built = Arc::default();
        self
    }

    /// Whether any TLS setting was given.
    pub(crate) fn is_configured(&self) -> bool {
        self.ca_location.is_some()
            || self.ca_pem.is_some()
            || self.certificate_location.is_some()
            || self.certificate_pem.is_some()
            || self.key_location.is_some()
            || self.key_pem.is_some()
            || self.key_password.is_some()
            || self.provider.is_some()
            || self.client_config.is_some()
    }

    /// Whether the broker's host name is checked against its certificate.
    pub(crate) fn hostname_verified(&self) -> bool {
        self.verify_hostname.unwrap_or(true)
    }

    /// The rustls configuration for connections, built on first use.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        self.built.get_or_init(|| self.build()).clone()
    }

    fn build(&self) -> Result<Arc<ClientConfig>> {
        if let Some(config) = &self.client_config {
            return Ok(config.clone());
        }
        let provider = self.provider()?;
        let roots = Arc::new(self.roots()?);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                Error::with_source(
                    ErrorKind::Config,
                    "the TLS crypto provider supports no safe TLS version",
                    e,
                )
            })?;
        let builder = if self.hostname_verified() {
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(verify::ChainOnly::new(roots, provider)?)
        };
        let client_auth = self.client_auth()?;
        let mut config = match client_auth {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::with_source(
                    ErrorKind::Config,
                    "the client certificate (ssl.certificate.location) and key (ssl.key.location) cannot be used together",
                    e,
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        // Kafka does not use ALPN; connections are never resumed across brokers by kafkit.
        config.enable_sni = true;
        Ok(Arc::new(config))
    }

    fn provider(&self) -> Result<Arc<CryptoProvider>> {
        if let Some(provider) = &self.provider {
            return Ok(provider.clone());
        }
        if let Some(provider) = CryptoProvider::get_default() {
            return Ok(provider.clone());
        }
        builtin_provider()
    }

    fn roots(&self) -> Result<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        let mut given = Vec::new();
        if let Some(path) = &self.ca_location {
            given.extend(pem::certificates_at(path, "ssl.ca.location")?);
        }
        if let Some(text) = &self.ca_pem {
            given.extend(pem::certificates(text.as_bytes(), "ssl.ca.pem")?);
        }
        if given.is_empty() && self.ca_location.is_none() && self.ca_pem.is_none() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            return Ok(roots);
        }
        let (added, ignored) = roots.add_parsable_certificates(given);
        if added == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "ssl.ca.location holds no usable CA certificate ({ignored} could not be parsed as X.509)"
                ),
            ));
        }
        Ok(roots)
    }

    fn client_auth(
        &self,
    ) -> Result<
        Option<(
            Vec<rustls_pki_types::CertificateDer<'static>>,
            rustls_pki_types::PrivateKeyDer<'static>,
        )>,
    > {
        let chain = match (&self.certificate_location, &self.certificate_pem) {
            (Some(path), _) => Some(pem::certificates_at(path, "ssl.certificate.location")?),
            (None, Some(text)) => Some(pem::certificates(text.as_bytes(), "ssl.certificate.pem")?),
            (None, None) => None,
        };
        let key = match (&self.key_location, &self.key_pem) {
            (Some(path), _) => Some(pem::private_key_at(path, self.key_password.as_ref())?),
            (None, Some(text)) => Some(pem::private_key(
                text.expose().as_bytes(),
                "ssl.key.pem",
                self.key_password.as_ref(),
            )?),
            (None, None) => None,
        };
        match (chain, key) {
            (Some(chain), Some(key)) => {
                if chain.is_empty() {
                    return Err(Error::new(
                        ErrorKind::Config,
                        "ssl.certificate.location holds no certificate",
                    ));
                }
                Ok(Some((chain, key)))
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::new(
                ErrorKind::Config,
                "ssl.certificate.location is set but ssl.key.location is not: mutual TLS needs both",
            )),
            (None, Some(_)) => Err(Error::new(
                ErrorKind::Config,
                "ssl.key.location is set but ssl.certificate.location is not: mutual TLS needs both",
            )),
        }
    }
}

/// rustls-graviola, after checking that this CPU has the instructions it needs.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn builtin_provider() -> Result<Arc<CryptoProvider>> {
    if !graviola::util::is_cpu_supported() {
        let needs = if cfg!(target_arch = "x86_64") {
            "AES-NI, PCLMULQDQ, BMI1, ADX, AVX and AVX2"
        } else {
            "NEON, AES, PMULL and SHA2"
        };
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "this CPU lacks instructions that kafkit's built-in TLS provider (rustls-graviola) needs ({needs}); \
                 pass another rustls CryptoProvider, e.g. ring's, with TlsConfig::crypto_provider \
                 (ConsumerBuilder::tls_crypto_provider) or install one as rustls' process default"
            ),
        ));
    }
    Ok(Arc::new(rustls_graviola::default_provider()))
}

/// No built-in provider on this architecture (graviola supports x86_64 and aarch64 only).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn builtin_provider() -> Result<Arc<CryptoProvider>> {
    Err(Error::new(
        ErrorKind::Config,
        "kafkit has no built-in TLS provider for this architecture (rustls-graviola supports x86_64 and aarch64); \
         pass a rustls CryptoProvider (e.g. ring's) with TlsConfig::crypto_provider or install one as rustls' process default",
    ))
}

#[cfg(test)]
mod tests;
