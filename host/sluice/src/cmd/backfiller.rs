//! `sluice backfiller`: `repo_backfill` entries into `firehose_backfill` (see
//! `sluice_backfiller`).
//!
//! Every flag also reads a `SLUICE_BACKFILLER_…` variable and, where the reference had one, its
//! variable as a fallback (`BACKFILLER_GROUP`, `BACKFILLER_CONSUMER`, `BACKFILLER_CONCURRENCY`,
//! `BACKFILLER_BACKFILL_STREAM`, `BACKFILLER_FIREHOSE_STREAM`,
//! `BACKFILLER_FIREHOSE_STREAM_HIGH_WATER_MARK`, `REDIS_HOST`, `METRICS_PORT`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use sluice_backfiller::BackfillerConfig;
use sluice_backfiller::rate::RateBudget;

use super::service::{IdentityArgs, ServiceArgs, from_env, parsed_from_env, runtime};

/// The reference backfiller's metrics port.
const DEFAULT_METRICS_PORT: u16 = 4010;

/// Arguments of `sluice backfiller`.
#[derive(Debug, Args)]
pub(crate) struct BackfillerArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// This consumer's name, stable across restarts [fallback: BACKFILLER_CONSUMER; required].
    #[arg(long, env = "SLUICE_BACKFILLER_CONSUMER")]
    consumer: Option<String>,
    /// The consumer group [fallback: BACKFILLER_GROUP; default repo_backfill_group].
    #[arg(long, env = "SLUICE_BACKFILLER_GROUP")]
    group: Option<String>,
    /// Repos backfilled at once [fallback: BACKFILLER_CONCURRENCY; default 2].
    #[arg(long, env = "SLUICE_BACKFILLER_CONCURRENCY")]
    concurrency: Option<String>,
    /// The stream of repos to backfill [fallback: BACKFILLER_BACKFILL_STREAM; default repo_backfill].
    #[arg(long, env = "SLUICE_BACKFILLER_BACKFILL_STREAM")]
    backfill_stream: Option<String>,
    /// Where records go [fallback: BACKFILLER_FIREHOSE_STREAM; default firehose_backfill].
    #[arg(long, env = "SLUICE_BACKFILLER_FIREHOSE_STREAM")]
    firehose_stream: Option<String>,
    /// Its high-water mark [fallback: BACKFILLER_FIREHOSE_STREAM_HIGH_WATER_MARK; default 100000].
    #[arg(long, env = "SLUICE_BACKFILLER_FIREHOSE_STREAM_HIGH_WATER_MARK")]
    firehose_stream_high_water_mark: Option<String>,
    /// Seconds an entry may sit pending without a heartbeat before another member takes it.
    #[arg(long, env = "SLUICE_BACKFILLER_CLAIM_IDLE_SECS", default_value_t = 120)]
    claim_idle_secs: u64,
    /// Deliveries after which a failing repo is dead-lettered.
    #[arg(long, env = "SLUICE_BACKFILLER_MAX_DELIVERIES", default_value_t = 5)]
    max_deliveries: u64,
    /// Requests per host, `N/DURATION` (Bluesky's PDSes allow 3000/5m).
    #[arg(long, env = "SLUICE_BACKFILLER_RATE", default_value = "3000/5m")]
    rate: String,
    /// Seconds of silence after which a getRepo read fails.
    #[arg(
        long,
        env = "SLUICE_BACKFILLER_READ_TIMEOUT_SECS",
        default_value_t = 60
    )]
    read_timeout_secs: u64,
    /// Longest time one getRepo may take, in seconds.
    #[arg(long, env = "SLUICE_BACKFILLER_MAX_FETCH_SECS", default_value_t = 1800)]
    max_fetch_secs: u64,
    /// Attempts at getRepo within one delivery.
    #[arg(long, env = "SLUICE_BACKFILLER_FETCH_ATTEMPTS", default_value_t = 3)]
    fetch_attempts: u32,
    /// Records per chunk (each followed by a `repo` event).
    #[arg(long, env = "SLUICE_BACKFILLER_CHUNK_SIZE", default_value_t = 500)]
    chunk_size: usize,
    /// Bytes of a repo's blocks held in memory before spilling to disk.
    #[arg(long, env = "SLUICE_BACKFILLER_MEMORY_BUDGET", default_value_t = sluice_atproto::repo::DEFAULT_MEMORY_BUDGET)]
    memory_budget: usize,
    /// Directory of spill files (default: the system's temporary directory).
    #[arg(long, env = "SLUICE_BACKFILLER_SPILL_DIR")]
    spill_dir: Option<PathBuf>,
}

impl BackfillerArgs {
    fn config(&self) -> anyhow::Result<BackfillerConfig> {
        let consumer = from_env(self.consumer.clone(), "BACKFILLER_CONSUMER")
            .ok_or_else(|| anyhow!("set --consumer (BACKFILLER_CONSUMER), e.g. one"))?;
        let mut config = BackfillerConfig::new(self.service.redis_url(), consumer);
        if let Some(group) = from_env(self.group.clone(), "BACKFILLER_GROUP") {
            config.group = group;
        }
        if let Some(concurrency) = parsed_from_env::<usize>(
            self.concurrency.clone(),
            "BACKFILLER_CONCURRENCY",
            "concurrency",
        )? {
            config.concurrency = concurrency.max(1);
        }
        if let Some(stream) = from_env(self.backfill_stream.clone(), "BACKFILLER_BACKFILL_STREAM") {
            config.repo_stream = stream;
        }
        if let Some(stream) = from_env(self.firehose_stream.clone(), "BACKFILLER_FIREHOSE_STREAM") {
            config.firehose_stream.name = stream;
        }
        if let Some(mark) = parsed_from_env::<u64>(
            self.firehose_stream_high_water_mark.clone(),
            "BACKFILLER_FIREHOSE_STREAM_HIGH_WATER_MARK",
            "high-water mark",
        )? {
            config.firehose_stream.high_water_mark = mark;
        }
        config.claim_min_idle = Duration::from_secs(self.claim_idle_secs.max(1));
        config.max_deliveries = self.max_deliveries.max(1);
        config.rate = RateBudget::parse(&self.rate).map_err(|e| anyhow!("--rate: {e}"))?;
        config.read_timeout = Duration::from_secs(self.read_timeout_secs.max(1));
        config.max_fetch_duration = Duration::from_secs(self.max_fetch_secs.max(1));
        config.fetch_attempts = self.fetch_attempts.max(1);
        config.chunk_size = self.chunk_size.max(1);
        config.memory_budget = self.memory_budget;
        config.spill_directory = self.spill_dir.clone();
        config.identity = self.identity.config();
        Ok(config)
    }
}

/// Runs `sluice backfiller` until SIGTERM/SIGINT.
pub(crate) fn run(args: BackfillerArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let port = args.service.metrics_port(DEFAULT_METRICS_PORT)?;
    runtime()?.block_on(async move {
        super::service::start_metrics(port)?;
        sluice_backfiller::metrics::describe();
        let shutdown = super::service::shutdown_on_signals()?;
        sluice_backfiller::run(config, shutdown)
            .await
            .context("backfiller")?;
        Ok(ExitCode::SUCCESS)
    })
}
