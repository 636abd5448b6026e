//! Locating the shared test fixtures from tests (test builds only).

use std::path::PathBuf;

/// The shared material folder: `$SLUICE_SHARED_DIR`, else `shared/` beside the checkout.
pub(crate) fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// A path below `shared/fixtures/`.
pub(crate) fn fixture(relative: &str) -> PathBuf {
    shared_dir().join("fixtures").join(relative)
}

/// Reads a fixture file whole; panics with the path when it is missing (tests only).
pub(crate) fn read_fixture(relative: &str) -> Vec<u8> {
    let path = fixture(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}
