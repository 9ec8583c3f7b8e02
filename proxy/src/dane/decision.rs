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

use std::fmt;

use super::smimea::UsableCertificate;
use super::SmimeaFinding;
use crate::config::PolicyMode;
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
    /// Encrypt to every one of these certificates (at least one).
    Encrypt(Vec<UsableCertificate>),
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
            Self::Encrypt(_) => "encrypt",
            Self::Plaintext => "plaintext",
            Self::Refuse => "refuse",
            Self::Tempfail(_) => "tempfail",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Decision {
    /// Applies the trust table to an SMIMEA finding for `address`.
    pub fn decide(address: &str, finding: &SmimeaFinding, policy: PolicyMode) -> Self {
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
                        "{address} publishes {} usable certificate{} in DNSSEC-validated SMIMEA{}",
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
