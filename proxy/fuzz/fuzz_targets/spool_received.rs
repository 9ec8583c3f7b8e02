//! The outbox's record reader from arbitrary bytes as a `.received` file.
//! First byte even: the bytes are the file as found on disk (a torn or
//! tampered one). Odd: they are `message NUL record-json`, and the record
//! mark is added with its right checksum, as the intake writes it, so the
//! fuzzer reaches the record and the planning behind it. Checks: no panic;
//! a parsed record's offset lies within the file; an encrypting recipient
//! whose certificates do not read back is refused, never sent as written.
#![no_main]

use danemail::dane::Action;
use danemail::mime::Message;
use danemail::outbox::decisions;
use danemail::outbox::spool::parse_received;
use danemail::plan::{CopyBody, Plan, Senders};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let (message, json) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
        let mut file = message.to_vec();
        file.extend_from_slice(json);
        file.extend_from_slice(
            format!(
                "\n#danemail-record {} {} {}\n",
                message.len(),
                json.len(),
                hex::encode(openssl::sha::sha256(json))
            )
            .as_bytes(),
        );
        file
    };
    let Ok((record, offset)) = parse_received(&file) else {
        return;
    };
    assert!(offset <= file.len());
    let recipients = decisions(&record);
    for ((_, decision), spooled) in recipients.iter().zip(&record.recipients) {
        if !spooled.certificates.is_empty() || !spooled.openpgp_keys.is_empty() {
            assert!(matches!(
                decision.action,
                Action::Encrypt(_) | Action::EncryptOpenPgp(_) | Action::Refuse
            ));
        }
    }
    let plaintext_ok: Vec<String> = record
        .recipients
        .iter()
        .filter(|r| r.certificates.is_empty() && r.openpgp_keys.is_empty())
        .map(|r| r.address.clone())
        .collect();
    let Ok(message) = Message::parse(&file[..offset]) else {
        return;
    };
    let protected = message.protection().is_some();
    let plan = Plan::new(&message, recipients, Senders::default());
    for copy in &plan.copies {
        if matches!(copy.body, CopyBody::Plaintext)
            || (matches!(copy.body, CopyBody::PassThrough) && !protected)
        {
            for r in &copy.recipients {
                assert!(plaintext_ok.contains(r), "{r} was to be encrypted");
            }
        }
    }
});
