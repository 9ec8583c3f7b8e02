//! Inbound decryption end to end (issue 10): `danemail decrypt` against
//! messages made by danemail itself and by `openssl cms`, and the inbound
//! agent against a real Dovecot on loopback (tests/fixtures/mail).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{danemail_bin, secret_file};

/// A home with a storage dir, a config file and a key passphrase.
struct Home {
    dir: tempfile::TempDir,
    config: PathBuf,
    passphrase: PathBuf,
}

impl Home {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let passphrase = secret_file(&dir.path().join("pw"), "key passphrase");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[storage]\ndir = \"{}\"\n{extra}",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        Self {
            dir,
            config,
            passphrase,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a shell script in the home with `$D`, `$C`, `$P` set.
    fn script(&self, script: &str) -> String {
        let out = Command::new("bash")
            .args(["-c", &format!("set -euo pipefail; {script}")])
            .current_dir(self.path())
            .env("D", danemail_bin())
            .env("C", &self.config)
            .env("P", &self.passphrase)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script}\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn decrypt(&self, message: &str) -> Output {
        Command::new(danemail_bin())
            .args(["decrypt", "--config"])
            .arg(&self.config)
            .arg("--passphrase-file")
            .arg(&self.passphrase)
            .stdin(std::fs::File::open(self.path().join(message)).unwrap())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap()
    }
}

/// Keys (RSA and EC), an entity, and the messages of the interop cases.
const MAKE_MESSAGES: &str = r#"
$D keys generate --email me@in.test --passphrase-file $P --config $C >/dev/null
$D keys generate --email ec@in.test --algorithm p256 --passphrase-file $P --config $C >/dev/null
$D keys export-cert me@in.test --config $C > me.pem
$D keys export-cert ec@in.test --config $C > ec.pem
printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nthe secret \xc3\xa9 body\r\nline two\r\n' > entity.txt
H=(-from a@x.test -to me@in.test -subject hello)
openssl cms -encrypt -binary -aes-256-cbc "${H[@]}" -in entity.txt -out cbc.eml me.pem
openssl cms -encrypt -binary -aes-256-gcm "${H[@]}" -in entity.txt -out gcm.eml me.pem
openssl cms -encrypt -binary -aes-256-cbc "${H[@]}" -recip me.pem -keyopt rsa_padding_mode:oaep -in entity.txt -out oaep.eml
openssl cms -encrypt -binary -aes-128-cbc "${H[@]}" -in entity.txt -out ec.eml ec.pem
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=signer -addext subjectAltName=email:a@x.test \
  -keyout signer.key -out signer.pem -days 2 2>/dev/null
openssl cms -sign -binary -nodetach -signer signer.pem -inkey signer.key -in entity.txt -out opaque-signed.txt
openssl cms -encrypt -binary "${H[@]}" -in opaque-signed.txt -out opaque.eml me.pem
openssl cms -sign -binary -signer signer.pem -inkey signer.key -in entity.txt -out detached-signed.txt
openssl cms -encrypt -binary "${H[@]}" -in detached-signed.txt -out detached.eml me.pem
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=x -keyout stranger.key -out stranger.pem -days 2 2>/dev/null
openssl cms -encrypt -binary "${H[@]}" -in entity.txt -out stranger.eml stranger.pem
printf 'From: a@x.test\r\nTo: me@in.test\r\nSubject: garbage\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nTm90IGEgQ01TIHN0cnVjdHVyZQ==\r\n' > garbage.eml
printf 'From: a@x.test\r\nTo: me@in.test\r\nSubject: plain\r\n\r\nhello\r\n' > plain.eml
printf 'Return-Path: <a@x.test>\r\nReceived: by mx.x.test\r\nFrom: a@x.test\r\nTo: me@in.test\r\nSubject: by danemail\r\nMessage-ID: <dm-1@x.test>\r\nX-DANE-Mail-Decrypted: forged=1\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nencrypted by danemail\r\n' > dm-in.eml
$D encrypt --from a@x.test --rcpt me@in.test --cert me.pem --out-dir dm --config $C < dm-in.eml >/dev/null
cp dm/1.eml dm.eml
$D encrypt --from a@x.test --rcpt me@in.test --cert me.pem --rsa-oaep --cipher aes-256-gcm --out-dir dm-gcm --config $C < dm-in.eml >/dev/null
cp dm-gcm/1.eml dm-gcm.eml
# gpgsm (GnuPG's S/MIME): its own CMS, wrapped in the MIME headers here.
export GNUPGHOME=$PWD/gnupg; mkdir -m 700 -p gnupg
echo disable-crl-checks > gnupg/gpgsm.conf
echo "$(openssl x509 -in me.pem -noout -fingerprint -sha1 | cut -d= -f2) S relax" > gnupg/trustlist.txt
gpgsm --batch --quiet --import me.pem 2>/dev/null
gpgsm --batch --quiet -r me@in.test -o gpgsm.p7m --encrypt entity.txt 2>/dev/null
gpgconf --kill all
printf 'From: a@x.test\r\nTo: me@in.test\r\nSubject: gpgsm\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n' > gpgsm.eml
base64 -w 76 gpgsm.p7m | sed 's/$/\r/' >> gpgsm.eml
# A new key for me@: the old one stays for decryption.
$D keys generate --replace --email me@in.test --passphrase-file $P --config $C >/dev/null
$D keys export-cert me@in.test --config $C > me-new.pem
openssl cms -encrypt -binary -aes-256-cbc "${H[@]}" -in entity.txt -out new-key.eml me-new.pem
"#;

#[test]
fn decrypt_reads_danemail_and_openssl_messages_byte_for_byte_and_names_failures() {
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    let entity = home.read("entity.txt");
    let cases: &[(&str, &[u8], &str)] = &[
        ("cbc.eml", &entity, "aes-256-cbc/rsa"),
        ("gcm.eml", &entity, "aes-256-gcm/rsa"),
        ("oaep.eml", &entity, "aes-256-cbc/rsa-oaep"),
        ("ec.eml", &entity, "aes-128-cbc/ecdh"),
        ("new-key.eml", &entity, "aes-256-cbc/rsa"),
        ("gpgsm.eml", &entity, "kind=decrypted"),
        ("opaque.eml", &entity, "signature=opaque-verified-unwrapped"),
        (
            "detached.eml",
            &home.read("detached-signed.txt"),
            "signature=detached-unverified",
        ),
        (
            "dm.eml",
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\nencrypted by danemail\r\n",
            "aes-256-cbc/rsa",
        ),
        (
            "dm-gcm.eml",
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\nencrypted by danemail\r\n",
            "aes-256-gcm/rsa-oaep",
        ),
    ];
    for (name, want, label) in cases {
        let out = home.decrypt(name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        assert!(
            out.stdout.ends_with(want),
            "{name}: the copy does not end in the encrypted entity:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("X-DANE-Mail-Decrypted: kind=decrypted;"),
            "{name}: {text}"
        );
        assert!(text.contains(label), "{name}: {label} not in {text}");
        assert_eq!(text.matches("X-DANE-Mail-Decrypted").count(), 1, "{name}");
    }
    // The replaced key is listed as retired.
    let list = home.script("$D keys list --config $C");
    assert_eq!(list.matches("me@in.test  sha256").count(), 2, "{list}");
    assert!(
        list.contains("retired (kept to decrypt old mail)"),
        "{list}"
    );

    // danemail's copy: trace first, Message-ID kept, the forged field gone.
    let dm = String::from_utf8(home.decrypt("dm.eml").stdout).unwrap();
    let body_at = dm.find("Content-Type: text/plain").unwrap();
    let head = &dm[..body_at];
    assert!(head.contains("Message-ID: <dm-1@x.test>\r\n"), "{dm}");
    assert!(!head.contains("forged"), "{dm}");
    assert!(
        head.find("Return-Path").unwrap() < head.find("From:").unwrap(),
        "{dm}"
    );

    // --out writes an owner-only file.
    let out = Command::new(danemail_bin())
        .args(["decrypt", "--out"])
        .arg(home.path().join("out.eml"))
        .arg("--config")
        .arg(&home.config)
        .arg("--passphrase-file")
        .arg(&home.passphrase)
        .stdin(std::fs::File::open(home.path().join("cbc.eml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(home.read("out.eml").ends_with(&entity));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("out.eml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let failures = [
        ("stranger.eml", "not for us"),
        ("garbage.eml", "corrupt"),
        ("plain.eml", "not S/MIME-encrypted"),
    ];
    for (name, reason) in failures {
        let out = home.decrypt(name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
    }
    // A wrong passphrase: the keys do not unseal; said, not a crash.
    let wrong = secret_file(&home.path().join("wrong"), "not it");
    let out = Command::new(danemail_bin())
        .args(["decrypt", "--config"])
        .arg(&home.config)
        .arg("--passphrase-file")
        .arg(&wrong)
        .stdin(std::fs::File::open(home.path().join("cbc.eml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot unseal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- The agent against a real Dovecot --------------------------------------

use support::mail::MailServer;

const USER: &str = "inbox@provider.test";

/// Puts `bytes` into `user`'s INBOX as Dovecot's own Maildir file (Dovecot
/// gives it the next UID when it next looks).
fn put(server: &MailServer, user: &str, name: &str, bytes: &[u8]) {
    let maildir = server.dir.join("mail").join(user).join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("new").join(name), bytes).unwrap();
    let status = Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(server.dir.join("mail").join(user))
        .status()
        .unwrap();
    assert!(status.success());
}

/// The provider's view of INBOX: every UID with its flags and size (doveadm
/// reads the store directly; nothing changes).
fn snapshot(server: &MailServer, user: &str, folder: &str) -> String {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(server.dir.join("dovecot.conf"))
        .args([
            "fetch",
            "-u",
            user,
            "uid flags size.physical guid",
            "mailbox",
            folder,
            "all",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // \Recent is per session (RFC 3501 §2.3.2; gone in IMAP4rev2): not
    // the mailbox's state.
    String::from_utf8_lossy(&out.stdout).replace("\\Recent", "")
}

fn account_config(home: &Home, server: &MailServer, name: &str, extra: &str) -> String {
    let password = secret_file(&home.path().join(format!("imap-{name}")), "pw");
    format!(
        "[[inbound.accounts]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         security = \"none\"\nusername = \"{USER}\"\npassword_file = \"{pw}\"\n{extra}\n",
        port = server.port("IMAP_PORT"),
        pw = password.display(),
    )
}

fn write_config(home: &Home, body: &str) {
    std::fs::write(
        &home.config,
        format!(
            "[storage]\ndir = \"{}\"\n[inbound]\nkey_passphrase_file = \"{}\"\nretry_secs = 1\ntimeout_secs = 10\n{body}",
            home.path().join("storage").display(),
            home.passphrase.display()
        ),
    )
    .unwrap();
}

fn inbound(home: &Home, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(danemail_bin())
        .arg("inbound")
        .args(args)
        .arg("--config")
        .arg(&home.config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every file in a Maildir's new/ and cur/.
fn copies(maildir: &Path) -> Vec<Vec<u8>> {
    ["new", "cur"]
        .iter()
        .filter_map(|s| std::fs::read_dir(maildir.join(s)).ok())
        .flat_map(|d| d.flatten().map(|e| std::fs::read(e.path()).unwrap()))
        .collect()
}

#[test]
fn sync_once_decrypts_a_mixed_mailbox_into_the_maildir_and_leaves_the_provider_unchanged() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    // A 30 MB message (a 22 MB attachment in base64), encrypted.
    home.script(
        "{ printf 'Content-Type: application/octet-stream\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\n'; \
           head -c 22000000 /dev/urandom | base64 -w 76 | sed 's/$/\\r/'; } > big.txt; \
         openssl cms -encrypt -binary -aes-256-cbc -subject big -in big.txt -out big.eml me.pem",
    );
    assert!(home.read("big.txt").len() > 29_000_000);
    let names = [
        "cbc.eml",
        "gcm.eml",
        "oaep.eml",
        "ec.eml",
        "opaque.eml",
        "detached.eml",
        "dm.eml",
        "dm-gcm.eml",
        "new-key.eml",
        "stranger.eml",
        "garbage.eml",
        "plain.eml",
        "gpgsm.eml",
        "big.eml",
    ];
    for (n, name) in names.iter().enumerate() {
        put(
            &server,
            USER,
            &format!("{}.{n}.test:2,", 1_700_000_000 + n),
            &home.read(name),
        );
    }
    let before = snapshot(&server, USER, "INBOX");
    assert_eq!(
        before.matches("\nuid: ").count() + 1,
        names.len(),
        "{before}"
    );

    let work = account_config(&home, &server, "work", "");
    let mirror = account_config(&home, &server, "mirror", "mirror_plaintext = true");
    write_config(&home, &format!("{work}{mirror}"));
    let (code, out) = inbound(&home, &["sync", "--once", "--account", "work"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("work: in sync: 11 decrypted, 0 mirrored, 2 failed, 1 plaintext skipped"),
        "{out}"
    );

    let maildir = home.path().join("storage/decrypted/work");
    let stored = copies(&maildir);
    assert_eq!(stored.len(), 11);
    let entity = home.read("entity.txt");
    let detached = home.read("detached-signed.txt");
    let dm = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nencrypted by danemail\r\n";
    let count = |want: &[u8]| stored.iter().filter(|c| c.ends_with(want)).count();
    assert_eq!(
        count(&entity),
        7,
        "cbc, gcm, oaep, ec, opaque, new key, gpgsm"
    );
    assert_eq!(count(&home.read("big.txt")), 1, "30 MB");
    assert_eq!(count(&detached), 1);
    assert_eq!(count(dm), 2);
    for copy in &stored {
        let text = String::from_utf8_lossy(copy);
        assert!(
            text.starts_with("X-DANE-Mail-Decrypted: account=work;"),
            "{text}"
        );
        assert!(text.contains("uidvalidity="), "{text}");
    }

    let (code, status) = inbound(&home, &["status"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(status.contains("work: in sync"), "{status}");
    assert!(status.contains("not for us"), "{status}");
    assert!(status.contains("corrupt"), "{status}");
    assert!(status.contains("mirror: never synced"), "{status}");
    let (_, json) = inbound(&home, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["folders"]["INBOX"]["decrypted"], 11);
    assert_eq!(
        json[0]["folders"]["INBOX"]["failures"]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    // Again: nothing new.
    let (code, out) = inbound(&home, &["sync", "--once", "--account", "work"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("work: in sync: 0 decrypted"), "{out}");
    assert_eq!(copies(&maildir).len(), 11);

    // mirror_plaintext: the plaintext message too; twice adds nothing.
    for _ in 0..2 {
        let (code, out) = inbound(&home, &["sync", "--once", "--account", "mirror"]);
        assert_eq!(code, Some(0), "{out}");
    }
    let mirrored = copies(&home.path().join("storage/decrypted/mirror"));
    assert_eq!(mirrored.len(), 12);
    assert_eq!(
        mirrored
            .iter()
            .filter(|c| c.ends_with(b"Subject: plain\r\n\r\nhello\r\n"))
            .count(),
        1
    );

    // The provider's mailbox: the same UIDs, flags, sizes and count.
    assert_eq!(snapshot(&server, USER, "INBOX"), before);

    // A refused login: said in the result and the status, exit 1.
    secret_file(&home.path().join("imap-work"), "Xyzzy-not-the-password");
    let (code, out) = inbound(&home, &["sync", "--once", "--account", "work"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("work: error: login refused"), "{out}");
    let (code, status) = inbound(&home, &["status"]);
    assert_eq!(code, Some(1), "{status}");
    assert!(status.contains("work: error: login refused"), "{status}");
    assert!(
        !status.contains("Xyzzy"),
        "the password is not shown: {status}"
    );
}

/// The provenance (uidvalidity, uid) of every copy, sorted.
fn sources(maildir: &Path) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = copies(maildir)
        .iter()
        .map(|c| {
            let text = String::from_utf8_lossy(c);
            let head = &text[..text.find("\nFrom:").unwrap_or(text.len())];
            let number = |key: &str| -> u32 {
                head.split(';')
                    .find_map(|part| part.trim().strip_prefix(key))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap()
            };
            (number("uidvalidity="), number("uid="))
        })
        .collect();
    out.sort();
    out
}

fn doveadm(server: &MailServer, args: &[&str], stdin: Option<&Path>) -> String {
    let mut command = Command::new("doveadm");
    command
        .arg("-c")
        .arg(server.dir.join("dovecot.conf"))
        .args(args);
    if let Some(path) = stdin {
        command.stdin(std::fs::File::open(path).unwrap());
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "doveadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kill_9_during_a_500_message_sync_then_restart_gives_no_duplicate_and_no_gap() {
    const N: usize = 500;
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(
        "$D keys generate --email me@in.test --algorithm p256 --passphrase-file $P --config $C >/dev/null; \
         $D keys export-cert me@in.test --config $C > me.pem; \
         printf 'Content-Type: text/plain\\r\\n\\r\\nsecret\\r\\n' > e.txt; \
         openssl cms -encrypt -binary -aes-128-cbc -subject enc -in e.txt -out enc.eml me.pem",
    );
    let encrypted = home.read("enc.eml");
    for n in 0..N {
        let bytes = if n % 5 == 0 {
            encrypted.clone()
        } else {
            format!(
                "From: a@x.test\r\nSubject: {n}\r\nMessage-ID: <{n}@x.test>\r\n\r\nmessage {n}\r\n"
            )
            .into_bytes()
        };
        put(
            &server,
            USER,
            &format!("{}.{n}.test:2,", 1_700_000_000 + n),
            &bytes,
        );
    }
    write_config(
        &home,
        &account_config(&home, &server, "big", "mirror_plaintext = true"),
    );
    let maildir = home.path().join("storage/decrypted/big");
    let mut killed_at = None;
    for _attempt in 0..3 {
        let mut child = Command::new(danemail_bin())
            .args(["inbound", "sync", "--once", "--config"])
            .arg(&home.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let target = copies(&maildir).len() + 40;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let count = std::fs::read_dir(maildir.join("new")).map_or(0, |d| d.count());
            if count >= target || std::time::Instant::now() > deadline {
                child.kill().unwrap();
                let _ = child.wait();
                killed_at = Some(count);
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        if killed_at.is_some_and(|k| k < N) {
            break;
        }
    }
    let killed_at = killed_at.expect("the sync was killed mid-way");
    assert!(killed_at < N, "killed after {killed_at} copies");
    eprintln!("kill -9 after {killed_at} of {N} copies");
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    let found = sources(&maildir);
    let uids: Vec<u32> = found.iter().map(|(_, uid)| *uid).collect();
    assert_eq!(
        uids,
        (1..=N as u32).collect::<Vec<_>>(),
        "no duplicate, no gap"
    );
    assert!(found.iter().all(|(v, _)| *v == found[0].0));
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(copies(&maildir).len(), N);
}

#[test]
fn a_recreated_mailbox_with_a_new_uidvalidity_gives_no_duplicate_and_keeps_every_copy() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    let names = ["cbc.eml", "ec.eml", "plain.eml", "stranger.eml", "dm.eml"];
    // A migration that rewrites header fields: the same Message-ID and
    // body, other bytes. It must be recognised, not copied again.
    let dm = home.read("dm.eml");
    assert!(String::from_utf8_lossy(&dm).contains("Message-ID: <dm-1@x.test>"));
    std::fs::write(
        home.path().join("dm-migrated.eml"),
        [b"X-Migrated-By: imapsync\r\n".as_slice(), &dm].concat(),
    )
    .unwrap();
    let fill = |with: &[&str]| {
        doveadm(&server, &["mailbox", "create", "-u", USER, "Archive"], None);
        for name in with {
            doveadm(
                &server,
                &["save", "-u", USER, "-m", "Archive"],
                Some(&home.path().join(name)),
            );
        }
    };
    fill(&names);
    write_config(
        &home,
        &account_config(
            &home,
            &server,
            "arc",
            "folders = [\"Archive\"]\nmirror_plaintext = true",
        ),
    );
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 decrypted, 1 mirrored, 1 failed"), "{out}");
    let maildir = home.path().join("storage/decrypted/arc");
    let first = sources(&maildir);
    assert_eq!(first.len(), 4);

    // UIDVALIDITY is time-based in Dovecot: let a second pass.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    doveadm(&server, &["mailbox", "delete", "-u", USER, "Archive"], None);
    fill(&[
        "gcm.eml",
        "cbc.eml",
        "ec.eml",
        "plain.eml",
        "stranger.eml",
        "dm-migrated.eml",
    ]);
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("1 decrypted, 0 mirrored, 1 failed, 0 plaintext skipped, 4 already present"),
        "{out}"
    );
    let second = sources(&maildir);
    assert_eq!(second.len(), 5, "{second:?}");
    assert!(first.iter().all(|s| second.contains(s)), "old copies kept");
    assert_ne!(second[4].0, first[0].0, "a new UIDVALIDITY");
    let (_, status) = inbound(&home, &["status"]);
    assert!(status.contains("4 already present"), "{status}");
    // Every UID has its outcome in the state.
    let state = std::fs::read_to_string(home.path().join("storage/inbound/arc.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let archive = &state["folders"]["Archive"];
    assert_eq!(archive["outcomes"]["decrypted"], "1", "{archive}");
    assert_eq!(archive["outcomes"]["present"], "2:4,6", "{archive}");
    assert!(
        archive["failures"]["5"]
            .as_str()
            .is_some_and(|f| f.starts_with("failed: not for us")),
        "{archive}"
    );
}

#[test]
fn a_wrong_password_is_in_the_status_the_agent_keeps_running_and_the_fix_resumes_it() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    write_config(
        &home,
        &account_config(&home, &server, "live", "mirror_plaintext = true"),
    );
    let password = secret_file(&home.path().join("imap-live"), "Xyzzy-wrong");
    let mut agent = Command::new(danemail_bin())
        .args(["inbound", "sync", "--config"])
        .arg(&home.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wait_status = |want: &str, secs: u64| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (_, status) = inbound(&home, &["status"]);
            if status.contains(want) || std::time::Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let status = wait_status("login refused", 10);
    assert!(status.contains("live: error: login refused"), "{status}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        agent.try_wait().unwrap().is_none(),
        "the agent keeps running"
    );

    secret_file(&password, "pw");
    let status = wait_status("live: in sync", 20);
    assert!(status.contains("live: in sync"), "{status}");

    // IDLE: a message delivered now is in the Maildir within 5 s.
    let maildir = home.path().join("storage/decrypted/live");
    let before = copies(&maildir).len();
    let delivered = std::time::Instant::now();
    doveadm(
        &server,
        &["save", "-u", USER, "-m", "INBOX"],
        Some(&home.path().join("cbc.eml")),
    );
    while copies(&maildir).len() == before
        && delivered.elapsed() < std::time::Duration::from_secs(5)
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let after = copies(&maildir).len();
    assert_eq!(after, before + 1, "in the Maildir within 5 s");
    eprintln!("IDLE delivery → Maildir: {:?}", delivered.elapsed());

    // SIGTERM: a clean stop; the log names no password.
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let out = agent.wait_with_output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("login refused"), "{log}");
    assert!(!log.contains("Xyzzy"), "{log}");
}

#[test]
fn danemail_run_starts_the_agent_and_an_idle_delivery_is_in_the_maildir_within_5_s() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    put(&server, USER, "1700000000.1.test:2,", &home.read("cbc.eml"));
    let smtp_port = support::free_port();
    let account = account_config(&home, &server, "run", "");
    write_config(
        &home,
        // DNS to a dead loopback port: the self-check stays on this machine.
        &format!(
            "enabled = true\n{account}[smtp]\nlisten = \"127.0.0.1:{smtp_port}\"\n\
             [dns]\nservers = [\"127.0.0.1:9\"]\ntimeout_ms = 200\nfallback = []\n"
        ),
    );
    let mut proxy = support::mail::Proxy::start(&home.config, smtp_port);
    let maildir = home.path().join("storage/decrypted/run");
    let wait_for = |n: usize, limit: std::time::Duration| {
        let start = std::time::Instant::now();
        while copies(&maildir).len() < n && start.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        start.elapsed()
    };
    wait_for(1, std::time::Duration::from_secs(20));
    assert_eq!(copies(&maildir).len(), 1, "caught up: {}", proxy.log());
    // Let the agent enter IDLE, then deliver.
    std::thread::sleep(std::time::Duration::from_millis(300));
    doveadm(
        &server,
        &["save", "-u", USER, "-m", "INBOX"],
        Some(&home.path().join("gcm.eml")),
    );
    let took = wait_for(2, std::time::Duration::from_secs(5));
    assert_eq!(copies(&maildir).len(), 2, "within 5 s: {}", proxy.log());
    eprintln!("danemail run: delivery → Maildir in {took:?}");
    assert!(proxy.log().contains("inbound agent is running"));
    assert!(proxy.terminate().success(), "{}", proxy.log());
}

/// The shared keyring session, with `$D` the CLI and `$C` the config.
fn in_keyring_session(home: &Home, script: &str) -> String {
    let bin = danemail_bin();
    support::in_keyring_session(
        home.path(),
        script,
        &[("D", bin.as_os_str()), ("C", home.config.as_os_str())],
    )
}

#[test]
fn keys_sealed_by_the_keyring_and_a_keyring_password_decrypt_a_synced_message() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    // No password_file, no key_passphrase_file: both secrets in the keyring.
    std::fs::write(
        &home.config,
        format!(
            "[storage]\ndir = \"{}\"\n[[inbound.accounts]]\nname = \"ring\"\nhost = \"127.0.0.1\"\n\
             port = {}\nsecurity = \"none\"\nusername = \"{USER}\"\n",
            home.path().join("storage").display(),
            server.port("IMAP_PORT"),
        ),
    )
    .unwrap();
    let stdout = in_keyring_session(
        &home,
        "$D keys generate --email me@in.test --config $C >/dev/null; \
         $D keys export-cert me@in.test --config $C > me.pem; \
         printf 'Content-Type: text/plain\\r\\n\\r\\nsealed by the keyring\\r\\n' > e.txt; \
         openssl cms -encrypt -binary -aes-256-cbc -subject ring -in e.txt -out ring.eml me.pem; \
         $D inbound sync --once --config $C || true; \
         printf 'pw\\n' | $D inbound set-password ring --config $C",
    );
    assert!(
        stdout.contains("ring: error: account `ring`: password: none stored"),
        "{stdout}"
    );
    assert!(stdout.contains("stored in the OS keyring"), "{stdout}");
    put(
        &server,
        USER,
        "1700000000.1.test:2,",
        &home.read("ring.eml"),
    );
    let stdout = in_keyring_session(&home, "$D inbound sync --once --config $C");
    assert!(stdout.contains("ring: in sync: 1 decrypted"), "{stdout}");
    let stored = copies(&home.path().join("storage/decrypted/ring"));
    assert_eq!(stored.len(), 1);
    assert!(stored[0].ends_with(&home.read("e.txt")));
    // The password is in no file in the clear.
    for entry in std::fs::read_dir(home.path().join("storage/inbound")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("\"pw\""), "{text}");
    }
}

/// An account on `host:port` with `security` (and `extra` lines).
fn account_at(
    home: &Home,
    name: &str,
    host: &str,
    port: u16,
    security: &str,
    extra: &str,
) -> String {
    let password = secret_file(&home.path().join(format!("imap-{name}")), "pw");
    format!(
        "[[inbound.accounts]]\nname = \"{name}\"\nhost = \"{host}\"\nport = {port}\n\
         security = \"{security}\"\nusername = \"{USER}\"\npassword_file = \"{pw}\"\n{extra}\n",
        pw = password.display(),
    )
}

#[test]
fn tls_and_starttls_are_verified_against_the_ca_and_an_unknown_ca_is_refused() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    put(&server, USER, "1700000000.1.test:2,", &home.read("cbc.eml"));
    let ca = format!("ca_file = \"{}\"", server.ca_file().display());
    write_config(
        &home,
        &format!(
            "{}{}",
            account_at(
                &home,
                "tls",
                "localhost",
                server.port("IMAPS_PORT"),
                "tls",
                &ca
            ),
            account_at(
                &home,
                "starttls",
                "localhost",
                server.port("IMAP_PORT"),
                "starttls",
                &ca
            ),
        ),
    );
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("tls: in sync: 1 decrypted"), "{out}");
    assert!(out.contains("starttls: in sync: 1 decrypted"), "{out}");
    for name in ["tls", "starttls"] {
        let stored = copies(&home.path().join("storage/decrypted").join(name));
        assert_eq!(stored.len(), 1, "{name}");
        assert!(stored[0].ends_with(&home.read("entity.txt")), "{name}");
    }
    // Dovecot says both logins were inside TLS.
    let log = std::fs::read_to_string(server.dir.join("dovecot.log")).unwrap();
    let logins: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("imap-login") && l.contains("Login: user="))
        .collect();
    assert_eq!(logins.len(), 2, "{log}");
    assert!(logins.iter().all(|l| l.contains(", TLS")), "{logins:#?}");

    // Without the provider's CA, the certificate is refused before LOGIN,
    // over either way in; the line says why.
    write_config(
        &home,
        &format!(
            "{}{}",
            account_at(
                &home,
                "tls",
                "localhost",
                server.port("IMAPS_PORT"),
                "tls",
                ""
            ),
            account_at(
                &home,
                "starttls",
                "localhost",
                server.port("IMAP_PORT"),
                "starttls",
                ""
            ),
        ),
    );
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(1), "{out}");
    for name in ["tls", "starttls"] {
        assert!(
            out.contains(&format!(
                "{name}: error: TLS with localhost: invalid peer certificate: UnknownIssuer"
            )),
            "{out}"
        );
    }
    let log = std::fs::read_to_string(server.dir.join("dovecot.log")).unwrap();
    assert_eq!(
        log.matches("Login: user=").count(),
        2,
        "no login without a verified certificate"
    );
}

#[test]
fn without_idle_the_agent_polls_and_with_idle_it_re_issues_idle_and_both_see_new_mail() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    write_config(
        &home,
        &format!(
            "poll_secs = 1\nidle_secs = 1\n{}{}",
            // The listener on 127.0.0.2 announces no IDLE after login.
            account_at(
                &home,
                "poll",
                "127.0.0.2",
                server.port("IMAP_NOIDLE_PORT"),
                "none",
                ""
            ),
            account_at(
                &home,
                "idle",
                "127.0.0.1",
                server.port("IMAP_PORT"),
                "none",
                ""
            ),
        ),
    );
    let agent = Command::new(danemail_bin())
        .args(["inbound", "sync", "--config"])
        .arg(&home.config)
        .env("RUST_LOG", "danemail=debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, status) = inbound(&home, &["status"]);
        if status.contains("poll: in sync") && status.contains("idle: in sync") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Two IDLE periods pass: re-issued, and the next message still arrives.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let delivered = std::time::Instant::now();
    doveadm(
        &server,
        &["save", "-u", USER, "-m", "INBOX"],
        Some(&home.path().join("cbc.eml")),
    );
    let both = || {
        ["poll", "idle"]
            .iter()
            .map(|n| copies(&home.path().join("storage/decrypted").join(n)).len())
            .collect::<Vec<_>>()
    };
    while both() != [1, 1] && delivered.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(both(), [1, 1], "both in the Maildir within 5 s");
    eprintln!("poll + IDLE delivery → Maildir: {:?}", delivered.elapsed());
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let out = agent.wait_with_output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("polling every 1 s (the server has no IDLE)"),
        "{log}"
    );
    assert!(log.contains("IDLE, re-issued every 1 s"), "{log}");
    assert!(log.contains("IDLE re-issued"), "{log}");
}

#[test]
fn danger_append_to_folder_appends_each_decrypted_copy_once_across_interrupted_appends() {
    let server = MailServer::start(&[USER]);
    let home = Home::new("");
    home.script(MAKE_MESSAGES);
    for (i, name) in ["cbc.eml", "gcm.eml", "plain.eml", "stranger.eml"]
        .iter()
        .enumerate()
    {
        put(
            &server,
            USER,
            &format!("1700000000.{i}.test:2,"),
            &home.read(name),
        );
    }
    write_config(
        &home,
        &account_config(
            &home,
            &server,
            "up",
            "mirror_plaintext = true\ndanger_append_to_folder = \"Decrypted\"",
        ),
    );
    let inbox_before = snapshot(&server, USER, "INBOX");
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("up: in sync: 2 decrypted, 1 mirrored, 1 failed"),
        "{out}"
    );
    assert!(out.contains("2 appended to the provider"), "{out}");
    // The folder was created; it holds the two decrypted copies (not the
    // mirrored plaintext, not the failure), each with its provenance.
    let texts = |folder: &str| -> Vec<String> {
        let out = doveadm(
            &server,
            &["fetch", "-u", USER, "text", "mailbox", folder, "all"],
            None,
        );
        out.split("text:\n")
            .filter(|t| !t.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let appended = texts("Decrypted");
    assert_eq!(appended.len(), 2, "{appended:?}");
    for text in &appended {
        assert!(
            text.starts_with("X-DANE-Mail-Decrypted: account=up;"),
            "{text}"
        );
        assert!(text.contains("the secret \u{e9} body"), "{text}");
    }
    assert_eq!(
        snapshot(&server, USER, "INBOX"),
        inbox_before,
        "INBOX untouched"
    );

    // Again: nothing more.
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("appended"), "{out}");
    assert_eq!(texts("Decrypted").len(), 2);

    // A crash in the middle of the APPENDs: both UIDs "started", neither
    // recorded as done; one of them never reached the provider.
    let state_path = home.path().join("storage/inbound/up.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let inbox = &mut state["folders"]["INBOX"];
    assert_eq!(inbox["appended"], "1:2", "{inbox}");
    inbox["appended"] = "".into();
    inbox["append_started"] = "1:2".into();
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    doveadm(
        &server,
        &["expunge", "-u", USER, "mailbox", "Decrypted", "uid", "2"],
        None,
    );
    assert_eq!(texts("Decrypted").len(), 1);
    let (code, out) = inbound(&home, &["sync", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 appended to the provider"), "{out}");
    let appended = texts("Decrypted");
    assert_eq!(
        appended.len(),
        2,
        "the one found is not appended again: {appended:?}"
    );
    assert_ne!(appended[0], appended[1]);
    assert_eq!(
        snapshot(&server, USER, "INBOX"),
        inbox_before,
        "INBOX untouched"
    );
}
