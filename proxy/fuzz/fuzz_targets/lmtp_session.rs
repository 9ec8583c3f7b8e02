//! The content filter's LMTP session from raw bytes: commands and message
//! data framed as `filter/server.rs` frames them, with decisions by name.
//! Checks: no panic; every message read is canonical; after DATA there is
//! exactly one reply per accepted recipient (RFC 2033 §4.2); and the
//! transcript is the same whatever the reads' sizes.
#![no_main]

use danemail::filter::session::{Session, SessionConfig, Step};
use danemail::smtp::data::{Commands, Message};
use danemail::smtp::Reply;
use danemail_fuzz::{assert_canonical, decision_for};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&seed, bytes)) = input.split_first() else {
        return;
    };
    let whole = transcript(bytes, bytes.len().max(1));
    let pieces = transcript(bytes, usize::from(seed % 32) + 1);
    assert_eq!(
        whole, pieces,
        "the transcript depends on how the bytes were read"
    );
});

fn transcript(bytes: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut session = Session::new(SessionConfig {
        hostname: "fuzz.test".into(),
        max_message_size: 1 << 20,
        max_recipients: 50,
    });
    let mut commands = Commands::default();
    let mut message: Option<Message> = None;
    let mut data = Vec::new();
    let mut pending = Vec::new();
    let mut out = vec![session.greeting().to_wire()];
    for piece in bytes.chunks(chunk) {
        pending.extend_from_slice(piece);
        loop {
            if let Some(reading) = &mut message {
                if !reading.push(&mut pending, &mut data) {
                    break;
                }
                assert_canonical(&data);
                let envelope = session
                    .take_transaction()
                    .expect("DATA is read only inside a transaction");
                assert!(!envelope.recipients.is_empty(), "DATA without a recipient");
                out.push(std::mem::take(&mut data));
                for (recipient, _) in &envelope.recipients {
                    out.push(Reply::new(250, "2.0.0", format!("<{recipient}> done")).to_wire());
                }
                message = None;
                continue;
            }
            let step = match commands.next(&mut pending) {
                None => break,
                Some(Ok(request)) => session.handle(request),
                Some(Err(error)) => Step::Reply(session.parse_error(&error)),
            };
            match step {
                Step::Reply(reply) => out.push(reply.to_wire()),
                Step::Lookup(address) => {
                    let decision = decision_for(&address.original);
                    out.push(session.recipient_decided(&address, decision).to_wire());
                }
                Step::ReadData(reply) => {
                    out.push(reply.to_wire());
                    message = Some(Message::default());
                }
                Step::Close(reply) => {
                    out.push(reply.to_wire());
                    return out;
                }
            }
        }
    }
    out
}
