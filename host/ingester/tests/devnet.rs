//! The ingester against a devnet: every repo listed, every event of the firehose in order, every
//! label; faulty frames rejected, counted and dead-lettered without stopping the stream; a
//! restart resumes from the cursor; back-pressure holds the source.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{TestRedis, devnet, wait_until};
use sluice_devnet::faults::{FaultConfig, FrameFault};
use sluice_ingester::collections::CollectionSource;
use sluice_ingester::{IngesterConfig, OutputStream};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(90);

fn config(redis: &TestRedis, host: &str) -> IngesterConfig {
    let mut config = IngesterConfig::new(&redis.url, vec![host.to_owned()]);
    config.firehose_stream = OutputStream::new(redis.key("firehose_live"));
    config.repo_stream = OutputStream::new(redis.key("repo_backfill"));
    config.label_stream = OutputStream::new(redis.key("label_live"));
    config.identity.plc_url = host.to_owned();
    config.identity_cache_prefix = redis.key("identity:");
    config.status_key = redis.key("ingester:status");
    config.status_interval = Duration::from_millis(100);
    config.backoff.initial = Duration::from_millis(50);
    config.backoff.max = Duration::from_millis(500);
    config.verify.workers = 2;
    config
}

fn cursor_key(redis: &TestRedis, stream: &str, host: &str) -> String {
    sluice_queue::cursor_key(&redis.key(stream), host)
}

/// Starts the ingester; returns its shutdown token and task.
fn start(config: IngesterConfig) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        sluice_ingester::run(config, token).await.unwrap();
    });
    (shutdown, task)
}

async fn cursor_at(redis: &TestRedis, key: &str, head: u64) -> bool {
    redis.get(key).await.and_then(|c| c.parse::<u64>().ok()) == Some(head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_devnet_reaches_the_streams_in_order() {
    let redis = TestRedis::new(common::SCOPE, "whole").await;
    let net = devnet(11, 12, 1_200, FaultConfig::default()).await;
    let host = net.url();
    let truth = net.network().ground_truth();
    let head = net.network().head_seq();
    let label_head = net.network().head_label_seq();
    let firehose_cursor = cursor_key(&redis, "firehose_live", &host);
    redis.set(&firehose_cursor, "0").await;
    let mut config = config(&redis, &host);
    config.labeler_hosts = vec![host.clone()];
    let (shutdown, task) = start(config);

    let label_cursor = cursor_key(&redis, "label_live", &host);
    let list_cursor = cursor_key(&redis, "repo_backfill", &host);
    wait_until(TIMEOUT, "the firehose head", || {
        cursor_at(&redis, &firehose_cursor, head)
    })
    .await;
    wait_until(TIMEOUT, "the label head", || {
        cursor_at(&redis, &label_cursor, label_head)
    })
    .await;
    wait_until(TIMEOUT, "the end of the listing", || async {
        redis.get(&list_cursor).await.as_deref() == Some(sluice_queue::LIST_REPOS_DONE)
    })
    .await;

    // Every repo listed once (listRepos entries carry the rev; the firehose's `#sync` events
    // queue repos too, without one).
    let queued = redis.json(&redis.key("repo_backfill"), "repo").await;
    let listed: Vec<String> = queued
        .iter()
        .filter(|r| r.get("rev").is_some())
        .map(|r| r["did"].as_str().unwrap().to_owned())
        .collect();
    let expected: HashSet<String> = truth["per_repo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["did"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed.len(),
        expected.len(),
        "each repo listed exactly once"
    );
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
    assert!(
        queued
            .iter()
            .all(|r| expected.contains(r["did"].as_str().unwrap()))
    );

    // Firehose events in seq order; records per repo add up to the ground truth.
    let events = redis.json(&redis.key("firehose_live"), "event").await;
    assert!(!events.is_empty());
    let mut last_seq = 0;
    let mut net_records: HashMap<String, i64> = HashMap::new();
    for event in &events {
        let seq = event["seq"].as_u64().unwrap();
        assert!(seq >= last_seq, "seq {seq} after {last_seq}: order lost");
        last_seq = seq;
        let did = event["did"].as_str().unwrap().to_owned();
        match event["type"].as_str().unwrap() {
            "create" => *net_records.entry(did).or_default() += 1,
            "delete" => *net_records.entry(did).or_default() -= 1,
            _ => {}
        }
    }
    for repo in truth["per_repo"].as_array().unwrap() {
        let did = repo["did"].as_str().unwrap();
        assert_eq!(
            net_records.get(did).copied().unwrap_or(0),
            repo["records"].as_i64().unwrap(),
            "records of {did}"
        );
    }
    assert_eq!(
        redis.xlen(&redis.key("firehose_live:dead")).await,
        0,
        "nothing rejected"
    );

    // Labels: every one, signed.
    let labels = redis.json(&redis.key("label_live"), "event").await;
    assert_eq!(
        labels.len() as u64,
        truth["history_labels"].as_u64().unwrap()
    );
    assert!(
        labels
            .iter()
            .all(|l| l["type"] == "label" && l["label"]["sig"]["$bytes"].is_string())
    );

    // The status hash names each source (written every 100 ms here).
    let label = sluice_ingester::websocket::host_label(&host).to_owned();
    wait_until(TIMEOUT, "the status hash", || async {
        let status: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(redis.key("ingester:status"))
            .query_async(&mut redis.conn.clone())
            .await
            .unwrap();
        let field = |name: &str| -> serde_json::Value {
            status
                .get(&format!("{name}:{label}"))
                .map_or(serde_json::Value::Null, |json| {
                    serde_json::from_str(json).unwrap()
                })
        };
        let firehose = field("firehose");
        firehose["state"] == "streaming"
            && firehose["cursor"].as_u64() == Some(head)
            && field("labels")["cursor"].as_u64() == Some(label_head)
            && field("list_repos")["cursor"] == sluice_queue::LIST_REPOS_DONE
    })
    .await;

    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_frames_are_rejected_counted_and_dead_lettered_without_stopping() {
    let redis = TestRedis::new(common::SCOPE, "faults").await;
    let faults = FaultConfig {
        malformed_frames: 0.03,
        forged_signatures: 0.03,
        broken_prev_data: 0.03,
        ..FaultConfig::default()
    };
    let net = devnet(12, 10, 1_500, faults).await;
    let host = net.url();
    let head = net.network().head_seq();
    let firehose_cursor = cursor_key(&redis, "firehose_live", &host);
    redis.set(&firehose_cursor, "0").await;
    let mut config = config(&redis, &host);
    config.rescan_interval = None;
    let (shutdown, task) = start(config);
    wait_until(TIMEOUT, "the firehose head", || {
        cursor_at(&redis, &firehose_cursor, head)
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();

    let dead = redis.entries(&redis.key("firehose_live:dead")).await;
    let text = |e: &HashMap<String, Vec<u8>>, f: &str| String::from_utf8(e[f].clone()).unwrap();
    let mut by_reason: BTreeMap<String, Vec<Option<u64>>> = BTreeMap::new();
    for letter in &dead {
        let seq = letter
            .get("seq")
            .map(|s| String::from_utf8_lossy(s).parse::<u64>().unwrap());
        by_reason
            .entry(text(letter, "reason"))
            .or_default()
            .push(seq);
        assert!(letter.contains_key("frame"), "the frame is kept");
        assert_eq!(text(letter, "host"), host);
    }
    let faulty = |kind: FrameFault, commit: bool| -> Vec<u64> {
        (1..=head)
            .filter(|&s| net.network().faults().frame_fault(s, commit) == Some(kind))
            .collect()
    };
    // Every malformed frame was rejected (it has no seq: count them).
    let malformed = faulty(FrameFault::Malformed, false).len();
    assert!(malformed > 0);
    assert_eq!(
        by_reason.get("malformed_frame").map_or(0, Vec::len),
        malformed
    );
    // Forged signatures: each rejected one is a forged commit, and there are some.
    let forged: HashSet<u64> = faulty(FrameFault::ForgedSignature, true)
        .into_iter()
        .collect();
    let bad_signatures = by_reason.get("bad_signature").cloned().unwrap_or_default();
    assert!(
        !bad_signatures.is_empty(),
        "forged commits rejected: {by_reason:?}"
    );
    assert!(bad_signatures.iter().all(|s| forged.contains(&s.unwrap())));
    // Broken prevData: rejected as a broken commit or a chain gap, and the repo re-queued.
    let broken: HashSet<u64> = faulty(FrameFault::BrokenPrevData, true)
        .into_iter()
        .collect();
    let chain = [
        by_reason.get("broken_commit"),
        by_reason.get("prev_data_gap"),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter_map(|s| *s)
    .collect::<HashSet<u64>>();
    assert!(
        chain.iter().any(|s| broken.contains(s)),
        "broken prevData rejected: {by_reason:?}"
    );
    let resyncs = redis.xlen(&redis.key("repo_backfill")).await;
    assert!(
        resyncs > 0,
        "repos with a broken chain queued for a backfill"
    );
    // Only these reasons; and the stream went on to its head past every fault.
    for reason in by_reason.keys() {
        assert!(
            [
                "malformed_frame",
                "bad_signature",
                "broken_commit",
                "prev_data_gap"
            ]
            .contains(&reason.as_str()),
            "unexpected reason {reason}"
        );
    }
    let events = redis.json(&redis.key("firehose_live"), "event").await;
    let rejected_seqs: HashSet<u64> = by_reason.values().flatten().filter_map(|s| *s).collect();
    assert!(
        events
            .iter()
            .all(|e| !rejected_seqs.contains(&e["seq"].as_u64().unwrap())),
        "no rejected event passed on"
    );
    assert!(
        events
            .iter()
            .any(|e| e["seq"].as_u64().unwrap() > *rejected_seqs.iter().max().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_cursor_without_loss_or_duplicates() {
    let redis = TestRedis::new(common::SCOPE, "restart").await;
    let net = devnet(13, 10, 3_000, FaultConfig::default()).await;
    let host = net.url();
    let head = net.network().head_seq();
    let firehose_cursor = cursor_key(&redis, "firehose_live", &host);
    redis.set(&firehose_cursor, "0").await;
    let mut config = config(&redis, &host);
    config.batch_size = 20;
    config.rescan_interval = None;
    // Stop a first run part-way.
    let (shutdown, task) = start(config.clone());
    wait_until(TIMEOUT, "some progress", || async {
        redis
            .get(&firehose_cursor)
            .await
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0)
            > head / 4
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();
    let stopped_at: u64 = redis.get(&firehose_cursor).await.unwrap().parse().unwrap();
    assert!(
        stopped_at < head,
        "stopped before the head ({stopped_at} of {head})"
    );
    let events = redis.json(&redis.key("firehose_live"), "event").await;
    let last_written = events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        last_written <= stopped_at,
        "nothing written past the cursor"
    );

    let (shutdown, task) = start(config);
    wait_until(TIMEOUT, "the firehose head", || {
        cursor_at(&redis, &firehose_cursor, head)
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();
    let events = redis.json(&redis.key("firehose_live"), "event").await;
    let mut seen = HashSet::new();
    let mut last = 0;
    for event in &events {
        let seq = event["seq"].as_u64().unwrap();
        assert!(seq >= last, "order kept across the restart");
        last = seq;
        let key = (
            seq,
            event["collection"].clone(),
            event["rkey"].clone(),
            event["type"].clone(),
        );
        assert!(seen.insert(key), "event of seq {seq} written twice");
    }
    assert!(
        events
            .iter()
            .any(|e| e["seq"].as_u64().unwrap() > stopped_at),
        "the second run went on past the cursor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_holds_the_source_until_the_stream_drains() {
    let redis = TestRedis::new(common::SCOPE, "pressure").await;
    let net = devnet(14, 8, 2_000, FaultConfig::default()).await;
    let host = net.url();
    let head = net.network().head_seq();
    let firehose_cursor = cursor_key(&redis, "firehose_live", &host);
    redis.set(&firehose_cursor, "0").await;
    let mut config = config(&redis, &host);
    config.batch_size = 10;
    config.max_in_flight = 16;
    config.firehose_stream.high_water_mark = 100;
    config.backpressure_check = Duration::from_millis(20);
    config.rescan_interval = None;
    let stream = redis.key("firehose_live");
    let (shutdown, task) = start(config);
    wait_until(TIMEOUT, "the high-water mark", || async {
        redis.xlen(&stream).await >= 100
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = redis.xlen(&stream).await;
    // Past the mark by what was in flight when it paused: up to `max_in_flight` frames, each
    // of several operations (one CI run saw 151). Far below the network's 2,000 records.
    assert!(
        held < 100 + 100,
        "the source paused near the mark ({held} entries)"
    );
    let cursor: u64 = redis.get(&firehose_cursor).await.unwrap().parse().unwrap();
    assert!(cursor < head, "not at the head while held");
    // Drain the stream as consumers would; the source goes on to the head.
    wait_until(TIMEOUT, "the head after draining", || async {
        let _: () = redis::cmd("XTRIM")
            .arg(&stream)
            .arg("MAXLEN")
            .arg(0)
            .query_async(&mut redis.conn.clone())
            .await
            .unwrap();
        cursor_at(&redis, &firehose_cursor, head).await
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_claimed_collections_are_queued() {
    let redis = TestRedis::new(common::SCOPE, "filter").await;
    let net = devnet(15, 6, 800, FaultConfig::default()).await;
    let host = net.url();
    let head = net.network().head_seq();
    let firehose_cursor = cursor_key(&redis, "firehose_live", &host);
    redis.set(&firehose_cursor, "0").await;
    let mut config = config(&redis, &host);
    config.collections =
        CollectionSource::List(vec!["app.bsky.feed.post".into(), "app.bsky.graph.*".into()]);
    config.rescan_interval = None;
    let (shutdown, task) = start(config);
    wait_until(TIMEOUT, "the firehose head", || {
        cursor_at(&redis, &firehose_cursor, head)
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();
    let events = redis.json(&redis.key("firehose_live"), "event").await;
    let collections: HashSet<String> = events
        .iter()
        .filter_map(|e| e["collection"].as_str().map(str::to_owned))
        .collect();
    assert!(collections.contains("app.bsky.feed.post"));
    assert!(
        collections
            .iter()
            .all(|c| c == "app.bsky.feed.post" || c.starts_with("app.bsky.graph.")),
        "{collections:?}"
    );
    assert!(!collections.contains("app.bsky.feed.like"));
}
