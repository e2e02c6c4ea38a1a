//! Messages from the application's handles to the engine.

use tokio::sync::oneshot;

use crate::error::Result;
use crate::types::{Offset, OffsetAndTimestamp, TopicPartition, Watermarks};

/// The answer to an offsets-for-times question, per partition asked.
pub(crate) type TimesAnswer = Vec<(TopicPartition, Option<OffsetAndTimestamp>)>;
/// The answer to a committed-offsets question, per partition asked.
pub(crate) type CommittedAnswer = Vec<(TopicPartition, Option<i64>)>;

/// A question the application asks about offsets, answered on its `reply` within the request
/// timeout.
#[derive(Debug)]
pub(crate) enum Query {
    /// The partition's log start, high watermark and last stable offset.
    Watermarks {
        tp: TopicPartition,
        reply: oneshot::Sender<Result<Watermarks>>,
    },
    /// Per partition, the first record at or after the time (`None`: no such record).
    OffsetsForTimes {
        times: Vec<(TopicPartition, i64)>,
        reply: oneshot::Sender<Result<TimesAnswer>>,
    },
    /// The group's committed offsets (`None`: nothing committed).
    Committed {
        tps: Vec<TopicPartition>,
        reply: oneshot::Sender<Result<CommittedAnswer>>,
    },
    /// The next offset the partition's stream yields (`None` until it is known).
    Position {
        tp: TopicPartition,
        reply: oneshot::Sender<Result<Option<i64>>>,
    },
}

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
        reply: oneshot::Sender<Result<()>>,
    },
    /// Move `tp`'s position; answered once the stream will yield from there (an error if `tp` is
    /// not assigned here).
    Seek {
        tp: TopicPartition,
        to: Offset,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Manual assignment: add `tps` (or, `add: false`, remove them); answered with an error for
    /// a consumer that subscribed.
    Assign {
        tps: Vec<TopicPartition>,
        add: bool,
        reply: oneshot::Sender<Result<()>>,
    },
    /// A snapshot of the metrics (the driver adds the brokers' connection states).
    Metrics(oneshot::Sender<crate::metrics::Metrics>),
    /// A question about offsets, answered from the brokers (see [`Query`]).
    Query(Query),
    /// Pulled again after a max-poll-interval leave: rejoin the group.
    Rejoin,
    /// The application pulled an ended partition stream: if the member left the group because
    /// it stopped pulling (max poll interval), that pull is the sign to rejoin.
    PulledEnded,
    /// A partition stream resumed itself ([`crate::PartitionStream::resume`] already cleared the
    /// pause in the shared state): a nudge, so the next fetch goes out now rather than at the
    /// engine's next tick. It carries no state: a `Pause { paused: false }` sent here instead
    /// arrived after a `pause()` that followed the resume and undid it.
    Resumed,
    /// Commit what was processed, leave the group, stop. Answered when done (bounded).
    Close(oneshot::Sender<Result<()>>),
}
