//! The record type applications receive.

use std::sync::Arc;

use bytes::Bytes;

use crate::records::{self, Headers, TimestampType};

/// One consumed record: where it came from, its timestamp, key, value and headers.
///
/// Key, value and headers are views into the fetched data: cloning a record copies no
/// payload, and holding one keeps only its fetch buffer alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    topic: Arc<str>,
    partition: i32,
    leader_epoch: i32,
    inner: records::Record,
}

impl Record {
    pub(crate) fn new(topic: Arc<str>, partition: i32, leader_epoch: i32, inner: records::Record) -> Self {
        Record {
            topic,
            partition,
            leader_epoch,
            inner,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset within the partition.
    pub fn offset(&self) -> i64 {
        self.inner.offset()
    }

    /// Milliseconds since the Unix epoch; see [`Record::timestamp_type`].
    pub fn timestamp(&self) -> i64 {
        self.inner.timestamp()
    }

    /// Whether the timestamp was set by the producer or by the broker.
    pub fn timestamp_type(&self) -> TimestampType {
        self.inner.timestamp_type()
    }

    /// The key; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.inner.key()
    }

    /// The value; `None` for a null value (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.inner.value()
    }

    /// The key as [`Bytes`] sharing the fetch buffer (no copy), to keep beyond the record.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.inner.key_bytes()
    }

    /// The value as [`Bytes`] sharing the fetch buffer (no copy), to keep beyond the record.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.inner.value_bytes()
    }

    /// The headers, in order (a zero-copy view).
    pub fn headers(&self) -> Headers<'_> {
        self.inner.headers()
    }

    /// The leader epoch of the batch the record came in: the epoch of the partition leader that
    /// appended it (Kafka's `ConsumerRecord.leaderEpoch()`), or -1 if the broker names none.
    /// Committing the record commits it with this epoch, so a later reader can tell whether the
    /// log was truncated below the commit (KIP-320).
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
}
