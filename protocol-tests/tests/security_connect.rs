//! Connections to Apache Kafka's SSL, SASL_PLAINTEXT and SASL_SSL listeners (the secure broker
//! `scripts/test.sh` starts): every mechanism, TLS 1.2 and 1.3, mutual TLS, re-authentication on a
//! live pipelined connection, and every failure as a typed, clear error that never hangs and never
//! names a secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataRequest;
use kafkit::net::sasl::UnsecuredJwtProvider;
use kafkit::net::{Connection, SaslConfig, SaslMechanism, SecurityConfig, SecurityProtocol, TlsConfig};
use kafkit::wire::MetadataResponse;
use kafkit::{Error, ErrorKind};
use kafkit_protocol_tests::certs::CLIENT_KEY_PASSWORD;
use kafkit_protocol_tests::harness::init_tracing;
use kafkit_protocol_tests::secure::{self, alice, listener, mtls, pki, security, tls};

async fn connect(name: &str, security: SecurityConfig) -> Result<Connection, Error> {
    init_tracing();
    Connection::connect(&listener(name), &secure::net(security)).await
}

/// Connects, asks for metadata, and returns the connection.
async fn works(name: &str, security: SecurityConfig) -> Connection {
    let conn = connect(name, security)
        .await
        .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
    let md: MetadataResponse = conn.request(&MetadataRequest::default()).await.unwrap();
    assert_eq!(md.brokers.len(), 1, "metadata over {name}");
    conn
}

/// Connects and expects an error, within a bound (never a hang).
async fn fails(name: &str, security: SecurityConfig) -> Error {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        let conn = connect(name, security).await?;
        conn.request::<_, MetadataResponse>(&MetadataRequest::default())
            .await
    })
    .await
    .unwrap_or_else(|_| panic!("connecting to {name} hung for 20 s instead of failing"));
    let err = result
        .err()
        .unwrap_or_else(|| panic!("connecting to {name} worked"));
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{name} failed only after {:?}",
        started.elapsed()
    );
    for secret in ["alice-secret", CLIENT_KEY_PASSWORD] {
        assert!(
            !err.to_string().contains(secret) && !format!("{err:?}").contains(secret),
            "{err:?}"
        );
    }
    err
}

fn tls_only(t: TlsConfig) -> SecurityConfig {
    security(SecurityProtocol::Ssl, t, SaslConfig::default())
}

fn sasl_ssl(sasl: SaslConfig) -> SecurityConfig {
    security(SecurityProtocol::SaslSsl, tls(), sasl)
}

fn sasl_plaintext(sasl: SaslConfig) -> SecurityConfig {
    security(SecurityProtocol::SaslPlaintext, TlsConfig::default(), sasl)
}

fn oauth() -> SaslConfig {
    SaslConfig::default().oauthbearer(Arc::new(UnsecuredJwtProvider::new(
        "alice",
        Duration::from_secs(600),
    )))
}

#[tokio::test]
async fn ssl_negotiates_tls13_and_tls12_when_forced() {
    let conn = works("SSL", tls_only(tls())).await;
    assert_eq!(conn.tls_version(), Some("TLSv1_3"));
    let conn = works("TLS12", tls_only(tls())).await;
    assert_eq!(
        conn.tls_version(),
        Some("TLSv1_2"),
        "ssl.enabled.protocols=TLSv1.2"
    );
}

#[tokio::test]
async fn mutual_tls_with_plain_and_encrypted_keys() {
    works("MTLS", tls_only(mtls())).await;
    let encrypted = tls()
        .client_certificate(pki("client.pem"), pki("client-encrypted.key"))
        .key_password(CLIENT_KEY_PASSWORD);
    works("MTLS", tls_only(encrypted)).await;
}

#[tokio::test]
async fn every_sasl_mechanism_over_tls_and_plaintext() {
    for mechanism in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        works("SASL_SSL", sasl_ssl(alice(mechanism))).await;
        works("SASL_PLAINTEXT", sasl_plaintext(alice(mechanism))).await;
    }
    works("SASL_SSL", sasl_ssl(oauth())).await;
    works("SASL_PLAINTEXT", sasl_plaintext(oauth())).await;
}

#[tokio::test]
async fn hostname_check_can_be_turned_off_but_not_the_chain() {
    // The broker's certificate names 127.0.0.1 only.
    let port = listener("SSL").rsplit_once(':').unwrap().1.to_owned();
    let by_name = format!("localhost:{port}");
    let conn = Connection::connect(&by_name, &secure::net(tls_only(tls().verify_hostname(false))))
        .await
        .expect("ssl.endpoint.identification.algorithm=none accepts a chain-valid certificate");
    assert_eq!(conn.tls_version(), Some("TLSv1_3"));
    let err = Connection::connect(
        &by_name,
        &secure::net(tls_only(
            TlsConfig::default()
                .ca_location(pki("other-ca.pem"))
                .verify_hostname(false),
        )),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

// ---- failures ----

#[tokio::test]
async fn wrong_password_and_unknown_user_are_sasl_authentication_failed() {
    for mechanism in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        for (user, password) in [("alice", "wrong-password"), ("mallory", "alice-secret")] {
            let sasl = SaslConfig::default().credentials(mechanism, user, password);
            let err = fails("SASL_SSL", sasl_ssl(sasl)).await;
            assert_eq!(err.kind(), ErrorKind::Authentication, "{mechanism} {user}: {err}");
            assert_eq!(
                err.kafka_code().map(|c| c.0),
                Some(58),
                "{mechanism} {user}: {err}"
            );
            assert!(!err.is_retriable());
            let msg = err.to_string();
            assert!(
                msg.contains(mechanism.name()) && msg.contains("sasl.password"),
                "{msg}"
            );
            assert!(!msg.contains(password), "{msg}");
        }
    }
}

#[tokio::test]
async fn unsupported_mechanism_names_the_brokers_list() {
    // REAUTH enables PLAIN, SCRAM-SHA-256 and OAUTHBEARER only.
    let err = fails("REAUTH", sasl_ssl(alice(SaslMechanism::ScramSha512))).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert_eq!(err.kafka_code().map(|c| c.0), Some(33), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("SCRAM-SHA-512") && msg.contains("PLAIN") && msg.contains("OAUTHBEARER"),
        "{msg}"
    );
}

#[tokio::test]
async fn untrusted_expired_and_wrong_host_certificates() {
    let err = fails("SSL", tls_only(TlsConfig::default())).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("not signed by a trusted CA"), "{err}");

    let err = fails(
        "SSL",
        tls_only(TlsConfig::default().ca_location(pki("other-ca.pem"))),
    )
    .await;
    assert!(err.to_string().contains("ssl.ca.location"), "{err}");

    let err = fails("EXPIRED", tls_only(tls())).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("expired"), "{err}");

    let port = listener("SSL").rsplit_once(':').unwrap().1.to_owned();
    let err = Connection::connect(&format!("localhost:{port}"), &secure::net(tls_only(tls())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(
        err.to_string().contains("does not name the host \"localhost\""),
        "{err}"
    );
}

#[tokio::test]
async fn mutual_tls_without_or_with_a_foreign_certificate_is_rejected() {
    let err = fails("MTLS", tls_only(tls())).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");
    let rogue = tls().client_certificate(pki("rogue-client.pem"), pki("rogue-client.key"));
    let err = fails("MTLS", tls_only(rogue)).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

#[tokio::test]
async fn encrypted_key_needs_the_right_password() {
    let no_password = tls().client_certificate(pki("client.pem"), pki("client-encrypted.key"));
    let err = no_password.client_config().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("ssl.key.password"), "{err}");
    let wrong = tls()
        .client_certificate(pki("client.pem"), pki("client-encrypted.key"))
        .key_password("not-it");
    let err = wrong.client_config().unwrap_err();
    assert!(err.to_string().contains("wrong password"), "{err}");
}

#[tokio::test]
async fn tls_to_a_plaintext_listener_and_the_reverse_fail_clearly() {
    // TLS to PLAINTEXT: Kafka reads the ClientHello as a 369 MB request size and hangs up.
    let plaintext = secure::plaintext_addr();
    init_tracing();
    let started = Instant::now();
    let err = Connection::connect(&plaintext, &secure::net(tls_only(tls())))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        err.to_string().contains("PLAINTEXT or SASL_PLAINTEXT listener"),
        "{err}"
    );

    // PLAINTEXT to SSL: the broker's TLS engine rejects the bytes.
    let err = fails("SSL", SecurityConfig::default()).await;
    assert!(err.to_string().contains("SSL or SASL_SSL listener"), "{err}");

    // SASL over a listener without SASL, and no SASL on a SASL listener.
    let err = Connection::connect(
        &plaintext,
        &secure::net(sasl_plaintext(alice(SaslMechanism::Plain))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("does not expect SASL"), "{err}");
    let err = fails("SASL_PLAINTEXT", SecurityConfig::default()).await;
    assert!(err.to_string().contains("does this listener need SASL"), "{err}");
}

// ---- re-authentication (KIP-368) ----

/// Keeps several requests in flight on one connection (metadata, and a fetch that long-polls an
/// empty partition) for longer than two session lifetimes of the REAUTH listener (5 s): the
/// connection must re-authenticate on the same socket without failing or losing a request.
///
/// One long poll at a time, as the fetch core sends them (a fetch that may wait at the broker goes
/// alone to its broker): the re-authentication lead (1 s) covers one `fetch.wait.max` ahead of the
/// handshake. Three long polls in flight at once (which this test once sent) queue up to 1.2 s of
/// broker waits ahead of it: under load the last request before the handshake was read after the
/// session's expiry and the broker closed the connection, as KIP-368 says it must.
async fn reauthenticates_while_pipelining(sasl: SaslConfig) {
    let topic = kafkit_protocol_tests::real::unique_name("reauth-pipe");
    kafkit_protocol_tests::harness::topic_with_partitions(&secure::plaintext_addr(), &topic, 1).await;
    let conn = Arc::new(works("REAUTH", sasl_ssl(sasl)).await);
    let deadline = Instant::now() + Duration::from_secs(13);
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let conn = conn.clone();
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u32;
            while Instant::now() < deadline {
                if worker != 1 {
                    let _: MetadataResponse =
                        conn.request(&MetadataRequest::default()).await.expect("metadata");
                } else {
                    long_poll_fetch(&conn, &topic).await;
                }
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert!(!conn.is_poisoned(), "{:?}", conn.error());
    assert!(
        conn.reauthentications() >= 2,
        "re-authenticated {} times",
        conn.reauthentications()
    );
    assert!(total > 50, "only {total} requests completed");
}

async fn long_poll_fetch(conn: &Connection, topic: &str) {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{ApiKey, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let (_, max) = conn.api_versions().broker_range(ApiKey::Fetch).unwrap();
    let v = max.min(12);
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(400)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    conn.send_raw(ApiKey::Fetch, &request, v).await.expect("fetch");
}

#[tokio::test]
async fn scram_reauthenticates_on_a_pipelined_connection() {
    reauthenticates_while_pipelining(alice(SaslMechanism::ScramSha256)).await;
}

#[tokio::test]
async fn oauthbearer_reauthenticates_on_a_pipelined_connection() {
    reauthenticates_while_pipelining(oauth()).await;
}

#[tokio::test]
async fn without_a_session_limit_there_is_no_reauthentication() {
    let conn = works("SASL_SSL", sasl_ssl(alice(SaslMechanism::Plain))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _: MetadataResponse = conn.request(&MetadataRequest::default()).await.unwrap();
    assert_eq!(conn.reauthentications(), 0);
}

/// Kafka's unsecured validator allows no clock skew: a token whose `iat` lands even a millisecond
/// after the broker's clock is refused as issued in the future. 200 fresh tokens in a row must
/// all be accepted (with fractional `iat` seconds, Kafka 4.1 refused one within the first few).
#[tokio::test]
async fn unsecured_tokens_are_never_issued_in_the_future() {
    for i in 0..200 {
        let sasl = oauth();
        let conn = connect("SASL_PLAINTEXT", sasl_plaintext(sasl))
            .await
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        drop(conn);
    }
}
