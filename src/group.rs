//! Consumer-group membership: a sans-IO state machine (no sockets, no clock of its own), the
//! assignors the leader runs, and the classification of group error codes.
//!
//! The engine drives [`GroupMachine`] in the quinn style: `handle_*` inputs, `poll_*` outputs,
//! `now: Instant` passed in. See [`machine`] for the calling order.

mod assignor;
mod classify;
mod config;
mod machine;
mod manual;
mod membership;
mod request;

pub(crate) use assignor::{AssignorKind, MemberSubscription, PartitionRacks};
pub(crate) use classify::{ErrorAction, classify};
pub(crate) use config::GroupConfig;
pub(crate) use machine::{GroupEvent, GroupMachine, LeaveReason};
pub(crate) use manual::ManualMembership;
pub(crate) use membership::Membership;
pub(crate) use request::{GroupRequest, OutgoingRequest, RequestId, Target};

#[cfg(test)]
mod sim_tests;
