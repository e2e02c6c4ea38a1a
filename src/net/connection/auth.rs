//! The SASL exchange on a connection, and re-authentication (KIP-368) on the live socket.
//!
//! # How re-authentication meets pipelining
//!
//! Kafka reads a connection's requests strictly one at a time: after reading one it stops reading
//! that socket until the response is sent. A `SaslHandshake` on an authenticated connection starts
//! a re-authentication (whether or not the session has already expired, but at most once a
//! second); from then until `SaslAuthenticate` succeeds, any other request is a protocol violation
//! and the broker closes the connection. And any other request the broker reads after the
//! session's expiry also makes it close the connection.
//!
//! So the re-authentication task:
//! 1. fetches what it needs first (an OAUTHBEARER token may take an HTTP call) while requests keep
//!    flowing;
//! 2. tells the writer to *hold*: requests queued from then on wait in the queue, in order;
//! 3. sends `SaslHandshake` past the hold. Requests already on the wire are answered before it (the
//!    broker answers in order) and their responses are dispatched by correlation id as usual: unlike
//!    Java's client, kafkit need not set aside responses that arrive during re-authentication;
//! 4. runs the exchange, then *releases* the hold: the queued requests go out in their original
//!    order, on the same socket, with nothing lost or reordered.
//!
//! It starts at a random point between 85% and 95% of the session lifetime (as the Java client
//! does, so many connections do not re-authenticate at once), but at least
//! [`NetConfig::reauth_lead`] (at most a quarter of the session) before it ends: a request written
//! just before the hold may wait behind a long-polling fetch (`fetch.wait.max.ms`) and must still be
//! read before the session expires. A failed re-authentication poisons the connection with the
//! broker's error (a credential failure is [`ErrorKind::Authentication`]).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::io::Control;
use super::{Link, Path};
use crate::error::{Error, ErrorKind, Result};
use crate::net::NetConfig;
use crate::net::sasl::{
    self, Authenticator, SaslAuthenticateResponse, SaslConfig, SaslHandshakeResponse, Step,
};
use crate::wire::{ApiVersions, negotiate_version};

/// More rounds than any supported mechanism needs (SCRAM takes two).
const MAX_ROUNDS: usize = 4;

/// The broker's minimum interval between two re-authentications of one connection (1 s), plus a
/// margin.
const MIN_REAUTH_INTERVAL: Duration = Duration::from_millis(1100);

/// What a successful exchange established.
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    /// How long the broker lets the session last (`None`: no limit, no re-authentication).
    lifetime: Option<Duration>,
}

fn versions_for(link: &Link, versions: &ApiVersions) -> Result<(i16, i16)> {
    let handshake = negotiate_version(
        ApiKey::SaslHandshake,
        (1, 1),
        versions.broker_range(ApiKey::SaslHandshake),
    );
    let authenticate = negotiate_version(
        ApiKey::SaslAuthenticate,
        (0, 2),
        versions.broker_range(ApiKey::SaslAuthenticate),
    );
    match (handshake, authenticate) {
        (Ok(h), Ok(a)) => Ok((h, a)),
        (Err(e), _) | (_, Err(e)) => Err(Error::with_source(
            ErrorKind::UnsupportedVersion,
            "the broker does not offer SaslHandshake v1 and SaslAuthenticate, which SASL needs (Kafka 1.0 or newer)",
            e,
        )
        .at_broker(&link.addr)),
    }
}

/// Authenticates on a connection that has negotiated its API versions.
pub(super) async fn authenticate(
    link: &Link,
    versions: &ApiVersions,
    config: &SaslConfig,
    reauth: bool,
) -> Result<Session> {
    let auth = config
        .authenticator()
        .await
        .map_err(|e| e.at_broker(&link.addr))?;
    exchange(link, versions, auth, reauth).await
}

async fn exchange(
    link: &Link,
    versions: &ApiVersions,
    mut auth: Authenticator,
    reauth: bool,
) -> Result<Session> {
    let (handshake_v, authenticate_v) = versions_for(link, versions)?;
    let path = if reauth { Path::Control } else { Path::Queued };
    let mechanism = auth.mechanism();
    let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism.name()));
    let body = link
        .send(ApiKey::SaslHandshake, &request, handshake_v, path)
        .await?;
    let response =
        SaslHandshakeResponse::decode(body).map_err(|e| link.poison(Error::from(e).at_broker(&link.addr)))?;
    if response.error_code.is_error() {
        return Err(sasl::handshake_error(&response, mechanism).at_broker(&link.addr));
    }
    let mut message = auth.initial();
    for _ in 0..MAX_ROUNDS {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(&message));
        let body = link
            .send(ApiKey::SaslAuthenticate, &request, authenticate_v, path)
            .await?;
        let response = SaslAuthenticateResponse::decode(body, authenticate_v)
            .map_err(|e| link.poison(Error::from(e).at_broker(&link.addr)))?;
        if response.error_code.is_error() {
            return Err(sasl::authenticate_error(&response, &auth, reauth).at_broker(&link.addr));
        }
        match auth
            .step(&response.auth_bytes)
            .map_err(|e| e.at_broker(&link.addr))?
        {
            Step::Respond(next) => message = next,
            Step::Done if auth.is_complete() => {
                let lifetime = u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis);
                tracing::debug!(broker = %link.addr, %mechanism, reauth, session_lifetime = ?lifetime, "SASL authenticated");
                return Ok(Session { lifetime });
            }
            Step::Done => break,
        }
    }
    Err(Error::new(
        ErrorKind::Authentication,
        format!("the broker ended the SASL {mechanism} exchange before it was complete"),
    )
    .at_broker(&link.addr))
}

/// Starts the re-authentication task if the broker limited the session.
pub(super) fn schedule_reauthentication(
    link: &std::sync::Arc<Link>,
    versions: &ApiVersions,
    config: &NetConfig,
    session: Session,
) {
    let Some(lifetime) = session.lifetime else {
        return;
    };
    let task = tokio::spawn(reauthenticate_loop(
        link.clone(),
        versions.clone(),
        config.security.sasl.clone(),
        config.reauth_lead,
        lifetime,
    ));
    let mut state = link.shared.lock();
    if state.poisoned.is_some() {
        task.abort();
    } else {
        state.tasks.push(task.abort_handle());
    }
}

fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x7265_6175_7468);
    h.finish()
}

async fn reauthenticate_loop(
    link: std::sync::Arc<Link>,
    versions: ApiVersions,
    config: SaslConfig,
    lead: Duration,
    mut lifetime: Duration,
) {
    let mut authenticated_at = Instant::now();
    let mut last_start: Option<Instant> = None;
    loop {
        let mut at = authenticated_at + sasl::reauth_delay(lifetime, lead, random());
        if let Some(start) = last_start {
            at = at.max(start + MIN_REAUTH_INTERVAL);
        }
        tokio::time::sleep_until(at).await;
        // Before holding requests: a token provider may take a while.
        let auth = match config.authenticator().await {
            Ok(auth) => auth,
            Err(e) => {
                link.poison(e.at_broker(&link.addr));
                return;
            }
        };
        let started = Instant::now();
        if link.control.send(Control::Hold).is_err() {
            return;
        }
        let outcome =
            tokio::time::timeout(link.request_timeout, exchange(&link, &versions, auth, true)).await;
        let session = match outcome {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                tracing::warn!(broker = %link.addr, error = %e, "re-authentication failed; closing the connection");
                link.poison(e);
                return;
            }
            Err(_) => {
                link.poison(
                    Error::new(
                        ErrorKind::Timeout,
                        format!("re-authentication took longer than {:?}", link.request_timeout),
                    )
                    .at_broker(&link.addr),
                );
                return;
            }
        };
        if link.control.send(Control::Release).is_err() {
            return;
        }
        let count = link
            .reauthentications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::debug!(broker = %link.addr, count, took = ?started.elapsed(), "re-authenticated");
        match session.lifetime {
            Some(next) => {
                lifetime = next;
                authenticated_at = Instant::now();
                last_start = Some(started);
            }
            None => return,
        }
    }
}
