//! The user's own SMIMEA record: what to publish for a certificate (RFC 8162
//! presentation form and the RFC 3597 generic form for DNS servers without
//! SMIMEA), and a self-check that says loudly when DNS and the local
//! certificate disagree (seeds 001/002: operators forget to update DNS).
//! The same for an OpenPGP key and its OPENPGPKEY record: [`openpgpkey`].

pub mod openpgpkey;

use std::fmt;

use openssl::x509::X509;

use crate::dane::{Address, DaneLookup};
use crate::dns::Security;

/// Certificates expiring sooner than this are reported as `expiring`.
const EXPIRY_WARNING_DAYS: u32 = 30;

/// RFC 8162 §2: SMIMEA is type 53.
const SMIMEA_TYPE: u16 = 53;

/// The parameters of a record (RFC 6698 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordShape {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
}

impl Default for RecordShape {
    /// `3 0 0`: DANE-EE, the full certificate — what senders can encrypt to.
    fn default() -> Self {
        Self {
            usage: 3,
            selector: 0,
            matching: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("selector must be 0 (certificate) or 1 (public key), not {0}")]
    Selector(u8),
    #[error("matching type must be 0 (full), 1 (SHA-256) or 2 (SHA-512), not {0}")]
    Matching(u8),
    #[error("usage must be 0 to 3, not {0}")]
    Usage(u8),
    #[error("the certificate: {0}")]
    Certificate(String),
}

/// A record ready for a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmimeaRecord {
    /// Fully qualified owner name.
    pub owner: String,
    pub shape: RecordShape,
    /// The certificate association data.
    pub data: Vec<u8>,
}

impl SmimeaRecord {
    /// The record for `certificate` (PEM or DER) at `address`'s RFC 8162 name.
    pub fn new(
        address: &Address,
        certificate: &X509,
        shape: RecordShape,
    ) -> Result<Self, PublishError> {
        if shape.usage > 3 {
            return Err(PublishError::Usage(shape.usage));
        }
        let cert_err = |e: openssl::error::ErrorStack| PublishError::Certificate(e.to_string());
        let selected = match shape.selector {
            0 => certificate.to_der().map_err(cert_err)?,
            1 => certificate
                .public_key()
                .and_then(|k| k.public_key_to_der())
                .map_err(cert_err)?,
            other => return Err(PublishError::Selector(other)),
        };
        let data = match shape.matching {
            0 => selected,
            1 => openssl::sha::sha256(&selected).to_vec(),
            2 => openssl::sha::sha512(&selected).to_vec(),
            other => return Err(PublishError::Matching(other)),
        };
        let (_, owner) = address
            .smimea_names()
            .into_iter()
            .next()
            .expect("every address has an RFC 8162 name");
        Ok(Self {
            owner: owner.to_ascii(),
            shape,
            data,
        })
    }

    /// `<owner> IN SMIMEA 3 0 0 <HEX>` (RFC 8162 §2.2 presentation form).
    pub fn presentation(&self) -> String {
        format!(
            "{} IN SMIMEA {} {} {} {}",
            self.owner,
            self.shape.usage,
            self.shape.selector,
            self.shape.matching,
            hex::encode_upper(&self.data)
        )
    }

    /// `<owner> IN TYPE53 \# <len> <hex>` (RFC 3597 §5), for servers that do
    /// not know SMIMEA.
    pub fn generic(&self) -> String {
        let mut rdata = vec![self.shape.usage, self.shape.selector, self.shape.matching];
        rdata.extend_from_slice(&self.data);
        format!(
            "{} IN TYPE{SMIMEA_TYPE} \\# {} {}",
            self.owner,
            rdata.len(),
            hex::encode_upper(&rdata)
        )
    }
}

/// What the self-check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// DNS publishes this certificate, validated, and it is not expiring.
    Ok,
    /// Validated DNS proves there is no SMIMEA record.
    Missing,
    /// DNS publishes SMIMEA, but not for this certificate.
    Mismatch,
    /// The zone is not signed: senders cannot trust the record.
    Insecure,
    /// DNSSEC validation fails: senders hold mail for this address.
    Bogus,
    /// No verdict (timeout, SERVFAIL).
    Indeterminate,
    /// Published and valid, but the certificate expires soon.
    Expiring,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// The self-check's verdict and one sentence for the user.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    pub address: String,
    pub status: CheckStatus,
    pub detail: String,
}

/// Compares what validated DNS publishes for `address` with `certificate`.
pub async fn check(lookup: &DaneLookup, address: &Address, certificate: &X509) -> CheckReport {
    let finding = lookup.smimea(address).await;
    let name = finding.name.to_ascii();
    let (status, detail) = match unproven(finding.security, &name, finding.failure.as_deref()) {
        Some(verdict) => verdict,
        None if finding.records.is_empty() => (
            CheckStatus::Missing,
            format!("no SMIMEA record at {name}: publish the record made for this key (`danemail record`, or Keys in the app)"),
        ),
        None => {
            // A usage-3 record matching this certificate in its own shape
            // (full certificate, or SPKI / hashes of either).
            let matches = finding.records.iter().any(|record| {
                let shape = RecordShape {
                    usage: record.usage,
                    selector: record.selector,
                    matching: record.matching_type,
                };
                record.usage == 3
                    && SmimeaRecord::new(address, certificate, shape)
                        .is_ok_and(|mine| mine.data == record.data)
            });
            if !matches {
                (
                    CheckStatus::Mismatch,
                    format!(
                        "{name} publishes SMIMEA, but not for this certificate: update the record"
                    ),
                )
            } else if expires_within(certificate, EXPIRY_WARNING_DAYS) {
                (
                    CheckStatus::Expiring,
                    format!(
                        "the published certificate expires on {}: renew it and update DNS",
                        certificate.not_after()
                    ),
                )
            } else {
                (
                    CheckStatus::Ok,
                    format!("{name} publishes this certificate, DNSSEC-validated"),
                )
            }
        }
    };
    CheckReport {
        address: address.original.clone(),
        status,
        detail,
    }
}

/// The verdict when DNS did not give a validated answer (bogus,
/// indeterminate, insecure); `None` when it did.
pub(crate) fn unproven(
    security: Security,
    name: &str,
    failure: Option<&str>,
) -> Option<(CheckStatus, String)> {
    match security {
        Security::Bogus => Some((
            CheckStatus::Bogus,
            format!(
                "DNSSEC validation fails for {name}: {}; senders will hold mail to you",
                failure.unwrap_or("bogus")
            ),
        )),
        Security::Indeterminate => Some((
            CheckStatus::Indeterminate,
            format!("no verdict for {name}: {}", failure.unwrap_or("no answer")),
        )),
        Security::Insecure => Some((
            CheckStatus::Insecure,
            format!(
                "the zone holding {name} is not DNSSEC-signed; senders cannot trust the record"
            ),
        )),
        Security::Secure => None,
    }
}

fn expires_within(certificate: &X509, days: u32) -> bool {
    openssl::asn1::Asn1Time::days_from_now(days).is_ok_and(|soon| certificate.not_after() < soon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_forms() {
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let mut b = X509::builder().unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let cert = b.build();
        let address = Address::parse("hugh@example.com").unwrap();
        let full = SmimeaRecord::new(&address, &cert, RecordShape::default()).unwrap();
        assert_eq!(full.data, cert.to_der().unwrap());
        let text = full.presentation();
        assert!(text.starts_with(
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._smimecert.example.com. IN SMIMEA 3 0 0 "
        ), "{text}");
        let generic = full.generic();
        assert!(
            generic.contains(&format!("TYPE53 \\# {} 030000", full.data.len() + 3)),
            "{generic}"
        );
        let spki = SmimeaRecord::new(
            &address,
            &cert,
            RecordShape {
                usage: 3,
                selector: 1,
                matching: 1,
            },
        )
        .unwrap();
        assert_eq!(spki.data.len(), 32);
        assert!(SmimeaRecord::new(
            &address,
            &cert,
            RecordShape {
                usage: 3,
                selector: 2,
                matching: 0
            }
        )
        .is_err());
        assert!(SmimeaRecord::new(
            &address,
            &cert,
            RecordShape {
                usage: 3,
                selector: 0,
                matching: 3
            }
        )
        .is_err());
    }
}
