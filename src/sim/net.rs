//! The simulated network between members and brokers: one connection per (member, pool, broker),
//! answered in order (a broker handles a connection's requests one at a time, so a held JoinGroup
//! or long poll holds back what follows it), with latency, deadlines and disconnects.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::{Response, Transmit};
use crate::error::{Error, ErrorKind};
use crate::fetch::FetchRequest;
use crate::types::NodeId;

/// Which of a member's broker pools a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pool {
    Data,
    Group,
}

/// A connection: member index, pool, broker.
pub(crate) type ConnKey = (usize, Pool, NodeId);

/// One connection's queue.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    /// Requests that arrived, in order; the first is being handled (or held) while `busy`.
    pub(crate) queue: VecDeque<u64>,
    pub(crate) busy: bool,
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReqState {
    /// On the way to the broker.
    Travelling,
    /// At the broker: queued, handled or held.
    AtBroker,
    /// The answer (or an error) is on its way back or has arrived: nothing more happens to it.
    Done,
}

/// One request in flight.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) member: usize,
    pub(crate) conn: ConnKey,
    pub(crate) transmit: Transmit,
    pub(crate) state: ReqState,
    pub(crate) version: i16,
}

/// The error answer a failed request gets, shaped as its response.
pub(crate) fn failed(transmit: &Transmit, version: i16, error: Error) -> Response {
    match transmit {
        Transmit::Metadata { .. } => Response::Metadata(Err(error)),
        Transmit::Group { request, .. } => Response::Group {
            id: request.id,
            version,
            result: Err(error),
        },
        Transmit::Fetch(FetchRequest::Fetch { id, .. }) => Response::Fetch {
            id: *id,
            result: Err(error),
        },
        Transmit::Fetch(FetchRequest::ListOffsets { id, .. }) => Response::ListOffsets {
            id: *id,
            result: Err(error),
        },
        Transmit::Fetch(FetchRequest::OffsetFetch { id, .. }) => Response::OffsetFetch {
            id: *id,
            result: Err(error),
        },
        Transmit::Fetch(FetchRequest::OffsetForLeaderEpoch { id, .. }) => Response::OffsetForLeaderEpoch {
            id: *id,
            result: Err(error),
        },
        Transmit::Commit { commit, .. } => Response::Commit {
            id: commit.id,
            result: Err(error),
        },
    }
}

pub(crate) fn connection_reset() -> Error {
    Error::new(ErrorKind::Connection, "connection reset (simulated)")
}

pub(crate) fn timed_out(after: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("no answer within {after:?} (simulated)"),
    )
}

/// When a request sent at `now` gives up. Every deadline closes the connection: the connection's
/// own request timeout poisons it, and the driver closes it when a group request or a commit
/// misses its shorter deadline.
pub(crate) fn deadline(transmit: &Transmit, now: Instant, conn_timeout: Duration) -> Instant {
    match transmit {
        Transmit::Group { request, .. } => now + request.timeout.min(conn_timeout),
        Transmit::Commit { commit, .. } => now + commit.timeout.min(conn_timeout),
        _ => now + conn_timeout,
    }
}
