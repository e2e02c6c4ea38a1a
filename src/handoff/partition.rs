//! One partition's handoff: the channel of deliveries, the state both sides share, and the signal
//! that the application let go of the partition.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::Command;
use crate::error::Error;
use crate::records::AbortedTransaction;
use crate::types::TopicPartition;

/// Fetched bytes for one partition, handed from the engine to the partition's stream.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Whole record batches (validated boundaries; CRC checked when read).
    pub(crate) records: Bytes,
    /// The fetch position: records before it (in the first batch) are skipped.
    pub(crate) start_at: i64,
    /// For read_committed: the fetch response's aborted transactions.
    pub(crate) aborted: Option<Vec<AbortedTransaction>>,
    /// The partition's [`PartitionShared::seek_epoch`] when it was delivered: a chunk from before
    /// the latest seek is dropped unread.
    pub(crate) seek_epoch: u64,
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
    /// were waiting ([`super::Clock`] ms). Written by the engine only: the stream raises `pulled`
    /// (so does a resume), and the engine's liveness check turns that into a time, so nothing on
    /// the application's side reads a clock.
    pub(crate) last_pull_ms: AtomicU64,
    /// Set by the stream when the application pulls a record, and by a resume; taken by the
    /// engine's liveness check.
    pub(crate) pulled: AtomicBool,
    /// The offset the application has moved past (what auto-commit may commit), or -1.
    pub(crate) moved_past: AtomicI64,
    /// An offset explicitly stored with `store()` (or committed), or -1.
    pub(crate) stored: AtomicI64,
    /// The offset after the last record handed to the application, or -1.
    pub(crate) delivered_next: AtomicI64,
    /// The leader epoch of the batch of the last record handed to the application (-1 none):
    /// what commits name (KIP-320), never an epoch of records the application did not get.
    pub(crate) delivered_epoch: AtomicI32,
    /// Set when the partition is revoked or lost: the stream stops yielding at once.
    pub(crate) ended: AtomicBool,
    /// Paused by the application: not fetched, and the stream yields nothing until resumed.
    pub(crate) paused: AtomicBool,
    /// Set when the application's side takes the partition out of the channel of new partitions
    /// and wraps it into a stream. A partition never taken (the application never asked for
    /// its streams, or has not got to it yet) holds up no revoke and no close.
    pub(crate) handed_out: AtomicBool,
    /// Records the stream yielded (written by the stream only, so a plain load and store count
    /// it without a locked instruction per record).
    pub(crate) yielded: AtomicU64,
    /// Bumped by the engine (its only writer) at every seek, before the seek is answered: the
    /// stream drops what it holds from an older epoch, so the next record it yields is from the
    /// sought position.
    pub(crate) seek_epoch: AtomicU64,
    /// The stream's task while it waits out a pause (woken by resume and by the stream's end).
    waker: Mutex<Option<Waker>>,
}

impl PartitionShared {
    /// Shared state for `tp`, whose max-poll clock starts at `now_ms`.
    pub(crate) fn new(tp: TopicPartition, total_buffered: Arc<AtomicUsize>, now_ms: u64) -> Self {
        PartitionShared {
            tp,
            buffered: AtomicUsize::new(0),
            total_buffered,
            last_pull_ms: AtomicU64::new(now_ms),
            pulled: AtomicBool::new(false),
            moved_past: AtomicI64::new(-1),
            stored: AtomicI64::new(-1),
            delivered_next: AtomicI64::new(-1),
            delivered_epoch: AtomicI32::new(-1),
            ended: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            seek_epoch: AtomicU64::new(0),
            handed_out: AtomicBool::new(false),
            yielded: AtomicU64::new(0),
            waker: Mutex::new(None),
        }
    }

    /// Whether the application paused the partition.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Whether the stream has been ended (revoked, lost, closing).
    pub(crate) fn is_ended(&self) -> bool {
        // SeqCst with `end` and `handed_out`: either the engine sees the stream taken, or the
        // stream sees its end (see `PartitionHandoff::is_released`).
        self.ended.load(Ordering::SeqCst)
    }

    /// Pauses or resumes. Resuming counts as a pull (a paused partition's waiting records do not
    /// count against max.poll.interval, so its clock restarts) and wakes the stream.
    pub(crate) fn set_paused(&self, paused: bool) {
        if self.paused.swap(paused, Ordering::AcqRel) && !paused {
            self.pulled.store(true, Ordering::Release);
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
    pub(crate) fn wait_for_resume(&self, cx: &Context<'_>) -> bool {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        self.is_paused() && !self.is_ended()
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

    /// `bytes` of delivered chunks were read (or dropped) by the application.
    pub(crate) fn consumed(&self, bytes: usize) {
        self.buffered.fetch_sub(bytes, Ordering::AcqRel);
        self.total_buffered.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A newly assigned partition, sent to the application before any of its records is fetched;
/// the application side wraps it into a `PartitionStream`.
#[derive(Debug)]
pub(crate) struct NewPartition {
    pub(crate) shared: Arc<PartitionShared>,
    pub(crate) deliveries: mpsc::UnboundedReceiver<Delivery>,
    /// Dropped with the stream, which tells the engine the application let go of the partition.
    pub(crate) released: oneshot::Sender<()>,
}

/// The engine's end of one partition's handoff.
#[derive(Debug)]
pub(crate) struct PartitionHandoff {
    pub(crate) shared: Arc<PartitionShared>,
    /// Bytes delivered to the stream (for metrics; the engine's count).
    pub(crate) fetched_bytes: u64,
    deliveries: Option<mpsc::UnboundedSender<Delivery>>,
    released: oneshot::Receiver<()>,
}

/// Both ends of a new partition's handoff.
pub(crate) fn partition_handoff(
    tp: TopicPartition,
    total_buffered: Arc<AtomicUsize>,
    now_ms: u64,
) -> (PartitionHandoff, NewPartition) {
    let shared = Arc::new(PartitionShared::new(tp, total_buffered, now_ms));
    let (tx, rx) = mpsc::unbounded_channel();
    let (released_tx, released_rx) = oneshot::channel();
    (
        PartitionHandoff {
            shared: shared.clone(),
            fetched_bytes: 0,
            deliveries: Some(tx),
            released: released_rx,
        },
        NewPartition {
            shared,
            deliveries: rx,
            released: released_tx,
        },
    )
}

impl PartitionHandoff {
    /// Whether its stream has been ended (revoked, lost, closing).
    pub(crate) fn is_ended(&self) -> bool {
        self.shared.is_ended()
    }

    /// Ends the stream: it stops yielding at once, even records already buffered.
    pub(crate) fn end(&self) {
        self.shared.ended.store(true, Ordering::SeqCst);
        // A paused stream is not waiting on its channel: wake it to see the end.
        self.shared.wake();
    }

    /// Ends the stream and closes its channel: nothing more is delivered.
    pub(crate) fn end_and_close(&mut self) {
        self.end();
        self.deliveries = None;
    }

    /// Whether the application has dropped the stream (or never will receive it). An ended
    /// partition the application never took is released too: if it takes it later, its stream
    /// is already ended and yields nothing.
    pub(crate) fn is_released(&mut self) -> bool {
        let dropped = matches!(
            self.released.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        dropped || self.is_ended() && !self.shared.handed_out.load(Ordering::SeqCst)
    }

    /// Sends a delivery; false if the stream is gone or its channel closed.
    pub(crate) fn deliver(&self, delivery: Delivery) -> bool {
        self.deliveries
            .as_ref()
            .is_some_and(|tx| tx.send(delivery).is_ok())
    }
}

/// Lets a pull after a max-poll-interval leave ask the engine to rejoin.
#[derive(Debug)]
pub(crate) struct RejoinSignal {
    pub(crate) left: AtomicBool,
    pub(crate) commands: mpsc::Sender<Command>,
}

impl RejoinSignal {
    pub(crate) fn new(commands: mpsc::Sender<Command>) -> Self {
        RejoinSignal {
            left: AtomicBool::new(false),
            commands,
        }
    }

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
