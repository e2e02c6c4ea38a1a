//! TLS failures as kafkit errors that say what is wrong and what to do.
//!
//! Certificate rejections, either way (kafkit rejects the broker's certificate, or the broker
//! rejects kafkit's), are [`ErrorKind::Authentication`]: retrying cannot fix them. Handshakes that
//! fail because the peer does not speak TLS (a PLAINTEXT listener) or shares no protocol version
//! or cipher suite are [`ErrorKind::Tls`].

use std::io;

use rustls::{AlertDescription, CertificateError};

use crate::error::{Error, ErrorKind};

/// The rustls error inside an I/O error from tokio-rustls, if there is one.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A failed TLS handshake with `host`.
pub(crate) fn handshake_error(e: io::Error, host: &str) -> Error {
    if let Some(error) = rustls_error(&e) {
        return from_rustls(error, host, true);
    }
    if matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    ) {
        return Error::with_source(
            ErrorKind::Tls,
            "the broker closed the connection during the TLS handshake: is this a PLAINTEXT or SASL_PLAINTEXT \
             listener? (security.protocol is SSL or SASL_SSL; use the listener's protocol)",
            e,
        );
    }
    Error::with_source(ErrorKind::Connect, "the TLS handshake failed", e)
}

/// An I/O error on an established TLS connection, if it carries a TLS alert or rustls error
/// (for example the broker rejecting kafkit's client certificate after a TLS 1.3 handshake).
pub(crate) fn tls_io_error(e: &io::Error, host: &str) -> Option<Error> {
    rustls_error(e).map(|error| from_rustls(error, host, false))
}

fn from_rustls(error: &rustls::Error, host: &str, handshake: bool) -> Error {
    let (kind, message) = match error {
        rustls::Error::InvalidCertificate(cert) => (ErrorKind::Authentication, certificate_message(cert, host)),
        rustls::Error::AlertReceived(alert) => alert_message(*alert),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } if handshake => (
            ErrorKind::Tls,
            "the broker did not answer with TLS: is this a PLAINTEXT or SASL_PLAINTEXT listener? \
             (security.protocol is SSL or SASL_SSL; use the listener's protocol)"
                .to_owned(),
        ),
        rustls::Error::PeerIncompatible(_) => (
            ErrorKind::Tls,
            "the broker and kafkit share no TLS version or cipher suite (kafkit speaks TLS 1.2 and 1.3 with AES-GCM \
             and ChaCha20-Poly1305)"
                .to_owned(),
        ),
        _ => (ErrorKind::Tls, "TLS failed".to_owned()),
    };
    Error::with_source(kind, message, error.clone())
}

fn certificate_message(cert: &CertificateError, host: &str) -> String {
    let what = match cert {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "has expired".to_owned(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "is not valid yet (check the clocks)".to_owned()
        }
        CertificateError::UnknownIssuer => {
            "is not signed by a trusted CA (set ssl.ca.location to the PEM file of the CA that signed it)"
                .to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
            "does not name the host {host:?} (connect with a name the certificate lists, or set \
             ssl.endpoint.identification.algorithm=none to check the chain only)"
        ),
        CertificateError::BadSignature => "has a bad signature".to_owned(),
        CertificateError::Revoked => "has been revoked".to_owned(),
        other => format!("is invalid ({other:?})"),
    };
    format!("the broker's TLS certificate {what}")
}

fn alert_message(alert: AlertDescription) -> (ErrorKind, String) {
    match alert {
        AlertDescription::BadCertificate
        | AlertDescription::CertificateRequired
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateRevoked
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::AccessDenied => (
            ErrorKind::Authentication,
            format!(
                "the broker rejected the TLS connection ({alert:?}): it requires a client certificate it trusts; \
                 set ssl.certificate.location and ssl.key.location to one signed by a CA in the broker's truststore"
            ),
        ),
        AlertDescription::ProtocolVersion
        | AlertDescription::HandshakeFailure
        | AlertDescription::InsufficientSecurity => (
            ErrorKind::Tls,
            format!(
                "the broker refused the TLS handshake ({alert:?}): no TLS version or cipher suite in common \
                 (kafkit speaks TLS 1.2 and 1.3)"
            ),
        ),
        other => (ErrorKind::Tls, format!("the broker sent the TLS alert {other:?}")),
    }
}
