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
    /// The UIDs of every other outcome (`decrypted`, `mirrored`, `skipped`,
    /// `present`), as IMAP sequence sets ("1:40,42").
    #[serde(default)]
    pub outcomes: BTreeMap<String, UidSet>,
    /// `danger_append_to_folder`: UIDs whose copy the provider has, and
    /// UIDs whose APPEND was begun (an APPEND cut short by a crash may or
    /// may not have landed: those are looked for before a second one).
    #[serde(default, skip_serializing_if = "UidSet::is_empty")]
    pub appended: UidSet,
    #[serde(default, skip_serializing_if = "UidSet::is_empty")]
    pub append_started: UidSet,
    /// Earlier UIDVALIDITYs seen, newest last (their copies stay).
    #[serde(default)]
    pub previous_uidvalidity: Vec<u32>,
}

/// A set of UIDs kept as sorted, disjoint ranges; written as an IMAP
/// sequence set (RFC 3501 §9 `sequence-set`, without `*`) so that a folder
/// of 100,000 consecutive decrypted messages is one short string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet(Vec<(u32, u32)>);

impl UidSet {
    pub fn insert(&mut self, uid: u32) {
        // Found: the first range that ends at or after uid - 1.
        let at = self
            .0
            .partition_point(|&(_, end)| end.saturating_add(1) < uid);
        match self.0.get_mut(at) {
            Some((start, end)) if *start <= uid.saturating_add(1) => {
                *start = (*start).min(uid);
                *end = (*end).max(uid);
                // Joined the gap to the next range?
                if let Some(&(next_start, next_end)) = self.0.get(at + 1) {
                    if next_start <= self.0[at].1.saturating_add(1) {
                        self.0[at].1 = next_end;
                        self.0.remove(at + 1);
                    }
                }
            }
            _ => self.0.insert(at, (uid, uid)),
        }
    }

    pub fn contains(&self, uid: u32) -> bool {
        let at = self.0.partition_point(|&(_, end)| end < uid);
        self.0.get(at).is_some_and(|&(start, _)| start <= uid)
    }

    pub fn len(&self) -> u64 {
        self.0.iter().map(|&(s, e)| u64::from(e - s) + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for UidSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, &(start, end)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}:{end}")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for UidSet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut set = UidSet::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let number = |n: &str| {
                n.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("not a UID set: {part:?}"))
            };
            let (start, end) = match part.split_once(':') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(part)?, number(part)?),
            };
            for uid in start.min(end)..=start.max(end) {
                set.insert(uid);
            }
        }
        Ok(set)
    }
}

impl Serialize for UidSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UidSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
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
        folder
            .outcomes
            .entry("decrypted".into())
            .or_default()
            .insert(4);
        state.save(&path).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"decrypted\": \"4\""));
        let mut back = AccountState::load(&path).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.folder("INBOX", 7).last_uid, 12);
        let fresh = back.folder("INBOX", 8);
        assert_eq!(
            (fresh.last_uid, fresh.previous_uidvalidity.clone()),
            (0, vec![7])
        );
    }

    #[test]
    fn uid_sets_merge_ranges_and_round_trip() {
        let mut set = UidSet::default();
        for uid in [5, 1, 2, 3, 9, 7, 4, 10, 8] {
            set.insert(uid);
        }
        assert_eq!(set.to_string(), "1:5,7:10");
        set.insert(6);
        set.insert(6);
        assert_eq!(set.to_string(), "1:10");
        set.insert(u32::MAX);
        set.insert(12);
        assert_eq!(set.to_string(), "1:10,12,4294967295");
        assert_eq!(set.len(), 12);
        assert!(set.contains(12) && set.contains(1) && !set.contains(11) && !set.contains(0));
        assert_eq!("1:10,12,4294967295".parse::<UidSet>().unwrap(), set);
        assert_eq!("3:1".parse::<UidSet>().unwrap().to_string(), "1:3");
        assert!("1:x".parse::<UidSet>().is_err());
        assert!("".parse::<UidSet>().unwrap().is_empty());
    }
}
