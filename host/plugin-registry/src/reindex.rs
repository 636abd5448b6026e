//! `sluice plugin reindex NAME`: replays the stored records of a plugin's collections through the
//! version the indexers run now, so a fixed or newly installed plugin covers history without a
//! new backfill.
//!
//! The records are read from the `record` table in pages (keyset pagination on `uri`,
//! tombstones skipped) and queued as re-index requests in `firehose_reindex`
//! ([`sluice_indexer::reindex`] describes the entry and what the indexer does with it). The
//! indexers read that stream last, so live indexing goes on undisturbed; queueing pauses while the
//! stream holds more than `max_backlog` entries. Progress — queued, done (taken off the stream by
//! the indexers), parked, rate and ETA — is reported while it runs.
//!
//! **Rows that only an older version produced.** A replay re-creates and replaces the plugin's
//! rows for each record, but cannot know about rows an older version wrote that the current one
//! no longer writes (another key, a record the fix now refuses). `truncate` empties the plugin's
//! own tables (schema `plugin_<name>`) before the replay, so that afterwards they hold exactly what
//! the current version produces; until the replay is through, readers see them partly filled.
//! Built-in plugins write core tables shared with others and are never truncated.
//!
//! A run can be resumed after an interruption with `after` (the last URI it reported).

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use sluice_indexer::reindex::{REINDEX_STREAM, ReindexEvent};
use sluice_plugin_host::types::{PluginInfo, TableOwner};
use sluice_queue::StreamPayload;
use sluice_queue::dead_letter_stream;
use sqlx::AssertSqlSafe;

use crate::error::RegistryError;
use crate::registry::{Registry, quote_ident};

/// How a re-index runs.
#[derive(Debug, Clone)]
pub struct ReindexOptions {
    /// The stream requests are queued in (`firehose_reindex`).
    pub stream: String,
    /// Records read and queued at a time.
    pub page: usize,
    /// Queueing pauses while the stream holds more entries than this.
    pub max_backlog: u64,
    /// Empty the plugin's own tables first (see the module documentation).
    pub truncate: bool,
    /// Resume after this URI (the last one a previous run reported).
    pub after: Option<String>,
    /// After queueing everything, wait until the indexers have taken it all.
    pub wait: bool,
    /// How often progress is reported.
    pub progress_every: Duration,
}

impl Default for ReindexOptions {
    fn default() -> Self {
        Self {
            stream: REINDEX_STREAM.to_owned(),
            page: 1000,
            max_backlog: 50_000,
            truncate: false,
            after: None,
            wait: true,
            progress_every: Duration::from_secs(2),
        }
    }
}

/// Where a re-index stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ReindexProgress {
    /// Live records of the plugin's collections when the run started (after `after`).
    pub total: u64,
    /// Requests queued so far.
    pub queued: u64,
    /// Requests the indexers took off the stream (indexed, skipped or parked).
    pub done: u64,
    /// Requests parked in the stream's dead letters since the start.
    pub parked: u64,
    /// The last URI queued (resume with it as `after`).
    pub last_uri: Option<String>,
    /// Time since the start.
    pub elapsed: Duration,
    /// Whether everything is queued.
    pub all_queued: bool,
}

impl ReindexProgress {
    /// Requests done per second since the start.
    pub fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.done as f64 / seconds
        } else {
            0.0
        }
    }

    /// The time left at the current rate, when there is one.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        let left = self.total.saturating_sub(self.done);
        (rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / rate))
    }
}

impl std::fmt::Display for ReindexProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} queued, {} done, {} parked, {:.0}/s",
            self.queued,
            self.total,
            self.done,
            self.parked,
            self.rate()
        )?;
        match self.eta() {
            Some(eta) if self.done < self.total => write!(f, ", ETA {}s", eta.as_secs()),
            _ => Ok(()),
        }
    }
}

/// The stream's length, and that of its dead letters, when the run started.
struct Baseline {
    stream: u64,
    dead: u64,
}

/// Runs a re-index of plugin `name` (see the module documentation). `progress` is called every
/// `progress_every` and once at the end, with the final state (also returned).
pub async fn reindex(
    registry: &Registry,
    redis: &mut ConnectionManager,
    name: &str,
    options: &ReindexOptions,
    progress: &mut dyn FnMut(&ReindexProgress),
) -> Result<ReindexProgress, RegistryError> {
    let plugin: Option<(bool, sqlx::types::Json<PluginInfo>)> =
        sqlx::query_as("SELECT builtin, describe FROM sluice_plugin WHERE name = $1")
            .bind(name)
            .fetch_optional(registry.pool())
            .await?;
    let Some((builtin, sqlx::types::Json(info))) = plugin else {
        return Err(RegistryError::NotInstalled(name.to_owned()));
    };
    if options.truncate {
        truncate(registry, name, builtin, &info).await?;
    }
    let collections = info.collections.clone();
    let after = options.after.clone().unwrap_or_default();
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM record
         WHERE uri > $1 AND json <> '' AND split_part(uri, '/', 4) = ANY($2)",
    )
    .bind(&after)
    .bind(&collections)
    .fetch_one(registry.pool())
    .await?;

    let started = Instant::now();
    let baseline = Baseline {
        stream: stream_len(redis, &options.stream).await?,
        dead: stream_len(redis, &dead_letter_stream(&options.stream)).await?,
    };
    let mut state = ReindexProgress {
        total: u64::try_from(total).unwrap_or(0),
        queued: 0,
        done: 0,
        parked: 0,
        last_uri: options.after.clone(),
        elapsed: Duration::ZERO,
        all_queued: false,
    };
    let mut last_report = Instant::now();
    let mut cursor = after;
    loop {
        // Back-pressure: leave the indexers no more than `max_backlog` requests.
        loop {
            let backlog = observe(redis, options, &baseline, started, &mut state).await?;
            if backlog < options.max_backlog {
                break;
            }
            report(progress, &state, options, &mut last_report);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let page: Vec<(String, String)> = sqlx::query_as(
            "SELECT uri, did FROM record
             WHERE uri > $1 AND json <> '' AND split_part(uri, '/', 4) = ANY($2)
             ORDER BY uri LIMIT $3",
        )
        .bind(&cursor)
        .bind(&collections)
        .bind(i64::try_from(options.page.max(1)).unwrap_or(i64::MAX))
        .fetch_all(registry.pool())
        .await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        cursor = last.clone();
        let mut pipe = redis::pipe();
        for (uri, did) in &page {
            let json = ReindexEvent::new(did.as_str(), uri.as_str())
                .to_json()
                .map_err(|error| RegistryError::Task(error.to_string()))?;
            pipe.cmd("XADD")
                .arg(&options.stream)
                .arg("*")
                .arg(ReindexEvent::FIELD)
                .arg(json)
                .ignore();
        }
        pipe.query_async::<()>(redis).await?;
        state.queued += page.len() as u64;
        state.last_uri = Some(cursor.clone());
        report(progress, &state, options, &mut last_report);
    }
    state.all_queued = true;
    // More may have been written meanwhile than counted at the start.
    state.total = state.total.max(state.queued);
    if options.wait {
        loop {
            observe(redis, options, &baseline, started, &mut state).await?;
            if state.done >= state.queued {
                break;
            }
            report(progress, &state, options, &mut last_report);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    } else {
        observe(redis, options, &baseline, started, &mut state).await?;
    }
    progress(&state);
    Ok(state)
}

/// Updates `done`, `parked` and `elapsed` from the streams' lengths (the indexers delete what
/// they acknowledge, and what they park after copying it to the dead letters). Returns the
/// stream's length: the requests not done yet.
async fn observe(
    redis: &mut ConnectionManager,
    options: &ReindexOptions,
    baseline: &Baseline,
    started: Instant,
    state: &mut ReindexProgress,
) -> Result<u64, RegistryError> {
    let len = stream_len(redis, &options.stream).await?;
    let dead = stream_len(redis, &dead_letter_stream(&options.stream)).await?;
    state.done = (baseline.stream + state.queued)
        .saturating_sub(len)
        .min(state.queued);
    state.parked = dead.saturating_sub(baseline.dead);
    state.elapsed = started.elapsed();
    Ok(len)
}

fn report(
    progress: &mut dyn FnMut(&ReindexProgress),
    state: &ReindexProgress,
    options: &ReindexOptions,
    last: &mut Instant,
) {
    if last.elapsed() >= options.progress_every {
        *last = Instant::now();
        progress(state);
    }
}

async fn stream_len(redis: &mut ConnectionManager, stream: &str) -> Result<u64, RegistryError> {
    Ok(redis::cmd("XLEN").arg(stream).query_async(redis).await?)
}

/// Empties the plugin's own tables (all of them at once, so counts and counted rows stay
/// consistent).
async fn truncate(
    registry: &Registry,
    name: &str,
    builtin: bool,
    info: &PluginInfo,
) -> Result<(), RegistryError> {
    if builtin {
        return Err(RegistryError::TruncateBuiltin(name.to_owned()));
    }
    let schema = registry.plugin_schema(name);
    let declared: Vec<String> = info
        .tables
        .iter()
        .filter(|table| table.owner == TableOwner::Plugin)
        .map(|table| table.name.clone())
        .collect();
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename = ANY($2)
         ORDER BY tablename",
    )
    .bind(&schema)
    .bind(&declared)
    .fetch_all(registry.pool())
    .await?;
    if existing.is_empty() {
        return Ok(());
    }
    let tables: Vec<String> = existing
        .iter()
        .map(|table| format!("{}.{}", quote_ident(&schema), quote_ident(table)))
        .collect();
    sqlx::raw_sql(AssertSqlSafe(format!("TRUNCATE {}", tables.join(", "))))
        .execute(registry.pool())
        .await?;
    tracing::info!(plugin = name, tables = ?existing, "plugin tables truncated before the re-index");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rate_and_eta() {
        let state = ReindexProgress {
            total: 1000,
            queued: 600,
            done: 200,
            parked: 1,
            last_uri: None,
            elapsed: Duration::from_secs(4),
            all_queued: false,
        };
        assert!((state.rate() - 50.0).abs() < 1e-9);
        assert_eq!(state.eta(), Some(Duration::from_secs(16)));
        assert_eq!(
            state.to_string(),
            "600/1000 queued, 200 done, 1 parked, 50/s, ETA 16s"
        );
        let idle = ReindexProgress { done: 0, ..state };
        assert_eq!(idle.eta(), None);
    }
}
