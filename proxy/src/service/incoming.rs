//! Incoming mail for the window: the inbound agent's accounts as the config
//! names them and as their state files (`<storage>/inbound/<name>.json`)
//! last recorded them, with every word about their state chosen here.

use std::path::Path;

use super::view::{
    AppState, InboundAccountView, InboundFailure, InboundFolderView, InboundStatus, Problem,
    MAX_FAILURES_LISTED,
};
use crate::config::InboundConfig;
use crate::inbound::{self, Account, AccountState};

/// Where the window sends people to fix an account.
const WHERE_TO_FIX: &str = "Settings → Incoming mail";

/// The status of incoming mail, and its problems (only while it is on).
pub fn status(config: &InboundConfig, storage: &Path) -> (InboundStatus, Vec<Problem>) {
    let mut problems = Vec::new();
    let accounts = match inbound::accounts(config, Some(storage), None) {
        Ok(accounts) => accounts,
        Err(e) => {
            if config.enabled {
                problems.push(problem(
                    format!("Incoming mail is not decrypted: {e}"),
                    format!("Correct the account in {WHERE_TO_FIX}."),
                ));
            }
            let summary = if config.enabled {
                "Incoming mail is not decrypted: the account settings cannot be used."
            } else {
                "Incoming mail is not decrypted here: switched off in Settings."
            };
            return (
                InboundStatus {
                    enabled: config.enabled,
                    summary: summary.into(),
                    error: Some(e.to_string()),
                    accounts: Vec::new(),
                },
                problems,
            );
        }
    };
    let views: Vec<InboundAccountView> = accounts
        .iter()
        .map(|account| {
            let state = AccountState::load(&account.state_file);
            let view = account_view(account, state, config.enabled);
            if let (true, Some(error)) = (config.enabled, &view.error) {
                problems.push(problem(
                    format!("Incoming mail from {} is not decrypted: {error}", view.host),
                    advice(error),
                ));
            }
            view
        })
        .collect();
    let summary = if !config.enabled {
        "Incoming mail is not decrypted here: switched off in Settings.".to_owned()
    } else if views.is_empty() {
        format!("Incoming mail is switched on, but no account is set: add one in {WHERE_TO_FIX}.")
    } else {
        "S/MIME mail sent to your keys is read from your provider (nothing there is changed) \
         and decrypted into plaintext copies on this computer. The originals stay encrypted \
         at the provider."
            .to_owned()
    };
    (
        InboundStatus {
            enabled: config.enabled,
            summary,
            error: None,
            accounts: views,
        },
        problems,
    )
}

fn account_view(
    account: &Account,
    state: std::io::Result<AccountState>,
    enabled: bool,
) -> InboundAccountView {
    let (state, unreadable) = match state {
        Ok(state) => (state, None),
        Err(e) => (AccountState::default(), Some(format!("sync state: {e}"))),
    };
    let error = unreadable.or_else(|| state.error.clone());
    let (code, words) = match (enabled, state.state.as_str(), &error) {
        (false, _, _) => ("off", "Not running — switched off in Settings".to_owned()),
        (true, _, Some(error)) => ("error", format!("Not synced: {error}")),
        (true, "in sync" | "idle", None) => ("in-sync", "In sync".to_owned()),
        (true, "syncing", None) => ("syncing", "Syncing…".to_owned()),
        (true, _, None) => ("not-synced", "Not yet synced".to_owned()),
    };
    let maildir = account.maildir.display().to_string();
    let mut copies_words = format!(
        "Plaintext copies are kept in {maildir}: anyone who can read that folder can read them."
    );
    copies_words.push_str(if account.mirror_plaintext {
        " Unencrypted mail is copied there too, so the folder is a complete mailbox."
    } else {
        " Only mail that arrived encrypted is copied; unencrypted mail stays at the provider only."
    });
    if let Some(folder) = &account.append_to {
        copies_words.push_str(&format!(
            " Each decrypted copy is also put into the provider's folder {folder}: \
             that plaintext is on the provider."
        ));
    }
    let mut failures = Vec::new();
    let mut failed_total = 0;
    let folders = state
        .folders
        .iter()
        .map(|(name, folder)| {
            failed_total += folder.failed;
            for (uid, reason) in &folder.failures {
                if failures.len() < MAX_FAILURES_LISTED {
                    failures.push(InboundFailure {
                        folder: name.clone(),
                        uid: *uid,
                        reason: reason.clone(),
                    });
                }
            }
            InboundFolderView {
                name: name.clone(),
                decrypted: folder.decrypted,
                mirrored: folder.mirrored,
                failed: folder.failed,
                words: format!(
                    "{} decrypted, {} copied unencrypted, {} failed",
                    folder.decrypted, folder.mirrored, folder.failed
                ),
            }
        })
        .collect();
    InboundAccountView {
        name: account.name.clone(),
        host: format!("{}:{}", account.host, account.port),
        state: code.into(),
        state_words: words,
        error,
        last_sync: state.last_sync,
        maildir,
        copies_words,
        folders,
        failures,
        failed_total,
    }
}

/// What to do about an account's error.
fn advice(error: &str) -> String {
    if error.contains("login refused") || error.contains("password") {
        format!("Check the user name and password in {WHERE_TO_FIX}.")
    } else {
        format!(
            "DANE Mail keeps trying. If this stays, check the server, port and security in {WHERE_TO_FIX}."
        )
    }
}

fn problem(text: String, advice: String) -> Problem {
    Problem {
        severity: AppState::Attention,
        area: "inbound".into(),
        text,
        advice: Some(advice),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::status as inbound_status;
    use super::*;
    use crate::config::Config;
    use crate::inbound::FolderState;

    fn config(storage: &Path, extra: &str) -> InboundConfig {
        let text = format!(
            "[storage]\ndir = \"{}\"\n[inbound]\nenabled = true\n[[inbound.accounts]]\nname = \"work\"\n\
             host = \"imap.example.test\"\nusername = \"me\"\n{extra}",
            storage.display()
        );
        Config::parse(&text, Path::new("c.toml")).unwrap().inbound
    }

    #[test]
    fn an_account_without_a_state_file_is_not_yet_synced() {
        let dir = tempfile::tempdir().unwrap();
        let (status, problems) = inbound_status(&config(dir.path(), ""), dir.path());
        assert!(problems.is_empty());
        let account = &status.accounts[0];
        assert_eq!(account.state, "not-synced");
        assert_eq!(account.state_words, "Not yet synced");
        assert_eq!(account.host, "imap.example.test:993");
        assert!(
            account.maildir.ends_with("decrypted/work"),
            "{}",
            account.maildir
        );
        assert!(account
            .copies_words
            .contains("unencrypted mail stays at the provider only"));
        assert!(status.summary.contains("decrypted into plaintext copies"));
    }

    #[test]
    fn the_state_file_gives_the_counts_failures_and_a_login_error_as_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let mut failures = BTreeMap::new();
        for uid in 1..=30 {
            failures.insert(uid, format!("failed: not for us ({uid})"));
        }
        let state = AccountState {
            state: "in sync".into(),
            error: None,
            last_sync: Some(1_700_000_000),
            folders: [(
                "INBOX".to_owned(),
                FolderState {
                    decrypted: 3,
                    mirrored: 1,
                    failed: 30,
                    failures,
                    ..FolderState::default()
                },
            )]
            .into(),
        };
        let file = dir.path().join("inbound/work.json");
        state.save(&file).unwrap();
        let config = config(dir.path(), "mirror_plaintext = true\n");
        let (status, problems) = inbound_status(&config, dir.path());
        assert!(problems.is_empty());
        let account = &status.accounts[0];
        assert_eq!(
            (account.state.as_str(), account.last_sync),
            ("in-sync", Some(1_700_000_000))
        );
        assert_eq!(
            account.folders[0].words,
            "3 decrypted, 1 copied unencrypted, 30 failed"
        );
        assert_eq!(account.failures.len(), MAX_FAILURES_LISTED);
        assert_eq!(account.failed_total, 30);
        assert_eq!(account.failures[0].reason, "failed: not for us (1)");
        assert!(account.copies_words.contains("complete mailbox"));

        let refused = AccountState {
            state: "error".into(),
            error: Some("login refused by the server (wrong user name or password?): no".into()),
            ..state
        };
        refused.save(&file).unwrap();
        let (status, problems) = inbound_status(&config, dir.path());
        let account = &status.accounts[0];
        assert_eq!(account.state, "error");
        assert!(account
            .state_words
            .starts_with("Not synced: login refused by the server"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].area, "inbound");
        assert_eq!(problems[0].severity, AppState::Attention);
        assert!(
            problems[0].text.contains("imap.example.test:993"),
            "{}",
            problems[0].text
        );
        assert_eq!(
            problems[0].advice.as_deref(),
            Some("Check the user name and password in Settings → Incoming mail.")
        );

        // Switched off: the last state is shown, but it is nobody's problem.
        let mut off = config;
        off.enabled = false;
        let (status, problems) = inbound_status(&off, dir.path());
        assert!(problems.is_empty());
        assert_eq!(status.accounts[0].state, "off");
        assert!(status.summary.contains("switched off"));
    }

    #[test]
    fn an_unusable_account_is_a_problem_when_switched_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), "security = \"none\"\n");
        let (status, problems) = inbound_status(&config, dir.path());
        assert!(status.accounts.is_empty());
        assert!(status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("loopback")));
        assert_eq!(problems[0].area, "inbound");
        config.enabled = false;
        assert!(status_problems(&config, dir.path()).is_empty());
    }

    fn status_problems(config: &InboundConfig, storage: &Path) -> Vec<Problem> {
        inbound_status(config, storage).1
    }
}
