//! Relays one copy to the user's provider over SMTP with lettre and rustls:
//! the envelope exactly as planned (MAIL FROM, each copy's RCPT TO), the
//! message streamed from the outbox file, and an outcome per recipient.
//!
//! lettre's `AsyncSmtpConnection` is driven command by command (rather than
//! `send_raw`) so that one refused RCPT does not fail the others, and so the
//! message goes out in chunks from disk instead of whole from memory.

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use lettre::address::Address as LettreAddress;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use crate::config::{UpstreamConfig, UpstreamSecurity};

/// What became of one recipient of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(String),
    /// Try again later (4xx, network, TLS, authentication trouble).
    Temporary(String),
    /// Give up and bounce (5xx).
    Permanent(String),
}

/// Why a relay cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("[upstream] security = \"none\" is only allowed for a loopback host, not {0}")]
    PlaintextNotLoopback(String),
    #[error("[upstream] ca_file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("TLS setup for {host}: {why}")]
    Tls { host: String, why: String },
}

/// A configured upstream.
pub struct Relay {
    host: String,
    port: u16,
    security: UpstreamSecurity,
    credentials: Option<Credentials>,
    tls: Option<TlsParameters>,
    timeout: Duration,
    hello: ClientId,
    /// Why nothing can be sent yet (no provider, no provider password):
    /// every attempt defers with this, without connecting.
    not_ready: Option<String>,
}

/// Chunk size when streaming a copy from disk.
const CHUNK: usize = 256 * 1024;

impl Relay {
    /// `password` is the provider password (from the keyring or a file).
    pub fn new(
        config: &UpstreamConfig,
        password: Option<String>,
        hello: &str,
    ) -> Result<Self, RelayError> {
        if config.host.is_empty() {
            // Not configured yet (first run): mail is accepted and kept,
            // and every attempt says what to set.
            return Ok(Self {
                host: String::new(),
                port: 0,
                security: UpstreamSecurity::Starttls,
                credentials: None,
                tls: None,
                timeout: Duration::from_secs(config.timeout_secs),
                hello: ClientId::Domain(hello.to_owned()),
                not_ready: Some(
                    "no provider is set ([upstream] host, or Settings in the app)".into(),
                ),
            });
        }
        let tls = match config.security {
            UpstreamSecurity::None => {
                if !is_loopback_host(&config.host) {
                    return Err(RelayError::PlaintextNotLoopback(config.host.clone()));
                }
                None
            }
            UpstreamSecurity::Starttls | UpstreamSecurity::Tls => {
                // Certificates are checked against the system roots, plus
                // the configured extra CA; never "accept invalid".
                let mut builder = TlsParameters::builder(config.host.clone())
                    .certificate_store(CertificateStore::Default);
                if let Some(path) = &config.ca_file {
                    let bad = |why: String| RelayError::CaFile {
                        path: path.display().to_string(),
                        why,
                    };
                    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
                    builder = builder.add_root_certificate(cert);
                }
                Some(builder.build_rustls().map_err(|e| RelayError::Tls {
                    host: config.host.clone(),
                    why: e.to_string(),
                })?)
            }
        };
        // A login without its password would only fail at the provider
        // (and count against the account): wait for the password instead.
        let not_ready = (!config.username.is_empty() && password.is_none()).then(|| {
            format!(
                "no provider password for {}: set it in the app's Settings or with `danemail upstream set-password`",
                config.username
            )
        });
        let credentials = (!config.username.is_empty())
            .then(|| Credentials::new(config.username.clone(), password.unwrap_or_default()));
        Ok(Self {
            not_ready,
            host: config.host.clone(),
            port: config.port,
            security: config.security,
            credentials,
            tls,
            timeout: Duration::from_secs(config.timeout_secs),
            hello: ClientId::Domain(hello.to_owned()),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends the copy at `path` from `from` (empty: the null sender) to
    /// `recipients`; one outcome per recipient, in order.
    pub async fn send(&self, from: &str, recipients: &[String], path: &Path) -> Vec<Outcome> {
        self.send_all(from, &[(recipients, path)])
            .await
            .pop()
            .unwrap_or_default()
    }

    /// Sends several copies of one message over one session, a transaction
    /// each; for each copy one outcome per recipient, in order. A failure
    /// of the session itself defers that copy and every one after it.
    pub async fn send_all(&self, from: &str, copies: &[(&[String], &Path)]) -> Vec<Vec<Outcome>> {
        let deferred = |why: &str, copies: &[(&[String], &Path)]| -> Vec<Vec<Outcome>> {
            copies
                .iter()
                .map(|(recipients, _)| {
                    recipients
                        .iter()
                        .map(|_| Outcome::Temporary(why.to_owned()))
                        .collect()
                })
                .collect()
        };
        let mut conn = match self.open().await {
            Ok(conn) => conn,
            Err(why) => return deferred(&why, copies),
        };
        let limit = self.timeout;
        let mut results = Vec::with_capacity(copies.len());
        for (index, (recipients, path)) in copies.iter().enumerate() {
            // A transaction refused part-way leaves state behind: start clean.
            if index > 0 {
                let reset = tokio::time::timeout(limit, conn.command(Rset)).await;
                if !matches!(reset, Ok(Ok(_))) {
                    // Dropped, not aborted: a silent server never answers QUIT.
                    results.extend(deferred("RSET: the session broke", &copies[index..]));
                    return results;
                }
            }
            match self.transaction(&mut conn, from, recipients, path).await {
                Ok(outcomes) => results.push(outcomes),
                Err(why) => {
                    // Dropped, not aborted: a silent server never answers QUIT.
                    results.extend(deferred(&why, &copies[index..]));
                    return results;
                }
            }
        }
        let _ = tokio::time::timeout(limit, conn.command(Quit)).await;
        results
    }

    /// A session with the provider: connected, greeted, TLS as configured,
    /// logged in.
    async fn open(&self) -> Result<AsyncSmtpConnection, String> {
        if let Some(why) = &self.not_ready {
            return Err(why.clone());
        }
        let server = self.server();
        let implicit_tls = match self.security {
            UpstreamSecurity::Tls => self.tls.clone(),
            _ => None,
        };
        // lettre's timeout covers the TCP connect; every step after it (the
        // greeting, each command, the data) gets its own deadline here, so a
        // provider that goes silent defers the message instead of holding
        // its lane.
        let limit = self.timeout;
        let mut conn = tokio::time::timeout(
            limit,
            AsyncSmtpConnection::connect_tokio1(
                server.as_str(),
                Some(limit),
                &self.hello,
                implicit_tls,
                None,
            ),
        )
        .await
        .map_err(self.step("greeting"))?
        .map_err(|e| format!("cannot connect to {server}: {e}"))?;
        if self.security == UpstreamSecurity::Starttls {
            // Never fall back to plaintext: no STARTTLS, no delivery.
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(format!(
                    "{server} does not offer STARTTLS; not sending in the clear"
                ));
            }
            let tls = self.tls.clone().expect("STARTTLS has TLS parameters");
            tokio::time::timeout(limit, conn.starttls(tls, &self.hello))
                .await
                .map_err(self.step("STARTTLS"))?
                .map_err(|e| format!("STARTTLS with {server} failed: {e}"))?;
        }
        if let Some(credentials) = &self.credentials {
            let login = conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials);
            if let Err(e) = tokio::time::timeout(limit, login)
                .await
                .map_err(self.step("AUTH"))?
            {
                conn.abort().await;
                return Err(format!("login at {server} failed: {e}"));
            }
        }
        Ok(conn)
    }

    /// One transaction: MAIL, RCPT per recipient, DATA streamed from
    /// `path`. `Err` when the session itself failed (a step's deadline).
    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        from: &str,
        recipients: &[String],
        path: &Path,
    ) -> Result<Vec<Outcome>, String> {
        let limit = self.timeout;
        let sender = if from.is_empty() {
            None
        } else {
            Some(parse_address(from).map_err(|e| format!("sender <{from}>: {e}"))?)
        };
        let mut parameters = Vec::new();
        if conn.server_info().supports_feature(Extension::EightBitMime) {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        if !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii()) {
            parameters.push(MailParameter::SmtpUtfEight);
        }
        let mail = conn.command(Mail::new(sender, parameters));
        if let Err(e) = tokio::time::timeout(limit, mail)
            .await
            .map_err(self.step("MAIL FROM"))?
        {
            let outcome = classify(&e, "MAIL FROM");
            return Ok(recipients.iter().map(|_| outcome.clone()).collect());
        }

        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let outcome = match parse_address(recipient) {
                Err(e) => Some(Outcome::Permanent(format!("recipient <{recipient}>: {e}"))),
                Ok(address) => {
                    match tokio::time::timeout(limit, conn.command(Rcpt::new(address, Vec::new())))
                        .await
                        .map_err(self.step("RCPT TO"))?
                    {
                        Ok(_) => None,
                        Err(e) => Some(classify(&e, "RCPT TO")),
                    }
                }
            };
            outcomes.push(outcome);
        }
        if outcomes.iter().all(Option::is_some) {
            return Ok(outcomes.into_iter().flatten().collect());
        }

        let result = match tokio::time::timeout(limit, conn.command(Data))
            .await
            .map_err(self.step("DATA"))?
        {
            Err(e) => Err(classify(&e, "DATA")),
            Ok(_) => {
                let chunks = FileChunks::open(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                // The deadline for the data and the reply to its final dot
                // grows with the copy: the step timeout plus 1 s a 64 KiB
                // (a floor of 64 KiB/s for a loopback-to-provider upload).
                let size = std::fs::metadata(path).map_or(0, |m| m.len());
                let transfer = limit + Duration::from_secs(size / (64 * 1024));
                match tokio::time::timeout(transfer, conn.message_iter(chunks))
                    .await
                    .map_err(self.step("end of DATA"))?
                {
                    Ok(response) => Ok(format!(
                        "{} {}",
                        response.code(),
                        response.first_line().unwrap_or_default()
                    )),
                    Err(e) => Err(classify(&e, "end of DATA")),
                }
            }
        };
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                Some(refused) => refused,
                None => match &result {
                    Ok(reply) => Outcome::Delivered(reply.clone()),
                    Err(failed) => failed.clone(),
                },
            })
            .collect())
    }

    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The error for a step that got no answer within the deadline.
    fn step(&self, what: &'static str) -> impl Fn(tokio::time::error::Elapsed) -> String {
        let server = self.server();
        let limit = self.timeout;
        move |_| {
            format!(
                "{what}: no answer from {server} within {} s",
                limit.as_secs()
            )
        }
    }
}

fn classify(error: &lettre::transport::smtp::Error, step: &str) -> Outcome {
    let text = format!("{step}: {error}");
    if error.is_permanent() {
        Outcome::Permanent(text)
    } else {
        Outcome::Temporary(text)
    }
}

fn parse_address(address: &str) -> Result<LettreAddress, String> {
    address.parse::<LettreAddress>().map_err(|e| e.to_string())
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A copy read from disk in chunks, without its final CRLF: lettre's
/// `message_iter` appends `\r\n.\r\n` itself (and dot-stuffs the content).
struct FileChunks {
    file: std::fs::File,
    remaining: u64,
}

impl FileChunks {
    fn open(path: &Path) -> std::io::Result<Self> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let mut tail = [0u8; 2];
        let mut remaining = len;
        if len >= 2 {
            file.seek(SeekFrom::Start(len - 2))?;
            file.read_exact(&mut tail)?;
            if &tail == b"\r\n" {
                remaining = len - 2;
            }
            file.seek(SeekFrom::Start(0))?;
        }
        Ok(Self { file, remaining })
    }
}

impl Iterator for FileChunks {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.remaining == 0 {
            return None;
        }
        let want = usize::try_from(self.remaining).unwrap_or(CHUNK).min(CHUNK);
        let mut chunk = vec![0u8; want];
        match self.file.read_exact(&mut chunk) {
            Ok(()) => {
                self.remaining -= want as u64;
                Some(chunk)
            }
            Err(e) => {
                // The message would be cut short: stop here; the server
                // then sees a truncated message, so fail loudly in the log.
                tracing::error!(error = %e, "reading a copy from the outbox failed mid-send");
                self.remaining = 0;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_upstream_only_on_loopback() {
        let mut config = UpstreamConfig {
            host: "smtp.example.net".into(),
            security: UpstreamSecurity::None,
            ..UpstreamConfig::default()
        };
        assert!(matches!(
            Relay::new(&config, None, "localhost"),
            Err(RelayError::PlaintextNotLoopback(_))
        ));
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            config.host = host.into();
            assert!(Relay::new(&config, None, "localhost").is_ok(), "{host}");
        }
    }

    #[test]
    fn copies_are_streamed_without_their_final_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.eml");
        let mut data = vec![b'x'; CHUNK + 10];
        data.extend_from_slice(b"\r\n");
        std::fs::write(&path, &data).unwrap();
        let sent: Vec<u8> = FileChunks::open(&path).unwrap().flatten().collect();
        assert_eq!(sent, data[..data.len() - 2]);
    }
}
