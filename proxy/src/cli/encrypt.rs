//! `danemail encrypt`: the proxy's plan and encryption for one message read
//! from stdin, each outgoing copy written to `DIR/<n>.eml`, the plan to
//! `DIR/plan.json`.

use danemail::civil::unix_now;
use std::collections::HashMap;
use std::io::{BufWriter, Seek};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use danemail::config::Config;
use danemail::dane::{Action, Address, DaneLookup, Decision, UsableCertificate, UsableOpenPgpKey};
use danemail::dns::SecureResolver;
use danemail::mime::{copy_canonical, has_bare_lf, Message};
use danemail::plan::{CopyBody, Plan, Senders};
use danemail::smime::EncryptOptions;
use serde_json::json;

use super::args::EncryptArgs;
use super::{apply_dns_flags, EXIT_OK};

pub async fn run(mut config: Config, args: EncryptArgs) -> anyhow::Result<u8> {
    apply_dns_flags(&mut config.dns, &args.dns);
    if let Some(policy) = args.policy {
        config.policy.mode = policy;
    }
    if let Some(cipher) = args.cipher {
        config.smime.cipher = cipher;
    }
    config.smime.rsa_oaep |= args.rsa_oaep;
    if let Some(path) = &args.sender_cert {
        config.smime.sender_certificate = Some(path.clone());
    }
    if let Some(path) = &args.sender_openpgp_key {
        config.openpgp.sender_key = Some(path.clone());
    }
    if let Some(prefer) = args.prefer {
        config.policy.prefer = prefer;
    }

    let from = Address::parse(&args.from).context("--from")?;
    let rcpts = args
        .rcpts
        .iter()
        .map(|r| Address::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let now = unix_now();
    let given = given_certificates(&args.certs, &rcpts, now)?;
    let given_keys = given_openpgp_keys(&args.openpgp_keys, &rcpts, now)?;
    let sender = match &config.smime.sender_certificate {
        Some(path) => Some(user_certificate(path, now)?),
        None => None,
    };
    let sender_openpgp = match &config.openpgp.sender_key {
        Some(path) => Some(user_openpgp_key(path, now)?),
        None => None,
    };

    let message =
        Message::from_file(stdin_as_canonical_file()?).context("the message cannot be parsed")?;

    // Already-encrypted mail needs no certificate: skip the lookups.
    let needs_dns = message.protection().is_none()
        && rcpts
            .iter()
            .any(|r| !given.contains_key(&key(r)) && !given_keys.contains_key(&key(r)));
    let engine = if needs_dns {
        let resolver = Arc::new(SecureResolver::new(&config.dns)?);
        Some(DaneLookup::new(resolver, config.policy.mode).with_preference(config.policy.prefer))
    } else {
        None
    };
    let mut decisions = Vec::with_capacity(rcpts.len());
    for rcpt in &rcpts {
        let decision = match (given.get(&key(rcpt)), &engine) {
            (Some(certs), _) => Decision {
                action: Action::Encrypt(certs.clone()),
                reason: format!("encrypting to the certificate given for {rcpt} (--cert)"),
            },
            (None, _) if given_keys.contains_key(&key(rcpt)) => Decision {
                action: Action::EncryptOpenPgp(given_keys[&key(rcpt)].clone()),
                reason: format!("encrypting to the OpenPGP key given for {rcpt} (--openpgp-key)"),
            },
            (None, Some(engine)) => engine.decide(rcpt).await.0,
            (None, None) => Decision {
                action: Action::Plaintext,
                reason: "the message is already encrypted".into(),
            },
        };
        tracing::info!(recipient = %rcpt, decision = decision.action.name(), reason = %decision.reason);
        decisions.push((rcpt.original.clone(), decision));
    }

    let plan = Plan::new(
        &message,
        decisions,
        Senders {
            certificate: sender.as_ref(),
            openpgp: sender_openpgp.as_ref(),
        },
    );
    write_plan(&args.out_dir, &message, &plan, &from, options(&config))?;
    Ok(EXIT_OK)
}

fn options(config: &Config) -> EncryptOptions {
    EncryptOptions {
        cipher: config.smime.cipher,
        rsa_oaep: config.smime.rsa_oaep,
    }
}

fn write_plan(
    dir: &Path,
    message: &Message,
    plan: &Plan,
    from: &Address,
    options: EncryptOptions,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut copies = Vec::new();
    for (index, copy) in plan.copies.iter().enumerate() {
        let file = format!("{}.eml", index + 1);
        let path = dir.join(&file);
        let out =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(256 * 1024, out);
        copy.write(message, options, &mut out)
            .with_context(|| format!("writing {}", path.display()))?;
        let (certs, keys): (Vec<&str>, Vec<&str>) = match &copy.body {
            CopyBody::Encrypted(certs) => (
                certs.iter().map(UsableCertificate::sha256).collect(),
                Vec::new(),
            ),
            CopyBody::EncryptedOpenPgp(keys) => (
                Vec::new(),
                keys.iter().map(UsableOpenPgpKey::fingerprint).collect(),
            ),
            CopyBody::Plaintext | CopyBody::PassThrough => (Vec::new(), Vec::new()),
        };
        let kind = copy.body.kind();
        copies.push(json!({
            "file": file,
            "recipients": copy.recipients,
            "encrypted": kind.starts_with("encrypted"),
            "kind": kind,
            "recipient_cert_sha256": certs,
            "recipient_openpgp_fingerprints": keys,
        }));
    }
    let refused: Vec<_> = plan
        .refused
        .iter()
        .map(|r| {
            json!({
                "recipient": r.recipient,
                "decision": r.decision.action.name(),
                "reason": r.decision.reason,
            })
        })
        .collect();
    let json = json!({ "from": from.original, "copies": copies, "refused": refused });
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The message on stdin as a file with CRLF line ends: stdin itself when it
/// is a regular file already in that form (the usual `< message.eml` from an
/// SMTP spool), else an unnamed temporary copy made canonical. Either way
/// the body is read from disk once per copy, never held in memory.
fn stdin_as_canonical_file() -> anyhow::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let file = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
        if file.metadata().is_ok_and(|m| m.is_file()) && !has_bare_lf(&file)? {
            (&file).rewind()?;
            return Ok(file);
        }
        (&file).rewind().ok();
    }
    let mut spool = tempfile::tempfile().context("creating a spool file")?;
    copy_canonical(std::io::stdin().lock(), BufWriter::new(&mut spool))
        .context("reading the message from stdin")?;
    spool.rewind()?;
    Ok(spool)
}

/// `--cert` files by the recipient they name; each must name one.
fn given_certificates(
    files: &[std::path::PathBuf],
    rcpts: &[Address],
    now: i64,
) -> anyhow::Result<HashMap<String, Vec<UsableCertificate>>> {
    let mut given: HashMap<String, Vec<UsableCertificate>> = HashMap::new();
    for path in files {
        let cert = user_certificate(path, now)?;
        let names = cert.email_addresses();
        let matching: Vec<&Address> = rcpts.iter().filter(|r| names.contains(&key(r))).collect();
        if matching.is_empty() {
            bail!(
                "--cert {}: names {} but no --rcpt is one of them",
                path.display(),
                if names.is_empty() {
                    "no e-mail address".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        for rcpt in matching {
            given.entry(key(rcpt)).or_default().push(cert.clone());
        }
    }
    Ok(given)
}

/// `--openpgp-key` files by the recipient their User IDs name.
fn given_openpgp_keys(
    files: &[std::path::PathBuf],
    rcpts: &[Address],
    now: i64,
) -> anyhow::Result<HashMap<String, Vec<UsableOpenPgpKey>>> {
    let mut given: HashMap<String, Vec<UsableOpenPgpKey>> = HashMap::new();
    for path in files {
        let openpgp = user_openpgp_key(path, now)?;
        let matching: Vec<&Address> = rcpts.iter().filter(|r| openpgp.names(r)).collect();
        if matching.is_empty() {
            bail!(
                "--openpgp-key {}: its User IDs ({}) name no --rcpt",
                path.display(),
                openpgp.user_ids().join(", ")
            );
        }
        for rcpt in matching {
            given.entry(key(rcpt)).or_default().push(openpgp.clone());
        }
    }
    Ok(given)
}

fn user_openpgp_key(path: &Path, now: i64) -> anyhow::Result<UsableOpenPgpKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    UsableOpenPgpKey::from_user_file(&bytes, now)
        .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))
}

fn user_certificate(path: &Path, now: i64) -> anyhow::Result<UsableCertificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    UsableCertificate::from_user_file(&bytes, now)
        .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))
}

fn key(address: &Address) -> String {
    address.original.to_lowercase()
}
