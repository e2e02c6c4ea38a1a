//! All assigned partitions' records merged into one stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{PartitionStream, Partitions, Record};
use crate::error::{Error, ErrorKind, Result};

/// All assigned partitions' records merged into one stream (fair across partitions, which take
/// turns of up to 128 records while they have records ready; in order within each). Ends when the
/// consumer is closed.
#[derive(Debug)]
pub struct RecordStream {
    partitions: Partitions,
    partitions_done: bool,
    streams: Vec<PartitionStream>,
    next_index: usize,
    /// The stream whose turn it is, and how many more records it may yield in this turn before
    /// the others (and newly assigned partitions) are looked at again.
    turn: usize,
    turn_left: u32,
}

/// Records a partition yields in a row in the merged stream while it has them ready: fairness per
/// run of records, so that each record costs one partition poll instead of a scan of all.
const TURN_RECORDS: u32 = 128;

impl RecordStream {
    pub(crate) fn new(partitions: Partitions) -> Self {
        RecordStream {
            partitions,
            partitions_done: false,
            streams: Vec::new(),
            next_index: 0,
            turn: 0,
            turn_left: 0,
        }
    }

    /// The next record from any partition.
    pub async fn next(&mut self) -> Option<Result<Record>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Commits `record` (see [`PartitionStream::commit`]).
    pub async fn commit(&self, record: &Record) -> Result<()> {
        let stream = self
            .streams
            .iter()
            .find(|s| s.topic() == record.topic() && s.partition() == record.partition())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Kafka,
                    format!(
                        "{}/{} is no longer assigned to this consumer; not committed",
                        record.topic(),
                        record.partition()
                    ),
                )
            })?;
        stream.commit(record).await
    }

    /// Marks `record` processed for the next auto-commit.
    pub fn store(&self, record: &Record) {
        if let Some(s) = self
            .streams
            .iter()
            .find(|s| s.topic() == record.topic() && s.partition() == record.partition())
        {
            s.store(record);
        }
    }
}

impl Stream for RecordStream {
    type Item = Result<Record>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.turn_left > 0 {
            this.partitions.rejoin.pulled();
            if let Some(stream) = this.streams.get_mut(this.turn)
                && let Poll::Ready(Some(item)) = Pin::new(stream).poll_next(cx)
            {
                this.turn_left -= 1;
                return Poll::Ready(Some(item));
            }
            // Ran dry or ended: look at every stream.
            this.turn_left = 0;
        }
        while !this.partitions_done {
            match Pin::new(&mut this.partitions).poll_next(cx) {
                Poll::Ready(Some(stream)) => this.streams.push(stream),
                Poll::Ready(None) => this.partitions_done = true,
                Poll::Pending => break,
            }
        }
        let n = this.streams.len();
        let mut finished = Vec::new();
        let mut result = None;
        for k in 0..n {
            let i = (this.next_index + k) % n;
            match Pin::new(&mut this.streams[i]).poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    this.next_index = (i + 1) % n;
                    this.turn = i;
                    this.turn_left = TURN_RECORDS - 1;
                    result = Some(item);
                    break;
                }
                Poll::Ready(None) => finished.push(i),
                Poll::Pending => {}
            }
        }
        // Highest index first, so each removal leaves the other indices valid.
        finished.sort_unstable_by(|a, b| b.cmp(a));
        if !finished.is_empty() {
            // Removal moves streams; start the next call with a full look.
            this.turn_left = 0;
        }
        for i in finished {
            this.streams.swap_remove(i);
        }
        if let Some(item) = result {
            return Poll::Ready(Some(item));
        }
        if this.partitions_done && this.streams.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
#[path = "record_stream_tests.rs"]
mod tests;
