//! The one place where Kafka error codes from group APIs become actions.
//!
//! The membership machine matches on [`ErrorAction`], never on raw codes.

use crate::wire::KafkaCode;

/// What the membership machine does about an error code in a group response (FindCoordinator,
/// JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ConsumerGroupHeartbeat, or OffsetCommit's group
/// errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorAction {
    /// No error.
    None,
    /// Transient: try the same request again after the retry backoff.
    Retry,
    /// The coordinator moved or is unavailable: rediscover it, then carry on (no rebalance).
    FindCoordinator,
    /// The coordinator is loading the group: retry after the backoff, same coordinator.
    RetryLoading,
    /// The group is rebalancing: rejoin (eager: revoke everything first).
    Rejoin,
    /// Our generation is stale: partitions are lost; reset the generation and rejoin.
    ResetGenerationAndRejoin,
    /// The coordinator does not know our member id: partitions are lost; reset it and rejoin.
    ResetMemberAndRejoin,
    /// KIP-394: rejoin at once with the member id the coordinator just returned.
    RejoinWithMemberId,
    /// Nothing kafkit can fix by retrying: stop and report.
    Fatal,
}

/// Classifies a group error code.
///
/// Unknown codes are retried with backoff: a code a newer broker invents should not kill a
/// consumer, and a persistent one surfaces through [`crate::group::GroupEvent::CoordinatorUnavailable`].
pub(crate) fn classify(code: KafkaCode) -> ErrorAction {
    match code {
        KafkaCode::NONE => ErrorAction::None,
        KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => ErrorAction::FindCoordinator,
        KafkaCode::COORDINATOR_LOAD_IN_PROGRESS => ErrorAction::RetryLoading,
        KafkaCode::REBALANCE_IN_PROGRESS => ErrorAction::Rejoin,
        // KIP-848's FENCED_MEMBER_EPOCH is the consumer protocol's ILLEGAL_GENERATION.
        KafkaCode::ILLEGAL_GENERATION | KafkaCode::FENCED_MEMBER_EPOCH => {
            ErrorAction::ResetGenerationAndRejoin
        }
        KafkaCode::UNKNOWN_MEMBER_ID => ErrorAction::ResetMemberAndRejoin,
        KafkaCode::MEMBER_ID_REQUIRED => ErrorAction::RejoinWithMemberId,
        KafkaCode::FENCED_INSTANCE_ID
        | KafkaCode::GROUP_AUTHORIZATION_FAILED
        | KafkaCode::INVALID_SESSION_TIMEOUT
        | KafkaCode::INCONSISTENT_GROUP_PROTOCOL
        | KafkaCode::GROUP_MAX_SIZE_REACHED
        | KafkaCode::INVALID_GROUP_ID
        | KafkaCode::UNSUPPORTED_VERSION
        | KafkaCode::UNRELEASED_INSTANCE_ID
        | KafkaCode::UNSUPPORTED_ASSIGNOR
        | KafkaCode::INVALID_REGULAR_EXPRESSION => ErrorAction::Fatal,
        _ => ErrorAction::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_code_has_its_action() {
        use ErrorAction::*;
        let table = [
            (0, None),
            (7, Retry),
            (13, Retry),
            (-1, Retry),
            (14, RetryLoading),
            (15, FindCoordinator),
            (16, FindCoordinator),
            (22, ResetGenerationAndRejoin),
            (23, Fatal),
            (24, Fatal),
            (25, ResetMemberAndRejoin),
            (26, Fatal),
            (27, Rejoin),
            (30, Fatal),
            (79, RejoinWithMemberId),
            (81, Fatal),
            (82, Fatal),
            (110, ResetGenerationAndRejoin),
            (111, Fatal),
            (112, Fatal),
            (113, Retry),
            (128, Fatal),
        ];
        for (code, action) in table {
            assert_eq!(classify(KafkaCode(code)), action, "code {code}");
        }
    }
}
