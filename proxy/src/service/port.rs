//! A listener's state in words: listening, or why not — for a port that is
//! taken, which program holds it (when the OS tells) and a free port to use
//! instead (Proton Bridge's users could not tell why it did not start).

use std::net::{SocketAddr, TcpListener};

use super::view::ListenerStatus;

/// How many ports above the configured one are tried for a suggestion.
const SUGGESTION_RANGE: u16 = 50;

pub fn listening(addr: SocketAddr) -> ListenerStatus {
    ListenerStatus {
        address: addr.to_string(),
        port: addr.port(),
        state: "listening".into(),
        error: None,
        suggested_port: None,
    }
}

pub fn failed(addr: SocketAddr, error: &std::io::Error) -> ListenerStatus {
    let in_use = error.kind() == std::io::ErrorKind::AddrInUse;
    let error = if in_use {
        match holder(addr.port()) {
            Some(program) => format!("port {} is in use by {program}", addr.port()),
            None => format!("port {} is in use by another program", addr.port()),
        }
    } else {
        format!("cannot listen on {addr}: {error}")
    };
    ListenerStatus {
        address: addr.to_string(),
        port: addr.port(),
        state: "failed".into(),
        error: Some(error),
        suggested_port: in_use.then(|| free_port_after(addr)).flatten(),
    }
}

/// The first port above `addr`'s that can be bound on the same address.
fn free_port_after(addr: SocketAddr) -> Option<u16> {
    (1..=SUGGESTION_RANGE)
        .filter_map(|step| addr.port().checked_add(step))
        .find(|&port| TcpListener::bind(SocketAddr::new(addr.ip(), port)).is_ok())
}

/// "name (pid N)" of the process listening on `port`, from /proc (Linux);
/// `None` elsewhere or when the socket belongs to another user.
#[cfg(target_os = "linux")]
fn holder(port: u16) -> Option<String> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| listening_inode(&table, port))?;
    let needle = format!("socket:[{inode}]");
    for process in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == needle.as_str())
        });
        if owns {
            let name = std::fs::read_to_string(process.path().join("comm")).unwrap_or_default();
            return Some(format!("{} (pid {pid})", name.trim()));
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
fn holder(_port: u16) -> Option<String> {
    None
}

/// The inode of the socket in state LISTEN (0A) on `port` in a
/// /proc/net/tcp table.
#[cfg(target_os = "linux")]
fn listening_inode(table: &str, port: u16) -> Option<String> {
    let wanted = format!("{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields.get(1)?.rsplit(':').next()?;
        (local_port == wanted && *fields.get(3)? == "0A")
            .then(|| fields.get(9).map(|s| (*s).to_owned()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_its_holder_and_a_free_one() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = TcpListener::bind(addr).unwrap_err();
        let status = failed(addr, &error);
        assert_eq!(status.state, "failed");
        let text = status.error.unwrap();
        assert!(
            text.contains(&format!("port {} is in use", addr.port())),
            "{text}"
        );
        #[cfg(target_os = "linux")]
        assert!(
            text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        let suggested = status.suggested_port.expect("a free port nearby");
        assert!(suggested > addr.port());
    }
}
