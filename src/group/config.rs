//! Group membership configuration.

use std::time::Duration;

use super::AssignorKind;
pub(crate) use crate::config::RemoteAssignor;
use crate::error::{Error, ErrorKind};

/// How this member takes part in its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupConfig {
    /// `group.id`.
    pub(crate) group_id: String,
    /// `group.instance.id` (KIP-345 static membership).
    pub(crate) group_instance_id: Option<String>,
    /// `session.timeout.ms`: the coordinator drops a member it has not heard from for this long.
    pub(crate) session_timeout: Duration,
    /// The JoinGroup rebalance timeout (`max.poll.interval.ms`, as in the Java client).
    pub(crate) rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub(crate) heartbeat_interval: Duration,
    /// `partition.assignment.strategy`, in preference order.
    pub(crate) assignors: Vec<AssignorKind>,
    /// `retry.backoff.ms`: the first retry delay; it doubles on repeated failures, up to 1 s (or
    /// this value, if larger).
    pub(crate) retry_backoff: Duration,
    /// Deadline for FindCoordinator, Heartbeat (capped at the session timeout) and LeaveGroup,
    /// and the longest the leader waits for partition counts (capped at half a session).
    /// JoinGroup and SyncGroup get `rebalance_timeout` + 5 s, since the coordinator holds them for
    /// the whole rebalance.
    pub(crate) request_timeout: Duration,
    /// `client.rack`, sent in the subscription (KIP-881), or in ConsumerGroupHeartbeat.
    pub(crate) client_rack: Option<String>,
    /// `group.remote.assignor` (consumer protocol only): the broker-side assignor to ask for, or
    /// `None` for the broker's default.
    pub(crate) remote_assignor: Option<RemoteAssignor>,
    /// The consumer protocol's `SubscribedTopicRegex`: topics the coordinator matches, besides the
    /// subscribed names.
    pub(crate) subscribed_regex: Option<String>,
}

impl GroupConfig {
    /// A configuration with librdkafka's defaults: session 45 s, heartbeat 3 s, max poll interval
    /// 300 s, assignors `range,roundrobin` (eager, and what librdkafka members offer by default, so
    /// mixed groups agree), retry backoff 100 ms, request timeout 30 s.
    pub(crate) fn new(group_id: impl Into<String>) -> Self {
        GroupConfig {
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            assignors: vec![AssignorKind::Range, AssignorKind::RoundRobin],
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            client_rack: None,
            remote_assignor: None,
            subscribed_regex: None,
        }
    }

    /// Checks what the broker would reject or what cannot work.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let fail = |msg: String| Err(Error::new(ErrorKind::Config, msg));
        if self.group_id.is_empty() {
            return fail("group.id must not be empty".into());
        }
        if self.group_instance_id.as_deref() == Some("") {
            return fail("group.instance.id must not be empty when set".into());
        }
        if self.assignors.is_empty() {
            return fail("partition.assignment.strategy needs at least one assignor".into());
        }
        let cooperative = self.assignors.iter().filter(|a| a.is_cooperative()).count();
        if cooperative != 0 && cooperative != self.assignors.len() {
            return fail(
                "partition.assignment.strategy cannot mix cooperative-sticky with eager assignors (range, roundrobin)"
                    .into(),
            );
        }
        if self.heartbeat_interval >= self.session_timeout {
            return fail(format!(
                "heartbeat.interval.ms ({} ms) must be lower than session.timeout.ms ({} ms)",
                self.heartbeat_interval.as_millis(),
                self.session_timeout.as_millis()
            ));
        }
        for (name, d) in [
            ("session.timeout.ms", self.session_timeout),
            ("max.poll.interval.ms", self.rebalance_timeout),
        ] {
            if d.as_millis() > i32::MAX as u128 || d.is_zero() {
                return fail(format!("{name} must be between 1 and {} ms", i32::MAX));
            }
        }
        Ok(())
    }

    /// The rebalance protocol: cooperative only if every assignor is (the Java client's rule).
    pub(crate) fn cooperative(&self) -> bool {
        !self.assignors.is_empty() && self.assignors.iter().all(|a| a.is_cooperative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_mixing_protocols_is_not() {
        let mut c = GroupConfig::new("g");
        c.validate().unwrap();
        assert!(!c.cooperative());
        c.assignors = vec![AssignorKind::CooperativeSticky, AssignorKind::Range];
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("cannot mix"), "{err}");
        c.assignors = vec![AssignorKind::CooperativeSticky];
        c.validate().unwrap();
        assert!(c.cooperative());
        c.heartbeat_interval = c.session_timeout;
        assert!(c.validate().is_err());
    }
}
