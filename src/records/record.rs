//! Records and the lazy, zero-copy iterator over a batch's records.

use std::ops::Range;

use bytes::Bytes;

use super::RecordsError;
use super::batch::BatchHeader;
use super::cursor::Cursor;

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    CreateTime,
    /// Set by the broker when the batch was appended to the log.
    LogAppendTime,
}

/// One record: its offset, timestamp, key, value and headers.
///
/// A `Record` holds one reference to the buffer it was parsed from (the fetch buffer, or a
/// compressed batch's decompressed buffer) and positions into it: parsing a record copies and
/// allocates nothing, and [`Record::key_bytes`] and [`Record::value_bytes`] hand out zero-copy
/// [`Bytes`] slices.
#[derive(Clone)]
pub struct Record {
    data: Bytes,
    offset: i64,
    timestamp: i64,
    timestamp_type: TimestampType,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    headers: Range<usize>,
    header_count: u32,
}

impl Record {
    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp in milliseconds since the Unix epoch (see [`Record::timestamp_type`]).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// What the timestamp means. For log-append-time topics the timestamp is the batch's append
    /// time, as in Kafka's own clients.
    pub fn timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }

    /// The key; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.clone().and_then(|r| self.data.get(r))
    }

    /// The value; `None` for a null value (a tombstone on a compacted topic).
    pub fn value(&self) -> Option<&[u8]> {
        self.value.clone().and_then(|r| self.data.get(r))
    }

    /// The key as a zero-copy [`Bytes`] slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.clone().map(|r| self.data.slice(r))
    }

    /// The value as a zero-copy [`Bytes`] slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.clone().map(|r| self.data.slice(r))
    }

    /// The headers, in the order the producer wrote them (keys may repeat).
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            data: &self.data,
            start: self.headers.start,
            end: self.headers.end,
            count: self.header_count,
        }
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.timestamp_type == other.timestamp_type
            && self.key() == other.key()
            && self.value() == other.value()
            && self.headers().iter().eq(other.headers().iter())
    }
}

impl Eq for Record {}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("timestamp_type", &self.timestamp_type)
            .field("key", &self.key_bytes())
            .field("value", &self.value_bytes())
            .field("headers", &self.headers())
            .finish()
    }
}

/// A record's headers, validated when the record was parsed and iterated without allocating.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    data: &'a Bytes,
    start: usize,
    end: usize,
    count: u32,
}

impl<'a> Headers<'a> {
    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in order.
    pub fn iter(&self) -> HeadersIter<'a> {
        HeadersIter {
            data: self.data,
            cursor: Cursor::at(self.data.get(..self.end).unwrap_or_default(), self.start),
            left: self.count,
        }
    }

    /// The value of the last header named `key` (Kafka's `lastHeader`): `Some(None)` if it is
    /// present with a null value, `None` if absent.
    pub fn last(&self, key: &[u8]) -> Option<Option<&'a [u8]>> {
        self.iter().filter(|h| h.key() == key).last().map(|h| h.value())
    }
}

impl std::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

/// One record header, borrowed from its record. Kafka header keys are strings; they are kept as
/// bytes here (see [`Header::key_str`]).
#[derive(Clone, Copy)]
pub struct Header<'a> {
    data: &'a Bytes,
    key: (usize, usize),
    value: Option<(usize, usize)>,
}

impl<'a> Header<'a> {
    /// The header's key.
    pub fn key(&self) -> &'a [u8] {
        self.data.get(self.key.0..self.key.1).unwrap_or_default()
    }

    /// The key as UTF-8, if it is valid UTF-8 (it is for every Kafka client that follows the spec).
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key()).ok()
    }

    /// The header's value; `None` for null.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value.and_then(|(s, e)| self.data.get(s..e))
    }

    /// The key as a zero-copy [`Bytes`] slice.
    pub fn key_bytes(&self) -> Bytes {
        self.data.slice(self.key.0..self.key.1)
    }

    /// The value as a zero-copy [`Bytes`] slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|(s, e)| self.data.slice(s..e))
    }
}

impl PartialEq for Header<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key() && self.value() == other.value()
    }
}

impl Eq for Header<'_> {}

impl std::fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("key", &self.key_bytes())
            .field("value", &self.value_bytes())
            .finish()
    }
}

/// Iterator over [`Headers`].
#[derive(Debug, Clone)]
pub struct HeadersIter<'a> {
    data: &'a Bytes,
    cursor: Cursor<'a>,
    left: u32,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the record was parsed; a failure here cannot happen, and
        // would end the iteration rather than panic.
        let key = self.cursor.nullable_bytes("header key").ok()??;
        let value = self.cursor.nullable_bytes("header value").ok()?;
        Some(Header {
            data: self.data,
            key: (key.start, key.end),
            value: value.map(|r| (r.start, r.end)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// The records of one batch, parsed one at a time as the iterator is advanced.
///
/// Yields `Err` once and then ends if the bytes are malformed; yields an error after the last
/// record if bytes are left over.
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    pos: usize,
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    done: bool,
}

impl Records {
    pub(crate) fn new(data: Bytes, header: &BatchHeader) -> Self {
        Records {
            data,
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

    fn parse_next(&mut self) -> Result<Record, RecordsError> {
        let mut c = Cursor::at(&self.data, self.pos);
        let length = c.varint("record length")?;
        if length < 0 {
            return Err(RecordsError::NegativeLength {
                field: "record length",
                length: i64::from(length),
            });
        }
        let body = c.range("record", length as usize)?;
        self.pos = body.end;
        let mut c = Cursor::at(self.data.get(..body.end).unwrap_or_default(), body.start);

        let _attributes = c.i8("record attributes")?;
        let timestamp_delta = c.varlong("timestamp delta")?;
        let offset_delta = c.varint("offset delta")?;
        let key = c.nullable_bytes("key")?;
        let value = c.nullable_bytes("value")?;
        let header_count = c.varint("header count")?;
        if header_count < 0 {
            return Err(RecordsError::NegativeLength {
                field: "header count",
                length: i64::from(header_count),
            });
        }
        let headers_start = c.position();
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
        let headers_end = c.position();
        if c.remaining() != 0 {
            return Err(RecordsError::RecordLengthMismatch {
                offset_delta,
                declared: length as usize,
                used: headers_end - body.start,
            });
        }

        let offset = self
            .base_offset
            .checked_add(i64::from(offset_delta))
            .ok_or(RecordsError::Overflow {
                field: "record offset",
                base: self.base_offset,
                delta: i64::from(offset_delta),
            })?;
        let (timestamp, timestamp_type) = match self.log_append_time {
            Some(t) => (t, TimestampType::LogAppendTime),
            None => (
                self.base_timestamp
                    .checked_add(timestamp_delta)
                    .ok_or(RecordsError::Overflow {
                        field: "record timestamp",
                        base: self.base_timestamp,
                        delta: timestamp_delta,
                    })?,
                TimestampType::CreateTime,
            ),
        };
        Ok(Record {
            data: self.data.clone(),
            offset,
            timestamp,
            timestamp_type,
            key,
            value,
            headers: headers_start..headers_end,
            header_count: header_count as u32,
        })
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
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
        let result = self.parse_next();
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        (0, Some(n.saturating_add(1)))
    }
}
