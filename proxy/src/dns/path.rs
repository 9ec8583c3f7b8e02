//! One way of reaching DNS: the configured (or system) resolvers in the
//! clear, DNS over TLS (RFC 7858) or DNS over HTTPS (RFC 8484). Each path is
//! its own hickory resolver validating from the same trust anchor; only the
//! transport differs, never what is trusted (an upstream's AD bit is not
//! read on any path).
//!
//! A path *passes* when DNSSEC data crosses it intact: the root DNSKEY
//! RRset validates from the trust anchor through it (which also needs a
//! sane clock), and, in the clear, every answering server hands out RRSIGs
//! over UDP and TCP ([`super::probe`]).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::dnssec::TrustAnchors;
use hickory_resolver::proto::rr::{Name, RecordType};
use hickory_resolver::TokioResolver;

use super::answer::DnsAnswer;
use super::probe::{probe, Transport};
use crate::config::{HttpsServer, TlsServer};

/// The kinds of path, in the order they are preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// UDP, and TCP for large answers, to `[dns] servers` or the system's.
    Clear,
    Tls,
    Https,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Clear => "clear",
            Self::Tls => "tls",
            Self::Https => "https",
        })
    }
}

/// Whether a path passed its probe, and what was seen. A failure's
/// detail reads on from the path's words ("over UDP strips …", "fails: …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ok: bool,
    pub detail: String,
}

/// One path and its resolver (whose connections and cache it keeps).
pub struct DnsPath {
    pub kind: PathKind,
    /// The path in words: "the configured resolver 127.0.0.1:53",
    /// "DNS over TLS to 9.9.9.9:853 (dns.quad9.net)".
    pub words: String,
    resolver: TokioResolver,
    /// The clear servers, probed by hand (empty for encrypted paths).
    clear: Vec<SocketAddr>,
}

/// What every path's resolver shares.
pub struct Common {
    pub anchors: Arc<TrustAnchors>,
    pub opts: ResolverOpts,
    pub tls: rustls::ClientConfig,
}

impl DnsPath {
    /// `servers` in the clear, over UDP with TCP for truncated answers.
    pub fn clear(servers: &[SocketAddr], system: bool, common: &Common) -> Result<Self, String> {
        let name_servers = servers
            .iter()
            .map(|addr| {
                // UDP first, TCP for truncated answers: SMIMEA answers exceed 1232 bytes.
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                server
            })
            .collect();
        let list = join(servers.iter().map(ToString::to_string));
        let whose = if system { "system" } else { "configured" };
        let words = match servers {
            [_] => format!("the {whose} resolver {list}"),
            _ => format!("the {whose} resolvers {list}"),
        };
        Ok(Self {
            kind: PathKind::Clear,
            words,
            resolver: build(name_servers, common)?,
            clear: servers.to_vec(),
        })
    }

    /// DNS over TLS to `servers`, each certificate checked for its name.
    pub fn tls(servers: &[TlsServer], common: &Common) -> Result<Self, String> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut connection = ConnectionConfig::tls(Arc::from(server.name.as_str()));
                connection.port = server.addr.port();
                NameServerConfig::new(server.addr.ip(), true, vec![connection])
            })
            .collect();
        let list = join(servers.iter().map(|s| format!("{} ({})", s.addr, s.name)));
        Ok(Self {
            kind: PathKind::Tls,
            words: format!("DNS over TLS to {list}"),
            resolver: build(name_servers, common)?,
            clear: Vec::new(),
        })
    }

    /// DNS over HTTPS (HTTP/2) to `servers`.
    pub fn https(servers: &[HttpsServer], common: &Common) -> Result<Self, String> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut connection = ConnectionConfig::https(
                    Arc::from(server.name.as_str()),
                    Some(Arc::from(server.path.as_str())),
                );
                connection.port = server.addr.port();
                NameServerConfig::new(server.addr.ip(), true, vec![connection])
            })
            .collect();
        let list = join(servers.iter().map(ToString::to_string));
        Ok(Self {
            kind: PathKind::Https,
            words: format!("DNS over HTTPS to {list}"),
            resolver: build(name_servers, common)?,
            clear: Vec::new(),
        })
    }

    /// Why this path was not used, in words ("the configured resolver
    /// 127.0.0.1:53 over UDP strips …", "DNS over TLS to … fails: …"):
    /// a failed probe's detail continues the path's words.
    pub fn failure(&self, health: &Health) -> String {
        format!("{} {}", self.words, health.detail)
    }

    /// One validated lookup on this path.
    pub async fn lookup(&self, name: &Name, query_type: RecordType) -> Result<Lookup, NetError> {
        self.resolver.lookup(name.clone(), query_type).await
    }

    pub fn clear_cache(&self) {
        self.resolver.clear_cache();
    }

    /// Whether DNSSEC data crosses this path now. Forgets the path's cached
    /// responses first, so the answer comes over the network.
    pub async fn probe(&self, limit: std::time::Duration) -> Health {
        let mut answered = 0;
        for &server in &self.clear {
            for transport in [Transport::Udp, Transport::Tcp] {
                match probe(server, transport, limit).await {
                    Ok(probe) => {
                        answered += 1;
                        if let Err(why) = probe.verdict() {
                            // "… the configured resolver 127.0.0.1:53 over UDP strips …"
                            let which = match self.clear.len() {
                                1 => String::new(),
                                _ => format!("({server}) "),
                            };
                            return Health {
                                ok: false,
                                detail: format!("{which}over {transport} {why}"),
                            };
                        }
                    }
                    // A dead server among live ones is hickory's to route
                    // around; a path with none answering fails below.
                    Err(why) => tracing::debug!(%server, %transport, %why, "dns probe"),
                }
            }
        }
        if !self.clear.is_empty() && answered == 0 {
            return Health {
                ok: false,
                detail: "did not answer".into(),
            };
        }
        self.resolver.clear_cache();
        let result = self.resolver.lookup(Name::root(), RecordType::DNSKEY).await;
        match DnsAnswer::from_lookup(RecordType::DNSKEY, &result) {
            DnsAnswer::Secure(keys) => Health {
                ok: true,
                detail: format!(
                    "{} root DNSKEYs validated from the trust anchor",
                    keys.len()
                ),
            },
            other => Health {
                ok: false,
                detail: format!(
                    "fails: the root DNSKEY is {} through it: {}",
                    other.security(),
                    other.failure().unwrap_or("not signed")
                ),
            },
        }
    }
}

fn build(name_servers: Vec<NameServerConfig>, common: &Common) -> Result<TokioResolver, String> {
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(name_servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(common.opts.clone())
    .with_trust_anchor(common.anchors.clone())
    .with_tls_config(common.tls.clone())
    .build()
    .map_err(|e| e.to_string())
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
