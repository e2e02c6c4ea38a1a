//! Bounded decoders for the two SASL responses: SaslHandshake (API 17, v1) and SaslAuthenticate
//! (API 36, v0–v2).

use bytes::Bytes;

use crate::wire::{DecodeError, KafkaCode, Reader, Str};

/// SaslHandshake v1: the error and the mechanisms the listener enables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaslHandshakeResponse {
    pub(crate) error_code: KafkaCode,
    pub(crate) mechanisms: Vec<Str>,
}

impl SaslHandshakeResponse {
    pub(crate) fn decode(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let error_code = KafkaCode(r.field("error_code").i16()?);
        // Each mechanism is at least a 2-byte length.
        let count = r.field("mechanisms").array_len(false, 2)?;
        let mut mechanisms = Vec::with_capacity(count);
        for _ in 0..count {
            mechanisms.push(r.field("mechanism").string(false)?);
        }
        r.finish()?;
        Ok(SaslHandshakeResponse {
            error_code,
            mechanisms,
        })
    }
}

/// SaslAuthenticate v0–v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaslAuthenticateResponse {
    pub(crate) error_code: KafkaCode,
    pub(crate) error_message: Option<Str>,
    pub(crate) auth_bytes: Bytes,
    /// v1+: how long the session may last before it must re-authenticate (0: no limit).
    pub(crate) session_lifetime_ms: i64,
}

impl SaslAuthenticateResponse {
    pub(crate) fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        let flexible = version >= 2;
        let mut r = Reader::new(body);
        let error_code = KafkaCode(r.field("error_code").i16()?);
        let error_message = r.field("error_message").nullable_string(flexible)?;
        let auth_bytes = r.field("auth_bytes").bytes(flexible)?;
        let session_lifetime_ms = if version >= 1 {
            r.field("session_lifetime_ms").i64()?
        } else {
            0
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(SaslAuthenticateResponse {
            error_code,
            error_message,
            auth_bytes,
            session_lifetime_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{
        SaslAuthenticateResponse as KpAuth, SaslHandshakeResponse as KpHandshake,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encode<E: Encodable>(e: &E, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        e.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn handshake_matches_kafka_protocol() {
        let kp = KpHandshake::default().with_error_code(33).with_mechanisms(vec![
            StrBytes::from_static_str("PLAIN"),
            StrBytes::from_static_str("SCRAM-SHA-512"),
        ]);
        let ours = SaslHandshakeResponse::decode(encode(&kp, 1)).unwrap();
        assert_eq!(ours.error_code, KafkaCode(33));
        let names: Vec<&str> = ours.mechanisms.iter().map(Str::as_str).collect();
        assert_eq!(names, ["PLAIN", "SCRAM-SHA-512"]);
    }

    #[test]
    fn authenticate_matches_kafka_protocol_in_every_version() {
        for version in 0..=2 {
            let kp = KpAuth::default()
                .with_error_code(58)
                .with_error_message(Some(StrBytes::from_static_str("bad credentials")))
                .with_auth_bytes(Bytes::from_static(b"v=xyz"))
                .with_session_lifetime_ms(if version >= 1 { 3000 } else { 0 });
            let ours = SaslAuthenticateResponse::decode(encode(&kp, version), version).unwrap();
            assert_eq!(ours.error_code, KafkaCode(58));
            assert_eq!(
                ours.error_message.as_ref().map(Str::as_str),
                Some("bad credentials")
            );
            assert_eq!(&ours.auth_bytes[..], b"v=xyz");
            assert_eq!(ours.session_lifetime_ms, if version >= 1 { 3000 } else { 0 });
        }
    }

    #[test]
    fn hostile_bytes_are_errors() {
        // A count of 2^31-1 mechanisms in a 6-byte body, a truncated body, a missing lifetime,
        // an auth_bytes length past the end.
        assert!(SaslHandshakeResponse::decode(Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err());
        assert!(SaslAuthenticateResponse::decode(Bytes::from_static(&[0, 0, 0xff]), 1).is_err());
        assert!(
            SaslAuthenticateResponse::decode(Bytes::from_static(&[0, 0, 0xff, 0xff, 0, 0, 0, 0]), 1).is_err()
        );
        assert!(
            SaslAuthenticateResponse::decode(Bytes::from_static(&[0, 0, 0, 0, 0x7f, 0, 0, 0]), 0).is_err()
        );
    }
}
