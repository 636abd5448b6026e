//! The plugin registry: which indexer plugins are installed, shared by every indexer process
//! through Postgres (migration `0010_plugin_registry.sql`).
//!
//! - [`Registry`] ([`registry`]): `install` checks a component as an indexer will load it and
//!   stores it with its sha-256 (refusing a bad component, a collection another plugin claims, a
//!   core table from a plugin that is not built in, a downgrade unless forced) and creates its
//!   own tables; `list`, `consumers` (which version each indexer runs), `remove`.
//! - [`RegistryProvider`] ([`watch`]): the indexer's `PluginProvider` — the installed plugins as
//!   a `PluginSet` that follows the registry within moments (LISTEN/NOTIFY, and a slow poll), each
//!   version compiled once per process; indexers switch at a batch boundary. It also reports
//!   what its indexer runs.
//! - [`PluginDirectory`] / [`watch_directory`] ([`directory`]): `*.wasm` files dropped into a
//!   directory are installed the same way.
//! - [`reindex()`] ([`reindex`]): replays stored records of a plugin's collections through the
//!   current version, via the indexers.
//!
//! Wiring an indexer to the registry:
//!
//! ```ignore
//! let registry = Registry::new(store.pool().clone(), engine, RegistryOptions::default());
//! let provider = RegistryProvider::start(registry.clone(), WatchOptions {
//!     consumer: Some(config.consumer.clone()),
//!     ..WatchOptions::default()
//! }, shutdown.clone()).await?;
//! tokio::spawn(watch_directory(registry, plugin_dir, Duration::from_secs(2), shutdown.clone()));
//! config.plugins = PluginSource::Provider(provider);
//! ```

pub mod directory;
pub mod error;
pub mod registry;
pub mod reindex;
pub mod watch;

pub use directory::{FileOutcome, PluginDirectory, watch_directory};
pub use error::RegistryError;
pub use registry::{
    ConsumerReport, InstallOptions, InstallOutcome, InstalledPlugin, PluginSummary, Registry,
    RegistryOptions,
};
pub use reindex::{ReindexOptions, ReindexProgress, reindex};
pub use watch::{NOTIFY_CHANNEL, RegistryProvider, WatchOptions};
