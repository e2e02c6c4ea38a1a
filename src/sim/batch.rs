//! A minimal record-batch (magic 2) encoder for simulated logs: uncompressed, one value per
//! record, CRC32C over the batch as Kafka computes it. The reader in `crate::records` checks it.

use bytes::{BufMut, Bytes, BytesMut};

fn varint(buf: &mut BytesMut, v: i64) {
    // Zigzag, then base-128.
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            buf.put_u8(byte);
            return;
        }
        buf.put_u8(byte | 0x80);
    }
}

/// One batch holding records `base..base + values.len()`, written in `leader_epoch`.
pub(crate) fn encode_batch(base: i64, leader_epoch: i32, values: &[Bytes]) -> Bytes {
    let mut records = BytesMut::new();
    for (delta, value) in values.iter().enumerate() {
        let mut r = BytesMut::new();
        r.put_i8(0); // attributes
        varint(&mut r, 0); // timestamp delta
        varint(&mut r, delta as i64); // offset delta
        varint(&mut r, -1); // null key
        varint(&mut r, value.len() as i64);
        r.put_slice(value);
        varint(&mut r, 0); // no headers
        varint(&mut records, r.len() as i64);
        records.put_slice(&r);
    }
    // Everything the CRC covers: attributes .. records.
    let mut tail = BytesMut::new();
    tail.put_i16(0); // attributes: no compression, create time, not transactional
    tail.put_i32(values.len().saturating_sub(1) as i32); // last offset delta
    tail.put_i64(1_700_000_000_000); // base timestamp
    tail.put_i64(1_700_000_000_000); // max timestamp
    tail.put_i64(-1); // producer id
    tail.put_i16(-1); // producer epoch
    tail.put_i32(-1); // base sequence
    tail.put_i32(values.len() as i32);
    tail.put_slice(&records);
    let crc = crc32c::crc32c(&tail);
    let mut out = BytesMut::new();
    out.put_i64(base);
    // partition leader epoch (4) + magic (1) + crc (4) + tail
    out.put_i32((4 + 1 + 4 + tail.len()) as i32);
    out.put_i32(leader_epoch);
    out.put_i8(2);
    out.put_u32(crc);
    out.put_slice(&tail);
    out.freeze()
}

/// The value of record `offset` of `partition` in simulations.
pub(crate) fn value(partition: i32, offset: i64) -> Bytes {
    Bytes::from(format!("p{partition}-{offset}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{PartitionRecords, RecordsConfig};

    #[test]
    fn batches_read_back_with_their_crc() {
        let mut bytes = BytesMut::new();
        bytes.put_slice(&encode_batch(10, 3, &[value(0, 10), value(0, 11)]));
        bytes.put_slice(&encode_batch(12, 3, &[value(0, 12)]));
        let records: Vec<(i64, Vec<u8>)> = PartitionRecords::new(bytes.freeze(), RecordsConfig::default())
            .starting_at(11)
            .map(|r| {
                let r = r.unwrap();
                (r.offset(), r.value().unwrap().to_vec())
            })
            .collect();
        assert_eq!(records, vec![(11, b"p0-11".to_vec()), (12, b"p0-12".to_vec())]);
    }
}
