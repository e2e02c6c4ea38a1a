//! The engine's I/O: a select loop around [`EngineCore`], and one task per request.
//!
//! Each task picks its connection (data or group pool), negotiates the version with that broker,
//! encodes the core's semantic body at it, sends it with its deadline and decodes the answer; the
//! answer (or the error that took its place) comes back through one channel as a [`Response`].

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{EngineCore, Response, Transmit};
use crate::commit::OutgoingCommit;
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::FetchRequest;
use crate::group::{OutgoingRequest, Target};
use crate::handoff::Command;
use crate::net::{BrokerPool, Connection};
use crate::wire::{
    ApiKey, FetchResponse, ListOffsetsResponse, OffsetCommitResponse, OffsetFetchResponse,
    OffsetForLeaderEpochResponse,
};

/// The engine's clock: the runtime's (paused tokio time drives it in tests).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

pub(super) struct Driver {
    core: EngineCore,
    commands: mpsc::Receiver<Command>,
    /// Connections for fetching, offsets lookups and metadata.
    pool: BrokerPool,
    /// Connections for group traffic only (coordinator, and FindCoordinator's bootstrap).
    group_pool: Option<BrokerPool>,
    responses_tx: mpsc::UnboundedSender<Response>,
    responses: mpsc::UnboundedReceiver<Response>,
}

impl Driver {
    pub(super) fn new(
        core: EngineCore,
        commands: mpsc::Receiver<Command>,
        pool: BrokerPool,
        group_pool: Option<BrokerPool>,
    ) -> Self {
        let (responses_tx, responses) = mpsc::unbounded_channel();
        Driver {
            core,
            commands,
            pool,
            group_pool,
            responses_tx,
            responses,
        }
    }

    pub(super) async fn run(mut self) {
        self.core.handle_timeout(now());
        loop {
            self.check_fatal();
            while let Some(transmit) = self.core.poll_transmit() {
                self.send(transmit);
            }
            if self.core.is_done() {
                break;
            }
            let wake = Instant::from_std(self.core.poll_timeout());
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(Command::Metrics(reply)) => {
                        let mut metrics = self.core.metrics(now());
                        metrics.brokers = self.broker_metrics();
                        for b in &mut metrics.brokers {
                            b.fetch_requests_total = b.node_id.map_or(0, |n| self.core.fetches_to(n));
                        }
                        let _ = reply.send(metrics);
                    }
                    Some(command) => self.core.handle_command(command, now()),
                    None => self.core.handle_commands_closed(now()),
                },
                Some(response) = self.responses.recv() => {
                    // An answer that failed on authentication is the fatal stop, not a retry.
                    if !self.check_fatal() {
                        self.core.handle_response(response, now());
                    }
                }
                _ = tokio::time::sleep_until(wake) => self.core.handle_timeout(now()),
            }
        }
        self.core.finish();
    }

    /// Whether a broker pool met an authentication failure (it then connects no more); if so the
    /// core hears of it (once is enough, it stops for good).
    fn check_fatal(&mut self) -> bool {
        let fatal = self
            .pool
            .fatal_error()
            .or_else(|| self.group_pool.as_ref().and_then(BrokerPool::fatal_error));
        match fatal {
            Some(error) => {
                self.core.handle_fatal(error, now());
                true
            }
            None => false,
        }
    }

    /// Connection states of every broker either pool knows (a broker connected in either counts as
    /// connected).
    fn broker_metrics(&self) -> Vec<crate::metrics::BrokerMetrics> {
        use crate::metrics::ConnectionState;
        let mut out = self.pool.connection_states();
        for b in self.group_pool.iter().flat_map(BrokerPool::connection_states) {
            match out.iter_mut().find(|o| o.address == b.address) {
                Some(o) => {
                    if b.state == ConnectionState::Connected {
                        o.state = ConnectionState::Connected;
                    }
                    o.node_id = o.node_id.or(b.node_id);
                }
                None => out.push(b),
            }
        }
        out.sort_by(|a, b| (a.node_id, &a.address).cmp(&(b.node_id, &b.address)));
        out
    }

    fn send(&self, transmit: Transmit) {
        let tx = self.responses_tx.clone();
        match transmit {
            Transmit::Metadata { topics } => {
                let pool = self.pool.clone();
                tokio::spawn(async move {
                    let names: Option<Vec<&str>> =
                        topics.as_ref().map(|t| t.iter().map(String::as_str).collect());
                    // One attempt: each failure is reported (health, events) and retried after
                    // the core's backoff.
                    let result = pool.metadata_once(names.as_deref()).await;
                    let _ = tx.send(Response::Metadata(result));
                });
            }
            Transmit::Group { request, coordinator } => {
                let Some(pool) = self.group_pool.clone() else {
                    return;
                };
                if let Some((node, addr)) = coordinator {
                    pool.set_broker(node, addr);
                }
                tokio::spawn(group_request(pool, request, tx));
            }
            Transmit::Fetch(request) => {
                tokio::spawn(fetch_request(self.pool.clone(), request, tx));
            }
            Transmit::Commit { commit, coordinator } => {
                let Some(pool) = self.group_pool.clone() else {
                    return;
                };
                if let Some((node, addr)) = coordinator {
                    pool.set_broker(node, addr);
                }
                tokio::spawn(commit_request(pool, commit, tx));
            }
        }
    }
}

/// Awaits `request` on `conn`, turning a missed deadline into a timeout error that also closes
/// the connection: a broker answers a connection's requests in order, so a request it never
/// answers (a half-open connection, a peer that dropped it) would hold back every later one on
/// it, and a group connection, whose own request timeout is never reached by these shorter
/// deadlines, would never recover.
async fn within<T>(
    conn: &Connection,
    timeout: Duration,
    what: impl FnOnce() -> String,
    request: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result,
        Err(_) => {
            let error = Error::new(ErrorKind::Timeout, what());
            conn.close(error.clone());
            Err(error)
        }
    }
}

async fn group_request(pool: BrokerPool, request: OutgoingRequest, tx: mpsc::UnboundedSender<Response>) {
    let OutgoingRequest {
        id,
        target,
        timeout,
        request,
    } = request;
    let mut version = 0;
    let result = async {
        let conn = match target {
            Target::AnyBroker => pool.any_connection().await?,
            Target::Coordinator(node) => pool.connection(node).await?,
        };
        let (v, body) = request.encode_for(conn.api_versions())?;
        version = v;
        let api = request.api();
        within(
            &conn,
            timeout,
            || format!("no answer to {api:?} within {timeout:?}"),
            conn.send_raw(api, &body, v),
        )
        .await
    }
    .await;
    let _ = tx.send(Response::Group { id, version, result });
}

async fn fetch_request(pool: BrokerPool, request: FetchRequest, tx: mpsc::UnboundedSender<Response>) {
    let response = match request {
        FetchRequest::Fetch { id, node, body } => {
            let result = async {
                let conn = pool.connection(node).await?;
                let version = conn
                    .api_versions()
                    .version_for(ApiKey::Fetch)?
                    .min(body.max_version());
                conn.request_at::<_, FetchResponse>(&body.to_request(version), version)
                    .await
            }
            .await;
            Response::Fetch { id, result }
        }
        FetchRequest::ListOffsets { id, node, body } => {
            let result = async {
                let conn = pool.connection(node).await?;
                let version = conn.api_versions().version_for(ApiKey::ListOffsets)?;
                conn.request_at::<_, ListOffsetsResponse>(&body.to_request(version), version)
                    .await
            }
            .await;
            Response::ListOffsets { id, result }
        }
        FetchRequest::OffsetFetch { id, node, body } => {
            let result = async {
                let conn = pool.connection(node).await?;
                let version = conn.api_versions().version_for(ApiKey::OffsetFetch)?;
                conn.request_at::<_, OffsetFetchResponse>(&body.to_request(version), version)
                    .await
            }
            .await;
            Response::OffsetFetch { id, result }
        }
        FetchRequest::OffsetForLeaderEpoch { id, node, body } => {
            let result = async {
                let conn = pool.connection(node).await?;
                let version = conn.api_versions().version_for(ApiKey::OffsetForLeaderEpoch)?;
                conn.request_at::<_, OffsetForLeaderEpochResponse>(&body.to_request(version), version)
                    .await
            }
            .await;
            Response::OffsetForLeaderEpoch { id, result }
        }
    };
    let _ = tx.send(response);
}

async fn commit_request(pool: BrokerPool, commit: OutgoingCommit, tx: mpsc::UnboundedSender<Response>) {
    let OutgoingCommit {
        id,
        node,
        timeout,
        body,
    } = commit;
    // The group pool's connections wait as long as a JoinGroup may take (the rebalance timeout);
    // a commit gets its own deadline, connecting included.
    let what =
        move || format!("no answer to OffsetCommit within {timeout:?}; it may or may not have been applied");
    let deadline = Instant::now() + timeout;
    let result = match tokio::time::timeout_at(deadline, pool.connection(node)).await {
        Err(_) => Err(Error::new(ErrorKind::Timeout, what())),
        Ok(Err(e)) => Err(e),
        Ok(Ok(conn)) => match conn.api_versions().version_for(ApiKey::OffsetCommit) {
            Err(e) => Err(e.into()),
            Ok(version) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let request = body.to_request(version);
                let answer = conn.request_at::<_, OffsetCommitResponse>(&request, version);
                within(&conn, left, what, answer).await
            }
        },
    };
    let _ = tx.send(Response::Commit { id, result });
}
