//! Lifecycle events, status and health: what the engine reports and the application watches.
//!
//! A leaf module, like [`crate::handoff`]: the engine writes through [`Reporter`], the application
//! reads through [`Events`] and the health watch.

use std::time::SystemTime;

use tokio::sync::{broadcast, watch};

use crate::error::Error;
use crate::types::TopicPartition;

/// Something that happened to the consumer. Received through [`crate::Consumer::events`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Partitions were assigned; their streams are on [`crate::Consumer::partitions`].
    Assigned(Vec<TopicPartition>),
    /// Partitions were revoked cleanly (their streams ended; processed offsets were committed).
    Revoked(Vec<TopicPartition>),
    /// Partitions were lost without a clean revoke (session expired, generation reset, fenced);
    /// their streams ended and their uncommitted records will be delivered to the next owner.
    Lost(Vec<TopicPartition>, Error),
    /// This member joined a generation of the group.
    Joined {
        /// Generation id.
        generation_id: i32,
        /// This member's id.
        member_id: String,
        /// Whether this member computed the assignment.
        leader: bool,
    },
    /// The application pulled no waiting record for `max.poll.interval.ms`: the member left the
    /// group so others can take over. It rejoins on the next pull.
    MaxPollExceeded {
        /// A partition whose records were waiting.
        partition: TopicPartition,
    },
    /// A transient problem that kafkit is retrying (connection, coordinator, metadata).
    Warning(Error),
    /// A fatal problem: the consumer stopped (for example, another instance with the same
    /// `group.instance.id` took over).
    Fatal(Error),
}

/// Receives [`Event`]s. Slow receivers skip the oldest events rather than slow the consumer.
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<Event>,
}

impl Events {
    pub(crate) fn new(rx: broadcast::Receiver<Event>) -> Self {
        Events { rx }
    }

    /// The next event; `None` after the consumer has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Where the consumer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Built; looking for the cluster.
    Starting,
    /// No broker reachable yet (retrying with backoff).
    Connecting,
    /// Joining the group.
    Joining,
    /// Assigned and consuming.
    Consuming,
    /// Rebalancing.
    Rebalancing,
    /// Left the group because the application stopped pulling records (max poll interval).
    Stalled,
    /// Stopped by a fatal error.
    Failed,
    /// Closed.
    Closed,
}

/// A snapshot of the consumer's health, from [`crate::Consumer::health`].
#[derive(Debug, Clone)]
pub struct Health {
    /// Where the consumer is.
    pub status: Status,
    /// How many partitions it owns.
    pub assigned_partitions: usize,
    /// Records on the owned partitions that the application has not pulled yet (high watermark
    /// minus the next offset to hand out, summed), once a fetch has reported a high watermark.
    pub lag: Option<u64>,
    /// The most recent error, if any (cleared when consuming resumes).
    pub last_error: Option<Error>,
    /// When the status last changed.
    pub since: SystemTime,
}

impl Health {
    /// Whether the consumer is doing its job: consuming, or rebalancing briefly.
    pub fn is_healthy(&self) -> bool {
        matches!(
            self.status,
            Status::Consuming | Status::Rebalancing | Status::Joining
        )
    }
}

/// The engine's side of events and health.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) health: watch::Sender<Health>,
}

impl Reporter {
    pub(crate) fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        let (health, _) = watch::channel(Health {
            status: Status::Starting,
            assigned_partitions: 0,
            lag: None,
            last_error: None,
            since: SystemTime::now(),
        });
        Reporter { events, health }
    }

    pub(crate) fn event(&self, event: Event) {
        tracing::debug!(?event, "consumer event");
        let _ = self.events.send(event);
    }

    pub(crate) fn status(&self, status: Status) {
        self.health.send_if_modified(|h| {
            if h.status == status {
                return false;
            }
            h.status = status;
            h.since = SystemTime::now();
            if matches!(status, Status::Consuming) {
                h.last_error = None;
            }
            true
        });
    }

    pub(crate) fn error(&self, error: &Error) {
        self.health.send_modify(|h| h.last_error = Some(error.clone()));
    }

    pub(crate) fn assigned(&self, n: usize, lag: Option<u64>) {
        self.health.send_if_modified(|h| {
            let changed = h.assigned_partitions != n || h.lag != lag;
            h.assigned_partitions = n;
            h.lag = lag;
            changed
        });
    }
}
