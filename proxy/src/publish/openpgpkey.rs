//! The user's own OPENPGPKEY record (RFC 7929): what to publish for an
//! OpenPGP public key exported from GnuPG (presentation form and the RFC
//! 3597 generic form), and the self-check against validated DNS.

use super::{unproven, CheckReport, CheckStatus, EXPIRY_WARNING_DAYS};
use crate::dane::openpgpkey::minimal_for_dns;
use crate::dane::{Address, DaneLookup, NameForm, UsableOpenPgpKey};

/// RFC 7929 §2: OPENPGPKEY is type 61.
const OPENPGPKEY_TYPE: u16 = 61;

/// A record ready for a zone file.
#[derive(Debug, Clone)]
pub struct OpenPgpKeyRecord {
    /// Fully qualified owner name.
    pub owner: String,
    /// The key as published: minimal, binary.
    pub key: UsableOpenPgpKey,
    pub data: Vec<u8>,
}

impl OpenPgpKeyRecord {
    /// The record for `key_file` (armored or binary) at `address`'s owner
    /// name. The name hashes the lowercased local part: GnuPG publishes so
    /// and every sender tries it (RFC 7929 §3 leaves case to the domain).
    /// A key senders could not use for `address` is refused with the reason.
    pub fn new(address: &Address, key_file: &[u8], now: i64) -> Result<Self, String> {
        let key = minimal_for_dns(key_file, address, now)?;
        let data = key.to_bytes();
        Ok(Self {
            owner: owner_name(address),
            key,
            data,
        })
    }

    /// `<owner> IN OPENPGPKEY <base64>` (RFC 7929 §2.3).
    pub fn presentation(&self) -> String {
        use base64::Engine;
        format!(
            "{} IN OPENPGPKEY {}",
            self.owner,
            base64::engine::general_purpose::STANDARD.encode(&self.data)
        )
    }

    /// `<owner> IN TYPE61 \# <len> <hex>` (RFC 3597 §5), for servers that do
    /// not know OPENPGPKEY.
    pub fn generic(&self) -> String {
        format!(
            "{} IN TYPE{OPENPGPKEY_TYPE} \\# {} {}",
            self.owner,
            self.data.len(),
            hex::encode_upper(&self.data)
        )
    }
}

/// The owner name for the lowercased local part.
fn owner_name(address: &Address) -> String {
    let names = address.openpgpkey_names();
    let (_, name) = names
        .iter()
        .find(|(form, _)| *form == NameForm::Sha256Lowercase)
        .unwrap_or(&names[0]);
    name.to_ascii()
}

/// Compares what validated DNS publishes for `address` with `key`: ok when
/// a Secure record holds a key with the same primary fingerprint that
/// senders can use.
pub async fn check(lookup: &DaneLookup, address: &Address, key: &UsableOpenPgpKey) -> CheckReport {
    let finding = lookup.openpgpkey(address).await;
    let name = finding.name.to_ascii();
    let fingerprint = key.fingerprint();
    let (status, detail) = match unproven(finding.security, &name, finding.failure.as_deref()) {
        Some(verdict) => verdict,
        None if finding.records.is_empty() => (
            CheckStatus::Missing,
            format!(
                "no OPENPGPKEY record at {name}: publish the record `danemail record {} --openpgp FILE` prints",
                address.original
            ),
        ),
        None => {
            let mine = finding
                .records
                .iter()
                .find(|record| record.fingerprint.as_deref() == Some(fingerprint));
            match mine.map(|record| &record.usable) {
                None => (
                    CheckStatus::Mismatch,
                    format!(
                        "{name} publishes OPENPGPKEY, but not key {fingerprint}: update the record"
                    ),
                ),
                Some(Err(why)) => (
                    CheckStatus::Mismatch,
                    format!(
                        "{name} publishes key {fingerprint}, but senders cannot use it: {why}"
                    ),
                ),
                Some(Ok(published)) => match published.expires() {
                    Some(expires)
                        if expires - crate::civil::unix_now()
                            < i64::from(EXPIRY_WARNING_DAYS) * 86_400 =>
                    {
                        (
                            CheckStatus::Expiring,
                            format!(
                                "the published key expires on {}: extend it and update DNS",
                                crate::civil::date(expires)
                            ),
                        )
                    }
                    _ => (
                        CheckStatus::Ok,
                        format!("{name} publishes key {fingerprint}, DNSSEC-validated"),
                    ),
                },
            }
        }
    };
    CheckReport {
        address: address.original.clone(),
        status,
        detail,
    }
}
