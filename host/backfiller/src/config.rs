//! What the backfiller reads, where it writes and how hard it may push a host.

use std::path::PathBuf;
use std::time::Duration;

use sluice_identity::IdentityConfig;
use sluice_ingester::OutputStream;
use sluice_ingester::backoff::BackoffPolicy;
use sluice_queue::names;

use crate::rate::RateBudget;

/// Everything the backfiller needs.
#[derive(Debug, Clone)]
pub struct BackfillerConfig {
    /// Redis URL (`redis://…`).
    pub redis_url: String,
    /// Repos to backfill (`repo_backfill`).
    pub repo_stream: String,
    /// Where records go (`firehose_backfill`), with its high-water mark.
    pub firehose_stream: OutputStream,
    /// The consumer group (`repo_backfill_group`).
    pub group: String,
    /// This consumer's name, stable across restarts.
    pub consumer: String,
    /// Repos backfilled at once.
    pub concurrency: usize,
    /// An entry pending this long without a heartbeat is taken over from its (dead) consumer.
    pub claim_min_idle: Duration,
    /// Deliveries after which a failing repo goes to `<repo_stream>:dead`.
    pub max_deliveries: u64,
    /// Records per chunk; each chunk is followed by a `repo` event.
    pub chunk_size: usize,
    /// Longest silence while reading a `getRepo` response.
    pub read_timeout: Duration,
    /// Longest time one `getRepo` may take in all.
    pub max_fetch_duration: Duration,
    /// Attempts at one `getRepo` within one delivery.
    pub fetch_attempts: u32,
    /// Spacing of the attempts.
    pub backoff: BackoffPolicy,
    /// Requests per host.
    pub rate: RateBudget,
    /// Bytes of a repo's blocks held in memory before spilling to disk.
    pub memory_budget: usize,
    /// Where spill files go (default: the system's temporary directory).
    pub spill_directory: Option<PathBuf>,
    /// DID resolution.
    pub identity: IdentityConfig,
    /// Key prefix of cached DID documents (the reference's `identity:`).
    pub identity_cache_prefix: String,
    /// How often the status hash is updated.
    pub status_interval: Duration,
    /// The status hash.
    pub status_key: String,
}

impl BackfillerConfig {
    /// A configuration with defaults, for consumer `consumer`.
    pub fn new(redis_url: impl Into<String>, consumer: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            repo_stream: names::REPO_BACKFILL.to_owned(),
            firehose_stream: OutputStream::new(names::FIREHOSE_BACKFILL),
            group: names::REPO_BACKFILL_GROUP.to_owned(),
            consumer: consumer.into(),
            concurrency: 2,
            claim_min_idle: Duration::from_secs(120),
            max_deliveries: 5,
            chunk_size: 500,
            read_timeout: Duration::from_secs(60),
            max_fetch_duration: Duration::from_secs(1800),
            fetch_attempts: 3,
            backoff: BackoffPolicy {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(30),
            },
            rate: RateBudget::default(),
            memory_budget: sluice_atproto::repo::DEFAULT_MEMORY_BUDGET,
            spill_directory: None,
            identity: IdentityConfig::default(),
            identity_cache_prefix: sluice_identity::cache::KEY_PREFIX.to_owned(),
            status_interval: Duration::from_secs(5),
            status_key: crate::BACKFILLER_STATUS_KEY.to_owned(),
        }
    }
}
