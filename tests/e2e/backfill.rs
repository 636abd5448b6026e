//! `sluice backfiller` against a real PDS: every record of every repo reaches
//! `firehose_backfill` once per backfill; a SIGKILL in the middle loses nothing.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::support::realnet::RealnetProcess;
use crate::support::sluice_bin::SluiceProcess;
use crate::support::test_redis::TestRedis;

const TIMEOUT: Duration = Duration::from_secs(90);
const CHUNK: usize = 10;

fn env(redis: &TestRedis, net: &RealnetProcess) -> Vec<(&'static str, String)> {
    vec![
        ("REDIS_HOST", redis.url.clone()),
        ("BACKFILLER_CONSUMER", "one".to_owned()),
        ("BACKFILLER_CONCURRENCY", "2".to_owned()),
        ("BACKFILLER_BACKFILL_STREAM", redis.key("repo_backfill")),
        ("BACKFILLER_FIREHOSE_STREAM", redis.key("firehose_backfill")),
        ("METRICS_PORT", "0".to_owned()),
        ("SLUICE_PLC_URL", net.str_at("/plc/url").to_owned()),
        ("SLUICE_BACKFILLER_CHUNK_SIZE", CHUNK.to_string()),
        ("SLUICE_BACKFILLER_CLAIM_IDLE_SECS", "2".to_owned()),
    ]
}

/// The live records of the manifest, per DID, as `collection/rkey`.
fn manifest(net: &RealnetProcess) -> HashMap<String, HashSet<String>> {
    let path = net.data_dir().join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for (uri, record) in manifest["live"].as_object().unwrap() {
        let path = uri.splitn(4, '/').nth(3).unwrap().to_owned();
        out.entry(record["did"].as_str().unwrap().to_owned())
            .or_default()
            .insert(path);
    }
    out
}

async fn queue_every_account(redis: &TestRedis, net: &RealnetProcess) {
    for account in net.info()["accounts"].as_array().unwrap() {
        let entry = serde_json::json!({ "did": account["did"], "host": net.str_at("/pds/url") });
        let _: String = redis::cmd("XADD")
            .arg(redis.key("repo_backfill"))
            .arg("*")
            .arg("repo")
            .arg(entry.to_string())
            .query_async(&mut redis.conn.clone())
            .await
            .unwrap();
    }
}

/// Per DID, every backfilled `collection/rkey` (with repeats).
async fn backfilled(redis: &TestRedis) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for event in redis.json(&redis.key("firehose_backfill"), "event").await {
        if event["type"] == "create" {
            out.entry(event["did"].as_str().unwrap().to_owned())
                .or_default()
                .push(format!(
                    "{}/{}",
                    event["collection"].as_str().unwrap(),
                    event["rkey"].as_str().unwrap()
                ));
        }
    }
    out
}

async fn wait_drained(redis: &TestRedis) {
    let start = Instant::now();
    while redis.xlen(&redis.key("repo_backfill")).await > 0 {
        assert!(
            start.elapsed() < TIMEOUT,
            "repo_backfill not drained in {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfiller_copies_every_record_once_and_survives_sigkill() {
    crate::support::install_crypto_provider();
    let net = RealnetProcess::up(&["--users", "12"]).await;
    let expected = manifest(&net);

    // A clean run: every record exactly once.
    let clean = TestRedis::new(crate::support::test_redis::SCOPE, "backfill-clean").await;
    queue_every_account(&clean, &net).await;
    let backfiller = SluiceProcess::start(&["backfiller"], &env(&clean, &net));
    wait_drained(&clean).await;
    assert!(
        backfiller.terminate(Duration::from_secs(20)),
        "clean exit on SIGTERM"
    );
    let got = backfilled(&clean).await;
    for account in net.info()["accounts"].as_array().unwrap() {
        let did = account["did"].as_str().unwrap();
        let records = got.get(did).cloned().unwrap_or_default();
        let distinct: HashSet<String> = records.iter().cloned().collect();
        assert_eq!(records.len(), distinct.len(), "no record of {did} twice");
        assert_eq!(
            distinct,
            expected.get(did).cloned().unwrap_or_default(),
            "records of {did}"
        );
    }

    // Killed in the middle, started again under the same consumer name: nothing lost, and no
    // more repeats than one chunk per repo in progress.
    let killed = TestRedis::new(crate::support::test_redis::SCOPE, "backfill-kill").await;
    queue_every_account(&killed, &net).await;
    let first = SluiceProcess::start(&["backfiller"], &env(&killed, &net));
    let start = Instant::now();
    while killed.xlen(&killed.key("firehose_backfill")).await == 0 {
        assert!(start.elapsed() < TIMEOUT);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    let second = SluiceProcess::start(&["backfiller"], &env(&killed, &net));
    wait_drained(&killed).await;
    drop(second);
    let got = backfilled(&killed).await;
    let mut repeats = 0;
    for account in net.info()["accounts"].as_array().unwrap() {
        let did = account["did"].as_str().unwrap();
        let records = got.get(did).cloned().unwrap_or_default();
        let distinct: HashSet<String> = records.iter().cloned().collect();
        repeats += records.len() - distinct.len();
        assert_eq!(
            distinct,
            expected.get(did).cloned().unwrap_or_default(),
            "records of {did} after SIGKILL"
        );
    }
    assert!(
        repeats <= 2 * CHUNK,
        "{repeats} records repeated: more than a chunk per repo in progress"
    );
}
