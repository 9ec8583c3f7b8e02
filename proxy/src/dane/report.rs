//! The JSON form of a [`RecipientReport`] (schema: docs/LOOKUP-JSON.md).
//! Field names are a public interface: scripts and the UI read them.

use serde::Serialize;

use super::address::NameForm;
use super::lookup::{MxHost, RecipientReport, RrsetFinding, TlsaRecord};
use super::openpgpkey::KeyVerdict;
use super::smimea::RecordVerdict;
use crate::dns::Security;

#[derive(Serialize)]
pub struct ReportJson {
    pub address: String,
    pub decision: &'static str,
    /// `smime` or `openpgp` when the decision is `encrypt`, else `null`.
    pub standard: Option<&'static str>,
    pub reason: String,
    pub smimea: SmimeaJson,
    /// `null` with `--smimea-only` when a usable SMIMEA certificate
    /// settled the decision.
    pub openpgpkey: Option<RrsetJson<OpenPgpKeyJson>>,
    /// Security of the MX RRset itself (the hosts below share it);
    /// `null` with `--smimea-only`.
    pub mx_status: Option<Security>,
    pub mx_reason: Option<String>,
    /// `null` with `--smimea-only`.
    pub mx: Option<Vec<MxJson>>,
}

#[derive(Serialize)]
pub struct SmimeaJson {
    pub name: String,
    pub name_form: NameForm,
    pub status: Security,
    pub status_reason: Option<String>,
    pub records: Vec<SmimeaRecordJson>,
}

#[derive(Serialize)]
pub struct SmimeaRecordJson {
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    pub usable: bool,
    pub reason: String,
    pub certificate_sha256: Option<String>,
}

#[derive(Serialize)]
pub struct RrsetJson<T> {
    pub name: String,
    pub status: Security,
    pub status_reason: Option<String>,
    pub records: Vec<T>,
}

#[derive(Serialize)]
pub struct OpenPgpKeyJson {
    pub key_sha256: String,
    pub size: usize,
    pub usable: bool,
    pub reason: String,
    /// The primary key's fingerprint (uppercase hex) when the record parses.
    pub fingerprint: Option<String>,
}

#[derive(Serialize)]
pub struct MxJson {
    pub host: String,
    pub preference: u16,
    pub status: Security,
    pub tlsa: RrsetJson<TlsaJson>,
}

#[derive(Serialize)]
pub struct TlsaJson {
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    pub usable: bool,
    pub reason: String,
    pub data_sha256: String,
}

impl From<&RecipientReport> for ReportJson {
    fn from(report: &RecipientReport) -> Self {
        Self {
            address: report.address.clone(),
            decision: report.decision.action.name(),
            standard: report.decision.action.standard(),
            reason: report.decision.reason.clone(),
            smimea: SmimeaJson {
                name: report.smimea.name.to_ascii(),
                name_form: report.smimea.form,
                status: report.smimea.security,
                status_reason: report.smimea.failure.clone(),
                records: report
                    .smimea
                    .records
                    .iter()
                    .map(SmimeaRecordJson::from)
                    .collect(),
            },
            openpgpkey: report.openpgpkey.as_ref().map(|finding| {
                rrset(finding, |key: &KeyVerdict| OpenPgpKeyJson {
                    key_sha256: key.key_sha256.clone(),
                    size: key.size,
                    usable: key.usable.is_ok(),
                    reason: match &key.usable {
                        Ok(usable) => format!(
                            "usable for encryption ({} encryption key)",
                            usable.algorithm()
                        ),
                        Err(why) => why.clone(),
                    },
                    fingerprint: key.fingerprint.clone(),
                })
            }),
            mx_status: report.mx.as_ref().map(|mx| mx.security),
            mx_reason: report.mx.as_ref().and_then(|mx| mx.failure.clone()),
            mx: report.mx.as_ref().map(|mx| {
                mx.records
                    .iter()
                    .map(|host| mx_json(host, mx.security))
                    .collect()
            }),
        }
    }
}

impl From<&RecordVerdict> for SmimeaRecordJson {
    fn from(record: &RecordVerdict) -> Self {
        Self {
            usage: record.usage,
            selector: record.selector,
            matching_type: record.matching_type,
            usable: record.usable.is_ok(),
            reason: match &record.usable {
                Ok(cert) => format!(
                    "usable for encryption ({} key, usage {})",
                    match cert.key_kind() {
                        super::smimea::KeyKind::Rsa => "RSA",
                        super::smimea::KeyKind::Ec => "EC",
                    },
                    record.usage
                ),
                Err(why) => why.clone(),
            },
            certificate_sha256: record.certificate_sha256.clone(),
        }
    }
}

fn rrset<T, J>(finding: &RrsetFinding<T>, convert: impl Fn(&T) -> J) -> RrsetJson<J> {
    RrsetJson {
        name: finding.name.to_ascii(),
        status: finding.security,
        status_reason: finding.failure.clone(),
        records: finding.records.iter().map(convert).collect(),
    }
}

fn mx_json(host: &MxHost, status: Security) -> MxJson {
    MxJson {
        host: host.host.to_ascii(),
        preference: host.preference,
        status,
        tlsa: rrset(&host.tlsa, |tlsa: &TlsaRecord| TlsaJson {
            usage: tlsa.usage,
            selector: tlsa.selector,
            matching_type: tlsa.matching_type,
            usable: tlsa.usable.is_ok(),
            reason: match &tlsa.usable {
                Ok(()) => format!("usage {} applies to SMTP (RFC 7672)", tlsa.usage),
                Err(why) => why.clone(),
            },
            data_sha256: tlsa.data_sha256.clone(),
        }),
    }
}
