//! `index-throughput`: end-to-end indexing throughput, from `firehose_backfill` to committed
//! rows, with the Bluesky WASM plugins — beside the rate at which the same Postgres takes the
//! same rows by `COPY` (the limit).
//!
//! 1. A devnet (the realistic mix of its generator) is backfilled by the real backfiller into a
//!    bench-private `firehose_backfill` ([`fill`]); none of this is timed.
//! 2. A fresh schema gets the store's migrations; the Bluesky plugins are built (or taken from
//!    `--plugin-dir`) and compiled.
//! 3. Timed: `--indexers` indexers (`sluice_indexer::run`, each what one `sluice indexer`
//!    process runs, with `--concurrency` workers) consume the stream until it is empty and
//!    nothing is pending. Records/s, rows, the indexer's own per-phase timings
//!    (`sluice_indexer_phase_seconds`, read from an in-process recorder), CPU per process.
//! 4. The limit ([`copy`]): every table the indexer wrote is dumped, a second fresh schema with
//!    the same migrations (same indexes) is made, and all the rows are loaded with
//!    `COPY … FROM STDIN` in one transaction.
//!
//! Redis keys live under `bench:index:<random>:` and the schemas are `bench_index_<random>`
//! (and `…_copy`); all are removed at the end, the schemas kept with `--keep`.

mod copy;
mod fill;
mod maintenance;
mod procstat;
mod recorder;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use rand::Rng as _;
use redis::aio::ConnectionManager;
use sluice_indexer::metrics as m;
use sluice_indexer::{
    FixedHandles, HandleResolution, IndexerConfig, PluginFiles, PluginSource, StaticPlugins,
};
use sluice_plugin_host::{EngineConfig, PluginEngine, PluginSet};
use sluice_queue::{ConsumerConfig, ConsumerHandle};
use sluice_store::{SchemaName, Store, StoreConfig};
use tokio_util::sync::CancellationToken;

use self::procstat::CpuTimes;
use self::recorder::BenchRecorder;
use crate::report::Report;
use crate::scenarios::devnet::NetworkArgs;

/// The Bluesky plugins, as `sluice indexer --builtin-plugin-dir` gets them in the image.
const BSKY_PLUGINS: [&str; 4] = [
    "sluice-bsky-actor",
    "sluice-bsky-feed",
    "sluice-bsky-graph",
    "sluice-bsky-labels",
];

/// The generator is asked for this many times `--records` records: deletions over the history
/// and inactive accounts (not backfilled) take about a tenth away.
const GENERATE_FACTOR: f64 = 1.12;

/// Options of `index-throughput`.
#[derive(Debug, Clone, Args)]
pub(crate) struct IndexThroughputArgs {
    /// Records the stream should hold, about (the generator is asked for 12% more: deletions
    /// and inactive accounts remove some). The figures use the count actually in the stream.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Repos of the network.
    #[arg(long, default_value_t = 2_000)]
    repos: u32,
    /// The network's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Indexers (each what one `sluice indexer` process runs), one consumer group.
    #[arg(long, default_value_t = 1)]
    indexers: usize,
    /// Workers per indexer (`sluice indexer --concurrency`, default 4).
    #[arg(long, default_value_t = sluice_indexer::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Entries read per batch (`sluice indexer --batch-size`, default 1000).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Entries read ahead of the workers (`sluice indexer --read-ahead`).
    #[arg(long, default_value_t = 20_000)]
    read_ahead: usize,
    /// Postgres connections per indexer (`sluice indexer --database-connections`, default 12).
    #[arg(long, default_value_t = 12)]
    database_connections: u32,
    /// Repos the backfiller fetches at once while filling the stream (not timed).
    #[arg(long, default_value_t = 4)]
    backfill_concurrency: usize,
    /// Directory of the plugins' components (`*.wasm`, loaded as built-in plugins); default:
    /// build the Bluesky plugins of this workspace.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Redis.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Postgres.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Keep the two schemas (their names are logged).
    #[arg(long)]
    keep: bool,
    /// Skip the `COPY` limit.
    #[arg(long)]
    skip_copy: bool,
    /// Diagnostic: leave out the records whose author already has one of the same collection and
    /// subject (the plugins keep one row per author and subject; the devnet makes many such
    /// duplicates, more than the real network). Two of them in one batch make the batch fail
    /// on the unique key and be split until they are apart; this measures the indexer without
    /// that. Not the headline figure.
    #[arg(long)]
    drop_duplicates: bool,
    /// Do not stand in for autovacuum when the server runs without it (see `maintenance`:
    /// without either, the tables are never analyzed nor vacuumed and the rate falls as they grow).
    #[arg(long)]
    no_autovacuum: bool,
    /// Seconds between two maintenance passes when standing in for autovacuum (its naptime).
    #[arg(long, default_value_t = 60)]
    autovacuum_naptime: u64,
    /// Give up when the stream has not moved for this many seconds.
    #[arg(long, default_value_t = 300)]
    stall_secs: u64,
}

/// The bench's Redis keys.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// Prefix of every key.
    pub(crate) prefix: String,
    /// `firehose_live` (empty; read first, as in a deployment).
    pub(crate) live: String,
    /// `firehose_backfill`.
    pub(crate) backfill: String,
    /// `label_live` (empty).
    pub(crate) labels: String,
    /// `repo_backfill`.
    pub(crate) repo_backfill: String,
    /// The indexers' group on the firehose streams.
    pub(crate) group: String,
    /// Their group on the label stream.
    pub(crate) label_group: String,
}

impl Keys {
    fn new(prefix: String) -> Self {
        Self {
            live: format!("{prefix}firehose_live"),
            backfill: format!("{prefix}firehose_backfill"),
            labels: format!("{prefix}label_live"),
            repo_backfill: format!("{prefix}repo_backfill"),
            group: format!("{prefix}firehose_group"),
            label_group: format!("{prefix}label_group"),
            prefix,
        }
    }
}

/// `index-throughput`.
pub(crate) async fn run(args: IndexThroughputArgs, report: &mut Report) -> anyhow::Result<()> {
    let recorder = BenchRecorder::install()?;
    let suffix: String = {
        let mut rng = rand::rng();
        (0..10)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect()
    };
    let keys = Keys::new(format!("bench:index:{suffix}:"));
    let schema = format!("bench_index_{suffix}");
    let copy_schema = format!("{schema}_copy");
    tracing::info!(prefix = %keys.prefix, %schema, %copy_schema, "bench keys and schemas");
    let mut conn = sluice_queue::connect(&args.redis_url)
        .await
        .context("connecting to Redis")?;
    let result = measure(
        &args,
        &keys,
        &schema,
        &copy_schema,
        &recorder,
        &mut conn,
        report,
    )
    .await;
    if let Err(error) = delete_keys(&mut conn, &keys.prefix).await {
        tracing::warn!(%error, prefix = %keys.prefix, "could not delete the bench's Redis keys");
    }
    if args.keep {
        tracing::info!(%schema, %copy_schema, "schemas kept");
    } else if let Err(error) = drop_schemas(&args.database_url, &schema, &copy_schema).await {
        tracing::warn!(%error, %schema, "could not drop the bench's schemas");
    }
    result
}

async fn measure(
    args: &IndexThroughputArgs,
    keys: &Keys,
    schema: &str,
    copy_schema: &str,
    recorder: &BenchRecorder,
    conn: &mut ConnectionManager,
    report: &mut Report,
) -> anyhow::Result<()> {
    let plugins = load_plugins(args.plugin_dir.as_deref(), report).await?;

    let network = NetworkArgs {
        repos: args.repos,
        records: (args.records as f64 * GENERATE_FACTOR) as u64,
        seed: args.seed,
    };
    let filled = fill::fill(
        &network,
        args.backfill_concurrency,
        args.drop_duplicates,
        &args.redis_url,
        keys,
        conn,
        report,
    )
    .await?;
    if filled.records < args.records {
        tracing::warn!(
            records = filled.records,
            asked = args.records,
            "the stream holds fewer records than asked for"
        );
    }

    let store = Store::connect(&store_config(&args.database_url, schema, 4)?)
        .await
        .context("connecting to Postgres")?;
    store.migrate().await?;

    let elapsed = index(
        args,
        keys,
        schema,
        &filled,
        plugins,
        recorder,
        conn,
        store.pool(),
        report,
    )
    .await?;

    table_statistics(store.pool(), schema, report).await?;
    let rows = copy::table_rows(store.pool(), schema).await?;
    let total_rows: u64 = rows.iter().map(|(_, n)| n).sum();
    for (table, count) in &rows {
        report.figure(&format!("rows_{table}"), *count as f64, "rows");
    }
    report.figure("rows_total", total_rows as f64, "rows");
    if args.skip_copy {
        store.close().await;
        return Ok(());
    }

    let target = Store::connect(&store_config(&args.database_url, copy_schema, 2)?).await?;
    target.migrate().await?;
    let copied = copy::copy_limit(store.pool(), schema, target.pool(), copy_schema, &rows).await;
    store.close().await;
    target.close().await;
    let copied = copied?;
    report.figure("copy_tables", copied.tables as f64, "tables");
    report.figure("copy_rows", copied.rows as f64, "rows");
    report.figure("copy_size", copied.bytes as f64 / 1e6, "MB");
    report.seconds("copy_dump_time", copied.dump_time);
    report.seconds("copy_time", copied.load_time);
    report.rate(
        "copy_rows_rate",
        copied.rows as f64,
        copied.load_time,
        "rows/s",
    );
    report.rate(
        "copy_throughput",
        copied.bytes as f64 / 1e6,
        copied.load_time,
        "MB/s",
    );
    report.rate(
        "copy_records_rate",
        filled.records as f64,
        copied.load_time,
        "records/s",
    );
    report.figure(
        "index_copy_ratio",
        copied.load_time.as_secs_f64() / elapsed.as_secs_f64().max(1e-9),
        "",
    );
    Ok(())
}

/// A store configuration on `schema` with a pool of `connections`.
fn store_config(url: &str, schema: &str, connections: u32) -> anyhow::Result<StoreConfig> {
    let mut config = StoreConfig::new(url, SchemaName::new(schema)?);
    config.max_connections = connections;
    config.application_name = "sluice-bench".to_owned();
    Ok(config)
}

/// Builds (or finds) and compiles the plugins.
async fn load_plugins(
    dir: Option<&std::path::Path>,
    report: &mut Report,
) -> anyhow::Result<Arc<PluginSet>> {
    let started = Instant::now();
    let files: Vec<PathBuf> = match dir {
        Some(dir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
                .collect();
            files.sort();
            files
        }
        None => tokio::task::spawn_blocking(|| {
            BSKY_PLUGINS
                .iter()
                .map(|package| {
                    sluice_plugin_host::guest_build::build(package)
                        .map_err(|error| anyhow::anyhow!("building {package}: {error}"))
                })
                .collect::<anyhow::Result<Vec<PathBuf>>>()
        })
        .await
        .context("the plugin build panicked")??,
    };
    if files.is_empty() {
        bail!("no plugin components");
    }
    let engine = PluginEngine::new(EngineConfig::default())?;
    let set = PluginFiles {
        builtin: files,
        ..PluginFiles::default()
    }
    .load(&engine)
    .await?;
    report.figure("plugins", set.plugins().len() as f64, "plugins");
    report.seconds("plugins_build_and_compile_time", started.elapsed());
    Ok(Arc::new(set))
}

/// Runs the indexers until the stream is consumed; prints the figures; returns the time taken.
#[allow(clippy::too_many_arguments)]
async fn index(
    args: &IndexThroughputArgs,
    keys: &Keys,
    schema: &str,
    filled: &fill::Filled,
    plugins: Arc<PluginSet>,
    recorder: &BenchRecorder,
    conn: &mut ConnectionManager,
    pool: &sqlx::PgPool,
    report: &mut Report,
) -> anyhow::Result<Duration> {
    let provider = Arc::new(StaticPlugins(plugins));
    let handles = Arc::new(FixedHandles(filled.handles.clone()));
    let indexers = args.indexers.max(1);
    let concurrency = args.concurrency.max(1);
    report.figure("index_indexers", indexers as f64, "indexers");
    report.figure("index_concurrency", concurrency as f64, "workers");
    report.figure("index_batch_size", args.batch_size as f64, "entries");
    report.figure("index_read_ahead", args.read_ahead as f64, "entries");

    let monitor = ConsumerHandle::new(
        conn.clone(),
        ConsumerConfig::new(&keys.group, "bench-monitor", [&keys.backfill]),
    );
    let emulate = !args.no_autovacuum && !maintenance::server_autovacuum(pool).await?;
    if emulate {
        tracing::info!("the server runs without autovacuum: the bench does what it would do");
    }
    report.figure("autovacuum_stand_in", if emulate { 1.0 } else { 0.0 }, "");
    let maintenance_stop = CancellationToken::new();
    // Stops it on every way out, errors included.
    let _maintenance_guard = maintenance_stop.clone().drop_guard();
    let maintenance = emulate.then(|| {
        tokio::spawn(maintenance::run(
            args.database_url.clone(),
            schema.to_owned(),
            Duration::from_secs(args.autovacuum_naptime.max(1)),
            maintenance_stop.clone(),
        ))
    });
    let cpu_before = CpuTimes::now();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..indexers {
        let mut store = store_config(&args.database_url, schema, args.database_connections.max(2))?;
        store.application_name = "sluice-bench-indexer".to_owned();
        let mut config = IndexerConfig::new(
            &args.redis_url,
            store,
            PluginSource::Provider(provider.clone()),
        );
        config.plugin_schema_prefix = format!("{schema}_");
        config.streams = vec![keys.live.clone(), keys.backfill.clone()];
        config.group = keys.group.clone();
        config.label_stream = Some(keys.labels.clone());
        config.label_group = keys.label_group.clone();
        config.consumer = format!("bench-{n}");
        config.concurrency = concurrency;
        config.batch_size = args.batch_size.max(1);
        config.read_ahead = args.read_ahead;
        config.handles = HandleResolution::Source(handles.clone());
        tasks.spawn(sluice_indexer::run(config, shutdown.clone()));
    }

    let total = filled.entries;
    // When a quarter, half, three quarters of the entries were done.
    let mut quarters: Vec<Duration> = Vec::new();
    let mut peak_rss = 0u64;
    let mut waits = BackendStates::default();
    let mut tick = 0u64;
    let mut first_batch: Option<Duration> = None;
    let mut last_left = u64::MAX;
    let mut last_move = Instant::now();
    let mut last_log = (Instant::now(), 0u64);
    let elapsed = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tick += 1;
        if tick.is_multiple_of(2) {
            waits.sample(pool).await;
        }
        peak_rss = peak_rss.max(procstat::rss_kib().unwrap_or(0));
        if first_batch.is_none() && recorder.counter(m::BATCHES, &[]) > 0 {
            first_batch = Some(started.elapsed());
        }
        let left: u64 = redis::cmd("XLEN")
            .arg(&keys.backfill)
            .query_async(conn)
            .await?;
        // Until the group exists (an indexer starting), the pending count is an error.
        let pending = monitor.pending_count(&keys.backfill).await.ok();
        let done = total.saturating_sub(left);
        while quarters.len() < 3 && done * 4 >= total * (quarters.len() as u64 + 1) {
            quarters.push(started.elapsed());
        }
        if left == 0 && pending == Some(0) {
            break started.elapsed();
        }
        if left != last_left {
            last_left = left;
            last_move = Instant::now();
        } else if last_move.elapsed() > Duration::from_secs(args.stall_secs) {
            shutdown.cancel();
            bail!(
                "the stream has not moved for {} s ({left} entries left)",
                args.stall_secs
            );
        }
        if let Some(stopped) = tasks.try_join_next() {
            shutdown.cancel();
            stopped.context("an indexer panicked")??;
            bail!("an indexer stopped");
        }
        if last_log.0.elapsed() >= Duration::from_secs(10) {
            let done = total.saturating_sub(left);
            let rate = (done - last_log.1) as f64 / last_log.0.elapsed().as_secs_f64();
            tracing::info!(
                entries_left = left,
                pending = pending.unwrap_or(0),
                entries_per_s = rate.round(),
                elapsed_s = started.elapsed().as_secs(),
                "indexing"
            );
            last_log = (Instant::now(), done);
        }
    };
    let cpu = CpuTimes::now().since(&cpu_before);
    shutdown.cancel();
    maintenance_stop.cancel();
    if let Some(task) = maintenance {
        let done = task.await.context("the maintenance task panicked")??;
        report.figure("autovacuum_vacuums", done.vacuums as f64, "tables");
        report.figure("autovacuum_analyzes", done.analyzes as f64, "tables");
        report.seconds("autovacuum_time", done.busy);
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("an indexer panicked")??;
    }

    report.seconds("index_time", elapsed);
    if let Some(first) = first_batch {
        report.seconds("index_time_to_first_batch", first);
    }
    // The rate per quarter of the stream: a rate falling as the tables grow shows here.
    quarters.push(elapsed);
    let mut previous = Duration::ZERO;
    for (n, at) in quarters.iter().enumerate() {
        report.rate(
            &format!("index_entries_rate_q{}", n + 1),
            total as f64 / 4.0,
            at.saturating_sub(previous),
            "entries/s",
        );
        previous = *at;
    }
    report.rate(
        "index_records_rate",
        filled.records as f64,
        elapsed,
        "records/s",
    );
    report.rate(
        "index_entries_rate",
        filled.entries as f64,
        elapsed,
        "entries/s",
    );
    for (outcome, count) in recorder.counter_by(m::RECORD_OPS, "outcome") {
        report.figure(&format!("index_record_ops_{outcome}"), count as f64, "ops");
    }
    for (outcome, count) in recorder.counter_by(m::ENTRIES, "outcome") {
        report.figure(&format!("index_entries_{outcome}"), count as f64, "entries");
    }
    for (cause, count) in recorder.counter_by(m::RETRIES, "cause") {
        report.figure(
            &format!("index_batch_failures_{cause}"),
            count as f64,
            "attempts",
        );
    }
    let batches = recorder.counter(m::BATCHES, &[]);
    report.figure("index_batches", batches as f64, "batches");
    for (figure, counter, unit) in [
        ("index_statements", m::STATEMENTS, "statements"),
        ("index_rows_written", m::ROWS, "rows"),
        ("index_aggregate_keys", m::AGGREGATE_KEYS, "keys"),
        ("index_events", m::EVENTS, "events"),
        ("index_replays", m::REPLAYS, "replays"),
        ("index_deferred", m::DEFERRED, "ops"),
    ] {
        report.figure(figure, recorder.counter(counter, &[]) as f64, unit);
    }
    let (_, batch_seconds) = recorder.histogram(m::BATCH_SECONDS);
    if batches > 0 {
        report.figure("index_batch_mean_time", batch_seconds / batches as f64, "s");
    }
    report.figure("index_peak_rss", peak_rss as f64 / 1024.0, "MiB");

    let wall = elapsed.as_secs_f64().max(1e-9);
    report.figure("cpu_indexer", cpu.own, "s");
    report.figure("cpu_postgres", cpu.postgres, "s");
    report.figure("cpu_redis", cpu.redis, "s");
    report.figure("cpu_indexer_cores", cpu.own / wall, "cores");
    report.figure("cpu_postgres_cores", cpu.postgres / wall, "cores");
    report.figure(
        "cpu_machine_busy",
        cpu.machine_busy / cpu.machine_total.max(1e-9) * 100.0,
        "%",
    );
    report.figure(
        "cpu_machine_iowait",
        cpu.machine_iowait / cpu.machine_total.max(1e-9) * 100.0,
        "%",
    );
    report.figure(
        "cpu_other",
        (cpu.machine_busy - cpu.own - cpu.postgres - cpu.redis).max(0.0),
        "s",
    );
    phases(recorder, indexers * concurrency, elapsed, report);
    waits.print(report);
    Ok(elapsed)
}

/// What the indexers' Postgres connections are doing, sampled from `pg_stat_activity` every
/// 200 ms: per state (running, waiting on a lock and which, in a transaction waiting for the
/// indexer, idle), the mean number of connections in it.
#[derive(Debug, Default)]
struct BackendStates {
    samples: u64,
    counts: HashMap<String, u64>,
}

impl BackendStates {
    async fn sample(&mut self, pool: &sqlx::PgPool) {
        let rows: Result<Vec<(String, i64)>, _> = sqlx::query_as(
            "SELECT CASE
                 WHEN state = 'active' AND wait_event IS NULL THEN 'running'
                 WHEN state = 'active' THEN lower(wait_event_type || '_' || wait_event)
                 WHEN state = 'idle in transaction' THEN 'in_transaction_waiting_for_indexer'
                 ELSE 'idle'
             END, count(*)
             FROM pg_stat_activity WHERE application_name = 'sluice-bench-indexer'
             GROUP BY 1",
        )
        .fetch_all(pool)
        .await;
        if let Ok(rows) = rows {
            self.samples += 1;
            for (state, count) in rows {
                *self.counts.entry(state).or_default() += u64::try_from(count).unwrap_or(0);
            }
        }
    }

    fn print(&self, report: &mut Report) {
        let mut counts: Vec<(&String, &u64)> = self.counts.iter().collect();
        counts.sort_by_key(|(state, count)| (std::cmp::Reverse(**count), (*state).clone()));
        for (state, count) in counts {
            report.figure(
                &format!("pg_connections_{state}"),
                *count as f64 / self.samples.max(1) as f64,
                "connections",
            );
        }
    }
}

/// Prints what Postgres counted on the schema's tables (`pg_stat_user_tables`; the indexers'
/// connections are closed, so their counts are in): tuples written (rolled-back attempts
/// included), dead tuples, and the tables read most by sequential scans.
async fn table_statistics(
    pool: &sqlx::PgPool,
    schema: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    type Stats = (
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let mut rows: Vec<Stats> = sqlx::query_as(
        "SELECT relname::text, seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_del,
                n_dead_tup
         FROM pg_stat_user_tables WHERE schemaname = $1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    let sum = |pick: fn(&Stats) -> Option<i64>| -> f64 {
        rows.iter().filter_map(pick).sum::<i64>() as f64
    };
    report.figure("pg_tuples_inserted", sum(|r| r.4), "tuples");
    report.figure("pg_tuples_updated", sum(|r| r.5), "tuples");
    report.figure("pg_tuples_deleted", sum(|r| r.6), "tuples");
    report.figure("pg_dead_tuples", sum(|r| r.7), "tuples");
    report.figure("pg_index_scans", sum(|r| r.3), "scans");
    report.figure("pg_seq_scans", sum(|r| r.1), "scans");
    report.figure("pg_seq_tuples_read", sum(|r| r.2), "tuples");
    rows.sort_by_key(|r| std::cmp::Reverse(r.2.unwrap_or(0)));
    for row in rows.iter().take(5).filter(|r| r.2.unwrap_or(0) > 0) {
        report.figure(
            &format!("pg_seq_tuples_read_{}", row.0),
            row.2.unwrap_or(0) as f64,
            "tuples",
        );
        report.figure(
            &format!("pg_seq_scans_{}", row.0),
            row.1.unwrap_or(0) as f64,
            "scans",
        );
    }
    Ok(())
}

/// Prints the per-phase times (worker-seconds) and their share of the workers' time.
fn phases(recorder: &BenchRecorder, workers: usize, elapsed: Duration, report: &mut Report) {
    let by: HashMap<String, (u64, f64)> = recorder.histogram_by(m::PHASE_SECONDS, "phase");
    let get = |phase: &str| by.get(phase).map_or(0.0, |(_, sum)| *sum);
    let worker_time = workers as f64 * elapsed.as_secs_f64();
    let inside = [
        "load",
        "handles",
        "plugins",
        "lookups",
        "write_records",
        "write_rows",
        "deferred",
        "awaits",
        "awaits_lock",
        "replay",
        "aggregates",
        "actor_sync",
        "commit",
    ];
    let accounted: f64 = inside.iter().map(|phase| get(phase)).sum();
    let mut lines: Vec<(String, f64)> = inside
        .iter()
        .map(|phase| ((*phase).to_owned(), get(phase)))
        .collect();
    lines.push((
        "index_other".to_owned(),
        (get("index") - accounted).max(0.0),
    ));
    // Attempts that failed (retried, or split to isolate an entry): inside the phases above.
    lines.push(("failed_attempts".to_owned(), get("failed")));
    for phase in ["parse", "settle", "idle"] {
        lines.push((phase.to_owned(), get(phase)));
    }
    report.figure("phase_worker_time", worker_time, "s");
    for (phase, seconds) in lines {
        report.figure(&format!("phase_{phase}"), seconds, "s");
        report.figure(
            &format!("phase_{phase}_share"),
            seconds / worker_time.max(1e-9) * 100.0,
            "%",
        );
    }
    // The readers' time (one per indexer, beside the workers).
    report.figure("phase_reader_read", get("read"), "s");
    report.figure("phase_reader_dispatch", get("dispatch"), "s");
}

/// Deletes every key under `prefix`.
async fn delete_keys(conn: &mut ConnectionManager, prefix: &str) -> anyhow::Result<()> {
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).exec_async(conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Drops the bench's schemas (and plugin schemas under its prefix).
async fn drop_schemas(database_url: &str, schema: &str, copy_schema: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    let like = format!("{schema}%");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1")
            .bind(&like)
            .fetch_all(&mut conn)
            .await?;
    for name in names.iter().map(String::as_str).chain([copy_schema]) {
        let name = SchemaName::new(name)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            name.quoted()
        )))
        .execute(&mut conn)
        .await?;
    }
    conn.close().await?;
    Ok(())
}
