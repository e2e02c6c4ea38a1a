//! Close: streams end at once, the group's clean revoke commits what was processed, the member
//! leaves; all bounded by the close timeout.

use super::{Closing, EngineCore};
use crate::error::{Error, ErrorKind, Result};
use crate::events::Status;
use crate::group::LeaveReason;

impl EngineCore {
    /// Starts closing (or, if already closing, takes the reply if it had none).
    pub(super) fn start_close(&mut self, reply: Option<tokio::sync::oneshot::Sender<Result<()>>>) {
        if let Some(closing) = &mut self.closing {
            if closing.reply.is_none() {
                closing.reply = reply;
            }
            return;
        }
        tracing::info!("closing: committing processed offsets and leaving the group");
        self.closing = Some(Closing {
            reply,
            deadline: self.now + self.config.close_timeout,
            done: false,
        });
        // Streams stop at once; the group's clean revoke commits what they processed, then leaves.
        for part in self.parts.values() {
            part.end();
        }
        // Free the brokers' fetch sessions now rather than when they expire (best effort: the
        // answers are not waited for).
        for request in self.fetch.close_sessions() {
            self.transmits.push_back(crate::engine::Transmit::Fetch(request));
        }
        self.commit.begin_close(self.now);
        match &mut self.group {
            Some(group) => group.membership.leave(LeaveReason::Close, self.now),
            None => self.set_close_done(),
        }
    }

    pub(super) fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Done once the member has left and no commit is in flight, or at the deadline.
    pub(super) fn drive_close(&mut self) {
        let Some(closing) = &self.closing else {
            return;
        };
        if closing.done {
            return;
        }
        let left = self.group.as_ref().is_none_or(|g| g.membership.is_left());
        if self.now >= closing.deadline || left && !self.commit.is_busy() {
            self.set_close_done();
        }
    }

    pub(super) fn set_close_done(&mut self) {
        if let Some(c) = &mut self.closing {
            c.done = true;
        }
    }

    /// Ends every stream, answers the close and reports the consumer closed.
    pub(crate) fn finish(&mut self) {
        for part in self.parts.values() {
            part.end();
        }
        self.parts.clear();
        self.partitions_tx = None;
        let timed_out = self.closing.as_ref().is_some_and(|c| self.now >= c.deadline);
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
        self.set_status(Status::Closed);
    }
}
