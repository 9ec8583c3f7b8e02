//! The trust table of DESIGN.md: what to do with one recipient, given what
//! validated DNS proves about its SMIMEA records and the configured policy.
//!
//! | SMIMEA lookup proves               | opportunistic | require  |
//! |------------------------------------|---------------|----------|
//! | secure, a usable certificate       | encrypt       | encrypt  |
//! | secure denial (NSEC/NSEC3)         | plaintext     | refuse   |
//! | insecure (provably unsigned)       | plaintext     | refuse   |
//! | secure, no record usable           | plaintext(!)  | refuse   |
//! | bogus                              | tempfail 4.7.5| tempfail |
//! | indeterminate                      | tempfail 4.4.3| tempfail |
//!
//! OPENPGPKEY (RFC 7929) comes second: a usable SMIMEA certificate means
//! S/MIME; else a usable OpenPGP key means PGP/MIME; else the table above,
//! with a bogus or indeterminate OPENPGPKEY answer a temporary failure just
//! as for SMIMEA. `[policy] prefer = "openpgp"` picks OpenPGP when both are
//! usable. A failed SMIMEA lookup beside a validated, usable OpenPGP key
//! still encrypts, as PGP/MIME: that key was proven, and nothing goes in
//! the clear.

use std::fmt;

use super::openpgpkey::{KeyVerdict, UsableOpenPgpKey};
use super::smimea::UsableCertificate;
use super::{RrsetFinding, SmimeaFinding};
use crate::config::{PolicyMode, Prefer};
use crate::dns::Security;

/// What happens to one recipient.
#[must_use = "a recipient decision must be acted on"]
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    /// One human sentence: what DNS proved and why this follows.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Encrypt as S/MIME to every one of these certificates (at least one).
    Encrypt(Vec<UsableCertificate>),
    /// Encrypt as PGP/MIME to every one of these OpenPGP keys (at least one).
    EncryptOpenPgp(Vec<UsableOpenPgpKey>),
    /// Send as the client wrote it.
    Plaintext,
    /// Permanent refusal (5.7.1): policy requires encryption and none is possible.
    Refuse,
    /// Temporary refusal: never downgraded to plaintext.
    Tempfail(TempfailCause),
}

/// Why a recipient is refused for now; picks the enhanced status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempfailCause {
    /// Validation failed (RFC 3463 4.7.5: cryptographic failure).
    Bogus,
    /// No verdict could be reached (RFC 3463 4.4.3: directory server failure).
    Indeterminate,
}

impl Action {
    /// The name used in JSON and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Encrypt(_) | Self::EncryptOpenPgp(_) => "encrypt",
            Self::Plaintext => "plaintext",
            Self::Refuse => "refuse",
            Self::Tempfail(_) => "tempfail",
        }
    }
}

impl Action {
    /// Whether the recipient gets an encrypted copy (either standard).
    pub fn encrypts(&self) -> bool {
        matches!(self, Self::Encrypt(_) | Self::EncryptOpenPgp(_))
    }

    /// The standard a copy is encrypted with: `smime`, `openpgp`, or none.
    pub fn standard(&self) -> Option<&'static str> {
        match self {
            Self::Encrypt(_) => Some("smime"),
            Self::EncryptOpenPgp(_) => Some("openpgp"),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Decision {
    /// Applies the trust table to what was found for `address`: SMIMEA, and
    /// OPENPGPKEY when it was looked up (`None`: not needed, because SMIMEA
    /// gave a usable certificate and S/MIME is preferred).
    pub fn decide(
        address: &str,
        smimea: &SmimeaFinding,
        openpgp: Option<&RrsetFinding<KeyVerdict>>,
        policy: PolicyMode,
        prefer: Prefer,
    ) -> Self {
        let smime = Self::decide_smimea(address, smimea, policy);
        let Some(openpgp) = openpgp else {
            return smime;
        };
        let usable: Vec<UsableOpenPgpKey> = openpgp
            .records
            .iter()
            .filter_map(|r| r.usable.as_ref().ok().cloned())
            .collect();
        let name = openpgp.name.to_ascii();
        match (&smime.action, openpgp.security) {
            (Action::Encrypt(_), _) if prefer == Prefer::Smime || usable.is_empty() => smime,
            (_, Security::Secure) if !usable.is_empty() => {
                let why = match &smime.action {
                    Action::Encrypt(_) => {
                        "; it also publishes SMIMEA, and [policy] prefer = \"openpgp\"".to_owned()
                    }
                    Action::Tempfail(_) => format!(" (SMIMEA: {})", smime.reason),
                    _ => String::new(),
                };
                Self {
                    reason: format!(
                        "{address} publishes {} usable OpenPGP key{} in DNSSEC-validated OPENPGPKEY ({}): encrypted as PGP/MIME{why}",
                        usable.len(),
                        if usable.len() == 1 { "" } else { "s" },
                        usable
                            .iter()
                            .map(|k| format!("{} {}", k.algorithm(), k.fingerprint()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    action: Action::EncryptOpenPgp(usable),
                }
            }
            // A failed SMIMEA lookup stays the answer; a bogus OPENPGPKEY
            // outranks an indeterminate SMIMEA (4.7.5 says more than 4.4.3).
            (Action::Tempfail(TempfailCause::Bogus), _) => smime,
            (_, Security::Bogus) => Self {
                action: Action::Tempfail(TempfailCause::Bogus),
                reason: format!(
                    "DNSSEC validation failed for {name} (OPENPGPKEY): {}; possible attack; not sending in the clear",
                    openpgp.failure.as_deref().unwrap_or("bogus answer")
                ),
            },
            (Action::Tempfail(_), _) => smime,
            (_, Security::Indeterminate) => Self {
                action: Action::Tempfail(TempfailCause::Indeterminate),
                reason: format!(
                    "the DNSSEC status of {name} (OPENPGPKEY) could not be determined: {}; not sending in the clear",
                    openpgp.failure.as_deref().unwrap_or("no answer")
                ),
            },
            (Action::Plaintext | Action::Refuse, Security::Secure) if !openpgp.records.is_empty() => {
                let why: Vec<&str> = openpgp
                    .records
                    .iter()
                    .filter_map(|r| r.usable.as_ref().err().map(String::as_str))
                    .collect();
                Self {
                    action: smime.action,
                    reason: format!(
                        "{}; it publishes OPENPGPKEY but no key is usable: {}",
                        smime.reason,
                        why.join("; ")
                    ),
                }
            }
            (_, Security::Insecure) => Self {
                action: smime.action,
                reason: format!(
                    "{}; its OPENPGPKEY answer is insecure (not DNSSEC-signed), so it cannot be trusted",
                    smime.reason
                ),
            },
            _ => Self {
                action: smime.action,
                reason: format!("{}; no OPENPGPKEY either (absence proven by DNSSEC)", smime.reason),
            },
        }
    }

    /// The trust table for the SMIMEA finding alone.
    fn decide_smimea(address: &str, finding: &SmimeaFinding, policy: PolicyMode) -> Self {
        let name = finding.name.to_ascii();
        let no_encryption = |why: String| match policy {
            PolicyMode::Opportunistic => Self {
                action: Action::Plaintext,
                reason: why,
            },
            PolicyMode::Require => Self {
                action: Action::Refuse,
                reason: format!("{why}; policy requires encryption"),
            },
        };
        match finding.security {
            Security::Bogus => Self {
                action: Action::Tempfail(TempfailCause::Bogus),
                reason: format!(
                    "DNSSEC validation failed for {name}: {}; possible attack; not sending in the clear",
                    finding.failure.as_deref().unwrap_or("bogus answer")
                ),
            },
            Security::Indeterminate => Self {
                action: Action::Tempfail(TempfailCause::Indeterminate),
                reason: format!(
                    "the DNSSEC status of {name} could not be determined: {}; not sending in the clear",
                    finding.failure.as_deref().unwrap_or("no answer")
                ),
            },
            Security::Insecure => no_encryption(format!(
                "the SMIMEA answer for {address} is insecure (its zone, or a CNAME target's, is not DNSSEC-signed), so it cannot be trusted"
            )),
            Security::Secure if finding.records.is_empty() => no_encryption(format!(
                "{address} publishes no SMIMEA record (absence proven by DNSSEC)"
            )),
            Security::Secure => {
                let usable: Vec<UsableCertificate> = finding
                    .records
                    .iter()
                    .filter_map(|r| r.usable.as_ref().ok().cloned())
                    .collect();
                if usable.is_empty() {
                    let why: Vec<&str> = finding
                        .records
                        .iter()
                        .filter_map(|r| r.usable.as_ref().err().map(String::as_str))
                        .collect();
                    no_encryption(format!(
                        "{address} publishes SMIMEA but no record is usable: {}",
                        why.join("; ")
                    ))
                } else {
                    let reason = format!(
                        "{address} publishes {} usable certificate{} in DNSSEC-validated SMIMEA{}: encrypted as S/MIME",
                        usable.len(),
                        if usable.len() == 1 { "" } else { "s" },
                        if finding.form.is_legacy() {
                            " (legacy SHA2-224 owner name)"
                        } else {
                            ""
                        }
                    );
                    Self {
                        action: Action::Encrypt(usable),
                        reason,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dane::address::{Address, NameForm};
    use crate::dane::{openpgpkey, smimea};
    use hickory_resolver::proto::rr::rdata::TLSA;
    use hickory_resolver::proto::rr::Name;

    /// A Curve25519 key for pgp@example.org made by GnuPG (no expiry).
    const KEY: &[u8] = include_bytes!("testdata/pgp-example.org.pgp");
    const ADDRESS: &str = "pgp@example.org";

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn now() -> i64 {
        crate::civil::unix_now()
    }

    /// A usable SMIMEA 3 0 0 record: a fresh self-signed RSA certificate.
    fn usable_certificate() -> smimea::RecordVerdict {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509::X509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut builder = X509::builder().unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let der = builder.build().to_der().unwrap();
        let verdict = smimea::evaluate(&TLSA::new(3.into(), 0.into(), 0.into(), der), now());
        assert!(
            verdict.usable.is_ok(),
            "{:?}",
            verdict.usable.as_ref().err()
        );
        verdict
    }

    fn smimea(security: Security, usable: bool) -> SmimeaFinding {
        SmimeaFinding {
            name: name("x._smimecert.example.org."),
            form: NameForm::Sha256,
            security,
            failure: None,
            records: if usable {
                vec![usable_certificate()]
            } else {
                Vec::new()
            },
        }
    }

    fn openpgp(security: Security, key_for: Option<&str>) -> RrsetFinding<KeyVerdict> {
        let records = key_for
            .map(|address| {
                let mut verdict =
                    openpgpkey::evaluate(KEY, &Address::parse(address).unwrap(), now());
                if security != Security::Secure {
                    verdict.usable = Err("not DNSSEC-validated".into());
                }
                vec![verdict]
            })
            .unwrap_or_default();
        RrsetFinding {
            name: name("x._openpgpkey.example.org."),
            security,
            failure: None,
            records,
        }
    }

    fn decide(
        smimea: &SmimeaFinding,
        pgp: &RrsetFinding<KeyVerdict>,
        policy: PolicyMode,
        prefer: Prefer,
    ) -> Decision {
        Decision::decide(ADDRESS, smimea, Some(pgp), policy, prefer)
    }

    #[test]
    fn a_usable_openpgp_key_encrypts_when_no_certificate_does() {
        for policy in [PolicyMode::Opportunistic, PolicyMode::Require] {
            let d = decide(
                &smimea(Security::Secure, false),
                &openpgp(Security::Secure, Some(ADDRESS)),
                policy,
                Prefer::Smime,
            );
            assert!(
                matches!(d.action, Action::EncryptOpenPgp(ref keys) if keys.len() == 1),
                "{d:?}"
            );
            assert_eq!(d.action.standard(), Some("openpgp"));
            assert!(d.reason.contains("encrypted as PGP/MIME"), "{}", d.reason);
        }
    }

    #[test]
    fn both_usable_the_preference_chooses() {
        let certificate = smimea(Security::Secure, true);
        let key = openpgp(Security::Secure, Some(ADDRESS));
        let d = decide(&certificate, &key, PolicyMode::Opportunistic, Prefer::Smime);
        assert!(matches!(d.action, Action::Encrypt(_)), "{d:?}");
        assert!(d.reason.contains("encrypted as S/MIME"), "{}", d.reason);
        let d = decide(
            &certificate,
            &key,
            PolicyMode::Opportunistic,
            Prefer::OpenPgp,
        );
        assert!(matches!(d.action, Action::EncryptOpenPgp(_)), "{d:?}");
        assert!(d.reason.contains("prefer = \"openpgp\""), "{}", d.reason);
    }

    #[test]
    fn a_failed_openpgpkey_answer_holds_the_mail() {
        let absent = smimea(Security::Secure, false);
        let d = decide(
            &absent,
            &openpgp(Security::Bogus, None),
            PolicyMode::Opportunistic,
            Prefer::Smime,
        );
        assert!(
            matches!(d.action, Action::Tempfail(TempfailCause::Bogus)),
            "{d:?}"
        );
        let d = decide(
            &absent,
            &openpgp(Security::Indeterminate, None),
            PolicyMode::Opportunistic,
            Prefer::Smime,
        );
        assert!(
            matches!(d.action, Action::Tempfail(TempfailCause::Indeterminate)),
            "{d:?}"
        );
        // A bogus SMIMEA stays the answer when OPENPGPKEY has no usable key.
        let bogus = smimea(Security::Bogus, false);
        let d = decide(
            &bogus,
            &openpgp(Security::Indeterminate, None),
            PolicyMode::Opportunistic,
            Prefer::Smime,
        );
        assert!(
            matches!(d.action, Action::Tempfail(TempfailCause::Bogus)),
            "{d:?}"
        );
        let d = decide(
            &bogus,
            &openpgp(Security::Secure, None),
            PolicyMode::Opportunistic,
            Prefer::Smime,
        );
        assert!(
            matches!(d.action, Action::Tempfail(TempfailCause::Bogus)),
            "{d:?}"
        );
    }

    #[test]
    fn a_failed_smimea_lookup_beside_a_usable_key_encrypts_as_pgp_mime() {
        for security in [Security::Bogus, Security::Indeterminate] {
            let d = decide(
                &smimea(security, false),
                &openpgp(Security::Secure, Some(ADDRESS)),
                PolicyMode::Opportunistic,
                Prefer::Smime,
            );
            assert!(matches!(d.action, Action::EncryptOpenPgp(_)), "{d:?}");
            assert!(d.reason.contains("SMIMEA:"), "{}", d.reason);
        }
    }

    #[test]
    fn keys_that_cannot_be_used_leave_the_smimea_row_standing_with_words() {
        let absent = smimea(Security::Secure, false);
        // The key names another address.
        let d = decide(
            &absent,
            &openpgp(Security::Secure, Some("someone@example.org")),
            PolicyMode::Opportunistic,
            Prefer::Smime,
        );
        assert!(matches!(d.action, Action::Plaintext), "{d:?}");
        assert!(d.reason.contains("no key is usable"), "{}", d.reason);
        let d = decide(
            &absent,
            &openpgp(Security::Secure, Some("someone@example.org")),
            PolicyMode::Require,
            Prefer::Smime,
        );
        assert!(matches!(d.action, Action::Refuse), "{d:?}");
        // Insecure: never used, whatever it holds.
        let d = decide(
            &absent,
            &openpgp(Security::Insecure, Some(ADDRESS)),
            PolicyMode::Opportunistic,
            Prefer::Smime,
        );
        assert!(matches!(d.action, Action::Plaintext), "{d:?}");
        assert!(d.reason.contains("insecure"), "{}", d.reason);
    }
}
