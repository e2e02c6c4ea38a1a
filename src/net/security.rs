//! How connections are secured: `security.protocol`, and the [`Secret`] type that keeps passwords
//! and tokens out of `Debug`, logs and errors.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::sasl::SaslConfig;
use super::tls::TlsConfig;
use crate::error::{Error, ErrorKind, Result};

/// `security.protocol`: what a connection does between TCP and the first Kafka request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no SASL (Kafka's default).
    #[default]
    Plaintext,
    /// TLS; the broker may ask for a client certificate (mutual TLS).
    Ssl,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// SASL authentication over TLS (Confluent Cloud, MSK with IAM/SCRAM, Aiven, ...).
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses the librdkafka/Java name (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`; any case).
    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// The property value: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A password, key password or token: its `Debug` and `Display` print `[redacted]`, and its memory
/// is zeroed when it is dropped. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Arc::new(Zeroizing::new(value.into())))
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything about securing connections: the protocol, TLS settings and SASL credentials.
///
/// Set through [`crate::ConsumerBuilder`] (typed methods or librdkafka-style properties) or built
/// directly for [`super::NetConfig`]. Its `Debug` never prints a secret.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// TLS settings, used with [`SecurityProtocol::Ssl`] and [`SecurityProtocol::SaslSsl`].
    pub tls: TlsConfig,
    /// SASL settings, used with [`SecurityProtocol::SaslPlaintext`] and
    /// [`SecurityProtocol::SaslSsl`].
    pub sasl: SaslConfig,
}

impl SecurityConfig {
    /// Checks the settings as a whole and prepares what connections need (loads certificates and
    /// keys, builds the TLS configuration), so that a mistake fails here and not at the first
    /// connection. Reads local files only; no network I/O.
    pub fn validate(&self) -> Result<()> {
        if self.protocol.uses_tls() {
            self.tls.client_config()?;
        } else if self.tls.is_configured() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "ssl.* settings are given but security.protocol is {}; set security.protocol=SSL or SASL_SSL to use TLS",
                    self.protocol
                ),
            ));
        }
        if self.protocol.uses_sasl() {
            self.sasl.validate()?;
        } else if self.sasl.is_configured() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "sasl.* settings are given but security.protocol is {}; set security.protocol=SASL_SSL (or SASL_PLAINTEXT) to authenticate with SASL",
                    self.protocol
                ),
            ));
        }
        Ok(())
    }
}
