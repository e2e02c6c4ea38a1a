//! Hostile and malformed inputs: each gives a typed error, never a panic or an outsized allocation.

use bytes::Bytes;

use super::*;
use crate::records::{Compression, PartitionRecords, RecordBatch, RecordsError};

fn records_error(batch: Vec<u8>) -> RecordsError {
    let batch = RecordBatch::parse(Bytes::from(batch)).unwrap();
    match batch.records(&RecordsConfig::default()) {
        Err(e) => e,
        Ok(records) => records
            .filter_map(Result::err)
            .next()
            .expect("malformed records were accepted"),
    }
}

#[test]
fn record_count_i32_max_in_a_61_byte_batch_with_a_valid_crc() {
    let batch = raw_batch(0, 0, i32::MAX, &[]);
    assert_eq!(batch.len(), 61);
    let err = records_error(batch);
    assert!(
        matches!(
            err,
            RecordsError::RecordCountExceedsBytes {
                count: i32::MAX,
                available: 0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn record_count_beyond_the_bytes_of_a_compressed_batch() {
    let bytes = encode(&[kp_record(0, None, Some(b"v"), &[])], KpCompression::Gzip);
    let mut bytes = bytes.to_vec();
    bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    reseal(&mut bytes);
    assert!(matches!(
        records_error(bytes),
        RecordsError::RecordCountExceedsBytes { .. }
    ));
}

#[test]
fn negative_record_count() {
    let err = RecordBatch::parse(Bytes::from(raw_batch(0, 0, -5, &[]))).unwrap_err();
    assert_eq!(
        err,
        RecordsError::NegativeRecordCount {
            base_offset: 0,
            count: -5
        }
    );
}

#[test]
fn negative_record_length() {
    let mut payload = vec![];
    put_varint(&mut payload, -3);
    payload.extend_from_slice(&[0; 8]);
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(
        matches!(
            err,
            RecordsError::NegativeLength {
                field: "record length",
                length: -3
            }
        ),
        "{err:?}"
    );
}

#[test]
fn negative_key_value_and_header_lengths() {
    for (field, at) in [("key", 4), ("value", 5)] {
        let mut payload = raw_record(0, Some(b""), Some(b""), &[]);
        payload[at] = 0x05; // zig-zag -3 in place of the zero length
        let err = records_error(raw_batch(0, 0, 1, &payload));
        assert!(
            matches!(err, RecordsError::NegativeLength { field: f, length: -3 } if f == field),
            "{err:?}"
        );
    }
    let mut payload = raw_record(0, None, None, &[(b"", None)]);
    let header_key_len_at = payload.len() - 2;
    payload[header_key_len_at] = 0x01; // -1: a null header key
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(
        matches!(
            err,
            RecordsError::NegativeLength {
                field: "header key",
                ..
            }
        ),
        "{err:?}"
    );
    let mut payload = raw_record(0, None, None, &[]);
    let count_at = payload.len() - 1;
    payload[count_at] = 0x03; // header count -2
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(
        matches!(
            err,
            RecordsError::NegativeLength {
                field: "header count",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn header_count_beyond_the_record_is_truncation_not_allocation() {
    let mut payload = raw_record(0, None, None, &[]);
    let count_at = payload.len() - 1;
    payload.truncate(count_at);
    payload.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]); // i32::MAX headers
    payload[0] += 4; // the record length covers the longer count
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(matches!(err, RecordsError::Truncated { .. }), "{err:?}");
}

#[test]
fn runaway_varints() {
    let mut payload = vec![0xff; 12];
    payload.push(0);
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(
        matches!(
            err,
            RecordsError::VarintTooLong {
                field: "record length"
            }
        ),
        "{err:?}"
    );
    // A runaway varlong timestamp delta inside an otherwise sane record.
    let mut body = vec![0u8];
    body.extend_from_slice(&[0xff; 11]);
    body.extend_from_slice(&[0, 1, 1, 0]);
    let mut payload = vec![];
    put_varint(&mut payload, body.len() as i64);
    payload.extend_from_slice(&body);
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(
        matches!(
            err,
            RecordsError::VarintTooLong {
                field: "timestamp delta"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_crc() {
    let mut bytes = encode(&[kp_record(0, Some(b"k"), Some(b"v"), &[])], KpCompression::None).to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let err = RecordBatch::parse(Bytes::from(bytes.clone())).unwrap_err();
    assert!(matches!(err, RecordsError::Crc { base_offset: 0, .. }), "{err:?}");
    // And through the splitter, the error surfaces instead of records.
    let err = PartitionRecords::new(Bytes::from(bytes), RecordsConfig::default())
        .next()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, RecordsError::Crc { .. }), "{err:?}");
}

#[test]
fn unknown_codec() {
    for codec in 5..=7u8 {
        let err = RecordBatch::parse(Bytes::from(raw_batch(9, i16::from(codec), 0, &[]))).unwrap_err();
        assert_eq!(
            err,
            RecordsError::UnknownCompression {
                base_offset: 9,
                codec
            }
        );
    }
}

#[test]
fn truncated_compressed_payloads_for_every_codec() {
    let records: Vec<KpRecord> = (0..100)
        .map(|i| kp_record(i, None, Some(&[i as u8; 64]), &[]))
        .collect();
    for codec in &CODECS[1..] {
        let bytes = encode(&records, *codec);
        let batch_len = bytes.len();
        for cut in [1, 5, (batch_len - 61) / 2, batch_len - 61 - 1] {
            let mut b = bytes[..batch_len - cut].to_vec();
            let new_len = (b.len() - 12) as i32;
            b[8..12].copy_from_slice(&new_len.to_be_bytes());
            reseal(&mut b);
            let batch = RecordBatch::parse(Bytes::from(b)).unwrap();
            let result = batch
                .records(&RecordsConfig::default())
                .and_then(|r| r.collect::<Result<Vec<_>, _>>());
            // A codec may accept a stream cut inside its trailer (lz4_flex stops at a missing end
            // mark); then the records must be exactly the original ones, never garbage.
            let err = match result {
                Ok(decoded) => {
                    assert_same(&decoded, &records);
                    continue;
                }
                Err(e) => e,
            };
            assert!(
                matches!(
                    err,
                    RecordsError::Decompress { .. }
                        | RecordsError::RecordCountExceedsBytes { .. }
                        | RecordsError::Truncated { .. }
                ),
                "{codec:?} cut by {cut}: {err:?}"
            );
        }
    }
}

#[test]
fn decompression_bomb_is_stopped_at_the_cap_for_every_codec() {
    // 4 MiB of zeros compresses to a few KiB; the cap is 1 MiB.
    let records = [kp_record(0, None, Some(&vec![0u8; 4 << 20]), &[])];
    let config = RecordsConfig::default().with_max_decompressed_batch_size(1 << 20);
    for codec in &CODECS[1..] {
        let bytes = encode(&records, *codec);
        assert!(bytes.len() < 1 << 20, "{codec:?} did not compress");
        let batch = RecordBatch::parse(bytes).unwrap();
        let err = batch.records(&config).unwrap_err();
        assert!(
            matches!(err, RecordsError::DecompressedTooLarge { max: 1_048_576, .. }),
            "{codec:?}: {err:?}"
        );
        // Under the default cap the same batch decodes.
        assert_eq!(batch.records(&RecordsConfig::default()).unwrap().count(), 1);
    }
}

#[test]
fn snappy_block_preamble_beyond_the_cap_is_rejected_before_allocating() {
    // A raw snappy block claiming a 4 GiB output: the preamble alone is refused.
    let mut payload = vec![];
    let mut n: u64 = 0xffff_ffff;
    while n >= 0x80 {
        payload.push((n as u8) | 0x80);
        n >>= 7;
    }
    payload.push(n as u8);
    payload.extend_from_slice(&[0; 4]);
    let batch = RecordBatch::parse(Bytes::from(raw_batch(0, 2, 1, &payload))).unwrap();
    let err = batch.records(&RecordsConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            RecordsError::DecompressedTooLarge {
                codec: Compression::Snappy,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn message_formats_v0_and_v1_are_rejected_with_advice() {
    for magic in [0u8, 1] {
        let mut b = raw_batch(5, 0, 0, &[]);
        b[16] = magic;
        let err = Batches::new(Bytes::from(b)).next().unwrap().unwrap_err();
        assert_eq!(
            err,
            RecordsError::UnsupportedMagic {
                magic: magic as i8,
                base_offset: 5
            }
        );
        let text = err.to_string();
        assert!(text.contains(&format!("message format v{magic}")), "{text}");
        assert!(text.contains("0.11"), "{text}");
    }
    let mut b = raw_batch(5, 0, 0, &[]);
    b[16] = 9;
    let err = Batches::new(Bytes::from(b)).next().unwrap().unwrap_err();
    assert!(err.to_string().contains("unknown message format"), "{err}");
}

#[test]
fn invalid_batch_lengths() {
    let mut b = raw_batch(0, 0, 0, &[]);
    b[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    let err = Batches::new(Bytes::from(b.clone())).next().unwrap().unwrap_err();
    assert_eq!(
        err,
        RecordsError::InvalidBatchLength {
            base_offset: 0,
            length: -1
        }
    );
    b[8..12].copy_from_slice(&48i32.to_be_bytes());
    let err = Batches::new(Bytes::from(b)).next().unwrap().unwrap_err();
    assert_eq!(
        err,
        RecordsError::InvalidBatchLength {
            base_offset: 0,
            length: 48
        }
    );
}

#[test]
fn offset_and_timestamp_overflow_are_errors() {
    // Base offset near i64::MAX with a positive delta.
    let payload = raw_record(5, None, Some(b"v"), &[]);
    let mut b = raw_batch(i64::MAX - 2, 0, 1, &payload);
    b[23..27].copy_from_slice(&0i32.to_be_bytes());
    reseal(&mut b);
    let err = records_error(b);
    assert!(
        matches!(
            err,
            RecordsError::Overflow {
                field: "record offset",
                ..
            }
        ),
        "{err:?}"
    );
    // Last offset overflow is caught in the header.
    let mut b = raw_batch(i64::MAX, 0, 2, &[]);
    reseal(&mut b);
    let err = RecordBatch::parse(Bytes::from(b)).unwrap_err();
    assert!(
        matches!(
            err,
            RecordsError::Overflow {
                field: "last offset",
                ..
            }
        ),
        "{err:?}"
    );
    // Timestamp overflow.
    let mut b = raw_batch(0, 0, 1, &raw_record(0, None, None, &[]));
    b[27..35].copy_from_slice(&(i64::MAX - 1).to_be_bytes());
    reseal(&mut b);
    let err = records_error(b);
    assert!(
        matches!(
            err,
            RecordsError::Overflow {
                field: "record timestamp",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn record_length_that_disagrees_with_its_fields() {
    let mut payload = raw_record(0, Some(b"k"), Some(b"v"), &[]);
    payload[0] += 2; // claims two more bytes than its fields take
    payload.extend_from_slice(&[0, 0]);
    let err = records_error(raw_batch(0, 0, 1, &payload));
    assert!(
        matches!(err, RecordsError::RecordLengthMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn bytes_after_the_last_record() {
    let mut payload = raw_record(0, Some(b"k"), Some(b"v"), &[]);
    payload.extend_from_slice(&[0; 9]);
    let err = records_error(raw_batch(3, 0, 1, &payload));
    assert_eq!(
        err,
        RecordsError::TrailingBytes {
            base_offset: 3,
            count: 9
        }
    );
}

#[test]
fn negative_last_offset_delta() {
    let mut b = raw_batch(0, 0, 0, &[]);
    b[23..27].copy_from_slice(&(-1i32).to_be_bytes());
    reseal(&mut b);
    let err = RecordBatch::parse(Bytes::from(b)).unwrap_err();
    assert!(matches!(err, RecordsError::InvalidBatchHeader { .. }), "{err:?}");
}

#[test]
fn control_batch_with_a_short_key() {
    let payload = raw_record(0, Some(b"\x00"), None, &[]);
    let batch = RecordBatch::parse(Bytes::from(raw_batch(0, 0x30, 1, &payload))).unwrap();
    let err = batch.control_record(&RecordsConfig::default()).unwrap_err();
    assert!(
        matches!(err, RecordsError::InvalidControlRecord { .. }),
        "{err:?}"
    );
}

#[test]
fn zstd_frame_asking_for_a_huge_window_is_refused_before_allocating() {
    // Magic, frame header descriptor 0 (no single segment, no checksum, no dictionary), then a
    // window descriptor of 2^40 bytes (exponent 30), then a raw block header.
    let payload = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 30 << 3, 0x01, 0x00, 0x00];
    let batch = RecordBatch::parse(Bytes::from(raw_batch(0, 4, 1, &payload))).unwrap();
    let err = batch.records(&RecordsConfig::default()).unwrap_err();
    assert!(
        matches!(&err, RecordsError::Decompress { codec: Compression::Zstd, reason, .. } if reason.contains("window")),
        "{err:?}"
    );
}

#[test]
fn gzip_bomb_of_concatenated_members_is_stopped_at_the_cap() {
    // Many gzip members, each of zeros: the cap applies to their sum.
    use std::io::Write;
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0u8; 256 * 1024]).unwrap();
    let member = member.finish().unwrap();
    let payload: Vec<u8> = member.iter().copied().cycle().take(member.len() * 8).collect();
    let batch = RecordBatch::parse(Bytes::from(raw_batch(0, 1, 1, &payload))).unwrap();
    let config = RecordsConfig::default().with_max_decompressed_batch_size(1 << 20);
    let err = batch.records(&config).unwrap_err();
    assert!(
        matches!(
            err,
            RecordsError::DecompressedTooLarge {
                codec: Compression::Gzip,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn records_errors_become_protocol_errors_that_keep_the_detail() {
    let err = RecordBatch::parse(Bytes::from(raw_batch(0, 7, 0, &[]))).unwrap_err();
    let public: crate::Error = err.into();
    assert_eq!(public.kind(), crate::ErrorKind::Protocol);
    let source = std::error::Error::source(&public)
        .expect("source kept")
        .to_string();
    assert!(source.contains("unknown compression codec 7"), "{source}");
}
