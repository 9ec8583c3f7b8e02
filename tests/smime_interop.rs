//! `danemail encrypt` output read by three independent decrypters —
//! OpenSSL 3.0 `cms`, gpgsm 2.2 and NSS 3.87 `cmsutil` — byte for byte; the
//! Bcc rule; already-encrypted and malformed input.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use danemail::mime::inner_entity;
use danemail::mime::Message;
use serde_json::Value;
use support::smime::{smime, Tool};

const MESSAGES: [&str; 5] = [
    "7bit",
    "8bit-utf8",
    "long-line",
    "attachment",
    "alternative",
];
const RSA: [&str; 3] = [
    "rsa2048@smime.test",
    "rsa3072@smime.test",
    "sender@smime.test",
];

/// Runs `danemail encrypt` on `message` with `--cert` for every recipient;
/// returns the output dir and plan.json.
fn encrypt(message: &Path, rcpts: &[&str], extra: &[&str]) -> (tempfile::TempDir, Value) {
    let fixture = smime();
    let out = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_danemail"));
    command
        .args(["encrypt", "--from", "sender@smime.test", "--out-dir"])
        .arg(out.path());
    for rcpt in rcpts {
        command
            .args(["--rcpt", rcpt, "--cert"])
            .arg(fixture.cert(rcpt));
    }
    command.args(extra).env_remove("RUST_LOG");
    command.stdin(std::fs::File::open(message).unwrap());
    let result = command.output().unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let plan =
        serde_json::from_slice(&std::fs::read(out.path().join("plan.json")).unwrap()).unwrap();
    (out, plan)
}

/// What a recipient must get back: the original `Content-*` fields, the
/// empty line and the body, byte for byte.
fn expected_inner(message: &Path) -> Vec<u8> {
    let parsed = Message::parse(&std::fs::read(message).unwrap()).unwrap();
    let mut out = Vec::new();
    inner_entity(&parsed).read_to_end(&mut out).unwrap();
    out
}

fn copies(plan: &Value) -> Vec<(String, Vec<String>, bool)> {
    plan["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let recipients = c["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (
                c["file"].as_str().unwrap().to_owned(),
                recipients,
                c["encrypted"] == true,
            )
        })
        .collect()
}

#[test]
fn every_decrypter_reads_every_message_byte_for_byte() {
    let fixture = smime();
    let sender = fixture.cert("sender@smime.test").display().to_string();
    let mut jobs: Vec<(String, PathBuf, String, Tool, Vec<u8>)> = Vec::new();
    let mut dirs = Vec::new();
    for name in MESSAGES {
        let message = fixture.message(&format!("messages/{name}.eml"));
        let expected = expected_inner(&message);
        // rsa2048 in To, ec256 in Cc, rsa3072 only in the envelope (Bcc).
        let (dir, plan) = encrypt(
            &message,
            &[
                "rsa2048@smime.test",
                "ec256@smime.test",
                "rsa3072@smime.test",
            ],
            &["--sender-cert", &sender],
        );
        let copies = copies(&plan);
        assert_eq!(copies.len(), 3, "{name}: {plan:#}");
        for (file, recipients, encrypted) in copies {
            assert!(encrypted, "{name}: {file}");
            let path = dir.path().join(&file);
            let mut readers = recipients.clone();
            if recipients.iter().any(|r| RSA.contains(&r.as_str())) {
                readers.push("sender@smime.test".into());
            }
            for reader in readers {
                let tools: &[Tool] = if RSA.contains(&reader.as_str()) {
                    &[Tool::Openssl, Tool::Gpgsm, Tool::Nss]
                } else {
                    // gpgsm 2.2 cannot import EC keys; NSS: see below.
                    &[Tool::Openssl, Tool::Nss]
                };
                for &tool in tools {
                    jobs.push((
                        format!("{name}/{file}"),
                        path.clone(),
                        reader.clone(),
                        tool,
                        expected.clone(),
                    ));
                }
            }
        }
        dirs.push(dir);
    }
    // Two workers: decrypt.sh locks each key store, so parallel runs are safe.
    let jobs = std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some((index, (label, path, reader, tool, expected))) =
                    jobs.lock().unwrap().pop()
                else {
                    return;
                };
                let outcome = fixture.decrypt(tool, &reader, &path);
                results
                    .lock()
                    .unwrap()
                    .push((index, label, reader, tool, expected, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let (mut ok, mut xfail, mut failures) = (0, 0, Vec::new());
    for (_, label, reader, tool, expected, outcome) in results {
        let line = format!("{label:<24} {reader:<20} {:<8}", tool.name());
        match (tool, reader.as_str(), outcome) {
            // NSS 3.87 (Debian 12) has no ECDH KeyAgreeRecipientInfo (added
            // in NSS 3.100): EC recipients cannot be read by it at all. If
            // this starts to pass, NSS was upgraded: make it a real check.
            (Tool::Nss, "ec256@smime.test", Err(why)) if why.contains("SEC_ERROR_BAD_DER") => {
                println!("{line} xfail (NSS < 3.100 lacks ECDH in CMS)");
                xfail += 1;
            }
            (_, _, Ok(got)) if got == expected => {
                println!("{line} ok");
                ok += 1;
            }
            (_, _, Ok(got)) => failures.push(format!(
                "{line} decrypted to {} bytes, expected {}",
                got.len(),
                expected.len()
            )),
            (_, _, Err(why)) => failures.push(format!("{line} failed: {why}")),
        }
    }
    println!("{ok} decrypted byte-identically, {xfail} known NSS EC failures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(xfail, MESSAGES.len(), "one NSS EC attempt per message");
}

#[test]
fn no_copy_names_anyone_outside_its_recipients() {
    let fixture = smime();
    // A message whose header lists the Bcc recipient, as some clients send it.
    let original = std::fs::read(fixture.message("messages/7bit.eml")).unwrap();
    let text = String::from_utf8(original).unwrap();
    let with_bcc = text.replacen(
        "\r\nCc: ",
        "\r\nBcc: rsa3072@smime.test, plain@smime.test\r\nCc: ",
        1,
    );
    assert_ne!(text, with_bcc);
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("bcc.eml");
    std::fs::write(&message, &with_bcc).unwrap();

    // rsa3072@ is in the envelope only (and in the Bcc field): a Bcc recipient.
    let (out, plan) = encrypt(
        &message,
        &[
            "rsa2048@smime.test",
            "ec256@smime.test",
            "rsa3072@smime.test",
        ],
        &[],
    );
    let copies = copies(&plan);
    let expect: Vec<(&str, Vec<&str>)> = vec![
        ("1.eml", vec!["rsa2048@smime.test"]),
        ("2.eml", vec!["ec256@smime.test"]),
        ("3.eml", vec!["rsa3072@smime.test"]),
    ];
    assert_eq!(copies.len(), expect.len(), "{plan:#}");
    for ((file, recipients, _), (want_file, want)) in copies.iter().zip(&expect) {
        assert_eq!(file, want_file);
        assert_eq!(recipients, want);
        let path = out.path().join(file);
        let serials = fixture.recipient_serials(&path);
        let mut allowed: Vec<String> = want.iter().map(|r| fixture.serial(r)).collect();
        allowed.sort();
        assert_eq!(
            serials, allowed,
            "{file}: RecipientInfos must name only {want:?}"
        );
        let bytes = std::fs::read(&path).unwrap();
        let header_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let header = String::from_utf8_lossy(&bytes[..header_end]).to_lowercase();
        assert!(!header.contains("bcc:"), "{file} has a Bcc field");
        for bcc in ["rsa3072@smime.test", "plain@smime.test"] {
            assert!(!header.contains(bcc), "{file} names Bcc recipient {bcc}");
        }
    }
}

#[test]
fn already_encrypted_mail_passes_byte_identical() {
    let fixture = smime();
    for name in ["smime-enveloped", "pgp-mime", "inline-pgp"] {
        let message = fixture.message(&format!("encrypted/{name}.eml"));
        let (out, plan) = encrypt(&message, &["rsa2048@smime.test", "ec256@smime.test"], &[]);
        let copies = copies(&plan);
        assert_eq!(copies.len(), 1, "{name}: {plan:#}");
        assert_eq!(plan["copies"][0]["kind"], "pass-through");
        assert_eq!(copies[0].1, ["rsa2048@smime.test", "ec256@smime.test"]);
        assert_eq!(
            std::fs::read(out.path().join("1.eml")).unwrap(),
            std::fs::read(&message).unwrap(),
            "{name} changed"
        );
    }
}

#[test]
fn malformed_mime_is_an_error_or_encrypted_untouched() {
    let fixture = smime();
    // A 1 MB header line: a clear one-line error, nothing written.
    let out = tempfile::tempdir().unwrap();
    let result = Command::new(env!("CARGO_BIN_EXE_danemail"))
        .args([
            "encrypt",
            "--from",
            "sender@smime.test",
            "--rcpt",
            "rsa2048@smime.test",
            "--cert",
        ])
        .arg(fixture.cert("rsa2048@smime.test"))
        .arg("--out-dir")
        .arg(out.path())
        .stdin(std::fs::File::open(fixture.message("malformed/long-header.eml")).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("header field on line") && stderr.contains("bytes long"),
        "{stderr}"
    );
    assert!(!out.path().join("plan.json").exists());

    // No separator, a truncated multipart, NUL bytes: encrypted with the
    // body untouched, so the recipient sees exactly what was sent.
    for name in ["no-separator", "truncated-multipart", "nul-bytes"] {
        let message = fixture.message(&format!("malformed/{name}.eml"));
        let (dir, plan) = encrypt(&message, &["rsa2048@smime.test"], &[]);
        let got = fixture
            .decrypt(
                Tool::Openssl,
                "rsa2048@smime.test",
                &dir.path().join("1.eml"),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected_inner(&message), "{name}: {plan:#}");
    }

    // Not a message at all: a clear error.
    let result = Command::new(env!("CARGO_BIN_EXE_danemail"))
        .args([
            "encrypt",
            "--from",
            "a@b.test",
            "--rcpt",
            "rsa2048@smime.test",
            "--cert",
        ])
        .arg(fixture.cert("rsa2048@smime.test"))
        .arg("--out-dir")
        .arg(out.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"hello, this is no mail\r\n\r\nbody")?;
            child.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 1 is neither a header field"),
        "{stderr}"
    );
}

#[test]
fn gcm_and_oaep_are_opt_in_and_openssl_reads_them() {
    let fixture = smime();
    let message = fixture.message("messages/8bit-utf8.eml");
    for extra in [
        &["--cipher", "aes-256-gcm"][..],
        &["--rsa-oaep"][..],
        &["--cipher", "aes-256-gcm", "--rsa-oaep"][..],
    ] {
        let (dir, _) = encrypt(&message, &["rsa2048@smime.test"], extra);
        let path = dir.path().join("1.eml");
        let got = fixture
            .decrypt(Tool::Openssl, "rsa2048@smime.test", &path)
            .unwrap();
        assert_eq!(got, expected_inner(&message), "{extra:?}");
        let header = std::fs::read_to_string(&path).unwrap();
        if extra.contains(&"aes-256-gcm") {
            assert!(
                header.contains("smime-type=authEnveloped-data"),
                "{extra:?}"
            );
        }
    }
}
