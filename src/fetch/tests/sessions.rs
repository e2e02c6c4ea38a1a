//! Fetch sessions (KIP-227) in the fetch core, where they meet pipelining and reconnects: the
//! session's own rules (epochs, errors, forgotten partitions) are tested in `session.rs`.

use super::*;

/// The one fetch request of `reqs`: (id, session id, session epoch, partitions carried).
fn only_fetch(reqs: &[FetchRequest]) -> (u64, i32, i32, Vec<i32>) {
    match reqs {
        [FetchRequest::Fetch { id, body, .. }] => (
            *id,
            body.session_id,
            body.session_epoch,
            body.partitions.iter().map(|p| p.tp.partition).collect(),
        ),
        other => panic!("expected one fetch, got {other:?}"),
    }
}

/// A session is created and used incrementally; then partition 0 falls behind, so the core
/// pipelines sessionless fetches, and one of them fails (its connection is gone). Once caught
/// up again, the next session request is full (epoch 0, every partition, the old session id so
/// the broker closes it), not an incremental one that trusts the broker's view across the
/// reconnect.
#[test]
fn after_a_failed_fetch_on_the_connection_the_next_session_request_is_full() {
    let mut sim = Sim::new(false);
    sim.leaders(4, |_| 1);
    sim.ready_at(4, 0);
    let (id, session, epoch, parts) = only_fetch(&sim.requests());
    assert_eq!(
        (session, epoch, parts.len()),
        (0, 0, 4),
        "the first request is full"
    );
    let mut answer = fetch_response(
        (0..4)
            .map(|p| (tp(p), fetched(KafkaCode::NONE, 0, None)))
            .collect(),
    );
    answer.session_id = 7;
    sim.core.handle_fetch(id, Ok(answer), sim.now);
    let (id, session, epoch, parts) = only_fetch(&sim.requests());
    assert_eq!((session, epoch), (7, 1), "incremental");
    assert!(parts.is_empty(), "nothing moved: {parts:?}");
    // The broker answers for partition 0 only: 10 records of 100.
    let mut answer = fetch_response(vec![(tp(0), fetched(KafkaCode::NONE, 100, Some(records(0, 10))))]);
    answer.session_id = 7;
    sim.core.handle_fetch(id, Ok(answer), sim.now);
    assert_eq!(sim.delivered(), vec![(tp(0), 0)]);
    // Behind: sessionless fetches; the first one fails.
    let reqs = sim.requests();
    let behind: Vec<(u64, i32, i32)> = reqs
        .iter()
        .filter_map(|r| match r {
            FetchRequest::Fetch { id, body, .. } => Some((*id, body.session_id, body.session_epoch)),
            _ => None,
        })
        .collect();
    assert!(
        !behind.is_empty() && behind.iter().all(|&(_, s, e)| (s, e) == (0, -1)),
        "{reqs:?}"
    );
    sim.core.handle_fetch(
        behind[0].0,
        Err(Error::new(ErrorKind::Connection, "reset")),
        sim.now,
    );
    // Any other fetch of that connection fails the same way.
    for &(id, _, _) in &behind[1..] {
        sim.core
            .handle_fetch(id, Err(Error::new(ErrorKind::Connection, "reset")), sim.now);
    }
    sim.advance(Duration::from_millis(100));
    // Still behind: a sessionless fetch catches partition 0 up to the high watermark.
    let mut caught_up = false;
    for _ in 0..8 {
        let reqs = sim.requests();
        let (id, session, epoch, parts) = only_fetch(&reqs);
        if epoch >= 0 {
            assert_eq!(
                (session, epoch, parts.len()),
                (7, 0, 4),
                "after the reconnect the session request is full and closes session 7"
            );
            caught_up = true;
            break;
        }
        let answer = fetch_response(
            parts
                .iter()
                .map(|&p| {
                    let data = (p == 0).then(|| records(10, 90));
                    (
                        tp(p),
                        fetched(KafkaCode::NONE, if p == 0 { 100 } else { 0 }, data),
                    )
                })
                .collect(),
        );
        sim.core.handle_fetch(id, Ok(answer), sim.now);
        sim.delivered();
    }
    assert!(
        caught_up,
        "the consumer caught up and asked for its session again"
    );
}
