//! The stream of partition streams.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::PartitionStream;
use crate::handoff::{NewPartition, RejoinSignal};
use crate::records::RecordsConfig;

/// The stream of partition streams: yields a [`PartitionStream`] for each partition as it is
/// assigned. Ends when the consumer is closed.
pub struct Partitions {
    rx: mpsc::UnboundedReceiver<NewPartition>,
    pub(super) rejoin: Arc<RejoinSignal>,
}

impl std::fmt::Debug for Partitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partitions").finish_non_exhaustive()
    }
}

impl Partitions {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<NewPartition>, rejoin: Arc<RejoinSignal>) -> Self {
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
        let this = &mut *self;
        this.rejoin.pulled();
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(partition)) => Poll::Ready(Some(PartitionStream::new(
                partition,
                this.rejoin.commands.clone(),
                RecordsConfig::default(),
            ))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
