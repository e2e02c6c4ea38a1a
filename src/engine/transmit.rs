//! What the engine's core asks to have sent, and the answers it is given back.

use std::sync::Arc;

use bytes::Bytes;

use crate::cluster::ClusterMetadata;
use crate::commit::OutgoingCommit;
use crate::error::Result;
use crate::fetch::FetchRequest;
use crate::group::{OutgoingRequest, RequestId};
use crate::types::NodeId;
use crate::wire::{
    FetchResponse, ListOffsetsResponse, OffsetCommitResponse, OffsetFetchResponse,
    OffsetForLeaderEpochResponse,
};

/// A coordinator's node id and `host:port`, registered with the group connections before a
/// request to it is sent.
pub(crate) type CoordinatorAddress = Option<(NodeId, String)>;

/// A request to send. Group traffic (membership and commits) goes on connections of its own, so a
/// heartbeat never queues behind a long-polling fetch; everything else on the data connections.
#[derive(Debug)]
pub(crate) enum Transmit {
    /// Metadata for `topics` (`None`: every topic, for a pattern subscription), from any broker
    /// (one attempt).
    Metadata { topics: Option<Vec<String>> },
    /// A membership request; `timeout` is in it.
    Group {
        request: OutgoingRequest,
        coordinator: CoordinatorAddress,
    },
    /// Fetch, ListOffsets (to a partition's leader) or OffsetFetch (to the coordinator).
    Fetch(FetchRequest),
    /// An OffsetCommit to the coordinator, within `commit.timeout`.
    Commit {
        commit: OutgoingCommit,
        coordinator: CoordinatorAddress,
    },
}

/// The answer to a [`Transmit`] (or the transport, timeout, version or decoding error that took
/// its place). Every transmit is answered exactly once.
#[derive(Debug)]
pub(crate) enum Response {
    Metadata(Result<Arc<ClusterMetadata>>),
    /// The body after the response header, with the version it is to be decoded at.
    Group {
        id: RequestId,
        version: i16,
        result: Result<Bytes>,
    },
    Fetch {
        id: u64,
        result: Result<FetchResponse>,
    },
    ListOffsets {
        id: u64,
        result: Result<ListOffsetsResponse>,
    },
    OffsetFetch {
        id: u64,
        result: Result<OffsetFetchResponse>,
    },
    OffsetForLeaderEpoch {
        id: u64,
        result: Result<OffsetForLeaderEpochResponse>,
    },
    Commit {
        id: u64,
        result: Result<OffsetCommitResponse>,
    },
}
