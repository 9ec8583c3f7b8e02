//! Per-recipient planning: one submitted message and its envelope, with a
//! DANE decision per recipient, become the copies to send.
//!
//! - Visible (To/Cc) recipients with certificates share one encrypted copy
//!   per key kind: RSA and EC recipients never share an EnvelopedData (NSS
//!   then fails for everyone).
//! - Each Bcc recipient (an envelope recipient not in To/Cc) with a
//!   certificate gets a copy of their own: no RecipientInfo of theirs
//!   appears anywhere else, and no other's in theirs.
//! - Plaintext recipients share one copy, exactly as written minus `Bcc`.
//! - Refused and temporarily failed recipients get no copy.
//! - Mail the client already encrypted goes to everyone as it is.

use std::io::Write;

use crate::dane::{Action, Decision, KeyKind, UsableCertificate};
use crate::mime::Message;
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
    /// Encrypted to exactly these certificates.
    Encrypted(Vec<UsableCertificate>),
}

/// A recipient that gets no copy, and why.
#[derive(Debug)]
pub struct Refusal {
    pub recipient: String,
    pub decision: Decision,
}

impl Plan {
    /// Plans `message` for `recipients` (envelope order, each with its
    /// decision). `sender` is the user's own certificate, added to every
    /// encrypted copy of the same key kind so the user can read it later.
    pub fn new(
        message: &Message,
        recipients: Vec<(String, Decision)>,
        sender: Option<&UsableCertificate>,
    ) -> Self {
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
    ) -> Result<(), SmimeError> {
        match &self.body {
            CopyBody::PassThrough | CopyBody::Plaintext => {
                write_without_bcc(message, out)?;
                out.flush()?;
                Ok(())
            }
            CopyBody::Encrypted(certificates) => {
                let certs: Vec<&openssl::x509::X509Ref> = certificates
                    .iter()
                    .map(|c| c.certificate().as_ref())
                    .collect();
                write_encrypted(message, &certs, options, out)
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
