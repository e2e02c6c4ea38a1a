//! The handoff between the engine thread and the application: the only types that cross threads.
//!
//! - [`Command`]s go from the application's handles to the engine (commits as [`CommitRequest`]s,
//!   pause, rejoin, close).
//! - A [`NewPartition`] goes from the engine to the application for each assigned partition, before
//!   the first fetch for it; the application wraps it into a `PartitionStream`. Its
//!   [`Delivery`]s (fetched [`Chunk`]s, or an error the application must act on) follow on its own
//!   channel, and a [`PartitionShared`] holds what both sides read and write without a message:
//!   buffered bytes, what was pulled, moved past and stored, the end and the pause.
//! - The [`RejoinSignal`] lets a pull after a max-poll-interval leave ask the engine to rejoin.
//!
//! This module is a leaf: it imports no engine and no consumer, and it reads no clock. Times in it
//! are [`Clock`] milliseconds taken from the `now` the engine passes in, so one clock (the engine
//! runtime's, which paused tokio time drives in tests) orders everything.

mod clock;
mod command;
mod partition;

pub(crate) use clock::Clock;
pub(crate) use command::{Command, CommitOffset, CommitRequest, CommittedAnswer, Query, TimesAnswer};
pub(crate) use partition::{
    Chunk, Delivery, NewPartition, PartitionHandoff, PartitionShared, RejoinSignal, partition_handoff,
};
