//! `sluice ingester`: relays/PDSes and labelers into Redis streams (see `sluice_ingester`).
//!
//! Every flag also reads a `SLUICE_INGESTER_…` variable, and, where the reference AppView's
//! ingester had one, its variable as a fallback (`INGESTER_HOSTS`, `INGESTER_LABELER_HOSTS`,
//! `INGESTER_*_STREAM`, `INGESTER_*_STREAM_HIGH_WATER_MARK`, `REDIS_HOST`, `METRICS_PORT`), so
//! an existing compose file needs only its image and command changed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{ArgAction, Args};
use sluice_ingester::collections::CollectionSource;
use sluice_ingester::{IngesterConfig, OutputStream};

use super::service::{IdentityArgs, ServiceArgs, from_env, parsed_from_env, runtime, split_list};

/// The reference ingester's metrics port.
const DEFAULT_METRICS_PORT: u16 = 4000;

/// Arguments of `sluice ingester`.
#[derive(Debug, Args)]
pub(crate) struct IngesterArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Relays or PDSes to list and follow, comma-separated URLs [fallback: INGESTER_HOSTS].
    #[arg(long, env = "SLUICE_INGESTER_HOSTS")]
    hosts: Option<String>,
    /// Labelers to follow, comma-separated URLs [fallback: INGESTER_LABELER_HOSTS].
    #[arg(long, env = "SLUICE_INGESTER_LABELER_HOSTS")]
    labeler_hosts: Option<String>,
    /// The live firehose stream [fallback: INGESTER_FIREHOSE_STREAM; default firehose_live].
    #[arg(long, env = "SLUICE_INGESTER_FIREHOSE_STREAM")]
    firehose_stream: Option<String>,
    /// Its high-water mark [fallback: INGESTER_FIREHOSE_STREAM_HIGH_WATER_MARK; default 100000].
    #[arg(long, env = "SLUICE_INGESTER_FIREHOSE_STREAM_HIGH_WATER_MARK")]
    firehose_stream_high_water_mark: Option<String>,
    /// The stream of repos to backfill [fallback: INGESTER_REPO_STREAM; default repo_backfill].
    #[arg(long, env = "SLUICE_INGESTER_REPO_STREAM")]
    repo_stream: Option<String>,
    /// Its high-water mark [fallback: INGESTER_REPO_STREAM_HIGH_WATER_MARK; default 100000].
    #[arg(long, env = "SLUICE_INGESTER_REPO_STREAM_HIGH_WATER_MARK")]
    repo_stream_high_water_mark: Option<String>,
    /// The label stream [fallback: INGESTER_LABEL_STREAM; default label_live].
    #[arg(long, env = "SLUICE_INGESTER_LABEL_STREAM")]
    label_stream: Option<String>,
    /// Its high-water mark [fallback: INGESTER_LABEL_STREAM_HIGH_WATER_MARK; default 100000].
    #[arg(long, env = "SLUICE_INGESTER_LABEL_STREAM_HIGH_WATER_MARK")]
    label_stream_high_water_mark: Option<String>,
    /// Check commit signatures against the account's current key.
    #[arg(long, env = "SLUICE_INGESTER_VERIFY_SIGNATURES", default_value_t = true, action = ArgAction::Set)]
    verify_signatures: bool,
    /// Check the sync 1.1 chain (`prevData`); a gap queues the repo for a fresh backfill.
    #[arg(long, env = "SLUICE_INGESTER_VERIFY_SYNC", default_value_t = true, action = ArgAction::Set)]
    verify_sync: bool,
    /// Check label signatures against the labeler's key.
    #[arg(long, env = "SLUICE_INGESTER_VERIFY_LABELS", default_value_t = true, action = ArgAction::Set)]
    verify_labels: bool,
    /// Threads that decode and verify events (default: one per core).
    #[arg(long, env = "SLUICE_INGESTER_VERIFY_WORKERS")]
    verify_workers: Option<usize>,
    /// Accounts whose chain state each host keeps in memory.
    #[arg(
        long,
        env = "SLUICE_INGESTER_MAX_TRACKED_REPOS",
        default_value_t = 500_000
    )]
    max_tracked_repos: usize,
    /// Queue only these collections (comma-separated NSIDs; `app.bsky.*` for a prefix).
    #[arg(
        long,
        env = "SLUICE_INGESTER_COLLECTIONS",
        conflicts_with = "keep_all_collections"
    )]
    collections: Option<String>,
    /// Queue every collection, claimed or not.
    #[arg(
        long,
        env = "SLUICE_INGESTER_KEEP_ALL_COLLECTIONS",
        default_value_t = false
    )]
    keep_all_collections: bool,
    /// Postgres with the plugins' claimed collections (`sluice_plugin_collection`)
    /// [fallback: DB_POSTGRES_URL].
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    database_url: Option<String>,
    /// The Postgres schema of the index (where `sluice_plugin_collection` is).
    #[arg(long, env = "SLUICE_DATABASE_SCHEMA", default_value = "bsky")]
    schema: String,
    /// Seconds between reads of the claimed collections.
    #[arg(
        long,
        env = "SLUICE_INGESTER_COLLECTIONS_REFRESH_SECS",
        default_value_t = 30
    )]
    collections_refresh_secs: u64,
    /// Seconds between rescans of finished repo listings (0: never).
    #[arg(long, env = "SLUICE_INGESTER_RESCAN_SECS", default_value_t = 6 * 3600)]
    rescan_secs: u64,
    /// Attempts at one listRepos page before the pass gives up until the next rescan.
    #[arg(long, env = "SLUICE_INGESTER_LIST_REPOS_ATTEMPTS", default_value_t = 5)]
    list_repos_attempts: u32,
    /// Most events per Redis pipeline.
    #[arg(long, env = "SLUICE_INGESTER_BATCH_SIZE", default_value_t = 500)]
    batch_size: usize,
    /// Most events read from one host but not yet written.
    #[arg(long, env = "SLUICE_INGESTER_MAX_IN_FLIGHT", default_value_t = 4096)]
    max_in_flight: usize,
    /// Seconds without a message before a connection is pinged (and dropped after as long).
    #[arg(long, env = "SLUICE_INGESTER_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Largest backoff between reconnects, in seconds.
    #[arg(long, env = "SLUICE_INGESTER_MAX_BACKOFF_SECS", default_value_t = 60)]
    max_backoff_secs: u64,
}

impl IngesterArgs {
    /// The ingester's configuration.
    fn config(&self) -> anyhow::Result<IngesterConfig> {
        let hosts = from_env(self.hosts.clone(), "INGESTER_HOSTS")
            .map(|h| split_list(&h))
            .unwrap_or_default();
        let labeler_hosts = from_env(self.labeler_hosts.clone(), "INGESTER_LABELER_HOSTS")
            .map(|h| split_list(&h))
            .unwrap_or_default();
        if hosts.is_empty() && labeler_hosts.is_empty() {
            bail!(
                "no host to follow: set --hosts (INGESTER_HOSTS) and/or --labeler-hosts (INGESTER_LABELER_HOSTS)"
            );
        }
        let mut config = IngesterConfig::new(self.service.redis_url(), hosts);
        config.labeler_hosts = labeler_hosts;
        config.firehose_stream = output(
            &self.firehose_stream,
            "INGESTER_FIREHOSE_STREAM",
            &self.firehose_stream_high_water_mark,
            config.firehose_stream.clone(),
        )?;
        config.repo_stream = output(
            &self.repo_stream,
            "INGESTER_REPO_STREAM",
            &self.repo_stream_high_water_mark,
            config.repo_stream.clone(),
        )?;
        config.label_stream = output(
            &self.label_stream,
            "INGESTER_LABEL_STREAM",
            &self.label_stream_high_water_mark,
            config.label_stream.clone(),
        )?;
        config.verify.signatures = self.verify_signatures;
        config.verify.sync_chain = self.verify_sync;
        config.verify.labels = self.verify_labels;
        if let Some(workers) = self.verify_workers {
            config.verify.workers = workers.max(1);
        }
        config.verify.max_tracked_repos = self.max_tracked_repos;
        config.collections = self.collection_source();
        config.rescan_interval =
            (self.rescan_secs > 0).then(|| Duration::from_secs(self.rescan_secs));
        config.list_repos_attempts = self.list_repos_attempts;
        config.batch_size = self.batch_size.max(1);
        config.max_in_flight = self.max_in_flight.max(1);
        config.idle_timeout = Duration::from_secs(self.idle_timeout_secs.max(1));
        config.backoff.max = Duration::from_secs(self.max_backoff_secs.max(1));
        config.identity = self.identity.config();
        Ok(config)
    }

    /// Where the claimed collections come from: the list, everything, or the database; with
    /// none of them, everything (with a warning).
    fn collection_source(&self) -> CollectionSource {
        if let Some(list) = &self.collections {
            return CollectionSource::List(split_list(list));
        }
        if self.keep_all_collections {
            return CollectionSource::KeepAll;
        }
        match from_env(self.database_url.clone(), "DB_POSTGRES_URL") {
            Some(url) => CollectionSource::Postgres {
                url,
                schema: self.schema.clone(),
                refresh: Duration::from_secs(self.collections_refresh_secs.max(1)),
            },
            None => {
                tracing::warn!(
                    "no --collections, no --keep-all-collections and no database: keeping every collection"
                );
                CollectionSource::KeepAll
            }
        }
    }
}

/// An output stream from its name and high-water-mark settings.
fn output(
    name: &Option<String>,
    reference_name: &str,
    high_water_mark: &Option<String>,
    default: OutputStream,
) -> anyhow::Result<OutputStream> {
    let name = from_env(name.clone(), reference_name).unwrap_or(default.name);
    let mark_name = format!("{reference_name}_HIGH_WATER_MARK");
    let high_water_mark =
        parsed_from_env::<u64>(high_water_mark.clone(), &mark_name, "high-water mark")?
            .unwrap_or(default.high_water_mark);
    Ok(OutputStream {
        name,
        high_water_mark,
    })
}

/// Runs `sluice ingester` until SIGTERM/SIGINT.
pub(crate) fn run(args: IngesterArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let port = args.service.metrics_port(DEFAULT_METRICS_PORT)?;
    runtime()?.block_on(async move {
        super::service::start_metrics(port)?;
        sluice_ingester::metrics::describe();
        let shutdown = super::service::shutdown_on_signals()?;
        sluice_ingester::run(config, shutdown)
            .await
            .context("ingester")?;
        Ok(ExitCode::SUCCESS)
    })
}
