//! The frame decoder on a hostile byte stream, delivered in chunks whose sizes come from the input.
#![no_main]

use kafkit::wire::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    // A small maximum so that size prefixes near it are explored; never a big allocation.
    let mut decoder = FrameDecoder::new(64 * 1024);
    let chunk = usize::from(split % 64) + 1;
    for piece in stream.chunks(chunk) {
        decoder.buffer().extend_from_slice(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    std::hint::black_box(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    std::hint::black_box(e.to_string());
                    return;
                }
            }
        }
    }
});
