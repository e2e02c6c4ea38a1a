//! Building the rustls configuration from `ssl.*` settings.

use super::*;

#[test]
fn default_trusts_the_webpki_roots_with_the_builtin_provider() {
    let config = TlsConfig::default().client_config().unwrap();
    assert!(config.crypto_provider().cipher_suites.len() >= 3);
}

#[test]
fn missing_files_are_config_errors_naming_the_key() {
    let err = TlsConfig::default()
        .ca_location("/nonexistent/ca.pem")
        .client_config()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("ssl.ca.location"), "{err}");
}

#[test]
fn debug_never_prints_the_key_password() {
    let config = TlsConfig::default().key_password("pa55word-xyz");
    let debug = format!("{config:?}");
    assert!(!debug.contains("pa55word"), "{debug}");
}
