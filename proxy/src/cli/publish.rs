//! `danemail record` and `danemail check`.

use std::sync::Arc;

use anyhow::Context;
use danemail::config::Config;
use danemail::dane::{Address, DaneLookup};
use danemail::dns::SecureResolver;
use danemail::publish::{self, CheckStatus, RecordShape, SmimeaRecord};
use openssl::x509::X509;

use super::args::{CheckArgs, RecordArgs};
use super::{apply_dns_flags, emit, EXIT_OK, EXIT_PROBLEM};

pub fn record(args: RecordArgs) -> anyhow::Result<u8> {
    let address = Address::parse(&args.address)?;
    let certificate = read_certificate(&args.cert)?;
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
    let certificate = read_certificate(&args.cert)?;
    let resolver = Arc::new(SecureResolver::new(&config.dns)?);
    let lookup = DaneLookup::new(resolver, config.policy.mode);
    let report = publish::check(&lookup, &address, &certificate).await;
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

fn read_certificate(path: &std::path::Path) -> anyhow::Result<X509> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    X509::from_pem(&bytes)
        .or_else(|_| X509::from_der(&bytes))
        .map_err(|_| anyhow::anyhow!("{}: not a PEM or DER certificate", path.display()))
}
