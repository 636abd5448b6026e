//! Helpers shared by the end-to-end tests: where things are, the realnet harness, the reference
//! AppView's own tools, and Postgres catalog snapshots.
//!
//! Shared by every area's tests: a helper that no test uses yet is not an error.
#![allow(dead_code)]

pub(crate) mod catalog;
pub(crate) mod realnet;
pub(crate) mod reference;
pub(crate) mod sluice_bin;
pub(crate) mod test_redis;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the checkout).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The installed realnet harness (`.cache/realnet`): runs `scripts/realnet-setup` once per test
/// process, which installs it the first time (~1.5 min) and only checks it afterwards.
///
/// # Panics
/// If the setup script fails; its log is in the panic message.
pub(crate) fn realnet_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = workspace_root().join("scripts/realnet-setup");
        let output = Command::new(&script)
            .output()
            .unwrap_or_else(|err| panic!("running {}: {err}", script.display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{} failed ({}):\n{stderr}",
            script.display(),
            output.status
        );
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(
            !dir.is_empty(),
            "realnet-setup printed no directory:\n{stderr}"
        );
        PathBuf::from(dir)
    })
}

/// The Node 22 that the realnet install brings (the machine's Node may be older).
pub(crate) fn node() -> PathBuf {
    realnet_dir().join("node_modules/.bin/node")
}

/// The Bluesky plugins, built as WASM components, copied into one directory.
pub(crate) fn builtin_plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for package in [
        "sluice-bsky-actor",
        "sluice-bsky-feed",
        "sluice-bsky-graph",
        "sluice-bsky-labels",
    ] {
        let wasm = sluice_plugin_host::guest_build::build(package)
            .unwrap_or_else(|error| panic!("building {package}: {error}"));
        std::fs::copy(&wasm, dir.path().join(wasm.file_name().expect("file name")))
            .expect("copy the plugin");
    }
    dir
}

/// Installs rustls' ring provider for reqwest (the workspace builds rustls without a default).
pub(crate) fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
