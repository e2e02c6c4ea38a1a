//! The mechanisms' driver: message shapes, error texts, re-authentication timing.

use std::time::Duration;

use super::*;

#[test]
fn reauth_happens_between_85_and_95_percent_and_before_the_lead() {
    let hour = Duration::from_secs(3600);
    for random in 0..200 {
        let d = reauth_delay(hour, Duration::from_secs(1), random);
        assert!(d >= hour * 85 / 100 && d <= hour * 95 / 100, "{d:?}");
    }
    // A short session: the lead (here 1 s of 5 s) wins over 85–95%.
    for random in 0..50 {
        let d = reauth_delay(Duration::from_secs(5), Duration::from_secs(1), random);
        assert!(d <= Duration::from_secs(4), "{d:?}");
    }
    // A lead longer than the session is capped at a quarter of it.
    let d = reauth_delay(Duration::from_secs(2), Duration::from_secs(10), 0);
    assert_eq!(d, Duration::from_millis(1500));
}

#[tokio::test]
async fn plain_sends_authzid_user_password() {
    let config = SaslConfig::default().credentials(SaslMechanism::Plain, "alice", "s3cret");
    let mut auth = config.authenticator().await.unwrap();
    assert_eq!(auth.initial().as_slice(), b"\0alice\0s3cret");
    assert!(matches!(auth.step(b"").unwrap(), Step::Done));
}

#[tokio::test]
async fn scram_nonces_are_fresh_and_printable() {
    let config = SaslConfig::default().credentials(SaslMechanism::ScramSha512, "alice", "pw");
    let first = config.authenticator().await.unwrap().initial();
    let second = config.authenticator().await.unwrap().initial();
    assert_ne!(first, second);
    let text = std::str::from_utf8(&first).unwrap();
    let nonce = text.strip_prefix("n,,n=alice,r=").unwrap();
    assert_eq!(nonce.len(), 32);
    assert!(!nonce.contains(','));
}

#[test]
fn debug_never_prints_secrets() {
    let config = SaslConfig::default().credentials(SaslMechanism::ScramSha256, "alice", "hunter2-secret");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("alice") && debug.contains("[redacted]"), "{debug}");
}

#[test]
fn missing_credentials_are_config_errors() {
    let err = SaslConfig::default()
        .credentials(SaslMechanism::Plain, "", "x")
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("sasl.username"), "{err}");
    let c = SaslConfig {
        mechanism: Some(SaslMechanism::OAuthBearer),
        ..Default::default()
    };
    assert!(c.validate().unwrap_err().to_string().contains("token provider"));
}

#[test]
fn handshake_errors_name_the_brokers_mechanisms() {
    let response = SaslHandshakeResponse {
        error_code: UNSUPPORTED_SASL_MECHANISM,
        mechanisms: vec![crate::wire::Str::from_utf8(bytes::Bytes::from_static(b"PLAIN")).unwrap()],
    };
    let err = handshake_error(&response, SaslMechanism::ScramSha512);
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(err.kafka_code(), Some(UNSUPPORTED_SASL_MECHANISM));
    let msg = err.to_string();
    assert!(
        msg.contains("SCRAM-SHA-512") && msg.contains("it enables: PLAIN"),
        "{msg}"
    );

    let not_sasl = SaslHandshakeResponse {
        error_code: ILLEGAL_SASL_STATE,
        mechanisms: vec![],
    };
    assert!(
        handshake_error(&not_sasl, SaslMechanism::Plain)
            .to_string()
            .contains("does not expect SASL")
    );
}
