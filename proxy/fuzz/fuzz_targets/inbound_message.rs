//! Inbound processing from raw bytes: detection of S/MIME, CMS decryption
//! with the test keys (OpenSSL through the engine's FFI), opaque signatures,
//! RFC 9788 header protection and the plaintext copy. First byte: bit 0 set
//! wraps the rest as base64 `application/pkcs7-mime` (the fuzzer then works
//! on raw CMS DER), bit 1 mirrors plaintext. Checks: no panic; a decrypted
//! or mirrored message yields a copy that parses and carries exactly one
//! provenance field; the CMS helpers agree with detection.
#![no_main]

use base64::Engine;
use danemail::inbound::{detect, process, Outcome, PROVENANCE};
use danemail::mime::Message;
use danemail_fuzz::keys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let raw = if mode & 1 == 1 {
        let _ = (
            detect::cms_type(rest),
            detect::cipher_name(rest),
            detect::uses_oaep(rest),
        );
        let mut raw = b"From: a@example.org\r\nTo: rsa2048@smime.test\r\nSubject: fuzz\r\n\
            MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\
            Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        raw.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(rest)
                .as_bytes(),
        );
        raw.extend_from_slice(b"\r\n");
        raw
    } else {
        rest.to_vec()
    };
    let processed = process(&raw, None, keys(), mode & 2 == 2);
    match (&processed.outcome, &processed.copy) {
        (Outcome::Decrypted | Outcome::Mirrored, Some(copy)) => {
            let copy = Message::parse(copy).expect("a stored copy parses");
            assert_eq!(copy.fields_named(PROVENANCE).count(), 1);
        }
        (Outcome::Decrypted | Outcome::Mirrored, None) => panic!("no copy to store"),
        (_, Some(_)) => panic!("a copy without a decryption or a mirror"),
        _ => {}
    }
});
