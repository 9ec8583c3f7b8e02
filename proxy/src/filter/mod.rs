//! `danemail filter`: the engine as a stateless after-queue content filter
//! for Postfix (docs/FILTER.md). Postfix hands each queued message over
//! LMTP (`session`, `server`); per RCPT the DANE decision as in the proxy
//! (bogus 451 4.7.5, no answer 451 4.4.3: Postfix keeps those recipients
//! queued); after DATA the proxy's plan, each copy re-injected into
//! Postfix's filter-free smtpd (`deliver`), and one reply per recipient.
//! Postfix keeps the queue; the filter keeps nothing (`stats` only counts).

pub mod deliver;
pub mod server;
pub mod session;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use server::Listener;
use tokio::sync::broadcast;

use crate::config::{Config, FilterListen, UpstreamConfig, UpstreamSecurity};
use crate::dane::DaneLookup;
use crate::dns::SecureResolver;
use crate::relay::Relay;
use crate::smime::EncryptOptions;

/// Why the filter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("[filter] listen = {0} is not a loopback address; set [filter] danger_allow_non_loopback = true to allow it")]
    NotLoopback(std::net::SocketAddr),
    #[error("[filter] reinject = {0} must be a loopback address (plain SMTP without AUTH)")]
    ReinjectNotLoopback(std::net::SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("[filter] temp_dir {path}: {source}")]
    TempDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Dns(#[from] crate::dns::SetupError),
    #[error(transparent)]
    Relay(#[from] crate::relay::RelayError),
}

/// Binds the LMTP listener: a TCP address (refused when not loopback
/// unless allowed), or a unix socket (a stale socket file left by an
/// earlier run is replaced; anything else at the path is an error).
pub async fn bind(config: &Config) -> Result<Listener, FilterError> {
    let filter = &config.filter;
    let bind_error = |source| FilterError::Bind {
        addr: filter.listen.to_string(),
        source,
    };
    match &filter.listen {
        FilterListen::Tcp(addr) => {
            if !addr.ip().is_loopback() && !filter.danger_allow_non_loopback {
                return Err(FilterError::NotLoopback(*addr));
            }
            Ok(Listener::Tcp(
                TcpListener::bind(addr).await.map_err(bind_error)?,
            ))
        }
        #[cfg(unix)]
        FilterListen::Unix(path) => {
            use std::os::unix::fs::{FileTypeExt, PermissionsExt};
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                std::fs::remove_file(path).map_err(bind_error)?;
            }
            let listener = tokio::net::UnixListener::bind(path).map_err(bind_error)?;
            // Who may connect is decided by the directory, as for Postfix's
            // own sockets in private/: the socket itself is open to all.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
                .map_err(bind_error)?;
            Ok(Listener::Unix(listener))
        }
        #[cfg(not(unix))]
        FilterListen::Unix(_) => Err(bind_error(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "unix sockets need a Unix system",
        ))),
    }
}

/// Serves LMTP on `listener` until `shutdown` resolves.
pub async fn run(
    config: &Config,
    listener: Listener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), FilterError> {
    let filter = &config.filter;
    if !filter.reinject.ip().is_loopback() {
        return Err(FilterError::ReinjectNotLoopback(filter.reinject));
    }
    let temp_dir = filter.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&temp_dir).map_err(|source| FilterError::TempDir {
        path: temp_dir.display().to_string(),
        source,
    })?;
    let resolver = Arc::new(SecureResolver::new(&config.dns)?);
    let lookup =
        DaneLookup::new(resolver, config.policy.mode).with_preference(config.policy.prefer);
    let reinject = UpstreamConfig {
        host: filter.reinject.ip().to_string(),
        port: filter.reinject.port(),
        security: UpstreamSecurity::None,
        username: String::new(),
        password_file: None,
        ca_file: None,
        timeout_secs: filter.command_timeout_secs.max(1),
    };
    let stats = Arc::new(stats::Stats::default());
    let context = Arc::new(server::Context {
        session: session::SessionConfig {
            hostname: filter.hostname.clone(),
            max_message_size: filter.max_message_size,
            max_recipients: filter.max_recipients,
        },
        lookup,
        deliverer: deliver::Deliverer {
            relay: Relay::new(&reinject, None, &filter.hostname)?,
            options: EncryptOptions {
                cipher: config.smime.cipher,
                rsa_oaep: config.smime.rsa_oaep,
            },
            temp_dir,
            stats: stats.clone(),
        },
        stats: stats.clone(),
        max_connections: filter.max_connections,
        command_timeout: Duration::from_secs(filter.command_timeout_secs.max(1)),
        data_timeout: Duration::from_secs(filter.data_timeout_secs.max(1)),
        allow_non_loopback: filter.danger_allow_non_loopback,
    });
    tracing::info!(
        listen = %filter.listen,
        reinject = %filter.reinject,
        max_connections = filter.max_connections,
        "content filter ready (LMTP)"
    );
    let (stop, stopped) = broadcast::channel(1);
    let interval = filter.status_interval_secs;
    let reporter = tokio::spawn(async move {
        if interval > 0 {
            stats.report_every(Duration::from_secs(interval)).await;
        }
    });
    let server = tokio::spawn(server::serve(listener, context, stopped));
    shutdown.await;
    tracing::info!("content filter stopping");
    let _ = stop.send(());
    let _ = server.await;
    reporter.abort();
    Ok(())
}
