//! Test harness for kafkit: a scripted broker for deterministic wire tests, reference responses, and
//! access to the real broker that `scripts/test.sh` starts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

pub mod admin;
pub mod certs;
pub mod cluster;
pub mod harness;
pub mod history;
pub mod java;
pub mod process;
pub mod real;
pub mod reliability;
pub mod responses;
pub mod scripted;
pub mod secure;
