//! Raw probes of one DNS server: the root DNSKEY RRset with the DO bit,
//! sent by hand over UDP or TCP so that each transport is tested on its own
//! (hickory's resolver would hide a failing one behind the other).
//!
//! Used by `doctor`, and by the resolver to tell a wrong system clock from a
//! bogus zone. Only the shape of the answer is read here, never trusted:
//! validation is the resolver's.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::dnssec::rdata::DNSSECRData;
use hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
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
pub struct Probe {
    pub response_code: ResponseCode,
    pub truncated: bool,
    pub dnskeys: usize,
    pub rrsigs: usize,
    /// Inception and expiration of a root DNSKEY RRSIG (Unix seconds).
    pub signature_window: Option<(u32, u32)>,
}

impl Probe {
    pub fn verdict(&self) -> Result<String, String> {
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
pub async fn probe(
    server: SocketAddr,
    transport: Transport,
    limit: Duration,
) -> Result<Probe, String> {
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

/// `YYYY-MM-DD hh:mm:ss UTC` without a date crate (civil-from-days, H. Hinnant).
pub fn format_unix(secs: u64) -> String {
    let c = crate::civil::civil(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

fn rand_id() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id()) as u16
}

/// Why the clock cannot be right, if `now` lies outside the validity of a
/// root DNSKEY signature (RFC 4034 §3.1.5; serial arithmetic is not needed
/// before 2106). A wrong clock makes every signature look expired.
pub fn clock_problem(now: SystemTime, (inception, expiration): (u32, u32)) -> Option<String> {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if (u64::from(inception)..=u64::from(expiration)).contains(&now) {
        return None;
    }
    Some(format!(
        "the system clock ({}) is outside the root signatures' validity ({} to {})",
        format_unix(now),
        format_unix(inception.into()),
        format_unix(expiration.into())
    ))
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
    fn clock_outside_signature_window_is_a_problem() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000);
        assert_eq!(clock_problem(now, (1_000, 3_000)), None);
        assert!(clock_problem(now, (2_500, 3_000))
            .unwrap()
            .contains("clock"));
        assert!(clock_problem(now, (500, 1_500)).is_some());
    }

    #[test]
    fn probe_verdicts() {
        let probe = |dnskeys, rrsigs, truncated| Probe {
            response_code: ResponseCode::NoError,
            truncated,
            dnskeys,
            rrsigs,
            signature_window: None,
        };
        assert!(probe(2, 1, false).verdict().is_ok());
        assert!(probe(0, 0, true).verdict().is_ok());
        assert!(probe(2, 0, false).verdict().unwrap_err().contains("strips"));
        assert!(probe(0, 0, false)
            .verdict()
            .unwrap_err()
            .contains("no root DNSKEY"));
    }
}
