//! The settings the window edits: read from the running [`Config`], checked
//! field by field (a bad value is refused with its field named), written
//! back into the user's file with `toml_edit` so their comments and other
//! keys stay, atomically (temp file, fsync, rename), and only then applied.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml_edit::{value, Array, DocumentMut, Item, Table};

use super::view::{SettingsForm, UiError};
use crate::config::{Config, PolicyMode, UpstreamSecurity};

/// The form for `config`.
pub fn form(config: &Config, upstream_password_set: bool) -> SettingsForm {
    SettingsForm {
        upstream_host: config.upstream.host.clone(),
        upstream_port: config.upstream.port.to_string(),
        upstream_security: match config.upstream.security {
            UpstreamSecurity::Starttls => "starttls",
            UpstreamSecurity::Tls => "tls",
            UpstreamSecurity::None => "none",
        }
        .into(),
        upstream_username: config.upstream.username.clone(),
        upstream_password_set,
        policy_mode: match config.policy.mode {
            PolicyMode::Opportunistic => "opportunistic",
            PolicyMode::Require => "require",
        }
        .into(),
        smtp_port: config.smtp.listen.port().to_string(),
        ldap_enabled: config.ldap.enabled,
        ldap_port: config.ldap.listen.port().to_string(),
        dns_servers: config
            .dns
            .servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        dns_trust_anchor: config
            .dns
            .trust_anchor
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

/// Checks `form` and writes it into `text` (the user's file, or empty).
/// Returns the new file text and the config it parses to.
pub fn apply(text: &str, form: &SettingsForm, path: &Path) -> Result<(String, Config), UiError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| UiError::new(format!("{}: {e}", path.display())))?;
    let current = Config::parse(text, path).map_err(UiError::new)?;

    let host = form.upstream_host.trim();
    if host.contains(char::is_whitespace) || host.contains('/') {
        return Err(UiError::field(
            "upstream-host",
            "Provider host: a host name such as smtp.example.com, without spaces or slashes",
        ));
    }
    let upstream_port = port("upstream-port", "Provider port", &form.upstream_port)?;
    let security = match form.upstream_security.as_str() {
        "starttls" | "tls" | "none" => form.upstream_security.as_str(),
        other => {
            return Err(UiError::field(
                "upstream-security",
                format!("Provider security: `{other}` is not one of STARTTLS, TLS, none"),
            ))
        }
    };
    let policy = match form.policy_mode.as_str() {
        "opportunistic" | "require" => form.policy_mode.as_str(),
        other => {
            return Err(UiError::field(
                "policy-mode",
                format!("Policy: `{other}` is not one of opportunistic, require"),
            ))
        }
    };
    let smtp_port = port("smtp-port", "SMTP port", &form.smtp_port)?;
    let ldap_port = port("ldap-port", "LDAP port", &form.ldap_port)?;
    if form.ldap_enabled && ldap_port == smtp_port {
        return Err(UiError::field(
            "ldap-port",
            "LDAP port: must differ from the SMTP port",
        ));
    }
    let servers = form
        .dns_servers
        .split([',', ' ', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim().parse::<SocketAddr>().map_err(|_| {
                UiError::field(
                    "dns-servers",
                    format!(
                        "DNS servers: `{}` is not IP:PORT (e.g. 9.9.9.9:53)",
                        s.trim()
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let anchor = form.dns_trust_anchor.trim();
    if !anchor.is_empty() && !Path::new(anchor).is_file() {
        return Err(UiError::field(
            "dns-trust_anchor",
            format!("Trust anchor: no file {anchor}"),
        ));
    }

    set(&mut doc, "upstream", "host", value(host));
    set(
        &mut doc,
        "upstream",
        "port",
        value(i64::from(upstream_port)),
    );
    set(&mut doc, "upstream", "security", value(security));
    set(
        &mut doc,
        "upstream",
        "username",
        value(form.upstream_username.trim()),
    );
    set(&mut doc, "policy", "mode", value(policy));
    let smtp_listen = SocketAddr::new(current.smtp.listen.ip(), smtp_port);
    set(&mut doc, "smtp", "listen", value(smtp_listen.to_string()));
    set(&mut doc, "ldap", "enabled", value(form.ldap_enabled));
    let ldap_listen = SocketAddr::new(current.ldap.listen.ip(), ldap_port);
    set(&mut doc, "ldap", "listen", value(ldap_listen.to_string()));
    let mut list = Array::new();
    for server in &servers {
        list.push(server.to_string());
    }
    set(&mut doc, "dns", "servers", value(list));
    if anchor.is_empty() {
        if let Some(dns) = doc.get_mut("dns").and_then(Item::as_table_like_mut) {
            dns.remove("trust_anchor");
        }
    } else {
        set(&mut doc, "dns", "trust_anchor", value(anchor));
    }

    let text = doc.to_string();
    let config = Config::parse(&text, path).map_err(UiError::new)?;
    Ok((text, config))
}

/// Writes `text` to `path` atomically: a crash leaves the old file or the new one.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), UiError> {
    use std::io::Write;
    let dir: PathBuf = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    std::fs::create_dir_all(&dir).map_err(|e| UiError::new(format!("{}: {e}", dir.display())))?;
    let bad = |e: std::io::Error| UiError::new(format!("saving {}: {e}", path.display()));
    let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(bad)?;
    temp.write_all(text.as_bytes()).map_err(bad)?;
    temp.as_file().sync_all().map_err(bad)?;
    temp.persist(path).map_err(|e| bad(e.error))?;
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn port(field: &str, label: &str, text: &str) -> Result<u16, UiError> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(UiError::field(
            field,
            format!(
                "{label}: `{}` is not a port number (1 to 65535)",
                text.trim()
            ),
        )),
    }
}

fn set(doc: &mut DocumentMut, section: &str, key: &str, item: Item) {
    if !doc.contains_table(section) {
        doc.insert(section, Item::Table(Table::new()));
    }
    doc[section][key] = item;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SettingsForm {
        form(&Config::default(), false)
    }

    #[test]
    fn a_bad_port_is_refused_with_its_field() {
        let mut f = sample();
        f.smtp_port = "99999".into();
        let err = apply("", &f, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("smtp-port"));
        assert!(err.message.contains("SMTP port"), "{}", err.message);
    }

    #[test]
    fn comments_and_other_keys_survive() {
        let text = "# my settings\n[smtp]\n# why\nhostname = \"me\"\nlisten = \"127.0.0.1:1587\"\n";
        let mut f = sample();
        f.smtp_port = "2587".into();
        f.upstream_host = "smtp.example.com".into();
        f.dns_servers = "127.0.0.1:53, 127.0.0.2:53".into();
        let (out, config) = apply(text, &f, Path::new("c.toml")).unwrap();
        assert!(
            out.contains("# my settings") && out.contains("# why"),
            "{out}"
        );
        assert_eq!(config.smtp.hostname, "me");
        assert_eq!(config.smtp.listen.port(), 2587);
        assert_eq!(config.upstream.host, "smtp.example.com");
        assert_eq!(config.dns.servers.len(), 2);
    }
}
