//! Tests of the record-batch reader: differential against kafka-protocol's encoder and decoder,
//! hostile inputs, transactions and properties. Helpers shared by them live here.

mod differential;
mod hostile;
mod properties;
mod transactions;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};

use super::{Batches, Record, RecordsConfig};

pub(super) const CODECS: [KpCompression; 5] = [
    KpCompression::None,
    KpCompression::Gzip,
    KpCompression::Snappy,
    KpCompression::Lz4,
    KpCompression::Zstd,
];

/// A plain (non-transactional) record for kafka-protocol's encoder.
pub(super) fn kp_record(
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> KpRecord {
    let mut map = IndexMap::new();
    for (k, v) in headers {
        map.insert(
            StrBytes::from_string((*k).to_string()),
            v.map(Bytes::copy_from_slice),
        );
    }
    KpRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 3,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: KpTimestampType::Creation,
        offset,
        sequence: offset as i32,
        timestamp: 1_700_000_000_000 + offset * 7,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: map,
    }
}

/// Encodes records as message-format-v2 batches with kafka-protocol's encoder.
pub(super) fn encode(records: &[KpRecord], compression: KpCompression) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

/// Every record of every batch, with kafkit's reader (control batches included).
pub(super) fn read_all(bytes: Bytes) -> Vec<Record> {
    let config = RecordsConfig::default();
    let mut out = vec![];
    let mut batches = Batches::new(bytes);
    for batch in &mut batches {
        for record in batch.unwrap().records(&config).unwrap() {
            out.push(record.unwrap());
        }
    }
    assert_eq!(batches.incomplete(), None);
    out
}

/// kafka-protocol's decoding of the same bytes.
pub(super) fn kp_read_all(bytes: Bytes) -> Vec<KpRecord> {
    let mut buf = bytes;
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .collect()
}

/// Asserts that kafkit's records are kafka-protocol's, field by field.
pub(super) fn assert_same(ours: &[Record], theirs: &[KpRecord]) {
    assert_eq!(ours.len(), theirs.len(), "record count");
    for (o, t) in ours.iter().zip(theirs) {
        assert_eq!(o.offset(), t.offset, "offset");
        assert_eq!(o.timestamp(), t.timestamp, "timestamp at offset {}", t.offset);
        assert_eq!(o.key(), t.key.as_deref(), "key at offset {}", t.offset);
        assert_eq!(o.value(), t.value.as_deref(), "value at offset {}", t.offset);
        let ours: Vec<(Bytes, Option<Bytes>)> = o
            .headers()
            .iter()
            .map(|h| (h.key_bytes(), h.value_bytes()))
            .collect();
        let theirs: Vec<(Bytes, Option<Bytes>)> = t
            .headers
            .iter()
            .map(|(k, v)| (Bytes::copy_from_slice(k.as_bytes()), v.clone()))
            .collect();
        assert_eq!(ours, theirs, "headers at offset {}", t.offset);
    }
}

/// Recomputes the CRC32C of the single batch in `batch` after a test changed its bytes.
pub(super) fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A minimal uncompressed batch header (61 bytes) for `payload` with `record_count` records.
pub(super) fn raw_batch(base_offset: i64, attributes: i16, record_count: i32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(61 + payload.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    b.extend_from_slice(&((49 + payload.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // crc, sealed below
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&(record_count.max(1) - 1).to_be_bytes()); // last offset delta
    b.extend_from_slice(&1_000i64.to_be_bytes()); // base timestamp
    b.extend_from_slice(&2_000i64.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&record_count.to_be_bytes());
    b.extend_from_slice(payload);
    reseal(&mut b);
    b
}

/// Appends a zig-zag varint.
pub(super) fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// One encoded record (length prefix included) with raw fields, for hand-made batches.
pub(super) fn raw_record(
    offset_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    put_varint(&mut body, 5); // timestamp delta
    put_varint(&mut body, offset_delta);
    for field in [key, value] {
        match field {
            None => put_varint(&mut body, -1),
            Some(b) => {
                put_varint(&mut body, b.len() as i64);
                body.extend_from_slice(b);
            }
        }
    }
    put_varint(&mut body, headers.len() as i64);
    for (k, v) in headers {
        put_varint(&mut body, k.len() as i64);
        body.extend_from_slice(k);
        match v {
            None => put_varint(&mut body, -1),
            Some(b) => {
                put_varint(&mut body, b.len() as i64);
                body.extend_from_slice(b);
            }
        }
    }
    let mut out = vec![];
    put_varint(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}
