//! Length-prefixed framing: each frame is an `INT32` size followed by that many bytes.

use bytes::{Buf, Bytes, BytesMut};

/// The default largest response frame accepted: 100 MiB, as Kafka's `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// A frame size prefix that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {size}: the peer is not speaking the Kafka protocol")]
    NegativeSize {
        /// The size read.
        size: i32,
    },
    /// The size prefix is larger than the configured maximum; nothing was allocated for it.
    #[error(
        "frame of {size} bytes exceeds the maximum of {max} bytes (raise the maximum frame size if the peer is a real broker)"
    )]
    TooLarge {
        /// The size read.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// Splits a byte stream into frames.
///
/// Feed it whatever the socket returned with [`FrameDecoder::buffer`], then call
/// [`FrameDecoder::next_frame`] until it returns `Ok(None)`. Frames split across reads and several
/// frames in one read both work. The size prefix is checked against the maximum before any buffer
/// is reserved for the body.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_size: usize,
}

impl FrameDecoder {
    /// A decoder that accepts frames up to `max_frame_size` bytes (excluding the size prefix).
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::with_capacity(64 * 1024),
            max_frame_size,
        }
    }

    /// The buffer to read socket bytes into.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame's body, if one is buffered. After a header is validated, reserves room
    /// for the rest of that frame (bounded by the maximum) so the next read can fill it.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 4 {
            self.buf.reserve(4096);
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 {
            return Err(FrameError::NegativeSize { size });
        }
        let size = size as usize;
        if size > self.max_frame_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        if self.buf.len() < 4 + size {
            // Room for the rest of this frame, so large frames are read with few syscalls.
            self.buf.reserve((4 + size - self.buf.len()).max(4096));
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(size).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn several_frames_in_one_read() {
        let mut d = FrameDecoder::new(1024);
        let mut bytes = frame(b"one");
        bytes.extend(frame(b""));
        bytes.extend(frame(b"three"));
        d.buffer().extend_from_slice(&bytes);
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"one"[..]);
        assert_eq!(d.next_frame().unwrap().unwrap(), &b""[..]);
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"three"[..]);
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn frame_split_across_reads_byte_by_byte() {
        let mut d = FrameDecoder::new(1024);
        let bytes = frame(b"hello kafka");
        let mut got = vec![];
        for b in &bytes {
            d.buffer().extend_from_slice(&[*b]);
            if let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![Bytes::from_static(b"hello kafka")]);
    }

    #[test]
    fn negative_size_is_a_typed_error() {
        let mut d = FrameDecoder::new(1024);
        d.buffer().extend_from_slice(&[0xff, 0xff, 0xff, 0xfe, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::NegativeSize { size: -2 }));
    }

    #[test]
    fn oversized_frame_rejected_before_reserving() {
        let mut d = FrameDecoder::new(1024);
        d.buffer().extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        let cap_before = d.buffer().capacity();
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                size: 0x7fff_ffff,
                max: 1024
            })
        );
        assert_eq!(d.buffer().capacity(), cap_before);
        // Exactly the maximum is fine.
        let mut d = FrameDecoder::new(4);
        d.buffer().extend_from_slice(&frame(b"abcd"));
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"abcd"[..]);
    }

    #[test]
    fn http_response_is_rejected() {
        // "HTTP" read as a size is 1_213_486_160 bytes: larger than a sane maximum.
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME_SIZE);
        d.buffer().extend_from_slice(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
    }
}
