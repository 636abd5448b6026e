//! The crash test of issue 6: SIGKILL indexers repeatedly while they index a backfill; once they
//! have recovered, every table, counts included, equals a clean run's.
//!
//! 1. A network from Sluice's devnet (seeded: the same repos, records and CIDs every run), listed
//!    by `sluice ingester` and backfilled by `sluice backfiller` into `firehose_backfill`.
//! 2. The stream is copied entry by entry (same IDs, same fields, same order), because an indexer
//!    deletes what it acknowledges (`XDEL`, as the reference does): one copy per run.
//! 3. Clean run: one `sluice indexer` (the Bluesky plugins, built from source and installed
//!    from a directory) indexes its copy into one schema, undisturbed, to completion.
//! 4. Crash run: two `sluice indexer`s of another consumer group index the other copy into
//!    another schema, and one of them is killed with SIGKILL every 0.5–2 s (a seeded schedule,
//!    stretched when the machine is slow), then started again, under its own name (it re-reads
//!    its pending entries) or a new one (a survivor must reclaim what the dead consumer held,
//!    after [`CRASH_CLAIM_IDLE_SECS`]), until the stream is done.
//! 5. Every table the migrations create is compared row by row between the two schemas, minus
//!    the columns and tables listed in [`EXCLUDED_COLUMNS`] and [`EXCLUDED_TABLES`] and serial
//!    ids; the columns of [`ORDER_DEPENDENT`] are compared on every row but those the Bluesky
//!    plugins are known to compute in an order-dependent way. A difference fails the test with
//!    the first differing rows (side by side, by primary key).
//!
//! Completion of a run: its consumer group has been delivered the stream's last entry and has
//! nothing pending (`XINFO GROUPS`), and nothing was dead-lettered.
//!
//! `SLUICE_E2E_KEEP_SCHEMAS=1` keeps both schemas when the comparison fails, to inspect them.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sluice_devnet::collections::Collection;
use sluice_devnet::{DevnetConfig, Network, NetworkConfig, RunningDevnet};
use sluice_store::TestDb;
use sqlx::PgPool;

use crate::support::sluice_bin::SluiceProcess;
use crate::support::test_redis::{SCOPE, TestRedis};

/// The network: its seed and size. About 11,300 stream entries (11,000 records of the
/// collections the Bluesky plugins claim, with likes, reposts, follows, blocks, lists, quotes,
/// threads and gates between the accounts).
const DEVNET_SEED: u64 = 6;
const DEVNET_REPOS: u32 = 60;
const DEVNET_RECORDS: u64 = 12_000;

/// The kill schedule's seed: the same delays, victims and restart names every run.
const KILL_SEED: u64 = 0x0006_c4a5_0000_0006;
/// Kills attempted, and how many of them must land while work remained.
const KILLS: usize = 8;
const MIN_KILLS_MID_WORK: usize = 5;
/// Indexers running at once in the crash run.
const CRASH_INDEXERS: usize = 2;
/// Delay before each kill, drawn uniformly from this range (milliseconds), multiplied by how much
/// slower than [`NOMINAL_CLEAN_RUN`] the clean run was (at least 1), so that on a busy machine
/// the kills still spread over the run instead of all landing in its first seconds.
const KILL_DELAY_MS: (u64, u64) = (500, 2000);
const NOMINAL_CLEAN_RUN: Duration = Duration::from_secs(20);

/// Entries per read, the same for both runs.
const BATCH_SIZE: &str = "250";
/// Seconds before an unacknowledged entry may be reclaimed: the default (60) in the clean run,
/// which nothing disturbs; short in the crash run, so that the entries a killed consumer held
/// are taken over quickly by the survivors.
const CLEAN_CLAIM_IDLE_SECS: &str = "60";
const CRASH_CLAIM_IDLE_SECS: &str = "5";

/// Longest wait for one phase (the backfill, a run): generous, for a machine shared with others.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Tables not compared, and why.
const EXCLUDED_TABLES: &[(&str, &str)] = &[(
    "sluice_plugin_consumer",
    "which indexer process (by consumer name) runs which plugin version, with heartbeat times: \
     process bookkeeping, not index content, and the crash run has other consumers by design",
)];

/// Columns that legitimately differ between two runs over the same entries, and why. Columns with
/// a serial default (`nextval`) are excluded too: serial ids are handed out in insertion order,
/// which depends on how concurrent batches interleave (see [`serial_columns`]).
///
/// Not excluded: `indexedAt` of records (and `sortAt`, derived from it) is the time of the stream
/// entry, which both runs share; it must be equal.
const EXCLUDED_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "actor",
        "indexedAt",
        "network events carry no time (sluice:indexer@0.1.0), so bsky-actor writes the wall-clock \
         time at which it first saw the account",
    ),
    (
        "sluice_await",
        "since",
        "wall-clock time at which a waiter started waiting (for monitoring)",
    ),
    (
        "sluice_plugin",
        "installed_at",
        "wall-clock time of the plugin's installation",
    ),
    (
        "kysely_migration",
        "timestamp",
        "migration 0006 records now() at migration time",
    ),
    (
        "_sqlx_migrations",
        "installed_on",
        "wall-clock time of the migration",
    ),
    (
        "_sqlx_migrations",
        "execution_time",
        "how long the migration took",
    ),
];

/// Columns that the indexer with the Bluesky plugins computes in an order-dependent way, in
/// known cases: two runs may differ there on the rows [`order_dependent_rows`] selects, and must
/// agree on every other row. A run's order is never the same twice (two workers; in the crash
/// run, reclaimed entries come after later ones of the same repo, and two indexers share a
/// repo's entries). The cases:
///
/// - `post.violatesThreadGate` (and `invalidReplyRoot`, false when the gate is violated): thread
///   gates with follower, following or list rules are evaluated against the follows and list
///   items indexed at the time (documented in plugins/README.md, "What stays order-dependent").
///   Rows: the replies under such a gate.
/// - `post_agg.replyCount` counts the replies that do not violate a gate. Rows: the parents of
///   the replies above.
const ORDER_DEPENDENT: &[(&str, &str)] = &[
    ("post", "invalidReplyRoot"),
    ("post", "violatesThreadGate"),
    ("post_agg", "replyCount"),
];

/// A small deterministic generator (splitmix64) for the kill schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

async fn start_devnet() -> RunningDevnet {
    let config = DevnetConfig::new(
        NetworkConfig::new(DEVNET_SEED, DEVNET_REPOS).with_records(DEVNET_RECORDS),
    );
    let network = tokio::task::spawn_blocking(move || Network::generate(config))
        .await
        .expect("generator thread")
        .expect("generate the devnet");
    RunningDevnet::start(network, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("serve the devnet")
}

/// Deletes, on drop, the fields the services write into the shared status hashes
/// (`ingester:status`, `backfiller:status`), which are not under the test's key prefix.
struct StatusFields {
    url: String,
    fields: Vec<(&'static str, String)>,
}

impl Drop for StatusFields {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        for (key, field) in &self.fields {
            let _: Result<i64, _> = redis::cmd("HDEL").arg(*key).arg(field).query(&mut conn);
        }
    }
}

fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        redis::Value::SimpleString(text) => Some(text.clone()),
        redis::Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `(last-delivered-id, pending)` of `group` on `stream`; `None` while the group does not exist.
async fn group_state(redis: &TestRedis, stream: &str, group: &str) -> Option<(String, u64)> {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(&mut redis.conn.clone())
        .await
        .unwrap_or_default();
    groups.into_iter().find_map(|info| {
        if info.get("name").and_then(text).as_deref() != Some(group) {
            return None;
        }
        let last = info.get("last-delivered-id").and_then(text)?;
        let pending = info.get("pending").and_then(text)?.parse().ok()?;
        Some((last, pending))
    })
}

/// Pending entries of one consumer of `group`.
async fn consumer_pending(redis: &TestRedis, stream: &str, group: &str, consumer: &str) -> u64 {
    let consumers: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg(group)
        .query_async(&mut redis.conn.clone())
        .await
        .unwrap_or_default();
    consumers
        .into_iter()
        .find(|info| info.get("name").and_then(text).as_deref() == Some(consumer))
        .and_then(|info| info.get("pending").and_then(text))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// True once `group` was delivered `last_id` (the stream's last entry) and has nothing pending.
async fn completed(redis: &TestRedis, stream: &str, group: &str, last_id: &str) -> bool {
    matches!(group_state(redis, stream, group).await, Some((last, 0)) if last == last_id)
}

/// Copies every entry of `from` into `to`, with the same IDs and fields. Returns the last ID.
async fn copy_stream(redis: &TestRedis, from: &str, to: &str) -> String {
    type Entry = (String, Vec<(String, Vec<u8>)>);
    let mut start = "-".to_owned();
    let mut last = String::new();
    loop {
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg(from)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(2000)
            .query_async(&mut redis.conn.clone())
            .await
            .expect("XRANGE");
        let Some((id, _)) = entries.last() else { break };
        start = format!("({id}");
        last.clone_from(id);
        let mut pipe = redis::pipe();
        for (id, fields) in &entries {
            let command = pipe.cmd("XADD").arg(to).arg(id);
            for (name, value) in fields {
                command.arg(name).arg(value.as_slice());
            }
            command.ignore();
        }
        let () = pipe
            .query_async(&mut redis.conn.clone())
            .await
            .expect("XADD the copy");
    }
    last
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Rows of `record` in `schema` (0 while the table does not exist yet).
async fn record_rows(pool: &PgPool, schema: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".record"
    )))
    .fetch_one(pool)
    .await
    .unwrap_or(0)
}

/// The environment of the indexers of one run.
struct IndexerEnv {
    vars: Vec<(&'static str, String)>,
}

impl IndexerEnv {
    /// `shared` (Redis, identity, plugins) plus the run's schema, stream, consumer group and
    /// claim idle time.
    fn new(
        shared: &[(&'static str, String)],
        db: &TestDb,
        (stream, group): (&str, &str),
        claim_idle_secs: &str,
    ) -> Self {
        let mut vars = shared.to_vec();
        vars.extend([
            ("SLUICE_DATABASE_URL", db.database_url().to_owned()),
            ("SLUICE_DATABASE_SCHEMA", db.schema().to_owned()),
            ("SLUICE_INDEXER_MIGRATE", "true".to_owned()),
            ("SLUICE_INDEXER_STREAMS", stream.to_owned()),
            ("SLUICE_INDEXER_LABEL_STREAM", "none".to_owned()),
            ("SLUICE_INDEXER_GROUP", group.to_owned()),
            ("SLUICE_INDEXER_CONCURRENCY", "2".to_owned()),
            ("SLUICE_INDEXER_BATCH_SIZE", BATCH_SIZE.to_owned()),
            ("SLUICE_INDEXER_CLAIM_IDLE_SECS", claim_idle_secs.to_owned()),
        ]);
        Self { vars }
    }

    fn start(&self, consumer: &str) -> SluiceProcess {
        let mut env = self.vars.clone();
        env.push(("SLUICE_INDEXER_CONSUMER", consumer.to_owned()));
        SluiceProcess::start(&["indexer"], &env)
    }
}

/// DID documents are cached in Redis under `identity:<did>`, outside the test's prefix, and name
/// the devnet's PDS by its (per-run) port: never use one cached by an earlier run, and let what
/// this run caches expire at once.
fn identity_cache_off() -> [(&'static str, String); 2] {
    [
        ("SLUICE_IDENTITY_STALE_SECS", "0".to_owned()),
        ("SLUICE_IDENTITY_EXPIRE_SECS", "0".to_owned()),
    ]
}

/// One kill of the crash run, as observed at the moment of the kill.
#[derive(Debug)]
struct Kill {
    after: Duration,
    consumer: String,
    /// Entries the killed consumer held unacknowledged.
    pending: u64,
    /// Rows of `record` in the crash schema.
    rows: i64,
    restarted_as: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_indexers_recover_to_exactly_the_rows_of_a_clean_run() {
    crate::support::install_crypto_provider();
    let test_start = Instant::now();
    let plugins = crate::support::builtin_plugin_dir();
    let plugin_cache = tempfile::tempdir().expect("temp dir");
    let devnet = start_devnet().await;
    eprintln!(
        "devnet: {DEVNET_REPOS} repos, {} history events, generated in {:?}",
        devnet.network().history_events(),
        devnet.network().generate_time()
    );
    let redis = TestRedis::new(SCOPE, "crash").await;
    let clean = TestDb::new().await;
    let crash = TestDb::new().await;
    let pool = clean.pool().clone();
    let host = devnet.url();
    let host_label = host.trim_start_matches("http://").to_owned();
    let backfiller_consumer = redis.key("backfiller");
    let _status = StatusFields {
        url: redis.url.clone(),
        fields: vec![
            ("ingester:status", format!("list_repos:{host_label}")),
            ("ingester:status", format!("firehose:{host_label}")),
            ("backfiller:status", backfiller_consumer.clone()),
        ],
    };

    // 1. List and backfill every repo into firehose_backfill.
    let backfill_stream = redis.key("firehose_backfill");
    let repo_stream = redis.key("repo_backfill");
    let service_env = |extra: &[(&'static str, String)]| {
        let mut env = vec![
            ("SLUICE_REDIS_URL", redis.url.clone()),
            ("SLUICE_PLC_URL", devnet.url()),
            ("SLUICE_HANDLE_RESOLVER_URL", devnet.url()),
            ("SLUICE_METRICS_PORT", "0".to_owned()),
            ("SLUICE_LOG", "warn".to_owned()),
        ];
        env.extend(identity_cache_off());
        env.extend(extra.iter().cloned());
        env
    };
    let ingester = SluiceProcess::start(
        &["ingester"],
        &service_env(&[
            ("SLUICE_INGESTER_HOSTS", host.clone()),
            ("SLUICE_INGESTER_REPO_STREAM", repo_stream.clone()),
            (
                "SLUICE_INGESTER_FIREHOSE_STREAM",
                redis.key("firehose_live"),
            ),
            ("SLUICE_INGESTER_LABEL_STREAM", redis.key("label_live")),
            ("SLUICE_INGESTER_KEEP_ALL_COLLECTIONS", "true".to_owned()),
        ]),
    );
    let backfiller = SluiceProcess::start(
        &["backfiller"],
        &service_env(&[
            ("SLUICE_BACKFILLER_CONSUMER", backfiller_consumer.clone()),
            ("SLUICE_BACKFILLER_GROUP", redis.key("repo_backfill_group")),
            ("SLUICE_BACKFILLER_BACKFILL_STREAM", repo_stream.clone()),
            ("SLUICE_BACKFILLER_FIREHOSE_STREAM", backfill_stream.clone()),
            ("SLUICE_BACKFILLER_CONCURRENCY", "4".to_owned()),
            ("SLUICE_BACKFILLER_RATE", "100000/1s".to_owned()),
        ]),
    );
    let listing_done = format!("{repo_stream}:cursor:{host_label}");
    let backfill_start = Instant::now();
    loop {
        // The backfiller deletes the repos it is done with: the listing finished, and the
        // stream is empty with nothing pending.
        let listed = redis.get(&listing_done).await.as_deref() == Some("!ingester-done");
        let done = listed
            && redis.xlen(&repo_stream).await == 0
            && matches!(
                group_state(&redis, &repo_stream, &redis.key("repo_backfill_group")).await,
                Some((_, 0))
            );
        if done {
            break;
        }
        assert!(
            backfill_start.elapsed() < TIMEOUT,
            "the backfill did not finish in {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        backfiller.terminate(Duration::from_secs(20)),
        "the backfiller exits cleanly"
    );
    assert!(
        ingester.terminate(Duration::from_secs(20)),
        "the ingester exits cleanly"
    );
    assert_eq!(
        redis
            .xlen(&sluice_queue::dead_letter::dead_letter_stream(&repo_stream))
            .await,
        0,
        "no repo dead-lettered"
    );
    let entries = redis.xlen(&backfill_stream).await;
    eprintln!(
        "backfill: {entries} entries in {:?}",
        backfill_start.elapsed()
    );

    // 2. One copy of the stream per run.
    let crash_stream = redis.key("firehose_backfill_crash");
    let last = copy_stream(&redis, &backfill_stream, &crash_stream).await;
    assert_eq!(redis.xlen(&crash_stream).await, entries, "a complete copy");

    // 3. The clean run.
    let clean_group = redis.key("group_clean");
    let mut shared = vec![
        ("SLUICE_REDIS_URL", redis.url.clone()),
        (
            "SLUICE_INDEXER_BUILTIN_PLUGIN_DIR",
            plugins.path().display().to_string(),
        ),
        // Compiled plugin code is cached: a restarted indexer is ready in moments.
        (
            "SLUICE_PLUGIN_CACHE_DIR",
            plugin_cache.path().display().to_string(),
        ),
        ("SLUICE_PLC_URL", devnet.url()),
        ("SLUICE_HANDLE_RESOLVER_URL", devnet.url()),
        ("SLUICE_METRICS_PORT", "0".to_owned()),
        ("SLUICE_LOG", "warn".to_owned()),
    ];
    shared.extend(identity_cache_off());
    let clean_env = IndexerEnv::new(
        &shared,
        &clean,
        (&backfill_stream, &clean_group),
        CLEAN_CLAIM_IDLE_SECS,
    );
    let clean_start = Instant::now();
    let indexer = clean_env.start("clean");
    wait_until_complete(&redis, &backfill_stream, &clean_group, &last).await;
    let clean_time = clean_start.elapsed();
    indexer.kill();
    let final_rows = record_rows(&pool, clean.schema()).await;
    eprintln!("clean run: {final_rows} records in {clean_time:?}");
    // Every record of the collections the plugins claim, of every active repo, was indexed.
    let claimed: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT collection FROM \"{}\".sluice_plugin_collection",
        clean.schema()
    )))
    .fetch_all(&pool)
    .await
    .expect("claimed collections");
    let network = devnet.network();
    let expected_records: i64 = (0..network.model().repo_count())
        .filter(|&repo| {
            network
                .repo_status(repo)
                .is_some_and(|status| status.active)
        })
        .map(|repo| {
            let counts = network.record_counts(repo);
            Collection::ALL
                .iter()
                .filter(|c| claimed.iter().any(|n| n == c.nsid()))
                .map(|&c| counts.get(c))
                .sum::<i64>()
        })
        .sum();
    assert_eq!(
        final_rows, expected_records,
        "the clean run indexed every record of the network's active repos"
    );

    // 4. The crash run: two indexers, one of them killed every 0.5-2 s and started again.
    let crash_group = redis.key("group_crash");
    let crash_env = IndexerEnv::new(
        &shared,
        &crash,
        (&crash_stream, &crash_group),
        CRASH_CLAIM_IDLE_SECS,
    );
    let mut rng = Rng(KILL_SEED);
    let mut names: Vec<String> = (0..CRASH_INDEXERS).map(|i| format!("crash-{i}")).collect();
    let mut running: Vec<Option<SluiceProcess>> = Vec::new();
    let crash_start = Instant::now();
    for (slot, name) in names.iter().enumerate() {
        running.push(Some(crash_env.start(name)));
        if slot == 0 {
            // The first one migrates and installs the plugins alone.
            let start = Instant::now();
            while count(
                &pool,
                &format!(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = '{}' AND tablename = 'sluice_plugin'",
                    crash.schema()
                ),
            )
            .await
                == 0
                || count(
                    &pool,
                    &format!("SELECT count(*) FROM \"{}\".sluice_plugin", crash.schema()),
                )
                .await
                    < 4
            {
                assert!(start.elapsed() < TIMEOUT, "the plugins were not installed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // Kill only once indexing is under way.
    let start = Instant::now();
    while record_rows(&pool, crash.schema()).await == 0 {
        assert!(start.elapsed() < TIMEOUT, "the crash run does not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stretch = (clean_time.as_secs_f64() / NOMINAL_CLEAN_RUN.as_secs_f64()).max(1.0);
    let mut kills: Vec<Kill> = Vec::new();
    let mut fresh = 0;
    for _ in 0..KILLS {
        let delay = rng.between(KILL_DELAY_MS.0, KILL_DELAY_MS.1);
        tokio::time::sleep(Duration::from_millis(delay).mul_f64(stretch)).await;
        let slot = usize::try_from(rng.next() % CRASH_INDEXERS as u64).unwrap_or(0);
        let same_name = rng.next().is_multiple_of(2);
        if completed(&redis, &crash_stream, &crash_group, &last).await {
            break;
        }
        let consumer = names[slot].clone();
        let pending = consumer_pending(&redis, &crash_stream, &crash_group, &consumer).await;
        if let Some(process) = running[slot].take() {
            process.kill();
        }
        let rows = record_rows(&pool, crash.schema()).await;
        if !same_name {
            fresh += 1;
            names[slot] = format!("crash-{slot}-{fresh}");
        }
        running[slot] = Some(crash_env.start(&names[slot]));
        kills.push(Kill {
            after: crash_start.elapsed(),
            consumer,
            pending,
            rows,
            restarted_as: names[slot].clone(),
        });
    }
    wait_until_complete(&redis, &crash_stream, &crash_group, &last).await;
    let crash_time = crash_start.elapsed();
    for process in running.iter_mut().filter_map(Option::take) {
        process.kill();
    }
    let mut log = String::new();
    for kill in &kills {
        let _ = writeln!(
            log,
            "  at {:>6.2?}: killed {} holding {} unacknowledged entries, {} of {final_rows} records \
             indexed; restarted as {}",
            kill.after, kill.consumer, kill.pending, kill.rows, kill.restarted_as
        );
    }
    eprintln!(
        "crash run: {} kills (delays stretched {stretch:.1}x) in {crash_time:?}\n{log}",
        kills.len()
    );

    // Nothing was dead-lettered on the way, by either run.
    for stream in [&backfill_stream, &crash_stream] {
        let dead = sluice_queue::dead_letter::dead_letter_stream(stream);
        assert_eq!(redis.xlen(&dead).await, 0, "{dead} is not empty");
    }
    // The kills landed in the middle of the work (the group had work left: a kill is skipped
    // otherwise), some on an indexer holding unacknowledged entries, and at least once such an
    // indexer came back under a new name, so that a survivor had to reclaim its entries.
    let mid_work = kills
        .iter()
        .filter(|k| k.rows > 0 && k.rows < final_rows)
        .count();
    assert!(
        mid_work >= MIN_KILLS_MID_WORK,
        "only {mid_work} of {} kills landed in the middle of the work:\n{log}",
        kills.len()
    );
    assert!(
        kills
            .iter()
            .any(|k| k.pending > 0 && k.restarted_as != k.consumer),
        "no killed indexer left entries for another to reclaim:\n{log}"
    );

    // 5. Table by table.
    let report = compare_schemas(&pool, clean.schema(), crash.schema()).await;
    if !report.differences.is_empty() && std::env::var_os("SLUICE_E2E_KEEP_SCHEMAS").is_some() {
        eprintln!(
            "keeping schemas {} (clean run) and {} (crash run)",
            clean.schema(),
            crash.schema()
        );
        let _ = std::mem::ManuallyDrop::new(clean);
        let _ = std::mem::ManuallyDrop::new(crash);
    }
    eprintln!("{}", report.summary);
    for table in [
        "record",
        "post",
        "like",
        "follow",
        "post_agg",
        "profile_agg",
    ] {
        assert!(
            report.rows.iter().any(|(t, rows)| t == table && *rows > 0),
            "the clean run left {table} empty: the comparison would prove little"
        );
    }
    assert!(
        report.differences.is_empty(),
        "the crash run's tables differ from the clean run's:\n{}",
        report.differences.join("\n")
    );
    eprintln!("crash test done in {:?}", test_start.elapsed());
    devnet.shutdown().await.expect("shutdown");
}

async fn wait_until_complete(redis: &TestRedis, stream: &str, group: &str, last: &str) {
    let start = Instant::now();
    while !completed(redis, stream, group, last).await {
        assert!(
            start.elapsed() < TIMEOUT,
            "{group} did not finish {stream} in {TIMEOUT:?}: {:?}",
            group_state(redis, stream, group).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What [`compare_schemas`] found.
struct Comparison {
    /// Rows per compared table (the clean run's).
    rows: Vec<(String, i64)>,
    /// One line per table.
    summary: String,
    /// Per differing table: the counts and the first differing rows of each side.
    differences: Vec<String>,
}

/// Serial columns (`nextval` defaults) of `table`.
async fn serial_columns(pool: &PgPool, schema: &str, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 AND column_default LIKE 'nextval(%'",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await
    .expect("serial columns")
}

/// The rows whose [`ORDER_DEPENDENT`] columns may differ between two runs, for `table`: a
/// subquery giving their primary keys (`uri`). The records are the same in both runs (`record`
/// is compared in full), so the clean run's posts and gates serve both.
fn order_dependent_rows(clean: &str, table: &str) -> String {
    // Replies under a thread gate with a rule on follows or list membership: the rule is
    // evaluated on the follows and lists indexed when the reply is (as the reference does).
    let replies = format!(
        r#"SELECT p.uri FROM "{clean}".post p
             JOIN "{clean}".thread_gate g ON g."postUri" = p."replyRoot"
             JOIN "{clean}".record r ON r.uri = g.uri
           WHERE r.json LIKE '%#followerRule%' OR r.json LIKE '%#followingRule%'
              OR r.json LIKE '%#listRule%'"#
    );
    match table {
        "post" => replies,
        "post_agg" => format!(
            r#"SELECT "replyParent" FROM "{clean}".post WHERE uri IN ({replies})
                 AND "replyParent" IS NOT NULL"#
        ),
        _ => "SELECT NULL::varchar WHERE false".to_owned(),
    }
}

/// Compares `columns` of `table` between the two schemas, as multisets of rows (each value as
/// text), on the rows `filter` (a SQL condition, or `TRUE`) keeps. Returns a summary line and
/// the differences, if any.
async fn compare_table(
    pool: &PgPool,
    (clean, crash): (&str, &str),
    table: &str,
    columns: &[&String],
    filter: &str,
) -> (i64, String, Option<String>) {
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\"::text AS \"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let ours = format!("\"{clean}\".\"{table}\"");
    let theirs = format!("\"{crash}\".\"{table}\"");
    let clean_rows = count(pool, &format!("SELECT count(*) FROM {ours} WHERE {filter}")).await;
    let crash_rows = count(
        pool,
        &format!("SELECT count(*) FROM {theirs} WHERE {filter}"),
    )
    .await;
    let only = |a: &str, b: &str| {
        format!(
            "SELECT {list} FROM {a} WHERE {filter} EXCEPT ALL SELECT {list} FROM {b} WHERE {filter}"
        )
    };
    let only_clean = count(
        pool,
        &format!("SELECT count(*) FROM ({}) d", only(&ours, &theirs)),
    )
    .await;
    let only_crash = count(
        pool,
        &format!("SELECT count(*) FROM ({}) d", only(&theirs, &ours)),
    )
    .await;
    let equal = clean_rows == crash_rows && only_clean == 0 && only_crash == 0;
    let line = format!(
        "{:6} {clean_rows:>7} rows, {} columns",
        if equal { "equal" } else { "DIFFER" },
        columns.len()
    );
    if equal {
        return (clean_rows, line, None);
    }
    let key = primary_key(pool, clean, table).await;
    let key: Vec<String> = if key.iter().all(|k| columns.contains(&k)) {
        key
    } else {
        Vec::new()
    };
    let sample = |a: String, b: String| {
        let sql = format!(
            "SELECT row_to_json(d) FROM ({} ORDER BY 1 LIMIT {DIFF_SAMPLE}) d",
            only(&a, &b)
        );
        async move {
            sqlx::query_scalar::<_, sqlx::types::Json<serde_json::Value>>(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|json| json.0)
                .collect::<Vec<_>>()
        }
    };
    let clean_sample = sample(ours.clone(), theirs.clone()).await;
    let crash_sample = sample(theirs, ours).await;
    let mut difference = format!(
        "{table}: clean {clean_rows} rows, crash {crash_rows} rows; {only_clean} rows only in \
         the clean run, {only_crash} only in the crash run (key: {key:?})"
    );
    difference.push_str(&row_diff(&key, &clean_sample, &crash_sample));
    (clean_rows, line, Some(difference))
}

/// Compares every base table of `clean` with the same table of `crash` (see the module docs).
async fn compare_schemas(pool: &PgPool, clean: &str, crash: &str) -> Comparison {
    let tables_of = |schema: &str| {
        sqlx::query_scalar::<_, String>(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .bind(schema.to_owned())
        .fetch_all(pool)
    };
    let tables = tables_of(clean).await.expect("tables");
    let crash_tables = tables_of(crash).await.expect("tables");
    let mut comparison = Comparison {
        rows: Vec::new(),
        summary: String::from("table by table, clean run against crash run:\n"),
        differences: Vec::new(),
    };
    if tables != crash_tables {
        comparison.differences.push(format!(
            "the schemas have different tables:\n  clean: {tables:?}\n  crash: {crash_tables:?}"
        ));
    }
    for table in &tables {
        if let Some((_, why)) = EXCLUDED_TABLES.iter().find(|(t, _)| t == table) {
            let _ = writeln!(comparison.summary, "  {table:32} not compared: {why}");
            continue;
        }
        let serial = serial_columns(pool, clean, table).await;
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(clean)
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("columns");
        let excluded = |column: &str| {
            serial.iter().any(|c| c == column)
                || EXCLUDED_COLUMNS
                    .iter()
                    .any(|(t, c, _)| t == table && *c == column)
        };
        let order_dependent = |column: &str| {
            ORDER_DEPENDENT
                .iter()
                .any(|(t, c)| t == table && *c == column)
        };
        let compared: Vec<&String> = columns
            .iter()
            .filter(|c| !excluded(c) && !order_dependent(c))
            .collect();
        let (rows, mut line, difference) =
            compare_table(pool, (clean, crash), table, &compared, "TRUE").await;
        comparison.rows.push((table.clone(), rows));
        comparison.differences.extend(difference);
        let skipped: Vec<&str> = columns
            .iter()
            .map(String::as_str)
            .filter(|c| excluded(c))
            .collect();
        if !skipped.is_empty() {
            let _ = write!(line, " (not compared: {})", skipped.join(", "));
        }
        let apart: Vec<&String> = columns.iter().filter(|c| order_dependent(c)).collect();
        if !apart.is_empty() {
            let names: Vec<&str> = apart.iter().map(|c| c.as_str()).collect();
            let _ = write!(line, " (compared apart: {})", names.join(", "));
        }
        let _ = writeln!(comparison.summary, "  {table:32} {line}");

        // The order-dependent columns, with the primary key, on every row but the known cases.
        if apart.is_empty() {
            continue;
        }
        let key = primary_key(pool, clean, table).await;
        let mut with_key: Vec<&String> = columns.iter().filter(|c| key.contains(c)).collect();
        with_key.extend(apart.iter().copied());
        let known = order_dependent_rows(clean, table);
        let (_, line, difference) = compare_table(
            pool,
            (clean, crash),
            table,
            &with_key,
            &format!("uri NOT IN ({known})"),
        )
        .await;
        comparison.differences.extend(difference);
        let known_rows = count(
            pool,
            &format!("SELECT count(DISTINCT k) FROM ({known}) d(k)"),
        )
        .await;
        let names: Vec<&str> = apart.iter().map(|c| c.as_str()).collect();
        let _ = writeln!(
            comparison.summary,
            "  {table:32} {line}: {} on all rows but {known_rows} known to depend on the order",
            names.join(", ")
        );
    }
    comparison
}

/// Differing rows sampled per side and table.
const DIFF_SAMPLE: usize = 200;
/// Differences printed per table.
const DIFF_LINES: usize = 10;

/// The primary key columns of `table` (empty when it has none).
async fn primary_key(pool: &PgPool, schema: &str, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND i.indisprimary
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap_or_default()
}

/// The first differences between two samples of rows that only one side has: rows of the same
/// key side by side (only the columns that differ), then rows whose key only one side has.
fn row_diff(key: &[String], clean: &[serde_json::Value], crash: &[serde_json::Value]) -> String {
    let key_of = |row: &serde_json::Value| -> Option<Vec<serde_json::Value>> {
        (!key.is_empty()).then(|| key.iter().map(|k| row[k.as_str()].clone()).collect())
    };
    let mut out = String::new();
    let mut lines = 0;
    let mut paired = std::collections::HashSet::new();
    for row in clean {
        let Some(other) =
            key_of(row).and_then(|k| crash.iter().position(|r| key_of(r).as_ref() == Some(&k)))
        else {
            continue;
        };
        paired.insert(other);
        if lines < DIFF_LINES {
            let _ = write!(out, "\n    {}:", compact(&serde_json::json!(key_of(row))));
            if let (Some(a), Some(b)) = (row.as_object(), crash[other].as_object()) {
                for (column, value) in a.iter().filter(|(c, v)| b.get(*c) != Some(*v)) {
                    let _ = write!(
                        out,
                        "\n        {column}: clean {}, crash {}",
                        compact(value),
                        compact(b.get(column).unwrap_or(&serde_json::Value::Null))
                    );
                }
            }
        }
        lines += 1;
    }
    for (side, rows) in [("clean", clean), ("crash", crash)] {
        for (index, row) in rows.iter().enumerate() {
            let is_paired = if side == "crash" {
                paired.contains(&index)
            } else {
                key_of(row).is_some_and(|k| crash.iter().any(|r| key_of(r).as_ref() == Some(&k)))
            };
            if is_paired {
                continue;
            }
            if lines < DIFF_LINES {
                let _ = write!(out, "\n    only in the {side} run: {}", compact(row));
            }
            lines += 1;
        }
    }
    if lines > DIFF_LINES {
        let _ = write!(out, "\n    … {} more", lines - DIFF_LINES);
    }
    out
}

/// A JSON value on one line, long texts cut.
fn compact(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.len() > 300 {
        format!("{}…", truncate(&text, 300))
    } else {
        text
    }
}

/// `text` cut to at most `max` bytes (on a character boundary).
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
