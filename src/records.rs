//! kafkit's own zero-copy reader for Kafka record batches (message format v2, magic 2).
//!
//! A Fetch response carries, for each partition, a `records` byte string holding zero or more
//! record batches, the last of which may be cut short by the fetch size limit. This module turns
//! those bytes into records:
//!
//! 1. [`Batches`] splits the partition's bytes into [`RecordBatch`]es. Each batch's header is
//!    validated and its CRC32C verified; nothing is copied. A truncated last batch ends the
//!    iteration cleanly and is reported by [`Batches::incomplete`]: it means "fetch more", not
//!    "corrupt".
//! 2. [`TransactionFilter`] decides, batch by batch, whether a `read_committed` consumer should see
//!    it: control batches (transaction markers) and batches of aborted transactions are skipped,
//!    and [`RecordBatch::next_offset`] says where to resume after a skipped batch.
//! 3. [`RecordBatch::records`] decompresses the batch once, if it is compressed (gzip, snappy, lz4
//!    and zstd, all in pure Rust, bounded by [`RecordsConfig::max_decompressed_batch_size`]
//!    *while* decompressing), and returns [`Records`], a lazy iterator: each [`Record`] is parsed
//!    when it is asked for, and its key, value and headers are zero-copy views of the batch's
//!    buffer (no copy and no allocation per record; a `Record` holds one reference to the buffer,
//!    a borrowed [`RecordRef`] from [`Records::next_ref`] holds none).
//!
//! [`PartitionRecords`] ties the three together for one partition of a Fetch response.
//!
//! Every length and count is checked against the bytes present, offsets and timestamps are
//! computed with checked arithmetic, and malformed input is a [`RecordsError`], never a panic.
//! Message formats v0 and v1 (Kafka before 0.11) are rejected with
//! [`RecordsError::UnsupportedMagic`].
//!
//! ```
//! use bytes::Bytes;
//! use kafkit::records::{PartitionRecords, RecordsConfig};
//!
//! # fn run(fetched: Bytes) -> Result<(), kafkit::records::RecordsError> {
//! let mut partition = PartitionRecords::new(fetched, RecordsConfig::default());
//! while let Some(record) = partition.next() {
//!     let record = record?;
//!     println!("{} {:?}", record.offset(), record.value());
//! }
//! println!("continue fetching at {:?}", partition.next_offset());
//! # Ok(()) }
//! # run(Bytes::new()).unwrap();
//! ```

mod batch;
mod batch_records;
mod compression;
mod config;
mod control;
mod cursor;
mod error;
mod fast;
mod headers;
mod partition;
mod record;
mod split;
mod transactions;

#[cfg(test)]
mod tests;

pub use batch::{BATCH_HEADER_SIZE, BatchHeader, RecordBatch};
pub use batch_records::Records;
pub use compression::Compression;
pub use config::RecordsConfig;
pub use control::{ControlRecord, ControlRecordType};
pub use error::RecordsError;
pub use headers::{Header, Headers, HeadersIter};
pub use partition::{IsolationLevel, PartitionRecords};
pub use record::{Record, RecordRef, TimestampType};
pub use split::{Batches, IncompleteBatch};
pub use transactions::{AbortedTransaction, BatchVerdict, TransactionFilter};
