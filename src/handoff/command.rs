//! Messages from the application's handles to the engine.

use tokio::sync::oneshot;

use crate::error::Result;
use crate::types::TopicPartition;

/// One partition's offset to commit: the next offset to consume, and the leader epoch of the
/// record before it (-1 if unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitOffset {
    pub(crate) tp: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
}

/// A commit the application asked for, answered on `reply` with the coordinator's verdict.
#[derive(Debug)]
pub(crate) struct CommitRequest {
    pub(crate) offsets: Vec<CommitOffset>,
    pub(crate) reply: oneshot::Sender<Result<()>>,
}

/// What a handle asks of the engine.
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
