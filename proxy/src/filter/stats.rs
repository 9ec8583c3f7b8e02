//! What the filter did, counted for the operator: one log line per
//! interval (`[filter] status_interval_secs`) with the messages, the copies
//! by kind and outcome, the deferred recipients and the lookup latency.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::plan::CopyBody;
use crate::relay::Outcome;

#[derive(Debug, Default)]
pub struct Stats {
    messages: AtomicU64,
    encrypted: AtomicU64,
    plain: AtomicU64,
    deferred: AtomicU64,
    refused: AtomicU64,
    held_at_rcpt: AtomicU64,
    lookups: AtomicU64,
    lookup_micros: AtomicU64,
    lookup_max_micros: AtomicU64,
    sessions: AtomicU64,
}

/// One interval's figures (the counters are reset when taken).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Snapshot {
    pub messages: u64,
    /// Recipients re-injected encrypted.
    pub encrypted: u64,
    /// Recipients re-injected as written.
    pub plain: u64,
    /// Recipients answered 4xx after DATA (re-injection or local trouble).
    pub deferred: u64,
    /// Recipients answered 5xx after DATA.
    pub refused: u64,
    /// Recipients answered 4xx/5xx at RCPT (bogus, no answer, policy).
    pub held_at_rcpt: u64,
    pub lookups: u64,
    pub lookup_mean_ms: f64,
    pub lookup_max_ms: f64,
    /// LMTP sessions open now.
    pub sessions: u64,
}

impl Stats {
    pub fn message(&self) {
        self.messages.fetch_add(1, Relaxed);
    }

    pub fn held_at_rcpt(&self) {
        self.held_at_rcpt.fetch_add(1, Relaxed);
    }

    pub fn lookup(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.lookups.fetch_add(1, Relaxed);
        self.lookup_micros.fetch_add(micros, Relaxed);
        self.lookup_max_micros.fetch_max(micros, Relaxed);
    }

    /// One recipient of a copy and what its re-injection gave.
    pub fn copy(&self, body: &CopyBody, outcome: &Outcome) {
        let counter = match (outcome, body) {
            (Outcome::Temporary(_), _) => &self.deferred,
            (Outcome::Permanent(_), _) => &self.refused,
            (Outcome::Delivered(_), CopyBody::Encrypted(_) | CopyBody::EncryptedOpenPgp(_)) => {
                &self.encrypted
            }
            (Outcome::Delivered(_), _) => &self.plain,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn session_started(&self) {
        self.sessions.fetch_add(1, Relaxed);
    }

    pub fn session_ended(&self) {
        self.sessions.fetch_sub(1, Relaxed);
    }

    /// The figures since the last call; the counters start again at zero.
    pub fn take(&self) -> Snapshot {
        let lookups = self.lookups.swap(0, Relaxed);
        let micros = self.lookup_micros.swap(0, Relaxed);
        let max = self.lookup_max_micros.swap(0, Relaxed);
        Snapshot {
            messages: self.messages.swap(0, Relaxed),
            encrypted: self.encrypted.swap(0, Relaxed),
            plain: self.plain.swap(0, Relaxed),
            deferred: self.deferred.swap(0, Relaxed),
            refused: self.refused.swap(0, Relaxed),
            held_at_rcpt: self.held_at_rcpt.swap(0, Relaxed),
            lookups,
            lookup_mean_ms: if lookups == 0 {
                0.0
            } else {
                micros as f64 / lookups as f64 / 1000.0
            },
            lookup_max_ms: max as f64 / 1000.0,
            sessions: self.sessions.load(Relaxed),
        }
    }

    /// Logs one line every `interval` until the task is dropped.
    pub async fn report_every(&self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let s = self.take();
            tracing::info!(
                messages = s.messages,
                encrypted = s.encrypted,
                plain = s.plain,
                deferred = s.deferred,
                refused = s.refused,
                held_at_rcpt = s.held_at_rcpt,
                lookups = s.lookups,
                lookup_mean_ms = format!("{:.1}", s.lookup_mean_ms),
                lookup_max_ms = format!("{:.1}", s.lookup_max_ms),
                sessions = s.sessions,
                interval_secs = interval.as_secs(),
                "filter status"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets() {
        let stats = Stats::default();
        stats.message();
        stats.copy(&CopyBody::Plaintext, &Outcome::Delivered(String::new()));
        stats.copy(&CopyBody::Plaintext, &Outcome::Temporary(String::new()));
        stats.lookup(Duration::from_millis(2));
        stats.lookup(Duration::from_millis(4));
        let s = stats.take();
        assert_eq!((s.messages, s.plain, s.deferred, s.lookups), (1, 1, 1, 2));
        assert!((s.lookup_mean_ms - 3.0).abs() < 1e-9);
        assert!((s.lookup_max_ms - 4.0).abs() < 1e-9);
        assert_eq!(stats.take().messages, 0);
    }
}
