//! All the records of one partition of a Fetch response, in order, with control batches and
//! aborted transactions filtered out.

use bytes::Bytes;

use super::record::Layout;
use super::{
    AbortedTransaction, BatchVerdict, Batches, IncompleteBatch, Record, RecordRef, Records, RecordsConfig,
    RecordsError, TransactionFilter,
};

/// Which records a consumer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only records of committed transactions (and non-transactional records).
    ReadCommitted,
}

/// The records of one partition of a Fetch response: splits the bytes into batches, skips
/// control batches and (for `read_committed`) aborted transactions, and parses records lazily.
///
/// Yields `Err` once and ends if the bytes are malformed. Afterwards (or at any point)
/// [`PartitionRecords::next_offset`] says where to fetch next and [`PartitionRecords::incomplete`]
/// reports a truncated last batch.
#[derive(Debug, Clone)]
pub struct PartitionRecords {
    batches: Batches,
    filter: TransactionFilter,
    config: RecordsConfig,
    current: Option<Records>,
    /// The offset after the current batch, applied once it is exhausted.
    current_next_offset: i64,
    /// The partition leader epoch of the current batch.
    current_epoch: i32,
    next_offset: Option<i64>,
    start_offset: i64,
    done: bool,
}

impl PartitionRecords {
    /// Reads `records` (a partition's `records` field) as a `read_uncommitted` consumer.
    pub fn new(records: Bytes, config: RecordsConfig) -> Self {
        PartitionRecords {
            batches: Batches::new(records),
            filter: TransactionFilter::read_uncommitted(),
            config,
            current: None,
            current_next_offset: 0,
            current_epoch: -1,
            next_offset: None,
            start_offset: i64::MIN,
            done: false,
        }
    }

    /// Reads as a `read_committed` consumer, skipping the listed aborted transactions (the
    /// partition's `aborted_transactions` from the same Fetch response).
    pub fn read_committed(mut self, aborted: impl IntoIterator<Item = AbortedTransaction>) -> Self {
        self.filter = TransactionFilter::read_committed(aborted);
        self
    }

    /// Skips records before `offset`: a broker returns whole batches, so the first batch may start
    /// before the offset that was fetched.
    pub fn starting_at(mut self, offset: i64) -> Self {
        self.start_offset = offset;
        self
    }

    /// The offset after the last batch fully read or skipped so far: where the next fetch starts
    /// once every record yielded has been handled. `None` before the first batch is done.
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// The leader epoch of the batch the last record yielded came from (the epoch of the leader
    /// that appended it), or -1 before the first record.
    pub fn leader_epoch(&self) -> i32 {
        self.current_epoch
    }

    /// The truncated last batch, once the iteration has reached it.
    pub fn incomplete(&self) -> Option<IncompleteBatch> {
        self.batches.incomplete()
    }

    /// The next record, borrowed from its batch (no reference-count change; see
    /// [`RecordRef::to_owned`]).
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, RecordsError>> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(layout)) => {
                let data = self.current.as_ref()?.data();
                Some(Ok(RecordRef::new(data, layout)))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    #[inline]
    fn advance(&mut self) -> Result<Option<Layout>, RecordsError> {
        loop {
            if let Some(records) = &mut self.current {
                match records.next_layout() {
                    Some(Ok(layout)) if layout.offset < self.start_offset => continue,
                    Some(Ok(layout)) => return Ok(Some(layout)),
                    Some(Err(e)) => return Err(e),
                    None => {
                        self.current = None;
                        self.next_offset = Some(self.current_next_offset);
                    }
                }
            }
            let Some(batch) = self.batches.next().transpose()? else {
                return Ok(None);
            };
            match self.filter.handle_batch(&batch, &self.config)? {
                BatchVerdict::Deliver if batch.last_offset() >= self.start_offset => {
                    self.current = Some(batch.records(&self.config)?);
                    self.current_next_offset = batch.next_offset();
                    self.current_epoch = batch.header().partition_leader_epoch;
                }
                BatchVerdict::Deliver | BatchVerdict::SkipControl | BatchVerdict::SkipAborted => {
                    self.next_offset = Some(batch.next_offset());
                }
            }
        }
    }
}

impl Iterator for PartitionRecords {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_ref()?.map(RecordRef::to_owned))
    }
}
