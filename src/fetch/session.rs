//! Incremental fetch sessions (KIP-227): what one broker's session holds, which partitions the
//! next request must carry, and what an answer does to the session.
//!
//! A session is a set of partitions the broker remembers with their fetch offsets. The first
//! request (epoch 0) is full and asks for a session; the broker names its id. Each later request
//! (epoch 1, 2, ...) carries only the partitions that are new or whose fetch offset, leader epoch
//! or size changed, and *forgets* those no longer wanted; the broker fetches every partition of
//! the session and answers only for those with records, an error or a changed watermark. So a
//! thousand idle partitions cost nothing per request and nothing per answer.
//!
//! # How sessions and pipelining combine
//! The broker checks that each request carries the session's next epoch, and it fetches *every*
//! partition of the session from the offset the last request gave it: two session requests in
//! flight at once would each fetch all partitions, and the second would be built before the
//! first's records moved any position. So a session request goes alone to its broker. The fetch
//! core sends one exactly where it already sends a fetch alone: when no partition of that broker
//! is known to be behind (the long poll of a caught-up consumer: the many-partitions, few-records
//! case that sessions are for). While partitions are behind, fetches are pipelined as before, as
//! sessionless full fetches (session id 0, epoch -1) that leave the session alone; when the
//! consumer has caught up, the next session request brings every changed position up to date.
//!
//! # Reconnects and rebalances
//! A failed fetch poisons its connection, so the broker's next request goes on a new one; after
//! any failed fetch to a broker (session request or not) its next session request is full and
//! closes the old session, so nothing rests on what the broker made of the lost connection. A
//! rebalance does not start the session over: revoked partitions are forgotten and new ones
//! added by the next incremental request, as Kafka's own consumer (`FetchSessionHandler`) does;
//! a full request there would send every partition again for nothing.

use std::collections::BTreeMap;

use super::FetchPartitionBody;
use super::classify::{TopAction, classify_top};
use crate::types::TopicPartition;
use crate::wire::KafkaCode;

/// What the broker's session holds for one partition: what the last request said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    topic_id: [u8; 16],
    offset: i64,
    leader_epoch: i32,
    last_fetched_epoch: i32,
    max_bytes: i32,
}

impl Held {
    fn of(p: &FetchPartitionBody) -> Held {
        Held {
            topic_id: p.topic_id,
            offset: p.fetch_offset,
            leader_epoch: p.current_leader_epoch,
            last_fetched_epoch: p.last_fetched_epoch,
            max_bytes: p.partition_max_bytes,
        }
    }
}

/// One broker's fetch session, as the consumer keeps it.
#[derive(Debug, Clone, Default)]
pub(super) struct Session {
    /// The broker's id for it; 0: none.
    id: i32,
    /// The epoch of the next request: 0 asks for a new session (closing `id`, if any), then 1, 2,
    /// ... (after `i32::MAX`, 1 again).
    epoch: i32,
    /// What the broker's session holds, as of the last request sent.
    held: BTreeMap<TopicPartition, Held>,
}

/// A session request: its id and epoch, the partitions it carries and those it forgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SessionRequest {
    pub(super) id: i32,
    pub(super) epoch: i32,
    pub(super) partitions: Vec<FetchPartitionBody>,
    pub(super) forgotten: Vec<(TopicPartition, [u8; 16])>,
}

/// What an answer means for the partitions it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionAnswer {
    /// Apply them (partitions missing from it did not change).
    Apply,
    /// A session error: nothing to apply; the next request is full. `backoff` when the failed
    /// request was full already (so errors do not loop at once).
    Retry { backoff: bool },
    /// Not a session matter: the fetch failed as a whole.
    Failed,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

impl Session {
    /// The next request, for `wanted`: every partition the session is to fetch now (the whole
    /// set, not only the changed ones). A full request (epoch 0) carries them all; an incremental
    /// one the changed and new ones, and forgets the ones not wanted any more.
    pub(super) fn request(&mut self, mut wanted: Vec<FetchPartitionBody>) -> SessionRequest {
        // One walk over `wanted` and `held` side by side, both in partition order (the fetch
        // core builds `wanted` in that order; anything else is sorted first): a consumer of a
        // thousand quiet partitions sends a session request for every long poll, and a map
        // lookup per partition per request cost more than the rest of the request.
        if !wanted.is_sorted_by(|a, b| a.tp <= b.tp) {
            wanted.sort_by(|a, b| a.tp.cmp(&b.tp));
        }
        let mut old = std::mem::take(&mut self.held).into_iter().peekable();
        // What the broker holds for each wanted partition, and what it holds that is not wanted.
        let mut prev: Vec<Option<Held>> = Vec::with_capacity(wanted.len());
        let mut unwanted: Vec<(TopicPartition, [u8; 16])> = Vec::new();
        for p in &wanted {
            while let Some((tp, h)) = old.next_if(|(tp, _)| *tp < p.tp) {
                unwanted.push((tp, h.topic_id));
            }
            prev.push(old.next_if(|(tp, _)| *tp == p.tp).map(|(_, h)| h));
        }
        unwanted.extend(old.map(|(tp, h)| (tp, h.topic_id)));
        // A session names its topics by id (Fetch v13+) or by name throughout, and the broker
        // keys it by topic id: a topic whose id changed (deleted and created again) or a switch
        // between ids and names starts a new session.
        let by_id = |id: &[u8; 16]| *id != [0; 16];
        let held_before = prev
            .iter()
            .flatten()
            .map(|h| h.topic_id)
            .chain(unwanted.iter().map(|(_, id)| *id));
        let mut any_held = false;
        let mut held_all_by_id = true;
        for id in held_before {
            any_held = true;
            held_all_by_id &= by_id(&id);
        }
        let mode_changed = wanted
            .iter()
            .zip(&prev)
            .any(|(p, h)| h.is_some_and(|h| h.topic_id != p.topic_id))
            || (any_held && held_all_by_id != wanted.iter().all(|p| by_id(&p.topic_id)));
        if mode_changed && self.epoch != 0 {
            tracing::debug!(
                session = self.id,
                "topic ids changed; starting a new fetch session"
            );
            self.restart(true);
        }
        let full = self.epoch == 0;
        // `wanted` is in partition order, so the new map is built in bulk.
        self.held = wanted.iter().map(|p| (p.tp.clone(), Held::of(p))).collect();
        let partitions: Vec<FetchPartitionBody> = wanted
            .into_iter()
            .zip(prev)
            .filter(|(p, h)| full || *h != Some(Held::of(p)))
            .map(|(p, _)| p)
            .collect();
        let forgotten = if full { Vec::new() } else { unwanted };
        SessionRequest {
            id: self.id,
            epoch: self.epoch,
            partitions,
            forgotten,
        }
    }

    /// The answer to the request sent with `epoch`: its top-level `error` and `session_id`.
    pub(super) fn answer(&mut self, epoch: i32, error: KafkaCode, session_id: i32) -> SessionAnswer {
        match classify_top(error) {
            TopAction::None => {}
            TopAction::NewSession => {
                tracing::debug!(session = self.id, "fetch session not found; starting a new one");
                self.restart(false);
                return SessionAnswer::Retry { backoff: epoch == 0 };
            }
            TopAction::ReplaceSession => {
                tracing::debug!(session = self.id, %error, "fetch session out of step; replacing it");
                self.restart(true);
                return SessionAnswer::Retry { backoff: epoch == 0 };
            }
            TopAction::Failed => {
                self.restart(true);
                return SessionAnswer::Failed;
            }
        }
        if epoch == 0 {
            // 0: the broker keeps no session (full cache, or sessions off): ask again next time,
            // which costs what a sessionless full fetch costs.
            self.id = session_id;
            self.epoch = if session_id == 0 { 0 } else { 1 };
        } else if session_id == self.id {
            self.epoch = next_epoch(epoch);
        } else {
            // An incremental answer for another session: trust none of it.
            tracing::debug!(
                session = self.id,
                answered = session_id,
                "fetch answer for another session; replacing it"
            );
            self.restart(true);
            return SessionAnswer::Retry { backoff: false };
        }
        SessionAnswer::Apply
    }

    /// The request was lost (transport error, timeout): the broker may or may not have applied
    /// it, so the next request is full, closing this session.
    pub(super) fn lost(&mut self) {
        self.restart(true);
    }

    /// The next request is full; it closes the current session too when `close` (else the
    /// broker has forgotten it already).
    fn restart(&mut self, close: bool) {
        if !close {
            self.id = 0;
        }
        self.epoch = 0;
        self.held.clear();
    }

    /// The session to close when the consumer stops (a request with epoch -1 and no
    /// partitions), if there is one.
    pub(super) fn to_close(&self) -> Option<i32> {
        (self.id != 0).then_some(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(partition: i32, offset: i64) -> FetchPartitionBody {
        FetchPartitionBody {
            tp: TopicPartition::new("t", partition),
            topic_id: [7; 16],
            current_leader_epoch: 3,
            fetch_offset: offset,
            last_fetched_epoch: -1,
            partition_max_bytes: 1024,
        }
    }

    fn parts(r: &SessionRequest) -> Vec<(i32, i64)> {
        r.partitions
            .iter()
            .map(|p| (p.tp.partition, p.fetch_offset))
            .collect()
    }

    #[test]
    fn full_then_only_what_changed_then_forgotten() {
        let mut s = Session::default();
        let r = s.request(vec![p(0, 10), p(1, 20), p(2, 30)]);
        assert_eq!((r.id, r.epoch), (0, 0));
        assert_eq!(parts(&r), [(0, 10), (1, 20), (2, 30)]);
        assert_eq!(s.answer(0, KafkaCode::NONE, 77), SessionAnswer::Apply);

        // Nothing changed: an empty incremental request (the broker fetches all three).
        let r = s.request(vec![p(0, 10), p(1, 20), p(2, 30)]);
        assert_eq!((r.id, r.epoch), (77, 1));
        assert!(r.partitions.is_empty() && r.forgotten.is_empty());
        assert_eq!(s.answer(1, KafkaCode::NONE, 77), SessionAnswer::Apply);

        // Partition 1 moved, 2 is no longer wanted, 3 is new.
        let r = s.request(vec![p(0, 10), p(1, 25), p(3, 0)]);
        assert_eq!(r.epoch, 2);
        assert_eq!(parts(&r), [(1, 25), (3, 0)]);
        assert_eq!(r.forgotten, [(TopicPartition::new("t", 2), [7; 16])]);
        assert_eq!(s.answer(2, KafkaCode::NONE, 77), SessionAnswer::Apply);

        // A new leader epoch or a grown fetch size is a change too.
        let mut moved = p(0, 10);
        moved.current_leader_epoch = 4;
        let mut bigger = p(1, 25);
        bigger.partition_max_bytes = 2048;
        let r = s.request(vec![moved, bigger, p(3, 0)]);
        assert_eq!(parts(&r), [(0, 10), (1, 25)]);
        assert!(r.forgotten.is_empty());
    }

    #[test]
    fn a_declined_session_keeps_asking_with_full_requests() {
        let mut s = Session::default();
        s.request(vec![p(0, 1)]);
        assert_eq!(s.answer(0, KafkaCode::NONE, 0), SessionAnswer::Apply);
        let r = s.request(vec![p(0, 1)]);
        assert_eq!((r.id, r.epoch), (0, 0));
        assert_eq!(parts(&r), [(0, 1)], "a full request carries everything");
        assert_eq!(s.to_close(), None);
    }

    #[test]
    fn a_topic_id_that_changed_or_a_switch_to_names_starts_a_new_session() {
        let mut s = Session::default();
        s.request(vec![p(0, 1), p(1, 1)]);
        s.answer(0, KafkaCode::NONE, 9);
        assert_eq!(s.request(vec![p(0, 1), p(1, 1)]).epoch, 1);
        s.answer(1, KafkaCode::NONE, 9);
        // The topic was deleted and created again: a new id.
        let mut recreated = p(1, 0);
        recreated.topic_id = [8; 16];
        let r = s.request(vec![p(0, 1), recreated.clone()]);
        assert_eq!((r.id, r.epoch), (9, 0), "closes session 9, asks for a new one");
        assert_eq!(parts(&r), [(0, 1), (1, 0)]);
        assert!(r.forgotten.is_empty());
        s.answer(0, KafkaCode::NONE, 10);
        // A topic whose id is unknown: the request goes by name (v12), so a new session too.
        let mut unknown = p(2, 0);
        unknown.topic_id = [0; 16];
        let r = s.request(vec![p(0, 1), recreated, unknown]);
        assert_eq!((r.id, r.epoch), (10, 0));
    }

    #[test]
    fn session_errors_start_over_with_a_full_request() {
        let mut s = Session::default();
        s.request(vec![p(0, 1)]);
        s.answer(0, KafkaCode::NONE, 9);
        s.request(vec![p(0, 1)]);
        // Evicted: a new session (id 0), at once.
        assert_eq!(
            s.answer(1, KafkaCode::FETCH_SESSION_ID_NOT_FOUND, 0),
            SessionAnswer::Retry { backoff: false }
        );
        let r = s.request(vec![p(0, 1)]);
        assert_eq!((r.id, r.epoch), (0, 0));
        assert_eq!(parts(&r), [(0, 1)]);
        s.answer(0, KafkaCode::NONE, 10);
        s.request(vec![p(0, 1)]);
        // Out of step: close session 10 and ask for a new one in the same full request.
        assert_eq!(
            s.answer(1, KafkaCode::INVALID_FETCH_SESSION_EPOCH, 10),
            SessionAnswer::Retry { backoff: false }
        );
        let r = s.request(vec![p(0, 1)]);
        assert_eq!((r.id, r.epoch), (10, 0));
        // The full request fails the same way: back off before the next.
        assert_eq!(
            s.answer(0, KafkaCode::INVALID_FETCH_SESSION_EPOCH, 10),
            SessionAnswer::Retry { backoff: true }
        );
        assert_eq!(s.answer(0, KafkaCode(-1), 0), SessionAnswer::Failed);
    }

    #[test]
    fn a_lost_request_or_a_stranger_answer_makes_the_next_request_full() {
        let mut s = Session::default();
        s.request(vec![p(0, 1), p(1, 1)]);
        s.answer(0, KafkaCode::NONE, 5);
        s.request(vec![p(0, 1)]);
        s.lost();
        let r = s.request(vec![p(0, 1), p(1, 1)]);
        assert_eq!((r.id, r.epoch), (5, 0));
        assert_eq!(parts(&r), [(0, 1), (1, 1)]);
        s.answer(0, KafkaCode::NONE, 6);
        s.request(vec![p(0, 1)]);
        assert_eq!(
            s.answer(1, KafkaCode::NONE, 99),
            SessionAnswer::Retry { backoff: false }
        );
        assert_eq!(s.request(vec![p(0, 1)]).epoch, 0);
    }

    #[test]
    fn epochs_wrap_to_one() {
        let mut s = Session {
            id: 3,
            epoch: i32::MAX,
            held: BTreeMap::new(),
        };
        let r = s.request(vec![p(0, 1)]);
        assert_eq!(r.epoch, i32::MAX);
        s.answer(r.epoch, KafkaCode::NONE, 3);
        assert_eq!(s.request(vec![p(0, 1)]).epoch, 1);
        assert_eq!(s.to_close(), Some(3));
    }
}
