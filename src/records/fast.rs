//! The fast path of record parsing: the same checks as [`Cursor`](super::cursor::Cursor), but
//! every failure is just `None`, so values travel in registers instead of through a large error
//! type. When the fast path fails, the caller parses again with the cursor to say precisely what
//! is wrong (errors are rare; a second look costs nothing that matters).

use std::ops::Range;

/// A zig-zag `VARINT` at `*pos` (at most 5 bytes, no bits beyond 32).
#[inline(always)]
pub(crate) fn varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let first = *buf.get(*pos)?;
    *pos += 1;
    let raw = if first < 0x80 {
        u32::from(first)
    } else {
        let mut raw = u32::from(first & 0x7f);
        let mut shift = 7;
        loop {
            let byte = *buf.get(*pos)?;
            *pos += 1;
            if shift == 28 && byte > 0x0f {
                return None;
            }
            raw |= u32::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break raw;
            }
            shift += 7;
        }
    };
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// A zig-zag `VARLONG` at `*pos` (at most 10 bytes, no bits beyond 64).
#[inline(always)]
pub(crate) fn varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let first = *buf.get(*pos)?;
    *pos += 1;
    let raw = if first < 0x80 {
        u64::from(first)
    } else {
        let mut raw = u64::from(first & 0x7f);
        let mut shift = 7;
        loop {
            let byte = *buf.get(*pos)?;
            *pos += 1;
            if shift == 63 && byte > 0x01 {
                return None;
            }
            raw |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break raw;
            }
            shift += 7;
        }
    };
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// A varint length and that many bytes: `Some(None)` for null (-1), `None` for a failure.
#[inline(always)]
pub(crate) fn nullable_bytes(buf: &[u8], pos: &mut usize) -> Option<Option<Range<usize>>> {
    let len = varint(buf, pos)?;
    if len < 0 {
        return if len == -1 { Some(None) } else { None };
    }
    let start = *pos;
    let end = start.checked_add(len as usize)?;
    if end > buf.len() {
        return None;
    }
    *pos = end;
    Some(Some(start..end))
}

/// A varint length (not null) and that many bytes.
#[inline(always)]
pub(crate) fn bytes(buf: &[u8], pos: &mut usize) -> Option<Range<usize>> {
    nullable_bytes(buf, pos)?
}
