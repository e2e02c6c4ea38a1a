//! The application's questions about offsets (watermarks, offsets for times, committed offsets,
//! positions), answered from the brokers within the request timeout.
//!
//! A question becomes lookups, one per (partition, timestamp, isolation): each is sent to the
//! partition's leader as it stands in the engine's metadata (a refresh that also names the asked
//! topics is made first if they are not in it), in ListOffsets requests that never name a
//! partition twice. A lookup answered with a leadership error is asked again after the retry
//! backoff and a metadata refresh; any other error code, an unknown topic or partition, or the
//! deadline, answers the whole question with an error that says which partition and why.
//!
//! Their requests carry ids with [`QUERY_ID`] set, so their answers come back here and not to the
//! fetch core, which asks the same APIs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use tokio::sync::oneshot;

use super::{EngineCore, partitions};
use crate::engine::transmit::Transmit;
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::Gate;
use crate::fetch::{FetchAction, FetchRequest, ListOffsetsBody, OffsetFetchBody, classify};
use crate::handoff::{CommittedAnswer, Query, TimesAnswer};
use crate::types::{NodeId, OffsetAndTimestamp, TopicPartition, Watermarks};
use crate::wire::{KafkaCode, ListOffsetsResponse, OffsetFetchResponse};

/// Set in the id of every request made for a question.
pub(super) const QUERY_ID: u64 = 1 << 62;

/// Whether `id` is a question's request.
pub(super) fn is_query_id(id: u64) -> bool {
    id & QUERY_ID != 0
}

/// One ListOffsets lookup.
#[derive(Debug, Clone)]
struct Lookup {
    tp: TopicPartition,
    timestamp: i64,
    isolation: i8,
    answer: Option<OffsetAndTimestamp>,
}

#[derive(Debug)]
enum Reply {
    /// The engine's own refresh of high watermarks for partitions it does not fetch (paused, or
    /// their buffers full), so their lag stays fresh.
    Refresh,
    Watermarks(oneshot::Sender<Result<Watermarks>>),
    Times(oneshot::Sender<Result<TimesAnswer>>),
    Committed(oneshot::Sender<Result<CommittedAnswer>>),
}

/// A committed-offsets question: its partitions, and their answers once known.
type CommittedLookup = (Vec<TopicPartition>, Option<Vec<Option<i64>>>);

/// Lookups by (leader, isolation), in batches that never name a partition twice.
type Batches = BTreeMap<(NodeId, i8), Vec<(BTreeSet<TopicPartition>, Vec<usize>)>>;

#[derive(Debug)]
struct Job {
    reply: Reply,
    lookups: Vec<Lookup>,
    /// For a committed-offsets question: its partitions, and their answers once known.
    committed: Option<CommittedLookup>,
    deadline: Instant,
    retry_at: Option<Instant>,
    in_flight: usize,
    /// Why the last attempt did not answer (for the timeout's message).
    last_error: Option<String>,
}

/// How often the high watermarks of owned partitions that are not being fetched are asked for.
pub(super) const LAG_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The questions being answered.
#[derive(Debug, Default)]
pub(super) struct Queries {
    jobs: BTreeMap<u64, Job>,
    /// When the next refresh of unfetched partitions' high watermarks is due.
    next_refresh: Option<Instant>,
    /// Request id → (job, indexes of its lookups in that request).
    requests: HashMap<u64, (u64, Vec<usize>)>,
    next: u64,
}

impl Queries {
    fn next_id(&mut self) -> u64 {
        self.next += 1;
        QUERY_ID | self.next
    }

    /// Topics the questions need metadata for.
    pub(super) fn topics(&self) -> BTreeSet<String> {
        self.jobs
            .values()
            .flat_map(|j| j.lookups.iter().filter(|l| l.answer.is_none()))
            .map(|l| l.tp.topic.to_string())
            .collect()
    }

    /// The next time a question needs attention: a retry (once nothing of it is in flight), a
    /// deadline, the next watermark refresh (not while closing, when none is made).
    pub(super) fn poll_timeout(&self, closing: bool) -> Option<Instant> {
        self.jobs
            .values()
            .map(|j| match j.retry_at {
                Some(retry) if j.in_flight == 0 => retry.min(j.deadline),
                _ => j.deadline,
            })
            .chain(self.next_refresh.filter(|_| !closing))
            .min()
    }
}

fn unknown(tp: &TopicPartition, why: &str) -> Error {
    Error::kafka(
        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION,
        format!("{tp}: {why}; check the topic name and its partition count"),
    )
}

impl EngineCore {
    /// A question from the application.
    pub(super) fn handle_query(&mut self, query: Query) {
        let deadline = self.now + self.config.net.request_timeout;
        let job = |reply, lookups, committed| Job {
            reply,
            lookups,
            committed,
            deadline,
            retry_at: None,
            in_flight: 0,
            last_error: None,
        };
        let lookup = |tp: &TopicPartition, timestamp, isolation| Lookup {
            tp: tp.clone(),
            timestamp,
            isolation,
            answer: None,
        };
        let new = match query {
            Query::Position { tp, reply } => {
                let _ = reply.send(self.position(&tp));
                return;
            }
            Query::Watermarks { tp, reply } => job(
                Reply::Watermarks(reply),
                vec![lookup(&tp, -2, 0), lookup(&tp, -1, 0), lookup(&tp, -1, 1)],
                None,
            ),
            Query::OffsetsForTimes { times, reply } => {
                if let Some((tp, ms)) = times.iter().find(|(_, ms)| *ms < 0) {
                    let _ = reply.send(Err(Error::new(
                        ErrorKind::Config,
                        format!("{tp}: timestamp {ms} is negative; ask with Unix milliseconds"),
                    )));
                    return;
                }
                let lookups = times.iter().map(|(tp, ms)| lookup(tp, *ms, 0)).collect();
                job(Reply::Times(reply), lookups, None)
            }
            Query::Committed { tps, reply } => {
                if self.group.is_none() {
                    let _ = reply.send(Err(Error::new(
                        ErrorKind::Config,
                        "this consumer has no group.id, so it has no committed offsets to ask for",
                    )));
                    return;
                }
                job(Reply::Committed(reply), Vec::new(), Some((tps, None)))
            }
        };
        let id = self.queries.next_id();
        self.queries.jobs.insert(id, new);
        if !self.queries.topics().is_empty() {
            self.request_metadata_refresh_now();
        }
    }

    /// The next offset `tp`'s stream yields, if known.
    fn position(&self, tp: &TopicPartition) -> Result<Option<i64>> {
        let part = self.parts.get(tp).filter(|p| !p.is_ended()).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("{tp} is not assigned to this consumer, so it has no position"),
            )
        })?;
        let delivered = part
            .shared
            .delivered_next
            .load(std::sync::atomic::Ordering::Acquire);
        if delivered >= 0 {
            return Ok(Some(delivered));
        }
        Ok(self
            .fetch
            .partition(tp)
            .filter(|f| f.has_position())
            .map(|f| f.position))
    }

    /// Asks, every [`LAG_REFRESH`], for the high watermarks of owned partitions the fetch core
    /// is not fetching (paused, or their buffer full): a fetch answer refreshes the others.
    fn refresh_unfetched_watermarks(&mut self) {
        let now = self.now;
        if self.queries.next_refresh.is_some_and(|t| now < t) || self.is_closing() {
            return;
        }
        self.queries.next_refresh = Some(now + LAG_REFRESH);
        if self
            .queries
            .jobs
            .values()
            .any(|j| matches!(j.reply, Reply::Refresh))
        {
            return;
        }
        let gate = partitions::gate(&self.parts, &self.config, &self.total_buffered);
        let lookups: Vec<Lookup> = self
            .parts
            .keys()
            .filter(|tp| matches!(gate(tp), Gate::Paused | Gate::Full))
            .map(|tp| Lookup {
                tp: tp.clone(),
                timestamp: -1,
                isolation: 0,
                answer: None,
            })
            .collect();
        if lookups.is_empty() {
            return;
        }
        let id = self.queries.next_id();
        self.queries.jobs.insert(
            id,
            Job {
                reply: Reply::Refresh,
                lookups,
                committed: None,
                deadline: now + self.config.net.request_timeout,
                retry_at: None,
                in_flight: 0,
                last_error: None,
            },
        );
    }

    /// Sends what the questions can ask now, and answers those that are done or out of time.
    pub(super) fn drive_queries(&mut self) {
        self.refresh_unfetched_watermarks();
        if self.queries.jobs.is_empty() {
            return;
        }
        let now = self.now;
        let ids: Vec<u64> = self.queries.jobs.keys().copied().collect();
        let mut refresh = false;
        for id in ids {
            let Some(job) = self.queries.jobs.get(&id) else {
                continue;
            };
            if job.in_flight == 0 && Self::job_done(job) {
                self.answer(id, None);
                continue;
            }
            // Out of time even with requests in flight: their late answers are ignored.
            if now >= job.deadline {
                let why = job.last_error.clone().unwrap_or_else(|| "no answer".to_owned());
                let error = Error::new(
                    ErrorKind::Timeout,
                    format!("the offsets lookup ran out of time ({why}); is the cluster reachable?"),
                );
                self.answer(id, Some(error));
                continue;
            }
            if job.in_flight > 0 || job.retry_at.is_some_and(|t| now < t) {
                continue;
            }
            match self.send_job(id) {
                Ok(sent) => refresh |= !sent,
                Err(error) => self.answer(id, Some(error)),
            }
        }
        if refresh {
            self.request_metadata_refresh();
        }
    }

    fn job_done(job: &Job) -> bool {
        job.lookups.iter().all(|l| l.answer.is_some())
            && job
                .committed
                .as_ref()
                .is_none_or(|(_, answers)| answers.is_some())
    }

    /// Sends job `id`'s requests; false if some wait for metadata (a leader or the coordinator).
    fn send_job(&mut self, id: u64) -> Result<bool> {
        let metadata = self.metadata.current.clone();
        let coordinator = self.group.as_ref().and_then(|g| g.membership.coordinator());
        let group_id = self.config.group_id.clone();
        let member = self.offset_fetch_member();
        let mut requests: Vec<(NodeId, FetchRequestBody, Vec<usize>)> = Vec::new();
        let mut waiting = false;
        {
            let Some(job) = self.queries.jobs.get_mut(&id) else {
                return Ok(true);
            };
            job.retry_at = None;
            // ListOffsets: per (leader, isolation), batches that never name a partition twice.
            let mut batches: Batches = BTreeMap::new();
            for (i, l) in job.lookups.iter().enumerate().filter(|(_, l)| l.answer.is_none()) {
                let Some(metadata) = &metadata else {
                    waiting = true;
                    continue;
                };
                let Some(topic) = metadata.topic(&l.tp.topic) else {
                    waiting = true;
                    continue;
                };
                if topic.error == Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION) {
                    return Err(unknown(&l.tp, "the topic does not exist"));
                }
                if topic.error.is_none() && !topic.partitions.iter().any(|p| p.partition == l.tp.partition) {
                    return Err(unknown(
                        &l.tp,
                        &format!("the topic has {} partitions", topic.partitions.len()),
                    ));
                }
                let Some(leader) = metadata
                    .partition(&l.tp.topic, l.tp.partition)
                    .and_then(|p| p.leader)
                else {
                    waiting = true;
                    continue;
                };
                let slots = batches.entry((leader, l.isolation)).or_default();
                match slots.iter_mut().find(|(tps, _)| !tps.contains(&l.tp)) {
                    Some((tps, idx)) => {
                        tps.insert(l.tp.clone());
                        idx.push(i);
                    }
                    None => slots.push((BTreeSet::from([l.tp.clone()]), vec![i])),
                }
            }
            for ((node, isolation), slots) in batches {
                for (_, idx) in slots {
                    let partitions = idx
                        .iter()
                        .map(|&i| (job.lookups[i].tp.clone(), -1, job.lookups[i].timestamp))
                        .collect();
                    requests.push((
                        node,
                        FetchRequestBody::ListOffsets(ListOffsetsBody {
                            isolation_level: isolation,
                            partitions,
                        }),
                        idx,
                    ));
                }
            }
            if let Some((tps, None)) = &job.committed {
                match (coordinator, group_id) {
                    (Some(node), Some(group_id)) => requests.push((
                        node,
                        FetchRequestBody::OffsetFetch(OffsetFetchBody {
                            group_id,
                            partitions: tps.clone(),
                            member: member.clone(),
                        }),
                        Vec::new(),
                    )),
                    _ => waiting = true,
                }
            }
            job.in_flight += requests.len();
            if waiting && requests.is_empty() {
                job.retry_at = Some(self.now + self.config.retry_backoff);
                job.last_error = Some("waiting for metadata or the group coordinator".to_owned());
            }
        }
        for (node, body, idx) in requests {
            let request_id = self.queries.next_id();
            self.queries.requests.insert(request_id, (id, idx));
            let request = match body {
                FetchRequestBody::ListOffsets(body) => FetchRequest::ListOffsets {
                    id: request_id,
                    node,
                    body,
                },
                FetchRequestBody::OffsetFetch(body) => FetchRequest::OffsetFetch {
                    id: request_id,
                    node,
                    body,
                },
            };
            self.transmits.push_back(Transmit::Fetch(request));
        }
        Ok(!waiting)
    }

    /// The answer to a question's ListOffsets.
    pub(super) fn handle_query_list_offsets(&mut self, id: u64, result: Result<ListOffsetsResponse>) {
        let Some((job_id, idx)) = self.queries.requests.remove(&id) else {
            return;
        };
        let backoff = self.now + self.config.retry_backoff;
        let Some(job) = self.queries.jobs.get_mut(&job_id) else {
            return;
        };
        job.in_flight = job.in_flight.saturating_sub(1);
        let mut fatal = None;
        let mut retry = false;
        match result {
            Err(e) => {
                job.last_error = Some(e.to_string());
                retry = true;
            }
            Ok(response) => {
                for i in idx {
                    let Some(l) = job.lookups.get_mut(i) else {
                        continue;
                    };
                    let answer = response
                        .topics
                        .iter()
                        .filter(|t| t.name.as_str() == &*l.tp.topic)
                        .flat_map(|t| t.partitions.iter())
                        .find(|p| p.partition_index == l.tp.partition);
                    let Some(p) = answer else {
                        job.last_error = Some(format!("{} was left out of the answer", l.tp));
                        retry = true;
                        continue;
                    };
                    let code = KafkaCode(p.error_code);
                    match classify(code) {
                        FetchAction::None => {
                            l.answer = Some(OffsetAndTimestamp {
                                offset: p.offset,
                                timestamp: p.timestamp,
                                leader_epoch: p.leader_epoch,
                            });
                        }
                        FetchAction::RefreshLeader => {
                            job.last_error = Some(format!("{}: {code}", l.tp));
                            retry = true;
                        }
                        FetchAction::ResetPosition | FetchAction::Warn => {
                            fatal.get_or_insert_with(|| {
                                Error::kafka(code, format!("looking up offsets of {} failed", l.tp))
                            });
                        }
                    }
                }
            }
        }
        if retry {
            job.retry_at = Some(backoff);
        }
        if let Some(error) = fatal {
            self.answer(job_id, Some(error));
        } else if retry {
            self.request_metadata_refresh();
        }
    }

    /// The answer to a question's OffsetFetch.
    pub(super) fn handle_query_offset_fetch(&mut self, id: u64, result: Result<OffsetFetchResponse>) {
        let Some((job_id, _)) = self.queries.requests.remove(&id) else {
            return;
        };
        let backoff = self.now + self.config.retry_backoff;
        let Some(job) = self.queries.jobs.get_mut(&job_id) else {
            return;
        };
        job.in_flight = job.in_flight.saturating_sub(1);
        let Some((tps, answers)) = &mut job.committed else {
            return;
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                job.last_error = Some(e.to_string());
                job.retry_at = Some(backoff);
                return;
            }
        };
        let top = KafkaCode(response.error_code);
        let mut found = Vec::with_capacity(tps.len());
        let mut error = top.is_error().then_some(top);
        for tp in tps.iter() {
            let p = response
                .topics
                .iter()
                .filter(|t| t.name.as_str() == &*tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            match p {
                Some(p) if KafkaCode(p.error_code).is_error() => {
                    error.get_or_insert(KafkaCode(p.error_code));
                }
                Some(p) => found.push((p.committed_offset >= 0).then_some(p.committed_offset)),
                None => found.push(None),
            }
        }
        match error {
            None => *answers = Some(found),
            Some(code) if crate::error::Error::kafka(code, "").is_retriable() => {
                job.last_error = Some(format!("OffsetFetch: {code}"));
                job.retry_at = Some(backoff);
            }
            Some(code) => {
                let error = Error::kafka(code, "looking up the group's committed offsets failed");
                self.answer(job_id, Some(error));
            }
        }
    }

    /// Answers job `id` (with `error`, or with what it found) and forgets it.
    fn answer(&mut self, id: u64, error: Option<Error>) {
        let Some(job) = self.queries.jobs.remove(&id) else {
            return;
        };
        self.queries.requests.retain(|_, (j, _)| *j != id);
        let answer = |i: usize| job.lookups.get(i).and_then(|l| l.answer);
        match job.reply {
            Reply::Refresh => {
                for l in &job.lookups {
                    if let Some(a) = l.answer {
                        self.fetch.handle_high_watermark(&l.tp, a.offset);
                    }
                }
            }
            Reply::Watermarks(reply) => {
                let result = match (error, answer(0), answer(1), answer(2)) {
                    (Some(e), ..) => Err(e),
                    (None, Some(low), Some(high), Some(stable)) => {
                        let tp = &job.lookups[0].tp;
                        self.fetch.handle_high_watermark(tp, high.offset);
                        Ok(Watermarks {
                            low: low.offset,
                            high: high.offset,
                            last_stable: stable.offset,
                        })
                    }
                    _ => Err(Error::new(
                        ErrorKind::Protocol,
                        "the watermarks lookup ended unanswered",
                    )),
                };
                let _ = reply.send(result);
            }
            Reply::Times(reply) => {
                let result = match error {
                    Some(e) => Err(e),
                    None => Ok(job
                        .lookups
                        .iter()
                        .map(|l| (l.tp.clone(), l.answer.filter(|a| a.offset >= 0)))
                        .collect()),
                };
                let _ = reply.send(result);
            }
            Reply::Committed(reply) => {
                let result = match (error, job.committed) {
                    (Some(e), _) => Err(e),
                    (None, Some((tps, Some(found)))) => Ok(tps.into_iter().zip(found).collect()),
                    _ => Err(Error::new(
                        ErrorKind::Protocol,
                        "the committed offsets lookup ended unanswered",
                    )),
                };
                let _ = reply.send(result);
            }
        }
    }
}

/// A question's request body, before it gets its id.
enum FetchRequestBody {
    ListOffsets(ListOffsetsBody),
    OffsetFetch(OffsetFetchBody),
}
