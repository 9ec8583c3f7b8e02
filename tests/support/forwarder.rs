//! A DNS forwarder on loopback (UDP and TCP, one port) in front of the
//! fixture nsd, which records every question it is asked and can strip
//! DNSSEC data the way many home routers do: the DO bit cleared on the way
//! up, RRSIG, NSEC and NSEC3 records dropped on the way down; or drop the
//! RRSIGs of the answers for names under one suffix only (a bogus zone that
//! is fixed later). The mode can change while it runs (a laptop moving to a
//! hotel network).
//!
//! Included by the DNS tests with `#[path]`, not by the shared harness:
//! the app package has no hickory-proto.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards as asked.
    Pass,
    /// Strips DNSSEC data.
    Strip,
    /// Drops the RRSIGs of answers to questions under this suffix (lower
    /// case, fully qualified): those answers are bogus, the rest are not.
    StripUnder(&'static str),
}

pub struct Forwarder {
    pub addr: SocketAddr,
    questions: Arc<Mutex<Vec<(String, RecordType)>>>,
    mode: Arc<Mutex<Mode>>,
}

#[derive(Clone)]
struct Shared {
    questions: Arc<Mutex<Vec<(String, RecordType)>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }
}

impl Forwarder {
    pub fn start(upstream: SocketAddr, mode: Mode) -> Self {
        let (udp, tcp) = loop {
            let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
            if let Ok(udp) = UdpSocket::bind(tcp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        let addr = tcp.local_addr().unwrap();
        let shared = Shared {
            questions: Arc::new(Mutex::new(Vec::new())),
            mode: Arc::new(Mutex::new(mode)),
        };
        let seen = shared.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                let mode = seen.mode();
                let Some(query) = up(&buf[..n], mode, &seen.questions) else {
                    continue;
                };
                let upstream_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                upstream_socket
                    .set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
                let _ = upstream_socket.send_to(&query, upstream);
                let mut answer = vec![0u8; 65535];
                if let Ok(m) = upstream_socket.recv(&mut answer) {
                    let _ = udp.send_to(&down(&answer[..m], mode), peer);
                }
            }
        });
        let seen = shared.clone();
        std::thread::spawn(move || {
            for client in tcp.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || serve_tcp(client, upstream, &seen));
            }
        });
        Self {
            addr,
            questions: shared.questions,
            mode: shared.mode,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Every question asked so far: (name, type).
    pub fn questions(&self) -> Vec<(String, RecordType)> {
        self.questions.lock().unwrap().clone()
    }
}

fn serve_tcp(mut client: TcpStream, upstream: SocketAddr, seen: &Shared) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(Duration::from_secs(3)));
    while let Some(query) = read_framed(&mut client) {
        let mode = seen.mode();
        let Some(query) = up(&query, mode, &seen.questions) else {
            return;
        };
        if write_framed(&mut server, &query).is_err() {
            return;
        }
        let Some(answer) = read_framed(&mut server) else {
            return;
        };
        if write_framed(&mut client, &down(&answer, mode)).is_err() {
            return;
        }
    }
}

fn read_framed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn write_framed(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(&(bytes.len() as u16).to_be_bytes())?;
    stream.write_all(bytes)
}

fn up(query: &[u8], mode: Mode, seen: &Mutex<Vec<(String, RecordType)>>) -> Option<Vec<u8>> {
    let mut message = Message::from_vec(query).ok()?;
    for q in &message.queries {
        seen.lock()
            .unwrap()
            .push((q.name().to_ascii().to_lowercase(), q.query_type()));
    }
    if mode == Mode::Strip {
        if let Some(edns) = message.edns.as_mut() {
            edns.set_dnssec_ok(false);
        }
    }
    message.to_vec().ok()
}

fn down(answer: &[u8], mode: Mode) -> Vec<u8> {
    if mode == Mode::Pass {
        return answer.to_vec();
    }
    let Ok(mut message) = Message::from_vec(answer) else {
        return answer.to_vec();
    };
    if let Mode::StripUnder(suffix) = mode {
        let under = message
            .queries
            .iter()
            .any(|q| q.name().to_ascii().to_lowercase().ends_with(suffix));
        if under {
            message
                .answers
                .retain(|r| r.record_type() != RecordType::RRSIG);
        }
        return message.to_vec().unwrap_or_else(|_| answer.to_vec());
    }
    let dnssec =
        |t: RecordType| matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3);
    message.answers.retain(|r| !dnssec(r.record_type()));
    message.authorities.retain(|r| !dnssec(r.record_type()));
    message.additionals.retain(|r| !dnssec(r.record_type()));
    message.to_vec().unwrap_or_else(|_| answer.to_vec())
}
