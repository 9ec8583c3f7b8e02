//! Per-recipient planning: one submitted message and its envelope, with a
//! DANE decision per recipient, become the copies to send.
//!
//! - Visible (To/Cc) recipients with certificates share one encrypted copy
//!   per key kind: RSA and EC recipients never share an EnvelopedData (NSS
//!   then fails for everyone).
//! - Visible recipients with OpenPGP keys share one PGP/MIME copy; S/MIME
//!   and OpenPGP recipients never share a copy.
//! - Each Bcc recipient (an envelope recipient not in To/Cc) with a
//!   certificate or key gets a copy of their own: no RecipientInfo or
//!   PKESK of theirs appears anywhere else, and no other's in theirs.
//! - Plaintext recipients share one copy, exactly as written minus `Bcc`.
//! - Refused and temporarily failed recipients get no copy.
//! - Mail the client already encrypted goes to everyone as it is.

use std::io::Write;

use crate::dane::{Action, Decision, KeyKind, UsableCertificate, UsableOpenPgpKey};
use crate::mime::Message;
use crate::pgpmime::{self, PgpMimeError};
use crate::smime::{write_encrypted, EncryptOptions, SmimeError};

/// The copies to send, and the recipients that get none.
#[derive(Debug)]
pub struct Plan {
    pub copies: Vec<Copy>,
    pub refused: Vec<Refusal>,
}

/// One outgoing message and its envelope recipients.
#[derive(Debug)]
pub struct Copy {
    pub recipients: Vec<String>,
    pub body: CopyBody,
}

#[derive(Debug)]
pub enum CopyBody {
    /// Already encrypted by the client: the original bytes (minus any `Bcc` field).
    PassThrough,
    /// As the client wrote it, minus any `Bcc` field.
    Plaintext,
    /// Encrypted as S/MIME to exactly these certificates.
    Encrypted(Vec<UsableCertificate>),
    /// Encrypted as PGP/MIME to exactly these OpenPGP keys.
    EncryptedOpenPgp(Vec<UsableOpenPgpKey>),
}

impl CopyBody {
    /// The kind recorded in the outbox and shown to the user.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PassThrough => "pass-through",
            Self::Plaintext => "plaintext",
            Self::Encrypted(_) => "encrypted",
            Self::EncryptedOpenPgp(_) => "encrypted-openpgp",
        }
    }
}

/// The user's own certificate and OpenPGP key, added to the encrypted
/// copies they fit so the user can read what they sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Senders<'a> {
    pub certificate: Option<&'a UsableCertificate>,
    pub openpgp: Option<&'a UsableOpenPgpKey>,
}

/// Why a copy could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Smime(#[from] SmimeError),
    #[error(transparent)]
    OpenPgp(#[from] PgpMimeError),
}

/// A recipient that gets no copy, and why.
#[derive(Debug)]
pub struct Refusal {
    pub recipient: String,
    pub decision: Decision,
}

impl Plan {
    /// Plans `message` for `recipients` (envelope order, each with its
    /// decision). The user's certificate is added to every S/MIME copy of
    /// the same key kind, the user's OpenPGP key to every PGP/MIME copy.
    pub fn new(
        message: &Message,
        recipients: Vec<(String, Decision)>,
        senders: Senders<'_>,
    ) -> Self {
        let sender = senders.certificate;
        if message.protection().is_some() {
            return Self {
                copies: vec![Copy {
                    recipients: recipients.into_iter().map(|(r, _)| r).collect(),
                    body: CopyBody::PassThrough,
                }],
                refused: Vec::new(),
            };
        }
        let visible: Vec<String> = message
            .to()
            .into_iter()
            .chain(message.cc())
            .map(|a| a.to_lowercase())
            .collect();
        let is_visible = |r: &str| visible.contains(&r.to_lowercase());

        let mut groups: [(KeyKind, Vec<String>, Vec<UsableCertificate>); 2] = [
            (KeyKind::Rsa, Vec::new(), Vec::new()),
            (KeyKind::Ec, Vec::new(), Vec::new()),
        ];
        let mut openpgp_visible: (Vec<String>, Vec<UsableOpenPgpKey>) = (Vec::new(), Vec::new());
        let mut bcc_copies = Vec::new();
        let mut plaintext = Vec::new();
        let mut refused = Vec::new();
        for (recipient, decision) in recipients {
            match &decision.action {
                Action::Encrypt(certificates) => {
                    let (kind, certificates) = one_kind(certificates);
                    if is_visible(&recipient) {
                        let group = groups.iter_mut().find(|g| g.0 == kind).expect("both kinds");
                        group.1.push(recipient);
                        group.2.extend(certificates);
                    } else {
                        bcc_copies.push(Copy {
                            recipients: vec![recipient],
                            body: CopyBody::Encrypted(with_sender(certificates, kind, sender)),
                        });
                    }
                }
                Action::EncryptOpenPgp(keys) => {
                    if is_visible(&recipient) {
                        openpgp_visible.0.push(recipient);
                        // One session key packet per key, however many
                        // recipients share it.
                        for key in keys {
                            if !openpgp_visible
                                .1
                                .iter()
                                .any(|k| k.fingerprint() == key.fingerprint())
                            {
                                openpgp_visible.1.push(key.clone());
                            }
                        }
                    } else {
                        bcc_copies.push(Copy {
                            recipients: vec![recipient],
                            body: CopyBody::EncryptedOpenPgp(with_openpgp_sender(
                                keys.clone(),
                                senders.openpgp,
                            )),
                        });
                    }
                }
                Action::Plaintext => plaintext.push(recipient),
                Action::Refuse | Action::Tempfail(_) => refused.push(Refusal {
                    recipient,
                    decision,
                }),
            }
        }
        let mut copies: Vec<Copy> = groups
            .into_iter()
            .filter(|(_, recipients, _)| !recipients.is_empty())
            .map(|(kind, recipients, certificates)| Copy {
                recipients,
                body: CopyBody::Encrypted(with_sender(certificates, kind, sender)),
            })
            .collect();
        if !openpgp_visible.0.is_empty() {
            copies.push(Copy {
                recipients: openpgp_visible.0,
                body: CopyBody::EncryptedOpenPgp(with_openpgp_sender(
                    openpgp_visible.1,
                    senders.openpgp,
                )),
            });
        }
        copies.extend(bcc_copies);
        if !plaintext.is_empty() {
            copies.push(Copy {
                recipients: plaintext,
                body: CopyBody::Plaintext,
            });
        }
        Self { copies, refused }
    }
}

impl Copy {
    /// Writes this copy of `message` to `out`.
    pub fn write(
        &self,
        message: &Message,
        options: EncryptOptions,
        out: &mut dyn Write,
    ) -> Result<(), CopyError> {
        match &self.body {
            CopyBody::PassThrough | CopyBody::Plaintext => {
                write_without_bcc(message, out).map_err(SmimeError::Io)?;
                out.flush().map_err(SmimeError::Io)?;
                Ok(())
            }
            CopyBody::Encrypted(certificates) => {
                let certs: Vec<&openssl::x509::X509Ref> = certificates
                    .iter()
                    .map(|c| c.certificate().as_ref())
                    .collect();
                Ok(write_encrypted(message, &certs, options, out)?)
            }
            CopyBody::EncryptedOpenPgp(keys) => {
                let keys: Vec<&UsableOpenPgpKey> = keys.iter().collect();
                Ok(pgpmime::write_encrypted(message, &keys, out)?)
            }
        }
    }
}

/// The message exactly as written, except that `Bcc` fields are dropped
/// (RFC 5322 §3.6.3): byte-identical when there is none.
fn write_without_bcc(message: &Message, out: &mut dyn Write) -> std::io::Result<()> {
    for (name, whole) in message.fields() {
        if !name.eq_ignore_ascii_case(b"Bcc") {
            out.write_all(whole)?;
        }
    }
    out.write_all(&message.header()[message.header_end()..])?;
    std::io::copy(&mut message.body().reader(), out)?;
    Ok(())
}

/// Adds the sender's OpenPGP key unless it is already there.
fn with_openpgp_sender(
    mut keys: Vec<UsableOpenPgpKey>,
    sender: Option<&UsableOpenPgpKey>,
) -> Vec<UsableOpenPgpKey> {
    if let Some(sender) = sender {
        if !keys.iter().any(|k| k.fingerprint() == sender.fingerprint()) {
            keys.push(sender.clone());
        }
    }
    keys
}

/// A recipient's certificates of one key kind: RSA when it has any (every
/// client reads RSA), else EC.
fn one_kind(certificates: &[UsableCertificate]) -> (KeyKind, Vec<UsableCertificate>) {
    let kind = if certificates.iter().any(|c| c.key_kind() == KeyKind::Rsa) {
        KeyKind::Rsa
    } else {
        KeyKind::Ec
    };
    let chosen = certificates
        .iter()
        .filter(|c| c.key_kind() == kind)
        .cloned()
        .collect();
    (kind, chosen)
}

/// Adds the sender's certificate when its key kind matches (a mixed
/// EnvelopedData would be unreadable in NSS for every recipient) and it is
/// not already there.
fn with_sender(
    mut certificates: Vec<UsableCertificate>,
    kind: KeyKind,
    sender: Option<&UsableCertificate>,
) -> Vec<UsableCertificate> {
    if let Some(sender) = sender {
        if sender.key_kind() == kind && !certificates.iter().any(|c| c.sha256() == sender.sha256())
        {
            certificates.push(sender.clone());
        }
    }
    certificates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dane::TempfailCause;
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::x509::{X509NameBuilder, X509};

    fn cert(key: &PKey<Private>) -> UsableCertificate {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        b.sign(key, MessageDigest::sha256()).unwrap();
        let der = b.build().to_der().unwrap();
        UsableCertificate::from_user_file(
            &der,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        )
        .unwrap()
    }

    fn rsa() -> UsableCertificate {
        cert(&PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
    }

    fn ec() -> UsableCertificate {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        cert(&PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap())
    }

    fn decision(action: Action) -> Decision {
        Decision {
            action,
            reason: "test".into(),
        }
    }

    fn names(copy: &Copy) -> Vec<&str> {
        copy.recipients.iter().map(String::as_str).collect()
    }

    fn certs(copy: &Copy) -> Vec<String> {
        match &copy.body {
            CopyBody::Encrypted(certs) => certs.iter().map(|c| c.sha256().to_owned()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn copies_split_by_visibility_and_key_kind() {
        let message = Message::parse(
            b"From: me@x.test\r\nTo: a@x.test, B@X.test\r\nCc: c@x.test, p@x.test\r\nSubject: s\r\n\r\nbody\r\n",
        )
        .unwrap();
        let (a, b, c, bcc1, bcc2, sender) = (rsa(), rsa(), ec(), rsa(), ec(), rsa());
        let plan = Plan::new(
            &message,
            vec![
                (
                    "a@x.test".into(),
                    decision(Action::Encrypt(vec![a.clone()])),
                ),
                (
                    "b@x.test".into(),
                    decision(Action::Encrypt(vec![b.clone(), ec()])),
                ),
                (
                    "c@x.test".into(),
                    decision(Action::Encrypt(vec![c.clone()])),
                ),
                (
                    "hidden1@x.test".into(),
                    decision(Action::Encrypt(vec![bcc1.clone()])),
                ),
                (
                    "hidden2@x.test".into(),
                    decision(Action::Encrypt(vec![bcc2.clone()])),
                ),
                ("p@x.test".into(), decision(Action::Plaintext)),
                ("hidden3@x.test".into(), decision(Action::Plaintext)),
                ("r@x.test".into(), decision(Action::Refuse)),
                (
                    "t@x.test".into(),
                    decision(Action::Tempfail(TempfailCause::Bogus)),
                ),
            ],
            Senders {
                certificate: Some(&sender),
                openpgp: None,
            },
        );
        let sha = |c: &UsableCertificate| c.sha256().to_owned();
        assert_eq!(plan.copies.len(), 5);
        // Visible RSA: a and b (b's EC certificate left out), plus the sender.
        assert_eq!(names(&plan.copies[0]), ["a@x.test", "b@x.test"]);
        assert_eq!(certs(&plan.copies[0]), [sha(&a), sha(&b), sha(&sender)]);
        // Visible EC: c alone; the RSA sender certificate is not mixed in.
        assert_eq!(names(&plan.copies[1]), ["c@x.test"]);
        assert_eq!(certs(&plan.copies[1]), [sha(&c)]);
        // Each Bcc recipient alone.
        assert_eq!(names(&plan.copies[2]), ["hidden1@x.test"]);
        assert_eq!(certs(&plan.copies[2]), [sha(&bcc1), sha(&sender)]);
        assert_eq!(names(&plan.copies[3]), ["hidden2@x.test"]);
        assert_eq!(certs(&plan.copies[3]), [sha(&bcc2)]);
        // Plaintext for the rest; refusals carry their decision.
        assert_eq!(names(&plan.copies[4]), ["p@x.test", "hidden3@x.test"]);
        assert!(matches!(plan.copies[4].body, CopyBody::Plaintext));
        let refused: Vec<&str> = plan.refused.iter().map(|r| r.recipient.as_str()).collect();
        assert_eq!(refused, ["r@x.test", "t@x.test"]);
    }

    #[test]
    fn plaintext_copy_drops_bcc_and_nothing_else() {
        let raw = b"From: me@x.test\r\nTo: a@x.test\r\nBcc: secret@x.test,\r\n other@x.test\r\nSubject: s\r\n\r\nbody\r\n";
        let message = Message::parse(raw).unwrap();
        let plan = Plan::new(
            &message,
            vec![("a@x.test".into(), decision(Action::Plaintext))],
            Senders::default(),
        );
        let mut out = Vec::new();
        plan.copies[0]
            .write(&message, EncryptOptions::default(), &mut out)
            .unwrap();
        assert_eq!(
            out,
            b"From: me@x.test\r\nTo: a@x.test\r\nSubject: s\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn openpgp_recipients_get_their_own_copies_never_mixed_with_smime() {
        let now = crate::civil::unix_now();
        let key = crate::dane::UsableOpenPgpKey::from_user_file(
            include_bytes!("dane/testdata/pgp-example.org.pgp"),
            now,
        )
        .unwrap();
        let message = Message::parse(
            b"From: me@x.test\r\nTo: pgp1@x.test, smime@x.test\r\nCc: pgp2@x.test\r\nSubject: s\r\n\r\nbody\r\n",
        )
        .unwrap();
        let sender_key = key.clone();
        let plan = Plan::new(
            &message,
            vec![
                (
                    "pgp1@x.test".into(),
                    decision(Action::EncryptOpenPgp(vec![key.clone()])),
                ),
                (
                    "smime@x.test".into(),
                    decision(Action::Encrypt(vec![rsa()])),
                ),
                (
                    "pgp2@x.test".into(),
                    decision(Action::EncryptOpenPgp(vec![key.clone()])),
                ),
                (
                    "hidden@x.test".into(),
                    decision(Action::EncryptOpenPgp(vec![key.clone()])),
                ),
            ],
            Senders {
                certificate: None,
                openpgp: Some(&sender_key),
            },
        );
        let kinds: Vec<(Vec<&str>, &str)> = plan
            .copies
            .iter()
            .map(|c| (names(c), c.body.kind()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (vec!["smime@x.test"], "encrypted"),
                (vec!["pgp1@x.test", "pgp2@x.test"], "encrypted-openpgp"),
                (vec!["hidden@x.test"], "encrypted-openpgp"),
            ]
        );
        // The sender's key is there once, even when it is a recipient's.
        for copy in &plan.copies[1..] {
            let CopyBody::EncryptedOpenPgp(keys) = &copy.body else {
                panic!("not OpenPGP")
            };
            let mut fingerprints: Vec<&str> = keys.iter().map(|k| k.fingerprint()).collect();
            fingerprints.dedup();
            assert_eq!(fingerprints.len(), keys.len(), "a key twice");
        }
        // Each OpenPGP copy is PGP/MIME that names no Bcc recipient.
        let mut out = Vec::new();
        plan.copies[1]
            .write(&message, EncryptOptions::default(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("protocol=\"application/pgp-encrypted\""),
            "{text}"
        );
        assert!(text.contains("-----BEGIN PGP MESSAGE-----\r\n"));
        assert!(!text.contains("hidden@x.test"));
        assert!(!text.contains("\nbody"), "plaintext in the encrypted copy");
    }
}
