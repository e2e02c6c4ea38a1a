//! Decompression of record batches, bounded while it runs.
//!
//! Every codec is pure Rust. Output is collected by [`read_capped`], which never lets the output
//! buffer grow past the configured maximum plus one byte: a decompression bomb is detected having
//! allocated no more than that.

mod gzip;
mod lz4;
mod snappy;
mod zstd;

use std::io::Read;

use bytes::Bytes;

use super::RecordsError;

/// The compression codec of a record batch (attribute bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, raw or in the xerial framing Kafka's Java producer writes.
    Snappy,
    /// LZ4, in the standard LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0–2, if Kafka defines it.
    pub fn from_attribute(codec: u8) -> Option<Compression> {
        match codec {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Why a decompressor stopped.
#[derive(Debug)]
pub(crate) enum CodecError {
    /// Malformed input, as the codec reports it.
    Invalid(String),
    /// The output would pass the maximum.
    TooLarge,
}

impl From<std::io::Error> for CodecError {
    fn from(e: std::io::Error) -> Self {
        CodecError::Invalid(e.to_string())
    }
}

/// Decompresses a batch's records section with `codec`, producing at most `max` bytes.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    max: usize,
    base_offset: i64,
) -> Result<Bytes, RecordsError> {
    let result = match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => gzip::decompress(input, max),
        Compression::Snappy => snappy::decompress(input, max),
        Compression::Lz4 => lz4::decompress(input, max),
        Compression::Zstd => zstd::decompress(input, max),
    };
    match result {
        Ok(out) => Ok(Bytes::from(out)),
        Err(CodecError::TooLarge) => Err(RecordsError::DecompressedTooLarge {
            base_offset,
            codec,
            max,
        }),
        Err(CodecError::Invalid(reason)) => Err(RecordsError::Decompress {
            base_offset,
            codec,
            reason,
        }),
    }
}

/// The first allocation for a decompressed batch, before it has to grow.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Reads `reader` to its end into a new buffer of at most `max` bytes.
///
/// The buffer starts at `size_hint` (bounded) and doubles as needed, never past `max + 1` bytes:
/// the extra byte is how a stream longer than `max` is told from one exactly `max` long. Fails with
/// [`CodecError::TooLarge`] as soon as the output passes `max`.
pub(crate) fn read_capped(
    mut reader: impl Read,
    max: usize,
    size_hint: usize,
) -> Result<Vec<u8>, CodecError> {
    let limit = max.saturating_add(1);
    let mut out = vec![0u8; size_hint.max(1).min(limit)];
    let mut filled = 0;
    loop {
        if filled == out.len() {
            if out.len() >= limit {
                return Err(CodecError::TooLarge);
            }
            let grown = out.len().saturating_mul(2).max(INITIAL_CAPACITY).min(limit);
            out.resize(grown, 0);
        }
        let Some(dest) = out.get_mut(filled..) else {
            return Err(CodecError::Invalid("decompression buffer out of range".into()));
        };
        match reader.read(dest) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n).min(out.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if filled > max {
        return Err(CodecError::TooLarge);
    }
    out.truncate(filled);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_allows_exactly_max_and_rejects_one_more() {
        let data = vec![7u8; 1000];
        assert_eq!(read_capped(&data[..], 1000, 10).unwrap(), data);
        assert!(matches!(
            read_capped(&data[..], 999, 10),
            Err(CodecError::TooLarge)
        ));
        assert!(read_capped(&[][..], 0, 0).unwrap().is_empty());
        assert!(matches!(read_capped(&[1u8][..], 0, 0), Err(CodecError::TooLarge)));
    }

    #[test]
    fn read_capped_never_allocates_past_the_cap() {
        // An endless stream: the buffer must stop at max + 1.
        let endless = std::io::repeat(0);
        assert!(matches!(
            read_capped(endless, 300_000, 100),
            Err(CodecError::TooLarge)
        ));
    }
}
