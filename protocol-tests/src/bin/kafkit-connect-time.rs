//! Time to connect and authenticate to the secure test broker (`KAFKIT_TEST_SECURE_*`, see
//! `kafkit_protocol_tests::secure`): TCP, TLS handshake, ApiVersions and SASL, as
//! `Connection::connect` does them, N times per way of connecting, one after another.
//!
//! ```text
//! kafkit-connect-time [N]        (default 30; build with --release for meaningful figures)
//! ```
//! Prints, per mode, the median, min and max in milliseconds, and the process's CPU time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkit::net::sasl::UnsecuredJwtProvider;
use kafkit::net::{Connection, SaslConfig, SaslMechanism, SecurityConfig, SecurityProtocol, TlsConfig};
use kafkit_protocol_tests::secure::{self, alice, listener, mtls, plaintext_addr, security, tls};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(30, |a| a.parse().expect("N is a number"));
    let oauth = || {
        SaslConfig::default().oauthbearer(Arc::new(UnsecuredJwtProvider::new(
            "alice",
            Duration::from_secs(600),
        )))
    };
    let tls_only = |t: TlsConfig| security(SecurityProtocol::Ssl, t, SaslConfig::default());
    let sasl_ssl = |s: SaslConfig| security(SecurityProtocol::SaslSsl, tls(), s);
    let modes: Vec<(&str, String, SecurityConfig)> = vec![
        ("PLAINTEXT", plaintext_addr(), SecurityConfig::default()),
        ("SSL (TLS 1.3)", listener("SSL"), tls_only(tls())),
        ("SSL (TLS 1.2)", listener("TLS12"), tls_only(tls())),
        ("SSL mutual TLS", listener("MTLS"), tls_only(mtls())),
        (
            "SASL_PLAINTEXT SCRAM-SHA-256",
            listener("SASL_PLAINTEXT"),
            security(
                SecurityProtocol::SaslPlaintext,
                TlsConfig::default(),
                alice(SaslMechanism::ScramSha256),
            ),
        ),
        (
            "SASL_SSL PLAIN",
            listener("SASL_SSL"),
            sasl_ssl(alice(SaslMechanism::Plain)),
        ),
        (
            "SASL_SSL SCRAM-SHA-256",
            listener("SASL_SSL"),
            sasl_ssl(alice(SaslMechanism::ScramSha256)),
        ),
        (
            "SASL_SSL SCRAM-SHA-512",
            listener("SASL_SSL"),
            sasl_ssl(alice(SaslMechanism::ScramSha512)),
        ),
        ("SASL_SSL OAUTHBEARER", listener("SASL_SSL"), sasl_ssl(oauth())),
    ];
    println!(
        "{:30} {:>10} {:>10} {:>10}   (ms, {n} connections each)",
        "mode", "median", "min", "max"
    );
    for (name, addr, security) in modes {
        let config = secure::net(security);
        // Build the TLS configuration (read the PEM files) outside the timed part, as the pool does.
        config.security.validate().expect("valid security settings");
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let conn = Connection::connect(&addr, &config)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            times.push(started.elapsed());
            drop(conn);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:30} {:>10.2} {:>10.2} {:>10.2}",
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
}
