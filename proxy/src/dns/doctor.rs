//! `danemail doctor`: can lookups be trusted on this network?
//!
//! Many home routers and some public resolvers strip DNSSEC records or
//! refuse TCP; a skewed clock makes every signature look expired. Each makes
//! validation fail (fail-closed, so mail is held, not leaked). This module
//! finds which, and says what to change.
//!
//! The per-server probes are plain queries for the root DNSKEY RRset with
//! the DO bit, sent by hand over UDP and over TCP, so that each transport is
//! tested on its own (hickory's resolver would hide a failing one behind the
//! other). Only their shape is checked here; validation is the resolver's.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::dnssec::rdata::DNSSECRData;
use hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::answer::DnsAnswer;
use super::resolver::SecureResolver;

/// One check and its outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Everything `doctor` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnosis {
    pub checks: Vec<Check>,
    /// `None` when lookups can be trusted; else one line saying why not and
    /// what to change.
    pub problem: Option<String>,
}

/// Probes every server of `resolver` and validates the root keys.
pub async fn diagnose(resolver: &SecureResolver, query_timeout: Duration) -> Diagnosis {
    let mut checks = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut signature_windows = Vec::new();

    for &server in resolver.servers() {
        for transport in [Transport::Udp, Transport::Tcp] {
            let name = format!("{server} {transport}");
            match probe(server, transport, query_timeout).await {
                Ok(probe) => {
                    let verdict = probe.verdict();
                    if let Some(window) = probe.signature_window {
                        signature_windows.push(window);
                    }
                    match verdict {
                        Ok(detail) => checks.push(Check {
                            name,
                            ok: true,
                            detail,
                        }),
                        Err(why) => {
                            problems.push(format!("{server} over {transport} {why}"));
                            checks.push(Check {
                                name,
                                ok: false,
                                detail: why,
                            });
                        }
                    }
                }
                Err(why) => {
                    problems.push(format!("{server} over {transport}: {why}"));
                    checks.push(Check {
                        name,
                        ok: false,
                        detail: why,
                    });
                }
            }
        }
    }

    let clock = check_clock(SystemTime::now(), &signature_windows);
    if let Some(check) = clock {
        if !check.ok {
            problems.insert(0, check.detail.clone());
        }
        checks.push(check);
    }

    let validated = resolver.query(&Name::root(), RecordType::DNSKEY).await;
    let ok = matches!(validated, DnsAnswer::Secure(_));
    let detail = match &validated {
        DnsAnswer::Secure(keys) => format!(
            "{} root DNSKEYs validated from the trust anchor",
            keys.len()
        ),
        other => format!(
            "root DNSKEY is {}: {}",
            other.security(),
            other.failure().unwrap_or("not signed")
        ),
    };
    if !ok {
        problems.push(format!(
            "the root keys do not validate against the trust anchor ({detail}); \
             check [dns] trust_anchor and the clock"
        ));
    }
    checks.push(Check {
        name: "root DNSKEY validation".into(),
        ok,
        detail,
    });

    let problem = problems.first().map(|first| {
        format!(
            "lookups cannot be trusted on this network: {first}. {}",
            advice(first)
        )
    });
    Diagnosis { checks, problem }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// What one server said about the root DNSKEY RRset.
struct Probe {
    response_code: ResponseCode,
    truncated: bool,
    dnskeys: usize,
    rrsigs: usize,
    signature_window: Option<(u32, u32)>,
}

impl Probe {
    fn verdict(&self) -> Result<String, String> {
        if self.response_code != ResponseCode::NoError {
            return Err(format!(
                "answered {:?} for the root DNSKEY",
                self.response_code
            ));
        }
        if self.truncated {
            // A truncated UDP answer is fine: the TCP probe covers that server.
            return Ok("answer truncated over UDP; TCP carries it".into());
        }
        if self.dnskeys == 0 {
            return Err("returned no root DNSKEY: it does not pass DNSSEC data through".into());
        }
        if self.rrsigs == 0 {
            return Err("strips DNSSEC signatures (no RRSIG with the root DNSKEY)".into());
        }
        Ok(format!(
            "{} DNSKEY with {} RRSIG",
            self.dnskeys, self.rrsigs
        ))
    }
}

/// Sends `. DNSKEY` with DO=1 to `server` over `transport`.
async fn probe(server: SocketAddr, transport: Transport, limit: Duration) -> Result<Probe, String> {
    let mut query = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::root(), RecordType::DNSKEY));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true).set_max_payload(1232);
    query.set_edns(edns);
    let wire = query.to_vec().map_err(|e| e.to_string())?;

    let exchange = async {
        match transport {
            Transport::Udp => {
                let bind: SocketAddr = if server.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let socket = UdpSocket::bind(bind).await?;
                socket.connect(server).await?;
                socket.send(&wire).await?;
                let mut buf = vec![0u8; 65535];
                let n = socket.recv(&mut buf).await?;
                buf.truncate(n);
                Ok::<_, std::io::Error>(buf)
            }
            Transport::Tcp => {
                let mut stream = TcpStream::connect(server).await?;
                let len = u16::try_from(wire.len()).expect("a query fits in 64 KiB");
                stream.write_all(&len.to_be_bytes()).await?;
                stream.write_all(&wire).await?;
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await?;
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut buf).await?;
                Ok(buf)
            }
        }
    };
    let bytes = match timeout(limit, exchange).await {
        Err(_) => return Err(format!("no answer within {} ms", limit.as_millis())),
        Ok(Err(e)) => return Err(format!("no answer: {e}")),
        Ok(Ok(bytes)) => bytes,
    };
    let response = Message::from_vec(&bytes).map_err(|e| format!("malformed answer: {e}"))?;

    let mut probe = Probe {
        response_code: response.metadata.response_code,
        truncated: response.metadata.truncation,
        dnskeys: 0,
        rrsigs: 0,
        signature_window: None,
    };
    for record in &response.answers {
        match &record.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(_)) => probe.dnskeys += 1,
            RData::DNSSEC(DNSSECRData::RRSIG(sig))
                if sig.input().type_covered == RecordType::DNSKEY =>
            {
                probe.rrsigs += 1;
                let input = sig.input();
                probe.signature_window =
                    Some((input.sig_inception.get(), input.sig_expiration.get()));
            }
            _ => {}
        }
    }
    Ok(probe)
}

/// The clock is sane when it lies inside the validity of the root DNSKEY
/// signatures just seen (RFC 4034 §3.1.5 serial arithmetic is not needed
/// before 2106).
fn check_clock(now: SystemTime, windows: &[(u32, u32)]) -> Option<Check> {
    let &(inception, expiration) = windows.first()?;
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ok = (u64::from(inception)..=u64::from(expiration)).contains(&now_secs);
    let detail = if ok {
        "system clock is inside the root signatures' validity".to_string()
    } else {
        format!(
            "the system clock ({}) is outside the root signatures' validity ({} to {}): \
             every signature will look expired",
            format_unix(now_secs),
            format_unix(inception.into()),
            format_unix(expiration.into())
        )
    };
    Some(Check {
        name: "clock".into(),
        ok,
        detail,
    })
}

fn advice(problem: &str) -> &'static str {
    if problem.contains("clock") {
        "Set the system clock (enable NTP time sync)."
    } else if problem.contains("strips") || problem.contains("does not pass") {
        "Point [dns] servers at a resolver that passes DNSSEC data (e.g. a local unbound), not the home router."
    } else if problem.contains("TCP") {
        "Allow DNS over TCP to the resolver (port 53): large SMIMEA answers need it."
    } else if problem.contains("trust anchor") {
        "Remove [dns] trust_anchor to use the IANA root keys, or fix the file."
    } else {
        "Check that [dns] servers lists reachable resolvers."
    }
}

/// `YYYY-MM-DD hh:mm:ss UTC` without a date crate (civil-from-days, H. Hinnant).
fn format_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn rand_id() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id()) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_time() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(1_795_867_200), "2026-11-28 12:00:00 UTC");
    }

    #[test]
    fn clock_outside_signature_window_is_flagged() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000);
        assert!(check_clock(now, &[(1_000, 3_000)]).unwrap().ok);
        let check = check_clock(now, &[(2_500, 3_000)]).unwrap();
        assert!(!check.ok);
        assert!(check.detail.contains("clock"));
        assert!(check_clock(now, &[]).is_none());
    }
}
