//! Cluster metadata: which topics the engine needs, when to refresh, and what an answer changes
//! (leaders for fetching, partition counts for the membership or, without a group, the
//! assignment).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::EngineCore;
use crate::cluster::{ClusterMetadata, TopicMetadata};
use crate::engine::transmit::Transmit;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Status};
use crate::group::{PartitionRacks, TopicId};
use crate::types::TopicPartition;

/// How soon a refresh follows when a subscribed topic is missing.
const MISSING_TOPIC_RETRY: Duration = Duration::from_secs(1);

impl EngineCore {
    /// Topics whose metadata the engine needs: the subscription, plus what the group leader needs.
    fn topics_needed(&self) -> BTreeSet<String> {
        let mut topics: BTreeSet<String> = self.config.topics.iter().cloned().collect();
        topics.extend(self.manual.iter().flatten().map(|tp| tp.topic.to_string()));
        if let Some(group) = &self.group {
            topics.extend(group.membership.topics_needed());
        }
        topics
    }

    /// Asks for a refresh soon (after the retry backoff).
    pub(super) fn request_metadata_refresh(&mut self) {
        let soon = self.now + self.config.retry_backoff;
        self.metadata.due = Some(self.metadata.due.map_or(soon, |d| d.min(soon)));
    }

    /// Asks for a refresh at once (a question names topics the metadata may not hold).
    pub(super) fn request_metadata_refresh_now(&mut self) {
        self.metadata.due = Some(self.now);
    }

    pub(super) fn maybe_refresh_metadata(&mut self) {
        let due = self.metadata.due.is_some_and(|due| due <= self.now);
        if self.metadata.in_flight || !due || self.is_closing() {
            return;
        }
        self.metadata.in_flight = true;
        self.metadata.due = None;
        let topics = if self.config.pattern.is_some() || self.config.broker_pattern.is_some() {
            // Every topic: the pattern is matched against all of them, or (the broker's pattern)
            // the topic ids the coordinator assigns are looked up among them.
            None
        } else {
            let mut topics = self.topics_needed();
            topics.extend(self.queries.topics());
            Some(topics.into_iter().collect())
        };
        self.transmits.push_back(Transmit::Metadata { topics });
    }

    /// A pattern subscription: the topics that match now become the subscription. Without a
    /// group, the partitions of topics that no longer match (deleted) are given up at once; with
    /// one, the membership rejoins with the new subscription and the assignment follows.
    fn match_pattern(&mut self, metadata: &ClusterMetadata) {
        let Some(pattern) = &self.config.pattern else {
            return;
        };
        let matched: Vec<String> = metadata
            .topics()
            .filter(|t| !t.is_internal && t.error.is_none() && pattern.is_match(&t.name))
            .map(|t| t.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if matched == self.config.topics {
            return;
        }
        tracing::info!(pattern = %pattern, topics = ?matched, "pattern subscription changed");
        let gone: Vec<_> = self
            .parts
            .keys()
            .filter(|tp| !matched.iter().any(|t| *t == *tp.topic))
            .cloned()
            .collect();
        self.config.topics = matched;
        if self.group.is_none() && !gone.is_empty() {
            tracing::info!(
                partitions = gone.len(),
                "topics no longer match the pattern (deleted?): their streams end"
            );
            self.give_up(gone);
        }
        if let Some(group) = &mut self.group
            && (group.subscribed || !self.config.topics.is_empty())
        {
            group.subscribed = true;
            let topics: BTreeSet<String> = self.config.topics.iter().cloned().collect();
            group.membership.subscribe(topics, self.now);
        }
    }

    pub(super) fn handle_metadata(&mut self, result: Result<Arc<ClusterMetadata>>) {
        self.metadata.in_flight = false;
        let now = self.now;
        let metadata = match result {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::warn!(error = %e, "metadata request failed; retrying");
                if self.metadata.current.is_none() {
                    self.set_status(Status::Connecting);
                }
                self.reporter.error(&e);
                self.reporter.event(Event::Warning(e));
                self.metadata.due = Some(now + self.config.retry_backoff);
                return;
            }
        };
        if self.config.pattern.is_some() {
            self.match_pattern(&metadata);
        }
        // Refresh periodically (metadata.max.age), sooner if a topic is still missing.
        let mut due = now + self.config.metadata_max_age;
        let mut counts = BTreeMap::new();
        let mut racks = PartitionRacks::new();
        for topic in self.topics_needed() {
            match metadata.topic(&topic) {
                Some(t) if t.error.is_none() && !t.partitions.is_empty() => {
                    replica_racks(&metadata, t, &mut racks);
                    counts.insert(topic, t.partitions.len() as i32);
                }
                other => {
                    let why = other
                        .and_then(|t| t.error)
                        .map_or("no partitions".to_owned(), |e| e.to_string());
                    tracing::warn!(topic, %why, "subscribed topic is not available yet; retrying");
                    self.reporter.event(Event::Warning(Error::new(
                        ErrorKind::Kafka,
                        format!("topic {topic:?} is not available ({why}); waiting for it"),
                    )));
                    due = due.min(now + MISSING_TOPIC_RETRY);
                }
            }
        }
        // The consumer protocol's assignments name topics by id: the subscribed topics', or with
        // the broker's pattern any topic's.
        let ids: BTreeMap<TopicId, String> = if self.config.broker_pattern.is_some() {
            metadata
                .topics()
                .filter(|t| t.error.is_none())
                .filter_map(|t| t.topic_id.map(|id| (id, t.name.clone())))
                .collect()
        } else {
            self.topics_needed()
                .into_iter()
                .filter_map(|t| metadata.topic_id(&t).map(|id| (id, t)))
                .collect()
        };
        self.metadata.due = Some(self.metadata.due.map_or(due, |d| d.min(due)));
        self.metadata.current = Some(metadata.clone());
        self.fetch.handle_metadata(metadata, now);
        if self.manual.is_some() {
            if !self.parts.is_empty() {
                self.set_status(Status::Consuming);
            }
            return;
        }
        match &mut self.group {
            Some(group) => {
                group.membership.handle_partition_counts(&counts, &racks, now);
                group.membership.handle_topic_ids(&ids, now);
            }
            None => self.assign_all(&counts),
        }
    }
}

/// Adds the racks of the replicas of `topic`'s partitions (the `broker.rack` of each replica's
/// broker; partitions whose brokers have none are left out), for rack-aware assignment.
fn replica_racks(metadata: &ClusterMetadata, topic: &TopicMetadata, out: &mut PartitionRacks) {
    let name: Arc<str> = topic.name.as_str().into();
    for p in &topic.partitions {
        let racks: BTreeSet<String> = p
            .replicas
            .iter()
            .filter_map(|&node| metadata.broker(node).and_then(|b| b.rack.clone()))
            .filter(|r| !r.is_empty())
            .collect();
        if !racks.is_empty() {
            out.insert(TopicPartition::new(name.clone(), p.partition), racks);
        }
    }
}
