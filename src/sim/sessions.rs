//! The simulated brokers' fetch sessions (KIP-227), as Kafka's `FetchSessionCache` keeps them: a
//! full request (epoch 0) creates one, an incremental one (epoch 1, 2, ...) must carry the next
//! epoch of a session the broker still has, updates and forgets partitions, and is answered for
//! every partition of the session that has records, an error or a new watermark. Faults evict
//! sessions (FETCH_SESSION_ID_NOT_FOUND) and a broker that goes down forgets all of its own.

use std::collections::{BTreeMap, HashMap};

use crate::fetch::{FetchBody, FetchPartitionBody};
use crate::types::{NodeId, TopicPartition};
use crate::wire::{FetchResponse, KafkaCode};

#[derive(Debug)]
struct SimSession {
    next_epoch: i32,
    partitions: BTreeMap<TopicPartition, FetchPartitionBody>,
    /// The high watermark last answered per partition: an unchanged one is left out.
    answered_hw: BTreeMap<TopicPartition, i64>,
}

/// How a fetch request stands with the broker's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    /// The id to answer with (0: no session).
    pub(crate) session_id: i32,
    /// An incremental answer: only partitions with news.
    pub(crate) incremental: bool,
}

/// Every broker's sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_node: HashMap<NodeId, BTreeMap<i32, SimSession>>,
    next_id: i32,
    /// What the consumers sent, for tests.
    pub(crate) counts: SessionCounts,
}

/// Fetch requests the brokers saw, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionCounts {
    /// Without a session (id 0, epoch -1), or at a version without sessions.
    pub(crate) sessionless: u64,
    /// Full, asking for a session (epoch 0).
    pub(crate) full: u64,
    /// Incremental (epoch > 0), and the partitions they carried.
    pub(crate) incremental: u64,
    pub(crate) incremental_partitions: u64,
    /// Partitions carried by sessionless and full requests.
    pub(crate) full_partitions: u64,
    /// Incremental requests refused with INVALID_FETCH_SESSION_EPOCH or
    /// FETCH_SESSION_TOPIC_ID_ERROR (a fault).
    pub(crate) refused: u64,
}

impl Sessions {
    /// Applies a request to `node`'s sessions: `body` becomes the fetch the broker runs (every
    /// partition of the session). A session error is answered at once with its code. Versions
    /// before 7 know no sessions.
    pub(crate) fn open(
        &mut self,
        node: NodeId,
        body: &mut FetchBody,
        version: i16,
        decline: bool,
    ) -> Result<Opened, KafkaCode> {
        let sessionless = Opened {
            session_id: 0,
            incremental: false,
        };
        if version < 7 || body.session_epoch < 0 {
            self.counts.sessionless += 1;
            self.counts.full_partitions += body.partitions.len() as u64;
        }
        if version < 7 {
            return Ok(sessionless);
        }
        let sessions = self.by_node.entry(node).or_default();
        match body.session_epoch {
            -1 => {
                sessions.remove(&body.session_id);
                Ok(sessionless)
            }
            0 => {
                sessions.remove(&body.session_id);
                self.counts.full += 1;
                self.counts.full_partitions += body.partitions.len() as u64;
                if decline {
                    return Ok(sessionless);
                }
                self.next_id += 1;
                let id = self.next_id;
                sessions.insert(
                    id,
                    SimSession {
                        next_epoch: 1,
                        partitions: body
                            .partitions
                            .iter()
                            .map(|p| (p.tp.clone(), p.clone()))
                            .collect(),
                        answered_hw: BTreeMap::new(),
                    },
                );
                Ok(Opened {
                    session_id: id,
                    incremental: false,
                })
            }
            epoch => {
                self.counts.incremental += 1;
                self.counts.incremental_partitions += body.partitions.len() as u64;
                let Some(session) = sessions.get_mut(&body.session_id) else {
                    return Err(KafkaCode::FETCH_SESSION_ID_NOT_FOUND);
                };
                if epoch != session.next_epoch {
                    return Err(KafkaCode::INVALID_FETCH_SESSION_EPOCH);
                }
                session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
                for p in &body.partitions {
                    session.partitions.insert(p.tp.clone(), p.clone());
                }
                for (tp, _) in &body.forgotten {
                    session.partitions.remove(tp);
                    session.answered_hw.remove(tp);
                }
                body.partitions = session.partitions.values().cloned().collect();
                body.forgotten.clear();
                Ok(Opened {
                    session_id: body.session_id,
                    incremental: true,
                })
            }
        }
    }

    /// Shapes the answer to an opened request: its session id, and for an incremental one only
    /// the partitions with records, an error or a changed high watermark.
    pub(crate) fn answer(&mut self, node: NodeId, opened: Opened, response: &mut FetchResponse) {
        response.session_id = opened.session_id;
        let Some(session) = self
            .by_node
            .get_mut(&node)
            .and_then(|s| s.get_mut(&opened.session_id))
        else {
            return;
        };
        for topic in &mut response.responses {
            // From v13 the answer names topics by id only.
            let name = if topic.topic.is_empty() {
                format!("{:?}", topic.topic_id)
            } else {
                topic.topic.as_str().to_owned()
            };
            topic.partitions.retain(|p| {
                let tp = TopicPartition::new(name.as_str(), p.partition_index);
                let previous = session.answered_hw.insert(tp, p.high_watermark);
                let news = p.error_code != 0
                    || p.records.as_ref().is_some_and(|r| !r.is_empty())
                    || previous != Some(p.high_watermark);
                !opened.incremental || news
            });
        }
        response.responses.retain(|t| !t.partitions.is_empty());
    }

    /// The broker restarted (or was cut off long enough): its sessions are gone.
    pub(crate) fn forget_node(&mut self, node: NodeId) {
        self.by_node.remove(&node);
    }

    /// Drops session `id` of `node` (the broker refused a request of it).
    pub(crate) fn drop_session(&mut self, node: NodeId, id: i32) {
        self.counts.refused += 1;
        if let Some(sessions) = self.by_node.get_mut(&node) {
            sessions.remove(&id);
        }
    }

    /// Evicts one of `node`'s sessions (a full cache makes room).
    pub(crate) fn evict_one(&mut self, node: NodeId) {
        if let Some(sessions) = self.by_node.get_mut(&node)
            && let Some(id) = sessions.keys().next().copied()
        {
            sessions.remove(&id);
        }
    }
}
