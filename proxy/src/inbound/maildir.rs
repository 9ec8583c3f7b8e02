//! The local Maildir the plaintext copies go to, written durably and a
//! batch at a time: each copy is written into `tmp/` ([`Maildir::stage`]);
//! then [`Maildir::publish`] makes the batch durable with one flush of the
//! filesystem (syncfs on Linux; an fsync per file elsewhere), renames every
//! copy into `new/` and fsyncs `new/`. Only then may the sync state say the
//! batch is done. A crash before the renames leaves files in `tmp/` only,
//! which no mail client reads (and which are removed after 36 hours, the
//! Maildir convention); the messages are fetched again. Nothing here ever
//! deletes a copy.
//!
//! The index of copies already present is read back from the provenance
//! field, the first line of every file we write: after a crash between a
//! rename and the state commit, the message is recognised, not copied twice.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::copy::{Provenance, PROVENANCE};
use super::message::Fingerprint;

/// One Maildir (cur/, new/, tmp/), mode 700: it holds plaintext.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// One copy in the Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRef {
    /// Where it was written (in new/; a client may since have moved it to
    /// cur/ and renamed it: see [`Maildir::find`]).
    pub path: PathBuf,
    pub decrypted: bool,
    /// SHA-256 of the original message (hex).
    pub original_sha256: String,
}

/// Copies of one account already in the Maildir, by where they came from.
#[derive(Debug, Default)]
pub struct Index {
    /// (folder, uidvalidity, uid) → the copy.
    pub by_uid: HashMap<(String, u32, u32), CopyRef>,
    /// (folder, original's SHA-256) → the UIDVALIDITYs it was copied under.
    pub by_hash: HashMap<(String, String), HashSet<u32>>,
    /// (folder, Message-ID, body's SHA-256) → the UIDVALIDITYs.
    pub by_message: HashMap<(String, String, String), HashSet<u32>>,
}

impl Index {
    /// Whether the message at (folder, uidvalidity, uid) has a copy: the
    /// same UID, or — the mailbox was recreated — a copy under another
    /// UIDVALIDITY of the same bytes, or of the same Message-ID and body.
    pub fn has(&self, folder: &str, uidvalidity: u32, uid: u32, print: &Fingerprint) -> bool {
        let other = |v: &HashSet<u32>| v.iter().any(|&u| u != uidvalidity);
        self.by_uid
            .contains_key(&(folder.to_owned(), uidvalidity, uid))
            || self
                .by_hash
                .get(&(folder.to_owned(), print.sha256.clone()))
                .is_some_and(other)
            || print.message_id.as_ref().is_some_and(|id| {
                self.by_message
                    .get(&(folder.to_owned(), id.clone(), print.body_sha256.clone()))
                    .is_some_and(other)
            })
    }

    pub fn add(
        &mut self,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
        print: &Fingerprint,
        path: PathBuf,
        decrypted: bool,
    ) {
        self.by_uid.insert(
            (folder.to_owned(), uidvalidity, uid),
            CopyRef {
                path,
                decrypted,
                original_sha256: print.sha256.clone(),
            },
        );
        self.by_hash
            .entry((folder.to_owned(), print.sha256.clone()))
            .or_default()
            .insert(uidvalidity);
        if let Some(id) = &print.message_id {
            self.by_message
                .entry((folder.to_owned(), id.clone(), print.body_sha256.clone()))
                .or_default()
                .insert(uidvalidity);
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The host part of Maildir file names, read once.
fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().replace(['/', ':'], "_"))
            .unwrap_or_else(|_| "localhost".into())
    })
}

impl Maildir {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        }
        let maildir = Self {
            root: root.to_owned(),
        };
        maildir.clean_tmp();
        Ok(maildir)
    }

    /// Writes one message into `tmp/`, not yet durable nor visible; returns
    /// its unique name, for [`Self::publish`].
    pub fn stage(&self, bytes: &[u8]) -> std::io::Result<String> {
        let name = unique_name();
        let tmp = self.root.join("tmp").join(&name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        Ok(name)
    }

    /// Makes the staged copies durable, then moves them into `new/` and
    /// makes the renames durable; returns their paths in `new/`.
    pub fn publish(&self, staged: &[String]) -> std::io::Result<Vec<PathBuf>> {
        if staged.is_empty() {
            return Ok(Vec::new());
        }
        let tmp = self.root.join("tmp");
        flush_files(&tmp, staged)?;
        let mut out = Vec::with_capacity(staged.len());
        for name in staged {
            let new = self.root.join("new").join(name);
            fs::rename(tmp.join(name), &new)?;
            out.push(new);
        }
        fs::File::open(self.root.join("new"))?.sync_all()?;
        Ok(out)
    }

    /// Stages and publishes one message; returns its path.
    pub fn deliver(&self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let name = self.stage(bytes)?;
        Ok(self.publish(&[name])?.remove(0))
    }

    /// Removes files in `tmp/` older than 36 hours (a crash's leftovers;
    /// qmail's maildir(5) convention), best effort.
    fn clean_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        let limit = std::time::Duration::from_secs(36 * 3600);
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > limit);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// The copies of `account` in new/ and cur/, from their first field.
    pub fn index(&self, account: &str) -> std::io::Result<Index> {
        let mut index = Index::default();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(self.root.join(sub))?.flatten() {
                let Some(provenance) = read_provenance(&entry.path()) else {
                    continue;
                };
                if let Some(source) = provenance.source.filter(|s| s.account == account) {
                    let print = Fingerprint {
                        sha256: provenance.original_sha256,
                        message_id: provenance.message_id,
                        // Copies written before this field existed match by
                        // bytes only.
                        body_sha256: provenance.body_sha256.unwrap_or_default(),
                    };
                    index.add(
                        &source.folder,
                        source.uidvalidity,
                        source.uid,
                        &print,
                        entry.path(),
                        provenance.kind == "decrypted",
                    );
                }
            }
        }
        Ok(index)
    }

    /// The copy `path` pointed to, or — a mail client moved it to cur/ and
    /// added flags to its name — the file of the same unique name there.
    pub fn find(&self, path: &Path) -> Option<PathBuf> {
        if path.exists() {
            return Some(path.to_owned());
        }
        let unique = path.file_name()?.to_str()?.split(':').next()?.to_owned();
        ["cur", "new"]
            .iter()
            .filter_map(|s| fs::read_dir(self.root.join(s)).ok())
            .flat_map(|d| d.flatten())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.split(':').next() == Some(unique.as_str()))
            })
    }

    /// Every file in new/ and cur/ (for tests and status).
    pub fn count(&self) -> usize {
        ["new", "cur"]
            .iter()
            .filter_map(|s| fs::read_dir(self.root.join(s)).ok())
            .map(|d| d.count())
            .sum()
    }
}

/// Makes the data and directory entries of `names` in `dir` durable: one
/// syncfs(2) of the filesystem on Linux (a batch costs one journal commit
/// instead of one per file), an fsync per file and of `dir` elsewhere.
#[cfg(target_os = "linux")]
fn flush_files(dir: &Path, _names: &[String]) -> std::io::Result<()> {
    let dir = fs::File::open(dir)?;
    rustix::fs::syncfs(&dir).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn flush_files(dir: &Path, names: &[String]) -> std::io::Result<()> {
    for name in names {
        fs::File::open(dir.join(name))?.sync_all()?;
    }
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The provenance field at the top of a file, unfolded lines included.
fn read_provenance(path: &Path) -> Option<Provenance> {
    let file = fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::new(file);
    let mut field = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        // A field of ours is short; a stranger's file is not read further.
        if reader.read_until(b'\n', &mut line).ok()? == 0 || field.len() > 4096 {
            break;
        }
        if field.is_empty() {
            if !line
                .get(..PROVENANCE.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(PROVENANCE.as_bytes()))
            {
                return None;
            }
        } else if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            break;
        }
        field.extend_from_slice(&line);
    }
    Provenance::parse(&field)
}

/// `<secs>.M<micros>P<pid>Q<n>.<host>` (the Maildir convention: unique per
/// host, process and delivery).
fn unique_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{n}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        host()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::copy::Source;

    #[test]
    fn delivered_copies_are_indexed_by_uid_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(&dir.path().join("m")).unwrap();
        let p = Provenance {
            source: Some(Source {
                account: "work".into(),
                folder: "INBOX".into(),
                uidvalidity: 5,
                uid: 9,
            }),
            original_sha256: "aa".into(),
            message_id: Some("<m@x>".into()),
            body_sha256: Some("bb".into()),
            kind: "mirrored".into(),
            ..Provenance::default()
        };
        let mut bytes = p.field("\r\n").into_bytes();
        bytes.extend_from_slice(b"From: a@x\r\n\r\nhi\r\n");
        maildir.deliver(&bytes).unwrap();
        maildir.deliver(b"From: not ours\r\n\r\n").unwrap();
        let index = maildir.index("work").unwrap();
        let print = |sha: &str, id: Option<&str>, body: &str| Fingerprint {
            sha256: sha.into(),
            message_id: id.map(Into::into),
            body_sha256: body.into(),
        };
        let same = print("aa", Some("<m@x>"), "bb");
        assert!(index.has("INBOX", 5, 9, &print("zz", None, "zz")));
        assert!(
            !index.has("INBOX", 5, 10, &same),
            "same UIDVALIDITY: a new message"
        );
        assert!(
            index.has("INBOX", 6, 1, &print("aa", None, "zz")),
            "recreated mailbox: same bytes"
        );
        assert!(
            index.has("INBOX", 6, 1, &print("cc", Some("<m@x>"), "bb")),
            "recreated mailbox: same Message-ID and body, header rewritten"
        );
        assert!(
            !index.has("INBOX", 6, 1, &print("cc", Some("<m@x>"), "dd")),
            "same Message-ID, another body: another message"
        );
        assert!(!index.has("Other", 5, 9, &same));
        assert!(maildir.index("home").unwrap().by_uid.is_empty());
        assert_eq!(maildir.count(), 2);
        assert_eq!(fs::read_dir(dir.path().join("m/tmp")).unwrap().count(), 0);
    }

    #[test]
    fn staged_copies_are_invisible_until_published() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(&dir.path().join("m")).unwrap();
        let a = maildir.stage(b"From: a@x\r\n\r\n1\r\n").unwrap();
        let b = maildir.stage(b"From: a@x\r\n\r\n2\r\n").unwrap();
        assert_eq!(maildir.count(), 0, "nothing in new/ or cur/ yet");
        let paths = maildir.publish(&[a.clone(), b]).unwrap();
        assert_eq!(maildir.count(), 2);
        assert_eq!(paths[0], dir.path().join("m/new").join(&a));
        assert_eq!(fs::read(&paths[0]).unwrap(), b"From: a@x\r\n\r\n1\r\n");
        assert_eq!(fs::read_dir(dir.path().join("m/tmp")).unwrap().count(), 0);
        // A client moved it to cur/ and flagged it: still found.
        let cur = dir.path().join("m/cur").join(format!("{a}:2,S"));
        fs::rename(&paths[0], &cur).unwrap();
        assert_eq!(maildir.find(&paths[0]), Some(cur));
    }
}
