//! What the ingester reads, where it writes, and how strictly it checks: plain fields that the
//! `sluice ingester` command fills from its flags and environment.

use std::time::Duration;

use sluice_identity::IdentityConfig;
use sluice_queue::names;

use crate::backoff::BackoffPolicy;
use crate::collections::CollectionSource;

/// The default high-water mark of every output stream (the reference's).
pub const DEFAULT_HIGH_WATER_MARK: u64 = 100_000;

/// One output stream and the backlog at which its sources pause.
#[derive(Debug, Clone)]
pub struct OutputStream {
    /// The stream's key.
    pub name: String,
    /// Sources feeding it stop reading while `XLEN` is at or above this.
    pub high_water_mark: u64,
}

impl OutputStream {
    /// A stream with the default high-water mark.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            high_water_mark: DEFAULT_HIGH_WATER_MARK,
        }
    }
}

/// Which checks run on `subscribeRepos` events (all on by default).
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Check each commit's signature against the account's current signing key (re-resolved
    /// once on a mismatch before the event is rejected).
    pub signatures: bool,
    /// Sync 1.1: a commit's ops must lead back to its `prevData`, and `prevData` must be the
    /// last data root seen for the repo; otherwise the repo is queued for a fresh backfill.
    pub sync_chain: bool,
    /// Check label signatures against the labeler's `#atproto_label` key.
    pub labels: bool,
    /// How many accounts' chain state each host keeps in memory (oldest forgotten first; a
    /// forgotten account's next commit is taken as its first).
    pub max_tracked_repos: usize,
    /// Threads that decode and verify events (signature checks are ~3–4k/s per core).
    pub workers: usize,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            signatures: true,
            sync_chain: true,
            labels: true,
            max_tracked_repos: 500_000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Everything the ingester needs.
#[derive(Debug, Clone)]
pub struct IngesterConfig {
    /// Redis URL (`redis://…`).
    pub redis_url: String,
    /// Relays or PDSes: each is listed (`listRepos`) and followed (`subscribeRepos`).
    pub hosts: Vec<String>,
    /// Labelers followed with `subscribeLabels`.
    pub labeler_hosts: Vec<String>,
    /// Live firehose events (`firehose_live`).
    pub firehose_stream: OutputStream,
    /// Repos to backfill (`repo_backfill`).
    pub repo_stream: OutputStream,
    /// Labels (`label_live`).
    pub label_stream: OutputStream,
    /// How often a source re-checks its output stream's length (and polls while it is full).
    pub backpressure_check: Duration,
    /// Checks.
    pub verify: VerifyConfig,
    /// Which collections' ops are queued.
    pub collections: CollectionSource,
    /// How often a finished repo listing is run again to pick up new repos (`None`: never).
    pub rescan_interval: Option<Duration>,
    /// Repos asked for per `listRepos` page.
    pub list_repos_page_size: u32,
    /// Attempts at one `listRepos` page before it is skipped (logged and counted).
    pub list_repos_attempts: u32,
    /// Spacing of reconnects and retries.
    pub backoff: BackoffPolicy,
    /// A connection with no message for this long is pinged, and dropped after as long again.
    pub idle_timeout: Duration,
    /// Most events written to Redis in one pipeline.
    pub batch_size: usize,
    /// Most events read from one host but not yet written (bounds memory; when reached, the
    /// socket is no longer read).
    pub max_in_flight: usize,
    /// Longest length (approximate) of a dead-letter stream.
    pub dead_letter_max_len: u64,
    /// DID resolution.
    pub identity: IdentityConfig,
    /// Key prefix of cached DID documents (the reference's `identity:`).
    pub identity_cache_prefix: String,
    /// How often the status hash is updated.
    pub status_interval: Duration,
    /// The status hash.
    pub status_key: String,
    /// Timeout of one HTTP request (`listRepos`).
    pub http_timeout: Duration,
}

impl IngesterConfig {
    /// A configuration with defaults for `hosts`, writing to `redis_url`.
    pub fn new(redis_url: impl Into<String>, hosts: Vec<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            hosts,
            labeler_hosts: Vec::new(),
            firehose_stream: OutputStream::new(names::FIREHOSE_LIVE),
            repo_stream: OutputStream::new(names::REPO_BACKFILL),
            label_stream: OutputStream::new(names::LABEL_LIVE),
            backpressure_check: sluice_queue::backlog::DEFAULT_CHECK_INTERVAL,
            verify: VerifyConfig::default(),
            collections: CollectionSource::KeepAll,
            rescan_interval: Some(Duration::from_secs(6 * 3600)),
            list_repos_page_size: 1000,
            list_repos_attempts: 5,
            backoff: BackoffPolicy::default(),
            idle_timeout: Duration::from_secs(60),
            batch_size: 500,
            max_in_flight: 4096,
            dead_letter_max_len: 100_000,
            identity: IdentityConfig::default(),
            identity_cache_prefix: sluice_identity::cache::KEY_PREFIX.to_owned(),
            status_interval: Duration::from_secs(5),
            status_key: crate::status::INGESTER_STATUS_KEY.to_owned(),
            http_timeout: Duration::from_secs(30),
        }
    }
}
