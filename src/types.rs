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
