//! The backfiller against a devnet: every record of every repo reaches the backfill stream once,
//! in chunks each followed by a `repo` event; terminal outcomes are recorded and acknowledged;
//! failing repos are retried, then dead-lettered; an interrupted backfill resumes after its last
//! confirmed chunk.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{TestRedis, devnet, wait_until};
use sluice_backfiller::BackfillerConfig;
use sluice_devnet::faults::{FaultConfig, RepoFault};
use sluice_ingester::OutputStream;
use sluice_queue::{RepoToBackfill, StreamPayload as _};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(90);

fn config(redis: &TestRedis, plc: &str) -> BackfillerConfig {
    let mut config = BackfillerConfig::new(&redis.url, "one");
    config.repo_stream = redis.key("repo_backfill");
    config.firehose_stream = OutputStream::new(redis.key("firehose_backfill"));
    config.identity.plc_url = plc.to_owned();
    config.identity_cache_prefix = redis.key("identity:");
    config.status_key = redis.key("backfiller:status");
    config.chunk_size = 40;
    config.concurrency = 3;
    config.backoff.initial = Duration::from_millis(20);
    config.backoff.max = Duration::from_millis(100);
    config.claim_min_idle = Duration::from_millis(600);
    config
}

async fn queue(redis: &TestRedis, repos: &[RepoToBackfill]) {
    for repo in repos {
        let _: String = redis::cmd("XADD")
            .arg(redis.key("repo_backfill"))
            .arg("*")
            .arg("repo")
            .arg(repo.to_json().unwrap())
            .query_async(&mut redis.conn.clone())
            .await
            .unwrap();
    }
}

fn by_hand(did: &str) -> RepoToBackfill {
    RepoToBackfill {
        did: did.to_owned(),
        host: None,
        rev: None,
        status: None,
        active: None,
    }
}

fn start(config: BackfillerConfig) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { sluice_backfiller::run(config, token).await.unwrap() });
    (shutdown, task)
}

/// Per DID, the backfilled records (collection/rkey) and the `repo` events.
async fn backfilled(redis: &TestRedis) -> (HashMap<String, Vec<String>>, Vec<serde_json::Value>) {
    let mut records: HashMap<String, Vec<String>> = HashMap::new();
    let mut repo_events = Vec::new();
    for event in redis.json(&redis.key("firehose_backfill"), "event").await {
        match event["type"].as_str().unwrap() {
            "create" => {
                assert_eq!(event["seq"], -2);
                records
                    .entry(event["did"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(format!(
                        "{}/{}",
                        event["collection"].as_str().unwrap(),
                        event["rkey"].as_str().unwrap()
                    ));
            }
            "repo" => repo_events.push(event),
            other => panic!("unexpected event type {other}"),
        }
    }
    (records, repo_events)
}

async fn drained(redis: &TestRedis) -> bool {
    redis.xlen(&redis.key("repo_backfill")).await == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_every_repo_arrives_once_with_terminal_outcomes_recorded() {
    let redis = TestRedis::new(common::SCOPE, "all").await;
    let net = devnet(21, 14, 2_500, FaultConfig::default()).await;
    let truth = net.network().ground_truth();
    let repos = truth["per_repo"].as_array().unwrap().clone();
    let mut entries: Vec<RepoToBackfill> = repos
        .iter()
        .map(|r| by_hand(r["did"].as_str().unwrap()))
        .collect();
    let unknown = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    entries.push(by_hand(unknown));
    let listed_inactive = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";
    entries.push(RepoToBackfill {
        active: Some(false),
        status: Some("takendown".into()),
        ..by_hand(listed_inactive)
    });
    queue(&redis, &entries).await;
    let (shutdown, task) = start(config(&redis, &net.url()));
    wait_until(TIMEOUT, "every entry handled", || drained(&redis)).await;
    shutdown.cancel();
    task.await.unwrap();

    let (records, repo_events) = backfilled(&redis).await;
    let terminal: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(redis.key("repo_backfill:terminal"))
        .query_async(&mut redis.conn.clone())
        .await
        .unwrap();
    let reason = |did: &str| -> String {
        let value: serde_json::Value = serde_json::from_str(&terminal[did]).unwrap();
        value["reason"].as_str().unwrap().to_owned()
    };
    assert_eq!(reason(unknown), "did_not_found");
    assert_eq!(reason(listed_inactive), "takendown");
    for repo in &repos {
        let did = repo["did"].as_str().unwrap();
        if repo["active"] == false {
            assert!(
                terminal.contains_key(did),
                "inactive {did} recorded as terminal"
            );
            assert!(!records.contains_key(did));
            continue;
        }
        let got = records.get(did).cloned().unwrap_or_default();
        assert_eq!(
            got.len() as i64,
            repo["records"].as_i64().unwrap(),
            "records of {did}"
        );
        assert_eq!(
            got.iter().collect::<HashSet<_>>().len(),
            got.len(),
            "no record of {did} twice"
        );
        // One `repo` event per chunk (an empty repo still gets one), at the head's rev.
        let events: Vec<&serde_json::Value> =
            repo_events.iter().filter(|e| e["did"] == did).collect();
        assert_eq!(
            events.len(),
            got.len().div_ceil(40).max(1),
            "repo events of {did}"
        );
        assert!(
            events
                .iter()
                .all(|e| e["rev"] == repo["rev"] && e["commit"] == repo["head"])
        );
    }
    assert_eq!(redis.xlen(&redis.key("repo_backfill:dead")).await, 0);
    let status: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(redis.key("backfiller:status"))
        .query_async(&mut redis.conn.clone())
        .await
        .unwrap();
    assert!(
        status.contains_key("one"),
        "the consumer reports its status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_repos_are_retried_then_dead_lettered_and_others_go_on() {
    let redis = TestRedis::new(common::SCOPE, "failing").await;
    let faults = FaultConfig {
        failing_repos: 0.2,
        truncated_repos: 0.2,
        stalled_repos: 0.1,
        ..FaultConfig::default()
    };
    let net = devnet(22, 16, 1_600, faults).await;
    let truth = net.network().ground_truth();
    let repos = truth["per_repo"].as_array().unwrap().clone();
    let entries: Vec<RepoToBackfill> = repos
        .iter()
        .map(|r| by_hand(r["did"].as_str().unwrap()))
        .collect();
    queue(&redis, &entries).await;
    let mut config = config(&redis, &net.url());
    config.max_deliveries = 2;
    config.fetch_attempts = 2;
    config.read_timeout = Duration::from_millis(500);
    let (shutdown, task) = start(config);
    wait_until(TIMEOUT, "every entry handled", || drained(&redis)).await;
    shutdown.cancel();
    task.await.unwrap();

    let dead = redis.entries(&redis.key("repo_backfill:dead")).await;
    let dead_dids: HashSet<String> = dead
        .iter()
        .map(|e| RepoToBackfill::from_json(&e["repo"]).unwrap().did)
        .collect();
    let (records, _) = backfilled(&redis).await;
    let mut faulty = 0;
    for (index, repo) in repos.iter().enumerate() {
        let did = repo["did"].as_str().unwrap();
        if repo["active"] == false {
            continue;
        }
        match net.network().faults().repo_fault(index as u32) {
            Some(fault) => {
                faulty += 1;
                assert!(
                    dead_dids.contains(did),
                    "{fault:?} repo {did} dead-lettered"
                );
                if matches!(fault, RepoFault::Fails | RepoFault::Stalls) {
                    assert!(!records.contains_key(did));
                }
            }
            None => {
                assert!(!dead_dids.contains(did));
                let got = records.get(did).map_or(0, Vec::len);
                assert_eq!(
                    got as i64,
                    repo["records"].as_i64().unwrap(),
                    "records of {did}"
                );
            }
        }
    }
    assert!(faulty > 0, "the seed gives some faulty repos");
    for letter in &dead {
        assert_eq!(String::from_utf8_lossy(&letter["reason"]), "failed");
        assert_eq!(String::from_utf8_lossy(&letter["deliveries"]), "2");
        assert!(!letter["error"].is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_resumes_after_its_last_confirmed_chunk() {
    let redis = TestRedis::new(common::SCOPE, "resume").await;
    let net = devnet(23, 3, 900, FaultConfig::default()).await;
    let truth = net.network().ground_truth();
    let repo = truth["per_repo"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["active"] == true)
        .max_by_key(|r| r["records"].as_i64().unwrap())
        .unwrap()
        .clone();
    let did = repo["did"].as_str().unwrap();
    // A first full run gives the records in key order.
    queue(&redis, &[by_hand(did)]).await;
    let (shutdown, task) = start(config(&redis, &net.url()));
    wait_until(TIMEOUT, "the first backfill", || drained(&redis)).await;
    shutdown.cancel();
    task.await.unwrap();
    let (first, _) = backfilled(&redis).await;
    let all = first[did].clone();
    assert!(all.len() > 100);
    let _: () = redis::cmd("DEL")
        .arg(redis.key("firehose_backfill"))
        .query_async(&mut redis.conn.clone())
        .await
        .unwrap();

    // As if a run had been killed after confirming the chunk ending at record 79.
    let progress = serde_json::json!({ "commit": repo["head"], "path": all[79] }).to_string();
    redis
        .set(
            &sluice_backfiller::repo::progress_key(&redis.key("repo_backfill"), did),
            &progress,
        )
        .await;
    queue(&redis, &[by_hand(did)]).await;
    let (shutdown, task) = start(config(&redis, &net.url()));
    wait_until(TIMEOUT, "the resumed backfill", || drained(&redis)).await;
    shutdown.cancel();
    task.await.unwrap();
    let (second, _) = backfilled(&redis).await;
    assert_eq!(
        second[did],
        all[80..].to_vec(),
        "only the records after the last confirmed chunk"
    );
    assert_eq!(
        redis
            .get(&sluice_backfiller::repo::progress_key(
                &redis.key("repo_backfill"),
                did
            ))
            .await,
        None,
        "progress dropped once done"
    );
}
