//! The running parts: the submission server, the LDAP directory, the
//! delivery agent and the background checks, started from one [`Config`]
//! and stopped together. The [`super::Engine`] keeps one of these and swaps
//! it for a new one when the settings change; what is on disk (the outbox)
//! is untouched by that.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::port;
use super::view::ListenerStatus;
use crate::config::Config;
use crate::credentials::{self, CredentialError, LocalPassword};
use crate::dane::{DaneLookup, UsableCertificate, UsableOpenPgpKey};
use crate::dns::{doctor, SecureResolver, SetupError};
use crate::events::{Event, Events};
use crate::outbox::{Intake, Outbox, Spool, SpoolError};
use crate::relay::{Relay, RelayError};
use crate::smime::EncryptOptions;
use crate::smtp::{self, tls, Context, ServerError, SessionConfig};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no storage directory: set [storage] dir")]
    NoStorage,
    #[error("storage directory {path}: {source}")]
    Storage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("storage directory {path} may be written by other users (mode {mode:o}); DANE Mail keeps mail and keys there and will not start: `chmod 700 {path}`")]
    StorageShared { path: PathBuf, mode: u32 },
    #[error(transparent)]
    Dns(#[from] SetupError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("[smime] sender_certificate: {0}")]
    SenderCertificate(String),
    #[error(transparent)]
    Ldap(#[from] crate::ldap::LdapError),
}

/// How often the user's own SMIMEA records are checked.
const SELF_CHECK_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// How often DNS validation health (`doctor`) is checked again.
const DNS_HEALTH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// What a DNS health check found, handed to the engine.
pub type DnsHealthSink = Arc<dyn Fn(doctor::Diagnosis) + Send + Sync>;

/// One started set of parts.
pub struct Running {
    pub lookup: DaneLookup,
    pub outbox: Arc<Outbox>,
    pub password: LocalPassword,
    pub ca_file: PathBuf,
    pub smtp: ListenerStatus,
    pub ldap: Option<ListenerStatus>,
    /// Why the provider password could not be read, if it could not.
    pub upstream_problem: Option<String>,
    /// The `[[inbound.accounts]]` whose password could be read at start.
    pub inbound_passwords: Vec<String>,
    stop: broadcast::Sender<()>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    background: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// The storage directory of `config`, created owner-only; one that other
/// users may write to is refused (they could plant or swap queued mail).
///
/// Everything the service writes from here on is owner-only by the
/// process's umask (077), whatever the call site: messages, copies, keys,
/// state, logs of the outbox.
pub fn storage_dir(config: &Config) -> Result<PathBuf, ServiceError> {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let storage = config
        .storage
        .resolved_dir()
        .ok_or(ServiceError::NoStorage)?;
    std::fs::create_dir_all(&storage).map_err(|source| ServiceError::Storage {
        path: storage.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&storage)
            .map_err(|source| ServiceError::Storage {
                path: storage.clone(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o022 != 0 {
            return Err(ServiceError::StorageShared {
                path: storage,
                mode: mode & 0o7777,
            });
        }
    }
    Ok(storage)
}

impl Running {
    /// Starts every part. A listener whose port is taken does not fail the
    /// start: it is reported in [`Running::smtp`] / [`Running::ldap`] so the
    /// window can say so and offer another port; mail already in the outbox
    /// is still delivered.
    pub async fn start(
        config: &Config,
        events: Events,
        paused: bool,
        dns_health: DnsHealthSink,
    ) -> Result<Self, ServiceError> {
        let storage = storage_dir(config)?;
        let resolver = Arc::new(SecureResolver::new(&config.dns)?);
        let lookup = DaneLookup::new(resolver.clone(), config.policy.mode)
            .with_preference(config.policy.prefer);
        let spool = Arc::new(Spool::open(&storage.join("outbox"))?);
        let intake = Arc::new(
            Intake::new(
                spool.clone(),
                sender_certificate(config)?,
                EncryptOptions {
                    cipher: config.smime.cipher,
                    rsa_oaep: config.smime.rsa_oaep,
                },
            )
            .with_key_store(&storage)
            .with_openpgp_sender(sender_openpgp_key(config)?),
        );
        // Keyring calls block (D-Bus round trips): off the async runtime.
        let (smtp_config, upstream_config, inbound_config, dir) = (
            config.smtp.clone(),
            config.upstream.clone(),
            config.inbound.clone(),
            storage.clone(),
        );
        let (password, upstream_password, inbound_passwords) =
            tokio::task::spawn_blocking(move || {
                (
                    credentials::local_password(&smtp_config, &dir),
                    credentials::upstream_password(&upstream_config),
                    crate::inbound::accounts(&inbound_config, Some(&dir), None)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|a| a.password().is_ok())
                        .map(|a| a.name)
                        .collect::<Vec<_>>(),
                )
            })
            .await
            .map_err(|e| ServiceError::Storage {
                path: storage.clone(),
                source: std::io::Error::other(e),
            })?;
        let password = password?;
        // A missing provider password keeps mail in the outbox (the relay
        // defers) and shows as a problem; it does not stop the service.
        let (upstream_password, upstream_problem) = match upstream_password {
            Ok(found) => (found, None),
            Err(e) => {
                tracing::warn!(error = %e, "mail is kept in the outbox until the provider password is set");
                (None, Some(e.to_string()))
            }
        };
        let relay = Arc::new(Relay::new(
            &config.upstream,
            upstream_password,
            &config.smtp.hostname,
        )?);
        let outbox = Arc::new(Outbox::new(
            intake.clone(),
            relay,
            config.outbox.clone(),
            config.smtp.hostname.clone(),
            events.clone(),
        ));
        outbox.set_paused(paused);
        let local_tls = tls::load_or_create(&storage.join("tls"))?;

        let (stop, _) = broadcast::channel::<()>(1);
        let mut tasks = Vec::new();
        let mut background = Vec::new();

        let smtp_status = match smtp::bind(&config.smtp).await {
            Ok(listener) => {
                let context = Arc::new(Context {
                    session: SessionConfig {
                        hostname: config.smtp.hostname.clone(),
                        max_message_size: config.smtp.max_message_size,
                        max_recipients: config.smtp.max_recipients,
                        tls_available: true,
                        auth_without_tls: false,
                        username: config.smtp.username.clone(),
                        password: password.password.clone(),
                    },
                    lookup: lookup.clone(),
                    intake,
                    outbox_wake: outbox.waker(),
                    events: events.clone(),
                    tls: Some(local_tls.acceptor),
                    max_connections: config.smtp.max_connections,
                    max_connections_per_peer: config.smtp.max_connections_per_peer,
                    pre_auth_timeout: Duration::from_secs(config.smtp.pre_auth_timeout_secs),
                    command_timeout: Duration::from_secs(config.smtp.command_timeout_secs),
                    data_timeout: Duration::from_secs(config.smtp.data_timeout_secs),
                });
                tasks.push(tokio::spawn(smtp::serve(
                    listener,
                    context,
                    stop.subscribe(),
                )));
                tracing::info!(listen = %config.smtp.listen, upstream = %config.upstream.host, outbox = %spool.root().display(), tls_ca = %local_tls.ca_file.display(), queued = spool.ids().len(), "DANE Mail is running");
                port::listening(config.smtp.listen)
            }
            Err(ServerError::Bind { addr, source }) => {
                let status = port::failed(addr, &source);
                tracing::error!(
                    error = status.error.as_deref().unwrap_or_default(),
                    "SMTP submission server not started"
                );
                status
            }
            Err(e) => return Err(e.into()),
        };

        let ldap_status = if config.ldap.enabled {
            let context = Arc::new(crate::ldap::LdapContext {
                base_dn: config.ldap.base_dn.clone(),
                lookup: lookup.clone(),
                password: credentials::ldap_password(&config.ldap)?,
                search_timeout: Duration::from_secs(config.ldap.search_timeout_secs),
                idle_timeout: Duration::from_secs(config.ldap.idle_timeout_secs),
                max_connections: config.ldap.max_connections,
                max_connections_per_peer: config.ldap.max_connections_per_peer,
            });
            Some(match crate::ldap::bind(&config.ldap).await {
                Ok(listener) => {
                    tracing::info!(listen = %config.ldap.listen, base = %config.ldap.base_dn, "LDAP directory is running");
                    tasks.push(tokio::spawn(crate::ldap::serve(
                        listener,
                        context,
                        stop.subscribe(),
                    )));
                    port::listening(config.ldap.listen)
                }
                Err(crate::ldap::LdapError::Bind { addr, source }) => {
                    let status = port::failed(addr, &source);
                    tracing::error!(
                        error = status.error.as_deref().unwrap_or_default(),
                        "LDAP directory not started"
                    );
                    status
                }
                Err(e) => return Err(e.into()),
            })
        } else {
            None
        };

        {
            let outbox = outbox.clone();
            let stop = stop.subscribe();
            tasks.push(tokio::spawn(async move { outbox.run(stop).await }));
        }
        if config.inbound.enabled {
            // The inbound agent (issue 10): its reports join the one stream.
            let events = events.clone();
            let notify: crate::inbound::Notify = Arc::new(move |event| {
                let _ = events.send(Event::Inbound(event));
            });
            tasks.push(tokio::spawn(crate::inbound::serve(
                config.inbound.clone(),
                storage.clone(),
                notify,
                stop.subscribe(),
            )));
        }
        background.push(tokio::spawn(self_checks(
            lookup.clone(),
            storage.clone(),
            events,
        )));
        background.push(tokio::spawn(dns_checks(
            resolver.clone(),
            config.dns.timeout(),
            dns_health,
        )));

        Ok(Self {
            lookup,
            outbox,
            password,
            ca_file: local_tls.ca_file,
            smtp: smtp_status,
            ldap: ldap_status,
            upstream_problem,
            inbound_passwords,
            stop,
            tasks: std::sync::Mutex::new(tasks),
            background: std::sync::Mutex::new(background),
        })
    }

    /// Stops accepting, lets sessions and the delivery attempt under way
    /// finish, and returns. Everything acknowledged stays in the outbox.
    pub async fn stop(&self) {
        let _ = self.stop.send(());
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
        for task in lock(&self.background).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `[openpgp] sender_key`, judged as any key the user gives.
fn sender_openpgp_key(config: &Config) -> Result<Option<UsableOpenPgpKey>, ServiceError> {
    let Some(path) = &config.openpgp.sender_key else {
        return Ok(None);
    };
    UsableOpenPgpKey::from_user_file(&read_sender_file(path)?, crate::civil::unix_now())
        .map(Some)
        .map_err(|e| {
            ServiceError::SenderCertificate(format!("[openpgp] sender_key {}: {e}", path.display()))
        })
}

/// `[smime] sender_certificate`, judged as any certificate the user gives.
fn sender_certificate(config: &Config) -> Result<Option<UsableCertificate>, ServiceError> {
    let Some(path) = &config.smime.sender_certificate else {
        return Ok(None);
    };
    UsableCertificate::from_user_file(&read_sender_file(path)?, crate::civil::unix_now())
        .map(Some)
        .map_err(ServiceError::SenderCertificate)
}

fn read_sender_file(path: &std::path::Path) -> Result<Vec<u8>, ServiceError> {
    std::fs::read(path)
        .map_err(|e| ServiceError::SenderCertificate(format!("{}: {e}", path.display())))
}

/// Soon after start, then twice a day: operators forget to update DNS
/// after a certificate change (seeds 001, 002).
async fn self_checks(lookup: DaneLookup, storage: PathBuf, events: Events) {
    let mut wait = Duration::from_secs(5);
    loop {
        tokio::time::sleep(wait).await;
        check_own_records(&lookup, &storage, &events).await;
        wait = SELF_CHECK_INTERVAL;
    }
}

/// Checks every stored identity against validated DNS; says loudly when
/// they disagree.
async fn check_own_records(lookup: &DaneLookup, storage: &Path, events: &Events) {
    let Ok(store) = crate::keys::KeyStore::open(storage) else {
        return;
    };
    for key in store.list().unwrap_or_default() {
        let Ok(address) = crate::dane::Address::parse(&key.address) else {
            continue;
        };
        let report = crate::publish::check(lookup, &address, &key.certificate).await;
        if report.status == crate::publish::CheckStatus::Ok {
            tracing::info!(address = %report.address, "own SMIMEA record ok");
        } else {
            tracing::warn!(address = %report.address, status = %report.status, detail = %report.detail, "own SMIMEA record needs attention");
        }
        let _ = events.send(Event::SelfCheck {
            address: report.address,
            status: report.status.to_string(),
            detail: report.detail,
        });
    }
}

/// `doctor` at start and every quarter of an hour: whether lookups on this
/// network can be validated at all (a router stripping DNSSEC holds all mail).
async fn dns_checks(resolver: Arc<SecureResolver>, timeout: Duration, sink: DnsHealthSink) {
    loop {
        let diagnosis = doctor::diagnose(&resolver, timeout).await;
        if let Some(problem) = &diagnosis.problem {
            tracing::warn!(%problem, "DNS validation health");
        }
        sink(diagnosis);
        tokio::time::sleep(DNS_HEALTH_INTERVAL).await;
    }
}
