//! One connection to one broker.
//!
//! Opening one goes TCP → TLS (when `security.protocol` says so) → ApiVersions → SASL (likewise),
//! all bounded by the connect timeout.
//!
//! Two tasks own the socket: a writer that writes whole frames taken from a channel, and a reader
//! that splits the byte stream into frames and hands each to the request waiting for its
//! correlation id. A caller's future only ever enqueues a complete frame and waits on a oneshot, so
//! dropping it can never leave half a frame on the wire; a guard removes its correlation entry.
//!
//! The first failure (I/O error, malformed frame, request deadline) *poisons* the connection: every
//! waiter and every later request gets a clone of that same error, and the socket is closed.
//!
//! ## Re-authentication (KIP-368)
//!
//! When a SASL broker grants a session of limited lifetime (`connections.max.reauth.ms`, or an
//! OAUTHBEARER token's expiry), a task re-authenticates on the same socket before it ends; see
//! [`auth`] for how this interacts with pipelined requests.

mod auth;
mod io;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::{NetConfig, tls};
use crate::error::{Error, ErrorKind, Result};
use crate::wire::KafkaRequest;
use crate::wire::{
    ApiVersions, ApiVersionsResponse, DecodeResponse, KafkaCode, encode_request, read_response_header,
};

/// Frames queued for the writer before callers wait for room.
const WRITE_QUEUE: usize = 256;

/// A connection to one broker; cheap to share behind an `Arc`.
///
/// Created by [`Connection::connect`], which also sets up TLS, negotiates API versions and
/// authenticates. Requests may be issued concurrently from many tasks; they are pipelined on the
/// one socket.
#[derive(Debug)]
pub struct Connection {
    link: Arc<Link>,
    versions: ApiVersions,
}

/// What the request paths share with the reader, the writer and the re-authentication task.
#[derive(Debug)]
pub(crate) struct Link {
    shared: Arc<Shared>,
    frames: mpsc::Sender<Bytes>,
    control: mpsc::UnboundedSender<io::Control>,
    addr: String,
    client_id: String,
    request_timeout: Duration,
    reauthentications: AtomicU64,
    /// The negotiated TLS version (`TLSv1_2`, `TLSv1_3`), when the connection uses TLS.
    tls_version: Option<&'static str>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    addr: String,
}

#[derive(Debug, Default)]
struct State {
    next_correlation_id: i32,
    pending: HashMap<i32, oneshot::Sender<Result<Bytes>>>,
    /// Requests whose caller gave up after the frame may have been sent: their responses are
    /// expected and dropped.
    abandoned: HashSet<i32>,
    poisoned: Option<Error>,
    tasks: Vec<AbortHandle>,
    /// Response frames read so far (to explain a broker that closes before answering anything).
    responses: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent in a way that matters
        // more than losing the connection, so recover the guard.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fails the connection with `error` (first error wins) and wakes every waiter with it.
    fn poison(&self, error: Error) -> Error {
        let mut state = self.lock();
        if let Some(existing) = &state.poisoned {
            return existing.clone();
        }
        tracing::debug!(broker = %self.addr, %error, "connection failed");
        state.poisoned = Some(error.clone());
        for (_, waiter) in state.pending.drain() {
            let _ = waiter.send(Err(error.clone()));
        }
        state.abandoned.clear();
        for task in state.tasks.drain(..) {
            task.abort();
        }
        error
    }
}

/// Removes a request's correlation entry if its caller stops waiting for any reason.
struct PendingGuard<'a> {
    shared: &'a Shared,
    correlation_id: i32,
    armed: bool,
    /// Whether the frame reached the writer (so a response will come and must be dropped).
    sent: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.shared.lock();
            if state.pending.remove(&self.correlation_id).is_some() && self.sent && state.poisoned.is_none() {
                state.abandoned.insert(self.correlation_id);
            }
        }
    }
}

/// The host part of `host:port` (without IPv6 brackets), for TLS server names.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':')
        .map_or(addr, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

impl Connection {
    /// Connects to `addr` (`host:port`; resolved with tokio's async DNS), sets up TLS and SASL as
    /// `config.security` says, and negotiates API versions with ApiVersions v3 (falling back to v0
    /// when the broker does not know v3). The whole exchange is bounded by
    /// `config.connect_timeout`.
    pub async fn connect(addr: &str, config: &NetConfig) -> Result<Connection> {
        let attempt = async {
            let tls_config = if config.security.protocol.uses_tls() {
                Some(config.security.tls.client_config()?)
            } else {
                None
            };
            let stream = TcpStream::connect(addr).await.map_err(|e| {
                Error::with_source(ErrorKind::Connect, "could not connect", e).at_broker(addr)
            })?;
            let _ = stream.set_nodelay(true);
            let mut conn = match tls_config {
                None => {
                    let (read, write) = stream.into_split();
                    Connection::start(read, write, addr, config, None, None)
                }
                Some(tls_config) => {
                    let host = host_of(addr);
                    let name = rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
                        Error::new(
                            ErrorKind::Config,
                            format!("{host:?} is not a valid host name for TLS"),
                        )
                        .at_broker(addr)
                    })?;
                    let tls = tokio_rustls::TlsConnector::from(tls_config)
                        .connect(name, stream)
                        .await
                        .map_err(|e| tls::handshake_error(e, host).at_broker(addr))?;
                    let version = tls.get_ref().1.protocol_version().and_then(|v| v.as_str());
                    let (read, write) = tokio::io::split(tls);
                    Connection::start(read, write, addr, config, Some(host.to_owned()), version)
                }
            };
            conn.versions = conn.negotiate_api_versions(config).await?;
            if config.security.protocol.uses_sasl() {
                let session =
                    auth::authenticate(&conn.link, &conn.versions, &config.security.sasl, false).await?;
                auth::schedule_reauthentication(&conn.link, &conn.versions, config, session);
            }
            Ok(conn)
        };
        match tokio::time::timeout(config.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Connect,
                format!(
                    "connecting timed out after {:?} (is something other than a Kafka broker listening{}?)",
                    config.connect_timeout,
                    if config.security.protocol.uses_tls() {
                        ", or is it a listener without TLS"
                    } else {
                        ""
                    }
                ),
            )
            .at_broker(addr)),
        }
    }

    fn start<R, W>(
        read: R,
        write: W,
        addr: &str,
        config: &NetConfig,
        tls_host: Option<String>,
        tls_version: Option<&'static str>,
    ) -> Connection
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            addr: addr.to_owned(),
        });
        let (frames_tx, frames_rx) = mpsc::channel(WRITE_QUEUE);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(io::read_loop(
            read,
            shared.clone(),
            config.max_frame_size,
            io::Hints {
                tls_host,
                protocol: config.security.protocol,
            },
        ));
        let writer = tokio::spawn(io::write_loop(write, frames_rx, control_rx, shared.clone()));
        shared.lock().tasks = vec![reader.abort_handle(), writer.abort_handle()];
        Connection {
            link: Arc::new(Link {
                shared,
                frames: frames_tx,
                control: control_tx,
                addr: addr.to_owned(),
                client_id: config.client_id.clone(),
                request_timeout: config.request_timeout,
                reauthentications: AtomicU64::new(0),
                tls_version,
            }),
            versions: ApiVersions::default(),
        }
    }

    async fn negotiate_api_versions(&self, config: &NetConfig) -> Result<ApiVersions> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafkit"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let body = self.request_raw(&request, 3).await.map_err(|e| {
            io::explain_first_response_failure(e, &self.link.shared, config.security.protocol)
        })?;
        if ApiVersionsResponse::peek_error_code(&body) == Some(KafkaCode::UNSUPPORTED_VERSION.0) {
            // Kafka answers in the v0 format, listing its own ApiVersions range; retry at the highest
            // version it offers. Some peers (librdkafka's mock cluster) answer in another shape:
            // then fall back to v0, which every broker speaks.
            let offered = ApiVersionsResponse::decode(body, 0)
                .ok()
                .and_then(|v0| ApiVersions::from_response(&v0).broker_range(ApiKey::ApiVersions));
            let version = offered.map_or(0, |(_, max)| max.clamp(0, 2));
            tracing::debug!(broker = %self.link.addr, version, "broker does not support ApiVersions v3");
            let body = self.request_raw(&request, version).await?;
            return self.api_versions_from(ApiVersionsResponse::decode(body, version)?);
        }
        self.api_versions_from(ApiVersionsResponse::decode(body, 3)?)
    }

    fn api_versions_from(&self, response: ApiVersionsResponse) -> Result<ApiVersions> {
        let code = KafkaCode(response.error_code);
        if code.is_error() {
            return Err(Error::kafka(code, "ApiVersions failed").at_broker(&self.link.addr));
        }
        Ok(ApiVersions::from_response(&response))
    }

    /// The broker address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.link.addr
    }

    /// The API versions the broker offers.
    pub fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// The error that failed this connection, if it has failed.
    pub fn error(&self) -> Option<Error> {
        self.link.shared.lock().poisoned.clone()
    }

    /// Whether the connection has failed (a new one is needed).
    pub fn is_poisoned(&self) -> bool {
        self.link.shared.lock().poisoned.is_some()
    }

    /// Fails the connection with `error` (the first failure wins, and is returned): every waiter
    /// and every later request gets it, the socket closes, and the pool opens a new connection on
    /// next use. For a caller that gives up on a request sooner than the connection's own request
    /// timeout: a broker answers a connection's requests in order, so one that never answers would
    /// otherwise hold back every later request on it (as the Java client, it disconnects).
    pub fn close(&self, error: Error) -> Error {
        self.link.shared.poison(error)
    }

    /// Requests still waiting for a response (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.link.shared.lock().pending.len()
    }

    /// The TLS version negotiated (`"TLSv1_2"` or `"TLSv1_3"`), or `None` without TLS.
    pub fn tls_version(&self) -> Option<&'static str> {
        self.link.tls_version
    }

    /// How many times this connection has re-authenticated (KIP-368) since it was opened.
    pub fn reauthentications(&self) -> u64 {
        self.link.reauthentications.load(Ordering::Relaxed)
    }

    /// Sends `request` at the negotiated version and decodes the response with kafkit's bounded
    /// decoder `D`.
    pub async fn request<R: KafkaRequest, D: DecodeResponse>(&self, request: &R) -> Result<D> {
        let version = self
            .versions
            .version_for(D::API)
            .map_err(|e| Error::from(e).at_broker(&self.link.addr))?;
        self.request_at(request, version).await
    }

    /// Sends `request` at an explicit `version` and decodes the response with `D`.
    pub async fn request_at<R: KafkaRequest, D: DecodeResponse>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<D> {
        let body = self.request_raw(request, version).await?;
        D::decode(body, version)
            .map_err(|e| self.link.shared.poison(Error::from(e).at_broker(&self.link.addr)))
    }

    /// Sends `request` at `version` and returns the response body after its header.
    ///
    /// Cancellation-safe: dropping the future at any point leaves no partial frame on the wire and no
    /// correlation entry behind.
    pub async fn request_raw<R: KafkaRequest>(&self, request: &R, version: i16) -> Result<Bytes> {
        self.send_raw(R::API, request, version).await
    }

    /// Sends any request body that `kafka-protocol` can encode, as API `api` at `version`, and returns
    /// the response body after its header. For tools and tests (kafkit's own requests go through
    /// [`Connection::request`]); the caller must decode the body itself.
    pub async fn send_raw<R: kafka_protocol::protocol::Encodable>(
        &self,
        api: ApiKey,
        request: &R,
        version: i16,
    ) -> Result<Bytes> {
        self.link.send(api, request, version, Path::Queued).await
    }
}

/// How a request reaches the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Behind every request queued before it; held while the connection re-authenticates.
    Queued,
    /// Straight to the socket, past a hold: the re-authentication exchange itself.
    Control,
}

impl Link {
    async fn send<R: kafka_protocol::protocol::Encodable>(
        &self,
        api: ApiKey,
        request: &R,
        version: i16,
        path: Path,
    ) -> Result<Bytes> {
        let (tx, rx) = oneshot::channel();
        let correlation_id = {
            let mut state = self.shared.lock();
            if let Some(error) = &state.poisoned {
                return Err(error.clone());
            }
            let mut id = state.next_correlation_id;
            while state.pending.contains_key(&id) || state.abandoned.contains(&id) {
                id = id.wrapping_add(1);
            }
            state.next_correlation_id = id.wrapping_add(1);
            state.pending.insert(id, tx);
            id
        };
        let mut guard = PendingGuard {
            shared: &self.shared,
            correlation_id,
            armed: true,
            sent: false,
        };
        let frame = encode_request(api, request, version, correlation_id, Some(&self.client_id))
            .map_err(|e| Error::with_source(ErrorKind::Config, "could not encode request", e))?;
        let queued = match path {
            Path::Queued => self.frames.send(frame.bytes).await.is_ok(),
            Path::Control => self.control.send(io::Control::Frame(frame.bytes)).is_ok(),
        };
        if !queued {
            // The writer has stopped, which only happens once the connection is poisoned.
            guard.armed = false;
            self.shared.lock().pending.remove(&correlation_id);
            return Err(self.closed_error());
        }
        guard.sent = true;
        let response = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => Err(self.shared.poison(
                Error::new(
                    ErrorKind::Timeout,
                    format!("no response to {api:?} within {:?}", self.request_timeout),
                )
                .at_broker(&self.addr),
            )),
        };
        guard.armed = false;
        let frame = response?;
        let (_, body) = read_response_header(api, version, frame)
            .map_err(|e| self.shared.poison(Error::from(e).at_broker(&self.addr)))?;
        Ok(body)
    }

    fn closed_error(&self) -> Error {
        self.shared
            .lock()
            .poisoned
            .clone()
            .unwrap_or_else(|| Error::new(ErrorKind::Connection, "connection closed"))
    }

    fn poison(&self, error: Error) -> Error {
        self.shared.poison(error)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self
            .link
            .shared
            .poison(Error::new(ErrorKind::Closed, "connection closed by kafkit"));
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn tls_server_names_come_from_the_host() {
        assert_eq!(host_of("broker-1.example.com:9093"), "broker-1.example.com");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
    }
}
