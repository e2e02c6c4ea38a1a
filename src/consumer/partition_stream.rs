//! One assigned partition's records, as a stream.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::{mpsc, oneshot};

use super::Record;
use crate::error::{Error, ErrorKind, Result};
use crate::handoff::{Command, CommitOffset, CommitRequest, Delivery, NewPartition, PartitionShared};
use crate::records::{PartitionRecords, RecordsConfig};
use crate::types::{Offset, TopicPartition};

/// The records of one assigned partition, in offset order.
///
/// Created when the partition is assigned, before any of its records is fetched. It ends (yields
/// `None`) when the partition is revoked or lost; records fetched but not yet read are then dropped,
/// so a revoked partition is never processed here after another member may own it. It yields an
/// error only when the application must act (for example, no committed offset and the reset policy
/// is [`crate::OffsetReset::None`]).
///
/// **Commit semantics.** Pulling record *n* tells kafkit that every earlier record of this partition
/// is processed; auto-commit (if enabled) commits that position, never beyond it. Reaching the end of
/// the stream marks the last record processed too, and so does [`crate::Consumer::close`] (as
/// Kafka's `close()` does): close after you have handled what you pulled. [`PartitionStream::commit`] commits a record now;
/// [`PartitionStream::store`] marks it for the next auto-commit.
///
/// **Pause.** [`PartitionStream::pause`] stops fetching the partition and makes the stream yield
/// nothing until [`PartitionStream::resume`], while the partition stays assigned; see there.
pub struct PartitionStream {
    shared: Arc<PartitionShared>,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    current: Option<Current>,
    commands: mpsc::Sender<Command>,
    records_config: RecordsConfig,
    last_delivered: Option<i64>,
    /// The seek epoch this stream reads at (see `PartitionShared::seek_epoch`).
    seek_epoch: u64,
    finished: bool,
    /// Dropped with the stream, which tells the engine the application let go of the partition.
    _released: oneshot::Sender<()>,
}

struct Current {
    records: PartitionRecords,
    size: usize,
}

impl std::fmt::Debug for PartitionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionStream")
            .field("topic", &self.shared.tp.topic)
            .field("partition", &self.shared.tp.partition)
            .field("last_delivered", &self.last_delivered)
            .finish()
    }
}

impl PartitionStream {
    /// Wraps a partition the engine handed over.
    pub(crate) fn new(
        partition: NewPartition,
        commands: mpsc::Sender<Command>,
        records_config: RecordsConfig,
    ) -> Self {
        let NewPartition {
            shared,
            deliveries,
            released,
        } = partition;
        shared.handed_out.store(true, Ordering::SeqCst);
        PartitionStream {
            shared,
            deliveries,
            current: None,
            commands,
            records_config,
            last_delivered: None,
            seek_epoch: 0,
            finished: false,
            _released: released,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.shared.tp.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.shared.tp.partition
    }

    /// Topic and partition.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.shared.tp
    }

    /// The next record; `None` once the partition is revoked or lost, or the consumer closed.
    pub async fn next(&mut self) -> Option<Result<Record>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Commits `record` as processed (the partition's committed offset becomes `record.offset() + 1`)
    /// and waits for the coordinator's answer.
    ///
    /// Fails promptly with a typed error when the commit cannot be applied: during a rebalance
    /// ([`Error::kafka_code`] is `REBALANCE_IN_PROGRESS`, retriable), after the partition was lost
    /// (`ILLEGAL_GENERATION` / `UNKNOWN_MEMBER_ID`), or without a group. The consumer rejoins and keeps
    /// consuming either way; an uncommitted record is delivered again to its next owner.
    pub async fn commit(&self, record: &Record) -> Result<()> {
        let offset = CommitOffset {
            tp: self.shared.tp.clone(),
            offset: record.offset() + 1,
            leader_epoch: record.leader_epoch(),
        };
        commit_offsets(&self.commands, vec![offset]).await
    }

    /// Marks `record` processed for the next auto-commit, without waiting.
    pub fn store(&self, record: &Record) {
        self.shared
            .stored
            .fetch_max(record.offset() + 1, Ordering::AcqRel);
    }

    /// Pauses the partition, as Kafka's `pause()`: no new fetch is sent for it and the stream
    /// yields no record (its `next()` waits) until [`PartitionStream::resume`]. The partition
    /// stays assigned, and the group is not told. Records already fetched stay buffered, neither
    /// lost nor repeated, and come first after the resume; they do not count against
    /// `max.poll.interval.ms` while paused. A revoke or loss still ends the stream. A pause lasts
    /// while this stream does: a partition assigned again after a revoke starts unpaused.
    pub fn pause(&self) {
        self.shared.set_paused(true);
    }

    /// Resumes a paused partition: the stream continues at exactly the record after the last one
    /// it yielded, and fetching resumes from there. Does nothing if not paused.
    pub fn resume(&self) {
        if self.shared.is_paused() {
            self.shared.set_paused(false);
            // Wake the engine so the next fetch goes out now rather than at its next tick.
            let _ = self.commands.try_send(Command::Resumed);
        }
    }

    /// Whether the partition is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.is_paused()
    }

    /// Moves the position, as Kafka's `seek()`: once this returns, the next record the stream
    /// yields is the one at the sought position; records already fetched from the old position
    /// are dropped, never yielded. Valid as soon as the stream is handed out (its first fetch then
    /// starts there), while paused (the stream stays paused) and at any time after.
    ///
    /// [`Offset::Beginning`], [`Offset::End`] and [`Offset::Timestamp`] are looked up by the
    /// partition's leader before the next fetch. Seeking commits nothing. As in Kafka's consumer,
    /// auto-commit then commits what is processed from the new position, even below the offset
    /// committed before (a seek back means "read these again"); an offset outside the log is reset
    /// by `auto.offset.reset` at the first fetch.
    ///
    /// Fails, with [`crate::ErrorKind::Config`], for a negative offset or timestamp and when the
    /// partition is no longer assigned (the stream has ended).
    pub async fn seek(&mut self, to: Offset) -> Result<()> {
        seek(&self.commands, self.shared.tp.clone(), to).await?;
        self.check_seek();
        Ok(())
    }

    /// The offset of the next record this stream yields, if known: after the last record it
    /// yielded (`None` before the first, and right after a seek).
    pub fn position(&self) -> Option<i64> {
        let next = self.shared.delivered_next.load(Ordering::Acquire);
        (next >= 0).then_some(next)
    }

    /// Drops what the stream holds from before the latest seek, if there was one since it last
    /// looked: one atomic load per poll.
    #[inline]
    fn check_seek(&mut self) {
        let epoch = self.shared.seek_epoch.load(Ordering::Acquire);
        if epoch != self.seek_epoch {
            self.seek_epoch = epoch;
            if let Some(current) = self.current.take() {
                self.shared.consumed(current.size);
            }
            let shared = &*self.shared;
            shared.moved_past.store(-1, Ordering::Release);
            shared.stored.store(-1, Ordering::Release);
            shared.delivered_next.store(-1, Ordering::Release);
            self.last_delivered = None;
        }
    }

    #[inline]
    fn delivered(&mut self, offset: i64, leader_epoch: i32) {
        // Everything before this record is processed. This stream is the only writer of both
        // offsets and yields records in offset order, so plain stores keep them monotonic
        // (a `fetch_max` would be a locked read-modify-write per record).
        let shared = &*self.shared;
        if leader_epoch != shared.delivered_epoch.load(Ordering::Relaxed) {
            // Before the offsets, so whoever reads them sees this record's epoch or a later one.
            shared.delivered_epoch.store(leader_epoch, Ordering::Release);
        }
        if offset > shared.moved_past.load(Ordering::Relaxed) {
            shared.moved_past.store(offset, Ordering::Release);
        }
        if offset + 1 > shared.delivered_next.load(Ordering::Relaxed) {
            shared.delivered_next.store(offset + 1, Ordering::Release);
        }
        self.last_delivered = Some(offset);
        shared
            .yielded
            .store(shared.yielded.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if !shared.pulled.load(Ordering::Relaxed) {
            shared.pulled.store(true, Ordering::Release);
        }
    }

    fn finish(&mut self) -> Poll<Option<Result<Record>>> {
        if !self.finished {
            self.finished = true;
            // A pull after a max-poll-interval leave (which ended every stream) rejoins.
            let _ = self.commands.try_send(Command::PulledEnded);
            // Reaching the end means the last record was handled too.
            if let Some(last) = self.last_delivered
                && last + 1 > self.shared.moved_past.load(Ordering::Relaxed)
            {
                self.shared.moved_past.store(last + 1, Ordering::Release);
            }
            self.release_buffered();
        }
        Poll::Ready(None)
    }

    /// Gives back the buffer room of everything this stream still holds: the chunk it reads and
    /// the chunks waiting in its channel, which nothing will read once the stream has ended or is
    /// dropped. (Counting only the chunk being read left the rest counted against the consumer's
    /// total after every revoke, until fetching stopped for good.)
    fn release_buffered(&mut self) {
        if let Some(current) = self.current.take() {
            self.shared.consumed(current.size);
        }
        // Closed first, so a chunk the engine sends from now on is refused (and given back there).
        self.deliveries.close();
        while let Ok(delivery) = self.deliveries.try_recv() {
            if let Delivery::Chunk(chunk) = delivery {
                self.shared.consumed(chunk.records.len());
            }
        }
    }
}

impl Stream for PartitionStream {
    type Item = Result<Record>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished || this.shared.is_ended() {
                return this.finish();
            }
            if this.shared.is_paused() && this.shared.wait_for_resume(cx) {
                return Poll::Pending;
            }
            this.check_seek();
            if let Some(current) = &mut this.current {
                match current.records.next() {
                    Some(Ok(inner)) => {
                        let record = Record::new(
                            this.shared.tp.topic.clone(),
                            this.shared.tp.partition,
                            current.records.leader_epoch(),
                            inner,
                        );
                        this.delivered(record.offset(), record.leader_epoch());
                        return Poll::Ready(Some(Ok(record)));
                    }
                    Some(Err(e)) => {
                        // Corrupt data: report it; the rest of this chunk is unreadable.
                        let size = current.size;
                        this.current = None;
                        this.shared.consumed(size);
                        return Poll::Ready(Some(Err(Error::with_source(
                            ErrorKind::Protocol,
                            format!("corrupt records in {}", this.shared.tp),
                            e,
                        ))));
                    }
                    None => {
                        let size = current.size;
                        this.current = None;
                        this.shared.consumed(size);
                    }
                }
            }
            match this.deliveries.poll_recv(cx) {
                Poll::Ready(Some(Delivery::Chunk(chunk))) => {
                    let size = chunk.records.len();
                    if chunk.seek_epoch > this.seek_epoch {
                        // A seek since this poll looked: take it in first (nothing is held now).
                        this.check_seek();
                    }
                    if chunk.seek_epoch < this.seek_epoch {
                        // Fetched from before a seek: dropped unread.
                        this.shared.consumed(size);
                        continue;
                    }
                    let mut records =
                        PartitionRecords::new(chunk.records, this.records_config).starting_at(chunk.start_at);
                    if let Some(aborted) = chunk.aborted {
                        records = records.read_committed(aborted);
                    }
                    this.current = Some(Current { records, size });
                }
                Poll::Ready(Some(Delivery::Error(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return this.finish(),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for PartitionStream {
    fn drop(&mut self) {
        self.release_buffered();
    }
}

/// Sends the command `make` builds around a reply channel, and waits for the engine's answer
/// (a `Closed` error once the engine is gone).
pub(crate) async fn request<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
) -> Result<T> {
    let (reply, rx) = oneshot::channel();
    let closed = || Error::new(ErrorKind::Closed, "the consumer is closed");
    commands.send(make(reply)).await.map_err(|_| closed())?;
    rx.await.map_err(|_| closed())?
}

pub(crate) async fn seek(commands: &mpsc::Sender<Command>, tp: TopicPartition, to: Offset) -> Result<()> {
    request(commands, |reply| Command::Seek { tp, to, reply }).await
}

pub(crate) async fn commit_offsets(
    commands: &mpsc::Sender<Command>,
    offsets: Vec<CommitOffset>,
) -> Result<()> {
    let (reply, rx) = oneshot::channel();
    let closed = || Error::new(ErrorKind::Closed, "the consumer is closed; nothing was committed");
    commands
        .send(Command::Commit(CommitRequest { offsets, reply }))
        .await
        .map_err(|_| closed())?;
    rx.await.map_err(|_| closed())?
}

/// What committing `record` commits: the offset after it, with its leader epoch.
pub(crate) fn commit_offset(record: &Record) -> CommitOffset {
    CommitOffset {
        tp: TopicPartition::new(record.topic(), record.partition()),
        offset: record.offset() + 1,
        leader_epoch: record.leader_epoch(),
    }
}

#[cfg(test)]
#[path = "partition_stream_tests.rs"]
mod tests;
