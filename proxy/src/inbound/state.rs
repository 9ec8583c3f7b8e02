//! The sync state of one account (`<storage>/inbound/<name>.json`): per
//! folder and UIDVALIDITY the last UID done and each UID's outcome, the
//! counts, and the account's connection state for `inbound status`.
//! Committed atomically (tmp, fsync, rename, fsync dir) only after the
//! copies it covers are durable in the Maildir.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One account's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// `in sync`, `syncing`, `idle`, or `error` with `error` set.
    pub state: String,
    /// The last problem (a login refused, a timeout), shown until a sync
    /// succeeds. Never holds a secret.
    pub error: Option<String>,
    /// Unix seconds of the last complete catch-up.
    pub last_sync: Option<u64>,
    pub folders: BTreeMap<String, FolderState>,
}

/// One folder under its current UIDVALIDITY.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FolderState {
    pub uidvalidity: u32,
    /// Every UID up to this one has an outcome.
    pub last_uid: u32,
    pub decrypted: u64,
    pub mirrored: u64,
    pub skipped: u64,
    /// Already in the Maildir (a crash before the state commit, or the same
    /// message under an earlier UIDVALIDITY).
    pub present: u64,
    pub failed: u64,
    /// UID → outcome of every failed message (with the reason).
    pub failures: BTreeMap<u32, String>,
    /// Earlier UIDVALIDITYs seen, newest last (their copies stay).
    #[serde(default)]
    pub previous_uidvalidity: Vec<u32>,
}

impl AccountState {
    /// The state on disk, or a fresh one.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes atomically and durably.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = path.with_extension("json.tmp");
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    }

    /// The folder's state under `uidvalidity`; a new UIDVALIDITY starts
    /// again from UID 0 (its messages are matched by content, not UID).
    pub fn folder(&mut self, name: &str, uidvalidity: u32) -> &mut FolderState {
        let folder = self.folders.entry(name.to_owned()).or_default();
        if folder.uidvalidity != uidvalidity {
            let mut previous = std::mem::take(&mut folder.previous_uidvalidity);
            if folder.uidvalidity != 0 {
                previous.push(folder.uidvalidity);
            }
            *folder = FolderState {
                uidvalidity,
                previous_uidvalidity: previous,
                ..FolderState::default()
            };
        }
        folder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_resets_on_new_uidvalidity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbound/work.json");
        let mut state = AccountState::load(&path).unwrap();
        let folder = state.folder("INBOX", 7);
        folder.last_uid = 12;
        folder.failures.insert(3, "failed: corrupt".into());
        state.save(&path).unwrap();
        let mut back = AccountState::load(&path).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.folder("INBOX", 7).last_uid, 12);
        let fresh = back.folder("INBOX", 8);
        assert_eq!(
            (fresh.last_uid, fresh.previous_uidvalidity.clone()),
            (0, vec![7])
        );
    }
}
