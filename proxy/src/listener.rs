//! The accept loop both local servers (SMTP, LDAP) share: connections are
//! bounded in total and per peer, one task each, and a shutdown that stops
//! accepting and gives live connections a moment to finish.
//!
//! A full listener makes room instead of making a new client wait: the
//! connection that has been *idle* longest (SMTP: not yet authenticated,
//! counted from its connect; LDAP: between requests) is closed. On loopback
//! every client is the same peer (127.0.0.1), so a per-peer cap alone would
//! lock the real mail client out together with the idlers; closing the
//! oldest idle connection lets it in whatever the idlers do, and reserving
//! slots for authenticated sessions would not (a new client is not
//! authenticated yet when it connects). Only when every slot is busy is a new
//! connection refused (SMTP: 421), rather than left unanswered in the backlog.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

/// How many connections a listener holds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// In all.
    pub max_connections: usize,
    /// From one IP address.
    pub max_per_peer: usize,
    /// After shutdown, how long connections get to finish.
    pub drain: Duration,
}

/// Time allowed to tell a refused client so.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts until `shutdown`; `handle` serves one connection in its
/// [`Slot`], `refuse` answers one that finds every slot busy. After shutdown,
/// connections get `limits.drain` to finish, then are aborted.
pub async fn accept_loop<F, Fut, R, RFut>(
    listener: TcpListener,
    limits: Limits,
    mut shutdown: broadcast::Receiver<()>,
    handle: F,
    refuse: R,
) where
    F: Fn(TcpStream, SocketAddr, Slot) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
    R: Fn(TcpStream, SocketAddr) -> RFut,
    RFut: Future<Output = ()> + Send + 'static,
{
    let table = Arc::new(Table::default());
    let mut tasks = tokio::task::JoinSet::new();
    let budget = LogBudget::new(5, Duration::from_secs(10));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        match table.admit(peer.ip(), limits) {
            Admission::Admitted { slot, evicted } => {
                if evicted {
                    if let Some(suppressed) = budget.take() {
                        tracing::info!(%peer, suppressed, "listener full: closed the oldest idle connection to make room");
                    }
                }
                let connection = handle(stream, peer, slot);
                tasks.spawn(connection);
            }
            Admission::Refused => {
                if let Some(suppressed) = budget.take() {
                    tracing::warn!(%peer, suppressed, "listener full of busy connections: refusing a new one");
                }
                let refusal = refuse(stream, peer);
                tasks.spawn(async move {
                    let _ = tokio::time::timeout(REFUSE_TIMEOUT, refusal).await;
                });
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let drain = limits.drain;
    let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

#[derive(Default)]
struct Table {
    slots: Mutex<Vec<Arc<Shared>>>,
    next_id: std::sync::atomic::AtomicU64,
}

enum Admission {
    Admitted { slot: Slot, evicted: bool },
    Refused,
}

impl Table {
    fn admit(self: &Arc<Self>, peer: IpAddr, limits: Limits) -> Admission {
        let mut slots = self.slots.lock().expect("the slot table is never poisoned");
        // Connections being closed to make room no longer count.
        let live = || slots.iter().filter(|s| !s.is_evicted());
        let total = live().count();
        let from_peer = live().filter(|s| s.peer == peer).count();
        let mut evicted = false;
        if from_peer >= limits.max_per_peer.max(1) || total >= limits.max_connections.max(1) {
            // Per-peer cap: only that peer's connections make room for it.
            let only_peer = from_peer >= limits.max_per_peer.max(1);
            let oldest = slots
                .iter()
                .filter(|s| !only_peer || s.peer == peer)
                .filter_map(|s| s.idle_since().map(|since| (since, s)))
                .min_by_key(|(since, _)| *since)
                .map(|(_, s)| s.clone());
            match oldest {
                Some(victim) if victim.evict() => evicted = true,
                _ => return Admission::Refused,
            }
        }
        let shared = Arc::new(Shared {
            id: self
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            peer,
            state: Mutex::new(State::Idle(Instant::now())),
            evict: Notify::new(),
        });
        slots.push(shared.clone());
        Admission::Admitted {
            slot: Slot {
                shared,
                table: self.clone(),
            },
            evicted,
        }
    }

    fn remove(&self, id: u64) {
        let mut slots = self.slots.lock().expect("the slot table is never poisoned");
        slots.retain(|s| s.id != id);
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// May be closed to make room; idle since then.
    Idle(Instant),
    /// Serving: never closed to make room.
    Busy,
    /// Told to close.
    Evicted,
}

struct Shared {
    id: u64,
    peer: IpAddr,
    state: Mutex<State>,
    evict: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("a slot's state is never poisoned")
    }

    fn is_evicted(&self) -> bool {
        matches!(*self.lock(), State::Evicted)
    }

    fn idle_since(&self) -> Option<Instant> {
        match *self.lock() {
            State::Idle(since) => Some(since),
            _ => None,
        }
    }

    fn evict(&self) -> bool {
        let mut state = self.lock();
        if !matches!(*state, State::Idle(_)) {
            return false;
        }
        *state = State::Evicted;
        drop(state);
        // notify_one keeps a permit when nobody waits yet.
        self.evict.notify_one();
        true
    }
}

/// One connection's place in its listener; dropping it frees the place.
/// A new slot is idle since its connect.
pub struct Slot {
    shared: Arc<Shared>,
    table: Arc<Table>,
}

impl Slot {
    /// Marks the connection idle (closable to make room) from now on;
    /// `false` if it has been told to close.
    pub fn idle(&self) -> bool {
        let mut state = self.shared.lock();
        match *state {
            State::Evicted => false,
            State::Idle(_) => true,
            State::Busy => {
                *state = State::Idle(Instant::now());
                true
            }
        }
    }

    /// Marks the connection busy (never closed to make room); `false` if it
    /// has been told to close already.
    pub fn busy(&self) -> bool {
        let mut state = self.shared.lock();
        if matches!(*state, State::Evicted) {
            return false;
        }
        *state = State::Busy;
        true
    }

    pub fn is_evicted(&self) -> bool {
        self.shared.is_evicted()
    }

    /// Resolves once the connection has been told to close to make room.
    pub async fn evicted(&self) {
        if self.is_evicted() {
            return;
        }
        self.shared.evict.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.remove(self.shared.id);
    }
}

/// A log budget for lines a peer can cause at will (malformed input, full
/// listeners): at most `per_window` lines per `window`; the lines beyond
/// are counted, and the next line let through carries that count.
pub struct LogBudget {
    per_window: u32,
    window: Duration,
    state: Mutex<BudgetState>,
}

struct BudgetState {
    start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl LogBudget {
    pub const fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            state: Mutex::new(BudgetState {
                start: None,
                used: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)`: log now, saying that `n` lines were suppressed before;
    /// `None`: suppressed (counted).
    pub fn take(&self) -> Option<u64> {
        let mut state = self.state.lock().expect("a log budget is never poisoned");
        let now = Instant::now();
        if state.start.is_none_or(|start| now >= start + self.window) {
            state.start = Some(now);
            state.used = 0;
        }
        if state.used < self.per_window {
            state.used += 1;
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed += 1;
            None
        }
    }
}

/// At most `max` bytes of untrusted input for a log line, escaped
/// (`\xNN` for anything but printable ASCII), saying how much was cut.
pub fn excerpt(bytes: &[u8], total: usize, max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut out: String = shown.escape_ascii().to_string();
    let total = total.max(bytes.len());
    if total > shown.len() {
        out.push_str(&format!(
            "… ({} more bytes cut, {total} in all)",
            total - shown.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_says_what_was_cut() {
        assert_eq!(excerpt(b"ab\x00\n", 4, 200), "ab\\x00\\n");
        assert_eq!(
            excerpt(&[b'x'; 300], 300, 4),
            "xxxx… (296 more bytes cut, 300 in all)"
        );
        assert_eq!(
            excerpt(b"0123", 70_000, 200),
            "0123… (69996 more bytes cut, 70000 in all)"
        );
    }

    #[test]
    fn log_budget_lets_a_few_through_and_counts_the_rest() {
        let budget = LogBudget::new(2, Duration::from_millis(200));
        assert_eq!(budget.take(), Some(0));
        assert_eq!(budget.take(), Some(0));
        assert_eq!(budget.take(), None);
        assert_eq!(budget.take(), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(budget.take(), Some(2));
        assert_eq!(budget.take(), Some(0));
    }

    fn limits(max_connections: usize, max_per_peer: usize) -> Limits {
        Limits {
            max_connections,
            max_per_peer,
            drain: Duration::from_secs(1),
        }
    }

    fn admitted(admission: Admission) -> Slot {
        match admission {
            Admission::Admitted { slot, .. } => slot,
            Admission::Refused => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn a_full_table_closes_the_oldest_idle_slot_and_refuses_only_when_all_are_busy() {
        let table = Arc::new(Table::default());
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = admitted(table.admit(a, limits(3, 2)));
        std::thread::sleep(Duration::from_millis(5));
        let second = admitted(table.admit(a, limits(3, 2)));
        std::thread::sleep(Duration::from_millis(5));
        // Per peer: the peer's oldest idle slot makes room.
        let third = admitted(table.admit(a, limits(3, 2)));
        assert!(first.is_evicted() && !second.is_evicted());
        first.evicted().await;
        drop(first);
        // Another peer fits in the total.
        let other = admitted(table.admit(b, limits(3, 2)));
        assert!(!other.is_evicted());
        // Full in total, busy slots are kept: the oldest idle one goes.
        assert!(other.busy());
        let fourth = admitted(table.admit(b, limits(3, 2)));
        assert!(second.is_evicted() && !other.is_evicted() && !third.is_evicted());
        assert!(!second.busy() && !second.idle());
        drop(second);
        // All busy: refused.
        assert!(third.busy() && fourth.busy());
        assert!(matches!(table.admit(a, limits(3, 2)), Admission::Refused));
        // Idle again: closable again.
        assert!(third.idle());
        let _fifth = admitted(table.admit(b, limits(3, 3)));
        assert!(third.is_evicted());
    }
}
