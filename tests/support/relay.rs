//! A provider (Postfix + Dovecot), a switch in front of it, and `danemail
//! run` relaying through it, with recipients' SMIMEA from the signed
//! fixture zones; and a raw SMTP client to submit with.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use danemail::mime::inner_entity;
use danemail::mime::Message;
use serde_json::Value;

use super::mail::{MailServer, Proxy, Switch};
use super::{dns, free_port, repo_root};

pub const MAILBOXES: [&str; 6] = [
    "alice@ecdsa.test",
    "alice@rsa.test",
    "carol@ecdsa.test",
    "nobody@ecdsa.test",
    "alice@unsigned.test",
    "alice@tampered.test",
];
pub const LOCAL_PASSWORD: &str = "local-secret";
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Setup {
    pub mail: MailServer,
    pub proxy: Proxy,
    pub switch: Switch,
    pub dir: tempfile::TempDir,
}

/// A provider, a switch in front of it, and a proxy relaying through it.
pub fn setup(extra: &str) -> Setup {
    setup_with(extra, |_| {})
}

/// Like [`setup`]; `prepare` may fill the storage dir before the start.
pub fn setup_with(extra: &str, prepare: impl FnOnce(&std::path::Path)) -> Setup {
    setup_for(&MAILBOXES, extra, prepare)
}

/// Like [`setup_with`], with these provider mailboxes instead of [`MAILBOXES`].
pub fn setup_for(mailboxes: &[&str], extra: &str, prepare: impl FnOnce(&std::path::Path)) -> Setup {
    let fixture = dns();
    let mail = MailServer::start(mailboxes);
    let switch = Switch::new(mail.port("SUBMISSION_PORT"));
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str, value: &str| {
        super::secret_file(&dir.path().join(name), value)
            .display()
            .to_string()
    };
    let port = free_port();
    let config = format!(
        "[smtp]\nlisten = \"127.0.0.1:{port}\"\npassword_file = \"{local}\"\ncommand_timeout_secs = 3\ndata_timeout_secs = 60\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {upstream}\nsecurity = \"starttls\"\nusername = \"me@provider.test\"\n\
         password_file = \"{provider}\"\nca_file = \"{ca}\"\ntimeout_secs = 10\n\
         [dns]\nservers = [\"{dns}\"]\ntrust_anchor = \"{anchor}\"\ntimeout_ms = 2000\n\
         [storage]\ndir = \"{storage}\"\n\
         [outbox]\nretry_initial_secs = 1\nretry_max_secs = 2\n[ldap]\nenabled = false\n{extra}",
        local = secret("smtp.pw", LOCAL_PASSWORD),
        upstream = switch.port,
        provider = secret("provider.pw", "provider-secret"),
        ca = mail.ca_file().display(),
        dns = fixture.server(),
        anchor = fixture.trust_anchor().display(),
        storage = dir.path().join("storage").display(),
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    prepare(&dir.path().join("storage"));
    let proxy = Proxy::start(&path, port);
    Setup {
        mail,
        proxy,
        switch,
        dir,
    }
}

impl Setup {
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn smtplib(&self, message: &[u8], from: &str, rcpts: &[&str]) -> Value {
        let file = self.dir.path().join(format!("msg-{}.eml", rand()));
        std::fs::write(&file, message).unwrap();
        let out = Command::new("python3")
            .arg(repo_root().join("tests/fixtures/mail/smtplib-send.py"))
            .args([
                &self.proxy.port.to_string(),
                "danemail",
                LOCAL_PASSWORD,
                from,
            ])
            .arg(&file)
            .args(rcpts)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("smtplib: {}", String::from_utf8_lossy(&out.stderr)))
    }

    pub fn queued(&self) -> usize {
        std::fs::read_dir(self.storage().join("outbox/queue")).map_or(0, |d| d.count())
    }
}

pub fn rand() -> String {
    let mut b = [0u8; 6];
    openssl::rand::rand_bytes(&mut b).unwrap();
    hex::encode(b)
}

pub fn message(subject: &str, to: &str, cc: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Me <me@provider.test>\r\nTo: {to}\r\nCc: {cc}\r\nSubject: {subject}\r\n\
         Date: Sun, 22 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{}@provider.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        rand()
    )
    .into_bytes()
}

pub fn expected_inner(message: &[u8]) -> Vec<u8> {
    let parsed = Message::parse(message).unwrap();
    let mut out = Vec::new();
    inner_entity(&parsed).read_to_end(&mut out).unwrap();
    out
}

/// Decrypts a stored message for a DNS-fixture address with `openssl cms`.
pub fn decrypt(stored: &[u8], address: &str) -> Result<Vec<u8>, String> {
    let certs = dns().dir.join("certs");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.eml");
    std::fs::write(&input, stored).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "SMIME", "-in"])
        .arg(&input)
        .arg("-recip")
        .arg(certs.join(format!("{address}.pem")))
        .arg("-inkey")
        .arg(certs.join(format!("{address}.key")))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn is_encrypted(stored: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stored).to_lowercase();
    text.contains("content-type: application/pkcs7-mime; smime-type=enveloped-data")
}

/// One SMTP exchange over a raw socket; returns each reply line.
pub fn converse(port: u16, lines: &[&str]) -> Vec<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut replies = vec![read_reply(&mut stream)];
    for line in lines {
        stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        replies.push(read_reply(&mut stream));
    }
    replies
}

/// One whole reply (every line of a multi-line one); what came before the
/// connection ended, or nothing, when it ends first.
pub fn read_reply(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    match try_read_reply(stream, &mut all) {
        Ok(text) => text,
        Err(_) => String::from_utf8_lossy(&all).into_owned(),
    }
}

/// One whole reply, or the error that ended the connection before it
/// (`all` then holds what came).
pub fn try_read_reply(stream: &mut TcpStream, all: &mut Vec<u8>) -> std::io::Result<String> {
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        all.push(byte[0]);
        // The last line of a reply has a space after the code.
        if byte[0] == b'\n' {
            let text = String::from_utf8_lossy(all).into_owned();
            let last = text.trim_end().rsplit("\r\n").next().unwrap_or("");
            if last.len() < 4 || last.as_bytes()[3] == b' ' {
                return Ok(text);
            }
        }
    }
}

pub fn base64_plain(user: &str, password: &str) -> String {
    // openssl, not the base64 crate: every package whose tests use this
    // harness has it.
    openssl::base64::encode_block(format!("\0{user}\0{password}").as_bytes())
}

/// EHLO, AUTH, MAIL, RCPT, DATA, then `data` as raw bytes (it must end the
/// data itself); the replies, the last one to the data, then QUIT's.
pub fn submit_raw(port: u16, rcpt: &str, data: &[u8]) -> Vec<String> {
    let auth = base64_plain("danemail", LOCAL_PASSWORD);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut replies = vec![read_reply(&mut stream)];
    for line in [
        "EHLO c".to_owned(),
        format!("AUTH PLAIN {auth}"),
        "MAIL FROM:<me@provider.test>".to_owned(),
        format!("RCPT TO:<{rcpt}>"),
        "DATA".to_owned(),
    ] {
        stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        replies.push(read_reply(&mut stream));
    }
    stream.write_all(data).unwrap();
    replies.push(read_reply(&mut stream));
    stream.write_all(b"QUIT\r\n").unwrap();
    replies.push(read_reply(&mut stream));
    replies
}
