//! gzip, through `flate2`'s pure-Rust backend (miniz_oxide).

use super::{CodecError, read_capped};

/// Decompresses one or more concatenated gzip members, as Java's `GZIPInputStream` does.
pub(super) fn decompress(input: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    read_capped(
        flate2::read::MultiGzDecoder::new(input),
        max,
        input.len().saturating_mul(4),
    )
}
