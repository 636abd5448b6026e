//! Hot swap and re-index through the plugin registry, with real indexers.
//!
//! Indexers (`sluice_indexer::run`, in process) follow the registry through a
//! [`RegistryProvider`], as `sluice indexer` wires them. The test plugin `versioned` writes its
//! major version into every row of its table `item`, so each row says which version indexed it.
//!
//! - `installing_v2_while_two_indexers_run_swaps_without_losing_or_doubling_records`: v1
//!   installed, two indexers of one consumer group, records fed into a firehose stream; v2 is
//!   installed while records keep coming. Every record is indexed exactly once (an audit trigger
//!   on `item` counts row writes), by v1 when indexed before the install and by v2 when written
//!   after both indexers reported running v2; nothing is parked or left pending.
//! - `reindex_replays_stored_records_through_v2`: records indexed by v1 (one with an empty text),
//!   v2 installed, `reindex` run while the indexer runs: every record is now v2's, except the one
//!   v2 refuses, whose v1 row stays (a replay only adds and replaces rows).
//!
//! Postgres and Redis as everywhere in the tests (`DATABASE_URL`, `REDIS_URL`); a throwaway
//! schema, plugin schema and Redis key prefix, removed at the end.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sluice_atproto::data::{cid_for_dag_cbor, record_from_json, to_dag_cbor};
use sluice_atproto::syntax::Tid;
use sluice_indexer::{HandleResolution, IndexerConfig, NoHandles, PluginSource, RunError};
use sluice_plugin_host::{EngineConfig, PluginEngine};
use sluice_plugin_registry::{
    InstallOptions, InstallOutcome, Registry, RegistryOptions, RegistryProvider, ReindexOptions,
    WatchOptions, reindex,
};
use sluice_queue::Producer;
use sluice_queue::events::{FirehoseEvent, RecordEvent};
use sluice_store::{SchemaName, StoreConfig, TestDb};
use sqlx::AssertSqlSafe;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PACKAGE: &str = "sluice-versioned-plugin";
const COLLECTION: &str = "test.sluice.versioned";
const TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// The `versioned` component, v1 or v2.
fn component(v2: bool) -> Vec<u8> {
    let features: &[&str] = if v2 { &["v2"] } else { &[] };
    let path = sluice_plugin_host::guest_build::build_with_features(PACKAGE, features)
        .unwrap_or_else(|error| panic!("building {PACKAGE} {features:?}: {error}"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// Removes the plugin schema and the Redis keys of a test, even when it fails.
struct Cleanup {
    database_url: String,
    plugin_schema: String,
    redis_url: String,
    redis_prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let database_url = self.database_url.clone();
        let plugin_schema = self.plugin_schema.clone();
        let redis_url = self.redis_url.clone();
        let prefix = self.redis_prefix.clone();
        // Drop cannot await: clean up from a thread with its own runtime.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                use sqlx::Connection as _;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&database_url).await {
                    let _ = sqlx::query("SET lock_timeout = '10s'")
                        .execute(&mut conn)
                        .await;
                    let sql = format!("DROP SCHEMA IF EXISTS \"{plugin_schema}\" CASCADE");
                    if let Err(error) = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await {
                        eprintln!("dropping {plugin_schema}: {error}");
                    }
                }
                if let Ok(mut conn) = sluice_queue::connect(&redis_url).await {
                    let keys: Vec<String> =
                        conn.keys(format!("{prefix}*")).await.unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> = conn.del(keys).await;
                    }
                }
            });
        })
        .join();
        if done.is_err() {
            eprintln!("cleaning up after the test failed");
        }
    }
}

/// One test's database, Redis prefix, registry and running indexers.
struct Harness {
    db: TestDb,
    registry: Registry,
    redis: ConnectionManager,
    producer: Producer,
    live: String,
    reindex: String,
    group: String,
    pg_prefix: String,
    plugin_schema: String,
    seq: AtomicI64,
    shutdown: CancellationToken,
    indexers: Vec<JoinHandle<Result<(), RunError>>>,
    consumers: Vec<String>,
    _cleanup: Cleanup,
}

impl Harness {
    async fn new() -> Self {
        let db = TestDb::migrated().await;
        let pg_prefix = format!("{}_", db.schema());
        let plugin_schema = format!("{pg_prefix}plugin_versioned");
        let redis_prefix = format!("test:hot_swap:{:016x}:", rand::random::<u64>());
        let cleanup = Cleanup {
            database_url: db.database_url().to_owned(),
            plugin_schema: plugin_schema.clone(),
            redis_url: redis_url(),
            redis_prefix: redis_prefix.clone(),
        };
        let engine = PluginEngine::new(EngineConfig::default()).expect("plugin engine");
        let registry = Registry::new(
            db.pool().clone(),
            engine,
            RegistryOptions {
                plugin_schema_prefix: pg_prefix.clone(),
                allow_plugin_migrations: false,
            },
        );
        let redis = sluice_queue::connect(&redis_url())
            .await
            .expect("Redis (set REDIS_URL)");
        Self {
            db,
            registry,
            producer: Producer::new(redis.clone()),
            redis,
            live: format!("{redis_prefix}firehose_live"),
            reindex: format!("{redis_prefix}firehose_reindex"),
            group: format!("{redis_prefix}firehose_group"),
            pg_prefix,
            plugin_schema,
            seq: AtomicI64::new(1),
            shutdown: CancellationToken::new(),
            indexers: Vec::new(),
            consumers: Vec::new(),
            _cleanup: cleanup,
        }
    }

    async fn install(&self, v2: bool) -> InstallOutcome {
        self.registry
            .install(&component(v2), InstallOptions::default())
            .await
            .expect("install")
    }

    /// Starts an indexer wired as `sluice indexer` wires it, under consumer name `consumer`.
    async fn start_indexer(&mut self, consumer: &str) {
        // Each indexer process has its own registry connection and engine.
        let mut store = StoreConfig::new(
            self.db.database_url(),
            SchemaName::new(self.db.schema().to_owned()).expect("schema name"),
        );
        store.max_connections = 3;
        let pool = sluice_store::Store::connect(&store)
            .await
            .expect("registry store")
            .pool()
            .clone();
        let registry = Registry::new(
            pool,
            PluginEngine::new(EngineConfig::default()).expect("plugin engine"),
            self.registry.options().clone(),
        );
        let provider = RegistryProvider::start(
            registry,
            WatchOptions {
                consumer: Some(consumer.to_owned()),
                ..WatchOptions::default()
            },
            self.shutdown.clone(),
        )
        .await
        .expect("registry provider");
        let mut store = store.clone();
        store.max_connections = 6;
        let mut config = IndexerConfig::new(redis_url(), store, PluginSource::Provider(provider));
        config.streams = vec![self.live.clone(), self.reindex.clone()];
        config.group = self.group.clone();
        config.label_stream = None;
        config.consumer = consumer.to_owned();
        config.concurrency = 2;
        config.batch_size = 20;
        config.block = Duration::from_millis(200);
        config.plugin_schema_prefix = self.pg_prefix.clone();
        config.handles = HandleResolution::Source(Arc::new(NoHandles));
        self.indexers.push(tokio::spawn(sluice_indexer::run(
            config,
            self.shutdown.clone(),
        )));
        self.consumers.push(consumer.to_owned());
    }

    /// Feeds one create of `did`'s record `rkey` into the live stream. Returns its URI.
    async fn write(&self, did: &str, rkey: &str, text: &str) -> String {
        let json = serde_json::json!({
            "$type": COLLECTION,
            "text": text,
            "createdAt": "2026-01-01T00:00:00.000Z",
        });
        let cbor = to_dag_cbor(&record_from_json(&json).expect("record")).expect("DAG-CBOR");
        let cid = cid_for_dag_cbor(&cbor).to_string();
        let event = FirehoseEvent::Create(RecordEvent {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            did: did.to_owned(),
            commit: cid.clone(),
            rev: Tid::now().as_str().to_owned(),
            collection: COLLECTION.to_owned(),
            rkey: rkey.to_owned(),
            cid,
            record: serde_json::value::RawValue::from_string(json.to_string()).expect("JSON"),
        });
        self.producer
            .add(&self.live, &[event])
            .await
            .expect("XADD to the live stream");
        format!("at://{did}/{COLLECTION}/{rkey}")
    }

    /// `uri → version` of every row of `item`.
    async fn items(&self) -> BTreeMap<String, i64> {
        let sql = format!(
            "SELECT uri, version::bigint FROM \"{}\".item",
            self.plugin_schema
        );
        sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql))
            .fetch_all(self.db.pool())
            .await
            .expect("reading item")
            .into_iter()
            .collect()
    }

    /// Waits until every URI of `uris` has an `item` row.
    async fn wait_indexed(&self, uris: &[String], what: &str) -> BTreeMap<String, i64> {
        let start = Instant::now();
        loop {
            let items = self.items().await;
            let missing = uris.iter().filter(|uri| !items.contains_key(*uri)).count();
            if missing == 0 {
                return items;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "{what}: {missing} of {} records not indexed after {TIMEOUT:?}",
                uris.len()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every indexer reports running `versioned` at `version`.
    async fn wait_running(&self, version: &str) {
        let start = Instant::now();
        loop {
            let reports = self.registry.consumers().await.expect("consumer reports");
            let running: HashSet<&str> = reports
                .iter()
                .filter(|r| r.plugin == "versioned" && r.version == version)
                .map(|r| r.consumer.as_str())
                .collect();
            if self.consumers.iter().all(|c| running.contains(c.as_str())) {
                return;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "not every indexer reports running versioned@{version} after {TIMEOUT:?}: {reports:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the group has nothing pending on `stream`.
    async fn wait_acked(&self, stream: &str) {
        let start = Instant::now();
        loop {
            let pending: redis::streams::StreamPendingReply = self
                .redis
                .clone()
                .xpending(stream, &self.group)
                .await
                .expect("XPENDING");
            if pending.count() == 0 {
                return;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "{} entries of {stream} still pending after {TIMEOUT:?}",
                pending.count()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn xlen(&self, stream: &str) -> u64 {
        self.redis.clone().xlen(stream).await.expect("XLEN")
    }

    async fn scalar(&self, sql: String) -> i64 {
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone()))
            .fetch_one(self.db.pool())
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// Stops the indexers; each must have stopped cleanly.
    async fn stop(&mut self) {
        self.shutdown.cancel();
        for indexer in self.indexers.drain(..) {
            tokio::time::timeout(TIMEOUT, indexer)
                .await
                .expect("the indexer stops")
                .expect("the indexer task")
                .expect("the indexer ran without error");
        }
    }
}

/// A DID of its own per test run.
fn did(i: usize) -> String {
    format!("did:plc:hotswap{i}x{:012x}", rand::random::<u64>() >> 16)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn installing_v2_while_two_indexers_run_swaps_without_losing_or_doubling_records() {
    let mut h = Harness::new().await;
    assert!(matches!(
        h.install(false).await,
        InstallOutcome::Installed(_)
    ));
    // Every write to `item` (insert or update) is logged: a record indexed twice shows up twice.
    let audit = format!("\"{}\".item_audit", h.db.schema());
    let setup = [
        format!("CREATE TABLE {audit} (uri text NOT NULL, version bigint NOT NULL)"),
        format!(
            "CREATE FUNCTION \"{schema}\".log_item() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO {audit} VALUES (NEW.uri, NEW.version); RETURN NULL; END $$",
            schema = h.db.schema()
        ),
        format!(
            "CREATE TRIGGER log_item AFTER INSERT OR UPDATE ON \"{}\".item
             FOR EACH ROW EXECUTE FUNCTION \"{}\".log_item()",
            h.plugin_schema,
            h.db.schema()
        ),
    ];
    for sql in setup {
        sqlx::query(AssertSqlSafe(sql))
            .execute(h.db.pool())
            .await
            .expect("audit trigger");
    }
    h.start_indexer("hot-swap-a").await;
    h.start_indexer("hot-swap-b").await;
    h.wait_running("1.0.0").await;

    let dids: Vec<String> = (0..4).map(did).collect();
    let next_rkey = || Tid::now().as_str().to_owned();

    // Before the install: indexed by v1.
    let mut before = Vec::new();
    for i in 0..60 {
        let did = &dids[i % dids.len()];
        before.push(h.write(did, &next_rkey(), &format!("before {i}")).await);
    }
    let items = h.wait_indexed(&before, "before the install").await;
    for uri in &before {
        assert_eq!(items[uri], 1, "{uri} was indexed before v2 was installed");
    }

    // During the install: records keep coming while v2 is installed and picked up.
    let h = Arc::new(h);
    let writing = CancellationToken::new();
    let writer = {
        let h = Arc::clone(&h);
        let dids = dids.clone();
        let writing = writing.clone();
        tokio::spawn(async move {
            let mut uris = Vec::new();
            while !writing.is_cancelled() {
                let did = &dids[uris.len() % dids.len()];
                let rkey = Tid::now().as_str().to_owned();
                uris.push(h.write(did, &rkey, &format!("during {}", uris.len())).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            uris
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    match h.install(true).await {
        InstallOutcome::Replaced {
            now,
            previous_version,
            ..
        } => {
            assert_eq!(now.version, "2.0.0");
            assert_eq!(previous_version, "1.0.0");
        }
        other => panic!("installing v2 over v1: {other:?}"),
    }
    h.wait_running("2.0.0").await;
    writing.cancel();
    let during = writer.await.expect("the writer");
    assert!(!during.is_empty(), "records were written during the swap");

    // After every indexer reported v2: indexed by v2.
    let mut after = Vec::new();
    for i in 0..60 {
        let did = &dids[i % dids.len()];
        after.push(
            h.write(did, Tid::now().as_str(), &format!("after {i}"))
                .await,
        );
    }
    let all: Vec<String> = before
        .iter()
        .chain(&during)
        .chain(&after)
        .cloned()
        .collect();
    let items = h.wait_indexed(&all, "all records").await;
    h.wait_acked(&h.live).await;

    for uri in &before {
        assert_eq!(
            items[uri], 1,
            "{uri}: written and indexed before the install"
        );
    }
    for uri in &during {
        assert!(
            matches!(items[uri], 1 | 2),
            "{uri}: written during the swap, version {}",
            items[uri]
        );
    }
    for uri in &after {
        assert_eq!(
            items[uri], 2,
            "{uri}: written after every indexer reported v2"
        );
    }
    assert_eq!(items.len(), all.len(), "no other rows in item");
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "every record written once");

    // Exactly once: one row write per record, with the version of its row.
    let audit_rows = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(format!(
        "SELECT uri, version FROM {audit}"
    )))
    .fetch_all(h.db.pool())
    .await
    .expect("audit rows");
    let mut writes: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (uri, version) in &audit_rows {
        writes.entry(uri.as_str()).or_default().push(*version);
    }
    for uri in &all {
        assert_eq!(
            writes.get(uri.as_str()),
            Some(&vec![items[uri]]),
            "{uri} is written to item exactly once"
        );
    }
    assert_eq!(audit_rows.len(), all.len(), "no other writes to item");

    // The record table and the aggregate agree; nothing parked, nothing pending.
    let records = h
        .scalar(format!(
            "SELECT count(*) FROM \"{}\".record WHERE uri LIKE 'at://%/{COLLECTION}/%'",
            h.db.schema()
        ))
        .await;
    assert_eq!(records, all.len() as i64, "every record stored once");
    for did in &dids {
        let expected = all.iter().filter(|uri| uri.contains(did.as_str())).count() as i64;
        let tally = h
            .scalar(format!(
                "SELECT items::bigint FROM \"{}\".tally WHERE did = '{did}'",
                h.plugin_schema
            ))
            .await;
        assert_eq!(tally, expected, "tally of {did}");
    }
    let dead = sluice_queue::dead_letter_stream(&h.live);
    assert_eq!(h.xlen(&dead).await, 0, "nothing parked in {dead}");
    println!(
        "{} records before, {} during ({} by v1), {} after the swap",
        before.len(),
        during.len(),
        during.iter().filter(|uri| items[*uri] == 1).count(),
        after.len()
    );

    let Ok(mut h) = Arc::try_unwrap(h) else {
        panic!("the writer still holds the harness");
    };
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reindex_replays_stored_records_through_v2() {
    reindex_through_v2(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reindex_with_truncate_empties_the_plugin_tables_first() {
    reindex_through_v2(true).await;
}

/// Indexes records with v1, installs v2 and re-indexes them (`truncate`: emptying the plugin's
/// tables first). v2 writes no row for an empty record: without `truncate` its v1 row stays.
async fn reindex_through_v2(truncate: bool) {
    let mut h = Harness::new().await;
    assert!(matches!(
        h.install(false).await,
        InstallOutcome::Installed(_)
    ));
    h.start_indexer("reindex-a").await;
    h.wait_running("1.0.0").await;

    let dids: Vec<String> = (0..3).map(did).collect();
    let mut uris = Vec::new();
    for i in 0..30 {
        let did = &dids[i % dids.len()];
        uris.push(
            h.write(did, Tid::now().as_str(), &format!("record {i}"))
                .await,
        );
    }
    let empty = h.write(&dids[0], Tid::now().as_str(), "").await;
    uris.push(empty.clone());
    let items = h.wait_indexed(&uris, "v1").await;
    assert!(
        uris.iter().all(|uri| items[uri] == 1),
        "v1 indexed every record, the empty one too: {items:?}"
    );

    h.install(true).await;
    h.wait_running("2.0.0").await;
    let mut redis = h.redis.clone();
    let options = ReindexOptions {
        stream: h.reindex.clone(),
        page: 7,
        progress_every: Duration::from_millis(500),
        truncate,
        ..ReindexOptions::default()
    };
    let progress = tokio::time::timeout(
        TIMEOUT,
        reindex(&h.registry, &mut redis, "versioned", &options, &mut |_| {}),
    )
    .await
    .expect("the re-index finishes")
    .expect("the re-index");
    assert_eq!(progress.total, uris.len() as u64, "{progress}");
    assert_eq!(progress.queued, uris.len() as u64, "{progress}");
    assert!(progress.all_queued, "{progress}");
    assert_eq!(progress.parked, 0, "{progress}");
    h.wait_acked(&h.reindex).await;

    let items = h.items().await;
    for uri in &uris {
        let expected = match (*uri == empty, truncate) {
            (false, _) => Some(2),
            (true, false) => Some(1),
            (true, true) => None,
        };
        assert_eq!(
            items.get(uri).copied(),
            expected,
            "{uri}: v2 re-indexes every record but the empty one, whose v1 row stays unless \
             the tables were truncated (truncate: {truncate})"
        );
    }
    assert_eq!(
        items.len(),
        uris.len() - usize::from(truncate),
        "no other row lost or added: {items:?}"
    );
    let dead = sluice_queue::dead_letter_stream(&h.reindex);
    assert_eq!(h.xlen(&dead).await, 0, "nothing parked in {dead}");
    h.stop().await;
}
