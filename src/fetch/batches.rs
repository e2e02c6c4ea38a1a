//! Where the complete record batches of a fetched partition end.

/// Scans batch headers (no CRC, no records) to find where the complete batches end and the offset
/// after the last of them. `None` when no batch is complete.
pub(super) fn complete_batches(records: &[u8]) -> Option<(usize, i64)> {
    let mut pos = 0usize;
    let mut next_offset = None;
    // base_offset (8) + batch_length (4); the batch spans 12 + batch_length bytes.
    while let Some(header) = records.get(pos..pos + 12) {
        let base_offset = i64::from_be_bytes(header[0..8].try_into().ok()?);
        let length = i32::from_be_bytes(header[8..12].try_into().ok()?);
        // last_offset_delta sits at byte 23 of the batch.
        if length < 49 {
            break;
        }
        let end = pos.checked_add(12)?.checked_add(length as usize)?;
        if end > records.len() {
            break;
        }
        let delta = records.get(pos + 23..pos + 27)?;
        let last_offset_delta = i32::from_be_bytes(delta.try_into().ok()?);
        next_offset = Some(
            base_offset
                .checked_add(i64::from(last_offset_delta))?
                .checked_add(1)?,
        );
        pos = end;
    }
    next_offset.map(|n| (pos, n))
}

#[cfg(test)]
mod tests {
    use super::complete_batches;

    fn batch(base: i64, delta: i32, len: i32) -> Vec<u8> {
        let mut b = vec![0u8; 12 + len as usize];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b
    }

    #[test]
    fn finds_complete_batches_and_ignores_a_truncated_tail() {
        let mut bytes = batch(10, 4, 60);
        bytes.extend(batch(15, 0, 49));
        let whole = bytes.len();
        bytes.extend(&batch(16, 9, 100)[..50]);
        assert_eq!(complete_batches(&bytes), Some((whole, 16)));
        assert_eq!(complete_batches(&bytes[..whole - 1]), Some((72, 15)));
        assert_eq!(complete_batches(&bytes[..20]), None);
        assert_eq!(complete_batches(&[]), None);
    }

    #[test]
    fn hostile_headers_never_overflow() {
        assert_eq!(complete_batches(&batch(i64::MAX, i32::MAX, 60)), None);
        let mut b = batch(0, 0, i32::MAX);
        b.truncate(100);
        assert_eq!(complete_batches(&b), None);
        let mut negative = vec![0u8; 12];
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(complete_batches(&negative), None);
    }
}
