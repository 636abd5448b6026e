//! `sluice ingester`: relays, PDSes and labelers into Redis streams, in the reference AppView's
//! layout (see [`sluice_queue`]).
//!
//! Per host: [`list_repos`] pages `com.atproto.sync.listRepos` into `repo_backfill`, and
//! [`firehose`] follows `com.atproto.sync.subscribeRepos` into `firehose_live`, verifying each
//! event in the [`verify`] pool (signatures against the account's key, the sync 1.1 chain; a
//! gap or a `#sync` queues the repo for a fresh backfill). Per labeler, [`labels`] follows
//! `com.atproto.label.subscribeLabels` into `label_live`.
//!
//! Every source moves its cursor only after Redis confirmed the entries before it
//! ([`writer`]), pauses while its output stream is above its high-water mark, and reconnects
//! with capped, jittered backoff ([`backoff`]). Rejected events go to `<stream>:dead`
//! ([`dead_letter`]); each source reports to the `ingester:status` hash ([`status`]); metrics
//! are named in [`metrics`].

pub mod backoff;
pub mod collections;
pub mod config;
pub mod dead_letter;
pub mod events;
pub mod firehose;
pub mod identity;
pub mod keys;
pub mod labels;
pub mod list_repos;
pub mod metrics;
pub mod status;
pub mod verify;
pub mod websocket;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{IngesterConfig, OutputStream, VerifyConfig};

use crate::collections::CollectionFilter;
use crate::firehose::FirehoseFollower;
use crate::keys::SigningKeys;
use crate::labels::LabelFollower;
use crate::list_repos::RepoLister;
use crate::status::StatusBoard;
use crate::verify::{JudgeSettings, VerifierPool};
use crate::websocket::host_label;

/// How long a resolved signing key is kept in memory.
const KEY_TTL: Duration = Duration::from_secs(3600);
/// Most signing keys kept in memory.
const MAX_KEYS: usize = 1_000_000;
/// Most DID resolutions running at once.
const MAX_CONCURRENT_RESOLUTIONS: usize = 64;

/// Why the ingester could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    /// Nothing to read.
    #[error("no host and no labeler configured")]
    NothingToDo,
    /// Redis could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The identity resolver could not be built.
    #[error("identity: {0}")]
    Identity(#[from] sluice_identity::SetupError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The verification threads could not start.
    #[error("starting the verification threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// Runs the ingester until `shutdown` is cancelled, then lets every source write what it read
/// and returns.
pub async fn run(config: IngesterConfig, shutdown: CancellationToken) -> Result<(), IngesterError> {
    if config.hosts.is_empty() && config.labeler_hosts.is_empty() {
        return Err(IngesterError::NothingToDo);
    }
    sluice_identity::install_crypto_provider();
    let config = Arc::new(config);
    let conn = sluice_queue::connect(&config.redis_url).await?;
    let resolver = identity::resolver(
        &config.identity,
        conn.clone(),
        &config.identity_cache_prefix,
    )?;
    let http = list_repos::http_client(config.http_timeout)?;
    let keys = config.verify.signatures.then(|| {
        SigningKeys::new(
            resolver.clone(),
            KEY_TTL,
            MAX_KEYS,
            MAX_CONCURRENT_RESOLUTIONS,
        )
    });
    let filter = CollectionFilter::start(&config.collections, shutdown.clone());
    let pool = VerifierPool::start(
        config.verify.workers,
        JudgeSettings {
            signatures: config.verify.signatures,
            sync_chain: config.verify.sync_chain,
            max_tracked_repos: config.verify.max_tracked_repos,
        },
        keys.clone(),
        filter,
        tokio::runtime::Handle::current(),
    )?;
    let board = StatusBoard::new();
    tracing::info!(
        hosts = ?config.hosts,
        labelers = ?config.labeler_hosts,
        signatures = config.verify.signatures,
        sync_chain = config.verify.sync_chain,
        "ingester starting"
    );

    let mut tasks = JoinSet::new();
    for (host_index, host) in config.hosts.iter().enumerate() {
        let follower = FirehoseFollower {
            host: host.clone(),
            host_index,
            config: config.clone(),
            conn: conn.clone(),
            pool: pool.clone(),
            keys: keys.clone(),
            status: board.source(format!("firehose:{}", host_label(host))),
        };
        tasks.spawn(follower.run(shutdown.clone()));
        let lister = RepoLister {
            host: host.clone(),
            config: config.clone(),
            conn: conn.clone(),
            http: http.clone(),
            status: board.source(format!("list_repos:{}", host_label(host))),
        };
        tasks.spawn(lister.run(shutdown.clone()));
    }
    for host in &config.labeler_hosts {
        let follower = LabelFollower {
            host: host.clone(),
            config: config.clone(),
            conn: conn.clone(),
            resolver: resolver.clone(),
            status: board.source(format!("labels:{}", host_label(host))),
        };
        tasks.spawn(follower.run(shutdown.clone()));
    }
    drop(pool);
    let publisher = tokio::spawn(board.publish(
        conn.clone(),
        config.status_key.clone(),
        config.status_interval,
        shutdown.clone(),
    ));
    while let Some(finished) = tasks.join_next().await {
        if let Err(error) = finished {
            tracing::error!(%error, "an ingester task failed");
        }
    }
    let _ = publisher.await;
    tracing::info!("ingester stopped");
    Ok(())
}
