//! Bounded primitives for reading Kafka protocol fields from untrusted bytes.
//!
//! Every length and count is checked against the bytes that remain *before* anything is allocated, so
//! a hostile prefix can never ask for more memory than the frame that carried it. Strings and byte
//! fields are returned as slices of the input [`Bytes`] (no copy).

use bytes::{Buf, Bytes};

use super::DecodeError;

/// A cursor over one response body.
///
/// All reads are bounds-checked; on error the reader is left in an unspecified position and should
/// be dropped.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    /// Which field is being read, for error messages.
    field: &'static str,
}

impl Reader {
    /// Wraps a buffer.
    pub fn new(buf: Bytes) -> Self {
        Reader { buf, field: "" }
    }

    /// Names the field about to be read; errors mention it.
    #[inline]
    pub fn field(&mut self, name: &'static str) -> &mut Self {
        self.field = name;
        self
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &[u8] {
        &self.buf
    }

    fn need(&self, needed: usize) -> Result<(), DecodeError> {
        if self.buf.len() < needed {
            Err(DecodeError::Truncated {
                field: self.field,
                needed,
                available: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    /// Reads an `INT8`.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    /// Reads a `BOOLEAN` (any non-zero byte is true, as in Kafka).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    /// Reads an `INT16`.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    /// Reads an `INT32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    /// Reads a `UINT32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    /// Reads an `INT64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// Reads a `UUID` (16 raw bytes).
    pub fn uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.need(16)?;
        let mut out = [0u8; 16];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }

    /// Reads an `UNSIGNED_VARINT` (at most 5 bytes, fits in a `u32`).
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            self.need(1)?;
            let byte = self.buf.get_u8();
            if i == 4 && byte > 0x0f {
                return Err(DecodeError::VarintTooLong { field: self.field });
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong { field: self.field })
    }

    /// Reads a zig-zag `VARINT` (at most 5 bytes).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Reads a zig-zag `VARLONG` (at most 10 bytes).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            self.need(1)?;
            let byte = self.buf.get_u8();
            if i == 9 && byte > 0x01 {
                return Err(DecodeError::VarintTooLong { field: self.field });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(DecodeError::VarintTooLong { field: self.field })
    }

    /// Takes `len` bytes as a zero-copy slice.
    pub fn take(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        self.need(len)?;
        Ok(self.buf.split_to(len))
    }

    /// Skips `len` bytes.
    pub fn skip(&mut self, len: usize) -> Result<(), DecodeError> {
        self.need(len)?;
        self.buf.advance(len);
        Ok(())
    }

    /// Length of a classic (INT16-prefixed) string; `None` for null.
    fn string_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let len = self.i16()?;
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::NegativeLength {
                field: self.field,
                length: i64::from(n),
            }),
            n => Ok(Some(n as usize)),
        }
    }

    /// Length of a compact (UNSIGNED_VARINT length+1) string or bytes field; `None` for null.
    fn compact_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let raw = self.uvarint()?;
        Ok(raw.checked_sub(1).map(|n| n as usize))
    }

    fn utf8(&self, bytes: Bytes) -> Result<Str, DecodeError> {
        Str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field: self.field })
    }

    /// Reads a `STRING` or `COMPACT_STRING`; null is an error.
    pub fn string(&mut self, flexible: bool) -> Result<Str, DecodeError> {
        self.nullable_string(flexible)?
            .ok_or(DecodeError::UnexpectedNull { field: self.field })
    }

    /// Reads a `NULLABLE_STRING` or `COMPACT_NULLABLE_STRING`.
    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<Str>, DecodeError> {
        let len = if flexible {
            self.compact_len()?
        } else {
            self.string_len()?
        };
        match len {
            None => Ok(None),
            Some(len) => {
                let bytes = self.take(len)?;
                self.utf8(bytes).map(Some)
            }
        }
    }

    /// Reads a `NULLABLE_BYTES` or `COMPACT_NULLABLE_BYTES`.
    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
        let len = if flexible {
            self.compact_len()?
        } else {
            match self.i32()? {
                -1 => None,
                n if n < 0 => {
                    return Err(DecodeError::NegativeLength {
                        field: self.field,
                        length: i64::from(n),
                    });
                }
                n => Some(n as usize),
            }
        };
        match len {
            None => Ok(None),
            Some(len) => self.take(len).map(Some),
        }
    }

    /// Reads a `BYTES` or `COMPACT_BYTES`; null is an error.
    pub fn bytes(&mut self, flexible: bool) -> Result<Bytes, DecodeError> {
        self.nullable_bytes(flexible)?
            .ok_or(DecodeError::UnexpectedNull { field: self.field })
    }

    /// Reads the element count of an `ARRAY` or `COMPACT_ARRAY` whose elements take at least
    /// `min_element_size` bytes each; `None` for a null array.
    ///
    /// The count is checked against the bytes remaining, so a caller may pre-allocate `count`
    /// elements: a hostile count can never exceed the size of the frame that carried it.
    pub fn nullable_array_len(
        &mut self,
        flexible: bool,
        min_element_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let count: Option<usize> = if flexible {
            self.compact_len()?
        } else {
            match self.i32()? {
                -1 => None,
                n if n < 0 => {
                    return Err(DecodeError::NegativeLength {
                        field: self.field,
                        length: i64::from(n),
                    });
                }
                n => Some(n as usize),
            }
        };
        if let Some(count) = count {
            let needed = count.saturating_mul(min_element_size.max(1));
            if needed > self.buf.len() {
                return Err(DecodeError::CountExceedsBytes {
                    field: self.field,
                    count,
                    min_bytes: needed,
                    available: self.buf.len(),
                });
            }
        }
        Ok(count)
    }

    /// As [`Reader::nullable_array_len`], reading a null array as empty.
    pub fn array_len(&mut self, flexible: bool, min_element_size: usize) -> Result<usize, DecodeError> {
        Ok(self.nullable_array_len(flexible, min_element_size)?.unwrap_or(0))
    }

    /// Reads an `ARRAY` / `COMPACT_ARRAY` of structures: the count is checked against the bytes
    /// left (each element takes at least `min_element_size`) before allocating, `element` reads one,
    /// and in flexible versions each element's tagged fields are skipped after it. Null reads as empty.
    pub fn array<T>(
        &mut self,
        field: &'static str,
        flexible: bool,
        min_element_size: usize,
        mut element: impl FnMut(&mut Reader) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.field(field).array_len(flexible, min_element_size)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(element(self)?);
            if flexible {
                self.skip_tagged_fields()?;
            }
        }
        Ok(out)
    }

    /// Reads an array of `INT32`.
    pub fn i32_array(&mut self, flexible: bool) -> Result<Vec<i32>, DecodeError> {
        let count = self.array_len(flexible, 4)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.i32()?);
        }
        Ok(out)
    }

    /// Reads a tagged-field section, calling `on_field(tag, reader)` for each field; the callback
    /// gets a reader over exactly that field's bytes. Unknown tags should be ignored by the callback.
    pub fn tagged_fields(
        &mut self,
        mut on_field: impl FnMut(u32, &mut Reader) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let count = self.uvarint()? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        let needed = count.saturating_mul(2);
        if needed > self.buf.len() {
            return Err(DecodeError::CountExceedsBytes {
                field: "tagged fields",
                count,
                min_bytes: needed,
                available: self.buf.len(),
            });
        }
        let mut last_tag: Option<u32> = None;
        for _ in 0..count {
            let tag = self.uvarint()?;
            if last_tag.is_some_and(|last| tag <= last) {
                return Err(DecodeError::Invalid {
                    field: "tagged fields",
                    reason: "tags out of order",
                });
            }
            last_tag = Some(tag);
            let size = self.uvarint()? as usize;
            let mut field = Reader::new(self.take(size)?);
            on_field(tag, &mut field)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section.
    pub fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        self.tagged_fields(|_, _| Ok(()))
    }

    /// Ends a response. Bytes after the last known field are ignored, as Kafka's own clients
    /// ignore them: librdkafka's mock cluster appends a byte to flexible Metadata responses, and
    /// nothing after the last field can make kafkit allocate or misread.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if !self.buf.is_empty() {
            tracing::trace!(count = self.buf.len(), "ignoring trailing bytes after a response");
        }
        Ok(())
    }

    /// Fails unless every byte has been read (for nested structures whose size is known).
    pub fn finish_exact(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.buf.len(),
            })
        }
    }
}

/// A UTF-8 string that shares the response buffer (no copy).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Str(Bytes);

impl Str {
    /// Validates `bytes` as UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Str(bytes))
    }

    /// A static string.
    pub const fn from_static(s: &'static str) -> Self {
        Str(Bytes::from_static(s.as_bytes()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Invariant: constructed only from validated UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(Bytes::from(s))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn varints_round_trip_kafka_examples() {
        // Zig-zag examples from the Kafka protocol guide.
        assert_eq!(reader(&[0x00]).varint().unwrap(), 0);
        assert_eq!(reader(&[0x01]).varint().unwrap(), -1);
        assert_eq!(reader(&[0x02]).varint().unwrap(), 1);
        assert_eq!(reader(&[0x03]).varint().unwrap(), -2);
        assert_eq!(
            reader(&[0xfe, 0xff, 0xff, 0xff, 0x0f]).varint().unwrap(),
            i32::MAX
        );
        assert_eq!(
            reader(&[0xff, 0xff, 0xff, 0xff, 0x0f]).varint().unwrap(),
            i32::MIN
        );
        assert_eq!(reader(&[0xac, 0x02]).uvarint().unwrap(), 300);
        let max_long = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(reader(&max_long).varlong().unwrap(), i64::MAX);
    }

    #[test]
    fn runaway_varints_are_errors() {
        assert!(matches!(
            reader(&[0xff; 6]).uvarint(),
            Err(DecodeError::VarintTooLong { .. })
        ));
        // Fifth byte carries bits beyond 32.
        assert!(matches!(
            reader(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint(),
            Err(DecodeError::VarintTooLong { .. })
        ));
        assert!(matches!(
            reader(&[0xff; 11]).varlong(),
            Err(DecodeError::VarintTooLong { .. })
        ));
        assert!(matches!(
            reader(&[0x80, 0x80]).uvarint(),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn negative_lengths_are_errors() {
        assert!(matches!(
            reader(&[0xff, 0xfe]).string(false),
            Err(DecodeError::NegativeLength { .. })
        ));
        assert!(matches!(
            reader(&[0xff, 0xff, 0xff, 0xfe]).nullable_bytes(false),
            Err(DecodeError::NegativeLength { .. })
        ));
        assert!(matches!(
            reader(&[0x80, 0x00, 0x00, 0x00]).array_len(false, 1),
            Err(DecodeError::NegativeLength { .. })
        ));
        assert_eq!(reader(&[0xff, 0xff]).nullable_string(false).unwrap(), None);
        assert!(matches!(
            reader(&[0xff, 0xff]).string(false),
            Err(DecodeError::UnexpectedNull { .. })
        ));
    }

    #[test]
    fn counts_beyond_the_bytes_present_fail_before_allocating() {
        // i32::MAX elements of at least 4 bytes announced in a 6-byte buffer.
        let err = reader(&[0x7f, 0xff, 0xff, 0xff, 0, 0])
            .i32_array(false)
            .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::CountExceedsBytes {
                    count: 0x7fff_ffff,
                    ..
                }
            ),
            "{err:?}"
        );
        // Compact array announcing u32::MAX - 1 elements.
        let err = reader(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .array_len(true, 1)
            .unwrap_err();
        assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
        let err = reader(&[0x05, b'a']).string(true).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Truncated {
                    needed: 4,
                    available: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = reader(&[0x7f, 0x00]).tagged_fields(|_, _| Ok(())).unwrap_err();
        assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
    }

    #[test]
    fn strings_are_zero_copy_and_validated() {
        let buf = Bytes::from_static(b"\x00\x03abc\x04xyz");
        let mut r = Reader::new(buf.clone());
        let s = r.string(false).unwrap();
        assert_eq!(s, "abc");
        assert_eq!(r.string(true).unwrap(), "xyz");
        r.finish().unwrap();
        assert!(matches!(
            reader(b"\x00\x02\xff\xfe").string(false),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn tagged_fields_are_bounded_and_ordered() {
        let mut r = reader(&[2, 0, 1, 7, 3, 2, 1, 2]);
        let mut seen = vec![];
        r.tagged_fields(|tag, f| {
            seen.push((tag, f.remaining()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0, 1), (3, 2)]);
        let err = reader(&[2, 3, 0, 1, 0]).tagged_fields(|_, _| Ok(())).unwrap_err();
        assert!(
            matches!(err, DecodeError::Invalid { .. } | DecodeError::Truncated { .. }),
            "{err:?}"
        );
    }
}
