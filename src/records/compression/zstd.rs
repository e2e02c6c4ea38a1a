//! Zstandard, through `ruzstd`.

use std::io::Read;

use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

use super::{CodecError, read_capped};

/// Decompresses one or more concatenated zstd frames.
///
/// The decoder's window (its history buffer, allocated up front) is capped at the larger of `max`
/// and [`MIN_WINDOW_LIMIT`]: streaming producers declare windows of a few MiB whatever the batch
/// size, so a smaller limit would refuse real batches.
pub(super) fn decompress(input: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    let max_window = max.max(MIN_WINDOW_LIMIT) as u64;
    read_capped(Frames::new(input, max_window), max, input.len().saturating_mul(4))
}

/// The smallest window limit: 8 MiB (zstd's window at compression level 19).
pub(crate) const MIN_WINDOW_LIMIT: usize = 8 * 1024 * 1024;

/// A reader over every frame in the input.
struct Frames<'a> {
    rest: &'a [u8],
    max_window: u64,
    current: Option<StreamingDecoder<&'a [u8], FrameDecoder>>,
}

impl<'a> Frames<'a> {
    fn new(input: &'a [u8], max_window: u64) -> Self {
        Frames {
            rest: input,
            max_window,
            current: None,
        }
    }
}

impl Read for Frames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(decoder) = &mut self.current {
                let n = decoder.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                // This frame is done; the source slice has advanced past it.
                self.rest = *decoder.get_ref();
                self.current = None;
            }
            if self.rest.is_empty() {
                return Ok(0);
            }
            let mut frame = FrameDecoder::new();
            frame.set_max_window_size(self.max_window);
            let decoder =
                StreamingDecoder::new_with_decoder(self.rest, frame).map_err(std::io::Error::other)?;
            self.current = Some(decoder);
        }
    }
}
