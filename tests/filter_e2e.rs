//! `danemail filter` behind a real Postfix on loopback: Postfix's plain
//! listener has `content_filter = danemail:inet:127.0.0.1:PORT` (the LMTP
//! transport of installers/postfix/), the filter re-injects each copy into
//! a filter-free smtpd, and Postfix delivers to Dovecot. DNS comes from the
//! signed fixture zones through a forwarder that can make one zone's
//! answers bogus and then fix them.

mod support;

#[path = "support/forwarder.rs"]
mod forwarder;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use forwarder::{Forwarder, Mode};
use serde_json::Value;
use support::mail::{MailServer, Proxy};
use support::relay::{self, expected_inner, message, WAIT};
use support::{dns, free_port, BlackHole};

/// Answers for alice@rsa.test's SMIMEA lose their signatures: bogus.
const BOGUS_SUFFIX: &str = "._smimecert.rsa.test.";

struct Setup {
    mail: MailServer,
    filter: Proxy,
    forwarder: Forwarder,
    dir: tempfile::TempDir,
    filter_port: u16,
}

fn setup(mailboxes: &[&str], reinject: Option<u16>) -> Setup {
    let fixture = dns();
    let forwarder = Forwarder::start(fixture.server(), Mode::StripUnder(BOGUS_SUFFIX));
    let filter_port = free_port();
    let mail = MailServer::start_with(mailboxes, &[("FILTER_PORT", &filter_port.to_string())]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("filter.toml");
    write_config(
        &config,
        &forwarder,
        filter_port,
        reinject.unwrap_or_else(|| mail.port("REINJECT_PORT")),
        dir.path(),
    );
    let command = vec![
        support::danemail_bin().into_os_string(),
        "filter".into(),
        "--config".into(),
        config.clone().into(),
    ];
    let filter = Proxy::start_command(command, &dir.path().join("filter.log"), filter_port);
    Setup {
        mail,
        filter,
        forwarder,
        dir,
        filter_port,
    }
}

fn write_config(path: &Path, forwarder: &Forwarder, port: u16, reinject: u16, dir: &Path) {
    let fixture = dns();
    let text = format!(
        "[dns]\nservers = [\"{dns}\"]\ntrust_anchor = \"{anchor}\"\ntimeout_ms = 2000\n\
         [filter]\nlisten = \"127.0.0.1:{port}\"\nreinject = \"127.0.0.1:{reinject}\"\n\
         command_timeout_secs = 20\nstatus_interval_secs = 1\ntemp_dir = \"{tmp}\"\n",
        dns = forwarder.addr,
        anchor = fixture.trust_anchor().display(),
        tmp = dir.join("tmp").display(),
    );
    std::fs::write(path, text).unwrap();
}

impl Setup {
    /// Submits to Postfix's plain listener (the MTA's own clients).
    fn send(&self, message: &[u8], rcpts: &[&str]) {
        let file = self.dir.path().join(format!("m-{}.eml", relay::rand()));
        std::fs::write(&file, message).unwrap();
        let out = Command::new("python3")
            .args([
                "-c",
                "import smtplib, sys\n\
                 s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=60)\n\
                 s.ehlo('client.test')\n\
                 refused = s.sendmail('me@provider.test', sys.argv[3:], open(sys.argv[2], 'rb').read())\n\
                 s.quit()\n\
                 print(refused)",
            ])
            .arg(self.mail.port("PLAIN_PORT").to_string())
            .arg(&file)
            .args(rcpts)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "smtplib: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{}");
    }

    /// Postfix's queue (`postqueue -j`): one JSON object per message.
    fn queue(&self) -> Vec<Value> {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(&self.mail.dir)
            .arg("-j")
            .output()
            .expect("postqueue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until `address` is deferred in Postfix's queue; the reason.
    fn deferred_reason(&self, address: &str) -> String {
        let start = Instant::now();
        loop {
            // Between retries a deferred message may sit in any queue; its
            // recipient's delay reason says it was deferred.
            for message in self.queue() {
                for recipient in message["recipients"].as_array().into_iter().flatten() {
                    let reason = recipient["delay_reason"].as_str().unwrap_or("");
                    if recipient["address"] == address && !reason.is_empty() {
                        return reason.to_owned();
                    }
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "{address} never deferred: {:?}\n{}",
                self.queue(),
                self.mail.postfix_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn flush_queue(&self) {
        let status = Command::new("postqueue")
            .arg("-c")
            .arg(&self.mail.dir)
            .arg("-f")
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("filter.toml")
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn postfix_with_the_filter_encrypts_per_recipient_defers_the_bogus_one_and_delivers_it_once_fixed()
{
    let mailboxes = [
        "alice@ecdsa.test",
        "nobody@ecdsa.test",
        "carol@ecdsa.test",
        "alice@rsa.test",
    ];
    let s = setup(&mailboxes, None);
    let sent = message(
        "through the filter",
        "alice@ecdsa.test, alice@rsa.test",
        "nobody@ecdsa.test",
        "Quarterly figures attached.\r\n",
    );
    // carol@ecdsa.test is Bcc: in the envelope only.
    s.send(&sent, &mailboxes);
    let inner = expected_inner(&sent);

    // To, encrypting: one copy, S/MIME, decrypts with openssl.
    let got = s.mail.fetch("alice@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1, "{}", s.filter.log());
    assert!(relay::is_encrypted(&got[0]));
    assert_eq!(relay::decrypt(&got[0], "alice@ecdsa.test").unwrap(), inner);
    assert!(relay::decrypt(&got[0], "carol@ecdsa.test").is_err());
    assert!(!contains(&got[0], b"carol"), "the Bcc recipient is named");
    assert!(
        !contains(&got[0], b"Quarterly"),
        "plaintext in an encrypted copy"
    );

    // Cc, no SMIMEA: the message as written.
    let got = s.mail.fetch("nobody@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    assert!(contains(&got[0], &sent), "not the message as written");
    assert!(!contains(&got[0], b"carol"));

    // Bcc, encrypting: a copy of its own.
    let got = s.mail.fetch("carol@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    assert!(relay::is_encrypted(&got[0]));
    assert_eq!(relay::decrypt(&got[0], "carol@ecdsa.test").unwrap(), inner);
    assert!(relay::decrypt(&got[0], "alice@ecdsa.test").is_err());

    // Bogus: deferred in Postfix's queue with the filter's 4.7.5; nothing
    // reached the mailbox.
    let reason = s.deferred_reason("alice@rsa.test");
    assert!(reason.contains("4.7.5"), "{reason}");
    assert!(s
        .mail
        .fetch("alice@rsa.test", 0, Duration::from_secs(1))
        .is_empty());

    // The zone is fixed: the next queue run delivers it, encrypted.
    s.forwarder.set_mode(Mode::Pass);
    s.flush_queue();
    let got = s.mail.fetch("alice@rsa.test", 1, WAIT);
    assert_eq!(got.len(), 1, "{}", s.mail.postfix_log());
    assert!(
        relay::is_encrypted(&got[0]),
        "the fixed recipient got plaintext"
    );
    assert_eq!(relay::decrypt(&got[0], "alice@rsa.test").unwrap(), inner);
    // Nobody got a second copy.
    for address in ["alice@ecdsa.test", "nobody@ecdsa.test", "carol@ecdsa.test"] {
        assert_eq!(
            s.mail.fetch(address, 1, Duration::from_secs(1)).len(),
            1,
            "{address}"
        );
    }

    // The operator's status line, and no message text in the log.
    let start = Instant::now();
    while !s.filter.log().contains("filter status") && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = s.filter.log();
    assert!(log.contains("filter status"), "{log}");
    assert!(!log.contains("Quarterly"), "message text in the log");
    let _ = s.filter_port;
}

#[test]
fn kill_9_of_the_filter_mid_transaction_defers_then_delivers_and_never_in_the_clear() {
    let mailboxes = ["alice@ecdsa.test", "nobody@ecdsa.test"];
    // Re-injection into a black hole: the filter hangs in its transaction.
    let hole = BlackHole::new();
    let mut s = setup(&mailboxes, Some(hole.addr.port()));
    let sent = message(
        "killed",
        "alice@ecdsa.test",
        "nobody@ecdsa.test",
        "Before the crash.\r\n",
    );
    s.send(&sent, &mailboxes);
    // Both recipients decided, the message read: the filter is re-injecting.
    let start = Instant::now();
    while s.filter.log().matches("recipient").count() < 2 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    s.filter.kill9();
    let reason = s.deferred_reason("alice@ecdsa.test");
    assert!(!reason.is_empty());
    assert!(s
        .mail
        .fetch("alice@ecdsa.test", 0, Duration::from_secs(1))
        .is_empty());

    // Back, re-injecting into Postfix: the queue run delivers.
    write_config(
        &s.config(),
        &s.forwarder,
        s.filter_port,
        s.mail.port("REINJECT_PORT"),
        s.dir.path(),
    );
    s.filter.restart();
    s.flush_queue();
    let got = s.mail.fetch("alice@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1, "{}", s.mail.postfix_log());
    assert!(
        relay::is_encrypted(&got[0]),
        "plaintext to an encrypting recipient"
    );
    assert_eq!(
        relay::decrypt(&got[0], "alice@ecdsa.test").unwrap(),
        expected_inner(&sent)
    );
    let got = s.mail.fetch("nobody@ecdsa.test", 1, WAIT);
    assert_eq!(got.len(), 1);
    assert!(contains(&got[0], &sent));
}

#[test]
fn the_filter_refuses_smtp_greetings_and_non_loopback_settings() {
    let s = setup(&["alice@ecdsa.test"], None);
    let replies = relay::converse(
        s.filter_port,
        &[
            "EHLO c",
            "LHLO c",
            "MAIL FROM:<>",
            "RCPT TO:<alice@tampered.test>",
            "QUIT",
        ],
    );
    assert!(replies[0].starts_with("220 "), "{replies:?}");
    assert!(replies[1].starts_with("500 5.5.1"), "{replies:?}");
    assert!(replies[2].starts_with("250-"), "{replies:?}");
    assert!(replies[2].contains("PIPELINING") && replies[2].contains("ENHANCEDSTATUSCODES"));
    assert!(!replies[2].contains("AUTH"));
    assert!(replies[3].starts_with("250 "), "{replies:?}");
    assert!(replies[4].starts_with("451 4.7.5"), "{replies:?}");

    // The operator's example configuration loads (strictly) as shipped.
    let shipped = support::repo_root().join("installers/postfix/filter.toml");
    let config = danemail::config::Config::load(Some(&shipped)).unwrap();
    assert_eq!(config.filter.listen.to_string(), "127.0.0.1:10025");
    assert_eq!(config.filter.reinject.port(), 10026);

    // A non-loopback listen address is refused without the danger switch.
    let config = s.dir.path().join("open.toml");
    std::fs::write(&config, "[filter]\nlisten = \"0.0.0.0:10025\"\n").unwrap();
    let out = support::danemail(&["--config", config.to_str().unwrap(), "filter"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("danger_allow_non_loopback"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_filter_on_a_unix_socket_serves_postfix_the_same_way() {
    let mailboxes = ["alice@ecdsa.test", "nobody@ecdsa.test"];
    let fixture = dns();
    let dir = tempfile::Builder::new()
        .prefix("dm-flt-")
        .tempdir_in("/tmp")
        .unwrap();
    // Postfix's lmtp client (user postfix) must reach the socket.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let socket = dir.path().join("lmtp.sock");
    let listen = format!("unix:{}", socket.display());
    let mail = MailServer::start_with(&mailboxes, &[("FILTER_PORT", &listen)]);
    let config = dir.path().join("filter.toml");
    std::fs::write(
        &config,
        format!(
            "[dns]\nservers = [\"{}\"]\ntrust_anchor = \"{}\"\n[filter]\nlisten = \"{listen}\"\n\
             reinject = \"127.0.0.1:{}\"\n",
            fixture.server(),
            fixture.trust_anchor().display(),
            mail.port("REINJECT_PORT"),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("filter.log")).unwrap();
    let mut filter = Command::new(support::danemail_bin())
        .arg("--config")
        .arg(&config)
        .arg("filter")
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(socket.exists(), "the filter made no socket");

    let sent = message(
        "over a unix socket",
        "alice@ecdsa.test",
        "nobody@ecdsa.test",
        "Hello.\r\n",
    );
    let file = dir.path().join("m.eml");
    std::fs::write(&file, &sent).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import smtplib, sys\n\
             s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=60)\n\
             print(s.sendmail('me@provider.test', sys.argv[3:], open(sys.argv[2], 'rb').read()))\n\
             s.quit()",
        ])
        .arg(mail.port("PLAIN_PORT").to_string())
        .arg(&file)
        .args(mailboxes)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{}");
    let got = mail.fetch("alice@ecdsa.test", 1, WAIT);
    let _ = filter.kill();
    let _ = filter.wait();
    assert_eq!(got.len(), 1, "{}", mail.postfix_log());
    assert!(relay::is_encrypted(&got[0]));
    assert_eq!(
        relay::decrypt(&got[0], "alice@ecdsa.test").unwrap(),
        expected_inner(&sent)
    );
    let got = mail.fetch("nobody@ecdsa.test", 1, WAIT);
    assert!(contains(&got[0], &sent));
}
