//! The whole pipeline against a real PDS and labeler: `sluice ingester` (firehose from cursor 0,
//! repo listing, labels), `sluice backfiller` and `sluice indexer` with the Bluesky plugins (WASM
//! components, installed from a directory into the plugin registry) end in Postgres rows that
//! match the network's manifest: every live post, like, repost, follow, block, list item and
//! label, and every account with its current handle. Then, table by table, the rows equal those
//! the reference AppView wrote for the same network (apart from `indexedAt`, `sortAt`, serial ids
//! and the tables listed in `KNOWN_DIFFERENCES`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_store::TestDb;

use crate::support::realnet::RealnetProcess;
use crate::support::sluice_bin::SluiceProcess;
use crate::support::test_redis::TestRedis;

const TIMEOUT: Duration = Duration::from_secs(180);

/// The Bluesky plugins, built as WASM components, copied into one directory.
fn builtin_plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for package in [
        "sluice-bsky-actor",
        "sluice-bsky-feed",
        "sluice-bsky-graph",
        "sluice-bsky-labels",
    ] {
        let wasm = sluice_plugin_host::guest_build::build(package)
            .unwrap_or_else(|error| panic!("building {package}: {error}"));
        std::fs::copy(&wasm, dir.path().join(wasm.file_name().expect("file name")))
            .expect("copy the plugin");
    }
    dir
}

/// Live records of the manifest per collection.
fn expected_counts(net: &RealnetProcess) -> BTreeMap<String, i64> {
    let path = net.data_dir().join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("manifest JSON");
    let mut counts = BTreeMap::new();
    for uri in manifest["live"].as_object().expect("live records").keys() {
        let collection = uri.split('/').nth(3).expect("collection").to_owned();
        *counts.entry(collection).or_insert(0) += 1;
    }
    counts
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingester_backfiller_and_indexer_index_a_real_network_into_postgres() {
    crate::support::install_crypto_provider();
    let plugins = builtin_plugin_dir();
    let net = RealnetProcess::up(&["--users", "12", "--appview", "--labels"]).await;
    let redis = TestRedis::new(crate::support::test_redis::SCOPE, "pipeline").await;
    let db = TestDb::migrated().await;
    let pds = net.str_at("/pds/url").to_owned();
    // From the beginning of the firehose: the PDS's history is the test's live traffic.
    redis
        .set(
            &format!(
                "{}:cursor:{}",
                redis.key("firehose_live"),
                pds.trim_start_matches("http://")
            ),
            "0",
        )
        .await;

    let common = vec![
        ("SLUICE_REDIS_URL", redis.url.clone()),
        ("SLUICE_DATABASE_URL", db.database_url().to_owned()),
        ("SLUICE_DATABASE_SCHEMA", db.schema().to_owned()),
        ("SLUICE_PLC_URL", net.str_at("/plc/url").to_owned()),
        // Handles of the test network resolve at its PDS.
        ("SLUICE_HANDLE_RESOLVER_URL", pds.clone()),
        ("SLUICE_METRICS_PORT", "0".to_owned()),
    ];
    let with = |extra: &[(&'static str, String)]| {
        let mut env = common.clone();
        env.extend(extra.iter().cloned());
        env
    };
    let firehose_streams = format!(
        "{},{}",
        redis.key("firehose_live"),
        redis.key("firehose_backfill")
    );
    let _indexer = SluiceProcess::start(
        &["indexer"],
        &with(&[
            ("SLUICE_INDEXER_CONSUMER", "one".to_owned()),
            ("SLUICE_INDEXER_STREAMS", firehose_streams),
            ("SLUICE_INDEXER_LABEL_STREAM", redis.key("label_live")),
            ("SLUICE_INDEXER_GROUP", redis.key("firehose_group")),
            ("SLUICE_INDEXER_LABEL_GROUP", redis.key("label_group")),
            (
                "SLUICE_INDEXER_BUILTIN_PLUGIN_DIR",
                plugins.path().display().to_string(),
            ),
        ]),
    );
    // The ingester filters collections by what the plugins claim: start it once they are
    // installed, so that the filter is the plugins' from the first frame.
    let start = Instant::now();
    while count(&db, "SELECT count(*) FROM sluice_plugin").await < 4 {
        assert!(start.elapsed() < TIMEOUT, "the plugins were not installed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ingester = SluiceProcess::start(
        &["ingester"],
        &with(&[
            ("SLUICE_INGESTER_HOSTS", pds.clone()),
            (
                "SLUICE_INGESTER_LABELER_HOSTS",
                net.str_at("/ozone/url").to_owned(),
            ),
            (
                "SLUICE_INGESTER_FIREHOSE_STREAM",
                redis.key("firehose_live"),
            ),
            ("SLUICE_INGESTER_REPO_STREAM", redis.key("repo_backfill")),
            ("SLUICE_INGESTER_LABEL_STREAM", redis.key("label_live")),
        ]),
    );
    let _backfiller = SluiceProcess::start(
        &["backfiller"],
        &with(&[
            ("SLUICE_BACKFILLER_CONSUMER", "one".to_owned()),
            ("SLUICE_BACKFILLER_GROUP", redis.key("repo_backfill_group")),
            (
                "SLUICE_BACKFILLER_BACKFILL_STREAM",
                redis.key("repo_backfill"),
            ),
            (
                "SLUICE_BACKFILLER_FIREHOSE_STREAM",
                redis.key("firehose_backfill"),
            ),
        ]),
    );

    let expected = expected_counts(&net);
    let tables = [
        ("app.bsky.feed.post", "post"),
        ("app.bsky.feed.like", "\"like\""),
        ("app.bsky.feed.repost", "repost"),
        ("app.bsky.graph.follow", "follow"),
        ("app.bsky.graph.listitem", "list_item"),
        ("app.bsky.graph.list", "list"),
        ("app.bsky.feed.threadgate", "thread_gate"),
        ("app.bsky.feed.postgate", "post_gate"),
        ("app.bsky.feed.generator", "feed_generator"),
        ("app.bsky.graph.starterpack", "starter_pack"),
    ];
    let labels = net
        .info()
        .pointer("/counts/labels")
        .and_then(serde_json::Value::as_i64)
        .expect("label count");
    let accounts = net.info()["accounts"].as_array().expect("accounts").clone();

    // Wait until every table holds what the manifest says (or time out and show the difference).
    let start = Instant::now();
    loop {
        let mut differences = Vec::new();
        for (collection, table) in tables {
            let want = expected.get(collection).copied().unwrap_or(0);
            let got = count(&db, &format!("SELECT count(*) FROM {table}")).await;
            if got != want {
                differences.push(format!("{table}: {got} rows, manifest {want}"));
            }
        }
        let got_labels = count(&db, "SELECT count(*) FROM label").await;
        if got_labels != labels {
            differences.push(format!("label: {got_labels} rows, manifest {labels}"));
        }
        for account in &accounts {
            let did = account["did"].as_str().expect("did");
            let handle = account["handle"].as_str().expect("handle");
            let stored: Option<Option<String>> =
                sqlx::query_scalar("SELECT handle FROM actor WHERE did = $1")
                    .bind(did)
                    .fetch_optional(db.pool())
                    .await
                    .expect("read actor");
            if stored != Some(Some(handle.to_owned())) {
                differences.push(format!("actor {did}: {stored:?}, manifest {handle}"));
            }
        }
        if differences.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "the index does not match the network:\n{}",
            differences.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Table by table against the reference AppView that indexed the same network: every table
    // with rows must match, apart from the known differences (which the report shows).
    let reference = net.str_at("/appview/pg_schema").to_owned();
    let start = Instant::now();
    loop {
        let report = compare_with_reference(&db, &reference).await;
        let failing = report.iter().any(|line| {
            let table = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(':');
            line.starts_with("DIFFER") && !KNOWN_DIFFERENCES.contains(&table)
        });
        if !failing {
            eprintln!(
                "table by table against the reference AppView:\n{}",
                report.join("\n")
            );
            break;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "tables differ from the reference AppView's:\n{}",
            report.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Nothing was parked or dead-lettered on the way.
    for stream in ["firehose_live", "firehose_backfill", "label_live"] {
        let key = sluice_queue::dead_letter::dead_letter_stream(&redis.key(stream));
        assert_eq!(redis.xlen(&key).await, 0, "{key} is not empty");
    }
}

/// Tables that do not match the reference yet (issue: indexer). What the report showed:
/// - `record`: `json` keeps keys in sorted order; the reference keeps DAG-CBOR's order (shorter
///   keys first), so the text differs although the values are equal.
/// - `post`, `op_thread_reply`, `notification`, `feed_item`, `quote`: a few rows around replies
///   to deleted posts, thread gates and reposts differ (`deletedAt` set on other rows, reply
///   notifications the reference does not send, reposts missing from `feed_item`); the
///   reference's own notification count also varies from run to run.
/// - `profile`: `createdAt` of a profile without one is the indexing time on both sides.
/// - `post_agg`: one count differed in one run of three.
const KNOWN_DIFFERENCES: [&str; 8] = [
    "record",
    "post",
    "op_thread_reply",
    "notification",
    "feed_item",
    "quote",
    "profile",
    "post_agg",
];

/// Columns whose values legitimately differ between two indexers of the same network: when the
/// row was indexed, what is derived from it, and serial ids.
const DIFFERING_COLUMNS: [&str; 3] = ["indexedAt", "sortAt", "id"];

/// Compares every table of the reference AppView's schema with ours, row by row on the columns
/// both have (minus [`DIFFERING_COLUMNS`]). One line per table with rows on either side.
async fn compare_with_reference(db: &TestDb, reference: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 AND table_type = 'BASE TABLE'
           AND table_name NOT LIKE 'kysely_%' ORDER BY 1",
    )
    .bind(reference)
    .fetch_all(db.pool())
    .await
    .expect("reference tables");
    let mut lines = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT r.column_name::text FROM information_schema.columns r
             JOIN information_schema.columns o
               ON o.table_schema = $2 AND o.table_name = r.table_name
              AND o.column_name = r.column_name
             WHERE r.table_schema = $1 AND r.table_name = $3 ORDER BY r.ordinal_position",
        )
        .bind(reference)
        .bind(db.schema())
        .bind(&table)
        .fetch_all(db.pool())
        .await
        .expect("columns");
        let list = columns
            .iter()
            .filter(|c| !DIFFERING_COLUMNS.contains(&c.as_str()))
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let ours = format!("\"{}\".\"{table}\"", db.schema());
        let theirs = format!("\"{reference}\".\"{table}\"");
        let count = |sql: String| async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(db.pool())
                .await
                .unwrap_or(-1)
        };
        let (ours_rows, theirs_rows) = (
            count(format!("SELECT count(*) FROM {ours}")).await,
            count(format!("SELECT count(*) FROM {theirs}")).await,
        );
        if ours_rows == 0 && theirs_rows == 0 {
            continue;
        }
        let only_ours = count(format!(
            "SELECT count(*) FROM (SELECT {list} FROM {ours} EXCEPT ALL SELECT {list} FROM {theirs}) d"
        ))
        .await;
        let only_theirs = count(format!(
            "SELECT count(*) FROM (SELECT {list} FROM {theirs} EXCEPT ALL SELECT {list} FROM {ours}) d"
        ))
        .await;
        let verdict = if only_ours == 0 && only_theirs == 0 {
            "match"
        } else {
            "DIFFER"
        };
        lines.push(format!(
            "{verdict:6} {table}: ours {ours_rows}, reference {theirs_rows}, only ours {only_ours}, only reference {only_theirs}"
        ));
        // A few differing rows of each side, to see which columns differ.
        for (side, a, b) in [("ours", &ours, &theirs), ("reference", &theirs, &ours)] {
            let sample: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT row_to_json(d)::text FROM (SELECT {list} FROM {a} EXCEPT ALL SELECT {list} FROM {b} ORDER BY 1 LIMIT 2) d"
            )))
            .fetch_all(db.pool())
            .await
            .unwrap_or_default();
            for row in sample {
                lines.push(format!("         {side}: {}", truncate(&row, 400)));
            }
        }
    }
    lines
}

/// `text` cut to at most `max` bytes (on a character boundary).
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
