//! `danemail record` and `danemail check`.

use std::sync::Arc;

use anyhow::Context;
use danemail::civil::unix_now;
use danemail::config::Config;
use danemail::dane::{Address, DaneLookup, UsableOpenPgpKey};
use danemail::dns::SecureResolver;
use danemail::publish::openpgpkey::OpenPgpKeyRecord;
use danemail::publish::{self, CheckStatus, RecordShape, SmimeaRecord};
use openssl::x509::X509;

use super::args::{CheckArgs, KeysArgs, KeysCommand, RecordArgs};
use super::{apply_dns_flags, emit, EXIT_OK, EXIT_PROBLEM};

pub fn record(config: Config, args: RecordArgs) -> anyhow::Result<u8> {
    let address = Address::parse(&args.address)?;
    if let Some(path) = &args.openpgp {
        let record = OpenPgpKeyRecord::new(&address, &read_file(path)?, unix_now())
            .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
        let line = match args.format.as_str() {
            "generic" => record.generic(),
            _ => record.presentation(),
        };
        emit(&format!("{line}\n"))?;
        return Ok(EXIT_OK);
    }
    let certificate = certificate_for(&config, &address, args.cert.as_deref())?;
    let shape = RecordShape {
        usage: args.usage,
        selector: args.selector,
        matching: args.matching,
    };
    let record = SmimeaRecord::new(&address, &certificate, shape)?;
    let line = match args.format.as_str() {
        "generic" => record.generic(),
        _ => record.presentation(),
    };
    emit(&format!("{line}\n"))?;
    Ok(EXIT_OK)
}

pub async fn check(mut config: Config, args: CheckArgs) -> anyhow::Result<u8> {
    apply_dns_flags(&mut config.dns, &args.dns);
    let address = Address::parse(&args.address)?;
    let resolver = Arc::new(SecureResolver::new(&config.dns)?);
    let lookup = DaneLookup::new(resolver, config.policy.mode);
    let report = match &args.openpgp {
        Some(path) => {
            let key = UsableOpenPgpKey::from_user_file(&read_file(path)?, unix_now())
                .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
            publish::openpgpkey::check(&lookup, &address, &key).await
        }
        None => {
            let certificate = certificate_for(&config, &address, args.cert.as_deref())?;
            publish::check(&lookup, &address, &certificate).await
        }
    };
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&format!(
            "{}  {}: {}\n",
            report.address,
            report.status.to_string().to_uppercase(),
            report.detail
        ))?;
    }
    Ok(if report.status == CheckStatus::Ok {
        EXIT_OK
    } else {
        EXIT_PROBLEM
    })
}

/// The certificate given with `--cert`, else the key store's for `address`.
fn certificate_for(
    config: &Config,
    address: &Address,
    file: Option<&std::path::Path>,
) -> anyhow::Result<X509> {
    match file {
        Some(path) => read_certificate(path),
        None => {
            let storage = config
                .storage
                .resolved_dir()
                .context("no storage directory: set [storage] dir or give --cert")?;
            Ok(danemail::keys::KeyStore::open(&storage)?.certificate(address)?)
        }
    }
}

fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_certificate(path: &std::path::Path) -> anyhow::Result<X509> {
    let bytes = read_file(path)?;
    X509::from_pem(&bytes)
        .or_else(|_| X509::from_der(&bytes))
        .map_err(|_| anyhow::anyhow!("{}: not a PEM or DER certificate", path.display()))
}

pub fn keys(config: Config, args: KeysArgs) -> anyhow::Result<u8> {
    let command = args.command;
    let storage = config
        .storage
        .resolved_dir()
        .context("no storage directory: set [storage] dir")?;
    let mut store = danemail::keys::KeyStore::open(&storage)?;
    if let Some(path) = &args.passphrase_file {
        let passphrase = danemail::credentials::read_secret_file(path)?;
        store = store.with_sealer(danemail::keys::Sealer::Passphrase(passphrase));
    }
    match command {
        KeysCommand::Generate {
            email,
            algorithm,
            days,
            replace,
        } => {
            let address = Address::parse(&email)?;
            let key = if replace {
                store.replace(&address, algorithm, days)?
            } else {
                store.generate(&address, algorithm, days)?
            };
            let der = key.certificate.to_der()?;
            emit(&format!(
                "generated {} (certificate sha256 {}); publish: danemail record {} --cert <exported certificate>\n",
                key.address,
                hex::encode(openssl::sha::sha256(&der)),
                key.address
            ))?;
        }
        KeysCommand::Import {
            file,
            password_file,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let password = match password_file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                None => {
                    let mut line = String::new();
                    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let key = store
                .import(&bytes, &password)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            emit(&format!("imported {}\n", key.address))?;
        }
        KeysCommand::List => {
            for key in store.list()? {
                let der = key.certificate.to_der()?;
                emit(&format!(
                    "{}  sha256 {}  expires {}\n",
                    key.address,
                    hex::encode(openssl::sha::sha256(&der)),
                    key.certificate.not_after()
                ))?;
            }
            for key in store.retired()? {
                let der = key.certificate.to_der()?;
                emit(&format!(
                    "{}  sha256 {}  retired (kept to decrypt old mail)\n",
                    key.address,
                    hex::encode(openssl::sha::sha256(&der)),
                ))?;
            }
        }
        KeysCommand::ExportCert { address, der } => {
            let certificate = store.certificate(&Address::parse(&address)?)?;
            if der {
                use std::io::Write;
                std::io::stdout().write_all(&certificate.to_der()?)?;
            } else {
                emit(&String::from_utf8_lossy(&certificate.to_pem()?))?;
            }
        }
        KeysCommand::Decrypt { address } => {
            use std::io::{Read, Write};
            let address = Address::parse(&address)?;
            let key = store.private_key(&address)?;
            let certificate = store.certificate(&address)?;
            let mut message = Vec::new();
            std::io::stdin().read_to_end(&mut message)?;
            let cms = openssl::cms::CmsContentInfo::smime_read_cms(&message)
                .map_err(|e| anyhow::anyhow!("not an S/MIME message: {e}"))?;
            let content = cms
                .decrypt(&key, &certificate)
                .map_err(|e| anyhow::anyhow!("cannot decrypt with the key of {address}: {e}"))?;
            std::io::stdout().write_all(&content)?;
        }
        KeysCommand::Delete { address, yes } => {
            if !yes
                && !confirm(&format!(
                    "Delete the key for {address}? This cannot be undone. [y/N] "
                ))?
            {
                anyhow::bail!("not deleted (answer y, or pass --yes)");
            }
            store.delete(&Address::parse(&address)?)?;
            emit(&format!("deleted {address}\n"))?;
        }
    }
    Ok(EXIT_OK)
}

/// Asks on the terminal; anything but y/yes (or no terminal) is a no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
