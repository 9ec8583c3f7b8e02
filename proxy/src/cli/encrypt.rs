//! `danemail encrypt`: the proxy's plan and encryption for one message read
//! from stdin, each outgoing copy written to `DIR/<n>.eml`, the plan to
//! `DIR/plan.json`.

use std::collections::HashMap;
use std::io::{BufWriter, Seek};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use danemail::config::Config;
use danemail::dane::{Action, Address, DaneLookup, Decision, UsableCertificate};
use danemail::dns::SecureResolver;
use danemail::mime::{copy_canonical, has_bare_lf, Message};
use danemail::plan::{CopyBody, Plan};
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

    let from = Address::parse(&args.from).context("--from")?;
    let rcpts = args
        .rcpts
        .iter()
        .map(|r| Address::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let now = unix_now();
    let given = given_certificates(&args.certs, &rcpts, now)?;
    let sender = match &config.smime.sender_certificate {
        Some(path) => Some(user_certificate(path, now)?),
        None => None,
    };

    let message =
        Message::from_file(stdin_as_canonical_file()?).context("the message cannot be parsed")?;

    // Already-encrypted mail needs no certificate: skip the lookups.
    let needs_dns =
        message.protection().is_none() && rcpts.iter().any(|r| !given.contains_key(&key(r)));
    let engine = if needs_dns {
        let resolver = Arc::new(SecureResolver::new(&config.dns)?);
        Some(DaneLookup::new(resolver, config.policy.mode))
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
            (None, Some(engine)) => engine.decide(rcpt).await.0,
            (None, None) => Decision {
                action: Action::Plaintext,
                reason: "the message is already encrypted".into(),
            },
        };
        tracing::info!(recipient = %rcpt, decision = decision.action.name(), reason = %decision.reason);
        decisions.push((rcpt.original.clone(), decision));
    }

    let plan = Plan::new(&message, decisions, sender.as_ref());
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
        let (kind, certs): (&str, Vec<&str>) = match &copy.body {
            CopyBody::Encrypted(certs) => (
                "encrypted",
                certs.iter().map(UsableCertificate::sha256).collect(),
            ),
            CopyBody::Plaintext => ("plaintext", Vec::new()),
            CopyBody::PassThrough => ("pass-through", Vec::new()),
        };
        copies.push(json!({
            "file": file,
            "recipients": copy.recipients,
            "encrypted": kind == "encrypted",
            "kind": kind,
            "recipient_cert_sha256": certs,
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

fn user_certificate(path: &Path, now: i64) -> anyhow::Result<UsableCertificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    UsableCertificate::from_user_file(&bytes, now)
        .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))
}

fn key(address: &Address) -> String {
    address.original.to_lowercase()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
