//! What each LDAP operation is answered with, without I/O: binds checked
//! against the optional local password, writes refused (the directory is
//! read-only), extended operations unsupported, searches handed to the
//! server (they need DNS) and answered by [`directory`](super::directory).

use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapExtendedResponse, LdapOp, LdapResult, LdapResultCode,
    LdapSearchRequest,
};

use super::directory::result;

/// What to do with one request.
#[derive(Debug)]
pub enum Answer {
    /// Send these (possibly none: Abandon).
    Replies(Vec<LdapOp>),
    /// Run this search.
    Search(LdapSearchRequest),
    /// Unbind: close the connection.
    Close,
    /// A response sent as a request: close the connection.
    Malformed,
}

/// The answer to `op`. `password`: the local bind password, `None` for
/// anonymous and any simple bind.
pub fn answer(op: LdapOp, password: Option<&str>) -> Answer {
    let replies = match op {
        LdapOp::UnbindRequest => return Answer::Close,
        LdapOp::AbandonRequest(_) => Vec::new(),
        LdapOp::SearchRequest(request) => return Answer::Search(request),
        LdapOp::BindRequest(request) => {
            let res = match (&request.cred, password) {
                _ if request.version != 3 => result(LdapResultCode::ProtocolError, "only LDAPv3"),
                (LdapBindCred::Simple(given), _) if request.dn.is_empty() && given.is_empty() => {
                    result(LdapResultCode::Success, "")
                }
                (LdapBindCred::Simple(_), None) => result(LdapResultCode::Success, ""),
                (LdapBindCred::Simple(given), Some(password)) if given == password => {
                    result(LdapResultCode::Success, "")
                }
                (LdapBindCred::Simple(_), Some(_)) => {
                    result(LdapResultCode::InvalidCredentials, "wrong password")
                }
                _ => result(LdapResultCode::AuthMethodNotSupported, "only simple bind"),
            };
            vec![LdapOp::BindResponse(LdapBindResponse {
                res,
                saslcreds: None,
            })]
        }
        LdapOp::ExtendedRequest(request) => {
            vec![LdapOp::ExtendedResponse(LdapExtendedResponse {
                // RFC 4511 §4.12: an unsupported extended operation is a
                // protocolError (StartTLS included: loopback only).
                res: result(
                    LdapResultCode::ProtocolError,
                    format!("extended operation {} not supported", request.name),
                ),
                name: None,
                value: None,
            })]
        }
        LdapOp::ModifyRequest(_) => vec![LdapOp::ModifyResponse(read_only())],
        LdapOp::AddRequest(_) => vec![LdapOp::AddResponse(read_only())],
        LdapOp::DelRequest(_) => vec![LdapOp::DelResponse(read_only())],
        LdapOp::ModifyDNRequest(_) => vec![LdapOp::ModifyDNResponse(read_only())],
        LdapOp::CompareRequest(_) => vec![LdapOp::CompareResult(read_only())],
        _ => return Answer::Malformed,
    };
    Answer::Replies(replies)
}

fn read_only() -> LdapResult {
    result(
        LdapResultCode::UnwillingToPerform,
        "this directory is read-only",
    )
}
