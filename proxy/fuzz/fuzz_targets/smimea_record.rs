//! SMIMEA judgement from arbitrary record data: the first three bytes are
//! the usage, selector and matching type, the rest the certificate
//! association data (arbitrary DER included); the same bytes also as a
//! user-supplied certificate file. Checks: no panic; a usable verdict only
//! for DANE-EE (3) with a full certificate (RFC 8162 §6, our rules), whose
//! SHA-256 is the one reported.
#![no_main]

use danemail::dane::smimea::evaluate;
use danemail::dane::UsableCertificate;
use danemail_fuzz::NOW;
use hickory_resolver::proto::rr::rdata::TLSA;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [usage, selector, matching, data @ ..] = input else {
        return;
    };
    let record = TLSA::new(
        (*usage).into(),
        (*selector).into(),
        (*matching).into(),
        data.to_vec(),
    );
    let verdict = evaluate(&record, NOW);
    assert_eq!(verdict.data, data);
    if let Ok(usable) = &verdict.usable {
        assert_eq!(
            (verdict.usage, verdict.selector, verdict.matching_type),
            (3, 0, 0)
        );
        assert_eq!(usable.sha256(), hex::encode(openssl::sha::sha256(data)));
        assert_eq!(verdict.certificate_sha256.as_deref(), Some(usable.sha256()));
    }
    let _ = UsableCertificate::from_user_file(data, NOW);
});
