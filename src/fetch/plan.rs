//! Fetch plans: which partitions go to which broker in which fetch.

use std::collections::BTreeMap;

use super::{
    Asked, FETCHES_PER_BROKER, FetchBody, FetchCore, FetchEvent, FetchPartitionBody, FetchRequest, Gate,
    InFlightFetch, PartitionFetch, PositionState,
};
use crate::types::{NodeId, TopicPartition};

impl FetchCore {
    /// Whether a fetch for this partition is answered at once: readable records are known to exist
    /// past its position (below the last answer's high watermark, or its last stable offset under
    /// read_committed) and any one record satisfies the fetch's minimum.
    fn is_behind(&self, part: &PartitionFetch) -> bool {
        self.config.fetch_min_bytes <= 1 && part.position < part.readable_end
    }

    /// Plans fetches to the brokers of ready partitions whose gate is open.
    ///
    /// Partitions known to be behind are spread over up to [`FETCHES_PER_BROKER`] fetches in flight
    /// per broker, over disjoint sets of partitions, so the broker builds the next answer while the
    /// application reads the last one. A broker answers a connection's requests in order, so a fetch
    /// that may wait at the broker (`fetch.wait.max.ms`, when no partition in it is behind) is sent
    /// only when nothing else is in flight to that broker, and nothing is sent behind it.
    pub(super) fn plan_fetches(&mut self, gate: &impl Fn(&TopicPartition) -> Gate) {
        let now = self.now;
        // Per broker: (behind, caught up).
        let mut by_node: BTreeMap<NodeId, (Vec<TopicPartition>, Vec<TopicPartition>)> = BTreeMap::new();
        let mut leaderless = false;
        self.blocked_by_buffers = false;
        for (tp, part) in &self.partitions {
            if part.state != PositionState::Ready || part.in_fetch.is_some() {
                continue;
            }
            match gate(tp) {
                Gate::Open => {}
                Gate::Full => {
                    self.blocked_by_buffers = true;
                    continue;
                }
                Gate::Paused | Gate::Ended => continue,
            }
            match Self::fetch_node(part, now) {
                Some(node) => {
                    let (behind, caught_up) = by_node.entry(node).or_default();
                    if self.is_behind(part) {
                        behind.push(tp.clone());
                    } else {
                        caught_up.push(tp.clone());
                    }
                }
                None => leaderless = true,
            }
        }
        if leaderless {
            self.events.push_back(FetchEvent::RefreshMetadata);
        }
        for (node, (behind, caught_up)) in by_node {
            let broker = self.brokers.entry(node).or_default();
            if broker.retry_at.is_some_and(|t| now < t) {
                continue;
            }
            broker.retry_at = None;
            if broker.waiting {
                continue;
            }
            let in_flight = broker.in_flight;
            if behind.is_empty() {
                if in_flight == 0 {
                    // Alone to its broker: a session fetch where sessions are on (see `session`).
                    self.send_fetch(node, caught_up, true);
                }
                continue;
            }
            let n = FETCHES_PER_BROKER.saturating_sub(in_flight).min(behind.len());
            if n == 0 {
                continue;
            }
            let mut sets: Vec<Vec<TopicPartition>> = (0..n).map(|_| Vec::new()).collect();
            for (i, tp) in behind.into_iter().enumerate() {
                sets[i % n].push(tp);
            }
            // Caught-up partitions ride along with behind ones: that fetch is answered at once.
            sets[0].extend(caught_up);
            for set in sets {
                self.send_fetch(node, set, false);
            }
        }
    }

    /// `may_wait`: no partition in it is known to be behind, so the broker may hold it for up to
    /// `fetch.wait.max.ms`; such a fetch goes alone to its broker, so it is the session fetch
    /// when sessions are on (KIP-227). Other fetches are sessionless (id 0, epoch -1).
    fn send_fetch(&mut self, node: NodeId, mut tps: Vec<TopicPartition>, may_wait: bool) {
        // In partition order (they come from the partition map, so this only checks): the
        // answer is matched against what was asked by merging and binary search, not lookups.
        if !tps.is_sorted() {
            tps.sort();
        }
        let id = self.next_request_id();
        let mut asked = Vec::with_capacity(tps.len());
        let mut partitions = Vec::with_capacity(tps.len());
        for tp in tps {
            let Some(part) = self.partitions.get_mut(&tp) else {
                continue;
            };
            part.in_fetch = Some(id);
            let topic_id = self
                .metadata
                .as_ref()
                .and_then(|m| m.topic_id(&tp.topic))
                .unwrap_or_default();
            partitions.push(FetchPartitionBody {
                tp: tp.clone(),
                topic_id,
                current_leader_epoch: part.leader_epoch,
                fetch_offset: part.position,
                last_fetched_epoch: part.offset_epoch,
                partition_max_bytes: part.fetch_bytes,
            });
            asked.push(Asked {
                tp,
                topic_id,
                position: part.position,
                position_epoch: part.position_epoch,
            });
        }
        let broker = self.brokers.entry(node).or_default();
        broker.in_flight += 1;
        broker.waiting |= may_wait;
        let (session_id, session_epoch, partitions, forgotten) = if may_wait && self.config.sessions {
            let r = broker.session.request(partitions);
            (r.id, r.epoch, r.partitions, r.forgotten)
        } else {
            (0, -1, partitions, Vec::new())
        };
        self.fetches.insert(
            id,
            InFlightFetch {
                node,
                may_wait,
                asked,
                session_epoch: (session_epoch >= 0).then_some(session_epoch),
            },
        );
        let config = &self.config;
        self.requests.push_back(FetchRequest::Fetch {
            id,
            node,
            body: FetchBody {
                max_wait_ms: i32::try_from(config.fetch_wait_max.as_millis()).unwrap_or(i32::MAX),
                min_bytes: config.fetch_min_bytes,
                max_bytes: config.fetch_max_bytes,
                isolation_level: config.isolation(),
                session_id,
                session_epoch,
                partitions,
                forgotten,
                rack_id: config.client_rack.clone().unwrap_or_default(),
            },
        });
    }

    /// Requests that close every fetch session (epoch -1, no partitions, no wait), for a consumer
    /// that stops: the brokers free them at once instead of when they expire. Fire and forget.
    pub(crate) fn close_sessions(&mut self) -> Vec<FetchRequest> {
        let mut nodes: Vec<(NodeId, i32)> = self
            .brokers
            .iter()
            .filter_map(|(node, b)| b.session.to_close().map(|id| (*node, id)))
            .collect();
        nodes.sort_unstable();
        nodes
            .into_iter()
            .map(|(node, session_id)| {
                if let Some(b) = self.brokers.get_mut(&node) {
                    b.session = Default::default();
                }
                FetchRequest::Fetch {
                    id: self.next_request_id(),
                    node,
                    body: FetchBody {
                        max_wait_ms: 0,
                        min_bytes: 0,
                        max_bytes: self.config.fetch_max_bytes,
                        isolation_level: self.config.isolation(),
                        session_id,
                        session_epoch: -1,
                        partitions: Vec::new(),
                        forgotten: Vec::new(),
                        rack_id: String::new(),
                    },
                }
            })
            .collect()
    }
}
