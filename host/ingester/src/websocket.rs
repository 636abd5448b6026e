//! Subscribing to an XRPC event stream over a WebSocket.

use futures::StreamExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open subscription.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest frame accepted (a `#commit` is at most ~2 MB of blocks plus its fields).
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// The host part of a configured host, without scheme or trailing slash (as in cursor keys
/// and metric labels).
pub fn host_label(host: &str) -> &str {
    host.strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .or_else(|| host.strip_prefix("wss://"))
        .or_else(|| host.strip_prefix("ws://"))
        .unwrap_or(host)
        .trim_end_matches('/')
}

/// The HTTP base URL of a configured host: kept when it has a scheme, else `https://`.
pub fn http_base(host: &str) -> String {
    let host = host.trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else if let Some(rest) = host.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = host.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        format!("https://{host}")
    }
}

/// The WebSocket URL of `method` on `host`, from `cursor` when given.
pub fn subscription_url(host: &str, method: &str, cursor: Option<&str>) -> String {
    let base = http_base(host);
    let ws = match base.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => base,
    };
    match cursor {
        Some(cursor) => format!("{ws}/xrpc/{method}?cursor={cursor}"),
        None => format!("{ws}/xrpc/{method}"),
    }
}

/// Opens a subscription.
pub async fn connect(url: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let (socket, _response) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    Ok(socket)
}

/// Reads the next message, pinging a quiet server: after `idle` without a message a ping is
/// sent; after as long again the connection counts as dead.
pub async fn next_message(
    socket: &mut Socket,
    idle: std::time::Duration,
) -> Option<Result<tokio_tungstenite::tungstenite::Message, String>> {
    use futures::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let mut pinged = false;
    loop {
        match tokio::time::timeout(idle, socket.next()).await {
            Ok(Some(Ok(message))) => return Some(Ok(message)),
            Ok(Some(Err(error))) => return Some(Err(error.to_string())),
            Ok(None) => return None,
            Err(_) if pinged => {
                return Some(Err(format!("no message for {:?}", idle * 2)));
            }
            Err(_) => {
                pinged = true;
                if let Err(error) = socket.send(Message::Ping(Vec::new().into())).await {
                    return Some(Err(error.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_every_host_form() {
        assert_eq!(
            subscription_url(
                "https://bsky.network",
                "com.atproto.sync.subscribeRepos",
                Some("12")
            ),
            "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos?cursor=12"
        );
        assert_eq!(
            subscription_url("http://localhost:2583/", "m", None),
            "ws://localhost:2583/xrpc/m"
        );
        assert_eq!(
            subscription_url("relay.example", "m", None),
            "wss://relay.example/xrpc/m"
        );
        assert_eq!(http_base("ws://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(host_label("https://bsky.network/"), "bsky.network");
        assert_eq!(host_label("localhost:2583"), "localhost:2583");
    }
}
