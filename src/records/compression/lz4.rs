//! LZ4 in the standard LZ4 frame format (what message format v2 uses), through `lz4_flex`.

use super::{CodecError, read_capped};

/// Decompresses LZ4 frames (concatenated frames are read one after another).
pub(super) fn decompress(input: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    read_capped(
        lz4_flex::frame::FrameDecoder::new(input),
        max,
        input.len().saturating_mul(4),
    )
}
