//! A bounds-checked cursor over a byte slice, for the varint-heavy record encoding.
//!
//! Positions are returned rather than sub-slices so that callers can cut zero-copy
//! [`Bytes`](bytes::Bytes) slices out of the buffer the slice came from.

use std::ops::Range;

use super::RecordsError;

/// A read position in a byte slice. Every read is checked; no read panics.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// A cursor over `buf` starting at `pos` (past the end reads as empty).
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Cursor {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    /// Bytes already read.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    fn truncated(&self, field: &'static str, needed: usize) -> RecordsError {
        RecordsError::Truncated {
            field,
            needed,
            available: self.remaining(),
        }
    }

    #[inline]
    fn byte(&mut self, field: &'static str) -> Result<u8, RecordsError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.truncated(field, 1)),
        }
    }

    /// Reads an `INT8`.
    #[inline]
    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, RecordsError> {
        Ok(self.byte(field)? as i8)
    }

    /// Reads a big-endian `INT16`.
    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, RecordsError> {
        let r = self.range(field, 2)?;
        match self.buf.get(r) {
            Some(&[a, b]) => Ok(i16::from_be_bytes([a, b])),
            _ => Err(self.truncated(field, 2)),
        }
    }

    /// Reads a big-endian `INT32`.
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, RecordsError> {
        let r = self.range(field, 4)?;
        match self.buf.get(r) {
            Some(&[a, b, c, d]) => Ok(i32::from_be_bytes([a, b, c, d])),
            _ => Err(self.truncated(field, 4)),
        }
    }

    /// Reads a zig-zag `VARINT` (at most 5 bytes; bits beyond 32 are an error).
    #[inline]
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<i32, RecordsError> {
        let first = self.byte(field)?;
        if first & 0x80 == 0 {
            let raw = u32::from(first);
            return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
        }
        let mut raw = u32::from(first & 0x7f);
        for i in 1..5 {
            let byte = self.byte(field)?;
            if i == 4 && byte > 0x0f {
                return Err(RecordsError::VarintTooLong { field });
            }
            raw |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
            }
        }
        Err(RecordsError::VarintTooLong { field })
    }

    /// Reads a zig-zag `VARLONG` (at most 10 bytes; bits beyond 64 are an error).
    #[inline]
    pub(crate) fn varlong(&mut self, field: &'static str) -> Result<i64, RecordsError> {
        let first = self.byte(field)?;
        if first & 0x80 == 0 {
            let raw = u64::from(first);
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
        let mut raw = u64::from(first & 0x7f);
        for i in 1..10 {
            let byte = self.byte(field)?;
            if i == 9 && byte > 0x01 {
                return Err(RecordsError::VarintTooLong { field });
            }
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
        }
        Err(RecordsError::VarintTooLong { field })
    }

    /// The range of the next `len` bytes, which are consumed.
    #[inline]
    pub(crate) fn range(&mut self, field: &'static str, len: usize) -> Result<Range<usize>, RecordsError> {
        if len > self.remaining() {
            return Err(self.truncated(field, len));
        }
        let start = self.pos;
        self.pos += len;
        Ok(start..self.pos)
    }

    /// A varint length prefix followed by that many bytes: `None` for -1 (null), the bytes'
    /// range otherwise. Other negative lengths are an error.
    #[inline]
    pub(crate) fn nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Range<usize>>, RecordsError> {
        let len = self.varint(field)?;
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(RecordsError::NegativeLength {
                field,
                length: i64::from(n),
            }),
            n => self.range(field, n as usize).map(Some),
        }
    }
}
