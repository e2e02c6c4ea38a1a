//! The coordinator-only membership of a manually assigned consumer, on a virtual clock: it finds
//! the coordinator (retrying with backoff), commits carry generation -1 and no member id, a
//! coordinator error sends it looking again, and leaving needs no request.

use std::time::{Duration, Instant};

use super::{encode, find_err, find_ok};
use crate::group::{GroupEvent, LeaveReason, ManualMembership, Membership, Target};
use crate::wire::KafkaCode;

#[test]
fn finds_the_coordinator_commits_as_generation_minus_one_and_looks_again_after_a_move() {
    let now = Instant::now();
    let mut m = ManualMembership::new(
        "g".into(),
        Duration::from_secs(30),
        Duration::from_millis(100),
        now,
    );
    assert_eq!(m.generation(), None, "no commit before the coordinator is known");
    let find = m.poll_request().expect("FindCoordinator");
    assert_eq!(find.target, Target::AnyBroker);
    assert!(m.poll_request().is_none(), "one lookup at a time");
    // Not available yet: a warning, and a retry after the backoff.
    m.handle_response(
        find.id,
        Ok(encode(&find_err(3, KafkaCode::COORDINATOR_NOT_AVAILABLE), 3)),
        3,
        now,
    );
    assert!(matches!(
        m.poll_event(),
        Some(GroupEvent::CoordinatorUnavailable(_))
    ));
    assert!(m.poll_request().is_none(), "backing off");
    let later = now + Duration::from_millis(100);
    assert_eq!(m.poll_timeout(), Some(later));
    m.handle_timeout(later);
    let find = m.poll_request().expect("asked again");
    m.handle_response(find.id, Ok(encode(&find_ok(3, 7), 3)), 3, later);
    assert_eq!(m.coordinator(), Some(7));
    assert_eq!(m.generation(), Some((-1, String::new())));
    assert!(
        m.poll_request().is_none() && m.poll_timeout().is_none(),
        "nothing else to send: no join, no heartbeat"
    );
    // The coordinator moved: looked up again.
    m.handle_commit_error(KafkaCode::NOT_COORDINATOR, later);
    assert_eq!(m.generation(), None);
    let find = m.poll_request().expect("looked up again");
    m.handle_response(find.id, Ok(encode(&find_ok(4, 8), 4)), 4, later);
    assert_eq!(m.coordinator(), Some(8));
    // Leaving needs no request.
    m.leave(LeaveReason::Close, later);
    assert!(m.is_left() && m.generation().is_none() && m.poll_request().is_none());
}
