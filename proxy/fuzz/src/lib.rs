//! What the fuzz targets share: two recipients' test keys (fixtures/, made
//! by tests/fixtures/smime/make-keys.sh, used nowhere else), the decisions
//! a recipient's name picks, and checks of what the engine writes.

use std::sync::OnceLock;

use danemail::dane::{Action, Decision, TempfailCause, UsableCertificate};
use danemail::keys::Unsealed;
use openssl::pkey::PKey;
use openssl::x509::X509;

/// A fixed "now" (2027-01-15), so runs are reproducible.
pub const NOW: i64 = 1_800_000_000;

pub struct Identity {
    pub usable: UsableCertificate,
    /// The key store's view of the same identity.
    pub unsealed: Unsealed,
}

/// An RSA-2048 and a P-256 recipient.
pub fn identities() -> &'static [Identity; 2] {
    static IDENTITIES: OnceLock<[Identity; 2]> = OnceLock::new();
    IDENTITIES.get_or_init(|| {
        let load = |address: &str, pem: &[u8], key: &[u8]| Identity {
            usable: UsableCertificate::from_user_file(pem, NOW).expect("fixture usable"),
            unsealed: Unsealed {
                address: address.to_owned(),
                certificate: X509::from_pem(pem).expect("fixture certificate"),
                key: PKey::private_key_from_pem(key).expect("fixture key"),
                retired: false,
            },
        };
        [
            load(
                "rsa2048@smime.test",
                include_bytes!("../fixtures/rsa.pem"),
                include_bytes!("../fixtures/rsa.key"),
            ),
            load(
                "ec256@smime.test",
                include_bytes!("../fixtures/ec.pem"),
                include_bytes!("../fixtures/ec.key"),
            ),
        ]
    })
}

/// Both identities' keys, as decryption takes them.
pub fn keys() -> &'static [Unsealed] {
    static KEYS: OnceLock<Vec<Unsealed>> = OnceLock::new();
    KEYS.get_or_init(|| {
        identities()
            .iter()
            .map(|i| Unsealed {
                address: i.unsealed.address.clone(),
                certificate: i.unsealed.certificate.clone(),
                key: i.unsealed.key.clone(),
                retired: false,
            })
            .collect()
    })
}

/// The decision for a recipient, picked by its local part's first letter,
/// so the fuzzer reaches every kind: `r…` RSA, `e…` EC, `b…` both
/// certificates (two kinds), `t…` tempfail, `x…` refuse, else plaintext.
pub fn decision_for(address: &str) -> Decision {
    let [rsa, ec] = identities();
    let action = match address.as_bytes().first().map(u8::to_ascii_lowercase) {
        Some(b'r') => Action::Encrypt(vec![rsa.usable.clone()]),
        Some(b'e') => Action::Encrypt(vec![ec.usable.clone()]),
        Some(b'b') => Action::Encrypt(vec![rsa.usable.clone(), ec.usable.clone()]),
        Some(b't') => Action::Tempfail(TempfailCause::Bogus),
        Some(b'x') => Action::Refuse,
        _ => Action::Plaintext,
    };
    Decision {
        action,
        reason: "fuzz".into(),
    }
}

/// Panics unless every line of `data` ends in CRLF: no bare CR, no bare LF
/// (what a lenient provider could read as the end of DATA).
pub fn assert_canonical(data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && data[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}
