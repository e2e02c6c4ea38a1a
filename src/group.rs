//! Consumer-group membership: a sans-IO state machine (no sockets, no clock of its own), the
//! assignors the leader runs, and the classification of group error codes.
//!
//! The engine drives [`GroupMachine`] in the quinn style: `handle_*` inputs, `poll_*` outputs,
//! `now: Instant` passed in.

mod assignor;
mod classify;

pub(crate) use assignor::{Assignments, AssignorKind, MemberSubscription};
pub(crate) use classify::{ErrorAction, classify};
