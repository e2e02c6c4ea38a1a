//! Record headers, validated when their record was parsed and read without allocating.

use bytes::Bytes;

use super::fast;
use super::record::Span;

/// A record's headers.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    data: &'a Bytes,
    span: Span,
    count: u32,
}

impl<'a> Headers<'a> {
    pub(crate) fn new(data: &'a Bytes, span: Span, count: u32) -> Self {
        Headers { data, span, count }
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in order.
    #[inline]
    pub fn iter(&self) -> HeadersIter<'a> {
        HeadersIter {
            data: self.data,
            buf: self.data.get(..self.span.end as usize).unwrap_or_default(),
            pos: self.span.start as usize,
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
    key: Span,
    value: Option<Span>,
}

impl<'a> Header<'a> {
    /// The header's key.
    #[inline]
    pub fn key(&self) -> &'a [u8] {
        let data: &'a [u8] = self.data;
        self.key.get(data)
    }

    /// The key as UTF-8, if it is valid UTF-8 (it is for every Kafka client that follows the spec).
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key()).ok()
    }

    /// The header's value; `None` for null.
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        let data: &'a [u8] = self.data;
        self.value.map(|s| s.get(data))
    }

    /// The key as a zero-copy [`Bytes`] slice.
    pub fn key_bytes(&self) -> Bytes {
        self.key.slice(self.data)
    }

    /// The value as a zero-copy [`Bytes`] slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|s| s.slice(self.data))
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
    /// The record's bytes up to the end of its headers.
    buf: &'a [u8],
    pos: usize,
    left: u32,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;

    #[inline]
    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the record was parsed; a failure here cannot happen, and
        // would end the iteration rather than panic.
        let key = fast::bytes(self.buf, &mut self.pos)?;
        let value = fast::nullable_bytes(self.buf, &mut self.pos)?;
        Some(Header {
            data: self.data,
            key: Span::new(key),
            value: value.map(Span::new),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}
