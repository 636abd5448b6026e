//! Benchmark of the backfiller against a devnet of large generated repos: repos/s, records/s
//! and the memory the backfill added (the devnet runs in the same process: its own memory is
//! measured before the backfill starts and left out).
//!
//! `cargo run --release -p sluice-backfiller --example bench_backfill -- [REPOS] [RECORDS] [CONCURRENCY]`
//! (defaults 100, 300000, 4). Needs Redis at `REDIS_URL`; writes under a random
//! `bench:backfill:*` prefix and deletes it. Prints `name: value unit` lines.

use std::time::{Duration, Instant};

use sluice_backfiller::BackfillerConfig;
use sluice_devnet::model::NetworkConfig;
use sluice_devnet::{DevnetConfig, Network, RunningDevnet};
use sluice_ingester::OutputStream;
use tokio_util::sync::CancellationToken;

fn line(name: &str, value: f64, unit: &str) {
    println!("{name}: {value:.1} {unit}");
}

/// Resident memory now, in MiB (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let repos: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let records: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = sluice_queue::connect(&redis_url).await.expect("Redis");
    let prefix = format!("bench:backfill:{:08x}:", rand::random::<u32>());

    let network = Network::generate(DevnetConfig::new(
        NetworkConfig::new(9, repos).with_records(records),
    ))
    .expect("devnet");
    let devnet = RunningDevnet::start(network, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("devnet");
    let truth = devnet.network().ground_truth();
    let per_repo = truth["per_repo"].as_array().cloned().unwrap_or_default();
    let largest = per_repo
        .iter()
        .filter_map(|r| r["records"].as_u64())
        .max()
        .unwrap_or(0);
    line("devnet_repos", per_repo.len() as f64, "repos");
    line(
        "devnet_records",
        truth["records"].as_f64().unwrap_or(0.0),
        "records",
    );
    line("devnet_largest_repo", largest as f64, "records");

    let repo_stream = format!("{prefix}repo_backfill");
    for repo in &per_repo {
        let entry = serde_json::json!({ "did": repo["did"] }).to_string();
        let _: String = redis::cmd("XADD")
            .arg(&repo_stream)
            .arg("*")
            .arg("repo")
            .arg(entry)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
    }
    let mut config = BackfillerConfig::new(&redis_url, "bench");
    config.repo_stream = repo_stream.clone();
    config.firehose_stream = OutputStream::new(format!("{prefix}firehose_backfill"));
    config.firehose_stream.high_water_mark = u64::MAX;
    config.identity.plc_url = devnet.url();
    config.identity_cache_prefix = format!("{prefix}identity:");
    config.status_key = format!("{prefix}status");
    config.concurrency = concurrency;
    config.rate = sluice_backfiller::rate::RateBudget {
        requests: 1_000_000,
        period: Duration::from_secs(1),
    };
    line(
        "backfill_memory_budget",
        config.memory_budget as f64 / 1048576.0,
        "MiB",
    );

    let baseline = rss_mib();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let start = Instant::now();
    let task = tokio::spawn(async move { sluice_backfiller::run(config, token).await.unwrap() });
    let mut peak = baseline;
    loop {
        peak = peak.max(rss_mib());
        let len: u64 = redis::cmd("XLEN")
            .arg(&repo_stream)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
        if len == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await.unwrap();
    let written: u64 = redis::cmd("XLEN")
        .arg(format!("{prefix}firehose_backfill"))
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    line(
        "backfill_repos_per_s",
        per_repo.len() as f64 / elapsed,
        "repos/s",
    );
    line(
        "backfill_records_per_s",
        truth["records"].as_f64().unwrap_or(0.0) / elapsed,
        "records/s",
    );
    line("backfill_stream_entries", written as f64, "entries");
    line("backfill_memory_added_peak", peak - baseline, "MiB");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn.clone())
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn.clone())
            .await;
    }
}
