//! The plugin directory: `*.wasm` files dropped into a directory (a docker-compose volume) are
//! installed as `sluice plugin install FILE.wasm` would install them — checked, refused when they
//! clash, stored in Postgres for every indexer.
//!
//! The directory is polled (inotify does not cross every volume mount): a file is read when its
//! size or modification time changed, and only once it has stayed the same for one poll, so a
//! file still being copied is not installed half-written. Files present at start-up are taken at
//! once. An invalid file is logged and skipped until it changes again. Deleting a file does not
//! uninstall its plugin (`sluice plugin remove` does). Several indexers may watch the same
//! directory: the second install of the same bytes changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::error::RegistryError;
use crate::registry::{InstallOptions, InstallOutcome, Registry};

/// What became of one file of the directory.
#[derive(Debug)]
pub enum FileOutcome {
    /// The registry took it (installed, replaced, or already installed).
    Installed(InstallOutcome),
    /// It was refused (invalid, a taken collection, a downgrade...).
    Refused(RegistryError),
}

/// A file's identity between polls: its size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// What is known of one file.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Its stamp at the last poll.
    stamp: Stamp,
    /// Whether that stamp was handled (installed or refused).
    handled: bool,
}

/// The state of a watched directory between polls.
#[derive(Debug)]
pub struct PluginDirectory {
    dir: PathBuf,
    seen: HashMap<PathBuf, Seen>,
    first: bool,
}

impl PluginDirectory {
    /// A directory not scanned yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            seen: HashMap::new(),
            first: true,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One poll: installs the files that are new or changed and have settled. Returns what
    /// became of each file handled.
    pub async fn scan(
        &mut self,
        registry: &Registry,
    ) -> Result<Vec<(PathBuf, FileOutcome)>, RegistryError> {
        let first = std::mem::replace(&mut self.first, false);
        let mut files = self.list().await?;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut outcomes = Vec::new();
        let present: Vec<PathBuf> = files.iter().map(|(path, _)| path.clone()).collect();
        self.seen.retain(|path, _| present.contains(path));
        for (path, stamp) in files {
            let previous = self.seen.get(&path).copied();
            let unchanged = previous.filter(|seen| seen.stamp == stamp);
            // Unchanged since the last poll: settled, install unless done already. New or
            // changed: at start-up take it now, later wait until it settles.
            let ready = match unchanged {
                Some(seen) => !seen.handled,
                None => first,
            };
            let handled = ready || unchanged.is_some_and(|seen| seen.handled);
            self.seen.insert(path.clone(), Seen { stamp, handled });
            if !ready {
                continue;
            }
            let outcome = match tokio::fs::read(&path).await {
                Ok(bytes) => match registry.install(&bytes, InstallOptions::default()).await {
                    Ok(outcome) => FileOutcome::Installed(outcome),
                    Err(error) => FileOutcome::Refused(error),
                },
                Err(source) => FileOutcome::Refused(RegistryError::Read {
                    path: path.display().to_string(),
                    source,
                }),
            };
            log_outcome(&path, &outcome);
            outcomes.push((path, outcome));
        }
        Ok(outcomes)
    }

    /// The `*.wasm` files of the directory with their stamps.
    async fn list(&self) -> Result<Vec<(PathBuf, Stamp)>, RegistryError> {
        let read_error = |source| RegistryError::Read {
            path: self.dir.display().to_string(),
            source,
        };
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(read_error)?;
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(read_error)? {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "wasm") {
                continue;
            }
            // A file removed between listing and stat is simply not there.
            let Ok(metadata) = tokio::fs::metadata(&path).await else {
                continue;
            };
            if !metadata.is_file() {
                continue;
            }
            files.push((
                path,
                Stamp {
                    len: metadata.len(),
                    modified: metadata.modified().ok(),
                },
            ));
        }
        Ok(files)
    }
}

fn log_outcome(path: &Path, outcome: &FileOutcome) {
    let file = path.display().to_string();
    match outcome {
        FileOutcome::Installed(InstallOutcome::Unchanged(summary)) => {
            tracing::debug!(%file, plugin = %summary.label(), "plugin file already installed");
        }
        FileOutcome::Installed(installed) => {
            tracing::info!(%file, plugin = %installed.summary().label(), "plugin file installed");
        }
        FileOutcome::Refused(error) => {
            tracing::warn!(%file, %error, "plugin file refused; skipped until it changes");
        }
    }
}

/// Polls `dir` every `interval` until `shutdown`, installing what is dropped there. A directory
/// that cannot be read is reported and polled again.
pub async fn watch_directory(
    registry: Registry,
    dir: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut directory = PluginDirectory::new(dir);
    tracing::info!(dir = %directory.dir().display(), "watching the plugin directory");
    loop {
        if let Err(error) = directory.scan(&registry).await {
            tracing::warn!(%error, "could not scan the plugin directory");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
