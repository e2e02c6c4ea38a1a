//! kafkit's reader against kafka-protocol's encoder and decoder, for every codec.

use bytes::Bytes;

use super::*;
use crate::records::{
    BatchVerdict, ControlRecordType, PartitionRecords, RecordBatch, TimestampType, TransactionFilter,
};

fn check(records: &[KpRecord], compression: KpCompression) {
    let bytes = encode(records, compression);
    let ours = read_all(bytes.clone());
    let theirs = kp_read_all(bytes);
    assert_same(&ours, &theirs);
    assert_same(&ours, records);
}

fn mixed_records(n: i64) -> Vec<KpRecord> {
    (0..n)
        .map(|i| {
            let key = format!("key-{i}");
            let value = vec![(i % 251) as u8; (i as usize * 13) % 300];
            match i % 5 {
                0 => kp_record(i, Some(key.as_bytes()), Some(&value), &[]),
                1 => kp_record(
                    i,
                    None,
                    Some(&value),
                    &[("trace", Some(b"abc")), ("empty", Some(b""))],
                ),
                2 => kp_record(i, Some(key.as_bytes()), None, &[("null-valued", None)]),
                3 => kp_record(i, Some(b""), Some(b""), &[]),
                _ => kp_record(
                    i,
                    None,
                    None,
                    &[("a", Some(&value)), ("b", None), ("c", Some(b"x"))],
                ),
            }
        })
        .collect()
}

#[test]
fn single_record_matches_kafka_protocol_for_every_codec() {
    for codec in CODECS {
        check(
            &[kp_record(42, Some(b"k"), Some(b"v"), &[("h", Some(b"1"))])],
            codec,
        );
    }
}

#[test]
fn many_records_with_and_without_keys_null_values_and_headers_match_for_every_codec() {
    let records = mixed_records(1000);
    for codec in CODECS {
        check(&records, codec);
    }
}

#[test]
fn records_without_keys_or_headers_match_for_every_codec() {
    let records: Vec<KpRecord> = (0..200)
        .map(|i| kp_record(i, None, Some(&[7u8; 100]), &[]))
        .collect();
    for codec in CODECS {
        check(&records, codec);
    }
}

#[test]
fn several_batches_in_one_buffer_match_for_every_codec() {
    // A change of producer id starts a new batch.
    let mut records = mixed_records(30);
    for r in &mut records[10..20] {
        r.producer_id = 9;
        r.producer_epoch = 0;
        r.sequence = r.offset as i32;
    }
    for codec in CODECS {
        let bytes = encode(&records, codec);
        assert_eq!(Batches::new(bytes).count(), 3);
        check(&records, codec);
    }
}

#[test]
fn offsets_with_gaps_match_kafka_protocol() {
    // Compacted topics leave gaps; base offsets can be large.
    let records: Vec<KpRecord> = [1_000_000_000_000i64, 1_000_000_000_003, 1_000_000_000_010]
        .iter()
        .map(|&o| kp_record(o, Some(b"k"), Some(b"v"), &[]))
        .collect();
    for codec in CODECS {
        check(&records, codec);
    }
}

fn control_batch(producer_id: i64, offset: i64, kind: i16, compression: KpCompression) -> Bytes {
    let mut key = vec![0, 0];
    key.extend_from_slice(&kind.to_be_bytes());
    let mut r = kp_record(offset, Some(&key), Some(&[0, 0, 0, 0, 0, 5]), &[]);
    r.control = true;
    r.transactional = true;
    r.producer_id = producer_id;
    r.producer_epoch = 1;
    encode(&[r], compression)
}

#[test]
fn control_batches_are_read_and_skipped_for_every_codec() {
    for codec in CODECS {
        for (kind, expected) in [(0, ControlRecordType::Abort), (1, ControlRecordType::Commit)] {
            let bytes = control_batch(77, 10, kind, codec);
            let batch = RecordBatch::parse(bytes.clone()).unwrap();
            assert!(batch.is_control());
            let marker = batch.control_record(&RecordsConfig::default()).unwrap().unwrap();
            assert_eq!(marker.kind, expected);
            assert_eq!(marker.version, 0);
            let mut filter = TransactionFilter::read_uncommitted();
            assert_eq!(
                filter.handle_batch(&batch, &RecordsConfig::default()).unwrap(),
                BatchVerdict::SkipControl
            );
            // The raw records are the same as kafka-protocol's.
            assert_same(&read_all(bytes.clone()), &kp_read_all(bytes.clone()));
            // A consumer sees nothing, and moves past the marker.
            let mut partition = PartitionRecords::new(bytes, RecordsConfig::default());
            assert!(partition.next().is_none());
            assert_eq!(partition.next_offset(), Some(11));
        }
    }
}

#[test]
fn batch_header_fields_match_kafka_protocol() {
    let mut records = mixed_records(5);
    for r in &mut records {
        r.producer_id = 1234;
        r.producer_epoch = 5;
        r.sequence = 100 + r.offset as i32;
        r.transactional = true;
        r.partition_leader_epoch = 17;
    }
    for codec in CODECS {
        let bytes = encode(&records, codec);
        let batch = RecordBatch::parse(bytes.clone()).unwrap();
        let h = batch.header();
        assert_eq!(h.producer_id, 1234);
        assert_eq!(h.producer_epoch, 5);
        assert_eq!(h.base_sequence, 100);
        assert_eq!(h.partition_leader_epoch, 17);
        assert!(h.is_transactional());
        assert!(!h.is_control());
        assert_eq!(h.record_count, 5);
        assert_eq!(batch.last_offset(), 4);
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        let mut buf = bytes;
        let info = RecordBatchDecoder::decode_batch_info(&mut buf).unwrap();
        assert_eq!(info[0].record_count, h.record_count);
        assert_eq!(info[0].min_timestamp, h.base_timestamp);
    }
}

#[test]
fn log_append_time_batches_use_the_batch_max_timestamp_like_kafka() {
    let records: Vec<KpRecord> = (0..3).map(|i| kp_record(i, None, Some(b"v"), &[])).collect();
    let mut bytes = encode(&records, KpCompression::None).to_vec();
    bytes[22] |= 0x08; // attributes low byte: timestamp type = log append time
    bytes[35..43].copy_from_slice(&5_555i64.to_be_bytes()); // max timestamp
    reseal(&mut bytes);
    for r in read_all(Bytes::from(bytes)) {
        assert_eq!(r.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(r.timestamp(), 5_555);
    }
}

#[test]
fn uncompressed_keys_values_and_headers_share_the_fetch_buffer() {
    let bytes = encode(
        &[kp_record(0, Some(b"key"), Some(b"value"), &[("h", Some(b"hv"))])],
        KpCompression::None,
    );
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    let record = read_all(bytes.clone()).remove(0);
    let header = record.headers().iter().next().unwrap();
    for part in [
        record.key_bytes().unwrap(),
        record.value_bytes().unwrap(),
        header.key_bytes(),
        header.value_bytes().unwrap(),
    ] {
        assert!(
            range.contains(&(part.as_ptr() as usize)),
            "not a slice of the fetch buffer"
        );
    }
}

#[test]
fn duplicate_header_keys_are_kept_in_order() {
    let payload = raw_record(
        0,
        None,
        Some(b"v"),
        &[(b"k", Some(b"1")), (b"k", None), (b"k", Some(b"3"))],
    );
    let batch = raw_batch(0, 0, 1, &payload);
    let record = read_all(Bytes::from(batch)).remove(0);
    let values: Vec<Option<Bytes>> = record.headers().iter().map(|h| h.value_bytes()).collect();
    assert_eq!(
        values,
        vec![
            Some(Bytes::from_static(b"1")),
            None,
            Some(Bytes::from_static(b"3"))
        ]
    );
    assert_eq!(record.headers().last(b"k"), Some(Some(&b"3"[..])));
    assert_eq!(record.headers().last(b"missing"), None);
    assert_eq!(record.headers().len(), 3);
}

#[test]
fn borrowed_records_match_owned_records_for_every_codec() {
    let records = mixed_records(50);
    for codec in CODECS {
        let bytes = encode(&records, codec);
        let owned: Vec<Record> = PartitionRecords::new(bytes.clone(), RecordsConfig::default())
            .map(Result::unwrap)
            .collect();
        let mut partition = PartitionRecords::new(bytes, RecordsConfig::default());
        let mut borrowed = vec![];
        while let Some(r) = partition.next_ref() {
            let r = r.unwrap();
            assert_eq!(r.to_owned().as_ref(), r);
            borrowed.push(r.to_owned());
        }
        assert_eq!(owned, borrowed, "{codec:?}");
        assert_eq!(partition.next_offset(), Some(50));
    }
}
