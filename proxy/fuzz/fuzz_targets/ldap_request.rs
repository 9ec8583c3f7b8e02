//! The LDAP request path from raw bytes: BER framing by the listener's
//! codec, each operation's answer, a search's plan and its replies (every
//! other address found with both test certificates), and every reply
//! encoded and decoded again. Checks: no panic, a bounded number of
//! addresses per search, every reply encodable and read back the same.
#![no_main]

use danemail::dane::UsableCertificate;
use danemail::ldap::codec::Codec;
use danemail::ldap::directory::{self, SearchPlan};
use danemail::ldap::request::{answer, Answer};
use danemail_fuzz::identities;
use ldap3_proto::proto::{LdapMsg, LdapOp};
use libfuzzer_sys::fuzz_target;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

const BASE: &str = "dc=dane,dc=mail";

fuzz_target!(|input: &[u8]| {
    let mut codec = Codec::default();
    let mut buf = BytesMut::from(input);
    // A connection's worth of requests.
    for _ in 0..32 {
        match codec.decode(&mut buf) {
            Ok(Some(message)) => respond(message, &mut codec),
            Ok(None) | Err(_) => return,
        }
    }
});

fn respond(message: LdapMsg, codec: &mut Codec) {
    let msgid = message.msgid;
    let replies = match answer(message.op, Some("secret")) {
        Answer::Replies(replies) => replies,
        Answer::Close | Answer::Malformed => return,
        Answer::Search(request) => match directory::plan(&request, BASE) {
            SearchPlan::Answered(replies) => replies,
            SearchPlan::Lookup {
                addresses,
                prefixes,
            } => {
                assert!(addresses.len() <= directory::MAX_ADDRESSES);
                assert!(prefixes.iter().all(|p| p.chars().count() >= 3));
                let both: Vec<UsableCertificate> =
                    identities().iter().map(|i| i.usable.clone()).collect();
                let found: Vec<_> = addresses
                    .into_iter()
                    .enumerate()
                    .map(|(i, address)| (address, (i % 2 == 0).then_some(both.as_slice())))
                    .collect();
                let replies = directory::replies(&request, BASE, &found);
                assert!(matches!(replies.last(), Some(LdapOp::SearchResultDone(_))));
                replies
            }
        },
    };
    for op in replies {
        let mut wire = BytesMut::new();
        codec
            .encode(
                LdapMsg {
                    msgid,
                    op,
                    ctrl: Vec::new(),
                },
                &mut wire,
            )
            .expect("a reply encodes");
        let read = Codec::default()
            .decode(&mut wire)
            .expect("a reply decodes")
            .expect("a whole reply");
        assert_eq!(read.msgid, msgid);
    }
}
