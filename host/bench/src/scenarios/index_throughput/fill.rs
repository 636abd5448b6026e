//! Filling the bench's `firehose_backfill`: a devnet served in this process, every repo queued in
//! `repo_backfill` and taken by the real backfiller (`sluice_backfiller::run`: `getRepo`,
//! verification, the records as `create` events in chunks of 500 each followed by a `repo`
//! event) — the stream holds exactly what a deployment's backfill writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use redis::aio::ConnectionManager;
use sluice_backfiller::BackfillerConfig;
use sluice_devnet::RunningDevnet;
use sluice_ingester::OutputStream;
use tokio_util::sync::CancellationToken;

use super::Keys;
use crate::report::Report;
use crate::scenarios::devnet::{NetworkArgs, generate_network};

/// What the stream holds.
#[derive(Debug, Default)]
pub(crate) struct Filled {
    /// Stream entries.
    pub(crate) entries: u64,
    /// `create` events: the record operations.
    pub(crate) records: u64,
    /// `create` events per collection.
    pub(crate) collections: BTreeMap<String, u64>,
    /// `create` events left out by `drop_duplicates`.
    pub(crate) dropped: u64,
    /// Every account's handle (the devnet's), for the indexer's identity events.
    pub(crate) handles: HashMap<String, String>,
}

/// Generates the network and backfills all of it into `keys.backfill`. With `drop_duplicates`,
/// records whose author already has one of the same collection and subject are then deleted
/// from the stream (see [`natural_key`]).
pub(crate) async fn fill(
    network: &NetworkArgs,
    backfill_concurrency: usize,
    drop_duplicates: bool,
    redis_url: &str,
    keys: &Keys,
    conn: &mut ConnectionManager,
    report: &mut Report,
) -> anyhow::Result<Filled> {
    let network = generate_network(network, report).await?;
    let model = network.model();
    let mut filled = Filled::default();
    let mut dids = Vec::with_capacity(model.repo_count() as usize);
    for repo in 0..model.repo_count() {
        let account = model.account(repo).context("an account is missing")?;
        if let Some(handle) = network.handle(repo) {
            filled.handles.insert(account.did.clone(), handle);
        }
        dids.push(account.did.clone());
    }
    let devnet = RunningDevnet::start(network, "127.0.0.1:0".parse()?).await?;

    let mut pipe = redis::pipe();
    for did in &dids {
        let entry = serde_json::json!({ "did": did }).to_string();
        pipe.cmd("XADD")
            .arg(&keys.repo_backfill)
            .arg("*")
            .arg("repo")
            .arg(entry)
            .ignore();
    }
    pipe.exec_async(conn).await?;

    let mut config = BackfillerConfig::new(redis_url, "bench");
    config.repo_stream = keys.repo_backfill.clone();
    config.group = format!("{}repo_backfill_group", keys.prefix);
    config.firehose_stream = OutputStream::new(keys.backfill.clone());
    config.firehose_stream.high_water_mark = u64::MAX;
    config.identity.plc_url = devnet.url();
    config.identity_cache_prefix = format!("{}identity:", keys.prefix);
    config.status_key = format!("{}backfiller:status", keys.prefix);
    config.concurrency = backfill_concurrency.max(1);
    config.rate = sluice_backfiller::rate::RateBudget {
        requests: 1_000_000,
        period: Duration::from_secs(1),
    };
    tracing::info!(repos = dids.len(), "backfilling into the bench stream");
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let backfiller = tokio::spawn(sluice_backfiller::run(config, shutdown.clone()));
    loop {
        let left: u64 = redis::cmd("XLEN")
            .arg(&keys.repo_backfill)
            .query_async(conn)
            .await?;
        if left == 0 {
            break;
        }
        if backfiller.is_finished() {
            bail!("the backfiller stopped with {left} repos left");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    backfiller
        .await
        .context("the backfiller panicked")?
        .context("the backfiller failed")?;
    devnet.shutdown().await?;
    let terminal: u64 = redis::cmd("HLEN")
        .arg(format!("{}:terminal", keys.repo_backfill))
        .query_async(conn)
        .await?;
    let dead: u64 = redis::cmd("XLEN")
        .arg(format!("{}:dead", keys.repo_backfill))
        .query_async(conn)
        .await?;

    count(conn, &keys.backfill, drop_duplicates, &mut filled).await?;
    report.figure("backfill_repos", dids.len() as f64, "repos");
    report.figure("backfill_repos_terminal", terminal as f64, "repos");
    report.figure("backfill_repos_dead", dead as f64, "repos");
    report.seconds("backfill_time", elapsed);
    report.rate("backfill_rate", filled.records as f64, elapsed, "records/s");
    report.figure("stream_entries", filled.entries as f64, "entries");
    report.figure("stream_records", filled.records as f64, "records");
    if drop_duplicates {
        report.figure(
            "stream_duplicates_dropped",
            filled.dropped as f64,
            "records",
        );
    }
    for (collection, records) in &filled.collections {
        report.figure(
            &format!("stream_records_{collection}"),
            *records as f64,
            "records",
        );
    }
    Ok(filled)
}

/// The key the Bluesky plugins keep one row per author for (the unique key of `like`,
/// `repost`, `follow`, `actor_block`, `list_item`, `list_block`), as text; `None` for other
/// collections.
fn natural_key(collection: &str, record: &serde_json::Value) -> Option<String> {
    let text = |value: &serde_json::Value| -> Option<String> {
        value
            .as_str()
            .or_else(|| value.get("uri").and_then(serde_json::Value::as_str))
            .map(str::to_owned)
    };
    match collection {
        "app.bsky.feed.like"
        | "app.bsky.feed.repost"
        | "app.bsky.graph.follow"
        | "app.bsky.graph.block"
        | "app.bsky.graph.listblock" => text(record.get("subject")?),
        "app.bsky.graph.listitem" => Some(format!(
            "{} {}",
            text(record.get("list")?)?,
            text(record.get("subject")?)?
        )),
        _ => None,
    }
}

/// Counts the stream's entries and its `create` events per collection; with `drop_duplicates`,
/// deletes the records whose (author, collection, natural key) came earlier.
async fn count(
    conn: &mut ConnectionManager,
    stream: &str,
    drop_duplicates: bool,
    filled: &mut Filled,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        did: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        collection: Option<std::borrow::Cow<'a, str>>,
        record: Option<serde_json::Value>,
    }
    type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;
    let mut seen: HashSet<String> = HashSet::new();
    let mut start = "-".to_owned();
    loop {
        let entries: Entries = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query_async(conn)
            .await?;
        let Some((last, _)) = entries.last() else {
            break;
        };
        start = format!("({last}");
        let mut drop: Vec<&str> = Vec::new();
        for (id, fields) in &entries {
            let Some((_, event)) = fields.iter().find(|(name, _)| name == "event") else {
                filled.entries += 1;
                continue;
            };
            let head: Head<'_> = serde_json::from_slice(event).context("a stream entry")?;
            if head.kind == "create" {
                let collection = head.collection.unwrap_or_default().into_owned();
                let key = head
                    .record
                    .as_ref()
                    .and_then(|record| natural_key(&collection, record));
                if let Some(key) = key.filter(|_| drop_duplicates) {
                    let did = head.did.as_deref().unwrap_or_default();
                    if !seen.insert(format!("{did} {collection} {key}")) {
                        drop.push(id);
                        filled.dropped += 1;
                        continue;
                    }
                }
                filled.records += 1;
                *filled.collections.entry(collection).or_default() += 1;
            }
            filled.entries += 1;
        }
        if !drop.is_empty() {
            redis::cmd("XDEL")
                .arg(stream)
                .arg(&drop)
                .exec_async(conn)
                .await?;
        }
    }
    Ok(())
}
