//! `sluice ingester` against a real PDS (and ozone labeler) from the realnet harness: every repo
//! listed, the whole firehose in order, every label, live writes in order; and a SIGKILL in the
//! middle of the firehose loses nothing and resumes after the last confirmed write.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::realnet::RealnetProcess;
use crate::support::sluice_bin::SluiceProcess;
use crate::support::test_redis::TestRedis;
use crate::support::{node, realnet_dir};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The ingester's environment: the reference's variable names where it had them.
fn env(redis: &TestRedis, net: &RealnetProcess, batch: usize) -> Vec<(&'static str, String)> {
    vec![
        ("REDIS_HOST", redis.url.clone()),
        ("INGESTER_HOSTS", net.str_at("/pds/url").to_owned()),
        (
            "INGESTER_LABELER_HOSTS",
            net.str_at("/ozone/url").to_owned(),
        ),
        ("INGESTER_FIREHOSE_STREAM", redis.key("firehose_live")),
        ("INGESTER_REPO_STREAM", redis.key("repo_backfill")),
        ("INGESTER_LABEL_STREAM", redis.key("label_live")),
        ("METRICS_PORT", "0".to_owned()),
        ("SLUICE_PLC_URL", net.str_at("/plc/url").to_owned()),
        ("SLUICE_INGESTER_KEEP_ALL_COLLECTIONS", "true".to_owned()),
        ("SLUICE_INGESTER_BATCH_SIZE", batch.to_string()),
    ]
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cursor(redis: &TestRedis, host: &str) -> u64 {
    let key = format!(
        "{}:cursor:{}",
        redis.key("firehose_live"),
        host.trim_start_matches("http://")
    );
    redis
        .get(&key)
        .await
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Per event: (seq, type, collection, rkey), in stream order.
async fn events(redis: &TestRedis) -> Vec<(u64, String, String, String)> {
    redis
        .json(&redis.key("firehose_live"), "event")
        .await
        .iter()
        .map(|e| {
            let text = |f: &str| e[f].as_str().unwrap_or_default().to_owned();
            (
                e["seq"].as_u64().unwrap(),
                text("type"),
                text("collection"),
                text("rkey"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingester_follows_a_real_pds_and_resumes_after_sigkill() {
    crate::support::install_crypto_provider();
    let net = RealnetProcess::up(&["--users", "12", "--appview", "--labels"]).await;
    let pds = net.str_at("/pds/url").to_owned();
    let head = net
        .info()
        .pointer("/pds/last_seq")
        .and_then(serde_json::Value::as_u64)
        .unwrap();

    // A clean run from cursor 0.
    let clean = TestRedis::new(crate::support::test_redis::SCOPE, "ingest-clean").await;
    let cursor_key = format!(
        "{}:cursor:{}",
        clean.key("firehose_live"),
        pds.trim_start_matches("http://")
    );
    clean.set(&cursor_key, "0").await;
    let ingester = SluiceProcess::start(&["ingester"], &env(&clean, &net, 500));
    wait_for("the firehose head", || async {
        cursor(&clean, &pds).await >= head
    })
    .await;
    let list_key = format!(
        "{}:cursor:{}",
        clean.key("repo_backfill"),
        pds.trim_start_matches("http://")
    );
    wait_for("the end of the listing", || async {
        clean.get(&list_key).await.as_deref() == Some("!ingester-done")
    })
    .await;
    let labels = net
        .info()
        .pointer("/counts/labels")
        .and_then(serde_json::Value::as_u64)
        .unwrap();
    wait_for("every label", || async {
        clean.xlen(&clean.key("label_live")).await >= labels
    })
    .await;

    let mut expected: HashSet<String> = net.info()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["did"].as_str().unwrap().to_owned())
        .collect();
    expected.extend(
        net.info()["system_dids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned()),
    );
    let listed: Vec<String> = clean
        .json(&clean.key("repo_backfill"), "repo")
        .await
        .into_iter()
        .filter(|r| r.get("rev").is_some())
        .map(|r| r["did"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), expected.len(), "every repo listed once");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
    let history = events(&clean).await;
    assert!(
        history.windows(2).all(|w| w[0].0 <= w[1].0),
        "firehose order kept"
    );
    assert_eq!(
        clean.xlen(&clean.key("firehose_live:dead")).await,
        0,
        "the real PDS's frames all verify"
    );

    // Live writes made now reach the stream, in order, after the history.
    let activity = tokio::process::Command::new(node())
        .arg(realnet_dir().join("realnet.mjs"))
        .args([
            "activity",
            "--rate",
            "10",
            "--seconds",
            "4",
            "--accounts",
            "6",
            "--data-dir",
        ])
        .arg(net.data_dir())
        .output()
        .await
        .unwrap();
    assert!(activity.status.success(), "realnet activity failed");
    let mut last = cursor(&clean, &pds).await;
    let mut still = Instant::now();
    while still.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = cursor(&clean, &pds).await;
        if now != last {
            last = now;
            still = Instant::now();
        }
    }
    let all = events(&clean).await;
    let live: Vec<_> = all.iter().filter(|e| e.0 > head).collect();
    assert!(
        live.len() >= 10,
        "live writes reached firehose_live ({} events)",
        live.len()
    );
    assert!(all.windows(2).all(|w| w[0].0 <= w[1].0), "live order kept");
    assert!(
        ingester.terminate(Duration::from_secs(20)),
        "clean exit on SIGTERM"
    );
    let final_head = last;

    // The same firehose, one event per write, killed part-way with SIGKILL and started again.
    let killed = TestRedis::new(crate::support::test_redis::SCOPE, "ingest-kill").await;
    let key = format!(
        "{}:cursor:{}",
        killed.key("firehose_live"),
        pds.trim_start_matches("http://")
    );
    killed.set(&key, "0").await;
    let first = SluiceProcess::start(&["ingester"], &env(&killed, &net, 1));
    wait_for("some progress", || async {
        cursor(&killed, &pds).await > 0
    })
    .await;
    first.kill();
    let at_kill = cursor(&killed, &pds).await;
    let written_before = killed.xlen(&killed.key("firehose_live")).await as usize;
    let before = events(&killed).await;
    assert!(
        before.iter().all(|e| e.0 <= at_kill + 1),
        "nothing written far past the cursor"
    );
    let second = SluiceProcess::start(&["ingester"], &env(&killed, &net, 500));
    wait_for("the head again", || async {
        cursor(&killed, &pds).await >= final_head
    })
    .await;
    drop(second);
    let after = events(&killed).await;
    assert!(
        after[written_before..].iter().all(|e| e.0 > at_kill),
        "the restart resumed after the last confirmed write (cursor {at_kill})"
    );
    let distinct = |v: &[(u64, String, String, String)]| v.iter().cloned().collect::<HashSet<_>>();
    assert_eq!(
        distinct(&after),
        distinct(&all),
        "nothing lost across the SIGKILL"
    );
}
