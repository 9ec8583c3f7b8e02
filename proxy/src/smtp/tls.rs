//! The submission server's TLS identity: a certificate for `localhost` and
//! the loopback addresses, issued by a one-off local CA whose certificate
//! the user can export and trust (`<storage>/tls/ca.pem`). The CA's private
//! key is discarded as soon as the server certificate is signed, so nothing
//! on disk can mint another certificate the user's trust would cover.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509NameBuilder, X509};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Days a generated server certificate is valid (Apple's limit for TLS
/// server certificates is 825).
const VALIDITY_DAYS: u32 = 825;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate in {dir}: {why}")]
    Files { dir: PathBuf, why: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The acceptor and where the CA certificate to trust lives.
pub struct LocalTls {
    pub acceptor: TlsAcceptor,
    pub ca_file: PathBuf,
}

/// Loads `dir/{server.pem,server.key,ca.pem}`, creating them when missing
/// or when the certificate is about to expire.
pub fn load_or_create(dir: &Path) -> Result<LocalTls, TlsError> {
    let files = |why: String| TlsError::Files {
        dir: dir.to_owned(),
        why,
    };
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    let ca_path = dir.join("ca.pem");
    let fresh = fs::read(&cert_path)
        .ok()
        .and_then(|pem| X509::from_pem(&pem).ok())
        .is_some_and(|cert| Asn1Time::days_from_now(7).is_ok_and(|soon| cert.not_after() > soon));
    if !fresh || !key_path.exists() || !ca_path.exists() {
        fs::create_dir_all(dir).map_err(|e| files(e.to_string()))?;
        generate(&cert_path, &key_path, &ca_path).map_err(|e| files(e.to_string()))?;
    }
    let chain_pem = fs::read(&cert_path).map_err(|e| files(e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = X509::stack_from_pem(&chain_pem)
        .map_err(|e| files(e.to_string()))?
        .iter()
        .map(|c| c.to_der().map(CertificateDer::from))
        .collect::<Result<_, _>>()
        .map_err(|e| files(e.to_string()))?;
    let key = PKey::private_key_from_pem(&fs::read(&key_path).map_err(|e| files(e.to_string()))?)
        .and_then(|k| k.private_key_to_pkcs8())
        .map_err(|e| files(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    Ok(LocalTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file: ca_path,
    })
}

fn generate(
    cert_path: &Path,
    key_path: &Path,
    ca_path: &Path,
) -> Result<(), openssl::error::ErrorStack> {
    let ca_key = ec_key()?;
    let ca = certificate(&ca_key, None, "DANE Mail local CA", true)?;
    let server_key = ec_key()?;
    let server = certificate(&server_key, Some((&ca, &ca_key)), "localhost", false)?;
    let mut chain = server.to_pem()?;
    chain.extend(ca.to_pem()?);
    write_private(key_path, &server_key.private_key_to_pem_pkcs8()?);
    let _ = fs::write(cert_path, chain);
    let _ = fs::write(ca_path, ca.to_pem()?);
    Ok(())
}

fn ec_key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn certificate(
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    common_name: &str,
    is_ca: bool,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "DANE Mail")?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(issuer.map_or(&name, |(ca, _)| ca.subject_name()))?;
    builder.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(VALIDITY_DAYS)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    if is_ca {
        builder.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .ip("::1")
            .build(&builder.x509v3_context(issuer.map(|(ca, _)| ca.as_ref()), None))?;
        builder.append_extension(san)?;
    }
    let signer = issuer.map_or(key, |(_, ca_key)| ca_key);
    builder.sign(signer, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// Writes a private key readable by the owner only.
// XXX: the TLS key of a loopback-only service sits on disk (0600), as a
// server's key does; the keys issue will seal it with the keyring secret.
fn write_private(path: &Path, pem: &[u8]) {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Ok(mut file) = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
        {
            let _ = file.write_all(pem);
        }
    }
    #[cfg(not(unix))]
    let _ = fs::write(path, pem);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reuses_a_localhost_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let ca = fs::read(&first.ca_file).unwrap();
        let _second = load_or_create(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("ca.pem")).unwrap(), ca, "reused");
        let chain =
            X509::stack_from_pem(&fs::read(dir.path().join("server.pem")).unwrap()).unwrap();
        let ca_cert = X509::from_pem(&ca).unwrap();
        assert!(chain[0].verify(&ca_cert.public_key().unwrap()).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("server.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key readable by others");
        }
    }
}
