//! Streams handed to the application: one per assigned partition, the stream of those streams, and
//! a merged stream of records.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::{mpsc, oneshot};

use super::Record;
use super::command::{Command, CommitRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::records::{AbortedTransaction, PartitionRecords, RecordsConfig};
use crate::types::TopicPartition;

/// Milliseconds since a consumer-wide epoch, for cheap shared timestamps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }
    pub(crate) fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
    pub(crate) fn now_ms(&self) -> u64 {
        self.ms(Instant::now())
    }
}

/// Fetched bytes for one partition, handed from the engine to the partition's stream.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Whole record batches (validated boundaries; CRC checked when read).
    pub(crate) records: Bytes,
    /// The fetch position: records before it (in the first batch) are skipped.
    pub(crate) start_at: i64,
    /// For read_committed: the fetch response's aborted transactions.
    pub(crate) aborted: Option<Vec<AbortedTransaction>>,
    /// Leader epoch at fetch time.
    pub(crate) leader_epoch: i32,
}

/// What the engine sends down a partition stream.
#[derive(Debug)]
pub(crate) enum Delivery {
    Chunk(Chunk),
    /// An error the application must act on (e.g. no offset and reset policy `none`).
    Error(Error),
}

/// State shared by the engine and one partition's stream.
#[derive(Debug)]
pub(crate) struct PartitionShared {
    pub(crate) tp: TopicPartition,
    /// Bytes sent to the stream and not yet read by the application.
    pub(crate) buffered: AtomicUsize,
    /// The same, summed over the consumer.
    pub(crate) total_buffered: Arc<AtomicUsize>,
    /// When the application last pulled a record, or when records became available after none
    /// were waiting (clock ms). Written by the engine only: the stream raises `pulled`, and the
    /// engine's liveness check turns that into a time, so pulling a record reads no clock.
    pub(crate) last_pull_ms: AtomicU64,
    /// Set by the stream when the application pulls a record; taken by the engine's liveness check.
    pub(crate) pulled: AtomicBool,
    /// The offset the application has moved past (what auto-commit may commit), or -1.
    pub(crate) moved_past: AtomicI64,
    /// An offset explicitly stored with `store()`, or -1.
    pub(crate) stored: AtomicI64,
    /// The offset after the last record handed to the application, or -1.
    pub(crate) delivered_next: AtomicI64,
    /// Set when the partition is revoked or lost: the stream stops yielding at once.
    pub(crate) ended: AtomicBool,
    /// Paused by the application: not fetched, and the stream yields nothing until resumed.
    pub(crate) paused: AtomicBool,
    /// The stream's task while it waits out a pause (woken by resume and by the stream's end).
    waker: Mutex<Option<Waker>>,
    pub(crate) clock: Clock,
}

impl PartitionShared {
    pub(crate) fn new(tp: TopicPartition, total_buffered: Arc<AtomicUsize>, clock: Clock) -> Self {
        PartitionShared {
            tp,
            buffered: AtomicUsize::new(0),
            total_buffered,
            last_pull_ms: AtomicU64::new(clock.now_ms()),
            pulled: AtomicBool::new(false),
            moved_past: AtomicI64::new(-1),
            stored: AtomicI64::new(-1),
            delivered_next: AtomicI64::new(-1),
            ended: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            waker: Mutex::new(None),
            clock,
        }
    }

    /// Whether the application paused the partition.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Pauses or resumes. Resuming restarts the max-poll clock (a paused partition's waiting
    /// records do not count against it) and wakes the stream.
    pub(crate) fn set_paused(&self, paused: bool) {
        if self.paused.swap(paused, Ordering::AcqRel) && !paused {
            self.last_pull_ms.store(self.clock.now_ms(), Ordering::Release);
            self.wake();
        }
    }

    /// Wakes a stream waiting out a pause (on resume, and when the stream ends).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            waker.wake();
        }
    }

    /// Registers the stream's task to be woken by [`PartitionShared::wake`]; true if still paused.
    fn wait_for_resume(&self, cx: &Context<'_>) -> bool {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        self.is_paused() && !self.ended.load(Ordering::Acquire)
    }

    /// The offset auto-commit may commit: the larger of what was stored and what was moved past.
    pub(crate) fn committable(&self) -> Option<i64> {
        let offset = self
            .moved_past
            .load(Ordering::Acquire)
            .max(self.stored.load(Ordering::Acquire));
        (offset >= 0).then_some(offset)
    }

    /// What a clean close commits: like Kafka's `close()`, every record handed to the
    /// application counts as processed.
    pub(crate) fn committable_on_close(&self) -> Option<i64> {
        let offset = self
            .committable()
            .unwrap_or(-1)
            .max(self.delivered_next.load(Ordering::Acquire));
        (offset >= 0).then_some(offset)
    }

    fn consumed(&self, bytes: usize) {
        self.buffered.fetch_sub(bytes, Ordering::AcqRel);
        self.total_buffered.fetch_sub(bytes, Ordering::AcqRel);
    }
}

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
    rx: mpsc::UnboundedReceiver<Delivery>,
    current: Option<Current>,
    commands: mpsc::Sender<Command>,
    records_config: RecordsConfig,
    last_delivered: Option<i64>,
    finished: bool,
    /// Dropped with the stream, which tells the engine the application let go of the partition.
    _drop_signal: oneshot::Sender<()>,
}

struct Current {
    records: PartitionRecords,
    size: usize,
    leader_epoch: i32,
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
    pub(crate) fn new(
        shared: Arc<PartitionShared>,
        rx: mpsc::UnboundedReceiver<Delivery>,
        commands: mpsc::Sender<Command>,
        records_config: RecordsConfig,
        drop_signal: oneshot::Sender<()>,
    ) -> Self {
        PartitionStream {
            shared,
            rx,
            current: None,
            commands,
            records_config,
            last_delivered: None,
            finished: false,
            _drop_signal: drop_signal,
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
        commit_offsets(
            &self.commands,
            vec![(self.shared.tp.clone(), record.offset() + 1, record.leader_epoch())],
        )
        .await
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
            let _ = self.commands.try_send(Command::Pause {
                partitions: vec![self.shared.tp.clone()],
                paused: false,
                reply: None,
            });
        }
    }

    /// Whether the partition is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.is_paused()
    }

    #[inline]
    fn delivered(&mut self, offset: i64) {
        // Everything before this record is processed. This stream is the only writer of both
        // offsets and yields records in offset order, so plain stores keep them monotonic
        // (a `fetch_max` would be a locked read-modify-write per record).
        let shared = &*self.shared;
        if offset > shared.moved_past.load(Ordering::Relaxed) {
            shared.moved_past.store(offset, Ordering::Release);
        }
        if offset + 1 > shared.delivered_next.load(Ordering::Relaxed) {
            shared.delivered_next.store(offset + 1, Ordering::Release);
        }
        self.last_delivered = Some(offset);
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
            if let Some(current) = self.current.take() {
                self.shared.consumed(current.size);
            }
        }
        Poll::Ready(None)
    }
}

impl Stream for PartitionStream {
    type Item = Result<Record>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished || this.shared.ended.load(Ordering::Acquire) {
                return this.finish();
            }
            if this.shared.is_paused() && this.shared.wait_for_resume(cx) {
                return Poll::Pending;
            }
            if let Some(current) = &mut this.current {
                match current.records.next() {
                    Some(Ok(inner)) => {
                        let record = Record::new(
                            this.shared.tp.topic.clone(),
                            this.shared.tp.partition,
                            current.leader_epoch,
                            inner,
                        );
                        this.delivered(record.offset());
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
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(Delivery::Chunk(chunk))) => {
                    let size = chunk.records.len();
                    let mut records =
                        PartitionRecords::new(chunk.records, this.records_config).starting_at(chunk.start_at);
                    if let Some(aborted) = chunk.aborted {
                        records = records.read_committed(aborted);
                    }
                    this.current = Some(Current {
                        records,
                        size,
                        leader_epoch: chunk.leader_epoch,
                    });
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
        if let Some(current) = self.current.take() {
            self.shared.consumed(current.size);
        }
    }
}

pub(crate) async fn commit_offsets(
    commands: &mpsc::Sender<Command>,
    offsets: Vec<(TopicPartition, i64, i32)>,
) -> Result<()> {
    let (reply, rx) = oneshot::channel();
    let closed = || Error::new(ErrorKind::Closed, "the consumer is closed; nothing was committed");
    commands
        .send(Command::Commit(CommitRequest { offsets, reply }))
        .await
        .map_err(|_| closed())?;
    rx.await.map_err(|_| closed())?
}

/// The stream of partition streams: yields a [`PartitionStream`] for each partition as it is
/// assigned. Ends when the consumer is closed.
pub struct Partitions {
    rx: mpsc::UnboundedReceiver<PartitionStream>,
    rejoin: Arc<RejoinSignal>,
}

impl std::fmt::Debug for Partitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partitions").finish_non_exhaustive()
    }
}

/// Lets a pull after a max-poll-interval leave ask the engine to rejoin.
#[derive(Debug)]
pub(crate) struct RejoinSignal {
    pub(crate) left: AtomicBool,
    pub(crate) commands: mpsc::Sender<Command>,
}

impl RejoinSignal {
    /// Runs on every pull: one load, inlined; the rejoin itself is out of line.
    #[inline(always)]
    pub(crate) fn pulled(&self) {
        if self.left.load(Ordering::Acquire) {
            self.rejoin();
        }
    }

    #[cold]
    fn rejoin(&self) {
        if self.left.swap(false, Ordering::AcqRel) {
            let _ = self.commands.try_send(Command::Rejoin);
        }
    }
}

impl Partitions {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<PartitionStream>, rejoin: Arc<RejoinSignal>) -> Self {
        Partitions { rx, rejoin }
    }

    /// The next assigned partition; `None` once the consumer is closed.
    pub async fn next(&mut self) -> Option<PartitionStream> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Partitions {
    type Item = PartitionStream;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PartitionStream>> {
        self.rejoin.pulled();
        self.rx.poll_recv(cx)
    }
}

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
mod tests {
    use super::*;

    fn stream(
        partition: i32,
        commands: &mpsc::Sender<Command>,
    ) -> (PartitionStream, mpsc::UnboundedSender<Delivery>) {
        let shared = Arc::new(PartitionShared::new(
            TopicPartition::new("t", partition),
            Arc::new(AtomicUsize::new(0)),
            Clock::new(),
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let (drop_tx, _drop_rx) = oneshot::channel();
        (
            PartitionStream::new(shared, rx, commands.clone(), RecordsConfig::default(), drop_tx),
            tx,
        )
    }

    /// Regression: streams ending in wrap-around polling order made the merged stream remove an
    /// index past the end and panic.
    #[tokio::test]
    async fn merged_stream_drops_ended_streams_in_any_order() {
        let (commands, _rx) = mpsc::channel(8);
        let (ptx, prx) = mpsc::unbounded_channel();
        let rejoin = Arc::new(RejoinSignal {
            left: AtomicBool::new(false),
            commands: commands.clone(),
        });
        let mut merged = RecordStream::new(Partitions::new(prx, rejoin));
        let mut senders = Vec::new();
        for p in 0..3 {
            let (s, tx) = stream(p, &commands);
            ptx.send(s).unwrap();
            senders.push(tx);
        }
        // Poll once so all three are registered and the round-robin start moves past 0.
        merged.next_index = 1;
        assert!(futures_poll(&mut merged).is_none());
        // End partitions 0 and 2 (found as [2, 0] when polling starts at 1).
        drop(senders.remove(2));
        drop(senders.remove(0));
        merged.next_index = 1;
        assert!(futures_poll(&mut merged).is_none());
        assert_eq!(merged.streams.len(), 1);
        assert_eq!(merged.streams[0].partition(), 1);
        drop(senders);
        drop(ptx);
        assert!(matches!(futures_poll(&mut merged), Some(None)));
    }

    fn chunk(from: i64, to: i64) -> Delivery {
        use kafka_protocol::records::{
            Compression, Record as KpRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let records: Vec<KpRecord> = (from..to)
            .map(|o| KpRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: o,
                sequence: (o - from) as i32,
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from(format!("v{o}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        Delivery::Chunk(Chunk {
            records: buf.freeze(),
            start_at: from,
            aborted: None,
            leader_epoch: 1,
        })
    }

    struct CountingWaker(AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_stream(s: &mut PartitionStream, waker: &Arc<CountingWaker>) -> Poll<Option<i64>> {
        let waker = std::task::Waker::from(waker.clone());
        let mut cx = Context::from_waker(&waker);
        Pin::new(s)
            .poll_next(&mut cx)
            .map(|item| item.map(|r| r.unwrap().offset()))
    }

    /// A paused stream yields nothing, keeps what it buffered, is woken by resume and continues at
    /// exactly the next offset; an end while paused wakes it and ends it.
    #[tokio::test]
    async fn paused_stream_holds_its_place_and_resume_wakes_it() {
        let (commands, _rx) = mpsc::channel(8);
        let (mut s, tx) = stream(0, &commands);
        tx.send(chunk(0, 10)).unwrap();
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        for want in 0..3 {
            assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(want)));
        }
        s.pause();
        assert!(s.is_paused());
        tx.send(chunk(10, 12)).unwrap();
        assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
        assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
        assert_eq!(waker.0.load(Ordering::SeqCst), 0);
        s.resume();
        assert!(!s.is_paused());
        assert_eq!(waker.0.load(Ordering::SeqCst), 1, "resume wakes the stream");
        for want in 3..12 {
            assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(want)));
        }
        assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
        // Ended while paused: woken, and the stream ends.
        s.pause();
        assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
        let before = waker.0.load(Ordering::SeqCst);
        s.shared.ended.store(true, Ordering::Release);
        s.shared.wake();
        assert_eq!(waker.0.load(Ordering::SeqCst), before + 1);
        assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(None));
    }

    fn futures_poll(s: &mut RecordStream) -> Option<Option<Result<Record>>> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(s).poll_next(&mut cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    /// The merged stream gives a partition with records ready a turn of up to `TURN_RECORDS`
    /// records, keeps each partition in order, and every pull flags liveness and moves the
    /// partition's offsets (what auto-commit and max.poll.interval read) without a clock.
    #[tokio::test]
    async fn merged_stream_takes_turns_in_runs_and_each_pull_is_recorded() {
        let (commands, _rx) = mpsc::channel(8);
        let (ptx, prx) = mpsc::unbounded_channel();
        let rejoin = Arc::new(RejoinSignal {
            left: AtomicBool::new(false),
            commands: commands.clone(),
        });
        let mut merged = RecordStream::new(Partitions::new(prx, rejoin));
        let (s0, tx0) = stream(0, &commands);
        let (s1, tx1) = stream(1, &commands);
        let shared0 = s0.shared.clone();
        ptx.send(s0).unwrap();
        ptx.send(s1).unwrap();
        tx0.send(chunk(0, 300)).unwrap();
        tx1.send(chunk(0, 300)).unwrap();

        let mut got = Vec::new();
        for _ in 0..600 {
            let r = futures_poll(&mut merged).unwrap().unwrap().unwrap();
            got.push((r.partition(), r.offset()));
        }
        assert!(futures_poll(&mut merged).is_none());
        // Runs: 128 from one partition, then 128 from the other, and so on.
        let first = got[0].0;
        assert!(got[..128].iter().all(|(p, _)| *p == first));
        assert!(got[128..256].iter().all(|(p, _)| *p != first));
        for p in 0..2 {
            let offsets: Vec<i64> = got.iter().filter(|(q, _)| *q == p).map(|(_, o)| *o).collect();
            assert_eq!(offsets, (0..300).collect::<Vec<_>>());
        }
        assert!(shared0.pulled.swap(false, Ordering::AcqRel));
        assert_eq!(shared0.moved_past.load(Ordering::Acquire), 299);
        assert_eq!(shared0.delivered_next.load(Ordering::Acquire), 300);
        drop((tx0, tx1, ptx));
    }
}
