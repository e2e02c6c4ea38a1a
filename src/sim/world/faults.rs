//! What goes wrong in a case: records produced now and then during the chaos phase, faults drawn
//! at random from those the case enables, and the case's scripted faults. Both kinds of fault are
//! [`Scripted`] values applied by one function, [`World::inject`].

use super::{Ev, HealKind, World};
use crate::engine::Transmit;
use crate::fetch::FetchRequest;
use crate::sim::case::Scripted;
use crate::sim::history::Fact;
use crate::sim::net::{ConnKey, Pool};
use crate::types::TopicPartition;

impl World {
    pub(super) fn produce(&mut self) {
        if self.healed {
            return;
        }
        let tps: Vec<TopicPartition> = self.cluster.logs.keys().cloned().collect();
        let per = self.case.more_records;
        let rounds = (self.case.chaos.as_millis() as i64 / 300).max(1);
        for tp in tps {
            let already = self.expected.produced.get(&tp).map_or(0, |s| s.len() as i64) - self.case.records;
            if already >= per {
                continue;
            }
            let n = (1 + self.rng.below((2 * per / rounds).max(1) as u64) as i64).min(per - already);
            let batch = 1 + self.rng.below(6) as i64;
            let offsets = self.cluster.produce(&tp, n, batch);
            self.expected.produced.entry(tp).or_default().extend(offsets);
        }
        // Long polls with data now are answered.
        for id in self.held_fetches.clone() {
            let ready = self.reqs.get(&id).is_some_and(|r| match &r.transmit {
                Transmit::Fetch(FetchRequest::Fetch { body, .. }) => self.cluster.has_data(r.conn.2, body),
                _ => false,
            });
            if ready {
                self.answer_fetch(id);
            }
        }
        let at = self.now + self.rng.millis(50, 600);
        self.at(at, Ev::Produce);
    }

    /// One random fault of a kind the case enables, then the next one later.
    pub(super) fn fault(&mut self) {
        if self.healed {
            return;
        }
        if let Some(fault) = self.draw_fault() {
            self.inject(fault);
        }
        let at = self.now + self.rng.millis(200, 3000);
        self.at(at, Ev::Fault);
    }

    fn draw_fault(&mut self) -> Option<Scripted> {
        let f = self.case.faults;
        let several = self.case.brokers > 1;
        let kinds: Vec<u8> = [
            (f.disconnects, 0),
            (f.errors, 1),
            (f.leader_moves && several, 2),
            (f.coordinator_moves && several, 3),
            (f.broker_outages && several, 4),
            (f.churn, 5),
            (f.stalls, 6),
            (f.slow, 7),
            (f.silent, 8),
            (f.unclean, 9),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect();
        if kinds.is_empty() {
            return None;
        }
        let kind = kinds[self.rng.below(kinds.len() as u64) as usize];
        let live = self.live_members();
        let brokers = self.case.brokers as u64;
        Some(match kind {
            0 | 8 => {
                let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
                let &(member, pool, node) = keys.get(self.rng.below(keys.len() as u64) as usize)?;
                if kind == 0 {
                    Scripted::Disconnect {
                        member: Some(member),
                        pool: Some(pool),
                        node: Some(node),
                    }
                } else {
                    Scripted::Silent { member, pool, node }
                }
            }
            1 => Scripted::Errors(self.rng.millis(100, 2000)),
            2 => {
                let tps: Vec<TopicPartition> = self.cluster.logs.keys().cloned().collect();
                let tp = tps[self.rng.below(tps.len() as u64) as usize].clone();
                let to = 1 + self.rng.below(brokers) as i32;
                let publish_after = self.rng.millis(0, 500);
                Scripted::LeaderMove {
                    tp,
                    to,
                    publish_after,
                }
            }
            3 => Scripted::CoordinatorMove(1 + self.rng.below(brokers) as i32),
            4 => Scripted::BrokerDown(1 + self.rng.below(brokers) as i32, self.rng.millis(200, 3000)),
            5 => {
                let m = *live.get(self.rng.below(live.len() as u64) as usize)?;
                let fault = if self.rng.chance(50) {
                    Scripted::Kill(m)
                } else {
                    Scripted::Close(m)
                };
                let at = self.now + self.rng.millis(100, 5000);
                self.at(at, Ev::Inject(Scripted::Start));
                fault
            }
            6 => {
                let m = *live.get(self.rng.below(live.len() as u64) as usize)?;
                let max_poll = self.case.max_poll_interval;
                Scripted::Stall(m, max_poll + self.rng.millis(0, max_poll.as_millis() as u64))
            }
            9 => {
                let tps: Vec<TopicPartition> = self.cluster.logs.keys().cloned().collect();
                let tp = tps[self.rng.below(tps.len() as u64) as usize].clone();
                Scripted::UncleanElection {
                    tp,
                    to: 1 + self.rng.below(brokers) as i32,
                    lose: 1 + self.rng.below(12) as i64,
                    publish_after: self.rng.millis(0, 500),
                }
            }
            _ => Scripted::Slow(self.rng.millis(100, 3000)),
        })
    }

    /// Members running and not closing.
    fn live_members(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&m| self.members[m].core.is_some() && self.members[m].close.is_none())
            .collect()
    }

    /// Applies one fault now.
    pub(super) fn inject(&mut self, fault: Scripted) {
        let t = self.t();
        match fault {
            Scripted::Disconnect { member, pool, node } => {
                let keys: Vec<ConnKey> = self
                    .conns
                    .keys()
                    .filter(|k| {
                        member.is_none_or(|m| k.0 == m)
                            && pool.is_none_or(|p| k.1 == p)
                            && node.is_none_or(|n| k.2 == n)
                    })
                    .copied()
                    .collect();
                for k in keys {
                    self.disconnect(k);
                }
            }
            Scripted::Errors(d) => {
                self.errors = true;
                self.at(self.now + d, Ev::Heal(HealKind::Errors));
            }
            Scripted::LeaderMove {
                tp,
                to,
                publish_after,
            } => {
                self.cluster.move_leader(&tp, to);
                self.at(self.now + publish_after, Ev::Publish);
            }
            Scripted::CoordinatorMove(to) => {
                let old = self.coordinator_node;
                if to != old {
                    self.coordinator_node = to;
                    self.inject(Scripted::Disconnect {
                        member: None,
                        pool: Some(Pool::Group),
                        node: Some(old),
                    });
                }
            }
            Scripted::BrokerDown(b, d) => {
                if b != self.coordinator_node && !self.down.contains(&b) {
                    self.down.push(b);
                    // It restarts: its fetch sessions are gone.
                    self.sessions.forget_node(b);
                    self.inject(Scripted::Disconnect {
                        member: None,
                        pool: None,
                        node: Some(b),
                    });
                    self.at(self.now + d, Ev::Heal(HealKind::Broker(b)));
                }
            }
            Scripted::Kill(m) if m < self.members.len() => self.kill_member(m),
            Scripted::Close(m) if m < self.members.len() => self.close_member(m),
            Scripted::Start => self.start_member(),
            Scripted::Stall(m, d) if m < self.members.len() => {
                if let Some(app) = &mut self.members[m].app {
                    app.stalled_until = Some(self.now + d);
                    let name = self.members[m].name.clone();
                    self.history.record(t, &name, Fact::Stalled(t + d));
                }
                self.schedule_app(m, self.now + d);
            }
            Scripted::Slow(d) => {
                self.slow = true;
                self.at(self.now + d, Ev::Heal(HealKind::Slow));
            }
            Scripted::Silent { member, pool, node } => {
                self.silent.insert((member, pool, node));
            }
            Scripted::UncleanElection {
                tp,
                to,
                lose,
                publish_after,
            } => {
                let Some(end) = self.cluster.logs.get(&tp).map(|l| l.end) else {
                    return;
                };
                let new_end = self.cluster.truncate(&tp, end - lose, to);
                self.history
                    .record(t, "cluster", Fact::Truncated(tp.clone(), new_end));
                // Written again: the same offsets (the checker's produced set has them) with
                // records of the new epoch.
                let batch = 1 + self.rng.below(6) as i64;
                self.cluster.produce(&tp, end - new_end, batch);
                self.at(self.now + publish_after, Ev::Publish);
            }
            Scripted::Kill(_) | Scripted::Close(_) | Scripted::Stall(..) => {}
        }
    }
}
