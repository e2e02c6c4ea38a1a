//! Plumbing for the reliability suite's group scenarios: a Kafka-aware TCP proxy that injects
//! connection faults the mock cluster cannot express, and a member driver that consumes with
//! per-partition streams while recording into the [`History`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FindCoordinatorResponse, MetadataResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafkit::{Consumer, Event, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::history::History;

// ---------------------------------------------------------------------------------------------
// Proxy
// ---------------------------------------------------------------------------------------------

/// What the proxy does with a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the client's connection without forwarding the request (it never reaches the broker).
    CloseBeforeForward,
    /// Forward the request, wait for the broker's answer, drop it and close the client's connection
    /// (the request took effect; the client cannot know).
    CloseAfterAnswer,
    /// Forward the request and hold its answer (and, as a broker would, every later answer on that
    /// connection) for this long.
    DelayAnswer(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    /// Accept connections, read requests, answer nothing (an unreachable, silent coordinator).
    Blackhole,
}

#[derive(Debug)]
struct Rule {
    api_key: i16,
    fault: Fault,
    remaining: usize,
}

/// A request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// API key.
    pub api_key: i16,
    /// API version.
    pub version: i16,
    /// The request frame (header and body, without the size).
    pub frame: Bytes,
}

impl Seen {
    /// Decodes the body as request `R` (trusted: it came from the client under test).
    pub fn decode<R: Decodable>(&self) -> R {
        let api = ApiKey::try_from(self.api_key).expect("known API");
        let mut frame = self.frame.clone();
        RequestHeader::decode(&mut frame, api.request_header_version(self.version)).expect("header");
        R::decode(&mut frame, self.version).expect("request body decodes")
    }
}

#[derive(Debug)]
struct ProxyState {
    mode: Mode,
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    /// Every answer passed on: when, its API key, its bytes (with the size prefix).
    answered: Vec<(Instant, i16, usize)>,
}

/// A TCP proxy in front of a single-broker cluster. It rewrites the broker addresses in Metadata and
/// FindCoordinator answers to its own, so every connection the client makes (bootstrap, leader,
/// coordinator) passes through it, and it can cut, silence or delay them.
///
/// Only for single-broker clusters: every broker id is mapped to the proxy's one address.
pub struct KafkaProxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
    /// Bumped to kill every open connection.
    kill: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.kill.send_modify(|k| *k += 1);
    }
}

impl KafkaProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> KafkaProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState {
            mode: Mode::Up,
            rules: Vec::new(),
            seen: Vec::new(),
            answered: Vec::new(),
        }));
        let (kill, _) = watch::channel(0u64);
        let task = {
            let state = state.clone();
            let kill = kill.clone();
            let upstream = upstream.to_owned();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let _ = client.set_nodelay(true);
                    let conn = Conn {
                        state: state.clone(),
                        kill: kill.subscribe(),
                        upstream: upstream.clone(),
                        port,
                    };
                    tokio::spawn(conn.run(client));
                }
            })
        };
        KafkaProxy {
            port,
            state,
            kill,
            task,
        }
    }

    /// `127.0.0.1:PORT`, the address to bootstrap from.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the next `times` requests of `api`.
    pub fn fault(&self, api: ApiKey, fault: Fault, times: usize) {
        self.state.lock().unwrap().rules.push(Rule {
            api_key: api as i16,
            fault,
            remaining: times,
        });
    }

    /// Cuts every open connection and answers nothing on new ones until [`KafkaProxy::heal`].
    pub fn blackhole(&self) {
        self.state.lock().unwrap().mode = Mode::Blackhole;
        self.kill.send_modify(|k| *k += 1);
    }

    /// Forwards again (after [`KafkaProxy::blackhole`]).
    pub fn heal(&self) {
        self.state.lock().unwrap().mode = Mode::Up;
        self.kill.send_modify(|k| *k += 1);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Arrival times of the requests of `api` seen so far.
    pub fn seen_of(&self, api: ApiKey) -> Vec<Instant> {
        self.requests(api).into_iter().map(|s| s.at).collect()
    }

    /// The requests of `api` seen so far.
    pub fn requests(&self, api: ApiKey) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.api_key == api as i16)
            .collect()
    }

    /// The answers to `api` passed on between `from` and `to`: how many, and their bytes.
    pub fn answered(&self, api: ApiKey, from: Instant, to: Instant) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        s.answered
            .iter()
            .filter(|(at, key, _)| *key == api as i16 && *at >= from && *at < to)
            .fold((0, 0), |(n, bytes), (_, _, len)| (n + 1, bytes + len))
    }
}

/// Correlation id → (API key, version, fault) of the requests forwarded on one connection.
type InFlight = HashMap<i32, (i16, i16, Option<Fault>)>;

struct Conn {
    state: Arc<Mutex<ProxyState>>,
    kill: watch::Receiver<u64>,
    upstream: String,
    port: u16,
}

async fn read_frame(r: &mut (impl AsyncReadExt + Unpin)) -> Option<Bytes> {
    let size = r.read_i32().await.ok()?;
    let size = usize::try_from(size).ok()?;
    let mut buf = vec![0u8; size];
    r.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

impl Conn {
    async fn run(mut self, mut client: TcpStream) {
        let mode = self.state.lock().unwrap().mode;
        if mode == Mode::Blackhole {
            // Read and discard until killed or the client gives up.
            let mut sink = BytesMut::with_capacity(4096);
            loop {
                tokio::select! {
                    r = client.read_buf(&mut sink) => {
                        if matches!(r, Ok(0) | Err(_)) { return }
                        sink.clear();
                    }
                    _ = self.kill.changed() => {
                        if self.state.lock().unwrap().mode == Mode::Up { return }
                    }
                }
            }
        }
        let Ok(server) = TcpStream::connect(&self.upstream).await else {
            return;
        };
        let _ = server.set_nodelay(true);
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        // correlation id -> (api key, version, fault)
        let inflight: Arc<Mutex<InFlight>> = Arc::default();
        let requests = {
            let inflight = inflight.clone();
            let state = self.state.clone();
            async move {
                while let Some(f) = read_frame(&mut cr).await {
                    if f.len() < 8 {
                        return;
                    }
                    let api_key = (&f[0..2]).get_i16();
                    let version = (&f[2..4]).get_i16();
                    let correlation = (&f[4..8]).get_i32();
                    let fault = {
                        let mut s = state.lock().unwrap();
                        s.seen.push(Seen {
                            at: Instant::now(),
                            api_key,
                            version,
                            frame: f.clone(),
                        });
                        let fault = s
                            .rules
                            .iter_mut()
                            .find(|r| r.api_key == api_key && r.remaining > 0)
                            .map(|r| {
                                r.remaining -= 1;
                                r.fault
                            });
                        s.rules.retain(|r| r.remaining > 0);
                        fault
                    };
                    if fault == Some(Fault::CloseBeforeForward) {
                        return;
                    }
                    inflight
                        .lock()
                        .unwrap()
                        .insert(correlation, (api_key, version, fault));
                    if sw.write_all(&frame(&f)).await.is_err() {
                        return;
                    }
                }
            }
        };
        let port = self.port;
        let answered = self.state.clone();
        let answers = async move {
            while let Some(f) = read_frame(&mut sr).await {
                if f.len() < 4 {
                    return;
                }
                let correlation = (&f[0..4]).get_i32();
                let Some((api_key, version, fault)) = inflight.lock().unwrap().remove(&correlation) else {
                    return;
                };
                match fault {
                    Some(Fault::CloseAfterAnswer) => return,
                    Some(Fault::DelayAnswer(d)) => tokio::time::sleep(d).await,
                    _ => {}
                }
                let f = rewrite(api_key, version, f, port);
                answered
                    .lock()
                    .unwrap()
                    .answered
                    .push((Instant::now(), api_key, f.len() + 4));
                if cw.write_all(&frame(&f)).await.is_err() {
                    return;
                }
            }
        };
        let mut kill = self.kill.clone();
        tokio::select! {
            _ = requests => {}
            _ = answers => {}
            _ = kill.changed() => {}
        }
        // Dropping both halves of both sockets closes the connections.
    }
}

/// Points broker addresses in Metadata and FindCoordinator answers at the proxy.
fn rewrite(api_key: i16, version: i16, frame: Bytes, port: u16) -> Bytes {
    let Ok(api) = ApiKey::try_from(api_key) else {
        return frame;
    };
    if !matches!(api, ApiKey::Metadata | ApiKey::FindCoordinator) {
        return frame;
    }
    let flexible = api.response_header_version(version) >= 1;
    let header_len = 4 + usize::from(flexible);
    let mut body = frame.slice(header_len..);
    let host = StrBytes::from_static_str("127.0.0.1");
    let mut out = BytesMut::new();
    out.put_slice(&frame[..header_len]);
    match api {
        ApiKey::Metadata => {
            let mut r = MetadataResponse::decode(&mut body, version).expect("metadata decodes");
            for b in &mut r.brokers {
                b.host = host.clone();
                b.port = i32::from(port);
            }
            r.encode(&mut out, version).expect("metadata encodes");
        }
        _ => {
            let mut r =
                FindCoordinatorResponse::decode(&mut body, version).expect("find coordinator decodes");
            // v0-3 name one coordinator at the top level; v4+ list them (KIP-699).
            if version < 4 && r.node_id.0 >= 0 {
                r.host = host.clone();
                r.port = i32::from(port);
            }
            for c in &mut r.coordinators {
                if c.node_id.0 >= 0 {
                    c.host = host.clone();
                    c.port = i32::from(port);
                }
            }
            r.encode(&mut out, version).expect("find coordinator encodes");
        }
    }
    out.freeze()
}

// ---------------------------------------------------------------------------------------------
// Member driver
// ---------------------------------------------------------------------------------------------

/// A consumer driven the way the documentation shows: one task per partition stream, spawned as
/// `partitions().next()` yields it. Every delivery and acknowledged commit goes into the history;
/// assignment changes too (through [`History::watch`]).
pub struct Member {
    /// The member's name in the history.
    pub name: String,
    events: Arc<Mutex<Vec<Event>>>,
    commit_errors: Arc<Mutex<Vec<kafkit::Error>>>,
    stream_errors: Arc<Mutex<Vec<kafkit::Error>>>,
    last: Arc<Mutex<BTreeMap<i32, Record>>>,
    paused: Arc<AtomicBool>,
    streams_started: Arc<AtomicUsize>,
    streams_ended: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Member {
    /// Starts driving `consumer` as `name`: commits every `commit_every` records of a partition
    /// (0: never) and records the acknowledged ones.
    pub fn start(name: &str, consumer: &Consumer, history: &History, commit_every: usize) -> Member {
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let mut tasks = vec![history.watch(name, consumer.events())];
        {
            let events = events.clone();
            let mut rx = consumer.events();
            tasks.push(tokio::spawn(async move {
                while let Some(e) = rx.next().await {
                    events.lock().unwrap().push(e);
                }
            }));
        }
        let member = Member {
            name: name.to_owned(),
            events,
            commit_errors: Arc::default(),
            stream_errors: Arc::default(),
            last: Arc::default(),
            paused: Arc::default(),
            streams_started: Arc::default(),
            streams_ended: Arc::default(),
            tasks,
        };
        let mut partitions = consumer.partitions().unwrap();
        let (name, history) = (name.to_owned(), history.clone());
        let commit_errors = member.commit_errors.clone();
        let stream_errors = member.stream_errors.clone();
        let last = member.last.clone();
        let paused = member.paused.clone();
        let started = member.streams_started.clone();
        let ended = member.streams_ended.clone();
        let driver = tokio::spawn(async move {
            while let Some(mut p) = partitions.next().await {
                started.fetch_add(1, Ordering::AcqRel);
                let (name, history) = (name.clone(), history.clone());
                let (commit_errors, stream_errors, last, paused, ended) = (
                    commit_errors.clone(),
                    stream_errors.clone(),
                    last.clone(),
                    paused.clone(),
                    ended.clone(),
                );
                tokio::spawn(async move {
                    let mut n = 0usize;
                    loop {
                        while paused.load(Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        let record = match p.next().await {
                            None => break,
                            Some(Err(e)) => {
                                stream_errors.lock().unwrap().push(e);
                                continue;
                            }
                            Some(Ok(r)) => r,
                        };
                        history.delivered(&name, record.partition(), record.offset());
                        last.lock().unwrap().insert(record.partition(), record.clone());
                        n += 1;
                        if commit_every > 0 && n.is_multiple_of(commit_every) {
                            match p.commit(&record).await {
                                Ok(()) => history.committed(&name, record.partition(), record.offset() + 1),
                                Err(e) => commit_errors.lock().unwrap().push(e),
                            }
                        }
                    }
                    drop(p);
                    ended.fetch_add(1, Ordering::AcqRel);
                });
            }
        });
        let mut member = member;
        member.tasks.push(driver);
        member
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (bounded) for an event matching `pred` at index `from` or later; returns it and its index.
    pub async fn wait_event(
        &self,
        from: usize,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> (usize, Event) {
        crate::harness::within(limit, what, async {
            loop {
                if let Some((i, e)) = self
                    .events
                    .lock()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, e)| pred(e))
                {
                    return (i, e.clone());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// The number of events so far (a `from` for [`Member::wait_event`]).
    pub fn event_count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// Errors the member's commits returned.
    pub fn commit_errors(&self) -> Vec<kafkit::Error> {
        self.commit_errors.lock().unwrap().clone()
    }

    /// Errors the member's streams yielded.
    pub fn stream_errors(&self) -> Vec<kafkit::Error> {
        self.stream_errors.lock().unwrap().clone()
    }

    /// The last record delivered of each partition.
    pub fn last_records(&self) -> BTreeMap<i32, Record> {
        self.last.lock().unwrap().clone()
    }

    /// Stops (or resumes) pulling records on every partition.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    /// Partition streams received and ended so far.
    pub fn streams(&self) -> (usize, usize) {
        (
            self.streams_started.load(Ordering::Acquire),
            self.streams_ended.load(Ordering::Acquire),
        )
    }

    /// `(generation, member id)` of every `Joined` event so far.
    pub fn joins(&self) -> Vec<(i32, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Joined {
                    generation_id,
                    member_id,
                    ..
                } => Some((generation_id, member_id)),
                _ => None,
            })
            .collect()
    }
}

/// Waits (bounded) until `history` holds every produced offset of `expected`; on timeout, panics
/// naming what is missing.
/// The partitions `events` leave owned: every assignment added, every revoke and loss taken away
/// (eager, cooperative and consumer-protocol assignments alike).
pub fn owned_partitions<'a>(events: impl IntoIterator<Item = &'a Event>) -> std::collections::BTreeSet<i32> {
    let mut owned = std::collections::BTreeSet::new();
    for e in events {
        match e {
            Event::Assigned(tps) => owned.extend(tps.iter().map(|tp| tp.partition)),
            Event::Revoked(tps) | Event::Lost(tps, _) => {
                for tp in tps {
                    owned.remove(&tp.partition);
                }
            }
            _ => {}
        }
    }
    owned
}

pub async fn all_delivered(history: &History, expected: &crate::history::Expected, limit: Duration) {
    let wait = async {
        while !history.all_delivered(expected) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(limit, wait).await.is_err() {
        let missing: Vec<(i32, usize, Option<i64>)> = expected
            .produced
            .iter()
            .map(|(p, offsets)| {
                let got = history.delivered_offsets(*p);
                let missing: Vec<i64> = offsets.difference(&got).copied().collect();
                (*p, missing.len(), missing.first().copied())
            })
            .filter(|(_, n, _)| *n > 0)
            .collect();
        panic!(
            "timed out after {limit:?}: every produced record delivered; missing (partition, count, first): {missing:?}"
        );
    }
}
