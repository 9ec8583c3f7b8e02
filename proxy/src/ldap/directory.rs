//! The LDAP directory's answers, without sockets: which addresses a search
//! names, the Root DSE, and the entries built from DNSSEC-validated SMIMEA
//! certificates (RFC 4511 operations, inetOrgPerson attributes, RFC 2798).
//!
//! Outlook reads the Root DSE first and then searches
//! `(|(mail=x)(cn=x)(proxyAddresses=smtp:x)…)`; Thunderbird searches
//! `(mail=x)` asking for `usercertificate;binary`. An entry is returned only
//! for a complete address whose SMIMEA is secure and holds a usable
//! certificate; anything else yields no entry (the search still succeeds).

use ldap3_proto::proto::{
    LdapFilter, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchResultEntry, LdapSearchScope,
};

use crate::dane::{Address, UsableCertificate};

/// Attributes whose values may name a recipient.
const ADDRESS_ATTRIBUTES: [&str; 6] = [
    "mail",
    "cn",
    "sn",
    "givenname",
    "displayname",
    "proxyaddresses",
];

/// Most distinct addresses looked up for one search: a filter listing more
/// is a scan, not an address-book lookup.
pub const MAX_ADDRESSES: usize = 20;

/// What a search needs before it can be answered.
#[derive(Debug)]
pub enum SearchPlan {
    /// Nothing: the Root DSE, or a base outside the directory.
    Answered(Vec<LdapOp>),
    /// These complete addresses looked up, and these prefixes matched
    /// against recipients recently proven to have a certificate.
    Lookup {
        addresses: Vec<Address>,
        prefixes: Vec<String>,
    },
}

/// What `request` needs, for a directory at `base`.
pub fn plan(request: &LdapSearchRequest, base: &str) -> SearchPlan {
    if is_root_dse(request) {
        return SearchPlan::Answered(vec![
            LdapOp::SearchResultEntry(root_dse(base, request)),
            LdapOp::SearchResultDone(result(LdapResultCode::Success, "")),
        ]);
    }
    if !request.base.is_empty() && !within(&request.base, base) {
        return SearchPlan::Answered(vec![LdapOp::SearchResultDone(result(
            LdapResultCode::NoSuchObject,
            format!("this directory holds {base}"),
        ))]);
    }
    SearchPlan::Lookup {
        addresses: addresses_in(&request.filter),
        prefixes: prefixes_in(&request.filter),
    }
}

/// The replies to `request` once its lookups are done: `found` holds each
/// address with its usable certificates when its SMIMEA is DNSSEC-secure
/// (`None`: no entry). The client's size limit is honoured (RFC 4511
/// §4.5.1.4).
pub fn replies(
    request: &LdapSearchRequest,
    base: &str,
    found: &[(Address, Option<&[UsableCertificate]>)],
) -> Vec<LdapOp> {
    let mut replies: Vec<LdapOp> = found
        .iter()
        .filter_map(|(address, certificates)| Some((address, (*certificates)?)))
        .flat_map(|(address, certificates)| entries(address, certificates, base, request))
        .map(LdapOp::SearchResultEntry)
        .collect();
    let size = usize::try_from(request.sizelimit).unwrap_or(0);
    let code = if size > 0 && replies.len() > size {
        replies.truncate(size);
        LdapResultCode::SizeLimitExceeded
    } else {
        LdapResultCode::Success
    };
    replies.push(LdapOp::SearchResultDone(result(code, "")));
    replies
}

/// The complete e-mail addresses a search filter asks for: equality
/// assertions on the address attributes, and substring assertions whose
/// initial part is a whole address. `Not` branches name nobody.
pub fn addresses_in(filter: &LdapFilter) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    collect(filter, &mut out);
    out
}

fn collect(filter: &LdapFilter, out: &mut Vec<Address>) {
    let mut push = |attribute: &str, value: &str| {
        if !ADDRESS_ATTRIBUTES.contains(&attribute.to_ascii_lowercase().as_str())
            || out.len() >= MAX_ADDRESSES
        {
            return;
        }
        // Exchange's proxyAddresses values read "smtp:user@example.com".
        let value = value
            .strip_prefix("smtp:")
            .or_else(|| value.strip_prefix("SMTP:"))
            .unwrap_or(value)
            .trim();
        if let Some(address) = complete_address(value) {
            if !out
                .iter()
                .any(|a| a.original.eq_ignore_ascii_case(&address.original))
            {
                out.push(address);
            }
        }
    };
    match filter {
        LdapFilter::And(filters) | LdapFilter::Or(filters) => {
            for f in filters {
                collect(f, out);
            }
        }
        LdapFilter::Equality(attribute, value) | LdapFilter::Approx(attribute, value) => {
            push(attribute, value)
        }
        LdapFilter::Substring(attribute, substring) => {
            if let Some(initial) = &substring.initial {
                push(attribute, initial);
            }
        }
        _ => {}
    }
}

/// The initial parts of substring assertions on address attributes that are
/// not complete addresses (what an address book sends while the user
/// types): at least 3 characters.
pub fn prefixes_in(filter: &LdapFilter) -> Vec<String> {
    let mut out = Vec::new();
    collect_prefixes(filter, &mut out);
    out
}

fn collect_prefixes(filter: &LdapFilter, out: &mut Vec<String>) {
    match filter {
        LdapFilter::And(filters) | LdapFilter::Or(filters) => {
            for f in filters {
                collect_prefixes(f, out);
            }
        }
        LdapFilter::Substring(attribute, substring)
            if ADDRESS_ATTRIBUTES.contains(&attribute.to_ascii_lowercase().as_str()) =>
        {
            if let Some(initial) = &substring.initial {
                let initial = initial.trim();
                if initial.chars().count() >= 3
                    && complete_address(initial).is_none()
                    && !out.iter().any(|p| p == initial)
                {
                    out.push(initial.to_owned());
                }
            }
        }
        _ => {}
    }
}

/// An address worth a DNS lookup: `local@domain` with a dot in the domain
/// (a half-typed `bob@exa` is not one).
fn complete_address(value: &str) -> Option<Address> {
    let (_, domain) = value.rsplit_once('@')?;
    if !domain.contains('.') || domain.ends_with('.') {
        return None;
    }
    Address::parse(value).ok()
}

/// The Root DSE (RFC 4512 §5.1).
pub fn root_dse(base: &str, request: &LdapSearchRequest) -> LdapSearchResultEntry {
    let attributes = vec![
        attribute("objectClass", vec![b"top".to_vec()]),
        attribute("namingContexts", vec![base.as_bytes().to_vec()]),
        attribute("defaultNamingContext", vec![base.as_bytes().to_vec()]),
        attribute("supportedLDAPVersion", vec![b"3".to_vec()]),
        attribute("subschemaSubentry", vec![b"cn=Subschema".to_vec()]),
        attribute("vendorName", vec![b"DANE Mail".to_vec()]),
    ];
    LdapSearchResultEntry {
        dn: String::new(),
        attributes: select(attributes, request, true),
    }
}

/// Whether a search asks for the Root DSE.
pub fn is_root_dse(request: &LdapSearchRequest) -> bool {
    request.base.is_empty() && request.scope == LdapSearchScope::Base
}

/// Whether `base` is inside the directory (`dc=dane,dc=mail` or below).
pub fn within(base: &str, naming_context: &str) -> bool {
    let base = base.to_ascii_lowercase().replace(' ', "");
    let context = naming_context.to_ascii_lowercase().replace(' ', "");
    base == context || base.ends_with(&format!(",{context}"))
}

/// One entry per usable certificate of `address`.
pub fn entries(
    address: &Address,
    certificates: &[UsableCertificate],
    base: &str,
    request: &LdapSearchRequest,
) -> Vec<LdapSearchResultEntry> {
    certificates
        .iter()
        .filter_map(|certificate| {
            let der = certificate.certificate().to_der().ok()?;
            let pkcs7 = crate::smime::certs_only(&[certificate.certificate().as_ref()]).ok()?;
            let mail = address.original.as_bytes().to_vec();
            let attributes = vec![
                attribute(
                    "objectClass",
                    ["top", "person", "organizationalPerson", "inetOrgPerson"]
                        .iter()
                        .map(|c| c.as_bytes().to_vec())
                        .collect(),
                ),
                attribute("mail", vec![mail.clone()]),
                attribute("cn", vec![mail.clone()]),
                attribute("sn", vec![mail]),
                attribute("userCertificate;binary", vec![der]),
                attribute("userSMIMECertificate", vec![pkcs7]),
            ];
            Some(LdapSearchResultEntry {
                dn: format!("mail={},{base}", escape_dn_value(&address.original)),
                attributes: select(attributes, request, false),
            })
        })
        .collect()
}

/// The attributes the request asked for (RFC 4511 §4.5.1.8): none listed or
/// `*` = all user attributes; `1.1` = none; names compare case-insensitively,
/// `userCertificate` and `userCertificate;binary` alike. `typesOnly` drops
/// the values. The Root DSE's attributes count as listed even when not asked
/// by name (they are few and what address books look for).
fn select(
    attributes: Vec<LdapPartialAttribute>,
    request: &LdapSearchRequest,
    root: bool,
) -> Vec<LdapPartialAttribute> {
    let wanted: Vec<String> = request.attrs.iter().map(|a| normalize(a)).collect();
    let all = wanted.is_empty() || wanted.iter().any(|a| a == "*" || (root && a == "+"));
    let none = !all && wanted.iter().all(|a| a == "1.1");
    attributes
        .into_iter()
        .filter(|a| !none && (all || wanted.contains(&normalize(&a.atype))))
        .map(|mut a| {
            if request.typesonly {
                a.vals.clear();
            }
            a
        })
        .collect()
}

/// Lowercase, without the `;binary` transfer option (RFC 4522).
fn normalize(attribute: &str) -> String {
    let lower = attribute.to_ascii_lowercase();
    lower.strip_suffix(";binary").unwrap_or(&lower).to_owned()
}

fn attribute(name: &str, vals: Vec<Vec<u8>>) -> LdapPartialAttribute {
    LdapPartialAttribute {
        atype: name.to_owned(),
        vals,
    }
}

/// RFC 4514 §2.4 escaping of an attribute value in a DN.
fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::LdapSubstringFilter;

    fn eq(a: &str, v: &str) -> LdapFilter {
        LdapFilter::Equality(a.into(), v.into())
    }

    fn names(filter: &LdapFilter) -> Vec<String> {
        addresses_in(filter)
            .into_iter()
            .map(|a| a.original)
            .collect()
    }

    #[test]
    fn outlook_and_thunderbird_filters_name_their_addresses() {
        // Thunderbird.
        assert_eq!(names(&eq("mail", "alice@ecdsa.test")), ["alice@ecdsa.test"]);
        // Outlook's ambiguous-name resolution.
        let outlook = LdapFilter::Or(vec![
            eq("mail", "bob@rsa.test"),
            eq("cn", "bob@rsa.test"),
            eq("proxyAddresses", "smtp:bob@rsa.test"),
            LdapFilter::Substring(
                "displayName".into(),
                LdapSubstringFilter::from("bob@rsa.test*"),
            ),
        ]);
        assert_eq!(names(&outlook), ["bob@rsa.test"]);
        // Partial input, other attributes, negations: nobody.
        let nobody = LdapFilter::And(vec![
            eq("mail", "bob@exa"),
            eq("uid", "carol@x.test"),
            LdapFilter::Not(Box::new(eq("mail", "dave@x.test"))),
            LdapFilter::Substring("mail".into(), LdapSubstringFilter::from("ali*")),
            LdapFilter::Present("mail".into()),
        ]);
        assert!(names(&nobody).is_empty());
    }

    #[test]
    fn attribute_selection() {
        let request = |attrs: &[&str], typesonly| LdapSearchRequest {
            base: "dc=dane,dc=mail".into(),
            scope: LdapSearchScope::Subtree,
            aliases: ldap3_proto::proto::LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly,
            filter: LdapFilter::Present("objectClass".into()),
            attrs: attrs.iter().map(|s| s.to_string()).collect(),
        };
        let attrs = || {
            vec![
                attribute("mail", vec![b"a".to_vec()]),
                attribute("userCertificate;binary", vec![b"x".to_vec()]),
            ]
        };
        let picked = |r: &LdapSearchRequest| {
            select(attrs(), r, false)
                .iter()
                .map(|a| a.atype.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(picked(&request(&[], false)).len(), 2);
        assert_eq!(
            picked(&request(&["usercertificate;binary"], false)),
            ["userCertificate;binary"]
        );
        assert_eq!(
            picked(&request(&["USERCERTIFICATE"], false)),
            ["userCertificate;binary"]
        );
        assert!(picked(&request(&["1.1"], false)).is_empty());
        assert!(select(attrs(), &request(&["*"], true), false)
            .iter()
            .all(|a| a.vals.is_empty()));
        assert!(within("mail=a@b.c,dc=dane,dc=mail", "dc=dane,dc=mail"));
        assert!(within("DC=Dane, DC=Mail", "dc=dane,dc=mail"));
        assert!(!within("dc=other", "dc=dane,dc=mail"));
        assert_eq!(escape_dn_value("a+b@x.test"), "a\\+b@x.test");
    }
}
