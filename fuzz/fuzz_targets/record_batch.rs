//! The record-batch reader on hostile bytes, three ways per input:
//! 1. as a fetch partition's `records` bytes (splitter, read_committed filter, lazy records);
//! 2. as one batch whose length and CRC32C are fixed up, so mutations reach the record parser;
//! 3. as the compressed records section of a batch for each codec, so mutations reach the
//!    decompressors.
//! Every path must end in records or a typed error: no panic, no overflow, no outsized allocation.
#![no_main]

use bytes::Bytes;
use kafkit::records::{AbortedTransaction, PartitionRecords, RecordBatch, RecordsConfig};
use libfuzzer_sys::fuzz_target;

/// A small cap keeps every input fast and far below libFuzzer's malloc limit.
const MAX_DECOMPRESSED: usize = 1 << 20;

fn drain(records: PartitionRecords) {
    for record in records {
        match record {
            Ok(r) => {
                std::hint::black_box((r.offset(), r.timestamp(), r.key(), r.value()));
                for h in r.headers() {
                    std::hint::black_box(h);
                }
            }
            Err(e) => {
                std::hint::black_box(e.to_string());
                break;
            }
        }
    }
}

fn read_batch(bytes: Vec<u8>, config: &RecordsConfig) {
    let Ok(batch) = RecordBatch::parse(Bytes::from(bytes)) else {
        return;
    };
    let _ = std::hint::black_box(batch.control_record(config));
    if let Ok(records) = batch.records(config) {
        for r in records {
            if r.is_err() {
                break;
            }
        }
    }
}

/// Sets the batch length to match `b` and recomputes the CRC32C.
fn seal(b: &mut [u8]) {
    if b.len() < 61 {
        return;
    }
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 2;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

fuzz_target!(|data: &[u8]| {
    let config = RecordsConfig::default().with_max_decompressed_batch_size(MAX_DECOMPRESSED);

    // 1. As fetched bytes, read_committed with an aborted list taken from the input.
    let aborted = data.chunks_exact(9).take(4).map(|c| AbortedTransaction {
        producer_id: i64::from(c[0] % 4) - 1,
        first_offset: i64::from(c[1]),
    });
    drain(PartitionRecords::new(Bytes::copy_from_slice(data), config).read_committed(aborted));
    drain(PartitionRecords::new(Bytes::copy_from_slice(data), config).starting_at(3));

    // 2. As one batch with a valid length and CRC.
    let mut sealed = data.to_vec();
    seal(&mut sealed);
    read_batch(sealed, &config);

    // 3. As a compressed records section, for each codec, behind a synthetic header.
    if let Some((&count, payload)) = data.split_first() {
        for codec in 1..=4i16 {
            let mut b = Vec::with_capacity(61 + payload.len());
            b.extend_from_slice(&0i64.to_be_bytes());
            b.extend_from_slice(&[0; 4]); // length, sealed
            b.extend_from_slice(&0i32.to_be_bytes());
            b.push(2);
            b.extend_from_slice(&[0; 4]); // crc, sealed
            b.extend_from_slice(&codec.to_be_bytes());
            b.extend_from_slice(&i32::from(count).to_be_bytes()); // last offset delta
            b.extend_from_slice(&[0; 8 + 8]);
            b.extend_from_slice(&(-1i64).to_be_bytes());
            b.extend_from_slice(&(-1i16).to_be_bytes());
            b.extend_from_slice(&(-1i32).to_be_bytes());
            b.extend_from_slice(&i32::from(count).to_be_bytes());
            b.extend_from_slice(payload);
            seal(&mut b);
            read_batch(b, &config);
        }
    }
});
