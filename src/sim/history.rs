//! What each simulated member saw and did, and the check of the consumer's promises over it: the
//! same promises the reliability suite's history checker (`protocol-tests/src/history.rs`) checks
//! on real brokers, here on the virtual clock.
//!
//! 1. **Nothing lost**: every produced offset was delivered at least once.
//! 2. **In order within an ownership**: a *run* is one member's deliveries of one partition between
//!    two of its assignment changes for that partition; within a run each delivery is the next
//!    produced offset: no gap, no backwards step, no duplicate.
//! 3. **Commits never ahead**: an acknowledged commit of next-offset `n` requires the member to
//!    have been delivered `n - 1` (or `n` is where the partition starts).
//! 4. **Re-deliveries only from the uncommitted window**: a run starts at or after the highest
//!    commit acknowledged before it began, and not past the next offset nobody had yet.
//! 5. **No two owners at once**: ownership intervals (assigned to revoked/lost/closed/killed,
//!    stretched over the member's own deliveries) of different members never overlap, except
//!    while one of them was stuck (the promise is for a well-behaved application).
//! 6. **Commits never backwards**: the group's committed offset of a partition, as the coordinator
//!    applied commits, never decreases (recorded by the simulated coordinator).
//!
//! An unclean leader election ([`Fact::Truncated`]) takes back what the log promised: the
//! offsets from the truncation point on must be delivered again (they hold other records now),
//! each run of the partition may step back once to exactly that point (where it had read past
//! it), commits acknowledged beyond it no longer bound where runs start (a run may start exactly
//! at a truncation point), and the group's offset may go back to it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::types::TopicPartition;

/// What happened (times are since the start of the case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fact {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
    /// The application dropped the partition's ended stream: it processes nothing of it any more
    /// (the engine's `Revoked` may come later, once the revoke's commit is answered).
    Released(TopicPartition),
    Delivered(TopicPartition, i64),
    /// The coordinator acknowledged the member's commit of next offset `i64`.
    Committed(TopicPartition, i64),
    Closed,
    Killed,
    /// The coordinator applied a commit that lowered the group's offset (a broken promise).
    CommitBackwards(TopicPartition, i64, i64),
    /// The application stopped pulling (stuck) until this time: not a well-behaved application,
    /// so no-two-owners does not hold for it meanwhile (the coordinator hands its partitions on
    /// after the rebalance timeout while it may still be processing).
    Stalled(Duration),
    /// An unclean leader election cut the partition's log back to this offset; the offsets from
    /// there are written again with other records (recorded by the simulated cluster).
    Truncated(TopicPartition, i64),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) t: Duration,
    pub(crate) member: String,
    pub(crate) fact: Fact,
}

/// Everything recorded in one case.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    pub(crate) entries: Vec<Entry>,
}

/// What the check needs besides the history.
#[derive(Debug, Default, Clone)]
pub(crate) struct Expected {
    /// Offsets produced to each partition.
    pub(crate) produced: BTreeMap<TopicPartition, BTreeSet<i64>>,
    /// Where each partition starts when nothing is committed (default: its first produced offset).
    pub(crate) start: BTreeMap<TopicPartition, i64>,
    /// Ownership overlap tolerated (only where the protocol allows a window: a member cut off
    /// from its coordinator keeps its partitions until its own session timer runs out).
    pub(crate) overlap_tolerance: Duration,
}

/// What the check saw.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Report {
    pub(crate) deliveries: usize,
    pub(crate) redeliveries: usize,
    pub(crate) runs: usize,
    pub(crate) commits: usize,
    /// Overlaps excused because one of the two members was stuck.
    pub(crate) stuck_overlaps: usize,
}

struct Ownership {
    member: String,
    start: Duration,
    end: Duration,
}

impl History {
    pub(crate) fn record(&mut self, t: Duration, member: &str, fact: Fact) {
        self.entries.push(Entry {
            t,
            member: member.to_owned(),
            fact,
        });
    }

    /// Offsets of `tp` delivered to anyone (since the last truncation, for offsets it took back:
    /// those hold other records now).
    pub(crate) fn delivered(&self, tp: &TopicPartition) -> BTreeSet<i64> {
        let mut out = BTreeSet::new();
        for e in &self.entries {
            match &e.fact {
                Fact::Delivered(t, o) if t == tp => {
                    out.insert(*o);
                }
                Fact::Truncated(t, to) if t == tp => {
                    out.split_off(to);
                }
                _ => {}
            }
        }
        out
    }

    /// Checks every promise; the violations found, if any.
    pub(crate) fn check(&self, expected: &Expected) -> Result<Report, Vec<String>> {
        let mut violations = Vec::new();
        let mut v = |s: String| violations.push(s);
        let mut report = Report::default();
        let next_produced = |tp: &TopicPartition, o: i64| -> Option<i64> {
            expected
                .produced
                .get(tp)
                .and_then(|s| s.range(o + 1..).next().copied())
        };
        let first_produced = |tp: &TopicPartition| -> i64 {
            expected.start.get(tp).copied().unwrap_or_else(|| {
                expected
                    .produced
                    .get(tp)
                    .and_then(|s| s.first().copied())
                    .unwrap_or(0)
            })
        };
        type Key = (String, TopicPartition);
        let mut run_last: BTreeMap<Key, i64> = BTreeMap::new();
        let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut max_delivered: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut member_max: BTreeMap<Key, i64> = BTreeMap::new();
        let mut seen: BTreeSet<(TopicPartition, i64)> = BTreeSet::new();
        let mut open: BTreeMap<Key, Duration> = BTreeMap::new();
        let mut owned: BTreeMap<TopicPartition, Vec<Ownership>> = BTreeMap::new();
        let mut stalls: BTreeMap<String, Vec<(Duration, Duration)>> = BTreeMap::new();
        // Truncation points each run may step back to once, and every truncation so far.
        let mut step_back: BTreeMap<Key, BTreeSet<i64>> = BTreeMap::new();
        let mut truncations: BTreeMap<TopicPartition, Vec<i64>> = BTreeMap::new();
        let close = |open: &mut BTreeMap<Key, Duration>,
                     owned: &mut BTreeMap<TopicPartition, Vec<Ownership>>,
                     member: &str,
                     tp: &TopicPartition,
                     t: Duration| {
            if let Some(start) = open.remove(&(member.to_owned(), tp.clone())) {
                owned.entry(tp.clone()).or_default().push(Ownership {
                    member: member.to_owned(),
                    start,
                    end: t,
                });
            }
        };
        for e in &self.entries {
            let t = e.t;
            match &e.fact {
                Fact::Assigned(tps) => {
                    for tp in tps {
                        run_last.remove(&(e.member.clone(), tp.clone()));
                        open.entry((e.member.clone(), tp.clone())).or_insert(t);
                    }
                }
                Fact::Revoked(tps) | Fact::Lost(tps) => {
                    for tp in tps {
                        run_last.remove(&(e.member.clone(), tp.clone()));
                        close(&mut open, &mut owned, &e.member, tp, t);
                    }
                }
                Fact::Released(tp) => {
                    run_last.remove(&(e.member.clone(), tp.clone()));
                    close(&mut open, &mut owned, &e.member, tp, t);
                }
                Fact::Closed | Fact::Killed => {
                    let mine: Vec<TopicPartition> = open
                        .keys()
                        .chain(run_last.keys())
                        .filter(|(m, _)| *m == e.member)
                        .map(|(_, tp)| tp.clone())
                        .collect();
                    for tp in mine {
                        run_last.remove(&(e.member.clone(), tp.clone()));
                        close(&mut open, &mut owned, &e.member, &tp, t);
                    }
                }
                Fact::Delivered(tp, o) => {
                    let o = *o;
                    report.deliveries += 1;
                    if !seen.insert((tp.clone(), o)) {
                        report.redeliveries += 1;
                    }
                    if expected.produced.get(tp).is_some_and(|s| !s.contains(&o)) {
                        v(format!(
                            "{} was delivered {tp}@{o}, which was never produced",
                            e.member
                        ));
                    }
                    let key = (e.member.clone(), tp.clone());
                    open.entry(key.clone()).or_insert(t);
                    match run_last.get(&key) {
                        Some(&last)
                            if o <= last
                                && step_back.get_mut(&key).is_some_and(|points| points.remove(&o)) => {}
                        Some(&last) => {
                            let want = next_produced(tp, last);
                            if Some(o) != want {
                                v(format!(
                                    "{} got {tp}@{o} after {tp}@{last} in one ownership (expected {want:?}) at {t:?}",
                                    e.member
                                ));
                            }
                        }
                        None => {
                            report.runs += 1;
                            let floor = committed.get(tp).copied().unwrap_or(first_produced(tp));
                            // Validation moves a start from a commit of records since truncated
                            // back to the truncation point.
                            let at_truncation = truncations.get(tp).is_some_and(|points| points.contains(&o));
                            if o < floor && !at_truncation {
                                v(format!(
                                    "{} started {tp} at {o}, behind the acknowledged commit {floor} at {t:?}",
                                    e.member
                                ));
                            }
                            let ceiling = max_delivered
                                .get(tp)
                                .map(|&m| next_produced(tp, m).unwrap_or(m + 1))
                                .unwrap_or(first_produced(tp))
                                .max(floor);
                            if o > ceiling {
                                v(format!(
                                    "{} started {tp} at {o}, skipping past {ceiling} (nobody had it) at {t:?}",
                                    e.member
                                ));
                            }
                        }
                    }
                    run_last.insert(key.clone(), o);
                    let m = member_max.entry(key).or_insert(o);
                    *m = (*m).max(o);
                    let m = max_delivered.entry(tp.clone()).or_insert(o);
                    *m = (*m).max(o);
                }
                Fact::Committed(tp, n) => {
                    let n = *n;
                    report.commits += 1;
                    let mine = member_max.get(&(e.member.clone(), tp.clone())).copied();
                    let ok = match mine {
                        Some(m) => n <= m + 1,
                        None => n <= first_produced(tp),
                    };
                    if !ok {
                        v(format!(
                            "{} committed {tp}@{n} but was delivered only up to {mine:?} at {t:?}",
                            e.member
                        ));
                    }
                    let c = committed.entry(tp.clone()).or_insert(n);
                    *c = (*c).max(n);
                }
                Fact::Stalled(until) => stalls.entry(e.member.clone()).or_default().push((t, *until)),
                Fact::CommitBackwards(tp, from, to) => {
                    let truncated_below = truncations
                        .get(tp)
                        .is_some_and(|points| points.iter().any(|p| p <= to && to < from));
                    if !truncated_below {
                        v(format!(
                            "{}'s commit moved the group's offset of {tp} back from {from} to {to} at {t:?}",
                            e.member
                        ));
                    }
                }
                Fact::Truncated(tp, to) => {
                    let to = *to;
                    truncations.entry(tp.clone()).or_default().push(to);
                    seen.retain(|(t, o)| t != tp || *o < to);
                    if let Some(c) = committed.get_mut(tp) {
                        *c = (*c).min(to);
                    }
                    // Runs of it, and owners whose run starts later from records fetched before.
                    for key in run_last.keys().chain(open.keys()).filter(|(_, t)| t == tp) {
                        step_back.entry(key.clone()).or_default().insert(to);
                    }
                }
            }
        }
        let end = self.entries.last().map_or(Duration::ZERO, |e| e.t) + Duration::from_secs(1 << 30);
        for ((member, tp), start) in std::mem::take(&mut open) {
            owned
                .entry(tp)
                .or_default()
                .push(Ownership { member, start, end });
        }
        for (tp, offsets) in &expected.produced {
            let missing: Vec<i64> = offsets
                .iter()
                .filter(|o| !seen.contains(&(tp.clone(), **o)))
                .copied()
                .collect();
            if !missing.is_empty() {
                v(format!(
                    "{tp}: {} produced offset(s) never delivered, first {:?}",
                    missing.len(),
                    &missing[..missing.len().min(5)]
                ));
            }
        }
        for (tp, intervals) in &owned {
            for (i, x) in intervals.iter().enumerate() {
                for y in &intervals[i + 1..] {
                    if x.member == y.member {
                        continue;
                    }
                    let start = x.start.max(y.start);
                    let end = x.end.min(y.end);
                    let stuck = |member: &str| {
                        stalls
                            .get(member)
                            .is_some_and(|s| s.iter().any(|(from, until)| *from < end && *until > start))
                    };
                    if end > start && (stuck(&x.member) || stuck(&y.member)) {
                        report.stuck_overlaps += 1;
                        continue;
                    }
                    if end > start && end - start > expected.overlap_tolerance {
                        v(format!(
                            "{tp} owned by {} [{:?}, {:?}] and {} [{:?}, {:?}] at once",
                            x.member, x.start, x.end, y.member, y.start, y.end
                        ));
                    }
                }
            }
        }
        if violations.is_empty() {
            Ok(report)
        } else {
            Err(violations)
        }
    }

    /// The last `n` entries, for a failure message.
    pub(crate) fn tail(&self, n: usize) -> String {
        let from = self.entries.len().saturating_sub(n);
        self.entries[from..]
            .iter()
            .map(|e| format!("{:>10.3}s {:>6} {:?}", e.t.as_secs_f64(), e.member, e.fact))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn h(facts: &[(u64, &str, Fact)]) -> History {
        let mut h = History::default();
        for (ms, m, f) in facts {
            h.record(Duration::from_millis(*ms), m, f.clone());
        }
        h
    }

    fn expected(n: i64) -> Expected {
        Expected {
            produced: [(tp(), (0..n).collect())].into_iter().collect(),
            ..Expected::default()
        }
    }

    fn d(o: i64) -> Fact {
        Fact::Delivered(tp(), o)
    }

    fn violations(h: &History, e: &Expected) -> Vec<String> {
        h.check(e).err().unwrap_or_default()
    }

    #[test]
    fn a_clean_handover_passes_and_broken_promises_are_found() {
        let ok = h(&[
            (1, "a", Fact::Assigned(vec![tp()])),
            (2, "a", d(0)),
            (3, "a", d(1)),
            (4, "a", Fact::Committed(tp(), 2)),
            (5, "a", d(2)),
            (6, "a", Fact::Revoked(vec![tp()])),
            (7, "b", Fact::Assigned(vec![tp()])),
            (8, "b", d(2)),
            (9, "b", d(3)),
        ]);
        let r = ok.check(&expected(4)).unwrap();
        assert_eq!((r.deliveries, r.redeliveries, r.runs, r.commits), (5, 1, 2, 1));
        // Lost, gap, commit ahead, behind the commit, skipping, overlap, backwards.
        assert!(violations(&h(&[(1, "a", d(0))]), &expected(2))[0].contains("never delivered"));
        assert!(
            violations(
                &h(&[(1, "a", d(0)), (2, "a", d(2)), (3, "a", d(1))]),
                &expected(3)
            )[0]
            .contains("in one ownership")
        );
        assert!(
            violations(
                &h(&[(1, "a", d(0)), (2, "a", Fact::Committed(tp(), 2)), (3, "a", d(1))]),
                &expected(2)
            )[0]
            .contains("committed")
        );
        let behind = h(&[
            (1, "a", d(0)),
            (2, "a", d(1)),
            (3, "a", Fact::Committed(tp(), 2)),
            (4, "a", Fact::Lost(vec![tp()])),
            (5, "b", d(0)),
            (6, "b", d(1)),
            (7, "b", d(2)),
        ]);
        assert!(
            violations(&behind, &expected(3))
                .iter()
                .any(|s| s.contains("behind the acknowledged commit"))
        );
        let skip = h(&[
            (1, "a", d(0)),
            (2, "a", Fact::Revoked(vec![tp()])),
            (3, "b", d(2)),
            (4, "b", d(1)),
        ]);
        assert!(
            violations(&skip, &expected(3))
                .iter()
                .any(|s| s.contains("skipping past"))
        );
        let overlap = h(&[
            (1, "a", Fact::Assigned(vec![tp()])),
            (2, "b", Fact::Assigned(vec![tp()])),
            (3, "b", d(0)),
            (4, "a", d(1)),
        ]);
        assert!(
            violations(&overlap, &expected(2))
                .iter()
                .any(|s| s.contains("at once"))
        );
        let back = h(&[(1, "a", d(0)), (2, "a", Fact::CommitBackwards(tp(), 5, 1))]);
        assert!(
            violations(&back, &expected(1))
                .iter()
                .any(|s| s.contains("back from 5 to 1"))
        );
    }
}
