//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), client side, as Kafka speaks them.
//!
//! A sans-IO state machine: [`ScramClient::client_first`], then
//! [`ScramClient::handle_server_first`] (which returns the client-final message), then
//! [`ScramClient::handle_server_final`]. The server's nonce must extend the client's, the
//! iteration count must lie within [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`], and the server's
//! signature is compared in constant time. Like Kafka's own client, names and passwords are used
//! as UTF-8 without SASLprep.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The lowest iteration count accepted: RFC 7677's minimum, and Kafka's.
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// The highest iteration count accepted (Kafka refuses to store more): a hostile broker cannot make
/// kafkit spend seconds of CPU on one connection.
pub(crate) const MAX_ITERATIONS: u32 = 16_384;

/// The hash a SCRAM mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScramError {
    #[error("the broker's SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the broker's SCRAM nonce does not extend kafkit's (possible replay or man in the middle)")]
    NonceMismatch,
    #[error("the broker asks for {0} SCRAM iterations; kafkit accepts {MIN_ITERATIONS} to {MAX_ITERATIONS}")]
    Iterations(u32),
    #[error("the broker requires a SCRAM extension kafkit does not know")]
    MandatoryExtension,
    #[error(
        "the broker's SCRAM server signature is wrong: it does not know the password (possible man in the middle)"
    )]
    ServerSignature,
    #[error("the broker rejected the SCRAM exchange: {0}")]
    Server(String),
    #[error("SCRAM message out of order")]
    OutOfOrder,
}

impl ScramHash {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
            // HMAC takes keys of any length, so this cannot fail.
            let mut mac = match <M as KeyInit>::new_from_slice(key) {
                Ok(mac) => mac,
                Err(_) => return Zeroizing::new(Vec::new()),
            };
            for part in parts {
                mac.update(part);
            }
            Zeroizing::new(mac.finalize().into_bytes().to_vec())
        }
        match self {
            ScramHash::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(key, parts),
            ScramHash::Sha512 => run::<hmac::Hmac<sha2::Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Zeroizing<Vec<u8>> {
        use sha2::Digest;
        Zeroizing::new(match self {
            ScramHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        })
    }

    fn len(self) -> usize {
        match self {
            ScramHash::Sha256 => 32,
            ScramHash::Sha512 => 64,
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; self.len()]);
        match self {
            ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out),
            ScramHash::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut out),
        }
        out
    }
}

/// `saslname`: `=` as `=3D` and `,` as `=2C` (RFC 5802 §5.1).
pub(crate) fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[derive(Debug)]
enum State {
    Initial,
    SentFirst,
    SentFinal { server_signature: Zeroizing<Vec<u8>> },
    Done,
}

/// One SCRAM exchange.
pub(crate) struct ScramClient {
    hash: ScramHash,
    username: String,
    password: Zeroizing<String>,
    client_nonce: String,
    state: State,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client for `username`/`password` with a printable `client_nonce` (no `,`).
    pub(crate) fn new(hash: ScramHash, username: &str, password: &str, client_nonce: String) -> ScramClient {
        ScramClient {
            hash,
            username: escape_username(username),
            password: Zeroizing::new(password.to_owned()),
            client_nonce,
            state: State::Initial,
        }
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", self.username, self.client_nonce)
    }

    /// `n,,n=<user>,r=<nonce>`.
    pub(crate) fn client_first(&mut self) -> Vec<u8> {
        self.state = State::SentFirst;
        format!("n,,{}", self.client_first_bare()).into_bytes()
    }

    /// Checks `r=<nonce>,s=<salt>,i=<iterations>` and returns `c=biws,r=<nonce>,p=<proof>`.
    pub(crate) fn handle_server_first(&mut self, message: &[u8]) -> Result<Zeroizing<Vec<u8>>, ScramError> {
        if !matches!(self.state, State::SentFirst) {
            return Err(ScramError::OutOfOrder);
        }
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (i, attr) in text.split(',').enumerate() {
            let (key, value) = attr
                .split_once('=')
                .ok_or(ScramError::Malformed("attribute without '='"))?;
            match (i, key) {
                (0, "m") => return Err(ScramError::MandatoryExtension),
                (0, "e") => return Err(ScramError::Server(value.to_owned())),
                (0, "r") => nonce = Some(value),
                (1, "s") => salt = Some(value),
                (2, "i") => iterations = Some(value),
                (0..=2, _) => return Err(ScramError::Malformed("expected r=, s=, i= in that order")),
                _ => {} // extensions
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("no nonce"))?;
        let salt = salt.ok_or(ScramError::Malformed("no salt"))?;
        let iterations = iterations.ok_or(ScramError::Malformed("no iteration count"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() <= self.client_nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(ScramError::Malformed("nonce has unprintable characters"));
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| ScramError::Malformed("salt is not base64"))?;
        if salt.is_empty() {
            return Err(ScramError::Malformed("empty salt"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("iteration count is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }

        let h = self.hash;
        let salted = h.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, &[b"Client Key"]);
        let stored_key = h.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let first_bare = self.client_first_bare();
        let auth_message = [
            first_bare.as_bytes(),
            b",",
            message,
            b",",
            without_proof.as_bytes(),
        ];
        let client_signature = h.hmac(&stored_key, &auth_message);
        let proof: Zeroizing<Vec<u8>> = Zeroizing::new(
            client_key
                .iter()
                .zip(client_signature.iter())
                .map(|(k, s)| k ^ s)
                .collect(),
        );
        let server_key = h.hmac(&salted, &[b"Server Key"]);
        let server_signature = h.hmac(&server_key, &auth_message);
        self.state = State::SentFinal { server_signature };
        Ok(Zeroizing::new(
            format!("{without_proof},p={}", B64.encode(proof.as_slice())).into_bytes(),
        ))
    }

    /// Checks `v=<server signature>` (or reports `e=<error>`).
    pub(crate) fn handle_server_final(&mut self, message: &[u8]) -> Result<(), ScramError> {
        let State::SentFinal { server_signature } = &self.state else {
            return Err(ScramError::OutOfOrder);
        };
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(ScramError::Server(error.to_owned()));
        }
        let value = first
            .strip_prefix("v=")
            .ok_or(ScramError::Malformed("server-final has no v="))?;
        let got = B64
            .decode(value)
            .map_err(|_| ScramError::Malformed("server signature is not base64"))?;
        if got.len() != server_signature.len() || !bool::from(got.ct_eq(server_signature)) {
            return Err(ScramError::ServerSignature);
        }
        self.state = State::Done;
        Ok(())
    }

    /// Whether the server has proven it knows the password.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: the SCRAM-SHA-256 example exchange, byte for byte.
    #[test]
    fn rfc7677_vector() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = c.handle_server_first(server_first).unwrap();
        assert_eq!(
            std::str::from_utf8(&client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(!c.is_done());
        c.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(c.is_done());
    }

    fn after_first(hash: ScramHash) -> ScramClient {
        let mut c = ScramClient::new(hash, "user", "pencil", "abc".into());
        c.client_first();
        c
    }

    #[test]
    fn wrong_server_signature_is_rejected() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        c.client_first();
        c.handle_server_first(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        )
        .unwrap();
        // The first byte of the RFC's signature changed.
        let err = c
            .handle_server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert_eq!(err, ScramError::ServerSignature);
        // A truncated signature too.
        assert_eq!(
            c.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mA==").unwrap_err(),
            ScramError::ServerSignature
        );
        assert!(!c.is_done());
    }

    #[test]
    fn server_nonce_must_extend_the_clients() {
        let mut c = after_first(ScramHash::Sha512);
        assert_eq!(
            c.handle_server_first(b"r=xyzdef,s=c2FsdA==,i=4096").unwrap_err(),
            ScramError::NonceMismatch
        );
        let mut c = after_first(ScramHash::Sha512);
        assert_eq!(
            c.handle_server_first(b"r=abc,s=c2FsdA==,i=4096").unwrap_err(),
            ScramError::NonceMismatch,
            "a nonce equal to the client's adds nothing of the server's"
        );
    }

    #[test]
    fn iteration_count_is_bounded() {
        for (i, ok) in [
            (4095, false),
            (4096, true),
            (16_384, true),
            (16_385, false),
            (0, false),
        ] {
            let mut c = after_first(ScramHash::Sha256);
            let msg = format!("r=abcdef,s=c2FsdA==,i={i}");
            let result = c.handle_server_first(msg.as_bytes());
            assert_eq!(result.is_ok(), ok, "{i} iterations: {result:?}");
            if !ok {
                assert_eq!(result.unwrap_err(), ScramError::Iterations(i));
            }
        }
    }

    #[test]
    fn malformed_server_messages_are_errors_not_panics() {
        for msg in [
            &b""[..],
            b"r=",
            b"r=abcdef",
            b"r=abcdef,s=,i=4096",
            b"r=abcdef,s=!!!,i=4096",
            b"r=abcdef,s=c2FsdA==,i=many",
            b"s=c2FsdA==,r=abcdef,i=4096",
            b"\xff\xfe",
            b"m=ext,r=abcdef,s=c2FsdA==,i=4096",
            b"e=invalid-proof",
            b"r=abc\x01def,s=c2FsdA==,i=4096",
        ] {
            let mut c = after_first(ScramHash::Sha256);
            assert!(
                c.handle_server_first(msg).is_err(),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
        let mut c = after_first(ScramHash::Sha256);
        assert_eq!(
            c.handle_server_final(b"v=AAAA").unwrap_err(),
            ScramError::OutOfOrder
        );
    }

    #[test]
    fn server_error_in_final_message_is_reported() {
        let mut c = after_first(ScramHash::Sha256);
        c.handle_server_first(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
        assert_eq!(
            c.handle_server_final(b"e=invalid-proof").unwrap_err(),
            ScramError::Server("invalid-proof".into())
        );
    }

    #[test]
    fn usernames_are_escaped() {
        assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
        let mut c = ScramClient::new(ScramHash::Sha256, "a=b,c", "pw", "n0nce".into());
        assert_eq!(c.client_first(), b"n,,n=a=3Db=2Cc,r=n0nce");
    }

    /// SCRAM-SHA-512 against a server computed independently from RFC 5802's definitions.
    #[test]
    fn sha512_round_trip_with_a_reference_server() {
        let (user, password, salt, iterations) = ("alice", "alice-secret", b"0123456789abcdef", 4096);
        let mut c = ScramClient::new(ScramHash::Sha512, user, password, "clientnonce".into());
        let first = c.client_first();
        let server_first = format!("r=clientnonceSERVER,s={},i={iterations}", B64.encode(salt));
        let client_final = c.handle_server_first(server_first.as_bytes()).unwrap();
        let client_final = std::str::from_utf8(&client_final).unwrap().to_owned();

        // The server side, from the RFC's formulas.
        let salted = {
            let mut out = [0u8; 64];
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, iterations, &mut out);
            out
        };
        let mac = |key: &[u8], data: &[u8]| {
            let mut m = <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        };
        use sha2::Digest;
        let stored_key = sha2::Sha512::digest(mac(&salted, b"Client Key")).to_vec();
        let (without_proof, proof) = client_final.rsplit_once(",p=").unwrap();
        let auth_message = format!(
            "{},{},{}",
            std::str::from_utf8(&first[3..]).unwrap(),
            server_first,
            without_proof
        );
        let client_signature = mac(&stored_key, auth_message.as_bytes());
        let proof = B64.decode(proof).unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        assert_eq!(
            sha2::Sha512::digest(&client_key).to_vec(),
            stored_key,
            "the proof verifies"
        );
        let server_signature = mac(&mac(&salted, b"Server Key"), auth_message.as_bytes());
        c.handle_server_final(format!("v={}", B64.encode(server_signature)).as_bytes())
            .unwrap();
        assert!(c.is_done());
    }
}
