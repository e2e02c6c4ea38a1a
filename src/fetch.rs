//! Fetching, sans IO: where each owned partition reads from (committed offsets, resets, seeks),
//! which fetches go to which broker, and what their answers deliver.
//!
//! # Driving it
//! The engine owns the sockets and calls, in any order:
//! - **inputs**: [`FetchCore::assign`], [`FetchCore::remove`], [`FetchCore::seek`],
//!   [`FetchCore::handle_metadata`], and the answers [`FetchCore::handle_fetch`],
//!   [`FetchCore::handle_list_offsets`], [`FetchCore::handle_offset_fetch`] (each with the id of
//!   the request it answers; every request is answered exactly once, by its response or by the
//!   transport error that took its place);
//! - then **outputs**, each until it returns `None`: [`FetchCore::poll_request`] (given the group
//!   coordinator, if any, and each partition's [`Gate`]: buffer room, pause and end are inputs the
//!   engine reads from the application's side) and [`FetchCore::poll_event`]; then it arms a timer
//!   for [`FetchCore::poll_timeout`] and polls again when it fires.
//!
//! Requests are semantic bodies ([`FetchBody`], [`ListOffsetsBody`], [`OffsetFetchBody`]) that the
//! engine encodes at the version it negotiated with the broker it sends them to.
//!
//! # What it keeps per partition
//! A position (and where it comes from: the group's committed offset, a reset by
//! `auto.offset.reset`, a seek), the leader and its epoch, the fetch it is in, its fetch size (grown
//! when one batch does not fit) and the high watermark and readable end of the last answer. Per
//! broker: the fetches in flight (up to [`FETCHES_PER_BROKER`] over disjoint partitions while they
//! are behind; a fetch that may wait at the broker only alone) and a backoff after a failed one.
//! The broker a partition is fetched from is chosen in one place ([`FetchCore::fetch_node`]), so a
//! preferred read replica (KIP-392) and fetch sessions (KIP-227, per broker) have their seats.

mod batches;
mod classify;
mod plan;
mod positions;
mod request;
mod response;
mod session;
mod validate;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub(crate) use classify::{FetchAction, classify};
pub(crate) use request::{
    FetchBody, FetchPartitionBody, ListOffsetsBody, OffsetFetchBody, OffsetForLeaderEpochBody,
};

use crate::cluster::ClusterMetadata;
use crate::config::{ConsumerConfig, IsolationLevel, OffsetReset};
use crate::error::Error;
use crate::records::AbortedTransaction;
use crate::types::{NodeId, TopicPartition};
use crate::wire::KafkaCode;
use session::Session;

/// Fetches in flight to one broker at most, over disjoint sets of partitions. A partition is in at
/// most one fetch, so the bytes in flight stay bounded by the partitions' fetch sizes, as with one.
pub(crate) const FETCHES_PER_BROKER: usize = 4;

/// How often the engine looks again at partitions left out of fetches because their buffers were
/// full (buffers drain on the application's side, which does not wake the engine).
pub(crate) const BUFFER_RECHECK: Duration = Duration::from_millis(5);

/// What the fetch core needs from the consumer's configuration.
#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    /// With a group, positions start at its committed offsets.
    pub(crate) group_id: Option<String>,
    pub(crate) offset_reset: OffsetReset,
    /// Without a group: where every partition starts (else the reset policy decides).
    pub(crate) start_at: Option<SeekTarget>,
    pub(crate) isolation_level: IsolationLevel,
    pub(crate) fetch_min_bytes: i32,
    pub(crate) fetch_max_bytes: i32,
    pub(crate) max_partition_fetch_bytes: i32,
    pub(crate) fetch_wait_max: Duration,
    pub(crate) retry_backoff: Duration,
    /// `client.rack`, sent with every fetch (v11+) so the broker may name a preferred replica.
    pub(crate) client_rack: Option<String>,
    /// How long a preferred read replica is used before the leader is asked again.
    pub(crate) preferred_replica_ttl: Duration,
    /// Incremental fetch sessions (KIP-227) with brokers that offer them.
    pub(crate) sessions: bool,
}

impl FetchConfig {
    pub(crate) fn new(config: &ConsumerConfig) -> Self {
        FetchConfig {
            group_id: config.group_id.clone(),
            offset_reset: config.offset_reset,
            start_at: config.start_at.and_then(|o| SeekTarget::from_offset(o).ok()),
            isolation_level: config.isolation_level,
            fetch_min_bytes: config.fetch_min_bytes,
            fetch_max_bytes: config.fetch_max_bytes,
            max_partition_fetch_bytes: config.max_partition_fetch_bytes,
            fetch_wait_max: config.fetch_wait_max,
            retry_backoff: config.retry_backoff,
            client_rack: config.client_rack.clone(),
            preferred_replica_ttl: config.metadata_max_age,
            sessions: config.fetch_sessions,
        }
    }

    fn read_committed(&self) -> bool {
        self.isolation_level == IsolationLevel::ReadCommitted
    }

    fn isolation(&self) -> i8 {
        i8::from(self.read_committed())
    }
}

impl PartitionFetch {
    /// Whether the position is known (fetching, or being validated before fetching on).
    pub(crate) fn has_position(&self) -> bool {
        self.position >= 0
            && matches!(
                self.state,
                PositionState::Ready | PositionState::NeedValidation | PositionState::Validating(_)
            )
    }
}

/// Where the application asked a partition's position to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeekTarget {
    /// This offset.
    Offset(i64),
    /// What ListOffsets names for this timestamp (-2 the log start, -1 its end).
    Timestamp(i64),
    /// This many offsets before the end (not below 0).
    FromEnd(i64),
}

impl SeekTarget {
    /// The public [`crate::Offset`] as the fetch core handles it; an error (saying what is
    /// wrong) for a negative offset, timestamp or count.
    pub(crate) fn from_offset(offset: crate::types::Offset) -> Result<SeekTarget, String> {
        use crate::types::Offset;
        Ok(match offset.check()? {
            Offset::Beginning => SeekTarget::Timestamp(-2),
            Offset::End => SeekTarget::Timestamp(-1),
            Offset::At(n) => SeekTarget::Offset(n),
            Offset::Timestamp(ms) => SeekTarget::Timestamp(ms),
            Offset::FromEnd(n) => SeekTarget::FromEnd(n),
        })
    }
}

/// Whether a partition may be fetched now, as the application's side says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Fetch it.
    Open,
    /// Its buffer (or the consumer's total) is full: not now, look again shortly.
    Full,
    /// Paused by the application: no fetch, but its position may still be looked up.
    Paused,
    /// Its stream has ended (revoked, lost, closing): neither fetched nor looked up.
    Ended,
}

/// Where a partition's position stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PositionState {
    /// Needs its committed offset (group), its start offset or a reset.
    NeedOffset,
    /// The OffsetFetch with this id is looking up its committed offset.
    Committed(u64),
    /// Needs a reset by policy (no committed offset, or out of range).
    NeedReset,
    /// Sought by the application to a place only the leader can name: the offset ListOffsets
    /// gives for this timestamp (-2 the log start, -1 its end, else the first record at or after).
    NeedLookup(i64),
    /// Sought to this many offsets before the end: the end is looked up first.
    NeedTail(i64),
    /// The ListOffsets with this id is resetting it.
    Resetting(u64),
    /// Known: fetching.
    Ready,
    /// Known, but not fetched before the leader confirms it (KIP-320): the leader changed, or the
    /// position came from a commit that names its leader epoch. OffsetForLeaderEpoch asks where
    /// the epoch of the records before the position ends in the leader's log.
    NeedValidation,
    /// The OffsetForLeaderEpoch with this id is validating it.
    Validating(u64),
    /// The leader's log diverges from what was read: `epoch` (-1 unknown to the leader) ends at
    /// `end_offset`. The engine answers [`FetchCore::handle_diverged`] with where the application
    /// is, which decides whether records it read were truncated.
    Diverged { epoch: i32, end_offset: i64 },
    /// Stopped: reset policy `none` and no offset; the stream got an error.
    Failed,
}

/// One partition's fetch state.
#[derive(Debug, Clone)]
pub(crate) struct PartitionFetch {
    pub(crate) state: PositionState,
    /// The next offset to fetch (-1 until known).
    pub(crate) position: i64,
    /// The leader epoch of the last record batch read before `position` (-1 unknown): sent
    /// with fetches (v12+) and validated after a leader change (KIP-320).
    pub(crate) offset_epoch: i32,
    /// Where the position was last set from outside the fetch path (the stream reads from there
    /// until it yields its first record).
    pub(crate) sought_at: i64,
    /// Bumped whenever the position is set from outside the fetch path (lookup, reset, seek), so
    /// an answer to a fetch from an older position is ignored.
    pub(crate) position_epoch: u64,
    pub(crate) leader: Option<NodeId>,
    pub(crate) leader_epoch: i32,
    /// The fetch this partition is in.
    pub(crate) in_fetch: Option<u64>,
    /// Per-partition fetch size, grown when one batch does not fit.
    pub(crate) fetch_bytes: i32,
    pub(crate) high_watermark: i64,
    /// Where the last answer said readable records end (the high watermark, or the last stable
    /// offset under read_committed); -1 if unknown.
    pub(crate) readable_end: i64,
    /// The replica the leader told us to fetch from (KIP-392), until when.
    pub(crate) preferred_replica: Option<(NodeId, Instant)>,
}

/// What the fetch core tells the engine.
#[derive(Debug)]
pub(crate) enum FetchEvent {
    /// Whole record batches for `tp`'s stream, read from `start_at` on.
    Fetched {
        tp: TopicPartition,
        records: Bytes,
        start_at: i64,
        /// For read_committed: the answer's aborted transactions.
        aborted: Option<Vec<AbortedTransaction>>,
    },
    /// The group's committed offset of `tp` (where its position now starts).
    Committed { tp: TopicPartition, offset: i64 },
    /// `tp` cannot be read (no offset and reset policy `none`): its stream gets `error`.
    Failed { tp: TopicPartition, error: Error },
    /// `tp`'s log diverges from what was fetched (KIP-320): the engine drops what the stream
    /// holds and answers [`FetchCore::handle_diverged`].
    Diverged { tp: TopicPartition },
    /// An OffsetFetch met a group error (for the membership, as a commit's would).
    GroupError(KafkaCode),
    /// A transient problem, retried.
    Warning(Error),
    /// Leaders are unknown or moved: metadata should be refreshed.
    RefreshMetadata,
}

/// A request the fetch core wants sent, with the id to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchRequest {
    Fetch {
        id: u64,
        node: NodeId,
        body: FetchBody,
    },
    ListOffsets {
        id: u64,
        node: NodeId,
        body: ListOffsetsBody,
    },
    /// To a partition's leader (KIP-320).
    OffsetForLeaderEpoch {
        id: u64,
        node: NodeId,
        body: OffsetForLeaderEpochBody,
    },
    /// To the group coordinator.
    OffsetFetch {
        id: u64,
        node: NodeId,
        body: OffsetFetchBody,
    },
}

/// What one fetch asked for, to match its answer against.
#[derive(Debug, Clone)]
struct Asked {
    tp: TopicPartition,
    /// Its topic's id when asked (all zero: unknown).
    topic_id: [u8; 16],
    position: i64,
    position_epoch: u64,
}

#[derive(Debug)]
struct InFlightFetch {
    node: NodeId,
    may_wait: bool,
    asked: Vec<Asked>,
    /// The session epoch it was sent with, if it is a session fetch (0: a full one that asks for
    /// a new session).
    session_epoch: Option<i32>,
}

/// Fetch traffic to one broker.
#[derive(Debug, Clone, Default)]
struct BrokerFetch {
    in_flight: usize,
    /// One fetch in flight may be held by the broker for up to `fetch.wait.max.ms`.
    waiting: bool,
    /// After a failed fetch: no new one before this.
    retry_at: Option<Instant>,
    /// The fetch session with this broker (KIP-227).
    session: Session,
}

/// Positions and fetches, sans IO. See the module docs for how to drive it.
#[derive(Debug)]
pub(crate) struct FetchCore {
    config: FetchConfig,
    now: Instant,
    metadata: Option<Arc<ClusterMetadata>>,
    partitions: BTreeMap<TopicPartition, PartitionFetch>,
    brokers: HashMap<NodeId, BrokerFetch>,
    fetches: HashMap<u64, InFlightFetch>,
    /// The OffsetFetch in flight (at most one).
    offset_fetch: Option<u64>,
    /// ListOffsets in flight, with the partitions each resets or looks up (and the state each
    /// goes back to if the answer does not place it).
    resets: HashMap<u64, Vec<(TopicPartition, PositionState)>>,
    offset_fetch_retry_at: Option<Instant>,
    reset_retry_at: Option<Instant>,
    /// OffsetForLeaderEpoch in flight, with the partitions each validates.
    validations: HashMap<u64, Vec<TopicPartition>>,
    validate_retry_at: Option<Instant>,
    /// A ready partition was left out of the last plan only because its buffer was full.
    blocked_by_buffers: bool,
    next_id: u64,
    next_position_epoch: u64,
    requests: VecDeque<FetchRequest>,
    events: VecDeque<FetchEvent>,
}

impl FetchCore {
    pub(crate) fn new(config: FetchConfig, now: Instant) -> Self {
        FetchCore {
            config,
            now,
            metadata: None,
            partitions: BTreeMap::new(),
            brokers: HashMap::new(),
            fetches: HashMap::new(),
            offset_fetch: None,
            resets: HashMap::new(),
            offset_fetch_retry_at: None,
            reset_retry_at: None,
            validations: HashMap::new(),
            validate_retry_at: None,
            blocked_by_buffers: false,
            next_id: 1,
            next_position_epoch: 1,
            requests: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ----- getters -----

    /// A partition's fetch state.
    pub(crate) fn partition(&self, tp: &TopicPartition) -> Option<&PartitionFetch> {
        self.partitions.get(tp)
    }

    /// Every partition's fetch state.
    #[allow(dead_code)] // diagnostics and tests
    pub(crate) fn partitions(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionFetch)> {
        self.partitions.iter()
    }

    /// Fetches in flight (all brokers).
    #[allow(dead_code)] // diagnostics and tests
    pub(crate) fn fetches_in_flight(&self) -> usize {
        self.fetches.len()
    }

    /// The broker to fetch `part` from: the preferred read replica the leader named (KIP-392),
    /// while that preference lasts and the leader is known, else the leader.
    fn fetch_node(part: &PartitionFetch, now: Instant) -> Option<NodeId> {
        let leader = part.leader?;
        match part.preferred_replica {
            Some((replica, until)) if now < until => Some(replica),
            _ => Some(leader),
        }
    }

    // ----- inputs -----

    /// Starts tracking `tp` (newly assigned): its position is looked up before any fetch.
    pub(crate) fn assign(&mut self, tp: TopicPartition, now: Instant) {
        self.now = now;
        let (leader, leader_epoch) = self.leader_of(&tp);
        self.partitions.insert(
            tp,
            PartitionFetch {
                state: PositionState::NeedOffset,
                position: -1,
                offset_epoch: -1,
                sought_at: -1,
                position_epoch: 0,
                leader,
                leader_epoch,
                in_fetch: None,
                fetch_bytes: self.config.max_partition_fetch_bytes,
                high_watermark: -1,
                readable_end: -1,
                preferred_replica: None,
            },
        );
    }

    /// Stops tracking `tp`; answers still in flight for it are ignored.
    pub(crate) fn remove(&mut self, tp: &TopicPartition) {
        self.partitions.remove(tp);
    }

    /// The application seeks `tp`: to an offset at once, or to what the leader names for a
    /// timestamp (-2 the log start, -1 its end, else the first record at or after it; no such
    /// record means the end). Answers in flight for the old position are ignored from now on.
    /// False if `tp` is not tracked.
    pub(crate) fn seek_to(&mut self, tp: &TopicPartition, target: SeekTarget, now: Instant) -> bool {
        self.now = now;
        if !self.partitions.contains_key(tp) {
            return false;
        }
        match target {
            SeekTarget::Offset(offset) => self.seek(tp, offset, now),
            SeekTarget::Timestamp(_) | SeekTarget::FromEnd(_) => {
                let epoch = self.bump_position_epoch();
                if let Some(part) = self.partitions.get_mut(tp) {
                    part.position = -1;
                    part.position_epoch = epoch;
                    part.state = match target {
                        SeekTarget::FromEnd(n) => PositionState::NeedTail(n),
                        SeekTarget::Timestamp(ts) | SeekTarget::Offset(ts) => PositionState::NeedLookup(ts),
                    };
                }
                // A seek is looked up now, not after a failed reset's backoff.
                self.reset_retry_at = None;
            }
        }
        true
    }

    /// Sets `tp`'s position: fetching continues from `offset` (an answer for the old position is
    /// ignored; an offset outside the log is reset by policy).
    pub(crate) fn seek(&mut self, tp: &TopicPartition, offset: i64, now: Instant) {
        self.seek_in_epoch(tp, offset, -1, PositionState::Ready, now);
    }

    /// Sets `tp`'s position to `offset`, read in leader epoch `offset_epoch` (-1 unknown), in
    /// `state` (ready, or to be validated first).
    fn seek_in_epoch(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        offset_epoch: i32,
        state: PositionState,
        now: Instant,
    ) {
        self.now = now;
        let epoch = self.bump_position_epoch();
        if let Some(part) = self.partitions.get_mut(tp) {
            part.position = offset;
            part.offset_epoch = offset_epoch;
            part.sought_at = offset;
            part.position_epoch = epoch;
            part.state = state;
        }
    }

    /// A high watermark learned outside a fetch (a watermarks lookup): lag stays fresh for a
    /// partition that is not fetched (paused, or its buffer full).
    pub(crate) fn handle_high_watermark(&mut self, tp: &TopicPartition, high_watermark: i64) {
        if let Some(part) = self.partitions.get_mut(tp) {
            part.high_watermark = part.high_watermark.max(high_watermark);
        }
    }

    /// New cluster metadata: leaders and leader epochs.
    pub(crate) fn handle_metadata(&mut self, metadata: Arc<ClusterMetadata>, now: Instant) {
        self.now = now;
        for (tp, part) in &mut self.partitions {
            match metadata.partition(&tp.topic, tp.partition) {
                Some(p) => {
                    if p.leader != part.leader || p.leader_epoch != part.leader_epoch {
                        // A new leader (or epoch): ask it again which replica to read from, and
                        // whether the log read so far is still its log (KIP-320).
                        part.preferred_replica = None;
                        if part.state == PositionState::Ready && part.offset_epoch >= 0 && p.leader.is_some()
                        {
                            part.state = PositionState::NeedValidation;
                        }
                    }
                    if part.preferred_replica.is_some_and(|(r, _)| !p.isr.contains(&r)) {
                        part.preferred_replica = None;
                    }
                    part.leader = p.leader;
                    part.leader_epoch = p.leader_epoch;
                }
                None => {
                    part.leader = None;
                    part.preferred_replica = None;
                }
            }
        }
        self.metadata = Some(metadata);
    }

    /// Time passes (answers and timers carry their own `now`; this is for the engine's ticks).
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
    }

    // ----- outputs -----

    /// The next request to send. `coordinator` is the group coordinator for OffsetFetch (if known);
    /// `gate` says, per partition, whether the application's side lets it be fetched.
    pub(crate) fn poll_request(
        &mut self,
        coordinator: Option<NodeId>,
        gate: impl Fn(&TopicPartition) -> Gate,
    ) -> Option<FetchRequest> {
        if self.requests.is_empty() {
            self.plan_lookups(coordinator, &gate);
            self.plan_validations(&gate);
            self.plan_fetches(&gate);
        }
        self.requests.pop_front()
    }

    /// The next request already planned, without planning again (after [`Self::poll_request`]
    /// returned one, the rest of that plan).
    pub(crate) fn pop_request(&mut self) -> Option<FetchRequest> {
        self.requests.pop_front()
    }

    /// The next event.
    pub(crate) fn poll_event(&mut self) -> Option<FetchEvent> {
        self.events.pop_front()
    }

    /// When to poll again without an input: retries after backoff, and a look at full buffers.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        // A retry time already passed was acted on by the last poll (or cannot be acted on yet,
        // e.g. no coordinator): it is no reason to wake.
        let now = self.now;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t.filter(|t| *t > now) {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        let waiting_lookup =
            |state: fn(&PositionState) -> bool| self.partitions.values().any(|p| state(&p.state));
        if waiting_lookup(|s| *s == PositionState::NeedOffset) {
            consider(self.offset_fetch_retry_at);
        }
        if waiting_lookup(|s| {
            matches!(
                s,
                PositionState::NeedReset | PositionState::NeedLookup(_) | PositionState::NeedTail(_)
            )
        }) {
            consider(self.reset_retry_at);
        }
        if waiting_lookup(|s| *s == PositionState::NeedValidation) {
            consider(self.validate_retry_at);
        }
        for broker in self.brokers.values() {
            consider(broker.retry_at);
        }
        if self.blocked_by_buffers {
            consider(Some(self.now + BUFFER_RECHECK));
        }
        at
    }

    // ----- internals -----

    fn next_request_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn bump_position_epoch(&mut self) -> u64 {
        self.next_position_epoch += 1;
        self.next_position_epoch
    }

    fn leader_of(&self, tp: &TopicPartition) -> (Option<NodeId>, i32) {
        self.metadata
            .as_ref()
            .and_then(|m| m.partition(&tp.topic, tp.partition))
            .map_or((None, -1), |p| (p.leader, p.leader_epoch))
    }
}

#[cfg(test)]
mod tests;
