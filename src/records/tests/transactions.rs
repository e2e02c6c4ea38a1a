//! `read_committed` filtering, truncated tails and the fetch position, on batches built with
//! kafka-protocol's encoder.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::records::{AbortedTransaction, IncompleteBatch, PartitionRecords};

fn txn_batch(producer_id: i64, offsets: std::ops::Range<i64>) -> Bytes {
    let records: Vec<KpRecord> = offsets
        .map(|o| {
            let mut r = kp_record(o, None, Some(format!("p{producer_id}-{o}").as_bytes()), &[]);
            r.transactional = true;
            r.producer_id = producer_id;
            r.producer_epoch = 0;
            r
        })
        .collect();
    encode(&records, KpCompression::None)
}

fn marker(producer_id: i64, offset: i64, commit: bool) -> Bytes {
    let key = [0, 0, 0, u8::from(commit)];
    let mut r = kp_record(offset, Some(&key), Some(&[0, 0, 0, 0, 0, 0]), &[]);
    r.control = true;
    r.transactional = true;
    r.producer_id = producer_id;
    r.producer_epoch = 0;
    encode(&[r], KpCompression::None)
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut b = BytesMut::new();
    for p in parts {
        b.extend_from_slice(p);
    }
    b.freeze()
}

/// Producer 1 commits offsets 0..3 (marker at 6), producer 2 aborts 3..6 (marker at 7),
/// then a plain record at 8.
fn interleaved() -> Bytes {
    concat(&[
        txn_batch(1, 0..3),
        txn_batch(2, 3..6),
        marker(1, 6, true),
        marker(2, 7, false),
        encode(&[kp_record(8, None, Some(b"plain"), &[])], KpCompression::None),
    ])
}

fn offsets(p: PartitionRecords) -> Vec<i64> {
    p.map(|r| r.unwrap().offset()).collect()
}

#[test]
fn read_committed_skips_aborted_transactions_and_markers() {
    let aborted = [AbortedTransaction {
        producer_id: 2,
        first_offset: 3,
    }];
    let mut p = PartitionRecords::new(interleaved(), RecordsConfig::default()).read_committed(aborted);
    let seen: Vec<i64> = p.by_ref().map(|r| r.unwrap().offset()).collect();
    assert_eq!(seen, vec![0, 1, 2, 8]);
    assert_eq!(p.next_offset(), Some(9));
}

#[test]
fn read_uncommitted_sees_aborted_records_but_not_markers() {
    let p = PartitionRecords::new(interleaved(), RecordsConfig::default());
    assert_eq!(offsets(p), vec![0, 1, 2, 3, 4, 5, 8]);
}

#[test]
fn an_aborted_producer_is_read_again_after_its_abort_marker() {
    // Producer 2 aborts 0..2 (marker at 2), then writes a committed transaction 3..5 (marker at 5).
    let bytes = concat(&[
        txn_batch(2, 0..2),
        marker(2, 2, false),
        txn_batch(2, 3..5),
        marker(2, 5, true),
    ]);
    let aborted = [AbortedTransaction {
        producer_id: 2,
        first_offset: 0,
    }];
    let p = PartitionRecords::new(bytes, RecordsConfig::default()).read_committed(aborted);
    assert_eq!(offsets(p), vec![3, 4]);
}

#[test]
fn aborted_transactions_of_other_producers_do_not_hide_records() {
    let aborted = [AbortedTransaction {
        producer_id: 99,
        first_offset: 0,
    }];
    let p = PartitionRecords::new(interleaved(), RecordsConfig::default()).read_committed(aborted);
    assert_eq!(offsets(p), vec![0, 1, 2, 3, 4, 5, 8]);
}

#[test]
fn truncated_last_batch_is_fetch_more_not_an_error() {
    let full = interleaved();
    let last = encode(&[kp_record(9, None, Some(&[1; 200]), &[])], KpCompression::None);
    for cut in [1usize, 11, 12, 17, 60, last.len() - 1] {
        let bytes = concat(&[full.clone(), last.slice(..cut)]);
        let mut p = PartitionRecords::new(bytes, RecordsConfig::default());
        let seen: Vec<i64> = p.by_ref().map(|r| r.unwrap().offset()).collect();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5, 8], "cut at {cut}");
        assert_eq!(p.next_offset(), Some(9));
        let incomplete = p.incomplete().unwrap();
        assert_eq!(incomplete.available, cut);
        if cut >= 12 {
            assert_eq!(
                incomplete,
                IncompleteBatch {
                    base_offset: Some(9),
                    size: Some(last.len()),
                    available: cut
                }
            );
        } else {
            assert_eq!(incomplete.size, None);
        }
    }
}

#[test]
fn records_before_the_fetch_offset_are_skipped() {
    let p = PartitionRecords::new(interleaved(), RecordsConfig::default()).starting_at(4);
    assert_eq!(offsets(p), vec![4, 5, 8]);
}

#[test]
fn empty_fetch_has_no_records_and_no_position() {
    let mut p = PartitionRecords::new(Bytes::new(), RecordsConfig::default());
    assert!(p.next().is_none());
    assert_eq!(p.next_offset(), None);
    assert_eq!(p.incomplete(), None);
}
