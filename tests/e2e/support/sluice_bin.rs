//! The `sluice` binary, run as a child process (for tests that kill it with SIGKILL).
//!
//! The binary belongs to another package, so `env!("CARGO_BIN_EXE_sluice")` is not available
//! here. [`sluice_binary`] runs `cargo build -p sluice --message-format=json` once per test
//! process (same profile and `CARGO_TARGET_DIR` as the tests; a no-op when it is up to date) and
//! takes the executable's path from cargo's `compiler-artifact` message, so it works whatever the
//! target directory. `SLUICE_BIN` overrides it with a prebuilt binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::workspace_root;

/// The path of a built `sluice` binary.
///
/// # Panics
/// If the build fails.
pub(crate) fn sluice_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(path) = std::env::var("SLUICE_BIN") {
            return PathBuf::from(path);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace_root())
            .args([
                "build",
                "-p",
                "sluice",
                "--bin",
                "sluice",
                "--message-format=json",
            ])
            .stderr(Stdio::inherit());
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        let output = command.output().expect("running cargo build -p sluice");
        assert!(output.status.success(), "cargo build -p sluice failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| {
                message["reason"] == "compiler-artifact" && message["target"]["name"] == "sluice"
            })
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no sluice executable")
    })
}

/// A running `sluice` subcommand; killed (SIGKILL) when dropped.
pub(crate) struct SluiceProcess {
    child: std::process::Child,
}

impl SluiceProcess {
    /// Starts `sluice <args…>` with `env`; its logs go to the test's stderr.
    pub(crate) fn start(args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(sluice_binary());
        command
            .args(args)
            .env("SLUICE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        Self {
            child: command.spawn().expect("starting sluice"),
        }
    }

    /// Kills it with SIGKILL (no chance to clean up) and waits for it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit; returns whether it exited 0.
    pub(crate) fn terminate(mut self, grace: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for SluiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
