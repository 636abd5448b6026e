//! Identity for Sluice: DID documents (did:plc, did:web) cached in Redis the way the reference
//! AppView caches them, and handles resolved (DNS TXT, HTTPS well-known, or a configured
//! resolver URL for test networks) and verified both ways.
//!
//! TLS: the workspace builds rustls without a default crypto provider. Binaries and tests call
//! [`install_crypto_provider`] once (ring); [`http_client`] and [`IdentityResolver::new`] call
//! it too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_identity::{IdentityConfig, IdentityResolver};
//! let redis = redis::Client::open("redis://127.0.0.1:6379")?.get_connection_manager().await?;
//! let identity = IdentityResolver::new(&IdentityConfig::default(), Some(redis))?;
//! let doc = identity.resolve_did("did:plc:ewvi7nxzyoun6zhxrhs64oiz").await?;
//! let handle = identity.verify_handle(&doc).await; // None → show `handle.invalid`
//! # Ok(()) }
//! ```

pub mod cache;
pub mod config;
pub mod did;
pub mod handle;
mod http;
pub mod resolver;
pub mod tls;

pub use cache::{CacheError, CachedDid, DidCache};
pub use config::IdentityConfig;
pub use did::{DidResolver, ResolveError, ResolvedDid};
pub use handle::{HandleError, HandleResolver};
pub use http::http_client;
pub use resolver::{IdentityResolver, SetupError};
pub use tls::install_crypto_provider;
