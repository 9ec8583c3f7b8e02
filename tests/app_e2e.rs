//! The desktop app end to end, in a real window: the `danemail-app` binary
//! under Xvfb, driven through tauri-driver and WebKitWebDriver, with the
//! signed fixture zones (nsd) for DNS, a real Postfix + Dovecot as the
//! provider and gnome-keyring as the Secret Service. Saves a screenshot of
//! every view (light and dark) to docs/screenshots/ and runs axe-core on
//! every view.

// The shared harness; `app` is this test's own part of it (it needs the
// app binary, which only this package has).
#[path = "support/app.rs"]
mod app;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use app::{AppSession, Desktop};
use support::mail::MailServer;
use support::{dns, free_port, repo_root};

const LOCAL_PASSWORD: &str = "local-app-secret";
const MAILBOXES: [&str; 4] = [
    "alice@ecdsa.test",
    "alice@unsigned.test",
    "me@provider.test",
    INBOX_USER,
];
/// The IMAP mailbox the inbound agent reads (the fixture's password `pw`).
const INBOX_USER: &str = "inbox@provider.test";

/// One app test at a time: they share the machine's two cores and the
/// WebKit processes are heavy.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Fixture {
    mail: MailServer,
    dir: tempfile::TempDir,
    config: PathBuf,
    smtp_port: u16,
    ldap_port: u16,
}

fn fixture() -> Fixture {
    let zones = dns();
    let mail = MailServer::start(&MAILBOXES);
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str, value: &str| {
        support::secret_file(&dir.path().join(name), value)
            .display()
            .to_string()
    };
    let (smtp_port, ldap_port) = (free_port(), free_port());
    let text = format!(
        "# written by tests/app_e2e.rs\n\
         [smtp]\nlisten = \"127.0.0.1:{smtp_port}\"\npassword_file = \"{local}\"\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {upstream}\nsecurity = \"starttls\"\nusername = \"me@provider.test\"\n\
         password_file = \"{provider}\"\nca_file = \"{ca}\"\ntimeout_secs = 10\n\
         [dns]\nservers = [\"{dns}\"]\ntrust_anchor = \"{anchor}\"\ntimeout_ms = 2000\n\
         [storage]\ndir = \"{storage}\"\n\
         [outbox]\nretry_initial_secs = 1\nretry_max_secs = 2\n\
         [ldap]\nlisten = \"127.0.0.1:{ldap_port}\"\n",
        local = secret("smtp.pw", LOCAL_PASSWORD),
        upstream = mail.port("SUBMISSION_PORT"),
        provider = secret("provider.pw", "provider-secret"),
        ca = mail.ca_file().display(),
        dns = zones.server(),
        anchor = zones.trust_anchor().display(),
        storage = dir.path().join("storage").display(),
    );
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    Fixture {
        mail,
        dir,
        config,
        smtp_port,
        ldap_port,
    }
}

impl Fixture {
    fn args(&self) -> Vec<String> {
        vec!["--config".into(), self.config.display().to_string()]
    }

    /// Submits a message with Python's smtplib, as a mail client would.
    fn send(&self, subject: &str, rcpts: &[&str]) {
        let file = self.dir.path().join(format!("{subject}.eml"));
        let message = format!(
            "From: me@provider.test\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\nHello from the app test.\r\n",
            rcpts.join(", ")
        );
        std::fs::write(&file, message).unwrap();
        let out = Command::new("python3")
            .arg(repo_root().join("tests/fixtures/mail/smtplib-send.py"))
            .args([
                &self.smtp_port.to_string(),
                "danemail",
                LOCAL_PASSWORD,
                "me@provider.test",
            ])
            .arg(&file)
            .args(rcpts)
            .output()
            .unwrap();
        let result: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("smtplib: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(result["error"], serde_json::Value::Null, "{result}");
        assert_eq!(result["refused"], serde_json::json!({}), "{result}");
    }
}

/// The SMTP greeting on `port`, if something answers there.
fn smtp_greeting(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).ok()?;
    let _ = stream.write_all(b"QUIT\r\n");
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

const VIEWS: [&str; 5] = ["status", "recipients", "activity", "keys", "settings"];

/// Screenshot and accessibility check of the current view.
async fn look(app: &AppSession, name: &str, failures: &mut Vec<String>) {
    // Interactions scroll; a picture of a view starts at its top.
    app.eval("document.scrollingElement.scrollTo(0, 0); document.querySelector('main')?.scrollTo?.(0, 0); return true").await;
    // WebKit paints a moment after the DOM settles.
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.screenshot(name).await;
    for violation in app.axe().await {
        failures.push(format!("{name}: {violation}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shows_verdicts_follows_messages_and_manages_keys_and_settings() {
    let _serial = SERIAL.lock().await;
    let fixture = fixture();
    let desktop = Desktop::start();
    let args = fixture.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = AppSession::launch(&desktop, &args, &[]).await;
    let mut a11y = Vec::new();

    // First run: the setup is shown until done or skipped.
    app.find("firstrun-skip").await;
    look(&app, "first-run-light", &mut a11y).await;
    app.click("firstrun-skip").await;

    // Status: endpoints and the local account as the mail client needs them.
    app.find("nav-status").await;
    app.nav("status").await;
    assert_eq!(app.text("smtp-host").await, "127.0.0.1");
    assert_eq!(app.text("smtp-port").await, fixture.smtp_port.to_string());
    assert_eq!(app.text("smtp-username").await, "danemail");
    app.click("smtp-password-reveal").await;
    assert_eq!(app.text("smtp-password").await, LOCAL_PASSWORD);
    assert!(app
        .text("ldap-port")
        .await
        .contains(&fixture.ldap_port.to_string()));
    app.wait_attr(
        "[data-testid=dns-health]",
        "data-state",
        "ok",
        Duration::from_secs(30),
    )
    .await;
    let state = app
        .attr("[data-testid=app-state]", "data-state")
        .await
        .unwrap();
    assert_eq!(state, "ok", "{}", app.text("app-state").await);
    // Which DNS path lookups take, in words.
    let path = app.text("dns-path").await;
    assert!(
        path.starts_with("Using the configured resolver 127.0.0.1:")
            && path.ends_with("because it carries DNSSEC data"),
        "{path}"
    );
    look(&app, "status-light", &mut a11y).await;

    // Recipients: what DNSSEC and DANE prove, per address, in words.
    let alice = dns().address("alice@ecdsa.test");
    app.nav("recipients").await;
    app.fill(
        "recipient-input",
        "alice@ecdsa.test alice@tampered.test alice@unsigned.test",
    )
    .await;
    app.click("recipient-check").await;
    let verdict = |address: &str| format!("[data-testid=verdict][data-address=\"{address}\"]");
    app.wait_attr(
        &verdict("alice@ecdsa.test"),
        "data-decision",
        "encrypt",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        app.attr(&verdict("alice@ecdsa.test"), "data-smimea-status")
            .await
            .as_deref(),
        Some("secure")
    );
    let sha = app
        .wait_css(&format!(
            "{} [data-testid=cert-sha256]",
            verdict("alice@ecdsa.test")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        Some(sha.trim().to_owned()),
        alice.cert_sha256,
        "the fixture certificate's hash"
    );
    assert_eq!(
        app.attr(&verdict("alice@tampered.test"), "data-decision")
            .await
            .as_deref(),
        Some("tempfail")
    );
    assert_eq!(
        app.attr(&verdict("alice@tampered.test"), "data-smimea-status")
            .await
            .as_deref(),
        Some("bogus")
    );
    let tampered_reason = app
        .wait_css(&format!(
            "{} [data-testid=verdict-reason]",
            verdict("alice@tampered.test")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        tampered_reason.contains("DNSSEC validation failed"),
        "{tampered_reason}"
    );
    let tampered_text = app
        .wait_css(&verdict("alice@tampered.test"))
        .await
        .text()
        .await
        .unwrap();
    assert!(tampered_text.contains("possible attack"), "{tampered_text}");
    assert_eq!(
        app.attr(&verdict("alice@unsigned.test"), "data-decision")
            .await
            .as_deref(),
        Some("plaintext")
    );
    assert_eq!(
        app.attr(&verdict("alice@unsigned.test"), "data-smimea-status")
            .await
            .as_deref(),
        Some("insecure")
    );
    let unsigned_text = app
        .wait_css(&verdict("alice@unsigned.test"))
        .await
        .text()
        .await
        .unwrap();
    assert!(unsigned_text.contains("not signed"), "{unsigned_text}");
    look(&app, "recipients-light", &mut a11y).await;

    // A recipient with only an OpenPGP key: the OPENPGPKEY step in the
    // same words as SMIMEA's, and the headline names the standard.
    app.fill("recipient-input", "pgp-rsa@ecdsa.test").await;
    app.click("recipient-check").await;
    app.wait_attr(
        &verdict("pgp-rsa@ecdsa.test"),
        "data-decision",
        "encrypt",
        Duration::from_secs(20),
    )
    .await;
    let headline = app
        .wait_css(&format!(
            "{} [data-testid=verdict-headline]",
            verdict("pgp-rsa@ecdsa.test")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(headline.trim(), "Will be encrypted (OpenPGP)");
    let step = app
        .wait_css(&format!(
            "{} [data-key=openpgpkey]",
            verdict("pgp-rsa@ecdsa.test")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(step.contains("Published OpenPGP keys"), "{step}");
    assert!(step.contains("1 usable"), "{step}");
    assert!(step.contains("encrypted to this key as PGP/MIME"), "{step}");
    // No step says the mail goes as written when it is encrypted.
    let certificates = app
        .wait_css(&format!(
            "{} [data-key=smimea]",
            verdict("pgp-rsa@ecdsa.test")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        certificates.contains("encrypted to the recipient's OpenPGP key instead"),
        "{certificates}"
    );
    assert!(!certificates.contains("as written"), "{certificates}");
    look(&app, "recipients-openpgp", &mut a11y).await;

    // Activity: a message to an encrypting and a plaintext recipient is
    // followed per recipient to `delivered`.
    fixture.send("first", &["alice@ecdsa.test", "alice@unsigned.test"]);
    app.nav("activity").await;
    let outcome = |address: &str| format!("[data-testid=rcpt-outcome][data-address=\"{address}\"]");
    app.wait_attr(
        &outcome("alice@ecdsa.test"),
        "data-state",
        "delivered",
        Duration::from_secs(30),
    )
    .await;
    app.wait_attr(
        &outcome("alice@unsigned.test"),
        "data-state",
        "delivered",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        app.attr(&outcome("alice@ecdsa.test"), "data-decision")
            .await
            .as_deref(),
        Some("encrypt")
    );
    assert_eq!(
        app.attr(&outcome("alice@unsigned.test"), "data-decision")
            .await
            .as_deref(),
        Some("plaintext")
    );
    let delivered = fixture
        .mail
        .fetch("alice@ecdsa.test", 1, Duration::from_secs(20));
    assert!(
        String::from_utf8_lossy(&delivered[0]).contains("application/pkcs7-mime"),
        "encrypted in the mailbox"
    );

    // Pause: a new message stays queued; resume: it is delivered.
    app.nav("status").await;
    app.click("pause-toggle").await;
    app.wait_attr(
        "[data-testid=app-state]",
        "data-state",
        "paused",
        Duration::from_secs(10),
    )
    .await;
    fixture.send("while-paused", &["alice@unsigned.test"]);
    app.nav("activity").await;
    let paused_row = "[data-testid=activity-row]:first-of-type [data-testid=rcpt-outcome]";
    app.wait_attr(paused_row, "data-state", "queued", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        app.attr(paused_row, "data-state").await.as_deref(),
        Some("queued"),
        "sent while paused"
    );
    look(&app, "activity-light", &mut a11y).await;
    app.nav("status").await;
    app.click("pause-toggle").await;
    app.nav("activity").await;
    app.wait_attr(
        paused_row,
        "data-state",
        "delivered",
        Duration::from_secs(30),
    )
    .await;

    // Keys: generate → the record to publish → the check says `missing`.
    app.nav("keys").await;
    app.fill("key-email", "me@ecdsa.test").await;
    app.click("key-generate").await;
    app.wait_css("[data-testid=key-row][data-address=\"me@ecdsa.test\"]")
        .await;
    let record = app.text("record-text").await;
    assert!(
        record.contains("._smimecert.ecdsa.test. IN SMIMEA 3 0 0 "),
        "{record}"
    );
    app.click("record-check").await;
    app.wait_attr(
        "[data-testid=record-status]",
        "data-status",
        "missing",
        Duration::from_secs(20),
    )
    .await;
    look(&app, "keys-light", &mut a11y).await;

    // Settings: a bad port is refused with the field named; nothing lost.
    app.nav("settings").await;
    look(&app, "settings-light", &mut a11y).await;
    app.fill("setting-smtp-port", "99999").await;
    app.click("settings-save").await;
    let error = app.text("settings-error").await;
    assert!(
        error.contains("SMTP port") && error.contains("99999"),
        "{error}"
    );
    assert!(
        smtp_greeting(fixture.smtp_port).is_some_and(|g| g.starts_with("220")),
        "still serving"
    );

    // Closing the window hides it; SMTP keeps answering; a second launch
    // brings the window back.
    assert!(desktop.window_visible("DANE Mail"), "window shown");
    let window = desktop.run(
        "xdotool",
        &["search", "--onlyvisible", "--name", "DANE Mail"],
    );
    let window = window.lines().next().unwrap().to_owned();
    close_window(&desktop, &window);
    app::wait_for(
        || !desktop.window_visible("DANE Mail"),
        "the window to hide",
    );
    let greeting = smtp_greeting(fixture.smtp_port).unwrap_or_default();
    assert!(
        greeting.starts_with("220"),
        "SMTP after close: {greeting:?}"
    );
    let second = Command::new(app::app_binary())
        .args(&args)
        .envs(&desktop.env)
        .output()
        .expect("second launch");
    assert!(
        second.status.success(),
        "second launch: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    app::wait_for(
        || desktop.window_visible("DANE Mail"),
        "the window to come back",
    );

    app.close().await;
    assert!(
        a11y.is_empty(),
        "accessibility violations:\n{}",
        a11y.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_in_dark_mode_is_readable_and_accessible() {
    let _serial = SERIAL.lock().await;
    let fixture = fixture();
    // Another program holds the LDAP port: the window names it and offers
    // a free one (the app still starts; SMTP works).
    let squatter = std::net::TcpListener::bind(("127.0.0.1", fixture.ldap_port)).unwrap();
    let desktop = Desktop::start();
    let args = fixture.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = AppSession::launch(&desktop, &args, &[("GTK_THEME", "Adwaita:dark")]).await;
    app.find("firstrun-skip").await;
    let mut a11y = Vec::new();
    look(&app, "first-run-dark", &mut a11y).await;
    app.click("firstrun-skip").await;
    app.find("nav-status").await;
    let dark = app
        .eval("return window.matchMedia('(prefers-color-scheme: dark)').matches")
        .await;
    assert_eq!(
        dark,
        serde_json::json!(true),
        "the webview follows the dark GTK theme"
    );
    app.nav("status").await;
    app.wait_attr(
        "[data-testid=app-state]",
        "data-state",
        "attention",
        Duration::from_secs(10),
    )
    .await;
    let problems = app.text("problems").await;
    let holder = format!("port {} is in use by app_e2e", fixture.ldap_port);
    assert!(problems.contains(&holder), "{problems}");
    app.find("use-port-ldap").await;
    assert!(smtp_greeting(fixture.smtp_port).is_some_and(|g| g.starts_with("220")));
    look(&app, "status-port-in-use-dark", &mut a11y).await;
    drop(squatter);
    for view in VIEWS {
        app.nav(view).await;
        if view == "recipients" {
            app.fill("recipient-input", "alice@ecdsa.test alice@tampered.test")
                .await;
            app.click("recipient-check").await;
            app.wait_css("[data-testid=verdict][data-address=\"alice@tampered.test\"]")
                .await;
        }
        look(&app, &format!("{view}-dark"), &mut a11y).await;
    }
    app.close().await;
    assert!(
        a11y.is_empty(),
        "accessibility violations:\n{}",
        a11y.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_mail_set_up_in_settings_is_decrypted_and_a_wrong_password_is_said_in_words() {
    let _serial = SERIAL.lock().await;
    let fixture = fixture();
    let desktop = Desktop::start();
    let args = fixture.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = AppSession::launch(&desktop, &args, &[]).await;
    let mut a11y = Vec::new();
    app.find("firstrun-skip").await;
    app.click("firstrun-skip").await;
    app.find("nav-status").await;

    // A key of the app's own, and a message encrypted to it at the provider.
    app.nav("keys").await;
    app.fill("key-email", "me@provider.test").await;
    app.click("key-generate").await;
    app.wait_css("[data-testid=key-row][data-address=\"me@provider.test\"]")
        .await;
    let storage = fixture.dir.path().join("storage");
    let certificate = storage.join("keys/me@provider.test.pem");
    assert!(certificate.exists(), "{}", certificate.display());
    let plaintext = fixture.dir.path().join("inner.txt");
    std::fs::write(
        &plaintext,
        "Content-Type: text/plain\r\n\r\nfor the app's own key\r\n",
    )
    .unwrap();
    let encrypted = fixture.dir.path().join("encrypted.eml");
    let out = Command::new("openssl")
        .args(["cms", "-encrypt", "-binary", "-aes-256-cbc", "-subject"])
        .arg("to the app")
        .arg("-in")
        .arg(&plaintext)
        .arg("-out")
        .arg(&encrypted)
        .arg(&certificate)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    doveadm_save(&fixture.mail, INBOX_USER, &encrypted);

    // Settings: the switch, one account on the loopback Dovecot, the password.
    app.nav("settings").await;
    app.click("setting-inbound-enabled").await;
    app.fill("setting-inbound-host", "127.0.0.1").await;
    app.fill(
        "setting-inbound-port",
        &fixture.mail.port("IMAP_PORT").to_string(),
    )
    .await;
    app.find("setting-inbound-security")
        .await
        .select_by_value("none")
        .await
        .unwrap();
    app.fill("setting-inbound-username", INBOX_USER).await;
    app.fill("setting-inbound-password", "pw").await;
    app.click("settings-save").await;
    app.wait_css("[data-testid=settings-saved]:not([hidden])")
        .await;
    assert!(
        app.text("setting-inbound-password-state")
            .await
            .contains("A password is stored"),
        "password stored"
    );
    assert_eq!(
        app.find("setting-inbound-password")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(""),
        "never echoed back"
    );
    look_at(&app, "settings-inbound", "inbound-settings", &mut a11y).await;

    // Status: in sync, one decrypted, and the plaintext copy where it says.
    app.nav("status").await;
    let account = "[data-testid=inbound-account][data-name=mail]";
    app.wait_attr(account, "data-state", "in-sync", Duration::from_secs(30))
        .await;
    let folder = app
        .wait_css(&format!(
            "{account} [data-testid=inbound-folder][data-folder=INBOX]"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(folder.contains("1 decrypted"), "{folder}");
    let maildir = storage.join("decrypted/mail");
    let place = app.text("inbound-where").await;
    assert!(place.contains(&maildir.display().to_string()), "{place}");
    let copies: Vec<Vec<u8>> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flat_map(|dir| dir.flatten().map(|e| std::fs::read(e.path()).unwrap()))
        .collect();
    assert_eq!(copies.len(), 1, "one copy in {}", maildir.display());
    assert!(
        String::from_utf8_lossy(&copies[0]).contains("for the app's own key"),
        "the plaintext"
    );
    look_at(&app, "inbound", "inbound-status", &mut a11y).await;

    // A wrong password: the login error in words, and a problem with advice.
    app.nav("settings").await;
    app.fill("setting-inbound-password", "Xyzzy-wrong").await;
    app.click("settings-save").await;
    app.wait_css("[data-testid=settings-saved]:not([hidden])")
        .await;
    app.nav("status").await;
    app.wait_attr(account, "data-state", "error", Duration::from_secs(30))
        .await;
    let state = app
        .wait_css(&format!("{account} [data-testid=inbound-state]"))
        .await
        .text()
        .await
        .unwrap();
    assert!(state.contains("login refused by the server"), "{state}");
    let problem = app
        .wait_css("[data-testid=problems] [data-area=inbound]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        problem.contains("Check the user name and password in Settings"),
        "{problem}"
    );
    look_at(&app, "inbound", "inbound-status-error", &mut a11y).await;
    let saved = std::fs::read_to_string(&fixture.config).unwrap();
    assert!(
        !saved.contains("Xyzzy") && !app.driver_log().contains("Xyzzy"),
        "a password in the settings file or the log"
    );

    app.close().await;
    assert!(
        a11y.is_empty(),
        "accessibility violations:\n{}",
        a11y.join("\n")
    );
}

/// Screenshot with the element `testid` scrolled into view, and axe.
async fn look_at(app: &AppSession, testid: &str, name: &str, failures: &mut Vec<String>) {
    app.eval(&format!(
        "document.querySelector('[data-testid=\"{testid}\"]').scrollIntoView({{block: 'start'}}); return true"
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.screenshot(name).await;
    for violation in app.axe().await {
        failures.push(format!("{name}: {violation}"));
    }
}

/// Delivers `message` into `user`'s INBOX as the provider would.
fn doveadm_save(server: &MailServer, user: &str, message: &std::path::Path) {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(server.dir.join("dovecot.conf"))
        .args(["save", "-u", user, "-m", "INBOX"])
        .stdin(std::fs::File::open(message).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "doveadm save: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asks the window manager's way: a WM_DELETE_WINDOW client message, as the
/// title bar's close button sends (Xvfb has no window manager).
fn close_window(desktop: &Desktop, window: &str) {
    let script = repo_root().join("src-tauri/scripts/wm-close.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(window)
        .envs(&desktop.env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wm-close: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_display_or_keyring_the_app_runs_the_headless_service_on_its_defaults() {
    // A fresh machine: clean HOME, no D-Bus, no display, no config file.
    let home = tempfile::tempdir().unwrap();
    assert!(
        smtp_greeting(1587).is_none(),
        "127.0.0.1:1587 is taken by another program; this test needs it free"
    );
    let log = home.path().join("app.log");
    let mut child = Command::new(app::app_binary())
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(home.path().join("app.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut greeting = None;
    while Instant::now() < deadline && greeting.is_none() {
        greeting = smtp_greeting(1587);
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(&mut child);
    let stderr = std::fs::read_to_string(home.path().join("app.err")).unwrap_or_default();
    let greeting = greeting.unwrap_or_else(|| panic!("nothing on 127.0.0.1:1587: {stderr}"));
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(
        stderr.contains("no display; running the headless service"),
        "{stderr}"
    );
    // The local password went to an owner-only file, said in the log.
    let file = home.path().join(".local/share/danemail/smtp-password");
    assert!(file.exists(), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(stderr.contains("owner-only file"), "{stderr}");
    let password = std::fs::read_to_string(&file).unwrap();
    assert!(!stderr.contains(password.trim()), "password in the log");
}

/// SIGTERM, then wait: the service drains and exits.
fn terminate(child: &mut std::process::Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
