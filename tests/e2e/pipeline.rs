//! The whole pipeline against a real PDS and labeler: `sluice ingester` (firehose from cursor 0,
//! repo listing, labels), `sluice backfiller` and `sluice indexer` with the Bluesky plugins (WASM
//! components, installed from a directory into the plugin registry) end in Postgres rows that
//! match the network's manifest: every live post, like, repost, follow, block, list item and
//! label, and every account with its current handle. Then, table by table, the rows equal those
//! the reference AppView wrote for the same network (apart from `indexedAt`, `sortAt`, serial ids
//! and the tables listed in `KNOWN_DIFFERENCES`); `sluice repair` finds no drift and repairs a
//! damaged count; and the reference API served from Sluice's schema (`serve-appview`) answers as
//! the reference AppView (`compare-appviews.mjs`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_store::TestDb;

use crate::support::realnet::RealnetProcess;
use crate::support::sluice_bin::SluiceProcess;
use crate::support::test_redis::TestRedis;

const TIMEOUT: Duration = Duration::from_secs(180);

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
    let plugins = crate::support::builtin_plugin_dir();
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

    // To inspect both schemas by hand: SLUICE_E2E_PAUSE_SECS keeps everything up that long.
    if let Some(secs) = std::env::var("SLUICE_E2E_PAUSE_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        eprintln!(
            "pausing {secs}s: ours {}, reference {reference}",
            db.schema()
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }

    // Counts are exact: `sluice repair` finds no drift; after a count is damaged by hand it
    // reports exactly that one, `--fix` corrects it, and a re-check is clean again.
    let repair = |fix: bool| {
        let mut args = vec!["repair", "--json"];
        if fix {
            args.push("--fix");
        }
        run_sluice(&args, &common)
    };
    let (ok, report) = repair(false);
    assert!(ok, "sluice repair found drift in a fresh index: {report}");
    let liked: String = sqlx::query_scalar(
        r#"SELECT uri FROM post_agg WHERE "likeCount" > 0 ORDER BY uri LIMIT 1"#,
    )
    .fetch_one(db.pool())
    .await
    .expect("a liked post");
    sqlx::query(r#"UPDATE post_agg SET "likeCount" = "likeCount" + 5 WHERE uri = $1"#)
        .bind(&liked)
        .execute(db.pool())
        .await
        .expect("damage a count");
    let (ok, report) = repair(false);
    assert!(!ok, "sluice repair missed a damaged count: {report}");
    let like_count = report["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .find(|c| {
            c["target"]
                .as_str()
                .is_some_and(|t| t.ends_with(".post_agg.likeCount"))
        })
        .unwrap_or_else(|| panic!("post_agg.likeCount is not checked: {report}"));
    assert_eq!(like_count["drifted"], 1, "{report}");
    assert_eq!(like_count["examples"][0]["key"], liked.as_str(), "{report}");
    let (ok, report) = repair(true);
    assert!(ok, "sluice repair --fix: {report}");
    let (ok, report) = repair(false);
    assert!(ok, "drift left after sluice repair --fix: {report}");

    // The reference read path (data plane + API from `@atproto/bsky`) served from our schema
    // answers as the reference AppView that indexed the network itself.
    let summary = compare_appviews(&net, db.schema()).await;
    eprintln!("compare-appviews, reference AppView vs reference API on Sluice's schema: {summary}");
    let calls = summary["calls"].as_i64().expect("calls");
    let different = summary["different"].as_i64().expect("different");
    assert!(calls > 100, "compare-appviews asked too little: {summary}");
    // Every call answers alike, status included (a failing read of Sluice's schema would show
    // as a 500 here), apart from the few answers that show the rows of `KNOWN_DIFFERENCES`
    // (e.g. the thread gate of an edited post, which the reference loses).
    for diff in summary["first_diffs"].as_array().expect("first_diffs") {
        assert_eq!(
            diff["status"][0], diff["status"][1],
            "the reference API answers differently on Sluice's schema: {diff}"
        );
    }
    assert!(
        different * 100 <= calls * MAX_DIFFERENT_ANSWERS_PERCENT,
        "answers of the reference API on Sluice's schema differ from the reference AppView's: {summary}"
    );
}

/// Runs `sluice <args>` to completion with `env`; returns whether it exited 0 and its stdout as
/// JSON.
fn run_sluice(args: &[&str], env: &[(&str, String)]) -> (bool, serde_json::Value) {
    let output = std::process::Command::new(crate::support::sluice_bin::sluice_binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|error| panic!("sluice {args:?}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "sluice {args:?} printed no JSON ({error}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), json)
}

/// At most this share (in percent) of `compare-appviews.mjs` calls may differ: those showing
/// the rows of [`KNOWN_DIFFERENCES`] (3 of 610 in the runs so far).
const MAX_DIFFERENT_ANSWERS_PERCENT: i64 = 2;

/// Starts `serve-appview` (the reference data plane and API) on `schema`, configured as the
/// network's own AppView (same PLC, PDS, moderation service and labelers), and runs
/// `compare-appviews.mjs` between the network's AppView and it. Returns the script's summary
/// object (`calls`, `equal`, `different`, `endpoints`, `first_diffs`, ...).
async fn compare_appviews(net: &RealnetProcess, schema: &str) -> serde_json::Value {
    let ozone = net.str_at("/ozone/did").to_owned();
    let labelers = format!("{ozone},did:example:labeler");
    let served = RealnetProcess::start(
        "serve-appview",
        &[
            "--pg-schema",
            schema,
            "--plc",
            net.str_at("/plc/url"),
            "--pds",
            net.str_at("/pds/url"),
            "--mod-service-did",
            &ozone,
            "--labelers",
            &labelers,
        ],
    )
    .await;
    let output = tokio::process::Command::new(crate::support::node())
        .arg(crate::support::realnet_dir().join("compare-appviews.mjs"))
        .arg(net.str_at("/appview/url"))
        .arg(served.str_at("/url"))
        .arg("--data-dir")
        .arg(net.data_dir())
        .args(["--max-diffs", "100"])
        .output()
        .await
        .expect("run compare-appviews.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.contains("compare_appviews"))
        .unwrap_or_else(|| {
            panic!(
                "compare-appviews printed no summary ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let parsed: serde_json::Value = serde_json::from_str(line).expect("summary JSON");
    parsed["compare_appviews"].clone()
}

/// Tables where the reference's own results are wrong or racy, so that they cannot match row
/// for row (what the report showed, and why; the closing notes of issue 6 have the details):
/// - `post`: `invalidReplyRoot`/`violatesThreadGate` of about a dozen replies. The reference
///   indexes each account's events in its own queue, concurrently, so a reply is often judged
///   before its parent (from another account) is indexed and marked invalid forever. Sluice
///   settles replies when the parent arrives. Sluice marks invalid a reply whose parent was
///   deleted *later*, which the reference, judging it live, did not. `hasThreadGate` of an
///   edited post: the reference's update re-inserts the post without it.
/// - `notification`: the reference's reply notifications depend on the same races (ancestors
///   not yet indexed notify nobody), and vary from run to run; Sluice's are those of commit
///   order.
/// - `post_agg`: the reference's `quoteCount` is not decreased when a quote row is removed by
///   the deletion of the quoted post; Sluice's equals the `quote` rows (`sluice repair` checks).
/// - `quote` (in about half the runs, one row): Sluice's own order-dependence. A quote whose
///   quoted post is deleted soon after can be indexed after the deletion (another repo's batch),
///   and then keeps its row, which in commit order the deletion removed.
const KNOWN_DIFFERENCES: [&str; 4] = ["post", "notification", "post_agg", "quote"];

/// Columns whose values legitimately differ between two indexers of the same network: when the
/// row was indexed, what is derived from it, and serial ids.
const DIFFERING_COLUMNS: [&str; 3] = ["indexedAt", "sortAt", "id"];

/// The SQL expression under which `column` of `table` (in `schema`) is compared. A profile
/// record without `createdAt` gets the indexing wall-clock time on both sides (the reference's
/// rule, which Sluice follows), so there `createdAt` is compared as "the indexing time".
fn compared_column(schema: &str, table: &str, column: &str) -> String {
    if table == "op_thread_reply" && column == "deletedAt" {
        // The reference writes the wall-clock time of its delete, Sluice the delete's indexing
        // time: compared as "deleted or not".
        return r#"("deletedAt" IS NULL) AS "deletedAt""#.to_owned();
    }
    if table == "profile" && column == "createdAt" {
        format!(
            r#"CASE WHEN (SELECT r.json::jsonb ? 'createdAt' FROM "{schema}".record r WHERE r.uri = t.uri)
                    THEN "createdAt" ELSE 'indexing time' END AS "createdAt""#
        )
    } else {
        format!("\"{column}\"")
    }
}

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
        let list_in = |schema: &str| {
            columns
                .iter()
                .filter(|c| !DIFFERING_COLUMNS.contains(&c.as_str()))
                .map(|c| compared_column(schema, &table, c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Each side as a subquery of its compared columns and rows.
        let ours = format!(
            "(SELECT {} FROM \"{}\".\"{table}\" t) AS side",
            list_in(db.schema()),
            db.schema()
        );
        let theirs = format!(
            "(SELECT {} FROM \"{reference}\".\"{table}\" t) AS side",
            list_in(reference)
        );
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
            "SELECT count(*) FROM (SELECT * FROM {ours} EXCEPT ALL SELECT * FROM {theirs}) d"
        ))
        .await;
        let only_theirs = count(format!(
            "SELECT count(*) FROM (SELECT * FROM {theirs} EXCEPT ALL SELECT * FROM {ours}) d"
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
                "SELECT row_to_json(d)::text FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b} ORDER BY 1 LIMIT 2) d"
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
