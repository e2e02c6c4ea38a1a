//! SASL authentication, written in kafkit on RustCrypto primitives: PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512 and OAUTHBEARER, over Kafka's SaslHandshake v1 + SaslAuthenticate (v0–v2).
//!
//! The mechanisms are sans-IO (`Authenticator`): the connection sends what they produce and
//! feeds back what the broker answers. The same exchange runs again on the live connection to
//! re-authenticate before the session the broker granted (`session_lifetime_ms`, KIP-368) ends.

mod messages;
mod oauthbearer;
mod scram;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use zeroize::Zeroizing;

pub(crate) use messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
use oauthbearer::TokenCache;
pub use oauthbearer::{OAuthBearerToken, OAuthBearerTokenProvider, TokenFuture, UnsecuredJwtProvider};
use scram::{ScramClient, ScramError, ScramHash};

use super::security::Secret;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::KafkaCode;

const UNSUPPORTED_SASL_MECHANISM: KafkaCode = KafkaCode(33);
const ILLEGAL_SASL_STATE: KafkaCode = KafkaCode(34);
const SASL_AUTHENTICATION_FAILED: KafkaCode = KafkaCode(58);

/// A SASL mechanism (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN`: user name and password in the clear (use it over TLS only).
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (KIP-255): a token from an [`OAuthBearerTokenProvider`].
    OAuthBearer,
}

impl SaslMechanism {
    /// Parses the Kafka name (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`; any case).
    pub fn parse(name: &str) -> Option<SaslMechanism> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            _ => None,
        }
    }

    /// The Kafka name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl std::fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// SASL settings (`sasl.*`). Its `Debug` never prints the password or a token.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct SaslConfig {
    /// `sasl.mechanism` (librdkafka: `sasl.mechanisms`). Unset: OAUTHBEARER if a token provider or
    /// `sasl.oauthbearer.config` is given, else PLAIN.
    pub mechanism: Option<SaslMechanism>,
    /// `sasl.username`, for PLAIN and SCRAM.
    pub username: Option<String>,
    /// `sasl.password`, for PLAIN and SCRAM.
    pub password: Option<Secret>,
    /// The OAUTHBEARER token provider.
    pub token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    tokens: Arc<OnceLock<Arc<TokenCache>>>,
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password)
            .field(
                "token_provider",
                &self.token_provider.as_ref().map(|_| "<provider>"),
            )
            .finish()
    }
}

impl SaslConfig {
    /// PLAIN or SCRAM credentials.
    pub fn credentials(
        mut self,
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.mechanism = Some(mechanism);
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// OAUTHBEARER with tokens from `provider`.
    pub fn oauthbearer(mut self, provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        self.mechanism = Some(SaslMechanism::OAuthBearer);
        self.set_token_provider(provider);
        self
    }

    pub(crate) fn set_token_provider(&mut self, provider: Arc<dyn OAuthBearerTokenProvider>) {
        self.token_provider = Some(provider);
        self.tokens = Arc::default();
    }

    /// The mechanism in use.
    pub fn effective_mechanism(&self) -> SaslMechanism {
        self.mechanism.unwrap_or(if self.token_provider.is_some() {
            SaslMechanism::OAuthBearer
        } else {
            SaslMechanism::Plain
        })
    }

    pub(crate) fn is_configured(&self) -> bool {
        self.mechanism.is_some()
            || self.username.is_some()
            || self.password.is_some()
            || self.token_provider.is_some()
    }

    /// Checks that the mechanism has what it needs.
    pub(crate) fn validate(&self) -> Result<()> {
        let mechanism = self.effective_mechanism();
        let fail = |m: String| Err(Error::new(ErrorKind::Config, m));
        match mechanism {
            SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                if self.username.as_deref().is_none_or(str::is_empty) {
                    return fail(format!("sasl.mechanism={mechanism} needs sasl.username"));
                }
                if self.password.is_none() {
                    return fail(format!("sasl.mechanism={mechanism} needs sasl.password"));
                }
            }
            SaslMechanism::OAuthBearer => {
                if self.token_provider.is_none() {
                    return fail(
                        "sasl.mechanism=OAUTHBEARER needs a token provider (ConsumerBuilder::oauthbearer_token_provider), \
                         or sasl.oauthbearer.config with enable.sasl.oauthbearer.unsecure.jwt=true for test clusters"
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }

    fn token_cache(&self) -> Option<Arc<TokenCache>> {
        let provider = self.token_provider.as_ref()?;
        Some(
            self.tokens
                .get_or_init(|| Arc::new(TokenCache::new(provider.clone())))
                .clone(),
        )
    }

    /// A fresh authenticator for one exchange (fetching a token for OAUTHBEARER).
    pub(crate) async fn authenticator(&self) -> Result<Authenticator> {
        let mechanism = self.effective_mechanism();
        let state = match mechanism {
            SaslMechanism::Plain => {
                let (user, password) = self.user_password()?;
                let mut message = Zeroizing::new(Vec::with_capacity(user.len() + password.len() + 2));
                message.push(0);
                message.extend_from_slice(user.as_bytes());
                message.push(0);
                message.extend_from_slice(password.as_bytes());
                Mech::Plain(Some(message))
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let (user, password) = self.user_password()?;
                let hash = if mechanism == SaslMechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                Mech::Scram(Box::new(ScramClient::new(hash, user, password, client_nonce()?)))
            }
            SaslMechanism::OAuthBearer => {
                let cache = self.token_cache().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Config,
                        "sasl.mechanism=OAUTHBEARER needs a token provider",
                    )
                })?;
                let token = cache.token().await?;
                Mech::OAuth {
                    initial: Some(oauthbearer::initial_response(&token)),
                    server_error: None,
                }
            }
        };
        Ok(Authenticator { mechanism, state })
    }

    fn user_password(&self) -> Result<(&str, &str)> {
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => Ok((user, password.expose())),
            _ => Err(Error::new(
                ErrorKind::Config,
                "SASL PLAIN and SCRAM need sasl.username and sasl.password",
            )),
        }
    }
}

/// 24 random bytes, base64: the SCRAM client nonce.
fn client_nonce() -> Result<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("no system randomness for the SCRAM nonce: {e}"),
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// What to do after the broker's answer.
pub(crate) enum Step {
    /// Send this in the next SaslAuthenticate request.
    Respond(Zeroizing<Vec<u8>>),
    /// Authenticated.
    Done,
}

enum Mech {
    Plain(Option<Zeroizing<Vec<u8>>>),
    Scram(Box<ScramClient>),
    OAuth {
        initial: Option<Zeroizing<Vec<u8>>>,
        /// The broker's JSON error (RFC 7628 §3.2.2), once it sent one.
        server_error: Option<String>,
    },
}

/// One SASL exchange, sans-IO.
pub(crate) struct Authenticator {
    mechanism: SaslMechanism,
    state: Mech,
}

impl Authenticator {
    pub(crate) fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The first SaslAuthenticate payload.
    pub(crate) fn initial(&mut self) -> Zeroizing<Vec<u8>> {
        match &mut self.state {
            Mech::Plain(message) => message.take().unwrap_or_default(),
            Mech::Scram(client) => Zeroizing::new(client.client_first()),
            Mech::OAuth { initial, .. } => initial.take().unwrap_or_default(),
        }
    }

    /// Handles the broker's (successful) SaslAuthenticate payload.
    pub(crate) fn step(&mut self, server: &[u8]) -> Result<Step> {
        let scram_error = |e: ScramError| Error::new(ErrorKind::Authentication, e.to_string());
        match &mut self.state {
            Mech::Plain(_) => Ok(Step::Done),
            Mech::Scram(client) => {
                if client.is_done() {
                    return Ok(Step::Done);
                }
                match client.handle_server_first(server) {
                    Ok(final_message) => Ok(Step::Respond(final_message)),
                    Err(ScramError::OutOfOrder) => {
                        client.handle_server_final(server).map_err(scram_error)?;
                        Ok(Step::Done)
                    }
                    Err(e) => Err(scram_error(e)),
                }
            }
            Mech::OAuth { server_error, .. } => {
                if server.is_empty() {
                    return Ok(Step::Done);
                }
                if server_error.is_some() {
                    return Err(Error::new(
                        ErrorKind::Authentication,
                        "the broker kept the OAUTHBEARER exchange going after reporting an error",
                    ));
                }
                // An error report: acknowledge with a lone separator; the broker then fails the
                // exchange, and the report explains why.
                *server_error = Some(String::from_utf8_lossy(server).into_owned());
                Ok(Step::Respond(Zeroizing::new(vec![0x01])))
            }
        }
    }

    /// Detail the broker gave before failing the exchange (OAUTHBEARER's JSON error).
    pub(crate) fn server_detail(&self) -> Option<&str> {
        match &self.state {
            Mech::OAuth { server_error, .. } => server_error.as_deref(),
            _ => None,
        }
    }

    /// Whether the exchange finished with the server proven (SCRAM) or accepted.
    pub(crate) fn is_complete(&self) -> bool {
        match &self.state {
            Mech::Scram(client) => client.is_done(),
            _ => true,
        }
    }
}

/// The error for a SaslHandshake answer other than success.
pub(crate) fn handshake_error(response: &SaslHandshakeResponse, mechanism: SaslMechanism) -> Error {
    let offered: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
    let code = response.error_code;
    let message = if code == UNSUPPORTED_SASL_MECHANISM {
        format!(
            "the broker does not enable SASL mechanism {mechanism}; it enables: {} (set sasl.mechanism to one of them)",
            if offered.is_empty() {
                "none".to_owned()
            } else {
                offered.join(", ")
            }
        )
    } else if code == ILLEGAL_SASL_STATE && offered.is_empty() {
        "the broker does not expect SASL on this listener: it is a PLAINTEXT or SSL listener \
         (security.protocol is SASL_*; use the listener's protocol)"
            .to_owned()
    } else {
        format!("the SASL handshake for {mechanism} failed")
    };
    Error::kafka_as(ErrorKind::Authentication, code, message)
}

/// The error for a SaslAuthenticate answer other than success.
pub(crate) fn authenticate_error(
    response: &SaslAuthenticateResponse,
    auth: &Authenticator,
    reauth: bool,
) -> Error {
    let mut message = format!(
        "SASL {} {} failed",
        auth.mechanism(),
        if reauth {
            "re-authentication"
        } else {
            "authentication"
        }
    );
    if let Some(broker) = &response.error_message {
        message.push_str(": ");
        message.push_str(broker.as_str());
    }
    if let Some(detail) = auth.server_detail() {
        message.push_str(&format!(" (broker's detail: {detail})"));
    }
    if response.error_code == SASL_AUTHENTICATION_FAILED {
        message.push_str(if auth.mechanism() == SaslMechanism::OAuthBearer {
            "; check the token provider's tokens (issuer, signature, expiry, scope)"
        } else {
            "; check sasl.username and sasl.password"
        });
    }
    Error::kafka_as(ErrorKind::Authentication, response.error_code, message)
}

/// When to re-authenticate: at a random point between 85% and 95% of the session (as Kafka's Java
/// client), but at least `lead` (at most a quarter of the session) before it ends, so that a
/// request queued behind a long-polling fetch still reaches the broker before the session expires.
pub(crate) fn reauth_delay(lifetime: Duration, lead: Duration, random: u64) -> Duration {
    let percent = 85 + random % 11;
    let by_share = lifetime * percent as u32 / 100;
    let latest = lifetime.saturating_sub(lead.min(lifetime / 4));
    by_share.min(latest)
}

#[cfg(test)]
mod tests;
