//! `read_committed`: skipping control batches and the batches of aborted transactions.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use super::{ControlRecordType, RecordBatch, RecordsConfig, RecordsError};

/// An aborted transaction, as listed in a Fetch response partition (`aborted_transactions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbortedTransaction {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// The first offset of the aborted transaction.
    pub first_offset: i64,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchVerdict {
    /// Deliver its records.
    Deliver,
    /// A control batch (a transaction marker): skip it and move past it.
    SkipControl,
    /// A batch of an aborted transaction (`read_committed` only): skip it and move past it.
    SkipAborted,
}

/// Decides, batch by batch and in offset order, which batches of one partition's Fetch response a
/// consumer delivers.
///
/// With `read_uncommitted` only control batches are skipped. With `read_committed` the batches of
/// the transactions the Fetch response lists as aborted are skipped too, until the producer's
/// ABORT marker, as Kafka's Java consumer does. Feed every batch of the response, in order, to
/// [`TransactionFilter::handle_batch`] (skipped ones included).
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    read_committed: bool,
    /// Aborted transactions not yet reached, smallest first offset first.
    pending: BinaryHeap<Reverse<(i64, i64)>>,
    /// Producers whose aborted transaction is in progress at the current position.
    aborting: HashSet<i64>,
}

impl TransactionFilter {
    /// A filter for `read_uncommitted`: every data batch is delivered, control batches are skipped.
    pub fn read_uncommitted() -> Self {
        TransactionFilter::default()
    }

    /// A filter for `read_committed`, given the partition's aborted transactions from the Fetch
    /// response.
    pub fn read_committed(aborted: impl IntoIterator<Item = AbortedTransaction>) -> Self {
        TransactionFilter {
            read_committed: true,
            pending: aborted
                .into_iter()
                .map(|t| Reverse((t.first_offset, t.producer_id)))
                .collect(),
            aborting: HashSet::new(),
        }
    }

    /// Decides what to do with the next batch. A control batch's marker is read (so the filter
    /// knows when an aborted transaction ends), which fails only on malformed bytes.
    pub fn handle_batch(
        &mut self,
        batch: &RecordBatch,
        config: &RecordsConfig,
    ) -> Result<BatchVerdict, RecordsError> {
        let header = batch.header();
        if self.read_committed && header.producer_id >= 0 {
            while let Some(Reverse((first_offset, producer_id))) = self.pending.peek().copied() {
                if first_offset > batch.last_offset() {
                    break;
                }
                self.pending.pop();
                self.aborting.insert(producer_id);
            }
            if header.is_control() {
                let marker = batch.control_record(config)?;
                if marker.is_some_and(|m| m.kind == ControlRecordType::Abort) {
                    self.aborting.remove(&header.producer_id);
                }
            } else if header.is_transactional() && self.aborting.contains(&header.producer_id) {
                return Ok(BatchVerdict::SkipAborted);
            }
        }
        if header.is_control() {
            return Ok(BatchVerdict::SkipControl);
        }
        Ok(BatchVerdict::Deliver)
    }
}
