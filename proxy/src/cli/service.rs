//! `danemail run`, `credentials`, `outbox …` and `upstream …`.

use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use danemail::config::Config;
use danemail::outbox::{Spool, SpoolError, Status};
use danemail::{credentials, service};

use super::args::{OutboxCommand, UpstreamCommand};
use super::EXIT_OK;

pub async fn run(config: Config) -> anyhow::Result<u8> {
    service::run(config, service::shutdown_signal()).await?;
    Ok(EXIT_OK)
}

/// `danemail filter`: the content filter until SIGINT/SIGTERM.
pub async fn filter(config: Config) -> anyhow::Result<u8> {
    let listener = danemail::filter::bind(&config).await?;
    danemail::filter::run(&config, listener, service::shutdown_signal()).await?;
    Ok(EXIT_OK)
}

pub fn credentials(config: Config) -> anyhow::Result<u8> {
    let storage = config
        .storage
        .resolved_dir()
        .context("no storage directory: set [storage] dir")?;
    let password = credentials::local_password(&config.smtp, &storage)?;
    println!(
        "server:   {} (SMTP submission; STARTTLS offered)",
        config.smtp.listen
    );
    println!("username: {}", config.smtp.username);
    println!("password: {}", password.password);
    println!("stored in: {}", password.storage);
    println!(
        "tls CA:   {} (import to trust the local certificate)",
        storage.join("tls").join("ca.pem").display()
    );
    Ok(EXIT_OK)
}

pub fn outbox(config: Config, command: OutboxCommand) -> anyhow::Result<u8> {
    let storage = config
        .storage
        .resolved_dir()
        .context("no storage directory: set [storage] dir")?;
    // `danemail run` may be receiving into tmp/ right now: attach, never clear.
    let spool = Spool::attach(&storage.join("outbox"));
    match command {
        OutboxCommand::List { json } => {
            let entries: Vec<_> = spool
                .ids()
                .iter()
                .filter_map(|id| spool.load(id).ok())
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("outbox is empty");
            } else {
                for entry in &entries {
                    println!(
                        "{}  from <{}>  attempts {}  next {}",
                        entry.id,
                        entry.from,
                        entry.attempts,
                        relative(entry.next_attempt)
                    );
                    for copy in &entry.copies {
                        for r in &copy.recipients {
                            let status = match r.status {
                                Status::Pending => "pending",
                                Status::Delivered => "delivered",
                                Status::Bounced => "bounced",
                            };
                            println!(
                                "    {:<9} {:<12} {}  {}",
                                status,
                                copy.kind,
                                r.address,
                                r.detail.as_deref().unwrap_or("")
                            );
                        }
                    }
                }
            }
        }
        OutboxCommand::Retry { ids } => {
            let ids = if ids.is_empty() { spool.ids() } else { ids };
            for id in ids {
                spool.retry_now(&id)?;
                println!("{id}: will be retried at the next scan (within 30 s)");
            }
        }
        OutboxCommand::Delete { id } => match spool.remove(&id) {
            Ok(()) => println!("{id}: deleted"),
            Err(SpoolError::NotFound(_)) => bail!("no outbox entry {id}"),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(EXIT_OK)
}

pub fn upstream(config: Config, command: UpstreamCommand) -> anyhow::Result<u8> {
    match command {
        UpstreamCommand::SetPassword => {
            if config.upstream.username.is_empty() || config.upstream.host.is_empty() {
                bail!("set [upstream] host and username first");
            }
            eprintln!(
                "password for {}@{} (one line on stdin):",
                config.upstream.username, config.upstream.host
            );
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("empty password; nothing stored");
            }
            credentials::set_upstream_password(&config.upstream, password)?;
            println!("stored in the OS keyring");
        }
    }
    Ok(EXIT_OK)
}

fn relative(unix: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if unix <= now {
        "now".into()
    } else {
        format!("in {} s", unix - now)
    }
}
