//! The running product: the submission server and the delivery agent over
//! one outbox, started from a [`Config`] and stopped by a shutdown future.
//! The CLI (`danemail run`) and, later, the tray app are thin shells over
//! [`run`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::config::Config;
use crate::credentials::{self, CredentialError};
use crate::dane::{DaneLookup, UsableCertificate};
use crate::dns::{SecureResolver, SetupError};
use crate::outbox::{Event, Intake, Outbox, Spool, SpoolError};
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

/// How often `danemail run` checks the user's own SMIMEA records.
const SELF_CHECK_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// Checks every stored identity against validated DNS; says loudly when
/// they disagree.
async fn check_own_records(
    lookup: &DaneLookup,
    storage: &std::path::Path,
    events: &broadcast::Sender<Event>,
) {
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

/// Runs until `shutdown` completes; then stops accepting, lets sessions and
/// the delivery attempt under way finish, and returns. Everything
/// acknowledged stays in the outbox for the next start.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServiceError> {
    let storage = config
        .storage
        .resolved_dir()
        .ok_or(ServiceError::NoStorage)?;
    std::fs::create_dir_all(&storage).map_err(|source| ServiceError::Storage {
        path: storage.clone(),
        source,
    })?;

    let resolver = Arc::new(SecureResolver::new(&config.dns)?);
    let lookup = DaneLookup::new(resolver, config.policy.mode);
    let ldap_lookup = lookup.clone();
    let spool = Arc::new(Spool::open(&storage.join("outbox"))?);
    let sender_certificate = match &config.smime.sender_certificate {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| ServiceError::SenderCertificate(format!("{}: {e}", path.display())))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            Some(
                UsableCertificate::from_user_file(&bytes, now)
                    .map_err(ServiceError::SenderCertificate)?,
            )
        }
        None => None,
    };
    let intake = Arc::new(
        Intake::new(
            spool.clone(),
            sender_certificate,
            EncryptOptions {
                cipher: config.smime.cipher,
                rsa_oaep: config.smime.rsa_oaep,
            },
        )
        .with_key_store(&storage),
    );
    // Keyring calls block (D-Bus round trips): off the async runtime.
    let (smtp_config, upstream_config) = (config.smtp.clone(), config.upstream.clone());
    let (password, upstream_password) = tokio::task::spawn_blocking(move || {
        Ok::<_, CredentialError>((
            credentials::local_password(&smtp_config)?,
            credentials::upstream_password(&upstream_config)?,
        ))
    })
    .await
    .map_err(|e| ServiceError::Storage {
        path: storage.clone(),
        source: std::io::Error::other(e),
    })??;
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
    ));
    let local_tls = tls::load_or_create(&storage.join("tls"))?;
    let listener = smtp::bind(&config.smtp).await?;
    let ldap_listener = if config.ldap.enabled {
        Some(crate::ldap::bind(&config.ldap).await?)
    } else {
        None
    };
    let ldap_context = Arc::new(crate::ldap::LdapContext {
        base_dn: config.ldap.base_dn.clone(),
        lookup: ldap_lookup,
        password: credentials::ldap_password(&config.ldap)?,
        search_timeout: Duration::from_secs(config.ldap.search_timeout_secs),
        idle_timeout: Duration::from_secs(config.ldap.idle_timeout_secs),
        max_connections: config.ldap.max_connections,
    });

    let context = Arc::new(Context {
        session: SessionConfig {
            hostname: config.smtp.hostname.clone(),
            max_message_size: config.smtp.max_message_size,
            max_recipients: config.smtp.max_recipients,
            tls_available: true,
            auth_without_tls: false,
            username: config.smtp.username.clone(),
            password,
        },
        lookup,
        intake,
        outbox_wake: outbox.waker(),
        events: outbox.events(),
        tls: Some(local_tls.acceptor),
        max_connections: config.smtp.max_connections,
        command_timeout: Duration::from_secs(config.smtp.command_timeout_secs),
        data_timeout: Duration::from_secs(config.smtp.data_timeout_secs),
    });

    tracing::info!(
        listen = %config.smtp.listen,
        upstream = %config.upstream.host,
        outbox = %spool.root().display(),
        tls_ca = %local_tls.ca_file.display(),
        queued = spool.ids().len(),
        "DANE Mail is running"
    );
    let (stop, _) = broadcast::channel::<()>(1);
    let mut events = outbox.events().subscribe();
    let logger = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let Event::Finished { id } = event {
                tracing::info!(%id, "outbox entry finished");
            }
        }
    });
    let self_check = {
        let lookup = context.lookup.clone();
        let events = outbox.events();
        let storage = storage.clone();
        let mut stop = stop.subscribe();
        tokio::spawn(async move {
            // Soon after start, then twice a day: operators forget to
            // update DNS after a certificate change (seeds 001, 002).
            let mut wait = Duration::from_secs(5);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.recv() => return,
                }
                check_own_records(&lookup, &storage, &events).await;
                wait = SELF_CHECK_INTERVAL;
            }
        })
    };
    let delivery = {
        let outbox = outbox.clone();
        let stop = stop.subscribe();
        tokio::spawn(async move { outbox.run(stop).await })
    };
    let server = tokio::spawn(smtp::serve(listener, context, stop.subscribe()));
    let directory = ldap_listener.map(|listener| {
        tracing::info!(listen = %config.ldap.listen, base = %config.ldap.base_dn, "LDAP directory is running");
        tokio::spawn(crate::ldap::serve(listener, ldap_context, stop.subscribe()))
    });

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop.send(());
    let _ = server.await;
    if let Some(directory) = directory {
        let _ = directory.await;
    }
    let _ = delivery.await;
    self_check.abort();
    logger.abort();
    Ok(())
}
