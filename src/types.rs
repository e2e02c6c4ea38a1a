//! Small shared types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A broker's node id, as in cluster metadata.
pub type NodeId = i32;

/// A topic and a partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name (shared, cheap to clone).
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Groups items by topic, topics in name order, items in the given order.
pub(crate) fn by_topic<T, U>(
    items: impl IntoIterator<Item = T>,
    tp: impl Fn(&T) -> &TopicPartition,
    value: impl Fn(T) -> U,
) -> BTreeMap<Arc<str>, Vec<U>> {
    let mut out: BTreeMap<Arc<str>, Vec<U>> = BTreeMap::new();
    for item in items {
        let topic = tp(&item).topic.clone();
        out.entry(topic).or_default().push(value(item));
    }
    out
}

/// Where to move a partition's position: [`crate::PartitionStream::seek`],
/// [`crate::Consumer::seek`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The first offset still in the log (the log start offset).
    Beginning,
    /// The end of the log: only records produced from now on (under `read_committed`, the last
    /// stable offset).
    End,
    /// This offset: the next record yielded is the one at it. An offset outside the log is
    /// handled as Kafka does: the reset policy (`auto.offset.reset`) applies at the first fetch
    /// (with a [`crate::Event::Warning`]); with policy `none` the stream yields an error.
    At(i64),
    /// The first record whose timestamp is at or after this time (Unix milliseconds), as
    /// `offsetsForTimes` finds it; the end of the log if there is none.
    Timestamp(i64),
    /// This many offsets before the end of the log (librdkafka's `OFFSET_TAIL`, kcat's `-o -N`):
    /// the last N records where the partition holds only data records; the log start if it holds
    /// fewer.
    FromEnd(i64),
}

impl Offset {
    /// Refuses negative offsets, times and counts, saying what is meant instead.
    pub(crate) fn check(self) -> Result<Offset, String> {
        match self {
            Offset::At(n) if n < 0 => Err(format!(
                "offset {n} is negative; offsets start at 0 (use Offset::Beginning, Offset::End or Offset::FromEnd)"
            )),
            Offset::Timestamp(ms) if ms < 0 => Err(format!(
                "timestamp {ms} is negative; timestamps are Unix milliseconds"
            )),
            Offset::FromEnd(n) if n < 0 => {
                Err(format!("FromEnd({n}) is negative; it counts back from the end"))
            }
            ok => Ok(ok),
        }
    }
}

/// A partition's watermarks: [`crate::Consumer::watermarks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// The first offset in the log (the log start offset).
    pub low: i64,
    /// The high watermark: the offset after the last record every in-sync replica has.
    pub high: i64,
    /// The last stable offset (below it, every transaction is decided): what a `read_committed`
    /// consumer reads up to. Equal to `high` when no transaction is open.
    pub last_stable: i64,
}

/// The answer to [`crate::Consumer::offsets_for_times`] for one partition: the first record at or
/// after the asked time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (Unix milliseconds).
    pub timestamp: i64,
    /// The leader epoch the broker reported for it (-1 if unknown).
    pub leader_epoch: i32,
}
