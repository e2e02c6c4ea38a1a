//! One connection to one broker.
//!
//! Two tasks own the socket: a writer that writes whole frames taken from a channel, and a reader
//! that splits the byte stream into frames and hands each to the request waiting for its
//! correlation id. A caller's future only ever enqueues a complete frame and waits on a oneshot, so
//! dropping it can never leave half a frame on the wire; a guard removes its correlation entry.
//!
//! The first failure (I/O error, malformed frame, request deadline) *poisons* the connection: every
//! waiter and every later request gets a clone of that same error, and the socket is closed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::NetConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::KafkaRequest;
use crate::wire::{
    ApiVersions, ApiVersionsResponse, DecodeResponse, FrameDecoder, KafkaCode, encode_request,
    read_response_header,
};

/// Frames queued for the writer before callers wait for room.
const WRITE_QUEUE: usize = 256;

/// A connection to one broker; cheap to share behind an `Arc`.
///
/// Created by [`Connection::connect`], which also negotiates API versions. Requests may be issued
/// concurrently from many tasks; they are pipelined on the one socket.
#[derive(Debug)]
pub struct Connection {
    shared: Arc<Shared>,
    frames: mpsc::Sender<Bytes>,
    versions: ApiVersions,
    addr: String,
    client_id: String,
    request_timeout: Duration,
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

impl Connection {
    /// Connects to `addr` (`host:port`; resolved with tokio's async DNS) and negotiates API versions
    /// with ApiVersions v3, falling back to v0 when the broker does not know v3. The whole exchange
    /// is bounded by `config.connect_timeout`.
    pub async fn connect(addr: &str, config: &NetConfig) -> Result<Connection> {
        let attempt = async {
            let stream = TcpStream::connect(addr).await.map_err(|e| {
                Error::with_source(ErrorKind::Connect, "could not connect", e).at_broker(addr)
            })?;
            let _ = stream.set_nodelay(true);
            let mut conn = Connection::start(stream, addr, config);
            conn.versions = conn.negotiate_api_versions().await?;
            Ok(conn)
        };
        match tokio::time::timeout(config.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Connect,
                format!(
                    "connecting timed out after {:?} (is something other than a Kafka broker listening?)",
                    config.connect_timeout
                ),
            )
            .at_broker(addr)),
        }
    }

    fn start(stream: TcpStream, addr: &str, config: &NetConfig) -> Connection {
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            addr: addr.to_owned(),
        });
        let (frames_tx, frames_rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(read, shared.clone(), config.max_frame_size));
        let writer = tokio::spawn(write_loop(write, frames_rx, shared.clone()));
        shared.lock().tasks = vec![reader.abort_handle(), writer.abort_handle()];
        Connection {
            shared,
            frames: frames_tx,
            versions: ApiVersions::default(),
            addr: addr.to_owned(),
            client_id: config.client_id.clone(),
            request_timeout: config.request_timeout,
        }
    }

    async fn negotiate_api_versions(&self) -> Result<ApiVersions> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafkit"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let body = self.request_raw(&request, 3).await?;
        if ApiVersionsResponse::peek_error_code(&body) == Some(KafkaCode::UNSUPPORTED_VERSION.0) {
            // Kafka answers in the v0 format, listing its own ApiVersions range; retry at the highest
            // version it offers. Some peers (librdkafka's mock cluster) answer in another shape:
            // then fall back to v0, which every broker speaks.
            let offered = ApiVersionsResponse::decode(body, 0)
                .ok()
                .and_then(|v0| ApiVersions::from_response(&v0).broker_range(ApiKey::ApiVersions));
            let version = offered.map_or(0, |(_, max)| max.clamp(0, 2));
            tracing::debug!(broker = %self.addr, version, "broker does not support ApiVersions v3");
            let body = self.request_raw(&request, version).await?;
            return self.api_versions_from(ApiVersionsResponse::decode(body, version)?);
        }
        self.api_versions_from(ApiVersionsResponse::decode(body, 3)?)
    }

    fn api_versions_from(&self, response: ApiVersionsResponse) -> Result<ApiVersions> {
        let code = KafkaCode(response.error_code);
        if code.is_error() {
            return Err(Error::kafka(code, "ApiVersions failed").at_broker(&self.addr));
        }
        Ok(ApiVersions::from_response(&response))
    }

    /// The broker address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The API versions the broker offers.
    pub fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// The error that failed this connection, if it has failed.
    pub fn error(&self) -> Option<Error> {
        self.shared.lock().poisoned.clone()
    }

    /// Whether the connection has failed (a new one is needed).
    pub fn is_poisoned(&self) -> bool {
        self.shared.lock().poisoned.is_some()
    }

    /// Fails the connection with `error` (the first failure wins, and is returned): every waiter
    /// and every later request gets it, the socket closes, and the pool opens a new connection on
    /// next use. For a caller that gives up on a request sooner than the connection's own request
    /// timeout: a broker answers a connection's requests in order, so one that never answers would
    /// otherwise hold back every later request on it (as the Java client, it disconnects).
    pub fn close(&self, error: Error) -> Error {
        self.shared.poison(error)
    }

    /// Requests still waiting for a response (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.shared.lock().pending.len()
    }

    /// Sends `request` at the negotiated version and decodes the response with kafkit's bounded
    /// decoder `D`.
    pub async fn request<R: KafkaRequest, D: DecodeResponse>(&self, request: &R) -> Result<D> {
        let version = self
            .versions
            .version_for(D::API)
            .map_err(|e| Error::from(e).at_broker(&self.addr))?;
        self.request_at(request, version).await
    }

    /// Sends `request` at an explicit `version` and decodes the response with `D`.
    pub async fn request_at<R: KafkaRequest, D: DecodeResponse>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<D> {
        let body = self.request_raw(request, version).await?;
        D::decode(body, version).map_err(|e| self.shared.poison(Error::from(e).at_broker(&self.addr)))
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
        if self.frames.send(frame.bytes).await.is_err() {
            // The writer has stopped, which only happens once the connection is poisoned.
            guard.armed = false;
            self.shared.lock().pending.remove(&correlation_id);
            return Err(self
                .error()
                .unwrap_or_else(|| Error::new(ErrorKind::Connection, "connection closed")));
        }
        guard.sent = true;
        let response = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => Err(self
                .error()
                .unwrap_or_else(|| Error::new(ErrorKind::Connection, "connection closed"))),
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
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self
            .shared
            .poison(Error::new(ErrorKind::Closed, "connection closed by kafkit"));
    }
}

async fn read_loop(mut read: OwnedReadHalf, shared: Arc<Shared>, max_frame_size: usize) {
    let mut decoder = FrameDecoder::new(max_frame_size);
    let error = loop {
        // Hand over every complete frame already buffered.
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = dispatch(&shared, frame) {
                        shared.poison(e);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.poison(Error::from(e).at_broker(&shared.addr));
                    return;
                }
            }
        }
        match read.read_buf(decoder.buffer()).await {
            Ok(0) => {
                break Error::new(ErrorKind::Connection, "connection closed by the broker")
                    .at_broker(&shared.addr);
            }
            Ok(_) => {}
            Err(e) => {
                break Error::with_source(ErrorKind::Connection, "reading from the broker failed", e)
                    .at_broker(&shared.addr);
            }
        }
    };
    shared.poison(error);
}

fn dispatch(shared: &Shared, frame: Bytes) -> Result<()> {
    let Some(header) = frame.get(..4) else {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("response frame of {} bytes has no header", frame.len()),
        )
        .at_broker(&shared.addr));
    };
    let correlation_id = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let mut state = shared.lock();
    if let Some(waiter) = state.pending.remove(&correlation_id) {
        // The caller may have just gone away; then the response is simply dropped.
        let _ = waiter.send(Ok(frame));
        Ok(())
    } else if state.abandoned.remove(&correlation_id) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Protocol,
            format!("response with correlation id {correlation_id}, which no request has"),
        )
        .at_broker(&shared.addr))
    }
}

async fn write_loop(write: OwnedWriteHalf, mut frames: mpsc::Receiver<Bytes>, shared: Arc<Shared>) {
    let mut write = BufWriter::with_capacity(64 * 1024, write);
    while let Some(frame) = frames.recv().await {
        let mut result = write.write_all(&frame).await;
        if result.is_ok() && frames.is_empty() {
            result = write.flush().await;
        }
        if let Err(e) = result {
            shared.poison(
                Error::with_source(ErrorKind::Connection, "writing to the broker failed", e)
                    .at_broker(&shared.addr),
            );
            return;
        }
    }
}
