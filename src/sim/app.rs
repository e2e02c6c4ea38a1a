//! A simulated application on one member: it takes partition streams from the real
//! [`Partitions`] handle, pulls records from the real [`PartitionStream`]s (polled with a no-op
//! waker, so nothing in here waits), commits through the real command path, pauses, stalls and
//! lets go of ended streams after a while, and records what it saw in the history.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::Rng;
use super::history::{Fact, History};
use crate::consumer::{PartitionStream, Partitions, commit_offsets};
use crate::error::Result;
use crate::handoff::{Command, CommitOffset};
use crate::types::TopicPartition;

/// How the application commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitPolicy {
    /// Auto-commit only (what was pulled past).
    Auto,
    /// Commits every `n`-th record of a partition and waits for the answer before pulling on
    /// (the reliability suite's members do this).
    Every(u32),
    /// Stores every `n`-th record for auto-commit.
    Store(u32),
}

/// How one application behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppPolicy {
    pub(crate) commit: CommitPolicy,
    /// Records pulled per stream per turn.
    pub(crate) batch: u32,
    /// Delay between turns while records keep coming, and before an ended stream is let go.
    pub(crate) think: (u64, u64),
    /// Pause and resume partitions now and then.
    pub(crate) pauses: bool,
}

type CommitFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

struct AppStream {
    stream: PartitionStream,
    tp: TopicPartition,
    pulled: u32,
    commit: Option<(i64, CommitFuture)>,
    /// Ended: let go at this time.
    release_at: Option<Instant>,
    paused_until: Option<Instant>,
}

/// One member's application.
pub(crate) struct App {
    name: String,
    policy: AppPolicy,
    partitions: Partitions,
    commands: mpsc::Sender<Command>,
    streams: Vec<AppStream>,
    /// Not pulling anything until then (a stuck application).
    pub(crate) stalled_until: Option<Instant>,
}

fn noop_context() -> Context<'static> {
    Context::from_waker(std::task::Waker::noop())
}

impl App {
    pub(crate) fn new(
        name: &str,
        policy: AppPolicy,
        partitions: Partitions,
        commands: mpsc::Sender<Command>,
    ) -> App {
        App {
            name: name.to_owned(),
            policy,
            partitions,
            commands,
            streams: vec![],
            stalled_until: None,
        }
    }

    /// Streams the application holds.
    #[allow(dead_code)] // diagnostics
    pub(crate) fn held(&self) -> usize {
        self.streams.len()
    }

    /// The application goes away: it takes the streams still waiting in `partitions` (as an
    /// application holding its streams to the end does) and drops them all.
    pub(crate) fn shutdown(mut self) {
        let mut cx = noop_context();
        while let Poll::Ready(Some(stream)) = Pin::new(&mut self.partitions).poll_next(&mut cx) {
            drop(stream);
        }
    }

    /// One turn at `now`. Returns when it wants the next turn (None: when something changes).
    pub(crate) fn step(
        &mut self,
        now: Instant,
        t: Duration,
        rng: &mut Rng,
        history: &mut History,
    ) -> Option<Instant> {
        if self.stalled_until.is_some_and(|s| now < s) {
            return self.stalled_until;
        }
        self.stalled_until = None;
        let mut cx = noop_context();
        while let Poll::Ready(Some(stream)) = Pin::new(&mut self.partitions).poll_next(&mut cx) {
            let tp = stream.topic_partition().clone();
            self.streams.push(AppStream {
                stream,
                tp,
                pulled: 0,
                commit: None,
                release_at: None,
                paused_until: None,
            });
        }
        let think = rng.millis(self.policy.think.0, self.policy.think.1);
        let mut again = false;
        let mut wake: Option<Instant> = None;
        let mut soonest = |at: Instant| {
            wake = Some(wake.map_or(at, |w| w.min(at)));
        };
        for s in &mut self.streams {
            if let Some(at) = s.release_at {
                if now < at {
                    soonest(at);
                }
                continue;
            }
            if let Some((offset, fut)) = &mut s.commit {
                match fut.as_mut().poll(&mut cx) {
                    Poll::Ready(Ok(())) => {
                        // The coordinator's applied commits are recorded on its side; an
                        // acknowledged one is also a fact of this member.
                        history.record(t, &self.name, Fact::Committed(s.tp.clone(), *offset));
                        s.commit = None;
                    }
                    Poll::Ready(Err(_)) => s.commit = None,
                    Poll::Pending => continue,
                }
            }
            if let Some(until) = s.paused_until {
                if now < until {
                    // A paused stream yields nothing, but its end still wakes the task awaiting
                    // it (as the stream documents): a well-behaved application keeps awaiting it
                    // and lets go of it once it ends, rather than sitting on it until its resume.
                    match Pin::new(&mut s.stream).poll_next(&mut cx) {
                        Poll::Ready(None) => {
                            let at = now + think;
                            s.release_at = Some(at);
                            soonest(at);
                        }
                        Poll::Pending => soonest(until),
                        Poll::Ready(Some(r)) => panic!(
                            "{} yielded {:?} while paused (a broken promise of pause)",
                            s.tp,
                            r.map(|r| r.offset())
                        ),
                    }
                    continue;
                }
                s.paused_until = None;
                s.stream.resume();
            }
            if self.policy.pauses && rng.chance(2) {
                s.stream.pause();
                let until = now + rng.millis(10, 2000);
                s.paused_until = Some(until);
                soonest(until);
                continue;
            }
            for _ in 0..self.policy.batch {
                match Pin::new(&mut s.stream).poll_next(&mut cx) {
                    Poll::Ready(Some(Ok(record))) => {
                        history.record(t, &self.name, Fact::Delivered(s.tp.clone(), record.offset()));
                        s.pulled += 1;
                        match self.policy.commit {
                            CommitPolicy::Every(n) if s.pulled.is_multiple_of(n) => {
                                let offset = CommitOffset {
                                    tp: s.tp.clone(),
                                    offset: record.offset() + 1,
                                    leader_epoch: record.leader_epoch(),
                                };
                                let next = offset.offset;
                                let commands = self.commands.clone();
                                let mut fut: CommitFuture =
                                    Box::pin(async move { commit_offsets(&commands, vec![offset]).await });
                                // Sends the command now; the answer is looked at on later turns.
                                if fut.as_mut().poll(&mut cx).is_pending() {
                                    s.commit = Some((next, fut));
                                }
                                break;
                            }
                            CommitPolicy::Store(n) if s.pulled.is_multiple_of(n) => s.stream.store(&record),
                            _ => {}
                        }
                        again = true;
                    }
                    Poll::Ready(Some(Err(_))) => again = true,
                    Poll::Ready(None) => {
                        let at = now + think;
                        s.release_at = Some(at);
                        soonest(at);
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        // Let go of ended streams whose time has come.
        self.streams.retain(|s| {
            let keep = s.release_at.is_none_or(|at| now < at);
            if !keep {
                history.record(t, &self.name, Fact::Released(s.tp.clone()));
            }
            keep
        });
        if again {
            soonest(now + think);
        }
        wake
    }
}
