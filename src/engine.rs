//! The engine: one thread, one current-thread tokio runtime, owning every socket and timer.
//!
//! It turns the outputs of the sans-IO cores (group membership, fetch positions, offsets) into
//! requests on the broker pool, feeds responses back as inputs, and talks to the application only
//! through channels and a few atomics. Requests run as tasks on the engine's runtime and report
//! back through one input channel, so the loop itself never waits on the network.

mod fetcher;
mod group_driver;
mod offsets;
mod partitions;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cluster::ClusterMetadata;
use crate::config::ConsumerConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Reporter, Status};
use crate::handoff::{Clock, Command, NewPartition, RejoinSignal};
use crate::net::BrokerPool;
use crate::types::NodeId;
use crate::types::TopicPartition;

pub(crate) use partitions::Part;

/// Results of requests the engine started, fed back into the loop.
pub(crate) enum Input {
    Metadata(Result<Arc<ClusterMetadata>>),
    Fetch(fetcher::FetchResult),
    Offsets(offsets::OffsetsResult),
    Group(group_driver::GroupResult),
}

/// Everything the engine thread needs, built on the caller's thread (no I/O).
pub(crate) struct Engine {
    config: ConsumerConfig,
    commands: mpsc::Receiver<Command>,
    partitions_tx: mpsc::UnboundedSender<NewPartition>,
    reporter: Reporter,
    rejoin: Arc<RejoinSignal>,
    total_buffered: Arc<AtomicUsize>,
    pool: BrokerPool,
    group: Option<group_driver::GroupDriver>,
}

impl Engine {
    pub(crate) fn new(
        config: ConsumerConfig,
        commands: mpsc::Receiver<Command>,
        partitions_tx: mpsc::UnboundedSender<NewPartition>,
        reporter: Reporter,
        rejoin: Arc<RejoinSignal>,
    ) -> Result<Engine> {
        let total_buffered = Arc::new(AtomicUsize::new(0));
        let pool = BrokerPool::new(&config.bootstrap, config.net.clone())?;
        let group = match config.group_id {
            Some(_) => Some(group_driver::GroupDriver::new(&config, Instant::now())?),
            None => None,
        };
        Ok(Engine {
            group,
            config,
            commands,
            partitions_tx,
            reporter,
            rejoin,
            total_buffered,
            pool,
        })
    }

    /// Starts the engine thread.
    pub(crate) fn start(self) -> Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("kafkit-engine".into())
            .spawn(move || self.run_on_own_runtime())
            .map_err(|e| Error::with_source(ErrorKind::Config, "could not start the engine thread", e))
    }

    /// Runs the engine to completion on a runtime of its own (called on the engine thread).
    fn run_on_own_runtime(self) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let error = Error::with_source(ErrorKind::Config, "could not start the engine runtime", e);
                self.reporter.event(Event::Fatal(error.clone()));
                self.reporter.error(&error);
                self.reporter.status(Status::Failed);
                return;
            }
        };
        let reporter = self.reporter.clone();
        runtime.block_on(Driver::new(self).run());
        reporter.status(Status::Closed);
    }
}

/// Close in progress.
struct Closing {
    reply: Option<tokio::sync::oneshot::Sender<Result<()>>>,
    deadline: Instant,
    phase: ClosePhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClosePhase {
    Leaving,
    Done,
}

/// The engine's state while it runs.
pub(crate) struct Driver {
    config: ConsumerConfig,
    commands: mpsc::Receiver<Command>,
    partitions_tx: Option<mpsc::UnboundedSender<NewPartition>>,
    reporter: Reporter,
    rejoin: Arc<RejoinSignal>,
    total_buffered: Arc<AtomicUsize>,
    clock: Clock,
    pool: BrokerPool,
    inputs_tx: mpsc::UnboundedSender<Input>,
    inputs: mpsc::UnboundedReceiver<Input>,

    parts: BTreeMap<TopicPartition, Part>,
    metadata: Option<Arc<ClusterMetadata>>,
    metadata_in_flight: bool,
    metadata_due: Option<Instant>,
    /// Fetches in flight per broker.
    fetches_in_flight: HashMap<NodeId, fetcher::InFlight>,
    group: Option<group_driver::GroupDriver>,
    offsets: offsets::OffsetsState,
    closing: Option<Closing>,
    /// Partitions whose records are waiting unpulled past max.poll.interval were reported.
    stalled_reported: bool,
    next_housekeeping: Instant,
    incarnation: u64,
}

impl Driver {
    fn new(engine: Engine) -> Driver {
        let (inputs_tx, inputs) = mpsc::unbounded_channel();
        let now = Instant::now();
        Driver {
            offsets: offsets::OffsetsState::new(&engine.config, now),
            config: engine.config,
            commands: engine.commands,
            partitions_tx: Some(engine.partitions_tx),
            reporter: engine.reporter,
            rejoin: engine.rejoin,
            total_buffered: engine.total_buffered,
            clock: Clock::starting_at(now.into_std()),
            pool: engine.pool,
            inputs_tx,
            inputs,
            parts: BTreeMap::new(),
            metadata: None,
            metadata_in_flight: false,
            metadata_due: Some(now),
            fetches_in_flight: HashMap::new(),
            group: engine.group,
            closing: None,
            stalled_reported: false,
            next_housekeeping: now,
            incarnation: 0,
        }
    }

    async fn run(mut self) {
        self.reporter.status(if self.group.is_some() {
            Status::Joining
        } else {
            Status::Starting
        });
        loop {
            let now = Instant::now();
            self.pump(now);
            if self.closing.as_ref().is_some_and(|c| c.phase == ClosePhase::Done) {
                break;
            }
            let wake = self.next_wake(now);
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(command, Instant::now()),
                    // Every handle is gone: close as if asked to.
                    None => self.start_close(None, Instant::now()),
                },
                Some(input) = self.inputs.recv() => self.handle_input(input, Instant::now()),
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        self.finish_close();
    }

    /// The earliest moment the loop must run again without an input.
    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = self.next_housekeeping;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = wake.min(at);
            }
        };
        consider(self.metadata_due.filter(|_| !self.metadata_in_flight));
        consider(self.group.as_ref().and_then(|g| g.poll_timeout()));
        consider(self.offsets.next_auto_commit());
        consider(self.closing.as_ref().map(|c| c.deadline));
        if self.fetch_blocked_by_buffers() {
            // Buffers drain on the application's side; look again shortly.
            consider(Some(now + Duration::from_millis(5)));
        }
        wake.max(now)
    }

    /// Drives everything that can make progress now.
    fn pump(&mut self, now: Instant) {
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + Duration::from_millis(200);
            self.check_max_poll(now);
            self.check_revoke_wait(now);
        }
        self.maybe_refresh_metadata(now);
        self.drive_group(now);
        self.check_revoke_wait(now);
        self.start_offset_lookups(now);
        self.maybe_auto_commit(now);
        self.retry_commits(now);
        self.start_fetches(now);
        self.drive_close(now);
        self.report_assignment();
    }

    /// Owned partitions and lag for `health()`.
    fn report_assignment(&self) {
        let owned = self.parts.values().filter(|p| !p.is_ended());
        let mut lag: Option<u64> = None;
        for part in owned.clone() {
            if part.high_watermark < 0 {
                continue;
            }
            let delivered = part.shared.delivered_next.load(Ordering::Acquire);
            let next = if delivered >= 0 {
                delivered
            } else {
                part.position.max(0)
            };
            let behind = u64::try_from(part.high_watermark.saturating_sub(next)).unwrap_or(0);
            lag = Some(lag.unwrap_or(0).saturating_add(behind));
        }
        self.reporter.assigned(owned.count(), lag);
    }

    fn handle_command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Commit(request) => self.manual_commit(request, now),
            Command::PulledEnded => {
                if !self.is_closing() && self.rejoin.left.swap(false, Ordering::AcqRel) {
                    self.handle_command(Command::Rejoin, now);
                }
            }
            Command::Rejoin => {
                if let Some(group) = &mut self.group {
                    group.rejoin(now);
                    self.stalled_reported = false;
                    self.reporter.status(Status::Joining);
                }
            }
            Command::Close(reply) => self.start_close(Some(reply), now),
            Command::Pause {
                partitions,
                paused,
                reply,
            } => {
                let mut unknown = Vec::new();
                for tp in partitions {
                    match self.parts.get(&tp).filter(|p| !p.is_ended()) {
                        Some(part) => part.shared.set_paused(paused),
                        None => unknown.push(tp.to_string()),
                    }
                }
                let result = if unknown.is_empty() {
                    Ok(())
                } else {
                    Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "not assigned to this consumer, so not {}: {}",
                            if paused { "paused" } else { "resumed" },
                            unknown.join(", ")
                        ),
                    ))
                };
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn handle_input(&mut self, input: Input, now: Instant) {
        match input {
            Input::Metadata(result) => self.handle_metadata(result, now),
            Input::Fetch(result) => self.handle_fetch(result, now),
            Input::Offsets(result) => self.handle_offsets(result, now),
            Input::Group(result) => self.handle_group_result(result, now),
        }
    }

    // ---- metadata ----

    /// Topics whose metadata the engine needs: the subscription, plus what the group leader needs.
    fn topics_needed(&self) -> BTreeSet<String> {
        let mut topics: BTreeSet<String> = self.config.topics.iter().cloned().collect();
        if let Some(group) = &self.group {
            topics.extend(group.topics_needed());
        }
        topics
    }

    pub(crate) fn request_metadata_refresh(&mut self, now: Instant) {
        let soon = now + self.config.retry_backoff;
        self.metadata_due = Some(self.metadata_due.map_or(soon, |d| d.min(soon)));
    }

    fn maybe_refresh_metadata(&mut self, now: Instant) {
        if self.metadata_in_flight || self.metadata_due.is_none_or(|due| due > now) {
            return;
        }
        if self.closing.is_some() {
            return;
        }
        self.metadata_in_flight = true;
        self.metadata_due = None;
        let pool = self.pool.clone();
        let tx = self.inputs_tx.clone();
        let topics: Vec<String> = self.topics_needed().into_iter().collect();
        tokio::spawn(async move {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            // One attempt: each failure is reported (health, events) and retried after the pool's backoff.
            let result = pool.metadata_once(Some(&names)).await;
            let _ = tx.send(Input::Metadata(result));
        });
    }

    fn handle_metadata(&mut self, result: Result<Arc<ClusterMetadata>>, now: Instant) {
        self.metadata_in_flight = false;
        match result {
            Ok(metadata) => {
                // Refresh periodically (metadata.max.age), sooner if a topic is still missing.
                let mut due = now + Duration::from_secs(300);
                let mut counts = BTreeMap::new();
                for topic in self.topics_needed() {
                    match metadata.topic(&topic) {
                        Some(t) if t.error.is_none() && !t.partitions.is_empty() => {
                            counts.insert(topic, t.partitions.len() as i32);
                        }
                        other => {
                            let why = other
                                .and_then(|t| t.error)
                                .map_or("no partitions".to_owned(), |e| e.to_string());
                            tracing::warn!(topic, %why, "subscribed topic is not available yet; retrying");
                            self.reporter.event(Event::Warning(Error::new(
                                ErrorKind::Kafka,
                                format!("topic {topic:?} is not available ({why}); waiting for it"),
                            )));
                            due = due.min(now + Duration::from_secs(1));
                        }
                    }
                }
                self.metadata_due = Some(due);
                self.metadata = Some(metadata.clone());
                self.update_leaders(&metadata);
                match &mut self.group {
                    Some(group) => group.handle_partition_counts(&counts, now),
                    None => self.assign_all(&counts, now),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metadata request failed; retrying");
                if self.metadata.is_none() {
                    self.reporter.status(Status::Connecting);
                }
                self.reporter.error(&e);
                self.reporter.event(Event::Warning(e));
                self.metadata_due = Some(now + self.config.retry_backoff);
            }
        }
    }

    /// Without a group: own every partition of the subscribed topics.
    fn assign_all(&mut self, counts: &BTreeMap<String, i32>, now: Instant) {
        let wanted: Vec<TopicPartition> = counts
            .iter()
            .flat_map(|(topic, n)| {
                let topic: Arc<str> = Arc::from(topic.as_str());
                (0..*n).map(move |p| TopicPartition {
                    topic: topic.clone(),
                    partition: p,
                })
            })
            .filter(|tp| !self.parts.contains_key(tp))
            .collect();
        if !wanted.is_empty() {
            self.assign(wanted, now);
        }
        if !self.parts.is_empty() {
            self.reporter.status(Status::Consuming);
        }
    }

    // ---- liveness ----

    fn check_max_poll(&mut self, now: Instant) {
        let limit = u64::try_from(self.config.max_poll_interval.as_millis()).unwrap_or(u64::MAX);
        let now_ms = self.clock.ms(now.into_std());
        // Streams only flag a pull; its time is taken here (at most one housekeeping period late,
        // which can only delay a leave, never hasten it).
        for p in self.parts.values() {
            if p.shared.pulled.swap(false, Ordering::AcqRel) {
                p.shared.last_pull_ms.store(now_ms, Ordering::Release);
            }
        }
        let stuck = self.parts.values().find(|p| {
            !p.is_ended()
                && !p.shared.is_paused()
                && p.shared.buffered.load(Ordering::Acquire) > 0
                && now_ms.saturating_sub(p.shared.last_pull_ms.load(Ordering::Acquire)) > limit
        });
        let Some(stuck) = stuck else {
            return;
        };
        if self.stalled_reported {
            return;
        }
        let partition = stuck.shared.tp.clone();
        self.stalled_reported = true;
        tracing::warn!(
            %partition,
            max_poll_interval = ?self.config.max_poll_interval,
            "records waited unpulled longer than max.poll.interval.ms; leaving the group so others can take over (pull again to rejoin)"
        );
        if let Some(group) = &mut self.group {
            group.leave_max_poll(now);
            self.rejoin.left.store(true, Ordering::Release);
            // Health first, then the event: whoever reacts to the event sees the new status.
            self.reporter.status(Status::Stalled);
        }
        self.reporter.event(Event::MaxPollExceeded { partition });
    }

    // ---- close ----

    fn start_close(&mut self, reply: Option<tokio::sync::oneshot::Sender<Result<()>>>, now: Instant) {
        if let Some(closing) = &mut self.closing {
            if closing.reply.is_none() {
                closing.reply = reply;
            }
            return;
        }
        tracing::info!("closing: committing processed offsets and leaving the group");
        self.closing = Some(Closing {
            reply,
            deadline: now + self.config.close_timeout,
            phase: ClosePhase::Leaving,
        });
        // Streams stop at once; the group's clean revoke commits what they processed, then leaves.
        for part in self.parts.values() {
            part.end();
        }
        match &mut self.group {
            Some(group) => group.leave_close(now),
            None => self.set_close_phase(ClosePhase::Done),
        }
    }

    fn drive_close(&mut self, now: Instant) {
        let Some(closing) = &self.closing else {
            return;
        };
        if closing.phase == ClosePhase::Leaving {
            let left = self.group.as_ref().is_none_or(|g| g.is_left());
            if now >= closing.deadline || left && !self.offsets.commit_in_flight() {
                self.set_close_phase(ClosePhase::Done);
            }
        }
    }

    fn set_close_phase(&mut self, phase: ClosePhase) {
        if let Some(c) = &mut self.closing {
            c.phase = phase;
        }
    }

    fn finish_close(&mut self) {
        for part in self.parts.values() {
            part.end();
        }
        self.parts.clear();
        self.partitions_tx = None;
        let timed_out = self
            .closing
            .as_ref()
            .is_some_and(|c| Instant::now() >= c.deadline);
        if let Some(reply) = self.closing.as_mut().and_then(|c| c.reply.take()) {
            let result = if timed_out {
                Err(Error::new(
                    ErrorKind::Timeout,
                    "close timed out before the group acknowledged; it will notice at session timeout",
                ))
            } else {
                Ok(())
            };
            let _ = reply.send(result);
        }
        self.reporter.status(Status::Closed);
    }

    fn is_closing(&self) -> bool {
        self.closing.is_some()
    }
}
