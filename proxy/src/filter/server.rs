//! The filter's sockets: accept Postfix's LMTP connections (TCP or a unix
//! socket; bounded, no eviction: every one carries queued mail), read
//! commands and the message under deadlines, run the lookups the session
//! asks for, stream the message to a temporary file (memory flat in the
//! message size), and answer once per recipient after the copies are
//! re-injected.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::deliver::Deliverer;
use super::session::{Session, SessionConfig, Step};
use super::stats::Stats;
use crate::dane::DaneLookup;
use crate::smtp::canonical::MAX_LINE;
use crate::smtp::data::{self, Commands};
use crate::smtp::wire::{Wire, WireError, READ_CHUNK};
use crate::smtp::Reply;

/// After shutdown, how long sessions get to finish.
const DRAIN: Duration = Duration::from_secs(30);

/// Everything a connection needs, shared by all of them (the DNS verdict
/// cache lives in `lookup`'s resolver).
pub struct Context {
    pub session: SessionConfig,
    pub lookup: DaneLookup,
    pub deliverer: Deliverer,
    pub stats: Arc<Stats>,
    pub max_connections: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// Whether TCP peers other than loopback may talk LMTP.
    pub allow_non_loopback: bool,
}

/// A bound listener: TCP, or a unix socket.
pub enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener),
}

/// Accepts connections until `shutdown`; each runs on its own task.
pub async fn serve(listener: Listener, context: Arc<Context>, shutdown: broadcast::Receiver<()>) {
    match listener {
        Listener::Tcp(listener) => serve_tcp(listener, context, shutdown).await,
        #[cfg(unix)]
        Listener::Unix(listener) => serve_unix(listener, context, shutdown).await,
    }
}

fn too_many() -> Reply {
    // Postfix defers and retries (RFC 5321 §3.1).
    Reply::new(421, "4.3.2", "Too many connections; try again later")
}

async fn serve_tcp(
    listener: TcpListener,
    context: Arc<Context>,
    shutdown: broadcast::Receiver<()>,
) {
    let limits = crate::listener::Limits {
        max_connections: context.max_connections,
        max_per_peer: context.max_connections,
        drain: DRAIN,
    };
    crate::listener::accept_loop(
        listener,
        limits,
        shutdown,
        move |stream, peer, slot| {
            let context = context.clone();
            async move {
                // Postfix's sessions are never closed to make room.
                slot.busy();
                let _ = stream.set_nodelay(true);
                if !peer.ip().is_loopback() && !context.allow_non_loopback {
                    tracing::warn!(%peer, "LMTP from a non-loopback peer refused ([filter] danger_allow_non_loopback)");
                    let mut conn = Connection::new(stream, peer.to_string());
                    conn.reply(&Reply::new(554, "5.7.1", "Not accepting LMTP from this host"));
                    let _ = conn.flush().await;
                    return;
                }
                connection(stream, peer.to_string(), &context).await;
                drop(slot);
            }
        },
        |mut stream, _| async move {
            let _ = stream.write_all(&too_many().to_wire()).await;
        },
    )
    .await;
}

/// A unix socket: who may connect is the socket directory's permissions;
/// sessions are bounded the same way, 421 when every slot is taken.
#[cfg(unix)]
async fn serve_unix(
    listener: UnixListener,
    context: Arc<Context>,
    mut shutdown: broadcast::Receiver<()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(context.max_connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let mut stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let context = context.clone();
                tasks.spawn(async move {
                    connection(stream, "unix socket".into(), &context).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tasks.spawn(async move {
                    let reply = too_many().to_wire();
                    let write = stream.write_all(&reply);
                    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
                });
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(stream: S, peer: String, context: &Context) {
    context.stats.session_started();
    let mut conn = Connection::new(stream, peer);
    let mut session = Session::new(context.session.clone());
    conn.reply(&session.greeting());
    if let Err(e) = conn.run(&mut session, context).await {
        tracing::debug!(peer = %conn.peer, error = %e, "LMTP connection ended");
    }
    context.stats.session_ended();
}

type ConnectionError = WireError;

struct Connection<S> {
    wire: Wire<S>,
    peer: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn new(stream: S, peer: String) -> Self {
        Self {
            wire: Wire::new(stream),
            peer,
        }
    }

    async fn run(
        &mut self,
        session: &mut Session,
        context: &Context,
    ) -> Result<(), ConnectionError> {
        let mut commands = Commands::default();
        loop {
            let deadline = Instant::now() + context.command_timeout;
            let request = loop {
                if let Some(parsed) = commands.next(&mut self.wire.pending) {
                    break parsed;
                }
                if let Err(e) = self.fill(deadline).await {
                    if matches!(e, ConnectionError::Timeout) {
                        self.reply(&Reply::new(421, "4.4.2", "Timeout; closing connection"));
                        let _ = self.flush().await;
                    }
                    return Err(e);
                }
            };
            let step = match request {
                Ok(request) => session.handle(request),
                Err(error) => Step::Reply(session.parse_error(&error)),
            };
            match step {
                Step::Reply(reply) => self.reply(&reply),
                Step::Close(reply) => {
                    self.reply(&reply);
                    self.flush().await?;
                    return Ok(());
                }
                Step::Lookup(address) => {
                    let started = std::time::Instant::now();
                    let (decision, _) = context.lookup.decide(&address).await;
                    context.stats.lookup(started.elapsed());
                    tracing::info!(
                        recipient = %address,
                        decision = decision.action.name(),
                        reason = %decision.reason,
                        "recipient"
                    );
                    let reply = session.recipient_decided(&address, decision);
                    if !reply.is_positive() {
                        context.stats.held_at_rcpt();
                    }
                    self.reply(&reply);
                }
                Step::ReadData(reply) => {
                    self.reply(&reply);
                    self.flush().await?;
                    let replies = self.message(session, context).await?;
                    for reply in &replies {
                        self.reply(reply);
                    }
                }
            }
            if self.wire.pending.is_empty() {
                self.flush().await?;
            }
        }
    }

    /// Reads the message after 354 into a temporary file, then has its
    /// copies re-injected: one reply per accepted recipient, in order.
    async fn message(
        &mut self,
        session: &mut Session,
        context: &Context,
    ) -> Result<Vec<Reply>, ConnectionError> {
        let deadline = Instant::now() + context.data_timeout;
        let limit = context.session.max_message_size;
        let temp_dir = &context.deliverer.temp_dir;
        let spooled = tempfile::Builder::new()
            .prefix("danemail-lmtp-")
            .tempfile_in(temp_dir);
        let mut file = match &spooled {
            Ok(temp) => Some(tokio::io::BufWriter::with_capacity(
                256 * 1024,
                tokio::fs::File::from_std(temp.reopen()?),
            )),
            Err(e) => {
                tracing::error!(dir = %temp_dir.display(), error = %e, "cannot create a temporary file");
                None
            }
        };
        let mut data = data::Message::default();
        let mut out: Vec<u8> = Vec::with_capacity(2 * READ_CHUNK);
        let mut write_error: Option<std::io::Error> = None;
        loop {
            out.clear();
            let done = data.push(&mut self.wire.pending, &mut out);
            if data.size <= limit && write_error.is_none() {
                if let Some(file) = &mut file {
                    if let Err(e) = file.write_all(&out).await {
                        write_error = Some(e);
                    }
                }
            }
            if done {
                break;
            }
            if let Err(e) = self.fill(deadline).await {
                if matches!(e, ConnectionError::Timeout) {
                    self.reply(&Reply::new(
                        421,
                        "4.4.2",
                        "Timeout waiting for data; closing",
                    ));
                    let _ = self.flush().await;
                }
                return Err(e);
            }
        }
        if let (Some(file), None) = (&mut file, &write_error) {
            if let Err(e) = file.flush().await {
                write_error = Some(e);
            }
        }
        drop(file);
        let Some(envelope) = session.take_transaction() else {
            return Ok(vec![Reply::new(503, "5.5.1", "No transaction")]);
        };
        let all = |reply: Reply| envelope.recipients.iter().map(|_| reply.clone()).collect();
        let spooled = match (spooled, write_error) {
            (Ok(spooled), None) => spooled,
            (_, Some(e)) => {
                tracing::error!(error = %e, "cannot write a message to the temporary directory");
                return Ok(all(Reply::new(
                    452,
                    "4.3.1",
                    "Insufficient system storage; try again later",
                )));
            }
            (Err(_), None) => {
                return Ok(all(Reply::new(
                    451,
                    "4.3.0",
                    "Local error in processing; try again later",
                )));
            }
        };
        if data.size > limit {
            return Ok(all(Reply::new(552, "5.3.4", "Message too big")));
        }
        if data.size == 0 {
            return Ok(all(Reply::new(554, "5.6.0", "Empty message")));
        }
        if data.longest_line() > MAX_LINE {
            return Ok(all(Reply::new(
                554,
                "5.6.0",
                format!(
                    "A line has {} octets; at most {MAX_LINE} are allowed (RFC 5322 2.1.1)",
                    data.longest_line()
                ),
            )));
        }
        context.stats.message();
        let file = spooled.reopen()?;
        let replies = context.deliverer.deliver(file, &envelope).await;
        for ((recipient, _), reply) in envelope.recipients.iter().zip(&replies) {
            tracing::info!(
                peer = %self.peer,
                from = %envelope.from,
                %recipient,
                code = reply.code,
                reply = %reply.lines.join(" "),
                "recipient done"
            );
        }
        // The temporary file goes with `spooled`.
        Ok(replies)
    }

    /// Reads more bytes (flushing replies first); Postfix's sessions are
    /// never interrupted.
    async fn fill(&mut self, deadline: Instant) -> Result<(), ConnectionError> {
        self.wire.fill(deadline, std::future::pending()).await
    }

    fn reply(&mut self, reply: &Reply) {
        self.wire.reply(reply);
    }

    async fn flush(&mut self) -> Result<(), ConnectionError> {
        Ok(self.wire.flush().await?)
    }
}
