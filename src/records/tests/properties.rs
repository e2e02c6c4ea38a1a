//! Property tests: round trips against kafka-protocol's encoder, and "any mutation of a valid
//! batch gives records or a typed error, never a panic".

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::records::PartitionRecords;

type Header = (String, Option<Vec<u8>>);
/// Key, value, headers, offset gap before it, timestamp delta.
type Spec = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>, u8, i64);

fn arb_record() -> impl Strategy<Value = Spec> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(
            (
                "[a-z]{0,6}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            ),
            0..4,
        ),
        0u8..3,
        -1_000i64..1_000,
    )
}

fn build(specs: &[Spec], base: i64) -> Vec<KpRecord> {
    let mut offset = base;
    specs
        .iter()
        .map(|(key, value, headers, gap, ts)| {
            offset += i64::from(*gap);
            let headers: Vec<(&str, Option<&[u8]>)> =
                headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            let mut r = kp_record(offset, key.as_deref(), value.as_deref(), &headers);
            r.timestamp = 1_600_000_000_000 + ts;
            r
        })
        .collect()
}

fn codec() -> impl Strategy<Value = KpCompression> {
    prop::sample::select(CODECS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_matches_the_encoded_records(
        specs in proptest::collection::vec(arb_record(), 1..40),
        base in 0i64..1 << 40,
        codec in codec(),
    ) {
        let records = build(&specs, base);
        let bytes = encode(&records, codec);
        let ours = read_all(bytes.clone());
        // kafka-protocol's IndexMap collapses duplicate header keys; compare with its decoding.
        assert_same(&ours, &kp_read_all(bytes));
    }

    #[test]
    fn any_mutation_gives_records_or_a_typed_error(
        specs in proptest::collection::vec(arb_record(), 1..10),
        codec in codec(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        reseal_crc in any::<bool>(),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = encode(&build(&specs, 0), codec).to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if reseal_crc && bytes.len() >= 61 {
            // Exercise the parser past the CRC check.
            super::reseal(&mut bytes);
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let config = RecordsConfig::default().with_max_decompressed_batch_size(1 << 20);
        let mut p = PartitionRecords::new(Bytes::from(bytes), config);
        // Ends after at most one error; must not panic.
        let mut n = 0;
        for r in p.by_ref() {
            n += 1;
            prop_assert!(n < 100_000);
            if r.is_err() { break; }
        }
        prop_assert!(p.next().is_none());
    }
}
