//! Snappy, through `snap`: raw snappy (what librdkafka writes) and the xerial framing (what Kafka's
//! Java producer writes: a 16-byte header starting `\x82SNAPPY\0`, then blocks, each a big-endian
//! `u32` length and a raw snappy block).

use snap::raw::{Decoder, decompress_len};

use super::CodecError;

/// The xerial header's magic prefix; it is followed by a version and a compatible version (`i32`s).
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// Decompresses a raw or xerial-framed snappy payload to at most `max` bytes.
///
/// Each block's decompressed length is read from its preamble and checked against what is left of
/// `max` before anything is allocated for it.
pub(super) fn decompress(input: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    match input.strip_prefix(XERIAL_MAGIC) {
        Some(_) => {
            let mut rest = input
                .get(XERIAL_HEADER_LEN..)
                .ok_or_else(|| CodecError::Invalid("xerial snappy header is truncated".into()))?;
            while !rest.is_empty() {
                let (len, tail) = match rest {
                    [a, b, c, d, tail @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]) as usize, tail),
                    _ => {
                        return Err(CodecError::Invalid(
                            "xerial snappy block length is truncated".into(),
                        ));
                    }
                };
                let block = tail.get(..len).ok_or_else(|| {
                    CodecError::Invalid(format!("xerial snappy block of {len} bytes is truncated"))
                })?;
                rest = tail.get(len..).unwrap_or_default();
                append_block(&mut decoder, block, &mut out, max)?;
            }
        }
        None => append_block(&mut decoder, input, &mut out, max)?,
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto the end of `out`, keeping `out` within `max` bytes.
fn append_block(
    decoder: &mut Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), CodecError> {
    let len = decompress_len(block).map_err(|e| CodecError::Invalid(e.to_string()))?;
    let start = out.len();
    let end = start
        .checked_add(len)
        .filter(|&end| end <= max)
        .ok_or(CodecError::TooLarge)?;
    if end > out.capacity() {
        // Grow geometrically, but never past `max`.
        let target = end.max(out.capacity().saturating_mul(2)).min(max);
        out.reserve_exact(target - start);
    }
    out.resize(end, 0);
    let dest = out
        .get_mut(start..)
        .ok_or_else(|| CodecError::Invalid("snappy output out of range".into()))?;
    let written = decoder
        .decompress(block, dest)
        .map_err(|e| CodecError::Invalid(e.to_string()))?;
    if written != len {
        return Err(CodecError::Invalid(format!(
            "snappy block produced {written} bytes, its preamble says {len}"
        )));
    }
    Ok(())
}
