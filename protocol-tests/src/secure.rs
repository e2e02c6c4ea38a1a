//! The secure test broker that `scripts/test.sh` starts (`KAFKIT_BROKER_SECURITY`): its listeners,
//! its PKI, and configurations for each way of connecting.
//!
//! - `KAFKIT_TEST_SECURE_BROKER`: its PLAINTEXT address (topics are created and filled there);
//! - `KAFKIT_TEST_SECURE_LISTENERS`: `NAME=HOST:PORT` pairs (comma- or newline-separated) for
//!   SSL, MTLS, TLS12, EXPIRED, SASL_PLAINTEXT, SASL_SSL and REAUTH;
//! - `KAFKIT_TEST_SECURITY_DIR`: the PEM files and users (see [`crate::certs`]).

use std::path::PathBuf;

use kafkit::net::{NetConfig, SaslConfig, SaslMechanism, SecurityConfig, SecurityProtocol, TlsConfig};

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run ./scripts/test.sh, which starts the secure broker \
             (KAFKIT_BROKER_SECURITY=DIR scripts/kafka-broker.sh start)"
        ),
    }
}

/// The PLAINTEXT address of the secure broker.
pub fn plaintext_addr() -> String {
    env("KAFKIT_TEST_SECURE_BROKER")
}

/// The address of listener `name` (e.g. `SASL_SSL`).
pub fn listener(name: &str) -> String {
    let all = env("KAFKIT_TEST_SECURE_LISTENERS");
    all.split([',', '\n'])
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, addr)| addr.to_owned())
        .unwrap_or_else(|| panic!("no listener {name} in KAFKIT_TEST_SECURE_LISTENERS={all}"))
}

/// A file of the test PKI.
pub fn pki(file: &str) -> PathBuf {
    PathBuf::from(env("KAFKIT_TEST_SECURITY_DIR")).join(file)
}

/// TLS trusting the test CA.
pub fn tls() -> TlsConfig {
    TlsConfig::default().ca_location(pki("ca.pem"))
}

/// TLS with the test client certificate.
pub fn mtls() -> TlsConfig {
    tls().client_certificate(pki("client.pem"), pki("client.key"))
}

/// A `NetConfig` with `security`.
pub fn net(security: SecurityConfig) -> NetConfig {
    NetConfig::default()
        .connect_timeout(std::time::Duration::from_secs(10))
        .request_timeout(std::time::Duration::from_secs(15))
        .security(security)
}

/// `protocol` with `tls` and `sasl`.
pub fn security(protocol: SecurityProtocol, tls: TlsConfig, sasl: SaslConfig) -> SecurityConfig {
    let mut s = SecurityConfig::default();
    s.protocol = protocol;
    s.tls = tls;
    s.sasl = sasl;
    s
}

/// SASL credentials of the test user alice.
pub fn alice(mechanism: SaslMechanism) -> SaslConfig {
    SaslConfig::default().credentials(mechanism, "alice", "alice-secret")
}

/// The librdkafka-style properties that connect a consumer to listener `name` with SASL
/// `mechanism` (None: no SASL).
pub fn properties(name: &str, mechanism: Option<&str>) -> Vec<(String, String)> {
    let protocol = match name {
        "SASL_PLAINTEXT" => "SASL_PLAINTEXT",
        "SASL_SSL" | "REAUTH" => "SASL_SSL",
        _ => "SSL",
    };
    let mut p = vec![
        ("bootstrap.servers".to_owned(), listener(name)),
        ("security.protocol".to_owned(), protocol.to_owned()),
    ];
    if protocol != "SASL_PLAINTEXT" {
        p.push(("ssl.ca.location".into(), pki("ca.pem").display().to_string()));
    }
    if name == "MTLS" {
        p.push((
            "ssl.certificate.location".into(),
            pki("client.pem").display().to_string(),
        ));
        p.push((
            "ssl.key.location".into(),
            pki("client-encrypted.key").display().to_string(),
        ));
        p.push((
            "ssl.key.password".into(),
            crate::certs::CLIENT_KEY_PASSWORD.into(),
        ));
    }
    match mechanism {
        None => {}
        Some("OAUTHBEARER") => {
            p.push(("sasl.mechanism".into(), "OAUTHBEARER".into()));
            p.push(("enable.sasl.oauthbearer.unsecure.jwt".into(), "true".into()));
            p.push((
                "sasl.oauthbearer.config".into(),
                "principal=alice lifeSeconds=600".into(),
            ));
        }
        Some(m) => {
            p.push(("sasl.mechanism".into(), m.into()));
            p.push(("sasl.username".into(), "alice".into()));
            p.push(("sasl.password".into(), "alice-secret".into()));
        }
    }
    p
}
