//! Record batches captured from a real producer (librdkafka via confluent-kafka, through the Tansu
//! broker), one fixture per codec: kafkit's reader must decode each to exactly what was produced.
//! See `fixtures/README.md` and `fixtures/capture.py`.

// A test crate: failing loudly on unexpected input is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use kafkit::records::{Batches, Compression, PartitionRecords, RecordsConfig, TimestampType};

const RECORDS: i64 = 20;

type Headers = Vec<(String, Option<Vec<u8>>)>;

/// What `capture.py`'s `record(i, codec)` produced: key, value, headers.
fn expected(i: i64, codec: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>, Headers) {
    let key = (i % 3 != 2).then(|| format!("key-{i}").into_bytes());
    let value = (i % 4 != 3).then(|| format!("value-{i}-").repeat(i as usize + 1).into_bytes());
    let mut headers = vec![];
    if i % 2 == 0 {
        headers.push(("idx".to_string(), Some(i.to_string().into_bytes())));
        headers.push(("codec".to_string(), Some(codec.as_bytes().to_vec())));
    }
    if i % 5 == 0 {
        headers.push(("null".to_string(), None));
    }
    (key, value, headers)
}

fn fixture(codec: &str) -> Bytes {
    let path = format!("{}/fixtures/records-{codec}.bin", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn check(codec: &str, compression: Compression) {
    let bytes = fixture(codec);
    for batch in Batches::new(bytes.clone()) {
        assert_eq!(batch.unwrap().header().compression(), compression, "{codec}");
    }
    let mut partition = PartitionRecords::new(bytes, RecordsConfig::default());
    let records: Vec<_> = partition.by_ref().map(|r| r.unwrap()).collect();
    assert_eq!(records.len() as i64, RECORDS, "{codec}");
    for (i, record) in (0..).zip(&records) {
        let (key, value, headers) = expected(i, codec);
        assert_eq!(record.offset(), i, "{codec}");
        assert_eq!(record.key().map(|k| k.to_vec()), key, "{codec} key {i}");
        assert_eq!(record.value().map(|v| v.to_vec()), value, "{codec} value {i}");
        let got: Headers = record
            .headers()
            .iter()
            .map(|h| (h.key_str().unwrap().to_string(), h.value().map(|v| v.to_vec())))
            .collect();
        assert_eq!(got, headers, "{codec} headers {i}");
        assert_eq!(record.timestamp_type(), TimestampType::CreateTime);
        assert!(
            record.timestamp() > 1_600_000_000_000,
            "{codec} timestamp {}",
            record.timestamp()
        );
    }
    assert_eq!(partition.next_offset(), Some(RECORDS), "{codec}");
    assert_eq!(partition.incomplete(), None, "{codec}");
}

#[test]
fn uncompressed_fixture_from_librdkafka_decodes() {
    check("none", Compression::None);
}

#[test]
fn gzip_fixture_from_librdkafka_decodes() {
    check("gzip", Compression::Gzip);
}

#[test]
fn snappy_fixture_from_librdkafka_decodes() {
    // librdkafka writes raw snappy, not the xerial framing of the Java producer.
    check("snappy", Compression::Snappy);
}

#[test]
fn lz4_fixture_from_librdkafka_decodes() {
    check("lz4", Compression::Lz4);
}

#[test]
fn zstd_fixture_from_librdkafka_decodes() {
    check("zstd", Compression::Zstd);
}

#[test]
fn every_fixture_cut_short_yields_its_complete_batches_and_reports_the_rest() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let bytes = fixture(codec);
        for cut in [0, 1, 12, 61, bytes.len() / 2, bytes.len() - 1] {
            let mut partition = PartitionRecords::new(bytes.slice(..cut), RecordsConfig::default());
            for record in partition.by_ref() {
                record.unwrap();
            }
            if cut > 0 {
                assert!(partition.incomplete().is_some(), "{codec} cut at {cut}");
            }
        }
    }
}
