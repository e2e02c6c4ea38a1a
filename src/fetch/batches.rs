//! Where the complete record batches of a fetched partition end.

/// Where the complete batches of a fetched partition end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Complete {
    /// Their length in bytes.
    pub(super) len: usize,
    /// The offset after the last of them.
    pub(super) next_offset: i64,
    /// The partition leader epoch of the last of them that names one (magic 2), or -1.
    pub(super) last_epoch: i32,
}

/// Scans batch headers (no CRC, no records) to find where the complete batches end, the offset
/// after the last of them and its leader epoch. `None` when no batch is complete.
pub(super) fn complete_batches(records: &[u8]) -> Option<Complete> {
    let mut pos = 0usize;
    let mut next_offset = None;
    let mut last_epoch = -1;
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
        // partition_leader_epoch (4) then magic (1) follow batch_length; older magics have a CRC there.
        if records.get(pos + 16) == Some(&2) {
            let epoch = i32::from_be_bytes(records.get(pos + 12..pos + 16)?.try_into().ok()?);
            if epoch >= 0 {
                last_epoch = epoch;
            }
        }
        next_offset = Some(
            base_offset
                .checked_add(i64::from(last_offset_delta))?
                .checked_add(1)?,
        );
        pos = end;
    }
    next_offset.map(|next_offset| Complete {
        len: pos,
        next_offset,
        last_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::{Complete, complete_batches};

    fn batch(base: i64, delta: i32, len: i32) -> Vec<u8> {
        epoch_batch(base, delta, len, 4)
    }

    fn epoch_batch(base: i64, delta: i32, len: i32, epoch: i32) -> Vec<u8> {
        let mut b = vec![0u8; 12 + len as usize];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[12..16].copy_from_slice(&epoch.to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b
    }

    fn complete(len: usize, next_offset: i64, last_epoch: i32) -> Option<Complete> {
        Some(Complete {
            len,
            next_offset,
            last_epoch,
        })
    }

    #[test]
    fn finds_complete_batches_and_ignores_a_truncated_tail() {
        let mut bytes = epoch_batch(10, 4, 60, 3);
        bytes.extend(epoch_batch(15, 0, 49, 5));
        let whole = bytes.len();
        bytes.extend(&epoch_batch(16, 9, 100, 6)[..50]);
        assert_eq!(complete_batches(&bytes), complete(whole, 16, 5));
        assert_eq!(complete_batches(&bytes[..whole - 1]), complete(72, 15, 3));
        assert_eq!(complete_batches(&bytes[..20]), None);
        assert_eq!(complete_batches(&[]), None);
    }

    #[test]
    fn the_last_epoch_is_the_last_batch_that_names_one() {
        let mut bytes = epoch_batch(0, 0, 49, 7);
        bytes.extend(epoch_batch(1, 0, 49, -1));
        let mut legacy = epoch_batch(2, 0, 49, 9);
        legacy[16] = 1;
        bytes.extend(legacy);
        assert_eq!(complete_batches(&bytes).map(|c| c.last_epoch), Some(7));
        assert_eq!(complete_batches(&bytes[61..]).map(|c| c.last_epoch), Some(-1));
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
