//! From a received message to a durable outbox entry: plan the copies
//! (`plan`), write each one (encrypting with `smime`), commit. Runs before the
//! client hears 250, on a blocking thread (encryption and fsync).

use std::fs::File;

use base64::Engine;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::spool::{
    CopyEntry, Entry, Incoming, Received, ReceivedRecipient, RecipientState, Spool, SpoolError,
    Status,
};
use crate::dane::{Action, Decision, UsableCertificate, UsableOpenPgpKey};
use crate::mime::{FileError, Message};
use crate::pgpmime::PgpMimeError;
use crate::plan::{CopyError, Plan, Senders};
use crate::smime::{EncryptOptions, SmimeError};

/// The file in an incoming entry that DATA is written to.
pub const MESSAGE_FILE: &str = "message";

/// Why a received message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the message cannot be parsed: {0}")]
    Mime(#[from] FileError),
    #[error("cannot encrypt: {0}")]
    Smime(#[from] SmimeError),
    #[error("cannot encrypt: {0}")]
    OpenPgp(#[from] PgpMimeError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("writing the outbox: {0}")]
    Io(#[from] std::io::Error),
}

impl IntakeError {
    /// Whether the message itself is at fault (it cannot be parsed or
    /// encrypted), so that trying again cannot help. Everything else — a
    /// full disk, an I/O error, a file gone — is local and temporary: an
    /// accepted message is kept and planned again, never bounced for it.
    pub fn is_permanent(&self) -> bool {
        use crate::smime::StreamError;
        match self {
            Self::Mime(FileError::Mime(_)) => true,
            Self::Mime(FileError::Io(_)) => false,
            Self::Smime(SmimeError::Io(_) | SmimeError::Stream(StreamError::Io(_))) => false,
            Self::Smime(_) => true,
            Self::OpenPgp(PgpMimeError::Io(_)) => false,
            Self::OpenPgp(_) => true,
            Self::Spool(_) | Self::Io(_) => false,
        }
    }
}

impl From<CopyError> for IntakeError {
    fn from(error: CopyError) -> Self {
        match error {
            CopyError::Smime(e) => Self::Smime(e),
            CopyError::OpenPgp(e) => Self::OpenPgp(e),
        }
    }
}

/// What the client is told 250 about: the new id, and what the user's
/// own views show of the message.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    pub subject: Option<String>,
    pub size: u64,
}

/// Turns received messages into queued entries.
pub struct Intake {
    spool: Arc<Spool>,
    sender_certificate: Option<UsableCertificate>,
    /// The user's own OpenPGP key (`[openpgp] sender_key`).
    sender_openpgp: Option<UsableOpenPgpKey>,
    /// Where the user's own certificates are, for a sender without a
    /// configured certificate (`keys generate` / `keys import`).
    key_store: Option<std::path::PathBuf>,
    options: EncryptOptions,
}

impl Intake {
    pub fn new(
        spool: Arc<Spool>,
        sender_certificate: Option<UsableCertificate>,
        options: EncryptOptions,
    ) -> Self {
        Self {
            spool,
            sender_certificate,
            sender_openpgp: None,
            key_store: None,
            options,
        }
    }

    /// Adds the user's own OpenPGP key to every PGP/MIME copy.
    pub fn with_openpgp_sender(mut self, key: Option<UsableOpenPgpKey>) -> Self {
        self.sender_openpgp = key;
        self
    }

    /// Uses the key store under `storage` for senders' own certificates.
    pub fn with_key_store(mut self, storage: &std::path::Path) -> Self {
        self.key_store = Some(storage.to_owned());
        self
    }

    /// The sender's certificate: the configured one, else the key store's
    /// for the envelope sender.
    fn sender_certificate(&self, from: &str) -> Option<UsableCertificate> {
        if let Some(configured) = &self.sender_certificate {
            return Some(configured.clone());
        }
        let storage = self.key_store.as_ref()?;
        let address = crate::dane::Address::parse(from).ok()?;
        let certificate = crate::keys::KeyStore::open(storage)
            .ok()?
            .certificate(&address)
            .ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        UsableCertificate::from_user_file(&certificate.to_der().ok()?, now).ok()
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// Acknowledges a received message: checks its header section parses
    /// (malformed mail is refused now, not bounced later), then appends the
    /// envelope and decisions to the message file and commits it as one
    /// file. Planning and encryption follow in [`Self::plan_received`].
    /// Blocking.
    pub fn receive(
        &self,
        incoming: Incoming,
        from: &str,
        recipients: &[(String, Decision)],
    ) -> Result<Receipt, IntakeError> {
        let message_path = incoming.dir.join(MESSAGE_FILE);
        let file = File::open(&message_path)?;
        let size = file.metadata()?.len();
        let subject = Message::from_file(file)?.subject();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let record = Received {
            id: incoming.id.clone(),
            from: from.to_owned(),
            created: now,
            recipients: recipients
                .iter()
                .map(|(address, decision)| ReceivedRecipient {
                    address: address.clone(),
                    certificates: match &decision.action {
                        Action::Encrypt(certificates) => certificates
                            .iter()
                            .filter_map(|c| c.certificate().to_der().ok())
                            .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
                            .collect(),
                        _ => Vec::new(),
                    },
                    openpgp_keys: match &decision.action {
                        Action::EncryptOpenPgp(keys) => keys
                            .iter()
                            .map(|k| base64::engine::general_purpose::STANDARD.encode(k.to_bytes()))
                            .collect(),
                        _ => Vec::new(),
                    },
                })
                .collect(),
        };
        let id = record.id.clone();
        self.spool
            .commit_received(incoming, MESSAGE_FILE, &record)?;
        Ok(Receipt { id, subject, size })
    }

    /// Plans a received message into its copies (a queued entry) and
    /// removes the received file. Idempotent across crashes. Blocking.
    pub fn plan_received(&self, id: &str) -> Result<(), IntakeError> {
        if self.spool.has_entry(id) {
            // Planned before a crash; only the removal was lost.
            self.spool.remove_received(id)?;
            return Ok(());
        }
        let (record, file, len) = self.spool.load_received(id)?;
        let recipients = decisions(&record);
        let message = Message::from_file_prefix(file, len)?;
        let incoming = self.spool.incoming_for(id)?;
        let sender = self.sender_certificate(&record.from);
        let plan = Plan::new(
            &message,
            recipients,
            Senders {
                certificate: sender.as_ref(),
                openpgp: self.sender_openpgp.as_ref(),
            },
        );
        let mut copies = Vec::with_capacity(plan.copies.len());
        for (index, copy) in plan.copies.iter().enumerate() {
            let file = format!("{}.eml", index + 1);
            let mut out =
                BufWriter::with_capacity(256 * 1024, File::create(incoming.dir.join(&file))?);
            copy.write(&message, self.options, &mut out)?;
            out.flush()?;
            copies.push(copy_entry(file, copy));
        }
        for refused in &plan.refused {
            tracing::error!(%id, recipient = %refused.recipient, "certificate or key unreadable after acceptance; not sent");
            copies.push(CopyEntry {
                file: String::new(),
                kind: "refused".into(),
                recipients: vec![RecipientState {
                    address: refused.recipient.clone(),
                    status: Status::Bounced,
                    detail: Some("5.7.0 the recipient's certificate or key could not be used; not sent in the clear".into()),
                }],
            });
        }
        let headers = base64::engine::general_purpose::STANDARD.encode(message.header());
        drop(message);
        let entry = Entry {
            id: id.to_owned(),
            from: record.from,
            created: record.created,
            attempts: 0,
            next_attempt: record.created,
            copies,
            is_dsn: false,
            headers,
        };
        self.spool.commit(incoming, &entry)?;
        self.spool.remove_received(id)?;
        Ok(())
    }
}

fn copy_entry(file: String, copy: &crate::plan::Copy) -> CopyEntry {
    CopyEntry {
        file,
        kind: copy.body.kind().into(),
        recipients: copy
            .recipients
            .iter()
            .map(|address| RecipientState {
                address: address.clone(),
                status: Status::Pending,
                detail: None,
            })
            .collect(),
    }
}

/// The recipients of a received record with the decisions taken at RCPT:
/// certificates to encrypt to, or none for as written.
pub fn decisions(record: &Received) -> Vec<(String, Decision)> {
    record
        .recipients
        .iter()
        .map(|r| {
            let certificates: Vec<UsableCertificate> = r
                .certificates
                .iter()
                .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .filter_map(|der| UsableCertificate::from_spooled_der(&der).ok())
                .collect();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let keys: Vec<UsableOpenPgpKey> = r
                .openpgp_keys
                .iter()
                .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .filter_map(|bytes| UsableOpenPgpKey::from_spooled(&bytes, now).ok())
                .collect();
            let action = if r.certificates.is_empty() && r.openpgp_keys.is_empty() {
                Action::Plaintext
            } else if !certificates.is_empty() {
                Action::Encrypt(certificates)
            } else if !keys.is_empty() {
                Action::EncryptOpenPgp(keys)
            } else {
                // Never downgrade: a recipient accepted for encryption
                // whose certificates or keys cannot be read back (or have
                // expired since) is refused.
                Action::Refuse
            };
            let decision = Decision {
                action,
                reason: "decided at RCPT".into(),
            };
            (r.address.clone(), decision)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fault_of_the_message_itself_is_permanent() {
        let full = || std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(IntakeError::Mime(FileError::Mime(crate::mime::MimeError::Empty)).is_permanent());
        assert!(!IntakeError::Mime(FileError::Io(full())).is_permanent());
        assert!(!IntakeError::Smime(SmimeError::Io(full())).is_permanent());
        assert!(!IntakeError::Smime(SmimeError::Stream(full().into())).is_permanent());
        assert!(IntakeError::Smime(SmimeError::NoRecipients).is_permanent());
        assert!(!IntakeError::Io(full()).is_permanent());
    }
}
