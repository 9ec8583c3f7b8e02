//! The user's own identities for the window: keys in the store (sealed by
//! the OS keyring), the SMIMEA record to publish, and what the mail client
//! needs to connect (local account, the local CA). Blocking: keyring calls
//! are D-Bus round trips; callers run these off the async runtime.

use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::x509::X509;

use super::view::{ClientSettings, KeyView, RecordView, SelfCheckView, UiError};
use crate::config::Config;
use crate::credentials::LocalPassword;
use crate::dane::Address;
use crate::keys::{Algorithm, KeyStore, StoredKey};
use crate::publish::{RecordShape, SmimeaRecord};

/// Lifetime of a generated certificate (the CLI's default too).
const GENERATED_DAYS: u32 = 730;

pub fn list(storage: &Path, checks: &[SelfCheckView]) -> Result<Vec<KeyView>, UiError> {
    let store = KeyStore::open(storage)?;
    Ok(store
        .list()?
        .iter()
        .map(|key| {
            view(
                key,
                checks
                    .iter()
                    .find(|c| c.address.eq_ignore_ascii_case(&key.address))
                    .cloned(),
            )
        })
        .collect())
}

pub fn generate(storage: &Path, email: &str, algorithm: &str) -> Result<KeyView, UiError> {
    let address =
        Address::parse(email.trim()).map_err(|e| UiError::new(format!("{}: {e}", email.trim())))?;
    let algorithm: Algorithm = algorithm.parse().map_err(UiError::new)?;
    let key = KeyStore::open(storage)?.generate(&address, algorithm, GENERATED_DAYS)?;
    tracing::info!(address = %key.address, "key generated");
    Ok(view(&key, None))
}

pub fn import(storage: &Path, path: &Path, password: &str) -> Result<KeyView, UiError> {
    let bytes =
        std::fs::read(path).map_err(|e| UiError::new(format!("{}: {e}", path.display())))?;
    let key = KeyStore::open(storage)?.import(&bytes, password)?;
    tracing::info!(address = %key.address, "key imported");
    Ok(view(&key, None))
}

pub fn certificate(storage: &Path, address: &Address) -> Result<X509, UiError> {
    Ok(KeyStore::open(storage)?.certificate(address)?)
}

pub fn export_certificate(storage: &Path, address: &str, path: &Path) -> Result<(), UiError> {
    let address = Address::parse(address).map_err(UiError::new)?;
    let pem = certificate(storage, &address)?.to_pem()?;
    std::fs::write(path, pem).map_err(|e| UiError::new(format!("{}: {e}", path.display())))
}

pub fn record(storage: &Path, address: &str) -> Result<RecordView, UiError> {
    let address = Address::parse(address).map_err(UiError::new)?;
    let certificate = certificate(storage, &address)?;
    let record = SmimeaRecord::new(&address, &certificate, RecordShape::default())?;
    Ok(RecordView {
        address: address.original.clone(),
        owner: record.owner.clone(),
        presentation: record.presentation(),
        generic: record.generic(),
    })
}

pub fn client_settings(
    config: &Config,
    password: &LocalPassword,
    ca_file: &Path,
) -> Result<ClientSettings, UiError> {
    let ca_pem = std::fs::read_to_string(ca_file)
        .map_err(|e| UiError::new(format!("{}: {e}", ca_file.display())))?;
    let ca = X509::from_pem(ca_pem.as_bytes())?;
    let ca_sha256 = ca
        .digest(openssl::hash::MessageDigest::sha256())?
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let host = config.smtp.listen.ip().to_string();
    let port = config.smtp.listen.port();
    let smtp_text = format!(
        "Outgoing server (SMTP): {host}\nPort: {port}\nConnection security: STARTTLS\nAuthentication: normal password\nUser name: {}\nPassword: {}\n",
        config.smtp.username, password.password
    );
    let ldap_host = config.ldap.listen.ip().to_string();
    let ldap_text = format!(
        "LDAP directory server: {ldap_host}\nPort: {}\nBase DN: {}\nNo login (anonymous), no SSL\n",
        config.ldap.listen.port(),
        config.ldap.base_dn
    );
    Ok(ClientSettings {
        smtp_host: host,
        smtp_port: port,
        smtp_security: "STARTTLS".into(),
        username: config.smtp.username.clone(),
        password: password.password.clone(),
        password_storage: password.storage.to_string(),
        ldap_enabled: config.ldap.enabled,
        ldap_host,
        ldap_port: config.ldap.listen.port(),
        ldap_base_dn: config.ldap.base_dn.clone(),
        ca_path: ca_file.display().to_string(),
        ca_pem,
        ca_sha256,
        smtp_text,
        ldap_text,
    })
}

fn view(key: &StoredKey, self_check: Option<SelfCheckView>) -> KeyView {
    let certificate = &key.certificate;
    let algorithm = certificate.public_key().map_or_else(
        |_| "unknown".to_owned(),
        |k| match (k.rsa(), k.ec_key()) {
            (Ok(rsa), _) => format!("RSA {}", rsa.size() * 8),
            (_, Ok(ec)) => ec
                .group()
                .curve_name()
                .and_then(|nid| nid.short_name().ok())
                .map_or_else(|| "EC".to_owned(), |name| format!("EC {name}")),
            _ => "other".to_owned(),
        },
    );
    let expires_at = Asn1Time::from_unix(0)
        .ok()
        .and_then(|epoch| epoch.diff(certificate.not_after()).ok())
        .map_or(0, |d| i64::from(d.days) * 86_400 + i64::from(d.secs));
    let expires = if expires_at > 0 {
        let c = crate::civil::civil(expires_at as u64);
        format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
    } else {
        certificate.not_after().to_string()
    };
    KeyView {
        address: key.address.clone(),
        algorithm,
        expires,
        expires_at,
        certificate_sha256: certificate
            .to_der()
            .map(|der| hex::encode(openssl::sha::sha256(&der)))
            .unwrap_or_default(),
        self_check,
    }
}
