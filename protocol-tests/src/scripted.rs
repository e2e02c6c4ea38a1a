//! A scripted broker: a loopback server whose answer to each request a test decides.
//!
//! Each request is handled in its own task, so a delayed answer lets later answers overtake it (out
//! of order). Actions can also close the connection, truncate a frame, send garbage, or stay silent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;

/// A request as the scripted broker received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Which connection (0 for the first accepted).
    pub connection: usize,
    /// API key.
    pub api_key: i16,
    /// API version.
    pub version: i16,
    /// Correlation id.
    pub correlation_id: i32,
    /// Client id from the header.
    pub client_id: Option<String>,
    /// The request body after the header.
    pub body: Bytes,
}

impl Received {
    /// The API, if known.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::try_from(self.api_key).ok()
    }

    /// Decodes the body as request `R` (trusted: it came from the client under test).
    pub fn decode<R: Decodable>(&self) -> R {
        R::decode(&mut self.body.clone(), self.version).expect("request body decodes")
    }
}

/// What the broker does with one request.
#[derive(Debug)]
pub enum Action {
    /// Answer with this response body; the broker adds the frame size and the response header.
    Respond(Bytes),
    /// Write these bytes to the socket as they are (no framing added): garbage, partial frames, ...
    Raw(Bytes),
    /// Do the inner action after a delay (later requests may be answered first).
    Delay(Duration, Box<Action>),
    /// Close the connection (both directions).
    Close,
    /// Never answer.
    Silent,
    /// Several actions in order.
    Seq(Vec<Action>),
}

impl Action {
    /// Encodes `message` at `version` with the reference encoder as a response body.
    pub fn respond<M: Encodable>(message: &M, version: i16) -> Action {
        let mut buf = BytesMut::new();
        message.encode(&mut buf, version).expect("reference encoder");
        Action::Respond(buf.freeze())
    }

    /// Delays `self`.
    pub fn after(self, delay: Duration) -> Action {
        Action::Delay(delay, Box::new(self))
    }
}

type Handler = dyn Fn(&Received) -> Action + Send + Sync;

/// A running scripted broker; stops when dropped.
pub struct ScriptedBroker {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    accepted: Arc<Mutex<usize>>,
    task: JoinHandle<()>,
}

impl ScriptedBroker {
    /// Starts a broker on 127.0.0.1 (a free port) whose answers come from `handler`.
    pub async fn start(handler: impl Fn(&Received) -> Action + Send + Sync + 'static) -> ScriptedBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0usize));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = {
            let received = received.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                let mut tasks = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    let connection = {
                        let mut n = accepted.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    tasks.push(tokio::spawn(serve(
                        socket,
                        connection,
                        handler.clone(),
                        received.clone(),
                    )));
                }
            })
        };
        ScriptedBroker {
            addr,
            received,
            accepted,
            task,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for ScriptedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    socket: tokio::net::TcpStream,
    connection: usize,
    handler: Arc<Handler>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    let (mut read, write) = socket.into_split();
    let write = Arc::new(AsyncMutex::new(Some(write)));
    let mut buf = BytesMut::new();
    loop {
        // Read one whole frame.
        while buf.len() < 4 || buf.len() < 4 + (&buf[..4]).get_i32() as usize {
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let size = buf.get_i32() as usize;
        let mut frame = buf.split_to(size).freeze();
        let api_key = (&frame[..2]).get_i16();
        let version = (&frame[2..4]).get_i16();
        let header_version = ApiKey::try_from(api_key)
            .map(|k| k.request_header_version(version))
            .unwrap_or(1);
        let header = RequestHeader::decode(&mut frame, header_version).expect("client sent a valid header");
        let request = Received {
            connection,
            api_key,
            version,
            correlation_id: header.correlation_id,
            client_id: header.client_id.as_ref().map(|c| c.to_string()),
            body: frame,
        };
        received.lock().unwrap().push(request.clone());
        let action = handler(&request);
        let write = write.clone();
        tokio::spawn(async move { perform(action, &request, &write).await });
    }
}

fn perform<'a>(
    action: Action,
    request: &'a Received,
    write: &'a AsyncMutex<Option<OwnedWriteHalf>>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        match action {
            Action::Respond(body) => {
                let flexible_header = request
                    .api()
                    .map(|k| k.response_header_version(request.version))
                    .unwrap_or(0)
                    >= 1;
                let mut out = BytesMut::new();
                let size = 4 + usize::from(flexible_header) + body.len();
                out.put_i32(size as i32);
                out.put_i32(request.correlation_id);
                if flexible_header {
                    out.put_u8(0);
                }
                out.put_slice(&body);
                write_bytes(write, &out).await;
            }
            Action::Raw(bytes) => write_bytes(write, &bytes).await,
            Action::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                perform(*inner, request, write).await;
            }
            Action::Close => {
                if let Some(mut w) = write.lock().await.take() {
                    let _ = w.shutdown().await;
                }
            }
            Action::Silent => {}
            Action::Seq(actions) => {
                for a in actions {
                    perform(a, request, write).await;
                }
            }
        }
    })
}

async fn write_bytes(write: &AsyncMutex<Option<OwnedWriteHalf>>, bytes: &[u8]) {
    if let Some(w) = write.lock().await.as_mut() {
        let _ = w.write_all(bytes).await;
    }
}
