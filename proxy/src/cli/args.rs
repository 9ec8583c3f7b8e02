//! The command line as typed (stage one); `super::settings` turns it into a
//! validated [`danemail::config::Config`] (stage two).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use danemail::config::PolicyMode;
use danemail::smime::ContentCipher;

#[derive(Debug, Parser)]
#[command(
    name = "danemail",
    version,
    about = "DANE Mail: S/MIME by DNSSEC-validated SMIMEA for any mail client"
)]
pub struct Cli {
    /// Configuration file (default: the platform config dir's danemail/config.toml, if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command runs as a service until stopped (`run`,
    /// `inbound sync` without `--once`): those log at info by default.
    pub fn is_service(&self) -> bool {
        matches!(
            self.command,
            Command::Run
                | Command::Filter
                | Command::Inbound(InboundCommand::Sync { once: false, .. })
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look up what validated DNS proves about each address, and the decision.
    Lookup(LookupArgs),
    /// Check that the configured resolvers and the clock allow trusted lookups.
    Doctor(DoctorArgs),
    /// Plan and encrypt a message (read from stdin) as the proxy would, writing each copy to a directory.
    Encrypt(EncryptArgs),
    /// Run the SMTP submission proxy and its delivery agent until SIGINT/SIGTERM.
    Run,
    /// Run as Postfix's after-queue content filter (LMTP in, SMTP re-injection out; docs/FILTER.md).
    Filter,
    /// Print what a mail client needs to use the proxy (server, user, password).
    Credentials,
    /// Inspect or change the outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Manage the provider account.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Your own keys and certificates (private keys sealed by the OS keyring).
    Keys(KeysArgs),
    /// Print the SMIMEA record to publish for your certificate.
    Record(RecordArgs),
    /// Check that DNS publishes your certificate or OpenPGP key (ok, missing, mismatch, insecure, bogus, expiring).
    Check(CheckArgs),
    /// The inbound agent: decrypt S/MIME mail from your provider's IMAP into a local Maildir.
    #[command(subcommand)]
    Inbound(InboundCommand),
    /// Decrypt one S/MIME message (stdin) with your keys (old ones included) into its plaintext copy.
    Decrypt(DecryptArgs),
}

#[derive(Debug, Subcommand)]
pub enum InboundCommand {
    /// Catch up every account (or one), then follow new mail with IDLE until SIGINT/SIGTERM.
    Sync {
        /// Catch up, then exit: 0 when every account is in sync, 1 when one failed.
        #[arg(long)]
        once: bool,
        /// Only this account.
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
    },
    /// Per account and folder: state, last sync, counts, failures with reasons.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store an account's IMAP password in the OS keyring (one line on stdin).
    SetPassword { name: String },
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Write the plaintext copy here (mode 600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Keys are sealed with the passphrase in this file (mode 600), not the OS keyring.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Seal private keys with the passphrase in this file (mode 600)
    /// instead of a secret in the OS keyring.
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key pair and a self-signed S/MIME certificate.
    Generate {
        #[arg(long, value_name = "ADDR")]
        email: String,
        #[arg(long, default_value = "rsa3072", value_name = "rsa3072|p256")]
        algorithm: danemail::keys::Algorithm,
        /// Validity of the certificate, in days.
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// Replace an existing key; the old one is kept (keys/history/) to decrypt old mail.
        #[arg(long)]
        replace: bool,
    },
    /// Import a key and certificate from a PKCS#12 file.
    Import {
        file: PathBuf,
        /// A file holding the PKCS#12 password (else one line on stdin).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List stored identities.
    List,
    /// Print an identity's certificate (PEM, or DER with --der).
    ExportCert {
        address: String,
        #[arg(long)]
        der: bool,
    },
    /// Decrypt an S/MIME message (stdin) with a stored key; the content goes to stdout.
    Decrypt { address: String },
    /// Delete an identity (key and certificate); asks first unless --yes.
    Delete {
        address: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Your address.
    pub address: String,
    /// Your certificate (PEM or DER); default: the one in the key store.
    #[arg(long, value_name = "FILE", conflicts_with = "openpgp")]
    pub cert: Option<PathBuf>,
    /// Print the OPENPGPKEY record (RFC 7929) for this OpenPGP public key
    /// instead (armored or binary, e.g. `gpg --export ADDR`).
    #[arg(long, value_name = "FILE")]
    pub openpgp: Option<PathBuf>,
    /// Certificate usage (3 = DANE-EE).
    #[arg(long, default_value_t = 3)]
    pub usage: u8,
    /// 0 = full certificate, 1 = public key.
    #[arg(long, default_value_t = 0)]
    pub selector: u8,
    /// 0 = full data, 1 = SHA-256, 2 = SHA-512.
    #[arg(long, default_value_t = 0)]
    pub matching: u8,
    /// `zone` (presentation form) or `generic` (RFC 3597: TYPE53, TYPE61 with --openpgp).
    #[arg(long, default_value = "zone", value_parser = ["zone", "generic"])]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub dns: DnsFlags,
    /// Your address.
    pub address: String,
    /// Your certificate (PEM or DER); default: the one in the key store.
    #[arg(long, value_name = "FILE", conflicts_with = "openpgp")]
    pub cert: Option<PathBuf>,
    /// Check the OPENPGPKEY record for this OpenPGP public key instead.
    #[arg(long, value_name = "FILE")]
    pub openpgp: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List queued messages and each recipient's state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Try these messages (all, if none given) at the next scan.
    Retry { ids: Vec<String> },
    /// Remove a queued message without sending it.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Store the provider password (read from stdin) in the OS keyring.
    SetPassword,
}

/// Flags that override `[dns]` and `[policy]` for one run.
#[derive(Debug, Args)]
pub struct DnsFlags {
    /// DNS server as IP:PORT (repeatable); replaces `[dns] servers`.
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    pub dns_servers: Vec<SocketAddr>,

    /// Trust anchor file (DNSKEY records, zone-file format); replaces `[dns] trust_anchor`.
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,

    /// Per-query timeout in milliseconds; replaces `[dns] timeout_ms`.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    #[command(flatten)]
    pub dns: DnsFlags,

    /// Policy for recipients without a usable certificate; replaces `[policy] mode`.
    #[arg(long, value_name = "opportunistic|require")]
    pub policy: Option<PolicyMode>,

    /// Print a JSON array, one object per address (schema: docs/LOOKUP-JSON.md).
    #[arg(long)]
    pub json: bool,

    /// Look up SMIMEA only (all the decision needs); skip OPENPGPKEY, MX and TLSA.
    #[arg(long)]
    pub smimea_only: bool,

    /// Addresses to look up.
    #[arg(required = true, value_name = "ADDRESS")]
    pub addresses: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub dns: DnsFlags,

    /// Policy for recipients without a usable certificate; replaces `[policy] mode`.
    #[arg(long, value_name = "opportunistic|require")]
    pub policy: Option<PolicyMode>,

    /// Envelope sender (MAIL FROM).
    #[arg(long, value_name = "ADDR")]
    pub from: String,

    /// Envelope recipient (RCPT TO), repeatable. One not in To/Cc is a Bcc recipient.
    #[arg(long = "rcpt", value_name = "ADDR", required = true)]
    pub rcpts: Vec<String>,

    /// Directory for the copies (`1.eml`, `2.eml`, …) and `plan.json`; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,

    /// Encrypt to this certificate (PEM or DER) instead of looking up SMIMEA, for the
    /// recipient(s) it names (subjectAltName e-mail); repeatable.
    #[arg(long = "cert", value_name = "FILE")]
    pub certs: Vec<PathBuf>,

    /// Encrypt as PGP/MIME to this OpenPGP public key (armored or binary, e.g. from
    /// `gpg --export`) instead of looking up DNS, for the recipient(s) its User IDs
    /// name; repeatable.
    #[arg(long = "openpgp-key", value_name = "FILE")]
    pub openpgp_keys: Vec<PathBuf>,

    /// The sender's own certificate, added to encrypted copies of its key kind;
    /// replaces `[smime] sender_certificate`.
    #[arg(long, value_name = "FILE")]
    pub sender_cert: Option<PathBuf>,

    /// The sender's own OpenPGP key, added to PGP/MIME copies; replaces
    /// `[openpgp] sender_key`.
    #[arg(long, value_name = "FILE")]
    pub sender_openpgp_key: Option<PathBuf>,

    /// Which standard encrypts when a recipient has both; replaces `[policy] prefer`.
    #[arg(long, value_name = "smime|openpgp", value_parser = parse_prefer)]
    pub prefer: Option<danemail::config::Prefer>,

    /// Content cipher; replaces `[smime] cipher`.
    #[arg(long, value_name = "aes-256-cbc|aes-256-gcm", value_parser = parse_cipher)]
    pub cipher: Option<ContentCipher>,

    /// RSA-OAEP key transport; replaces `[smime] rsa_oaep`.
    #[arg(long)]
    pub rsa_oaep: bool,
}

fn parse_prefer(value: &str) -> Result<danemail::config::Prefer, String> {
    match value {
        "smime" => Ok(danemail::config::Prefer::Smime),
        "openpgp" => Ok(danemail::config::Prefer::OpenPgp),
        other => Err(format!("unknown standard `{other}` (smime or openpgp)")),
    }
}

fn parse_cipher(value: &str) -> Result<ContentCipher, String> {
    match value {
        "aes-256-cbc" => Ok(ContentCipher::Aes256Cbc),
        "aes-256-gcm" => Ok(ContentCipher::Aes256Gcm),
        other => Err(format!(
            "unknown cipher `{other}` (aes-256-cbc or aes-256-gcm)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub dns: DnsFlags,

    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}
