//! What the engine handle hands to shells: plain data, serialisable, with
//! the words for every state already chosen (docs/APP-IPC.md). The
//! TypeScript copies in `ui/src/bindings/` are generated from these types by
//! ts-rs (`cargo test -p danemail export_bindings`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The worst open problem decides the state (tray icon, window headline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    Ok,
    Paused,
    Attention,
    Error,
}

/// The status snapshot.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Status {
    pub state: AppState,
    /// One sentence: the most severe problem, else e.g. "Running — today
    /// 12 sent, 9 encrypted".
    pub sentence: String,
    /// Open problems, most severe first.
    pub problems: Vec<Problem>,
    pub smtp: ListenerStatus,
    /// `None`: LDAP is switched off.
    pub ldap: Option<ListenerStatus>,
    pub delivery: DeliveryStatus,
    pub dns: DnsHealth,
    pub outbox: OutboxCounts,
    pub today: TodayCounts,
    pub own_records: Vec<SelfCheckView>,
    /// Incoming mail: the inbound agent that decrypts S/MIME mail.
    pub inbound: InboundStatus,
    pub first_run_done: bool,
    pub config_path: Option<String>,
    pub storage_dir: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Problem {
    pub severity: AppState,
    /// `smtp`, `ldap`, `upstream`, `dns`, `keys`, `storage`, `credentials`,
    /// `inbound`.
    pub area: String,
    pub text: String,
    /// What to do about it.
    pub advice: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct ListenerStatus {
    /// `IP:PORT` as configured.
    pub address: String,
    pub port: u16,
    /// `listening` or `failed`.
    pub state: String,
    /// Why it failed ("port 1587 is in use by thunderbird (pid 4242)").
    pub error: Option<String>,
    /// A free port to offer instead, when it failed because the port is taken.
    pub suggested_port: Option<u16>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct DeliveryStatus {
    pub paused: bool,
    /// `host:port`, empty when no provider is configured.
    pub upstream: String,
    /// `not-configured`, `unknown` (nothing sent yet), `reachable`, `unreachable`.
    pub upstream_state: String,
    /// The same in words ("Not tried yet", "Taking mail", …).
    pub upstream_words: String,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct DnsHealth {
    /// `ok`, `problem` or `checking`.
    pub state: String,
    /// doctor's one-line verdict.
    pub verdict: String,
    /// doctor's advice line, when there is a problem.
    pub advice: Option<String>,
    /// The path lookups take and why ("Using DNS over TLS to … because …"),
    /// once checked.
    pub path: Option<String>,
    #[ts(type = "number | null")]
    pub checked_at: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct OutboxCounts {
    /// Messages in the outbox (received or planned, not finished).
    #[ts(type = "number")]
    pub messages: usize,
    /// Recipients waiting for delivery.
    #[ts(type = "number")]
    pub pending_recipients: usize,
    /// Recipients whose last attempt failed temporarily.
    #[ts(type = "number")]
    pub retrying_recipients: usize,
}

#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct TodayCounts {
    #[ts(type = "number")]
    pub accepted: usize,
    #[ts(type = "number")]
    pub sent: usize,
    #[ts(type = "number")]
    pub encrypted: usize,
    #[ts(type = "number")]
    pub bounced: usize,
    #[ts(type = "number")]
    pub held: usize,
}

/// Incoming mail: what the inbound agent decrypts, where the plaintext
/// copies are, and how far each account got.
#[derive(Debug, Clone, Serialize, TS)]
pub struct InboundStatus {
    /// `[inbound] enabled`.
    pub enabled: bool,
    /// In words: what is decrypted and what is not ("S/MIME mail sent to
    /// your keys is read from your provider …", "Switched off …").
    pub summary: String,
    /// Why the accounts cannot be used (a bad `[[inbound.accounts]]`).
    pub error: Option<String>,
    pub accounts: Vec<InboundAccountView>,
}

/// One `[[inbound.accounts]]`, from the config and its state file.
#[derive(Debug, Clone, Serialize, TS)]
pub struct InboundAccountView {
    pub name: String,
    /// `host:port`.
    pub host: String,
    /// `in-sync`, `syncing`, `error`, `not-synced` or `off`.
    pub state: String,
    /// The state in words: "In sync", "Not synced: login refused by the
    /// server …", "Not yet synced".
    pub state_words: String,
    /// The account's last problem, shown until a sync succeeds.
    pub error: Option<String>,
    /// Unix seconds of the last complete catch-up.
    #[ts(type = "number | null")]
    pub last_sync: Option<u64>,
    /// The Maildir holding the plaintext copies.
    pub maildir: String,
    /// In words: what lands in the Maildir and what stays only encrypted
    /// or only at the provider.
    pub copies_words: String,
    pub folders: Vec<InboundFolderView>,
    /// The messages that could not be decrypted, with the reason (at most
    /// [`MAX_FAILURES_LISTED`] of them; `failed_total` counts all).
    pub failures: Vec<InboundFailure>,
    #[ts(type = "number")]
    pub failed_total: u64,
}

/// How many failed messages the status lists per account: enough to see a
/// pattern, few enough for a window (all are in the state file).
pub const MAX_FAILURES_LISTED: usize = 20;

/// One folder's counts under its current UIDVALIDITY.
#[derive(Debug, Clone, Serialize, TS)]
pub struct InboundFolderView {
    pub name: String,
    #[ts(type = "number")]
    pub decrypted: u64,
    /// Unencrypted messages copied as they were (`mirror_plaintext`).
    #[ts(type = "number")]
    pub mirrored: u64,
    #[ts(type = "number")]
    pub failed: u64,
    /// "3 decrypted, 1 copied unencrypted, 0 failed".
    pub words: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct InboundFailure {
    pub folder: String,
    /// The provider's UID of the message.
    #[ts(type = "number")]
    pub uid: u32,
    pub reason: String,
}

/// A message accepted by the submission server, and what became of each
/// recipient.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ActivityItem {
    pub id: String,
    #[ts(type = "number")]
    pub received_at: u64,
    #[ts(type = "number")]
    pub size: u64,
    /// Shown locally only; never logged.
    pub subject: Option<String>,
    pub from: String,
    pub recipients: Vec<RecipientOutcome>,
    /// Still in the outbox (retry and delete apply).
    pub in_outbox: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct RecipientOutcome {
    pub address: String,
    /// `encrypt`, `plaintext`, `refuse` or `tempfail`.
    pub decision: String,
    /// The decision's reason (what DNS proved).
    pub reason: String,
    /// `queued`, `retrying`, `delivered`, `bounced` or `refused`.
    pub state: String,
    /// The words for decision and state together, e.g. "Delivered,
    /// encrypted to the published certificate".
    pub words: String,
    /// The provider's last reply or the error.
    pub detail: Option<String>,
    #[ts(type = "number | null")]
    pub next_attempt: Option<u64>,
}

/// One address's verdict, as a chain of steps.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LookupView {
    pub address: String,
    /// `encrypt`, `plaintext`, `refuse` or `tempfail`.
    pub decision: String,
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub smimea_status: String,
    /// "Will be encrypted", "Sent as written — no certificate published", …
    pub headline: String,
    pub reason: String,
    pub steps: Vec<Step>,
    /// SHA-256 (lowercase hex) of every usable certificate.
    pub usable_certificates: Vec<String>,
    #[ts(type = "number")]
    pub checked_at: u64,
    /// The whole report as text, for "copy the details".
    pub text: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Step {
    /// `dnssec`, `smimea`, `decision`, `openpgpkey`, `mx`.
    pub key: String,
    pub title: String,
    /// One verdict word or two: "Secure", "Not published", "Broken", "Not checked".
    pub verdict: String,
    /// `good`, `neutral`, `bad` or `not-run`.
    pub state: String,
    pub explanation: String,
    /// Label/value rows of technical details.
    pub details: Vec<Detail>,
    /// Sub-items (one per SMIMEA record, one per MX host).
    pub items: Vec<StepItem>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct StepItem {
    pub title: String,
    pub verdict: String,
    pub state: String,
    pub explanation: String,
    pub details: Vec<Detail>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Detail {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct RecentLookup {
    pub address: String,
    pub decision: String,
    pub headline: String,
    #[ts(type = "number")]
    pub at: u64,
}

/// One own identity.
#[derive(Debug, Clone, Serialize, TS)]
pub struct KeyView {
    pub address: String,
    /// "RSA 3072" or "EC P-256".
    pub algorithm: String,
    /// ISO date (UTC).
    pub expires: String,
    #[ts(type = "number")]
    pub expires_at: i64,
    pub certificate_sha256: String,
    pub self_check: Option<SelfCheckView>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct SelfCheckView {
    pub address: String,
    /// `ok`, `missing`, `mismatch`, `insecure`, `bogus`, `indeterminate`, `expiring`.
    pub status: String,
    pub detail: String,
    /// What to do, in words.
    pub advice: String,
    #[ts(type = "number")]
    pub checked_at: u64,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct RecordView {
    pub address: String,
    pub owner: String,
    /// `owner IN SMIMEA 3 0 0 …` (RFC 8162 presentation form).
    pub presentation: String,
    /// `owner IN TYPE53 \# len hex` (RFC 3597), for DNS hosts without SMIMEA.
    pub generic: String,
}

/// What the mail client needs.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ClientSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    /// "STARTTLS".
    pub smtp_security: String,
    pub username: String,
    pub password: String,
    /// Where the password lives: "OS keyring", "file <path>".
    pub password_storage: String,
    pub ldap_enabled: bool,
    pub ldap_host: String,
    pub ldap_port: u16,
    pub ldap_base_dn: String,
    pub ca_path: String,
    pub ca_pem: String,
    /// SHA-256 fingerprint, colon-separated uppercase hex.
    pub ca_sha256: String,
    /// Everything above as one block of text, for "copy all".
    pub smtp_text: String,
    pub ldap_text: String,
}

/// The editable settings. Numbers travel as strings so that a bad value
/// ("99999") reaches the engine and is refused with its field named.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SettingsForm {
    pub upstream_host: String,
    pub upstream_port: String,
    /// `starttls`, `tls` or `none`.
    pub upstream_security: String,
    pub upstream_username: String,
    /// Whether a provider password is stored (never the password itself).
    pub upstream_password_set: bool,
    /// `opportunistic` or `require`.
    pub policy_mode: String,
    pub smtp_port: String,
    pub ldap_enabled: bool,
    pub ldap_port: String,
    /// Resolvers as `IP:PORT`, separated by spaces or commas; empty: the system's.
    pub dns_servers: String,
    /// A trust anchor file; empty: the IANA root keys.
    pub dns_trust_anchor: String,
    /// `[inbound] enabled`: decrypt incoming S/MIME mail into a local folder.
    pub inbound_enabled: bool,
    /// The first `[[inbound.accounts]]` (created on save when absent and a
    /// host is given): its short name, IMAP host and port.
    pub inbound_name: String,
    pub inbound_host: String,
    pub inbound_port: String,
    /// `tls`, `starttls` or `none` (only for a loopback host).
    pub inbound_security: String,
    pub inbound_username: String,
    /// Whether the account's password can be read (keyring or file); never
    /// the password itself.
    pub inbound_password_set: bool,
    /// Folders to read, separated by commas.
    pub inbound_folders: String,
    /// Also copy unencrypted messages into the Maildir.
    pub inbound_mirror_plaintext: bool,
}

/// An error for the window: the message, and the settings field it is about.
#[derive(Debug, Clone, Serialize, TS)]
pub struct UiError {
    pub message: String,
    /// The `setting-<section>-<key>` suffix, e.g. `smtp-port`.
    pub field: Option<String>,
}

impl UiError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            field: None,
        }
    }

    pub fn field(field: &str, message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            field: Some(field.to_owned()),
        }
    }
}

impl<E: std::error::Error> From<E> for UiError {
    fn from(e: E) -> Self {
        Self::new(e)
    }
}

/// The service's event stream, as shells see it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ServiceEvent {
    /// A message was acknowledged with 250.
    Accepted {
        id: String,
        recipients: Vec<RecipientOutcome>,
    },
    /// A recipient refused (5xx) or held (4xx) at RCPT.
    Held {
        address: String,
        decision: String,
        reason: String,
    },
    Delivered {
        id: String,
        recipient: String,
    },
    Retrying {
        id: String,
        recipient: String,
        detail: String,
        #[ts(type = "number")]
        next_attempt: u64,
    },
    Bounced {
        id: String,
        recipient: String,
        detail: String,
    },
    Finished {
        id: String,
    },
    SelfCheck {
        check: SelfCheckView,
    },
    DnsHealth {
        health: DnsHealth,
    },
    Paused {
        paused: bool,
    },
    /// Something else in the snapshot changed (a listener, the settings).
    Status,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerates `ui/src/bindings/` from these types into a temp dir and
    /// fails when the committed copies differ (run with
    /// `DANEMAIL_UPDATE_BINDINGS=1` to write them).
    #[test]
    fn export_bindings() {
        let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
        let fresh = tempfile::tempdir().unwrap();
        Status::export_all_to(fresh.path()).unwrap();
        ActivityItem::export_all_to(fresh.path()).unwrap();
        LookupView::export_all_to(fresh.path()).unwrap();
        RecentLookup::export_all_to(fresh.path()).unwrap();
        KeyView::export_all_to(fresh.path()).unwrap();
        RecordView::export_all_to(fresh.path()).unwrap();
        ClientSettings::export_all_to(fresh.path()).unwrap();
        SettingsForm::export_all_to(fresh.path()).unwrap();
        UiError::export_all_to(fresh.path()).unwrap();
        ServiceEvent::export_all_to(fresh.path()).unwrap();
        let update = std::env::var_os("DANEMAIL_UPDATE_BINDINGS").is_some();
        let mut stale = Vec::new();
        for entry in std::fs::read_dir(fresh.path()).unwrap().flatten() {
            let name = entry.file_name();
            let new = std::fs::read_to_string(entry.path()).unwrap();
            let target = committed.join(&name);
            if std::fs::read_to_string(&target).ok().as_deref() != Some(new.as_str()) {
                if update {
                    std::fs::create_dir_all(&committed).unwrap();
                    std::fs::write(&target, &new).unwrap();
                } else {
                    stale.push(name.to_string_lossy().into_owned());
                }
            }
        }
        assert!(
            stale.is_empty(),
            "ui/src/bindings is stale for {stale:?}: run DANEMAIL_UPDATE_BINDINGS=1 cargo test -p danemail export_bindings"
        );
    }
}
