//! The product's configuration: one TOML file, every key optional with a
//! documented default (docs/CONFIG.md is the user-facing copy of this file).
//!
//! Loading is strict: an unknown key, a value of the wrong type or a value
//! that does not parse is an error naming the file, the line and the key, so
//! that a typo never silently weakens a security setting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub dns: DnsConfig,
    pub policy: PolicyConfig,
    pub smime: SmimeConfig,
    pub openpgp: OpenPgpConfig,
    pub smtp: SmtpConfig,
    pub upstream: UpstreamConfig,
    pub storage: StorageConfig,
    pub outbox: OutboxConfig,
    pub ldap: LdapConfig,
    pub inbound: InboundConfig,
    pub filter: FilterConfig,
}

/// `[dns]`: where queries go and what they are validated against.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Resolvers to query, as `IP:PORT`. Empty: the system's resolvers
    /// (`/etc/resolv.conf` on Unix, the registry on Windows).
    pub servers: Vec<SocketAddr>,
    /// A file of DNSKEY records in zone-file format. `None`: the IANA root
    /// KSKs 20326 and 38696 built into hickory.
    pub trust_anchor: Option<PathBuf>,
    /// Per-query timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Tries per server before a query counts as failed.
    pub attempts: usize,
    /// The longest a positive answer is cached, whatever its TTL says.
    pub cache_max_ttl_secs: u64,
    /// The longest a proven absence is cached, whatever its SOA says.
    pub cache_negative_max_ttl_secs: u64,
    /// Encrypted paths tried, in order, when `servers` cannot carry DNSSEC.
    /// Empty: never leave `servers`.
    pub fallback: Vec<Fallback>,
    /// DNS over TLS servers. `None`: the public defaults
    /// ([`DEFAULT_TLS_SERVERS`]) under the IANA trust anchor, none under a
    /// private `trust_anchor` (public resolvers cannot answer for a private
    /// tree).
    pub tls_servers: Option<Vec<TlsServer>>,
    /// DNS over HTTPS servers; `None` as for `tls_servers`.
    pub https_servers: Option<Vec<HttpsServer>>,
    /// Extra roots (PEM) for the TLS and HTTPS servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Never send a query in the clear: only the encrypted paths are used.
    pub private: bool,
}

/// An encrypted resolver path `[dns] fallback` may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// DNS over TLS (RFC 7858), port 853.
    Tls,
    /// DNS over HTTPS (RFC 8484), HTTP/2.
    Https,
}

/// A DNS over TLS server, written `"IP:PORT#NAME"` (or `"IP#NAME"` for
/// port 853): the certificate must be valid for NAME.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TlsServer {
    pub addr: SocketAddr,
    pub name: String,
}

impl TryFrom<String> for TlsServer {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad =
            || format!("{text:?} is not \"IP:PORT#NAME\" (e.g. \"9.9.9.9:853#dns.quad9.net\")");
        let (addr, name) = text.split_once('#').ok_or_else(bad)?;
        let addr = match addr.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => SocketAddr::new(addr.parse().map_err(|_| bad())?, 853),
        };
        if name.is_empty() || rustls::pki_types::ServerName::try_from(name).is_err() {
            return Err(bad());
        }
        Ok(Self {
            addr,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.addr, self.name)
    }
}

/// A DNS over HTTPS server, written as its URL. The host is the name the
/// certificate must be valid for; a host that is a name needs its address
/// after `#` (`"https://dns.quad9.net/dns-query#9.9.9.9"`), since looking
/// it up would need a path that already works.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpsServer {
    pub addr: SocketAddr,
    pub name: String,
    pub path: String,
}

impl TryFrom<String> for HttpsServer {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("{text:?}: {why} (e.g. \"https://dns.quad9.net/dns-query#9.9.9.9\")")
        };
        let url = url::Url::parse(&text).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(bad("not an https URL"));
        }
        let port = url.port().unwrap_or(443);
        let (name, ip) = match url.host() {
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), Some(std::net::IpAddr::V4(ip))),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), Some(std::net::IpAddr::V6(ip))),
            Some(url::Host::Domain(name)) => (name.to_owned(), None),
            None => return Err(bad("no host")),
        };
        let ip = match (ip, url.fragment()) {
            (_, Some(fragment)) => fragment
                .parse()
                .map_err(|_| bad("the part after # is not an IP address"))?,
            (Some(ip), None) => ip,
            (None, None) => return Err(bad("a host name needs its IP address after #")),
        };
        Ok(Self {
            addr: SocketAddr::new(ip, port),
            name,
            path: url.path().to_owned(),
        })
    }
}

impl fmt::Display for HttpsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.addr.ip().to_string() {
            ip if ip == self.name => self.addr.to_string(),
            _ => format!("{}:{}", self.name, self.addr.port()),
        };
        write!(f, "https://{host}{}", self.path)
    }
}

/// The public DNS over TLS servers used by default: Quad9 (a non-profit
/// that keeps no client addresses), Cloudflare and Google; all three pass
/// DNSSEC data through, and each certificate names the server.
pub const DEFAULT_TLS_SERVERS: [&str; 3] = [
    "9.9.9.9:853#dns.quad9.net",
    "1.1.1.1:853#cloudflare-dns.com",
    "8.8.8.8:853#dns.google",
];

/// The same three operators' DNS over HTTPS endpoints.
pub const DEFAULT_HTTPS_SERVERS: [&str; 3] = [
    "https://dns.quad9.net/dns-query#9.9.9.9",
    "https://cloudflare-dns.com/dns-query#1.1.1.1",
    "https://dns.google/dns-query#8.8.8.8",
];

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            trust_anchor: None,
            timeout_ms: 3000,
            attempts: 2,
            cache_max_ttl_secs: 3600,
            cache_negative_max_ttl_secs: 300,
            fallback: vec![Fallback::Tls, Fallback::Https],
            tls_servers: None,
            https_servers: None,
            ca_file: None,
            private: false,
        }
    }
}

impl DnsConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The DNS over TLS servers in use: the configured ones, else the
    /// public defaults unless the trust anchor is private.
    pub fn tls_servers(&self) -> Vec<TlsServer> {
        self.servers_or_defaults(&self.tls_servers, &DEFAULT_TLS_SERVERS)
    }

    /// The DNS over HTTPS servers in use, chosen as for [`Self::tls_servers`].
    pub fn https_servers(&self) -> Vec<HttpsServer> {
        self.servers_or_defaults(&self.https_servers, &DEFAULT_HTTPS_SERVERS)
    }

    /// Public resolvers serve the public tree only: no defaults under a
    /// private trust anchor.
    fn servers_or_defaults<T>(&self, configured: &Option<Vec<T>>, defaults: &[&str]) -> Vec<T>
    where
        T: Clone + TryFrom<String, Error = String>,
    {
        match configured {
            Some(servers) => servers.clone(),
            None if self.trust_anchor.is_some() => Vec::new(),
            None => defaults
                .iter()
                .map(|s| T::try_from(s.to_string()).expect("valid default"))
                .collect(),
        }
    }
}

/// `[policy]`: what to do for recipients without a usable certificate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub mode: PolicyMode,
    /// Which standard encrypts when a recipient publishes both a usable
    /// SMIMEA certificate and a usable OPENPGPKEY key.
    pub prefer: Prefer,
}

/// `[filter]`: `danemail filter`, the after-queue content filter for
/// Postfix (LMTP in, SMTP re-injection out; docs/FILTER.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Where Postfix's content filter connects: `"IP:PORT"` (loopback only
    /// unless `danger_allow_non_loopback`) or `"unix:/path"` (a socket,
    /// guarded by its directory's permissions, as Postfix's own are).
    pub listen: FilterListen,
    /// Must be set to accept LMTP from other hosts: there is no AUTH.
    pub danger_allow_non_loopback: bool,
    /// Postfix's filter-free smtpd the copies are re-injected into
    /// (loopback only: plain SMTP, no AUTH).
    pub reinject: SocketAddr,
    /// Name in the greeting, the LHLO reply and the re-injection EHLO.
    pub hostname: String,
    /// Largest message accepted, in bytes (LHLO SIZE).
    pub max_message_size: usize,
    /// Most recipients per message.
    pub max_recipients: usize,
    /// Most simultaneous LMTP sessions: match Postfix's process limit for
    /// the filter's transport (`default_process_limit` or master.cf).
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// Time allowed for one command line to arrive.
    pub command_timeout_secs: u64,
    /// Time allowed for the whole message after DATA.
    pub data_timeout_secs: u64,
    /// Where messages are held while being encrypted (deleted at once).
    /// `None`: the system's temporary directory.
    pub temp_dir: Option<PathBuf>,
    /// Seconds between the one-line status reports in the log (0: none).
    pub status_interval_secs: u64,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            listen: FilterListen::Tcp(SocketAddr::from(([127, 0, 0, 1], 10025))),
            danger_allow_non_loopback: false,
            reinject: SocketAddr::from(([127, 0, 0, 1], 10026)),
            hostname: "localhost".into(),
            max_message_size: 100 * 1024 * 1024,
            max_recipients: 1000,
            max_connections: 20,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            temp_dir: None,
            status_interval_secs: 60,
        }
    }
}

/// `[filter] listen`: a TCP address or a unix socket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum FilterListen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl TryFrom<String> for FilterListen {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.strip_prefix("unix:") {
            Some(path) if Path::new(path).is_absolute() => Ok(Self::Unix(path.into())),
            Some(_) => Err(format!("{text:?}: the socket path must be absolute")),
            None => text.parse().map(Self::Tcp).map_err(|_| {
                format!("{text:?} is neither \"IP:PORT\" nor \"unix:/absolute/path\"")
            }),
        }
    }
}

impl fmt::Display for FilterListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `[openpgp]`: the user's own OpenPGP key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenPgpConfig {
    /// The user's own OpenPGP public key (armored or binary, e.g. from
    /// `gpg --export`), added to every PGP/MIME copy so the user can read
    /// what they sent.
    pub sender_key: Option<PathBuf>,
}

/// `[smime]`: how copies are encrypted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmimeConfig {
    /// `aes-256-cbc` (default; every client reads it) or `aes-256-gcm`
    /// (AuthEnvelopedData; not read by gpgsm 2.2 or NSS 3.87).
    pub cipher: crate::smime::ContentCipher,
    /// RSA-OAEP (SHA-256) key transport instead of PKCS#1 v1.5; not read by
    /// gpgsm 2.2 or NSS 3.87.
    pub rsa_oaep: bool,
    /// The user's own certificate (PEM or DER), added to every encrypted copy
    /// of its key kind so the user can read what they sent.
    pub sender_certificate: Option<PathBuf>,
}

/// `[smtp]`: the local submission server mail clients send to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Where to listen. Loopback only unless `danger_allow_non_loopback`.
    pub listen: SocketAddr,
    /// Must be set to listen on a non-loopback address: anyone who can
    /// reach the port can then try the password.
    pub danger_allow_non_loopback: bool,
    /// The local account mail clients log in with.
    pub username: String,
    /// A file holding the local password (headless/test setups). `None`:
    /// generated on first run and kept in the OS keyring.
    pub password_file: Option<PathBuf>,
    /// Name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes.
    pub max_message_size: usize,
    /// Most recipients per message.
    pub max_recipients: usize,
    /// Most simultaneous client connections. When full, the oldest
    /// connection that has not authenticated is closed (421) to make room.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address (on loopback every
    /// client is 127.0.0.1: idlers then make room the same way).
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections_per_peer: usize,
    /// Time allowed for each command before AUTH succeeds (at most
    /// `command_timeout_secs`): an idle, unauthenticated client is cut off soon.
    #[serde(deserialize_with = "at_least_one")]
    pub pre_auth_timeout_secs: u64,
    /// Time allowed for one command line to arrive (RFC 5321 §4.5.3.2: 5 min).
    pub command_timeout_secs: u64,
    /// Time allowed for the whole message after DATA (RFC 5321: 10 min of idle;
    /// here a total, so a client dripping bytes cannot hold a slot forever).
    pub data_timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 1587)),
            danger_allow_non_loopback: false,
            username: "danemail".into(),
            password_file: None,
            hostname: "localhost".into(),
            max_message_size: 100 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 128,
            max_connections_per_peer: 64,
            pre_auth_timeout_secs: 30,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
        }
    }
}

/// How the relay talks to the provider's submission server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (587).
    #[default]
    Starttls,
    /// TLS from the first byte (465).
    Tls,
    /// No TLS at all: allowed only for a loopback upstream (tests, a local MTA).
    None,
}

/// `[upstream]`: the user's real provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    pub host: String,
    pub port: u16,
    pub security: UpstreamSecurity,
    /// Login at the provider; empty: no AUTH.
    pub username: String,
    /// A file holding the provider password. `None`: the OS keyring
    /// (`danemail upstream set-password`).
    pub password_file: Option<PathBuf>,
    /// Extra CA certificate(s) (PEM) trusted besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Network timeout per SMTP step.
    pub timeout_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: UpstreamSecurity::Starttls,
            username: String::new(),
            password_file: None,
            ca_file: None,
            timeout_secs: 60,
        }
    }
}

/// `[ldap]`: the address-book directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    pub enabled: bool,
    /// Loopback only unless `danger_allow_non_loopback`.
    pub listen: SocketAddr,
    pub danger_allow_non_loopback: bool,
    pub base_dn: String,
    /// A file (mode 600) with a bind password; `None`: anonymous binds.
    pub password_file: Option<PathBuf>,
    /// Longest a search waits for its DNS lookups.
    pub search_timeout_secs: u64,
    /// A connection without a request for this long is closed.
    #[serde(deserialize_with = "at_least_one")]
    pub idle_timeout_secs: u64,
    /// Most simultaneous connections. When full, the connection idle the
    /// longest is closed to make room.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections_per_peer: usize,
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1389)),
            danger_allow_non_loopback: false,
            base_dn: "dc=dane,dc=mail".into(),
            password_file: None,
            search_timeout_secs: 10,
            idle_timeout_secs: 120,
            max_connections: 128,
            max_connections_per_peer: 64,
        }
    }
}

/// `[storage]`: where the outbox and state live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `None`: the platform data dir (`~/.local/share/danemail` on Linux).
    pub dir: Option<PathBuf>,
}

impl StorageConfig {
    pub fn resolved_dir(&self) -> Option<PathBuf> {
        self.dir.clone().or_else(|| {
            directories::ProjectDirs::from("org", "DANE Mail", "danemail")
                .map(|dirs| dirs.data_dir().to_owned())
        })
    }
}

/// `[inbound]`: the read-only IMAP agent that decrypts S/MIME mail sent to
/// the user's keys into local Maildirs (issue 10; docs/CONFIG.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Whether `danemail run` (and the app) start the agent.
    pub enabled: bool,
    /// Private keys are sealed by the passphrase in this file (mode 600)
    /// instead of the secret in the OS keyring (headless machines).
    pub key_passphrase_file: Option<PathBuf>,
    /// Where IDLE is missing: how often a folder is polled.
    pub poll_secs: u64,
    /// How long one IDLE lasts before it is re-issued; at most 1740 (RFC
    /// 2177 §3: 29 minutes, so that servers' 30-minute timers never fire).
    pub idle_secs: u64,
    /// Pause after a failed connection or login before the next try
    /// (doubling up to 16×): a wrong password is retried slowly.
    pub retry_secs: u64,
    /// Network timeout for each IMAP command.
    pub timeout_secs: u64,
    pub accounts: Vec<InboundAccount>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            key_passphrase_file: None,
            poll_secs: 60,
            idle_secs: 29 * 60,
            retry_secs: 60,
            timeout_secs: 60,
            accounts: Vec::new(),
        }
    }
}

/// `[[inbound.accounts]]`: one provider mailbox to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundAccount {
    /// A short name: file names, `--account`, the status.
    pub name: String,
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    #[serde(default)]
    pub security: InboundSecurity,
    pub username: String,
    /// A file holding the password (mode 600). `None`: the OS keyring
    /// (`danemail inbound set-password NAME`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Extra CA certificate(s) (PEM) trusted besides the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    /// `None`: `<storage>/decrypted/<name>/`.
    #[serde(default)]
    pub maildir: Option<PathBuf>,
    /// Also copy unencrypted messages, so that the Maildir is complete.
    #[serde(default)]
    pub mirror_plaintext: bool,
    /// Also APPEND each decrypted copy to this provider folder (created when
    /// missing): plaintext on the provider, hence the name.
    #[serde(default)]
    pub danger_append_to_folder: Option<String>,
}

fn default_imap_port() -> u16 {
    993
}

fn default_folders() -> Vec<String> {
    vec!["INBOX".into()]
}

/// How the IMAP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundSecurity {
    /// Implicit TLS (port 993, RFC 8314).
    #[default]
    Tls,
    /// STARTTLS (RFC 3501 §6.2.1), required: no fallback to plaintext.
    Starttls,
    /// No TLS: allowed only for a loopback host.
    None,
}

/// `[outbox]`: retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// First retry after a temporary failure; doubles each time.
    pub retry_initial_secs: u64,
    /// Longest wait between retries.
    pub retry_max_secs: u64,
    /// After this long undelivered, a message is bounced (RFC 5321 §4.5.4.1
    /// suggests 4–5 days).
    pub max_lifetime_secs: u64,
    /// Delivery lanes: messages sent to the provider at the same time, so
    /// that one slow or stalled session delays nothing else.
    pub max_parallel: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retry_initial_secs: 60,
            retry_max_secs: 3600,
            max_lifetime_secs: 5 * 24 * 3600,
            max_parallel: 4,
        }
    }
}

/// The two policies of the trust table in DESIGN.md.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Encrypt where a usable certificate is proven; otherwise send as written.
    #[default]
    Opportunistic,
    /// Refuse every recipient that cannot be encrypted to.
    Require,
}

/// `[policy] prefer`: S/MIME (default) or OpenPGP when both are usable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    /// S/MIME: what Outlook and Thunderbird read without add-ons.
    #[default]
    Smime,
    OpenPgp,
}

impl std::str::FromStr for PolicyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opportunistic" => Ok(Self::Opportunistic),
            "require" => Ok(Self::Require),
            other => Err(format!(
                "unknown policy `{other}` (expected `opportunistic` or `require`)"
            )),
        }
    }
}

impl fmt::Display for PolicyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Opportunistic => "opportunistic",
            Self::Require => "require",
        })
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        /// Dotted key path (`dns.timeout_ms`), or `-` for a syntax error.
        key: String,
        message: String,
    },
}

impl Config {
    /// The file `load` reads when no `--config` is given:
    /// `<platform config dir>/danemail/config.toml`.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "DANE Mail", "danemail")
            .map(|dirs| dirs.config_dir().join("config.toml"))
    }

    /// Loads `path` if given, else the default path if that file exists,
    /// else the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::from_file(path),
            None => match Self::default_path() {
                Some(path) if path.exists() => Self::from_file(&path),
                _ => Ok(Self::default()),
            },
        }
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text`; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, key: String, message: &str| {
            ConfigError::Invalid {
                path: path.to_owned(),
                line: span.map_or(1, |s| line_of(text, s.start)),
                key,
                message: message.to_owned(),
            }
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| invalid(e.span(), "-".into(), e.message()))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.inner();
            invalid(inner.span(), key, inner.message())
        })
    }
}

/// A count or a duration where 0 would refuse everything: at least 1.
fn at_least_one<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + PartialOrd + From<u8>,
{
    let value = T::deserialize(deserializer)?;
    if value < T::from(1) {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(value)
}

/// 1-based line number of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap();
        assert!(config.dns.servers.is_empty());
        assert_eq!(config.dns.timeout_ms, 3000);
        assert_eq!(config.policy.mode, PolicyMode::Opportunistic);
    }

    #[test]
    fn full_file_parses() {
        let config = parse(
            "[dns]\nservers = [\"127.0.0.1:5353\", \"[::1]:53\"]\ntrust_anchor = \"/x\"\ntimeout_ms = 500\n\
             [policy]\nmode = \"require\"\n",
        )
        .unwrap();
        assert_eq!(config.dns.servers.len(), 2);
        assert_eq!(config.dns.trust_anchor.as_deref(), Some(Path::new("/x")));
        assert_eq!(config.policy.mode, PolicyMode::Require);
    }

    #[test]
    fn inbound_accounts_parse_with_defaults_and_strictly() {
        let config = parse(
            "[inbound]\nenabled = true\n[[inbound.accounts]]\nname = \"work\"\nhost = \"imap.x.test\"\n\
             username = \"me\"\n",
        )
        .unwrap();
        let account = &config.inbound.accounts[0];
        assert!(config.inbound.enabled);
        assert_eq!(account.port, 993);
        assert_eq!(account.security, InboundSecurity::Tls);
        assert_eq!(account.folders, ["INBOX"]);
        assert!(!account.mirror_plaintext);
        let err = parse("[[inbound.accounts]]\nname = \"w\"\nhost = \"h\"\nusername = \"u\"\nfolder = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("inbound.accounts[0].folder"), "{err}");
        let err = parse("[[inbound.accounts]]\nname = \"w\"\nhost = \"h\"\nusername = \"u\"\nsecurity = \"ssl\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("security"), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            ("[dns]\n\ntimeout_ms = \"slow\"\n", 3, "dns.timeout_ms"),
            (
                "[dns]\nservers = [\"not-an-address\"]\n",
                2,
                "dns.servers[0]",
            ),
            ("[policy]\nmode = \"sometimes\"\n", 2, "policy.mode"),
            ("[dns]\ntimeout = 5\n", 2, "dns.timeout"),
            ("[dns\n", 1, "-"),
        ];
        for (text, line, key) in cases {
            match parse(text) {
                Err(ConfigError::Invalid {
                    line: l, key: k, ..
                }) => {
                    assert_eq!((l, k.as_str()), (line, key), "for {text:?}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let err = parse("[smtp]\nmax_connections_per_peer = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:2: smtp.max_connections_per_peer: must be at least 1"),
            "{err}"
        );
        let err = parse("[ldap]\nidle_timeout_secs = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ldap.idle_timeout_secs"), "{err}");
        let config = parse("[smtp]\npre_auth_timeout_secs = 10\n").unwrap();
        assert_eq!(config.smtp.pre_auth_timeout_secs, 10);
        assert_eq!(config.smtp.max_connections, 128);
        let err = parse("[dns]\ntimeout_ms = -1\n").unwrap_err().to_string();
        assert!(err.starts_with("test.toml:2: dns.timeout_ms: "), "{err}");
    }

    #[test]
    fn fallback_servers_parse_and_defaults_depend_on_the_anchor() {
        let config = parse(
            "[dns]\nfallback = [\"https\"]\ntls_servers = [\"127.0.0.1:8853#dot.test\", \"::1#dot.test\"]\n\
             https_servers = [\"https://doh.test:8443/dns-query#127.0.0.1\", \"https://1.1.1.1/q\"]\nprivate = true\n",
        )
        .unwrap();
        assert_eq!(config.dns.fallback, vec![Fallback::Https]);
        assert!(config.dns.private);
        let tls = config.dns.tls_servers();
        assert_eq!(tls[0].addr, "127.0.0.1:8853".parse().unwrap());
        assert_eq!(tls[0].name, "dot.test");
        assert_eq!(tls[1].addr, "[::1]:853".parse().unwrap());
        let https = config.dns.https_servers();
        assert_eq!(https[0].addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(
            (https[0].name.as_str(), https[0].path.as_str()),
            ("doh.test", "/dns-query")
        );
        assert_eq!(https[0].to_string(), "https://doh.test:8443/dns-query");
        assert_eq!(https[1].addr, "1.1.1.1:443".parse().unwrap());
        assert_eq!(https[1].name, "1.1.1.1");

        // Defaults: the public servers under the IANA anchor, none under a
        // private one (they cannot answer for a private tree).
        let public = DnsConfig::default();
        assert_eq!(public.fallback, vec![Fallback::Tls, Fallback::Https]);
        assert_eq!(public.tls_servers().len(), 3);
        assert_eq!(public.https_servers()[0].name, "dns.quad9.net");
        let private = parse("[dns]\ntrust_anchor = \"/x\"\n").unwrap().dns;
        assert!(private.tls_servers().is_empty() && private.https_servers().is_empty());

        for (text, key) in [
            (
                "[dns]\ntls_servers = [\"127.0.0.1:853\"]\n",
                "dns.tls_servers[0]",
            ),
            (
                "[dns]\ntls_servers = [\"dot.test#x\"]\n",
                "dns.tls_servers[0]",
            ),
            (
                "[dns]\nhttps_servers = [\"https://doh.test/dns-query\"]\n",
                "dns.https_servers[0]",
            ),
            (
                "[dns]\nhttps_servers = [\"http://1.1.1.1/dns-query\"]\n",
                "dns.https_servers[0]",
            ),
            ("[dns]\nfallback = [\"quic\"]\n", "dns.fallback[0]"),
        ] {
            match parse(text) {
                Err(ConfigError::Invalid { key: got, .. }) => assert_eq!(got, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
