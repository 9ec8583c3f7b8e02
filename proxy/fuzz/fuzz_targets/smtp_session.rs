//! The submission session from raw bytes: commands, AUTH lines and message
//! data framed as `server.rs` frames them, with decisions by name. Checks:
//! no panic; every message handed to the outbox is canonical (no bare CR or
//! LF, so nothing smuggled reaches the provider) and its longest line is
//! measured right; and the transcript is the same whatever the reads'
//! sizes (the first byte picks a read size to compare with one read).
#![no_main]

use std::sync::Arc;

use danemail::smtp::data::{Commands, Message};
use danemail::smtp::session::{Session, SessionConfig, Step};
use danemail::smtp::Reply;
use danemail_fuzz::{assert_canonical, decision_for};
use libfuzzer_sys::fuzz_target;
use smtp_proto::Request;

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

/// Replies and accepted messages, in order, reading `chunk` bytes at a time.
fn transcript(bytes: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let config = SessionConfig {
        hostname: "fuzz.test".into(),
        max_message_size: 1 << 20,
        max_recipients: 100,
        tls_available: true,
        auth_without_tls: true,
        username: "user".into(),
        password: "pass".into(),
    };
    let mut session = Session::new(Arc::new(config));
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
                assert_eq!(reading.size, data.len());
                assert_canonical(&data);
                let longest = data
                    .split(|&b| b == b'\n')
                    .map(|line| line.len().saturating_sub(1))
                    .max()
                    .unwrap_or(0);
                assert_eq!(reading.longest_line(), longest);
                let reply = match session.take_transaction() {
                    Some(_) => Reply::new(250, "2.0.0", "Queued"),
                    None => Reply::new(503, "5.5.1", "No transaction"),
                };
                out.push(std::mem::take(&mut data));
                out.push(reply.to_wire());
                message = None;
                continue;
            }
            let step = if session.in_auth_exchange() {
                let Some(line) = commands.auth_line(&mut pending) else {
                    break;
                };
                session.auth_line(&String::from_utf8_lossy(&line))
            } else {
                match commands.next(&mut pending) {
                    None => break,
                    Some(Ok(request)) => {
                        if matches!(request, Request::Mail { .. }) {
                            session.note_storage_room(Some(1 << 30));
                        }
                        session.handle(request)
                    }
                    Some(Err(error)) => Step::Reply(session.parse_error(&error)),
                }
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
                // After STARTTLS the server drops what was pipelined: the
                // rest depends on the reads, so the comparison stops here.
                Step::Close(reply) | Step::StartTls(reply) => {
                    out.push(reply.to_wire());
                    return out;
                }
            }
        }
    }
    out
}
