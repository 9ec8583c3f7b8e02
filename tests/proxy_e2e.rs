//! The submission proxy end to end: real clients (swaks, Python smtplib) →
//! `danemail run` → real Postfix (STARTTLS + SASL via Dovecot) → real
//! Dovecot mailboxes read back over IMAP, with recipients' SMIMEA served by
//! the signed fixture zones.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::relay::{
    base64_plain, converse, decrypt, expected_inner, is_encrypted, message, rand, read_reply,
    setup, setup_with, submit_raw, LOCAL_PASSWORD, WAIT,
};
use support::{dns, free_port, repo_root};

#[test]
fn swaks_mix_of_to_cc_bcc_arrives_encrypted_per_recipient_without_bcc_leak() {
    let s = setup("");
    let body = "Grüße aus dem Test.\r\nA second line.\r\n";
    let sent = message(
        "swaks mix",
        "alice@ecdsa.test, alice@rsa.test",
        "nobody@ecdsa.test",
        body,
    );
    // swaks appends CRLF to a file's content: give it the message without its last one.
    let file = s.dir.path().join("swaks.eml");
    std::fs::write(&file, &sent[..sent.len() - 2]).unwrap();
    let ca = s.storage().join("tls/ca.pem");
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &s.proxy.port.to_string()])
        .args(["--tls", "--tls-verify", "--tls-ca-path"])
        .arg(&ca)
        .args(["--auth", "PLAIN", "--auth-user", "danemail", "--auth-password", LOCAL_PASSWORD])
        .args(["--from", "me@provider.test"])
        .args(["--to", "alice@ecdsa.test,alice@rsa.test,nobody@ecdsa.test,carol@ecdsa.test,alice@unsigned.test"])
        .arg("--data")
        .arg(format!("@{}", file.display()))
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "swaks failed:\n{transcript}\n{}",
        s.proxy.log()
    );
    assert!(transcript.contains("250 2.0.0 Queued as"), "{transcript}");

    let inner = expected_inner(&sent);
    for (address, bcc) in [
        ("alice@ecdsa.test", false),
        ("alice@rsa.test", false),
        ("carol@ecdsa.test", true),
    ] {
        let got = s.mail.fetch(address, 1, WAIT);
        assert_eq!(got.len(), 1, "{address}: {}", s.proxy.log());
        assert!(is_encrypted(&got[0]), "{address} got plaintext");
        assert_eq!(
            decrypt(&got[0], address).unwrap_or_else(|e| panic!("{address}: {e}")),
            inner,
            "{address}"
        );
        if bcc {
            // carol's copy is hers alone: alice cannot read it.
            assert!(decrypt(&got[0], "alice@ecdsa.test").is_err());
        }
    }
    for address in ["nobody@ecdsa.test", "alice@unsigned.test"] {
        let got = s.mail.fetch(address, 1, WAIT);
        assert_eq!(got.len(), 1, "{address}");
        assert!(got[0].ends_with(&sent), "{address}: plaintext copy changed");
    }
    // No Bcc recipient is named in anyone else's copy.
    for address in [
        "alice@ecdsa.test",
        "alice@rsa.test",
        "carol@ecdsa.test",
        "nobody@ecdsa.test",
        "alice@unsigned.test",
    ] {
        let got = String::from_utf8_lossy(&s.mail.fetch(address, 1, WAIT)[0]).to_lowercase();
        for bcc in ["carol@ecdsa.test", "alice@unsigned.test"] {
            if bcc != address {
                assert!(!got.contains(bcc), "{address}'s copy names Bcc {bcc}");
            }
        }
    }
}

#[test]
fn smtplib_bogus_recipient_gets_451_and_nothing_reaches_postfix() {
    let s = setup("");
    let sent = message(
        "smtplib",
        "alice@rsa.test",
        "alice@tampered.test",
        "Hello from smtplib.\r\n",
    );
    let result = s.smtplib(
        &sent,
        "me@provider.test",
        &["alice@rsa.test", "alice@tampered.test"],
    );
    let refused = &result["refused"]["alice@tampered.test"];
    assert_eq!(refused[0], 451, "{result}");
    let text = refused[1].as_str().unwrap();
    assert!(
        text.starts_with("4.7.5 DNSSEC validation failed")
            && text.contains("not sending in the clear"),
        "{text}"
    );

    let got = s.mail.fetch("alice@rsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    assert_eq!(
        decrypt(&got[0], "alice@rsa.test").unwrap(),
        expected_inner(&sent)
    );
    // Give Postfix time to have logged anything it got, then look.
    std::thread::sleep(Duration::from_millis(500));
    assert!(s
        .mail
        .fetch("alice@tampered.test", 0, Duration::from_secs(1))
        .is_empty());
    let log = s.mail.postfix_log();
    assert!(
        log.contains("alice@rsa.test"),
        "postfix log has the delivery"
    );
    assert!(
        !log.contains("tampered"),
        "postfix saw the bogus recipient:\n{log}"
    );
}

#[test]
fn upstream_outage_and_kill9_lose_nothing() {
    let mut s = setup("");
    s.switch.set_up(false);
    let sent = message(
        "outage",
        "alice@rsa.test",
        "nobody@ecdsa.test",
        "Sent while the provider was down.\r\n",
    );
    let result = s.smtplib(
        &sent,
        "me@provider.test",
        &["alice@rsa.test", "nobody@ecdsa.test"],
    );
    assert_eq!(result["error"], Value::Null, "{result}");
    assert_eq!(result["refused"], serde_json::json!({}));
    // Acknowledged, on disk, not delivered.
    assert_eq!(s.queued(), 1);
    std::thread::sleep(Duration::from_secs(2));
    assert!(s
        .mail
        .fetch("alice@rsa.test", 0, Duration::from_secs(1))
        .is_empty());
    // kill -9 between 250 and delivery, then the provider comes back.
    s.proxy.kill9();
    s.switch.set_up(true);
    s.proxy.restart();
    for address in ["alice@rsa.test", "nobody@ecdsa.test"] {
        let got = s.mail.fetch(address, 1, WAIT);
        assert_eq!(got.len(), 1, "{address} after restart: {}", s.proxy.log());
    }
    let deadline = Instant::now() + WAIT;
    while s.queued() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.queued(), 0, "entry removed once delivered");
    // Graceful stop on SIGTERM.
    assert!(s.proxy.terminate().success());
}

#[test]
fn permanent_failure_upstream_bounces_a_dsn_to_the_sender() {
    let s = setup("");
    // In a Postfix domain but not in its map: 550 5.1.1 at RCPT upstream.
    let sent = message(
        "bounce",
        "unlisted@ecdsa.test",
        "alice@rsa.test",
        "Half of this bounces.\r\n",
    );
    let result = s.smtplib(
        &sent,
        "me@provider.test",
        &["unlisted@ecdsa.test", "alice@rsa.test"],
    );
    assert_eq!(result["error"], Value::Null, "{result}");
    assert_eq!(s.mail.fetch("alice@rsa.test", 1, WAIT).len(), 1);
    let inbox = s.mail.fetch("me@provider.test", 1, WAIT);
    assert_eq!(inbox.len(), 1, "no DSN: {}", s.proxy.log());
    let dsn = String::from_utf8_lossy(&inbox[0]);
    assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; unlisted@ecdsa.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(
        !dsn.contains("Final-Recipient: rfc822; alice@rsa.test"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: bounce"),
        "original headers quoted: {dsn}"
    );
}

#[test]
fn no_auth_no_relay_and_bad_commands_get_clear_codes() {
    let s = setup("");
    let replies = converse(
        s.proxy.port,
        &[
            "EHLO c",
            "MAIL FROM:<me@provider.test>",
            "RCPT TO:<alice@rsa.test>",
            "FOO",
            "DATA",
            "QUIT",
        ],
    );
    assert!(replies[0].starts_with("220 "), "{replies:?}");
    assert!(
        replies[1].contains("AUTH PLAIN LOGIN") && replies[1].contains("STARTTLS"),
        "{replies:?}"
    );
    assert!(replies[2].starts_with("530 5.7.0"), "{replies:?}");
    assert!(replies[3].starts_with("503 "), "{replies:?}");
    assert!(replies[4].starts_with("500 5.5.2"), "{replies:?}");
    assert!(replies[5].starts_with("503 "), "{replies:?}");
    assert!(replies[6].starts_with("221 "), "{replies:?}");
    // Wrong password.
    let bad = base64_plain("danemail", "wrong");
    let replies = converse(s.proxy.port, &["EHLO c", &format!("AUTH PLAIN {bad}")]);
    assert!(replies[2].starts_with("535 5.7.8"), "{replies:?}");
}

#[test]
fn non_loopback_listen_needs_the_danger_option() {
    let fixture = dns();
    let dir = tempfile::tempdir().unwrap();
    let pw = support::secret_file(&dir.path().join("pw"), "x");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[smtp]\nlisten = \"0.0.0.0:{}\"\npassword_file = \"{}\"\n[upstream]\nhost = \"127.0.0.1\"\nsecurity = \"none\"\n\
             [dns]\nservers = [\"{}\"]\nfallback = []\n[storage]\ndir = \"{}\"\n",
            free_port(),
            pw.display(),
            fixture.server(),
            dir.path().join("s").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_danemail"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("danger_allow_non_loopback"),
        "{stderr}"
    );
}

#[test]
fn fifty_megabytes_pass_encrypted() {
    let s = setup("");
    let mut body = String::with_capacity(52 * 1024 * 1024);
    let line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
    while body.len() < 50 * 1024 * 1024 {
        body.push_str(line);
    }
    let sent = message("50 MB", "alice@rsa.test", "nobody@ecdsa.test", &body);
    let result = s.smtplib(&sent, "me@provider.test", &["alice@rsa.test"]);
    assert_eq!(result["error"], Value::Null, "{result}");
    let got = s.mail.fetch("alice@rsa.test", 1, Duration::from_secs(120));
    assert_eq!(got.len(), 1, "{}", s.proxy.log());
    let inner = decrypt(&got[0], "alice@rsa.test").unwrap();
    assert_eq!(inner.len(), expected_inner(&sent).len());
    assert!(inner == expected_inner(&sent));
}

#[test]
fn slow_loris_is_dropped_while_others_are_served() {
    let s = setup("");
    let port = s.proxy.port;
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let greeting = read_reply(&mut stream);
        // One byte every half second: never a whole command.
        for byte in b"EHLO slowly-slowly-slowly-slowly".iter() {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            if started.elapsed() > Duration::from_secs(12) {
                break;
            }
        }
        let mut rest = String::new();
        let _ = stream.read_to_string(&mut rest);
        (greeting, rest, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile, a normal client is served.
    let sent = message(
        "while slow",
        "alice@rsa.test",
        "nobody@ecdsa.test",
        "Served.\r\n",
    );
    let result = s.smtplib(&sent, "me@provider.test", &["nobody@ecdsa.test"]);
    assert_eq!(result["error"], Value::Null, "{result}");
    assert_eq!(s.mail.fetch("nobody@ecdsa.test", 1, WAIT).len(), 1);
    let (greeting, rest, elapsed) = slow.join().unwrap();
    assert!(greeting.starts_with("220"));
    assert!(rest.contains("421 4.4.2"), "slow client not told: {rest:?}");
    assert!(
        elapsed < Duration::from_secs(8),
        "dropped after {elapsed:?} (command timeout 3 s)"
    );
}

/// Issue 12, finding 4: idle, unauthenticated connections (here 80 that
/// keep themselves alive with NOOP, more than any cap) must not lock a real
/// client out: it is served within seconds, an idler is closed with 421.
#[test]
fn idle_connections_lock_clients_out_finding_4_smtp() {
    let s = setup("");
    let port = s.proxy.port;
    let mut idlers: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for idler in &idlers {
        idler.set_nonblocking(true).unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut told = vec![String::new(); idlers.len()];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (idler, told) in idlers.iter_mut().zip(told.iter_mut()) {
                    let _ = idler.write_all(b"NOOP\r\n");
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = idler.read(&mut buf) {
                        told.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            told
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let file = s.dir.path().join("while-idle.eml");
    let sent = message(
        "while idle",
        "nobody@ecdsa.test",
        "nobody@ecdsa.test",
        "Served.\r\n",
    );
    std::fs::write(&file, sent).unwrap();
    let started = Instant::now();
    let mut client = Command::new("python3")
        .arg(repo_root().join("tests/fixtures/mail/smtplib-send.py"))
        .args([
            &port.to_string(),
            "danemail",
            LOCAL_PASSWORD,
            "me@provider.test",
        ])
        .arg(&file)
        .arg("nobody@ecdsa.test")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let served = loop {
        if client.try_wait().unwrap().is_some() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = client.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let told = keeper.join().unwrap();
    let out = client.wait_with_output().unwrap();
    assert!(
        served,
        "a real client was not served within 15 s while 80 idlers held the listener\n{}",
        s.proxy.log()
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["error"], Value::Null, "{result}");
    assert!(elapsed < Duration::from_secs(5), "served after {elapsed:?}");
    assert!(
        told.iter().any(|t| t.contains("421 ")),
        "no idler was closed with 421"
    );
}

#[test]
fn local_credentials_are_generated_once_and_kept_in_the_keyring() {
    // A real Secret Service: gnome-keyring-daemon on a private D-Bus
    // session, with a throw-away HOME so no real keyring is touched.
    let home = tempfile::tempdir().unwrap();
    let config = home_config(home.path());
    let script = format!(
        "{bin} credentials --config {cfg} && {bin} credentials --config {cfg}",
        bin = env!("CARGO_BIN_EXE_danemail"),
        cfg = config.display()
    );
    let stdout = in_keyring_session(home.path(), &script);
    let passwords: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("password: "))
        .collect();
    assert_eq!(passwords.len(), 2, "{stdout}");
    assert_eq!(passwords[0], passwords[1], "generated once, then read back");
    assert_eq!(passwords[0].len(), 24);
    // Nowhere in a file in the clear (the keyring file is encrypted).
    assert!(
        !walk_contains(home.path(), passwords[0]),
        "password found in a file"
    );

    // No Secret Service (no session bus): the first start still works —
    // the password is generated into an owner-only file under the storage
    // dir, said where, and kept from then on.
    let bare = tempfile::tempdir().unwrap();
    let config = home_config(bare.path());
    let credentials = || {
        Command::new(env!("CARGO_BIN_EXE_danemail"))
            .args(["credentials", "--config"])
            .arg(&config)
            .env("HOME", bare.path())
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .unwrap()
    };
    let first = credentials();
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let file = bare.path().join("s/smtp-password");
    assert!(
        stdout.contains(&format!("stored in: the file {}", file.display())),
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = String::from_utf8_lossy(&credentials().stdout).into_owned();
    let password = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("password: "))
            .map(str::to_owned)
    };
    assert_eq!(
        password(&stdout),
        password(&again),
        "kept, not generated again"
    );
}

fn walk_contains(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let path = e.path();
            if path.is_dir() {
                walk_contains(&path, needle)
            } else {
                std::fs::read(&path)
                    .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            }
        })
    })
}

#[test]
fn generated_key_is_sealed_by_the_keyring_and_decrypts() {
    let home = tempfile::tempdir().unwrap();
    let storage = home.path().join("s");
    let config = home_config(home.path());
    let content = home.path().join("content.txt");
    std::fs::write(
        &content,
        "Content-Type: text/plain\r\n\r\nfor my eyes only\r\n",
    )
    .unwrap();
    let script = format!(
        "D='{bin}'; C='{cfg}'; H='{home}'; \
         $D keys generate --email me@keys.test --algorithm rsa3072 --config $C; \
         $D keys export-cert me@keys.test --config $C > $H/cert.pem; \
         openssl cms -encrypt -aes256 -binary -in {content} -out $H/msg.eml -outform SMIME $H/cert.pem; \
         $D keys decrypt me@keys.test --config $C < $H/msg.eml > $H/out.txt; \
         $D keys list --config $C; \
         $D keys generate --email me@keys.test --config $C 2>&1 || true",
        bin = env!("CARGO_BIN_EXE_danemail"),
        cfg = config.display(),
        home = home.path().display(),
        content = content.display(),
    );
    let stdout = in_keyring_session(home.path(), &script);
    assert_eq!(
        std::fs::read(home.path().join("out.txt")).unwrap(),
        std::fs::read(&content).unwrap(),
        "decrypted content"
    );
    assert!(stdout.contains("me@keys.test  sha256"), "{stdout}");
    assert!(stdout.contains("exists already"), "{stdout}");
    // The key on disk is sealed: no passphrase, no key.
    let key = storage.join("keys/me@keys.test.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        String::from_utf8_lossy(&std::fs::read(&key).unwrap()).contains("ENCRYPTED PRIVATE KEY")
    );
    let clear = Command::new("openssl")
        .args(["pkey", "-passin", "pass:", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        !clear.status.success(),
        "the key parsed without its sealing secret"
    );
    // Without a Secret Service: one line saying what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_danemail"))
        .args(["keys", "generate", "--email", "other@keys.test", "--config"])
        .arg(&config)
        .env("HOME", home.path())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Secret Service"), "{stderr}");
}

#[test]
fn pkcs12_import_modern_and_legacy_and_wrong_password() {
    let home = tempfile::tempdir().unwrap();
    let config = home_config(home.path());
    let h = home.path().display();
    let script = format!(
        "D='{bin}'; C='{cfg}'; cd '{h}'; \
         for who in modern legacy; do \
           openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=$who -addext subjectAltName=email:$who@keys.test \
             -keyout $who.key -out $who.pem -days 30 2>/dev/null; done; \
         openssl pkcs12 -export -inkey modern.key -in modern.pem -passout pass:pw -out modern.p12; \
         openssl pkcs12 -export -inkey legacy.key -in legacy.pem -passout pass:pw -out legacy.p12 \
           -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1; \
         printf 'pw\\n' > pw; chmod 600 pw; \
         $D keys import modern.p12 --password-file pw --config $C; \
         printf 'pw\\n' | $D keys import legacy.p12 --config $C; \
         printf 'wrong\\n' | $D keys import modern.p12 --config $C 2>&1 || true; \
         $D keys list --config $C; \
         $D record legacy@keys.test --config $C",
        bin = env!("CARGO_BIN_EXE_danemail"),
        cfg = config.display(),
    );
    let stdout = in_keyring_session(home.path(), &script);
    assert!(stdout.contains("imported modern@keys.test"), "{stdout}");
    assert!(stdout.contains("imported legacy@keys.test"), "{stdout}");
    assert!(stdout.contains("wrong password"), "{stdout}");
    assert!(
        stdout.contains("legacy@keys.test  sha256") && stdout.contains("modern@keys.test  sha256"),
        "{stdout}"
    );
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(home.path().join("legacy.pem"))
        .output()
        .unwrap()
        .stdout;
    assert!(
        stdout.contains(&format!("IN SMIMEA 3 0 0 {}", hex::encode_upper(&der))),
        "{stdout}"
    );
}

fn in_keyring_session(home: &std::path::Path, script: &str) -> String {
    support::in_keyring_session(home, script, &[])
}

#[test]
fn a_published_generated_record_is_found_and_checked_and_a_new_key_is_a_mismatch() {
    let home = tempfile::tempdir().unwrap();
    let config = home_config(home.path());
    let bin = env!("CARGO_BIN_EXE_danemail");
    let cfg = config.display();
    let record = home.path().join("record.zone");
    in_keyring_session(
        home.path(),
        &format!(
            "'{bin}' keys generate --email published@ecdsa.test --algorithm p256 --config '{cfg}' >/dev/null; \
             '{bin}' record published@ecdsa.test --config '{cfg}' > '{}'",
            record.display()
        ),
    );
    // The record goes into the signed fixture zone, served by nsd.
    let zone = support::DnsFixture::start_with_records(Some(&record));
    let server = zone.server().to_string();
    let anchor = zone.trust_anchor().display().to_string();
    let cert = home.path().join("cert.der");
    let exported = Command::new(bin)
        .args([
            "keys",
            "export-cert",
            "published@ecdsa.test",
            "--der",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    std::fs::write(&cert, &exported.stdout).unwrap();
    let expected = hex::encode(openssl::sha::sha256(&exported.stdout));

    let out = danemail_with_config(
        &config,
        &[
            "lookup",
            "--json",
            "--dns-server",
            &server,
            "--trust-anchor",
            &anchor,
            "published@ecdsa.test",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["decision"], "encrypt", "{report:#}");
    assert_eq!(
        report[0]["smimea"]["records"][0]["certificate_sha256"],
        expected.as_str()
    );
    let out = danemail_with_config(
        &config,
        &[
            "check",
            "published@ecdsa.test",
            "--dns-server",
            &server,
            "--trust-anchor",
            &anchor,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    // A new key, DNS not updated: the check says so, loudly.
    in_keyring_session(
        home.path(),
        &format!(
            "'{bin}' keys delete published@ecdsa.test --yes --config '{cfg}' >/dev/null; \
             '{bin}' keys generate --email published@ecdsa.test --config '{cfg}' >/dev/null"
        ),
    );
    let out = danemail_with_config(
        &config,
        &[
            "check",
            "published@ecdsa.test",
            "--dns-server",
            &server,
            "--trust-anchor",
            &anchor,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("MISMATCH"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn danemail_with_config(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_danemail"));
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG");
    command.output().unwrap()
}

#[test]
fn passphrase_mode_works_without_a_keyring() {
    let home = tempfile::tempdir().unwrap();
    let config = home_config(home.path());
    let pass = support::secret_file(&home.path().join("pass"), "correct horse battery staple");
    let wrong = support::secret_file(&home.path().join("wrong"), "something else");
    let run = |args: &[&str], passfile: &std::path::Path, stdin: Option<&std::path::Path>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_danemail"));
        command
            .arg("keys")
            .args(args)
            .arg("--passphrase-file")
            .arg(passfile)
            .arg("--config")
            .arg(&config)
            .env("HOME", home.path())
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        if let Some(input) = stdin {
            command.stdin(std::fs::File::open(input).unwrap());
        }
        command.output().unwrap()
    };
    let out = run(&["generate", "--email", "pass@keys.test"], &pass, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = home.path().join("cert.pem");
    std::fs::write(
        &cert,
        run(&["export-cert", "pass@keys.test"], &pass, None).stdout,
    )
    .unwrap();
    let content = home.path().join("content");
    std::fs::write(
        &content,
        "Content-Type: text/plain\r\n\r\nsealed by a passphrase\r\n",
    )
    .unwrap();
    let message = home.path().join("msg.eml");
    let encrypted = Command::new("openssl")
        .args([
            "cms", "-encrypt", "-aes256", "-binary", "-outform", "SMIME", "-in",
        ])
        .arg(&content)
        .arg("-out")
        .arg(&message)
        .arg(&cert)
        .status()
        .unwrap();
    assert!(encrypted.success());
    let out = run(&["decrypt", "pass@keys.test"], &pass, Some(&message));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(&content).unwrap());
    let out = run(&["decrypt", "pass@keys.test"], &wrong, Some(&message));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
    // Delete asks; with no terminal to answer, nothing is deleted.
    let out = run(&["delete", "pass@keys.test"], &pass, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(home.path().join("s/keys/pass@keys.test.pem").exists());
}

#[test]
fn the_senders_own_certificate_from_the_key_store_is_added() {
    let keys = tempfile::tempdir().unwrap();
    let (key, cert) = (keys.path().join("me.key"), keys.path().join("me.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=me", "-days", "30",
        ])
        .args([
            "-addext",
            "subjectAltName=email:me@provider.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success());
    let s = setup_with("", |storage| {
        std::fs::create_dir_all(storage.join("keys")).unwrap();
        std::fs::copy(&cert, storage.join("keys/me@provider.test.pem")).unwrap();
    });
    let sent = message(
        "to myself too",
        "alice@rsa.test",
        "nobody@ecdsa.test",
        "Readable by the sender.\r\n",
    );
    let result = s.smtplib(&sent, "me@provider.test", &["alice@rsa.test"]);
    assert_eq!(result["error"], Value::Null, "{result}");
    let got = s.mail.fetch("alice@rsa.test", 1, WAIT);
    assert_eq!(got.len(), 1, "{}", s.proxy.log());
    assert_eq!(
        decrypt(&got[0], "alice@rsa.test").unwrap(),
        expected_inner(&sent)
    );
    // The sender's key opens the same copy.
    let stored = keys.path().join("stored.eml");
    std::fs::write(&stored, &got[0]).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "SMIME", "-in"])
        .arg(&stored)
        .arg("-recip")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, expected_inner(&sent));
}

/// A config whose only setting is a storage dir (`s`) inside `home`.
fn home_config(home: &std::path::Path) -> PathBuf {
    let config = home.join("config.toml");
    let text = format!("[storage]\ndir = \"{}\"\n", home.join("s").display());
    std::fs::write(&config, text).unwrap();
    config
}

/// Issue 12, finding 3: bare-LF / bare-CR end-of-data look-alikes inside
/// DATA. Postfix 3.7 (the provider here) ends DATA at `<LF>.<LF>` too, so
/// relayed verbatim they would start a second message there — in the clear,
/// to a recipient whose decision is encrypt. Normalised to CRLF at our edge
/// they are ordinary, dot-stuffed lines.
#[test]
fn smtp_smuggling_look_alikes_are_normalised_and_no_second_message_reaches_the_provider() {
    let s = setup("");
    let smuggled = |end: &str| {
        format!(
            "From: me@provider.test\r\nTo: nobody@ecdsa.test\r\nSubject: carrier\r\n\r\nbefore{end}\
             MAIL FROM:<me@provider.test>\r\nRCPT TO:<alice@rsa.test>\r\nDATA\r\n\
             Subject: smuggled\r\n\r\nsecret in the clear\r\n.\r\n"
        )
    };
    let variants = ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n", "\r\n.\r"];
    for end in variants {
        let replies = submit_raw(s.proxy.port, "nobody@ecdsa.test", smuggled(end).as_bytes());
        assert!(replies[6].starts_with("250 "), "{end:?}: {replies:?}");
        assert!(replies[7].starts_with("221 "), "{end:?}: {replies:?}");
    }
    let got = s.mail.fetch("nobody@ecdsa.test", variants.len(), WAIT);
    assert_eq!(got.len(), variants.len(), "{}", s.proxy.log());
    for message in &got {
        let text = String::from_utf8_lossy(message);
        assert!(text.contains("secret in the clear"), "{text}");
        let body = &message[text.find("\r\n\r\n").unwrap()..];
        for (i, &b) in body.iter().enumerate() {
            let lone_lf = b == b'\n' && (i == 0 || body[i - 1] != b'\r');
            let lone_cr = b == b'\r' && body.get(i + 1) != Some(&b'\n');
            assert!(
                !lone_lf && !lone_cr,
                "a bare line end reached the provider: {text:?}"
            );
        }
    }
    // Nothing was smuggled to the recipient whose decision is encrypt.
    assert!(s
        .mail
        .fetch("alice@rsa.test", 0, Duration::from_secs(2))
        .is_empty());
    assert!(s
        .proxy
        .log()
        .contains("bare CR or LF line ends normalised to CRLF"));
}

/// Issue 12, finding 6: a line over 998 octets (RFC 5322 §2.1.1) is
/// refused before the 250, with the reason, and nothing is queued.
#[test]
fn a_line_over_998_octets_is_refused_with_the_reason_before_acceptance() {
    let s = setup("");
    let long = "x".repeat(1200);
    let data = format!(
        "From: me@provider.test\r\nTo: nobody@ecdsa.test\r\nSubject: long\r\n\r\n{long}\r\n.\r\n"
    );
    let replies = submit_raw(s.proxy.port, "nobody@ecdsa.test", data.as_bytes());
    assert!(replies[6].starts_with("554 5.6.0"), "{replies:?}");
    assert!(
        replies[6].contains("1200 octets; at most 998"),
        "{replies:?}"
    );
    assert!(replies[7].starts_with("221 "), "{replies:?}");
    assert_eq!(s.queued(), 0);
    // Exactly 998 passes.
    let data = format!(
        "From: me@provider.test\r\nTo: nobody@ecdsa.test\r\nSubject: long\r\n\r\n{}\r\n.\r\n",
        "y".repeat(998)
    );
    let replies = submit_raw(s.proxy.port, "nobody@ecdsa.test", data.as_bytes());
    assert!(replies[6].starts_with("250 "), "{replies:?}");
}

/// Issue 12, finding 7: "." right after 354 is an empty message (RFC 5321
/// §4.1.1.4): it gets a reply, and the session goes on.
#[test]
fn a_dot_right_after_354_gets_a_reply_and_the_session_goes_on() {
    let s = setup("");
    let replies = submit_raw(s.proxy.port, "nobody@ecdsa.test", b".\r\n");
    assert!(replies[5].starts_with("354 "), "{replies:?}");
    assert!(replies[6].starts_with("554 5.6.0"), "{replies:?}");
    assert!(replies[7].starts_with("221 "), "{replies:?}");
    assert_eq!(s.queued(), 0);
    assert!(replies[6].contains("Empty message"), "{replies:?}");
    // A stuffed dot on the first line is unstuffed like on any other.
    let replies = submit_raw(
        s.proxy.port,
        "nobody@ecdsa.test",
        b"..X-First: dot-stuffed\r\nFrom: me@provider.test\r\nTo: nobody@ecdsa.test\r\n\r\nhi\r\n.\r\n",
    );
    assert!(replies[6].starts_with("250 "), "{replies:?}");
    let got = s.mail.fetch("nobody@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1, "{}", s.proxy.log());
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("\r\n.X-First: dot-stuffed\r\n"), "{text}");
}

/// A tmpfs of `size` mounted at `dir` while it lives (lazily unmounted).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs (the tests run as root)");
        Self {
            dir: dir.to_owned(),
        }
    }

    fn free(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(&self.dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        parts.next().unwrap() * parts.next().unwrap()
    }

    /// Fills the disk until `leave` bytes are free.
    fn fill(&self, leave: u64) {
        let mut file = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while self.free() > leave {
            let n = (self.free() - leave).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..n.max(1)]).is_err() {
                break;
            }
            file.sync_all().unwrap();
        }
    }

    fn make_room(&self) {
        let _ = std::fs::remove_file(self.dir.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A message of about `kib` KiB in lines of 76 characters.
fn sized_message(to: &str, kib: usize) -> Vec<u8> {
    let mut out = format!(
        "From: me@provider.test\r\nTo: {to}\r\nSubject: {kib} KiB\r\nMessage-ID: <{}@provider.test>\r\n\r\n",
        rand()
    )
    .into_bytes();
    let line = format!("{}\r\n", "z".repeat(76));
    while out.len() < kib * 1024 {
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// Issue 12, finding 1: the disk fills after the 250. The accepted message
/// is not bounced: it is kept, planning is tried again, and it is delivered
/// (encrypted, as decided) once there is room.
#[test]
fn disk_full_after_the_250_keeps_the_message_and_delivers_it_once_space_is_back() {
    let mut disk = None;
    let s = setup_with("", |storage| disk = Some(SmallDisk::mount(storage, "4m")));
    let disk = disk.unwrap();
    // Room for the received message (600 KiB), not for its encrypted copy.
    disk.fill(900 * 1024);
    let mut data = sized_message("alice@rsa.test", 600);
    data.extend_from_slice(b".\r\n");
    let replies = submit_raw(s.proxy.port, "alice@rsa.test", &data);
    assert!(replies[6].starts_with("250 "), "{replies:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.proxy.log().contains("it is kept and tried again") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = s.proxy.log();
    assert!(log.contains("it is kept and tried again"), "{log}");
    assert!(!log.contains("bouncing"), "{log}");
    assert!(s
        .mail
        .fetch("alice@rsa.test", 0, Duration::from_secs(1))
        .is_empty());
    let received = std::fs::read_dir(s.storage().join("outbox/queue"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".received"))
        .count();
    assert_eq!(received, 1, "kept as received");

    disk.make_room();
    let got = s.mail.fetch("alice@rsa.test", 1, WAIT);
    assert_eq!(
        got.len(),
        1,
        "delivered once there is room: {}",
        s.proxy.log()
    );
    assert!(is_encrypted(&got[0]), "encrypted as decided at RCPT");
    assert!(!s.proxy.log().contains("bouncing"));
}

/// Issue 12, finding 5: the disk is full at intake. `MAIL … SIZE=` that
/// cannot fit gets 452 4.3.1; without SIZE the client gets 452 4.3.1 after
/// its final dot — never a silent close — and the session goes on.
#[test]
fn a_full_disk_at_intake_gets_452_at_mail_or_after_the_dot_never_a_silent_close() {
    let mut disk = None;
    let s = setup_with("", |storage| disk = Some(SmallDisk::mount(storage, "2m")));
    let disk = disk.unwrap();
    disk.fill(100 * 1024);
    let auth = base64_plain("danemail", LOCAL_PASSWORD);
    let replies = converse(
        s.proxy.port,
        &[
            "EHLO c",
            &format!("AUTH PLAIN {auth}"),
            "MAIL FROM:<me@provider.test> SIZE=500000",
            "QUIT",
        ],
    );
    assert!(replies[3].starts_with("452 4.3.1"), "{replies:?}");
    assert!(replies[4].starts_with("221 "), "{replies:?}");

    let mut data = sized_message("nobody@ecdsa.test", 300);
    data.extend_from_slice(b".\r\n");
    let replies = submit_raw(s.proxy.port, "nobody@ecdsa.test", &data);
    assert!(replies[6].starts_with("452 4.3.1"), "{replies:?}");
    assert!(
        replies[7].starts_with("221 "),
        "the session goes on: {replies:?}"
    );
    assert_eq!(s.queued(), 0);

    disk.make_room();
    let replies = submit_raw(s.proxy.port, "nobody@ecdsa.test", &data);
    assert!(replies[6].starts_with("250 "), "{replies:?}");
    assert_eq!(s.mail.fetch("nobody@ecdsa.test", 1, WAIT).len(), 1);
}

/// Issue 12, finding 10: the README promises one log line per recipient
/// decision and per delivery; with no RUST_LOG set they are there.
#[test]
fn the_default_log_level_gives_a_line_per_decision_and_per_delivery() {
    let mut s = setup("");
    s.proxy.restart_with_default_log();
    let sent = message("logged", "alice@rsa.test", "nobody@ecdsa.test", "hi\r\n");
    let result = s.smtplib(
        &sent,
        "me@provider.test",
        &["alice@rsa.test", "nobody@ecdsa.test"],
    );
    assert_eq!(result["error"], Value::Null, "{result}");
    for address in ["alice@rsa.test", "nobody@ecdsa.test"] {
        assert_eq!(s.mail.fetch(address, 1, WAIT).len(), 1);
    }
    let deadline = Instant::now() + WAIT;
    while s.proxy.log().matches(" delivered").count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = s.proxy.log();
    for address in ["alice@rsa.test", "nobody@ecdsa.test"] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(address)).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("decision=\"encrypt\"") || l.contains("decision=\"plaintext\"")),
            "{address}: {log}"
        );
        assert!(
            lines.iter().any(|l| l.contains("delivered")),
            "{address}: {log}"
        );
    }
    assert!(!log.contains(LOCAL_PASSWORD) && !log.contains("provider-secret"));
}

/// Every directory and file under `dir` with a group or other bit set.
fn not_owner_only(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.permissions().mode() & 0o077 != 0 {
            out.push(format!(
                "{} {:o}",
                path.display(),
                meta.permissions().mode() & 0o7777
            ));
        }
        if meta.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    out
}

/// Issue 12, finding 8: the outbox, its entries and their files are
/// owner-only (700/600), and a storage dir other users may write to is
/// refused at start.
#[test]
fn the_outbox_is_owner_only_and_storage_writable_by_others_is_refused() {
    let mut s = setup("");
    s.switch.set_up(false);
    let sent = message("modes", "alice@rsa.test", "nobody@ecdsa.test", "hi\r\n");
    let result = s.smtplib(
        &sent,
        "me@provider.test",
        &["alice@rsa.test", "nobody@ecdsa.test"],
    );
    assert_eq!(result["error"], Value::Null, "{result}");
    let deadline = Instant::now() + WAIT;
    while s.queued() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Planned: an entry directory with its copies and entry.json.
    std::thread::sleep(Duration::from_millis(500));
    let loose = not_owner_only(&s.storage());
    assert!(loose.is_empty(), "not owner-only: {loose:#?}");

    s.proxy.kill9();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.storage(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new(support::danemail_bin())
        .args(["run", "--config"])
        .arg(s.dir.path().join("config.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("may be written by other users (mode 777)"),
        "{text}"
    );
    std::fs::set_permissions(s.storage(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// In front of the provider: the first `stall` connections are accepted
/// and never answered (no greeting); the rest are forwarded.
fn stalling_forwarder(target: u16, stall: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, client) in listener.incoming().flatten().enumerate() {
            if n < stall {
                held.push(client);
                continue;
            }
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    port
}

/// Issue 12, finding 2: a provider that accepts the connection and then
/// says nothing. Delivery is deferred after `timeout_secs`, other mail
/// goes through other lanes meanwhile, and SIGTERM stops the service at
/// once with the stalled message still queued.
#[test]
fn a_stalled_provider_session_defers_delays_nothing_else_and_cannot_hold_the_shutdown() {
    let mut s = setup("");
    // Every provider connection after the first goes through; the first
    // hangs without a greeting.
    let stalling = stalling_forwarder(s.mail.port("SUBMISSION_PORT"), 1);
    let config = s.dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            &format!("port = {}\n", s.switch.port),
            &format!("port = {stalling}\n"),
        )
        .replace("timeout_secs = 10\n", "timeout_secs = 6\n");
    std::fs::write(&config, text).unwrap();
    s.proxy.restart();

    let first = message("stalled", "nobody@ecdsa.test", "", "first\r\n");
    assert_eq!(
        s.smtplib(&first, "me@provider.test", &["nobody@ecdsa.test"])["error"],
        Value::Null
    );
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    let second = message("lane", "carol@ecdsa.test", "", "second\r\n");
    assert_eq!(
        s.smtplib(&second, "me@provider.test", &["carol@ecdsa.test"])["error"],
        Value::Null
    );
    let got = s.mail.fetch("carol@ecdsa.test", 1, Duration::from_secs(5));
    assert_eq!(
        got.len(),
        1,
        "another lane delivers while one hangs: {}",
        s.proxy.log()
    );
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );

    // The hung session ends at the deadline; the message is deferred.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !s.proxy.log().contains("greeting: no answer from") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        s.proxy.log().contains("greeting: no answer from"),
        "{}",
        s.proxy.log()
    );
    // Retried through the forwarder (which now passes): delivered.
    assert_eq!(
        s.mail.fetch("nobody@ecdsa.test", 1, WAIT).len(),
        1,
        "{}",
        s.proxy.log()
    );

    // SIGTERM while a session hangs: a prompt, clean stop; nothing lost.
    let hanging = stalling_forwarder(s.mail.port("SUBMISSION_PORT"), usize::MAX);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            &format!("port = {stalling}\n"),
            &format!("port = {hanging}\n"),
        )
        .replace("timeout_secs = 6\n", "timeout_secs = 300\n");
    std::fs::write(&config, text).unwrap();
    s.proxy.restart();
    let third = message("held", "nobody@ecdsa.test", "", "third\r\n");
    assert_eq!(
        s.smtplib(&third, "me@provider.test", &["nobody@ecdsa.test"])["error"],
        Value::Null
    );
    std::thread::sleep(Duration::from_secs(1));
    let stopping = Instant::now();
    assert!(s.proxy.terminate().success(), "{}", s.proxy.log());
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(s.queued(), 1, "still queued after the stop");
}

/// The measurement behind tests/bench/lanes.sh (not a test: it prints).
#[test]
#[ignore]
fn bench_delivery_lanes() {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    // Seconds until at most `left` of `n` queued messages remain.
    let drain = |lanes: usize, stalled: bool| -> f64 {
        let mut s = setup("");
        let config = s.dir.path().join("config.toml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(
                "retry_max_secs = 2\n",
                &format!("retry_max_secs = 2\nmax_parallel = {lanes}\n"),
            )
            .replace("timeout_secs = 10\n", "timeout_secs = 30\n");
        std::fs::write(&config, &text).unwrap();
        // Queued with the provider unreachable, then the agent stops; the
        // retry makes every entry due at once for the measured start.
        s.switch.set_up(false);
        s.proxy.restart();
        for i in 0..n {
            let m = message(&format!("bench {i}"), "nobody@ecdsa.test", "", "x\r\n");
            assert_eq!(
                s.smtplib(&m, "me@provider.test", &["nobody@ecdsa.test"])["error"],
                Value::Null
            );
        }
        s.proxy.terminate();
        let retry = Command::new(support::danemail_bin())
            .args(["outbox", "retry", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            retry.status.success(),
            "{}",
            String::from_utf8_lossy(&retry.stderr)
        );
        if stalled {
            // Only now, so that the one hung session is in the measured
            // drain (behind it the switch, up again: the provider).
            let port = stalling_forwarder(s.switch.port, 1);
            let text = text.replace(
                &format!("port = {}\n", s.switch.port),
                &format!("port = {port}\n"),
            );
            std::fs::write(&config, text).unwrap();
        }
        s.switch.set_up(true);
        let left = usize::from(stalled);
        let start = Instant::now();
        s.proxy.restart();
        while s.queued() > left && start.elapsed() < Duration::from_secs(300) {
            std::thread::sleep(Duration::from_millis(20));
        }
        start.elapsed().as_secs_f64()
    };
    let one = drain(1, false);
    let four = drain(4, false);
    let stalled = drain(4, true);
    println!("lanes: {n} messages to the loopback Postfix");
    println!("  max_parallel = 1:             {one:.2} s");
    println!(
        "  max_parallel = 4:             {four:.2} s  ({:.2}x of one lane)",
        four / one
    );
    println!(
        "  4 lanes, one session hung:    {stalled:.2} s for the other {}  ({:.2}x of none hung; one lane would wait the 30 s deadline)",
        n - 1,
        stalled / four
    );
}
