//! Records: owned ([`Record`]) and borrowed ([`RecordRef`]).

use std::sync::Arc;

use bytes::Bytes;

use super::headers::Headers;

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    CreateTime,
    /// Set by the broker when the batch was appended to the log.
    LogAppendTime,
}

/// A byte range in a record's buffer. Buffers are at most `i32::MAX` bytes (a batch's length is
/// an `INT32`, and decompressed batches are capped below that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    /// Marks a null key or value (no real span starts past `i32::MAX`).
    pub(crate) const NULL: Span = Span {
        start: u32::MAX,
        end: u32::MAX,
    };

    pub(crate) fn new(range: std::ops::Range<usize>) -> Span {
        Span {
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    /// `Span::NULL` for `None`.
    #[inline]
    pub(crate) fn nullable(range: Option<std::ops::Range<usize>>) -> Span {
        match range {
            Some(r) => Span::new(r),
            None => Span::NULL,
        }
    }

    /// `None` for `Span::NULL`.
    #[inline]
    pub(crate) fn non_null(self) -> Option<Span> {
        if self.start == u32::MAX { None } else { Some(self) }
    }

    #[inline]
    pub(crate) fn get(self, data: &[u8]) -> &[u8] {
        data.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    #[inline]
    pub(crate) fn slice(self, data: &Bytes) -> Bytes {
        if self.start <= self.end && self.end as usize <= data.len() {
            data.slice(self.start as usize..self.end as usize)
        } else {
            Bytes::new()
        }
    }
}

/// Where a parsed record's fields are in its buffer. Plain, aligned fields (no enums): it is
/// copied once per record on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    /// `Span::NULL` for a null key.
    pub(crate) key: Span,
    /// `Span::NULL` for a null value.
    pub(crate) value: Span,
    /// From the first header to the end of the record.
    pub(crate) headers: Span,
    pub(crate) header_count: u32,
    /// Whether the timestamp is the log append time.
    pub(crate) log_append_time: bool,
}

impl Layout {
    #[inline]
    fn timestamp_type(&self) -> TimestampType {
        if self.log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

/// One record: its offset, timestamp, key, value and headers.
///
/// A `Record` holds one reference to the buffer it was parsed from (the fetch buffer, or a
/// compressed batch's decompressed buffer) and positions into it: parsing a record copies and
/// allocates nothing, and [`Record::key_bytes`] and [`Record::value_bytes`] hand out zero-copy
/// [`Bytes`] slices.
#[derive(Clone)]
pub struct Record {
    data: Arc<Bytes>,
    layout: Layout,
}

impl Record {
    /// Borrows the record (no reference-count change).
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            data: &self.data,
            layout: self.layout,
        }
    }

    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.layout.offset
    }

    /// The record's timestamp in milliseconds since the Unix epoch (see [`Record::timestamp_type`]).
    pub fn timestamp(&self) -> i64 {
        self.layout.timestamp
    }

    /// What the timestamp means. For log-append-time topics the timestamp is the batch's append
    /// time, as in Kafka's own clients.
    pub fn timestamp_type(&self) -> TimestampType {
        self.layout.timestamp_type()
    }

    /// The key; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.as_ref().key()
    }

    /// The value; `None` for a null value (a tombstone on a compacted topic).
    pub fn value(&self) -> Option<&[u8]> {
        self.as_ref().value()
    }

    /// The key as a zero-copy [`Bytes`] slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.as_ref().key_bytes()
    }

    /// The value as a zero-copy [`Bytes`] slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.as_ref().value_bytes()
    }

    /// The headers, in the order the producer wrote them (keys may repeat).
    pub fn headers(&self) -> Headers<'_> {
        self.as_ref().headers()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Record {}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// A record borrowed from the batch it was parsed from: the same accessors as [`Record`], without
/// touching the buffer's reference count. [`Records::next_ref`](super::Records::next_ref) and
/// [`PartitionRecords::next_ref`](super::PartitionRecords::next_ref) yield these; keep one with
/// [`RecordRef::to_owned`].
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    data: &'a Arc<Bytes>,
    layout: Layout,
}

impl<'a> RecordRef<'a> {
    pub(crate) fn new(data: &'a Arc<Bytes>, layout: Layout) -> Self {
        RecordRef { data, layout }
    }

    /// An owned [`Record`] sharing the same buffer (no copy).
    #[allow(clippy::wrong_self_convention, clippy::should_implement_trait)]
    pub fn to_owned(self) -> Record {
        Record {
            data: Arc::clone(self.data),
            layout: self.layout,
        }
    }

    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.layout.offset
    }

    /// The record's timestamp in milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.layout.timestamp
    }

    /// What the timestamp means.
    pub fn timestamp_type(&self) -> TimestampType {
        self.layout.timestamp_type()
    }

    /// The key; `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        let data: &'a [u8] = self.buffer();
        self.layout.key.non_null().map(|s| s.get(data))
    }

    /// The value; `None` for a null value.
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        let data: &'a [u8] = self.buffer();
        self.layout.value.non_null().map(|s| s.get(data))
    }

    /// The key as a zero-copy [`Bytes`] slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.layout.key.non_null().map(|s| s.slice(self.buffer()))
    }

    /// The value as a zero-copy [`Bytes`] slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.layout.value.non_null().map(|s| s.slice(self.buffer()))
    }

    /// The headers, in order (keys may repeat).
    #[inline]
    pub fn headers(&self) -> Headers<'a> {
        Headers::new(self.buffer(), self.layout.headers, self.layout.header_count)
    }

    #[inline]
    fn buffer(&self) -> &'a Bytes {
        self.data.as_ref()
    }
}

impl PartialEq for RecordRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.offset() == other.offset()
            && self.timestamp() == other.timestamp()
            && self.timestamp_type() == other.timestamp_type()
            && self.key() == other.key()
            && self.value() == other.value()
            && self.headers().iter().eq(other.headers().iter())
    }
}

impl Eq for RecordRef<'_> {}

impl std::fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp())
            .field("timestamp_type", &self.timestamp_type())
            .field("key", &self.key_bytes())
            .field("value", &self.value_bytes())
            .field("headers", &self.headers())
            .finish()
    }
}
