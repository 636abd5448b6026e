//! Opening Redis connections with timeouts that suit each use.
//!
//! A [`ConnectionManager`] multiplexes every command of its clones over one socket and reconnects
//! by itself. Replies come back in order, so a blocking `XREADGROUP … BLOCK` holds up every other
//! command on the same socket: consumers read on a connection of their own
//! ([`connect_for_blocking_reads`]) and send everything else on a shared one ([`connect`]).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{Client, IntoConnectionInfo, RedisError};

/// How long a normal command (including a pipeline of a few hundred XADDs) may take.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis URL from either a URL (`redis://…`, `rediss://…`, `unix://…`, kept as is) or the
/// reference's `REDIS_HOST` form `host[:port]` (port 6379 when missing).
pub fn redis_url(host_or_url: &str) -> String {
    if host_or_url.contains("://") {
        host_or_url.to_owned()
    } else if host_or_url.contains(':') {
        format!("redis://{host_or_url}")
    } else {
        format!("redis://{host_or_url}:6379")
    }
}

/// Opens a shared, self-reconnecting connection for non-blocking commands.
pub async fn connect(url: &str) -> Result<ConnectionManager, RedisError> {
    connect_with_timeout(url, RESPONSE_TIMEOUT).await
}

/// Opens a connection for blocking reads that wait up to `block`: its response timeout is `block`
/// plus [`RESPONSE_TIMEOUT`], so an empty wait is not mistaken for a dead server.
pub async fn connect_for_blocking_reads(
    url: &str,
    block: Duration,
) -> Result<ConnectionManager, RedisError> {
    connect_with_timeout(url, block + RESPONSE_TIMEOUT).await
}

async fn connect_with_timeout(
    url: &str,
    response_timeout: Duration,
) -> Result<ConnectionManager, RedisError> {
    // redis-rs leaves Nagle's algorithm on by default: a pipeline longer than one TCP segment
    // would wait for the server's delayed ACK (about 40 ms) before its last segment goes out.
    let info = url
        .into_connection_info()?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let client = Client::open(info)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT));
    ConnectionManager::new_with_config(client, config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_url_forms() {
        assert_eq!(redis_url("localhost:6380"), "redis://localhost:6380");
        assert_eq!(redis_url("redis"), "redis://redis:6379");
        assert_eq!(redis_url("redis://a:1/2"), "redis://a:1/2");
        assert_eq!(redis_url("rediss://a"), "rediss://a");
    }
}
