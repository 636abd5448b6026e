//! Builds guest crates of this workspace as WASM components (`wasm32-wasip2`, release), for
//! tests and benchmarks. Cargo's own freshness check makes repeated builds cheap; within one
//! process each package (with each feature set) is built once. A build with features
//! ([`build_with_features`]) has its own target subdirectory, so the components of one package
//! built with different features sit side by side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where guests are built: `<target>/plugin-guests`, beside the target directory in use.
fn guest_target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SLUICE_GUEST_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // Test and example binaries live in `<target>/<profile>/{deps,examples}/`.
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").exists())
            .map(Path::to_path_buf)
    });
    from_exe
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("plugin-guests")
}

/// Builds `package` (a guest crate of this workspace) for `wasm32-wasip2` in release mode and
/// returns the path of its component. The same as [`build_with_features`] with no features.
pub fn build(package: &str) -> Result<PathBuf, String> {
    build_with_features(package, &[])
}

/// Builds `package` with the cargo `features` given (and its default ones) for `wasm32-wasip2` in
/// release mode and returns the path of its component.
///
/// Without features the component is built where [`build`] always built it; with features, into
/// a target subdirectory named after the sorted feature set, so that builds of one package with
/// different features do not overwrite each other's component. Within one process each
/// `(package, features)` is built once.
pub fn build_with_features(package: &str, features: &[&str]) -> Result<PathBuf, String> {
    /// Components built by this process, by package and sorted features.
    type Built = HashMap<(String, Vec<String>), PathBuf>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let mut features: Vec<String> = features.iter().map(|f| (*f).to_owned()).collect();
    features.sort();
    features.dedup();
    let key = (package.to_owned(), features.clone());
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(&key) {
        return Ok(path.clone());
    }
    let target_dir = if features.is_empty() {
        guest_target_dir()
    } else {
        // Feature names are `[A-Za-z0-9_-]` (and `/` for a dependency's): safe in a path once
        // `/` is replaced.
        guest_target_dir()
            .join("features")
            .join(features.join("+").replace('/', "_"))
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root()).args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "-p",
        package,
    ]);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
    let output = command
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        // No DWARF in guests: smaller components that compile faster; symbol names stay.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .output()
        .map_err(|error| format!("could not run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "building {package} (features {features:?}) for wasm32-wasip2 failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let path = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !path.exists() {
        return Err(format!("cargo succeeded but {} is missing", path.display()));
    }
    built.insert(key, path.clone());
    Ok(path)
}
