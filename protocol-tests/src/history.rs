//! The history checker of the reliability suite.
//!
//! Every test records what each member saw and did — assignment changes, deliveries, acknowledged
//! commits, kills — with wall-clock times (seconds since the Unix epoch, so member processes and the
//! test process share one clock), and [`History::check`] asserts the consumer's promises:
//!
//! 1. **Nothing lost**: every produced offset was delivered at least once.
//! 2. **In order within an ownership**: a *run* is one member's deliveries of one partition between
//!    two of its assignment changes for that partition (assigned / revoked / lost). Within a run each
//!    delivery is the next produced offset after the previous one: no gap, no backwards step, no
//!    duplicate.
//! 3. **Commits never ahead**: an acknowledged commit of next-offset `n` by a member requires that
//!    member to have been delivered `n - 1` (or `n` is where it started and nothing was skipped).
//! 4. **Re-deliveries only from the uncommitted window**: a run starts at or after the highest commit
//!    acknowledged (to anyone) before the run began, and not after the next offset nobody had been
//!    delivered yet (a run may not skip records).
//! 5. **No two owners at once**: ownership intervals (from `assigned` to `revoked`/`lost`/`closed`/
//!    `killed`, stretched to cover the member's own deliveries) of different members never overlap
//!    on a partition, beyond the configured tolerance.
//!
//! Member processes write the same facts as JSON lines (`kafkit-member`, `peers/rdkafka_member.py`);
//! [`History::load_jsonl`] reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Partitions assigned to the member.
    Assigned(Vec<i32>),
    /// Partitions revoked cleanly.
    Revoked(Vec<i32>),
    /// Partitions lost (no clean revoke).
    Lost(Vec<i32>),
    /// A record delivered to the application.
    Delivered {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// A commit the broker acknowledged: `offset` is the next offset to consume.
    Committed {
        /// Partition.
        partition: i32,
        /// Next offset to consume.
        offset: i64,
    },
    /// The member closed cleanly: it owns nothing afterwards.
    Closed,
    /// The member was killed (or stopped without leaving): it owns nothing afterwards.
    Killed,
}

/// One fact.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Seconds since the Unix epoch.
    pub t: f64,
    /// Member name.
    pub member: String,
    /// What happened.
    pub kind: Kind,
}

/// The current wall-clock time in seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A shared, append-only record of facts (clone it into every task that records).
#[derive(Debug, Clone, Default)]
pub struct History {
    entries: Arc<Mutex<Vec<Entry>>>,
}

/// What the checker needs to know besides the history.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The offsets produced to each partition (every one must be delivered).
    pub produced: BTreeMap<i32, BTreeSet<i64>>,
    /// Where consumption of each partition starts when nothing is committed (the reset policy's
    /// answer); defaults to the first produced offset.
    pub start: BTreeMap<i32, i64>,
    /// Ownership overlap tolerated between two members, in seconds (0 by default). Only for tests
    /// where the protocol itself allows a window, e.g. a member cut off from its coordinator that
    /// has not yet noticed its session expired; the test must say why.
    pub overlap_tolerance: f64,
}

impl Expected {
    /// Offsets `from..to` produced to each of `partitions`.
    pub fn contiguous(partitions: impl IntoIterator<Item = i32>, from: i64, to: i64) -> Expected {
        Expected {
            produced: partitions
                .into_iter()
                .map(|p| (p, (from..to).collect()))
                .collect(),
            ..Expected::default()
        }
    }

    /// Adds offsets `from..to` of `partition`.
    pub fn add(&mut self, partition: i32, from: i64, to: i64) {
        self.produced.entry(partition).or_default().extend(from..to);
    }
}

/// What the checker saw (for the test's log and for extra assertions).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Deliveries in all.
    pub deliveries: usize,
    /// Deliveries of an offset delivered before.
    pub redeliveries: usize,
    /// Ownership runs.
    pub runs: usize,
    /// Acknowledged commits.
    pub commits: usize,
    /// Members seen.
    pub members: BTreeSet<String>,
}

/// A broken promise.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records `kind` for `member` now.
    pub fn record(&self, member: &str, kind: Kind) {
        self.record_at(now(), member, kind);
    }

    /// Records `kind` for `member` at `t`.
    pub fn record_at(&self, t: f64, member: &str, kind: Kind) {
        self.entries.lock().unwrap().push(Entry {
            t,
            member: member.to_owned(),
            kind,
        });
    }

    /// `member` was assigned `partitions`.
    pub fn assigned(&self, member: &str, partitions: impl IntoIterator<Item = i32>) {
        self.record(member, Kind::Assigned(partitions.into_iter().collect()));
    }

    /// `member`'s `partitions` were revoked.
    pub fn revoked(&self, member: &str, partitions: impl IntoIterator<Item = i32>) {
        self.record(member, Kind::Revoked(partitions.into_iter().collect()));
    }

    /// `member` lost `partitions`.
    pub fn lost(&self, member: &str, partitions: impl IntoIterator<Item = i32>) {
        self.record(member, Kind::Lost(partitions.into_iter().collect()));
    }

    /// `member` was delivered `partition`/`offset`.
    pub fn delivered(&self, member: &str, partition: i32, offset: i64) {
        self.record(member, Kind::Delivered { partition, offset });
    }

    /// The broker acknowledged `member`'s commit of next offset `offset` for `partition`.
    pub fn committed(&self, member: &str, partition: i32, offset: i64) {
        self.record(member, Kind::Committed { partition, offset });
    }

    /// `member` closed cleanly.
    pub fn closed(&self, member: &str) {
        self.record(member, Kind::Closed);
    }

    /// `member` was killed.
    pub fn killed(&self, member: &str) {
        self.record(member, Kind::Killed);
    }

    /// Records a kafkit consumer's assignment events (Assigned/Revoked/Lost) as `member`'s, from a
    /// task on the current runtime, until the consumer closes.
    pub fn watch(&self, member: &str, mut events: kafkit::Events) -> tokio::task::JoinHandle<()> {
        let history = self.clone();
        let member = member.to_owned();
        tokio::spawn(async move {
            let parts =
                |tps: &[kafkit::TopicPartition]| -> Vec<i32> { tps.iter().map(|tp| tp.partition).collect() };
            while let Some(event) = events.next().await {
                match event {
                    kafkit::Event::Assigned(tps) => history.assigned(&member, parts(&tps)),
                    kafkit::Event::Revoked(tps) => history.revoked(&member, parts(&tps)),
                    kafkit::Event::Lost(tps, _) => history.lost(&member, parts(&tps)),
                    _ => {}
                }
            }
        })
    }

    /// Adds the facts of a JSON-lines member log (`kind` one of started, assigned, revoked, lost,
    /// record, commit, closed, killed; unknown kinds are ignored).
    pub fn load_jsonl(&self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad log line {line:?}: {e}"));
            let t = v["t"].as_f64().expect("t");
            let member = v["member"].as_str().expect("member");
            let partitions = || -> Vec<i32> {
                v["partitions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|p| p.as_i64()).map(|p| p as i32).collect())
                    .unwrap_or_default()
            };
            let partition = v["partition"].as_i64().unwrap_or(-1) as i32;
            let offset = v["offset"].as_i64().unwrap_or(-1);
            let kind = match v["kind"].as_str().unwrap_or("") {
                "assigned" => Kind::Assigned(partitions()),
                "revoked" => Kind::Revoked(partitions()),
                "lost" => Kind::Lost(partitions()),
                "record" => Kind::Delivered { partition, offset },
                "commit" => Kind::Committed { partition, offset },
                "closed" => Kind::Closed,
                "killed" => Kind::Killed,
                _ => continue,
            };
            self.record_at(t, member, kind);
        }
    }

    /// All facts so far, in time order (stable for equal times).
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries = self.entries.lock().unwrap().clone();
        entries.sort_by(|a, b| a.t.total_cmp(&b.t));
        entries
    }

    /// The offsets of `partition` delivered so far (to anyone).
    pub fn delivered_offsets(&self, partition: i32) -> BTreeSet<i64> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.kind {
                Kind::Delivered { partition: p, offset } if p == partition => Some(offset),
                _ => None,
            })
            .collect()
    }

    /// Whether every produced offset has been delivered.
    pub fn all_delivered(&self, expected: &Expected) -> bool {
        expected
            .produced
            .iter()
            .all(|(p, offsets)| offsets.is_subset(&self.delivered_offsets(*p)))
    }

    /// Checks every promise; returns what it saw, or every violation found.
    pub fn check(&self, expected: &Expected) -> Result<Report, Vec<Violation>> {
        check(&self.entries(), expected)
    }

    /// [`History::check`], panicking with the violations (the first 20) if there are any.
    pub fn assert_ok(&self, expected: &Expected) -> Report {
        match self.check(expected) {
            Ok(report) => report,
            Err(violations) => {
                let shown: Vec<String> = violations.iter().take(20).map(|v| v.0.clone()).collect();
                panic!(
                    "history check failed: {} violation(s):\n  {}",
                    violations.len(),
                    shown.join("\n  ")
                )
            }
        }
    }
}

/// One member's ownership of one partition.
#[derive(Debug)]
struct Ownership {
    member: String,
    start: f64,
    end: f64,
}

fn check(entries: &[Entry], expected: &Expected) -> Result<Report, Vec<Violation>> {
    let mut violations = Vec::new();
    let mut v = |s: String| violations.push(Violation(s));
    let mut report = Report::default();

    let next_produced = |p: i32, o: i64| -> Option<i64> {
        expected
            .produced
            .get(&p)
            .and_then(|s| s.range(o + 1..).next().copied())
    };
    let first_produced = |p: i32| -> i64 {
        expected.start.get(&p).copied().unwrap_or_else(|| {
            expected
                .produced
                .get(&p)
                .and_then(|s| s.first().copied())
                .unwrap_or(0)
        })
    };

    // Per (member, partition): the current run's last offset, if a run is open.
    let mut run_last: BTreeMap<(String, i32), i64> = BTreeMap::new();
    // Per partition: highest acknowledged commit, and highest offset delivered to anyone.
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut max_delivered: BTreeMap<i32, i64> = BTreeMap::new();
    // Per (member, partition): highest offset delivered to that member.
    let mut member_max: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    // Ownership intervals.
    let mut open: BTreeMap<(String, i32), f64> = BTreeMap::new();
    let mut owned: BTreeMap<i32, Vec<Ownership>> = BTreeMap::new();
    let mut close = |open: &mut BTreeMap<(String, i32), f64>, member: &str, p: i32, t: f64| {
        if let Some(start) = open.remove(&(member.to_owned(), p)) {
            owned.entry(p).or_default().push(Ownership {
                member: member.to_owned(),
                start,
                end: t,
            });
        }
    };

    for e in entries {
        report.members.insert(e.member.clone());
        match &e.kind {
            Kind::Assigned(ps) => {
                for &p in ps {
                    let key = (e.member.clone(), p);
                    // Events and deliveries are recorded by different tasks: an Assigned
                    // recorded after the partition's first deliveries (already owning it, no
                    // revoke or loss between) continues that run rather than starting one.
                    if !open.contains_key(&key) {
                        run_last.remove(&key);
                    }
                    open.entry(key).or_insert(e.t);
                }
            }
            Kind::Revoked(ps) | Kind::Lost(ps) => {
                for &p in ps {
                    run_last.remove(&(e.member.clone(), p));
                    close(&mut open, &e.member, p, e.t);
                }
            }
            Kind::Closed | Kind::Killed => {
                let mine: Vec<i32> = open
                    .keys()
                    .filter(|(m, _)| *m == e.member)
                    .map(|(_, p)| *p)
                    .chain(run_last.keys().filter(|(m, _)| *m == e.member).map(|(_, p)| *p))
                    .collect();
                for p in mine {
                    run_last.remove(&(e.member.clone(), p));
                    close(&mut open, &e.member, p, e.t);
                }
            }
            Kind::Delivered {
                partition: p,
                offset: o,
            } => {
                let (p, o) = (*p, *o);
                report.deliveries += 1;
                if !seen.insert((p, o)) {
                    report.redeliveries += 1;
                }
                if expected.produced.get(&p).is_some_and(|s| !s.contains(&o)) {
                    v(format!(
                        "{} was delivered {p}/{o}, which was never produced",
                        e.member
                    ));
                }
                let key = (e.member.clone(), p);
                // A delivery implies ownership: open an interval if the assignment event lags.
                open.entry(key.clone()).or_insert(e.t);
                match run_last.get(&key) {
                    Some(&last) => {
                        let want = next_produced(p, last);
                        if Some(o) != want {
                            v(format!(
                                "{} got {p}/{o} after {p}/{last} in one ownership (expected {want:?}) at {:.3}",
                                e.member, e.t
                            ));
                        }
                    }
                    None => {
                        report.runs += 1;
                        let floor = committed.get(&p).copied().unwrap_or(first_produced(p));
                        if o < floor {
                            v(format!(
                                "{} started {p} at {o}, behind the acknowledged commit {floor} at {:.3}",
                                e.member, e.t
                            ));
                        }
                        let ceiling = max_delivered
                            .get(&p)
                            .map(|&m| next_produced(p, m).unwrap_or(m + 1))
                            .unwrap_or(first_produced(p))
                            .max(floor);
                        if o > ceiling {
                            v(format!(
                                "{} started {p} at {o}, skipping past {ceiling} (nobody had it) at {:.3}",
                                e.member, e.t
                            ));
                        }
                    }
                }
                run_last.insert(key.clone(), o);
                let m = member_max.entry(key).or_insert(o);
                *m = (*m).max(o);
                let m = max_delivered.entry(p).or_insert(o);
                *m = (*m).max(o);
            }
            Kind::Committed {
                partition: p,
                offset: n,
            } => {
                let (p, n) = (*p, *n);
                report.commits += 1;
                let mine = member_max.get(&(e.member.clone(), p)).copied();
                let ok = match mine {
                    Some(m) => n <= m + 1,
                    None => n <= first_produced(p),
                };
                if !ok {
                    v(format!(
                        "{} committed {p}@{n} but was delivered only up to {mine:?} at {:.3}",
                        e.member, e.t
                    ));
                }
                let c = committed.entry(p).or_insert(n);
                *c = (*c).max(n);
            }
        }
    }
    let end = entries.last().map_or(0.0, |e| e.t) + 1e9;
    for ((member, p), start) in std::mem::take(&mut open) {
        owned.entry(p).or_default().push(Ownership { member, start, end });
    }

    // 1. Nothing lost.
    for (p, offsets) in &expected.produced {
        let missing: Vec<i64> = offsets
            .iter()
            .filter(|o| !seen.contains(&(*p, **o)))
            .copied()
            .collect();
        if !missing.is_empty() {
            v(format!(
                "partition {p}: {} produced offset(s) never delivered, first {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            ));
        }
    }
    // 5. No two owners at once.
    for (p, intervals) in &owned {
        for (i, x) in intervals.iter().enumerate() {
            for y in &intervals[i + 1..] {
                if x.member == y.member {
                    continue;
                }
                let overlap = x.end.min(y.end) - x.start.max(y.start);
                if overlap > expected.overlap_tolerance {
                    v(format!(
                        "partition {p} owned by {} [{:.3}, {:.3}] and {} [{:.3}, {:.3}] at once ({overlap:.3} s)",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(facts: &[(f64, &str, Kind)]) -> History {
        let h = History::new();
        for (t, m, k) in facts {
            h.record_at(*t, m, k.clone());
        }
        h
    }

    fn d(partition: i32, offset: i64) -> Kind {
        Kind::Delivered { partition, offset }
    }

    fn c(partition: i32, offset: i64) -> Kind {
        Kind::Committed { partition, offset }
    }

    fn violations(h: &History, e: &Expected) -> Vec<String> {
        h.check(e)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.0)
            .collect()
    }

    #[test]
    fn an_assigned_event_recorded_after_the_first_deliveries_continues_the_run() {
        let e = Expected::contiguous([0], 0, 3);
        let late = h(&[
            (1.0, "a", d(0, 0)),
            (1.1, "a", Kind::Assigned(vec![0])),
            (1.2, "a", d(0, 1)),
            (1.3, "a", d(0, 2)),
        ]);
        let r = late.assert_ok(&e);
        assert_eq!((r.deliveries, r.redeliveries, r.runs), (3, 0, 1));
        // A skip after it is still one ownership's gap.
        let gap = h(&[
            (1.0, "a", d(0, 0)),
            (1.1, "a", Kind::Assigned(vec![0])),
            (1.2, "a", d(0, 2)),
        ]);
        assert!(
            violations(&gap, &Expected::contiguous([0], 0, 3))
                .iter()
                .any(|v| v.contains("in one ownership"))
        );
    }

    #[test]
    fn a_clean_handover_passes() {
        let e = Expected::contiguous([0], 0, 4);
        let h = h(&[
            (1.0, "a", Kind::Assigned(vec![0])),
            (1.1, "a", d(0, 0)),
            (1.2, "a", d(0, 1)),
            (1.3, "a", c(0, 2)),
            (1.4, "a", d(0, 2)),
            (1.5, "a", Kind::Revoked(vec![0])),
            (1.6, "b", Kind::Assigned(vec![0])),
            (1.7, "b", d(0, 2)),
            (1.8, "b", d(0, 3)),
        ]);
        let r = h.assert_ok(&e);
        assert_eq!((r.deliveries, r.redeliveries, r.runs, r.commits), (5, 1, 2, 1));
    }

    #[test]
    fn a_lost_record_is_found() {
        let e = Expected::contiguous([0], 0, 3);
        let h = h(&[(1.0, "a", d(0, 0)), (1.1, "a", d(0, 1))]);
        let v = violations(&h, &e);
        assert!(
            v.iter().any(|s| s.contains("never delivered, first [2]")),
            "{v:?}"
        );
    }

    #[test]
    fn a_gap_and_a_backwards_step_within_a_run_are_found() {
        let e = Expected::contiguous([0], 0, 4);
        let h = h(&[
            (1.0, "a", d(0, 0)),
            (1.1, "a", d(0, 2)),
            (1.2, "a", d(0, 1)),
            (1.3, "a", d(0, 3)),
        ]);
        let v = violations(&h, &e);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v[0].contains("got 0/2 after 0/0"));
        assert!(v[1].contains("got 0/1 after 0/2"));
    }

    #[test]
    fn a_commit_ahead_of_delivery_is_found() {
        let e = Expected::contiguous([0], 0, 2);
        let h = h(&[(1.0, "a", d(0, 0)), (1.1, "a", c(0, 2)), (1.2, "a", d(0, 1))]);
        let v = violations(&h, &e);
        assert!(v.iter().any(|s| s.contains("committed 0@2")), "{v:?}");
        // A commit by someone who received nothing, beyond the start.
        let h2 = History::new();
        h2.record_at(1.0, "b", c(0, 1));
        h2.record_at(1.1, "a", d(0, 0));
        h2.record_at(1.2, "a", d(0, 1));
        assert!(violations(&h2, &e).iter().any(|s| s.contains("b committed 0@1")));
    }

    #[test]
    fn redelivery_behind_an_acknowledged_commit_is_found() {
        let e = Expected::contiguous([0], 0, 3);
        let h = h(&[
            (1.0, "a", d(0, 0)),
            (1.1, "a", d(0, 1)),
            (1.2, "a", c(0, 2)),
            (1.3, "a", Kind::Lost(vec![0])),
            (1.4, "b", d(0, 0)),
            (1.5, "b", d(0, 1)),
            (1.6, "b", d(0, 2)),
        ]);
        let v = violations(&h, &e);
        assert!(
            v.iter().any(|s| s.contains("behind the acknowledged commit 2")),
            "{v:?}"
        );
    }

    #[test]
    fn a_run_that_skips_ahead_is_found() {
        let e = Expected::contiguous([0], 0, 6);
        let h = h(&[
            (1.0, "a", d(0, 0)),
            (1.1, "a", Kind::Revoked(vec![0])),
            (1.2, "b", d(0, 3)),
            (1.3, "b", d(0, 4)),
            (1.4, "b", d(0, 5)),
            (1.5, "b", Kind::Revoked(vec![0])),
            (1.6, "a", d(0, 1)),
            (1.7, "a", d(0, 2)),
        ]);
        let v = violations(&h, &e);
        assert!(v.iter().any(|s| s.contains("skipping past 1")), "{v:?}");
    }

    #[test]
    fn two_owners_at_once_are_found_and_a_kill_ends_ownership() {
        let e = Expected::contiguous([0], 0, 2);
        let overlapping = h(&[
            (1.0, "a", Kind::Assigned(vec![0])),
            (1.1, "a", d(0, 0)),
            (2.0, "b", Kind::Assigned(vec![0])),
            (2.1, "b", d(0, 0)),
            (2.2, "b", d(0, 1)),
            (3.0, "a", Kind::Revoked(vec![0])),
        ]);
        let v = violations(&overlapping, &e);
        assert!(v.iter().any(|s| s.contains("owned by a")), "{v:?}");
        let killed = h(&[
            (1.0, "a", Kind::Assigned(vec![0])),
            (1.1, "a", d(0, 0)),
            (1.5, "a", Kind::Killed),
            (2.0, "b", Kind::Assigned(vec![0])),
            (2.1, "b", d(0, 0)),
            (2.2, "b", d(0, 1)),
        ]);
        killed.assert_ok(&e);
        // A delivery after a revoke reopens ownership and is caught as an overlap.
        let late = h(&[
            (1.0, "a", Kind::Assigned(vec![0])),
            (1.1, "a", Kind::Revoked(vec![0])),
            (1.2, "b", Kind::Assigned(vec![0])),
            (1.3, "b", d(0, 0)),
            (1.4, "a", d(0, 0)),
            (1.5, "b", d(0, 1)),
        ]);
        let v = violations(&late, &e);
        assert!(v.iter().any(|s| s.contains("at once")), "{v:?}");
    }

    #[test]
    fn jsonl_member_logs_load() {
        let dir = std::env::temp_dir().join(format!("kafkit-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.jsonl");
        std::fs::write(
            &path,
            concat!(
                "{\"t\": 1.0, \"member\": \"r\", \"kind\": \"started\"}\n",
                "{\"t\": 1.1, \"member\": \"r\", \"kind\": \"assigned\", \"partitions\": [0]}\n",
                "{\"t\": 1.2, \"member\": \"r\", \"kind\": \"record\", \"partition\": 0, \"offset\": 0}\n",
                "{\"t\": 1.3, \"member\": \"r\", \"kind\": \"commit\", \"partition\": 0, \"offset\": 1}\n",
                "{\"t\": 1.4, \"member\": \"r\", \"kind\": \"closed\"}\n",
            ),
        )
        .unwrap();
        let h = History::new();
        h.load_jsonl(&path);
        let r = h.assert_ok(&Expected::contiguous([0], 0, 1));
        assert_eq!((r.deliveries, r.commits), (1, 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
