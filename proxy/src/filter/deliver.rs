//! One message the filter has read: the same plan as the proxy's
//! (per-recipient copies, Bcc isolation, key-kind split, pass-through),
//! each copy written to a temporary file, all re-injected into Postfix over
//! one SMTP session (a transaction each), and one LMTP reply per recipient
//! from its copy's re-injection.
//! Nothing is kept: a crash before the replies makes Postfix send the whole
//! message again (at least once; docs/FILTER.md).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::mime::Message;
use crate::plan::{Copy, CopyBody, Plan, Senders};
use crate::relay::{Outcome, Relay};
use crate::smime::EncryptOptions;
use crate::smtp::Reply;

use super::session::Envelope;
use super::stats::Stats;

/// Writes and re-injects the copies of one message at a time.
pub struct Deliverer {
    pub relay: Relay,
    pub options: EncryptOptions,
    pub temp_dir: PathBuf,
    pub stats: Arc<Stats>,
}

impl Deliverer {
    /// The replies for `envelope.recipients`, in order, for the message in
    /// `file` (already canonical, as read after DATA).
    pub async fn deliver(&self, file: std::fs::File, envelope: &Envelope) -> Vec<Reply> {
        let message = match Message::from_file(file) {
            Ok(message) => Arc::new(message),
            Err(e) => {
                tracing::info!(error = %e, "message refused: its header cannot be read");
                let reply = Reply::new(554, "5.6.0", format!("Message content not accepted: {e}"));
                return envelope.recipients.iter().map(|_| reply.clone()).collect();
            }
        };
        // A recipient Postfix gave twice gets one copy and two replies.
        let mut distinct: Vec<(String, crate::dane::Decision)> = Vec::new();
        for (address, decision) in &envelope.recipients {
            if !distinct
                .iter()
                .any(|(a, _)| a.eq_ignore_ascii_case(address))
            {
                distinct.push((address.clone(), decision.clone()));
            }
        }
        let plan = Plan::new(&message, distinct, Senders::default());
        let mut replies: HashMap<String, Reply> = HashMap::new();
        for refusal in &plan.refused {
            replies.insert(
                refusal.recipient.to_lowercase(),
                Reply::for_decision(&refusal.recipient, &refusal.decision),
            );
        }
        // Every copy written first (encryption off the async threads), then
        // all re-injected over one SMTP session, a transaction each.
        let mut written = Vec::new();
        for copy in plan.copies {
            let copy = Arc::new(copy);
            let file = self.write_copy(&message, copy.clone()).await;
            written.push((copy, file));
        }
        let ready: Vec<(&[String], &std::path::Path)> = written
            .iter()
            .filter_map(|(copy, file)| {
                let file = file.as_ref().ok()?;
                Some((copy.recipients.as_slice(), file.path()))
            })
            .collect();
        let mut sent = self
            .relay
            .send_all(&envelope.from, &ready)
            .await
            .into_iter();
        for (copy, file) in &written {
            let outcomes: Vec<Outcome> = match file {
                Ok(_) => sent.next().unwrap_or_default(),
                Err(why) => {
                    tracing::error!(error = %why, "a copy could not be written; its recipients are deferred");
                    copy.recipients
                        .iter()
                        .map(|_| Outcome::Temporary(why.clone()))
                        .collect()
                }
            };
            for (recipient, outcome) in copy.recipients.iter().zip(&outcomes) {
                self.stats.copy(&copy.body, outcome);
                replies.insert(
                    recipient.to_lowercase(),
                    reply_for(recipient, &copy.body, outcome),
                );
            }
        }
        envelope
            .recipients
            .iter()
            .map(|(address, _)| {
                replies
                    .get(&address.to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| {
                        // Every accepted recipient is in the plan; never 250 without a copy.
                        Reply::new(451, "4.3.0", "Local error in processing; try again later")
                    })
            })
            .collect()
    }

    /// Writes one copy to a temporary file, off the async threads.
    async fn write_copy(
        &self,
        message: &Arc<Message>,
        copy: Arc<Copy>,
    ) -> Result<tempfile::NamedTempFile, String> {
        let temp_dir = self.temp_dir.clone();
        let options = self.options;
        let message = message.clone();
        tokio::task::spawn_blocking(move || {
            let file = tempfile::Builder::new()
                .prefix("danemail-copy-")
                .tempfile_in(&temp_dir)
                .map_err(|e| format!("cannot create a file in {}: {e}", temp_dir.display()))?;
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, file.as_file());
            copy.write(&message, options, &mut out)
                .map_err(|e| format!("cannot write the copy: {e}"))?;
            drop(out);
            Ok(file)
        })
        .await
        .unwrap_or_else(|e| Err(format!("the copy's task failed: {e}")))
    }
}

/// The LMTP reply for one recipient: what its re-injection answered.
fn reply_for(recipient: &str, body: &CopyBody, outcome: &Outcome) -> Reply {
    let how = match body {
        CopyBody::Encrypted(_) => "encrypted (S/MIME)",
        CopyBody::EncryptedOpenPgp(_) => "encrypted (OpenPGP)",
        CopyBody::Plaintext => "as written",
        CopyBody::PassThrough => "as written (already encrypted)",
    };
    match outcome {
        Outcome::Delivered(_) => {
            Reply::new(250, "2.0.0", format!("<{recipient}> {how}, re-injected"))
        }
        Outcome::Temporary(why) => Reply::new(
            451,
            "4.3.0",
            format!("<{recipient}> not re-injected, try again later: {why}"),
        ),
        Outcome::Permanent(why) => Reply::new(
            554,
            "5.0.0",
            format!("<{recipient}> re-injection refused: {why}"),
        ),
    }
}
