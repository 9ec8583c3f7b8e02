//! One `[[inbound.accounts]]` entry checked and resolved: a safe name, TLS
//! unless the host is loopback, the Maildir and state paths, and where the
//! password comes from (an owner-only file, or the OS keyring entry
//! `inbound:<name>` that `danemail inbound set-password NAME` writes).

use std::path::{Path, PathBuf};

use crate::config::{InboundAccount, InboundConfig, InboundSecurity};

/// The keyring service the product's entries live under.
const SERVICE: &str = "danemail";

/// Why an account cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("[[inbound.accounts]] name `{0}`: use letters, digits, `.`, `-` and `_` only")]
    BadName(String),
    #[error("[[inbound.accounts]] `{0}` appears twice")]
    Duplicate(String),
    #[error("account `{0}`: security = \"none\" is allowed only for a loopback host (127.0.0.1, ::1, localhost)")]
    PlaintextNotLoopback(String),
    #[error("account `{0}`: danger_append_to_folder `{1}` is one of the folders read; copies would be read back")]
    AppendToReadFolder(String, String),
    #[error("account `{0}`: folders is empty")]
    NoFolders(String),
    #[error("no inbound account named `{0}`")]
    Unknown(String),
    #[error("no storage directory: set [storage] dir")]
    NoStorage,
    #[error("account `{account}`: password: {why}")]
    Password { account: String, why: String },
}

/// Where an account's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    Keyring,
}

/// A checked account.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: InboundSecurity,
    pub username: String,
    pub password: PasswordSource,
    pub ca_file: Option<PathBuf>,
    pub folders: Vec<String>,
    pub maildir: PathBuf,
    pub mirror_plaintext: bool,
    /// `danger_append_to_folder`: each decrypted copy is also APPENDed to
    /// this provider folder (plaintext on the provider).
    pub append_to: Option<String>,
    /// `<storage>/inbound/<name>.json`: the sync state.
    pub state_file: PathBuf,
}

impl Account {
    pub fn new(config: &InboundAccount, storage: &Path) -> Result<Self, AccountError> {
        let name = config.name.clone();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            || name.starts_with('.')
        {
            return Err(AccountError::BadName(name));
        }
        if config.security == InboundSecurity::None && !is_loopback(&config.host) {
            return Err(AccountError::PlaintextNotLoopback(name));
        }
        if let Some(target) = &config.danger_append_to_folder {
            if config
                .folders
                .iter()
                .any(|f| f.eq_ignore_ascii_case(target))
                || target.is_empty()
            {
                return Err(AccountError::AppendToReadFolder(name, target.clone()));
            }
        }
        if config.folders.is_empty() {
            return Err(AccountError::NoFolders(name));
        }
        Ok(Self {
            host: config.host.clone(),
            port: config.port,
            security: config.security,
            username: config.username.clone(),
            password: match &config.password_file {
                Some(path) => PasswordSource::File(path.clone()),
                None => PasswordSource::Keyring,
            },
            ca_file: config.ca_file.clone(),
            folders: config.folders.clone(),
            maildir: config
                .maildir
                .clone()
                .unwrap_or_else(|| storage.join("decrypted").join(&name)),
            mirror_plaintext: config.mirror_plaintext,
            append_to: config.danger_append_to_folder.clone(),
            state_file: storage.join("inbound").join(format!("{name}.json")),
            name,
        })
    }

    /// The password, read now (a changed file or keyring entry is picked up
    /// at the next login). Never logged.
    pub fn password(&self) -> Result<String, AccountError> {
        let bad = |why: String| AccountError::Password {
            account: self.name.clone(),
            why,
        };
        match &self.password {
            PasswordSource::File(path) => {
                crate::credentials::read_secret_file(path).map_err(|e| bad(e.to_string()))
            }
            PasswordSource::Keyring => {
                let entry = keyring_entry(&self.name).map_err(bad)?;
                entry.get_password().map_err(|e| match e {
                    keyring::Error::NoEntry => bad(format!(
                        "none stored: run `danemail inbound set-password {}` or set password_file",
                        self.name
                    )),
                    e => bad(format!(
                        "OS keyring: {e}; on a headless system set password_file (mode 600)"
                    )),
                })
            }
        }
    }
}

/// Every configured account, checked (the first problem is the error), or
/// only the one named.
pub fn accounts(
    config: &InboundConfig,
    storage: Option<&Path>,
    only: Option<&str>,
) -> Result<Vec<Account>, AccountError> {
    let storage = storage.ok_or(AccountError::NoStorage)?;
    let mut out: Vec<Account> = Vec::new();
    for entry in &config.accounts {
        let account = Account::new(entry, storage)?;
        if out.iter().any(|a| a.name == account.name) {
            return Err(AccountError::Duplicate(account.name));
        }
        out.push(account);
    }
    if let Some(name) = only {
        out.retain(|a| a.name == name);
        if out.is_empty() {
            return Err(AccountError::Unknown(name.to_owned()));
        }
    }
    Ok(out)
}

/// Stores an account's password in the OS keyring.
pub fn set_password(name: &str, password: &str) -> Result<(), AccountError> {
    let bad = |why: String| AccountError::Password {
        account: name.to_owned(),
        why,
    };
    keyring_entry(name)
        .map_err(bad)?
        .set_password(password)
        .map_err(|e| bad(format!("OS keyring: {e}")))
}

fn keyring_entry(name: &str) -> Result<keyring::Entry, String> {
    keyring::Entry::new(SERVICE, &format!("inbound:{name}"))
        .map_err(|e| format!("OS keyring: {e}; on a headless system set password_file (mode 600)"))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, host: &str, security: InboundSecurity) -> InboundAccount {
        InboundAccount {
            name: name.into(),
            host: host.into(),
            port: 993,
            security,
            username: "u".into(),
            password_file: None,
            ca_file: None,
            folders: vec!["INBOX".into()],
            maildir: None,
            mirror_plaintext: false,
            danger_append_to_folder: None,
        }
    }

    #[test]
    fn accounts_are_checked() {
        let storage = Path::new("/s");
        let ok =
            Account::new(&entry("work", "imap.x.test", InboundSecurity::Tls), storage).unwrap();
        assert_eq!(ok.maildir, Path::new("/s/decrypted/work"));
        assert_eq!(ok.state_file, Path::new("/s/inbound/work.json"));
        assert!(Account::new(&entry("lo", "127.0.0.1", InboundSecurity::None), storage).is_ok());
        assert!(Account::new(&entry("lo", "::1", InboundSecurity::None), storage).is_ok());
        assert_eq!(
            Account::new(&entry("w", "imap.x.test", InboundSecurity::None), storage).unwrap_err(),
            AccountError::PlaintextNotLoopback("w".into())
        );
        for bad in ["", "../x", "a b", ".hidden"] {
            assert!(matches!(
                Account::new(&entry(bad, "h", InboundSecurity::Tls), storage),
                Err(AccountError::BadName(_))
            ));
        }
        let mut append = entry("a", "h", InboundSecurity::Tls);
        append.danger_append_to_folder = Some("Decrypted".into());
        let ok = Account::new(&append, storage).unwrap();
        assert_eq!(ok.append_to.as_deref(), Some("Decrypted"));
        append.danger_append_to_folder = Some("inbox".into());
        assert!(matches!(
            Account::new(&append, storage),
            Err(AccountError::AppendToReadFolder(_, _))
        ));
        let config = InboundConfig {
            accounts: vec![
                entry("a", "h", InboundSecurity::Tls),
                entry("a", "h", InboundSecurity::Tls),
            ],
            ..InboundConfig::default()
        };
        assert_eq!(
            accounts(&config, Some(storage), None).unwrap_err(),
            AccountError::Duplicate("a".into())
        );
    }
}
