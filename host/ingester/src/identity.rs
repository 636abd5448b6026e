//! The identity resolver the services use: cached in Redis under a configurable prefix (the
//! reference's `identity:` by default; tests use their own).

use redis::aio::ConnectionManager;
use sluice_identity::{
    DidCache, DidResolver, HandleResolver, IdentityConfig, IdentityResolver, SetupError,
};

/// A resolver for `config`, caching DID documents in Redis under `cache_prefix`.
pub fn resolver(
    config: &IdentityConfig,
    conn: ConnectionManager,
    cache_prefix: &str,
) -> Result<IdentityResolver, SetupError> {
    let http = sluice_identity::http_client(config.timeout)?;
    let cache = DidCache::with_prefix(conn, cache_prefix, config.stale_after, config.expire_after);
    Ok(IdentityResolver::from_parts(
        DidResolver::new(http.clone(), config),
        HandleResolver::new(http, config)?,
        Some(cache),
    ))
}
