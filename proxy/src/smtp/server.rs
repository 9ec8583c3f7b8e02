//! The only part of SMTP that touches sockets: accept connections (bounded),
//! read commands and message data under deadlines, write replies, run the
//! lookups and the intake the session asks for, and switch to TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::canonical::MAX_LINE;
use super::data::{self, Commands};
use super::reply::Reply;
use super::session::{Session, SessionConfig, Step};
use super::wire::{Wire, WireError, READ_CHUNK};
use crate::config::SmtpConfig;
use crate::dane::{Action, DaneLookup};
use crate::events::{DecidedRecipient, Event, Events};
use crate::listener::Slot;
use crate::outbox::{Intake, IntakeError, MESSAGE_FILE};

/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("[smtp] listen = {0} is not a loopback address; set [smtp] danger_allow_non_loopback = true to allow it")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the listener, refusing a non-loopback address unless allowed.
pub async fn bind(config: &SmtpConfig) -> Result<TcpListener, ServerError> {
    if !config.listen.ip().is_loopback() && !config.danger_allow_non_loopback {
        return Err(ServerError::NotLoopback(config.listen));
    }
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })
}

fn decided(address: &str, decision: &crate::dane::Decision) -> DecidedRecipient {
    DecidedRecipient {
        address: address.to_owned(),
        decision: decision.action.name(),
        reason: decision.reason.clone(),
    }
}

/// Everything a connection needs, shared.
pub struct Context {
    pub session: SessionConfig,
    pub lookup: DaneLookup,
    pub intake: Arc<Intake>,
    pub outbox_wake: Arc<Notify>,
    pub events: Events,
    pub tls: Option<TlsAcceptor>,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
    /// Per command until AUTH succeeds (capped by `command_timeout`).
    pub pre_auth_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
}

/// Accepts connections until `shutdown`; each runs on its own task. Sessions
/// in progress then get a moment to finish their command: nothing
/// unacknowledged is lost, nothing acknowledged is in memory only.
pub async fn serve(
    listener: TcpListener,
    context: Arc<Context>,
    shutdown: broadcast::Receiver<()>,
) {
    let limits = crate::listener::Limits {
        max_connections: context.max_connections,
        max_per_peer: context.max_connections_per_peer,
        drain: Duration::from_secs(10),
    };
    crate::listener::accept_loop(
        listener,
        limits,
        shutdown,
        move |stream, peer, slot| {
            let context = context.clone();
            async move { connection(stream, peer, Arc::new(slot), &context).await }
        },
        |mut stream, _| {
            // Every slot is in an authenticated session: RFC 5321 §3.1.
            let reply = Reply::new(421, "4.3.2", "Too many connections; try again later");
            async move {
                let _ = stream.write_all(&reply.to_wire()).await;
            }
        },
    )
    .await;
}

async fn connection(stream: TcpStream, peer: SocketAddr, slot: Arc<Slot>, context: &Context) {
    let _ = stream.set_nodelay(true);
    let mut config = context.session.clone();
    config.auth_without_tls = peer.ip().is_loopback();
    config.tls_available = context.tls.is_some();
    let mut session = Session::new(Arc::new(config));
    let mut conn = Connection::new(stream, peer, slot.clone());
    conn.reply(&session.greeting());
    match conn.run(&mut session, context).await {
        Ok(Ending::Upgrade) => {
            let Some(acceptor) = &context.tls else { return };
            let handshake = tokio::select! {
                handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(conn.wire.stream)) => handshake,
                _ = slot.evicted() => return,
            };
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            session.tls_started();
            // Bytes pipelined after STARTTLS are dropped (RFC 3207 §4.2,
            // CVE-2011-0411): `Connection::new` starts empty.
            let mut conn = Connection::new(tls, peer, slot);
            if let Err(e) = conn.run(&mut session, context).await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        Ok(Ending::Close) => {}
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended"),
    }
}

enum Ending {
    Close,
    Upgrade,
}

#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("client closed the connection")]
    Closed,
    #[error("timed out")]
    Timeout,
    #[error("closed to make room for another client")]
    Evicted,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<WireError> for ConnectionError {
    fn from(error: WireError) -> Self {
        match error {
            WireError::Closed => Self::Closed,
            WireError::Timeout => Self::Timeout,
            WireError::Interrupted => Self::Evicted,
            WireError::Io(e) => Self::Io(e),
        }
    }
}

struct Connection<S> {
    wire: Wire<S>,
    peer: SocketAddr,
    /// Closable to make room until AUTH succeeds.
    slot: Arc<Slot>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn new(stream: S, peer: SocketAddr, slot: Arc<Slot>) -> Self {
        Self {
            wire: Wire::new(stream),
            peer,
            slot,
        }
    }

    async fn run(
        &mut self,
        session: &mut Session,
        context: &Context,
    ) -> Result<Ending, ConnectionError> {
        let mut commands = Commands::default();
        loop {
            let deadline = Instant::now() + command_timeout(session, context);
            let step = if session.in_auth_exchange() {
                let line = loop {
                    if let Some(line) = commands.auth_line(&mut self.wire.pending) {
                        break line;
                    }
                    if let Err(e) = self.fill(deadline).await {
                        return self.end_on(e).await;
                    }
                };
                session.auth_line(&String::from_utf8_lossy(&line))
            } else {
                let request = loop {
                    if let Some(parsed) = commands.next(&mut self.wire.pending) {
                        break parsed;
                    }
                    if let Err(e) = self.fill(deadline).await {
                        return self.end_on(e).await;
                    }
                };
                match request {
                    Ok(request) => {
                        if matches!(request, smtp_proto::Request::Mail { .. }) {
                            session.note_storage_room(storage_room(context));
                        }
                        session.handle(request)
                    }
                    Err(error) => Step::Reply(session.parse_error(&error)),
                }
            };
            match step {
                Step::Reply(reply) => self.reply(&reply),
                Step::Close(reply) => {
                    self.reply(&reply);
                    self.flush().await?;
                    return Ok(Ending::Close);
                }
                Step::StartTls(reply) => {
                    self.reply(&reply);
                    self.flush().await?;
                    return Ok(Ending::Upgrade);
                }
                Step::Lookup(address) => {
                    let (decision, _) = context.lookup.decide(&address).await;
                    tracing::info!(
                        peer = %self.peer,
                        recipient = %address,
                        decision = decision.action.name(),
                        reason = %decision.reason,
                        "recipient"
                    );
                    if !(decision.action.encrypts() || matches!(decision.action, Action::Plaintext))
                    {
                        let _ = context
                            .events
                            .send(Event::Held(decided(&address.original, &decision)));
                    }
                    let reply = session.recipient_decided(&address, decision);
                    self.reply(&reply);
                }
                Step::ReadData(reply) => {
                    self.reply(&reply);
                    self.flush().await?;
                    let reply = self.message(session, context).await?;
                    self.reply(&reply);
                }
            }
            // Authenticated: never closed to make room.
            if session.user().is_some() && !self.slot.busy() {
                return self.end_on(ConnectionError::Evicted).await;
            }
            if self.wire.pending.is_empty() {
                self.flush().await?;
            }
        }
    }

    /// Reads the message after 354 into a new outbox entry and queues it.
    async fn message(
        &mut self,
        session: &mut Session,
        context: &Context,
    ) -> Result<Reply, ConnectionError> {
        let deadline = Instant::now() + context.data_timeout;
        let limit = session_limit(context);
        let incoming = match context.intake.spool().incoming() {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::error!(error = %e, "cannot create an outbox entry");
                self.discard_data(deadline).await?;
                return Ok(storage_error_reply(&e));
            }
        };
        let path = incoming.dir.join(MESSAGE_FILE);
        let mut file =
            tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::create(&path).await?);
        let mut data = data::Message::default();
        let mut out: Vec<u8> = Vec::with_capacity(2 * READ_CHUNK);
        let mut too_big = false;
        let mut write_error: Option<std::io::Error> = None;
        loop {
            out.clear();
            let done = data.push(&mut self.wire.pending, &mut out);
            if data.size > limit {
                too_big = true;
            } else if write_error.is_none() {
                // A full disk: the rest is read and dropped, and the client
                // gets 452 after its final dot, never a silent close.
                if let Err(e) = file.write_all(&out).await {
                    write_error = Some(e);
                }
            }
            if done {
                break;
            }
            if let Err(e) = self.fill(deadline).await {
                return match e {
                    ConnectionError::Timeout => {
                        self.reply(&Reply::new(
                            421,
                            "4.4.2",
                            "Timeout waiting for data; closing",
                        ));
                        let _ = self.flush().await;
                        Err(ConnectionError::Timeout)
                    }
                    other => Err(other),
                };
            }
        }
        if write_error.is_none() {
            if let Err(e) = file.flush().await {
                write_error = Some(e);
            }
        }
        drop(file);
        if let Some(e) = write_error {
            session.take_transaction();
            tracing::error!(peer = %self.peer, error = %e, "cannot write a message into the outbox");
            return Ok(storage_error_reply(&e));
        }
        let Some(envelope) = session.take_transaction() else {
            return Ok(Reply::new(503, "5.5.1", "No transaction"));
        };
        if too_big {
            return Ok(Reply::new(552, "5.3.4", "Message too big"));
        }
        if data.size == 0 {
            // RFC 5321 §4.1.1.4 allows it; RFC 5322 does not (no From, no
            // Date): refused with words rather than relayed as nothing.
            return Ok(Reply::new(
                554,
                "5.6.0",
                "Empty message: nothing after 354 but the final dot (RFC 5322 needs at least From and Date)",
            ));
        }
        if data.longest_line() > MAX_LINE {
            tracing::info!(peer = %self.peer, longest = data.longest_line(), "message refused: a line is too long");
            return Ok(Reply::new(
                554,
                "5.6.0",
                format!(
                    "A line has {} octets; at most {MAX_LINE} are allowed (RFC 5322 2.1.1): \
                     have the mail program encode it (quoted-printable or base64)",
                    data.longest_line()
                ),
            ));
        }
        if data.normalised() > 0 {
            tracing::info!(peer = %self.peer, count = data.normalised(), "bare CR or LF line ends normalised to CRLF");
        }
        let intake = context.intake.clone();
        let from = envelope.from.clone();
        let recipients = envelope.recipients.clone();
        let queued =
            tokio::task::spawn_blocking(move || intake.receive(incoming, &from, &recipients)).await;
        match queued {
            Ok(Ok(receipt)) => {
                let id = receipt.id;
                for (recipient, decision) in &envelope.recipients {
                    tracing::info!(
                        %id,
                        from = %envelope.from,
                        %recipient,
                        encrypted = decision.action.standard().unwrap_or("no"),
                        "queued"
                    );
                }
                let _ = context.events.send(Event::Accepted {
                    id: id.clone(),
                    from: envelope.from.clone(),
                    subject: receipt.subject,
                    size: receipt.size,
                    recipients: envelope
                        .recipients
                        .iter()
                        .map(|(address, decision)| decided(address, decision))
                        .collect(),
                });
                context.outbox_wake.notify_one();
                Ok(Reply::new(250, "2.0.0", format!("Queued as {id}")))
            }
            Ok(Err(IntakeError::Mime(e))) => {
                tracing::info!(peer = %self.peer, error = %e, "message refused");
                Ok(Reply::new(
                    554,
                    "5.6.0",
                    format!("Message content not accepted: {e}"),
                ))
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "queueing failed");
                Ok(storage_error_reply(&e))
            }
            Err(e) => {
                tracing::error!(error = %e, "queueing task failed");
                Ok(Reply::new(
                    451,
                    "4.3.0",
                    "Local error in processing; try again later",
                ))
            }
        }
    }

    async fn discard_data(&mut self, deadline: Instant) -> Result<(), ConnectionError> {
        let mut data = data::Message::default();
        let mut sink = Vec::new();
        loop {
            let done = data.push(&mut self.wire.pending, &mut sink);
            sink.clear();
            if done {
                return Ok(());
            }
            self.fill(deadline).await?;
        }
    }

    /// Reads more bytes into `pending`, flushing replies first; a
    /// connection closed to make room stops waiting.
    async fn fill(&mut self, deadline: Instant) -> Result<(), ConnectionError> {
        Ok(self.wire.fill(deadline, self.slot.evicted()).await?)
    }

    fn reply(&mut self, reply: &Reply) {
        self.wire.reply(reply);
    }

    async fn flush(&mut self) -> Result<(), ConnectionError> {
        Ok(self.wire.flush().await?)
    }

    /// Ends the connection after a read error: a timeout gets 421 (RFC 5321
    /// §4.5.3.2), so does a connection closed to make room; a closed
    /// connection nothing.
    async fn end_on(&mut self, error: ConnectionError) -> Result<Ending, ConnectionError> {
        let reply = match error {
            ConnectionError::Timeout => {
                tracing::info!(peer = %self.peer, "client too slow; closing");
                Reply::new(421, "4.4.2", "Timeout; closing connection")
            }
            ConnectionError::Evicted => {
                tracing::debug!(peer = %self.peer, "closing an unauthenticated connection to make room");
                Reply::new(
                    421,
                    "4.3.2",
                    "Too many connections: closing this unauthenticated one to make room",
                )
            }
            _ => return Err(error),
        };
        self.reply(&reply);
        // A peer that does not read cannot hold the slot by it.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.flush()).await;
        Err(error)
    }
}

/// How much a new message may take of the outbox's free space: a third,
/// since planning writes each encrypted copy (base64, ~1.4×) beside the
/// received one before that is removed.
fn storage_room(context: &Context) -> Option<u64> {
    context.intake.spool().free_bytes().map(|free| free / 3)
}

/// The reply for a local failure to store a message: 452 4.3.1 when the
/// disk is full (RFC 3463: mail system full), else 451 4.3.0.
fn storage_error_reply(error: &(dyn std::error::Error + 'static)) -> Reply {
    let mut cause = Some(error);
    let mut full = false;
    while let Some(e) = cause {
        full |= e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        });
        cause = e.source();
    }
    if full {
        Reply::new(
            452,
            "4.3.1",
            "Insufficient system storage: the outbox's disk is full; try again later",
        )
    } else {
        Reply::new(451, "4.3.0", "Local error in processing; try again later")
    }
}

/// Until AUTH succeeds a command gets the short pre-AUTH time: an idle,
/// unauthenticated client does not hold a slot for the full command timeout.
fn command_timeout(session: &Session, context: &Context) -> Duration {
    if session.user().is_some() {
        context.command_timeout
    } else {
        context.pre_auth_timeout.min(context.command_timeout)
    }
}

fn session_limit(context: &Context) -> usize {
    context.session.max_message_size
}
