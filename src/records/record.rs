//! Records and the lazy, zero-copy iterator over a batch's records.

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
/// Key, value and header bytes share the fetch buffer (or, for a compressed batch, the batch's
/// decompressed buffer): cloning a `Record` copies no payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    offset: i64,
    timestamp: i64,
    timestamp_type: TimestampType,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Headers,
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
    pub fn key(&self) -> Option<&Bytes> {
        self.key.as_ref()
    }

    /// The value; `None` for a null value (a tombstone on a compacted topic).
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    /// The headers, in the order the producer wrote them (keys may repeat).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
}

/// A record's headers, validated when the record was parsed and iterated without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    raw: Bytes,
    count: u32,
}

impl Headers {
    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in order.
    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            raw: &self.raw,
            cursor: Cursor::new(&self.raw),
            left: self.count,
        }
    }

    /// The value of the last header named `key` (Kafka's `lastHeader`): `Some(None)` if it is
    /// present with a null value, `None` if absent.
    pub fn last(&self, key: &[u8]) -> Option<Option<Bytes>> {
        self.iter().filter(|h| h.key == key).last().map(|h| h.value)
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = Header;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

/// One record header. Kafka header keys are strings; they are kept as bytes here (see
/// [`Header::key_str`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's key.
    pub key: Bytes,
    /// The header's value; `None` for null.
    pub value: Option<Bytes>,
}

impl Header {
    /// The key as UTF-8, if it is valid UTF-8 (it is for every Kafka client that follows the spec).
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// Iterator over [`Headers`].
#[derive(Debug, Clone)]
pub struct HeadersIter<'a> {
    raw: &'a Bytes,
    cursor: Cursor<'a>,
    left: u32,
}

impl Iterator for HeadersIter<'_> {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the record was parsed; a failure here cannot happen, and
        // would end the iteration rather than panic.
        let key = self.cursor.nullable_bytes("header key").ok()??;
        let value = self.cursor.nullable_bytes("header value").ok()?;
        Some(Header {
            key: self.raw.slice(key),
            value: value.map(|r| self.raw.slice(r)),
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
        let mut c = Cursor::new(&self.data);
        c.range("records", self.pos)?;
        let length = c.varint("record length")?;
        if length < 0 {
            return Err(RecordsError::NegativeLength {
                field: "record length",
                length: i64::from(length),
            });
        }
        let body = c.range("record", length as usize)?;
        self.pos = body.end;
        let window = self.data.get(..body.end).unwrap_or_default();
        let mut c = Cursor::new(window);
        c.range("record", body.start)?;

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
            offset,
            timestamp,
            timestamp_type,
            key: key.map(|r| self.data.slice(r)),
            value: value.map(|r| self.data.slice(r)),
            headers: Headers {
                raw: if header_count == 0 {
                    Bytes::new()
                } else {
                    self.data.slice(headers_start..headers_end)
                },
                count: header_count as u32,
            },
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
