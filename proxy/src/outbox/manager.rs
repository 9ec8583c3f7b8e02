//! Delivery from the outbox: every due entry's pending copies go to the
//! relay; each recipient ends delivered or bounced. Temporary failures are
//! retried with exponential backoff; permanent ones, and anything still
//! pending after the configured lifetime, are bounced with a DSN to the
//! sender. State is written back after every copy, so a crash repeats at
//! most one copy (at-least-once, never lost).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{broadcast, Notify};

use super::dsn::{self, Failure};
use super::intake::{Intake, IntakeError};
use super::spool::{CopyEntry, Entry, RecipientState, Spool, SpoolError, Status};
use crate::config::OutboxConfig;
use crate::events::{Event, Events};
use crate::relay::{Outcome, Relay};

/// Longest sleep between queue scans.
const RESCAN: Duration = Duration::from_secs(30);

/// After a local, temporary failure to plan an accepted message (a full
/// disk): the next try.
const PLAN_RETRY_SECS: u64 = 5;

/// The delivery agent.
pub struct Outbox {
    spool: Arc<Spool>,
    intake: Arc<Intake>,
    relay: Arc<Relay>,
    config: OutboxConfig,
    hostname: String,
    wake: Arc<Notify>,
    events: Events,
    /// Delivery paused by the user: mail is still accepted and planned.
    paused: AtomicBool,
}

impl Outbox {
    pub fn new(
        intake: Arc<Intake>,
        relay: Arc<Relay>,
        config: OutboxConfig,
        hostname: String,
        events: Events,
    ) -> Self {
        Self {
            spool: intake.spool().clone(),
            intake,
            relay,
            config,
            hostname,
            wake: Arc::new(Notify::new()),
            events,
            paused: AtomicBool::new(false),
        }
    }

    /// Wakes the delivery loop (a new entry was queued, or a retry asked for).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Pauses or resumes delivery; a resume delivers what is due at once.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.wake.notify_one();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Delivers until `shutdown` fires, in up to `max_parallel` lanes: a
    /// new due entry starts as soon as a lane is free, so one stalled or
    /// slow provider session delays nothing else. At `shutdown` attempts
    /// under way are dropped (a stalled provider cannot hold the stop):
    /// their copies stay pending and go at the next start — at least once,
    /// never lost.
    pub async fn run(&self, mut shutdown: broadcast::Receiver<()>) {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let lanes = self.config.max_parallel.max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut busy: HashSet<String> = HashSet::new();
        loop {
            let mut next = tokio::select! {
                next = self.plan_received() => next,
                _ = shutdown.recv() => return,
            };
            if !self.is_paused() {
                let (due, later) = self.due_entries(&busy);
                next = earliest(next, later);
                for entry in due.into_iter().take(lanes.saturating_sub(in_flight.len())) {
                    busy.insert(entry.id.clone());
                    in_flight.push(self.attempt_logged(entry));
                }
            }
            // Re-read the queue at least this often: `danemail outbox retry`
            // from another process only edits the files.
            let sleep = next
                .map_or(RESCAN, |at| {
                    Duration::from_secs(at.saturating_sub(unix_now()))
                })
                .min(RESCAN);
            tokio::select! {
                Some(id) = in_flight.next(), if !in_flight.is_empty() => {
                    busy.remove(&id);
                }
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.recv() => return,
            }
        }
    }

    /// Plans what was received (acknowledged, not yet encrypted); returns
    /// when planning should be tried again, if it failed for a local cause.
    async fn plan_received(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        for id in self.spool.received_ids() {
            let intake = self.intake.clone();
            let planning = id.clone();
            match tokio::task::spawn_blocking(move || intake.plan_received(&planning)).await {
                Ok(Ok(())) => {}
                Ok(Err(IntakeError::Spool(SpoolError::Corrupt { .. }))) => {}
                Ok(Err(e)) if e.is_permanent() => {
                    tracing::error!(%id, error = %e, "cannot plan an accepted message; bouncing it");
                    if let Err(e) = self.bounce_received(&id, &e.to_string()) {
                        tracing::error!(%id, error = %e, "bouncing failed");
                    }
                }
                Ok(Err(e)) => {
                    // Acknowledged mail is never bounced for a local,
                    // temporary condition: kept, tried again soon.
                    tracing::error!(
                        %id,
                        error = %e,
                        retry_in_secs = PLAN_RETRY_SECS,
                        "cannot prepare an accepted message for delivery now (is the storage full?); it is kept and tried again"
                    );
                    let at = unix_now() + PLAN_RETRY_SECS;
                    next = Some(next.map_or(at, |n: u64| n.min(at)));
                }
                Err(e) => tracing::error!(%id, error = %e, "planning task failed; will retry"),
            }
        }
        next
    }

    /// Entries due now (not among `busy`), and when the next one is due.
    fn due_entries(&self, busy: &HashSet<String>) -> (Vec<Entry>, Option<u64>) {
        let mut next = None;
        let mut due = Vec::new();
        for id in self.spool.ids() {
            if busy.contains(&id) {
                continue;
            }
            let entry = match self.spool.load(&id) {
                Ok(entry) => entry,
                Err(SpoolError::NotFound(_)) => continue,
                Err(e) => {
                    tracing::error!(%id, error = %e, "outbox entry unreadable");
                    continue;
                }
            };
            if entry.next_attempt > unix_now() {
                next = earliest(next, Some(entry.next_attempt));
            } else {
                due.push(entry);
            }
        }
        (due, next)
    }

    /// [`Self::attempt`], its error logged; returns the entry's id.
    async fn attempt_logged(&self, entry: Entry) -> String {
        let id = entry.id.clone();
        if let Err(e) = self.attempt(entry).await {
            tracing::error!(%id, error = %e, "outbox update failed");
        }
        id
    }

    /// One delivery attempt of one entry; returns its next attempt time if
    /// recipients remain pending.
    async fn attempt(&self, mut entry: Entry) -> Result<Option<u64>, SpoolError> {
        entry.attempts += 1;
        let id = entry.id.clone();
        for index in 0..entry.copies.len() {
            let copy = &entry.copies[index];
            let pending: Vec<String> = copy
                .recipients
                .iter()
                .filter(|r| r.status == Status::Pending)
                .map(|r| r.address.clone())
                .collect();
            if pending.is_empty() {
                continue;
            }
            let path = self.spool.file(&id, &copy.file);
            let outcomes = self.relay.send(&entry.from, &pending, &path).await;
            for (address, outcome) in pending.iter().zip(outcomes) {
                let state = entry.copies[index]
                    .recipients
                    .iter_mut()
                    .find(|r| &r.address == address)
                    .expect("a pending recipient of this copy");
                match outcome {
                    Outcome::Delivered(reply) => {
                        tracing::info!(%id, recipient = %address, %reply, "delivered");
                        state.status = Status::Delivered;
                        state.detail = Some(reply);
                        self.emit(Event::Delivered {
                            id: id.clone(),
                            recipient: address.clone(),
                        });
                    }
                    Outcome::Permanent(why) => {
                        tracing::warn!(%id, recipient = %address, %why, "bounced");
                        state.status = Status::Bounced;
                        state.detail = Some(why.clone());
                        self.emit(Event::Bounced {
                            id: id.clone(),
                            recipient: address.clone(),
                            detail: why,
                        });
                    }
                    Outcome::Temporary(why) => {
                        tracing::info!(%id, recipient = %address, %why, "deferred");
                        state.detail = Some(why);
                    }
                }
            }
            // Written after every copy while anything is left to do: a crash
            // repeats at most this copy. Once all is final, `finish` removes
            // the entry instead (a crash before that repeats the delivery:
            // at least once, never lost).
            if entry.pending() > 0 {
                self.spool.update(&entry)?;
            }
        }

        let now = unix_now();
        if entry.pending() > 0 {
            if now.saturating_sub(entry.created) >= self.config.max_lifetime_secs {
                for state in entry
                    .copies
                    .iter_mut()
                    .flat_map(|c| c.recipients.iter_mut())
                {
                    if state.status == Status::Pending {
                        state.status = Status::Bounced;
                        let last = state
                            .detail
                            .take()
                            .unwrap_or_else(|| "no attempt succeeded".into());
                        state.detail =
                            Some(format!("4.4.7 delivery time expired; last error: {last}"));
                    }
                }
            } else {
                entry.next_attempt = now + self.backoff(entry.attempts);
                for state in entry.copies.iter().flat_map(|c| &c.recipients) {
                    if state.status == Status::Pending {
                        self.emit(Event::Deferred {
                            id: id.clone(),
                            recipient: state.address.clone(),
                            detail: state.detail.clone().unwrap_or_default(),
                            next_attempt: entry.next_attempt,
                        });
                    }
                }
                self.spool.update(&entry)?;
                return Ok(Some(entry.next_attempt));
            }
        }
        self.finish(entry)?;
        Ok(None)
    }

    /// Every recipient is final: bounce the failures, remove the entry.
    fn finish(&self, entry: Entry) -> Result<(), SpoolError> {
        let failures: Vec<Failure> = entry
            .copies
            .iter()
            .flat_map(|c| &c.recipients)
            .filter(|r| r.status == Status::Bounced)
            .map(|r| Failure {
                recipient: r.address.clone(),
                diagnostic: r.detail.clone().unwrap_or_default(),
            })
            .collect();
        if !failures.is_empty() && !entry.is_dsn && !entry.from.is_empty() {
            let headers = base64::engine::general_purpose::STANDARD
                .decode(&entry.headers)
                .unwrap_or_default();
            self.queue_dsn(&entry, &failures, &headers)?;
        }
        self.spool.remove(&entry.id)?;
        self.emit(Event::Finished { id: entry.id });
        Ok(())
    }

    fn queue_dsn(
        &self,
        entry: &Entry,
        failures: &[Failure],
        headers: &[u8],
    ) -> Result<(), SpoolError> {
        let message = dsn::build(
            &self.hostname,
            &entry.from,
            failures,
            headers,
            entry.created,
        );
        let incoming = self.spool.incoming()?;
        let path = incoming.dir.join("1.eml");
        std::fs::write(&path, message).map_err(|source| SpoolError::Io { path, source })?;
        let now = unix_now();
        let dsn = Entry {
            id: incoming.id.clone(),
            from: String::new(),
            created: now,
            attempts: 0,
            next_attempt: now,
            copies: vec![CopyEntry {
                file: "1.eml".into(),
                kind: "dsn".into(),
                recipients: vec![RecipientState {
                    address: entry.from.clone(),
                    status: Status::Pending,
                    detail: None,
                }],
            }],
            is_dsn: true,
            headers: String::new(),
        };
        tracing::info!(id = %entry.id, dsn = %dsn.id, to = %entry.from, "bounce queued");
        self.spool.commit(incoming, &dsn)?;
        self.wake.notify_one();
        Ok(())
    }

    /// An accepted message that cannot be planned is bounced, not dropped.
    fn bounce_received(&self, id: &str, why: &str) -> Result<(), SpoolError> {
        let (record, _, _) = self.spool.load_received(id)?;
        let failures: Vec<Failure> = record
            .recipients
            .iter()
            .map(|r| Failure {
                recipient: r.address.clone(),
                diagnostic: format!("5.6.0 {why}"),
            })
            .collect();
        let entry = Entry {
            id: record.id.clone(),
            from: record.from.clone(),
            created: record.created,
            attempts: 0,
            next_attempt: 0,
            copies: Vec::new(),
            is_dsn: false,
            headers: String::new(),
        };
        if !record.from.is_empty() {
            self.queue_dsn(&entry, &failures, b"")?;
        }
        self.spool.remove_received(id)
    }

    /// `retry_initial × 2^(attempts-1)`, capped at `retry_max`.
    fn backoff(&self, attempts: u32) -> u64 {
        let exponent = attempts.saturating_sub(1).min(30);
        self.config
            .retry_initial_secs
            .saturating_mul(1u64 << exponent)
            .min(self.config.retry_max_secs)
            .max(1)
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// The earlier of two optional times.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
