//! kafkit's public error type.

use std::fmt;
use std::sync::Arc;

use crate::wire::{DecodeError, FrameError, KafkaCode, VersionError};

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Invalid configuration; nothing was started.
    Config,
    /// Could not connect to a broker (DNS, refused, unreachable, timed out). Retried by kafkit.
    Connect,
    /// An established connection failed (reset, closed, or the broker stopped answering).
    Connection,
    /// A request got no answer before its deadline.
    Timeout,
    /// The broker sent bytes kafkit cannot accept (not Kafka, corrupt, or oversized).
    Protocol,
    /// The broker and kafkit share no version of an API kafkit needs.
    UnsupportedVersion,
    /// The broker answered with a Kafka error code.
    Kafka,
    /// kafkit is shutting down or the object was closed.
    Closed,
    /// Authentication failed and retrying cannot help: the broker rejected the SASL credentials
    /// (SASL_AUTHENTICATION_FAILED), does not enable the SASL mechanism, or a TLS certificate was
    /// rejected (kafkit rejected the broker's, or the broker rejected kafkit's). The consumer stops
    /// with a fatal event instead of reconnecting.
    Authentication,
    /// TLS could not be set up: the peer does not speak TLS (a PLAINTEXT listener), speaks only TLS
    /// (an SSL listener reached with `security.protocol=PLAINTEXT`), or shares no TLS version or
    /// cipher suite.
    Tls,
}

/// An error from kafkit.
///
/// Cheap to clone: when a connection fails, every request waiting on it gets a clone of the same
/// error. Ask it [`Error::kind`], [`Error::is_retriable`] and [`Error::kafka_code`]; its `Display`
/// says what happened and, where there is something to do, what to do.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    code: Option<KafkaCode>,
    broker: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                message: message.into(),
                code: None,
                broker: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut e = Error::new(kind, message);
        if let Some(inner) = Arc::get_mut(&mut e.inner) {
            inner.source = Some(Box::new(source));
        }
        e
    }

    pub(crate) fn kafka(code: KafkaCode, message: impl Into<String>) -> Self {
        let mut e = Error::new(ErrorKind::Kafka, message);
        if let Some(inner) = Arc::get_mut(&mut e.inner) {
            inner.code = Some(code);
        }
        e
    }

    /// A Kafka error code that is also of a more specific `kind` (SASL failures).
    pub(crate) fn kafka_as(kind: ErrorKind, code: KafkaCode, message: impl Into<String>) -> Self {
        let mut e = Error::kafka(code, message);
        if let Some(inner) = Arc::get_mut(&mut e.inner) {
            inner.kind = kind;
        }
        e
    }

    /// Attaches the broker address this error concerns (only before the error is shared).
    pub(crate) fn at_broker(mut self, broker: impl Into<String>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.broker = Some(broker.into());
        }
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The Kafka error code, when a broker answered with one.
    pub fn kafka_code(&self) -> Option<KafkaCode> {
        self.inner.code
    }

    /// The broker address this error concerns, if any.
    pub fn broker(&self) -> Option<&str> {
        self.inner.broker.as_deref()
    }

    /// Whether trying again later can succeed (kafkit itself retries these where it can).
    pub fn is_retriable(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Connect | ErrorKind::Connection | ErrorKind::Timeout => true,
            ErrorKind::Kafka => self.inner.code.is_some_and(is_retriable_code),
            ErrorKind::Config
            | ErrorKind::Protocol
            | ErrorKind::UnsupportedVersion
            | ErrorKind::Closed
            | ErrorKind::Authentication
            | ErrorKind::Tls => false,
        }
    }
}

/// Kafka's retriable error codes that a consumer meets.
fn is_retriable_code(code: KafkaCode) -> bool {
    matches!(
        code.0,
        3 | 5 | 6 | 7 | 8 | 9 | 13 | 14 | 15 | 16 | 27 | 74 | 75 | 78
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if let Some(code) = self.inner.code {
            write!(f, " [{code}]")?;
        }
        if let Some(broker) = &self.inner.broker {
            write!(f, " (broker {broker})")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("code", &self.inner.code)
            .field("broker", &self.inner.broker)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::with_source(ErrorKind::Protocol, "malformed response from broker", e)
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        Error::with_source(ErrorKind::Protocol, "bad frame from broker", e)
    }
}

impl From<VersionError> for Error {
    fn from(e: VersionError) -> Self {
        Error::with_source(ErrorKind::UnsupportedVersion, "API version negotiation failed", e)
    }
}

impl From<crate::records::RecordsError> for Error {
    fn from(e: crate::records::RecordsError) -> Self {
        Error::with_source(ErrorKind::Protocol, "cannot read the records the broker sent", e)
    }
}

/// `Result` with kafkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::wire::EncodeError> for Error {
    fn from(e: crate::wire::EncodeError) -> Self {
        Error::with_source(
            ErrorKind::UnsupportedVersion,
            "the request cannot be expressed in the API version the broker supports",
            e,
        )
    }
}
