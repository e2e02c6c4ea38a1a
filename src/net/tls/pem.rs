//! Certificates and private keys from PEM, through `rustls-pki-types`; encrypted PKCS#8 keys
//! decrypted with RustCrypto's `pkcs8` (PBES2: PBKDF2 or scrypt, AES-CBC).

use std::path::Path;

use base64::Engine as _;
use pkcs8::der::Decode as _;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::net::security::Secret;

/// The largest PEM file read (a CA bundle is a few hundred KiB).
const MAX_PEM_FILE: u64 = 16 * 1024 * 1024;

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::Config, message)
}

fn read(path: &Path, key: &str) -> Result<Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::with_source(
            ErrorKind::Config,
            format!("{key}: cannot read {}", path.display()),
            e,
        )
    })?;
    if meta.len() > MAX_PEM_FILE {
        return Err(config_error(format!(
            "{key}: {} is {} bytes, larger than any PEM file kafkit reads ({MAX_PEM_FILE})",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        Error::with_source(
            ErrorKind::Config,
            format!("{key}: cannot read {}", path.display()),
            e,
        )
    })
}

/// Every certificate in the PEM file at `path`, or in every regular file of the directory at
/// `path` (as OpenSSL's CA path; files without certificates are skipped).
pub(super) fn certificates_at(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("{key}: cannot list {}", path.display()),
                e,
            )
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut all = Vec::new();
        for file in files {
            let bytes = read(&file, key)?;
            if let Ok(certs) = certificates(&bytes, key) {
                all.extend(certs);
            }
        }
        if all.is_empty() {
            return Err(config_error(format!(
                "{key}: no PEM certificate in any file of the directory {}",
                path.display()
            )));
        }
        return Ok(all);
    }
    let bytes = read(path, key)?;
    certificates(&bytes, key).map_err(|e| config_error(format!("{e} ({})", path.display())))
}

/// Every `CERTIFICATE` section of `pem`; an error if there is none.
pub(super) fn certificates(pem: &[u8], key: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| config_error(format!("{key}: not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{key}: no \"-----BEGIN CERTIFICATE-----\" section found"
        )));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path`.
pub(super) fn private_key_at(path: &Path, password: Option<&Secret>) -> Result<PrivateKeyDer<'static>> {
    let bytes = read(path, "ssl.key.location")?;
    private_key(&bytes, "ssl.key.location", password)
        .map_err(|e| config_error(format!("{e} ({})", path.display())))
}

/// The first private key in `pem`: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1),
/// `EC PRIVATE KEY` (SEC1), or `ENCRYPTED PRIVATE KEY` (PKCS#8, decrypted with `password`).
pub(super) fn private_key(
    pem: &[u8],
    key: &str,
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>> {
    if let Some(der) = encrypted_section(pem).map_err(|e| config_error(format!("{key}: {e}")))? {
        let Some(password) = password else {
            return Err(config_error(format!(
                "{key}: the private key is encrypted (ENCRYPTED PRIVATE KEY); set ssl.key.password"
            )));
        };
        return decrypt(&der, password).map_err(|e| config_error(format!("{key}: {e}")));
    }
    if contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(config_error(format!(
            "{key}: the key is encrypted in OpenSSL's legacy format, which kafkit does not read; \
             convert it to encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)"
        )));
    }
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = section.map_err(|e| config_error(format!("{key}: not valid PEM: {e}")))?;
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            _ => continue,
        };
        return Ok(key);
    }
    Err(config_error(format!(
        "{key}: no private key found (expected a PEM section PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The DER of the first `ENCRYPTED PRIVATE KEY` section, if there is one.
fn encrypted_section(pem: &[u8]) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, String> {
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let Ok(text) = std::str::from_utf8(pem) else {
        return Ok(None);
    };
    let Some(start) = text.find(BEGIN) else {
        return Ok(None);
    };
    let body = &text[start + BEGIN.len()..];
    let Some(end) = body.find(END) else {
        return Err("ENCRYPTED PRIVATE KEY section has no END line".into());
    };
    let b64: Zeroizing<String> =
        Zeroizing::new(body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map(|der| Some(Zeroizing::new(der)))
        .map_err(|_| "ENCRYPTED PRIVATE KEY section is not valid base64".into())
}

fn decrypt(der: &[u8], password: &Secret) -> std::result::Result<PrivateKeyDer<'static>, String> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der)
        .map_err(|e| format!("the encrypted private key is not valid PKCS#8: {e}"))?;
    let plain = info.decrypt(password.expose()).map_err(|e| {
        format!("cannot decrypt the private key with ssl.key.password (wrong password, or an unsupported scheme): {e}")
    })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}
