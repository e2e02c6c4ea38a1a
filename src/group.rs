//! Consumer-group membership: sans-IO state machines (no sockets, no clock of their own) for the
//! classic protocol ([`GroupMachine`]) and the consumer protocol of KIP-848
//! ([`ConsumerMachine`]), the assignors a classic leader runs, and the classification of group
//! error codes.
//!
//! The engine drives [`GroupMachine`] in the quinn style: `handle_*` inputs, `poll_*` outputs,
//! `now: Instant` passed in. See [`machine`] for the calling order.

mod assignor;
mod classify;
mod config;
mod consumer_protocol;
mod machine;
mod manual;
mod membership;
mod request;

pub(crate) use assignor::{AssignorKind, MemberSubscription, PartitionRacks};
pub(crate) use classify::{ErrorAction, classify};
pub(crate) use config::GroupConfig;
#[cfg(test)]
pub(crate) use config::RemoteAssignor;
pub(crate) use consumer_protocol::ConsumerMachine;
pub(crate) use machine::{GroupEvent, GroupMachine, LeaveReason};
pub(crate) use manual::ManualMembership;
pub(crate) use membership::{Membership, TopicId};
pub(crate) use request::{GroupRequest, OutgoingRequest, RequestId, Target};

#[cfg(test)]
mod sim_tests;
