//! Inbound decryption into plaintext storage (issue 10): S/MIME mail sent
//! to the user's keys, read from the provider over IMAP without changing
//! anything there, decrypted in-process, and written as plaintext copies
//! into a local Maildir.
//!
//! - `detect`: which messages are encrypted (Content-Type, CMS type, cipher)
//! - `decrypt`: CMS decryption with current and retired keys; opaque
//!   signatures verified and unwrapped
//! - `copy`: the plaintext copy and its provenance field
//! - `message`: one fetched message → its outcome and copy (no I/O)
//! - `account`: one `[[inbound.accounts]]` checked; its password
//! - `maildir`: durable delivery into the Maildir; the index of copies
//! - `state`: the per-account sync state (last UID, outcomes, counts)
//! - `session`: the IMAP connection (async-imap), read-only, timed
//! - `agent`: catch-up, IDLE, backoff; `sync_once` for the CLI

mod account;
mod agent;
mod copy;
mod decrypt;
pub mod detect;
mod maildir;
mod message;
mod session;
mod state;

pub use account::{accounts, set_password, Account, AccountError};
pub use agent::{run, serve, sync_once, AgentError, InboundEvent, Keys, Notify, Summary, Timings};
pub use maildir::Maildir;
pub use state::{AccountState, FolderState, UidSet};

pub use copy::{decrypted_copy, mirrored_copy, Provenance, Source, PROVENANCE};
pub use decrypt::{decrypt, Decrypted, Failure, Signature};
pub use detect::{kind, Kind};
pub use message::{process, process_known, Fingerprint, Outcome, Processed};
