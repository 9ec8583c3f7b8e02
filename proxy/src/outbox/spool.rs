//! The durable outbox on disk. A message is safe before the client hears 250:
//! its copies and its record are written and fsynced in `tmp/<id>/`, the
//! directory is renamed into `queue/` and the queue directory is fsynced
//! (Postfix's mail_stream.c does the same with files). A crash at any point
//! leaves either a whole entry in `queue/` or debris in `tmp/` that the next
//! start removes.
//!
//! ```text
//! <storage>/outbox/tmp/<id>/      being received or planned
//! <storage>/outbox/queue/<id>/    entry.json + 1.eml, 2.eml, … + headers
//! <storage>/outbox/corrupt/<id>/  entries whose record fails its checksum
//! ```
//!
//! `entry.json` ends with a line holding the SHA-256 of the JSON before it,
//! so a torn or damaged record is detected rather than misread.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A message acknowledged but not yet planned: the raw message and this
/// record in one file, `queue/<id>.received` — one fsync before 250.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub id: String,
    pub from: String,
    pub created: u64,
    pub recipients: Vec<ReceivedRecipient>,
}

/// A recipient as decided at RCPT time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRecipient {
    pub address: String,
    /// DER certificates (base64) to encrypt to as S/MIME.
    pub certificates: Vec<String>,
    /// OpenPGP transferable public keys (base64 of the binary key) to
    /// encrypt to as PGP/MIME. Both empty: send as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openpgp_keys: Vec<String>,
}

/// The last line of a `.received` file: where the record starts, its
/// length and its SHA-256.
const RECORD_MARK: &str = "#danemail-record ";

/// A `.received` file's record and where the message ends (the record's
/// offset), checked against the record mark; the error says what is wrong.
pub fn parse_received(bytes: &[u8]) -> Result<(Received, usize), &'static str> {
    let text = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(200)..]).into_owned();
    let mark = text
        .trim_end()
        .rsplit('\n')
        .next()
        .and_then(|l| l.strip_prefix(RECORD_MARK))
        .ok_or("its record mark is missing")?
        .to_owned();
    let fields: Vec<&str> = mark.split(' ').collect();
    let (Some(offset), Some(len), Some(sum)) = (
        fields.first().and_then(|f| f.parse::<usize>().ok()),
        fields.get(1).and_then(|f| f.parse::<usize>().ok()),
        fields.get(2),
    ) else {
        return Err("its record mark does not parse");
    };
    let json = offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or("its record is cut short")?;
    if hex::encode(openssl::sha::sha256(json)) != *sum {
        return Err("its record checksum does not match");
    }
    let record: Received = serde_json::from_slice(json).map_err(|_| "its record does not parse")?;
    Ok((record, offset))
}

/// One queued message: its copies and the state of every recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// The envelope sender (empty for a DSN, RFC 5321 §4.5.5).
    pub from: String,
    /// Unix seconds when accepted.
    pub created: u64,
    pub attempts: u32,
    /// Unix seconds of the next delivery attempt.
    pub next_attempt: u64,
    pub copies: Vec<CopyEntry>,
    /// Whether this entry is itself a delivery status notification (never
    /// bounced in turn).
    pub is_dsn: bool,
    /// The original header section, base64, quoted in a DSN (RFC 3464 §2.1
    /// text/rfc822-headers). Kept in the record to save a file and its fsync.
    #[serde(default)]
    pub headers: String,
}

/// One outgoing copy (a file in the entry's directory) and its recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyEntry {
    pub file: String,
    /// `encrypted`, `plaintext`, `pass-through` or `dsn`.
    pub kind: String,
    pub recipients: Vec<RecipientState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    pub address: String,
    pub status: Status,
    /// The last reply or error seen for this recipient.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Delivered,
    Bounced,
}

impl Entry {
    pub fn pending(&self) -> usize {
        self.copies
            .iter()
            .flat_map(|c| &c.recipients)
            .filter(|r| r.status == Status::Pending)
            .count()
    }
}

/// Why the spool cannot do something.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("outbox I/O at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("outbox entry {id} is damaged ({why}); moved to corrupt/")]
    Corrupt { id: String, why: String },
    #[error("no outbox entry {0}")]
    NotFound(String),
}

/// The outbox directory.
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
}

/// An entry being built in `tmp/`; dropped without commit, it is removed.
#[derive(Debug)]
pub struct Incoming {
    pub id: String,
    pub dir: PathBuf,
    committed: bool,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Spool {
    /// Opens (creating) the outbox under `root` and clears `tmp/`, which
    /// holds only what was never acknowledged.
    pub fn open(root: &Path) -> Result<Self, SpoolError> {
        fs::create_dir_all(root).map_err(|source| SpoolError::Io {
            path: root.to_owned(),
            source,
        })?;
        restrict(root);
        for dir in ["tmp", "queue", "corrupt"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|source| SpoolError::Io {
                path: path.clone(),
                source,
            })?;
            restrict(&path);
        }
        // Entries written by a version that left them group/world-readable.
        if let Ok(entries) = fs::read_dir(root.join("queue")) {
            for entry in entries.flatten() {
                restrict_tree(&entry.path());
            }
        }
        let tmp = root.join("tmp");
        if let Ok(debris) = fs::read_dir(&tmp) {
            for entry in debris.flatten() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// A handle on an outbox another owner runs (status, the CLI's
    /// `outbox` commands): unlike [`Self::open`] it never clears `tmp/`,
    /// where that owner may be receiving a message right now.
    pub fn attach(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh entry directory in `tmp/`.
    pub fn incoming(&self) -> Result<Incoming, SpoolError> {
        let id = new_id();
        let dir = self.root.join("tmp").join(&id);
        fs::create_dir(&dir).map_err(|source| SpoolError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Incoming {
            id,
            dir,
            committed: false,
        })
    }

    /// Makes `incoming` durable as a queued entry: fsync every file, write
    /// the record, rename into `queue/`, fsync `queue/`.
    pub fn commit(&self, mut incoming: Incoming, entry: &Entry) -> Result<(), SpoolError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SpoolError::Io { path, source }
        };
        // The record goes straight in (the whole directory becomes visible
        // atomically by the rename below); then one fsync per file and one
        // for the directory before it is renamed.
        let record = incoming.dir.join("entry.json");
        fs::write(&record, record_text(entry)).map_err(io(&record))?;
        for file in fs::read_dir(&incoming.dir)
            .map_err(io(&incoming.dir))?
            .flatten()
        {
            sync_file(&file.path()).map_err(io(&file.path()))?;
        }
        sync_dir(&incoming.dir).map_err(io(&incoming.dir))?;
        let target = self.root.join("queue").join(&incoming.id);
        fs::rename(&incoming.dir, &target).map_err(io(&target))?;
        let queue = self.root.join("queue");
        sync_dir(&queue).map_err(io(&queue))?;
        incoming.committed = true;
        Ok(())
    }

    /// Makes a received message durable as one file: the record is
    /// appended to `incoming/<message_file>`, the file fsynced, renamed to
    /// `queue/<id>.received`, and `queue/` fsynced. Two syncs before 250.
    pub fn commit_received(
        &self,
        mut incoming: Incoming,
        message_file: &str,
        record: &Received,
    ) -> Result<(), SpoolError> {
        use std::io::Write;
        let path = incoming.dir.join(message_file);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        let offset = fs::metadata(&path).map_err(io)?.len();
        let json = serde_json::to_string(record).expect("a record serializes");
        let mut file = OpenOptions::new().append(true).open(&path).map_err(io)?;
        write!(
            file,
            "{json}\n{RECORD_MARK}{offset} {} {}\n",
            json.len(),
            hex::encode(openssl::sha::sha256(json.as_bytes()))
        )
        .map_err(io)?;
        file.sync_data().map_err(io)?;
        let target = self
            .root
            .join("queue")
            .join(format!("{}.received", incoming.id));
        fs::rename(&path, &target).map_err(io)?;
        let queue = self.root.join("queue");
        sync_dir(&queue).map_err(|source| SpoolError::Io {
            path: queue,
            source,
        })?;
        incoming.committed = true;
        let _ = fs::remove_dir(&incoming.dir);
        Ok(())
    }

    /// Ids of received, not yet planned messages, oldest first.
    pub fn received_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .names()
            .into_iter()
            .filter_map(|n| n.strip_suffix(".received").map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// How many received messages have waited longer than `age` to be
    /// planned (planning normally follows the 250 within a second).
    pub fn stalled_received(&self, age: std::time::Duration) -> usize {
        self.received_ids()
            .iter()
            .filter(|id| {
                fs::metadata(self.root.join("queue").join(format!("{id}.received")))
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|waited| waited > age)
            })
            .count()
    }

    /// A received message's record, and its file with the message length.
    pub fn load_received(&self, id: &str) -> Result<(Received, File, u64), SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::NotFound(id.to_owned()));
        }
        let path = self.root.join("queue").join(format!("{id}.received"));
        let bytes = fs::read(&path).map_err(|_| SpoolError::NotFound(id.to_owned()))?;
        let damaged = |why: &str| {
            let _ = fs::rename(
                &path,
                self.root.join("corrupt").join(format!("{id}.received")),
            );
            tracing::error!(id, why, "received message damaged; moved to corrupt/");
            SpoolError::Corrupt {
                id: id.to_owned(),
                why: why.to_owned(),
            }
        };
        let (record, offset) = parse_received(&bytes).map_err(damaged)?;
        let file = File::open(&path).map_err(|source| SpoolError::Io { path, source })?;
        Ok((record, file, offset as u64))
    }

    /// Removes a received message once it is planned (or bounced).
    pub fn remove_received(&self, id: &str) -> Result<(), SpoolError> {
        let path = self.root.join("queue").join(format!("{id}.received"));
        fs::remove_file(&path).map_err(|source| SpoolError::Io { path, source })
    }

    /// Whether a planned entry `id` exists.
    pub fn has_entry(&self, id: &str) -> bool {
        valid_id(id) && self.root.join("queue").join(id).join("entry.json").exists()
    }

    /// A fresh entry directory in `tmp/` for a given id (planning a received message).
    pub fn incoming_for(&self, id: &str) -> Result<Incoming, SpoolError> {
        let dir = self.root.join("tmp").join(id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).map_err(|source| SpoolError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Incoming {
            id: id.to_owned(),
            dir,
            committed: false,
        })
    }

    fn names(&self) -> Vec<String> {
        fs::read_dir(self.root.join("queue"))
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every planned entry id, oldest first (ids sort by time).
    /// Bytes free for us on the outbox's filesystem (`None` where it cannot
    /// be measured).
    pub fn free_bytes(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        {
            let stat = rustix::fs::statvfs(&self.root).ok()?;
            Some(stat.f_bavail.saturating_mul(stat.f_frsize))
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| !n.contains('.'))
            .collect();
        ids.sort();
        ids
    }

    /// Loads an entry; a damaged one is moved to `corrupt/` and reported.
    pub fn load(&self, id: &str) -> Result<Entry, SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::NotFound(id.to_owned()));
        }
        let dir = self.root.join("queue").join(id);
        let path = dir.join("entry.json");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.exists() => {
                return Err(SpoolError::NotFound(id.to_owned()))
            }
            Err(e) => return Err(self.quarantine(id, &e.to_string())),
        };
        match parse_record(&text) {
            Ok(entry) if entry.id == id => Ok(entry),
            Ok(_) => Err(self.quarantine(id, "its id does not match its directory")),
            Err(why) => Err(self.quarantine(id, &why)),
        }
    }

    /// Atomically replaces an entry's record.
    pub fn update(&self, entry: &Entry) -> Result<(), SpoolError> {
        write_record(&self.root.join("queue").join(&entry.id), entry)
    }

    /// Makes an entry due now (the user's "retry"); the delivery agent
    /// picks it up when woken or at its next scan.
    pub fn retry_now(&self, id: &str) -> Result<(), SpoolError> {
        let mut entry = self.load(id)?;
        entry.next_attempt = 0;
        self.update(&entry)
    }

    /// Removes a finished entry: first moved out of `queue/` in one
    /// rename, then deleted, so a crash never leaves a record whose copies
    /// are half gone (it would be retried forever against missing files);
    /// what is left in `tmp/` goes at the next start. Not fsynced: if a
    /// crash undoes the rename, the entry is delivered again (at least once).
    pub fn remove(&self, id: &str) -> Result<(), SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::NotFound(id.to_owned()));
        }
        let dir = self.root.join("queue").join(id);
        if !dir.exists() {
            return Err(SpoolError::NotFound(id.to_owned()));
        }
        let gone = self.root.join("tmp").join(format!("{id}.removed"));
        fs::rename(&dir, &gone).map_err(|source| SpoolError::Io { path: dir, source })?;
        fs::remove_dir_all(&gone).map_err(|source| SpoolError::Io { path: gone, source })
    }

    /// The path of a file of a queued entry.
    pub fn file(&self, id: &str, file: &str) -> PathBuf {
        self.root.join("queue").join(id).join(file)
    }

    fn quarantine(&self, id: &str, why: &str) -> SpoolError {
        let from = self.root.join("queue").join(id);
        let to = self.root.join("corrupt").join(id);
        let _ = fs::rename(&from, &to);
        tracing::error!(id, why, "outbox entry damaged; moved to corrupt/");
        SpoolError::Corrupt {
            id: id.to_owned(),
            why: why.to_owned(),
        }
    }
}

/// Time-ordered, unique ids: hex milliseconds, then 8 random hex digits.
fn new_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut random = [0u8; 4];
    openssl::rand::rand_bytes(&mut random).expect("the system random source works");
    format!("{millis:012x}-{}", hex::encode(random))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The record's text: the JSON, then a line with its SHA-256.
fn record_text(entry: &Entry) -> String {
    let json = serde_json::to_string_pretty(entry).expect("an entry serializes");
    format!(
        "{json}\nsha256:{}\n",
        hex::encode(openssl::sha::sha256(json.as_bytes()))
    )
}

/// Replaces a queued entry's record atomically (temp file, fsync, rename,
/// fsync the directory).
fn write_record(dir: &Path, entry: &Entry) -> Result<(), SpoolError> {
    let text = record_text(entry);
    let tmp = dir.join("entry.json.tmp");
    let path = dir.join("entry.json");
    let io = |source| SpoolError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    sync_dir(dir).map_err(io)
}

fn parse_record(text: &str) -> Result<Entry, String> {
    let (json, check) = text
        .trim_end()
        .rsplit_once("\nsha256:")
        .ok_or("its checksum line is missing")?;
    if hex::encode(openssl::sha::sha256(json.as_bytes())) != check {
        return Err("its checksum does not match".into());
    }
    serde_json::from_str(json).map_err(|e| format!("it does not parse: {e}"))
}

/// Flushes a file's data (and the size that makes it readable) to disk.
pub(crate) fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_data()
}

pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(path)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a directory for fsync; NTFS journals renames.
        let _ = path;
        Ok(())
    }
}

/// Owner-only access to the outbox (mail content and addresses).
/// `path` and, for a directory, what it holds: directories 700, files 600.
fn restrict_tree(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        if meta.is_dir() {
            restrict(path);
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                restrict_tree(&entry.path());
            }
        } else if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attaching_never_clears_a_message_being_received() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Spool::open(dir.path()).unwrap();
        let incoming = owner.incoming().unwrap();
        std::fs::write(incoming.dir.join("message"), b"Subject: x\r\n\r\nbody").unwrap();
        // The window's status, or `danemail outbox list` from another process.
        let reader = Spool::attach(dir.path());
        assert!(reader.ids().is_empty());
        assert!(
            incoming.dir.join("message").exists(),
            "in-flight message deleted"
        );
        // Only a new owner (a restart) clears what was never acknowledged.
        let dir_of_incoming = incoming.dir.clone();
        std::mem::forget(incoming);
        Spool::open(dir.path()).unwrap();
        assert!(!dir_of_incoming.exists());
    }

    fn entry(id: &str) -> Entry {
        Entry {
            id: id.into(),
            from: "me@x.test".into(),
            created: 1,
            attempts: 0,
            next_attempt: 0,
            copies: vec![CopyEntry {
                file: "1.eml".into(),
                kind: "plaintext".into(),
                recipients: vec![RecipientState {
                    address: "a@x.test".into(),
                    status: Status::Pending,
                    detail: None,
                }],
            }],
            is_dsn: false,
            headers: String::new(),
        }
    }

    #[test]
    fn commit_load_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let incoming = spool.incoming().unwrap();
        fs::write(incoming.dir.join("1.eml"), b"hello").unwrap();
        let id = incoming.id.clone();
        let mut e = entry(&id);
        spool.commit(incoming, &e).unwrap();
        assert_eq!(spool.ids(), std::slice::from_ref(&id));
        assert_eq!(spool.load(&id).unwrap(), e);
        assert_eq!(fs::read(spool.file(&id, "1.eml")).unwrap(), b"hello");
        e.copies[0].recipients[0].status = Status::Delivered;
        spool.update(&e).unwrap();
        assert_eq!(spool.load(&id).unwrap().pending(), 0);
        spool.remove(&id).unwrap();
        assert!(spool.ids().is_empty());
        assert!(matches!(spool.load(&id), Err(SpoolError::NotFound(_))));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        // A removal cut short after its rename leaves debris only in tmp/,
        // which the next start clears; queue/ never holds half an entry.
        fs::create_dir_all(dir.path().join("tmp").join(format!("{id}.removed"))).unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(spool.ids().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert!(matches!(spool.load("../etc"), Err(SpoolError::NotFound(_))));
    }

    #[test]
    fn uncommitted_and_damaged_entries_never_pass_as_queued() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        {
            let incoming = spool.incoming().unwrap();
            fs::write(incoming.dir.join("1.eml"), b"x").unwrap();
            // Dropped without commit: as if the client went away before 250.
        }
        let kept = spool.incoming().unwrap();
        std::mem::forget(kept); // as if the process died mid-DATA
        assert!(spool.ids().is_empty());
        let reopened = Spool::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        let incoming = reopened.incoming().unwrap();
        let id = incoming.id.clone();
        reopened.commit(incoming, &entry(&id)).unwrap();
        let record = reopened.file(&id, "entry.json");
        let text = fs::read_to_string(&record).unwrap();
        fs::write(&record, text.replace("a@x.test", "b@x.test")).unwrap();
        assert!(matches!(
            reopened.load(&id),
            Err(SpoolError::Corrupt { .. })
        ));
        assert!(reopened.ids().is_empty());
        assert!(dir.path().join("corrupt").join(&id).exists());
    }

    #[test]
    fn received_messages_are_one_file_with_a_checked_record() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let incoming = spool.incoming().unwrap();
        let id = incoming.id.clone();
        fs::write(incoming.dir.join("message"), b"Subject: x\r\n\r\nbody\r\n").unwrap();
        let record = Received {
            id: id.clone(),
            from: "me@x.test".into(),
            created: 5,
            recipients: vec![ReceivedRecipient {
                address: "a@x.test".into(),
                certificates: vec!["AAAA".into()],
                openpgp_keys: Vec::new(),
            }],
        };
        spool.commit_received(incoming, "message", &record).unwrap();
        assert_eq!(spool.received_ids(), std::slice::from_ref(&id));
        assert!(spool.ids().is_empty(), "not a planned entry yet");
        let (loaded, mut file, len) = spool.load_received(&id).unwrap();
        assert_eq!(loaded, record);
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut all).unwrap();
        assert_eq!(&all[..len as usize], b"Subject: x\r\n\r\nbody\r\n");

        // A damaged record is detected, not misread.
        let path = dir.path().join("queue").join(format!("{id}.received"));
        let text = fs::read(&path).unwrap();
        let damaged: Vec<u8> = String::from_utf8(text)
            .unwrap()
            .replace("a@x.test", "b@x.test")
            .into_bytes();
        fs::write(&path, damaged).unwrap();
        assert!(matches!(
            spool.load_received(&id),
            Err(SpoolError::Corrupt { .. })
        ));
        assert!(spool.received_ids().is_empty());
    }
}
