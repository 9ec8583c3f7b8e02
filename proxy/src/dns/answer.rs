//! What one validated DNS query proves: the five outcomes of RFC 4033 §5
//! that the rest of the product is allowed to act on.
//!
//! hickory reports validation in three different places — a `Proof` on each
//! record of an `Ok` lookup, a `Proof` on the authority records of a negative
//! answer, and error variants for bogus and failed queries. This module folds
//! all of them into one [`DnsAnswer`], and it is the only place that reads a
//! `Proof`. An upstream AD bit is never looked at: hickory validates itself.

use std::fmt;

use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::dnssec::Proof;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, Record, RecordType};

/// The validated outcome of one query.
#[must_use = "a DNS answer must be checked for its security state"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer {
    /// Records of the queried type, each (and every CNAME leading to them)
    /// chained by signatures to the trust anchor.
    Secure(Vec<RData>),
    /// NXDOMAIN or NODATA, proven by validated NSEC/NSEC3 records.
    SecureAbsent { nxdomain: bool },
    /// The name lies in a provably unsigned zone (or behind an unsigned
    /// CNAME target). `records` may be empty (insecure absence). Never to be
    /// trusted for encryption.
    Insecure(Vec<RData>),
    /// Validation failed where signatures were required: bad, missing or
    /// expired signatures, a wrong DS, stripped denial records. This is what
    /// an attack looks like.
    Bogus(String),
    /// No verdict could be reached: timeout, SERVFAIL, network failure.
    Indeterminate(String),
}

/// The four states shown to users and written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    Secure,
    Insecure,
    Bogus,
    Indeterminate,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Secure => "secure",
            Self::Insecure => "insecure",
            Self::Bogus => "bogus",
            Self::Indeterminate => "indeterminate",
        })
    }
}

impl DnsAnswer {
    pub fn security(&self) -> Security {
        match self {
            Self::Secure(_) | Self::SecureAbsent { .. } => Security::Secure,
            Self::Insecure(_) => Security::Insecure,
            Self::Bogus(_) => Security::Bogus,
            Self::Indeterminate(_) => Security::Indeterminate,
        }
    }

    /// The records, whatever their security; empty for absence and failures.
    pub fn records(&self) -> &[RData] {
        match self {
            Self::Secure(records) | Self::Insecure(records) => records,
            _ => &[],
        }
    }

    /// Why validation failed or no verdict was reached, if it did.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Self::Bogus(why) | Self::Indeterminate(why) => Some(why),
            _ => None,
        }
    }

    /// A short label for tables and the differential tests:
    /// `secure-data`, `secure-absent`, `insecure`, `bogus`, `indeterminate`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Secure(_) => "secure-data",
            Self::SecureAbsent { .. } => "secure-absent",
            Self::Insecure(_) => "insecure",
            Self::Bogus(_) => "bogus",
            Self::Indeterminate(_) => "indeterminate",
        }
    }

    /// Folds hickory's result for `query_type` into an answer.
    pub fn from_lookup(query_type: RecordType, result: &Result<Lookup, NetError>) -> Self {
        match result {
            Ok(lookup) => Self::from_records(query_type, lookup.answers()),
            Err(err) => Self::from_error(err),
        }
    }

    fn from_records(query_type: RecordType, answers: &[Record]) -> Self {
        let chain: Vec<&Record> = answers
            .iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .collect();
        let data: Vec<RData> = chain
            .iter()
            .filter(|r| r.record_type() == query_type)
            .map(|r| r.data.clone())
            .collect();
        if data.is_empty() {
            return Self::Indeterminate(format!("the answer held no {query_type} records"));
        }
        match weakest(chain.iter().map(|r| r.proof)) {
            Proof::Secure => Self::Secure(data),
            Proof::Insecure => Self::Insecure(data),
            Proof::Bogus => Self::Bogus(BOGUS_DATA.into()),
            Proof::Indeterminate => {
                Self::Indeterminate("the chain of trust could not be completed".into())
            }
        }
    }

    fn from_error(err: &NetError) -> Self {
        match err {
            NetError::Dns(DnsError::NoRecordsFound(no_records)) => Self::from_absence(no_records),
            NetError::Dns(DnsError::Nsec { proof, .. }) => match proof {
                // hickory only returns this variant for a non-secure proof;
                // should that change, only a proven denial counts as one.
                Proof::Secure => Self::Indeterminate("unexpected NSEC result".into()),
                Proof::Insecure => Self::Insecure(Vec::new()),
                Proof::Bogus => Self::Bogus(BOGUS_DENIAL.into()),
                Proof::Indeterminate => {
                    Self::Indeterminate("the denial of existence could not be validated".into())
                }
            },
            NetError::Dns(DnsError::DnssecBogus) => Self::Bogus(BOGUS_DATA.into()),
            NetError::Dns(DnsError::ResponseCode(code)) => {
                Self::Indeterminate(format!("the DNS server answered {}", rcode_name(*code)))
            }
            NetError::Timeout => {
                Self::Indeterminate("no answer from the DNS server (timeout)".into())
            }
            NetError::NoConnections => Self::Indeterminate("no DNS server could be reached".into()),
            NetError::Io(io) => Self::Indeterminate(format!("network error: {io}")),
            other => Self::Indeterminate(format!("DNS query failed: {other}")),
        }
    }

    fn from_absence(no_records: &NoRecords) -> Self {
        let nxdomain = no_records.response_code == ResponseCode::NXDomain;
        let Some(authorities) = &no_records.authorities else {
            return Self::Indeterminate(
                "a negative answer came without an authority section".into(),
            );
        };
        let proofs: Vec<&Record> = authorities
            .iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .collect();
        let has_denial = proofs
            .iter()
            .any(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3));
        match weakest(proofs.iter().map(|r| r.proof)) {
            Proof::Secure if has_denial => Self::SecureAbsent { nxdomain },
            // Signed authority data without NSEC/NSEC3 proves nothing.
            Proof::Secure => Self::Bogus(BOGUS_DENIAL.into()),
            Proof::Insecure => Self::Insecure(Vec::new()),
            Proof::Bogus => Self::Bogus(BOGUS_DENIAL.into()),
            Proof::Indeterminate => {
                Self::Indeterminate("the denial of existence could not be validated".into())
            }
        }
    }
}

const BOGUS_DATA: &str = "a signature is bad, missing or expired, or the chain of trust is broken";
const BOGUS_DENIAL: &str = "the denial of existence is not proven by valid NSEC/NSEC3 records";

/// The weakest proof of a set, Bogus dominating: one bad link taints all.
/// An empty set proves nothing.
fn weakest(proofs: impl Iterator<Item = Proof>) -> Proof {
    let mut seen_any = false;
    let mut worst = Proof::Secure;
    for proof in proofs {
        seen_any = true;
        worst = match (worst, proof) {
            (Proof::Bogus, _) | (_, Proof::Bogus) => Proof::Bogus,
            (Proof::Indeterminate, _) | (_, Proof::Indeterminate) => Proof::Indeterminate,
            (Proof::Insecure, _) | (_, Proof::Insecure) => Proof::Insecure,
            (Proof::Secure, Proof::Secure) => Proof::Secure,
        };
    }
    if seen_any {
        worst
    } else {
        Proof::Indeterminate
    }
}

fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bogus_dominates_every_other_proof() {
        use Proof::*;
        let cases = [
            (vec![Secure, Secure], Secure),
            (vec![Secure, Insecure], Insecure),
            (vec![Insecure, Indeterminate], Indeterminate),
            (vec![Indeterminate, Bogus], Bogus),
            (vec![Bogus, Secure], Bogus),
            (vec![], Indeterminate),
        ];
        for (proofs, expected) in cases {
            assert_eq!(weakest(proofs.clone().into_iter()), expected, "{proofs:?}");
        }
    }

    #[test]
    fn network_errors_are_indeterminate_never_insecure() {
        let errors = [
            NetError::Timeout,
            NetError::NoConnections,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)),
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)),
        ];
        for err in errors {
            let answer = DnsAnswer::from_error(&err);
            assert_eq!(answer.security(), Security::Indeterminate, "{err:?}");
        }
        assert_eq!(
            DnsAnswer::from_error(&NetError::Dns(DnsError::DnssecBogus)).security(),
            Security::Bogus
        );
    }
}
