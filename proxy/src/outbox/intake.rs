//! From a received message to a durable outbox entry: plan the copies
//! (`plan`), write each one (encrypting with `smime`), commit. Runs before the
//! client hears 250, on a blocking thread (encryption and fsync).

use std::fs::File;

use base64::Engine;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::spool::{CopyEntry, Entry, Incoming, RecipientState, Spool, SpoolError, Status};
use crate::dane::{Decision, UsableCertificate};
use crate::mime::{FileError, Message};
use crate::plan::{CopyBody, Plan};
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
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("writing the outbox: {0}")]
    Io(#[from] std::io::Error),
}

/// Turns received messages into queued entries.
pub struct Intake {
    spool: Arc<Spool>,
    sender_certificate: Option<UsableCertificate>,
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
            options,
        }
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// Plans and writes the copies of `incoming/message` for the accepted
    /// `recipients`, then commits the entry. Returns its id. Blocking.
    pub fn queue(
        &self,
        incoming: Incoming,
        from: &str,
        recipients: Vec<(String, Decision)>,
    ) -> Result<String, IntakeError> {
        let message_path = incoming.dir.join(MESSAGE_FILE);
        let message = Message::from_file(File::open(&message_path)?)?;
        let plan = Plan::new(&message, recipients, self.sender_certificate.as_ref());

        let mut copies = Vec::with_capacity(plan.copies.len());
        for (index, copy) in plan.copies.iter().enumerate() {
            let file = format!("{}.eml", index + 1);
            let mut out =
                BufWriter::with_capacity(256 * 1024, File::create(incoming.dir.join(&file))?);
            copy.write(&message, self.options, &mut out)?;
            out.flush()?;
            copies.push(CopyEntry {
                file,
                kind: match copy.body {
                    CopyBody::Encrypted(_) => "encrypted",
                    CopyBody::Plaintext => "plaintext",
                    CopyBody::PassThrough => "pass-through",
                }
                .into(),
                recipients: copy
                    .recipients
                    .iter()
                    .map(|address| RecipientState {
                        address: address.clone(),
                        status: Status::Pending,
                        detail: None,
                    })
                    .collect(),
            });
        }
        for refused in &plan.refused {
            // The session only keeps accepted recipients; a refusal here
            // means a decision changed shape: never send, say so.
            tracing::warn!(recipient = %refused.recipient, reason = %refused.decision.reason, "recipient refused at planning");
        }
        let headers = base64::engine::general_purpose::STANDARD.encode(message.header());
        drop(message);
        std::fs::remove_file(&message_path)?;

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let entry = Entry {
            id: incoming.id.clone(),
            from: from.to_owned(),
            created: now,
            attempts: 0,
            next_attempt: now,
            copies,
            is_dsn: false,
            headers,
        };
        let id = entry.id.clone();
        self.spool.commit(incoming, &entry)?;
        Ok(id)
    }
}
