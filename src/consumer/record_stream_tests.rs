use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::RecordStream;
use crate::consumer::test_util::{chunk, handoff};
use crate::consumer::{Partitions, Record};
use crate::error::Result;
use crate::handoff::RejoinSignal;

/// Regression: streams ending in wrap-around polling order made the merged stream remove an
/// index past the end and panic.
#[tokio::test]
async fn merged_stream_drops_ended_streams_in_any_order() {
    let (commands, _rx) = mpsc::channel(8);
    let (ptx, prx) = mpsc::unbounded_channel();
    let rejoin = Arc::new(RejoinSignal::new(commands.clone()));
    let mut merged = RecordStream::new(Partitions::new(prx, rejoin));
    let mut senders = Vec::new();
    for p in 0..3 {
        let (tx, new) = handoff(p);
        ptx.send(new).unwrap();
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
    let rejoin = Arc::new(RejoinSignal::new(commands.clone()));
    let mut merged = RecordStream::new(Partitions::new(prx, rejoin));
    let (tx0, s0) = handoff(0);
    let (tx1, s1) = handoff(1);
    let shared0 = tx0.shared.clone();
    ptx.send(s0).unwrap();
    ptx.send(s1).unwrap();
    assert!(tx0.deliver(chunk(0, 300)));
    assert!(tx1.deliver(chunk(0, 300)));

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
