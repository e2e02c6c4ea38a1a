//! Commands from the application's handles.

use std::sync::atomic::Ordering;

use super::EngineCore;
use crate::error::{Error, ErrorKind};
use crate::handoff::{Command, CommitRequest};
use crate::types::TopicPartition;

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
            Command::Close(reply) => self.start_close(Some(reply)),
            Command::Pause {
                partitions,
                paused,
                reply,
            } => {
                let result = self.set_paused(partitions, paused);
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
        }
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
