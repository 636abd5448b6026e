//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// A path under the shared material (`../shared` beside the checkout, or `SLUICE_SHARED_DIR`).
pub fn shared(relative: &str) -> PathBuf {
    std::env::var_os("SLUICE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join(relative)
}

/// Reads and parses a JSON file under the shared material.
pub fn shared_json(relative: &str) -> serde_json::Value {
    let path = shared(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
