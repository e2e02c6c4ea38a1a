use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::PartitionStream;
use crate::consumer::test_util::{chunk, stream};

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
    assert!(tx.deliver(chunk(0, 10)));
    let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    for want in 0..3 {
        assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(want)));
    }
    s.pause();
    assert!(s.is_paused());
    assert!(tx.deliver(chunk(10, 12)));
    assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
    assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
    assert_eq!(waker.0.load(Ordering::SeqCst), 0);
    s.shared.pulled.store(false, Ordering::Release);
    s.resume();
    assert!(!s.is_paused());
    assert!(
        s.shared.pulled.load(Ordering::Acquire),
        "a resume counts as a pull (it restarts the max-poll clock)"
    );
    assert_eq!(waker.0.load(Ordering::SeqCst), 1, "resume wakes the stream");
    for want in 3..12 {
        assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(want)));
    }
    assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
    // Ended while paused: woken, and the stream ends.
    s.pause();
    assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
    let before = waker.0.load(Ordering::SeqCst);
    tx.end();
    assert_eq!(waker.0.load(Ordering::SeqCst), before + 1);
    assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(None));
}

/// Found by the simulation: chunks still waiting in an ended stream's channel stayed counted
/// against the consumer's total buffer forever (each revoke with records in flight leaked up to a
/// partition's buffer; enough of them and fetching stops). Ending or dropping a stream gives all
/// of it back.
#[tokio::test]
async fn an_ended_or_dropped_stream_gives_back_every_buffered_byte() {
    let (commands, _rx) = mpsc::channel(8);
    for end_first in [true, false] {
        let (mut s, tx) = stream(0, &commands);
        let total = tx.shared.total_buffered.clone();
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        for (from, to) in [(0, 5), (5, 10), (10, 15)] {
            let crate::handoff::Delivery::Chunk(c) = chunk(from, to) else {
                unreachable!()
            };
            let size = c.records.len();
            tx.shared.buffered.fetch_add(size, Ordering::AcqRel);
            total.fetch_add(size, Ordering::AcqRel);
            assert!(tx.deliver(crate::handoff::Delivery::Chunk(c)));
        }
        // Read into the first chunk only.
        assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(0)));
        assert!(total.load(Ordering::Acquire) > 0);
        if end_first {
            tx.end();
            assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(None));
            assert_eq!(total.load(Ordering::Acquire), 0);
            assert!(!tx.deliver(chunk(15, 16)), "an ended stream takes no more");
        }
        drop(s);
        assert_eq!(total.load(Ordering::Acquire), 0);
        assert_eq!(tx.shared.buffered.load(Ordering::Acquire), 0);
    }
}

/// A seek (the engine bumps the seek epoch) drops the chunk being read and every chunk delivered
/// before it, whatever their order in the channel; buffer room is given back; the next record is
/// from the chunk delivered after the seek.
#[tokio::test]
async fn a_seek_drops_what_was_fetched_from_the_old_position() {
    use crate::handoff::Delivery;
    let (commands, _rx) = mpsc::channel(8);
    let (mut s, tx) = stream(0, &commands);
    let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let deliver = |d: Delivery, epoch: u64| {
        let Delivery::Chunk(mut c) = d else { unreachable!() };
        c.seek_epoch = epoch;
        tx.shared.buffered.fetch_add(c.records.len(), Ordering::AcqRel);
        tx.shared
            .total_buffered
            .fetch_add(c.records.len(), Ordering::AcqRel);
        assert!(tx.deliver(Delivery::Chunk(c)));
    };
    deliver(chunk(0, 10), 0);
    deliver(chunk(10, 20), 0);
    assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(0)));
    assert_eq!(s.position(), Some(1));
    // The engine's side of a seek to 100.
    tx.shared.seek_epoch.fetch_add(1, Ordering::AcqRel);
    deliver(chunk(100, 105), 1);
    assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(100)));
    assert_eq!(
        s.shared.moved_past.load(Ordering::Acquire),
        100,
        "only what follows the seek counts"
    );
    for want in 101..105 {
        assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(want)));
    }
    assert_eq!(poll_stream(&mut s, &waker), Poll::Pending);
    assert_eq!(
        tx.shared.buffered.load(Ordering::Acquire),
        0,
        "dropped chunks give their room back"
    );
    // A seek noticed only when its chunk arrives (the stream was waiting on its channel).
    tx.shared.seek_epoch.fetch_add(1, Ordering::AcqRel);
    deliver(chunk(7, 9), 2);
    assert_eq!(poll_stream(&mut s, &waker), Poll::Ready(Some(7)));
    assert_eq!(s.position(), Some(8));
}
