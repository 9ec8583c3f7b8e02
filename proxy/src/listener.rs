//! The accept loop both local servers (SMTP, LDAP) share: a bounded number
//! of connections, one task each, and a shutdown that stops accepting and
//! gives live connections a moment to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Semaphore};

/// Accepts until `shutdown`; `handle` serves one connection. After
/// shutdown, connections get `drain` to finish, then are aborted.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    drain: Duration,
    mut shutdown: broadcast::Receiver<()>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // The permit is taken before accept: beyond the limit, clients wait in
    // the kernel's backlog instead of costing a task each.
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.recv() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        let connection = handle(stream, peer);
        tasks.spawn(async move {
            connection.await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}
