//! Shared helpers for the fetch and offsets decoder tests: a deterministic shape generator, the
//! reference encoder, and the "every strict prefix fails" check.

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{DecodeError, DecodeResponse};

/// A small deterministic generator (an LCG) so each version is checked with many shapes.
pub(super) struct Gen(pub(super) u64);

impl Gen {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(super) fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    pub(super) fn i16(&mut self) -> i16 {
        self.next() as i16
    }
    pub(super) fn i32(&mut self) -> i32 {
        self.next() as i32
    }
    pub(super) fn i64(&mut self) -> i64 {
        ((self.next() << 31) ^ self.next()) as i64
    }
    pub(super) fn name(&mut self) -> String {
        let len = self.below(20) as usize;
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect::<String>()
            + "-t"
    }
    pub(super) fn str_bytes(&mut self) -> StrBytes {
        StrBytes::from_string(self.name())
    }
    pub(super) fn bytes(&mut self, max_len: u64) -> Bytes {
        let len = self.below(max_len + 1) as usize;
        (0..len)
            .map(|_| self.below(256) as u8)
            .collect::<Vec<u8>>()
            .into()
    }
    pub(super) fn sb(&mut self) -> StrBytes {
        self.str_bytes()
    }
    pub(super) fn opt_sb(&mut self) -> Option<StrBytes> {
        self.chance(2).then(|| self.sb())
    }
    /// Unknown tagged fields (only when `flexible`) with tags from 50 up (free in every message
    /// kafkit decodes, except top-level Fetch, whose tests use [`Gen::unknown_tags`]).
    pub(super) fn tags(&mut self, flexible: bool) -> BTreeMap<i32, Bytes> {
        self.unknown_tags(flexible, 50)
    }
    /// Unknown tagged fields (only when `flexible`), with tags from `first_free` up.
    pub(super) fn unknown_tags(&mut self, flexible: bool, first_free: i32) -> BTreeMap<i32, Bytes> {
        let mut tags = BTreeMap::new();
        if flexible && self.chance(2) {
            for _ in 0..=self.below(2) {
                let tag = first_free + self.below(200) as i32;
                let value = self.bytes(5);
                tags.insert(tag, value);
            }
        }
        tags
    }
}

/// Encodes with `kafka-protocol`'s broker-side encoder.
pub(super) fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version).expect("reference encoder");
    buf.freeze()
}

/// Decodes `bytes` (which must succeed), then checks that every strict prefix at a few cut points
/// is a typed error, never a panic or a wrong success.
pub(super) fn decode_and_check_prefixes<T: DecodeResponse + Debug>(
    bytes: &Bytes,
    version: i16,
    what: &str,
) -> T {
    let decoded = T::decode(bytes.clone(), version).unwrap_or_else(|e| panic!("{what}: {e}"));
    let len = bytes.len();
    for cut in [
        0,
        1,
        2,
        5,
        len / 3,
        len / 2,
        len.saturating_sub(2),
        len.saturating_sub(1),
    ] {
        if cut < len {
            let result = T::decode(bytes.slice(..cut), version);
            assert!(
                result.is_err(),
                "{what}: prefix of {cut}/{len} bytes decoded: {result:?}"
            );
        }
    }
    decoded
}

/// Asserts that `err` is a count rejected against the bytes present (so nothing was allocated
/// for it), for `field`.
pub(super) fn assert_count_rejected(err: &DecodeError, field: &str, count: usize) {
    match err {
        DecodeError::CountExceedsBytes {
            field: f,
            count: c,
            available,
            ..
        } => {
            assert_eq!(*f, field, "{err:?}");
            assert_eq!(*c, count, "{err:?}");
            assert!(*available < 64, "{err:?}");
        }
        other => panic!("expected CountExceedsBytes for {field}, got {other:?}"),
    }
}
