//! The reader and writer tasks of a connection (plain TCP or TLS alike).

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use super::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::net::{SecurityProtocol, tls};
use crate::wire::{FrameDecoder, FrameError};

/// Instructions to the writer that bypass the request queue.
#[derive(Debug)]
pub(super) enum Control {
    /// Stop taking frames from the request queue (they wait there, in order).
    Hold,
    /// Write this frame now, even while holding.
    Frame(Bytes),
    /// Take frames from the request queue again.
    Release,
}

/// What the reader needs to explain a failure.
#[derive(Debug, Clone)]
pub(super) struct Hints {
    /// The TLS server name, when the connection uses TLS.
    pub(super) tls_host: Option<String>,
    pub(super) protocol: SecurityProtocol,
}

/// Whether a frame size prefix is really the start of a TLS record (content type 0x15 alert or
/// 0x16 handshake, protocol version 3.x): the peer speaks TLS and kafkit does not.
fn looks_like_tls(size: usize) -> bool {
    let bytes = (size as u32).to_be_bytes();
    matches!(bytes[0], 0x15 | 0x16) && bytes[1] == 0x03 && bytes[2] <= 0x04
}

fn frame_error(e: FrameError, hints: &Hints) -> Error {
    if let FrameError::TooLarge { size, .. } = e
        && hints.tls_host.is_none()
        && looks_like_tls(size)
    {
        return Error::with_source(
            ErrorKind::Tls,
            format!(
                "the broker answered with TLS: this is an SSL or SASL_SSL listener, but security.protocol is {}",
                hints.protocol
            ),
            e,
        );
    }
    Error::from(e)
}

pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    mut read: R,
    shared: Arc<Shared>,
    max_frame_size: usize,
    hints: Hints,
) {
    let mut decoder = FrameDecoder::new(max_frame_size);
    let error = loop {
        // Hand over every complete frame already buffered.
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = dispatch(&shared, frame) {
                        shared.poison(e);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.poison(frame_error(e, &hints).at_broker(&shared.addr));
                    return;
                }
            }
        }
        match read.read_buf(decoder.buffer()).await {
            Ok(0) => {
                // Answered ApiVersions, then hung up on the next request: a SASL listener meets a
                // client that does not authenticate.
                let after_api_versions = shared.lock().responses == 1;
                let message = if after_api_versions && !hints.protocol.uses_sasl() {
                    format!(
                        "connection closed by the broker after ApiVersions: does this listener need SASL? \
                         (security.protocol is {}; use SASL_PLAINTEXT or SASL_SSL with credentials)",
                        hints.protocol
                    )
                } else {
                    "connection closed by the broker".to_owned()
                };
                break Error::new(ErrorKind::Connection, message).at_broker(&shared.addr);
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(host) = &hints.tls_host
                    && let Some(tls_error) = tls::tls_io_error(&e, host)
                {
                    break tls_error.at_broker(&shared.addr);
                }
                break Error::with_source(ErrorKind::Connection, "reading from the broker failed", e)
                    .at_broker(&shared.addr);
            }
        }
    };
    shared.poison(error);
}

fn dispatch(shared: &Shared, frame: Bytes) -> Result<()> {
    let Some(header) = frame.get(..4) else {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("response frame of {} bytes has no header", frame.len()),
        )
        .at_broker(&shared.addr));
    };
    let correlation_id = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let mut state = shared.lock();
    state.responses += 1;
    if let Some(waiter) = state.pending.remove(&correlation_id) {
        // The caller may have just gone away; then the response is simply dropped.
        let _ = waiter.send(Ok(frame));
        Ok(())
    } else if state.abandoned.remove(&correlation_id) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Protocol,
            format!("response with correlation id {correlation_id}, which no request has"),
        )
        .at_broker(&shared.addr))
    }
}

/// Writes frames in the order they were queued; control frames go first, and while held the queue
/// is not read at all (so nothing queued after a hold can overtake the re-authentication).
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    write: W,
    mut frames: mpsc::Receiver<Bytes>,
    mut control: mpsc::UnboundedReceiver<Control>,
    shared: Arc<Shared>,
) {
    let mut write = BufWriter::with_capacity(64 * 1024, write);
    let mut held = false;
    let mut control_open = true;
    loop {
        let (frame, flush) = tokio::select! {
            biased;
            c = control.recv(), if control_open => match c {
                Some(Control::Hold) => {
                    held = true;
                    continue;
                }
                Some(Control::Release) => {
                    held = false;
                    continue;
                }
                Some(Control::Frame(frame)) => (frame, true),
                None => {
                    control_open = false;
                    if held {
                        return;
                    }
                    continue;
                }
            },
            f = frames.recv(), if !held => match f {
                Some(frame) => {
                    let flush = frames.is_empty();
                    (frame, flush)
                }
                None => return,
            },
        };
        let mut result = write.write_all(&frame).await;
        if result.is_ok() && flush {
            result = write.flush().await;
        }
        if let Err(e) = result {
            shared.poison(
                Error::with_source(ErrorKind::Connection, "writing to the broker failed", e)
                    .at_broker(&shared.addr),
            );
            return;
        }
    }
}

/// A clearer error when the broker hung up before answering the first request (ApiVersions): the
/// classic sign of a client without TLS on a TLS listener.
pub(super) fn explain_first_response_failure(e: Error, shared: &Shared, protocol: SecurityProtocol) -> Error {
    let answered = shared.lock().responses > 0;
    if answered || e.kind() != ErrorKind::Connection || protocol.uses_tls() {
        return e;
    }
    // Still a connection error (retried): a broker that is shutting down hangs up the same way.
    let explained = Error::with_source(
        ErrorKind::Connection,
        format!(
            "the broker closed the connection without answering ApiVersions: is this an SSL or SASL_SSL listener? \
             (security.protocol is {protocol}; use the listener's protocol)"
        ),
        e,
    );
    match shared.addr.as_str() {
        "" => explained,
        addr => explained.at_broker(addr),
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_tls;

    #[test]
    fn tls_records_are_recognised_in_a_size_prefix() {
        // An alert record header (15 03 03 00 02) and a handshake one (16 03 01 ...).
        assert!(looks_like_tls(0x1503_0300));
        assert!(looks_like_tls(0x1603_0102));
        assert!(!looks_like_tls(100 * 1024 * 1024 + 1));
        assert!(!looks_like_tls(0x7fff_ffff));
    }
}
