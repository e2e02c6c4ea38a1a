//! Internals exposed to cargo-fuzz only: compiled under `--cfg fuzzing` (which cargo-fuzz sets),
//! never in a normal build and behind no feature flag. Not part of kafkit's API.
//!
//! [`GroupHarness`] wraps the crate-private consumer-group state machine with the same inputs and
//! outputs (see `group::machine` for the calling order), translated into public types.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{Error, ErrorKind};
use crate::group::{
    AssignorKind, ConsumerMachine, GroupConfig, GroupEvent, GroupMachine, GroupRequest, LeaveReason,
    Membership, OutgoingRequest, Target,
};
use crate::types::TopicPartition;
use crate::wire::{ApiKey, KafkaCode};

/// How the fuzzed member is configured.
#[derive(Debug, Clone)]
pub struct HarnessConfig {
    /// `cooperative-sticky` alone, or the eager `range, roundrobin`.
    pub cooperative: bool,
    /// A `group.instance.id` (KIP-345 static membership).
    pub static_member: bool,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`.
    pub rebalance_timeout: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
}

/// What the machine reported (`GroupEvent`, with errors as strings).
#[derive(Debug, Clone)]
pub enum HarnessEvent {
    /// Newly owned partitions.
    Assigned(Vec<TopicPartition>),
    /// Partitions to give up cleanly (then `handle_revoke_done`).
    Revoke(Vec<TopicPartition>),
    /// Partitions lost without a revoke.
    Lost(Vec<TopicPartition>, String),
    /// Joined a generation.
    Joined {
        /// The generation.
        generation_id: i32,
        /// Our member id.
        member_id: String,
        /// Whether we lead.
        leader: bool,
        /// The chosen assignor.
        protocol: String,
    },
    /// The member stopped.
    Fatal(String),
    /// The coordinator could not be found; retried.
    CoordinatorUnavailable(String),
}

/// A request the machine wants sent.
#[derive(Debug, Clone)]
pub struct HarnessRequest {
    /// Echo in [`GroupHarness::handle_response`].
    pub id: u64,
    /// The API.
    pub api: ApiKey,
    /// The coordinator's node id, or `None` for any broker.
    pub coordinator: Option<i32>,
    /// The request's deadline.
    pub timeout: Duration,
    request: GroupRequest,
}

impl HarnessRequest {
    /// The body at `version`, or the error the engine would hand to `handle_response` instead.
    pub fn encode(&self, version: i16) -> Result<Bytes, Error> {
        Ok(self.request.encode(version)?.0)
    }
}

/// The calls both membership harnesses forward to their machine unchanged (the classic
/// `GroupMachine` and the consumer protocol's, through the engine's `Membership` trait).
macro_rules! membership_calls {
    () => {
        /// The machine's `subscribe`.
        pub fn subscribe(&mut self, topics: BTreeSet<String>, now: Instant) {
            self.machine.subscribe(topics, now);
        }

        /// The machine's `handle_response`.
        pub fn handle_response(
            &mut self,
            id: u64,
            response: Result<Bytes, Error>,
            version: i16,
            now: Instant,
        ) {
            self.machine.handle_response(id, response, version, now);
        }

        /// The machine's `handle_timeout`.
        pub fn handle_timeout(&mut self, now: Instant) {
            self.machine.handle_timeout(now);
        }

        /// The machine's `handle_revoke_done`.
        pub fn handle_revoke_done(&mut self, now: Instant) {
            self.machine.handle_revoke_done(now);
        }

        /// The machine's `handle_commit_error`.
        pub fn handle_commit_error(&mut self, code: i16, now: Instant) {
            self.machine.handle_commit_error(KafkaCode(code), now);
        }

        /// The machine's `leave`: `close` for a clean close, else max.poll.interval exceeded.
        pub fn leave(&mut self, close: bool, now: Instant) {
            let reason = if close {
                LeaveReason::Close
            } else {
                LeaveReason::MaxPollExceeded
            };
            self.machine.leave(reason, now);
        }

        /// The machine's `rejoin`.
        pub fn rejoin(&mut self, now: Instant) {
            self.machine.rejoin(now);
        }

        /// The machine's `poll_request`.
        pub fn poll_request(&mut self) -> Option<HarnessRequest> {
            self.machine.poll_request().map(harness_request)
        }

        /// The machine's `poll_event`.
        pub fn poll_event(&mut self) -> Option<HarnessEvent> {
            self.machine.poll_event().map(harness_event)
        }

        /// The machine's `poll_timeout`.
        pub fn poll_timeout(&self) -> Option<Instant> {
            self.machine.poll_timeout()
        }

        /// The machine's `generation`: `(generation or member epoch, member id)` while it may
        /// commit.
        pub fn generation(&self) -> Option<(i32, String)> {
            self.machine.generation()
        }

        /// The machine's `is_left`.
        pub fn is_left(&self) -> bool {
            self.machine.is_left()
        }
    };
}

/// The consumer-group state machine, for fuzzing.
#[derive(Debug)]
pub struct GroupHarness {
    machine: GroupMachine,
}

/// Group "g" with the harness's timers and static membership (both protocols).
fn group_config(config: &HarnessConfig) -> GroupConfig {
    let mut c = GroupConfig::new("g");
    if config.static_member {
        c.group_instance_id = Some("instance".into());
    }
    c.session_timeout = config.session_timeout;
    c.heartbeat_interval = config.heartbeat_interval;
    c.rebalance_timeout = config.rebalance_timeout;
    c.request_timeout = config.request_timeout;
    c.retry_backoff = config.retry_backoff;
    c
}

/// An error the engine would hand to `handle_response` in place of a response.
pub fn transport_error(kind: ErrorKind) -> Error {
    Error::new(kind, "injected by the fuzzer")
}

impl GroupHarness {
    membership_calls!();

    /// A member of group "g", or the configuration error.
    pub fn new(config: &HarnessConfig, now: Instant) -> Result<Self, Error> {
        let mut c = group_config(config);
        if config.cooperative {
            c.assignors = vec![AssignorKind::CooperativeSticky];
        }
        c.validate()?;
        Ok(GroupHarness {
            machine: GroupMachine::new(c, now),
        })
    }

    /// `GroupMachine::handle_partition_counts`, with the racks of each partition's replicas.
    pub fn handle_partition_counts(
        &mut self,
        counts: &BTreeMap<String, i32>,
        racks: &BTreeMap<TopicPartition, BTreeSet<String>>,
        now: Instant,
    ) {
        self.machine.handle_partition_counts(counts, racks, now);
    }

    /// `GroupMachine::coordinator`.
    pub fn coordinator(&self) -> Option<i32> {
        self.machine.coordinator()
    }

    /// `GroupMachine::topics_needed`.
    pub fn topics_needed(&self) -> BTreeSet<String> {
        self.machine.topics_needed()
    }

    /// `GroupMachine::assignment`.
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        self.machine.assignment()
    }
}

fn harness_request(out: OutgoingRequest) -> HarnessRequest {
    let OutgoingRequest {
        id,
        target,
        timeout,
        request,
    } = out;
    HarnessRequest {
        id,
        api: request.api(),
        coordinator: match target {
            Target::AnyBroker => None,
            Target::Coordinator(node) => Some(node),
        },
        timeout,
        request,
    }
}

fn harness_event(event: GroupEvent) -> HarnessEvent {
    match event {
        GroupEvent::Assigned(p) => HarnessEvent::Assigned(p),
        GroupEvent::Revoke(p) => HarnessEvent::Revoke(p),
        GroupEvent::Lost(p, e) => HarnessEvent::Lost(p, e.to_string()),
        GroupEvent::Joined {
            generation_id,
            member_id,
            leader,
            protocol,
        } => HarnessEvent::Joined {
            generation_id,
            member_id,
            leader,
            protocol,
        },
        GroupEvent::Fatal(e) => HarnessEvent::Fatal(e.to_string()),
        GroupEvent::CoordinatorUnavailable(e) => HarnessEvent::CoordinatorUnavailable(e.to_string()),
    }
}

/// The consumer-protocol (KIP-848) membership machine, for fuzzing: the same calls as
/// [`GroupHarness`] through the engine's `Membership` trait, plus the topic ids the engine
/// resolves from metadata.
#[derive(Debug)]
pub struct ConsumerProtocolHarness {
    machine: Box<dyn Membership>,
}

impl ConsumerProtocolHarness {
    membership_calls!();

    /// A member of group "g" on the consumer protocol, or the configuration error.
    pub fn new(config: &HarnessConfig, now: Instant) -> Result<Self, Error> {
        let c = group_config(config);
        c.validate()?;
        Ok(ConsumerProtocolHarness {
            machine: Box::new(ConsumerMachine::new(c, now)),
        })
    }

    /// `Membership::handle_topic_ids`: topic id → name, as metadata names them.
    pub fn handle_topic_ids(&mut self, ids: &BTreeMap<[u8; 16], String>, now: Instant) {
        self.machine.handle_topic_ids(ids, now);
    }
}

/// Runs one whole-consumer case of the deterministic simulation (`src/sim`) with every choice
/// taken from `input`: the case (brokers, topics, members, protocol, commit style, application,
/// faults) and then the world's own decisions (latencies, which fault when, broker error answers,
/// which connection breaks), one or a few bytes each; when the input runs out, a generator seeded
/// from it makes the rest. Panics with the case and the end of its history when a promise breaks
/// (a record lost, two owners at once, a commit ahead of delivery or backwards, a busy loop,
/// buffer accounting that does not return to zero, a member that does not finish closing).
pub fn simulate(input: &[u8]) {
    let seed = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = crate::sim::Rng::with_tape(seed, input.to_vec());
    let mut case = crate::sim::Case::drawn(seed, &mut rng);
    // Shorter virtual runs, so a fuzzer spends its time on many cases.
    case.chaos = case.chaos.min(Duration::from_secs(8));
    case.settle = Duration::from_secs(90);
    let described = format!("{case:?}");
    let out = crate::sim::World::run_with(case, rng);
    out.assert_ok(&described);
}
