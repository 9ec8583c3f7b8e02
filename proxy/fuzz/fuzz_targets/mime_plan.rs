//! A submitted message from raw bytes: the header splitter and its
//! accessors, then the per-recipient plan (To, Cc and Bcc recipients plus a
//! hidden one, decisions by name) and every copy written. Checks: no
//! panic; each Bcc or hidden recipient with a certificate has a copy of
//! their own; no copy names a recipient twice; no plaintext copy keeps a
//! Bcc field; every encrypted copy decrypts with the test keys.
#![no_main]

use danemail::inbound::decrypt;
use danemail::mime::Message;
use danemail::plan::{CopyBody, Plan, Senders};
use danemail::smime::{ContentCipher, EncryptOptions};
use danemail_fuzz::{decision_for, identities, keys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(message) = Message::parse(input) else {
        return;
    };
    let _ = (message.subject(), message.content_type(), message.from());
    let protected = message.protection().is_some();
    let visible: Vec<String> = message.to().into_iter().chain(message.cc()).collect();
    let mut recipients: Vec<String> = visible
        .iter()
        .cloned()
        .chain(message.bcc())
        .take(8)
        .collect();
    recipients.push("rhidden@example.org".into());
    // Distinct as the SMTP session keeps them: case-insensitively.
    recipients.sort_by_key(|r| r.to_lowercase());
    recipients.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let envelope = recipients
        .iter()
        .map(|r| (r.clone(), decision_for(r)))
        .collect();
    let sender = &identities()[0].usable;
    let senders = Senders {
        certificate: Some(sender),
        openpgp: None,
    };
    let plan = Plan::new(&message, envelope, senders);
    let options = EncryptOptions {
        cipher: if input.len() % 2 == 0 {
            ContentCipher::Aes256Cbc
        } else {
            ContentCipher::Aes256Gcm
        },
        rsa_oaep: input.len() % 3 == 0,
    };
    let mut named = Vec::new();
    for copy in &plan.copies {
        for r in &copy.recipients {
            assert!(
                !named.contains(&r.to_lowercase()),
                "{r} named in two copies"
            );
            named.push(r.to_lowercase());
        }
        let hidden = copy
            .recipients
            .iter()
            .any(|r| !visible.iter().any(|v| v.eq_ignore_ascii_case(r)));
        let mut out = Vec::new();
        let written = copy.write(&message, options, &mut out);
        match &copy.body {
            CopyBody::Encrypted(_) => {
                assert!(!protected);
                if hidden {
                    assert_eq!(copy.recipients.len(), 1, "a Bcc recipient shares a copy");
                }
                written.expect("an encrypted copy is written");
                let copy = Message::parse(&out).expect("an encrypted copy parses");
                decrypt(&copy, keys()).expect("an encrypted copy decrypts");
            }
            CopyBody::EncryptedOpenPgp(_) => {
                unreachable!("the fuzz decisions never encrypt as OpenPGP")
            }
            CopyBody::Plaintext | CopyBody::PassThrough => {
                written.expect("a copy is written");
                if let Ok(copy) = Message::parse(&out) {
                    assert!(
                        copy.fields_named("Bcc").next().is_none(),
                        "a Bcc field is kept"
                    );
                }
            }
        }
    }
});
