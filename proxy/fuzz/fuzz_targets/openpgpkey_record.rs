//! OPENPGPKEY judgement from arbitrary record data (rpgp parses whatever a
//! zone publishes), for a fixed address; the same bytes as the user's own
//! key file and as the key `danemail record --openpgp` would minimise.
//! Checks: no panic; a usable verdict names the address in a User ID and
//! carries the record's fingerprint; a minimised key still judges usable.
#![no_main]

use danemail::dane::openpgpkey::{evaluate, minimal_for_dns};
use danemail::dane::{Address, UsableOpenPgpKey};
use danemail_fuzz::NOW;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let address = Address::parse("pgp@example.org").expect("a valid address");
    let verdict = evaluate(input, &address, NOW);
    assert_eq!(verdict.size, input.len());
    if let Ok(usable) = &verdict.usable {
        assert!(usable.names(&address));
        assert_eq!(verdict.fingerprint.as_deref(), Some(usable.fingerprint()));
    }
    let _ = UsableOpenPgpKey::from_user_file(input, NOW);
    if let Ok(minimal) = minimal_for_dns(input, &address, NOW) {
        let again = evaluate(&minimal.to_bytes(), &address, NOW);
        assert!(again.usable.is_ok(), "the minimised key is not usable");
    }
});
