//! The IMAP side: one read-only connection per account and folder, through
//! async-imap 0.12 (tokio). async-imap rather than imap-next: it has IDLE,
//! EXAMINE and UID FETCH ready-made and is in production use (deltachat);
//! imap-next 0.3 / imap-codec 2 are still alphas. async-imap has no command
//! timeouts (except IDLE), so every call here is wrapped in one, and each
//! response stream is read to its end before the next command.
//!
//! Read-only by construction: this module issues LOGIN, EXAMINE, UID FETCH
//! of `RFC822.SIZE` and `BODY.PEEK[]` (RFC 3501 §6.4.5: PEEK does not set \Seen), IDLE,
//! NOOP and LOGOUT — and, only for an account with
//! `danger_append_to_folder`, APPEND, CREATE and UID SEARCH on that folder
//! ([`append`], [`has_copy`]). Nothing ever stores flags, expunges or moves.

use std::sync::Arc;
use std::time::Duration;

use async_imap::types::Fetch;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::account::Account;
use crate::config::InboundSecurity;

/// A transport: TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

pub type ImapSession = async_imap::Session<Box<dyn Io>>;

/// Why talking to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("connecting to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    /// The server refused the login: a wrong user name or password.
    #[error("login refused by the server (wrong user name or password?): {0}")]
    Login(String),
    #[error("{0}: no answer within {1} s")]
    Timeout(&'static str, u64),
    #[error("{0}: {1}")]
    Protocol(&'static str, String),
}

impl ImapError {
    pub fn is_login(&self) -> bool {
        matches!(self, Self::Login(_))
    }
}

/// What EXAMINE says about the folder.
#[derive(Debug, Clone, Copy)]
pub struct Examined {
    pub uidvalidity: u32,
    pub uid_next: Option<u32>,
}

/// Runs `future` under the command timeout.
async fn timed<T, E: std::fmt::Display>(
    what: &'static str,
    limit: Duration,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ImapError::Protocol(what, e.to_string())),
        Err(_) => Err(ImapError::Timeout(what, limit.as_secs())),
    }
}

/// Connects, protects and logs in.
pub async fn connect(
    account: &Account,
    password: &str,
    limit: Duration,
) -> Result<ImapSession, ImapError> {
    let peer = format!("{}:{}", account.host, account.port);
    let tcp = match tokio::time::timeout(limit, TcpStream::connect(&peer)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(ImapError::Connect(peer, e.to_string())),
        Err(_) => return Err(ImapError::Timeout("connect", limit.as_secs())),
    };
    let stream: Box<dyn Io> = match account.security {
        InboundSecurity::None => Box::new(tcp),
        InboundSecurity::Tls => Box::new(tls(account, tcp, limit).await?),
        InboundSecurity::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client, limit).await?;
            timed(
                "STARTTLS",
                limit,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            // RFC 3501 §6.2.1: nothing read before the handshake is kept.
            Box::new(tls(account, client.into_inner(), limit).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if account.security != InboundSecurity::Starttls {
        greeting(&mut client, limit).await?;
    }
    match tokio::time::timeout(limit, client.login(&account.username, password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((async_imap::error::Error::No(text), _)))
        | Ok(Err((async_imap::error::Error::Bad(text), _))) => {
            Err(ImapError::Login(server_text(&text)))
        }
        Ok(Err((e, _))) => Err(ImapError::Protocol("LOGIN", e.to_string())),
        Err(_) => Err(ImapError::Timeout("LOGIN", limit.as_secs())),
    }
}

/// The server's words from async-imap's rendering of a tagged NO/BAD
/// (`code: …, info: Some("…")`).
fn server_text(text: &str) -> String {
    text.split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map_or_else(|| text.to_owned(), |(info, _)| info.to_owned())
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(
    client: &mut async_imap::Client<T>,
    limit: Duration,
) -> Result<(), ImapError> {
    match tokio::time::timeout(limit, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ImapError::Protocol("greeting", "connection closed".into())),
        Ok(Err(e)) => Err(ImapError::Protocol("greeting", e.to_string())),
        Err(_) => Err(ImapError::Timeout("greeting", limit.as_secs())),
    }
}

async fn tls(
    account: &Account,
    tcp: TcpStream,
    limit: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let bad = |why: String| ImapError::Tls(account.host.clone(), why);
    let config = crate::roots::client_config(account.ca_file.as_deref()).map_err(bad)?;
    let name = rustls::pki_types::ServerName::try_from(account.host.clone())
        .map_err(|e| bad(e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(bad(e.to_string())),
        Err(_) => Err(ImapError::Timeout("TLS handshake", limit.as_secs())),
    }
}

/// EXAMINE (read-only SELECT, RFC 3501 §6.3.2).
pub async fn examine(
    session: &mut ImapSession,
    folder: &str,
    limit: Duration,
) -> Result<Examined, ImapError> {
    let mailbox = timed("EXAMINE", limit, session.examine(folder)).await?;
    let uidvalidity = mailbox
        .uid_validity
        .ok_or_else(|| ImapError::Protocol("EXAMINE", "the server sent no UIDVALIDITY".into()))?;
    Ok(Examined {
        uidvalidity,
        uid_next: mailbox.uid_next,
    })
}

/// One fetched message.
pub struct Fetched {
    pub uid: u32,
    pub bytes: Vec<u8>,
}

/// `UID FETCH first:last (UID BODY.PEEK[])`, the whole response read; only
/// UIDs in the range are kept (`n:*` returns the last message when n is past
/// it, RFC 3501 §6.4.8).
pub async fn fetch_range(
    session: &mut ImapSession,
    first: u32,
    last: Option<u32>,
    limit: Duration,
) -> Result<Vec<Fetched>, ImapError> {
    let set = match last {
        Some(last) => format!("{first}:{last}"),
        None => format!("{first}:*"),
    };
    let work = async {
        let mut stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let fetch: Fetch = item?;
            if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
                if uid >= first && last.is_none_or(|l| uid <= l) {
                    out.push(Fetched {
                        uid,
                        bytes: body.to_vec(),
                    });
                }
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    };
    let mut out = timed("UID FETCH", limit, work).await?;
    out.sort_by_key(|f| f.uid);
    Ok(out)
}

/// `UID FETCH first:last (UID RFC822.SIZE)`: each message's size, for
/// cutting batches; only UIDs from `first` on (see [`fetch_range`]).
pub async fn sizes(
    session: &mut ImapSession,
    first: u32,
    last: Option<u32>,
    limit: Duration,
) -> Result<Vec<(u32, u64)>, ImapError> {
    let set = match last {
        Some(last) => format!("{first}:{last}"),
        None => format!("{first}:*"),
    };
    let work = async {
        let mut stream = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let fetch: Fetch = item?;
            if let (Some(uid), Some(size)) = (fetch.uid, fetch.size) {
                if uid >= first && last.is_none_or(|l| uid <= l) {
                    out.push((uid, u64::from(size)));
                }
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    };
    let mut out = timed("UID FETCH RFC822.SIZE", limit, work).await?;
    out.sort_by_key(|&(uid, _)| uid);
    Ok(out)
}

/// APPENDs `message` to `folder`, creating the folder when the server will
/// not take it there (RFC 3501 §6.3.11: `NO [TRYCREATE]`; async-imap reports
/// a refusal before the literal without the code, so any refusal leads to
/// one CREATE — refused itself when the folder exists — and one retry).
pub async fn append(
    session: &mut ImapSession,
    folder: &str,
    message: &[u8],
    limit: Duration,
) -> Result<(), ImapError> {
    async fn once(
        session: &mut ImapSession,
        folder: &str,
        message: &[u8],
        limit: Duration,
    ) -> Result<async_imap::error::Result<()>, ImapError> {
        tokio::time::timeout(limit, session.append(folder, None, None, message))
            .await
            .map_err(|_| ImapError::Timeout("APPEND", limit.as_secs()))
    }
    match once(session, folder, message, limit).await? {
        Ok(()) => return Ok(()),
        Err(async_imap::error::Error::Append) => {}
        Err(e) => return Err(ImapError::Protocol("APPEND", e.to_string())),
    }
    let created = timed("CREATE", limit, session.create(folder)).await;
    match once(session, folder, message, limit).await? {
        Ok(()) => Ok(()),
        Err(e) => Err(ImapError::Protocol(
            "APPEND",
            match created {
                Err(why) => format!("{folder}: {e} (and CREATE: {why})"),
                Ok(()) => format!("{folder}: {e}"),
            },
        )),
    }
}

/// Whether `folder` holds a copy whose provenance names the original's
/// SHA-256 (`UID SEARCH HEADER`, RFC 3501 §6.4.4). EXAMINEs `folder`: the
/// caller selects its own folder again afterwards.
pub async fn has_copy(
    session: &mut ImapSession,
    folder: &str,
    original_sha256: &str,
    limit: Duration,
) -> Result<bool, ImapError> {
    match timed("EXAMINE", limit, session.examine(folder)).await {
        Ok(_) => {}
        // No such folder yet: nothing was appended.
        Err(ImapError::Protocol(..)) => return Ok(false),
        Err(e) => return Err(e),
    }
    let query = format!(
        "HEADER {} \"sha256={original_sha256}\"",
        super::copy::PROVENANCE
    );
    let found = timed("UID SEARCH", limit, session.uid_search(query)).await?;
    Ok(!found.is_empty())
}

/// Whether the server offers IDLE (RFC 2177).
pub async fn has_idle(session: &mut ImapSession, limit: Duration) -> Result<bool, ImapError> {
    let caps = timed("CAPABILITY", limit, session.capabilities()).await?;
    Ok(caps.has_str("IDLE"))
}

/// How an IDLE wait ended.
pub enum Woken {
    /// The server reported a change (EXISTS, EXPUNGE, …).
    Change,
    /// The re-issue interval passed (RFC 2177: at most 29 minutes).
    Interval,
    /// Shutdown was asked for.
    Stop,
}

/// IDLE until a change, `interval`, or `stop`; the session comes back.
pub async fn idle(
    session: ImapSession,
    interval: Duration,
    limit: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(ImapSession, Woken), ImapError> {
    let mut handle = session.idle();
    timed("IDLE", limit, handle.init()).await?;
    let woken = {
        let (wait, interrupt) = handle.wait_with_timeout(interval);
        tokio::select! {
            result = wait => match result {
                Ok(async_imap::extensions::idle::IdleResponse::NewData(_)) => Woken::Change,
                Ok(_) => Woken::Interval,
                Err(e) => return Err(ImapError::Protocol("IDLE", e.to_string())),
            },
            _ = stop.wait_for(|s| *s) => {
                drop(interrupt);
                Woken::Stop
            }
        }
    };
    let session = timed("DONE", limit, handle.done()).await?;
    Ok((session, woken))
}

/// LOGOUT, best effort.
pub async fn logout(mut session: ImapSession, limit: Duration) {
    let _ = tokio::time::timeout(limit, session.logout()).await;
}
