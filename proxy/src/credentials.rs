//! Secrets: the local SMTP password (generated on first run) and the
//! provider password, kept in the OS keyring (Secret Service, Keychain,
//! Credential Manager) — or, for headless setups, in a file the user names,
//! which must be readable by its owner only. Never logged.

use std::path::Path;

use base64::Engine;

use crate::config::{SmtpConfig, UpstreamConfig};

/// The keyring service name all entries live under.
const SERVICE: &str = "danemail";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("password file {path}: {why}")]
    File { path: String, why: String },
    #[error("OS keyring: {why}. On a headless system set {key} to a file (mode 600) instead")]
    Keyring { why: String, key: &'static str },
    #[error("no provider password stored for {account}: run `danemail upstream set-password` or set [upstream] password_file")]
    NoUpstreamPassword { account: String },
}

/// The local password and where it lives (the window says so).
#[derive(Debug, Clone)]
pub struct LocalPassword {
    pub password: String,
    pub storage: PasswordStorage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordStorage {
    /// `[smtp] password_file`, as configured.
    Configured(std::path::PathBuf),
    /// The OS keyring.
    Keyring,
    /// No keyring on this machine: an owner-only file under the storage dir.
    File(std::path::PathBuf),
}

impl std::fmt::Display for PasswordStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured(path) => {
                write!(f, "the file {} ([smtp] password_file)", path.display())
            }
            Self::Keyring => f.write_str("the OS keyring"),
            Self::File(path) => write!(
                f,
                "the file {} (readable only by you; this machine has no OS keyring)",
                path.display()
            ),
        }
    }
}

/// The file the local password goes to when there is no keyring.
pub const LOCAL_PASSWORD_FILE: &str = "smtp-password";

/// The password mail clients use with `[smtp] username`: from the password
/// file, else from the keyring, generated and stored there on first use.
/// Where no keyring works (a headless Linux without a Secret Service) it is
/// generated into `<storage>/smtp-password`, mode 600, so that the first
/// start works on any machine; once that file exists it is used first, so
/// the password stays the same when a keyring appears later.
pub fn local_password(
    config: &SmtpConfig,
    storage: &Path,
) -> Result<LocalPassword, CredentialError> {
    if let Some(path) = &config.password_file {
        return Ok(LocalPassword {
            password: read_secret_file(path)?,
            storage: PasswordStorage::Configured(path.clone()),
        });
    }
    let fallback = storage.join(LOCAL_PASSWORD_FILE);
    if fallback.exists() {
        return Ok(LocalPassword {
            password: read_secret_file(&fallback)?,
            storage: PasswordStorage::File(fallback),
        });
    }
    match keyring_password(config) {
        Ok(password) => Ok(LocalPassword {
            password,
            storage: PasswordStorage::Keyring,
        }),
        Err(CredentialError::Keyring { why, .. }) => {
            let password = generate_password();
            write_secret_file(&fallback, &password)?;
            tracing::warn!(file = %fallback.display(), keyring = %why, "no OS keyring: the local SMTP password was generated into an owner-only file");
            Ok(LocalPassword {
                password,
                storage: PasswordStorage::File(fallback),
            })
        }
        Err(other) => Err(other),
    }
}

fn keyring_password(config: &SmtpConfig) -> Result<String, CredentialError> {
    let entry = keyring_entry(&format!("smtp:{}", config.username), "[smtp] password_file")?;
    match entry.get_password() {
        Ok(password) => Ok(password),
        Err(keyring::Error::NoEntry) => {
            let password = generate_password();
            entry
                .set_password(&password)
                .map_err(|e| CredentialError::Keyring {
                    why: e.to_string(),
                    key: "[smtp] password_file",
                })?;
            tracing::info!(username = %config.username, "generated the local SMTP password and stored it in the keyring");
            Ok(password)
        }
        Err(e) => Err(CredentialError::Keyring {
            why: e.to_string(),
            key: "[smtp] password_file",
        }),
    }
}

/// Creates `path` readable by its owner only (never replacing a file).
fn write_secret_file(path: &Path, secret: &str) -> Result<(), CredentialError> {
    use std::io::Write;
    let bad = |e: std::io::Error| CredentialError::File {
        path: path.display().to_string(),
        why: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(bad)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(bad)?;
    file.write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(bad)
}

/// The provider password, if `[upstream] username` is set.
pub fn upstream_password(config: &UpstreamConfig) -> Result<Option<String>, CredentialError> {
    if config.username.is_empty() {
        return Ok(None);
    }
    if let Some(path) = &config.password_file {
        return read_secret_file(path).map(Some);
    }
    let account = upstream_account(config);
    let entry = keyring_entry(&account, "[upstream] password_file")?;
    match entry.get_password() {
        Ok(password) => Ok(Some(password)),
        Err(keyring::Error::NoEntry) => Err(CredentialError::NoUpstreamPassword { account }),
        Err(e) => Err(CredentialError::Keyring {
            why: e.to_string(),
            key: "[upstream] password_file",
        }),
    }
}

/// The LDAP bind password, if `[ldap] password_file` is set.
pub fn ldap_password(
    config: &crate::config::LdapConfig,
) -> Result<Option<String>, CredentialError> {
    config
        .password_file
        .as_deref()
        .map(read_secret_file)
        .transpose()
}

/// Stores the provider password in the keyring.
pub fn set_upstream_password(
    config: &UpstreamConfig,
    password: &str,
) -> Result<(), CredentialError> {
    let account = upstream_account(config);
    keyring_entry(&account, "[upstream] password_file")?
        .set_password(password)
        .map_err(|e| CredentialError::Keyring {
            why: e.to_string(),
            key: "[upstream] password_file",
        })
}

fn upstream_account(config: &UpstreamConfig) -> String {
    format!("upstream:{}@{}", config.username, config.host)
}

fn keyring_entry(account: &str, key: &'static str) -> Result<keyring::Entry, CredentialError> {
    keyring::Entry::new(SERVICE, account).map_err(|e| CredentialError::Keyring {
        why: e.to_string(),
        key,
    })
}

/// 144 random bits, URL-safe base64: 24 characters any client accepts.
fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    openssl::rand::rand_bytes(&mut bytes).expect("the system random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads a secret from a file that only its owner can read; the first line,
/// without its line end.
pub fn read_secret_file(path: &Path) -> Result<String, CredentialError> {
    let bad = |why: String| CredentialError::File {
        path: path.display().to_string(),
        why,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "readable by other users (mode {:o}); run chmod 600 on it",
                mode & 0o777
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let secret = text.lines().next().unwrap_or_default().to_owned();
    if secret.is_empty() {
        return Err(bad("it is empty".into()));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_files_must_be_private_and_non_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = read_secret_file(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(read_secret_file(&path).unwrap(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret_file(&path)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert_eq!(generate_password().len(), 24);
    }

    #[test]
    fn fallback_password_file_is_owner_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCAL_PASSWORD_FILE);
        write_secret_file(&path, "abc").unwrap();
        assert!(write_secret_file(&path, "other").is_err(), "never replaced");
        assert_eq!(read_secret_file(&path).unwrap(), "abc");
        let config = SmtpConfig::default();
        let found = local_password(&config, dir.path()).unwrap();
        assert_eq!(found.password, "abc");
        assert_eq!(found.storage, PasswordStorage::File(path));
    }
}
