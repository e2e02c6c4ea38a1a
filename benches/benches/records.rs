//! Decoding 1000-record batches (100-byte values), uncompressed and with each codec:
//! kafkit's reader (owned `Record`s, and borrowed `RecordRef`s), kafka-protocol's `RecordBatchDecoder` on the same bytes, and CRC32C + memcpy
//! over the same bytes as the ceiling. Each case touches every record's key, value and headers.
//!
//! Run: `cargo bench -p kafkit-benches --bench records -- --warm-up-time 1 --measurement-time 3`
//! Throughput is reported per record; MB/s is the batch's wire size over the time per batch
//! (printed with the sizes at the start).

// Bench code: a failure to build the input is a bug in the bench.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafkit::records::{PartitionRecords, RecordsConfig};

const RECORDS: i64 = 1000;
const VALUE_SIZE: usize = 100;

/// 1000 records: an 8–10 byte key, a 100-byte value of mixed text (compressible, not trivially),
/// one header.
fn batch(compression: Compression) -> Bytes {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let words = [
        &b"kafka "[..],
        b"record ",
        b"offset ",
        b"value ",
        b"42 ",
        b"consumer ",
    ];
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let mut value = Vec::with_capacity(VALUE_SIZE);
            while value.len() < VALUE_SIZE {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                value.extend_from_slice(words[(seed % words.len() as u64) as usize]);
                value.push(b'a' + (seed >> 8) as u8 % 26);
            }
            value.truncate(VALUE_SIZE);
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("trace-id"),
                Some(Bytes::from(format!("t-{i:08}"))),
            );
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i as i32,
                timestamp: 1_700_000_000_000 + i,
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(value)),
                headers,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

/// Touches a byte string: its length and its first and last bytes.
#[inline(always)]
fn touch(b: &[u8]) -> u64 {
    b.len() as u64 + u64::from(b.first().copied().unwrap_or(0)) + u64::from(b.last().copied().unwrap_or(0))
}

fn kafkit(bytes: &Bytes, config: RecordsConfig) -> u64 {
    let mut sum = 0;
    for record in PartitionRecords::new(bytes.clone(), config) {
        let record = record.unwrap();
        sum += record.key().map_or(0, touch);
        sum += record.value().map_or(0, touch);
        for header in record.headers() {
            sum += touch(header.key()) + header.value().map_or(0, touch);
        }
    }
    sum
}

/// The same, borrowing each record from its batch instead of taking a reference to the buffer.
fn kafkit_borrowed(bytes: &Bytes, config: RecordsConfig) -> u64 {
    let mut sum = 0;
    let mut partition = PartitionRecords::new(bytes.clone(), config);
    while let Some(record) = partition.next_ref() {
        let record = record.unwrap();
        sum += record.key().map_or(0, touch);
        sum += record.value().map_or(0, touch);
        for header in record.headers() {
            sum += touch(header.key()) + header.value().map_or(0, touch);
        }
    }
    sum
}

fn kafka_protocol(bytes: &Bytes) -> u64 {
    let mut buf = bytes.clone();
    let mut sum = 0;
    for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
        for record in set.records {
            sum += record.key.as_deref().map_or(0, touch);
            sum += record.value.as_deref().map_or(0, touch);
            for (k, v) in &record.headers {
                sum += touch(k.as_bytes()) + v.as_deref().map_or(0, touch);
            }
        }
    }
    sum
}

fn ceiling(bytes: &Bytes, scratch: &mut [u8]) -> u64 {
    let crc = crc32c::crc32c(bytes);
    scratch.copy_from_slice(bytes);
    u64::from(crc) + touch(scratch)
}

fn bench(c: &mut Criterion) {
    let config = RecordsConfig::default();
    for (name, compression) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let bytes = batch(compression);
        assert_eq!(
            kafkit(&bytes, config),
            kafka_protocol(&bytes),
            "decoders disagree on {name}"
        );
        println!(
            "records/{name}: batch of {RECORDS} records is {} bytes on the wire",
            bytes.len()
        );
        let mut group = c.benchmark_group(format!("records/{name}"));
        group.throughput(Throughput::Elements(RECORDS as u64));
        assert_eq!(kafkit(&bytes, config), kafkit_borrowed(&bytes, config));
        group.bench_function("kafkit", |b| b.iter(|| kafkit(black_box(&bytes), config)));
        group.bench_function("kafkit-borrowed", |b| {
            b.iter(|| kafkit_borrowed(black_box(&bytes), config))
        });
        group.bench_function("kafka-protocol", |b| b.iter(|| kafka_protocol(black_box(&bytes))));
        let mut scratch = vec![0u8; bytes.len()];
        group.bench_function("crc32c+memcpy", |b| {
            b.iter(|| ceiling(black_box(&bytes), black_box(&mut scratch)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
