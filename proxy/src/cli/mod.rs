//! The `danemail` subcommands: build a config from flags and file, call the
//! library, print.

pub mod args;
mod decrypt;
mod encrypt;
mod inbound;
mod publish;
mod render;
mod service;

use std::sync::Arc;

use anyhow::Context;
use danemail::config::{Config, DnsConfig};
use danemail::dane::{Address, DaneLookup, Scope};
use danemail::dns::{doctor, SecureResolver};
use tokio::task::JoinSet;

use args::{Cli, Command, DnsFlags, DoctorArgs, LookupArgs};

pub const EXIT_OK: u8 = 0;
pub const EXIT_PROBLEM: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// Prints a clap error as one line (help and version as clap renders them).
pub fn usage_error(err: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || matches!(
        err.kind(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return std::process::ExitCode::from(
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_USAGE
            } else {
                EXIT_OK
            },
        );
    }
    // clap's first paragraph (up to the blank line before "Usage:"), joined.
    let rendered = err.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = paragraph.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("danemail: {line} (see --help)");
    std::process::ExitCode::from(EXIT_USAGE)
}

/// Logs to stderr; `RUST_LOG` overrides. hickory's own warnings (one per
/// bogus answer) are off by default: the verdicts already say it.
pub fn init_logging(service: bool) {
    // The services (`run`, `inbound sync`) log one line per recipient
    // decision and per delivery (info); one-shot commands only warnings.
    let default = if service {
        "warn,danemail=info,hickory_proto=off,hickory_net=off,hickory_resolver=off"
    } else {
        "warn,hickory_proto=off,hickory_net=off,hickory_resolver=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a terminal: log files and journald get plain text.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Lookup(args) => lookup(config, args).await,
        Command::Doctor(args) => doctor(config, cli.config.as_deref(), args).await,
        Command::Encrypt(args) => encrypt::run(config, args).await,
        Command::Run => service::run(config).await,
        Command::Filter => service::filter(config).await,
        Command::Credentials => service::credentials(config),
        Command::Outbox(command) => service::outbox(config, command),
        Command::Upstream(command) => service::upstream(config, command),
        Command::Keys(args) => publish::keys(config, args),
        Command::Record(args) => publish::record(config, args),
        Command::Check(args) => publish::check(config, args).await,
        Command::Decrypt(args) => decrypt::run(config, args).await,
        Command::Inbound(command) => inbound::run(config, command).await,
    }
}

async fn lookup(mut config: Config, args: LookupArgs) -> anyhow::Result<u8> {
    // Check every address before any query: bad input fails fast and whole.
    let addresses = args
        .addresses
        .iter()
        .map(|a| Address::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    apply_dns_flags(&mut config.dns, &args.dns);
    if let Some(policy) = args.policy {
        config.policy.mode = policy;
    }
    let resolver = Arc::new(SecureResolver::new(&config.dns)?);
    let engine =
        DaneLookup::new(resolver, config.policy.mode).with_preference(config.policy.prefer);

    let scope = if args.smimea_only {
        Scope::SmimeaOnly
    } else {
        Scope::Everything
    };
    let mut tasks = JoinSet::new();
    for (index, address) in addresses.into_iter().enumerate() {
        let engine = engine.clone();
        tasks.spawn(async move { (index, engine.report(&address, scope).await) });
    }
    let mut reports = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        reports.push(joined.context("a lookup task failed")?);
    }
    reports.sort_by_key(|(index, _)| *index);
    let reports: Vec<_> = reports.into_iter().map(|(_, report)| report).collect();

    if args.json {
        emit(&format!("{}\n", render::lookup_json(&reports)?))?;
    } else {
        emit(&render::lookup_table(&reports))?;
    }
    Ok(EXIT_OK)
}

async fn doctor(
    mut config: Config,
    config_path: Option<&std::path::Path>,
    args: DoctorArgs,
) -> anyhow::Result<u8> {
    apply_dns_flags(&mut config.dns, &args.dns);
    let resolver = SecureResolver::new(&config.dns)?;
    let diagnosis = doctor::diagnose(&resolver, config.dns.timeout()).await;
    // Where this installation keeps things (the platform's dirs unless set).
    let config_file = config_path
        .map(ToOwned::to_owned)
        .or_else(Config::default_path);
    let config_state = match &config_file {
        Some(path) if path.exists() => "",
        Some(_) => " (absent: the embedded defaults are used)",
        None => "",
    };
    let paths = [
        (
            "config",
            config_file.map_or("none".into(), |p| p.display().to_string()),
        ),
        (
            "storage",
            config
                .storage
                .resolved_dir()
                .map_or("none".into(), |p| p.display().to_string()),
        ),
        ("log", "standard error (the journal under systemd)".into()),
    ];
    if args.json {
        let mut value = serde_json::to_value(&diagnosis)?;
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "paths".into(),
                serde_json::json!(paths
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeMap<_, _>>()),
            );
        }
        emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
    } else {
        let mut text = render::doctor_text(&diagnosis);
        text.push('\n');
        for (name, path) in &paths {
            let note = if *name == "config" { config_state } else { "" };
            text.push_str(&format!("{name:<8} {path}{note}\n"));
        }
        emit(&text)?;
    }
    Ok(if diagnosis.problem.is_some() {
        EXIT_PROBLEM
    } else {
        EXIT_OK
    })
}

pub(crate) fn apply_dns_flags(dns: &mut DnsConfig, flags: &DnsFlags) {
    if !flags.dns_servers.is_empty() {
        dns.servers = flags.dns_servers.clone();
    }
    if let Some(anchor) = &flags.trust_anchor {
        dns.trust_anchor = Some(anchor.clone());
    }
    if let Some(timeout) = flags.timeout_ms {
        dns.timeout_ms = timeout;
    }
}

/// Writes to stdout; a closed pipe (`danemail lookup … | head`) is not an error.
pub(crate) fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
