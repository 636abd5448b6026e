//! The indexer process: a reader takes entries from the firehose streams (live first) and queues
//! them by repo for `concurrency` workers (a repo always goes to the same worker, so its
//! operations stay in order; see the `dispatch` module); each worker takes a batch from its queue,
//! indexes it in its own transaction and then acknowledges it. A label reader does the same for
//! `label_live` with one worker.
//!
//! Failure handling, per part of a batch:
//! - an entry that cannot be read, or whose record is invalid, is parked with the reason;
//! - a transient failure (deadlock, lost connection, a concurrent indexer's change) is retried a
//!   few times, then the entries are left pending (`fail`), to be reclaimed and delivered again
//!   (and parked after `max_deliveries`);
//! - a unique violation is retried once with row operations in their exact order;
//! - any other failure is isolated by bisection: halves are indexed separately (by repo, then by
//!   position) until the entry Postgres refuses stands alone, and is parked as poison.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_identity::IdentityResolver;
use sluice_lexicon::Catalog;
use sluice_plugin_host::PluginEngine;
use sluice_queue::{Consumer, ConsumerConfig, ConsumerHandle, Delivery};
use sluice_store::{Store, StoreConfig};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::{
    BatchContext, BatchCounts, BatchOptions, Entry, Park, PluginWorkers, index_batch,
};
use crate::config::{HandleResolution, IndexerConfig, PluginSource};
use crate::dispatch::{Dispatch, DispatchLimits};
use crate::error::{BatchError, PrepareError};
use crate::identity::{HandleSource, RecentlyAnnounced, ResolvedHandles};
use crate::input::{REASON_POISON, Rejection, parse_firehose, parse_label};
use crate::metrics;
use crate::plugins::{PluginProvider, StaticPlugins};
use crate::prepared::{PrepareOptions, PreparedPlugins};

/// Why the indexer stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] sluice_store::StoreError),
    /// Plugins could not be loaded or prepared.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The plugin engine could not be built.
    #[error("plugin engine: {0}")]
    Engine(#[from] sluice_plugin_host::LoadError),
    /// Redis failed.
    #[error("redis: {0}")]
    Queue(#[from] sluice_queue::ConsumeError),
    /// Redis could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The identity resolver could not be built.
    #[error("identity: {0}")]
    Identity(#[from] sluice_identity::SetupError),
}

/// What every worker shares.
struct Shared {
    pool: sqlx::PgPool,
    catalog: Catalog,
    handles: Arc<dyn HandleSource>,
    announced: RecentlyAnnounced,
    options: BatchOptions,
    max_attempts: u32,
}

/// A part of a batch for one worker.
struct Job {
    prepared: Arc<PreparedPlugins>,
    deliveries: Vec<Delivery>,
    read_at: Instant,
}

/// Which stream family a worker reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Firehose,
    Labels,
}

/// Planner settings of the indexer's connections.
///
/// Every statement a batch sends is keyed by the batch's values. While a table is young
/// and has no statistics (before autovacuum first analyzes it), the planner takes
/// `column = ANY($1)` over a non-unique column to match the whole table, so it scans the table
/// and compares every row with each of the batch's thousand values. On `sluice_await` that took
/// about a third of Postgres's time in the first minutes of the bench's backfill, whose rate
/// varied by a quarter with when the first `ANALYZE` came. With sequential scans off the planner
/// takes the index; and it plans no parallel workers, which cost more to start than such a
/// statement takes. A table with no index at all is still scanned, but one whose indexes do not
/// cover the columns a statement filters on is read whole through one of them, which is slower
/// than a scan: plugins' deletes and lookups use declared keys and indexes, and `prepare` warns
/// when one has no matching index. A plugin's migrations run with sequential scans on.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("enable_seqscan", "off"),
    ("max_parallel_workers_per_gather", "0"),
];

/// The indexer's store configuration: `config` with [`SESSION_SETTINGS`].
pub fn indexer_store_config(config: &StoreConfig) -> StoreConfig {
    let mut config = config.clone();
    config.session_settings.extend(
        SESSION_SETTINGS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    config
}

/// Runs the indexer until `shutdown` is cancelled; batches in flight are finished first.
pub async fn run(config: IndexerConfig, shutdown: CancellationToken) -> Result<(), RunError> {
    metrics::describe();
    let store = Store::connect(&indexer_store_config(&config.store)).await?;
    if config.migrate {
        store.migrate().await?;
    }
    let engine = PluginEngine::new(config.engine.clone())?;
    let provider: Arc<dyn PluginProvider> = match &config.plugins {
        PluginSource::Files(files) => Arc::new(StaticPlugins(Arc::new(files.load(&engine).await?))),
        PluginSource::Provider(provider) => Arc::clone(provider),
    };
    let prepare_options = PrepareOptions {
        store_schema: store.schema().as_str().to_owned(),
        plugin_schema_prefix: config.plugin_schema_prefix.clone(),
        allow_plugin_migrations: config.allow_plugin_migrations,
    };
    let mut prepared = Arc::new(
        PreparedPlugins::prepare(store.pool(), provider.current(), &prepare_options).await?,
    );
    tracing::info!(
        plugins = ?prepared.plugins().iter().map(|p| p.label()).collect::<Vec<_>>(),
        "plugins ready"
    );
    provider.running(prepared.set());
    let handles: Arc<dyn HandleSource> = match &config.handles {
        HandleResolution::Network(identity) => {
            let redis = sluice_queue::connect(&config.redis_url).await?;
            Arc::new(ResolvedHandles(IdentityResolver::new(
                identity,
                Some(redis),
            )?))
        }
        HandleResolution::Source(source) => Arc::clone(source),
    };
    let shared = Arc::new(Shared {
        pool: store.pool().clone(),
        catalog: Catalog::builtin(),
        handles,
        announced: RecentlyAnnounced::new(200_000),
        options: config.batch,
        max_attempts: config.max_attempts.max(1),
    });

    let consumer_config = |group: &str, streams: Vec<String>| {
        let mut consumer = ConsumerConfig::new(group, &config.consumer, streams);
        consumer.batch_size = config.batch_size.max(1);
        consumer.block = config.block;
        consumer.claim_min_idle = config.claim_min_idle;
        consumer.max_deliveries = config.max_deliveries;
        consumer
    };
    let mut firehose = Consumer::connect(
        &config.redis_url,
        consumer_config(&config.group, config.streams.clone()),
    )
    .await?;
    let labels = match &config.label_stream {
        Some(stream) => Some(
            Consumer::connect(
                &config.redis_url,
                consumer_config(&config.label_group, vec![stream.clone()]),
            )
            .await?,
        ),
        None => None,
    };

    let mut tasks = JoinSet::new();
    let (prepared_tx, prepared_rx) = tokio::sync::watch::channel(Arc::clone(&prepared));
    let dispatch = Arc::new(Dispatch::new(
        config.concurrency.max(1),
        config.streams.clone(),
        DispatchLimits {
            batch_size: config.batch_size,
            read_ahead: config.read_ahead.max(config.batch_size),
            // Well before another indexer may reclaim what waits here.
            max_wait: config.claim_min_idle / 4,
        },
    ));
    for worker in 0..dispatch.workers() {
        tasks.spawn(worker_loop(
            Arc::clone(&shared),
            firehose.handle().clone(),
            Arc::clone(&dispatch),
            worker,
            prepared_rx.clone(),
        ));
    }
    if let Some(consumer) = labels {
        tasks.spawn(label_loop(
            Arc::clone(&shared),
            consumer,
            prepared_rx,
            shutdown.clone(),
        ));
    }

    let mut last_set = Arc::clone(prepared.set());
    loop {
        // Hot swap between batches.
        let current = provider.current();
        if !Arc::ptr_eq(&current, &last_set) {
            last_set = Arc::clone(&current);
            match PreparedPlugins::prepare(&shared.pool, current, &prepare_options).await {
                Ok(ready) => {
                    prepared = Arc::new(ready);
                    prepared_tx.send_replace(Arc::clone(&prepared));
                    provider.running(prepared.set());
                    ::metrics::counter!(metrics::PLUGIN_SWAPS).increment(1);
                    tracing::info!(
                        plugins = ?prepared.plugins().iter().map(|p| p.label()).collect::<Vec<_>>(),
                        "switched to a new plugin set"
                    );
                }
                Err(error) => {
                    tracing::error!(%error, "the new plugin set cannot be used; keeping the current one");
                }
            }
        }
        let waiting = Instant::now();
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = dispatch.room() => {}
        }
        metrics::phase("dispatch", waiting.elapsed());
        let reading = Instant::now();
        let read = tokio::select! {
            () = shutdown.cancelled() => break,
            read = firehose.read() => read,
        };
        if read.as_ref().is_ok_and(|batch| !batch.is_empty()) {
            metrics::phase("read", reading.elapsed());
        }
        match read {
            Ok(batch) => {
                let workers = dispatch.workers();
                dispatch.push(batch, |delivery| shard_of(delivery, workers));
            }
            Err(error) => {
                tracing::warn!(%error, "reading the streams failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        }
    }
    dispatch.close();
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "an indexer worker panicked");
        }
    }
    store.close().await;
    tracing::info!("indexer stopped");
    Ok(())
}

/// Reads and indexes labels, one batch at a time, with the current plugins.
async fn label_loop(
    shared: Arc<Shared>,
    mut consumer: Consumer,
    prepared: tokio::sync::watch::Receiver<Arc<PreparedPlugins>>,
    shutdown: CancellationToken,
) {
    let queue = consumer.handle().clone();
    let mut workers: Option<PluginWorkers> = None;
    loop {
        let read = tokio::select! {
            () = shutdown.cancelled() => break,
            read = consumer.read() => read,
        };
        let deliveries = match read {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::warn!(%error, "reading the label stream failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if deliveries.is_empty() {
            continue;
        }
        let job = Job {
            prepared: Arc::clone(&prepared.borrow()),
            deliveries,
            read_at: Instant::now(),
        };
        let workers = workers_for(&mut workers, &job.prepared);
        handle_job(&shared, &queue, Family::Labels, workers, job).await;
    }
}

/// The worker of a delivery: by the hash of its repo's DID (entries without one go to 0).
fn shard_of(delivery: &Delivery, shards: usize) -> usize {
    #[derive(serde::Deserialize)]
    struct DidOnly<'a> {
        #[serde(borrow)]
        did: Option<std::borrow::Cow<'a, str>>,
    }
    let did = delivery
        .field("event")
        .and_then(|bytes| serde_json::from_slice::<DidOnly<'_>>(bytes).ok())
        .and_then(|event| event.did);
    match did {
        Some(did) => {
            let mut hasher = DefaultHasher::new();
            did.hash(&mut hasher);
            usize::try_from(hasher.finish() % shards.max(1) as u64).unwrap_or(0)
        }
        None => 0,
    }
}

/// One firehose worker: takes its next batch from the dispatch, indexes it with the plugins
/// current at that moment, and settles it.
async fn worker_loop(
    shared: Arc<Shared>,
    queue: ConsumerHandle,
    dispatch: Arc<Dispatch>,
    worker: usize,
    prepared: tokio::sync::watch::Receiver<Arc<PreparedPlugins>>,
) {
    let mut workers: Option<PluginWorkers> = None;
    let mut waiting = Instant::now();
    while let Some(taken) = dispatch.take(worker).await {
        metrics::phase("idle", waiting.elapsed());
        let job = Job {
            prepared: Arc::clone(&prepared.borrow()),
            deliveries: taken.deliveries,
            read_at: taken.read_at,
        };
        let workers = workers_for(&mut workers, &job.prepared);
        handle_job(&shared, &queue, Family::Firehose, workers, job).await;
        waiting = Instant::now();
    }
}

/// The plugin instances kept in `slot`, replaced when `prepared` is another plugin set.
fn workers_for<'a>(
    slot: &'a mut Option<PluginWorkers>,
    prepared: &Arc<PreparedPlugins>,
) -> &'a mut PluginWorkers {
    let current = match slot.take() {
        Some(existing) if Arc::ptr_eq(existing.prepared(), prepared) => existing,
        _ => PluginWorkers::new(Arc::clone(prepared)),
    };
    slot.insert(current)
}

/// What became of a job's deliveries.
#[derive(Default)]
struct JobOutcome {
    committed: Vec<usize>,
    parked: Vec<Park>,
    failed: Vec<(usize, String)>,
    counts: BatchCounts,
}

async fn handle_job(
    shared: &Shared,
    queue: &ConsumerHandle,
    family: Family,
    workers: &mut PluginWorkers,
    job: Job,
) {
    let parsing = Instant::now();
    let mut entries = Vec::with_capacity(job.deliveries.len());
    let mut outcome = JobOutcome::default();
    for (index, delivery) in job.deliveries.iter().enumerate() {
        let parsed = match family {
            Family::Firehose => parse_firehose(delivery, &shared.catalog, &job.prepared),
            Family::Labels => parse_label(delivery),
        };
        match parsed {
            Ok(item) => entries.push(Entry {
                delivery: index,
                item,
            }),
            Err(Rejection { reason, error }) => outcome.parked.push(Park {
                delivery: index,
                reason,
                error,
            }),
        }
    }
    let indexing = metrics::phase_from("parse", parsing);
    index_isolating(shared, workers, entries, &mut outcome).await;
    let settling = metrics::phase_from("index", indexing);
    settle(queue, &job.deliveries, outcome, job.read_at).await;
    metrics::phase("settle", settling.elapsed());
}

/// Indexes `entries`, splitting what fails for good until the culprit stands alone.
async fn index_isolating(
    shared: &Shared,
    workers: &mut PluginWorkers,
    entries: Vec<Entry>,
    outcome: &mut JobOutcome,
) {
    let ctx = BatchContext {
        pool: &shared.pool,
        handles: shared.handles.as_ref(),
        announced: &shared.announced,
        options: shared.options,
    };
    let mut queue: VecDeque<Vec<Entry>> = VecDeque::from([entries]);
    while let Some(chunk) = queue.pop_front() {
        if chunk.is_empty() {
            continue;
        }
        match index_with_retries(&ctx, workers, &chunk, shared.max_attempts).await {
            Ok(report) => {
                for did in &report.announced {
                    shared.announced.insert(did);
                }
                outcome.committed.extend(chunk.iter().map(|e| e.delivery));
                outcome.parked.extend(report.parked);
                add_counts(&mut outcome.counts, &report.counts);
            }
            Err(error) if error.is_transient() => {
                // Later parts may depend on this one: leave them all for a later delivery.
                let message = error.to_string();
                tracing::warn!(error = %message, entries = chunk.len(), "batch failed; its entries will be delivered again");
                for chunk in std::iter::once(chunk).chain(queue.drain(..)) {
                    outcome
                        .failed
                        .extend(chunk.iter().map(|e| (e.delivery, message.clone())));
                }
            }
            Err(error) => match split(chunk) {
                Ok((first, second)) => {
                    tracing::info!(%error, "batch refused; isolating the entry at fault");
                    queue.push_front(second);
                    queue.push_front(first);
                }
                Err(single) => {
                    tracing::warn!(%error, "an entry Postgres refuses is parked");
                    outcome.parked.extend(single.iter().map(|e| Park {
                        delivery: e.delivery,
                        reason: REASON_POISON,
                        error: error.to_string(),
                    }));
                }
            },
        }
    }
}

/// Halves of a chunk: by repo while it holds several, then by position. `Err` when it holds
/// a single delivery.
#[allow(clippy::result_large_err)]
fn split(chunk: Vec<Entry>) -> Result<(Vec<Entry>, Vec<Entry>), Vec<Entry>> {
    let deliveries: HashSet<usize> = chunk.iter().map(|e| e.delivery).collect();
    if deliveries.len() <= 1 {
        return Err(chunk);
    }
    let mut dids: Vec<Option<&str>> = chunk.iter().map(|e| e.item.did()).collect();
    dids.sort();
    dids.dedup();
    if dids.len() > 1 {
        let first_half: HashSet<Option<String>> = dids
            .iter()
            .take(dids.len() / 2)
            .map(|d| d.map(str::to_owned))
            .collect();
        let (first, second) = chunk
            .into_iter()
            .partition(|e| first_half.contains(&e.item.did().map(str::to_owned)));
        return Ok((first, second));
    }
    let middle = chunk.len() / 2;
    let mut first = chunk;
    let second = first.split_off(middle);
    Ok((first, second))
}

async fn index_with_retries(
    ctx: &BatchContext<'_>,
    workers: &mut PluginWorkers,
    chunk: &[Entry],
    max_attempts: u32,
) -> Result<crate::batch::BatchReport, BatchError> {
    let mut strict = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let started = Instant::now();
        match index_batch(ctx, workers, chunk, strict).await {
            Ok(report) => return Ok(report),
            Err(error) => {
                metrics::phase("failed", started.elapsed());
                ::metrics::counter!(metrics::RETRIES, "cause" => error.kind()).increment(1);
                if error.is_unique_violation() && !strict {
                    tracing::debug!(%error, "unique violation; writing again in exact order");
                    strict = true;
                    continue;
                }
                if !error.is_transient() || attempt >= max_attempts {
                    return Err(error);
                }
                tracing::debug!(%error, attempt, "batch failed; retrying");
                let backoff = Duration::from_millis(20_u64.saturating_mul(1 << attempt.min(8)));
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

fn add_counts(total: &mut BatchCounts, more: &BatchCounts) {
    total.applied += more.applied;
    total.stale += more.stale;
    total.duplicate += more.duplicate;
    total.skipped += more.skipped;
    total.parked += more.parked;
    total.unclaimed += more.unclaimed;
    total.events += more.events;
    total.replays += more.replays;
    total.replays_failed += more.replays_failed;
    total.deferred += more.deferred;
    total.write += more.write;
    total.aggregate_keys += more.aggregate_keys;
}

/// Acknowledges what was committed, parks what must be parked, leaves what failed pending.
async fn settle(
    queue: &ConsumerHandle,
    deliveries: &[Delivery],
    outcome: JobOutcome,
    read_at: Instant,
) {
    let parked: HashSet<usize> = outcome.parked.iter().map(|p| p.delivery).collect();
    for park in &outcome.parked {
        let Some(delivery) = deliveries.get(park.delivery) else {
            continue;
        };
        let count = match queue.pending_info(&delivery.stream, &delivery.id).await {
            Ok(Some(info)) => info.deliveries,
            _ => 1,
        };
        match queue.park(delivery, park.reason, &park.error, count).await {
            Ok(_) => {
                ::metrics::counter!(metrics::PARKED, "reason" => park.reason).increment(1);
                ::metrics::counter!(metrics::ENTRIES, "stream" => delivery.stream.clone(), "outcome" => "parked").increment(1);
            }
            Err(error) => {
                tracing::error!(%error, id = %delivery.id, "could not park an entry; it stays pending");
            }
        }
    }
    let acked: Vec<&Delivery> = outcome
        .committed
        .iter()
        .filter(|index| !parked.contains(index))
        .filter_map(|&index| deliveries.get(index))
        .collect();
    if !acked.is_empty() {
        match queue.ack(acked.iter().copied()).await {
            Ok(_) => {
                for delivery in &acked {
                    ::metrics::counter!(metrics::ENTRIES, "stream" => delivery.stream.clone(), "outcome" => "indexed").increment(1);
                }
            }
            // Committed but not acknowledged: redelivered later, and then a no-op (the guard).
            Err(error) => tracing::error!(%error, "could not acknowledge committed entries"),
        }
    }
    for (index, error) in &outcome.failed {
        let Some(delivery) = deliveries.get(*index) else {
            continue;
        };
        ::metrics::counter!(metrics::ENTRIES, "stream" => delivery.stream.clone(), "outcome" => "failed").increment(1);
        if let Err(queue_error) = queue.fail(delivery, error).await {
            tracing::error!(error = %queue_error, id = %delivery.id, "could not record a failure");
        }
    }
    if !outcome.committed.is_empty() {
        metrics::record_batch(&outcome.counts);
        ::metrics::histogram!(metrics::BATCH_SECONDS).record(read_at.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Item;

    fn entry(delivery: usize, did: &str) -> Entry {
        Entry {
            delivery,
            item: Item::Identity { did: did.into() },
        }
    }

    #[test]
    fn splitting_keeps_repos_together_then_cuts_by_position() {
        let chunk = vec![entry(0, "a"), entry(1, "b"), entry(2, "a"), entry(3, "c")];
        let (first, second) = split(chunk).ok().unwrap();
        let first: Vec<usize> = first.iter().map(|e| e.delivery).collect();
        let second: Vec<usize> = second.iter().map(|e| e.delivery).collect();
        assert_eq!(first, [0, 2], "repo a, in order");
        assert_eq!(second, [1, 3]);

        let (first, second) = split(vec![entry(0, "a"), entry(1, "a"), entry(2, "a")])
            .ok()
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(second.len(), 2);
        assert!(split(vec![entry(5, "a")]).is_err());
    }

    #[test]
    fn shards_follow_the_did() {
        let delivery = |did: &str| Delivery {
            stream: "s".into(),
            id: "1-0".into(),
            fields: vec![(
                "event".into(),
                format!(r#"{{"type":"identity","seq":1,"time":"t","did":"{did}"}}"#).into_bytes(),
            )],
        };
        let a = shard_of(&delivery("did:plc:a"), 4);
        assert_eq!(a, shard_of(&delivery("did:plc:a"), 4));
        assert!(a < 4);
        let spread: HashSet<usize> = (0..50)
            .map(|n| shard_of(&delivery(&format!("did:plc:{n}")), 4))
            .collect();
        assert!(spread.len() > 1, "different repos spread over workers");
        let broken = Delivery {
            stream: "s".into(),
            id: "1-0".into(),
            fields: vec![],
        };
        assert_eq!(shard_of(&broken, 4), 0);
    }
}
