//! SASL/OAUTHBEARER (RFC 7628, KIP-255): tokens come from an application-supplied async
//! [`OAuthBearerTokenProvider`]; kafkit caches each token and asks for a new one once 80% of its
//! lifetime has passed (as Kafka's Java client and librdkafka refresh), so a re-authentication
//! (KIP-368) before the session expires presents a fresh token.
//!
//! [`UnsecuredJwtProvider`] makes the unsigned tokens Kafka's default (test-only) validator
//! accepts, as librdkafka's `enable.sasl.oauthbearer.unsecure.jwt` does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::net::security::Secret;

/// An OAuth 2 bearer token for SASL/OAUTHBEARER.
#[derive(Debug, Clone)]
pub struct OAuthBearerToken {
    /// The token (a JWT for most identity providers). Never printed.
    pub value: Secret,
    /// When the token expires; kafkit asks for a new one when 80% of its lifetime has passed.
    pub expires_at: SystemTime,
    /// The principal the token names (for logs only; the broker reads the token itself).
    pub principal: Option<String>,
    /// SASL extensions (KIP-342) sent with the token, e.g. Confluent Cloud's `logicalCluster` and
    /// `identityPoolId`.
    pub extensions: Vec<(String, String)>,
}

/// The future an [`OAuthBearerTokenProvider`] returns.
pub type TokenFuture<'a> = Pin<
    Box<
        dyn Future<Output = std::result::Result<OAuthBearerToken, Box<dyn std::error::Error + Send + Sync>>>
            + Send
            + 'a,
    >,
>;

/// Supplies OAUTHBEARER tokens: called for the first connection and again whenever the cached
/// token has used 80% of its lifetime. It runs on kafkit's engine runtime (tokio), so it may do
/// async I/O (an HTTP call to the identity provider); it must not block.
///
/// A provider error fails the connection attempt; kafkit retries it with backoff.
pub trait OAuthBearerTokenProvider: Send + Sync + 'static {
    /// A fresh token.
    fn token(&self) -> TokenFuture<'_>;
}

/// Caches the provider's token and refreshes it before it expires.
pub(crate) struct TokenCache {
    provider: Arc<dyn OAuthBearerTokenProvider>,
    current: tokio::sync::Mutex<Option<(OAuthBearerToken, SystemTime)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

/// The share of a token's lifetime after which it is refreshed.
const REFRESH_AT_PERCENT: u32 = 80;

impl TokenCache {
    pub(crate) fn new(provider: Arc<dyn OAuthBearerTokenProvider>) -> TokenCache {
        TokenCache {
            provider,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// A token that has used less than 80% of its lifetime, asking the provider if needed.
    pub(crate) async fn token(&self) -> Result<OAuthBearerToken> {
        let mut current = self.current.lock().await;
        let now = SystemTime::now();
        if let Some((token, obtained)) = current.as_ref()
            && now < refresh_time(*obtained, token.expires_at)
        {
            return Ok(token.clone());
        }
        let token = self.provider.token().await.map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("the OAUTHBEARER token provider failed: {e}"),
            )
        })?;
        if token.expires_at <= now {
            return Err(Error::new(
                ErrorKind::Connect,
                "the OAUTHBEARER token provider returned a token that has already expired",
            ));
        }
        tracing::debug!(principal = ?token.principal, expires_in = ?token.expires_at.duration_since(now).ok(), "new OAUTHBEARER token");
        *current = Some((token.clone(), now));
        Ok(token)
    }
}

fn refresh_time(obtained: SystemTime, expires: SystemTime) -> SystemTime {
    let lifetime = expires.duration_since(obtained).unwrap_or_default();
    obtained + lifetime * REFRESH_AT_PERCENT / 100
}

/// The client's initial response: `n,,\x01auth=Bearer <token>\x01[key=value\x01]...\x01`.
pub(crate) fn initial_response(token: &OAuthBearerToken) -> Zeroizing<Vec<u8>> {
    let mut message = format!("n,,\x01auth=Bearer {}\x01", token.value.expose());
    for (key, value) in &token.extensions {
        message.push_str(key);
        message.push('=');
        message.push_str(value);
        message.push('\x01');
    }
    message.push('\x01');
    Zeroizing::new(message.into_bytes())
}

/// Unsigned JWTs (`{"alg":"none"}`) for Kafka's default unsecured validator — for tests and local
/// clusters only. librdkafka's `sasl.oauthbearer.config` syntax: `principal=<name>` and optionally
/// `lifeSeconds=<n>` (default 3600), `scope=<a,b>`, `principalClaimName=<claim>` (default `sub`),
/// `scopeClaimName=<claim>` (default `scope`), `extension_<name>=<value>`.
#[derive(Debug, Clone)]
pub struct UnsecuredJwtProvider {
    principal: String,
    principal_claim: String,
    scope_claim: String,
    scopes: Vec<String>,
    lifetime: Duration,
    extensions: Vec<(String, String)>,
}

impl UnsecuredJwtProvider {
    /// Tokens naming `principal`, valid for `lifetime`.
    pub fn new(principal: impl Into<String>, lifetime: Duration) -> UnsecuredJwtProvider {
        UnsecuredJwtProvider {
            principal: principal.into(),
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            scopes: Vec::new(),
            lifetime,
            extensions: Vec::new(),
        }
    }

    /// Parses librdkafka's `sasl.oauthbearer.config` (space-separated `key=value` pairs).
    pub fn from_config(config: &str) -> Result<UnsecuredJwtProvider> {
        let bad = |why: String| Error::new(ErrorKind::Config, format!("sasl.oauthbearer.config: {why}"));
        let mut provider = UnsecuredJwtProvider::new("", Duration::from_secs(3600));
        for pair in config.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not key=value")))?;
            match key {
                "principal" => provider.principal = value.to_owned(),
                "principalClaimName" => provider.principal_claim = value.to_owned(),
                "scopeClaimName" => provider.scope_claim = value.to_owned(),
                "scope" => {
                    provider.scopes = value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "lifeSeconds" => {
                    let secs: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| bad(format!("lifeSeconds {value:?} is not a positive number")))?;
                    provider.lifetime = Duration::from_secs(secs);
                }
                _ => match key.strip_prefix("extension_") {
                    Some(name) if !name.is_empty() => {
                        provider.extensions.push((name.to_owned(), value.to_owned()))
                    }
                    _ => {
                        return Err(bad(format!(
                            "unknown key {key:?} (expected principal, lifeSeconds, scope, principalClaimName, scopeClaimName or extension_<name>)"
                        )));
                    }
                },
            }
        }
        if provider.principal.is_empty() {
            return Err(bad("no principal=<name>".into()));
        }
        Ok(provider)
    }

    /// A token issued now.
    pub fn issue(&self) -> OAuthBearerToken {
        let now = SystemTime::now();
        // Whole seconds, rounded down: a fractional `iat` can land a millisecond in the future
        // once the broker converts it, and Kafka's validator (no clock skew allowed by default)
        // then rejects the token as issued in the future.
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let exp = iat + self.lifetime.as_secs().max(1);
        let mut claims = format!(
            "{{{}:{},\"iat\":{iat},\"exp\":{exp}",
            json_string(&self.principal_claim),
            json_string(&self.principal),
        );
        if !self.scopes.is_empty() {
            let scopes: Vec<String> = self.scopes.iter().map(|s| json_string(s)).collect();
            claims.push_str(&format!(
                ",{}:[{}]",
                json_string(&self.scope_claim),
                scopes.join(",")
            ));
        }
        claims.push('}');
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims.as_bytes())
        );
        OAuthBearerToken {
            value: Secret::new(token),
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            principal: Some(self.principal.clone()),
            extensions: self.extensions.clone(),
        }
    }
}

impl OAuthBearerTokenProvider for UnsecuredJwtProvider {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.issue();
        Box::pin(async move { Ok(token) })
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn initial_response_has_the_rfc7628_shape() {
        let token = OAuthBearerToken {
            value: Secret::new("abc.def."),
            expires_at: SystemTime::now() + Duration::from_secs(60),
            principal: None,
            extensions: vec![("logicalCluster".into(), "lkc-1".into())],
        };
        assert_eq!(
            initial_response(&token).as_slice(),
            b"n,,\x01auth=Bearer abc.def.\x01logicalCluster=lkc-1\x01\x01"
        );
    }

    #[test]
    fn unsecured_config_parses_and_issues_a_jwt() {
        let p = UnsecuredJwtProvider::from_config("principal=alice lifeSeconds=60 scope=a,b extension_x=y")
            .unwrap();
        let token = p.issue();
        let parts: Vec<&str> = token.value.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "unsigned");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), br#"{"alg":"none"}"#);
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert!(claims.starts_with(r#"{"sub":"alice","iat":"#), "{claims}");
        assert!(claims.contains(r#""scope":["a","b"]"#), "{claims}");
        assert_eq!(token.extensions, vec![("x".to_owned(), "y".to_owned())]);
        let life = token.expires_at.duration_since(SystemTime::now()).unwrap();
        assert!(life <= Duration::from_secs(60) && life > Duration::from_secs(55));

        assert!(UnsecuredJwtProvider::from_config("lifeSeconds=5").is_err());
        assert!(UnsecuredJwtProvider::from_config("principal=a lifeSeconds=x").is_err());
        assert!(UnsecuredJwtProvider::from_config("principal=a color=blue").is_err());
        assert_eq!(json_string("a\"b\\\n"), r#""a\"b\\\u000a""#);
    }

    struct Counting {
        calls: AtomicU32,
        lifetime: Duration,
    }

    impl OAuthBearerTokenProvider for Counting {
        fn token(&self) -> TokenFuture<'_> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let lifetime = self.lifetime;
            Box::pin(async move {
                Ok(OAuthBearerToken {
                    value: Secret::new(format!("token-{n}")),
                    expires_at: SystemTime::now() + lifetime,
                    principal: None,
                    extensions: vec![],
                })
            })
        }
    }

    #[tokio::test]
    async fn tokens_are_cached_and_refreshed_at_80_percent_of_their_lifetime() {
        let provider = Arc::new(Counting {
            calls: AtomicU32::new(0),
            lifetime: Duration::from_millis(2000),
        });
        let cache = TokenCache::new(provider.clone());
        assert_eq!(cache.token().await.unwrap().value.expose(), "token-0");
        assert_eq!(cache.token().await.unwrap().value.expose(), "token-0", "cached");
        tokio::time::sleep(Duration::from_millis(1700)).await;
        assert_eq!(
            cache.token().await.unwrap().value.expose(),
            "token-1",
            "refreshed past 80%"
        );
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }

    struct Failing;
    impl OAuthBearerTokenProvider for Failing {
        fn token(&self) -> TokenFuture<'_> {
            Box::pin(async { Err("identity provider unreachable".into()) })
        }
    }

    #[tokio::test]
    async fn provider_failures_are_retriable_errors() {
        let err = TokenCache::new(Arc::new(Failing)).token().await.unwrap_err();
        assert!(err.is_retriable(), "{err}");
        assert!(err.to_string().contains("identity provider unreachable"), "{err}");
    }
}
