//! Which path lookups take: the first, in the configured order, that passes
//! its probe ([`super::path::DnsPath::probe`]).
//!
//! The choice is made before the first lookup, again on a timer (networks
//! change under a laptop; an earlier path may work again), and when a
//! lookup fails on the path in use *and* that path no longer passes. A
//! failure on a path that still passes is a verdict, not a network problem:
//! it stands, so an attacker cannot shop for a path that answers otherwise.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::path::{DnsPath, Health, PathKind};

/// How long a choice stands before the paths are probed again.
pub const RECHOOSE_AFTER: Duration = Duration::from_secs(300);

/// How old a probe may be for the first choice (made by the first lookup
/// or `path()`, whichever comes first).
const PROBE_REUSE: Duration = Duration::from_secs(5);

/// The path in use and why, for the status snapshot and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Choice {
    pub kind: PathKind,
    /// The path in words.
    pub path: String,
    /// Whether it passed its probe (false: no path passes; lookups fail
    /// closed on the first one).
    pub ok: bool,
    /// One line: "using DNS over TLS to … because the configured resolver …
    /// strips DNSSEC signatures …".
    pub line: String,
}

/// One path's latest probe, for `doctor`.
#[derive(Debug, Clone)]
pub struct PathReport {
    pub kind: PathKind,
    pub path: String,
    /// `None`: not probed (an earlier path passes).
    pub health: Option<Health>,
}

pub struct Paths {
    paths: Vec<DnsPath>,
    limit: Duration,
    state: Mutex<State>,
    /// One probe round at a time; the others wait and reuse its results.
    probing: tokio::sync::Mutex<()>,
}

struct State {
    active: usize,
    /// When the choice was made; `None` before the first.
    chosen: Option<Instant>,
    line: String,
    ok: bool,
    probes: Vec<Option<(Instant, Health)>>,
}

impl Paths {
    /// `paths` in order of preference (at least one); `limit` bounds each probe.
    pub fn new(paths: Vec<DnsPath>, limit: Duration) -> Self {
        assert!(!paths.is_empty(), "at least one DNS path");
        let probes = vec![None; paths.len()];
        Self {
            paths,
            limit,
            state: Mutex::new(State {
                active: 0,
                chosen: None,
                line: String::new(),
                ok: false,
                probes,
            }),
            probing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self, index: usize) -> &DnsPath {
        &self.paths[index]
    }

    pub fn all(&self) -> &[DnsPath] {
        &self.paths
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The path to use now, choosing first if no choice was made yet.
    /// `stale` is true when the choice is older than [`RECHOOSE_AFTER`]
    /// (the caller re-chooses in the background, and it is reset here so
    /// that only one caller does).
    pub async fn active(&self) -> (usize, bool) {
        {
            let mut state = self.state();
            if let Some(chosen) = state.chosen {
                let stale = chosen.elapsed() >= RECHOOSE_AFTER;
                if stale {
                    state.chosen = Some(Instant::now());
                }
                return (state.active, stale);
            }
        }
        (self.choose(ago(PROBE_REUSE)).await, false)
    }

    /// Probes the paths in order, reusing probes started at or after
    /// `since`, and uses the first that passes (or the first path, failing
    /// closed, when none does). Returns the index in use.
    pub async fn choose(&self, since: Instant) -> usize {
        let _round = self.probing.lock().await;
        let mut failures: Vec<String> = Vec::new();
        let mut chosen = None;
        for index in 0..self.paths.len() {
            let health = self.probe(index, since).await;
            if health.ok {
                chosen = Some(index);
                break;
            }
            failures.push(self.paths[index].failure(&health));
        }
        let (active, ok, line) = match chosen {
            Some(0) => (
                0,
                true,
                format!(
                    "using {} because it carries DNSSEC data",
                    self.paths[0].words
                ),
            ),
            Some(index) => (
                index,
                true,
                format!(
                    "using {} because {}",
                    self.paths[index].words,
                    failures.join("; and ")
                ),
            ),
            None => (
                0,
                false,
                format!(
                    "no path carries DNSSEC data, so lookups fail (mail is held, never sent in the clear): {}",
                    failures.join("; and ")
                ),
            ),
        };
        let mut state = self.state();
        if state.chosen.is_none() || state.active != active || state.ok != ok {
            if ok {
                tracing::info!(path = %self.paths[active].words, "{line}");
            } else {
                tracing::warn!("{line}");
            }
        }
        state.active = active;
        state.ok = ok;
        state.line = line;
        state.chosen = Some(Instant::now());
        active
    }

    /// After a lookup started at `since` failed on `index`: whether that
    /// path still passes (then the failure is the verdict). When it does
    /// not, the paths are chosen again; returns the path to retry on, if it
    /// is another. Only probes started after the lookup count, so a burst
    /// of failures shares one probe and an older one never vouches for a
    /// network that changed since.
    pub async fn after_failure(&self, index: usize, since: Instant) -> Option<usize> {
        let health = {
            let _round = self.probing.lock().await;
            self.probe(index, since).await
        };
        if health.ok {
            return None;
        }
        let next = self.choose(since).await;
        (next != index).then_some(next)
    }

    /// The current choice (after [`Self::active`] or [`Self::choose`]).
    pub fn choice(&self) -> Choice {
        let state = self.state();
        let path = &self.paths[state.active];
        Choice {
            kind: path.kind,
            path: path.words.clone(),
            ok: state.ok,
            line: state.line.clone(),
        }
    }

    /// Every path with its latest probe.
    pub fn reports(&self) -> Vec<PathReport> {
        let state = self.state();
        self.paths
            .iter()
            .zip(&state.probes)
            .map(|(path, probe)| PathReport {
                kind: path.kind,
                path: path.words.clone(),
                health: probe.as_ref().map(|(_, health)| health.clone()),
            })
            .collect()
    }

    /// Path `index`'s probe, reused if it started at or after `since`.
    /// Called with `probing` held.
    async fn probe(&self, index: usize, since: Instant) -> Health {
        if let Some((started, health)) = &self.state().probes[index] {
            if *started >= since {
                return health.clone();
            }
        }
        let started = Instant::now();
        let health = self.paths[index].probe(self.limit).await;
        tracing::debug!(path = %self.paths[index].words, ok = health.ok, detail = %health.detail, "dns path probe");
        self.state().probes[index] = Some((started, health.clone()));
        health
    }
}

/// `Instant::now() - duration`, or now if the clock has not run that long.
pub fn ago(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_sub(duration).unwrap_or(now)
}
