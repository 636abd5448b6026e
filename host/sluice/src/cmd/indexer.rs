//! `sluice indexer`: `firehose_live`, `firehose_backfill` (and re-index requests) and
//! `label_live` through the installed WASM plugins into Postgres (see `sluice_indexer`).
//!
//! The plugins come from the plugin registry in Postgres (`sluice plugin install`): the indexer
//! follows it and switches to a newly installed version at a batch boundary, without a restart.
//! `--builtin-plugin-dir` installs the plugins shipped with Sluice (the Bluesky ones) at
//! start-up, and `--plugin-dir` keeps installing the `*.wasm` files dropped into a directory.
//!
//! Every flag also reads a `SLUICE_INDEXER_…` variable and, where the reference had one, its
//! variable as a fallback (`INDEXER_STREAMS`, `INDEXER_LABEL_STREAM`, `INDEXER_GROUP`,
//! `INDEXER_LABEL_GROUP`, `INDEXER_CONSUMER`, `INDEXER_CONCURRENCY`, `DB_POSTGRES_URL`,
//! `REDIS_HOST`, `METRICS_PORT`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use sluice_indexer::{HandleResolution, IndexerConfig, PluginSource};
use sluice_plugin_host::{EngineConfig, PluginEngine};
use sluice_plugin_registry::{
    InstallOptions, InstallOutcome, Registry, RegistryOptions, RegistryProvider, WatchOptions,
    watch_directory,
};
use sluice_store::{SchemaName, Store, StoreConfig};

use super::service::{IdentityArgs, ServiceArgs, from_env, parsed_from_env, runtime, split_list};

/// The reference indexer's metrics port.
const DEFAULT_METRICS_PORT: u16 = 4020;

/// Arguments of `sluice indexer`.
#[derive(Debug, Args)]
pub(crate) struct IndexerArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Postgres URL [fallback: DB_POSTGRES_URL; required].
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    database_url: Option<String>,
    /// The Postgres schema of the index.
    #[arg(long, env = "SLUICE_DATABASE_SCHEMA", default_value = "bsky")]
    schema: String,
    /// Connections to Postgres (at least one per worker, plus lookups).
    #[arg(
        long,
        env = "SLUICE_INDEXER_DATABASE_CONNECTIONS",
        default_value_t = 12
    )]
    database_connections: u32,
    /// Apply the database migrations at start-up.
    #[arg(long, env = "SLUICE_INDEXER_MIGRATE", default_value_t = false)]
    migrate: bool,
    /// Firehose streams, highest priority first, comma-separated
    /// [fallback: INDEXER_STREAMS; default firehose_live,firehose_backfill,firehose_reindex].
    #[arg(long, env = "SLUICE_INDEXER_STREAMS")]
    streams: Option<String>,
    /// The label stream; `none` to not index labels [fallback: INDEXER_LABEL_STREAM; default
    /// label_live].
    #[arg(long, env = "SLUICE_INDEXER_LABEL_STREAM")]
    label_stream: Option<String>,
    /// The firehose consumer group [fallback: INDEXER_GROUP; default firehose_group].
    #[arg(long, env = "SLUICE_INDEXER_GROUP")]
    group: Option<String>,
    /// The label consumer group [fallback: INDEXER_LABEL_GROUP; default label_group].
    #[arg(long, env = "SLUICE_INDEXER_LABEL_GROUP")]
    label_group: Option<String>,
    /// This consumer's name, stable across restarts [fallback: INDEXER_CONSUMER; required].
    #[arg(long, env = "SLUICE_INDEXER_CONSUMER")]
    consumer: Option<String>,
    /// Workers indexing different repos at once [fallback: INDEXER_CONCURRENCY; default 4].
    #[arg(long, env = "SLUICE_INDEXER_CONCURRENCY")]
    concurrency: Option<String>,
    /// Entries a worker indexes in one transaction.
    #[arg(long, env = "SLUICE_INDEXER_BATCH_SIZE", default_value_t = 1000)]
    batch_size: usize,
    /// Entries read ahead of the workers (all their queues together), so that a worker busy
    /// with a large repo does not hold back the others.
    #[arg(long, env = "SLUICE_INDEXER_READ_AHEAD", default_value_t = 20_000)]
    read_ahead: usize,
    /// Seconds an entry stays unacknowledged before another indexer reclaims it.
    #[arg(long, env = "SLUICE_INDEXER_CLAIM_IDLE_SECS", default_value_t = 60)]
    claim_idle_secs: u64,
    /// Deliveries after which a failing entry is parked.
    #[arg(long, env = "SLUICE_INDEXER_MAX_DELIVERIES", default_value_t = 5)]
    max_deliveries: u64,
    /// Directory of the plugins shipped with Sluice (`*.wasm`), installed as built-in plugins
    /// (allowed to write the reference AppView's tables) at start-up.
    #[arg(long, env = "SLUICE_INDEXER_BUILTIN_PLUGIN_DIR")]
    builtin_plugin_dir: Option<PathBuf>,
    /// Directory watched for third-party plugins (`*.wasm`): a file dropped or replaced there is
    /// installed in the registry and every indexer switches to it.
    #[arg(long, env = "SLUICE_PLUGIN_DIR")]
    plugin_dir: Option<PathBuf>,
    /// Cache compiled plugin code in this directory.
    #[arg(long, env = "SLUICE_PLUGIN_CACHE_DIR")]
    plugin_cache_dir: Option<PathBuf>,
    /// Put before `plugin_<name>` in the schemas of plugins' own tables.
    #[arg(long, env = "SLUICE_PLUGIN_SCHEMA_PREFIX", default_value = "")]
    plugin_schema_prefix: String,
    /// Apply the SQL migrations a plugin brings for its own tables.
    #[arg(long, env = "SLUICE_ALLOW_PLUGIN_MIGRATIONS", default_value_t = false)]
    allow_plugin_migrations: bool,
}

impl IndexerArgs {
    fn store_config(&self) -> anyhow::Result<StoreConfig> {
        let url = from_env(self.database_url.clone(), "DB_POSTGRES_URL")
            .context("no database: set --database-url (SLUICE_DATABASE_URL or DB_POSTGRES_URL)")?;
        let mut config = StoreConfig::new(url, SchemaName::new(self.schema.clone())?);
        config.max_connections = self.database_connections.max(2);
        config.application_name = "sluice-indexer".to_owned();
        Ok(config)
    }

    fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            cache_dir: self.plugin_cache_dir.clone(),
            ..EngineConfig::default()
        }
    }

    fn config(&self, plugins: PluginSource) -> anyhow::Result<IndexerConfig> {
        let mut config =
            IndexerConfig::new(self.service.redis_url(), self.store_config()?, plugins);
        if let Some(streams) = from_env(self.streams.clone(), "INDEXER_STREAMS") {
            config.streams = split_list(&streams);
            if config.streams.is_empty() {
                return Err(anyhow!("--streams: no stream named"));
            }
        }
        if let Some(stream) = from_env(self.label_stream.clone(), "INDEXER_LABEL_STREAM") {
            config.label_stream = (stream != "none").then_some(stream);
        }
        if let Some(group) = from_env(self.group.clone(), "INDEXER_GROUP") {
            config.group = group;
        }
        if let Some(group) = from_env(self.label_group.clone(), "INDEXER_LABEL_GROUP") {
            config.label_group = group;
        }
        config.consumer = from_env(self.consumer.clone(), "INDEXER_CONSUMER")
            .ok_or_else(|| anyhow!("set --consumer (INDEXER_CONSUMER), e.g. one"))?;
        if let Some(concurrency) = parsed_from_env::<usize>(
            self.concurrency.clone(),
            "INDEXER_CONCURRENCY",
            "concurrency",
        )? {
            config.concurrency = concurrency.max(1);
        }
        config.batch_size = self.batch_size.max(1);
        config.read_ahead = self.read_ahead;
        config.claim_min_idle = Duration::from_secs(self.claim_idle_secs.max(1));
        config.max_deliveries = self.max_deliveries.max(1);
        // The migrations run once, below, before the registry is read.
        config.migrate = false;
        config.plugin_schema_prefix = self.plugin_schema_prefix.clone();
        config.allow_plugin_migrations = self.allow_plugin_migrations;
        config.engine = self.engine_config();
        config.handles = HandleResolution::Network(self.identity.config());
        Ok(config)
    }
}

/// Installs every `*.wasm` of `dir` as a built-in plugin (a file already installed is left
/// alone; an older version than the installed one is refused and logged).
async fn install_builtin(registry: &Registry, dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the built-in plugin directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let options = InstallOptions {
            builtin: true,
            force: false,
        };
        match registry.install(&bytes, options).await {
            Ok(InstallOutcome::Installed(summary)) => {
                tracing::info!(plugin = %summary.name, version = %summary.version, "built-in plugin installed");
            }
            Ok(InstallOutcome::Replaced {
                now,
                previous_version,
                ..
            }) => {
                tracing::info!(plugin = %now.name, version = %now.version, %previous_version, "built-in plugin upgraded");
            }
            Ok(InstallOutcome::Unchanged(_)) => {}
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "built-in plugin not installed");
            }
        }
    }
    Ok(())
}

/// Runs `sluice indexer` until SIGTERM/SIGINT.
pub(crate) fn run(args: IndexerArgs) -> anyhow::Result<ExitCode> {
    let port = args.service.metrics_port(DEFAULT_METRICS_PORT)?;
    runtime()?.block_on(async move {
        super::service::start_metrics(port)?;
        let shutdown = super::service::shutdown_on_signals()?;
        let mut store_config = args.store_config()?;
        store_config.max_connections = 3;
        store_config.application_name = "sluice-indexer-registry".to_owned();
        let store = Store::connect(&store_config)
            .await
            .context("connecting to Postgres")?;
        if args.migrate {
            store.migrate().await.context("migrating the database")?;
        }
        let engine = PluginEngine::new(args.engine_config()).context("the plugin engine")?;
        let registry = Registry::new(
            store.pool().clone(),
            engine,
            RegistryOptions {
                plugin_schema_prefix: args.plugin_schema_prefix.clone(),
                allow_plugin_migrations: args.allow_plugin_migrations,
            },
        );
        if let Some(dir) = &args.builtin_plugin_dir {
            install_builtin(&registry, dir).await?;
        }
        let consumer = from_env(args.consumer.clone(), "INDEXER_CONSUMER");
        let provider = RegistryProvider::start(
            registry.clone(),
            WatchOptions {
                consumer,
                ..WatchOptions::default()
            },
            shutdown.clone(),
        )
        .await
        .context("reading the plugin registry")?;
        if let Some(dir) = args.plugin_dir.clone() {
            tokio::spawn(watch_directory(
                registry,
                dir,
                Duration::from_secs(2),
                shutdown.clone(),
            ));
        }
        let config = args.config(PluginSource::Provider(provider))?;
        sluice_indexer::run(config, shutdown)
            .await
            .context("indexer")?;
        Ok(ExitCode::SUCCESS)
    })
}
