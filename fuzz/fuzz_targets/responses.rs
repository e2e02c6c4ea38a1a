//! Every response decoder kafkit has, on hostile bodies.
//!
//! Input: `[api, version, body...]`.
//! - `api % (SUPPORTED.len() + 2)` picks one of the APIs in `kafkit::wire::SUPPORTED` (through the public
//!   `DecodeResponse` trait) or the consumer-protocol `Subscription` / `Assignment` decoders.
//! - `version`: bit 7 reads a response header (`read_response_header`) before the body; bit 6
//!   picks a version *outside* the supported range (which must be `UnsupportedVersion`, never a
//!   panic); otherwise the low six bits pick a version inside it.
//!
//! Invariants beyond "no panic": a supported version is never reported as unsupported, and a
//! subscription or assignment that decodes survives an encode/decode round trip.
#![no_main]

use bytes::Bytes;
use kafkit::wire::{
    ApiKey, ApiVersionsResponse, Assignment, CONSUMER_PROTOCOL_VERSION, ConsumerGroupHeartbeatResponse,
    DecodeError, DecodeResponse, DescribeGroupsResponse, FetchResponse, FindCoordinatorResponse,
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, ListOffsetsResponse, MetadataResponse,
    OffsetCommitResponse, OffsetFetchResponse, OffsetForLeaderEpochResponse, SUPPORTED, Subscription,
    SyncGroupResponse, read_response_header,
};
use libfuzzer_sys::fuzz_target;

fn decode<T: DecodeResponse + std::fmt::Debug>(body: Bytes, version: i16, supported: bool) {
    match T::decode(body, version) {
        Ok(response) => {
            assert!(supported, "{:?} v{version} decoded outside SUPPORTED", T::API);
            std::hint::black_box(format!("{response:?}"));
        }
        Err(DecodeError::UnsupportedVersion { api, version: v }) => {
            assert!(
                !supported,
                "{api:?} v{v} is in SUPPORTED but its decoder refused it"
            );
            assert_eq!((api, v), (T::API, version));
        }
        Err(e) => {
            assert!(supported, "{:?} v{version} outside SUPPORTED gave {e:?}", T::API);
            std::hint::black_box(e.to_string());
        }
    }
}

/// A version in `min..=max` (`inside`) or outside it, chosen by `b`.
fn pick_version(min: i16, max: i16, inside: bool, b: u8) -> i16 {
    let b = i16::from(b & 0x3f);
    if inside {
        return min + b % (max - min + 1);
    }
    match b % 6 {
        0 => min - 1,
        1 => max + 1,
        2 => max + 1 + b,
        3 => -1,
        4 => i16::MIN,
        _ => i16::MAX,
    }
}

fn consumer_protocol(body: Bytes, assignment: bool) {
    // The version is in the bytes; any version decodes (newer ones as the newest kafkit knows).
    let clamp = |v: i16| v.min(CONSUMER_PROTOCOL_VERSION);
    if assignment {
        if let Ok(a) = Assignment::decode(body) {
            let Ok(encoded) = a.encode() else {
                panic!("a decoded assignment does not encode: {a:?}");
            };
            let again = Assignment::decode(encoded);
            let want = Assignment {
                version: clamp(a.version),
                ..a.clone()
            };
            assert_eq!(again.as_ref(), Ok(&want), "assignment round trip of {a:?}");
        }
    } else if let Ok(s) = Subscription::decode(body) {
        let Ok(encoded) = s.encode() else {
            panic!("a decoded subscription does not encode: {s:?}");
        };
        let again = Subscription::decode(encoded);
        let want = Subscription {
            version: clamp(s.version),
            ..s.clone()
        };
        assert_eq!(again.as_ref(), Ok(&want), "subscription round trip of {s:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, version_byte, rest @ ..] = data else {
        return;
    };
    let mut body = Bytes::copy_from_slice(rest);
    let index = usize::from(*selector) % (SUPPORTED.len() + 2);
    let Some(&(api, min, max)) = SUPPORTED.get(index) else {
        consumer_protocol(body, index == SUPPORTED.len() + 1);
        return;
    };
    let supported = version_byte & 0x40 == 0;
    let version = pick_version(min, max, supported, *version_byte);
    if version_byte & 0x80 != 0 {
        match read_response_header(api, version, body) {
            Ok((_, rest)) => body = rest,
            Err(_) => return,
        }
    }
    match api {
        ApiKey::ApiVersions => {
            let _ = ApiVersionsResponse::peek_error_code(&body);
            decode::<ApiVersionsResponse>(body, version, supported)
        }
        ApiKey::Metadata => decode::<MetadataResponse>(body, version, supported),
        ApiKey::Fetch => decode::<FetchResponse>(body, version, supported),
        ApiKey::ListOffsets => decode::<ListOffsetsResponse>(body, version, supported),
        ApiKey::OffsetFetch => decode::<OffsetFetchResponse>(body, version, supported),
        ApiKey::OffsetCommit => decode::<OffsetCommitResponse>(body, version, supported),
        ApiKey::OffsetForLeaderEpoch => decode::<OffsetForLeaderEpochResponse>(body, version, supported),
        ApiKey::ConsumerGroupHeartbeat => decode::<ConsumerGroupHeartbeatResponse>(body, version, supported),
        ApiKey::FindCoordinator => {
            if let Ok(r) = FindCoordinatorResponse::decode(body.clone(), version) {
                std::hint::black_box(r.for_key("g"));
            }
            decode::<FindCoordinatorResponse>(body, version, supported)
        }
        ApiKey::JoinGroup => decode::<JoinGroupResponse>(body, version, supported),
        ApiKey::SyncGroup => decode::<SyncGroupResponse>(body, version, supported),
        ApiKey::Heartbeat => decode::<HeartbeatResponse>(body, version, supported),
        ApiKey::LeaveGroup => decode::<LeaveGroupResponse>(body, version, supported),
        ApiKey::DescribeGroups => {
            if let Ok(r) = DescribeGroupsResponse::decode(body.clone(), version) {
                // Members' assignments and metadata come from other clients: decode them too.
                for m in r.groups.iter().flat_map(|g| &g.members) {
                    let _ = std::hint::black_box(Assignment::decode(m.member_assignment.clone()));
                    let _ = std::hint::black_box(Subscription::decode(m.member_metadata.clone()));
                }
            }
            decode::<DescribeGroupsResponse>(body, version, supported)
        }
        other => panic!("SUPPORTED names {other:?}, which this target does not decode: add it"),
    }
});
