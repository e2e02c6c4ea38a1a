//! Drives the group membership machine: sends its requests, feeds back responses, and applies its
//! events to owned partitions.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::Driver;
use crate::config::ConsumerConfig;
use crate::wire::KafkaCode;

pub(crate) struct GroupResult {}

/// Placeholder until the group machine lands.
pub(crate) struct GroupDriver {}

impl GroupDriver {
    pub(crate) fn new(_config: &ConsumerConfig, _now: Instant) -> Self {
        GroupDriver {}
    }
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    pub(crate) fn topics_needed(&self) -> BTreeSet<String> {
        BTreeSet::new()
    }
    pub(crate) fn handle_partition_counts(&mut self, _counts: &BTreeMap<String, i32>, _now: Instant) {}
    pub(crate) fn rejoin(&mut self, _now: Instant) {}
    pub(crate) fn leave_max_poll(&mut self, _now: Instant) {}
    pub(crate) fn leave_close(&mut self, _now: Instant) {}
    pub(crate) fn is_left(&self) -> bool {
        true
    }
    pub(crate) fn generation(&self) -> Option<(i32, String)> {
        None
    }
    pub(crate) fn coordinator(&self) -> Option<i32> {
        None
    }
    pub(crate) fn handle_commit_error(&mut self, _code: KafkaCode, _now: Instant) {}
    pub(crate) fn revoke_done(&mut self, _now: Instant) {}
}

impl Driver {
    pub(crate) fn drive_group(&mut self, _now: Instant) {}
    pub(crate) fn handle_group_result(&mut self, _result: GroupResult, _now: Instant) {}
}
