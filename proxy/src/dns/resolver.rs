//! The validating stub resolver: hickory with DNSSEC validation from a
//! configured trust anchor, over the first path that carries DNSSEC data
//! (the configured or system servers in the clear, DNS over TLS, DNS over
//! HTTPS: [`super::choice`]), and one verdict cache shared by all paths.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::config::{ResolveHosts, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::TrustAnchors;
use hickory_resolver::proto::rr::{Name, RecordType};

use super::answer::DnsAnswer;
use super::cache::AnswerCache;
use super::choice::{Choice, PathReport, Paths};
use super::path::{Common, DnsPath};
use super::probe::{clock_problem, probe, Transport};
use crate::config::{DnsConfig, Fallback};

/// Why a resolver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("trust anchor file {path}: {why}")]
    TrustAnchor { path: String, why: String },
    #[error("cannot read the system's DNS configuration: {0}; set [dns] servers")]
    SystemConfig(String),
    #[error("no DNS servers configured; set [dns] servers")]
    NoServers,
    #[error("cannot start the resolver: {0}")]
    Build(String),
    #[error("[dns] ca_file {0}")]
    CaFile(String),
    #[error("[dns] private = true needs a path that is not in the clear: set [dns] fallback (and tls_servers or https_servers)")]
    NoPrivatePath,
}

/// A DNSSEC-validating resolver. Cheap to share behind an `Arc`.
pub struct SecureResolver {
    paths: Arc<Paths>,
    cache: AnswerCache,
    servers: Vec<SocketAddr>,
    max_ttl: Duration,
    negative_max_ttl: Duration,
    timeout: Duration,
    /// Last clock check: when, and the problem found (if any).
    clock: Mutex<Option<(Instant, Option<String>)>>,
}

/// How long a clock check is reused: each costs a round trip.
const CLOCK_RECHECK: Duration = Duration::from_secs(60);

impl SecureResolver {
    /// Builds a resolver from `[dns]`. Must be called inside a tokio runtime.
    pub fn new(config: &DnsConfig) -> Result<Self, SetupError> {
        let anchors = load_trust_anchor(config.trust_anchor.as_deref())?;
        // With `private`, nothing goes in the clear: no clear servers at all.
        let servers = if config.private {
            Vec::new()
        } else if config.servers.is_empty() {
            system_servers()?
        } else {
            config.servers.clone()
        };
        if servers.is_empty() && !config.private {
            return Err(SetupError::NoServers);
        }
        let mut opts = ResolverOpts::default();
        opts.validate = true;
        opts.timeout = config.timeout();
        opts.attempts = config.attempts.max(1);
        opts.edns0 = true;
        // Every name we ask is fully qualified; no search list, no hosts file
        // (an unsigned local file must never answer for DNSSEC data).
        opts.ndots = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.try_tcp_on_error = true;
        // Keep CNAMEs in answers so their proof is checked too.
        opts.preserve_intermediates = true;
        opts.positive_max_ttl = Some(Duration::from_secs(config.cache_max_ttl_secs));
        opts.negative_max_ttl = Some(Duration::from_secs(config.cache_negative_max_ttl_secs));
        let common = Common {
            anchors: Arc::new(anchors),
            opts,
            tls: crate::roots::client_config(config.ca_file.as_deref())
                .map_err(SetupError::CaFile)?,
        };

        let mut paths = Vec::new();
        if !config.private {
            paths.push(
                DnsPath::clear(&servers, config.servers.is_empty(), &common)
                    .map_err(SetupError::Build)?,
            );
        }
        for fallback in &config.fallback {
            let path = match fallback {
                Fallback::Tls => {
                    let servers = config.tls_servers();
                    (!servers.is_empty()).then(|| DnsPath::tls(&servers, &common))
                }
                Fallback::Https => {
                    let servers = config.https_servers();
                    (!servers.is_empty()).then(|| DnsPath::https(&servers, &common))
                }
            };
            if let Some(path) = path {
                paths.push(path.map_err(SetupError::Build)?);
            }
        }
        if paths.is_empty() {
            return Err(SetupError::NoPrivatePath);
        }

        Ok(Self {
            paths: Arc::new(Paths::new(paths, config.timeout())),
            cache: AnswerCache::default(),
            servers,
            max_ttl: Duration::from_secs(config.cache_max_ttl_secs),
            negative_max_ttl: Duration::from_secs(config.cache_negative_max_ttl_secs),
            timeout: config.timeout(),
            clock: Mutex::new(None),
        })
    }

    /// The servers queries go to.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Queries `name` (fully qualified) for `query_type` and validates the answer.
    pub async fn query(&self, name: &Name, query_type: RecordType) -> DnsAnswer {
        let now = Instant::now();
        if let Some(answer) = self.cache.get(name, query_type, now) {
            return answer;
        }
        let (mut index, stale) = self.paths.active().await;
        if stale {
            let paths = self.paths.clone();
            tokio::spawn(async move { paths.choose(Instant::now()).await });
        }
        let mut result = self.paths.get(index).lookup(name, query_type).await;
        let mut answer = DnsAnswer::from_lookup(query_type, &result);
        if answer.failure().is_some() {
            // Bogus or no verdict: a verdict if the path still carries
            // DNSSEC data; else the network changed, and one retry on the
            // path chosen now decides.
            if let Some(next) = self.paths.after_failure(index, now).await {
                index = next;
                result = self.paths.get(index).lookup(name, query_type).await;
                answer = DnsAnswer::from_lookup(query_type, &result);
            }
        }
        if matches!(answer, DnsAnswer::Bogus(_)) {
            // A wrong clock makes every signature look expired: that is no
            // verdict on the zone (still never plaintext).
            if let Some(problem) = self.clock_skew().await {
                answer = DnsAnswer::Indeterminate(format!(
                    "{problem}, so no signature can be checked; fix the system clock"
                ));
            }
        }
        let ttl = self.ttl_of(&result, now);
        let path = self.paths.get(index).kind;
        tracing::debug!(%name, %query_type, verdict = answer.label(), ttl = ttl.as_secs(), %path, "dns");
        self.cache.put(name.clone(), query_type, &answer, ttl, now);
        answer
    }

    /// The path lookups take and why (choosing one if none was chosen yet).
    pub async fn path(&self) -> Choice {
        self.paths.active().await;
        self.paths.choice()
    }

    /// Probes every path again, in order, and chooses; then every path
    /// with its probe (`None`: not probed, an earlier one passes).
    pub async fn choose_path(&self) -> (Choice, Vec<PathReport>) {
        self.paths.choose(Instant::now()).await;
        (self.paths.choice(), self.paths.reports())
    }

    /// Forgets every cached answer (hickory's and ours).
    pub fn clear_cache(&self) {
        self.cache.clear();
        for path in self.paths.all() {
            path.clear_cache();
        }
    }

    /// Whether the system clock is outside the validity of the root DNSKEY
    /// signatures served by the first server that returns one.
    async fn clock_skew(&self) -> Option<String> {
        let lock = || self.clock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((checked, problem)) = &*lock() {
            if checked.elapsed() < CLOCK_RECHECK {
                return problem.clone();
            }
        }
        let mut problem = None;
        'servers: for &server in &self.servers {
            for transport in [Transport::Udp, Transport::Tcp] {
                if let Ok(Some(window)) = probe(server, transport, self.timeout)
                    .await
                    .map(|p| p.signature_window)
                {
                    problem = clock_problem(SystemTime::now(), window);
                    break 'servers;
                }
            }
        }
        *lock() = Some((Instant::now(), problem.clone()));
        problem
    }

    /// How long an answer may be reused: its TTL for data, the SOA's
    /// negative TTL (RFC 2308 §5) for absence, each capped by the config.
    fn ttl_of(&self, result: &Result<Lookup, NetError>, now: Instant) -> Duration {
        match result {
            Ok(lookup) => lookup
                .valid_until()
                .saturating_duration_since(now)
                .min(self.max_ttl),
            Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
                let soa_ttl = no_records
                    .soa
                    .as_ref()
                    .map(|soa| soa.ttl.min(soa.data.minimum))
                    .unwrap_or(0);
                Duration::from_secs(soa_ttl.into()).min(self.negative_max_ttl)
            }
            Err(_) => Duration::ZERO,
        }
    }
}

/// Reads a trust anchor file (DNSKEY records in zone-file format), or
/// returns the built-in IANA root KSKs 20326 and 38696.
pub fn load_trust_anchor(path: Option<&Path>) -> Result<TrustAnchors, SetupError> {
    let Some(path) = path else {
        return Ok(TrustAnchors::default());
    };
    let bad = |why: String| SetupError::TrustAnchor {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let anchors: TrustAnchors = text
        .parse()
        .map_err(|e| bad(format!("does not parse as DNSKEY records: {e}")))?;
    // hickory builds every chain from the root: an anchor without a root key
    // would make every answer bogus, so refuse it up front.
    if anchors.is_empty() {
        return Err(bad(
            "holds no DNSKEY record for the root zone (\".\")".into()
        ));
    }
    Ok(anchors)
}

fn system_servers() -> Result<Vec<SocketAddr>, SetupError> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| SetupError::SystemConfig(e.to_string()))?;
    let mut servers: Vec<SocketAddr> = Vec::new();
    for server in config.name_servers() {
        for connection in &server.connections {
            let addr = SocketAddr::new(server.ip, connection.port);
            if !servers.contains(&addr) {
                servers.push(addr);
            }
        }
    }
    Ok(servers)
}
