//! Starting and stopping realnet processes (`realnet.mjs up`, `serve-appview`, …).
//!
//! A [`RealnetProcess`] is spawned with a piped stdin and `--exit-on-stdin-close`, in a fresh data
//! directory; [`RealnetProcess::start`] returns once the process printed its JSON line (its
//! readiness signal). Dropping it closes stdin, so the process shuts down cleanly (dropping its
//! Postgres schemas); one that does not exit in time is killed. A panicking test therefore never
//! leaves a network behind.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use super::{node, realnet_dir};

/// How long a process may take to print its JSON line by default.
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(240);

/// How long a process may take to shut down after its stdin closes before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running realnet process and the JSON it printed when ready.
#[derive(Debug)]
pub(crate) struct RealnetProcess {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    info: Value,
    data_dir: TempDir,
}

impl RealnetProcess {
    /// Starts `node realnet.mjs <subcommand> <args…> --exit-on-stdin-close --data-dir <fresh dir>`
    /// and waits up to [`DEFAULT_READY_TIMEOUT`] for its JSON line.
    ///
    /// Postgres is `DATABASE_URL` (as `REALNET_PG_URL`); `REDIS_URL` is passed on when set.
    ///
    /// # Panics
    /// If the process cannot start, exits before it is ready, or is not ready in time.
    pub(crate) async fn start(subcommand: &str, args: &[&str]) -> Self {
        Self::start_with_timeout(subcommand, args, DEFAULT_READY_TIMEOUT).await
    }

    /// [`RealnetProcess::start`] with an explicit readiness timeout.
    pub(crate) async fn start_with_timeout(
        subcommand: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Self {
        let label = format!("realnet {subcommand}");
        let data_dir = tempfile::Builder::new()
            .prefix("sluice-realnet-")
            .tempdir()
            .unwrap_or_else(|err| panic!("{label}: data dir: {err}"));
        let mut command = Command::new(node());
        command
            .arg(realnet_dir().join("realnet.mjs"))
            .arg(subcommand)
            .args(args)
            .arg("--exit-on-stdin-close")
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("REALNET_PG_URL", sluice_store::database_url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Ok(redis) = std::env::var("REDIS_URL") {
            command.env("REALNET_REDIS_URL", redis);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{label}: spawn: {err}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");

        let mut lines = BufReader::new(stdout).lines();
        let started = Instant::now();
        let info = loop {
            let next =
                tokio::time::timeout(timeout.saturating_sub(started.elapsed()), lines.next_line())
                    .await
                    .unwrap_or_else(|_| panic!("{label}: not ready after {timeout:?}"));
            match next {
                Ok(Some(line)) => match serde_json::from_str::<Value>(&line) {
                    Ok(value) if value.is_object() => break value,
                    _ => continue, // not the readiness line
                },
                Ok(None) => {
                    let status = child.wait().await;
                    panic!("{label}: exited before it was ready ({status:?}); its log is above")
                }
                Err(err) => panic!("{label}: reading stdout: {err}"),
            }
        };
        // Keep draining stdout so that the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        Self {
            label,
            child,
            stdin,
            info,
            data_dir,
        }
    }

    /// `realnet.mjs up` with the given options (e.g. `["--users", "3"]`).
    pub(crate) async fn up(args: &[&str]) -> Self {
        Self::start("up", args).await
    }

    /// The JSON line the process printed when it became ready.
    pub(crate) fn info(&self) -> &Value {
        &self.info
    }

    /// A string in [`RealnetProcess::info`] at a JSON pointer (e.g. `/pds/url`).
    ///
    /// # Panics
    /// If there is no string there.
    pub(crate) fn str_at(&self, pointer: &str) -> &str {
        self.info
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no string at {pointer} in {}", self.label, self.info))
    }

    /// The process's data directory (removed when this is dropped).
    pub(crate) fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }
}

impl Drop for RealnetProcess {
    fn drop(&mut self) {
        // EOF on stdin: the process shuts down on its own (closing services, dropping schemas).
        drop(self.stdin.take());
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        eprintln!(
            "{}: still running {SHUTDOWN_GRACE:?} after stdin closed; killing it",
            self.label
        );
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}
