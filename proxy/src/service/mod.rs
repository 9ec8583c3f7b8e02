//! The running product behind one handle, [`Engine`]: start it from a
//! [`Config`], ask it for a status snapshot, listen to its one event stream,
//! and call what shells need (lookups, outbox, keys, client settings,
//! pause, settings). `danemail run` and the tray app are thin shells over
//! it (docs/APP-IPC.md maps the app's commands onto its methods).
//!
//! The engine owns the event channel; the submission server and the
//! delivery agent only send into it. A pump task turns each event into the
//! journal's state and a [`view::ServiceEvent`] for shells.

mod explain;
mod identities;
mod incoming;
mod journal;
mod port;
mod running;
mod settings;
mod status;
pub mod view;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

pub use running::ServiceError;

use crate::config::Config;
use crate::dane::{Address, Scope};
use crate::events::{self, Event, Events};
use crate::outbox::{Spool, SpoolError};
use journal::Journal;
use running::Running;
use view::{
    ActivityItem, ClientSettings, KeyView, LookupView, RecentLookup, RecordView, SelfCheckView,
    ServiceEvent, SettingsForm, Status, UiError,
};

/// The file under the storage dir that marks the first-run setup as done.
const FIRST_RUN_DONE: &str = "first-run-done";

/// The handle. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where settings are saved: `--config`, else the platform default.
    config_path: Option<PathBuf>,
    config: RwLock<Config>,
    storage: PathBuf,
    events: Events,
    out: broadcast::Sender<ServiceEvent>,
    journal: Mutex<Journal>,
    running: RwLock<Option<Arc<Running>>>,
    /// Why the last (re)start failed, shown as the top problem.
    start_error: Mutex<Option<String>>,
    /// Serialises start/stop/restart.
    lifecycle: tokio::sync::Mutex<()>,
    paused: AtomicBool,
    pump: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Engine {
    /// Starts the service. A listener whose port is taken does not fail
    /// this: it shows in [`Engine::status`], with a free port to offer.
    pub async fn start(config: Config, config_path: Option<PathBuf>) -> Result<Self, ServiceError> {
        let storage = running::storage_dir(&config)?;
        let (out, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            config_path: config_path.or_else(Config::default_path),
            config: RwLock::new(config.clone()),
            storage: storage.clone(),
            events: events::channel(),
            out,
            journal: Mutex::new(Journal::default()),
            running: RwLock::new(None),
            start_error: Mutex::new(None),
            lifecycle: tokio::sync::Mutex::new(()),
            paused: AtomicBool::new(false),
            pump: Mutex::new(None),
        });
        let spool = Spool::attach(&storage.join("outbox"));
        let entries = spool
            .ids()
            .iter()
            .filter_map(|id| spool.load(id).ok())
            .collect();
        lock(&inner.journal).seed(entries);
        let engine = Self { inner };
        engine.spawn_pump();
        {
            let _guard = engine.inner.lifecycle.lock().await;
            let running = engine.start_parts(&config).await?;
            *write(&engine.inner.running) = Some(Arc::new(running));
        }
        Ok(engine)
    }

    /// Stops accepting, lets sessions and the delivery attempt under way
    /// finish. Everything acknowledged stays in the outbox. Idempotent.
    pub async fn stop(&self) {
        let _guard = self.inner.lifecycle.lock().await;
        let running = write(&self.inner.running).take();
        if let Some(running) = running {
            tracing::info!("shutting down");
            stop_running(running).await;
        }
        if let Some(pump) = lock(&self.inner.pump).take() {
            pump.abort();
        }
    }

    pub fn status(&self) -> Status {
        let config = read(&self.inner.config).clone();
        let running = read(&self.inner.running).clone();
        let journal = lock(&self.inner.journal);
        let now = unix_now();
        let spool = Spool::attach(&self.inner.storage.join("outbox"));
        status::snapshot(status::Inputs {
            config: &config,
            running: running.as_deref(),
            start_error: lock(&self.inner.start_error).as_deref(),
            paused: self.inner.paused.load(Ordering::SeqCst),
            upstream_reachable: journal.upstream_reachable,
            upstream_error: journal.upstream_error.clone(),
            dns: journal.dns.clone(),
            self_checks: journal.self_checks.clone(),
            today: journal.today(now),
            first_run_done: self.inner.storage.join(FIRST_RUN_DONE).exists(),
            config_path: self
                .inner
                .config_path
                .as_ref()
                .map(|p| p.display().to_string()),
            storage_dir: self.inner.storage.display().to_string(),
            spool: Some(&spool),
            storage: &self.inner.storage,
        })
    }

    /// The event stream (every event from now on).
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.inner.out.subscribe()
    }

    /// Messages accepted (newest first), with every recipient's decision and state.
    pub fn activity(&self) -> Vec<ActivityItem> {
        lock(&self.inner.journal).activity()
    }

    /// The verdict chain for each address (the report of `danemail lookup`).
    pub async fn lookup(&self, addresses: Vec<String>) -> Result<Vec<LookupView>, UiError> {
        let parsed = addresses
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .map(|a| Address::parse(a).map_err(|e| UiError::new(format!("{a}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            return Err(UiError::new("Enter at least one e-mail address."));
        }
        let lookup = self.parts()?.lookup.clone();
        let reports = futures_util::future::join_all(
            parsed
                .iter()
                .map(|address| lookup.report(address, Scope::Everything)),
        )
        .await;
        let now = unix_now();
        let views: Vec<LookupView> = reports
            .iter()
            .map(|r| explain::lookup_view(r, now))
            .collect();
        let mut journal = lock(&self.inner.journal);
        for view in &views {
            journal.looked_up(&view.address, &view.decision, &view.headline, now);
        }
        Ok(views)
    }

    pub fn recent_lookups(&self) -> Vec<RecentLookup> {
        lock(&self.inner.journal).recent()
    }

    /// Retries a queued message now.
    pub fn outbox_retry(&self, id: &str) -> Result<(), UiError> {
        self.spool().retry_now(id).map_err(not_found)?;
        if let Some(running) = read(&self.inner.running).as_ref() {
            running.outbox.waker().notify_one();
        }
        Ok(())
    }

    /// Deletes a queued message (shells ask first).
    pub fn outbox_delete(&self, id: &str) -> Result<(), UiError> {
        self.spool().remove(id).map_err(not_found)?;
        tracing::info!(%id, "outbox entry deleted by the user");
        let _ = self
            .inner
            .events
            .send(Event::Finished { id: id.to_owned() });
        Ok(())
    }

    pub async fn keys_list(&self) -> Result<Vec<KeyView>, UiError> {
        let storage = self.inner.storage.clone();
        let checks = lock(&self.inner.journal).self_checks.clone();
        blocking(move || identities::list(&storage, &checks)).await
    }

    pub async fn keys_generate(
        &self,
        email: String,
        algorithm: String,
    ) -> Result<KeyView, UiError> {
        let storage = self.inner.storage.clone();
        blocking(move || identities::generate(&storage, &email, &algorithm)).await
    }

    pub async fn keys_import(&self, path: PathBuf, password: String) -> Result<KeyView, UiError> {
        let storage = self.inner.storage.clone();
        blocking(move || identities::import(&storage, &path, &password)).await
    }

    pub async fn keys_export_cert(&self, address: String, path: PathBuf) -> Result<(), UiError> {
        let storage = self.inner.storage.clone();
        blocking(move || identities::export_certificate(&storage, &address, &path)).await
    }

    pub async fn keys_record(&self, address: String) -> Result<RecordView, UiError> {
        let storage = self.inner.storage.clone();
        blocking(move || identities::record(&storage, &address)).await
    }

    /// Checks the published record of an own identity now.
    pub async fn keys_check(&self, address: String) -> Result<SelfCheckView, UiError> {
        let storage = self.inner.storage.clone();
        let parsed = Address::parse(&address).map_err(UiError::new)?;
        let certificate = blocking(move || identities::certificate(&storage, &parsed)).await?;
        let parsed = Address::parse(&address).map_err(UiError::new)?;
        let lookup = self.parts()?.lookup.clone();
        let report = crate::publish::check(&lookup, &parsed, &certificate).await;
        let _ = self.inner.events.send(Event::SelfCheck {
            address: report.address.clone(),
            status: report.status.to_string(),
            detail: report.detail.clone(),
        });
        Ok(explain::self_check(
            &report.address,
            &report.status.to_string(),
            &report.detail,
            unix_now(),
        ))
    }

    /// What to enter in the mail client.
    pub async fn client_settings(&self) -> Result<ClientSettings, UiError> {
        let running = self.parts()?;
        let config = read(&self.inner.config).clone();
        identities::client_settings(&config, &running.password, &running.ca_file)
    }

    /// Writes the local CA certificate (PEM) to `path`.
    pub fn save_ca(&self, path: PathBuf) -> Result<(), UiError> {
        let ca_file = self.parts()?.ca_file.clone();
        std::fs::copy(&ca_file, &path)
            .map_err(|e| UiError::new(format!("{}: {e}", path.display())))?;
        Ok(())
    }

    /// Pauses or resumes delivery; mail is still accepted and kept.
    pub fn set_paused(&self, paused: bool) -> Status {
        self.inner.paused.store(paused, Ordering::SeqCst);
        if let Some(running) = read(&self.inner.running).as_ref() {
            running.outbox.set_paused(paused);
        }
        tracing::info!(
            paused,
            "delivery {}",
            if paused { "paused" } else { "resumed" }
        );
        let _ = self.inner.out.send(ServiceEvent::Paused { paused });
        self.status()
    }

    pub fn settings(&self) -> SettingsForm {
        let config = read(&self.inner.config).clone();
        let running = read(&self.inner.running).clone();
        let password_set = !config.upstream.username.is_empty()
            && running
                .as_ref()
                .is_some_and(|r| r.upstream_problem.is_none());
        let inbound_password_set = config.inbound.accounts.first().is_some_and(|a| {
            running
                .as_ref()
                .is_some_and(|r| r.inbound_passwords.contains(&a.name))
        });
        settings::form(&config, password_set, inbound_password_set)
    }

    /// Checks and saves the settings (atomically, keeping the file's
    /// comments), stores the provider's and the incoming mail account's
    /// passwords in the keyring, then restarts the parts with the new
    /// config (the inbound agent included); the outbox is untouched.
    pub async fn save_settings(
        &self,
        form: SettingsForm,
        upstream_password: Option<String>,
        inbound_password: Option<String>,
    ) -> Result<SettingsForm, UiError> {
        let path =
            self.inner.config_path.clone().ok_or_else(|| {
                UiError::new("no place to save settings: start with --config FILE")
            })?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(UiError::new(format!("{}: {e}", path.display()))),
        };
        let (text, config) = settings::apply(&text, &form, &path)?;
        if running::storage_dir(&config).ok().as_deref() != Some(self.inner.storage.as_path()) {
            return Err(UiError::new(
                "the storage directory cannot change while running",
            ));
        }
        if let Some(password) = upstream_password.filter(|p| !p.is_empty()) {
            if config.upstream.host.is_empty() || config.upstream.username.is_empty() {
                return Err(UiError::field(
                    "upstream-password",
                    "Provider password: set the provider host and user name first",
                ));
            }
            let upstream = config.upstream.clone();
            blocking(move || {
                crate::credentials::set_upstream_password(&upstream, &password).map_err(|e| {
                    UiError::field("upstream-password", format!("Provider password: {e}"))
                })
            })
            .await?;
        }
        if let Some(password) = inbound_password.filter(|p| !p.is_empty()) {
            let bad = |why: String| UiError::field("inbound-password", why);
            let account = config.inbound.accounts.first().ok_or_else(|| {
                bad("Incoming mail password: set the server and user name first".into())
            })?;
            if let Some(file) = &account.password_file {
                return Err(bad(format!(
                    "Incoming mail password: this account reads it from {}; change it there",
                    file.display()
                )));
            }
            let name = account.name.clone();
            blocking(move || {
                crate::inbound::set_password(&name, &password)
                    .map_err(|e| bad(format!("Incoming mail password: {e}")))
            })
            .await?;
        }
        settings::write_atomically(&path, &text)?;
        tracing::info!(file = %path.display(), "settings saved");
        self.restart(config).await;
        Ok(self.settings())
    }

    /// Marks the first-run setup as done (or skipped).
    pub fn finish_first_run(&self) -> Result<(), UiError> {
        std::fs::write(self.inner.storage.join(FIRST_RUN_DONE), b"")?;
        let _ = self.inner.out.send(ServiceEvent::Status);
        Ok(())
    }

    /// Swaps the running parts for ones made from `config`. On failure the
    /// old parts are gone and the error is the status' top problem.
    async fn restart(&self, config: Config) {
        let _guard = self.inner.lifecycle.lock().await;
        let old = write(&self.inner.running).take();
        if let Some(old) = old {
            stop_running(old).await;
        }
        *write(&self.inner.config) = config.clone();
        match self.start_parts(&config).await {
            Ok(running) => {
                *write(&self.inner.running) = Some(Arc::new(running));
                *lock(&self.inner.start_error) = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot restart with the new settings");
                *lock(&self.inner.start_error) = Some(e.to_string());
            }
        }
        let _ = self.inner.out.send(ServiceEvent::Status);
    }

    async fn start_parts(&self, config: &Config) -> Result<Running, ServiceError> {
        let weak = Arc::downgrade(&self.inner);
        let sink: running::DnsHealthSink = Arc::new(move |diagnosis| {
            let Some(inner) = weak.upgrade() else { return };
            let health = status::dns_health(&diagnosis, unix_now());
            let changed = {
                let mut journal = lock(&inner.journal);
                let changed = journal.dns.as_ref().map(|h| (&h.state, &h.verdict))
                    != Some((&health.state, &health.verdict));
                journal.dns = Some(health.clone());
                changed
            };
            if changed {
                let _ = inner.out.send(ServiceEvent::DnsHealth { health });
            }
        });
        let paused = self.inner.paused.load(Ordering::SeqCst);
        let running = Running::start(config, self.inner.events.clone(), paused, sink).await?;
        let _ = self.inner.out.send(ServiceEvent::Status);
        Ok(running)
    }

    /// Turns the parts' events into journal state and shell events.
    fn spawn_pump(&self) {
        let mut events = self.inner.events.subscribe();
        let weak = Arc::downgrade(&self.inner);
        let pump = tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(inner) = weak.upgrade() else { return };
                let now = unix_now();
                let shell_event = {
                    let mut journal = lock(&inner.journal);
                    journal.apply(&event, now);
                    shell_event(&event, &journal)
                };
                if let Event::Finished { id } = &event {
                    tracing::info!(%id, "outbox entry finished");
                }
                let _ = inner.out.send(shell_event);
            }
        });
        *lock(&self.inner.pump) = Some(pump);
    }

    fn parts(&self) -> Result<Arc<Running>, UiError> {
        read(&self.inner.running).clone().ok_or_else(|| {
            UiError::new(
                lock(&self.inner.start_error)
                    .clone()
                    .unwrap_or_else(|| "DANE Mail is not running".into()),
            )
        })
    }

    /// The outbox, without clearing its `tmp/` (the running parts own that).
    fn spool(&self) -> Spool {
        Spool::attach(&self.inner.storage.join("outbox"))
    }

    /// The storage directory in use.
    pub fn storage_dir(&self) -> &Path {
        &self.inner.storage
    }
}

/// The headless service: starts, runs until `shutdown`, drains. What
/// `danemail run` (and the app without a display) is. Unlike the window,
/// it stops when the SMTP port cannot be had: a service manager restarts it.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServiceError> {
    let engine = Engine::start(config, None).await?;
    let status = engine.status();
    if let Some(error) = status.smtp.error {
        engine.stop().await;
        return Err(ServiceError::Server(crate::smtp::ServerError::Bind {
            addr: status
                .smtp
                .address
                .parse()
                .unwrap_or_else(|_| ([127, 0, 0, 1], 0).into()),
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, error),
        }));
    }
    shutdown.await;
    engine.stop().await;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn stop_running(running: Arc<Running>) {
    running.stop().await;
}

fn shell_event(event: &Event, journal: &Journal) -> ServiceEvent {
    match event {
        Event::Accepted { id, .. } => ServiceEvent::Accepted {
            id: id.clone(),
            recipients: journal
                .activity()
                .into_iter()
                .find(|i| &i.id == id)
                .map(|i| i.recipients)
                .unwrap_or_default(),
        },
        Event::Held(r) => ServiceEvent::Held {
            address: r.address.clone(),
            decision: r.decision.into(),
            reason: r.reason.clone(),
        },
        Event::Delivered { id, recipient } => ServiceEvent::Delivered {
            id: id.clone(),
            recipient: recipient.clone(),
        },
        Event::Deferred {
            id,
            recipient,
            detail,
            next_attempt,
        } => ServiceEvent::Retrying {
            id: id.clone(),
            recipient: recipient.clone(),
            detail: detail.clone(),
            next_attempt: *next_attempt,
        },
        Event::Bounced {
            id,
            recipient,
            detail,
        } => ServiceEvent::Bounced {
            id: id.clone(),
            recipient: recipient.clone(),
            detail: detail.clone(),
        },
        Event::Finished { id } => ServiceEvent::Finished { id: id.clone() },
        // XXX: shells refresh the snapshot; an inbound view type (and its
        // ts-rs binding) comes with the app's inbound settings.
        Event::Inbound(_) => ServiceEvent::Status,
        Event::SelfCheck { address, .. } => ServiceEvent::SelfCheck {
            check: journal
                .self_checks
                .iter()
                .find(|c| &c.address == address)
                .cloned()
                .expect("the journal just recorded it"),
        },
    }
}

fn not_found(e: SpoolError) -> UiError {
    match e {
        SpoolError::NotFound(id) => {
            UiError::new(format!("message {id} is no longer in the outbox"))
        }
        other => UiError::new(other),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| UiError::new(format!("internal error: {e}")))?
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// A poisoned lock only means a panic elsewhere; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
