//! Which OPENPGPKEY records (RFC 7929) carry a key we may encrypt to.
//!
//! A record is usable when it parses as one OpenPGP transferable public key
//! (RFC 9580 §10.1) that is not revoked, has a valid self-signature on a
//! User ID naming the recipient's address (local part compared
//! case-insensitively, RFC 7929 §3 and §5), is not expired, and has a
//! component key whose valid binding allows encryption with an algorithm we
//! encrypt to (RSA of at least 2048 bits, Curve25519/X25519, NIST P-256 or
//! P-384). The DNSSEC state is judged by the caller: only a Secure answer
//! may be used (RFC 7929 §7). Everything else gets the reason it is not
//! usable, as SMIMEA records do.
//!
//! rpgp parses and verifies signatures; the validity rules (newest
//! self-signature wins, revocations, expiry, key flags) are applied here
//! because rpgp 0.21 has no key-validity policy of its own.

use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{EcdhPublicParams, Fingerprint, KeyDetails, KeyId, PublicParams, Tag};
use rsa::traits::PublicKeyParts;

use super::address::Address;

/// RSA keys below this many bits are refused (NIST SP 800-131A), as for
/// S/MIME certificates.
const MIN_RSA_BITS: usize = 2048;

/// An OpenPGP key proven by validated DNS to belong to a recipient and fit
/// for encryption. Only this module can make one: the PGP/MIME writer
/// accepts nothing else.
#[derive(Clone)]
pub struct UsableOpenPgpKey {
    key: SignedPublicKey,
    /// The component encrypted to: `None` for the primary key, else the
    /// index of the subkey.
    component: Option<usize>,
    fingerprint: String,
    algorithm: String,
    /// The User IDs with a valid self-signature.
    user_ids: Vec<String>,
    /// When the key or the component encrypted to expires (Unix seconds).
    expires: Option<i64>,
}

impl UsableOpenPgpKey {
    /// The User IDs with a valid self-signature.
    pub fn user_ids(&self) -> &[String] {
        &self.user_ids
    }

    /// Whether one of its User IDs names `address`.
    pub fn names(&self, address: &Address) -> bool {
        self.user_ids.iter().any(|id| uid_names(id, address))
    }

    /// The primary key's fingerprint, uppercase hex (as GnuPG prints it).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The encryption key's algorithm in words ("RSA-3072", "Curve25519").
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// When the key, or the component encrypted to, expires (Unix seconds).
    pub fn expires(&self) -> Option<i64> {
        self.expires
    }

    /// The whole transferable public key, binary (what the record holds).
    pub fn to_bytes(&self) -> Vec<u8> {
        use pgp::ser::Serialize;
        self.key.to_bytes().unwrap_or_default()
    }

    /// Encrypts a session key to this recipient's chosen component.
    pub(crate) fn add_to<R: std::io::Read>(
        &self,
        builder: &mut pgp::composed::MessageBuilder<'_, R, pgp::composed::EncryptionSeipdV1>,
    ) -> pgp::errors::Result<()> {
        let mut rng = rand::thread_rng();
        match self.component {
            None => builder.encrypt_to_key(&mut rng, &self.key.primary_key)?,
            Some(index) => builder.encrypt_to_key(&mut rng, &self.key.public_subkeys[index])?,
        };
        Ok(())
    }

    /// A key judged usable at RCPT time and kept in the outbox until the
    /// message is planned: judged again (bar the address, which was checked
    /// then) so that a damaged file can never yield a key.
    pub(crate) fn from_spooled(bytes: &[u8], now: i64) -> Result<Self, String> {
        judge(bytes, None, now)
    }

    /// The user's own public key (`[openpgp] sender_key`, armored or
    /// binary): the same checks, any User ID.
    pub fn from_user_file(bytes: &[u8], now: i64) -> Result<Self, String> {
        judge_key(read_user_key(bytes)?, None, now)
    }
}

/// The key to publish for `address` in an OPENPGPKEY record (RFC 7929
/// §2.1.2: keep the record small): `bytes` (armored or binary, e.g. from
/// `gpg --export`) reduced to the User IDs naming `address`, their
/// self-signatures and the subkeys, without third-party certifications or
/// photo IDs; refused with the reason when senders could not use it.
pub fn minimal_for_dns(
    bytes: &[u8],
    address: &Address,
    now: i64,
) -> Result<UsableOpenPgpKey, String> {
    let mut key = read_user_key(bytes)?;
    let fingerprint = key.primary_key.fingerprint();
    let key_id = key.primary_key.legacy_key_id();
    key.details.user_attributes.clear();
    key.details
        .users
        .retain(|user| uid_names(&String::from_utf8_lossy(user.id.id()), address));
    for user in &mut key.details.users {
        user.signatures
            .retain(|sig| issued_by(sig, &fingerprint, &key_id));
    }
    for subkey in &mut key.public_subkeys {
        subkey
            .signatures
            .retain(|sig| issued_by(sig, &fingerprint, &key_id));
    }
    if key.details.users.is_empty() {
        return Err(format!("none of its User IDs names {}", address.original));
    }
    judge_key(key, Some(address), now)
}

fn read_user_key(bytes: &[u8]) -> Result<SignedPublicKey, String> {
    match SignedPublicKey::from_armor_single(bytes) {
        Ok((key, _)) => Ok(key),
        Err(_) => SignedPublicKey::from_bytes(bytes)
            .map_err(|e| format!("not an OpenPGP public key (armored or binary): {e}")),
    }
}

impl std::fmt::Debug for UsableOpenPgpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsableOpenPgpKey")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// One OPENPGPKEY record and what it is good for.
#[derive(Debug, Clone)]
pub struct KeyVerdict {
    /// The primary key's fingerprint when the record parses as a key.
    pub fingerprint: Option<String>,
    /// SHA-256 of the record data, hex.
    pub key_sha256: String,
    pub size: usize,
    pub usable: Result<UsableOpenPgpKey, String>,
}

/// Judges one OPENPGPKEY record for `address` at `now` (Unix seconds).
pub fn evaluate(data: &[u8], address: &Address, now: i64) -> KeyVerdict {
    let usable = judge(data, Some(address), now);
    KeyVerdict {
        fingerprint: match &usable {
            Ok(key) => Some(key.fingerprint.clone()),
            Err(_) => SignedPublicKey::from_bytes(data)
                .ok()
                .map(|key| fingerprint_of(&key)),
        },
        key_sha256: hex::encode(openssl::sha::sha256(data)),
        size: data.len(),
        usable,
    }
}

fn judge(data: &[u8], address: Option<&Address>, now: i64) -> Result<UsableOpenPgpKey, String> {
    let key = SignedPublicKey::from_bytes(data)
        .map_err(|e| format!("not an OpenPGP transferable public key: {e}"))?;
    judge_key(key, address, now)
}

fn fingerprint_of(key: &SignedPublicKey) -> String {
    format!("{:X}", key.primary_key.fingerprint())
}

fn judge_key(
    key: SignedPublicKey,
    address: Option<&Address>,
    now: i64,
) -> Result<UsableOpenPgpKey, String> {
    let fingerprint = fingerprint_of(&key);
    let primary = &key.primary_key;
    let created = i64::from(primary.created_at().as_secs());

    // RFC 9580 §5.2.1.11: a valid key revocation signature revokes the key.
    if let Some(revocation) = key
        .details
        .revocation_signatures
        .iter()
        .find(|sig| by_primary(sig, &key) && sig.verify_key(primary).is_ok())
    {
        return Err(format!(
            "revoked by its owner{}",
            revocation_reason(revocation)
        ));
    }

    // The newest valid self-signature of each User ID binds it.
    let mut bound: Vec<(String, &Signature)> = Vec::new();
    let mut revoked_ids = Vec::new();
    for user in &key.details.users {
        let newest = user
            .signatures
            .iter()
            .filter(|sig| by_primary(sig, &key))
            .filter(|sig| {
                sig.verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
            })
            .filter(|sig| !signature_expired(sig, now))
            .max_by_key(|sig| sig.created().map_or(0, |t| t.as_secs()));
        let text = String::from_utf8_lossy(user.id.id()).into_owned();
        match newest {
            Some(sig) if sig.typ() == Some(SignatureType::CertRevocation) => revoked_ids.push(text),
            Some(sig) => bound.push((text, sig)),
            None => {}
        }
    }
    if bound.is_empty() {
        return Err(if revoked_ids.is_empty() {
            "no User ID carries a valid self-signature".into()
        } else {
            format!("its User IDs are revoked ({})", revoked_ids.join(", "))
        });
    }

    // RFC 7929 §3/§5: the key must name the address it is published for.
    let binding = match address {
        None => bound[0].1,
        Some(address) => match bound.iter().find(|(id, _)| uid_names(id, address)) {
            Some((_, sig)) => sig,
            None => {
                let ids: Vec<&str> = bound.iter().map(|(id, _)| id.as_str()).collect();
                return Err(format!(
                    "its User IDs name another address ({}), not {}",
                    ids.join(", "),
                    address.original
                ));
            }
        },
    };

    // The newest direct-key signature may carry the key's expiry instead.
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(|sig| by_primary(sig, &key) && sig.verify_key(primary).is_ok())
        .max_by_key(|sig| sig.created().map_or(0, |t| t.as_secs()));
    let expiry = binding
        .key_expiration_time()
        .or_else(|| direct.and_then(|sig| sig.key_expiration_time()));
    // A lifetime of zero means "never expires" (RFC 9580 §5.2.3.13).
    let key_expires = expiry
        .filter(|lifetime| lifetime.as_secs() > 0)
        .map(|lifetime| created + i64::from(lifetime.as_secs()));
    if let Some(expires) = key_expires {
        if expires <= now {
            return Err(format!(
                "expired on {} (the key's self-signature sets its lifetime)",
                crate::civil::date(expires)
            ));
        }
    }

    // The component to encrypt to: the newest valid encryption subkey, else
    // the primary key when its own flags allow encryption.
    let mut why_not = Vec::new();
    let mut best: Option<(usize, i64, String, Option<i64>)> = None;
    for (index, subkey) in key.public_subkeys.iter().enumerate() {
        match judge_subkey(subkey, &key, now) {
            Ok((algorithm, expires)) => {
                let created = i64::from(subkey.key.created_at().as_secs());
                if best.as_ref().is_none_or(|(_, when, _, _)| created > *when) {
                    best = Some((index, created, algorithm, expires));
                }
            }
            Err(why) => why_not.push(format!(
                "subkey {}: {why}",
                short_id(&subkey.key.fingerprint())
            )),
        }
    }
    let (component, algorithm, component_expires) = match best {
        Some((index, _, algorithm, expires)) => (Some(index), algorithm, expires),
        None => {
            let flags = binding.key_flags();
            let allows = flags.encrypt_comms() || flags.encrypt_storage();
            match (allows, encryption_algorithm(primary.public_params())) {
                (true, Ok(algorithm)) => (None, algorithm, None),
                (true, Err(why)) => {
                    why_not.push(format!("primary key: {why}"));
                    return Err(no_encryption_key(&why_not));
                }
                (false, _) => {
                    why_not.push("primary key: its flags do not allow encryption".into());
                    return Err(no_encryption_key(&why_not));
                }
            }
        }
    };
    let user_ids = bound.iter().map(|(id, _)| id.clone()).collect();
    let expires = match (key_expires, component_expires) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(UsableOpenPgpKey {
        key,
        component,
        fingerprint,
        algorithm,
        user_ids,
        expires,
    })
}

fn no_encryption_key(why_not: &[String]) -> String {
    format!("no key usable for encryption ({})", why_not.join("; "))
}

/// Whether a subkey can be encrypted to: a valid newest binding that allows
/// encryption, not revoked, not expired, and an algorithm we support.
fn judge_subkey(
    subkey: &SignedPublicSubKey,
    key: &SignedPublicKey,
    now: i64,
) -> Result<(String, Option<i64>), String> {
    let primary = &key.primary_key;
    let valid: Vec<&Signature> = subkey
        .signatures
        .iter()
        .filter(|sig| by_primary(sig, key))
        .filter(|sig| sig.verify_subkey_binding(primary, &subkey.key).is_ok())
        .collect();
    if let Some(revocation) = valid
        .iter()
        .find(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation))
    {
        return Err(format!("revoked{}", revocation_reason(revocation)));
    }
    let binding = valid
        .iter()
        .filter(|sig| !signature_expired(sig, now))
        .max_by_key(|sig| sig.created().map_or(0, |t| t.as_secs()))
        .ok_or("no valid binding signature")?;
    let flags = binding.key_flags();
    if !(flags.encrypt_comms() || flags.encrypt_storage()) {
        return Err("its flags do not allow encryption".into());
    }
    let expires = binding
        .key_expiration_time()
        .filter(|lifetime| lifetime.as_secs() > 0)
        .map(|lifetime| {
            i64::from(subkey.key.created_at().as_secs()) + i64::from(lifetime.as_secs())
        });
    if let Some(expires) = expires.filter(|expires| *expires <= now) {
        return Err(format!("expired on {}", crate::civil::date(expires)));
    }
    Ok((encryption_algorithm(subkey.key.public_params())?, expires))
}

/// The algorithms we encrypt to, in words; the rest with the reason.
fn encryption_algorithm(params: &PublicParams) -> Result<String, String> {
    match params {
        PublicParams::RSA(rsa) => {
            let bits = rsa.key.size() * 8;
            if bits >= MIN_RSA_BITS {
                Ok(format!("RSA-{bits}"))
            } else {
                Err(format!("RSA-{bits} is below {MIN_RSA_BITS} bits"))
            }
        }
        PublicParams::ECDH(EcdhPublicParams::Curve25519Legacy { .. }) | PublicParams::X25519(_) => {
            Ok("Curve25519".into())
        }
        PublicParams::ECDH(EcdhPublicParams::P256 { .. }) => Ok("NIST P-256".into()),
        PublicParams::ECDH(EcdhPublicParams::P384 { .. }) => Ok("NIST P-384".into()),
        PublicParams::ECDH(other) => Err(format!("ECDH on {} is not supported", other.curve())),
        PublicParams::Elgamal(_) => Err("ElGamal is not supported".into()),
        PublicParams::X448(_) => Err("X448 is not supported".into()),
        _ => Err("a signing-only algorithm".into()),
    }
}

/// Whether `sig` claims to be made by the primary key (issuer fingerprint or
/// key ID); third-party certifications are not self-signatures.
fn by_primary(sig: &Signature, key: &SignedPublicKey) -> bool {
    issued_by(
        sig,
        &key.primary_key.fingerprint(),
        &key.primary_key.legacy_key_id(),
    )
}

fn issued_by(sig: &Signature, fingerprint: &Fingerprint, key_id: &KeyId) -> bool {
    sig.issuer_fingerprint().contains(&fingerprint) || sig.issuer_key_id().contains(&key_id)
}

fn signature_expired(sig: &Signature, now: i64) -> bool {
    match (sig.created(), sig.signature_expiration_time()) {
        (Some(created), Some(lifetime)) if lifetime.as_secs() > 0 => {
            i64::from(created.as_secs()) + lifetime.as_secs() as i64 <= now
        }
        _ => false,
    }
}

fn revocation_reason(sig: &Signature) -> String {
    match sig.revocation_reason_string() {
        Some(text) if !text.is_empty() => {
            format!(
                " (\"{}\")",
                String::from_utf8_lossy(text)
                    .chars()
                    .take(80)
                    .collect::<String>()
            )
        }
        _ => String::new(),
    }
}

fn short_id(fingerprint: &Fingerprint) -> String {
    let hex = format!("{fingerprint:X}");
    hex[hex.len().saturating_sub(16)..].to_owned()
}

/// Whether a User ID ("Name <local@domain>" or a bare address) names
/// `address`: the local part case-insensitively (RFC 7929 §5: mail systems
/// treat it so, and the owner name is looked up lowercased too), the domain
/// case-insensitively in its A-label form.
fn uid_names(uid: &str, address: &Address) -> bool {
    let inner = match (uid.rfind('<'), uid.rfind('>')) {
        (Some(open), Some(close)) if open < close => &uid[open + 1..close],
        _ => uid.trim(),
    };
    let Ok(named) = Address::parse(inner) else {
        return false;
    };
    named.local.to_lowercase() == address.local.to_lowercase()
        && named
            .domain
            .to_ascii()
            .eq_ignore_ascii_case(&address.domain.to_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Address {
        Address::parse(text).unwrap()
    }

    #[test]
    fn a_user_id_names_the_address_case_insensitively() {
        let a = address("pgp-rsa@ecdsa.test");
        assert!(uid_names("PGP RSA <PGP-RSA@ecdsa.test>", &a));
        assert!(uid_names("pgp-rsa@ECDSA.test", &a));
        assert!(!uid_names("Someone <someone@ecdsa.test>", &a));
        assert!(!uid_names("pgp-rsa@other.test", &a));
        assert!(!uid_names("no address at all", &a));
    }

    #[test]
    fn garbage_is_not_a_key() {
        let verdict = evaluate(b"\x00\x01garbage bytes", &address("a@b.test"), 0);
        assert!(verdict.fingerprint.is_none());
        let why = verdict.usable.unwrap_err();
        assert!(why.contains("not an OpenPGP"), "{why}");
        assert_eq!(verdict.size, 15);
    }
}
