//! Splitting a fetched partition's `records` bytes into record batches.

use bytes::Bytes;

use super::batch::{BATCH_HEADER_SIZE, LOG_OVERHEAD, MAGIC_OFFSET};
use super::{RecordBatch, RecordsError};

/// The truncated batch at the end of a partition's fetched bytes.
///
/// Brokers fill a Fetch response up to its size limit and may cut the last batch short. That is
/// not corruption: the consumer fetches again from the batch's offset (with a larger limit if no
/// complete batch came back at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncompleteBatch {
    /// The batch's first offset, if enough bytes arrived to tell.
    pub base_offset: Option<i64>,
    /// The batch's full size in bytes, if enough bytes arrived to tell.
    pub size: Option<usize>,
    /// The bytes that arrived.
    pub available: usize,
}

/// Iterator over the record batches in a partition's fetched bytes.
///
/// Each complete batch is validated (header, length, CRC32C) and yielded as a [`RecordBatch`]
/// sharing the input buffer. A truncated last batch ends the iteration without an error and is
/// described by [`Batches::incomplete`]. After an error the iterator ends.
#[derive(Debug, Clone)]
pub struct Batches {
    buf: Bytes,
    pos: usize,
    incomplete: Option<IncompleteBatch>,
    done: bool,
}

impl Batches {
    /// Iterates over the batches in `records`, a partition's `records` field from a Fetch response.
    pub fn new(records: Bytes) -> Self {
        Batches {
            buf: records,
            pos: 0,
            incomplete: None,
            done: false,
        }
    }

    /// The truncated batch the bytes ended with, once the iteration has reached it.
    pub fn incomplete(&self) -> Option<IncompleteBatch> {
        self.incomplete
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, RecordsError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let (base_offset, length) = match rest {
            [o0, o1, o2, o3, o4, o5, o6, o7, l0, l1, l2, l3, ..] => (
                i64::from_be_bytes([*o0, *o1, *o2, *o3, *o4, *o5, *o6, *o7]),
                i32::from_be_bytes([*l0, *l1, *l2, *l3]),
            ),
            _ => {
                self.incomplete = Some(IncompleteBatch {
                    base_offset: None,
                    size: None,
                    available: rest.len(),
                });
                return Ok(None);
            }
        };
        if let Some(&magic) = rest.get(MAGIC_OFFSET)
            && magic != 2
        {
            return Err(RecordsError::UnsupportedMagic {
                magic: magic as i8,
                base_offset,
            });
        }
        if length < (BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(RecordsError::InvalidBatchLength { base_offset, length });
        }
        let size = LOG_OVERHEAD + length as usize;
        if rest.len() < size {
            self.incomplete = Some(IncompleteBatch {
                base_offset: Some(base_offset),
                size: Some(size),
                available: rest.len(),
            });
            return Ok(None);
        }
        let batch = self.buf.slice(self.pos..self.pos + size);
        self.pos += size;
        RecordBatch::parse(batch).map(Some)
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
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
}
