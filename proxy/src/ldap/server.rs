//! The LDAP listener: one task per connection over [`Codec`], bounded
//! connections, and each operation answered with its proper result (see
//! `request.rs` and `directory.rs`) — never a dropped connection except for
//! malformed input, which closes only that connection, and an idle one
//! closed to make room (see crate::listener).
//!
//! Malformed input is logged at WARN with at most [`EXCERPT`] bytes of it,
//! escaped, and at most 5 such lines per 10 s (the next line counts the
//! suppressed ones).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::proto::{LdapMsg, LdapOp, LdapResultCode, LdapSearchRequest};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::codec::Framed;

use super::codec::{Codec, EXCERPT};
use super::directory::{self, result, SearchPlan};
use super::request::{answer, Answer};
use crate::config::LdapConfig;
use crate::dane::{Action, DaneLookup};
use crate::dns::Security;
use crate::listener::{excerpt, LogBudget, Slot};

/// Lines about malformed input: a peer can cause them at will.
static MALFORMED: LogBudget = LogBudget::new(5, Duration::from_secs(10));

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
    let mut framed = Framed::new(stream, Codec::default());
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
                        input = %excerpt(codec.head(), codec.seen(), EXCERPT),
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
        let replies = match answer(message.op, context.password.as_deref()) {
            Answer::Replies(replies) => replies,
            Answer::Search(request) => search(&request, context, peer).await,
            Answer::Close => return,
            Answer::Malformed => {
                if let Some(suppressed) = MALFORMED.take() {
                    tracing::warn!(%peer, suppressed, "LDAP: a response sent as a request; closing");
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

async fn search(
    request: &LdapSearchRequest,
    context: &LdapContext,
    peer: SocketAddr,
) -> Vec<LdapOp> {
    let (mut addresses, prefixes) = match directory::plan(request, &context.base_dn) {
        SearchPlan::Answered(replies) => return replies,
        SearchPlan::Lookup {
            addresses,
            prefixes,
        } => (addresses, prefixes),
    };
    // Prefixes ("ali…") match recipients recently proven to have a
    // certificate; DNS itself cannot be searched by prefix.
    for prefix in prefixes {
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
    let Ok(decisions) = tokio::time::timeout(limit, lookups).await else {
        return vec![LdapOp::SearchResultDone(result(
            LdapResultCode::TimeLimitExceeded,
            "DNS lookups did not finish in time",
        ))];
    };
    let found: Vec<_> = addresses
        .into_iter()
        .zip(&decisions)
        .map(|(address, (decision, finding))| {
            let certificates = match (&decision.action, finding.security) {
                (Action::Encrypt(certificates), Security::Secure) => Some(certificates.as_slice()),
                _ => {
                    tracing::info!(%peer, recipient = %address, reason = %decision.reason, "LDAP: no certificate");
                    None
                }
            };
            (address, certificates)
        })
        .collect();
    directory::replies(request, &context.base_dn, &found)
}
