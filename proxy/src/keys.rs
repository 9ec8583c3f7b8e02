//! The user's own S/MIME keys. Each private key lives on disk as encrypted
//! PKCS#8 (mode 600) under `<storage>/keys/`; the passphrase is a 32-byte
//! random sealing secret kept in the OS keyring (small enough for Windows'
//! 2560-byte Credential Manager limit, which is why the key itself is not
//! stored there). The key never appears in the clear on disk or in a log.
//!
//! Key history: `generate` with `replace` (CLI `keys generate --replace`)
//! moves the current key and certificate into `<storage>/keys/history/` as
//! `<address>.<unix seconds>.{key,pem}` before making the new one; retired
//! keys are never used to sign or published, only to decrypt mail that was
//! encrypted to them (the inbound agent, `danemail decrypt`).

use std::fs;
use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::extension::{ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};

use crate::dane::Address;

/// The keyring account holding the sealing secret.
const SEAL_ACCOUNT: &str = "key-seal";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa3072,
    P256,
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rsa3072" => Ok(Self::Rsa3072),
            "p256" => Ok(Self::P256),
            other => Err(format!("unknown algorithm `{other}` (rsa3072 or p256)")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("OS keyring (Secret Service on Linux): {0}; start a Secret Service (e.g. gnome-keyring) in a desktop session, or use --passphrase-file")]
    Keyring(String),
    #[error("key store {path}: {why}")]
    Store { path: PathBuf, why: String },
    #[error("no key for {0}")]
    NotFound(String),
    #[error("a key for {0} exists already; delete it first")]
    Exists(String),
    #[error("import: {0}")]
    Import(String),
    #[error("cannot unseal the key of {0}: wrong passphrase, or the keyring secret changed")]
    Unseal(String),
    #[error("OpenSSL: {0}")]
    Ssl(#[from] openssl::error::ErrorStack),
}

/// One stored identity.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub address: String,
    pub certificate: X509,
}

/// A key pair unsealed for decryption: current or retired.
pub struct Unsealed {
    pub address: String,
    pub certificate: X509,
    pub key: PKey<Private>,
    /// From `keys/history/`: replaced by a newer key.
    pub retired: bool,
}

impl std::fmt::Debug for Unsealed {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("address", &self.address)
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

/// Where the secret that seals private keys comes from.
#[derive(Clone)]
pub enum Sealer {
    /// A random secret kept in the OS keyring (the default).
    Keyring,
    /// A passphrase the user supplies each time (no keyring available).
    Passphrase(String),
}

/// The key directory.
pub struct KeyStore {
    dir: PathBuf,
    sealer: Sealer,
}

impl KeyStore {
    pub fn open(storage: &Path) -> Result<Self, KeyError> {
        let dir = storage.join("keys");
        fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        }
        Ok(Self {
            dir,
            sealer: Sealer::Keyring,
        })
    }

    /// Seals with `sealer` instead of the keyring secret.
    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = sealer;
        self
    }

    fn secret(&self, create: bool) -> Result<String, KeyError> {
        match &self.sealer {
            Sealer::Keyring => seal_secret(create),
            Sealer::Passphrase(passphrase) => Ok(passphrase.clone()),
        }
    }

    /// A new key pair and a self-signed S/MIME certificate for `address`.
    pub fn generate(
        &self,
        address: &Address,
        algorithm: Algorithm,
        days: u32,
    ) -> Result<StoredKey, KeyError> {
        let name = file_stem(address);
        if self.dir.join(format!("{name}.pem")).exists() {
            return Err(KeyError::Exists(address.original.clone()));
        }
        let key = match algorithm {
            Algorithm::Rsa3072 => PKey::from_rsa(Rsa::generate(3072)?)?,
            Algorithm::P256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                PKey::from_ec_key(EcKey::generate(&group)?)?
            }
        };
        let certificate = self_signed(&key, &address.original, algorithm, days)?;
        self.store(address, &key, certificate)
    }

    /// Moves the current key of `address` (if any) into `keys/history/`,
    /// then generates a new one: mail encrypted to the old key stays readable.
    pub fn replace(
        &self,
        address: &Address,
        algorithm: Algorithm,
        days: u32,
    ) -> Result<StoredKey, KeyError> {
        let name = file_stem(address);
        if self.dir.join(format!("{name}.pem")).exists() {
            let history = self.dir.join("history");
            fs::create_dir_all(&history).map_err(|e| store_error(&history, e))?;
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            for ext in ["key", "pem"] {
                let from = self.dir.join(format!("{name}.{ext}"));
                let mut n = 0;
                let to = loop {
                    let to = history.join(format!("{name}.{}.{ext}", stamp + n));
                    if !to.exists() {
                        break to;
                    }
                    n += 1;
                };
                if from.exists() {
                    fs::rename(&from, &to).map_err(|e| store_error(&from, e))?;
                }
            }
            if let Ok(dir) = fs::File::open(&history) {
                let _ = dir.sync_all();
            }
        }
        self.generate(address, algorithm, days)
    }

    /// Every key pair, current and retired, unsealed: what decryption tries.
    /// A key that cannot be unsealed is an error (the keyring secret changed).
    pub fn unsealed(&self) -> Result<Vec<Unsealed>, KeyError> {
        let mut out = Vec::new();
        let mut secret: Option<String> = None;
        let history = self.dir.join("history");
        for (dir, retired) in [(self.dir.clone(), false), (history, true)] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pem"))
                .collect();
            paths.sort();
            for pem_path in paths {
                let key_path = pem_path.with_extension("key");
                let Ok(sealed) = fs::read(&key_path) else {
                    continue;
                };
                let pem = fs::read(&pem_path).map_err(|e| store_error(&pem_path, e))?;
                let certificate = X509::from_pem(&pem)?;
                let stem = pem_path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if secret.is_none() {
                    secret = Some(self.secret(false)?);
                }
                let passphrase = secret.as_deref().unwrap_or_default();
                let key = PKey::private_key_from_pem_passphrase(&sealed, passphrase.as_bytes())
                    .map_err(|_| KeyError::Unseal(stem.clone()))?;
                out.push(Unsealed {
                    address: stem,
                    certificate,
                    key,
                    retired,
                });
            }
        }
        Ok(out)
    }

    /// Imports a PKCS#12 bundle (modern AES or legacy 3DES PBE); the
    /// identity's address is the certificate's first e-mail address.
    pub fn import(&self, p12: &[u8], password: &str) -> Result<StoredKey, KeyError> {
        let parsed = openssl::pkcs12::Pkcs12::from_der(p12)
            .and_then(|bundle| bundle.parse2(password))
            .map_err(|_| {
                KeyError::Import("wrong password, or not a PKCS#12 file OpenSSL can read".into())
            })?;
        let (Some(key), Some(certificate)) = (parsed.pkey, parsed.cert) else {
            return Err(KeyError::Import(
                "the bundle holds no private key and certificate".into(),
            ));
        };
        if !certificate.public_key()?.public_eq(&key) {
            return Err(KeyError::Import(
                "the private key does not belong to the certificate".into(),
            ));
        }
        let email = crate::dane::UsableCertificate::email_addresses_of(&certificate)
            .into_iter()
            .next()
            .ok_or_else(|| KeyError::Import("the certificate names no e-mail address".into()))?;
        let address = Address::parse(&email).map_err(|e| KeyError::Import(e.to_string()))?;
        if self
            .dir
            .join(format!("{}.pem", file_stem(&address)))
            .exists()
        {
            return Err(KeyError::Exists(address.original.clone()));
        }
        self.store(&address, &key, certificate)
    }

    /// Seals and writes a key (never overwriting one) and its certificate.
    fn store(
        &self,
        address: &Address,
        key: &PKey<Private>,
        certificate: X509,
    ) -> Result<StoredKey, KeyError> {
        let name = file_stem(address);
        let secret = self.secret(true)?;
        let sealed =
            key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), secret.as_bytes())?;
        write_private(&self.dir.join(format!("{name}.key")), &sealed)?;
        fs::write(self.dir.join(format!("{name}.pem")), certificate.to_pem()?)
            .map_err(|e| store_error(&self.dir, e))?;
        Ok(StoredKey {
            address: address.original.clone(),
            certificate,
        })
    }

    pub fn list(&self) -> Result<Vec<StoredKey>, KeyError> {
        let mut keys = Vec::new();
        for entry in fs::read_dir(&self.dir)
            .map_err(|e| store_error(&self.dir, e))?
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "pem") {
                let pem = fs::read(&path).map_err(|e| store_error(&path, e))?;
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                keys.push(StoredKey {
                    address: stem.to_owned(),
                    certificate: X509::from_pem(&pem)?,
                });
            }
        }
        keys.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(keys)
    }

    /// Keys replaced by `replace`, kept for decryption (`keys/history/`).
    pub fn retired(&self) -> Result<Vec<StoredKey>, KeyError> {
        let history = self.dir.join("history");
        let Ok(entries) = fs::read_dir(&history) else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|e| e == "pem") {
                let pem = fs::read(&path).map_err(|e| store_error(&path, e))?;
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                // `<address>.<unix seconds>`
                let address = stem.rsplit_once('.').map_or(stem, |(a, _)| a);
                keys.push(StoredKey {
                    address: address.to_owned(),
                    certificate: X509::from_pem(&pem)?,
                });
            }
        }
        keys.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(keys)
    }

    pub fn certificate(&self, address: &Address) -> Result<X509, KeyError> {
        let path = self.dir.join(format!("{}.pem", file_stem(address)));
        let pem = fs::read(&path).map_err(|_| KeyError::NotFound(address.original.clone()))?;
        Ok(X509::from_pem(&pem)?)
    }

    /// The private key, unsealed with the keyring secret (for decryption).
    pub fn private_key(&self, address: &Address) -> Result<PKey<Private>, KeyError> {
        let path = self.dir.join(format!("{}.key", file_stem(address)));
        let sealed = fs::read(&path).map_err(|_| KeyError::NotFound(address.original.clone()))?;
        let secret = self.secret(false)?;
        PKey::private_key_from_pem_passphrase(&sealed, secret.as_bytes())
            .map_err(|_| KeyError::Unseal(address.original.clone()))
    }

    pub fn delete(&self, address: &Address) -> Result<(), KeyError> {
        let name = file_stem(address);
        let cert = self.dir.join(format!("{name}.pem"));
        if !cert.exists() {
            return Err(KeyError::NotFound(address.original.clone()));
        }
        for path in [self.dir.join(format!("{name}.key")), cert] {
            fs::remove_file(&path).map_err(|e| store_error(&path, e))?;
        }
        Ok(())
    }
}

/// The sealing secret from the keyring; created on first use when `create`.
fn seal_secret(create: bool) -> Result<String, KeyError> {
    let entry = keyring::Entry::new("danemail", SEAL_ACCOUNT)
        .map_err(|e| KeyError::Keyring(e.to_string()))?;
    match entry.get_password() {
        Ok(secret) => Ok(secret),
        Err(keyring::Error::NoEntry) if create => {
            let mut bytes = [0u8; 32];
            openssl::rand::rand_bytes(&mut bytes)?;
            let secret = hex::encode(bytes);
            entry
                .set_password(&secret)
                .map_err(|e| KeyError::Keyring(e.to_string()))?;
            Ok(secret)
        }
        Err(e) => Err(KeyError::Keyring(e.to_string())),
    }
}

/// RFC 8550 §4.4: an S/MIME certificate names the address (SAN rfc822Name),
/// allows e-mail protection, and a key usage that fits the key.
fn self_signed(
    key: &PKey<Private>,
    email: &str,
    algorithm: Algorithm,
    days: u32,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", email)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(days)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(key)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    let mut usage = KeyUsage::new();
    usage.critical().digital_signature();
    match algorithm {
        Algorithm::Rsa3072 => usage.key_encipherment(),
        Algorithm::P256 => usage.key_agreement(),
    };
    builder.append_extension(usage.build()?)?;
    builder.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
    let san = SubjectAlternativeName::new()
        .email(email)
        .build(&builder.x509v3_context(None, None))?;
    builder.append_extension(san)?;
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// Addresses are file names here: lowercased, and only safe characters.
fn file_stem(address: &Address) -> String {
    address
        .original
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_private(path: &Path, pem: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| store_error(path, e))?;
    file.write_all(pem).map_err(|e| store_error(path, e))?;
    file.sync_all().map_err(|e| store_error(path, e))
}

fn store_error(path: &Path, e: std::io::Error) -> KeyError {
    KeyError::Store {
        path: path.to_owned(),
        why: e.to_string(),
    }
}
