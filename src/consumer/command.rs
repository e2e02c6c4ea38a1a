//! Messages from the application's handles to the engine.

use tokio::sync::oneshot;

use crate::error::Result;
use crate::types::TopicPartition;

/// A commit of `(partition, offset to commit, leader epoch)` triples, answered on `reply`.
#[derive(Debug)]
pub(crate) struct CommitRequest {
    pub(crate) offsets: Vec<(TopicPartition, i64, i32)>,
    pub(crate) reply: oneshot::Sender<Result<()>>,
}

#[derive(Debug)]
pub(crate) enum Command {
    Commit(CommitRequest),
    /// Pause (or resume) fetching `partitions`; answered with an error naming any not assigned.
    Pause {
        partitions: Vec<TopicPartition>,
        paused: bool,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// Pulled again after a max-poll-interval leave: rejoin the group.
    Rejoin,
    /// The application pulled an ended partition stream: if the member left the group because
    /// it stopped pulling (max poll interval), that pull is the sign to rejoin.
    PulledEnded,
    /// Commit what was processed, leave the group, stop. Answered when done (bounded).
    Close(oneshot::Sender<Result<()>>),
}
