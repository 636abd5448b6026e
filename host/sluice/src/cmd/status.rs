//! `sluice status`: what the pipeline is doing, read from Redis and Postgres, once or every few
//! seconds: repos backfilled of those listed, records in the index and how fast they arrive,
//! the backlog of every stream and its dead letters.
//!
//! Consumers delete what they acknowledge, so a stream's length is its backlog (undelivered
//! plus pending). `entries-added` of `XINFO STREAM` counts every repo ever queued, so repos
//! done = queued − backlog; those that ended with a terminal failure (taken down, deleted, not
//! found…) are counted in the `repo_backfill:terminal` hash.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use redis::aio::ConnectionManager;
use serde::Serialize;
use sluice_store::{SchemaName, Store, StoreConfig};

use super::service::{from_env, split_list};

/// Arguments of `sluice status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Redis: a URL or the reference's `host:port` [fallback: REDIS_HOST; default redis://127.0.0.1:6379].
    #[arg(long, env = "SLUICE_REDIS_URL")]
    redis_url: Option<String>,
    /// Postgres URL, for the record count [fallback: DB_POSTGRES_URL]; without one only Redis
    /// is read.
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    database_url: Option<String>,
    /// The Postgres schema of the index.
    #[arg(long, env = "SLUICE_DATABASE_SCHEMA", default_value = "bsky")]
    schema: String,
    /// The repo stream (repos to backfill).
    #[arg(
        long,
        env = "SLUICE_STATUS_REPO_STREAM",
        default_value = "repo_backfill"
    )]
    repo_stream: String,
    /// The streams whose backlog and dead letters are shown (comma-separated).
    #[arg(
        long,
        env = "SLUICE_STATUS_STREAMS",
        default_value = "firehose_live,firehose_backfill,label_live,firehose_reindex"
    )]
    streams: String,
    /// Print a line every this many seconds until interrupted; 0 prints once.
    #[arg(long, default_value_t = 0)]
    every: u64,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// One reading of the pipeline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Snapshot {
    /// Repos ever queued for backfill (`None`: Redis older than 7 does not say).
    repos_listed: Option<u64>,
    /// Repos queued and not yet done.
    repos_waiting: u64,
    /// Repos whose backfill ended with a terminal failure.
    repos_failed: u64,
    /// Rows of the `record` table (Postgres' live-tuple estimate), tombstones included.
    records: Option<u64>,
    /// Records per second since the previous reading.
    records_per_second: Option<f64>,
    /// Backlog per stream: (stream, entries).
    backlog: Vec<(String, u64)>,
    /// Dead letters per stream: (stream, entries).
    dead_letters: Vec<(String, u64)>,
}

/// `sluice status`.
pub(crate) fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let redis_url = sluice_queue::redis_url(
            &from_env(args.redis_url.clone(), "REDIS_HOST")
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
        );
        let mut redis = sluice_queue::connect(&redis_url)
            .await
            .with_context(|| format!("connecting to Redis at {redis_url}"))?;
        let store = match from_env(args.database_url.clone(), "DB_POSTGRES_URL") {
            Some(url) => {
                let mut config = StoreConfig::new(url, SchemaName::new(args.schema.clone())?);
                config.max_connections = 1;
                config.application_name = "sluice-status".to_owned();
                Some(Store::connect(&config).await?)
            }
            None => None,
        };
        let streams = split_list(&args.streams);
        let mut previous: Option<(Instant, u64)> = None;
        loop {
            let mut snapshot =
                read(&mut redis, store.as_ref(), &args.repo_stream, &streams).await?;
            let now = Instant::now();
            if let (Some((then, before)), Some(records)) = (previous, snapshot.records) {
                let seconds = now.duration_since(then).as_secs_f64();
                if seconds > 0.0 {
                    snapshot.records_per_second =
                        Some((records as f64 - before as f64).max(0.0) / seconds);
                }
            }
            if let Some(records) = snapshot.records {
                previous = Some((now, records));
            }
            if args.json {
                println!("{}", serde_json::to_string(&snapshot)?);
            } else {
                println!("{}", render(&snapshot));
            }
            if args.every == 0 {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(args.every)) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        if let Some(store) = store {
            store.close().await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads one snapshot (no rate: that needs two).
async fn read(
    redis: &mut ConnectionManager,
    store: Option<&Store>,
    repo_stream: &str,
    streams: &[String],
) -> anyhow::Result<Snapshot> {
    let repos_waiting = xlen(redis, repo_stream).await?;
    let repos_listed = entries_added(redis, repo_stream).await?;
    let repos_failed: u64 = redis::cmd("HLEN")
        .arg(sluice_backfiller::terminal_key(repo_stream))
        .query_async(redis)
        .await?;
    let mut backlog = Vec::with_capacity(streams.len());
    let mut dead_letters = Vec::with_capacity(streams.len());
    for stream in streams {
        backlog.push((stream.clone(), xlen(redis, stream).await?));
        let dead = sluice_queue::dead_letter_stream(stream);
        dead_letters.push((stream.clone(), xlen(redis, &dead).await?));
    }
    let records = match store {
        Some(store) => Some(
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(max(n_live_tup), 0) FROM pg_stat_user_tables
                 WHERE schemaname = current_schema() AND relname = 'record'",
            )
            .fetch_one(store.pool())
            .await
            .context("reading the record count")?
            .max(0) as u64,
        ),
        None => None,
    };
    Ok(Snapshot {
        repos_listed,
        repos_waiting,
        repos_failed,
        records,
        records_per_second: None,
        backlog,
        dead_letters,
    })
}

async fn xlen(redis: &mut ConnectionManager, key: &str) -> redis::RedisResult<u64> {
    redis::cmd("XLEN").arg(key).query_async(redis).await
}

/// `entries-added` of `XINFO STREAM` (Redis ≥ 7); `Some(0)` for a stream that does not exist.
async fn entries_added(
    redis: &mut ConnectionManager,
    key: &str,
) -> redis::RedisResult<Option<u64>> {
    let info: redis::Value = match redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query_async(redis)
        .await
    {
        Ok(info) => info,
        // "ERR no such key": nothing was ever queued.
        Err(error) if error.to_string().contains("no such key") => return Ok(Some(0)),
        Err(error) => return Err(error),
    };
    let pairs: Vec<(redis::Value, redis::Value)> = match info {
        redis::Value::Map(pairs) => pairs,
        redis::Value::Array(items) => {
            let mut pairs = Vec::new();
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        _ => return Ok(None),
    };
    for (key, value) in pairs {
        let name: Option<String> = redis::from_redis_value(key).ok();
        if name.as_deref() == Some("entries-added") {
            return Ok(redis::from_redis_value(value).ok());
        }
    }
    Ok(None)
}

/// One line: `repos 120/200 done (3 failed) | records 45123 (1234/s) | backlog … | dead letters …`.
pub(crate) fn render(snapshot: &Snapshot) -> String {
    let repos = match snapshot.repos_listed {
        Some(listed) => format!(
            "repos {}/{listed} backfilled ({} failed)",
            listed.saturating_sub(snapshot.repos_waiting),
            snapshot.repos_failed
        ),
        None => format!(
            "repos {} waiting ({} failed)",
            snapshot.repos_waiting, snapshot.repos_failed
        ),
    };
    let records = match (snapshot.records, snapshot.records_per_second) {
        (Some(records), Some(rate)) => format!("records {records} ({rate:.0}/s)"),
        (Some(records), None) => format!("records {records}"),
        (None, _) => "records ? (no database)".to_owned(),
    };
    let list = |items: &[(String, u64)]| {
        items
            .iter()
            .map(|(stream, n)| format!("{stream} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{repos} | {records} | backlog: {} | dead letters: {}",
        list(&snapshot.backlog),
        list(&snapshot.dead_letters)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            repos_listed: Some(200),
            repos_waiting: 80,
            repos_failed: 3,
            records: Some(45_123),
            records_per_second: Some(1234.4),
            backlog: vec![
                ("firehose_live".into(), 0),
                ("firehose_backfill".into(), 12),
            ],
            dead_letters: vec![("firehose_live".into(), 1), ("firehose_backfill".into(), 0)],
        }
    }

    #[test]
    fn one_line_shows_repos_records_backlog_and_dead_letters() {
        assert_eq!(
            render(&snapshot()),
            "repos 120/200 backfilled (3 failed) | records 45123 (1234/s) | \
             backlog: firehose_live 0, firehose_backfill 12 | \
             dead letters: firehose_live 1, firehose_backfill 0"
        );
    }

    #[test]
    fn missing_figures_are_said_so() {
        let mut partial = snapshot();
        partial.repos_listed = None;
        partial.records = None;
        let line = render(&partial);
        assert!(line.starts_with("repos 80 waiting (3 failed) | records ? (no database)"));
    }
}
