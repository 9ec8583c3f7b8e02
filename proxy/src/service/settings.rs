//! The settings the window edits: read from the running [`Config`], checked
//! field by field (a bad value is refused with its field named), written
//! back into the user's file with `toml_edit` so their comments and other
//! keys stay, atomically (temp file, fsync, rename), and only then applied.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table, TableLike};

use super::view::{SettingsForm, UiError};
use crate::config::{Config, InboundSecurity, PolicyMode, UpstreamSecurity};
use crate::inbound::{Account, AccountError};

/// The name a new `[[inbound.accounts]]` gets in the form.
const NEW_ACCOUNT_NAME: &str = "mail";

/// The form for `config`.
pub fn form(
    config: &Config,
    upstream_password_set: bool,
    inbound_password_set: bool,
) -> SettingsForm {
    let account = config.inbound.accounts.first();
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
        inbound_enabled: config.inbound.enabled,
        inbound_name: account.map_or(NEW_ACCOUNT_NAME, |a| &a.name).to_owned(),
        inbound_host: account.map(|a| a.host.clone()).unwrap_or_default(),
        inbound_port: account.map_or(993, |a| a.port).to_string(),
        inbound_security: match account.map_or(InboundSecurity::Tls, |a| a.security) {
            InboundSecurity::Tls => "tls",
            InboundSecurity::Starttls => "starttls",
            InboundSecurity::None => "none",
        }
        .into(),
        inbound_username: account.map(|a| a.username.clone()).unwrap_or_default(),
        inbound_password_set: account.is_some() && inbound_password_set,
        inbound_folders: account.map_or_else(|| "INBOX".to_owned(), |a| a.folders.join(", ")),
        inbound_mirror_plaintext: account.is_some_and(|a| a.mirror_plaintext),
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
    let account = inbound_account(form, !current.inbound.accounts.is_empty())?;

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
    if account.is_some() || form.inbound_enabled || doc.contains_key("inbound") {
        set(&mut doc, "inbound", "enabled", value(form.inbound_enabled));
    }
    if let Some(account) = &account {
        write_account(&mut doc, account, path)?;
    }

    let text = doc.to_string();
    let config = Config::parse(&text, path).map_err(UiError::new)?;
    check_accounts(&config, form.inbound_enabled)?;
    Ok((text, config))
}

/// The first `[[inbound.accounts]]` as the form has it, checked field by
/// field; `None` when the form names no account and the file has none.
struct AccountForm<'a> {
    name: &'a str,
    host: &'a str,
    port: u16,
    security: &'a str,
    username: &'a str,
    folders: Vec<&'a str>,
    mirror_plaintext: bool,
}

fn inbound_account(form: &SettingsForm, exists: bool) -> Result<Option<AccountForm<'_>>, UiError> {
    let host = form.inbound_host.trim();
    let username = form.inbound_username.trim();
    if host.is_empty() && username.is_empty() && !exists {
        if form.inbound_enabled {
            return Err(UiError::field(
                "inbound-host",
                "Incoming mail server: enter your provider's IMAP server to switch decryption on",
            ));
        }
        return Ok(None);
    }
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(UiError::field(
            "inbound-host",
            "Incoming mail server: a host name such as imap.example.com, without spaces or slashes",
        ));
    }
    let port = port("inbound-port", "Incoming mail port", &form.inbound_port)?;
    let security = match form.inbound_security.as_str() {
        s @ ("tls" | "starttls" | "none") => s,
        other => {
            return Err(UiError::field(
                "inbound-security",
                format!("Incoming mail security: `{other}` is not one of TLS, STARTTLS, none"),
            ))
        }
    };
    if username.is_empty() {
        return Err(UiError::field(
            "inbound-username",
            "Incoming mail user name: enter the name you log in with (often your address)",
        ));
    }
    let name = form.inbound_name.trim();
    if name.is_empty() {
        return Err(UiError::field(
            "inbound-name",
            "Account name: enter a short name, such as mail or work",
        ));
    }
    let folders: Vec<&str> = form
        .inbound_folders
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if folders.is_empty() {
        return Err(UiError::field(
            "inbound-folders",
            "Folders: name at least one folder to read, such as INBOX",
        ));
    }
    Ok(Some(AccountForm {
        name,
        host,
        port,
        security,
        username,
        folders,
        mirror_plaintext: form.inbound_mirror_plaintext,
    }))
}

/// Writes the form's account into the first `[[inbound.accounts]]`
/// (created when absent); its other keys (maildir, ca_file, …) stay.
fn write_account(
    doc: &mut DocumentMut,
    account: &AccountForm<'_>,
    path: &Path,
) -> Result<(), UiError> {
    let unusual = || {
        UiError::new(format!(
            "{}: [inbound] accounts is not written as [[inbound.accounts]] tables; edit it there",
            path.display()
        ))
    };
    let inbound = doc
        .entry("inbound")
        .or_insert_with(|| {
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        })
        .as_table_like_mut()
        .ok_or_else(unusual)?;
    let accounts = inbound
        .entry("accounts")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let table: &mut dyn TableLike = match accounts {
        Item::ArrayOfTables(tables) => {
            if tables.is_empty() {
                tables.push(Table::new());
            }
            tables.get_mut(0).ok_or_else(unusual)?
        }
        Item::Value(toml_edit::Value::Array(list)) if !list.is_empty() => list
            .get_mut(0)
            .and_then(toml_edit::Value::as_inline_table_mut)
            .map(|t| t as &mut dyn TableLike)
            .ok_or_else(unusual)?,
        _ => return Err(unusual()),
    };
    let mut folders = Array::new();
    for folder in &account.folders {
        folders.push(*folder);
    }
    put(table, "name", value(account.name));
    put(table, "host", value(account.host));
    put(table, "port", value(i64::from(account.port)));
    put(table, "security", value(account.security));
    put(table, "username", value(account.username));
    put(table, "folders", value(folders));
    put(table, "mirror_plaintext", value(account.mirror_plaintext));
    Ok(())
}

/// The accounts as the inbound agent will check them, each refusal on
/// the field it is about (the first account is the form's).
fn check_accounts(config: &Config, enabled: bool) -> Result<(), UiError> {
    let Some(first) = config.inbound.accounts.first() else {
        return Ok(());
    };
    let storage = Path::new(".");
    let on_field = |e: AccountError| match &e {
        AccountError::BadName(name) => UiError::field(
            "inbound-name",
            format!("Account name: `{name}` — use letters, digits, `.`, `-` and `_` only"),
        ),
        AccountError::PlaintextNotLoopback(_) => {
            UiError::field("inbound-security", format!("Incoming mail security: {e}"))
        }
        AccountError::NoFolders(_) | AccountError::AppendToReadFolder(..) => {
            UiError::field("inbound-folders", format!("Folders: {e}"))
        }
        AccountError::Duplicate(_) => UiError::field("inbound-name", format!("Account name: {e}")),
        _ => UiError::new(e),
    };
    Account::new(first, storage).map_err(on_field)?;
    if enabled {
        crate::inbound::accounts(&config.inbound, Some(storage), None).map_err(|e| match &e {
            AccountError::Duplicate(name) if *name == first.name => on_field(e),
            _ => UiError::new(format!(
                "Another incoming mail account in the settings file: {e}"
            )),
        })?;
    }
    Ok(())
}

/// Sets `key`, keeping the comment after an existing value.
fn put(table: &mut dyn TableLike, key: &str, mut item: Item) {
    match table.get_mut(key) {
        Some(slot) => {
            if let (Some(old), Some(new)) = (slot.as_value(), item.as_value_mut()) {
                *new.decor_mut() = old.decor().clone();
            }
            *slot = item;
        }
        None => {
            table.insert(key, item);
        }
    }
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
        form(&Config::default(), false, false)
    }

    fn with_account(mut f: SettingsForm) -> SettingsForm {
        f.inbound_enabled = true;
        f.inbound_host = "imap.example.com".into();
        f.inbound_username = "me@example.com".into();
        f.inbound_folders = "INBOX, Archive".into();
        f
    }

    #[test]
    fn without_an_account_nothing_is_written_for_incoming_mail() {
        let f = sample();
        assert_eq!(f.inbound_name, "mail");
        assert_eq!(
            (f.inbound_port.as_str(), f.inbound_security.as_str()),
            ("993", "tls")
        );
        let (out, config) = apply("", &f, Path::new("c.toml")).unwrap();
        assert!(!out.contains("inbound"), "{out}");
        assert!(!config.inbound.enabled);
        let mut on = f;
        on.inbound_enabled = true;
        let err = apply("", &on, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("inbound-host"));
    }

    #[test]
    fn the_incoming_account_round_trips_and_keeps_comments_and_other_keys() {
        let text = "# mine\n[inbound]\n# poll slowly\npoll_secs = 300\n\n\
                    [[inbound.accounts]]\nname = \"work\" # the office\nhost = \"old.example\"\n\
                    username = \"u\"\nmaildir = \"/m/work\"\n\n\
                    [[inbound.accounts]]\nname = \"home\"\nhost = \"h.example\"\nusername = \"h\"\n";
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        let mut f = form(&config, false, true);
        assert_eq!(f.inbound_name, "work");
        assert_eq!(f.inbound_folders, "INBOX");
        assert!(f.inbound_password_set);
        f.inbound_enabled = true;
        f.inbound_host = "imap.example.com".into();
        f.inbound_port = "143".into();
        f.inbound_security = "starttls".into();
        f.inbound_folders = "INBOX, Lists/rust ,".into();
        f.inbound_mirror_plaintext = true;
        let (out, config) = apply(text, &f, Path::new("c.toml")).unwrap();
        for kept in [
            "# mine",
            "# poll slowly",
            "# the office",
            "maildir = \"/m/work\"",
        ] {
            assert!(out.contains(kept), "{kept}: {out}");
        }
        assert!(
            out.find("[inbound]") < out.find("[[inbound.accounts]]"),
            "{out}"
        );
        assert!(config.inbound.enabled);
        assert_eq!(config.inbound.poll_secs, 300);
        let work = &config.inbound.accounts[0];
        assert_eq!((work.host.as_str(), work.port), ("imap.example.com", 143));
        assert_eq!(work.security, InboundSecurity::Starttls);
        assert_eq!(work.folders, ["INBOX", "Lists/rust"]);
        assert!(work.mirror_plaintext);
        assert_eq!(config.inbound.accounts[1].name, "home");
        let again = form(&config, false, true);
        assert_eq!(again.inbound_folders, "INBOX, Lists/rust");
        assert_eq!(again.inbound_port, "143");

        // Created where there was none, [inbound] first.
        let (out, config) = apply(
            "[smtp]\nhostname = \"me\"\n",
            &with_account(sample()),
            Path::new("c.toml"),
        )
        .unwrap();
        assert!(
            out.find("[inbound]") < out.find("[[inbound.accounts]]"),
            "{out}"
        );
        let account = &config.inbound.accounts[0];
        assert_eq!((account.name.as_str(), account.port), ("mail", 993));
        assert_eq!(account.username, "me@example.com");
    }

    /// The field refused, a change to a good form, words in the message.
    type Case = (&'static str, fn(&mut SettingsForm), &'static str);

    #[test]
    fn bad_incoming_account_values_are_refused_with_their_field() {
        let cases: [Case; 8] = [
            (
                "inbound-host",
                |f| f.inbound_host = "imap example".into(),
                "Incoming mail server",
            ),
            (
                "inbound-port",
                |f| f.inbound_port = "0".into(),
                "Incoming mail port",
            ),
            (
                "inbound-security",
                |f| f.inbound_security = "ssl".into(),
                "`ssl`",
            ),
            (
                "inbound-security",
                |f| f.inbound_security = "none".into(),
                "loopback",
            ),
            (
                "inbound-username",
                |f| f.inbound_username = " ".into(),
                "user name",
            ),
            ("inbound-name", |f| f.inbound_name = "../x".into(), "`../x`"),
            (
                "inbound-name",
                |f| f.inbound_name = "home".into(),
                "appears twice",
            ),
            (
                "inbound-folders",
                |f| f.inbound_folders = " , ".into(),
                "at least one folder",
            ),
        ];
        let text = "[[inbound.accounts]]\nname = \"work\"\nhost = \"w\"\nusername = \"w\"\n\
                    [[inbound.accounts]]\nname = \"home\"\nhost = \"h\"\nusername = \"h\"\n";
        for (field, change, words) in cases {
            let mut f = with_account(sample());
            change(&mut f);
            let err = apply(text, &f, Path::new("c.toml")).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{}", err.message);
            assert!(err.message.contains(words), "{field}: {}", err.message);
        }
        // On a loopback host, no TLS is allowed.
        let mut f = with_account(sample());
        f.inbound_host = "127.0.0.1".into();
        f.inbound_security = "none".into();
        let (_, config) = apply("", &f, Path::new("c.toml")).unwrap();
        assert_eq!(config.inbound.accounts[0].security, InboundSecurity::None);
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
