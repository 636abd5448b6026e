//! Where the indexer's plugins come from. The indexer asks its [`PluginProvider`] for the current
//! set at every batch boundary and switches when it gets a different one (hot swap: the plugin
//! registry provides sets from Postgres; the command line gives a fixed set from files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_plugin_host::{LoadOptions, Plugin, PluginEngine, PluginSet};

use crate::error::PrepareError;

/// The plugins to index with.
pub trait PluginProvider: Send + Sync {
    /// The current set. Called between batches: return the same `Arc` while nothing changed
    /// (the indexer compares pointers), a new one to switch.
    fn current(&self) -> Arc<PluginSet>;

    /// Told which set the indexer indexes with: at start and after every switch (batches read
    /// after this call use it). The plugin registry reports it for `sluice plugin list`.
    fn running(&self, _set: &Arc<PluginSet>) {}
}

/// A set that never changes.
#[derive(Debug, Clone)]
pub struct StaticPlugins(pub Arc<PluginSet>);

impl PluginProvider for StaticPlugins {
    fn current(&self) -> Arc<PluginSet> {
        Arc::clone(&self.0)
    }
}

/// Plugin files to load.
#[derive(Debug, Clone, Default)]
pub struct PluginFiles {
    /// Components of third-party plugins (their own tables only).
    pub plugins: Vec<PathBuf>,
    /// Components of built-in plugins (allowed to write core tables, e.g. the Bluesky plugins).
    pub builtin: Vec<PathBuf>,
    /// Directories whose `*.wasm` files are third-party plugins.
    pub dirs: Vec<PathBuf>,
}

impl PluginFiles {
    /// Every file to load, with whether it is built in, in a stable order.
    pub fn list(&self) -> Result<Vec<(PathBuf, bool)>, PrepareError> {
        let mut files: Vec<(PathBuf, bool)> = Vec::new();
        files.extend(self.builtin.iter().map(|p| (p.clone(), true)));
        files.extend(self.plugins.iter().map(|p| (p.clone(), false)));
        for dir in &self.dirs {
            let read = std::fs::read_dir(dir).map_err(|source| PrepareError::Read {
                path: dir.display().to_string(),
                source,
            })?;
            let mut found: Vec<PathBuf> = Vec::new();
            for entry in read {
                let entry = entry.map_err(|source| PrepareError::Read {
                    path: dir.display().to_string(),
                    source,
                })?;
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "wasm") {
                    found.push(path);
                }
            }
            found.sort();
            files.extend(found.into_iter().map(|p| (p, false)));
        }
        Ok(files)
    }

    /// Loads every file into one set (refusing name or collection clashes).
    pub async fn load(&self, engine: &PluginEngine) -> Result<PluginSet, PrepareError> {
        let mut set = PluginSet::new();
        for (path, builtin) in self.list()? {
            let plugin = load_file(engine, &path, builtin).await?;
            set.add(plugin)?;
        }
        Ok(set)
    }
}

/// Loads one plugin file.
pub async fn load_file(
    engine: &PluginEngine,
    path: &Path,
    builtin: bool,
) -> Result<Plugin, PrepareError> {
    Ok(Plugin::load_file(engine, path, LoadOptions { builtin }).await?)
}
