//! What the indexer reads, where it writes and with which plugins: plain fields that the
//! `sluice indexer` command fills from its flags and environment.

use std::sync::Arc;
use std::time::Duration;

use sluice_identity::IdentityConfig;
use sluice_plugin_host::EngineConfig;
use sluice_queue::names;
use sluice_store::StoreConfig;

use crate::batch::BatchOptions;
use crate::identity::HandleSource;
use crate::plugins::{PluginFiles, PluginProvider};

/// Where plugins come from.
#[derive(Clone)]
pub enum PluginSource {
    /// Files, loaded once at start-up.
    Files(PluginFiles),
    /// A provider asked at every batch boundary (hot swap).
    Provider(Arc<dyn PluginProvider>),
}

impl std::fmt::Debug for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files(files) => f.debug_tuple("Files").field(files).finish(),
            Self::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

/// Where verified handles come from.
#[derive(Clone)]
pub enum HandleResolution {
    /// DID documents and handles from the network (DID documents cached in the indexer's
    /// Redis, as the reference caches them).
    Network(IdentityConfig),
    /// Another source (tests, benchmarks; `NoHandles` to announce accounts without handles).
    Source(Arc<dyn HandleSource>),
}

impl std::fmt::Debug for HandleResolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(config) => f.debug_tuple("Network").field(config).finish(),
            Self::Source(_) => f.write_str("Source(..)"),
        }
    }
}

/// Workers per indexer unless configured. A worker waits on Postgres for about half of its
/// time, so two per core of a 2-core machine keep it busy (the `index-throughput` bench: 84 %
/// busy and +19 % records/s against 2 workers, 71 % busy).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Everything the indexer needs.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// Redis URL (`redis://…`).
    pub redis_url: String,
    /// Firehose streams, highest priority first (`firehose_live`, `firehose_backfill`,
    /// `firehose_reindex`): a later stream is read only when the earlier ones are empty, so
    /// backfill never delays live and a re-index delays neither.
    pub streams: Vec<String>,
    /// Their consumer group (`firehose_group`).
    pub group: String,
    /// The label stream (`label_live`); `None` to not index labels.
    pub label_stream: Option<String>,
    /// Its consumer group (`label_group`).
    pub label_group: String,
    /// This consumer's name, stable across restarts (it finds its own pending entries).
    pub consumer: String,
    /// Workers indexing different repos in parallel (each its own transaction).
    pub concurrency: usize,
    /// Entries a worker indexes at once (one transaction), and entries per read.
    pub batch_size: usize,
    /// Entries read ahead of the workers, in all their queues together: a worker busy with a
    /// large repo does not hold back the others (see `dispatch`; at least `batch_size`).
    pub read_ahead: usize,
    /// How long a read waits when every stream is empty.
    pub block: Duration,
    /// How long an entry must stay unacknowledged before another consumer reclaims it.
    pub claim_min_idle: Duration,
    /// Deliveries after which a failing entry is parked.
    pub max_deliveries: u64,
    /// Attempts of a batch that fails transiently (a deadlock, a concurrent change) before its
    /// entries are left for a later delivery.
    pub max_attempts: u32,
    /// The database.
    pub store: StoreConfig,
    /// Apply the embedded migrations at start-up.
    pub migrate: bool,
    /// Schemas of plugin-owned tables are `<prefix>plugin_<name>` (empty in production).
    pub plugin_schema_prefix: String,
    /// Apply the SQL migrations plugins bring for their own tables.
    pub allow_plugin_migrations: bool,
    /// The plugins.
    pub plugins: PluginSource,
    /// The plugin engine's limits.
    pub engine: EngineConfig,
    /// Handles for identity events.
    pub handles: HandleResolution,
    /// Limits of one batch.
    pub batch: BatchOptions,
}

impl IndexerConfig {
    /// A configuration with the reference's stream and group names and Sluice's defaults.
    pub fn new(redis_url: impl Into<String>, store: StoreConfig, plugins: PluginSource) -> Self {
        Self {
            redis_url: redis_url.into(),
            streams: vec![
                names::FIREHOSE_LIVE.to_owned(),
                names::FIREHOSE_BACKFILL.to_owned(),
                // Re-index requests (`sluice plugin reindex`), read only when the others are empty.
                crate::reindex::REINDEX_STREAM.to_owned(),
            ],
            group: names::FIREHOSE_GROUP.to_owned(),
            label_stream: Some(names::LABEL_LIVE.to_owned()),
            label_group: names::LABEL_GROUP.to_owned(),
            consumer: "indexer".to_owned(),
            concurrency: DEFAULT_CONCURRENCY,
            batch_size: 1000,
            read_ahead: 20_000,
            block: Duration::from_secs(1),
            claim_min_idle: Duration::from_secs(60),
            max_deliveries: 5,
            max_attempts: 5,
            store,
            migrate: false,
            plugin_schema_prefix: String::new(),
            allow_plugin_migrations: false,
            plugins,
            engine: EngineConfig::default(),
            handles: HandleResolution::Network(IdentityConfig::default()),
            batch: BatchOptions::default(),
        }
    }
}
