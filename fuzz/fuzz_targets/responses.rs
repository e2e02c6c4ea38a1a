//! kafkit's response decoders on hostile bodies. The first byte chooses the API (and whether a
//! response header is read first), the second the version (out-of-range versions included).
#![no_main]

use bytes::Bytes;
use kafkit::wire::{ApiKey, ApiVersionsResponse, DecodeResponse, MetadataResponse, read_response_header};
use libfuzzer_sys::fuzz_target;

fn decode<T: DecodeResponse + std::fmt::Debug>(body: Bytes, version: i16) {
    match T::decode(body, version) {
        Ok(response) => {
            std::hint::black_box(format!("{response:?}"));
        }
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, version, rest @ ..] = data else {
        return;
    };
    // Versions -1..=14: every supported version and a few beyond on either side.
    let version = i16::from(*version % 16) - 1;
    let mut body = Bytes::copy_from_slice(rest);
    let api = if selector & 1 == 0 {
        ApiKey::ApiVersions
    } else {
        ApiKey::Metadata
    };
    if selector & 2 != 0 {
        match read_response_header(api, version.max(0), body) {
            Ok((_, rest)) => body = rest,
            Err(_) => return,
        }
    }
    if api == ApiKey::ApiVersions {
        let _ = ApiVersionsResponse::peek_error_code(&body);
        decode::<ApiVersionsResponse>(body, version);
    } else {
        decode::<MetadataResponse>(body, version);
    }
});
