//! The lazy iterator over one batch's records, and the record parser.

use std::sync::Arc;

use bytes::Bytes;

use super::RecordsError;
use super::batch::BatchHeader;
use super::cursor::Cursor;
use super::fast;
use super::record::{Layout, Record, RecordRef, Span, TimestampType};

/// The records of one batch, parsed one at a time as the iterator is advanced.
///
/// As an [`Iterator`] it yields owned [`Record`]s (each holds one reference to the batch's
/// buffer); [`Records::next_ref`] yields borrowed [`RecordRef`]s and touches no reference count.
/// Yields `Err` once and then ends if the bytes are malformed, including when bytes are left over
/// after the last record.
#[derive(Debug, Clone)]
pub struct Records {
    /// The batch's records section (decompressed if need be). Behind an `Arc`: handing a record
    /// its own reference is one inlined atomic increment, where cloning `Bytes` goes through a
    /// vtable (about twice the cost per record).
    data: Arc<Bytes>,
    pos: usize,
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    done: bool,
}

impl Records {
    /// `data` is at most `i32::MAX` bytes (a batch, or a decompressed batch under its cap).
    pub(crate) fn new(data: Bytes, header: &BatchHeader) -> Self {
        Records {
            data: Arc::new(data),
            pos: 0,
            left: header.record_count,
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: match header.timestamp_type() {
                TimestampType::LogAppendTime => Some(header.max_timestamp),
                TimestampType::CreateTime => None,
            },
            done: false,
        }
    }

    /// Records not yet read.
    pub fn remaining(&self) -> usize {
        if self.done { 0 } else { self.left as usize }
    }

    /// The next record, borrowed from the batch.
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, RecordsError>> {
        match self.next_layout()? {
            Ok(layout) => Some(Ok(RecordRef::new(&self.data, layout))),
            Err(e) => Some(Err(e)),
        }
    }

    /// Parses the next record; its layout borrows nothing, so callers may hold on to it while
    /// they decide which buffer to pair it with. Always inlined: it runs once per record, and
    /// whether codegen inlines a plain `#[inline]` here varied from build to build (~20% of the
    /// per-record instructions when it did not).
    #[inline(always)]
    pub(crate) fn next_layout(&mut self) -> Option<Result<Layout, RecordsError>> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            let trailing = self.data.len().saturating_sub(self.pos);
            if trailing != 0 {
                return Some(Err(RecordsError::TrailingBytes {
                    base_offset: self.base_offset,
                    count: trailing,
                }));
            }
            return None;
        }
        self.left -= 1;
        if let Some((layout, end)) = self.parse_fast() {
            self.pos = end;
            return Some(Ok(layout));
        }
        let err = self.diagnose();
        self.done = true;
        Some(Err(err))
    }

    /// The buffer the records are in.
    pub(crate) fn data(&self) -> &Arc<Bytes> {
        &self.data
    }

    /// Parses the record at `self.pos` on the fast path; `None` if anything is wrong (then
    /// [`Records::diagnose`] says what).
    #[inline(always)]
    fn parse_fast(&self) -> Option<(Layout, usize)> {
        let buf: &[u8] = &self.data;
        let mut pos = self.pos;
        let length = fast::varint(buf, &mut pos)?;
        if length < 0 {
            return None;
        }
        let end = pos.checked_add(length as usize)?;
        let buf = buf.get(..end)?;
        pos += 1; // attributes (unused)
        let timestamp_delta = fast::varlong(buf, &mut pos)?;
        let offset_delta = fast::varint(buf, &mut pos)?;
        let key = fast::nullable_bytes(buf, &mut pos)?;
        let value = fast::nullable_bytes(buf, &mut pos)?;
        let header_count = fast::varint(buf, &mut pos)?;
        if header_count < 0 {
            return None;
        }
        let headers_start = pos;
        for _ in 0..header_count {
            fast::bytes(buf, &mut pos)?;
            fast::nullable_bytes(buf, &mut pos)?;
        }
        if pos != end {
            return None;
        }
        let offset = self.base_offset.checked_add(i64::from(offset_delta))?;
        let (timestamp, log_append_time) = match self.log_append_time {
            Some(t) => (t, true),
            None => (self.base_timestamp.checked_add(timestamp_delta)?, false),
        };
        Some((
            Layout {
                offset,
                timestamp,
                key: Span::nullable(key),
                value: Span::nullable(value),
                headers: Span::new(headers_start..end),
                header_count: header_count as u32,
                log_append_time,
            },
            end,
        ))
    }

    /// Parses the record at `self.pos` carefully, to report what is wrong with it.
    #[cold]
    fn diagnose(&self) -> RecordsError {
        match self.parse_checked() {
            Err(e) => e,
            // Both parsers apply the same rules; should they ever disagree, fail closed.
            Ok(()) => RecordsError::InvalidBatchHeader {
                base_offset: self.base_offset,
                reason: "record rejected by the fast parser only",
            },
        }
    }

    fn parse_checked(&self) -> Result<(), RecordsError> {
        let mut c = Cursor::at(&self.data, self.pos);
        let length = c.varint("record length")?;
        if length < 0 {
            return Err(RecordsError::NegativeLength {
                field: "record length",
                length: i64::from(length),
            });
        }
        let body = c.range("record", length as usize)?;
        let mut c = Cursor::at(self.data.get(..body.end).unwrap_or_default(), body.start);
        c.i8("record attributes")?;
        let timestamp_delta = c.varlong("timestamp delta")?;
        let offset_delta = c.varint("offset delta")?;
        c.nullable_bytes("key")?;
        c.nullable_bytes("value")?;
        let header_count = c.varint("header count")?;
        if header_count < 0 {
            return Err(RecordsError::NegativeLength {
                field: "header count",
                length: i64::from(header_count),
            });
        }
        for _ in 0..header_count {
            let key_len = c.varint("header key")?;
            if key_len < 0 {
                return Err(RecordsError::NegativeLength {
                    field: "header key",
                    length: i64::from(key_len),
                });
            }
            c.range("header key", key_len as usize)?;
            c.nullable_bytes("header value")?;
        }
        if c.remaining() != 0 {
            return Err(RecordsError::RecordLengthMismatch {
                offset_delta,
                declared: length as usize,
                used: c.position() - body.start,
            });
        }
        self.base_offset
            .checked_add(i64::from(offset_delta))
            .ok_or(RecordsError::Overflow {
                field: "record offset",
                base: self.base_offset,
                delta: i64::from(offset_delta),
            })?;
        if self.log_append_time.is_none() {
            self.base_timestamp
                .checked_add(timestamp_delta)
                .ok_or(RecordsError::Overflow {
                    field: "record timestamp",
                    base: self.base_timestamp,
                    delta: timestamp_delta,
                })?;
        }
        Ok(())
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_ref()?.map(RecordRef::to_owned))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        (0, Some(n.saturating_add(1)))
    }
}
