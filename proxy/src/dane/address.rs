//! E-mail addresses and the DNS owner names derived from them
//! (RFC 8162 §3 for SMIMEA, RFC 7929 §3 for OPENPGPKEY).

use std::fmt;

use hickory_resolver::proto::rr::Name;
use openssl::sha::{sha224, sha256};

/// A recipient address, split and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address as the user or client wrote it.
    pub original: String,
    /// The local part as it is hashed: quotes and quoting backslashes removed
    /// (RFC 7929 §3; RFC 8162 §3 follows it), case kept.
    pub local: String,
    /// The domain as a fully qualified DNS name, IDN labels as A-labels.
    pub domain: Name,
}

/// Why a string is not an address we can look up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a usable e-mail address: {why}")]
pub struct AddressError {
    pub input: String,
    pub why: String,
}

/// Which form of owner name found a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameForm {
    /// SHA2-256 of the local part as written (RFC 8162).
    Sha256,
    /// SHA2-256 of the lowercased local part.
    Sha256Lowercase,
    /// SHA2-224 of the local part: draft-ietf-dane-smime before RFC 8162,
    /// still deployed (seed 000's demo).
    Sha224Legacy,
    /// SHA2-224 of the lowercased local part.
    Sha224LegacyLowercase,
}

/// RFC 8162 §3: "the SHA2-256 hash of the local-part ... truncated to 28 octets".
const OWNER_HASH_OCTETS: usize = 28;

impl Address {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let bad = |why: &str| AddressError {
            input: input.to_owned(),
            why: why.to_owned(),
        };
        let (local_raw, domain) = input.rsplit_once('@').ok_or_else(|| bad("it has no `@`"))?;
        if local_raw.is_empty() {
            return Err(bad("the local part (before `@`) is empty"));
        }
        if domain.is_empty() {
            return Err(bad("the domain (after `@`) is empty"));
        }
        let local = unquote(local_raw).map_err(|why| bad(&why))?;
        if domain.split('.').any(str::is_empty) {
            return Err(bad(&format!("the domain `{domain}` has an empty label")));
        }
        if domain
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return Err(bad(&format!(
                "the domain `{domain}` has an invalid character"
            )));
        }
        let mut domain = Name::from_utf8(domain).map_err(|e| {
            bad(&format!(
                "the domain `{domain}` is not a valid DNS name: {e}"
            ))
        })?;
        domain.set_fqdn(true);
        Ok(Self {
            original: input.to_owned(),
            local,
            domain,
        })
    }

    /// SMIMEA owner names in the order they are tried: RFC 8162 names first
    /// (as written, then lowercased if different), then the legacy draft
    /// names, which are only consulted after the RFC names are proven absent.
    pub fn smimea_names(&self) -> Vec<(NameForm, Name)> {
        self.owner_names("_smimecert", true)
    }

    /// OPENPGPKEY owner names (RFC 7929 §3): as written, then lowercased.
    pub fn openpgpkey_names(&self) -> Vec<(NameForm, Name)> {
        self.owner_names("_openpgpkey", false)
    }

    fn owner_names(&self, label: &str, with_legacy: bool) -> Vec<(NameForm, Name)> {
        let lower = self.local.to_lowercase();
        let mut names = vec![(
            NameForm::Sha256,
            self.owner(&sha256_label(&self.local), label),
        )];
        if lower != self.local {
            names.push((
                NameForm::Sha256Lowercase,
                self.owner(&sha256_label(&lower), label),
            ));
        }
        if with_legacy {
            names.push((
                NameForm::Sha224Legacy,
                self.owner(&sha224_label(&self.local), label),
            ));
            if lower != self.local {
                names.push((
                    NameForm::Sha224LegacyLowercase,
                    self.owner(&sha224_label(&lower), label),
                ));
            }
        }
        names
    }

    fn owner(&self, hash_label: &str, label: &str) -> Name {
        Name::from_ascii(format!("{hash_label}.{label}"))
            .and_then(|prefix| prefix.append_domain(&self.domain))
            .expect("a 56-hex-digit label and a fixed label under a valid domain form a valid name")
    }
}

impl NameForm {
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::Sha224Legacy | Self::Sha224LegacyLowercase)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn sha256_label(local: &str) -> String {
    hex::encode(&sha256(local.as_bytes())[..OWNER_HASH_OCTETS])
}

fn sha224_label(local: &str) -> String {
    hex::encode(sha224(local.as_bytes()))
}

/// Removes RFC 5322 quoting from a local part; rejects what no mail system
/// would route (spaces or controls outside quotes, unbalanced quotes).
fn unquote(local: &str) -> Result<String, String> {
    if let Some(inner) = local.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or("the local part has an unbalanced quote")?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(
                    chars
                        .next()
                        .ok_or("the local part ends in a lone backslash")?,
                ),
                '"' => return Err("the local part has an unescaped quote".into()),
                c if c.is_control() => return Err("the local part has a control character".into()),
                c => out.push(c),
            }
        }
        if out.is_empty() {
            return Err("the local part is empty".into());
        }
        return Ok(out);
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err("the local part has a space, control character or stray quote".into());
    }
    Ok(local.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8162_owner_name() {
        // RFC 8162 §3 / RFC 7929 §3 worked example: "hugh" at example.com.
        let address = Address::parse("hugh@example.com").unwrap();
        let names = address.openpgpkey_names();
        assert_eq!(
            names[0].1.to_ascii(),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._openpgpkey.example.com."
        );
        let smimea = address.smimea_names();
        assert_eq!(
            smimea[0].1.to_ascii(),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._smimecert.example.com."
        );
        // Legacy draft name: the full SHA2-224 of the local part.
        assert_eq!(smimea[1].0, NameForm::Sha224Legacy);
        assert_eq!(
            smimea[1].1.to_ascii().len(),
            56 + ".".len() + "_smimecert.example.com.".len()
        );
    }

    #[test]
    fn lowercase_variant_only_when_different() {
        assert_eq!(
            Address::parse("bob@x.test").unwrap().smimea_names().len(),
            2
        );
        let mixed = Address::parse("Bob@x.test").unwrap().smimea_names();
        let forms: Vec<NameForm> = mixed.iter().map(|(form, _)| *form).collect();
        assert_eq!(
            forms,
            [
                NameForm::Sha256,
                NameForm::Sha256Lowercase,
                NameForm::Sha224Legacy,
                NameForm::Sha224LegacyLowercase
            ]
        );
    }

    #[test]
    fn idn_domain_becomes_a_labels() {
        let address = Address::parse("user@bücher.example").unwrap();
        assert_eq!(address.domain.to_ascii(), "xn--bcher-kva.example.");
    }

    #[test]
    fn quoted_local_part_is_unquoted() {
        let address = Address::parse(r#""john\"doe smith"@example.com"#).unwrap();
        assert_eq!(address.local, "john\"doe smith");
    }

    #[test]
    fn bad_addresses_are_refused_with_reason() {
        let cases = [
            ("alice.example.com", "no `@`"),
            ("@example.com", "local part"),
            ("alice@", "domain"),
            ("alice@example..com", "empty label"),
            ("alice@.example.com", "empty label"),
            ("alice@example.com.", "empty label"),
            ("al ice@example.com", "space"),
            ("\"alice@example.com", "unbalanced"),
            ("alice@exa mple.com", "invalid character"),
        ];
        for (input, why) in cases {
            let err = Address::parse(input).unwrap_err();
            assert!(err.to_string().contains(why), "{input}: {err}");
        }
    }
}
