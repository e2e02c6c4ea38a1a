//! Limits for reading record batches.

/// Limits applied while reading record batches.
///
/// Built with [`RecordsConfig::default`] and adjusted with the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordsConfig {
    /// The largest size, in bytes, a compressed batch may decompress to. Decompression stops as
    /// soon as the output would pass it, so a decompression bomb costs at most this much memory
    /// (plus the codec's own state; for zstd, a window of at most the larger of this size and 8 MiB).
    /// Values above `i32::MAX` act as `i32::MAX`. Default: 64 MiB.
    pub max_decompressed_batch_size: usize,
}

impl RecordsConfig {
    /// The default maximum decompressed batch size: 64 MiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BATCH_SIZE: usize = 64 * 1024 * 1024;

    /// Sets [`RecordsConfig::max_decompressed_batch_size`].
    pub fn with_max_decompressed_batch_size(mut self, max: usize) -> Self {
        self.max_decompressed_batch_size = max;
        self
    }
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            max_decompressed_batch_size: Self::DEFAULT_MAX_DECOMPRESSED_BATCH_SIZE,
        }
    }
}
