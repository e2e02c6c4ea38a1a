//! Commands from the application's handles.

use std::sync::atomic::Ordering;

use super::EngineCore;
use crate::error::{Error, ErrorKind};
use crate::fetch::SeekTarget;
use crate::handoff::{Command, CommitRequest};
use crate::types::{Offset, TopicPartition};

impl EngineCore {
    pub(super) fn apply_command(&mut self, command: Command) {
        match command {
            Command::Commit(request) => self.manual_commit(request),
            Command::PulledEnded => {
                if !self.is_closing() && self.rejoin.left.swap(false, Ordering::AcqRel) {
                    self.rejoin();
                }
            }
            Command::Rejoin => self.rejoin(),
            // The engine's loop plans fetches after every command; nothing else to do.
            Command::Resumed => {}
            Command::Seek { tp, to, reply } => {
                let result = self.seek(&tp, to);
                let _ = reply.send(result);
            }
            Command::Query(query) => self.handle_query(query),
            Command::Metrics(reply) => {
                let _ = reply.send(self.metrics(self.now));
            }
            Command::Assign { tps, add, reply } => {
                let result = if self.manual.is_none() {
                    Err(Error::new(
                        ErrorKind::Config,
                        "this consumer subscribed, so its group assigns its partitions: build it with .assign([...]) to choose them yourself",
                    ))
                } else if let Some(tp) = tps.iter().find(|tp| tp.partition < 0 || tp.topic.is_empty()) {
                    Err(Error::new(
                        ErrorKind::Config,
                        format!("cannot assign {tp}: no such partition"),
                    ))
                } else if add {
                    self.assign_manually(tps);
                    Ok(())
                } else {
                    self.unassign_manually(tps);
                    Ok(())
                };
                let _ = reply.send(result);
            }
            Command::Close(reply) => self.start_close(Some(reply)),
            Command::Pause {
                partitions,
                paused,
                reply,
            } => {
                let result = self.set_paused(partitions, paused);
                let _ = reply.send(result);
            }
        }
    }

    /// Moves `tp`'s position. The stream learns of it through its seek epoch, bumped before the
    /// answer: from its next poll it drops what it holds from the old position.
    fn seek(&mut self, tp: &TopicPartition, to: Offset) -> crate::error::Result<()> {
        let target = SeekTarget::from_offset(to)
            .map_err(|why| Error::new(ErrorKind::Config, format!("cannot seek {tp}: {why}")))?;
        if let Some(fatal) = &self.failed {
            return Err(fatal.clone());
        }
        let Some(part) = self.parts.get(tp).filter(|p| !p.is_ended()) else {
            return Err(Error::new(
                ErrorKind::Config,
                format!("cannot seek {tp}: it is not assigned to this consumer now"),
            ));
        };
        rewind_stream(&part.shared);
        self.fetch.seek_to(tp, target, self.now);
        self.commit.handle_seek(tp);
        tracing::debug!(partition = %tp, to = ?to, "seek");
        Ok(())
    }

    /// `tp`'s log diverges from what was fetched (KIP-320): the stream drops what it holds, as
    /// at a seek, and the fetch core learns where the application was reading, which decides
    /// whether records it read were truncated.
    pub(super) fn diverged(&mut self, tp: &TopicPartition) {
        // Read before the rewind: a record the stream yields between the two is fetched again
        // (read twice), never skipped.
        let app_next = match self.parts.get(tp) {
            Some(part) => {
                let next = part.shared.delivered_next.load(Ordering::Acquire);
                rewind_stream(&part.shared);
                next
            }
            None => -1,
        };
        self.commit.handle_seek(tp);
        self.fetch.handle_diverged(tp, app_next, self.now);
    }

    fn set_paused(&mut self, partitions: Vec<TopicPartition>, paused: bool) -> crate::error::Result<()> {
        let mut unknown = Vec::new();
        for tp in partitions {
            match self.parts.get(&tp).filter(|p| !p.is_ended()) {
                Some(part) => part.shared.set_paused(paused),
                None => unknown.push(tp.to_string()),
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Config,
            format!(
                "not assigned to this consumer, so not {}: {}",
                if paused { "paused" } else { "resumed" },
                unknown.join(", ")
            ),
        ))
    }

    /// A commit the application asked for.
    fn manual_commit(&mut self, request: CommitRequest) {
        let CommitRequest { offsets, reply } = request;
        if let Some(fatal) = &self.failed {
            let _ = reply.send(Err(fatal.clone()));
            return;
        }
        if self.group.is_none() {
            let _ = reply.send(Err(Error::new(
                ErrorKind::Config,
                "this consumer has no group.id, so there is nowhere to commit offsets",
            )));
            return;
        }
        let target = self.commit_target();
        if let Err(e) = self.commit.check_owned(&offsets, target.as_ref()) {
            let _ = reply.send(Err(e));
            return;
        }
        // A committed record is processed: later auto-commits (interval, revoke, close) never go
        // below it, even while this commit is still in flight.
        for o in &offsets {
            if let Some(part) = self.parts.get(&o.tp) {
                part.shared.stored.fetch_max(o.offset, Ordering::AcqRel);
            }
        }
        let id = self.next_reply;
        self.next_reply += 1;
        self.replies.insert(id, reply);
        self.commit.commit(id, offsets, target.as_ref(), self.now);
    }
}

/// The stream's side of a position change: nothing from the old position is processed from
/// here on, so commit only what the application moves past after it (the stream resets these
/// too when it sees the new epoch; it is their writer while it runs), and drop what it holds.
fn rewind_stream(shared: &crate::handoff::PartitionShared) {
    shared.moved_past.store(-1, Ordering::Release);
    shared.stored.store(-1, Ordering::Release);
    shared.delivered_next.store(-1, Ordering::Release);
    shared.seek_epoch.fetch_add(1, Ordering::AcqRel);
}
