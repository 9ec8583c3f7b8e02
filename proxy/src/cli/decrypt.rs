//! `danemail decrypt [--out FILE] < message.eml`: one message → its
//! plaintext copy by the inbound agent's rules (danemail::inbound).

use std::io::{Read, Write};

use anyhow::Context;
use danemail::config::Config;
use danemail::inbound::{self, Outcome};
use danemail::keys::{KeyStore, Sealer};

use super::args::DecryptArgs;
use super::{EXIT_OK, EXIT_PROBLEM};

/// The largest message read from stdin (the inbound agent's limit too).
const MAX_MESSAGE: u64 = 256 * 1024 * 1024;

pub async fn run(config: Config, args: DecryptArgs) -> anyhow::Result<u8> {
    let storage = config
        .storage
        .resolved_dir()
        .context("no storage directory: set [storage] dir")?;
    let mut store = KeyStore::open(&storage)?;
    if let Some(path) = &args.passphrase_file {
        let passphrase = danemail::credentials::read_secret_file(path)?;
        store = store.with_sealer(Sealer::Passphrase(passphrase));
    }
    let mut raw = Vec::new();
    std::io::stdin()
        .take(MAX_MESSAGE + 1)
        .read_to_end(&mut raw)
        .context("reading the message from stdin")?;
    if raw.len() as u64 > MAX_MESSAGE {
        anyhow::bail!("the message is larger than {MAX_MESSAGE} bytes");
    }
    let processed = tokio::task::spawn_blocking(move || {
        let keys = store.unsealed()?;
        anyhow::Ok(inbound::process(&raw, None, &keys, false))
    })
    .await??;
    match (processed.outcome, processed.copy) {
        (Outcome::Decrypted, Some(copy)) => {
            match &args.out {
                Some(path) => write_private(path, &copy)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&copy)?;
                    stdout.flush()?;
                }
            }
            Ok(EXIT_OK)
        }
        (Outcome::Skipped, _) => {
            eprintln!("danemail: not decrypted: the message is not S/MIME-encrypted");
            Ok(EXIT_PROBLEM)
        }
        (outcome, _) => {
            eprintln!(
                "danemail: not decrypted: {}",
                outcome.code().trim_start_matches("failed: ")
            );
            Ok(EXIT_PROBLEM)
        }
    }
}

/// Plaintext of private mail: owner-only, like the Maildir.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
