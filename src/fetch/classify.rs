//! The one place where error codes in fetch and list-offsets answers become actions.
//!
//! The fetch core matches on [`FetchAction`], never on raw codes.

use crate::wire::KafkaCode;

/// What the fetch core does about a partition's error code in a Fetch (or ListOffsets) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchAction {
    /// No error: apply the data.
    None,
    /// The position is outside the log: reset it by `auto.offset.reset`.
    ResetPosition,
    /// Leadership moved or is moving (or the leader epoch is stale or ahead, or the topic id is
    /// unknown or out of date): forget the leader, refresh metadata, resume at the same position
    /// on the new leader.
    RefreshLeader,
    /// Anything else: report it as a warning, refresh metadata, try again at the same position.
    Warn,
}

/// What the fetch core does about the top-level code of a Fetch answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopAction {
    /// No error: apply the partitions.
    None,
    /// The broker does not know the session (evicted, or it restarted): start a new one.
    NewSession,
    /// The session is out of step (epoch, topic ids): close it and start a new one.
    ReplaceSession,
    /// The fetch failed as a whole: back off, refresh metadata, start a new session.
    Failed,
}

/// Classifies the top-level code of a Fetch response (v7+).
pub(crate) fn classify_top(code: KafkaCode) -> TopAction {
    match code {
        KafkaCode::NONE => TopAction::None,
        KafkaCode::FETCH_SESSION_ID_NOT_FOUND => TopAction::NewSession,
        KafkaCode::INVALID_FETCH_SESSION_EPOCH | KafkaCode::FETCH_SESSION_TOPIC_ID_ERROR => {
            TopAction::ReplaceSession
        }
        _ => TopAction::Failed,
    }
}

/// Classifies a partition-level code of a Fetch response.
pub(crate) fn classify(code: KafkaCode) -> FetchAction {
    match code {
        KafkaCode::NONE => FetchAction::None,
        KafkaCode::OFFSET_OUT_OF_RANGE => FetchAction::ResetPosition,
        KafkaCode::NOT_LEADER_OR_FOLLOWER
        | KafkaCode::FENCED_LEADER_EPOCH
        | KafkaCode::UNKNOWN_LEADER_EPOCH
        | KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
        | KafkaCode::LEADER_NOT_AVAILABLE
        | KafkaCode::REPLICA_NOT_AVAILABLE
        | KafkaCode::KAFKA_STORAGE_ERROR
        | KafkaCode::UNKNOWN_TOPIC_ID
        | KafkaCode::INCONSISTENT_TOPIC_ID => FetchAction::RefreshLeader,
        _ => FetchAction::Warn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fetch_code_has_its_action() {
        use FetchAction::*;
        let table = [
            (0, None),
            (1, ResetPosition),
            (3, RefreshLeader),
            (5, RefreshLeader),
            (6, RefreshLeader),
            (9, RefreshLeader),
            (56, RefreshLeader),
            (74, RefreshLeader),
            (75, RefreshLeader),
            (78, Warn),
            (100, RefreshLeader),
            (103, RefreshLeader),
            (-1, Warn),
            (2, Warn),
            (29, Warn),
        ];
        for (code, action) in table {
            assert_eq!(classify(KafkaCode(code)), action, "code {code}");
        }
    }

    #[test]
    fn every_top_level_fetch_code_has_its_action() {
        use TopAction::*;
        for (code, action) in [
            (0, None),
            (70, NewSession),
            (71, ReplaceSession),
            (106, ReplaceSession),
            (-1, Failed),
            (7, Failed),
        ] {
            assert_eq!(classify_top(KafkaCode(code)), action, "code {code}");
        }
    }
}
