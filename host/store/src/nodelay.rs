//! `TCP_NODELAY` on the pool's Postgres connections.
//!
//! sqlx 0.9.0 opens its TCP sockets without `TCP_NODELAY` (earlier versions set it; the fix,
//! transact-rs/sqlx#4336, is merged but not released). With Nagle's algorithm on, a message
//! longer than one TCP segment — a statement binding arrays of a few hundred records, which is
//! most of what the indexer sends — leaves its last segment waiting for the server's delayed
//! ACK: about 40 ms per statement, during which neither side works. The indexer bench went
//! from about 1,000 to about 4,500 records/s with the option set (host/bench/README.md).
//!
//! Until sqlx sets it again, every new connection of the pool sets it on the process's TCP
//! sockets connected to the database's port that lack it, found in `/proc/self/fd` (Linux;
//! elsewhere nothing is done). Unix-socket connections have no Nagle and are left alone.
//! Remove this module when the workspace moves to a sqlx release that sets the option.

use sqlx::postgres::PgConnectOptions;

/// The TCP port to fix sockets for, or `None` for a Unix-socket connection.
pub(crate) fn tcp_port(options: &PgConnectOptions) -> Option<u16> {
    let host = options.get_host();
    (!host.starts_with('/') && options.get_socket().is_none()).then(|| options.get_port())
}

/// Sets `TCP_NODELAY` on every TCP socket of this process whose peer port is `port` and which
/// lacks it; returns how many it changed.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn set_nodelay_for_peer_port(port: u16) -> std::io::Result<usize> {
    use std::os::fd::{BorrowedFd, RawFd};

    let mut changed = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let fd = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<RawFd>().ok());
        let (true, Some(fd)) = (is_socket, fd) else {
            continue;
        };
        // SAFETY: `fd` was an open socket of this process when listed and is only borrowed for
        // the getsockopt/getpeername/setsockopt calls below, none of which closes it. If
        // another thread closes it meanwhile, the calls fail with EBADF (ignored); if the
        // number is reused at once, they act on that new descriptor only when it too is a TCP
        // socket connected to `port` — one that wants the option as much.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let peer_port = socket
            .peer_addr()
            .ok()
            .and_then(|addr| addr.as_socket())
            .map(|addr| addr.port());
        if peer_port != Some(port) || socket.tcp_nodelay().unwrap_or(true) {
            continue;
        }
        if socket.set_tcp_nodelay(true).is_ok() {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Elsewhere than Linux: nothing (see the module doc).
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_nodelay_for_peer_port(_port: u16) -> std::io::Result<usize> {
    Ok(0)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn sets_the_option_on_sockets_to_the_port_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let bystander =
            std::net::TcpStream::connect(other.local_addr().expect("address")).expect("connect");
        assert!(!client.nodelay().expect("nodelay"));

        assert_eq!(set_nodelay_for_peer_port(port).expect("scan"), 1);
        assert!(client.nodelay().expect("nodelay"));
        assert!(
            !bystander.nodelay().expect("nodelay"),
            "another port is left alone"
        );
        assert_eq!(
            set_nodelay_for_peer_port(port).expect("scan"),
            0,
            "already set"
        );
    }

    #[test]
    fn unix_sockets_are_left_alone() {
        let tcp: PgConnectOptions = "postgres://u@db.example:6543/x".parse().expect("url");
        assert_eq!(tcp_port(&tcp), Some(6543));
        let unix: PgConnectOptions = "postgres://u@localhost/x?host=/var/run/postgresql"
            .parse()
            .expect("url");
        assert_eq!(tcp_port(&unix), None);
    }
}
