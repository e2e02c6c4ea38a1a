//! The interface the engine drives group membership through.
//!
//! The classic protocol's [`GroupMachine`] implements it; a consumer-protocol (KIP-848) machine
//! implements the same: both take the subscription, partition counts, responses, timer ticks,
//! revoke acknowledgements and commit errors as inputs, and give requests and [`GroupEvent`]s
//! (assigned, revoke, lost, joined, fatal) as outputs. The engine never needs to know which one
//! it drives: a commit carries whatever [`Membership::generation`] says (a generation, or a member
//! epoch), and partitions come and go only through events.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::Bytes;

use super::{
    ConsumerMachine, GroupEvent, GroupMachine, LeaveReason, OutgoingRequest, PartitionRacks, RequestId,
};
use crate::error::Error;
use crate::types::NodeId;
use crate::wire::KafkaCode;

/// A topic id (KIP-516), as metadata and the consumer protocol carry it.
pub(crate) type TopicId = [u8; 16];

/// Group membership, sans IO, in the `handle_*` / `poll_*` style (see [`super::machine`] for the
/// calling order, which every implementation follows).
pub(crate) trait Membership: std::fmt::Debug + Send {
    /// Sets the subscription (joins, or rejoins when it changed).
    fn subscribe(&mut self, topics: BTreeSet<String>, now: Instant);
    /// Partition counts from metadata, for [`Membership::topics_needed`], and the racks of those
    /// partitions' replicas (for rack-aware assignment).
    fn handle_partition_counts(
        &mut self,
        counts: &BTreeMap<String, i32>,
        racks: &PartitionRacks,
        now: Instant,
    );
    /// Topic names by id from metadata (v10+). The consumer protocol's assignments name topics
    /// by id; the classic protocol needs none of this.
    fn handle_topic_ids(&mut self, ids: &BTreeMap<TopicId, String>, now: Instant) {
        let _ = (ids, now);
    }
    /// The response body (after the header) to request `id`, decoded at `version`, or the error
    /// that took its place.
    fn handle_response(&mut self, id: RequestId, response: Result<Bytes, Error>, version: i16, now: Instant);
    /// Timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The engine finished a revoke (streams released, commits done).
    fn handle_revoke_done(&mut self, now: Instant);
    /// A commit (or OffsetFetch) met a group error.
    fn handle_commit_error(&mut self, code: KafkaCode, now: Instant);
    /// Leaves the group.
    fn leave(&mut self, reason: LeaveReason, now: Instant);
    /// Rejoins after a max-poll-interval leave.
    fn rejoin(&mut self, now: Instant);
    /// The next event.
    fn poll_event(&mut self) -> Option<GroupEvent>;
    /// The next request to send.
    fn poll_request(&mut self) -> Option<OutgoingRequest>;
    /// When `handle_timeout` is next due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// What commits carry while stable: `(generation id or member epoch, member id)`.
    fn generation(&self) -> Option<(i32, String)>;
    /// The coordinator's node id, when known.
    fn coordinator(&self) -> Option<NodeId>;
    /// The coordinator's `(node id, host, port)`, to connect to it.
    fn coordinator_address(&self) -> Option<(NodeId, &str, i32)>;
    /// Whether leaving is complete (or was never needed).
    fn is_left(&self) -> bool;
    /// Topics whose partition counts the membership needs.
    fn topics_needed(&self) -> BTreeSet<String>;
    /// Whether it waits for metadata fetched from now on (a classic leader about to assign, or a
    /// consumer-protocol member with topic ids to resolve): metadata should be refreshed at once.
    fn wants_partition_counts(&self) -> bool;
}

impl Membership for GroupMachine {
    fn subscribe(&mut self, topics: BTreeSet<String>, now: Instant) {
        GroupMachine::subscribe(self, topics, now)
    }
    fn handle_partition_counts(
        &mut self,
        counts: &BTreeMap<String, i32>,
        racks: &PartitionRacks,
        now: Instant,
    ) {
        GroupMachine::handle_partition_counts(self, counts, racks, now)
    }
    fn handle_response(&mut self, id: RequestId, response: Result<Bytes, Error>, version: i16, now: Instant) {
        GroupMachine::handle_response(self, id, response, version, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        GroupMachine::handle_timeout(self, now)
    }
    fn handle_revoke_done(&mut self, now: Instant) {
        GroupMachine::handle_revoke_done(self, now)
    }
    fn handle_commit_error(&mut self, code: KafkaCode, now: Instant) {
        GroupMachine::handle_commit_error(self, code, now)
    }
    fn leave(&mut self, reason: LeaveReason, now: Instant) {
        GroupMachine::leave(self, reason, now)
    }
    fn rejoin(&mut self, now: Instant) {
        GroupMachine::rejoin(self, now)
    }
    fn poll_event(&mut self) -> Option<GroupEvent> {
        GroupMachine::poll_event(self)
    }
    fn poll_request(&mut self) -> Option<OutgoingRequest> {
        GroupMachine::poll_request(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        GroupMachine::poll_timeout(self)
    }
    fn generation(&self) -> Option<(i32, String)> {
        GroupMachine::generation(self)
    }
    fn coordinator(&self) -> Option<NodeId> {
        GroupMachine::coordinator(self)
    }
    fn coordinator_address(&self) -> Option<(NodeId, &str, i32)> {
        GroupMachine::coordinator_address(self)
    }
    fn is_left(&self) -> bool {
        GroupMachine::is_left(self)
    }
    fn topics_needed(&self) -> BTreeSet<String> {
        GroupMachine::topics_needed(self)
    }
    fn wants_partition_counts(&self) -> bool {
        GroupMachine::wants_partition_counts(self)
    }
}

impl Membership for ConsumerMachine {
    fn subscribe(&mut self, topics: BTreeSet<String>, now: Instant) {
        ConsumerMachine::subscribe(self, topics, now)
    }
    fn handle_partition_counts(
        &mut self,
        _counts: &BTreeMap<String, i32>,
        _racks: &PartitionRacks,
        _now: Instant,
    ) {
        // The coordinator assigns: partition counts and racks are its business.
    }
    fn handle_topic_ids(&mut self, ids: &BTreeMap<TopicId, String>, now: Instant) {
        ConsumerMachine::handle_topic_ids(self, ids, now)
    }
    fn handle_response(&mut self, id: RequestId, response: Result<Bytes, Error>, version: i16, now: Instant) {
        ConsumerMachine::handle_response(self, id, response, version, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        ConsumerMachine::handle_timeout(self, now)
    }
    fn handle_revoke_done(&mut self, now: Instant) {
        ConsumerMachine::handle_revoke_done(self, now)
    }
    fn handle_commit_error(&mut self, code: KafkaCode, now: Instant) {
        ConsumerMachine::handle_commit_error(self, code, now)
    }
    fn leave(&mut self, reason: LeaveReason, now: Instant) {
        ConsumerMachine::leave(self, reason, now)
    }
    fn rejoin(&mut self, now: Instant) {
        ConsumerMachine::rejoin(self, now)
    }
    fn poll_event(&mut self) -> Option<GroupEvent> {
        ConsumerMachine::poll_event(self)
    }
    fn poll_request(&mut self) -> Option<OutgoingRequest> {
        ConsumerMachine::poll_request(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ConsumerMachine::poll_timeout(self)
    }
    fn generation(&self) -> Option<(i32, String)> {
        ConsumerMachine::generation(self)
    }
    fn coordinator(&self) -> Option<NodeId> {
        ConsumerMachine::coordinator(self)
    }
    fn coordinator_address(&self) -> Option<(NodeId, &str, i32)> {
        ConsumerMachine::coordinator_address(self)
    }
    fn is_left(&self) -> bool {
        ConsumerMachine::is_left(self)
    }
    fn topics_needed(&self) -> BTreeSet<String> {
        ConsumerMachine::topics_needed(self)
    }
    fn wants_partition_counts(&self) -> bool {
        ConsumerMachine::wants_topic_ids(self)
    }
}
