//! Why a registry operation failed.

use sluice_plugin_host::LoadError;

/// Why a plugin could not be installed, listed, removed or loaded from the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The component is not a valid plugin (not a component, an unsupported contract version,
    /// imports the host does not give, `describe()` failed, a declaration that breaks a rule such
    /// as a core table in a plugin that is not built in).
    #[error(transparent)]
    Invalid(#[from] LoadError),
    /// Another plugin claims one of the plugin's collections.
    #[error("plugin {plugin}: collection {collection} is already claimed by plugin {owner}")]
    CollectionTaken {
        /// `name@version` of the plugin refused.
        plugin: String,
        /// The collection.
        collection: String,
        /// The name of the plugin that claims it.
        owner: String,
    },
    /// The installed version is newer (install with `force` to go back).
    #[error(
        "plugin {name}: {installed} is installed, {offered} is older (use --force to downgrade)"
    )]
    Downgrade {
        /// The plugin.
        name: String,
        /// The installed version.
        installed: String,
        /// The version offered.
        offered: String,
    },
    /// The same version is installed with different bytes (install with `force` to replace it).
    #[error(
        "plugin {name}@{version} is installed with other bytes (sha-256 {installed}); give the new build a new version, or use --force"
    )]
    SameVersionChanged {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// The sha-256 of the installed component.
        installed: String,
    },
    /// A version that is not semantic (the host checks this at load; kept for stored rows).
    #[error("plugin {name}: version {version:?} is not a semantic version")]
    Version {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
    },
    /// No plugin of that name is installed.
    #[error("no plugin named {0} is installed")]
    NotInstalled(String),
    /// The plugin's own tables could not be created (its schema, declaration or migrations).
    #[error("plugin {plugin}: its tables could not be created: {error}")]
    Tables {
        /// `name@version`.
        plugin: String,
        /// The cause.
        error: Box<sluice_indexer::PrepareError>,
    },
    /// `reindex --truncate` of a built-in plugin, whose tables are shared core tables.
    #[error(
        "plugin {0} is built in: its tables are core tables shared with other plugins and are never truncated"
    )]
    TruncateBuiltin(String),
    /// A stored row is not what the registry wrote (edited by hand?).
    #[error("the registry's row for plugin {name} is damaged: {reason}")]
    Damaged {
        /// The plugin.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Postgres failed.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    /// Redis failed (re-index).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Reading a plugin file or directory failed.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A background task (compiling a component) died.
    #[error("a background task failed: {0}")]
    Task(String),
}
