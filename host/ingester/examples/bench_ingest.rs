//! Benchmark of the ingester's frame path (decode, verify, XADD) against a devnet, beside its
//! building blocks on the same machine: sha-256, signature checks, XADD pipelines.
//!
//! `cargo run --release -p sluice-ingester --example bench_ingest -- [REPOS] [RECORDS]`
//! (defaults 200 and 100000). Needs Redis at `REDIS_URL` (default local); writes under a
//! random `bench:ingest:*` prefix and deletes it. Prints `name: value unit` lines.

use std::time::{Duration, Instant};

use sluice_atproto::crypto::{KeyAlgorithm, Keypair};
use sluice_devnet::model::NetworkConfig;
use sluice_devnet::{DevnetConfig, Network, RunningDevnet};
use sluice_ingester::{IngesterConfig, OutputStream};
use tokio_util::sync::CancellationToken;

fn line(name: &str, value: f64, unit: &str) {
    println!("{name}: {value:.1} {unit}");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let repos: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let records: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = sluice_queue::connect(&redis_url).await.expect("Redis");
    let prefix = format!("bench:ingest:{:08x}:", rand::random::<u32>());

    building_blocks(&conn, &prefix).await;

    let network = Network::generate(DevnetConfig::new(
        NetworkConfig::new(7, repos).with_records(records),
    ))
    .expect("devnet");
    let devnet = RunningDevnet::start(network, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("devnet");
    let head = devnet.network().head_seq();
    line("devnet_events", head as f64, "events");
    for (name, signatures) in [("verified", true), ("unverified", false)] {
        let run_prefix = format!("{prefix}{name}:");
        let elapsed = run_ingester(
            &redis_url,
            &conn,
            &devnet.url(),
            &run_prefix,
            signatures,
            head,
        )
        .await;
        line(
            &format!("ingest_{name}_events_per_s"),
            head as f64 / elapsed.as_secs_f64(),
            "events/s",
        );
    }
    cleanup(&conn, &prefix).await;
}

async fn run_ingester(
    redis_url: &str,
    conn: &redis::aio::ConnectionManager,
    host: &str,
    prefix: &str,
    signatures: bool,
    head: u64,
) -> Duration {
    let mut config = IngesterConfig::new(redis_url, vec![host.to_owned()]);
    config.firehose_stream = OutputStream::new(format!("{prefix}firehose_live"));
    config.firehose_stream.high_water_mark = u64::MAX;
    config.repo_stream = OutputStream::new(format!("{prefix}repo_backfill"));
    config.identity.plc_url = host.to_owned();
    config.identity_cache_prefix = format!("{prefix}identity:");
    config.status_key = format!("{prefix}status");
    config.verify.signatures = signatures;
    config.rescan_interval = None;
    let cursor = sluice_queue::cursor_key(&config.firehose_stream.name, host);
    let _: () = redis::cmd("SET")
        .arg(&cursor)
        .arg("0")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let start = Instant::now();
    let task = tokio::spawn(async move { sluice_ingester::run(config, token).await.unwrap() });
    loop {
        let at: Option<String> = redis::cmd("GET")
            .arg(&cursor)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
        if at.and_then(|c| c.parse::<u64>().ok()) == Some(head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    shutdown.cancel();
    task.await.unwrap();
    elapsed
}

async fn building_blocks(conn: &redis::aio::ConnectionManager, prefix: &str) {
    // sha-256 of 1 KiB blocks.
    let block = vec![7u8; 1024];
    let n = 200_000;
    let start = Instant::now();
    let mut acc = 0u8;
    for _ in 0..n {
        acc ^= sluice_atproto::data::sha256(&block)[0];
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    line("sha256_1kib_blocks_per_s", n as f64 / secs, "blocks/s");
    line("sha256_mb_per_s", n as f64 * 1024.0 / secs / 1e6, "MB/s");
    // Signature checks (secp256k1, P-256), one core.
    for (name, algorithm) in [("k256", KeyAlgorithm::K256), ("p256", KeyAlgorithm::P256)] {
        let key = Keypair::generate(algorithm);
        let public = key.public_key();
        let message = b"a commit's unsigned bytes, more or less this long: 0123456789abcdef";
        let signature = key.sign(message);
        let n = 4_000;
        let start = Instant::now();
        for _ in 0..n {
            public.verify(message, &signature).unwrap();
        }
        line(
            &format!("verify_{name}_per_s"),
            n as f64 / start.elapsed().as_secs_f64(),
            "verifies/s",
        );
    }
    // XADD pipelines of 500 ~600-byte events.
    let event = format!("{{\"type\":\"create\",\"record\":\"{}\"}}", "x".repeat(580));
    let writer = sluice_ingester::writer::BatchWriter::new(conn.clone());
    let stream = format!("{prefix}xadd");
    let entries: Vec<_> = (0..500)
        .map(|_| sluice_ingester::writer::Entry::single(&stream, "event", event.as_bytes()))
        .collect();
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        writer.write(&entries).await.unwrap();
    }
    line(
        "xadd_pipeline_500_entries_per_s",
        (rounds * 500) as f64 / start.elapsed().as_secs_f64(),
        "entries/s",
    );
}

async fn cleanup(conn: &redis::aio::ConnectionManager, prefix: &str) {
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
