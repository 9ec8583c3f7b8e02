//! The lookup engine: for one address, the SMIMEA, OPENPGPKEY, MX and TLSA
//! records that validated DNS holds, each with its own security state.

use crate::civil::unix_now;
use std::sync::Arc;

use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::task::JoinSet;

use super::address::{Address, NameForm};
use super::decision::Decision;
use super::openpgpkey::{self, KeyVerdict};
use super::recent::RecentAddresses;
use super::smimea::{self, RecordVerdict};
use crate::config::{PolicyMode, Prefer};
use crate::dns::{DnsAnswer, SecureResolver, Security};

/// What the SMIMEA lookup for one address found.
#[derive(Debug, Clone)]
pub struct SmimeaFinding {
    /// The owner name that decided the outcome (where records were found, or
    /// the RFC 8162 name when all names are proven absent).
    pub name: Name,
    pub form: NameForm,
    pub security: Security,
    /// Why validation failed, for bogus and indeterminate.
    pub failure: Option<String>,
    /// Every record at `name`, judged (empty for absence and failures).
    pub records: Vec<RecordVerdict>,
}

/// An RRset's security and a summary of its records.
#[derive(Debug, Clone)]
pub struct RrsetFinding<T> {
    pub name: Name,
    pub security: Security,
    pub failure: Option<String>,
    pub records: Vec<T>,
}

/// One MX host of the recipient's domain with its TLSA records.
#[derive(Debug, Clone)]
pub struct MxHost {
    pub host: Name,
    pub preference: u16,
    pub tlsa: RrsetFinding<TlsaRecord>,
}

/// A TLSA record for SMTP (RFC 7672).
#[derive(Debug, Clone)]
pub struct TlsaRecord {
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    pub data_sha256: String,
    /// RFC 7672 §3.1.3: only DANE-TA(2) and DANE-EE(3) apply to SMTP.
    pub usable: Result<(), String>,
}

/// Everything known about one recipient, and the decision.
#[derive(Debug, Clone)]
pub struct RecipientReport {
    pub address: String,
    pub decision: Decision,
    pub smimea: SmimeaFinding,
    /// `None` when the scope was [`Scope::SmimeaOnly`].
    pub openpgpkey: Option<RrsetFinding<KeyVerdict>>,
    /// `None` when the scope was [`Scope::SmimeaOnly`].
    pub mx: Option<RrsetFinding<MxHost>>,
}

/// How much a report looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// SMIMEA, OPENPGPKEY, MX and TLSA.
    Everything,
    /// What the decision needs (what the proxy does per RCPT): SMIMEA, and
    /// OPENPGPKEY unless a usable SMIMEA certificate settles it.
    SmimeaOnly,
}

/// The engine. Cheap to clone; share one per process so the cache is shared.
#[derive(Clone)]
pub struct DaneLookup {
    resolver: Arc<SecureResolver>,
    policy: PolicyMode,
    prefer: Prefer,
    recent: Arc<RecentAddresses>,
}

impl DaneLookup {
    pub fn new(resolver: Arc<SecureResolver>, policy: PolicyMode) -> Self {
        Self {
            resolver,
            policy,
            prefer: Prefer::default(),
            recent: Arc::new(RecentAddresses::default()),
        }
    }

    /// Which standard encrypts when both are usable (`[policy] prefer`).
    pub fn with_preference(mut self, prefer: Prefer) -> Self {
        self.prefer = prefer;
        self
    }

    pub fn resolver(&self) -> &SecureResolver {
        &self.resolver
    }

    /// Recipients recently proven to have a usable certificate.
    pub fn recent(&self) -> &RecentAddresses {
        &self.recent
    }

    /// The decision alone: what the SMTP proxy needs at RCPT time. SMIMEA
    /// first; OPENPGPKEY only when SMIMEA does not settle it.
    pub async fn decide(&self, address: &Address) -> (Decision, SmimeaFinding) {
        let smimea = self.smimea(address).await;
        let openpgp = if self.needs_openpgpkey(&smimea) {
            Some(self.openpgpkey(address).await)
        } else {
            None
        };
        let decision = Decision::decide(
            &address.original,
            &smimea,
            openpgp.as_ref(),
            self.policy,
            self.prefer,
        );
        if matches!(decision.action, super::decision::Action::Encrypt(_)) {
            self.recent.record(address);
        }
        (decision, smimea)
    }

    /// Whether OPENPGPKEY can change the decision: unless SMIMEA gave a
    /// usable certificate and S/MIME is preferred.
    fn needs_openpgpkey(&self, smimea: &SmimeaFinding) -> bool {
        let usable =
            smimea.security == Security::Secure && smimea.records.iter().any(|r| r.usable.is_ok());
        !usable || self.prefer == Prefer::OpenPgp
    }

    /// The report for `scope`; the lookups run concurrently.
    pub async fn report(&self, address: &Address, scope: Scope) -> RecipientReport {
        let (smimea, openpgpkey, mx) = match scope {
            Scope::Everything => {
                let (smimea, openpgpkey, mx) = tokio::join!(
                    self.smimea(address),
                    self.openpgpkey(address),
                    self.mx(&address.domain)
                );
                (smimea, Some(openpgpkey), Some(mx))
            }
            Scope::SmimeaOnly => {
                let smimea = self.smimea(address).await;
                let openpgp = if self.needs_openpgpkey(&smimea) {
                    Some(self.openpgpkey(address).await)
                } else {
                    None
                };
                (smimea, openpgp, None)
            }
        };
        RecipientReport {
            address: address.original.clone(),
            decision: Decision::decide(
                &address.original,
                &smimea,
                openpgpkey.as_ref(),
                self.policy,
                self.prefer,
            ),
            smimea,
            openpgpkey,
            mx,
        }
    }

    /// RFC 8162 lookup: the name as written, then lowercased, and only when
    /// both are proven absent, the legacy SHA2-224 names. Any answer other
    /// than a proven absence ends the search: a bogus or indeterminate answer
    /// must not be skipped past to a name an attacker left alone.
    pub async fn smimea(&self, address: &Address) -> SmimeaFinding {
        let names = address.smimea_names();
        let now = unix_now();
        for (form, name) in &names {
            let answer = self.resolver.query(name, RecordType::SMIMEA).await;
            if matches!(answer, DnsAnswer::SecureAbsent { .. }) {
                continue;
            }
            let secure = matches!(answer, DnsAnswer::Secure(_));
            let records = answer
                .records()
                .iter()
                .filter_map(|rdata| match rdata {
                    RData::SMIMEA(record) => Some(smimea::evaluate(record, now)),
                    _ => None,
                })
                .map(|mut verdict| {
                    // RFC 8162 §9: only a Secure answer may be used.
                    if !secure {
                        verdict.usable = Err(format!(
                            "not DNSSEC-validated ({}): never used for encryption",
                            answer.security()
                        ));
                    }
                    verdict
                })
                .collect();
            return SmimeaFinding {
                name: name.clone(),
                form: *form,
                security: answer.security(),
                failure: answer.failure().map(str::to_owned),
                records,
            };
        }
        let (form, name) = names
            .into_iter()
            .next()
            .expect("at least the RFC 8162 name");
        SmimeaFinding {
            name,
            form,
            security: Security::Secure,
            failure: None,
            records: Vec::new(),
        }
    }

    /// RFC 7929 lookup: as written, then lowercased after a proven absence
    /// (§5: the local part is hashed as written; clients fall back to the
    /// lowercased form, as GnuPG publishes it). Like SMIMEA, any answer
    /// other than a proven absence ends the search. Each record is judged
    /// for `address`; only a Secure answer may be used (RFC 7929 §7).
    pub async fn openpgpkey(&self, address: &Address) -> RrsetFinding<KeyVerdict> {
        let names = address.openpgpkey_names();
        let mut last = None;
        for (_, name) in names {
            let answer = self.resolver.query(&name, RecordType::OPENPGPKEY).await;
            let absent = matches!(answer, DnsAnswer::SecureAbsent { .. });
            last = Some((name, answer));
            if !absent {
                break;
            }
        }
        let (name, answer) = last.expect("at least one OPENPGPKEY name");
        let now = unix_now();
        let secure = matches!(answer, DnsAnswer::Secure(_));
        finding(name, &answer, |rdata| match rdata {
            RData::OPENPGPKEY(key) => {
                let mut verdict = openpgpkey::evaluate(&key.public_key, address, now);
                if !secure {
                    verdict.usable = Err(format!(
                        "not DNSSEC-validated ({}): never used for encryption",
                        answer.security()
                    ));
                }
                Some(verdict)
            }
            _ => None,
        })
    }

    /// MX of the domain, and TLSA at `_25._tcp.<host>` for each (RFC 7672 §2.2).
    async fn mx(&self, domain: &Name) -> RrsetFinding<MxHost> {
        let answer = self.resolver.query(domain, RecordType::MX).await;
        let mut hosts: Vec<(u16, Name)> = answer
            .records()
            .iter()
            .filter_map(|rdata| match rdata {
                RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                _ => None,
            })
            .collect();
        hosts.sort();

        let mx_security = answer.security();
        let mut tasks = JoinSet::new();
        for (index, (preference, host)) in hosts.into_iter().enumerate() {
            let resolver = self.resolver.clone();
            tasks.spawn(async move {
                let tlsa = tlsa_for(&resolver, &host, mx_security).await;
                (
                    index,
                    MxHost {
                        host,
                        preference,
                        tlsa,
                    },
                )
            });
        }
        let mut found: Vec<(usize, MxHost)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(entry) = joined {
                found.push(entry);
            }
        }
        found.sort_by_key(|(index, _)| *index);
        RrsetFinding {
            name: domain.clone(),
            security: answer.security(),
            failure: answer.failure().map(str::to_owned),
            records: found.into_iter().map(|(_, host)| host).collect(),
        }
    }
}

/// TLSA for one MX host. A record counts only when both its own answer and
/// the MX RRset that named the host are secure (RFC 7672 §2.2.1).
async fn tlsa_for(
    resolver: &SecureResolver,
    host: &Name,
    mx_security: Security,
) -> RrsetFinding<TlsaRecord> {
    // RFC 7505 null MX ("."): the domain accepts no mail; nothing to look up.
    let name = match Name::from_ascii("_25._tcp").and_then(|p| p.append_domain(host)) {
        Ok(name) if !host.is_root() => name,
        _ => {
            return RrsetFinding {
                name: host.clone(),
                security: Security::Secure,
                failure: None,
                records: Vec::new(),
            }
        }
    };
    let answer = resolver.query(&name, RecordType::TLSA).await;
    let tlsa_security = answer.security();
    finding(name, &answer, |rdata| match rdata {
        RData::TLSA(tlsa) => {
            let usage = u8::from(tlsa.cert_usage);
            Some(TlsaRecord {
                usage,
                selector: u8::from(tlsa.selector),
                matching_type: u8::from(tlsa.matching),
                data_sha256: hex::encode(openssl::sha::sha256(&tlsa.cert_data)),
                usable: match (mx_security, tlsa_security, usage) {
                    (Security::Secure, Security::Secure, 2 | 3) => Ok(()),
                    (Security::Secure, Security::Secure, 0 | 1) => Err(format!(
                        "usage {usage} (PKIX) does not apply to SMTP (RFC 7672 §3.1.3)"
                    )),
                    (Security::Secure, Security::Secure, other) => {
                        Err(format!("unknown certificate usage {other}"))
                    }
                    (Security::Secure, other, _) => {
                        Err(format!("the TLSA answer is {other}, not DNSSEC-validated"))
                    }
                    (other, _, _) => Err(format!(
                        "the MX RRset is {other}, so its hosts' TLSA does not apply (RFC 7672 §2.2.1)"
                    )),
                },
            })
        }
        _ => None,
    })
}

fn finding<T>(
    name: Name,
    answer: &DnsAnswer,
    pick: impl Fn(&RData) -> Option<T>,
) -> RrsetFinding<T> {
    RrsetFinding {
        name,
        security: answer.security(),
        failure: answer.failure().map(str::to_owned),
        records: answer.records().iter().filter_map(pick).collect(),
    }
}
