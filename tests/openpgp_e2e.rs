//! OPENPGPKEY recipients (RFC 7929) end to end: the fixture zones' OpenPGP
//! keys judged by `danemail lookup`, mail through the proxy to a real
//! Postfix + Dovecot encrypted as PGP/MIME (RFC 3156) and decrypted by
//! GnuPG and Sequoia (`sq`), copies per recipient kind, fail-closed on a
//! bogus answer, and `danemail record/check --openpgp` against a zone that
//! publishes what `record` printed.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::relay::{self, converse, expected_inner, message, setup_for, WAIT};
use support::{danemail, dns, DnsFixture};

fn lookup_json(fixture: &DnsFixture, config_extra: &str, address: &str) -> Value {
    let config = fixture.config_file(config_extra);
    let config = config.display().to_string();
    let out = danemail(&["--config", &config, "lookup", "--json", address]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    reports[0].clone()
}

fn certs() -> PathBuf {
    dns().dir.join("certs")
}

/// A throw-away GnuPG home under /tmp (its socket paths must stay short).
struct GnuPg {
    home: tempfile::TempDir,
}

impl GnuPg {
    fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("dmgpg")
            .tempdir_in("/tmp")
            .unwrap();
        Self { home }
    }

    fn run(&self, args: &[&str], stdin: Option<&Path>) -> std::process::Output {
        let mut command = Command::new("gpg");
        command
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args);
        if let Some(path) = stdin {
            command.stdin(std::fs::File::open(path).unwrap());
        }
        command.output().expect("run gpg")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// The 16-hex-digit key IDs of every key and subkey in a key file.
fn key_ids(file: &Path) -> BTreeSet<String> {
    let gpg = GnuPg::new();
    let out = gpg.ok(&[
        "--with-colons",
        "--import-options",
        "show-only",
        "--import",
        file.to_str().unwrap(),
    ]);
    out.lines()
        .filter(|l| l.starts_with("pub:") || l.starts_with("sub:"))
        .map(|l| l.split(':').nth(4).unwrap().to_owned())
        .collect()
}

/// The ASCII-armored OpenPGP message inside a PGP/MIME copy, after checking
/// its RFC 3156 structure.
fn armored_part(stored: &[u8]) -> String {
    let text = String::from_utf8_lossy(stored);
    let lower = text.to_lowercase();
    assert!(
        lower.contains("content-type: multipart/encrypted; protocol=\"application/pgp-encrypted\""),
        "not PGP/MIME:\n{}",
        &text[..text.len().min(2000)]
    );
    assert!(lower.contains("content-type: application/pgp-encrypted\r\n"));
    assert!(text.contains("\r\nVersion: 1\r\n"));
    assert!(lower.contains("content-type: application/octet-stream"));
    let start = text
        .find("-----BEGIN PGP MESSAGE-----")
        .expect("armor begins");
    let end = text.find("-----END PGP MESSAGE-----").expect("armor ends");
    format!("{}-----END PGP MESSAGE-----\r\n", &text[start..end])
}

/// The key IDs the encrypted session key packets of `armored` name.
fn pkesk_key_ids(armored: &str) -> BTreeSet<String> {
    let gpg = GnuPg::new();
    let file = gpg.home.path().join("m.asc");
    std::fs::write(&file, armored).unwrap();
    // No secret keys: gpg lists the packets and fails to decrypt.
    let out = gpg.run(
        &["--list-only", "--list-packets", file.to_str().unwrap()],
        None,
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    all.lines()
        .filter(|l| l.contains(":pubkey enc packet:"))
        .map(|l| {
            l.split("keyid ")
                .nth(1)
                .expect("a keyid")
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn gpg_decrypt(armored: &str, secret_key: &Path) -> Result<Vec<u8>, String> {
    let gpg = GnuPg::new();
    gpg.ok(&["--import", secret_key.to_str().unwrap()]);
    let file = gpg.home.path().join("m.asc");
    std::fs::write(&file, armored).unwrap();
    let out = gpg.run(&["--decrypt", file.to_str().unwrap()], None);
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn sq_decrypt(armored: &str, secret_key: &Path) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.asc");
    std::fs::write(&file, armored).unwrap();
    // sq 0.27 (Debian 12) names the secret key file `--recipient-key`;
    // later versions `--recipient-file`.
    let help = Command::new("sq")
        .args(["decrypt", "--help"])
        .output()
        .expect("run sq (package sq)");
    let flag = if String::from_utf8_lossy(&help.stdout).contains("--recipient-file") {
        "--recipient-file"
    } else {
        "--recipient-key"
    };
    let out = Command::new("sq")
        .arg("decrypt")
        .arg(flag)
        .arg(secret_key)
        .arg(&file)
        .env("HOME", dir.path())
        .output()
        .expect("run sq (package sq)");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_openpgpkey_record_gets_the_usable_reason_and_decision_of_the_table() {
    let fixture = dns();
    let table = std::fs::read_to_string(fixture.dir.join("openpgp.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 10, "openpgp.tsv rows");
    for row in rows {
        let [address, decision, usable, word, fingerprint, note] = row[..] else {
            panic!("bad row {row:?}");
        };
        let report = lookup_json(fixture, "", address);
        let context = format!("{address} ({note}): {report:#}");
        assert_eq!(report["decision"], decision, "{context}");
        let records = report["openpgpkey"]["records"]
            .as_array()
            .expect(&context)
            .clone();
        match usable {
            "-" => {
                // Not secure: the key is never judged; the decision says why.
                assert!(
                    report["reason"]
                        .as_str()
                        .unwrap()
                        .to_lowercase()
                        .contains(word),
                    "{context}"
                );
                for record in &records {
                    assert_eq!(record["usable"], false, "{context}");
                }
            }
            _ => {
                assert_eq!(records.len(), 1, "{context}");
                let record = &records[0];
                assert_eq!(record["usable"], usable == "yes", "{context}");
                assert!(
                    record["reason"]
                        .as_str()
                        .unwrap()
                        .to_lowercase()
                        .contains(word),
                    "{context}"
                );
                if fingerprint != "-" {
                    assert_eq!(record["fingerprint"], fingerprint, "{context}");
                } else {
                    assert_eq!(record["fingerprint"], Value::Null, "{context}");
                }
            }
        }
        if decision == "encrypt" {
            let standard = if address == "both@ecdsa.test" {
                "smime"
            } else {
                "openpgp"
            };
            assert_eq!(report["standard"], standard, "{context}");
            assert!(
                report["reason"].as_str().unwrap().contains(match standard {
                    "smime" => "S/MIME",
                    _ => "PGP/MIME",
                }),
                "the reason names the standard: {context}"
            );
        } else {
            assert_eq!(report["standard"], Value::Null, "{context}");
        }
    }
}

#[test]
fn prefer_openpgp_chooses_the_openpgp_key_when_both_are_usable() {
    let fixture = dns();
    let report = lookup_json(
        fixture,
        "[policy]\nprefer = \"openpgp\"\n",
        "both@ecdsa.test",
    );
    assert_eq!(report["decision"], "encrypt", "{report:#}");
    assert_eq!(report["standard"], "openpgp", "{report:#}");
    let fingerprint = std::fs::read_to_string(certs().join("pgp-both.fpr")).unwrap();
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains(fingerprint.trim()),
        "{report:#}"
    );
    // A user whose only key is OpenPGP is unaffected by the preference.
    let report = lookup_json(
        fixture,
        "[policy]\nprefer = \"smime\"\n",
        "pgp-rsa@ecdsa.test",
    );
    assert_eq!(report["standard"], "openpgp", "{report:#}");
}

#[test]
fn mail_to_openpgp_smime_and_plaintext_recipients_gets_separate_copies_gnupg_and_sequoia_read() {
    let mailboxes = [
        "pgp-rsa@ecdsa.test",
        "pgp-25519@rsa.test",
        "alice@ecdsa.test",
        "both@ecdsa.test",
        "nobody@ecdsa.test",
    ];
    let sender_key = certs().join("pgp-sender.pub.asc");
    let s = setup_for(
        &mailboxes,
        &format!("[openpgp]\nsender_key = \"{}\"\n", sender_key.display()),
        |_| {},
    );
    let sent = message(
        "PGP/MIME and S/MIME",
        "PGP RSA <PGP-RSA@ecdsa.test>, alice@ecdsa.test",
        "both@ecdsa.test, nobody@ecdsa.test",
        "Wir treffen uns um 8.\r\nLine two \u{2014} UTF-8.\r\n",
    );
    // pgp-25519@rsa.test is Bcc: in the envelope only.
    let result = s.smtplib(&sent, "me@provider.test", &mailboxes);
    assert_eq!(result["error"], Value::Null, "{result}");
    assert_eq!(result["refused"], serde_json::json!({}), "{result}");
    let inner = expected_inner(&sent);

    let sender_ids = key_ids(&sender_key);
    let ids = |name: &str| key_ids(&certs().join(format!("{name}.pub.asc")));

    // The visible OpenPGP recipient: one PGP/MIME copy for her alone (plus
    // the sender's key), readable by GnuPG and Sequoia.
    let got = s.mail.fetch("pgp-rsa@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    let armored = armored_part(&got[0]);
    let named = pkesk_key_ids(&armored);
    let expected: BTreeSet<String> = named
        .iter()
        .filter(|id| ids("pgp-rsa").contains(*id) || sender_ids.contains(*id))
        .cloned()
        .collect();
    assert_eq!(named.len(), 2, "her subkey and the sender's: {named:?}");
    assert_eq!(named, expected, "only her key and the sender's: {named:?}");
    let secret = certs().join("pgp-rsa.sec.asc");
    assert_eq!(
        gpg_decrypt(&armored, &secret).unwrap(),
        inner,
        "gpg --decrypt"
    );
    assert_eq!(sq_decrypt(&armored, &secret).unwrap(), inner, "sq decrypt");
    assert!(gpg_decrypt(&armored, &certs().join("pgp-25519.sec.asc")).is_err());
    // The sender can read what was sent ([openpgp] sender_key).
    let sender_secret = certs().join("pgp-sender.sec.asc");
    assert_eq!(
        gpg_decrypt(&armored, &sender_secret).unwrap(),
        inner,
        "the sender's copy"
    );
    let text = String::from_utf8_lossy(&got[0]);
    assert!(!text.contains("pgp-25519"), "the Bcc recipient is named");
    assert!(
        !text.contains("Wir treffen"),
        "plaintext in the encrypted copy"
    );
    assert!(text.contains("Subject: PGP/MIME and S/MIME\r\n"));

    // The Bcc OpenPGP recipient: a copy of its own.
    let got = s.mail.fetch("pgp-25519@rsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    let armored = armored_part(&got[0]);
    let named = pkesk_key_ids(&armored);
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(named
        .iter()
        .all(|id| ids("pgp-25519").contains(id) || sender_ids.contains(id)));
    let secret = certs().join("pgp-25519.sec.asc");
    assert_eq!(gpg_decrypt(&armored, &secret).unwrap(), inner);
    assert_eq!(sq_decrypt(&armored, &secret).unwrap(), inner);
    assert!(gpg_decrypt(&armored, &certs().join("pgp-rsa.sec.asc")).is_err());
    assert!(!String::from_utf8_lossy(&got[0])
        .to_lowercase()
        .contains("bcc:"));

    // The S/MIME recipients (both@ecdsa.test prefers S/MIME by default)
    // share an S/MIME copy; no OpenPGP recipient is in it.
    for address in ["alice@ecdsa.test", "both@ecdsa.test"] {
        let got = s.mail.fetch(address, 1, WAIT);
        assert_eq!(got.len(), 1);
        assert!(relay::is_encrypted(&got[0]), "{address}: S/MIME");
        assert_eq!(
            relay::decrypt(&got[0], address).unwrap(),
            inner,
            "{address}"
        );
        assert!(!String::from_utf8_lossy(&got[0]).contains("pgp-25519"));
    }
    // The plaintext recipient gets the message as written, without Bcc.
    let got = s.mail.fetch("nobody@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("Wir treffen uns um 8."));
    assert!(!text.contains("pgp-25519"));

    let log = s.proxy.log();
    assert!(!log.contains("Wir treffen"), "message text in the log");
}

#[test]
fn a_bogus_openpgpkey_answer_without_smimea_is_451_4_7_5_at_rcpt() {
    let s = setup_for(&["pgp-rsa@ecdsa.test"], "", |_| {});
    let auth = relay::base64_plain("danemail", relay::LOCAL_PASSWORD);
    let replies = converse(
        s.proxy.port,
        &[
            "EHLO c",
            &format!("AUTH PLAIN {auth}"),
            "MAIL FROM:<me@provider.test>",
            "RCPT TO:<pgp@badsig.test>",
            "RCPT TO:<pgp-rsa@ecdsa.test>",
            "QUIT",
        ],
    );
    let bogus = &replies[replies.len() - 3];
    assert!(bogus.starts_with("451 4.7.5"), "{replies:#?}");
    assert!(bogus.to_lowercase().contains("openpgpkey"), "{bogus}");
    let fine = &replies[replies.len() - 2];
    assert!(fine.starts_with("250"), "{replies:#?}");
    assert!(fine.contains("OpenPGP"), "{fine}");
}

#[test]
fn a_record_from_danemail_record_is_found_by_lookup_and_check_says_ok() {
    // A fresh key made by GnuPG for an address with upper-case letters: the
    // record goes under the lowercased local part (what GnuPG publishes).
    let gpg = GnuPg::new();
    let address = "Fresh.User@ecdsa.test";
    let out = gpg.ok(&[
        "--status-fd",
        "1",
        "--quick-gen-key",
        &format!("Fresh User <{address}>"),
        "ed25519",
        "sign",
        "0",
    ]);
    let fingerprint = out
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] KEY_CREATED P "))
        .expect("KEY_CREATED")
        .trim()
        .to_owned();
    gpg.ok(&["--quick-add-key", &fingerprint, "cv25519", "encr", "0"]);
    // A second User ID for another address: not published in the record.
    gpg.ok(&[
        "--quick-add-uid",
        &fingerprint,
        "Fresh <fresh@elsewhere.test>",
    ]);
    let key_file = gpg.home.path().join("fresh.asc");
    let exported = gpg.ok(&["--armor", "--export", &fingerprint]);
    std::fs::write(&key_file, exported).unwrap();
    let key_arg = key_file.to_str().unwrap();

    let out = danemail(&["record", address, "--openpgp", key_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = String::from_utf8(out.stdout).unwrap();
    let owner = format!(
        "{}._openpgpkey.ecdsa.test.",
        &hex::encode(openssl::sha::sha256(b"fresh.user"))[..56]
    );
    assert!(
        record.starts_with(&format!("{owner} IN OPENPGPKEY ")),
        "{record}"
    );
    let generic = danemail(&[
        "record",
        address,
        "--openpgp",
        key_arg,
        "--format",
        "generic",
    ]);
    let generic = String::from_utf8(generic.stdout).unwrap();
    let fields: Vec<&str> = generic.split_whitespace().collect();
    assert_eq!(
        fields[..4],
        [owner.as_str(), "IN", "TYPE61", "\\#"],
        "{generic}"
    );
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(record.split_whitespace().nth(3).unwrap())
        .unwrap();
    assert_eq!(fields[4], data.len().to_string());
    assert_eq!(
        hex::decode(fields[5]).unwrap(),
        data,
        "both forms hold the same key"
    );
    // Minimal (RFC 7929 §2.1.2): the other address's User ID is left out.
    assert!(!String::from_utf8_lossy(&data).contains("elsewhere.test"));

    // A key that does not name the address is refused with the reason.
    let out = danemail(&["record", "someone@ecdsa.test", "--openpgp", key_arg]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("someone@ecdsa.test"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Published in a fixture zone and signed with it.
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.zone");
    std::fs::write(&extra, &record).unwrap();
    let fixture = DnsFixture::start_with_records(Some(&extra));
    let report = lookup_json(&fixture, "", address);
    assert_eq!(report["decision"], "encrypt", "{report:#}");
    assert_eq!(report["standard"], "openpgp", "{report:#}");
    assert_eq!(
        report["openpgpkey"]["records"][0]["fingerprint"],
        fingerprint
    );
    assert_eq!(report["openpgpkey"]["status"], "secure");

    let config = fixture.config_file("");
    let config = config.to_str().unwrap();
    let out = danemail(&[
        "--config",
        config,
        "check",
        address,
        "--openpgp",
        key_arg,
        "--json",
    ]);
    let check: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(check["status"], "ok", "{check:#}");
    assert!(out.status.success());
    // Another key for the same address is a mismatch.
    // (This fixture made keys of its own.)
    let other = fixture.dir.join("certs/pgp-rsa.pub.asc");
    let out = danemail(&[
        "--config",
        config,
        "check",
        "pgp-rsa@ecdsa.test",
        "--openpgp",
        key_arg,
        "--json",
    ]);
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["status"], "mismatch", "{check:#}");
    assert!(!out.status.success());
    let out = danemail(&[
        "--config",
        config,
        "check",
        "pgp-rsa@ecdsa.test",
        "--openpgp",
        other.to_str().unwrap(),
        "--json",
    ]);
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["status"], "ok", "{check:#}");
    // A zone without a record: missing.
    let out = danemail(&[
        "--config",
        config,
        "check",
        "nobody@ecdsa.test",
        "--openpgp",
        key_arg,
        "--json",
    ]);
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["status"], "missing", "{check:#}");
}
