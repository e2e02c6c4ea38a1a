//! One record batch: its header, validated, and its (possibly compressed) records section.

use bytes::Bytes;

use super::batch_records::Records;
use super::compression::{Compression, decompress};
use super::control::ControlRecord;
use super::cursor::Cursor;
use super::record::TimestampType;
use super::{RecordsConfig, RecordsError};

/// Size of the record-batch header (message format v2), from the base offset to the record count.
pub const BATCH_HEADER_SIZE: usize = 61;

/// Bytes before the batch-length field's end (base offset and batch length).
pub(crate) const LOG_OVERHEAD: usize = 12;

/// Offset of the magic byte from the start of a batch (the same in every message format).
pub(crate) const MAGIC_OFFSET: usize = 16;

/// Offset of the attributes, where the CRC32C's coverage starts.
const CRC_START: usize = 21;

/// The smallest encoded record: a one-byte length and six one-byte fields.
pub(crate) const MIN_RECORD_SIZE: u64 = 7;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;
const DELETE_HORIZON_FLAG: i16 = 0x40;

/// The header of a record batch (message format v2), validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the batch-length field.
    pub batch_length: i32,
    /// Leader epoch of the partition leader that appended the batch.
    pub partition_leader_epoch: i32,
    /// Message format: always 2 here.
    pub magic: i8,
    /// The CRC32C of the bytes from the attributes to the end of the batch (verified).
    pub crc: u32,
    /// Raw attribute bits.
    pub attributes: i16,
    /// Offset of the last record minus the base offset (never negative here).
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the batch's creation time).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (the append time for log-append-time topics).
    pub max_timestamp: i64,
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch (not negative).
    pub record_count: i32,
}

impl BatchHeader {
    /// The compression codec of the records section.
    pub fn compression(&self) -> Compression {
        // Validated when the batch was parsed.
        Compression::from_attribute((self.attributes & COMPRESSION_MASK) as u8).unwrap_or(Compression::None)
    }

    /// What the records' timestamps mean.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_FLAG != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// Whether the batch is a control batch (a transaction marker), which holds no application
    /// records.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Whether the batch carries a delete horizon (log compaction bookkeeping).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_FLAG != 0
    }

    /// Offset of the last record (checked when the batch was parsed not to overflow).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch: where to fetch from once it is consumed or skipped.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
}

/// One record batch, validated (header fields, length and CRC32C), sharing the fetch buffer.
///
/// Records are read with [`RecordBatch::records`].
#[derive(Debug, Clone)]
pub struct RecordBatch {
    header: BatchHeader,
    /// The records section, still compressed if the batch is.
    payload: Bytes,
}

impl RecordBatch {
    /// Parses exactly one record batch: `bytes` must hold the whole batch and nothing else.
    ///
    /// Checks the magic byte, the length, the CRC32C, the record count's sign, the codec and that
    /// the last offset does not overflow. Nothing is copied.
    pub fn parse(bytes: Bytes) -> Result<RecordBatch, RecordsError> {
        let mut c = Cursor::new(&bytes);
        let base_offset = i64_be(&mut c, "base_offset")?;
        let batch_length = c.i32("batch_length")?;
        let partition_leader_epoch = c.i32("partition_leader_epoch")?;
        let magic = c.i8("magic")?;
        if magic != 2 {
            return Err(RecordsError::UnsupportedMagic { magic, base_offset });
        }
        if batch_length < (BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(RecordsError::InvalidBatchLength {
                base_offset,
                length: batch_length,
            });
        }
        let total = LOG_OVERHEAD + batch_length as usize;
        if bytes.len() != total {
            return Err(if bytes.len() < total {
                RecordsError::Truncated {
                    field: "record batch",
                    needed: total,
                    available: bytes.len(),
                }
            } else {
                RecordsError::TrailingBytes {
                    base_offset,
                    count: bytes.len() - total,
                }
            });
        }
        let crc = c.i32("crc")? as u32;
        let actual = crc32c::crc32c(bytes.get(CRC_START..).unwrap_or_default());
        if actual != crc {
            return Err(RecordsError::Crc {
                base_offset,
                expected: crc,
                actual,
            });
        }
        let attributes = c.i16("attributes")?;
        let last_offset_delta = c.i32("last_offset_delta")?;
        let base_timestamp = i64_be(&mut c, "base_timestamp")?;
        let max_timestamp = i64_be(&mut c, "max_timestamp")?;
        let producer_id = i64_be(&mut c, "producer_id")?;
        let producer_epoch = c.i16("producer_epoch")?;
        let base_sequence = c.i32("base_sequence")?;
        let record_count = c.i32("record_count")?;
        if record_count < 0 {
            return Err(RecordsError::NegativeRecordCount {
                base_offset,
                count: record_count,
            });
        }
        let codec = (attributes & COMPRESSION_MASK) as u8;
        if Compression::from_attribute(codec).is_none() {
            return Err(RecordsError::UnknownCompression { base_offset, codec });
        }
        if last_offset_delta < 0 {
            return Err(RecordsError::InvalidBatchHeader {
                base_offset,
                reason: "negative last offset delta",
            });
        }
        if base_offset
            .checked_add(i64::from(last_offset_delta) + 1)
            .is_none()
        {
            return Err(RecordsError::Overflow {
                field: "last offset",
                base: base_offset,
                delta: i64::from(last_offset_delta),
            });
        }
        let payload = bytes.slice(BATCH_HEADER_SIZE..);
        Ok(RecordBatch {
            header: BatchHeader {
                base_offset,
                batch_length,
                partition_leader_epoch,
                magic,
                crc,
                attributes,
                last_offset_delta,
                base_timestamp,
                max_timestamp,
                producer_id,
                producer_epoch,
                base_sequence,
                record_count,
            },
            payload,
        })
    }

    /// The validated header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// The offset after this batch: where to fetch from once it is consumed or skipped (control
    /// batches and aborted batches included).
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }

    /// Whether this is a control batch (a transaction marker).
    pub fn is_control(&self) -> bool {
        self.header.is_control()
    }

    /// The records section as it is on the wire (compressed if the batch is).
    pub fn raw_records(&self) -> &Bytes {
        &self.payload
    }

    /// The records, parsed lazily. A compressed batch is decompressed here, once, bounded by
    /// [`RecordsConfig::max_decompressed_batch_size`]; an uncompressed batch is not copied.
    ///
    /// Fails if decompression fails or if the record count cannot fit in the bytes present.
    pub fn records(&self, config: &RecordsConfig) -> Result<Records, RecordsError> {
        let h = &self.header;
        let data = match h.compression() {
            Compression::None => self.payload.clone(),
            // Positions in a record buffer are kept as u32: no batch may decompress past
            // i32::MAX bytes, whatever the configured cap.
            codec => decompress(
                codec,
                &self.payload,
                config.max_decompressed_batch_size.min(i32::MAX as usize),
                h.base_offset,
            )?,
        };
        let min_bytes = (h.record_count as u64).saturating_mul(MIN_RECORD_SIZE);
        if min_bytes > data.len() as u64 {
            return Err(RecordsError::RecordCountExceedsBytes {
                base_offset: h.base_offset,
                count: h.record_count,
                min_bytes,
                available: data.len(),
            });
        }
        Ok(Records::new(data, h))
    }

    /// For a control batch, its control record (the transaction marker); `None` for a data batch.
    pub fn control_record(&self, config: &RecordsConfig) -> Result<Option<ControlRecord>, RecordsError> {
        if !self.is_control() {
            return Ok(None);
        }
        let base_offset = self.base_offset();
        let first = self
            .records(config)?
            .next()
            .ok_or(RecordsError::InvalidControlRecord {
                base_offset,
                reason: "control batch holds no record",
            })??;
        ControlRecord::parse(&first, base_offset).map(Some)
    }
}

fn i64_be(c: &mut Cursor<'_>, field: &'static str) -> Result<i64, RecordsError> {
    let hi = c.i32(field)? as u32;
    let lo = c.i32(field)? as u32;
    Ok(((u64::from(hi) << 32) | u64::from(lo)) as i64)
}
