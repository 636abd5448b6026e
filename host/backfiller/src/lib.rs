//! `sluice backfiller`: members of one consumer group on `repo_backfill`, each fetching repos
//! whole (`com.atproto.sync.getRepo`) into `firehose_backfill`.
//!
//! Per entry ([`repo::Backfiller::backfill`]): the DID document gives the PDS and the key; the
//! CAR streams into the verifying reader within the host's request budget ([`rate`]), with a
//! timeout and retries ([`fetch`]); the commit signature is checked; records go out in chunks,
//! each followed by a `repo` event, the output backlog checked before each chunk.
//!
//! Outcomes:
//! - done: the entry is acknowledged (`XACK` + `XDEL`);
//! - terminal (repo not found, deactivated, taken down, suspended, deleted, bad signature, …):
//!   recorded in the hash `<repo_stream>:terminal` (field: the DID; value: JSON with `reason`,
//!   `error`, `host`, `at`, `consumer`), then acknowledged;
//! - anything else: left pending; after `claim_min_idle` a reclaim (`XAUTOCLAIM`, by any
//!   member) delivers it again, and on its `max_deliveries`-th failure it is parked in
//!   `<repo_stream>:dead` with its last error.
//!
//! While a repo is being backfilled its entry's idle time is reset every `claim_min_idle / 3`
//! (`XCLAIM … JUSTID`), so a long backfill is never taken over by another member; a member
//! that dies stops the heartbeat and its entries are reclaimed.

pub mod config;
pub mod fetch;
pub mod metrics;
pub mod rate;
pub mod repo;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use sluice_ingester::status::{SourceStatus, StatusBoard};
use sluice_queue::{
    Consumer, ConsumerConfig, ConsumerHandle, Delivery, FailOutcome, RepoToBackfill,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use config::BackfillerConfig;

use crate::fetch::Failure;
use crate::metrics as m;
use crate::rate::HostBudgets;
use crate::repo::{Backfiller, progress_key};

/// The backfillers' status hash (one field per consumer).
pub const BACKFILLER_STATUS_KEY: &str = "backfiller:status";

/// The hash of terminal outcomes of `repo_stream`: `<repo_stream>:terminal`.
pub fn terminal_key(repo_stream: &str) -> String {
    format!("{repo_stream}:terminal")
}

/// Why the backfiller could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillerError {
    /// Redis could not be reached, or the consumer group failed.
    #[error(transparent)]
    Consume(#[from] sluice_queue::ConsumeError),
    /// Redis could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The identity resolver could not be built.
    #[error("identity: {0}")]
    Identity(#[from] sluice_identity::SetupError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Runs the backfiller until `shutdown`; repos in progress are finished first.
pub async fn run(
    config: BackfillerConfig,
    shutdown: CancellationToken,
) -> Result<(), BackfillerError> {
    sluice_identity::install_crypto_provider();
    let config = Arc::new(config);
    let conn = sluice_queue::connect(&config.redis_url).await?;
    let resolver = sluice_ingester::identity::resolver(
        &config.identity,
        conn.clone(),
        &config.identity_cache_prefix,
    )?;
    let backfiller = Backfiller {
        config: config.clone(),
        conn: conn.clone(),
        http: fetch::http_client(config.read_timeout)?,
        resolver,
        budgets: HostBudgets::new(config.rate),
    };
    let concurrency = config.concurrency.max(1);
    let mut consumer_config =
        ConsumerConfig::new(&config.group, &config.consumer, [&config.repo_stream]);
    // One entry per read, taken only when a slot is free: an entry read but not started would
    // idle in this consumer's pending list with no heartbeat, and be reclaimed.
    consumer_config.batch_size = 1;
    consumer_config.claim_min_idle = config.claim_min_idle;
    consumer_config.reclaim_every = (config.claim_min_idle / 4).max(Duration::from_millis(100));
    consumer_config.max_deliveries = config.max_deliveries;
    let mut consumer = Consumer::connect(&config.redis_url, consumer_config).await?;
    let handle = consumer.handle().clone();
    let board = StatusBoard::new();
    let status = board.source(config.consumer.clone());
    status.state("running");
    let publisher = tokio::spawn(board.publish(
        conn.clone(),
        config.status_key.clone(),
        config.status_interval,
        shutdown.clone(),
    ));
    tracing::info!(consumer = %config.consumer, group = %config.group, concurrency, "backfiller starting");

    let slots = Arc::new(Semaphore::new(concurrency));
    let mut workers = JoinSet::new();
    let mut read_errors = sluice_ingester::backoff::Backoff::new(config.backoff);
    while !shutdown.is_cancelled() {
        // Wait for a free slot before reading, so nothing is taken that cannot start.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let deliveries = tokio::select! {
            () = shutdown.cancelled() => break,
            read = consumer.read() => read,
        };
        let deliveries = match deliveries {
            Ok(deliveries) => {
                read_errors.reset();
                deliveries
            }
            Err(error) => {
                tracing::warn!(%error, "reading repo_backfill failed");
                status.error(&error.to_string());
                drop(permit);
                let delay = read_errors.next_delay();
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        // `batch_size` is 1: at most one delivery.
        if let Some(delivery) = deliveries.into_iter().next() {
            let job = Job {
                backfiller: backfiller.clone(),
                handle: handle.clone(),
                conn: conn.clone(),
                status: status.clone(),
            };
            workers.spawn(async move {
                job.process(delivery).await;
                drop(permit);
            });
        }
        while let Some(finished) = workers.try_join_next() {
            if let Err(error) = finished {
                tracing::error!(%error, "a backfill task failed");
            }
        }
    }
    status.state("stopping");
    tracing::info!(
        in_flight = workers.len(),
        "backfiller stopping: finishing repos in progress"
    );
    while let Some(finished) = workers.join_next().await {
        if let Err(error) = finished {
            tracing::error!(%error, "a backfill task failed");
        }
    }
    status.state("stopped");
    let _ = publisher.await;
    Ok(())
}

/// One delivery's processing.
struct Job {
    backfiller: Backfiller,
    handle: ConsumerHandle,
    conn: ConnectionManager,
    status: SourceStatus,
}

impl Job {
    async fn process(self, delivery: Delivery) {
        let repo: RepoToBackfill = match delivery.payload() {
            Ok(repo) => repo,
            Err(error) => {
                tracing::warn!(id = %delivery.id, %error, "unreadable repo_backfill entry: parking it");
                if let Err(error) = self
                    .handle
                    .park(&delivery, "invalid", &error.to_string(), 1)
                    .await
                {
                    tracing::warn!(%error, "could not park an unreadable entry");
                }
                return;
            }
        };
        ::metrics::gauge!(m::BACKFILLER_IN_FLIGHT).increment(1.0);
        let started = Instant::now();
        let heartbeat = self.heartbeat(&delivery);
        let work = self
            .backfiller
            .backfill(&repo)
            .instrument(tracing::info_span!("backfill_repo", did = %repo.did));
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = heartbeat => unreachable_heartbeat(),
        };
        ::metrics::gauge!(m::BACKFILLER_IN_FLIGHT).decrement(1.0);
        ::metrics::histogram!(m::BACKFILLER_REPO_SECONDS).record(started.elapsed().as_secs_f64());
        let result = match outcome {
            Ok(done) => {
                tracing::info!(did = %repo.did, records = done.records, resumed_past = done.resumed_past, rev = %done.rev, ms = started.elapsed().as_millis() as u64, "repo backfilled");
                ::metrics::counter!(m::BACKFILLER_REPOS, "outcome" => "done").increment(1);
                ::metrics::counter!(m::BACKFILLER_CAR_BYTES).increment(done.car_bytes);
                self.status.add("repos_done", 1);
                self.status.add("records", done.records);
                self.finish(&delivery, &repo, None).await
            }
            Err(Failure::Terminal { reason, error }) => {
                tracing::info!(did = %repo.did, reason, error, "repo cannot be backfilled (terminal)");
                ::metrics::counter!(m::BACKFILLER_REPOS, "outcome" => "terminal").increment(1);
                ::metrics::counter!(m::BACKFILLER_TERMINAL, "reason" => reason).increment(1);
                self.status.add("repos_terminal", 1);
                self.finish(&delivery, &repo, Some((reason, &error))).await
            }
            Err(failure @ Failure::Retry { .. }) => {
                self.status.add("repos_failed", 1);
                self.status.error(&format!("{}: {failure}", repo.did));
                match self.handle.fail(&delivery, &failure.to_string()).await {
                    Ok(FailOutcome::DeadLettered { deliveries, .. }) => {
                        tracing::warn!(did = %repo.did, error = %failure, deliveries, "repo backfill failed for good: dead-lettered");
                        ::metrics::counter!(m::BACKFILLER_REPOS, "outcome" => "dead_letter")
                            .increment(1);
                    }
                    Ok(_) => {
                        tracing::warn!(did = %repo.did, error = %failure, "repo backfill failed; it will be retried");
                        ::metrics::counter!(m::BACKFILLER_REPOS, "outcome" => "retry").increment(1);
                    }
                    Err(error) => tracing::warn!(%error, "could not record a failure"),
                }
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::warn!(did = %repo.did, %error, "could not acknowledge a backfilled repo (it will be delivered again)");
        }
    }

    /// Records a terminal outcome (or clears an old one), drops the progress, and acknowledges.
    async fn finish(
        &self,
        delivery: &Delivery,
        repo: &RepoToBackfill,
        terminal: Option<(&'static str, &str)>,
    ) -> Result<(), sluice_queue::ConsumeError> {
        let config = &self.backfiller.config;
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(progress_key(&config.repo_stream, &repo.did))
            .ignore();
        match terminal {
            Some((reason, error)) => {
                let value = serde_json::json!({
                    "reason": reason,
                    "error": error,
                    "host": repo.host,
                    "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "consumer": config.consumer,
                });
                pipe.cmd("HSET")
                    .arg(terminal_key(&config.repo_stream))
                    .arg(&repo.did)
                    .arg(value.to_string())
                    .ignore();
            }
            None => {
                pipe.cmd("HDEL")
                    .arg(terminal_key(&config.repo_stream))
                    .arg(&repo.did)
                    .ignore();
            }
        }
        pipe.exec_async(&mut self.conn.clone()).await?;
        self.handle.ack([delivery]).await?;
        Ok(())
    }

    /// Resets the entry's idle time every `claim_min_idle / 3` so no other member takes it over
    /// while it is being worked on. Never returns.
    async fn heartbeat(&self, delivery: &Delivery) {
        let config = &self.backfiller.config;
        let every = (config.claim_min_idle / 3).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            let kept = self
                .handle
                .keep_pending(&delivery.stream, &[delivery.id.as_str()], Duration::ZERO)
                .await;
            if let Err(error) = kept {
                tracing::debug!(%error, "heartbeat on a pending entry failed");
            }
        }
    }
}

/// The heartbeat future never completes; this satisfies the `select!` arm's type.
fn unreachable_heartbeat() -> Result<repo::Backfilled, Failure> {
    Err(Failure::retry("internal", "heartbeat ended"))
}
