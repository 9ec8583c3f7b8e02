//! The LDAP listener: BER framing by ldap3_proto's codec, one task per
//! connection, bounded connections and message size, and each operation
//! answered with its proper result — never a dropped connection except for
//! malformed input, which closes only that connection, and an idle one
//! closed to make room (see crate::listener).
//!
//! Malformed input is logged at WARN with at most [`EXCERPT`] bytes of it,
//! escaped, and at most 5 such lines per 10 s (the next line counts the
//! suppressed ones): ldap3_proto's own logging, which prints whole messages
//! at ERROR, is silenced while it decodes.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapExtendedResponse, LdapMsg, LdapOp, LdapResultCode,
    LdapSearchRequest,
};
use ldap3_proto::LdapCodec;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, Framed};

use super::directory::{self, result};
use crate::config::LdapConfig;
use crate::dane::{Action, DaneLookup};
use crate::dns::Security;
use crate::listener::{excerpt, LogBudget, Slot};

/// Largest LDAP message accepted: address-book requests are a few hundred
/// bytes; anything near this is an attack.
const MAX_MESSAGE: usize = 64 * 1024;

/// Deepest BER nesting accepted (filters nest And/Or/Not).
const MAX_DEPTH: usize = 32;

/// Bytes of a malformed message shown in the log.
const EXCERPT: usize = 200;

/// Lines about malformed input: a peer can cause them at will.
static MALFORMED: LogBudget = LogBudget::new(5, Duration::from_secs(10));

/// A dispatcher that drops everything, for ldap3_proto's decoding.
static SILENT: LazyLock<tracing::Dispatch> = LazyLock::new(tracing::Dispatch::none);

/// ldap3_proto's codec, with its logging silenced (it logs the raw bytes of
/// malformed input at ERROR) and the start of the input kept for our own,
/// bounded line.
struct QuietCodec {
    inner: LdapCodec,
    /// The first [`EXCERPT`] bytes the last decode saw.
    head: Vec<u8>,
    /// How many bytes the last decode saw.
    seen: usize,
}

impl QuietCodec {
    fn new() -> Self {
        Self {
            inner: LdapCodec::new(Some(MAX_MESSAGE), Some(MAX_DEPTH)),
            head: Vec::with_capacity(EXCERPT),
            seen: 0,
        }
    }
}

impl Decoder for QuietCodec {
    type Item = LdapMsg;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<LdapMsg>, Self::Error> {
        self.head.clear();
        self.head.extend_from_slice(&buf[..buf.len().min(EXCERPT)]);
        self.seen = buf.len();
        let inner = &mut self.inner;
        tracing::dispatcher::with_default(&SILENT, || inner.decode(buf))
    }
}

impl Encoder<LdapMsg> for QuietCodec {
    type Error = std::io::Error;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), Self::Error> {
        self.inner.encode(msg, buf)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("[ldap] listen = {0} is not a loopback address; set [ldap] danger_allow_non_loopback = true to allow it")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What every connection shares.
pub struct LdapContext {
    pub base_dn: String,
    pub lookup: DaneLookup,
    /// The optional local bind password; `None`: anonymous and any simple bind.
    pub password: Option<String>,
    pub search_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
}

pub async fn bind(config: &LdapConfig) -> Result<TcpListener, LdapError> {
    if !config.listen.ip().is_loopback() && !config.danger_allow_non_loopback {
        return Err(LdapError::NotLoopback(config.listen));
    }
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| LdapError::Bind {
            addr: config.listen,
            source,
        })
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    context: Arc<LdapContext>,
    shutdown: broadcast::Receiver<()>,
) {
    let limits = crate::listener::Limits {
        max_connections: context.max_connections,
        max_per_peer: context.max_connections_per_peer,
        drain: Duration::from_secs(1),
    };
    crate::listener::accept_loop(
        listener,
        limits,
        shutdown,
        move |stream, peer, slot| {
            let context = context.clone();
            async move { connection(stream, peer, slot, &context).await }
        },
        // Every connection is in a search: the client retries.
        |stream, _| async move { drop(stream) },
    )
    .await;
}

async fn connection(stream: TcpStream, peer: SocketAddr, slot: Slot, context: &LdapContext) {
    let mut framed = Framed::new(stream, QuietCodec::new());
    loop {
        // Between requests the connection may be closed to make room.
        if !slot.idle() {
            return;
        }
        let next = tokio::select! {
            next = tokio::time::timeout(context.idle_timeout, framed.next()) => next,
            _ = slot.evicted() => {
                tracing::debug!(%peer, "LDAP: closing an idle connection to make room");
                return;
            }
        };
        let message = match next {
            Err(_) => return,
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                if let Some(suppressed) = MALFORMED.take() {
                    let codec = framed.codec();
                    tracing::warn!(
                        %peer,
                        error = %e,
                        input = %excerpt(&codec.head, codec.seen, EXCERPT),
                        suppressed,
                        "LDAP: malformed or oversized message; closing"
                    );
                }
                return;
            }
            Ok(Some(Ok(message))) => message,
        };
        if !slot.busy() {
            return;
        }
        let msgid = message.msgid;
        let replies = match message.op {
            LdapOp::UnbindRequest => return,
            LdapOp::AbandonRequest(_) => Vec::new(),
            LdapOp::BindRequest(request) => {
                let res = match (&request.cred, &context.password) {
                    _ if request.version != 3 => {
                        result(LdapResultCode::ProtocolError, "only LDAPv3")
                    }
                    (LdapBindCred::Simple(given), _)
                        if request.dn.is_empty() && given.is_empty() =>
                    {
                        result(LdapResultCode::Success, "")
                    }
                    (LdapBindCred::Simple(_), None) => result(LdapResultCode::Success, ""),
                    (LdapBindCred::Simple(given), Some(password)) if given == password => {
                        result(LdapResultCode::Success, "")
                    }
                    (LdapBindCred::Simple(_), Some(_)) => {
                        result(LdapResultCode::InvalidCredentials, "wrong password")
                    }
                    _ => result(LdapResultCode::AuthMethodNotSupported, "only simple bind"),
                };
                vec![LdapOp::BindResponse(LdapBindResponse {
                    res,
                    saslcreds: None,
                })]
            }
            LdapOp::SearchRequest(request) => search(&request, context, peer).await,
            LdapOp::ExtendedRequest(request) => {
                vec![LdapOp::ExtendedResponse(LdapExtendedResponse {
                    // RFC 4511 §4.12: an unsupported extended operation is a
                    // protocolError (StartTLS included: loopback only).
                    res: result(
                        LdapResultCode::ProtocolError,
                        format!("extended operation {} not supported", request.name),
                    ),
                    name: None,
                    value: None,
                })]
            }
            LdapOp::ModifyRequest(_) => vec![LdapOp::ModifyResponse(read_only())],
            LdapOp::AddRequest(_) => vec![LdapOp::AddResponse(read_only())],
            LdapOp::DelRequest(_) => vec![LdapOp::DelResponse(read_only())],
            LdapOp::ModifyDNRequest(_) => vec![LdapOp::ModifyDNResponse(read_only())],
            LdapOp::CompareRequest(_) => vec![LdapOp::CompareResult(read_only())],
            other => {
                if let Some(suppressed) = MALFORMED.take() {
                    tracing::warn!(%peer, op = ?std::mem::discriminant(&other), suppressed, "LDAP: a response sent as a request; closing");
                }
                return;
            }
        };
        for op in replies {
            if framed
                .feed(LdapMsg {
                    msgid,
                    op,
                    ctrl: Vec::new(),
                })
                .await
                .is_err()
            {
                return;
            }
        }
        if framed.flush().await.is_err() {
            return;
        }
    }
}

fn read_only() -> ldap3_proto::proto::LdapResult {
    result(
        LdapResultCode::UnwillingToPerform,
        "this directory is read-only",
    )
}

async fn search(
    request: &LdapSearchRequest,
    context: &LdapContext,
    peer: SocketAddr,
) -> Vec<LdapOp> {
    if directory::is_root_dse(request) {
        return vec![
            LdapOp::SearchResultEntry(directory::root_dse(&context.base_dn, request)),
            LdapOp::SearchResultDone(result(LdapResultCode::Success, "")),
        ];
    }
    if !request.base.is_empty() && !directory::within(&request.base, &context.base_dn) {
        return vec![LdapOp::SearchResultDone(result(
            LdapResultCode::NoSuchObject,
            format!("this directory holds {}", context.base_dn),
        ))];
    }
    let mut addresses = directory::addresses_in(&request.filter);
    // Prefixes ("ali…") match recipients recently proven to have a
    // certificate; DNS itself cannot be searched by prefix.
    for prefix in directory::prefixes_in(&request.filter) {
        for address in context
            .lookup
            .recent()
            .starting_with(&prefix, directory::MAX_ADDRESSES)
        {
            if addresses.len() < directory::MAX_ADDRESSES
                && !addresses
                    .iter()
                    .any(|a| a.original.eq_ignore_ascii_case(&address.original))
            {
                addresses.push(address);
            }
        }
    }
    // RFC 4511 §4.5.1.5: the client's time limit, capped by ours.
    let limit = match request.timelimit {
        t if t > 0 => context.search_timeout.min(Duration::from_secs(t as u64)),
        _ => context.search_timeout,
    };
    let lookups = futures_util::future::join_all(
        addresses
            .iter()
            .map(|address| context.lookup.decide(address)),
    );
    let decisions = match tokio::time::timeout(limit, lookups).await {
        Ok(decisions) => decisions,
        Err(_) => {
            return vec![LdapOp::SearchResultDone(result(
                LdapResultCode::TimeLimitExceeded,
                "DNS lookups did not finish in time",
            ))]
        }
    };
    let mut replies = Vec::new();
    for (address, (decision, finding)) in addresses.iter().zip(decisions) {
        match (&decision.action, finding.security) {
            (Action::Encrypt(certificates), Security::Secure) => {
                for entry in directory::entries(address, certificates, &context.base_dn, request) {
                    replies.push(LdapOp::SearchResultEntry(entry));
                }
            }
            _ => {
                tracing::info!(%peer, recipient = %address, reason = %decision.reason, "LDAP: no certificate")
            }
        }
    }
    let size = usize::try_from(request.sizelimit).unwrap_or(0);
    if size > 0 && replies.len() > size {
        replies.truncate(size);
        replies.push(LdapOp::SearchResultDone(result(
            LdapResultCode::SizeLimitExceeded,
            "",
        )));
    } else {
        replies.push(LdapOp::SearchResultDone(result(
            LdapResultCode::Success,
            "",
        )));
    }
    replies
}
