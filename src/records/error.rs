//! What can be wrong with record-batch bytes.

use super::Compression;

/// Malformed or unacceptable record-batch bytes: what was wrong, and where.
///
/// Every variant carries the data needed to understand the failure; none of them is produced by a
/// panic, and none after allocating more than the configured limits allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// A field needs more bytes than the batch (or record) holds.
    #[error("truncated record data: {field} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The batch is not in message format v2: v0 or v1 (magic 0 or 1, Kafka before 0.11), which
    /// kafkit does not read, or an unknown magic byte.
    #[error("{}", unsupported_magic_message(*magic, *base_offset))]
    UnsupportedMagic {
        /// The magic byte read.
        magic: i8,
        /// The batch's first offset.
        base_offset: i64,
    },
    /// A batch header field holds an impossible value.
    #[error("invalid record batch header at offset {base_offset}: {reason}")]
    InvalidBatchHeader {
        /// The batch's first offset.
        base_offset: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The batch length field is smaller than a batch header or negative.
    #[error("invalid batch length {length} at offset {base_offset}")]
    InvalidBatchLength {
        /// The batch's first offset.
        base_offset: i64,
        /// The length read.
        length: i32,
    },
    /// The CRC32C stored in the batch header does not match the batch's bytes.
    #[error(
        "corrupt record batch at offset {base_offset}: CRC32C is {actual:#010x}, header says {expected:#010x}"
    )]
    Crc {
        /// The batch's first offset.
        base_offset: i64,
        /// The CRC stored in the header.
        expected: u32,
        /// The CRC of the bytes present.
        actual: u32,
    },
    /// The record count is negative.
    #[error("negative record count {count} in the batch at offset {base_offset}")]
    NegativeRecordCount {
        /// The batch's first offset.
        base_offset: i64,
        /// The count read.
        count: i32,
    },
    /// The batch announces more records than its (decompressed) bytes could hold.
    #[error(
        "batch at offset {base_offset} announces {count} records, which need at least {min_bytes} bytes; it has {available}"
    )]
    RecordCountExceedsBytes {
        /// The batch's first offset.
        base_offset: i64,
        /// The record count read.
        count: i32,
        /// The fewest bytes that many records occupy.
        min_bytes: u64,
        /// The bytes present.
        available: usize,
    },
    /// The compression codec in the batch attributes is not one Kafka defines.
    #[error("unknown compression codec {codec} in the batch at offset {base_offset}")]
    UnknownCompression {
        /// The batch's first offset.
        base_offset: i64,
        /// The codec number (attribute bits 0–2).
        codec: u8,
    },
    /// The compressed payload could not be decompressed.
    #[error("cannot decompress the {codec:?} batch at offset {base_offset}: {reason}")]
    Decompress {
        /// The batch's first offset.
        base_offset: i64,
        /// The codec.
        codec: Compression,
        /// What the decompressor reported.
        reason: String,
    },
    /// The batch decompresses to more than the configured maximum; decompression stopped there.
    #[error(
        "the {codec:?} batch at offset {base_offset} decompresses to more than {max} bytes \
         (raise RecordsConfig::max_decompressed_batch_size if the producer really writes batches this large)"
    )]
    DecompressedTooLarge {
        /// The batch's first offset.
        base_offset: i64,
        /// The codec.
        codec: Compression,
        /// The configured maximum.
        max: usize,
    },
    /// A varint or varlong runs past its maximum length.
    #[error("varint too long in {field}")]
    VarintTooLong {
        /// The field being read.
        field: &'static str,
    },
    /// A length is negative (and not the null marker -1 where null is allowed).
    #[error("negative length {length} for {field}")]
    NegativeLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        length: i64,
    },
    /// A record's fields do not fill exactly the length its prefix announced.
    #[error("record at offset delta {offset_delta} declares {declared} bytes but its fields take {used}")]
    RecordLengthMismatch {
        /// The record's offset delta.
        offset_delta: i32,
        /// The length prefix.
        declared: usize,
        /// Bytes the fields took.
        used: usize,
    },
    /// `base + delta` overflows an `i64` (an offset, a timestamp or the batch's last offset).
    #[error("{field} overflows: {base} + {delta}")]
    Overflow {
        /// Which value.
        field: &'static str,
        /// The batch's base value.
        base: i64,
        /// The delta added to it.
        delta: i64,
    },
    /// Bytes remain in the batch after its last record.
    #[error("{count} bytes left over after the last record of the batch at offset {base_offset}")]
    TrailingBytes {
        /// The batch's first offset.
        base_offset: i64,
        /// How many.
        count: usize,
    },
    /// A control batch holds something other than a valid control record.
    #[error("invalid control record in the batch at offset {base_offset}: {reason}")]
    InvalidControlRecord {
        /// The batch's first offset.
        base_offset: i64,
        /// What is wrong.
        reason: &'static str,
    },
}

fn unsupported_magic_message(magic: i8, base_offset: i64) -> String {
    if magic == 0 || magic == 1 {
        format!(
            "message format v{magic} at offset {base_offset} is not supported: kafkit reads only record \
             batches (message format v2, Kafka 0.11 and later). The topic holds data written in the \
             pre-0.11 format; set its message.format.version to 0.11 or later (the default since Kafka \
             3.0, and the only format Kafka 4 writes) so new data is v2, and consume the old data with a \
             client that reads v0/v1 or let those segments expire"
        )
    } else {
        format!("unknown message format (magic byte {magic}) at offset {base_offset}: not Kafka record data")
    }
}
