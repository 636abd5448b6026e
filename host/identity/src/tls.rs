//! The process-wide TLS crypto provider.
//!
//! The workspace builds rustls without a default provider (no aws-lc, so no C toolchain). reqwest
//! then takes whatever provider is installed for the process: call [`install_crypto_provider`]
//! once at start-up — binaries in `main`, tests before building a client. [`crate::http_client`]
//! calls it too, so code that builds its clients through this crate is covered.

use std::sync::Once;

/// Installs rustls' ring provider as the process default. Idempotent; a provider installed
/// earlier by someone else is kept.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider is already installed: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
