//! Test PKI generated at test time in pure Rust (rcgen without a C crypto backend; ECDSA P-256
//! signatures from graviola): a CA, broker certificates for 127.0.0.1, client certificates for
//! mutual TLS, and the bad ones the failure tests need.
//!
//! `write_all(dir)` writes (PEM):
//! - `ca.pem`                the test CA; `other-ca.pem` an unrelated CA
//! - `broker.pem`            the broker's key + chain, valid for IP 127.0.0.1 only (so
//!   `localhost` is a wrong host)
//! - `expired.pem`           a broker key + chain that expired in 2020
//! - `client.pem`, `client.key` a client certificate (CN=kafkit-client) and its PKCS#8 key
//! - `client-encrypted.key`  the same key, encrypted PKCS#8 (PBES2: PBKDF2-SHA256,
//!   AES-256-CBC) with the password in [`CLIENT_KEY_PASSWORD`]
//! - `rogue-client.pem`, `rogue-client.key` a client certificate signed by the unrelated CA
//! - `users`                 `name password` lines for the broker's SASL users

use std::path::Path;

use graviola::hashing::Sha256;
use graviola::signing::ecdsa::{P256, SigningKey as EcdsaKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm, SigningKey,
};

/// The password of `client-encrypted.key`.
pub const CLIENT_KEY_PASSWORD: &str = "client-key-pw";

/// SASL users the secure broker knows (PLAIN through JAAS, SCRAM created at format time).
pub const USERS: &[(&str, &str)] = &[("alice", "alice-secret"), ("bob", "bob-secret")];

/// An ECDSA P-256 key that rcgen can sign with.
pub struct EcKey {
    key: EcdsaKey<P256>,
    public: Vec<u8>,
}

impl EcKey {
    pub fn generate() -> EcKey {
        let key = EcdsaKey::<P256>::generate().expect("P-256 key");
        let public = key.private_key.public_key_uncompressed().to_vec();
        EcKey { key, public }
    }

    /// PKCS#8 DER.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        let mut buf = [0u8; 256];
        self.key.to_pkcs8_der(&mut buf).expect("pkcs8").to_vec()
    }

    /// `-----BEGIN PRIVATE KEY-----`.
    pub fn pkcs8_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8_der())
    }

    /// `-----BEGIN ENCRYPTED PRIVATE KEY-----` (PBES2, PBKDF2-SHA256 + AES-256-CBC).
    pub fn encrypted_pkcs8_pem(&self, password: &str) -> String {
        use pkcs8::der::Decode;
        let der = self.pkcs8_der();
        let info = pkcs8::PrivateKeyInfoRef::from_der(&der).expect("parse own pkcs8");
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        graviola::random::fill(&mut salt).unwrap();
        graviola::random::fill(&mut iv).unwrap();
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(10_000, &salt, iv)
            .expect("pbes2 params");
        let doc = info.encrypt_with_params(params, password).expect("encrypt");
        pem("ENCRYPTED PRIVATE KEY", doc.as_bytes())
    }
}

impl PublicKeyData for EcKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for EcKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut buf = [0u8; 128];
        self.key
            .sign_asn1::<Sha256>(&[msg], &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A random positive 16-byte serial number (rcgen without a crypto backend makes none itself).
fn serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    graviola::random::fill(&mut bytes).unwrap();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "kafkit tests");
    dn
}

/// A CA: its certificate PEM, parameters and key.
pub struct Ca {
    pub pem: String,
    params: CertificateParams,
    key: EcKey,
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = name(cn);
        params.serial_number = Some(serial());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let key = EcKey::generate();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { pem, params, key }
    }

    /// A leaf certificate: (certificate PEM, key). `ips`/`dns` become subject alternative names.
    pub fn issue(
        &self,
        cn: &str,
        ips: &[&str],
        dns: &[&str],
        client: bool,
        expired: bool,
    ) -> (String, EcKey) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = name(cn);
        params.serial_number = Some(serial());
        params.subject_alt_names = ips
            .iter()
            .map(|ip| SanType::IpAddress(ip.parse().unwrap()))
            .chain(dns.iter().map(|d| SanType::DnsName((*d).try_into().unwrap())))
            .collect();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        } else {
            params.not_before = rcgen::date_time_ymd(2024, 1, 1);
            params.not_after = rcgen::date_time_ymd(2099, 1, 1);
        }
        let key = EcKey::generate();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key)
    }
}

/// Writes the whole test PKI and the user list into `dir`.
pub fn write_all(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let write = |file: &str, text: &str| std::fs::write(dir.join(file), text).unwrap();
    let ca = Ca::new("kafkit test CA");
    let other = Ca::new("some other CA");
    write("ca.pem", &ca.pem);
    write("other-ca.pem", &other.pem);

    let (broker, broker_key) = ca.issue("kafkit test broker", &["127.0.0.1"], &[], false, false);
    write(
        "broker.pem",
        &format!("{}{broker}{}", broker_key.pkcs8_pem(), ca.pem),
    );
    let (expired, expired_key) = ca.issue("kafkit expired broker", &["127.0.0.1"], &[], false, true);
    write(
        "expired.pem",
        &format!("{}{expired}{}", expired_key.pkcs8_pem(), ca.pem),
    );

    let (client, client_key) = ca.issue("kafkit-client", &[], &[], true, false);
    write("client.pem", &client);
    write("client.key", &client_key.pkcs8_pem());
    write(
        "client-encrypted.key",
        &client_key.encrypted_pkcs8_pem(CLIENT_KEY_PASSWORD),
    );
    let (rogue, rogue_key) = other.issue("rogue-client", &[], &[], true, false);
    write("rogue-client.pem", &rogue);
    write("rogue-client.key", &rogue_key.pkcs8_pem());

    let users: String = USERS.iter().map(|(u, p)| format!("{u} {p}\n")).collect();
    write("users", &users);
}

// Make sure the signer really is what rcgen signs with (a trait object check at compile time).
#[allow(dead_code)]
fn _assert_signing_key(k: &EcKey) -> &dyn SigningKey {
    k
}
