//! What the identity service needs to know; plain fields that a binary fills from its flags.

use std::net::SocketAddr;
use std::time::Duration;

/// The public PLC directory.
pub const DEFAULT_PLC_URL: &str = "https://plc.directory";

/// Settings of DID and handle resolution.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The PLC directory (`--plc-url` / `SLUICE_PLC_URL`); `did:plc` documents are fetched from
    /// `<plc_url>/<did>`.
    pub plc_url: String,
    /// When set (`--handle-resolver-url` / `SLUICE_HANDLE_RESOLVER_URL`), every handle is
    /// resolved by `GET <url>/.well-known/atproto-did` with header `Host: <handle>`, instead of
    /// DNS and HTTPS: for test networks whose `.test` handles only their PDS knows.
    pub handle_resolver_url: Option<String>,
    /// A cached DID document older than this is served, then refreshed (reference: 6 h).
    pub stale_after: Duration,
    /// A cached DID document older than this is not used and expires from Redis (reference:
    /// 7 days).
    pub expire_after: Duration,
    /// Timeout of one HTTP request or DNS lookup.
    pub timeout: Duration,
    /// Tests only: resolve `did:web:localhost%3A<port>` (and `127.0.0.1`) over plain HTTP.
    /// Otherwise a did:web with a port is refused, as atproto specifies.
    pub allow_insecure_did_web: bool,
    /// DNS servers for handle TXT lookups; empty means the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            plc_url: DEFAULT_PLC_URL.to_owned(),
            handle_resolver_url: None,
            stale_after: Duration::from_secs(6 * 3600),
            expire_after: Duration::from_secs(7 * 24 * 3600),
            timeout: Duration::from_secs(10),
            allow_insecure_did_web: false,
            dns_servers: Vec::new(),
        }
    }
}
