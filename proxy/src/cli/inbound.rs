//! `danemail inbound sync|status|set-password`: the inbound agent from the
//! command line (danemail::inbound).

use anyhow::Context;
use danemail::config::Config;
use danemail::inbound::{self, AccountState, Keys, Timings};
use danemail::keys::Sealer;
use serde_json::json;

use super::args::InboundCommand;
use super::{emit, EXIT_OK, EXIT_PROBLEM};

pub async fn run(config: Config, command: InboundCommand) -> anyhow::Result<u8> {
    let storage = config.storage.resolved_dir();
    match command {
        InboundCommand::Sync { once, account } => {
            let accounts =
                inbound::accounts(&config.inbound, storage.as_deref(), account.as_deref())?;
            if accounts.is_empty() {
                anyhow::bail!("no [[inbound.accounts]] configured");
            }
            let storage = storage.context("no storage directory: set [storage] dir")?;
            let keys = Keys::new(&storage, sealer(&config)?);
            let timings = Timings::new(&config.inbound);
            if once {
                let mut code = EXIT_OK;
                for (name, result) in inbound::sync_once(accounts, &keys, timings).await {
                    match result {
                        Ok(summary) => emit(&format!("{name}: in sync: {summary}\n"))?,
                        Err(e) => {
                            code = EXIT_PROBLEM;
                            emit(&format!("{name}: error: {e}\n"))?;
                        }
                    }
                }
                Ok(code)
            } else {
                let (stop_tx, stop) = tokio::sync::watch::channel(false);
                let agent = tokio::spawn(inbound::run(accounts, keys, timings, None, stop));
                danemail::service::shutdown_signal().await;
                let _ = stop_tx.send(true);
                let _ = agent.await;
                Ok(EXIT_OK)
            }
        }
        InboundCommand::Status { json } => {
            let accounts = inbound::accounts(&config.inbound, storage.as_deref(), None)?;
            let mut out = Vec::new();
            for account in &accounts {
                let state = AccountState::load(&account.state_file)?;
                out.push((account, state));
            }
            if json {
                let value: Vec<_> = out
                    .iter()
                    .map(|(account, state)| {
                        json!({
                            "account": account.name,
                            "maildir": account.maildir,
                            "state": if state.state.is_empty() { "never synced" } else { &state.state },
                            "error": state.error,
                            "last_sync": state.last_sync,
                            "folders": state.folders,
                        })
                    })
                    .collect();
                emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
            } else {
                for (account, state) in &out {
                    emit(&render(&account.name, state))?;
                }
            }
            Ok(if out.iter().any(|(_, s)| s.error.is_some()) {
                EXIT_PROBLEM
            } else {
                EXIT_OK
            })
        }
        InboundCommand::SetPassword { name } => {
            let accounts = inbound::accounts(&config.inbound, storage.as_deref(), Some(&name))?;
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                anyhow::bail!("no password on stdin");
            }
            inbound::set_password(&accounts[0].name, password)?;
            emit(&format!("password for {name} stored in the OS keyring\n"))?;
            Ok(EXIT_OK)
        }
    }
}

/// Keys sealed by `[inbound] key_passphrase_file`, else the keyring secret.
fn sealer(config: &Config) -> anyhow::Result<Sealer> {
    Ok(match &config.inbound.key_passphrase_file {
        Some(path) => Sealer::Passphrase(danemail::credentials::read_secret_file(path)?),
        None => Sealer::Keyring,
    })
}

fn render(name: &str, state: &AccountState) -> String {
    let mut text = String::new();
    let word = if state.state.is_empty() {
        "never synced"
    } else {
        &state.state
    };
    text.push_str(&format!("{name}: {word}"));
    if let Some(error) = &state.error {
        text.push_str(&format!(": {error}"));
    }
    if let Some(at) = state.last_sync {
        let c = danemail::civil::civil(at);
        text.push_str(&format!(
            " (last sync {}-{:02}-{:02} {:02}:{:02}:{:02} UTC)",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ));
    }
    text.push('\n');
    for (folder, f) in &state.folders {
        text.push_str(&format!(
            "  {folder}: uidvalidity {}, last uid {}: {} decrypted, {} mirrored, {} failed, {} plaintext skipped, {} already present\n",
            f.uidvalidity, f.last_uid, f.decrypted, f.mirrored, f.failed, f.skipped, f.present
        ));
        for (uid, why) in &f.failures {
            text.push_str(&format!("    uid {uid}: {why}\n"));
        }
    }
    text
}
